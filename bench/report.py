"""Bench: the school report (HTML and PDF) and the national evidence pack, from a warm warehouse.

    .venv/bin/python bench/report.py --warehouse warehouse/evenhand.duckdb [--urn 109778] [--repeat 5] [--no-national]

Targets (issue 5): one school's HTML at most 100 ms, its PDF at most 2 s. Each is the best of
--repeat runs on one open connection (warm: the first run is discarded). The baseline, in the
same run, is the school's history JSON (evenhand.query history), the cheapest question the
warehouse answers about one school; ratios against it compare across machines, the absolute
times against the targets only on this one. The national pack is timed once: running the
audits, then rendering (HTML, PDF, tables), reported separately.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evenhand.core.warehouse import connect
from evenhand.engine import Evenhand
from evenhand.present.report import (
    html_to_pdf,
    provenance,
    reproduce_commands,
    school_html,
    write_national,
)
from evenhand.present.school import school_report_data
from evenhand.query import history as _history


def best(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse") / "evenhand.duckdb")
    ap.add_argument("--urn", type=int, default=109778)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-national", action="store_true")
    args = ap.parse_args()

    con = connect(args.warehouse, read_only=True)
    base = best(lambda: _history(con, args.urn), args.repeat)
    data_t = best(lambda: school_report_data(con, args.urn), args.repeat)
    data = school_report_data(con, args.urn)
    render_t = best(lambda: school_html(data), args.repeat)
    html_t = best(lambda: school_html(school_report_data(con, args.urn)), args.repeat)
    html = school_html(data)
    pdf_t = best(lambda: html_to_pdf(school_html(school_report_data(con, args.urn))), max(1, args.repeat // 2))
    print(f"school {args.urn}, best of {args.repeat} (warm):")
    print(f"  baseline history JSON        {base * 1000:8.1f} ms")
    print(f"  report data                  {data_t * 1000:8.1f} ms  ({data_t / base:.1f}x baseline)")
    print(f"  HTML render only             {render_t * 1000:8.1f} ms")
    print(f"  HTML (data + render)         {html_t * 1000:8.1f} ms  ({html_t / base:.1f}x baseline; target <= 100 ms)")
    print(f"  PDF (data + render + PDF)    {pdf_t * 1000:8.1f} ms  ({pdf_t / base:.1f}x baseline; target <= 2000 ms)")
    print(f"  HTML size {len(html.encode()) / 1024:.0f} KiB")

    if not args.no_national:
        with Evenhand(args.warehouse) as eh:
            t = time.perf_counter()
            run = eh.run_audits(keep_going=True)
            audits_t = time.perf_counter() - t
        as_at: dt.date = run.snapshot.as_at
        slots = run.slots
        inputs = provenance(con)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write_national(Path(tmp), slots, as_at, inputs, reproduce_commands(str(args.warehouse), as_at, tmp), pdf=False)
            nat_html_t = time.perf_counter() - t
            t = time.perf_counter()
            write_national(Path(tmp), slots, as_at, inputs, reproduce_commands(str(args.warehouse), as_at, tmp), pdf=True)
            nat_all_t = time.perf_counter() - t
        print(f"national pack as at {as_at}: {sum(s.result is not None for s in slots)} of {len(slots)} audits available")
        for s in slots:
            print(f"  {s.name:<13} {'ok' if s.result is not None else 'not available: ' + s.reason[:90]}")
        print(f"  running the audits           {audits_t:8.1f} s")
        print(f"  HTML + tables                {nat_html_t:8.1f} s")
        print(f"  HTML + PDF + tables          {nat_all_t:8.1f} s")
    con.close()


if __name__ == "__main__":
    main()
