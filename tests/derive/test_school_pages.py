"""out.school_pages: each URN's precomputed page equals what the per-URN queries give (the
second route), for every URN of small warehouses with lineages, merges, splits and reported events."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from tiny_warehouse import GOOD, INADEQUATE, OUTSTANDING, RI, D, Tiny

from evenhand.derive.pipeline import derive_all
from evenhand.derive.school_pages import read_page
from evenhand.present.school import school_report_data
from evenhand.query import history, history_from_core

sys.path.insert(0, str(Path(__file__).parents[1] / "present"))
from report_fixture import build_fixture_warehouse


def plain(d: Any) -> Any:
    return json.loads(json.dumps(d, default=str))


def lineages(tmp: Path) -> duckdb.DuckDBPyConnection:
    t = Tiny(tmp / "w.duckdb")
    # a conversion: 100001 -> academy 140001, Ofsted reports the predecessor's inspection for it
    t.event("E1", 100001, D(2010, 3, 2), GOOD).event("E2", 100001, D(2014, 5, 6), RI)
    t.event("E3", 140001, D(2018, 10, 9), INADEQUATE)
    t.link(100001, 140001, "Successor", both="Predecessor", when=D(2015, 4, 1))
    t.reported("E2", 140001, block="previous").reported("E3", 140001)
    t.school(140001, D(2019, 8, 31))
    # a merge: 100002 and 100003 into 140002; a split: 100004 into 140004 and 140005
    t.event("M1", 100002, D(2012, 1, 10), OUTSTANDING).event("M2", 100003, D(2013, 2, 11), RI)
    t.event("M3", 140002, D(2019, 3, 12), GOOD)
    t.link(100002, 140002, "Merged - expansion of school capacity", both="Merged - expansion of school capacity")
    t.link(100003, 140002, "Merged - expansion of school capacity", both="Merged - expansion of school capacity")
    t.event("S1", 100004, D(2011, 6, 1), GOOD).event("S2", 140004, D(2020, 1, 7), RI)
    t.link(100004, 140004, "Successor - Split School", both="Predecessor - Split School")
    t.link(100004, 140005, "Successor - Split School", both="Predecessor - Split School")
    t.school(140002, D(2019, 8, 31)).school(140004, D(2019, 8, 31)).school(140005, D(2019, 8, 31))
    con = t.write()
    derive_all(con)
    return con


def every_urn(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [int(r[0]) for r in con.execute("SELECT urn FROM out.school_pages ORDER BY urn").fetchall()]


def test_every_page_is_the_history_of_the_per_urn_queries(tmp_path: Path) -> None:
    con = lineages(tmp_path)
    urns = every_urn(con)
    assert {100001, 140001, 100002, 100003, 140002, 100004, 140004, 140005} <= set(urns)
    for urn in urns:
        assert plain(history(con, urn)) == plain(history_from_core(con, urn)), urn
    # the academy's page carries the predecessor's events in its lineage, and its report shows them
    page = read_page(con, 140001)
    assert page is not None and [e["event_id"] for e in page.events] == ["E2", "E3"]
    rep = school_report_data(con, 140001)
    assert [e["event_id"] for e in rep["timeline"]] == ["E1", "E2", "E3"]
    assert [e["predecessor"] for e in rep["timeline"]] == [True, True, False]
    merged = plain(history(con, 140002))["lineage"]
    assert {p["urn"] for p in merged["predecessors"]} == {100002, 100003}
    con.close()


def test_report_fixture_pages_and_similar_schools_by_a_second_route(tmp_path: Path) -> None:
    wh = build_fixture_warehouse(tmp_path)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        for urn in every_urn(con):
            assert plain(history(con, urn)) == plain(history_from_core(con, urn)), urn
        # similar schools recomputed in Polars from out.latest_as_at and core.schools
        latest = con.sql("SELECT * FROM out.latest_as_at").pl()
        latest = latest.filter(pl.col("as_at") == latest["as_at"].max())
        schools = con.sql("SELECT file_id, urn, phase, idaci_quintile, pupils FROM core.schools").pl()
        p = latest.join(schools, left_on=["open_in_file_id", "urn"], right_on=["file_id", "urn"]).drop_nulls("pupils")
        for urn in (109778, 100010, 100013):
            me = schools.filter(pl.col("urn") == urn).row(0, named=True)
            same = p.filter(pl.col("phase") == me["phase"])
            cuts = sorted(same["pupils"].cast(pl.Float64).to_list())
            q = [cuts[max(0, math.ceil(round(f * len(cuts), 9)) - 1)] for f in (0.2, 0.4, 0.6, 0.8)]  # as quantile_disc
            band = 1 + sum(float(me["pupils"]) > x for x in q)
            edges = [0.0, *q, float("inf")]
            group = same.filter((pl.col("idaci_quintile") == me["idaci_quintile"]) & (pl.col("urn") != urn)
                                & (pl.col("pupils") > edges[band - 1]) & (pl.col("pupils") <= edges[band]))
            graded = group.filter(pl.col("overall_scale") == "four_point")
            sim = school_report_data(con, urn)["similar"]
            assert sim["size_band"] == band and sim["n_group"] == group.height and sim["n_graded"] == graded.height, urn
            got = {r["code"]: r["k"] for r in sim["distribution"]}
            want = {c: graded.filter(pl.col("overall_code") == c).height for c in ("1", "2", "3", "4")}
            assert got == want, urn
    finally:
        con.close()


def test_a_warehouse_without_pages_is_read_by_the_per_urn_queries(tmp_path: Path) -> None:
    con = lineages(tmp_path)
    want = plain(history(con, 140001))
    con.execute("DROP TABLE out.school_pages")
    assert plain(history(con, 140001)) == want
    with pytest.raises(Exception, match="build it again"):
        school_report_data(con, 140001)
    con.close()
