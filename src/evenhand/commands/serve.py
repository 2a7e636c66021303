"""`evenhand serve`: the dashboard (read-only) on a local address."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from evenhand.cli import WarehouseOpt, _fail, app, err
from evenhand.core.warehouse import DEFAULT_WAREHOUSE
from evenhand.errors import EvenhandError


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default; use 0.0.0.0 only behind a proxy you trust).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    audits: Annotated[Path | None, typer.Option("--audits", help="Folder of audit results from 'evenhand audit --out DIR'; without it, each audit runs on its first visit.")] = None,
    open_data: Annotated[Path | None, typer.Option("--open-data", help="Folder written by 'evenhand export --out DIR', offered for download on the Data page; without it, looked for beside the warehouse and in out/open-data.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes serving pages (each opens the warehouse read-only with its own caches); default one per CPU, at most 4.", min=1, max=64)] = None,
) -> None:
    """The dashboard: search any school by name, URN or postcode, read its inspection history
    in context, and explore each audit with its chart, table, method and CSV download.

    The warehouse is opened read-only; nothing is fetched from the network (htmx is served
    from the package). When a build replaces the warehouse file, the next request (within a
    second) opens the new one; requests under way finish on the old. Connections that do not
    send a request within 10 seconds, or idle for 5 seconds after one, are closed. Pages are
    served by one worker process per CPU (at most 4; --workers to choose); with several, give
    --audits, or each worker runs an audit on its own first visit.

    Example:  evenhand serve --warehouse warehouse/evenhand.duckdb --audits out/audit --open-data out/open-data --port 8000
    """
    from evenhand.web import create_app
    from evenhand.web.server import default_workers, run, run_workers
    from evenhand.web.store import check_warehouse

    if audits is not None and not audits.is_dir():
        _fail(EvenhandError(f"--audits {audits}: no such folder (write one with 'evenhand audit --out {audits}')"))
        return
    if open_data is not None and not (open_data / "datapackage.json").is_file():
        _fail(EvenhandError(f"--open-data {open_data}: no datapackage.json there (write one with 'evenhand export --out {open_data}')"))
        return
    n = workers or default_workers()
    try:
        # one worker: this process serves the app; several: each worker opens its own, so this
        # process only checks that the warehouse opens (the same messages, no search index)
        web = create_app(warehouse, audits, open_data) if n == 1 else None
        if web is None:
            check_warehouse(warehouse)
    except EvenhandError as e:
        _fail(e)
        return
    err.print(escape(f"Evenhand dashboard on http://{host}:{port}/  (warehouse {warehouse}; {n} worker{'s' if n > 1 else ''}; Ctrl+C to stop)"), highlight=False)
    if web is not None:
        run(web, host=host, port=port)
        return
    run_workers(warehouse, audits, open_data, host=host, port=port, workers=n)
