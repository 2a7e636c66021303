"""Column maps and code tables, read from the data files in this folder.

Format changes are data: a new release means editing a CSV or TOML file here, not code.
"""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

import polars as pl


def _open(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(_open(name).splitlines()))


def _date(s: str) -> date | None:
    return date.fromisoformat(s) if s else None


@dataclass(frozen=True)
class HeaderRules:
    """How headers are compared (maps/headers.toml): applied to map headers and file headers."""

    remove: tuple[str, ...]
    casefold: bool
    space_for: re.Pattern[str] | None
    drop_leading_x_before_digit: bool
    collapse_spaces: bool

    def apply(self, h: str) -> str:
        for ch in self.remove:
            h = h.replace(ch, "")
        if self.casefold:
            h = h.casefold()
        if self.space_for is not None:
            h = self.space_for.sub(" ", h)
        if self.collapse_spaces:
            h = re.sub(r"\s+", " ", h).strip()
        if self.drop_leading_x_before_digit and re.match(r"x\d", h):
            h = h[1:]
        return h


@cache
def header_rules() -> HeaderRules:
    spec = tomllib.loads(_open("headers.toml"))["normalise"]
    return HeaderRules(
        remove=tuple(spec.get("remove", ())),
        casefold=bool(spec.get("casefold", True)),
        space_for=re.compile(spec["space_for"]) if spec.get("space_for") else None,
        drop_leading_x_before_digit=bool(spec.get("drop_leading_x_before_digit", False)),
        collapse_spaces=bool(spec.get("collapse_spaces", True)),
    )


@cache
def normalise_header(h: str) -> str:
    """A header in the form headers are compared in (maps/headers.toml): by default lower case,
    every run of characters other than letters and digits one space, so 'Overall.effectiveness',
    'overall_effectiveness' and 'Overall effectiveness' are the same header."""
    return header_rules().apply(h)


class AmbiguousHeaders(ValueError):
    """Two headers that read the same once normalised."""


def check_unambiguous(columns: dict[str, HeaderPattern], where: str) -> None:
    """Two canonical columns of one layout whose published headers normalise to the same text
    could not be told apart in a file: an error naming both."""
    seen: dict[str, tuple[str, str]] = {}
    for canonical, pattern in columns.items():
        if pattern.is_regex:
            continue
        key = normalise_header(pattern.text)
        if key in seen:
            other, other_text = seen[key]
            raise AmbiguousHeaders(
                f"{where}: headers {other_text!r} ({other}) and {pattern.text!r} ({canonical}) both read as "
                f"{key!r} once normalised (maps/headers.toml): they cannot be told apart"
            )
        seen[key] = (canonical, pattern.text)


@dataclass(frozen=True)
class Code:
    scale: str
    code: str
    label: str
    aliases: tuple[str, ...]
    rank: int | None
    valid_from: date | None
    valid_to: date | None
    graded: bool
    description: str


@dataclass(frozen=True)
class Area:
    area: str
    scales: tuple[str, ...]
    framework_family: str
    description: str
    order: int = 0  # Ofsted's order of the areas in its files and reports
    label: str = ""  # the name people read
    report_card_order: int | None = None  # Ofsted's order of report-card areas (its report-card files; 1 = first)


@dataclass(frozen=True)
class Era:
    era: str
    label: str
    valid_from: date
    valid_to: date | None
    description: str
    framework: str = ""  # the inspection framework the era belongs to (EIF spans eif_2019 and eif_2024)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, flags=re.IGNORECASE)


@dataclass(frozen=True)
class HeaderPattern:
    """A raw header as published: exact (compared normalised) or, after ``re:``, a regular
    expression matched against the normalised file header (so written in normalised form)."""

    text: str

    @property
    def is_regex(self) -> bool:
        return self.text.startswith("re:")

    @property
    def shown(self) -> str:
        return self.text[3:] if self.is_regex else self.text

    def matches(self, header: str) -> bool:
        return self.matches_normalised(normalise_header(header))

    def matches_normalised(self, h: str) -> bool:
        """Match a header already passed through :func:`normalise_header`."""
        if self.is_regex:
            return _compiled(self.text[3:]).fullmatch(h) is not None
        return h == normalise_header(self.text)


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    map: str
    column: str
    builder: str
    date_formats: tuple[str, ...]
    signature: tuple[str, ...]
    publication_default: str
    publication_if_present: dict[str, str] = field(default_factory=dict)
    table: str | None = None
    # rows shorter than the header are published by design (DfE tables leave trailing empty
    # fields out); elsewhere a short row is an error
    short_rows_allowed: bool = False

    @property
    def columns(self) -> dict[str, HeaderPattern]:
        """canonical -> raw header pattern for this layout."""
        return _layout_columns(self.map, self.column)

    @property
    def required(self) -> tuple[str, ...]:
        req = required_columns(self.map)
        return tuple(c for c in self.columns if c in req)


@cache
def _layout_columns(map_name: str, column: str) -> dict[str, HeaderPattern]:
    columns = {
        canonical: HeaderPattern(headers[column])
        for canonical, headers in column_map(map_name).items()
        if headers.get(column)
    }
    check_unambiguous(columns, f"maps/{map_name}.csv, column {column!r}")
    return columns


@cache
def codes() -> tuple[Code, ...]:
    return tuple(
        Code(
            scale=r["scale"],
            code=r["code"],
            label=r["label"],
            aliases=tuple(a for a in r["aliases"].split("|") if a),
            rank=int(r["rank"]) if r["rank"] else None,
            valid_from=_date(r["valid_from"]),
            valid_to=_date(r["valid_to"]),
            graded=r["graded"] == "true",
            description=r["description"],
        )
        for r in _rows("codes.csv")
    )


@cache
def areas() -> dict[str, Area]:
    """area -> Area, in Ofsted's order (the ``order`` column of maps/areas.csv)."""
    rows = sorted(_rows("areas.csv"), key=lambda r: int(r["order"]))
    return {
        r["area"]: Area(r["area"], tuple(r["scales"].split("|")), r["framework_family"], r["description"],
                        int(r["order"]), r["label"],
                        int(r["report_card_order"]) if r.get("report_card_order") else None)
        for r in rows
    }


def area_label(area: str) -> str:
    """The name people read for a judgement area (maps/areas.csv); an unknown area is shown
    as words, never as a field name."""
    a = areas().get(area)
    return a.label if a else area.replace("_", " ").capitalize()


def field_label(field: str) -> str:
    """The words for a field named in meta.conflicts or meta.warnings: ``judgement:<area>`` is
    that area's judgement (maps/areas.csv), any other field its name as words."""
    if field.startswith("judgement:"):
        return f"{area_label(field.split(':', 1)[1]).lower()} judgement"
    upper = {"laestab", "urn", "la", "uid"}
    return " ".join(w.upper() if w in upper else w for w in field.split("_"))


def layout_title(layout: str | None) -> str:
    """The title people read for a layout code (maps/layouts.toml); no layout is said as such."""
    if not layout:
        return "(no layout recognised)"
    spec = layouts().get(layout)
    return spec.title if spec else layout.replace("_", " ")


def area_order(area: str) -> int:
    """Sort key: Ofsted's order of the areas; unknown areas last."""
    a = areas().get(area)
    return a.order if a else 10_000


@cache
def eras() -> tuple[Era, ...]:
    return tuple(
        Era(r["era"], r["label"], date.fromisoformat(r["valid_from"]), _date(r["valid_to"]), r["description"],
            r["framework"])
        for r in _rows("eras.csv")
    )


def framework_on(d: date) -> tuple[date, str] | None:
    """The inspection framework in force on ``d``: (the date it started, its name), from the
    ``framework`` column of maps/eras.csv (one framework may span several eras)."""
    era = era_of(d)
    if era is None:
        return None
    name = next(e.framework for e in eras() if e.era == era)
    return min(e.valid_from for e in eras() if e.framework == name), name


def read_rows(name: str) -> list[dict[str, str]]:
    """The rows of one CSV map (for a typed reader that lives where its map is used)."""
    return _rows(name)


@cache
def school_holidays() -> tuple[dict[str, str], ...]:
    """The typical school holidays of maps/school_holidays.csv (rule, month, day, offsets), as
    rows: evenhand.derive.calendar turns them into dates for a year."""
    return tuple(_rows("school_holidays.csv"))


def read_text(name: str) -> str:
    """The text of one file of maps/, for the readers that parse it where it is used (fetch's
    sources.toml, the demo's published header list): every map is read through this module."""
    return _open(name)


@cache
def blocks() -> dict[str, str]:
    """block -> event kind."""
    return {r["block"]: r["kind"] for r in _rows("blocks.csv")}


@cache
def column_map(name: str) -> dict[str, dict[str, str]]:
    """canonical -> {layout column -> raw header} for one source's map."""
    return {r["canonical"]: {k: v for k, v in r.items() if k not in ("canonical", "required")} for r in _rows(f"{name}.csv")}


@cache
def required_columns(name: str) -> frozenset[str]:
    return frozenset(r["canonical"] for r in _rows(f"{name}.csv") if r["required"] == "yes")


@cache
def layouts() -> dict[str, Layout]:
    data = tomllib.loads(_open("layouts.toml"))
    out: dict[str, Layout] = {}
    for name, spec in data.items():
        out[name] = Layout(
            name=name,
            title=spec["title"],
            map=spec["map"],
            column=spec["column"],
            builder=spec["builder"],
            date_formats=tuple(spec["date_formats"]),
            signature=tuple(spec["signature"]),
            publication_default=spec["publication_default"],
            publication_if_present=dict(spec.get("publication_if_present", {})),
            table=spec.get("table"),
            short_rows_allowed=bool(spec.get("short_rows_allowed", False)),
        )
    return out


def scale_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.scale for c in codes()))


@cache
def scale_labels() -> dict[str, str]:
    """scale -> the name people read (maps/scales.csv), e.g. four_point -> '4-point'."""
    return {r["scale"]: r["label"] for r in _rows("scales.csv")}


def scale_label(scale: str | None) -> str:
    return scale_labels().get(scale or "", (scale or "no scale").replace("_", " "))


@dataclass(frozen=True)
class Kind:
    kind: str
    label: str  # 'Graded inspection'
    short_label: str  # 'Graded'
    description: str


@cache
def kinds() -> dict[str, Kind]:
    """Kinds of inspection event (maps/kinds.csv)."""
    return {r["kind"]: Kind(r["kind"], r["label"], r["short_label"], r["description"]) for r in _rows("kinds.csv")}


def kind_label(kind: str | None, short: bool = False) -> str:
    k = kinds().get(kind or "")
    if k is None:
        return (kind or "unknown kind").replace("_", " ")
    return k.short_label if short else k.label


def code_label(scale: str, code: str, on: date | None = None) -> str | None:
    """The label of a code on a scale (maps/codes.csv) on date ``on``; without a date, the
    label in force now (the one with no end date, else the latest)."""
    hits = [c for c in codes() if c.scale == scale and c.code == code]
    if on is not None:
        hits = [c for c in hits if (c.valid_from is None or c.valid_from <= on) and (c.valid_to is None or on <= c.valid_to)]
    if not hits:
        return None
    current = [c for c in hits if c.valid_to is None]
    return (current or sorted(hits, key=lambda c: c.valid_to or date.max))[-1].label


def grade_labels(scale: str = "four_point", on: date | None = None) -> dict[str, str]:
    """code -> label of the graded codes of a scale, in rank order (maps/codes.csv): for the
    four-point scale today 1 Outstanding, 2 Good, 3 Requires improvement, 4 Inadequate."""
    graded = sorted({(c.rank or 0, c.code) for c in codes() if c.scale == scale and c.graded})
    out: dict[str, str] = {}
    for _, code in graded:
        label = code_label(scale, code, on)
        if label is not None:
            out[code] = label
    return out


def era_labels() -> dict[str, str]:
    """era -> the name people read (maps/eras.csv), e.g. eif_2019 -> 'Education inspection framework (2019-2024)'."""
    return {e.era: e.label for e in eras()}


def era_order() -> tuple[str, ...]:
    """Eras by start date."""
    return tuple(e.era for e in sorted(eras(), key=lambda e: e.valid_from))


def era_label(era: str | None) -> str:
    return era_labels().get(era or "", "unknown framework")


def era_of(d: date) -> str | None:
    """The framework era in force on a date (maps/eras.csv)."""
    for e in eras():
        if e.valid_from <= d and (e.valid_to is None or d <= e.valid_to):
            return e.era
    return None


@cache
def ofsted_regions() -> tuple[str, ...]:
    """Ofsted's eight regions of England (maps/ofsted_regions.csv): a school-level file that
    spans all of them (and nearly every local authority) is national."""
    return tuple(r["ofsted_region"] for r in _rows("ofsted_regions.csv"))


# --- rules and labels read by the derivations, audits and presentation -----------------------


@dataclass(frozen=True)
class PublicationTarget:
    """One row of maps/publication_targets.csv: a published target for reports of an era."""

    era: str
    kind: str  # an event kind, or 'all'
    target_working_days: int
    level: str  # 'normal' or 'further quality assurance'
    basis: str  # what the target runs from, e.g. 'end_to_publication'
    source: str
    verified: str = "no"  # 'yes' only when Ofsted's own published words state it (quoted in evidence, with the address)
    evidence: str = ""  # what was found, where, when checking it
    valid_from: date | None = None  # the target applies to inspections starting on or after this date (None: the era's start)
    valid_to: date | None = None  # ... and on or before this one (None: the era's end)

    def applies_on(self, on: date | None) -> bool:
        """Whether the target was in force for an inspection that started ``on`` (any date when
        unknown or when the row has no dates of its own)."""
        if on is None:
            return True
        return (self.valid_from is None or on >= self.valid_from) and (self.valid_to is None or on <= self.valid_to)


@cache
def publication_targets() -> tuple[PublicationTarget, ...]:
    return tuple(
        PublicationTarget(r["era"], r["kind"], int(r["target_working_days"]), r["level"], r["basis"], r["source"],
                          r.get("verified") or "no", r.get("evidence") or "",
                          _date(r.get("valid_from") or ""), _date(r.get("valid_to") or ""))
        for r in _rows("publication_targets.csv")
    )


@dataclass(frozen=True)
class PublishedDelayAverage:
    """One row of maps/published_delay_averages.csv: an average publication delay Ofsted itself
    published, for inspections of a period (the timing audit reproduces it)."""

    inspections_from: date
    inspections_to: date
    average_working_days: float
    statement: str
    source: str


@cache
def published_delay_averages() -> tuple[PublishedDelayAverage, ...]:
    out = []
    for r in _rows("published_delay_averages.csv"):
        a, b = _date(r["inspections_from"]), _date(r["inspections_to"])
        assert a is not None and b is not None, r
        out.append(PublishedDelayAverage(a, b, float(r["average_working_days"]), r["statement"], r["source"]))
    return tuple(out)


FURTHER_QUALITY_ASSURANCE = "further quality assurance"


def publication_target(era: str | None, kind: str | None, concern: bool, on: date | None = None) -> PublicationTarget | None:
    """The target that applies to one report (the one rule, used by out.event_flags):
    the row of the inspection's era for its kind (or 'all') in force on the inspection's start
    date ``on`` (a row's valid_from / valid_to; the 38 working days of the 2021 post-inspection
    arrangements replace the EIF's earlier figure); where the inspection judged the school
    inadequate or placed it in a category of concern, the era's 'further quality assurance' row
    if it has one in force, else its normal row. None where the map records no target."""
    if era is None:
        return None
    levels = (FURTHER_QUALITY_ASSURANCE, "normal") if concern else ("normal",)
    rows = publication_targets()
    for level in levels:
        for k in (kind or "", "all"):
            for t in rows:
                if (t.era, t.kind, t.level) == (era, k, level) and t.applies_on(on):
                    return t
    return None


@dataclass(frozen=True)
class DateRange:
    field: str  # regular expression on the canonical column name (fullmatch)
    earliest: date
    years_ahead: int  # latest allowed date: this many years after the build date
    why: str


@cache
def value_ranges() -> tuple[DateRange, ...]:
    """The dates each canonical column can hold (maps/value_ranges.csv; first match wins)."""
    out = []
    for r in _rows("value_ranges.csv"):
        earliest = _date(r["earliest"])
        assert earliest is not None, r
        out.append(DateRange(r["field"], earliest, int(r["years_ahead"]), r["why"]))
    return tuple(out)


def date_range(canonical: str) -> DateRange:
    for r in value_ranges():
        if re.fullmatch(r.field, canonical):
            return r
    raise KeyError(canonical)  # maps/value_ranges.csv ends with a catch-all row


# --- school type groups (maps/school_type_groups.csv) ---------------------------------------


@cache
def school_type_groups() -> dict[str, str]:
    """School type (case-folded) -> its group (Maintained, Academy, Free school), as Ofsted's
    chart C6 groups them: the one rule every audit and page uses."""
    return {r["school_type"].casefold(): r["group"] for r in _rows("school_type_groups.csv")}


def school_type_group(school_type: str | None) -> str | None:
    """The group of a school type; None for a missing or unlisted type (add it to the map)."""
    return school_type_groups().get(school_type.casefold()) if school_type else None


def school_type_group_expr(col: pl.Expr) -> pl.Expr:
    """:func:`school_type_group` as a Polars expression (null for missing or unlisted types)."""
    groups = school_type_groups()
    return col.str.to_lowercase().replace_strict(
        {k.lower(): v for k, v in groups.items()}, default=None, return_dtype=pl.String
    )


# --- academic year ---------------------------------------------------------------------------

#: English school years run from 1 September to 31 August.
ACADEMIC_YEAR_START_MONTH = 9


def academic_year_start(d: date) -> date:
    """1 September of the academic year that contains ``d``."""
    return date(d.year if d.month >= ACADEMIC_YEAR_START_MONTH else d.year - 1, ACADEMIC_YEAR_START_MONTH, 1)


def academic_year(d: date) -> str:
    """'2024/25' for any date from 1 September 2024 to 31 August 2025."""
    first = academic_year_start(d).year
    return f"{first}/{(first + 1) % 100:02d}"


def academic_year_expr(col: pl.Expr) -> pl.Expr:
    """:func:`academic_year` as a Polars expression on a date column."""
    first = col.dt.year() - (col.dt.month() < ACADEMIC_YEAR_START_MONTH).cast(pl.Int32)
    return pl.concat_str([first.cast(pl.String), pl.lit("/"), ((first + 1) % 100).cast(pl.String).str.zfill(2)])


# --- column labels of the audit tables (what the dashboard and the pack print) ------------


@dataclass(frozen=True)
class ColumnLabel:
    """One row of maps/columns.csv: how a table column is headed and its values written.

    ``format``: text, label (a code written in words), share (0-1, as a percentage), pp (a
    difference of shares, in percentage points), count, number1, ratio, odds_log (a log-odds
    effect shown as odds), signed, bool, date, id, era, area, kind, or code:<scale> (a code of
    that scale in words, maps/codes.csv, as labelled on the row's date). ``interval``: the
    columns holding the estimate's 95% interval (shown with it, not as columns of their own).
    """

    column: str
    label: str
    format: str
    interval: tuple[str, str] | None
    #: blank: the column in every table; ``audit.table`` (several joined by ``|``): only in
    #: that table, where the same name means something else (``timing.length``'s working days
    #: are the inspection's length; a risk-difference table's ``odds_ratio`` has its own interval)
    table: str = ""


@cache
def columns(table: str | None = None) -> dict[str, ColumnLabel]:
    """Column -> its label and format; with ``table`` ('audit.table'), that table's own rows
    (maps/columns.csv ``table``) over the rows for every table."""
    out: dict[str, ColumnLabel] = {}
    own: dict[str, ColumnLabel] = {}
    for r in _rows("columns.csv"):
        iv = tuple(r["interval"].split("|")) if r["interval"] else None
        where = (r.get("table") or "").strip()
        c = ColumnLabel(r["column"], r["label"], r["format"], iv if iv and len(iv) == 2 else None, where)  # type: ignore[arg-type]
        if not where:
            out[r["column"]] = c
        elif table is not None and table in where.split("|"):
            own[r["column"]] = c
    return out | own


@cache
def table_titles() -> dict[tuple[str, str], str]:
    """(audit, table) -> the title the evidence pack prints (maps/table_titles.csv)."""
    return {(r["audit"], r["table"]): r["title"] for r in _rows("table_titles.csv")}


@cache
def value_labels() -> dict[str, str]:
    """Codes that appear as values in audit tables and texts -> words (maps/value_labels.csv)."""
    return {r["value"]: r["label"] for r in _rows("value_labels.csv")}
