"""What a school page shows, recomputed by a plain second route (school_pages_plain.py: whole
tables read into Python, the documented rules applied row by row, none of derive/school_pages.py's
SQL or helpers), held equal part by part to ``Evenhand.history`` and ``read_pages`` for every URN
of the test warehouses of test_school_pages.py: the events with their judgements, sources and
conflicts, the lineage, the context rule, the similar-school and report-card cells, and the
small parts (school, files, latest, fallback, facts)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from school_pages_plain import COMPARED, Plain, differences
from test_school_pages import build_fixture_warehouse, every_urn, with_ks4_files

from evenhand.derive.school_pages import read_pages


def test_every_page_of_the_lineage_warehouse_equals_the_plain_route(tmp_path: Path) -> None:
    con = with_ks4_files(tmp_path)
    try:
        urns = every_urn(con)
        assert len(urns) >= 8 and Plain(con, []).page_urns() == set(urns)
        assert differences(con, urns) == []
        # the parts compared are not empty: events, lineages with predecessors, context rows
        pages = read_pages(con, urns)
        assert sum(len(p.events) for p in pages.values()) >= 8
        assert any(p.lineage and p.lineage["predecessors"] for p in pages.values())
        assert sum(len(p.context["rows"]) for p in pages.values()) >= 5
        # the context rule's cases (test_school_pages.KS4_ROWS) chosen alike
        assert Plain(con, [140001]).context_of(140001)["rows"] == pages[140001].context["rows"]
    finally:
        con.close()


def test_the_report_fixture_pages_equal_the_plain_route(tmp_path: Path) -> None:
    wh = build_fixture_warehouse(tmp_path)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        urns = every_urn(con)
        assert len(urns) >= 10 and Plain(con, []).page_urns() == set(urns)
        assert differences(con, urns) == []
        pages = read_pages(con, urns)
        assert sum(len(p.similar["cells"]) for p in pages.values() if p.similar) >= 3
        assert sum(len(j) for p in pages.values() for j in (e["judgements"] for e in p.events)) >= 10
    finally:
        con.close()


def test_the_plain_route_sees_a_page_that_does_not_follow_the_tables(tmp_path: Path) -> None:
    """The comparison can fail: change the tables under built pages and every changed part differs."""
    con = with_ks4_files(tmp_path)
    try:
        con.execute("UPDATE core.judgements SET label = 'Changed' WHERE event_id = 'E3'")
        con.execute("UPDATE out.lineage_links SET note = 'changed' WHERE successor_urn = 140001")
        con.execute("UPDATE core.context SET value = 0.5 WHERE file_id = 905 AND measure = 'progress8'")
        con.execute("UPDATE out.timing SET inspection_length_days = 99 WHERE event_id = 'E1'")
        con.execute("UPDATE core.schools SET pupils = 1 WHERE urn = 140001")
        got = {(u, part) for u, part, _, _ in differences(con, [140001, 100001])}
        assert {(140001, "events"), (140001, "lineage"), (100001, "lineage"), (140001, "context"),
                (140001, "facts"), (100001, "facts"), (140001, "school")} <= got
        assert {part for _, part in got} <= set(COMPARED)
    finally:
        con.close()
