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
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write data/*.parquet, datapackage.json and data-dictionary.md into.")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
) -> None:
    """Export every core and derived table as Parquet, with a Frictionless data package
    (datapackage.json: each table's fields, types, descriptions and allowed values) and the
    data dictionary as Markdown.

    Example:  evenhand export --out out/open-data
    """
    from evenhand.present.export import export as do_export

    try:
        written = do_export(warehouse, out_dir)
    except EvenhandError as e:
        _fail(e)
        return
    for w in written:
        out.print(f"  {w.table:<28} {w.rows:>10,} rows", highlight=False)
    out.print(f"wrote {len(written)} tables, datapackage.json and data-dictionary.md to {out_dir}", highlight=False)
    out.print(f"open: {out_dir / 'datapackage.json'}", highlight=False)
