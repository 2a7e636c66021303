"""Derived tables: lineage, "as at" snapshots, context joins, working-day timings."""
