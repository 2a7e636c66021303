"""Transitions: consecutive graded inspections in a lineage, never compared across scales
(or across a change of meaning) without an explicit mapping."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from tiny_warehouse import (
    GOOD,
    INADEQUATE,
    NOT_JUDGED,
    OUTSTANDING,
    REMAINS_GOOD,
    RI,
    SATISFACTORY,
    D,
    Tiny,
    rows,
)

from evenhand.derive.pipeline import derive_all
from evenhand.derive.transitions import scale_mappings, transitions


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    t = Tiny(tmp_path / "w.duckdb")
    # one lineage across an academy conversion
    t.event("A1", 100001, D(2009, 2, 26), OUTSTANDING)
    t.event("A2", 100001, D(2011, 3, 1), SATISFACTORY)
    t.event("A3", 140001, D(2014, 6, 3), GOOD)
    t.event("A4", 140001, D(2016, 1, 12), REMAINS_GOOD)  # ungraded: not in transitions
    t.event("A5", 140001, D(2022, 11, 15), INADEQUATE)
    t.event("A6", 140001, D(2024, 10, 1), NOT_JUDGED)
    t.link(100001, 140001, "Successor", both="Predecessor")
    # another school: RI -> a report-card-scale overall (different scale)
    t.event("B1", 100002, D(2019, 5, 7), RI)
    t.event("B2", 100002, D(2025, 12, 2), ("report_card_5", "2", "Strong standard", 2, True), kind="report_card")
    c = t.write()
    derive_all(c)
    return c


def pairs(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["from_event_id"], r["to_event_id"]): r for r in rows(con, "SELECT * FROM out.transitions")}


def test_consecutive_graded_events_within_the_lineage(con: duckdb.DuckDBPyConnection) -> None:
    got = pairs(con)
    assert set(got) == {("A1", "A2"), ("A2", "A3"), ("A3", "A5"), ("A5", "A6"), ("B1", "B2")}
    t = got[("A2", "A3")]
    assert (t["urn_changed"], t["from_urn"], t["to_urn"], t["seq"]) == (True, 100001, 140001, 2)
    assert (t["from_era"], t["to_era"], t["days_apart"]) == ("s5_2009", "s5_2012", (D(2014, 6, 3) - D(2011, 3, 1)).days)


def test_same_meaning_on_one_scale_is_comparable(con: duckdb.DuckDBPyConnection) -> None:
    t = pairs(con)[("A3", "A5")]  # Good 2014 -> Inadequate 2022
    assert (t["comparable"], t["comparison_basis"], t["change"], t["direction"]) == (True, "same_scale", 2, "declined")
    t = pairs(con)[("A1", "A2")]  # Outstanding -> Satisfactory, both before September 2012
    assert (t["comparable"], t["change"]) == (True, 2)


def test_satisfactory_is_not_compared_with_a_later_grade_without_the_mapping(con: duckdb.DuckDBPyConnection) -> None:
    t = pairs(con)[("A2", "A3")]  # Satisfactory (2011) -> Good (2014)
    assert (t["from_scale"], t["from_code"], t["from_label"]) == ("four_point", "3", "Satisfactory")
    assert (t["to_scale"], t["to_label"]) == ("four_point", "Good")
    assert t["comparable"] is False and t["change"] is None and t["direction"] is None
    assert "Requires improvement" in t["note"] and "scale_mappings.csv" in t["note"]


def test_different_scales_are_never_compared_without_a_mapping(con: duckdb.DuckDBPyConnection) -> None:
    t = pairs(con)[("B1", "B2")]
    assert (t["from_scale"], t["to_scale"], t["comparable"]) == ("four_point", "report_card_5", False)
    assert "different scales" in t["note"]
    t = pairs(con)[("A5", "A6")]
    assert t["comparable"] is False and "not graded" in t["note"]


def test_an_enabled_mapping_makes_the_comparison_explicit(con: duckdb.DuckDBPyConnection) -> None:
    shipped = scale_mappings(enabled_only=False)
    assert not shipped["enabled"].any()  # off by default: Satisfactory is not Requires improvement
    got = transitions(con, shipped.with_columns(pl.lit(True).alias("enabled")))
    t = got.filter((pl.col("from_event_id") == "A2") & (pl.col("to_event_id") == "A3")).row(0, named=True)
    assert (t["comparable"], t["comparison_basis"], t["change"], t["direction"]) == (True, "mapping:four_point_ordinal", -1, "improved")
    # a mapping never bridges scales it does not list
    t = got.filter(pl.col("from_event_id") == "B1").row(0, named=True)
    assert t["comparable"] is False
