"""Stage 2, build: column maps and code tables turn raw rows into typed, validated,
deduplicated core tables in the DuckDB warehouse."""
