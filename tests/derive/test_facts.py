"""out.event_flags and out.snapshot_schools: the facts derived once, on tiny hand-made core tables.

Working days are counted by hand: Monday 6 March 2017 to Monday 3 April 2017 is 20 working
days (four weeks, no bank holiday).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from tiny_warehouse import (
    GOOD,
    INADEQUATE,
    NOT_JUDGED,
    OUTSTANDING,
    RI,
    SATISFACTORY,
    D,
    Tiny,
    rows,
)

from evenhand import maps
from evenhand.derive.as_at import latest_as_at
from evenhand.derive.pipeline import derive_all
from evenhand.metadata import out_tables as O


def _eif(t: Tiny, event_id: str, urn: int, start: Any, oe: tuple[Any, ...], sg: str, qoe: str, ba: str, pd: str, lm: str) -> None:
    t.event(event_id, urn, start, oe, published=start)
    t.judge(event_id, "safeguarding_effective", sg, "safeguarding_effective")
    for area, code in (("quality_of_education", qoe), ("behaviour_and_attitudes", ba), ("personal_development", pd),
                       ("leadership_and_management", lm)):
        t.judge(event_id, area, code)


@pytest.fixture
def flags(tmp_path: Path) -> dict[str, dict[str, Any]]:
    t = Tiny(tmp_path / "w.duckdb")
    # safeguarding
    _eif(t, "LIM", 100001, D(2021, 10, 5), INADEQUATE, "No", "2", "2", "1", "4")
    _eif(t, "BEHAVIOUR", 100002, D(2021, 10, 5), INADEQUATE, "No", "2", "3", "2", "4")
    _eif(t, "EFFECTIVE", 100003, D(2021, 10, 5), GOOD, "Yes", "2", "2", "2", "2")
    _eif(t, "LEADERSHIP", 100004, D(2024, 10, 8), NOT_JUDGED, "No", "1", "2", "2", "4")
    t.event("OLD", 100005, D(2017, 3, 7), INADEQUATE, published=D(2017, 4, 3))
    t.judge("OLD", "safeguarding_effective", "No", "safeguarding_effective")
    t.event("RC", 100006, D(2025, 12, 2), None, kind="report_card", published=D(2026, 1, 20))
    t.judge("RC", "safeguarding_standards", "Not met", "met_not_met")
    # cliff edges, following the lineage across an academy conversion
    t.event("C1", 100011, D(2012, 11, 6), OUTSTANDING, published=D(2012, 12, 1))
    t.event("C2", 140011, D(2018, 1, 9), INADEQUATE, published=D(2018, 2, 1))
    t.link(100011, 140011, "Successor", both="Predecessor")
    t.event("S1", 100012, D(2011, 5, 10), SATISFACTORY)
    t.event("S2", 100012, D(2013, 1, 15), INADEQUATE)
    t.event("G1", 100013, D(2014, 1, 14), GOOD)
    t.event("G2", 100013, D(2016, 1, 12), RI)
    # publication targets (cif_2015: 19 working days, 28 with further quality assurance)
    t.event("ON_TIME", 100021, D(2017, 3, 6), GOOD, published=D(2017, 4, 3))  # 20 from the start
    t.event("LATE", 100022, D(2017, 3, 6), GOOD, published=D(2017, 4, 4))  # 21 from the start
    t.event("LATE_END", 100023, D(2017, 3, 6), GOOD, end=D(2017, 3, 7), published=D(2017, 4, 4))  # 20 from the end
    t.event("CONCERN", 100024, D(2017, 3, 6), RI, published=D(2017, 4, 4))
    t.events[-1]["category_of_concern"] = "SWK"
    t.event("NO_TARGET", 100025, D(2013, 3, 4), GOOD, published=D(2013, 6, 3))
    t.event("BEFORE", 100026, D(2017, 3, 6), GOOD, published=D(2017, 3, 1))
    # the EIF's target changed with the 2020-21 post-inspection arrangements: 30 (unverified) before
    # September 2020, 38 after; both waits are 35 working days from the start (seven weeks)
    t.event("EIF_EARLY", 100027, D(2019, 10, 7), GOOD, published=D(2019, 11, 25))
    t.event("EIF_LATE", 100028, D(2022, 3, 7), GOOD, published=D(2022, 4, 25))  # less Good Friday and Easter Monday: 33
    t.event("EIF_LATE_CONCERN", 100029, D(2022, 3, 7), INADEQUATE, published=D(2022, 4, 25))
    t.events[-1]["category_of_concern"] = "SM"
    con: duckdb.DuckDBPyConnection = t.write()
    derive_all(con)
    return {r["event_id"]: r for r in rows(con, "SELECT * FROM out.event_flags")}


def test_safeguarding_limited_needs_all_three_education_judgements_good(flags: dict[str, dict[str, Any]]) -> None:
    assert flags["LIM"]["safeguarding_limited"] is True and flags["LIM"]["classifiable"] is True
    b = flags["BEHAVIOUR"]
    assert (b["safeguarding_limited"], b["quality_of_education_good"], b["education_good"]) == (False, True, False)
    assert flags["EFFECTIVE"]["safeguarding_limited"] is False and flags["EFFECTIVE"]["safeguarding_recorded"] is True
    # no overall grade from September 2024: inadequate leadership is enough
    assert flags["LEADERSHIP"]["safeguarding_limited"] is True
    # before September 2019 the education judgements do not exist: not classifiable, not limited
    assert (flags["OLD"]["classifiable"], flags["OLD"]["safeguarding_limited"], flags["OLD"]["safeguarding_not_effective"]) == (False, False, True)


def test_report_card_not_met_is_its_own_fact(flags: dict[str, dict[str, Any]]) -> None:
    rc = flags["RC"]
    assert (rc["safeguarding_not_met"], rc["safeguarding_not_effective"], rc["safeguarding_limited"]) == (True, True, False)
    assert rc["publication_target_working_days"] is None and rc["beyond_target"] is None
    assert not any(f["safeguarding_not_met"] for k, f in flags.items() if k != "RC")


def test_cliff_edge_follows_the_lineage_and_never_crosses_a_change_of_meaning(flags: dict[str, dict[str, Any]]) -> None:
    c = flags["C2"]
    assert (c["cliff_edge"], c["overall_change"], c["previous_graded_event_id"], c["previous_overall_label"]) == (True, 3, "C1", "Outstanding")
    assert c["lineage_id"] == "L100011"
    # grade 3 meant 'Satisfactory' in 2011 and 'Requires improvement' by 2013: not comparable
    assert (flags["S2"]["cliff_edge"], flags["S2"]["overall_change"]) == (False, None)
    assert (flags["G2"]["cliff_edge"], flags["G2"]["overall_change"]) == (False, 1)
    assert flags["C1"]["previous_graded_event_id"] is None and flags["C1"]["cliff_edge"] is False


def test_publication_target_from_the_map_and_the_delay_rule(flags: dict[str, dict[str, Any]]) -> None:
    on_time, late, late_end, concern = (flags[k] for k in ("ON_TIME", "LATE", "LATE_END", "CONCERN"))
    assert (on_time["publication_target_working_days"], on_time["publication_target_level"]) == (19, "normal")
    # 20 working days from the start: the inspection may have ended a day later, so not flagged; the upper bound is
    assert (on_time["publication_delay_working_days"], on_time["publication_delay_from"]) == (20, "start")
    assert (on_time["beyond_target"], on_time["beyond_target_upper_bound"]) == (False, True)
    assert (late["beyond_target"], late["beyond_target_upper_bound"]) == (True, True)
    # from the end date the count is exact: 20 > 19
    assert (late_end["publication_delay_working_days"], late_end["publication_delay_from"], late_end["beyond_target"]) == (20, "end", True)
    # a category of concern is held to the longer target
    assert (concern["publication_target_working_days"], concern["publication_target_level"], concern["beyond_target"]) == (
        28, "further quality assurance", False)
    src = {t.source for t in maps.publication_targets() if t.era == "cif_2015"}
    assert on_time["publication_target_source"] in src and concern["publication_target_source"] in src
    # the target in force on the start date (maps/publication_targets.csv valid_from / valid_to)
    early, late21, conc = flags["EIF_EARLY"], flags["EIF_LATE"], flags["EIF_LATE_CONCERN"]
    assert (early["publication_target_working_days"], early["publication_delay_working_days"], early["beyond_target"]) == (30, 35, True)
    assert (late21["publication_target_working_days"], late21["publication_delay_working_days"], late21["beyond_target"]) == (38, 33, False)
    # one target since 2021 for every report: a category of concern has no longer one
    assert (conc["publication_target_working_days"], conc["publication_target_level"]) == (38, "normal")
    verified = {t.target_working_days for t in maps.publication_targets() if t.verified == "yes"}
    assert verified == {38} and late21["publication_target_source"].startswith("Ofsted, Methodology")
    # no target recorded before 2015: no target, no flag (never a fallback)
    assert (flags["NO_TARGET"]["publication_target_working_days"], flags["NO_TARGET"]["beyond_target"]) == (None, None)
    # a publication date before the start is a data error: no delay, no flag
    assert (flags["BEFORE"]["publication_delay_working_days"], flags["BEFORE"]["beyond_target"]) == (None, None)


def test_every_event_has_one_row(flags: dict[str, dict[str, Any]]) -> None:
    assert len(flags) == 21  # every event written above


# --- snapshots ---------------------------------------------------------------------------


@pytest.fixture
def snap(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    t = Tiny(tmp_path / "w.duckdb")
    t.event("P2", 100001, D(2016, 6, 7), GOOD, published=D(2016, 7, 1))
    t.link(100001, 140001, "Successor", both="Predecessor")
    t.event("O1", 100002, D(2017, 3, 7), OUTSTANDING, published=D(2017, 4, 1))
    t.event("L1", 100010, D(2021, 11, 9), INADEQUATE, published=D(2022, 1, 10))
    for urn in (140001, 100002):
        t.school(urn, D(2021, 8, 31), file_id=1, ofsted_region="London")
    for i, region in enumerate(maps.ofsted_regions()):  # the 2021 file covers every region: national
        t.school(200001 + i, D(2021, 8, 31), file_id=1, la=f"{region} LA", ofsted_region=region)
    leeds = "North East, Yorkshire and the Humber"
    t.school(100010, D(2021, 8, 31), file_id=1, la="Leeds", ofsted_region=leeds)
    t.school(100010, D(2022, 2, 28), file_id=2, la="Leeds", ofsted_region=leeds)
    con = t.write()
    derive_all(con)
    return con


def test_one_row_per_school_of_each_snapshot_file(snap: duckdb.DuckDBPyConnection) -> None:
    got = {(r["file_id"], r["urn"]): r for r in rows(snap, "SELECT * FROM out.snapshot_schools")}
    n_regions = len(maps.ofsted_regions())
    assert len(got) == 3 + n_regions + 1 and {k for k in got if k[0] == 2} == {(2, 100010)}
    england = got[(1, 140001)]
    assert (england["as_at"], england["national"], england["coverage"]) == (D(2021, 8, 31), True, "England")
    # carried from the predecessor, as Ofsted's statistics do
    assert (england["graded_event_id"], england["graded_urn"], england["graded_carried"]) == ("P2", 100001, True)
    leeds = got[(2, 100010)]
    assert (leeds["national"], leeds["coverage"], leeds["graded_event_id"], leeds["overall_label"]) == (False, "Leeds only", "L1", "Inadequate")
    assert got[(1, 100010)]["graded_event_id"] is None  # L1 started after 31 August 2021


def test_snapshot_rows_follow_the_same_rule_as_latest_as_at(snap: duckdb.DuckDBPyConnection) -> None:
    """The rows of the national snapshot are exactly latest_as_at at its date (one rule)."""
    cols = [f.name for f in O.LATEST_AS_AT.fields]
    ours = pl.DataFrame(rows(snap, "SELECT * FROM out.snapshot_schools WHERE file_id = 1 ORDER BY urn"), infer_schema_length=None).select(cols)
    theirs = latest_as_at(snap, D(2021, 8, 31)).sort("urn").select(cols)
    assert ours.equals(theirs)
