"""`evenhand demo` (a synthetic nation, offline) and `evenhand run` (real files, end to end)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evenhand.cli import WarehouseOpt, _fail, app, out, progress_bar
from evenhand.core.warehouse import DEFAULT_WAREHOUSE
from evenhand.errors import EvenhandError


def _show(result: object, synthetic: bool) -> None:
    from evenhand.audit.result import STAMP
    from evenhand.run import PipelineResult

    assert isinstance(result, PipelineResult)
    if synthetic:
        out.print(f"[bold yellow]{STAMP}[/]", highlight=False)
    for what, path in result.outputs.items():
        out.print(f"  {what:<20} {path}", highlight=False, markup=False, soft_wrap=True)
    for note in result.notes:
        out.print(f"  [yellow]note:[/] {note}", highlight=False)
    out.print(f"open: {result.open_first}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the synthetic files, warehouse, audits, evidence pack and open data.")] = Path("demo"),
    schools: Annotated[int, typer.Option("--schools", help="How many synthetic schools.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed gives the same nation and results.")] = 20250831,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the evidence pack as HTML only.")] = False,
) -> None:
    """Every output, offline, on a synthetic nation: simulate schools with known planted
    effects, write them as official statistics files, build, audit, write the national
    evidence pack and the open-data export. Everything is stamped
    'SYNTHETIC DATA — not real schools'.

    Example:  evenhand demo --out demo
    """
    from evenhand.demo import run_demo

    try:
        with progress_bar(first_step=0) as progress:
            result = run_demo(out_dir, schools, seed, pdf=not no_pdf, progress=progress)
    except EvenhandError as e:
        _fail(e)
        return
    _show(result, synthetic=True)


@app.command()
def run(
    raw: Annotated[Path, typer.Option("--raw", help="Folder of official files; fetched from GOV.UK and GIAS when it holds none.")] = Path("raw"),
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the audits, evidence pack and open data.")] = Path("out"),
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    fetch: Annotated[bool, typer.Option("--fetch", help="Fetch the current files even when RAW already holds some.")] = False,
    mirror: Annotated[str | None, typer.Option("--mirror", help="Base URL replacing the gov.uk and GIAS hosts when fetching.")] = None,
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write the evidence pack as HTML only.")] = False,
) -> None:
    """From files to evidence in one command: fetch (when RAW holds no data files) -> build ->
    audits -> national evidence pack -> open-data export. The last line names the file to open.

    Example:  evenhand run --raw ../shared/data --out out
    """
    from evenhand.run import run_pipeline

    try:
        with progress_bar(first_step=0) as progress:
            result = run_pipeline(raw, out_dir, warehouse, fetch=True if fetch else None, mirror=mirror, pdf=not no_pdf, progress=progress)
    except EvenhandError as e:
        _fail(e)
        return
    _show(result, synthetic=result.synthetic)  # the demo's raw files, say, are synthetic
