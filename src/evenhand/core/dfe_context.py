"""DfE context files into ``core.context``: one row per school, academic year and measure.

Census, absence, key stage 2, 4 and 5 performance tables, the school spine, CFR finance, the
Explore Education Statistics (EES) school-level KS4 file and the per-school finance interchange
shape are all read the same way, driven by data in ``evenhand/maps``:

- the layout's column map says which published column holds which canonical column; the
  canonical names listed in ``maps/measures.csv`` are measures (unit in the name), the others
  identify the row (``urn``, ``record_type``, ``time_period`` ...);
- ``maps/suppression.csv`` turns special codes (``SUPP``, ``NE``, ``z``, ``c`` ...) into a missing
  value with its reason kept; any other value that is not a number, in a numeric measure, is a
  Problem naming the file, row, column and value;
- ``maps/dfe_bands.csv`` reads progress bands (``1`` .. ``5`` or their labels);
- ``maps/dfe_record_types.csv`` says which rows are schools and which are local-authority or
  national totals (skipped, and counted in a warning).

The academic year comes from the file's content (``time_period``, ``Academic Year``), else from
an explicit option (:func:`academic_year_options`), else from a file name that states an
academic year such as ``2018-19``; otherwise it stays null, with a warning. ``year_source`` says
which, on every row.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

import polars as pl

from evenhand import maps
from evenhand.core.inputs import RawInput
from evenhand.core.normalise import Collector, integer_text, to_int

YEAR_SOURCES = ("content", "content (single year)", "option", "file name", "unknown")
KINDS = ("number", "band", "text")
# a plain decimal number once thousands separators, '%' and '£' are taken out
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


def _rows(name: str) -> list[dict[str, str]]:
    return maps.read_rows(name)


@dataclass(frozen=True)
class Measure:
    measure: str
    unit: str
    kind: str
    description: str
    source: tuple[str, ...]


@cache
def measures() -> dict[str, Measure]:
    """measure -> its declaration (maps/measures.csv)."""
    out: dict[str, Measure] = {}
    for r in _rows("measures.csv"):
        if r["kind"] not in KINDS:
            raise ValueError(f"maps/measures.csv: measure {r['measure']!r} has unknown kind {r['kind']!r}")
        out[r["measure"]] = Measure(r["measure"], r["unit"], r["kind"], r["description"], tuple(r["source"].split("|")))
    return out


@cache
def suppression_codes() -> dict[str, str]:
    """special code as published (exact, case-sensitive) -> reason (maps/suppression.csv)."""
    return {r["code"]: r["reason"] for r in _rows("suppression.csv")}


def suppression_reasons() -> tuple[str, ...]:
    return tuple(dict.fromkeys(suppression_codes().values()))


@cache
def _bands() -> pl.DataFrame:
    rows = []
    for r in _rows("dfe_bands.csv"):
        for key in dict.fromkeys([r["code"], r["label"], *[a for a in r["aliases"].split("|") if a]]):
            rows.append({"_band_key": key.casefold(), "_band_value": float(r["code"]), "_band_label": r["label"]})
    return pl.DataFrame(rows, schema={"_band_key": pl.String, "_band_value": pl.Float64, "_band_label": pl.String})


@dataclass(frozen=True)
class RecordRule:
    """Which rows are schools: a value (exact, or ``re:`` a regular expression) in a column."""

    column: str
    value: str
    kind: str
    description: str

    def expr(self) -> pl.Expr:
        col = integer_text(self.column) if self.column == "record_type" else pl.col(self.column)
        if self.value.startswith("re:"):
            return col.str.contains(f"^(?:{self.value[3:]})$")
        return col == self.value


@cache
def record_rules() -> tuple[RecordRule, ...]:
    """maps/dfe_record_types.csv, in order: the first rule that matches a row gives its kind."""
    rules = tuple(RecordRule(r["column"], r["value"], r["kind"], r["description"]) for r in _rows("dfe_record_types.csv"))
    for r in rules:
        if r.kind not in ("school", "aggregate"):
            raise ValueError(f"maps/dfe_record_types.csv: unknown kind {r.kind!r}")
    return rules


# ---- academic years ---------------------------------------------------------------------

_year_options: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("evenhand_dfe_year_options", default=())


def academic_year_from_text(text: str) -> str | None:
    """'2018-19', '2018/19', '201819', '2018/2019', '2018-2019' -> '2018/19'; else None."""
    m = re.fullmatch(r"\s*(\d{4})\s*[-/_]?\s*(\d{2}|\d{4})\s*", text)
    if not m:
        return None
    y1, y2 = int(m.group(1)), m.group(2)
    if (len(y2) == 2 and int(y2) == (y1 + 1) % 100) or (len(y2) == 4 and int(y2) == y1 + 1):
        return f"{y1}/{(y1 + 1) % 100:02d}"
    return None


@contextlib.contextmanager
def academic_year_options(options: Mapping[str, str]) -> Iterator[None]:
    """Give the academic year of files that do not state one, for builds run inside the block.

    ``options`` maps a file's path relative to the raw folder, its name, or a glob pattern
    (``*labelled-2017*``) to an academic year (``'2016/17'`` or ``'2016-17'``). A year the file
    states in its content still wins (a warning says so where the two differ).
    """
    parsed = []
    for pattern, year in options.items():
        norm = academic_year_from_text(year)
        if norm is None:
            raise ValueError(f"not an academic year: {year!r} (expected e.g. 2016/17)")
        parsed.append((pattern, norm))
    token = _year_options.set(tuple(parsed))
    try:
        yield
    finally:
        _year_options.reset(token)


def _option_year(name: str) -> str | None:
    base = PurePosixPath(name).name
    for pattern, year in _year_options.get():
        if name == pattern or base == pattern or fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(base, pattern):
            return year
    return None


def academic_year_from_file_name(name: str) -> str | None:
    """The academic year a file NAME states ('..._2018-19_...' -> '2018/19'); never a bare
    year such as 'labelled-2017' or '2014', which does not say which academic year it means."""
    base = PurePosixPath(name).name
    for m in re.finditer(r"(?<!\d)(\d{4}[-_]\d{2}(?:\d{2})?)(?![\d])", base):
        found = academic_year_from_text(m.group(1))
        if found:
            return found
    return None


def _content_years(df: pl.DataFrame, header: str, c: Collector) -> pl.DataFrame:
    """Per-row academic year from a time_period / Academic Year column: (_year, _year_source)."""
    t = integer_text("time_period").str.strip_chars()
    pair = t.str.extract_groups(r"^(\d{4})\s*[-/_]?\s*(\d{2}|\d{4})$")
    y1 = pair.struct.field("1").cast(pl.Int32)
    y2s = pair.struct.field("2")
    y2 = y2s.cast(pl.Int32)
    pair_ok = ((y2s.str.len_chars() == 2) & (y2 == (y1 + 1) % 100)) | ((y2s.str.len_chars() == 4) & (y2 == y1 + 1))
    single = t.str.extract(r"^(\d{4})$").cast(pl.Int32)
    two_digit = ((y1 + 1) % 100).cast(pl.String).str.zfill(2)
    year = (
        pl.when(pair_ok).then(pl.format("{}/{}", y1, two_digit))
        .when(single.is_not_null()).then(pl.format("{}/{}", single - 1, (single % 100).cast(pl.String).str.zfill(2)))
        .otherwise(None)
    )
    source = pl.when(pair_ok).then(pl.lit("content")).when(single.is_not_null()).then(pl.lit("content (single year)")).otherwise(None)
    out = df.select("_row", "time_period", year.alias("_year"), source.alias("_year_source"))
    bad = out.filter(pl.col("time_period").is_not_null() & pl.col("_year").is_null()).select("_row", pl.col("time_period").alias("value"))
    c.fail_rows(bad, header, "not an academic year (expected e.g. 2018/19, 2018-19, 201819, or a single year such as 2019)")
    singles = out.filter(pl.col("_year_source") == "content (single year)")
    if singles.height:
        first = singles.row(0, named=True)
        c.warn(
            f"{singles.height} row(s) give the academic year as a single year (e.g. {first['time_period']!r}): each is read "
            f"as the academic year ending in it ({first['_year']}); year_source says 'content (single year)'",
            column=header, value=str(first["time_period"]), row=int(first["_row"]), count=singles.height,
        )
    return out.select("_row", "_year", "_year_source")


def _years(inp: RawInput, df: pl.DataFrame, c: Collector) -> pl.DataFrame:
    """df with _year and _year_source on every row."""
    option = _option_year(inp.name)
    from_name = academic_year_from_file_name(inp.name)
    file_year, file_source = (option, "option") if option else (from_name, "file name") if from_name else (None, "unknown")
    if "time_period" in df.columns:
        years = _content_years(df, inp.headers["time_period"], c)
        df = df.join(years, on="_row", how="left")
        if option:
            differ = df.filter(pl.col("_year").is_not_null() & (pl.col("_year") != option))
            if differ.height:
                c.warn(
                    f"the academic year given as an option ({option}) differs from the year the file states "
                    f"in {differ.height} row(s) (e.g. {differ['_year'][0]}): the file's own year is kept",
                    column=inp.headers["time_period"], count=differ.height,
                )
    else:
        df = df.with_columns(pl.lit(None, pl.String).alias("_year"), pl.lit(None, pl.String).alias("_year_source"))
    missing = df.filter(pl.col("_year").is_null()).height
    df = df.with_columns(
        pl.coalesce(pl.col("_year"), pl.lit(file_year, pl.String)).alias("_year"),
        pl.coalesce(pl.col("_year_source"), pl.lit(file_source)).alias("_year_source"),
    )
    if missing and file_source == "file name":
        c.warn(f"academic year {file_year} taken from the file name (the file's content does not state it); year_source = 'file name'",
               count=missing)
    elif missing and file_source == "unknown":
        c.warn(
            "the academic year is unknown: the file's content does not state it, no option gives it, and the file name "
            "states no academic year (a label such as 'labelled-2017' is not one). Rows are loaded with a null "
            "academic_year; give the year explicitly to use them by year",
            count=missing,
        )
    return df


# ---- the builder ----------------------------------------------------------------------------


def _school_rows(inp: RawInput, df: pl.DataFrame, c: Collector) -> pl.DataFrame:
    """Keep the rows about one school; skip local-authority and national totals (counted).

    A row's kind comes from the first rule of maps/dfe_record_types.csv that matches it; a row
    no rule matches is a school if it has a URN, a total if it has none. An unknown record type
    (RECTYPE, geographic_level) is a Problem, and so is a school row without a URN.
    """
    rules = [r for r in record_rules() if r.column in df.columns]
    kind: pl.Expr = pl.lit(None, pl.String)
    for r in reversed(rules):
        kind = pl.when(r.expr()).then(pl.lit(r.kind)).otherwise(kind)
    df = df.with_columns(kind.alias("_kind"))
    if "record_type" in df.columns:
        known = sorted({r.value for r in rules if r.column == "record_type"})
        unknown = df.filter(pl.col("record_type").is_not_null() & pl.col("_kind").is_null())
        c.fail_rows(unknown.select("_row", pl.col("record_type").alias("value")), inp.headers["record_type"],
                    f"unknown record type (known: {', '.join(known)}; maps/dfe_record_types.csv)")
    df = df.with_columns(
        pl.coalesce(pl.col("_kind"), pl.when(pl.col("urn").is_null()).then(pl.lit("aggregate")).otherwise(pl.lit("school"))).alias("_kind")
    )
    school_without_urn = df.filter((pl.col("_kind") == "school") & pl.col("urn").is_null())
    c.fail_rows(school_without_urn.select("_row", pl.lit(None, pl.String).alias("value")), inp.headers["urn"],
                "the URN is missing on a school row")
    skipped = df.filter(pl.col("_kind") == "aggregate").height
    if skipped:
        c.warn(f"{skipped} row(s) of local-authority or national totals skipped (not schools)", count=skipped)
    return df.filter(pl.col("_kind") == "school").drop("_kind")


def build(inp: RawInput, c: Collector) -> pl.DataFrame:
    """One recognised DfE context file -> rows of core.context."""
    declared = measures()
    measure_cols = [m for m in inp.columns if m in declared]
    df = inp.canonical()
    if "urn" not in df.columns:  # the pipeline has already reported the missing required column
        return _empty()
    df = _school_rows(inp, df, c)
    df = df.with_columns(to_int(df, "urn", inp.headers["urn"], pl.Int64, c)).filter(pl.col("urn").is_not_null())
    df = _years(inp, df, c)
    if not measure_cols:
        c.warn("no measure columns found (maps/measures.csv): nothing loaded from this file")
        return _empty()

    long = (
        df.select("_row", "urn", "_year", "_year_source", *measure_cols)
        .unpivot(index=["_row", "urn", "_year", "_year_source"], on=measure_cols, variable_name="measure", value_name="raw_value")
        .filter(pl.col("raw_value").is_not_null())
    )
    kinds = pl.DataFrame({"measure": measure_cols, "_kind": [declared[m].kind for m in measure_cols],
                          "_order": list(range(len(measure_cols)))},
                         schema={"measure": pl.String, "_kind": pl.String, "_order": pl.Int32})
    codes = suppression_codes()
    supp = pl.DataFrame({"raw_value": list(codes), "suppression": list(codes.values())}, schema={"raw_value": pl.String, "suppression": pl.String})
    cleaned = pl.col("raw_value").str.replace_all(r"[,%£\s]", "")
    long = (
        long.join(kinds, on="measure", how="left")
        .join(supp, on="raw_value", how="left")
        .with_columns(
            pl.when(cleaned.str.contains(_NUMBER)).then(cleaned.cast(pl.Float64, strict=False)).otherwise(None).alias("_number"),
            integer_text("raw_value").str.to_lowercase().alias("_band_key"),
        )
        .join(_bands(), on="_band_key", how="left")
    )
    plain = pl.col("suppression").is_null()
    kind = pl.col("_kind")
    long = long.with_columns(
        pl.when(~plain).then(None)
        .when(kind == "number").then(pl.col("_number"))
        .when(kind == "band").then(pl.col("_band_value"))
        .otherwise(None).alias("value"),
        pl.when(~plain).then(None)
        .when(kind == "band").then(pl.col("_band_label"))
        .when(kind == "text").then(pl.col("raw_value"))
        .otherwise(None).alias("value_text"),
        (plain & (((kind == "number") & pl.col("_number").is_null()) | ((kind == "band") & pl.col("_band_value").is_null()))).alias("_bad"),
    )
    bad = long.filter(pl.col("_bad"))
    if bad.height:
        known = ", ".join(codes)
        for (measure, k), grp in bad.group_by(["measure", "_kind"], maintain_order=True):
            what = "a number" if k == "number" else "a progress band (1-5 or its label; maps/dfe_bands.csv)"
            c.fail_rows(grp.select("_row", pl.col("raw_value").alias("value")), inp.headers[str(measure)],
                        f"not {what} and not a known special code ({known}; maps/suppression.csv)")
        long = long.filter(~pl.col("_bad"))
    return long.sort(["_row", "_order"]).select(
        pl.lit(inp.file_id, pl.Int64).alias("file_id"),
        pl.col("_row").alias("row_number"),
        pl.lit(inp.layout.name).alias("layout"),
        "urn",
        pl.col("_year").alias("academic_year"),
        pl.col("_year_source").alias("year_source"),
        "measure",
        "value",
        "value_text",
        "suppression",
        "raw_value",
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "file_id": pl.Int64, "row_number": pl.Int64, "layout": pl.String, "urn": pl.Int64, "academic_year": pl.String,
        "year_source": pl.String, "measure": pl.String, "value": pl.Float64, "value_text": pl.String,
        "suppression": pl.String, "raw_value": pl.String,
    })
