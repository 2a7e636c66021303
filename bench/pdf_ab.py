"""Bench: a school's PDF from two source trees, interleaved in one run (before/after).

    .venv/bin/python bench/pdf_ab.py --before /tmp/old/src --after src --warehouse W --urn 109778 148135 --repeat 7

Each tree runs in its own warm worker process (PYTHONPATH=<tree>) on the same warehouse, opened
read-only; the worker renders one school's PDF the way bench/report.py times it (report data,
HTML, PDF: ``school_pdf(school_report_data(con, urn))``, or ``html_to_pdf(school_html(...))`` on a
tree without school_pdf) and answers with its wall
and CPU seconds. Runs alternate between the trees (which goes first alternates per round), so
both meet the same load on a shared machine. The first run of each school in each worker is
discarded (warm). Prints the median wall and CPU of --repeat runs per school and tree, their
ratio, and the target (issue 13: a school's PDF at most 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PDF_TARGET_S = 1.0

WORKER = r"""
import json, sys, time
from evenhand.core.warehouse import connect
from evenhand.present.report import html_to_pdf, school_html
from evenhand.present.school import school_report_data
try:
    from evenhand.present.report import school_pdf
except ImportError:  # a tree before decision 1740: the PDF was the HTML report's
    def school_pdf(data):
        return html_to_pdf(school_html(data))
con = connect(sys.argv[1], read_only=True)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    urn = int(line)
    t, c = time.perf_counter(), time.process_time()
    pdf = school_pdf(school_report_data(con, urn))
    print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "bytes": len(pdf)}), flush=True)
"""


class Worker:
    def __init__(self, tree: Path, warehouse: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(warehouse)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert json.loads(self.ask_line())["ready"]

    def ask_line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("a worker stopped (see its error above)")
        return line

    def pdf(self, urn: int) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{urn}\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.ask_line()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the older tree's src folder")
    ap.add_argument("--after", type=Path, default=Path("src"), help="the newer tree's src folder")
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse") / "evenhand.duckdb")
    ap.add_argument("--urn", type=int, nargs="+", default=[109778])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the start")
    workers = {"before": Worker(args.before, args.warehouse), "after": Worker(args.after, args.warehouse)}
    runs: dict[tuple[str, int], list[dict[str, float]]] = {(side, urn): [] for side in workers for urn in args.urn}
    try:
        for urn in args.urn:  # warm: first PDF of each school in each worker, discarded
            for w in workers.values():
                w.pdf(urn)
        for r in range(args.repeat):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for urn in args.urn:
                for side in order:
                    runs[(side, urn)].append(workers[side].pdf(urn))
    finally:
        for w in workers.values():
            w.close()
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"median of {args.repeat} interleaved warm runs; load average {end_load:.1f} at the end")
    print(f"  {'school':<8} {'':<7} {'wall':>9} {'CPU':>9} {'PDF':>9} {'target':>10}")
    for urn in args.urn:
        med = {side: {k: statistics.median(x[k] for x in runs[(side, urn)]) for k in ("wall", "cpu", "bytes")} for side in workers}
        for side in workers:
            m = med[side]
            ok = "MET" if m["wall"] <= PDF_TARGET_S else "NOT MET"
            print(f"  {urn:<8} {side:<7} {m['wall'] * 1000:6.0f} ms {m['cpu'] * 1000:6.0f} ms {m['bytes'] / 1024:6.0f} KiB  <= 1 s {ok}")
        print(f"  {urn:<8} {'ratio':<7} {med['after']['wall'] / med['before']['wall']:9.2f} {med['after']['cpu'] / med['before']['cpu']:9.2f}")


if __name__ == "__main__":
    main()
