"""The `evenhand` command line. Every command explains itself with --help and an example."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evenhand.core.warehouse import DEFAULT_WAREHOUSE
from evenhand.errors import EvenhandError

app = typer.Typer(
    help="Evenhand: an open evidence engine for English school inspections.\n\n"
    "\b\n"
    "New here? Every output on made-up schools, offline:\n"
    "  evenhand demo --out demo\n"
    "With the official files (downloaded when raw/ has none):\n"
    "  evenhand run --raw raw --out out\n"
    "One school (find it by name, postcode or URN):\n"
    "  evenhand school --find \"Caversham\"\n"
    "  evenhand school 109778 --format pdf\n"
    "The dashboard, on http://127.0.0.1:8000:\n"
    "  evenhand serve\n\n"
    "Each command explains itself: evenhand COMMAND --help.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
err = Console(stderr=True)
out = Console()

WarehouseOpt = Annotated[Path, typer.Option("--warehouse", "-w", help="Warehouse file (DuckDB).")]


@contextlib.contextmanager
def progress_bar(first_step: int = 1) -> Iterator[Callable[[str, int, int], None]]:
    """Progress on stderr; yields ``progress(message, i, n)``: step i of n is under way (steps
    counted from ``first_step``). On a terminal a transient bar; otherwise (a log, a pipe, CI)
    one line per stage as it starts, with the time since the command began, so a long run is
    never silent until it ends."""
    if not err.is_terminal:
        start = time.monotonic()
        last: list[str] = []

        def line(message: str, i: int, n: int) -> None:
            if last and last[-1] == message:
                return
            last.append(message)
            step = min(i - first_step + 1, n)
            err.print(f"[{step}/{n}] {escape(message)} ({time.monotonic() - start:.0f} s)", highlight=False, soft_wrap=True)

        yield line
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("starting", total=1)

        def progress(message: str, i: int, n: int) -> None:
            bar.update(task, description=escape(message[:70]), completed=max(i - first_step, 0), total=n)

        yield progress


def _version(value: bool) -> None:
    if value:
        from evenhand import __version__

        out.print(f"evenhand {__version__}", highlight=False, markup=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)] = False,
) -> None:
    """Evenhand: an open evidence engine for English school inspections."""


def _fail(e: Exception) -> None:
    err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def build(
    raw: Annotated[Path, typer.Option("--raw", help="Folder of raw files (searched recursively), or one file.")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    lenient: Annotated[bool, typer.Option("--lenient", help="Leave out bad rows (listed in meta.rejections) instead of failing; a file rejected whole still fails the build.")] = False,
    allow_missing: Annotated[list[str] | None, typer.Option(
        "--allow-missing", metavar="FILE",
        help="Build even though this file (a path as listed by the previous build, a name or a pattern) "
        "is missing, not recognised or rejected whole; repeatable. Without it such a build fails and keeps the previous warehouse.",
    )] = None,
) -> None:
    """Build the warehouse from a folder of official files.

    Files are recognised by their header, not their name; unrecognised files are listed, not
    fatal. The build writes a new file and swaps it in only when complete, so a failed build
    leaves the previous warehouse untouched. A build that loads no file, or loses a file the
    previous warehouse loaded, fails unless --allow-missing names that file. One build of a
    warehouse runs at a time (WAREHOUSE.lock); SIGTERM, SIGHUP and Ctrl-C stop it cleanly.

    Example:  evenhand build --raw ../shared/data --warehouse warehouse/evenhand.duckdb
    """
    import os

    from evenhand.core.guard import BuildInterrupted
    from evenhand.core.pipeline import build_warehouse

    if not raw.exists():
        _fail(EvenhandError(f"no such folder or file: {raw}"))
    try:
        with progress_bar() as progress:
            summary = build_warehouse(raw, warehouse, lenient=lenient, progress=progress, allow_missing=allow_missing or ())
    except BuildInterrupted as e:
        err.print(f"[bold red]stopped:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(128 + e.signum) from None
    except EvenhandError as e:
        _fail(e)
        return
    except Exception as e:  # a bug, not bad input: one line, the traceback on request
        if os.environ.get("EVENHAND_DEBUG"):
            raise
        _fail(EvenhandError(f"internal error ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                            "set EVENHAND_DEBUG=1 for the traceback and report it"))
        return
    if summary.synthetic:
        from evenhand.core.synthetic import STAMP

        out.print(f"[bold yellow]{STAMP}[/]: built from files marked synthetic; every output of this warehouse says so", highlight=False)
    t = Table(title=escape(f"Built {summary.warehouse}"), show_lines=False)
    for col in ("layout", "files", "rows read", "rows rejected", "warnings"):
        t.add_column(col, justify="right" if col != "layout" else "left")
    by_layout: dict[str, list[int]] = {}
    for r in summary.files:
        if r.status == "loaded" and r.layout:
            agg = by_layout.setdefault(r.layout, [0, 0, 0, 0])
            agg[0] += 1
            agg[1] += r.rows_read or 0
            agg[2] += r.rows_rejected or 0
            agg[3] += r.warnings or 0
    for layout, (n, rows, rej, warn) in sorted(by_layout.items()):
        t.add_row(escape(layout), str(n), f"{rows:,}", str(rej), str(warn))
    out.print(t)
    c = summary.counts
    out.print(
        f"events: {c['events']:,} ({', '.join(f'{k} {v:,}' for k, v in summary.events_by_kind.items())}); "
        f"judgements: {c['judgements']:,}; school rows: {c['schools_rows']:,}"
    )
    out.print(f"warnings: {summary.n_warnings}; conflicts: {summary.n_conflicts} (event fields where sources disagree; see meta.conflicts)")
    changes = summary.changes()
    if changes:
        out.print("compared with the previous warehouse: " + escape("; ".join(changes)), highlight=False)
    for w in summary.warnings[:10]:
        where = next(r.path for r in summary.files if r.file_id == w["file_id"])
        text = f"{where}: {w['message']}"
        out.print(f"  [yellow]warning[/] {escape(text)}", highlight=False)
    rejected = [r for r in summary.files if r.status == "rejected"]
    if rejected:
        out.print(f"rejected whole ({len(rejected)} files, allowed by --allow-missing, not loaded):")
        for r in rejected:
            out.print(f"  {escape(f'{r.path}: {r.message}')}", highlight=False)
    unrec = [r for r in summary.files if r.status == "unrecognised"]
    if unrec:
        out.print(f"not recognised ({len(unrec)} files, not loaded):")
        for r in unrec:
            out.print(f"  {escape(f'{r.path}: {r.message}')}", highlight=False)


@app.command()
def info(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a stable interface).")] = False,
) -> None:
    """What the warehouse holds: schools, events by kind and era, files by layout.

    Example:  evenhand info --json
    """
    from evenhand.engine import Evenhand

    try:
        with Evenhand(warehouse) as eh:
            data = eh.info()
    except EvenhandError as e:
        _fail(e)
        return
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        return
    out.print(f"schools: {data['schools']['distinct_urns']:,} URNs in {data['schools']['rows']:,} file rows")
    from evenhand import maps

    out.print(f"events: {data['events']['total']:,} (" + ", ".join(f"{maps.kind_label(k, short=True).lower()} {v:,}" for k, v in data["events"]["by_kind"].items()) + ")")
    out.print(f"judgements: {data['judgements']:,}; conflicts: {data['conflicts']['fields']:,}; warnings: {data['warnings']:,}")
    for pair in data["conflicts"]["between_snapshots"]:
        out.print(
            f"  snapshots {pair['older']} and {pair['newer']} disagree on {pair['events']:,} inspections "
            f"({', '.join(maps.field_label(f) for f in pair['field_names'])}; each value in meta.conflicts, the newer kept)"
        )
    status = None
    for f in data["files"]["by_layout"]:  # short lines: they read in a 60-column terminal
        if f["status"] != status:
            status = f["status"]
            out.print(f"files {status}:", highlight=False)
        n = int(f["n"])
        what = f"{n} file{'s' if n != 1 else ''}" + (f", {int(f['rows'] or 0):,} rows" if f["layout"] else "")
        out.print(f"  {maps.layout_title(f['layout'])}: {what}", highlight=False)


@app.command()
def history(
    urn: Annotated[int, typer.Argument(help="The school's URN, e.g. 109778.")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (a stable interface).")] = False,
) -> None:
    """Every inspection of one school: dates, type, kind, era and each judgement on its own scale.

    Example:  evenhand history 109778 --json
    """
    from evenhand.engine import Evenhand

    try:
        with Evenhand(warehouse) as eh:
            data = eh.history(urn)
    except EvenhandError as e:
        _fail(e)
        return
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        return
    s = data["school"] or {}
    name = escape(str(s.get("school_name", "URN " + str(urn))))
    rest = escape(f"{s.get('phase') or ''} {s.get('school_type') or ''}, {s.get('local_authority') or ''}")
    out.print(f"[bold]{name}[/] (URN {urn}) {rest}", highlight=False)
    # one block per inspection (not a table: it reads at any width, 60 columns included)
    import textwrap

    from evenhand import maps
    from evenhand.present.school import SAFEGUARDING_WORDS

    def when(d: object) -> str:
        if not d:
            return "?"
        day = dt.date.fromisoformat(str(d))
        return f"{day.day} {day.strftime('%b %Y')}"

    for ev in data["events"]:
        head = f"{when(ev['start_date'])}: {maps.kind_label(ev['kind'])}"
        if ev["publication_date"]:
            head += f", published {when(ev['publication_date'])}"
        out.print(escape(head), style="bold", highlight=False)
        what = "; ".join(x for x in (maps.era_label(ev["era"]) if ev["era"] else "", ev["inspection_type"] or "") if x)
        lines = [what] if what else []
        order = list(maps.areas())
        graded = sorted((j for j in ev["judgements"] if j["graded"]), key=lambda j: order.index(j["area"]) if j["area"] in order else 99)
        js = "; ".join(f"Safeguarding: {SAFEGUARDING_WORDS.get(j['label'], j['label'])}" if j["scale"] == "safeguarding_effective"
                       else f"{maps.area_label(j['area'])}: {j['label']}" for j in graded)
        if js:
            lines.append(js)
        for line in lines:
            out.print(escape(textwrap.fill(line, width=max(out.width, 40), initial_indent="  ", subsequent_indent="  ")), highlight=False)
    lineage = data.get("lineage") or {}
    for side in ("predecessors", "successors"):
        for other in lineage.get(side) or []:
            n = len(other.get("events") or [])
            text = f"{side[:-1]}: URN {other.get('urn')} {other.get('school_name') or ''} ({n} inspection(s)); see: evenhand history {other.get('urn')}"
            out.print(escape(text), highlight=False)
    flags = lineage.get("flags") or {}
    if flags.get("merge") or flags.get("split"):
        note = flags.get("notes") or "this school was part of a merger or split: its lineage is not chained through it"
        out.print(f"[yellow]note:[/] {escape(str(note))}", highlight=False)


@app.command()
def audit(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    as_at: Annotated[str | None, typer.Option("--as-at", help="Date the system is described as at (YYYY-MM-DD); default: the newest Ofsted file that covers all of England.")] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this audit (repeatable, or several with commas: --only timing,safeguarding): headline, intake, consistency, safeguarding, resources, timing, consequences, frameworks.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write every result into one JSON file.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for each result's JSON and its tables as CSV and Parquet.")] = Path("out") / "audit",
    seed: Annotated[int, typer.Option("--seed", help="Seed for any resampling: same inputs and seed, same results.")] = 20230108,
) -> None:
    """The national evidence: one audit per public claim about inspection, each with its
    estimates, 95% intervals, n, method, findings and caveats.

    Example:  evenhand audit --only headline --only safeguarding --out out/audit
    """
    from evenhand.engine import Evenhand

    try:
        with Evenhand(warehouse) as eh, progress_bar() as progress:
            names = [n.strip() for o in only for n in o.split(",") if n.strip()] if only else None
            run = eh.run_audits(names, as_at, seed, progress)
    except EvenhandError as e:
        _fail(e)
        return
    results, timings = run.results, run.timings
    out.print(f"as at {run.snapshot.date_text}: {run.snapshot.coverage}"
              + ("" if run.snapshot.national else " (this file does not cover all of England)")
              + (f" — {run.snapshot.path}" if run.snapshot.path else ""), highlight=False, markup=False)
    written = []
    for r in results:
        written += r.write(out_dir)
        out.rule(f"[bold]{r.title}[/]")
        out.print(f"[italic]{r.question}[/]", highlight=False)
        for f in r.findings:
            out.print(f"  {f}", highlight=False)
        for fig in r.figures[:8]:
            out.print(f"  - {fig.label}: {fig.text()}", highlight=False)
        if r.small_n:
            out.print(f"  [yellow]small n:[/] {'; '.join(r.small_n)}", highlight=False)
        out.print(f"  caveats: {len(r.caveats)} (see {out_dir / (r.name + '.json')}); took {timings[r.name]:.1f} s", highlight=False)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({r.name: r.to_dict() for r in results}, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    out.print(f"wrote {len(written)} files to {out_dir}")


def _load_command_modules() -> None:
    """Import every module of evenhand.commands: each registers its commands on ``app``."""
    import importlib
    import pkgutil

    import evenhand.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        importlib.import_module(f"evenhand.commands.{info.name}")


_load_command_modules()


def main() -> None:  # pragma: no cover
    app()
if __name__ == "__main__":  # pragma: no cover
    app()
