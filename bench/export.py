"""Bench: `evenhand export` against DuckDB's own COPY of the same tables to Parquet, in one run.

    .venv/bin/python bench/export.py [--warehouse W] [--repeat 2] [--baseline REF]

The warehouse defaults to a fresh build of ../shared/data into a temporary folder. Measured,
interleaved so that each sees the same load on a shared machine (best of --repeat):

1. "DuckDB COPY (baseline)": every exported table (the same SELECT of its declared columns)
   written by DuckDB's COPY ... TO '....parquet' -- the cheapest way the warehouse's rows leave
   DuckDB as open files;
2. "export (this tree)": `evenhand.present.export.export`, CSV + Parquet + datapackage.json +
   evenhand.db (SQLite) + metadata.json, with its per-stage seconds;
3. "export (REF)" with --baseline: the code of git commit REF (`git archive` into a temporary
   folder, run in its own process) on the same warehouse -- the before figure.

Printed: wall seconds and the ratio export / COPY (target: at most 5x for the whole export with
its SQLite copy, three formats of the same rows), and the sizes of the Parquet, CSV and SQLite
outputs, with evenhand.db's largest tables and indexes (SQLite's dbstat).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TARGET = 5.0


def copy_baseline(warehouse: Path, out: Path) -> tuple[float, float]:
    from evenhand.core.warehouse import connect, table_names
    from evenhand.present.export import exported_tables

    out.mkdir(parents=True, exist_ok=True)
    t, c = time.perf_counter(), time.process_time()
    con = connect(warehouse, read_only=True)
    present = table_names(con)
    for tb in exported_tables():
        if tb.qualified in present:
            cols = ", ".join(f'"{c}"' for c in tb.column_names)
            con.execute(f"COPY (SELECT {cols} FROM {tb.qualified}) TO '{out / (tb.qualified + '.parquet')}' (FORMAT parquet)")
    con.close()
    return time.perf_counter() - t, time.process_time() - c


def run_this(warehouse: Path, out: Path) -> tuple[float, float, dict[str, float]]:
    from evenhand.present.export import export

    timings: dict[str, float] = {}
    t, c = time.perf_counter(), time.process_time()
    export(warehouse, out, timings=timings)
    return time.perf_counter() - t, time.process_time() - c, timings


def run_ref(src: Path, warehouse: Path, out: Path) -> tuple[float, float]:
    code = ("import sys, time; from pathlib import Path; from evenhand.present.export import export; "
            "t, c = time.perf_counter(), time.process_time(); export(Path(sys.argv[1]), Path(sys.argv[2])); "
            "print(time.perf_counter() - t, time.process_time() - c)")
    done = subprocess.run([sys.executable, "-c", code, str(warehouse), str(out)], check=True, capture_output=True, text=True,
                          env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"})
    w, c = done.stdout.strip().splitlines()[-1].split()
    return float(w), float(c)


def sizes(out: Path) -> dict[str, float]:
    data = out / "data"
    s = {
        "Parquet": sum(p.stat().st_size for p in data.glob("*.parquet")) / 1e6,
        "CSV": sum(p.stat().st_size for p in data.glob("*.csv")) / 1e6,
    }
    if (out / "evenhand.db").exists():
        s["SQLite"] = (out / "evenhand.db").stat().st_size / 1e6
    return s


def largest_sqlite_objects(db: Path, n: int = 8) -> list[tuple[str, float]]:
    con = sqlite3.connect(db)
    try:
        return [(str(a), float(b)) for a, b in con.execute(
            "SELECT name, sum(pgsize) / 1e6 FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT ?", [n])]
    except sqlite3.OperationalError:  # an SQLite built without dbstat
        return []
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", default=None, help="git commit of the 'before' export code (optional)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        wh = args.warehouse
        if wh is None:
            if not DATA.exists():
                print(f"skipped: {DATA} not found and no --warehouse given")
                return 0
            from evenhand.core.pipeline import build_warehouse

            wh = tmp / "wh" / "evenhand.duckdb"
            print(f"building {wh} from {DATA} ...", flush=True)
            build_warehouse(DATA, wh)
        ref_src = None
        if args.baseline:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "src"], check=True, capture_output=True).stdout
            (tmp / "ref").mkdir()
            subprocess.run(["tar", "-x", "-C", str(tmp / "ref")], input=archive, check=True)
            ref_src = tmp / "ref" / "src"
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        stages: dict[str, float] = {}

        def keep(name: str, w: float, c: float) -> None:
            best[name], cpu[name] = min(best.get(name, w), w), min(cpu.get(name, c), c)

        for k in range(args.repeat):
            keep("copy", *copy_baseline(wh, tmp / f"copy{k}"))
            w, c, st = run_this(wh, tmp / f"this{k}")
            if w <= best.get("this", w):
                stages = st
            keep("this", w, c)
            if ref_src is not None:
                keep("ref", *run_ref(ref_src, wh, tmp / f"ref{k}"))
        copy, copy_cpu = best["copy"], cpu["copy"]
        print(f"\nwarehouse: {wh} (best of {args.repeat}; CPU is the less noisy figure on a busy machine)")
        print(f"{'':34} {'wall s':>8} {'x COPY':>7} {'CPU s':>8} {'x COPY':>7}")
        print(f"{'DuckDB COPY to Parquet (baseline)':34} {copy:8.2f} {1:7.2f} {copy_cpu:8.2f} {1:7.2f}")
        if "ref" in best:
            print(f"{'export (' + args.baseline + ')':34} {best['ref']:8.2f} {best['ref'] / copy:7.2f} {cpu['ref']:8.2f} {cpu['ref'] / copy_cpu:7.2f}")
        print(f"{'export (this tree)':34} {best['this']:8.2f} {best['this'] / copy:7.2f} {cpu['this']:8.2f} {cpu['this'] / copy_cpu:7.2f}"
              f"   target <= {TARGET:g}x")
        for stage, secs in stages.items():
            print(f"  {stage:<32} {secs:8.2f} {secs / copy:7.2f}")
        print("\nsizes (MB):")
        outs = {"DuckDB COPY": tmp / "copy0", "this tree": tmp / "this0"}
        if ref_src is not None:
            outs[f"export ({args.baseline})"] = tmp / "ref0"
        for name, o in outs.items():
            s = sizes(o) if name != "DuckDB COPY" else {"Parquet": sum(p.stat().st_size for p in o.glob("*.parquet")) / 1e6}
            print(f"  {name:<20} " + ", ".join(f"{k} {v:,.1f}" for k, v in s.items()))
        for name, o in outs.items():
            if (o / "evenhand.db").exists():
                print(f"  largest objects in evenhand.db ({name}): "
                      + ", ".join(f"{a} {b:.1f}" for a, b in largest_sqlite_objects(o / "evenhand.db")))
        print(json.dumps({"wall_s": best, "cpu_s": cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
