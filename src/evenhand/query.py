"""Read-only questions the warehouse answers: what it holds, and one school's history.

The JSON these functions return is a stable interface: keys are fixed, dates are ISO
strings, lists are sorted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from evenhand.build.warehouse import connect, frame
from evenhand.errors import UnknownSchoolError


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def info(warehouse: Path) -> dict[str, Any]:
    con = connect(warehouse, read_only=True)
    try:
        return _info(con)
    finally:
        con.close()


def _info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    def one(sql: str) -> Any:
        rows = con.execute(sql).fetchall()
        return rows[0][0] if rows else None

    files = frame(con, "SELECT status, layout, count(*) AS n, sum(rows_read) AS rows FROM meta.files GROUP BY ALL ORDER BY ALL")
    kinds = frame(con, "SELECT kind, coalesce(era, 'unknown') AS era, count(*) AS n FROM core.events GROUP BY ALL ORDER BY ALL")
    build = dict(con.execute("SELECT key, value FROM meta.build").fetchall())
    return {
        "build": build,
        "schools": {
            "distinct_urns": one("SELECT count(DISTINCT urn) FROM core.schools"),
            "rows": one("SELECT count(*) FROM core.schools"),
        },
        "events": {
            "total": one("SELECT count(*) FROM core.events"),
            "by_kind": {k: n for k, n in frame(con, "SELECT kind, count(*) n FROM core.events GROUP BY 1 ORDER BY 1").iter_rows()},
            "by_kind_and_era": [dict(r) for r in kinds.iter_rows(named=True)],
        },
        "judgements": one("SELECT count(*) FROM core.judgements"),
        "conflicts": {
            "events": one("SELECT count(DISTINCT event_id) FROM meta.conflicts"),
            "fields": one("SELECT count(*) FROM (SELECT DISTINCT event_id, field FROM meta.conflicts)"),
        },
        "warnings": one("SELECT count(*) FROM meta.warnings"),
        "files": {
            "total": one("SELECT count(*) FROM meta.files"),
            "by_layout": [_plain(dict(r)) for r in files.iter_rows(named=True)],
        },
    }


def history(warehouse: Path, urn: int) -> dict[str, Any]:
    con = connect(warehouse, read_only=True)
    try:
        return _history(con, urn)
    finally:
        con.close()


def _history(con: duckdb.DuckDBPyConnection, urn: int) -> dict[str, Any]:
    ids = frame(
        con,
        """
        SELECT DISTINCT e.event_id FROM core.events e WHERE e.urn = ?
        UNION
        SELECT DISTINCT s.event_id FROM core.event_sources s WHERE s.reported_urn = ?
        """,
        [urn, urn],
    )["event_id"].to_list()
    school = frame(
        con,
        "SELECT * EXCLUDE (file_id, row_number) FROM core.schools WHERE urn = ? ORDER BY as_at DESC NULLS LAST, file_id DESC LIMIT 1",
        [urn],
    )
    if not ids and school.height == 0:
        n = con.execute("SELECT count(DISTINCT urn) FROM core.events").fetchall()[0][0]
        raise UnknownSchoolError(f"URN {urn} is not in the warehouse ({n} schools have inspection events). Check the number on GIAS or Ofsted's site.")
    events = frame(con, "SELECT * FROM core.events WHERE event_id IN (SELECT unnest(?)) ORDER BY start_date, event_id", [ids])
    judg = frame(con, "SELECT * FROM core.judgements WHERE event_id IN (SELECT unnest(?)) ORDER BY event_id, area", [ids])
    conf = frame(
        con,
        """SELECT c.event_id, c.field, c.value, f.path AS file, c.row_number, c.kept
           FROM meta.conflicts c JOIN meta.files f USING (file_id)
           WHERE c.event_id IN (SELECT unnest(?)) ORDER BY ALL""",
        [ids],
    )
    src = frame(
        con,
        """SELECT s.event_id, f.path AS file, s.row_number, s.block, s.reported_urn, s.relates_to_current_urn, s.as_at
           FROM core.event_sources s JOIN meta.files f USING (file_id)
           WHERE s.event_id IN (SELECT unnest(?)) ORDER BY ALL""",
        [ids],
    )
    out_events = []
    for ev in events.iter_rows(named=True):
        eid = ev["event_id"]
        out_events.append(
            _plain(
                {
                    **ev,
                    "judgements": [
                        {k: v for k, v in j.items() if k != "event_id"}
                        for j in judg.filter(judg["event_id"] == eid).iter_rows(named=True)
                    ],
                    "sources": [{k: v for k, v in s.items() if k != "event_id"} for s in src.filter(src["event_id"] == eid).iter_rows(named=True)],
                    "conflicts": [{k: v for k, v in c.items() if k != "event_id"} for c in conf.filter(conf["event_id"] == eid).iter_rows(named=True)],
                }
            )
        )
    return {
        "urn": urn,
        "school": _plain(school.row(0, named=True)) if school.height else None,
        "events": out_events,
    }
