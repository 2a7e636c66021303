"""`evenhand report national` (the evidence pack) and `evenhand school URN` (one school in context)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

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
    find: Annotated[str | None, typer.Option("--find", help="List schools by part of the name, a postcode (or its start) or a URN, with their URNs; says so when it can only show the closest names.")] = None,
    inspection: Annotated[str | None, typer.Option("--inspection", help="The contested inspection, by its start date (YYYY-MM-DD) or event id (see `evenhand history URN`): its expected judgement comes first. Default: the latest graded inspection.")] = None,
    audits: Annotated[Path | None, typer.Option("--audits", help="Folder written by `evenhand audit --out` (for the intake model's expected judgement); default: the audit folder beside the warehouse (its folder's audit/ or out/audit/, as `evenhand audit`, `run` and `demo` write it).")] = None,
) -> None:
    """One school's inspection in context: every inspection across URNs and frameworks (each
    judgement on its own scale), flags, how similar schools were judged, context over the
    years, a plain-English summary and caveats. HTML or PDF.

    Example:  evenhand school --find "RG4 7RA"   then   evenhand school 109778 --format pdf --out caversham.pdf
    (add --inspection 2022-11-15 to put the expected judgement of that inspection first)
    """
    from evenhand.engine import Evenhand
    from evenhand.present.report import school_html, school_pdf
    from evenhand.present.school import find_schools, unknown_school

    try:
        with Evenhand(warehouse) as eh:
            con = eh.con
            if find is not None:
                _find(con, find, find_schools)
                return
            if urn is None:
                raise EvenhandError("give a URN (e.g. evenhand school 109778) or search by name with --find \"name\"")
            if not urn.strip().isdigit():
                raise unknown_school(con, urn)
            if fmt not in ("html", "pdf"):
                raise EvenhandError(f"--format {fmt!r}: choose html or pdf")
            data = eh.school_report(int(urn), "data", inspection=inspection, audits=audits)  # as at the default snapshot
            assert isinstance(data, dict)
        target = out_path or Path(f"school-{int(urn)}.{fmt}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "pdf":
            target.write_bytes(school_pdf(data))
        else:
            target.write_text(school_html(data), encoding="utf-8")
    except EvenhandError as e:
        _fail(e)
        return
    out.print(f"wrote {target} ({len(data['flags'])} flag(s): {', '.join(f['title'] for f in data['flags']) or 'none'})", highlight=False, markup=False)


POSTCODE = re.compile(r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]?(\s*[0-9]([A-Za-z]{2})?)?$")


def _find(con: Any, text: str, find_schools: Any) -> None:
    """``school --find``: by URN (digits), postcode (or its start) or part of the name; when
    nothing matches a name, the closest names, said to be a guess."""
    q = " ".join(text.split())
    if not q:
        raise EvenhandError('--find needs some text: part of a name, a postcode or a URN, e.g. --find "Caversham"')
    latest = "SELECT urn, school_name, postcode, phase, local_authority FROM out.school_latest"
    rows: list[dict[str, Any]]
    if q.isdigit():
        rows = _dicts(con, f"SELECT * FROM ({latest}) WHERE urn = ?", [int(q)])
        if not rows:
            closed = _dicts(con, "SELECT urn, arg_max(school_name, start_date) AS school_name, count(*) AS n FROM core.events WHERE urn = ? GROUP BY urn", [int(q)])
            if closed:
                c = closed[0]
                out.print(f"URN {q} is not in the latest school files: a closed school known from {c['n']} inspection(s) ({c['school_name'] or 'no name in the files'}).", highlight=False, markup=False)
                out.print(f"  see: evenhand history {q}", highlight=False, markup=False)
                return
            raise EvenhandError(f"no school has URN {q} in this warehouse (a URN is up to seven digits, e.g. 109778); search by name or postcode with --find")
        how = f"URN {q}"
    elif POSTCODE.match(q):
        key = q.upper().replace(" ", "")
        rows = _dicts(con, f"SELECT * FROM ({latest}) WHERE replace(upper(coalesce(postcode, '')), ' ', '') LIKE ? ORDER BY postcode, school_name LIMIT 50", [key + "%"])
        how = f"postcode {q.upper()}" if len(key) >= 5 else f"postcodes starting {q.upper()}"
        if not rows:
            raise EvenhandError(f"no school has a postcode starting {q.upper()}; try the first half of the postcode (e.g. RG4) or part of the name")
    else:
        rows = _dicts(con, f"SELECT * FROM ({latest}) WHERE contains(lower(school_name), lower(?)) ORDER BY school_name, urn LIMIT 50", [q])
        how = f"names containing {q!r}"
        if not rows:
            from evenhand.web.search import WORDS_OF_SCHOOLS, suggest

            def by_name(t: str) -> list[dict[str, Any]]:
                return _dicts(con, f"SELECT * FROM ({latest}) WHERE contains(lower(school_name), lower(?)) ORDER BY school_name, urn LIMIT 50", [t])

            fixed = suggest(_Rows(con), q, words=WORDS_OF_SCHOOLS, finds=by_name)
            if fixed is not None:
                rows = by_name(fixed)
                out.print(f"No school name contains {q!r}. Guessing you meant {fixed!r}: {len(rows)} school(s) whose name contains it:", highlight=False, markup=False)
                for r in rows:
                    _school_line(r)
                out.print("This is a guess from the spelling: check the name before using a URN.", highlight=False, markup=False)
                return
            guesses = find_schools(con, q)
            if not guesses:
                raise EvenhandError(f"no school name contains {q!r}, and no name is close to it")
            out.print(f"No school name contains {q!r}. Guessing: the closest names are", highlight=False, markup=False)
            for r in guesses:
                out.print(f"  {r['urn']:>7}  {r['school_name']}", highlight=False, markup=False)
            out.print("These are guesses: check the name before using a URN.", highlight=False, markup=False)
            return
    out.print(f"{len(rows)} school(s) for {how}{' (the first 50)' if len(rows) == 50 else ''}:", highlight=False, markup=False)
    for r in rows:
        _school_line(r)


def _school_line(r: dict[str, Any]) -> None:
    """URN and name, then postcode, phase and local authority on a line of their own, indented
    (short lines: they read in a 60-column terminal)."""
    import textwrap

    out.print(f"  {r['urn']:>7}  {r['school_name']}", highlight=False, markup=False)
    extra = " · ".join(str(x) for x in (r.get("postcode"), r.get("phase"), r.get("local_authority")) if x)
    if extra:
        out.print(textwrap.fill(extra, width=max(out.width, 40), initial_indent=" " * 11, subsequent_indent=" " * 11),
                  highlight=False, markup=False)


class _Rows:
    def __init__(self, con: Any) -> None:
        self.con = con

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return _dicts(self.con, sql, params or [])


def _dicts(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    res = con.execute(sql, params)
    cols = [d[0] for d in res.description or []]
    return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
