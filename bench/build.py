"""Bench: `evenhand build` on ../shared/data/ofsted plus the GIAS links files, against DuckDB
reading the same raw files (read_csv / read_parquet, all columns as text) in the same run.

    .venv/bin/python bench/build.py [--repeat 3]

Prints each timing (best of --repeat) and the ratio build / raw read. Target: at most 3x.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from evenhand.build.pipeline import build_warehouse

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def stage(tmp: Path) -> list[Path]:
    raw = tmp / "raw"
    raw.mkdir()
    files = sorted((DATA / "ofsted").iterdir()) + sorted((DATA / "dfe").glob("gias_links_*.csv"))
    for f in files:
        shutil.copy(f, raw / f.name)
    return sorted(raw.iterdir())


def duckdb_read(files: list[Path]) -> int:
    con = duckdb.connect(config={"autoload_known_extensions": False, "autoinstall_known_extensions": False})
    rows = 0
    for f in files:
        if f.suffix == ".parquet":
            rel = f"read_parquet('{f}')"
        else:
            rel = f"read_csv('{f}', all_varchar=true)"
        try:
            con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM {rel}")
        except duckdb.InvalidInputException:
            # Windows-1252 (GIAS links): DuckDB has no such encoding offline, so transcode first
            utf8 = f.with_suffix(".utf8.csv")
            utf8.write_bytes(f.read_bytes().decode("cp1252").encode("utf-8"))
            con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('{utf8}', all_varchar=true)")
            utf8.unlink()
        rows += con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    con.close()
    return rows


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found (the bench needs ../shared/data)")
        return 0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        files = stage(tmp)
        size = sum(f.stat().st_size for f in files) / 1e6
        wh = tmp / "wh" / "evenhand.duckdb"
        t_raw = best(lambda: duckdb_read(files), args.repeat)
        t_build = best(lambda: build_warehouse(tmp / "raw", wh), args.repeat)
        print(f"inputs: {len(files)} files, {size:.1f} MB")
        print(f"duckdb raw read (baseline): {t_raw:.3f} s")
        print(f"evenhand build:             {t_build:.3f} s")
        print(f"ratio build / raw read:     {t_build / t_raw:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
