"""Tiny hand-made core tables in a DuckDB file, for the derive tests.

Rows are invented; they go in through the same declarations (create / insert, validated) as
a real build, and then the derivations run on them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from evenhand import maps
from evenhand.core.warehouse import connect, create, insert
from evenhand.metadata import tables as T

D = dt.date

# (scale, code, label, rank, graded) of the overall judgements the tests use
OUTSTANDING = ("four_point", "1", "Outstanding", 1, True)
GOOD = ("four_point", "2", "Good", 2, True)
SATISFACTORY = ("four_point", "3", "Satisfactory", 3, True)
RI = ("four_point", "3", "Requires improvement", 3, True)
INADEQUATE = ("four_point", "4", "Inadequate", 4, True)
NOT_JUDGED = ("not_applicable", "NJ", "Not judged", None, False)
REMAINS_GOOD = ("ungraded_outcome", "remains_good", "School remains Good", 4, True)


def era_of(d: dt.date) -> str | None:
    for e in maps.eras():
        if e.valid_from <= d and (e.valid_to is None or d <= e.valid_to):
            return e.era
    return None


@dataclass
class Tiny:
    path: Path
    schools: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    judgements: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    def school(self, urn: int, as_at: dt.date, file_id: int = 1, la: str = "Town", name: str | None = None,
               ofsted_region: str | None = None) -> Tiny:
        self.schools.append({
            "file_id": file_id, "row_number": len(self.schools) + 2, "as_at": as_at,
            "publication": "official_statistics", "urn": urn,
            "school_name": name or f"School {urn}", "local_authority": la, "phase": "Primary",
            "ofsted_region": ofsted_region,
        })
        return self

    def event(
        self, event_id: str, urn: int, start: dt.date, judgement: tuple[Any, ...] | None = GOOD,
        kind: str | None = None, published: dt.date | None = None, end: dt.date | None = None,
        converted: bool | None = None,
    ) -> Tiny:
        if kind is None:
            kind = "ungraded" if judgement is not None and judgement[0] == "ungraded_outcome" else "graded"
        self.events.append({
            "event_id": event_id, "urn": urn, "kind": kind, "era": era_of(start), "start_date": start,
            "end_date": end, "publication_date": published, "converted_to_graded": converted,
            "n_sources": 1, "n_conflicts": 0, "source_files": ["tiny.csv"], "school_name": f"School {urn}",
        })
        if judgement is not None:
            scale, code, label, rank, graded = judgement
            area = "ungraded_outcome" if scale == "ungraded_outcome" else "overall_effectiveness"
            self.judgements.append({
                "event_id": event_id, "area": area, "scale": scale, "code": code, "label": label,
                "graded": graded, "rank": rank, "judgement_date": start, "raw_value": label,
            })
        return self

    def judge(self, event_id: str, area: str, code: str, scale: str = "four_point") -> Tiny:
        """A further judgement of ``event_id`` (label and rank from maps/codes.csv)."""
        ev = next(e for e in self.events if e["event_id"] == event_id)
        c = next(
            c for c in maps.codes()
            if c.scale == scale and c.code == code
            and (c.valid_from is None or c.valid_from <= ev["start_date"])
            and (c.valid_to is None or ev["start_date"] <= c.valid_to)
        )
        self.judgements.append({
            "event_id": event_id, "area": area, "scale": scale, "code": code, "label": c.label,
            "graded": c.graded, "rank": c.rank, "judgement_date": ev["start_date"], "raw_value": c.label,
        })
        return self

    def reported(self, event_id: str, reported_urn: int, file_id: int = 1, block: str = "graded", as_at: dt.date | None = None) -> Tiny:
        """A school-level file row about ``reported_urn`` that reports ``event_id``."""
        urn = next(e["urn"] for e in self.events if e["event_id"] == event_id)
        self.sources.append({
            "event_id": event_id, "file_id": file_id, "row_number": len(self.sources) + 2, "block": block,
            "reported_urn": reported_urn, "relates_to_current_urn": urn == reported_urn, "as_at": as_at,
        })
        return self

    def link(self, urn: int, link_urn: int, link_type: str, both: str | None = None, when: dt.date | None = None) -> Tiny:
        """A GIAS link row; ``both`` adds the row GIAS publishes from the other side."""
        self.links.append({"file_id": 9, "urn": urn, "link_urn": link_urn, "link_name": f"School {link_urn}",
                           "link_type": link_type, "link_established_date": when, "n_files": 1})
        if both:
            self.link(link_urn, urn, both, when=when)
        return self

    def write(self) -> duckdb.DuckDBPyConnection:
        con = connect(self.path)
        for t in T.TABLES:
            if t.schema != "out":
                create(con, t)
        for table, rows in (
            (T.SCHOOLS, self.schools), (T.EVENTS, self.events), (T.JUDGEMENTS, self.judgements),
            (T.EVENT_SOURCES, self.sources), (T.GIAS_LINKS, self.links),
        ):
            if rows:
                insert(con, table, pl.DataFrame(rows, infer_schema_length=None))
        return con


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    df = con.sql(sql, params=params).pl() if params else con.sql(sql).pl()
    return list(df.iter_rows(named=True))
