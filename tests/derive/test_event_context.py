"""out.event_context: nearest academic year before the inspection, following lineage."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tiny_warehouse import GOOD, D, Tiny, rows

from evenhand.derive.event_context import derive_event_context
from evenhand.derive.pipeline import derive_all
from helpers import history

CONTEXT_DDL = """CREATE TABLE core.context (
    file_id BIGINT, row_number BIGINT, urn BIGINT, academic_year VARCHAR, measure VARCHAR,
    value DOUBLE, value_text VARCHAR, suppression VARCHAR)"""


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    t = Tiny(tmp_path / "w.duckdb")
    t.event("E", 140001, D(2019, 11, 5), GOOD)  # academic year 2019/20
    t.event("OLD", 100001, D(2016, 3, 1), GOOD)  # 2015/16
    t.link(100001, 140001, "Successor", both="Predecessor")
    c = t.write()
    # the test owns a minimal core.context with the columns the join reads
    c.execute("DROP TABLE IF EXISTS core.context")
    c.execute(CONTEXT_DDL)
    c.execute(
        """INSERT INTO core.context VALUES
        (7, 2, 140001, '2018/19', 'fsm_pct', 20.5, NULL, NULL),
        (7, 3, 140001, '2019/20', 'fsm_pct', 99.0, NULL, NULL),     -- the inspection's own year: never used
        (6, 2, 100001, '2016/17', 'fsm_pct', 25.0, NULL, NULL),
        (6, 3, 100001, '2016/17', 'ks2_progress_reading', 1.5, NULL, NULL),
        (6, 4, 100001, '2014/15', 'ks2_progress_reading', 0.5, NULL, NULL),
        (7, 4, 140001, '2018/19', 'ks2_reading_band', NULL, 'Above average', NULL),
        (7, 5, 140001, '2018/19', 'pupils', NULL, NULL, 'small number suppressed'),
        (6, 5, 100001, '2017/18', 'pupils', 210, NULL, NULL)"""
    )
    derive_all(c)
    return c


def ctx(con: duckdb.DuckDBPyConnection, event_id: str) -> dict[str, dict[str, object]]:
    return {r["measure"]: r for r in rows(con, "SELECT * FROM out.event_context WHERE event_id = ?", [event_id])}


def test_nearest_year_before_the_inspection_from_own_urn(con: duckdb.DuckDBPyConnection) -> None:
    fsm = ctx(con, "E")["fsm_pct"]
    assert (fsm["academic_year"], fsm["value"], fsm["years_apart"], fsm["from_predecessor"]) == ("2018/19", 20.5, 1, False)
    assert ctx(con, "E")["ks2_reading_band"]["value_text"] == "Above average"


def test_converter_academy_uses_its_predecessors_measures_flagged(con: duckdb.DuckDBPyConnection) -> None:
    ks2 = ctx(con, "E")["ks2_progress_reading"]
    assert (ks2["context_urn"], ks2["academic_year"], ks2["value"], ks2["from_predecessor"], ks2["years_apart"]) == (
        100001, "2016/17", 1.5, True, 3)


def test_nearest_year_is_kept_even_when_suppressed(con: duckdb.DuckDBPyConnection) -> None:
    p = ctx(con, "E")["pupils"]
    assert (p["academic_year"], p["value"], p["suppression"], p["from_predecessor"]) == ("2018/19", None, "small number suppressed", False)


def test_only_years_that_ended_before_the_inspection(con: duckdb.DuckDBPyConnection) -> None:
    old = ctx(con, "OLD")
    assert set(old) == {"ks2_progress_reading"}
    assert (old["ks2_progress_reading"]["academic_year"], old["ks2_progress_reading"]["years_apart"]) == ("2014/15", 1)


def test_history_returns_the_context_used(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con.close()
    h = history(tmp_path / "w.duckdb", 140001)
    used = {(c["event_id"], c["measure"]) for c in h["context"]}
    assert ("E", "fsm_pct") in used and ("E", "ks2_progress_reading") in used


def test_without_core_context_the_table_is_empty(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "x.duckdb")
    t.event("E", 140001, D(2019, 11, 5), GOOD)
    c = t.write()
    c.execute("DROP TABLE IF EXISTS core.context")
    derive_all(c)
    derive_event_context(c)
    assert rows(c, "SELECT count(*) AS n FROM out.event_context") == [{"n": 0}]


def test_final_results_beat_provisional_ones_of_the_same_year(tmp_path: Path) -> None:
    """DfE's provisional and final KS4 files share a layout; the later file id is the
    provisional one here, and the final value is still the one used."""
    t = Tiny(tmp_path / "p.duckdb")
    t.event("E", 140001, D(2019, 11, 5), GOOD)
    c = t.write()
    c.execute("DROP TABLE IF EXISTS core.context")
    c.execute(CONTEXT_DDL)
    c.execute(
        """INSERT INTO core.context VALUES
        (50, 2, 140001, '2018/19', 'progress8', 0.31, NULL, NULL),
        (51, 2, 140001, '2018/19', 'progress8', 0.29, NULL, NULL)"""
    )
    c.execute("DELETE FROM meta.files WHERE file_id IN (50, 51)")
    c.execute(
        """INSERT INTO meta.files (file_id, path, sha256, bytes, status) VALUES
        (50, 'dfe/performance-tables_2018-19_england_ks4final_subset.csv', 'x', 1, 'loaded'),
        (51, 'dfe/performance-tables_2018-19_england_ks4provisional_headline.csv', 'y', 1, 'loaded')"""
    )
    derive_all(c)
    p8 = ctx(c, "E")["progress8"]
    assert (p8["value"], p8["file_id"]) == (0.31, 50)
