"""Audit tables as people read them: column headings and value formats from maps/columns.csv,
shares as percentages with their interval in the same cell, codes in words, sensible rounding.

    view = table_view(frame)                 # every column, labelled and formatted
    view = table_view(frame, sort="share", descending=True, contains="Good")
    matrix = matrix_view(frame, "to_era", "from_label", "to_label")   # transitions as a grid

Only labels and formats: the numbers are the audit's, and each cell keeps its raw value as
the sort key (so a sorted column is sorted by number, not by its text).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from evenhand import maps


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool
    interval: tuple[str, str] | None = None


@dataclass
class TableView:
    columns: list[Column]
    rows: list[list[str]]
    n_rows: int  # rows after filtering (before the display limit)
    n_total: int  # rows in the table
    sort: str | None = None
    descending: bool = False
    contains: str = ""
    sort_keys: list[list[Any]] = field(default_factory=list)


def humanise(name: str) -> str:
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _label_fn(name: str) -> Any:
    return getattr(maps, name, None)


def value_label(kind: str, value: Any) -> str:
    """A code in words: an era, an area, an inspection kind, or a code written with spaces."""
    if value is None:
        return ""
    s = str(value)
    if kind == "era":
        fn = _label_fn("era_label")
        if fn is not None:
            return str(fn(s))
        return next((e.label for e in maps.eras() if e.era == s), humanise(s))
    if kind == "area":
        fn = _label_fn("area_label")
        if fn is not None:
            return str(fn(s))
        area = maps.areas().get(s)
        return area.description.split(" (")[0] if area else humanise(s)
    if kind == "kind":
        fn = _label_fn("kind_label")
        return str(fn(s)) if fn is not None else humanise(s)
    return humanise(s)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def format_value(fmt: str, value: Any, on: Any = None) -> str:
    """One value in the column's format ('' for a missing value). ``code:<scale>``: a code
    of that scale in words (maps/codes.csv), as labelled on the date ``on`` when given (grade
    3 is 'Satisfactory' before September 2012)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if fmt.startswith("code:"):
        code = str(int(value)) if _is_number(value) and float(value) == int(value) else str(value)
        when = on if isinstance(on, dt.date) else None
        return maps.code_label(fmt.removeprefix("code:"), code, on=when) or code
    if fmt == "bool" or isinstance(value, bool):
        if isinstance(value, str) and fmt != "bool":
            return value
        if isinstance(value, str):
            return {"true": "Yes", "false": "No"}.get(value.lower(), value)
        return "Yes" if value else "No"
    if fmt in ("era", "area", "kind", "label"):
        return value_label(fmt, value)
    if not _is_number(value):
        return str(value)
    x = float(value)
    if fmt == "share":
        return f"{x * 100:.1f}%"
    if fmt == "pp":
        return f"{x * 100:+.1f} pp"
    if fmt == "count":
        return f"{round(x):,}"
    if fmt == "number1":
        return f"{x:,.1f}"
    if fmt == "ratio":
        return f"{x:.2f}"
    if fmt == "odds_log":
        return f"{math.exp(x):.2f}"
    if fmt == "signed":
        return f"{round(x):+d}"
    if fmt == "id":
        return str(int(x)) if x == int(x) else str(value)
    # a column the map does not know: whole numbers with separators, others to 3 figures
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.3g}"


def _spec(name: str, dtype: pl.DataType, table: str | None = None) -> maps.ColumnLabel:
    known = maps.columns(table).get(name)
    if known is not None:
        return known
    return maps.ColumnLabel(name, humanise(name), "number" if dtype.is_numeric() else "text", None)


def table_view(
    frame: pl.DataFrame, sort: str | None = None, descending: bool = False, contains: str = "", limit: int = 200,
    table: str | None = None,
) -> TableView:
    """The table as shown: interval columns folded into their estimate, labelled, formatted,
    optionally filtered (rows any of whose shown cells contain ``contains``, any case) and
    sorted by a column's raw values; at most ``limit`` rows. ``table`` ('audit.table'): that
    table's own rows of maps/columns.csv come first."""
    specs = {c: _spec(c, frame.schema[c], table) for c in frame.columns}

    def interval(c: str) -> tuple[str, str] | None:
        iv = specs[c].interval
        return iv if iv is not None and all(x in frame.columns for x in iv) else None

    folded = {x for c in frame.columns if (iv := interval(c)) is not None for x in iv}
    shown = [c for c in frame.columns if c not in folded]
    columns = [Column(c, specs[c].label, frame.schema[c].is_numeric(), interval(c)) for c in shown]
    records = frame.to_dicts()
    date_col = next((c for c in ("start_date", "inadequate_start_date", "judgement_date") if c in frame.columns), None)
    texts: list[list[str]] = []
    for r in records:
        row = []
        for col in columns:
            fmt = specs[col.key].format
            cell = format_value(fmt, r[col.key], r[date_col] if date_col else None)
            if col.interval and cell:
                lo, hi = (format_value(fmt, r[x]) for x in col.interval)
                if lo and hi:
                    cell = f"{cell} ({lo} to {hi})"
            row.append(cell)
        texts.append(row)
    order = list(range(len(records)))
    needle = contains.strip().casefold()
    if needle:
        order = [i for i in order if any(needle in t.casefold() for t in texts[i])]
    if sort is not None and sort in frame.columns and sort not in folded:
        by: str = sort

        def key(i: int) -> tuple[int, Any]:
            v = records[i][by]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return (1, 0)  # missing values last, whichever the direction
            return (0, v if _is_number(v) else str(v).casefold())
        present = [i for i in order if key(i)[0] == 0]
        missing = [i for i in order if key(i)[0] == 1]
        present.sort(key=key, reverse=descending)
        order = present + missing
    else:
        sort = None
    return TableView(columns, [texts[i] for i in order[:limit]], len(order), frame.height, sort, descending, contains)


@dataclass
class MatrixView:
    title: str
    row_labels: list[str]
    col_labels: list[str]
    cells: list[list[str]]  # "62.1% (n = 1,234)" or "" where no pair
    row_n: list[str]


def matrix_view(frame: pl.DataFrame, group: str, row: str, col: str) -> list[MatrixView]:
    """A long table of (group, row, col, count, n, share) as one grid per group: each cell
    the row share and count (rows are the earlier judgement, so each row adds up to 100%)."""
    needed = {group, row, col, "count", "n", "share"}
    if not needed <= set(frame.columns):
        return []
    out = []
    code_cols = [c for c in ("from_code", "to_code") if c in frame.columns]
    for g in frame[group].unique(maintain_order=True).to_list():
        sub = frame.filter(pl.col(group) == g)
        if code_cols:
            sub = sub.sort(code_cols)
        rows = [str(x) for x in sub[row].unique(maintain_order=True).to_list() if x is not None]
        cols = [str(x) for x in sub[col].unique(maintain_order=True).to_list() if x is not None]
        cells, row_n = [], []
        for rl in rows:
            line = []
            part = sub.filter(pl.col(row) == rl)
            n = part["n"].max()
            row_n.append(format_value("count", n))
            for cl in cols:
                hit = part.filter(pl.col(col) == cl)
                if hit.height:
                    r = hit.row(0, named=True)
                    line.append(f"{format_value('share', r['share'])} ({format_value('count', r['count'])})")
                else:
                    line.append("")
            cells.append(line)
        spec = maps.columns().get(group)
        title = value_label(spec.format if spec else "label", g)
        out.append(MatrixView(title, rows, cols, cells, row_n))
    return out
