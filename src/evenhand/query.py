"""Read-only questions the warehouse answers: what it holds, and one school's history.

The JSON these functions return is a stable interface: keys are fixed, dates are ISO
strings, lists are sorted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from evenhand.core.warehouse import frame, has_table
from evenhand.errors import UnknownSchoolError


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def info(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """What the warehouse holds (``evenhand info --json``)."""
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
            "by_field": {k: n for k, n in frame(
                con, "SELECT field, count(DISTINCT event_id) AS n FROM meta.conflicts GROUP BY 1 ORDER BY 1").iter_rows()},
            "between_snapshots": _conflicts_between_snapshots(con),
        },
        "warnings": one("SELECT count(*) FROM meta.warnings"),
        "files": {
            "total": one("SELECT count(*) FROM meta.files"),
            "by_layout": [_plain(dict(r)) for r in files.iter_rows(named=True)],
        },
    }


def _conflicts_between_snapshots(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Event fields on which two snapshots (files with different as-at dates) disagree: one
    gives the value kept, the other only different values; per pair of as-at dates. A
    disagreement inside one file (a converted ungraded inspection's two start dates) is not
    one between snapshots."""
    rows = frame(
        con,
        """
        WITH c AS (  -- per snapshot date: does any of its rows give the value kept?
            SELECT c.event_id, c.field, f.as_at, bool_or(c.kept) AS any_kept
            FROM meta.conflicts c JOIN meta.files f USING (file_id) WHERE f.as_at IS NOT NULL
            GROUP BY ALL
        ),
        pairs AS (
            SELECT DISTINCT a.event_id, a.field, least(a.as_at, b.as_at) AS older, greatest(a.as_at, b.as_at) AS newer
            FROM c a JOIN c b ON a.event_id = b.event_id AND a.field = b.field AND a.any_kept AND NOT b.any_kept
                              AND a.as_at <> b.as_at
        )
        SELECT older, newer, count(DISTINCT event_id) AS events, count(*) AS fields,
               list(DISTINCT field ORDER BY field) AS field_names
        FROM pairs GROUP BY ALL ORDER BY ALL
        """,
    )
    return [_plain(dict(r)) for r in rows.iter_rows(named=True)]


def history(con: duckdb.DuckDBPyConnection, urn: int) -> dict[str, Any]:
    """Every inspection of one school (``evenhand history URN --json``); UnknownSchoolError
    when the URN is not in the warehouse.

    Read from the school's precomputed page (out.school_pages: one lookup, plus its events'
    context rows); a warehouse built before that table existed is read by the per-URN queries
    of :func:`history_from_core`, the second route the tests hold equal to it.
    """
    from evenhand.derive.school_pages import has_pages, read_page

    if not has_pages(con):
        return history_from_core(con, urn)
    page = read_page(con, urn)
    if page is None:
        raise _unknown(con, urn)
    return history_from_page(con, page)


def history_from_page(con: duckdb.DuckDBPyConnection, page: Any) -> dict[str, Any]:
    """The history JSON of a precomputed page (evenhand.derive.school_pages.SchoolPage)."""
    return {
        "urn": page.urn,
        "school": page.school,
        "events": page.events,
        "lineage": page.lineage,
        "context": _context(con, [e["event_id"] for e in page.events]),
    }


def _unknown(con: duckdb.DuckDBPyConnection, urn: int) -> UnknownSchoolError:
    n = con.execute("SELECT count(DISTINCT urn) FROM core.events").fetchall()[0][0]
    return UnknownSchoolError(f"URN {urn} is not in the warehouse ({n} schools have inspection events). Check the number on GIAS or Ofsted's site.")


def history_from_core(con: duckdb.DuckDBPyConnection, urn: int) -> dict[str, Any]:
    """The history JSON by per-URN queries on the core and out tables (the second route)."""
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
        raise _unknown(con, urn)
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
        "lineage": _lineage(con, urn),
        "context": _context(con, ids),
    }


def _lineage(con: duckdb.DuckDBPyConnection, urn: int) -> dict[str, Any] | None:
    """The school's lineage: its URNs, and its predecessor and successor URNs with their events.

    Predecessors and successors are every URN linked to this one directly (any kind of link,
    chained or not) or through carried links (out.predecessors); ``in_lineage`` says whether
    the URN shares this school's lineage_id, ``carries`` whether its judgements carry over.
    None when the warehouse has no lineage tables (built by an older version).
    """
    if not (has_table(con, "out.lineage") and has_table(con, "out.predecessors") and has_table(con, "out.lineage_links")):
        return None
    me = frame(con, "SELECT * FROM out.lineage WHERE urn = ?", [urn])
    if me.height == 0:
        return None
    row = me.row(0, named=True)
    lid = row["lineage_id"]
    urns = frame(
        con,
        "SELECT urn, position, role, school_name, n_events FROM out.lineage WHERE lineage_id = ? ORDER BY position NULLS LAST, urn",
        [lid],
    )
    related = frame(
        con,
        """
        WITH rel AS (
            SELECT 'predecessor' AS side, predecessor_urn AS other, steps, same_lineage, true AS carries
            FROM out.predecessors WHERE urn = $1
            UNION ALL
            SELECT 'successor', urn, steps, same_lineage, true FROM out.predecessors WHERE predecessor_urn = $1
            UNION ALL
            SELECT 'predecessor', predecessor_urn, 1, chained, carries FROM out.lineage_links WHERE successor_urn = $1
            UNION ALL
            SELECT 'successor', successor_urn, 1, chained, carries FROM out.lineage_links WHERE predecessor_urn = $1
        ),
        one AS (
            SELECT side, other AS urn, min(steps) AS steps, bool_or(same_lineage) AS in_lineage, bool_or(carries) AS carries
            FROM rel GROUP BY ALL
        )
        SELECT one.*, l.school_name, l.lineage_id,
               k.kind AS link_kind, k.relation AS link_relation, k.source AS link_source, k.note AS link_note
        FROM one
        LEFT JOIN out.lineage l USING (urn)
        LEFT JOIN out.lineage_links k
          ON (one.side = 'predecessor' AND k.predecessor_urn = one.urn AND k.successor_urn = $1)
          OR (one.side = 'successor' AND k.successor_urn = one.urn AND k.predecessor_urn = $1)
        ORDER BY side, steps, urn
        """,
        [urn],
    )
    others = related["urn"].to_list()
    evs = frame(
        con,
        """
        SELECT e.urn, e.event_id, e.kind, e.era, e.start_date, e.publication_date, e.category_of_concern,
               j.scale AS overall_scale, j.code AS overall_code, j.label AS overall_label
        FROM core.events e
        LEFT JOIN core.judgements j ON j.event_id = e.event_id AND j.area = 'overall_effectiveness'
        WHERE e.urn IN (SELECT unnest(?))
        ORDER BY e.urn, e.start_date, e.event_id
        """,
        [others],
    )

    def with_events(side: str) -> list[dict[str, Any]]:
        out = []
        for r in related.filter(related["side"] == side).iter_rows(named=True):
            r = {k: v for k, v in r.items() if k != "side"}
            r["events"] = [{k: v for k, v in e.items() if k != "urn"} for e in evs.filter(evs["urn"] == r["urn"]).iter_rows(named=True)]
            out.append(_plain(r))
        return out

    flags = {k: row[k] for k in ("merge", "split", "merged_from", "merged_into", "split_from", "split_into", "other_links", "notes")}
    return {
        "lineage_id": lid,
        "position": row["position"],
        "role": row["role"],
        "urns": [_plain(dict(r)) for r in urns.iter_rows(named=True)],
        "flags": _plain({k: (v if v is not None else ([] if k.endswith(("_from", "_into", "_links")) else v)) for k, v in flags.items()}),
        "predecessors": with_events("predecessor"),
        "successors": with_events("successor"),
    }


def _context(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[dict[str, Any]]:
    """Context measures joined to this school's events (out.event_context); [] when none."""
    if not ids or not has_table(con, "out.event_context"):
        return []
    marks = ", ".join("?" for _ in ids)  # a literal IN list: DuckDB skips row groups (the table is in event order)
    ctx = frame(con, f"SELECT * FROM out.event_context WHERE event_id IN ({marks}) ORDER BY event_id, measure", list(ids))
    return [_plain(dict(r)) for r in ctx.iter_rows(named=True)]
