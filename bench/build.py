"""Bench: `evenhand build` against DuckDB reading the same raw files, in the same run.

    .venv/bin/python bench/build.py [--repeat 3] [--only ofsted|all]

Two measurements, each best of --repeat, each a ratio build / raw read (target: at most 3x):

1. "ofsted": ../shared/data/ofsted plus the GIAS links files (issue 2);
2. "all": the whole ../shared/data folder, DfE context, lineage and every derived table
   included (issue 3).

The baseline is DuckDB reading every data file of the measurement into a table, all columns as
text (read_csv all_varchar / read_parquet). Two files DuckDB cannot read offline are read the
cheapest way there is and still land in a DuckDB table: the Windows-1252 GIAS links files are
transcoded to UTF-8 first (inside the timing), and the XLSX school spine is read with calamine
(the engine the build uses) and registered into DuckDB. The build's per-stage breakdown (best
run) follows each ratio. The machine is shared, so only ratios measured in one run compare.

A second figure says how much of the build no code change can remove while the warehouse holds
what it holds: DuckDB writing the finished warehouse's tables again, from memory (Arrow), with
their own DDL and indexes, two tables at a time as the build writes them, into a new file
("write floor"). Raw read plus write floor is what a build would cost that did nothing but
read the files and write the result. The same floor for the core and meta tables alone (the
typed, merged inspections and provenance, nothing derived) bounds a build with no derived tables
at all. The last figure is what the 3x target leaves, in CPU seconds, for all the real work
(parsing, merging, validating, deriving) once the files are read and the result written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl

from evenhand.core.pipeline import DATA_SUFFIXES, BuildSummary, build_warehouse, discover
from evenhand.core.warehouse import BUILD_CHECKPOINT_THRESHOLD

OFFLINE_CONFIG: dict[str, str | bool | int | float | list[str]] = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORE_SCHEMAS = ("core", "meta")


def stage_ofsted(tmp: Path) -> Path:
    raw = tmp / "raw"
    raw.mkdir()
    files = sorted((DATA / "ofsted").iterdir()) + sorted((DATA / "dfe").glob("gias_links_*.csv"))
    for f in files:
        shutil.copy(f, raw / f.name)
    return raw


def duckdb_read(files: list[Path], scratch: Path) -> int:
    con = duckdb.connect(config=OFFLINE_CONFIG)
    rows = 0
    for f in files:
        suffix = f.suffix.lower()
        if suffix == ".parquet":
            con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_parquet('{f}')")
        elif suffix in (".xlsx", ".ods"):
            # no offline DuckDB reader for spreadsheets: calamine (as the build does), then DuckDB
            sheets = pl.read_excel(f, engine="calamine", sheet_id=0, has_header=False, infer_schema_length=0)
            for k, df in enumerate(sheets.values()):
                con.register("_sheet", df.to_arrow())
                con.execute(f"CREATE OR REPLACE TABLE t{k} AS SELECT * FROM _sheet")
                con.unregister("_sheet")
                rows += df.height
            continue
        else:
            rel = f"read_csv('{f}', all_varchar=true, null_padding=true)"
            try:
                con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM {rel}")
            except duckdb.InvalidInputException:
                # Windows-1252 (GIAS links): DuckDB has no such encoding offline, so transcode first
                utf8 = scratch / (f.stem + ".utf8.csv")
                utf8.write_bytes(f.read_bytes().decode("cp1252").encode("utf-8"))
                con.execute(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('{utf8}', all_varchar=true, null_padding=true)")
                utf8.unlink()
        rows += con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    con.close()
    return rows


def write_floor(warehouse: Path, scratch: Path, schemas: tuple[str, ...] | None = None) -> tuple[float, float, int]:
    """(wall, CPU, values): DuckDB writing every table of ``warehouse`` (or only those of
    ``schemas``) again into a new file, from Arrow tables read beforehand (outside the timing),
    with each table's own DDL and indexes, on two cursors (as the build's writes run), then a
    CHECKPOINT."""
    src = duckdb.connect(str(warehouse), read_only=True, config=OFFLINE_CONFIG)
    tables = src.execute("SELECT schema_name, table_name, sql FROM duckdb_tables() ORDER BY estimated_size DESC").fetchall()
    indexes = [r[1] for r in src.execute("SELECT schema_name, sql FROM duckdb_indexes()").fetchall()
               if schemas is None or r[0] in schemas]
    if schemas is not None:
        tables = [t for t in tables if t[0] in schemas]
    data = {f"{s}.{t}": (ddl, src.sql(f'SELECT * FROM "{s}"."{t}"').to_arrow_table()) for s, t, ddl in tables}
    src.close()
    values = sum(a.num_rows * a.num_columns for _, a in data.values())
    target = scratch / "floor.duckdb"
    target.unlink(missing_ok=True)

    def write() -> None:
        con = duckdb.connect(str(target), config=OFFLINE_CONFIG)
        con.execute(f"SET checkpoint_threshold = '{BUILD_CHECKPOINT_THRESHOLD}'")  # as the build's connection
        for schema in sorted({name.split(".")[0] for name in data}):
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

        def one(name: str) -> None:
            ddl, arrow = data[name]
            cur = con.cursor()
            cur.execute(ddl)
            cur.register("_floor", arrow)
            cur.execute(f"INSERT INTO {name} SELECT * FROM _floor")
            cur.unregister("_floor")
            cur.close()

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, data))
        for sql in indexes:
            con.execute(sql)
        con.execute("CHECKPOINT")
        con.close()

    w, c, _ = timed(write)
    target.unlink(missing_ok=True)
    return w, c, values


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process over all its threads, result)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def measure(name: str, raw: Path, tmp: Path, repeat: int) -> float:
    files = [p for p in discover(raw) if p.suffix.lower() in DATA_SUFFIXES]
    size = sum(f.stat().st_size for f in files) / 1e6
    scratch = tmp / f"scratch-{name}"
    scratch.mkdir()
    wh = tmp / f"wh-{name}" / "evenhand.duckdb"
    # interleave the two, so that both see the same load on a shared machine
    t_raw = t_build = c_raw = c_build = t_floor = c_floor = t_core = c_core = float("inf")
    summary = None
    values = core_values = 0
    for _ in range(repeat):
        w, c, _rows = timed(lambda: duckdb_read(files, scratch))
        t_raw, c_raw = min(t_raw, w), min(c_raw, c)
        w, c, s = timed(lambda: build_warehouse(raw, wh))
        if w < t_build:
            t_build, summary = w, s
        c_build = min(c_build, c)
        w, c, values = write_floor(wh, scratch)
        t_floor, c_floor = min(t_floor, w), min(c_floor, c)
        w, c, core_values = write_floor(wh, scratch, CORE_SCHEMAS)
        t_core, c_core = min(t_core, w), min(c_core, c)
    assert isinstance(summary, BuildSummary)
    ratio = t_build / t_raw
    print(f"\n== {name}: {raw} ({len(files)} files, {size:.1f} MB)")
    print(f"duckdb raw read (baseline): {t_raw:.3f} s wall, {c_raw:.3f} s CPU")
    print(f"evenhand build:             {t_build:.3f} s wall, {c_build:.3f} s CPU")
    print(f"ratio build / raw read:     {ratio:.2f}x wall (target <= 3x); {c_build / c_raw:.2f}x CPU (less noisy on a busy machine)")
    print(f"write floor:                {t_floor:.3f} s wall, {c_floor:.3f} s CPU ({t_floor / t_raw:.2f}x / {c_floor / c_raw:.2f}x the raw read): "
          f"DuckDB writing the built warehouse's {values / 1e6:.1f} M values again, from memory")
    print(f"raw read + write floor:     {(t_raw + t_floor) / t_raw:.2f}x wall, {(c_raw + c_floor) / c_raw:.2f}x CPU "
          "(a build that only read the files and wrote the result)")
    print(f"core write floor:           {t_core:.3f} s wall, {c_core:.3f} s CPU ({t_core / t_raw:.2f}x / {c_core / c_raw:.2f}x the raw read): "
          f"the same for the core and meta tables only ({core_values / 1e6:.1f} M values: the typed, merged inspections, nothing derived)")
    print(f"raw read + core floor:      {(t_raw + t_core) / t_raw:.2f}x wall, {(c_raw + c_core) / c_raw:.2f}x CPU "
          "(a build that read the files and wrote only core and meta)")
    budget = 3 * c_raw - c_raw - c_floor
    print(f"CPU left for the real work: {budget:.3f} s within 3x the raw read's CPU, after reading and writing "
          f"(the build's real work, its CPU minus the raw read and the write floor, took {c_build - c_raw - c_floor:.3f} s)")
    print(f"per stage (best build; wall, and the process's CPU over all threads; x = / raw read's {t_raw:.2f} s wall, {c_raw:.2f} s CPU):")
    for stage, secs in summary.timings.items():
        cpu = summary.cpu.get(stage)
        shown = f"   {cpu:7.3f} s CPU  {cpu / c_raw:5.2f}x" if cpu is not None else "   (overlaps the others)"
        print(f"  {stage:<30} {secs:7.3f} s  {secs / t_raw:5.2f}x{shown}")
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["ofsted", "all"], default=None)
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found (the bench needs ../shared/data)")
        return 0
    ratios = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.only in (None, "ofsted"):
            ratios["ofsted + GIAS links"] = measure("ofsted", stage_ofsted(tmp), tmp, args.repeat)
        if args.only in (None, "all"):
            ratios["whole shared/data"] = measure("all", DATA, tmp, args.repeat)
    print()
    for k, v in ratios.items():
        print(f"ratio {k}: {v:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
