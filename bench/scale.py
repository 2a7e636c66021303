"""Bench: how build, audits and a school page grow with the number of inspection events.

    .venv/bin/python bench/scale.py [--england 22000] [--factors 1 4 16] [--seed 20250831]
                                    [--work DIR] [--redo build] [--max-rss-gb 20]

For each factor a synthetic nation of factor x --england schools (src/evenhand/simulate) is
written out as official-statistics files (as `evenhand demo` does), built into a warehouse,
audited, and one school's report data is read. Each of these four stages runs in a process of
its own (simulate+write, build, audits, school page), so each peak resident memory is that
stage's own (ru_maxrss of that process, from wait4), not the largest of the stages before it.
While a stage runs its process tree's resident memory is sampled from /proc; the build stage
also samples its own RSS and files the largest reading under each of the build's own stage
laps (the stages of `bench/build.py`'s breakdown), so the stage where the peak is is printed.

With --work DIR the files of each size are kept in DIR/x<factor> and each stage's figures in
DIR/x<factor>/<stage>.json: a stage whose figures are there is not run again (so a failed
build is retried without simulating again) unless --redo names it or a stage before it.
Without --work a temporary folder is used and removed. --max-rss-gb stops a stage whose
process tree grows past it (SIGTERM, then SIGKILL) and reports what was measured before.

Printed per size: schools, inspection events, judgement rows, raw file size, and for
simulate+write, build, audits and a school's report data the wall time and peak memory. The
figures for docs/scale.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

STAGES = ("simulate", "build", "audit", "page")


class _RssSampler:
    """This process's resident memory every ``every`` seconds; ``lap(name)`` files the largest
    seen since the last lap under ``name`` (the build's own stage laps)."""

    def __init__(self, every: float = 0.05) -> None:
        self.peaks: dict[str, float] = {}
        self._since = 0.0
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)

    def lap(self, name: str) -> None:
        self._sample()
        self.peaks[name] = max(self.peaks.get(name, 0.0), self._since)
        self._since = _rss_mb(os.getpid())

    def _sample(self) -> None:
        self._since = max(self._since, _rss_mb(os.getpid()))

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def __enter__(self) -> _RssSampler:
        self._since = _rss_mb(os.getpid())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and its descendants (Linux /proc; 0 elsewhere)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_mb(pid)
        todo += children.get(pid, [])
    return total


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_simulate(n_schools: int, seed: int, work: Path) -> dict[str, Any]:
    from evenhand.demo import write_official_files
    from evenhand.simulate import simulate_nation

    raw = work / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    t = time.perf_counter()
    nation = simulate_nation(n_schools, seed=seed)
    raw.mkdir(parents=True)
    files = write_official_files(nation, raw)
    return {"simulate_write_s": time.perf_counter() - t, "raw_mb": sum(f.stat().st_size for f in files) / 1e6,
            "sim_events": nation.events.height, "sim_judgements": nation.judgements.height}


def stage_build(work: Path) -> dict[str, Any]:
    from evenhand.core import pipeline
    from evenhand.demo import mark_synthetic

    wh = work / "evenhand.duckdb"
    lap = pipeline._Clock.lap

    with _RssSampler() as rss:
        rss.lap("imports")

        def lap_with_rss(clock: Any, stage: str) -> None:  # the build's stage laps, each with its RSS peak
            lap(clock, stage)
            rss.lap(stage)

        pipeline._Clock.lap = lap_with_rss  # type: ignore[method-assign]
        try:
            t = time.perf_counter()
            summary = pipeline.build_warehouse(work / "raw", wh)
            build_s = time.perf_counter() - t
        finally:
            pipeline._Clock.lap = lap  # type: ignore[method-assign]
        mark_synthetic(wh)
        rss.lap("mark synthetic")
    phase = max(rss.peaks, key=lambda p: rss.peaks[p])
    return {"build_s": build_s, "events": summary.counts["events"], "judgements": summary.counts["judgements"],
            "build_stage_peak_mb": {p: round(v) for p, v in rss.peaks.items()}, "build_peak_stage": phase,
            "build_timings_s": {k: round(v, 2) for k, v in summary.timings.items()},
            "warehouse_mb": (wh.stat().st_size + sum(f.stat().st_size for d in work.glob("evenhand.duckdb.raw-*")
                                                     for f in d.rglob("*") if f.is_file())) / 1e6}


def stage_audit(work: Path) -> dict[str, Any]:
    from evenhand.engine import Evenhand

    t = time.perf_counter()
    with Evenhand(work / "evenhand.duckdb") as eh:
        run = eh.run_audits(None, None, keep_going=True)
    return {"audit_s": time.perf_counter() - t, "audits_without_result": {s.name: s.reason for s in run.slots if s.result is None},
            "audit_timings_s": {k: round(v, 2) for k, v in run.timings.items()}}


def stage_page(work: Path) -> dict[str, Any]:
    import duckdb

    from evenhand.core.warehouse import connect
    from evenhand.present.school import school_report_data

    wh = work / "evenhand.duckdb"
    con = duckdb.connect(str(wh), read_only=True)
    urn = con.execute("SELECT urn FROM core.events ORDER BY urn LIMIT 1 OFFSET 100").fetchall()[0][0]
    con.execute("SELECT * FROM core.events WHERE urn = ?", [urn]).fetchall()  # warm
    t = time.perf_counter()
    con.execute("SELECT * FROM core.events WHERE urn = ?", [urn]).fetchall()
    urn_select_ms = 1000 * (time.perf_counter() - t)
    con.close()
    con = connect(wh, read_only=True)
    school_report_data(con, int(urn))  # warm
    t = time.perf_counter()
    school_report_data(con, int(urn))
    school_data_ms = 1000 * (time.perf_counter() - t)
    con.close()
    return {"urn_select_ms": urn_select_ms, "school_data_ms": school_data_ms}


def run_child(stage: str, n_schools: int, seed: int, work: Path) -> dict[str, Any]:
    if stage == "simulate":
        out = stage_simulate(n_schools, seed, work)
    elif stage == "build":
        out = stage_build(work)
    elif stage == "audit":
        out = stage_audit(work)
    else:
        out = stage_page(work)
    return out | {f"{stage}_peak_mb": _peak_mb()}


def run_stage(stage: str, n_schools: int, seed: int, work: Path, max_rss_mb: float) -> dict[str, Any]:
    """One stage in a process of its own: its figures, or what stopped it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--schools", str(n_schools),
           "--seed", str(seed), "--work", str(work)]
    err = work / f"{stage}.stderr"
    t = time.perf_counter()
    with err.open("w") as e:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=e, text=True)
        tree_peak, stopped, stopped_at = 0.0, "", 0.0
        reader = threading.Thread(target=lambda: setattr(proc, "_out", proc.stdout.read() if proc.stdout else ""))
        reader.start()
        while True:
            waited = os.wait4(proc.pid, os.WNOHANG)
            if waited[0]:
                break
            tree = _tree_rss_mb(proc.pid)
            tree_peak = max(tree_peak, tree)
            if tree > max_rss_mb and not stopped:
                stopped = f"stopped at {tree:,.0f} MB resident (limit {max_rss_mb:,.0f} MB) after {time.perf_counter() - t:.0f} s"
                stopped_at = time.perf_counter()
                os.kill(proc.pid, signal.SIGTERM)
            elif stopped and time.perf_counter() - stopped_at > 20:  # inside a long native call: no clean stop
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.25)
        proc.returncode = os.waitstatus_to_exitcode(waited[1])
        reader.join()
    row: dict[str, Any] = {f"{stage}_wall_s": time.perf_counter() - t, f"{stage}_tree_peak_mb": tree_peak,
                           f"{stage}_peak_mb": waited[2].ru_maxrss / 1024}
    out = getattr(proc, "_out", "").strip().splitlines()
    if proc.returncode == 0 and out:
        return json.loads(out[-1]) | row
    lines = err.read_text().strip().splitlines()
    return row | {"failed": stopped or (lines[-1][:300] if lines else f"exit {proc.returncode}")}


def measure(n_schools: int, seed: int, work: Path, redo: set[str], max_rss_mb: float, until: str = STAGES[-1]) -> dict[str, Any]:
    row: dict[str, Any] = {"schools": n_schools}
    work.mkdir(parents=True, exist_ok=True)
    again = False
    for stage in STAGES[:STAGES.index(until) + 1]:
        saved = work / f"{stage}.json"
        again = again or stage in redo or not saved.exists()
        if not again:
            row |= json.loads(saved.read_text()) | {f"{stage}_reused": True}
            continue
        saved.unlink(missing_ok=True)
        got = run_stage(stage, n_schools, seed, work, max_rss_mb)
        if "failed" in got:
            print(f"x{n_schools} {stage} failed: {got['failed']} (stderr in {work / (stage + '.stderr')})", file=sys.stderr)
            return row | got | {"failed_stage": stage}
        saved.write_text(json.dumps(got))
        row |= got
        print(f"  {n_schools} schools, {stage}: {json.dumps(got)}", flush=True)
    return row


def _cell(r: dict[str, Any], key: str, fmt: str) -> str:
    return format(r[key], fmt) if key in r else "-"


COLUMNS = [("schools", "schools", ">8"), ("events", "events", ">9"), ("judgements", "judgements", ">10"),
           ("raw MB", "raw_mb", ">7.0f"), ("sim s", "simulate_write_s", ">7.0f"), ("sim MB", "simulate_peak_mb", ">7.0f"),
           ("build s", "build_s", ">8.1f"), ("build MB", "build_peak_mb", ">8.0f"), ("audit s", "audit_s", ">8.1f"),
           ("audit MB", "audit_peak_mb", ">8.0f"), ("school ms", "school_data_ms", ">9.1f"), ("SELECT ms", "urn_select_ms", ">9.2f"),
           ("page MB", "page_peak_mb", ">7.0f")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--england", type=int, default=22_000, help="schools in one England (default %(default)s)")
    ap.add_argument("--factors", type=float, nargs="+", default=[1, 4, 16])
    ap.add_argument("--seed", type=int, default=20250831)
    ap.add_argument("--work", type=Path, help="keep each size's files and figures in WORK/x<factor> and reuse them")
    ap.add_argument("--redo", nargs="*", default=[], choices=STAGES, help="run these stages (and those after them) again")
    ap.add_argument("--until", choices=STAGES, default=STAGES[-1], help="stop after this stage (e.g. simulate files ahead)")
    ap.add_argument("--max-rss-gb", type=float, default=20.0, help="stop a stage whose process tree passes this (default %(default)s)")
    ap.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--schools", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_child(a.child, a.schools, a.seed, a.work)))
        return 0
    rows = []
    tmp = None if a.work else tempfile.TemporaryDirectory()
    base = a.work or Path(tmp.name if tmp else ".")
    try:
        for f in a.factors:
            row = measure(round(f * a.england), a.seed, base / f"x{f:g}", set(a.redo), a.max_rss_gb * 1024, a.until)
            row["factor"] = f
            row["load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if tmp:
            tmp.cleanup()
    print("\n" + f"{'x England':>9} " + " ".join(format(h, fmt.rstrip('.0123456789f')) for h, _, fmt in COLUMNS))
    for r in rows:
        line = f"{r['factor']:>9g} " + " ".join(_cell(r, k, fmt) for _, k, fmt in COLUMNS)
        print(line + (f"  FAILED in {r['failed_stage']}: {r['failed']}" if "failed" in r else ""))
    for r in rows:
        if "build_stage_peak_mb" in r:
            print(f"x{r['factor']:g} build RSS peak per stage (MB): {r['build_stage_peak_mb']}")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
