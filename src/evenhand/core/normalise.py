"""Vectorised cleaning and typing of raw text columns, collecting every value that fails
as a Problem that names the file, row, column and value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from evenhand import maps
from evenhand.errors import Problem

# C1 control characters left behind when Windows-1252 text was decoded as Latin-1
# (e.g. '\x96' for an en dash in "Schools \x96 Section 8 conversion").
_C1 = {chr(b): bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(0x80, 0xA0)}
NULL_TOKENS = ("", "NULL", "null", "Null", "NaN", "nan", "None")


@dataclass
class Collector:
    """Problems (fatal unless the build is lenient) and warnings found in one file."""

    file: str
    file_id: int
    problems: list[Problem] = field(default_factory=list)
    problem_total: int = 0
    bad_rows: set[int] = field(default_factory=set)
    warnings: list[dict[str, object]] = field(default_factory=list)

    def fail_rows(self, bad: pl.DataFrame, column: str, message: str, value_col: str = "value") -> None:
        """Record one problem per failing row (frame with _row and a value column)."""
        if bad.height == 0:
            return
        self.problem_total += bad.height
        self.bad_rows.update(bad["_row"].to_list())
        for rec in bad.head(20).iter_rows(named=True):
            self.problems.append(Problem(self.file, rec["_row"], column, rec[value_col], message))

    def fail_file(self, message: str, column: str | None = None) -> None:
        self.problem_total += 1
        self.problems.append(Problem(self.file, None, column, None, message))

    def warn(self, message: str, column: str | None = None, value: str | None = None, row: int | None = None, count: int = 1) -> None:
        self.warnings.append(
            {"file_id": self.file_id, "row_number": row, "column_name": column, "value": value, "message": message, "count": count}
        )


C1_PATTERN = r"[\x{80}-\x{9f}]"


def clean_text(col: str, repair: bool = True) -> pl.Expr:
    """Trim, repair C1 characters (when ``repair``), and turn empty / literal NULL into a real null."""
    e = pl.col(col).str.strip_chars()
    if repair:
        e = e.str.replace_many(list(_C1.keys()), list(_C1.values()))
    return e.replace(list(NULL_TOKENS), None).alias(col)  # (as when(is_in).then(None), one pass less)


def integer_text(col: str) -> pl.Expr:
    """'2.0' -> '2' (spreadsheet tools and pandas write whole numbers as floats)."""
    return pl.col(col).str.replace(r"^(-?\d+)\.0+$", "${1}")


URN_MAX = 999_999  # URNs are at most six digits (GIAS has five-digit ones for old establishments)
_URN_NAME = re.compile(r"(^|_)urn($|_)")
_TWO_DIGIT_YEAR = r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2}\s*$"
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # tab, line feed and carriage return are text


def is_urn(col: str) -> bool:
    return bool(_URN_NAME.search(col.rsplit(".", 1)[-1]))


def to_int(df: pl.DataFrame, col: str, raw_header: str, out: Any, c: Collector) -> pl.Series:
    # integer_text only rewrites 'n.0' (which a plain cast refuses) to 'n': cast first, and
    # take the regex over the column only when some value failed the plain cast
    parsed = df[col].cast(out, strict=False)
    if (df[col].is_not_null() & parsed.is_null()).any():
        parsed = df.select(integer_text(col).cast(out, strict=False)).to_series()
    bad = df.select("_row", pl.col(col).alias("value")).filter(pl.col("value").is_not_null() & parsed.is_null())
    c.fail_rows(bad, raw_header, "not a whole number")
    if is_urn(col):
        wrong = df.select("_row", pl.col(col).alias("value")).filter(parsed.is_not_null() & ~parsed.is_between(1, URN_MAX))
        c.fail_rows(wrong, raw_header, f"not a URN (a whole number from 1 to {URN_MAX:,}, at most six digits)")
        parsed = pl.select(pl.when(parsed.is_between(1, URN_MAX)).then(parsed).otherwise(None)).to_series()
    return parsed.alias(col)


def to_date(df: pl.DataFrame, col: str, raw_header: str, formats: tuple[str, ...], c: Collector) -> pl.Series:
    """Text to dates in the layout's formats; a two-digit year, or a date outside the years
    the column can hold (maps/value_ranges.csv), is a problem naming row, column and value."""
    s = pl.col(col)
    two_digit = s.str.contains(_TWO_DIGIT_YEAR).fill_null(False)
    attempts = [s.str.to_date(f, strict=False) for f in formats]
    # dates stored natively in spreadsheets arrive as ISO text, possibly with a time
    attempts.append(s.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
    # the first format that reads a value wins (coalesce of the attempts in order); a format
    # is tried over the column only while some value is still unread (a null reads as null
    # in every format, so skipping a later one changes nothing)
    first = df.select(attempts[0].alias(col), s.is_not_null().alias("_v"), two_digit.alias("_two"))
    parsed, present, two = first[col], first["_v"], first["_two"]
    for attempt in attempts[1:]:
        if not (present & parsed.is_null() & ~two).any():
            break
        parsed = df.select(pl.coalesce(pl.lit(parsed), attempt).alias(col)).to_series()
    if two.any():
        parsed = pl.select(pl.when(pl.lit(two)).then(None).otherwise(pl.lit(parsed)).alias(col)).to_series()
    values = df.select("_row", s.alias("value")).with_columns(two)
    c.fail_rows(values.filter(pl.col("_two")), raw_header, "a two-digit year: write the year in full (e.g. 01/09/2011), as the official files do")
    bad = values.filter(pl.col("value").is_not_null() & ~pl.col("_two") & parsed.is_null())
    shown = " or ".join(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy") for f in formats)
    c.fail_rows(bad, raw_header, f"not a date (expected {shown})")
    rng = maps.date_range(col)
    latest = date(date.today().year + rng.years_ahead, 12, 31)
    inside = parsed.is_between(rng.earliest, latest)
    outside = values.filter(parsed.is_not_null() & ~inside)
    if outside.height:
        c.fail_rows(outside, raw_header, f"a date outside {rng.earliest.isoformat()} to {latest.isoformat()}: {rng.why}")
        parsed = pl.select(pl.when(inside).then(parsed).otherwise(None).alias(col)).to_series()
    return parsed


def control_characters(df: pl.DataFrame, columns: dict[str, str], headers: dict[str, str], c: Collector) -> None:
    """A control character (NUL, escape ...) in a mapped text value is a problem: it is damage
    from a conversion, never part of a name or code."""
    text = [(canon, name) for canon, name in columns.items() if name in df.columns and df.schema[name] == pl.String]
    if not text:
        return
    # one parallel pass over every mapped text column; the rows are looked at only where it hits
    hits = df.select(pl.col(name).str.contains(CONTROL_CHARS).fill_null(False).any().alias(str(k)) for k, (_, name) in enumerate(text)).row(0)
    for (canon, name), any_hit in zip(text, hits, strict=True):
        if not any_hit:
            continue
        hit = df.select("_row", pl.col(name).alias("value")).filter(pl.col("value").str.contains(CONTROL_CHARS).fill_null(False))
        if hit.height:
            hit = hit.with_columns(pl.col("value").map_elements(lambda v: v.encode("unicode_escape").decode("ascii"), return_dtype=pl.String))
            c.fail_rows(hit, headers.get(canon, name), "contains a control character (shown escaped, e.g. \\x00 for NUL): the file was damaged in a conversion")


def to_yes_no(df: pl.DataFrame, col: str, raw_header: str, c: Collector) -> pl.Series:
    low = pl.col(col).str.to_lowercase()
    parsed = df.select(
        pl.when(low.is_in(["yes", "y", "true"])).then(True).when(low.is_in(["no", "n", "false"])).then(False).otherwise(None).alias(col)
    ).to_series()
    bad = df.select("_row", pl.col(col).alias("value")).filter(pl.col("value").is_not_null() & parsed.is_null())
    c.fail_rows(bad, raw_header, "expected Yes or No")
    return parsed


def code_lookup() -> pl.DataFrame:
    """(area, value_key) -> candidate (scale, code, label, rank, graded, valid_from, valid_to, priority)."""
    scale_codes: dict[str, list[maps.Code]] = {}
    for code in maps.codes():
        scale_codes.setdefault(code.scale, []).append(code)
    rows = []
    for area in maps.areas().values():
        for priority, scale in enumerate(area.scales):
            for code in scale_codes[scale]:
                for alias in dict.fromkeys((code.code, code.label, *code.aliases)):
                    rows.append(
                        {
                            "area": area.area,
                            "value_key": alias.casefold(),
                            "scale": scale,
                            "code": code.code,
                            "label": code.label,
                            "rank": code.rank,
                            "graded": code.graded,
                            "valid_from": code.valid_from,
                            "valid_to": code.valid_to,
                            "priority": priority,
                        }
                    )
    return pl.DataFrame(
        rows,
        schema={
            "area": pl.String, "value_key": pl.String, "scale": pl.String, "code": pl.String,
            "label": pl.String, "rank": pl.Int16, "graded": pl.Boolean, "valid_from": pl.Date,
            "valid_to": pl.Date, "priority": pl.Int32,
        },
    ).unique(maintain_order=True)


def value_key(col: str) -> pl.Expr:
    """The form a raw code is matched on: integer text, whitespace collapsed, case-folded."""
    return integer_text(col).str.replace_all(r"\s+", " ").str.to_lowercase().alias("value_key")


PICKED = ("scale", "code", "label", "rank", "graded", "valid_from", "valid_to", "priority")


def resolve_codes(long: pl.DataFrame, pairs: pl.DataFrame, c: Collector, headers: dict[str, str]) -> pl.DataFrame:
    """Resolve (area, raw_value, judgement_date) to (scale, code, label) with validity dates.

    ``long`` has columns _jid (unique per row, increasing), _row, area, raw_value,
    judgement_date and _key: the row's (area, raw_value) as an index into ``pairs`` (its
    distinct pairs, columns area and raw_value, one row each). The result has long's columns
    but _key, then scale, code, label, rank and graded, in long's row order.
    A value no code table knows for that area is a problem naming the raw column.
    A label used outside its validity (e.g. 'Satisfactory' after 31 August 2012) is kept, with a warning.

    A row's code depends only on its pair, and on its date where the pair has several
    candidate codes (e.g. '3': 'Satisfactory' to August 2012, 'Requires improvement' after):
    the pairs (a few dozen) are matched to the code table once, and the rows of a pair with
    several candidates are chosen between once per distinct date. Among the candidates the
    valid one comes first, then the area's scale order, then the code table's order.
    """
    lk = code_lookup().with_row_index("_cand")
    keyed = pairs.select("area", "raw_value").with_row_index("_key")
    cand = keyed.with_columns(value_key("raw_value")).join(lk, on=["area", "value_key"], how="inner").sort("_key", "_cand")
    n_of = keyed.select("_key").join(cand.group_by("_key").agg(pl.len().alias("_n")), on="_key", how="left", maintain_order="left")
    n_of_key = n_of["_n"].fill_null(0)
    key = long["_key"]
    row_n = n_of_key.gather(key)
    unknown = long.filter(row_n == 0)
    for area, grp in unknown.group_by("area", maintain_order=True):
        allowed = sorted({r.label for s in maps.areas()[str(area[0])].scales for r in maps.codes() if r.scale == s})
        c.fail_rows(
            grp.select("_row", pl.col("raw_value").alias("value")),
            headers.get(str(area[0]), str(area[0])),
            f"unknown code for {area[0]} (known: {', '.join(allowed)})",
        )
    d = pl.col("judgement_date")
    valid = (
        d.is_null()
        | ((pl.col("valid_from").is_null() | (d >= pl.col("valid_from"))) & (pl.col("valid_to").is_null() | (d <= pl.col("valid_to"))))
    )
    # the decisions: one row per pair with one candidate, then one per (pair, date) of the others
    single = cand.filter(pl.col("_key").is_in(n_of.filter(pl.col("_n") == 1)["_key"].implode()))
    decisions = [single.select(PICKED)]
    decision_of_key = pl.Series("_d", [None] * keyed.height, dtype=pl.UInt32).scatter(single["_key"], pl.Series(range(single.height), dtype=pl.UInt32))
    idx = decision_of_key.gather(key)
    several = row_n > 1
    if several.any():
        dated = long.filter(several).select("_key", "judgement_date")
        chosen = (
            dated.unique()
            .join(cand.select("_key", "_cand", *PICKED), on="_key", how="inner")
            .with_columns(valid.alias("_valid"))
            .sort(["_key", "judgement_date", "_valid", "priority", "_cand"], descending=[False, False, True, False, False])
            .group_by(["_key", "judgement_date"], maintain_order=True).first()
            .with_row_index("_d", offset=single.height)
        )
        at = dated.join(chosen.select("_key", "judgement_date", "_d"), on=["_key", "judgement_date"], how="left",
                        nulls_equal=True, maintain_order="left")["_d"]
        idx = idx.scatter(several.arg_true(), at)
        decisions.append(chosen.select(PICKED))
    picked = pl.concat(decisions)[idx]
    best = pl.concat([long.drop("_key"), picked], how="horizontal").filter(row_n > 0).with_columns(valid.alias("valid"))
    outside = best.filter(~pl.col("valid"))
    if outside.height:
        for (area, label), grp in outside.group_by(["area", "label"], maintain_order=True):
            first = grp.row(0, named=True)
            c.warn(
                f"{grp.height} judgement(s) use the label {label!r} outside the dates it is valid for "
                f"(first at row {first['_row']}, dated {first['judgement_date']}); kept as published",
                column=headers.get(str(area), str(area)),
                value=str(first["raw_value"]),
                row=int(first["_row"]),
                count=grp.height,
            )
    return best.drop(["valid_from", "valid_to", "priority", "valid"])


def era_expr(date_col: str) -> pl.Expr:
    """Framework era of a date, from maps/eras.csv."""
    expr: Any = None
    for era in maps.eras():
        cond = pl.col(date_col) >= pl.lit(era.valid_from)
        if era.valid_to is not None:
            cond = cond & (pl.col(date_col) <= pl.lit(era.valid_to))
        expr = pl.when(cond).then(pl.lit(era.era)) if expr is None else expr.when(cond).then(pl.lit(era.era))
    assert expr is not None
    result: pl.Expr = expr.otherwise(None)
    return result


def latest_date(values: list[date | None]) -> date | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
