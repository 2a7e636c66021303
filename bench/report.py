"""Bench: one school's report (data, HTML, PDF) and the national evidence pack, from a warm warehouse.

    .venv/bin/python bench/report.py --warehouse warehouse/evenhand.duckdb [--urn 109778 ...] [--largest 1] [--repeat 5] [--no-national]

Targets (issue 13): a school's HTML (its data and the rendered page with its timeline chart)
at most 5x the baseline, a single-URN ``SELECT`` of the school's events
(``SELECT * FROM core.events WHERE urn = ?``) on the same connection; its PDF at most 1 s.
Each figure is the median of --repeat runs on one open connection (warm: the first run is
discarded), all measured in this one run, so the ratios compare across machines and loads;
the absolute PDF time only on this one. Beside the --urn schools (typical reports) it times the
school with the largest precomputed page (--largest N: the N largest; the longest report, the
PDF's worst case). The national pack is timed once: running the audits,
then rendering (HTML, PDF, tables), reported separately.

Before/after: run it with PYTHONPATH pointing at the older tree on a warehouse it built, and
at this one (the bench only calls school_report_data, school_html and school_pdf, or html_to_pdf
on a tree without school_pdf).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
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

try:  # the PDF as the report's users get it (its print layout); an older tree: its HTML as the PDF
    from evenhand.present.report import school_pdf
except ImportError:  # before decision 1740
    def school_pdf(data: dict[str, object]) -> bytes:  # type: ignore[misc]
        return html_to_pdf(school_html(data))

HTML_TARGET_RATIO = 5.0
PDF_TARGET_S = 1.0


CPU: dict[int, float] = {}  # id(fn) -> median CPU seconds of the last median_time(fn)


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall seconds of ``repeat`` warm runs (and their median CPU seconds in CPU)."""
    fn()  # warm
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[id(fn)] = statistics.median(cpu)
    return statistics.median(times)


def school(con: object, urn: int, repeat: int) -> bool:
    def select() -> object:
        return con.execute("SELECT * FROM core.events WHERE urn = ?", [urn]).fetchall()  # type: ignore[attr-defined]

    base = median_time(select, repeat)
    data_t = median_time(lambda: school_report_data(con, urn), repeat)  # type: ignore[arg-type]
    data = school_report_data(con, urn)  # type: ignore[arg-type]
    render_t = median_time(lambda: school_html(data), repeat)
    html_t = median_time(lambda: school_html(school_report_data(con, urn)), repeat)  # type: ignore[arg-type]
    html = school_html(data)
    def pdf() -> object:
        return school_pdf(school_report_data(con, urn))  # type: ignore[arg-type]

    pdf_t = median_time(pdf, repeat)
    pdf_cpu = CPU[id(pdf)]
    html_ok = html_t <= HTML_TARGET_RATIO * base
    pdf_ok = pdf_t <= PDF_TARGET_S
    print(f"school {urn}: {len(data['timeline'])} inspections, HTML {len(html.encode()) / 1024:.0f} KiB; median of {repeat} (warm)")
    print(f"  {'':<34} {'figure':>10} {'baseline':>10} {'ratio':>7} {'target':>14}")
    print(f"  {'single-URN SELECT (baseline)':<34} {base * 1000:8.1f} ms {base * 1000:8.1f} ms {1.0:7.1f}")
    print(f"  {'report data':<34} {data_t * 1000:8.1f} ms {base * 1000:8.1f} ms {data_t / base:7.1f}")
    print(f"  {'HTML render only (with chart)':<34} {render_t * 1000:8.1f} ms {base * 1000:8.1f} ms {render_t / base:7.1f}")
    print(f"  {'HTML (data + render)':<34} {html_t * 1000:8.1f} ms {base * 1000:8.1f} ms {html_t / base:7.1f} "
          f"{'<= ' + str(HTML_TARGET_RATIO) + 'x':>9} {'MET' if html_ok else 'NOT MET'}")
    print(f"  {'PDF (data + render + PDF)':<34} {pdf_t * 1000:8.1f} ms {base * 1000:8.1f} ms {pdf_t / base:7.1f} "
          f"{'<= ' + str(int(PDF_TARGET_S * 1000)) + ' ms':>9} {'MET' if pdf_ok else 'NOT MET'}")
    print(f"  {'PDF, CPU time of this process':<34} {pdf_cpu * 1000:8.1f} ms   (wall minus CPU: time waiting for a core on a loaded machine)")
    return html_ok and pdf_ok


def largest_pages(con: object, n: int) -> list[tuple[int, int]]:
    """The ``n`` schools with the largest precomputed pages, largest first, as (URN, bytes)."""
    if n <= 0:
        return []
    rows = con.execute("SELECT urn, page_bytes FROM out.school_pages ORDER BY page_bytes DESC, urn LIMIT ?", [n]).fetchall()  # type: ignore[attr-defined]
    return [(int(u), int(b)) for u, b in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse") / "evenhand.duckdb")
    ap.add_argument("--urn", type=int, nargs="+", default=[109778])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--largest", type=int, default=1, metavar="N",
                    help="also time the N schools with the largest precomputed pages (out.school_pages.page_bytes: "
                         "the longest reports, e.g. 26 inspections across a lineage), after --urn; 0: none (default 1)")
    ap.add_argument("--no-national", action="store_true")
    args = ap.parse_args()

    con = connect(args.warehouse, read_only=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the start")
    urns = list(args.urn)
    for urn, size in largest_pages(con, args.largest):
        print(f"school {urn}: among the {args.largest} largest school pages ({size:,} bytes), the worst case")
        if urn not in urns:
            urns.append(urn)
    for urn in urns:
        school(con, urn, args.repeat)

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
