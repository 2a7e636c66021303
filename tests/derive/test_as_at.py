"""latest_as_at: Ofsted's official-statistics method on tiny hand-made core tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tiny_warehouse import GOOD, INADEQUATE, OUTSTANDING, REMAINS_GOOD, RI, D, Tiny, rows

from evenhand.derive.as_at import latest_as_at
from evenhand.derive.pipeline import derive_all
from evenhand.errors import EvenhandError


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    t = Tiny(tmp_path / "w.duckdb")
    # 100001 -> academy 140001 (2019), not yet inspected as an academy
    t.event("P1", 100001, D(2012, 11, 6), RI, published=D(2012, 12, 1))
    t.event("P2", 100001, D(2016, 6, 7), GOOD, published=D(2016, 7, 1))
    t.event("P3", 100001, D(2018, 1, 9), REMAINS_GOOD, published=D(2018, 2, 1))
    t.link(100001, 140001, "Successor", both="Predecessor")
    # 100002: own inspections; the latest graded one started by the date but was published too late
    t.event("O1", 100002, D(2017, 3, 7), OUTSTANDING, published=D(2017, 4, 1))
    t.event("O2", 100002, D(2021, 8, 10), INADEQUATE, published=D(2021, 11, 2))
    t.event("O3", 100002, D(2019, 5, 14), REMAINS_GOOD, published=D(2019, 6, 20))
    # 100003 merged into 140003: not chained, so nothing carried
    t.event("M1", 100003, D(2015, 5, 5), GOOD, published=D(2015, 6, 1))
    t.link(100003, 140003, "Successor - merged", both="Predecessor - merged")
    # school-level files: 2021 national file; a newer one-authority file for Leeds only
    for urn in (140001, 100002, 140003, 100004):
        t.school(urn, D(2021, 8, 31), file_id=1)
    t.school(100009, D(2021, 8, 31), file_id=1, la="Leeds")
    t.school(100010, D(2022, 2, 28), file_id=2, la="Leeds")
    c = t.write()
    derive_all(c)
    return c


def by_urn(con: duckdb.DuckDBPyConnection, when: object) -> dict[int, dict[str, object]]:
    return {r["urn"]: r for r in latest_as_at(con, when).iter_rows(named=True)}  # type: ignore[arg-type]


def test_school_not_yet_inspected_carries_its_predecessors_judgement_flagged(con: duckdb.DuckDBPyConnection) -> None:
    got = by_urn(con, D(2021, 8, 31))[140001]
    assert (got["graded_event_id"], got["graded_urn"], got["overall_label"], got["graded_carried"]) == ("P2", 100001, "Good", True)
    assert (got["ungraded_event_id"], got["ungraded_outcome_label"], got["ungraded_carried"]) == ("P3", "School remains Good", True)
    assert got["lineage_id"] == "L100001"
    assert got["age_of_latest_graded_days"] == (D(2021, 8, 31) - D(2016, 6, 7)).days


def test_own_inspection_and_publication_cut_off(con: duckdb.DuckDBPyConnection) -> None:
    got = by_urn(con, D(2021, 8, 31))[100002]
    # O2 started before 31 August 2021 but was published on 2 November: after the one-month cut-off
    assert (got["graded_event_id"], got["overall_label"], got["graded_carried"]) == ("O1", "Outstanding", False)
    assert (got["ungraded_event_id"], got["ungraded_carried"]) == ("O3", False)
    later = latest_as_at(con, D(2021, 8, 31), published_within_months=3)
    assert later.filter(later["urn"] == 100002)["graded_event_id"].item() == "O2"
    # the ungraded O3 came before O2: no ungraded inspection since the latest graded one
    assert later.filter(later["urn"] == 100002)["ungraded_event_id"].item() is None


def test_merge_is_not_carried(con: duckdb.DuckDBPyConnection) -> None:
    got = by_urn(con, D(2021, 8, 31))[140003]
    assert got["graded_event_id"] is None and got["graded_carried"] is False


def test_open_means_in_the_newest_file_covering_the_local_authority(con: duckdb.DuckDBPyConnection) -> None:
    in_2021 = by_urn(con, D(2021, 12, 31))
    assert set(in_2021) == {140001, 100002, 140003, 100004, 100009}
    in_2022 = by_urn(con, D(2022, 3, 1))
    # the Leeds-only file replaces Leeds (100009 gone, 100010 open) and closes no-one elsewhere
    assert set(in_2022) == {140001, 100002, 140003, 100004, 100010}
    assert in_2022[100010]["open_in_file_id"] == 2 and in_2022[100004]["graded_event_id"] is None


def test_materialised_for_the_latest_file_date(con: duckdb.DuckDBPyConnection) -> None:
    dates = {r["as_at"] for r in rows(con, "SELECT DISTINCT as_at FROM out.latest_as_at")}
    assert dates == {D(2022, 2, 28)}


def test_no_file_before_the_date_is_a_clear_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(EvenhandError, match="earliest is 2021-08-31"):
        latest_as_at(con, D(2020, 8, 31))
