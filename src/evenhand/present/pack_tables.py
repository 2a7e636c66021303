"""Audit tables as a reader sees them in the printed evidence pack: people's words, sensible
rounding, each estimate beside its interval, and a shape that fits the page (the dashboard's
sortable tables are evenhand.present.tables; both read the one map, maps/columns.csv).

Presentation only labels, formats and arranges: every number comes from the audit's table as
it is (the CSV and Parquet beside the pack hold the same table with its field names).

- Column labels, formats and intervals come from ``maps/columns.csv``; an era code is shown by
  its label (``maps/eras.csv``), an area code by its label (``maps/areas.csv``), a grade code
  by its grade (``maps/codes.csv``); a grade code beside its label is not printed twice.
- An estimate with its interval columns (``share`` with ``low, high``; ``stability`` with
  ``stability_low, stability_high`` ...) becomes one column "46.0% (45.5 to 46.4)".
- A table takes the first shape that fits: as it is on a portrait page; turned on its side
  (one row per measure) on a portrait page; as it is on a landscape page (with the other
  landscape tables, after the provenance); turned, on a landscape page. A table too long to
  print says where the full table is.
- A table of grade shares by quintile (``area, quintile_kind, quintile, label, share ...``)
  becomes one small table per judgement and quintile measure, grades across, with the one
  the chart draws first.
- The audit's list of inspections with safeguarding not effective is printed as the list of
  the safeguarding-limited ones: school (linked to its Ofsted reports), URN, dates, judgements.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl

from evenhand import maps

#: At most this many rows of a table are printed; longer tables are in the CSV.
ROWS_SHOWN = 40
#: Tables longer than this are not printed at all (their first rows would say nothing).
ROWS_PRINTABLE = 200
#: Printed columns a portrait A4 page holds at the pack's table font size.
PORTRAIT_COLUMNS = 8
#: Printed columns a landscape A4 page holds at the landscape table font size.
LANDSCAPE_COLUMNS = 16

OFSTED_REPORTS = "https://reports.ofsted.gov.uk/provider/21/{urn}"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str
    low: str | None = None
    high: str | None = None


@cache
def _codes() -> dict[str, str]:
    """Every code a reader might meet in a table or a text -> its words, from the maps."""
    out = {a: a_.label for a, a_ in maps.areas().items()}
    out.update(maps.value_labels())
    out.update({e.era: e.label for e in maps.eras()})
    return out


@cache
def _code_pattern() -> re.Pattern[str]:
    codes = sorted(_codes(), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(c) for c in codes) + r")\b(?:\[(\w+)\])?")


_PY_LIST = re.compile(r"\[((?:'[^']*'(?:, )?)+)\]")


def _code_words(m: re.Match[str]) -> str:
    code, level = m.group(1), m.group(2)
    text = _codes()[code]
    if code in maps.areas() and m.start() > 0:
        text = text[0].lower() + text[1:]
    return f"{text} {level} (against 1)" if level else text


def words(text: Any) -> str:
    """``text`` with codes replaced by people's words from the maps: era codes by their label
    (``eif_2019`` -> 'Education inspection framework (2019-2024)'), area codes by the area's
    label, model terms (``idaci_quintile[5]`` -> 'IDACI quintile 5 (against 1)') and other
    codes by maps/value_labels.csv; a Python list literal becomes a plain list."""
    s = _PY_LIST.sub(lambda m: ", ".join(x.strip("'") for x in m.group(1).split(", ")), str(text))
    return _code_pattern().sub(_code_words, s)


#: maps/columns.csv formats -> how this module writes them.
_KIND = {"share": "share", "pp": "points", "count": "count", "number1": "days", "number": "days", "ratio": "ratio",
         "odds_log": "odds_log", "signed": "signed", "era": "era", "area": "area", "kind": "kind", "label": "label",
         "bool": "bool", "date": "date", "id": "id", "text": "text"}
#: Codes printed beside their label in the same table: the label is enough.
CODES_BESIDE_LABELS = ("grade", "from_code", "to_code", "observed")


@dataclass(frozen=True)
class Spec:
    label: str
    kind: str
    interval: tuple[str, str] | None


def column_label(key: str, table: str | None = None) -> Spec:
    """The column's label, format and interval (maps/columns.csv; ``table`` 'audit.table'
    takes that table's own rows first)."""
    c = maps.columns(table).get(key)
    if c is not None:
        return Spec(c.label, _KIND.get(c.format, "text"), c.interval)
    return Spec(key.replace("_", " ").capitalize(), "text", None)


def columns(df: pl.DataFrame, table: str | None = None) -> list[Column]:
    """The printed columns of ``df`` (the audit table ``table``, 'audit.table'): estimates
    merged with their intervals, codes beside their labels dropped."""
    names = df.columns
    has_label = "label" in names or any(n.endswith("_label") for n in names)
    specs = {n: column_label(n, table) for n in names}
    folded = {x for n in names if (iv := specs[n].interval) and all(i in names for i in iv) for x in iv}
    out: list[Column] = []
    for key in names:
        if key in folded or (has_label and key in CODES_BESIDE_LABELS):
            continue
        sp = specs[key]
        iv = sp.interval if sp.interval and all(i in names for i in sp.interval) else None
        out.append(Column(key, sp.label, sp.kind, iv[0] if iv else None, iv[1] if iv else None))
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _num(x: float, kind: str) -> str:
    if kind == "share":
        return _pct(x)
    if kind == "points":
        return f"{100 * x:+.1f}"
    if kind in ("days", "working_days"):
        return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
    if kind in ("odds_ratio", "ratio"):
        return f"{x:,.2f}"
    if kind == "odds_log":
        return f"{math.exp(x):,.2f}"
    if kind == "signed":
        return f"{x:+,.0f}"
    if kind == "count":
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.3g}"


def grade_label(code: Any, when: Any = None) -> str:
    """A four-point code as its grade on the date (grade 3 is 'Satisfactory' before September
    2012; without a date, the label in force now), from maps/codes.csv."""
    if code is None:
        return ""
    c = str(code)
    for k in maps.codes():
        if k.scale == "four_point" and k.code == c:
            if isinstance(when, dt.date) and ((k.valid_from and when < k.valid_from) or (k.valid_to and when > k.valid_to)):
                continue
            if not isinstance(when, dt.date) and k.valid_to is not None:
                continue
            return k.label
    return f"grade {c}"


def cell(value: Any, col: Column, row: dict[str, Any] | None = None) -> dict[str, Any]:
    """One printed cell: ``{"text", "num"}``."""
    row = row or {}
    if col.low is not None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return {"text": "n/a", "num": True}
        lo, hi = row.get(col.low), row.get(col.high or "")
        text = _num(float(value), col.kind)
        if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
            a, b = _num(float(lo), col.kind), _num(float(hi), col.kind)
            if col.kind == "share":
                a, b = a.rstrip("%"), b.rstrip("%")
                if float(value) in (0.0, 1.0):
                    b = b + "%"
            if not (a == b == text.rstrip("%")):
                text += f" ({a} to {b})"
        return {"text": text, "num": True}
    if value is None:
        return {"text": "", "num": False}
    if isinstance(value, bool):
        return {"text": "yes" if value else "no", "num": False}
    if col.kind == "era":
        return {"text": maps.era_label(str(value)), "num": False}
    if col.kind == "area":
        return {"text": maps.area_label(str(value)), "num": False}
    if col.kind == "kind":
        return {"text": maps.kind_label(str(value)), "num": False}
    if col.key in maps.areas() and isinstance(value, str) and value in ("1", "2", "3", "4"):
        return {"text": grade_label(value, row.get("start_date")), "num": False}
    if isinstance(value, dt.date):
        return {"text": f"{value.day} {value.strftime('%b %Y')}", "num": False}
    if isinstance(value, list | tuple):
        return {"text": ", ".join(words(x) for x in value), "num": False}
    if isinstance(value, int) and col.kind not in ("id", "share", "points"):
        return {"text": f"{value:,}", "num": True}
    if isinstance(value, int | float) and col.kind != "id":
        if isinstance(value, float) and math.isnan(value):
            return {"text": "n/a", "num": True}
        return {"text": _num(value, col.kind), "num": True}
    if isinstance(value, int):
        return {"text": str(value), "num": False}
    return {"text": words(value), "num": False}


def _heading(col: Column) -> str:
    return col.label + (" (95% CI)" if col.low is not None else "")


def table_title(audit: str, key: str) -> str:
    return maps.table_titles().get((audit, key)) or key.replace("_", " ").capitalize()


def _plain(audit: str, key: str, df: pl.DataFrame, title: str | None = None) -> dict[str, Any]:
    cols = columns(df, f"{audit}.{key}")
    printable = df.height <= ROWS_PRINTABLE
    shown = df.head(ROWS_SHOWN) if printable else df.head(0)
    rows = [dict(zip(df.columns, r, strict=True)) for r in shown.iter_rows()]
    view: dict[str, Any] = {
        "key": key,
        "title": title or table_title(audit, key),
        "total": df.height,
        "shown": shown.height,
        "csv": f"tables/{audit}__{key}.csv",
        "parquet": f"tables/{audit}__{key}.parquet",
        "layout": "portrait",
        "headings": [_heading(c) for c in cols],
        "rows": [[cell(r.get(c.key), c, r) for c in cols] for r in rows],
    }
    # the first shape that fits: as it is on a portrait page; turned on its side (one column
    # per row) on a portrait page; as it is on a landscape page; turned, on a landscape page
    n_cols, n_rows = len(cols), shown.height
    turn = n_cols > PORTRAIT_COLUMNS and n_rows > 0 and (
        n_rows + 1 <= PORTRAIT_COLUMNS or (n_cols > LANDSCAPE_COLUMNS and n_rows + 1 <= LANDSCAPE_COLUMNS))
    if turn:
        first = cols[0]
        heads = [cell(r.get(first.key), first, r)["text"] for r in rows]
        view["headings"] = [first.label, *heads]
        view["rows"] = [
            [{"text": _heading(c), "num": False}, *(cell(r.get(c.key), c, r) for r in rows)] for c in cols[1:]
        ]
        view["transposed"] = True
        view["layout"] = "transposed" if n_rows + 1 <= PORTRAIT_COLUMNS else "landscape"
    elif n_cols > PORTRAIT_COLUMNS and n_rows > 0:  # a table not printed stays a note in its section
        view["layout"] = "landscape"
    return view


def _grade_shares(audit: str, key: str, df: pl.DataFrame, chart_title: str) -> list[dict[str, Any]]:
    """One small table per (judgement, quintile measure): quintiles down, grades across."""
    areas = list(maps.areas())
    groups = df.select("area", "quintile_kind").unique(maintain_order=True).rows()
    title = chart_title.lower()

    def first(g: tuple[str, str]) -> tuple[int, int, int]:
        drawn = maps.area_label(g[0]).lower() in title and str(g[1]).lower() in title
        return (0 if drawn else 1, areas.index(g[0]) if g[0] in areas else 99, groups.index(g))

    views = []
    for area, kind in sorted(groups, key=first):
        sub = df.filter((pl.col("area") == area) & (pl.col("quintile_kind") == kind))
        grades = sub.select("grade", "label").unique().sort("grade").rows()
        quintiles = sorted(sub["quintile"].unique().to_list(), key=lambda q: str(q))
        share = Column("share", "Share", "share", "low", "high")
        rows = []
        for q in quintiles:
            qs = sub.filter(pl.col("quintile") == q)
            n = qs["n"][0] if qs.height else None
            cells = [{"text": str(q), "num": False}, {"text": f"{n:,}" if n is not None else "", "num": True}]
            for g, _ in grades:
                hit = qs.filter(pl.col("grade") == g)
                cells.append(cell(hit["share"][0], share, hit.row(0, named=True)) if hit.height else {"text": "", "num": True})
            rows.append(cells)
        views.append({
            "key": key,
            "title": f"{maps.area_label(area)} by {kind} quintile: share of each grade (95% CI)",
            "total": df.height,
            "shown": sub.height,
            "csv": f"tables/{audit}__{key}.csv",
            "parquet": f"tables/{audit}__{key}.parquet",
            "layout": "portrait",
            "headings": [f"{kind} quintile", "Schools (n)", *(str(lbl) for _, lbl in grades)],
            "rows": rows,
            "part": True,
        })
    return views


def _limited_list(audit: str, key: str, df: pl.DataFrame) -> dict[str, Any]:
    """The safeguarding-limited inspections, one row each, linked to the school's reports."""
    lim = df.filter(pl.col("safeguarding_limited")).sort("start_date", "urn")
    judgement_cols = [c for c in df.columns if c in maps.areas() and maps.areas()[c].scales[0] == "four_point"]
    rows = []
    for r in lim.iter_rows(named=True):
        js = "; ".join(f"{maps.area_label(c)}: {grade_label(r[c], r.get('start_date'))}" for c in judgement_cols if r.get(c))
        if r.get("safeguarding_effective"):
            js += "; safeguarding " + ("not effective" if r["safeguarding_effective"] == "No" else "effective")
        rows.append([
            {"text": str(r.get("school_name") or ""), "num": False, "href": ofsted_reports_url(r["urn"])},
            {"text": str(r["urn"]), "num": False},
            cell(r.get("start_date"), Column("start_date", "", "date")),
            cell(r.get("publication_date"), Column("publication_date", "", "date")),
            {"text": js, "num": False},
        ])
    return {
        "key": key,
        "title": table_title(audit, "limited"),
        "total": df.height,
        "shown": len(rows),
        "selected": f"{len(rows)} of the {df.height:,} inspections in the table (those safeguarding-limited)",
        "csv": f"tables/{audit}__{key}.csv",
        "parquet": f"tables/{audit}__{key}.parquet",
        "layout": "portrait",
        "headings": ["School (its Ofsted reports)", "URN", "Inspection started", "Report published", "Judgements"],
        "rows": rows,
    }


def ofsted_reports_url(urn: Any) -> str:
    """The school's page of inspection reports on Ofsted's site."""
    return OFSTED_REPORTS.format(urn=int(urn))


def table_views(audit: str, tables: dict[str, pl.DataFrame], chart_title: str = "") -> list[dict[str, Any]]:
    """Every table of one audit as printed (see the module docstring)."""
    views: list[dict[str, Any]] = []
    for key, df in tables.items():
        cols = set(df.columns)
        if {"area", "quintile_kind", "quintile", "grade", "label", "share", "low", "high", "n"} <= cols and df.height:
            views += _grade_shares(audit, key, df, chart_title)
        elif {"safeguarding_limited", "urn", "school_name", "start_date"} <= cols:
            views.append(_limited_list(audit, key, df))
        else:
            views.append(_plain(audit, key, df))
    return views


def parameter_text(value: Any) -> str:
    """A parameter as words: lists joined, mappings as 'key: value', None as 'none'."""
    if value is None:
        return "none"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value = dt.date.fromisoformat(value)
    if isinstance(value, dt.date):
        return f"{value.day} {value.strftime('%B %Y')}"
    if isinstance(value, dict):
        return "; ".join(f"{words(maps.area_label(str(k)) if str(k) in maps.areas() else k)}: "
                         f"{parameter_text(maps.area_label(str(v)) if str(v) in maps.areas() else v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return ", ".join(parameter_text(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return words(value)


def parameter_rows(params: dict[str, Any], hidden: Sequence[str] = ()) -> list[tuple[str, str]]:
    return [
        (str(k).replace("_", " "), parameter_text(v))
        for k, v in sorted(params.items()) if k not in hidden
    ]
