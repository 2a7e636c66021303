"""Consequences audit: what followed an inadequate judgement (new URN, closure, next judgement).

Fixture (tests/audit/audit_fixture.py), four inadequate judgements:
- 100008, 1 June 2017 -> re-inspected under the same URN on 1 October 2019 (requires improvement), 852 days;
- 100016, 5 February 2018 (special measures) -> academy 140006 (GIAS 'Successor' link), whose graded
  inspection on 14 October 2024 gives no overall grade ('Not judged'), 2,443 days;
- 100009, 3 June 2024 -> not re-inspected by 31 August 2025, still open (censored); its successor
  150009 is on record but not open yet (pending);
- 100020, 8 May 2023 -> in the 2024 file only, absent from the 2025 file, no successor: closed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl
import pytest
from audit_fixture import build, context, national_warehouse

from evenhand.audit import consequences
from evenhand.audit.result import AuditResult


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    return consequences.run(context(build(tmp_path_factory.mktemp("consequences"))))


def test_the_list_of_schools(result: AuditResult) -> None:
    got = {r["urn"]: r for r in result.tables["schools"].iter_rows(named=True)}
    assert sorted(got) == [100008, 100009, 100016, 100020]
    assert (got[100008]["what_followed"], got[100008]["next_label"], got[100008]["days_to_next"]) == (
        "Re-inspected under the same URN", "Requires improvement", (dt.date(2019, 10, 1) - dt.date(2017, 6, 1)).days)
    assert got[100008]["days_to_next"] == 852
    s = got[100016]
    assert (s["what_followed"], s["successor_urn"], s["successor_type"], s["next_urn"], s["next_label"]) == (
        "New URN (academy), then re-inspected", 140006, "Academy Sponsor Led", 140006, "Not judged")
    assert s["days_to_next"] == 2443 and s["category_of_concern"] == "SM"
    # 100009 has a successor on record (150009, July 2025) that no school-level file shows open yet: pending
    assert (got[100009]["what_followed"], got[100009]["next_event_id"]) == ("Not yet re-inspected, open under the same URN", None)
    assert (got[100009]["successor_urn"], got[100009]["successor_pending"]) == (150009, True)
    assert got[100016]["successor_pending"] is False
    assert got[100020]["what_followed"] == "Closed: no successor, absent from the newest school-level file"
    assert got[100020]["urn_open_at_as_at"] is False
    assert got[100020]["school_name"] == "School 100020"
    # listed in date order
    assert result.tables["schools"]["inadequate_start_date"].is_sorted()


def test_shares_and_censoring(result: AuditResult) -> None:
    def fig(key: str) -> tuple[float, int]:
        e = result.figure(key).estimate
        return e.value, e.n

    assert result.figure("inadequate_events").estimate.value == 4
    assert fig("share_new_urn_before_reinspection") == (0.25, 4)
    assert fig("share_new_urn_academy_before_reinspection") == (0.25, 4)
    assert fig("share_closed") == (0.25, 4)
    assert fig("share_reinspected") == (0.5, 4)
    assert fig("share_not_reinspected") == (0.5, 4)
    assert fig("next_requires_improvement") == (0.5, 2)
    assert fig("next_not_judged") == (0.5, 2)
    # good or outstanding among next judgements with an overall grade: 0 of 1 ('Not judged' is not one)
    assert fig("next_good_or_outstanding") == (0.0, 1)
    med = result.figure("median_days_to_next").estimate
    assert (med.value, med.n) == ((852 + 2443) / 2, 2) and math.isnan(med.low)
    assert any("censored" in f for f in result.findings)
    what = result.tables["main"].filter(pl.col("section") == "what followed")
    assert what["count"].sum() == 4 and sum(what["share"].to_list()) == pytest.approx(1.0)


def test_closed_share_has_one_estimate_and_the_new_urn_share_its_bound(result: AuditResult) -> None:
    # referee item 7: the closed share is given once (Wilson share by the as-at date), not also
    # as a cumulative incidence with a second interval; the new-URN share has its lower bound
    keys = {f.key for f in result.figures}
    assert "complete_closed_by_as_at" in keys
    assert not {"complete_closed_2y", "complete_closed_5y"} & keys
    ci = result.tables["cumulative_incidence"]
    assert ci.filter((pl.col("frame") != "all inadequate judgements (pooled)") & (pl.col("cause") == consequences.CAUSES[2])).height == 0
    assert "complete_new_urn_5y_if_unknown_are_state_schools" in keys
    bound = ci.filter(pl.col("frame").str.contains("bound"))
    assert set(bound["cause"].to_list()) == set(consequences.CAUSES[:2])


def test_links_after_the_date_do_not_count(tmp_path: Path) -> None:
    # the same link, dated after 31 August 2025: no successor on record at the date; the lineage still
    # follows Ofsted's own evidence (the previous inspection was made under 100016), so the re-inspection
    # under the academy URN is found and its school type says academy
    from audit_fixture import GIAS

    r = consequences.run(context(build(tmp_path, GIAS.replace("01-09-2019", "01-09-2025"))))
    s = r.tables["schools"].filter(pl.col("urn") == 100016).row(0, named=True)
    assert s["successor_urn"] is None
    assert (s["what_followed"], s["next_urn"]) == ("New URN (academy), then re-inspected", 140006)


def test_chart_and_determinism(tmp_path: Path, result: AuditResult) -> None:
    assert result.chart is not None and result.chart["title"]["text"] == "What followed an inadequate graded judgement"
    again = consequences.run(context(build(tmp_path)))
    assert json.dumps(again.to_dict(), sort_keys=True, default=str) == json.dumps(result.to_dict(), sort_keys=True, default=str)
    assert again.tables["schools"].equals(result.tables["schools"])


@pytest.mark.integration
@pytest.mark.slow
def test_national(tmp_path_factory: pytest.TempPathFactory) -> None:
    r = consequences.run(context(national_warehouse(tmp_path_factory.mktemp("national"))))
    n = int(r.figure("inadequate_events").estimate.value)
    assert n > 1_000 and r.tables["schools"].height == n
    what = r.tables["main"].filter(pl.col("section") == "what followed")
    assert what["count"].sum() == n
    re = r.figure("share_reinspected").estimate
    assert 0 < re.value < 1 and r.figure("median_days_to_next").estimate.n == round(re.value * n)


def test_first_events_and_the_complete_cohort() -> None:
    F = consequences.FOLLOWED
    ev = pl.DataFrame({
        "what_followed": [F[0], F[1], F[3], F[5], F[6], F[3]],
        "days_to_next": [400, 900, None, None, None, None],
        "days_to_successor": [None, 300, 200, None, None, None],
        "days_followed": [2000, 2000, 2000, 2000, 2000, 1500],
        "days_to_last_seen": [400, 900, 200, 30, 2000, 10],
        "inadequate_start_date": [dt.date(2019, 1, 1), dt.date(2018, 9, 1), dt.date(2020, 2, 29), dt.date(2018, 8, 31),
                                  dt.date(2019, 5, 1), dt.date(2019, 5, 1)],
        "in_history": [True, True, True, True, True, False],
        "lineage_id": ["a", "b", "c", "d", "e", "f"],
    })
    fe = consequences.first_events(ev)
    assert fe["first_cause"].to_list() == [1, 2, 2, 3, 0, 2]
    # new URN then re-inspected: the successor's date when earlier; a new URN with no date counts by the as-at date
    assert fe["first_days"].to_list() == [400, 300, 200, 30, 2000, 1500]
    cohort = ev.filter(consequences.in_complete_cohort(ev))["lineage_id"].to_list()
    assert cohort == ["a", "b", "c", "e"]  # before 1 September 2018, or held only in a school-level file: out
