"""`evenhand export`: the warehouse as open data (Parquet + Frictionless data package)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evenhand.cli import WarehouseOpt, _fail, app, out
from evenhand.core.warehouse import DEFAULT_WAREHOUSE
from evenhand.errors import EvenhandError


@app.command()
def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write data/*.csv and *.parquet, datapackage.json, data-dictionary.md, evenhand.db and metadata.json into.")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    sqlite: Annotated[bool, typer.Option("--sqlite/--no-sqlite", help="Also write evenhand.db (SQLite) and Datasette's metadata.json.")] = True,
) -> None:
    """Export every core and derived table, and the build's provenance tables, as open data:
    CSV described by a Frictionless data package (datapackage.json: each table's fields, types,
    descriptions, allowed values, primary and foreign keys; `frictionless validate
    datapackage.json` checks it), the same tables as Parquet, the data dictionary as Markdown,
    and an SQLite copy to browse with Datasette (`datasette evenhand.db --metadata metadata.json`).

    Example:  evenhand export --out out/open-data
    """
    from evenhand.present.export import export as do_export

    try:
        written = do_export(warehouse, out_dir, sqlite=sqlite)
    except EvenhandError as e:
        _fail(e)
        return
    for w in written:
        out.print(f"  {w.table:<28} {w.rows:>10,} rows", highlight=False)
    extra = ", evenhand.db and metadata.json" if sqlite else ""
    out.print(f"wrote {len(written)} tables (CSV and Parquet), datapackage.json, data-dictionary.md{extra} to {out_dir}", highlight=False)
    if sqlite:
        out.print(f"browse: datasette {out_dir / 'evenhand.db'} --metadata {out_dir / 'metadata.json'}", highlight=False)
    out.print(f"open: {out_dir / 'datapackage.json'}", highlight=False)
