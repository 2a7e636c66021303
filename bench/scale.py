"""Bench: how build, audits and a school page grow with the number of inspection events.

    .venv/bin/python bench/scale.py [--england 22000] [--factors 1 4 16] [--seed 20250831]

For each factor a synthetic nation of factor x --england schools (src/evenhand/simulate) is
written out as official-statistics files (as `evenhand demo` does), built into a warehouse,
audited, and one school's report data is read; each size runs in its own process, so its peak
resident memory (ru_maxrss) is its own. Printed per size: schools, inspection events,
judgement rows, raw file size, and for build, audits and a school's report data the wall
time and the process's peak memory. The figures for docs/scale.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


class _Partial(dict[str, Any]):
    """The child's figures so far, rewritten to ``<work>/partial.json`` after each stage, so
    that a size which fails (or is stopped) part-way still reports what it measured."""

    def __init__(self, path: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.path = path

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.path.write_text(json.dumps(dict(self)))


def child(n_schools: int, seed: int, work: Path) -> dict[str, Any]:
    from evenhand.demo import mark_synthetic, write_official_files
    from evenhand.simulate import simulate_nation

    out = _Partial(work / "partial.json", schools=n_schools)
    t = time.perf_counter()
    nation = simulate_nation(n_schools, seed=seed)
    raw = work / "raw"
    raw.mkdir(parents=True)
    files = write_official_files(nation, raw)
    out["simulate_write_s"] = time.perf_counter() - t
    out["raw_mb"] = sum(f.stat().st_size for f in files) / 1e6
    out["simulate_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from evenhand.core.pipeline import build_warehouse

    wh = work / "evenhand.duckdb"
    t = time.perf_counter()
    build_warehouse(raw, wh)
    out["build_s"] = time.perf_counter() - t
    mark_synthetic(wh)
    out["build_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    out["events"] = con.execute("SELECT count(*) FROM core.events").fetchall()[0][0]
    out["judgements"] = con.execute("SELECT count(*) FROM core.judgements").fetchall()[0][0]
    urn = con.execute("SELECT urn FROM core.events ORDER BY urn LIMIT 1 OFFSET 100").fetchall()[0][0]
    t = time.perf_counter()
    con.execute("SELECT * FROM core.events WHERE urn = ?", [urn]).fetchall()
    out["urn_select_ms"] = 1000 * (time.perf_counter() - t)
    con.close()
    from evenhand.engine import Evenhand

    t = time.perf_counter()
    with Evenhand(wh) as eh:
        eh.run_audits(None, None, keep_going=True)
    out["audit_s"] = time.perf_counter() - t
    out["audit_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from evenhand.core.warehouse import connect
    from evenhand.present.school import school_report_data

    con = connect(wh, read_only=True)
    school_report_data(con, int(urn))  # warm
    t = time.perf_counter()
    school_report_data(con, int(urn))
    out["school_data_ms"] = 1000 * (time.perf_counter() - t)
    con.close()
    return dict(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--england", type=int, default=22_000, help="schools in one England (default %(default)s)")
    ap.add_argument("--factors", type=float, nargs="+", default=[1, 4, 16])
    ap.add_argument("--seed", type=int, default=20250831)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.seed, a.work)))
        return 0
    rows = []
    for f in a.factors:
        n = round(f * a.england)
        with tempfile.TemporaryDirectory() as d:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), "--seed", str(a.seed), "--work", d]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode == 0:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            else:  # what it measured before it failed, and why it failed
                partial = Path(d) / "partial.json"
                row = json.loads(partial.read_text()) if partial.exists() else {"schools": n}
                row["failed"] = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]
                print(done.stderr[-3000:], file=sys.stderr)
        row["factor"] = f
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'x England':>9} {'schools':>8} {'events':>9} {'judgements':>11} {'raw MB':>7} {'build s':>8} {'peak MB':>8} "
          f"{'audit s':>8} {'peak MB':>8} {'school ms':>9} {'SELECT ms':>9}")
    def cell(r: dict[str, Any], key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "-"

    for r in rows:
        if "failed" in r:
            print(f"{r['factor']:>9g} {r['schools']:>8} " + " ".join(
                cell(r, k, f) for k, f in [("events", ">9"), ("judgements", ">11"), ("raw_mb", ">7.0f"), ("build_s", ">8.1f"),
                                           ("build_peak_mb", ">8.0f"), ("audit_s", ">8.1f")]) + f"  FAILED: {r['failed']}")
            continue
        print(f"{r['factor']:>9g} {r['schools']:>8} {r['events']:>9} {r['judgements']:>11} {r['raw_mb']:>7.0f} {r['build_s']:>8.1f} "
              f"{r['build_peak_mb']:>8.0f} {r['audit_s']:>8.1f} {r['audit_peak_mb']:>8.0f} {r['school_data_ms']:>9.1f} {r['urn_select_ms']:>9.2f}")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
