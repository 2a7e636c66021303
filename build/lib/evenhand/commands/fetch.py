"""`evenhand fetch`: download the current official files from GOV.UK and GIAS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from evenhand.cli import _fail, app, out, progress_bar
from evenhand.errors import EvenhandError


@app.command()
def fetch(
    dest: Annotated[Path, typer.Option("--dest", help="Folder to download into (a manifest.json is kept there).")] = Path("raw"),
    mirror: Annotated[str | None, typer.Option("--mirror", help="Base URL that replaces the gov.uk, assets and GIAS hosts (a proxy or a local copy).")] = None,
    retries: Annotated[int, typer.Option("--retries", help="Attempts after the first for each request.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for a server before retrying.")] = 60.0,
) -> None:
    """Download the current Ofsted and GIAS files named in maps/sources.toml.

    Files are found through the GOV.UK Content API and GIAS's dated download addresses,
    downloaded with retries (a broken download resumes where it stopped), checked to be a
    known layout (a web page or a truncated file is refused, never stored), and recorded in
    DEST/manifest.json with URL, time, size, sha256 and licence. Files already present with
    the same sha256 are skipped. Then run `evenhand build --raw DEST`.

    Example:  evenhand fetch --dest raw
    """
    from evenhand.fetch import fetch as do_fetch
    from evenhand.fetch.download import Http

    http = Http.create(timeout=timeout, retries=retries)
    try:
        with progress_bar() as progress:
            report = do_fetch(dest, mirror=mirror, http=http, progress=progress)
    except EvenhandError as e:
        _fail(e)
        return
    finally:
        http.close()
    print_report(report)
    if not report.ok:
        _fail(EvenhandError(f"{len(report.problems)} source(s) unreadable, {report.count('rejected')} file(s) rejected, {report.count('failed')} failed: see above"))


def print_report(report: object) -> None:
    from evenhand.fetch import FetchReport

    assert isinstance(report, FetchReport)
    t = Table(title=f"Fetched into {report.dest}")
    for col in ("file", "status", "layout", "bytes"):
        t.add_column(col, justify="right" if col == "bytes" else "left")
    for f in report.files:
        t.add_row(f.path or f.url, f.status, f.layout or "", f"{f.size:,}" if f.size is not None else "")
    out.print(t)
    for f in report.files:
        if f.message and f.status in ("rejected", "failed"):
            out.print(f"[red]{f.status}:[/] {f.url}\n  {f.message}", highlight=False)
    for p in report.problems:
        out.print(f"[red]problem:[/] {p}", highlight=False)
    if any(f.status in ("downloaded", "unchanged", "skipped") for f in report.files):
        out.print(f"manifest: {report.dest / 'manifest.json'}; next: evenhand build --raw {report.dest}", highlight=False, soft_wrap=True)
