"""The SYNTHETIC mark: every output of a warehouse built from simulated schools says so.

A quoted page, a downloaded table or a JSON file must never pass for real evidence. The
HTML and PDF documents get it from the templates (``base.html``: a banner at the top and,
in print, a header on every page, when the context has ``synthetic`` true). Files written
beside them get it here, after they are written (:func:`stamp_outputs`):

- CSV: a first column ``synthetic_data`` holding :data:`STAMP` on every row;
- Parquet: the same column where the file is one of the audits' tables, and in every Parquet
  file the key-value metadata ``evenhand.synthetic`` = :data:`STAMP` (the open-data tables
  keep their declared columns, so their Table Schema stays true);
- JSON: a top-level field ``synthetic_data`` = :data:`STAMP` (objects);
- Markdown: a first line with the stamp.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import duckdb
import polars as pl

from evenhand.audit.result import STAMP

__all__ = ["COLUMN", "PARQUET_KEY", "STAMP", "is_stamped", "is_synthetic", "stamp_outputs"]
COLUMN = "synthetic_data"
PARQUET_KEY = "evenhand.synthetic"


def is_synthetic(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the warehouse says it was built from simulated schools (meta.build)."""
    try:
        rows = con.execute("SELECT count(*) FROM meta.build WHERE key = 'synthetic' AND value = 'true'").fetchall()
    except duckdb.Error:
        return False
    return bool(rows[0][0])


def stamp_csv(path: Path) -> None:
    try:
        df = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:  # a table with no columns: the stamp is its only column
        df = pl.DataFrame()
    if COLUMN in df.columns:
        return
    df.insert_column(0, pl.Series(COLUMN, [STAMP] * df.height, dtype=pl.String)).write_csv(path)


def stamp_parquet(path: Path, add_column: bool) -> None:
    df = pl.read_parquet(path)
    if add_column and COLUMN not in df.columns:
        df = df.insert_column(0, pl.Series(COLUMN, [STAMP] * df.height, dtype=pl.String))
    df.write_parquet(path, metadata={PARQUET_KEY: STAMP})


def stamp_json(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and data.get(COLUMN) != STAMP:
        data = {COLUMN: STAMP, **data}
        path.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def stamp_markdown(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if STAMP not in text.split("\n", 1)[0]:
        path.write_text(f"> **{STAMP}.**\n\n{text}", encoding="utf-8")


def stamp_outputs(paths: Iterable[Path], table_columns: bool = True) -> list[Path]:
    """Stamp every CSV, Parquet, JSON and Markdown file among ``paths`` (folders are walked).

    ``table_columns``: add the ``synthetic_data`` column to Parquet files too (audit tables);
    False for the open-data export, whose Parquet files keep their declared columns and get
    the key-value metadata only. Returns the files stamped."""
    done: list[Path] = []
    for p in paths:
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for f in files:
            suffix = f.suffix.lower()
            if suffix == ".csv":
                stamp_csv(f)
            elif suffix == ".parquet":
                stamp_parquet(f, table_columns)
            elif suffix == ".json":
                stamp_json(f)
            elif suffix == ".md":
                stamp_markdown(f)
            else:
                continue
            done.append(f)
    return done


def is_stamped(path: Path) -> bool:
    """Whether one output file carries the stamp (what the tests check for every file)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header = pl.read_csv(path, infer_schema=False, n_rows=1)
        return header.columns[:1] == [COLUMN] and (header.height == 0 or header[COLUMN][0] == STAMP)
    if suffix == ".parquet":
        return pl.read_parquet_metadata(path).get(PARQUET_KEY) == STAMP
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return isinstance(data, dict) and data.get(COLUMN) == STAMP
    if suffix in (".md", ".html"):
        return STAMP in path.read_text(encoding="utf-8")
    return False
