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
from school_pages_sql import old_pages
from tiny_warehouse import GOOD, INADEQUATE, OUTSTANDING, RI, D, Tiny

from evenhand.derive.pipeline import derive_all
from evenhand.derive.school_pages import derive_school_pages, has_pages, read_page, read_pages
from evenhand.errors import EvenhandError
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
    # DfE context for the academy and its predecessor: a value given by two files (the newest
    # wins), by two URNs of one file (the school's own wins), a suppressed one, a measure no
    # report shows
    con.execute("DROP TABLE IF EXISTS core.context")
    con.execute("""CREATE TABLE core.context (file_id BIGINT, row_number BIGINT, urn BIGINT, academic_year VARCHAR,
                   measure VARCHAR, value DOUBLE, value_text VARCHAR, suppression VARCHAR)""")
    con.execute("""INSERT INTO core.context VALUES
        (906, 2, 140001, '2018/19', 'fsm_pct', 20.5, NULL, NULL),
        (907, 2, 140001, '2018/19', 'fsm_pct', 21.5, NULL, NULL),
        (907, 3, 100001, '2018/19', 'pupils', 180, NULL, NULL),
        (907, 4, 140001, '2018/19', 'pupils', 210, NULL, NULL),
        (906, 5, 100001, '2013/14', 'eal_pct', NULL, NULL, 'small number suppressed'),
        (906, 6, 100001, '2013/14', 'ks2_reading_band', NULL, 'Above average', NULL),
        (906, 7, 140002, '2019/20', 'progress8', -0.25, NULL, NULL)""")
    con.execute("""INSERT INTO meta.files (file_id, path, sha256, bytes, status) VALUES
        (906, 'dfe/census_2019.csv', 'x', 1, 'loaded'), (907, 'dfe/census_2019_revised.csv', 'y', 1, 'loaded')""")
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
    # a table as builds before decision 1320 wrote it (one JSON text column per part): the same
    con.execute("CREATE TABLE out.school_pages (urn BIGINT, school VARCHAR, events VARCHAR)")
    con.execute("INSERT INTO out.school_pages VALUES (140001, NULL, '[]')")
    assert plain(history(con, 140001)) == want
    with pytest.raises(EvenhandError, match="build it again"):
        school_report_data(con, 140001)
    with pytest.raises(EvenhandError, match="build it again"):
        read_page(con, 140001)
    con.close()


def test_pages_of_another_format_are_not_read(tmp_path: Path) -> None:
    """A warehouse whose out.school_pages is in the previous stored format (decisions 1320/1330:
    urn, page, page_bytes, files and texts written out on every page) or in another format number,
    or without its page dictionary: has_pages is false (history takes the per-URN route) and
    reading a page says "build it again", never a page read with the wrong dictionary."""
    con = lineages(tmp_path)
    assert has_pages(con)
    want = plain(history(con, 140001))
    page = read_page(con, 140001)
    assert page is not None and page.events and page.events[-1]["judgements"]
    # the previous format: no format column, no dictionary
    con.execute("CREATE TABLE out.pages_v1 AS SELECT urn, page, page_bytes FROM out.school_pages")
    con.execute("DROP TABLE out.school_pages")
    con.execute("ALTER TABLE out.pages_v1 RENAME TO school_pages")
    con.execute("DROP TABLE out.school_page_dictionary")
    assert not has_pages(con)
    assert plain(history(con, 140001)) == want
    with pytest.raises(EvenhandError, match="build it again"):
        read_page(con, 140001)
    with pytest.raises(EvenhandError, match="build it again"):
        school_report_data(con, 140001)
    con.close()
    # another format number, or a dictionary that is not there
    (tmp_path / "b").mkdir()
    con = lineages(tmp_path / "b")
    con.execute("UPDATE out.school_pages SET format = format + 1")
    assert not has_pages(con)
    with pytest.raises(EvenhandError, match="build it again"):
        read_page(con, 140001)
    con.execute("UPDATE out.school_pages SET format = format - 1")
    assert has_pages(con) and read_page(con, 140001) == page
    con.execute("UPDATE out.school_pages SET dictionary_id = 'f' || dictionary_id")
    with pytest.raises(EvenhandError, match="build it again"):
        read_page(con, 140001)
    con.close()


def assert_pages_equal_the_one_statement_build(con: duckdb.DuckDBPyConnection) -> int:
    """Every part of every page (as read_pages gives it) equals the previous one-statement SQL
    build's (school_pages_sql.py), parsed: the Polars build and its columnar lists change nothing."""
    old = old_pages(con)
    new = read_pages(con, every_urn(con))
    assert set(new) == set(old)
    for urn, page in new.items():
        want = old[urn]
        got = {"school": page.school, "events": page.events, "lineage": page.lineage,
               "facts": sorted(page.facts.values(), key=lambda f: f["event_id"]), "latest": page.latest,
               "similar_schools": page.similar, "context": page.context, "school_files": page.school_files,
               "fallback": page.fallback, "report_card": page.report_card}
        for part in want:
            assert got[part] == want[part], (urn, part)
    return len(new)


def test_every_part_of_every_page_equals_the_one_statement_build(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    con = lineages(tmp_path / "a")
    assert assert_pages_equal_the_one_statement_build(con) >= 8
    page = read_page(con, 140001)
    assert page is not None
    got = {(r["measure"], r["academic_year"]): r["value"] for r in page.context["rows"]}
    assert got[("fsm_pct", "2018/19")] == 21.5 and got[("pupils", "2018/19")] == 210  # newest file; own URN
    assert page.context["files"] == ["dfe/census_2019.csv", "dfe/census_2019_revised.csv"]
    con.close()
    wh = build_fixture_warehouse(tmp_path / "b")
    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert assert_pages_equal_the_one_statement_build(con) >= 10
        # the fixture's pages carry facts and similar-school cells to compare
        pages = read_pages(con, every_urn(con))
        assert any(p.facts for p in pages.values()) and any(p.similar and p.similar["cells"] for p in pages.values())
    finally:
        con.close()


#: context rows for the academy 140001 of the lineage warehouse that the page must choose
#: between: DfE's final KS4 file (905) and its provisional one (908, a higher file id), which
#: share a layout; a value in one file, only a suppression in the other
KS4_FILES = """INSERT INTO meta.files (file_id, path, sha256, bytes, status) VALUES
    (905, 'dfe/performance-tables_2018-19_england_ks4final.csv', 'a', 1, 'loaded'),
    (908, 'dfe/performance-tables_2018-19_england_ks4provisional.csv', 'b', 1, 'loaded')"""
KS4_ROWS = """INSERT INTO core.context (file_id, row_number, urn, academic_year, measure, value, value_text, suppression) VALUES
    (905, 2, 140001, '2018/19', 'progress8', 0.30, NULL, NULL),
    (908, 2, 140001, '2018/19', 'progress8', 0.25, NULL, NULL),
    (905, 3, 140001, '2018/19', 'attainment8', 48.1, NULL, NULL),
    (908, 3, 140001, '2018/19', 'attainment8', NULL, NULL, 'not applicable'),
    (905, 4, 100001, '2018/19', 'ks2_maths_progress', NULL, NULL, 'small number suppressed'),
    (906, 8, 100001, '2018/19', 'ks2_maths_progress', 1.5, NULL, NULL)"""


def with_ks4_files(tmp: Path) -> duckdb.DuckDBPyConnection:
    con = lineages(tmp)
    con.execute(KS4_FILES)
    con.execute(KS4_ROWS)
    derive_school_pages(con)
    return con


def test_the_context_rule_final_file_then_newest_then_own_urn_one_row_each(tmp_path: Path) -> None:
    """The page's context: per measure and year one row of core.context, all its fields from that
    row: a value beats none, a final file beats a provisional one, then the newest file; in one
    file the school's own URN (decisions 0400-timing-and-context, 1310; out.event_context)."""
    con = with_ks4_files(tmp_path)
    try:
        page = read_page(con, 140001)
        assert page is not None
        got = {(r["measure"], r["academic_year"]): r for r in page.context["rows"]}
        assert got[("progress8", "2018/19")]["value"] == 0.30  # final, not the provisional file
        # the final file's value, and no suppression reason taken from the provisional row
        assert (got[("attainment8", "2018/19")]["value"], got[("attainment8", "2018/19")]["suppression"]) == (48.1, None)
        # a value in an older file beats a suppression in a newer one (the predecessor's URN)
        assert (got[("ks2_maths_progress", "2018/19")]["value"], got[("ks2_maths_progress", "2018/19")]["suppression"]) == (1.5, None)
        assert got[("fsm_pct", "2018/19")]["value"] == 21.5 and got[("pupils", "2018/19")]["value"] == 210  # newest file; own URN
    finally:
        con.close()
