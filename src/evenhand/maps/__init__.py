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


def _open(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(_open(name).splitlines()))


def _date(s: str) -> date | None:
    return date.fromisoformat(s) if s else None


@cache
def normalise_header(h: str) -> str:
    """Headers are compared case-insensitively with runs of whitespace collapsed."""
    return re.sub(r"\s+", " ", h.replace("\ufeff", "")).strip().casefold()


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


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, flags=re.IGNORECASE)


@dataclass(frozen=True)
class HeaderPattern:
    """A raw header as published: exact (compared normalised) or a regular expression."""

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
    return {
            canonical: HeaderPattern(headers[column])
            for canonical, headers in column_map(map_name).items()
            if headers.get(column)
        }


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


def area_order(area: str) -> int:
    """Sort key: Ofsted's order of the areas; unknown areas last."""
    a = areas().get(area)
    return a.order if a else 10_000


def era_label(era: str | None) -> str:
    """The label a reader sees for an era code (maps/eras.csv)."""
    for e in eras():
        if e.era == era:
            return e.label
    return era or "unknown framework"


@dataclass(frozen=True)
class ColumnLabel:
    """How the evidence pack shows one column of an audit table (maps/column_labels.csv).

    ``kind``: share (0-1, as a percentage), points (a difference of shares, in percentage
    points), count, days, working_days, ratio, odds_ratio, years, era (an era code, shown by
    its label), area (an area code), grade_code (hidden beside its label), text, date, bool,
    id (identifiers), hide (not printed; in the CSV)."""

    column: str
    label: str
    kind: str
    abbrev: str


@cache
def column_labels() -> dict[str, ColumnLabel]:
    return {
        r["column"]: ColumnLabel(r["column"], r["label"], r["kind"], r.get("abbrev") or "")
        for r in _rows("column_labels.csv")
    }


@cache
def eras() -> tuple[Era, ...]:
    return tuple(
        Era(r["era"], r["label"], date.fromisoformat(r["valid_from"]), _date(r["valid_to"]), r["description"])
        for r in _rows("eras.csv")
    )


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
        )
    return out


def scale_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.scale for c in codes()))


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


@cache
def publication_targets() -> tuple[PublicationTarget, ...]:
    return tuple(
        PublicationTarget(r["era"], r["kind"], int(r["target_working_days"]), r["level"], r["basis"], r["source"])
        for r in _rows("publication_targets.csv")
    )


FURTHER_QUALITY_ASSURANCE = "further quality assurance"


def publication_target(era: str | None, kind: str | None, concern: bool) -> PublicationTarget | None:
    """The target that applies to one report (the one rule, used by out.event_flags):
    the row of the inspection's era for its kind (or 'all'); where the inspection judged the
    school inadequate or placed it in a category of concern, the era's 'further quality
    assurance' row if it has one, else its normal row. None where the map records no target."""
    if era is None:
        return None
    levels = (FURTHER_QUALITY_ASSURANCE, "normal") if concern else ("normal",)
    rows = publication_targets()
    for level in levels:
        for k in (kind or "", "all"):
            for t in rows:
                if (t.era, t.kind, t.level) == (era, k, level):
                    return t
    return None


@cache
def table_titles() -> dict[tuple[str, str], str]:
    """(audit, table) -> the title the evidence pack prints (maps/table_titles.csv)."""
    return {(r["audit"], r["table"]): r["title"] for r in _rows("table_titles.csv")}


@cache
def value_labels() -> dict[str, str]:
    """Codes that appear as values in audit tables and texts -> words (maps/value_labels.csv)."""
    return {r["value"]: r["label"] for r in _rows("value_labels.csv")}
