"""`evenhand report national` (the evidence pack) and `evenhand school URN` (one school in context)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evenhand.cli import _fail, app, err, out
from evenhand.core.warehouse import DEFAULT_WAREHOUSE
from evenhand.errors import EvenhandError

report_app = typer.Typer(
    help="Evidence people can read: the national evidence pack (HTML, PDF, tables).\n\n"
    "Example:  evenhand report national --out out/report",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(report_app, name="report")

WarehouseOpt = Annotated[Path, typer.Option("--warehouse", "-w", help="Warehouse file (DuckDB).")]


@report_app.command()
def national(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for evidence-pack.html, evidence-pack.pdf and tables/.")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    as_at: Annotated[str | None, typer.Option("--as-at", help="Date the system is described as at (YYYY-MM-DD); default: the newest Ofsted file that covers all of England.")] = None,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the HTML and tables only.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed for any resampling in the audits.")] = 20230108,
) -> None:
    """The national evidence pack: key findings on each public claim, one section per audit
    (chart, table, method, caveats), the provenance of every input and how to reproduce it.

    Writes one self-contained HTML file (no external requests), the same as PDF, and each
    audit's tables as CSV and Parquet. An audit not available in this version is shown as
    such, never with a number.

    Example:  evenhand report national --as-at 2025-08-31 --warehouse warehouse/evenhand.duckdb --out out/report
    """
    from evenhand.engine import Evenhand
    from evenhand.run import national_pack

    try:
        with Evenhand(warehouse) as eh:
            err.print("running the audits ...", highlight=False)
            run, paths = national_pack(eh, out_dir, as_at, seed, pdf=not no_pdf)
    except EvenhandError as e:
        _fail(e)
        return
    out.print(f"as at {run.snapshot.date_text}: {run.snapshot.coverage}", highlight=False, markup=False)
    slots = run.slots
    for s in slots:
        state = "included" if s.result is not None else f"NOT AVAILABLE: {s.reason}"
        out.print(f"  {s.name:<13} {state}", highlight=False)
    out.print(f"wrote {len(paths)} files to {out_dir} (open {out_dir / 'evidence-pack.html'})", highlight=False)


@app.command()
def school(
    urn: Annotated[str | None, typer.Argument(help="The school's URN, e.g. 109778.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html or pdf.")] = "html",
    out_path: Annotated[Path | None, typer.Option("--out", help="File to write; default school-<URN>.<format>.")] = None,
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    find: Annotated[str | None, typer.Option("--find", help="List schools whose name contains this text, with their URNs.")] = None,
    audits: Annotated[Path | None, typer.Option("--audits", help="Folder written by `evenhand audit --out` (for the intake model's expected judgement).")] = Path("out") / "audit",
) -> None:
    """One school's inspection in context: every inspection across URNs and frameworks (each
    judgement on its own scale), flags, how similar schools were judged, context over the
    years, a plain-English summary and caveats. HTML or PDF.

    Example:  evenhand school 109778 --format pdf --out caversham.pdf
    """
    from evenhand.engine import Evenhand
    from evenhand.present.report import html_to_pdf, read_expected, school_html
    from evenhand.present.school import find_schools, school_report_data, unknown_school

    try:
        with Evenhand(warehouse) as eh:
            con = eh.con
            if find is not None:
                rows = find_schools(con, find)
                if not rows:
                    raise EvenhandError(f"no school name contains {find!r}")
                for r in rows:
                    out.print(f"  {r['urn']:>7}  {r['school_name']}  {r['phase'] or ''} {r['local_authority'] or ''}", highlight=False, markup=False)
                return
            if urn is None:
                raise EvenhandError("give a URN (e.g. evenhand school 109778) or search by name with --find \"name\"")
            if not urn.strip().isdigit():
                raise unknown_school(con, urn)
            if fmt not in ("html", "pdf"):
                raise EvenhandError(f"--format {fmt!r}: choose html or pdf")
            data = school_report_data(con, int(urn), expected=read_expected(audits))  # as at the default snapshot (out.latest_as_at)
        html = school_html(data)
        target = out_path or Path(f"school-{int(urn)}.{fmt}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "pdf":
            target.write_bytes(html_to_pdf(html))
        else:
            target.write_text(html, encoding="utf-8")
    except EvenhandError as e:
        _fail(e)
        return
    out.print(f"wrote {target} ({len(data['flags'])} flag(s): {', '.join(f['title'] for f in data['flags']) or 'none'})", highlight=False, markup=False)
