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
    return {
        r["area"]: Area(r["area"], tuple(r["scales"].split("|")), r["framework_family"], r["description"])
        for r in _rows("areas.csv")
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
