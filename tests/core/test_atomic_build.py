"""The atomic build's file: written by one checkpoint at the end (decision 1770)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from evenhand.core.warehouse import atomic_build

ROWS, COMMITS = 50_000, 24  # each commit is small enough to go through the WAL (not written optimistically)


def test_a_build_is_not_checkpointed_half_way_and_ends_in_one_file(tmp_path: Path) -> None:
    target = tmp_path / "w.duckdb"
    with atomic_build(target) as con:
        con.execute("CREATE TABLE t (s VARCHAR)")
        for _ in range(COMMITS):
            con.execute(f"INSERT INTO t SELECT repeat('x', 20) || i::VARCHAR FROM range({ROWS}) r(i)")
        (wal,) = tmp_path.glob("*.building-*.wal")
        # DuckDB's default would have checkpointed (and emptied the WAL) at 16 MB
        assert wal.stat().st_size > 16 * 2**20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]
    con = duckdb.connect(str(target), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(ROWS * COMMITS,)]
        used, free = con.execute("SELECT used_blocks, free_blocks FROM pragma_database_size()").fetchall()[0]
        assert free <= 2 and used > 0
    finally:
        con.close()
