"""What the national audits count and what the school reports flag, on one warehouse: the
consistency tests of the one-definition issue (the national pack and a school's report never
disagree on a fact) compare the two, event by event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from evenhand.audit import consistency, safeguarding, timing
from evenhand.audit.result import AuditContext
from evenhand.core.warehouse import connect
from evenhand.derive.as_at import default_as_at
from evenhand.present.school import school_report_data

#: school-report flag key -> what the national audits list for it
FLAG_KEYS = ("safeguarding_limited", "safeguarding_not_met", "cliff_edge", "publication_delay")


@dataclass
class National:
    """Event ids each audit lists, and its headline count, as at one date."""

    as_at: dt.date
    events: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def national(con: duckdb.DuckDBPyConnection, as_at: dt.date | None = None) -> National:
    when = as_at or default_as_at(con)
    assert when is not None
    ctx = AuditContext(con=con, as_at=when, seed=1)
    sg = safeguarding.run(ctx)
    ev = sg.tables["events"]
    cons = consistency.run(ctx)
    tim = timing.run(ctx)
    out = National(when)
    out.events["safeguarding_limited"] = set(ev.filter(pl.col("safeguarding_limited"))["event_id"].to_list())
    out.events["safeguarding_not_met"] = set(ev.filter(pl.col("safeguarding_not_met"))["event_id"].to_list())
    out.events["cliff_edge"] = set(cons.tables["cliff_edges"]["to_event_id"].to_list())
    out.events["publication_delay"] = set(tim.tables["late"]["event_id"].to_list())
    out.counts["safeguarding_limited"] = int(sg.figure("limited_count").estimate.value)
    out.counts["safeguarding_not_met"] = int(sg.figure("not_met_count").estimate.value)
    out.counts["cliff_edge"] = int(cons.figure("cliff_edges").estimate.value)
    out.counts["publication_delay"] = int(tim.figure("late_publication_count").estimate.value)
    return out


@dataclass
class Reports:
    """For the school reports made: the events each shows (started by the date) and the
    events each flags, per flag key."""

    shown: dict[int, set[str]] = field(default_factory=dict)
    flagged: dict[int, dict[str, set[str]]] = field(default_factory=dict)

    def all_flagged(self, key: str) -> set[str]:
        return set().union(*(f[key] for f in self.flagged.values())) if self.flagged else set()


def reports(con: duckdb.DuckDBPyConnection, urns: Iterable[int], as_at: dt.date) -> Reports:
    out = Reports()
    for urn in urns:
        data = school_report_data(con, urn)
        started = {
            e["event_id"] for e in data["timeline"]
            if e.get("start_date") and dt.date.fromisoformat(str(e["start_date"])[:10]) <= as_at
        }
        out.shown[urn] = started
        out.flagged[urn] = {k: {f["event_id"] for f in data["flags"] if f["key"] == k} & started for k in FLAG_KEYS}
    return out


def disagreements(nat: National, rep: Reports) -> list[str]:
    """Every (school, flag, event) where a school's report and the national audits differ, as text."""
    problems = []
    for urn, shown in rep.shown.items():
        for key in FLAG_KEYS:
            listed = nat.events[key] & shown
            flagged = rep.flagged[urn][key]
            for e in sorted(listed - flagged):
                problems.append(f"URN {urn}: the national {key} list has event {e}, the school's report does not flag it")
            for e in sorted(flagged - listed):
                problems.append(f"URN {urn}: the school's report flags {key} on event {e}, the national list does not have it")
    return problems


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    return connect(path, read_only=True)
