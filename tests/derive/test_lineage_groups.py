"""Lineage on tiny hand-made core tables: conversion chained, merges and splits flagged."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tiny_warehouse import GOOD, INADEQUATE, RI, D, Tiny, rows

from evenhand.derive.lineage import derive_lineage
from evenhand.derive.pipeline import derive_all
from helpers import history


def lineage_of(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, object]]:
    return {r["urn"]: r for r in rows(con, "SELECT * FROM out.lineage")}


def link(con: duckdb.DuckDBPyConnection, pred: int, succ: int) -> dict[str, object]:
    found = rows(con, "SELECT * FROM out.lineage_links WHERE predecessor_urn = ? AND successor_urn = ?", [pred, succ])
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def academy(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """Maintained school 100001 converts to academy 140001 (GIAS links from both sides);
    Ofsted's 2019 file reports the predecessor's 2014 inspection for the academy."""
    t = Tiny(tmp_path / "w.duckdb")
    t.event("E1", 100001, D(2010, 3, 2), GOOD).event("E2", 100001, D(2014, 5, 6), RI)
    t.event("E3", 140001, D(2018, 10, 9), INADEQUATE)
    t.link(100001, 140001, "Successor", both="Predecessor", when=D(2015, 4, 1))
    t.reported("E2", 140001, block="previous").reported("E3", 140001)
    t.school(140001, D(2019, 8, 31))
    con = t.write()
    derive_all(con)
    return con


def test_academy_shows_one_lineage_across_two_urns_with_predecessor_events(academy: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lin = lineage_of(academy)
    assert lin[100001]["lineage_id"] == lin[140001]["lineage_id"] == "L100001"
    assert (lin[100001]["position"], lin[100001]["role"]) == (1, "earliest")
    assert (lin[140001]["position"], lin[140001]["role"]) == (2, "latest")
    assert lin[140001]["predecessor_urn"] == 100001 and lin[100001]["successor_urn"] == 140001
    assert not lin[140001]["merge"] and not lin[140001]["split"]
    ev = {r["event_id"]: r for r in rows(academy, "SELECT * FROM out.event_lineage")}
    assert {e["lineage_id"] for e in ev.values()} == {"L100001"}
    assert all(e["spans_urns"] and e["latest_urn"] == 140001 for e in ev.values())
    lk = link(academy, 100001, 140001)
    assert (lk["source"], lk["relation"], lk["chained"], lk["carries"], lk["ofsted_events"]) == ("gias+ofsted", "one_to_one", True, True, 1)
    assert lk["link_types"] == ["Predecessor", "Successor"]

    academy.close()
    h = history(tmp_path / "w.duckdb", 140001)
    assert {"urn", "school", "events", "lineage", "context"} <= set(h)
    assert h["lineage"]["lineage_id"] == "L100001"
    assert [u["urn"] for u in h["lineage"]["urns"]] == [100001, 140001]
    (pred,) = h["lineage"]["predecessors"]
    assert pred["urn"] == 100001 and pred["in_lineage"] and pred["carries"]
    assert [e["event_id"] for e in pred["events"]] == ["E1", "E2"]
    assert [e["overall_label"] for e in pred["events"]] == ["Good", "Requires improvement"]
    assert h["lineage"]["successors"] == []
    back = history(tmp_path / "w.duckdb", 100001)
    assert [s["urn"] for s in back["lineage"]["successors"]] == [140001]
    assert [e["event_id"] for e in back["lineage"]["successors"][0]["events"]] == ["E3"]


def test_ofsted_evidence_alone_is_a_predecessor_link(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "w.duckdb")
    t.event("A", 100030, D(2012, 1, 10), GOOD).event("B", 140030, D(2019, 1, 10), GOOD)
    t.reported("A", 140030, block="previous").reported("B", 140030)
    con = t.write()
    derive_lineage(con)
    lin = lineage_of(con)
    assert lin[100030]["lineage_id"] == lin[140030]["lineage_id"]
    lk = link(con, 100030, 140030)
    assert (lk["source"], lk["kind"], lk["direction_basis"], lk["chained"]) == ("ofsted", "ofsted_evidence", "ofsted", True)


def test_merge_is_flagged_not_chained(tmp_path: Path) -> None:
    """Infant 100010 and junior 100011 -> primary 140010, all plain 'Successor' links (GIAS
    publishes many amalgamations so): the shape makes it a merge. 100012 'merged' into 100013
    one-to-one: the GIAS type makes it a merge."""
    t = Tiny(tmp_path / "w.duckdb")
    for u in (100010, 100011, 140010, 100012, 100013):
        t.event(f"E{u}", u, D(2016, 1, 5), GOOD)
    t.link(100010, 140010, "Successor", both="Predecessor").link(100011, 140010, "Successor", both="Predecessor")
    t.link(100012, 100013, "Successor - merged", both="Predecessor - merged")
    con = t.write()
    derive_lineage(con)
    lin = lineage_of(con)
    assert len({lin[u]["lineage_id"] for u in (100010, 100011, 140010)}) == 3  # never chained
    assert lin[140010]["merge"] and lin[140010]["merged_from"] == ["100010", "100011"]
    assert lin[100010]["merge"] and lin[100010]["merged_into"] == ["140010"]
    assert "merger" in lin[140010]["notes"]
    for p in (100010, 100011):
        lk = link(con, p, 140010)
        assert (lk["relation"], lk["chained"], lk["successor_n_predecessors"]) == ("merge", False, 2)
    assert lin[100012]["lineage_id"] != lin[100013]["lineage_id"]
    lk = link(con, 100012, 100013)
    assert (lk["kind"], lk["relation"], lk["chained"]) == ("merge", "merge", False)
    assert lin[100013]["merged_from"] == ["100012"]
    # the list of merges and splits
    listed = rows(con, "SELECT predecessor_urn, successor_urn FROM out.lineage_links WHERE relation <> 'one_to_one' ORDER BY 1")
    assert [(r["predecessor_urn"], r["successor_urn"]) for r in listed] == [(100010, 140010), (100011, 140010), (100012, 100013)]


def test_split_is_flagged_not_chained(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "w.duckdb")
    t.event("P", 100020, D(2013, 2, 5), GOOD).event("S1", 140020, D(2018, 2, 5), GOOD).event("S2", 140021, D(2018, 3, 5), RI)
    t.link(100020, 140020, "Successor", both="Predecessor").link(100020, 140021, "Successor - Split School", both="Predecessor - Split School")
    con = t.write()
    derive_lineage(con)
    lin = lineage_of(con)
    assert len({lin[u]["lineage_id"] for u in (100020, 140020, 140021)}) == 3
    assert lin[100020]["split"] and lin[100020]["split_into"] == ["140020", "140021"]
    assert lin[140020]["split_from"] == ["100020"] and lin[140021]["split"]
    assert {link(con, 100020, s)["relation"] for s in (140020, 140021)} == {"split"}
    assert rows(con, "SELECT count(*) AS n FROM out.predecessors")[0]["n"] == 0  # nothing carried


def test_shortcut_link_is_not_a_second_predecessor(tmp_path: Path) -> None:
    """GIAS lists A as predecessor of both B and C, and B of C (re-brokered academy)."""
    t = Tiny(tmp_path / "w.duckdb")
    t.link(100040, 140040, "Successor", both="Predecessor").link(140040, 150040, "Successor", both="Predecessor")
    t.link(100040, 150040, "Successor", both="Predecessor")
    t.event("X", 150040, D(2020, 1, 7), GOOD)
    con = t.write()
    derive_lineage(con)
    lin = lineage_of(con)
    assert {lin[u]["lineage_id"] for u in (100040, 140040, 150040)} == {"L100040"}
    assert [lin[u]["position"] for u in (100040, 140040, 150040)] == [1, 2, 3]
    assert link(con, 100040, 150040)["relation"] == "indirect"
    preds = rows(con, "SELECT predecessor_urn, steps FROM out.predecessors WHERE urn = 150040 ORDER BY 1")
    assert preds == [{"predecessor_urn": 100040, "steps": 2}, {"predecessor_urn": 140040, "steps": 1}]


def test_direction_when_gias_contradicts_itself(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "w.duckdb")
    t.link(100050, 140050, "Successor", both="Successor")  # each calls the other its successor
    t.link(100060, 140060, "Successor", both="Successor")
    t.event("Old", 140060, D(2011, 1, 4), GOOD).reported("Old", 100060)  # Ofsted: 140060 came first
    t.link(100070, 100071, "Sixth Form Centre Link", both="Sixth Form Centre School")
    con = t.write()
    derive_lineage(con)
    assert link(con, 100050, 140050)["direction_basis"] == "urn_order"
    assert link(con, 140060, 100060)["direction_basis"] == "ofsted"
    assert rows(con, "SELECT count(*) AS n FROM out.lineage_links WHERE predecessor_urn IN (100070, 100071)")[0]["n"] == 0


def test_every_event_gets_a_lineage_id(academy: duckdb.DuckDBPyConnection) -> None:
    n_events = rows(academy, "SELECT count(*) AS n FROM core.events")[0]["n"]
    got = rows(academy, "SELECT count(*) AS n, count(lineage_id) AS with_id FROM out.event_lineage")[0]
    assert got == {"n": n_events, "with_id": n_events}


def test_unknown_gias_link_type_is_a_warning_not_a_chain(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "w.duckdb")
    t.link(100080, 140080, "Teleported")
    con = t.write()
    derive_lineage(con)
    lin = lineage_of(con)
    assert lin[100080]["lineage_id"] != lin[140080]["lineage_id"]
    (w,) = rows(con, "SELECT message FROM meta.warnings")
    assert "Teleported" in w["message"]


def test_older_edubase_parent_child_wording_chains_like_predecessor_successor(tmp_path: Path) -> None:
    """The 2017 links file says 'Parent' / 'Child' where later files say 'Predecessor' /
    'Successor' (maps/gias_link_types.csv): one vintage in the old wording and one in the new
    still chain the conversion; 'Parent - merged' is a merge, as 'Predecessor - merged' is."""
    t = Tiny(tmp_path / "w.duckdb")
    t.link(100090, 140090, "Child", both="Parent").link(100090, 140090, "Successor", both="Predecessor")
    t.link(100091, 140091, "Child", both="Parent")
    t.link(140092, 100092, "Parent - merged")
    con = t.write()
    derive_lineage(con)
    lin = lineage_of(con)
    assert lin[100090]["lineage_id"] == lin[140090]["lineage_id"] == "L100090"
    assert lin[100091]["lineage_id"] == lin[140091]["lineage_id"] == "L100091"
    assert lin[140091]["predecessor_urn"] == 100091
    lk = link(con, 100092, 140092)
    assert (lk["kind"], lk["chained"]) == ("merge", False)
    assert rows(con, "SELECT count(*) AS n FROM meta.warnings")[0]["n"] == 0
