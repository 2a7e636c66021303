"""Headline audit: Ofsted's official-statistics figures from the school-level file.

Unit tests on the nine-school fixture (tests/audit/audit_fixture.py), expected numbers worked
out by hand from its rows; an integration test against the figures Ofsted published for the
2025 release (Main findings, 25 November 2025).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl
import pytest
from audit_fixture import build, context, national_warehouse

from evenhand.audit import headline
from evenhand.audit.result import AuditResult
from evenhand.errors import EvenhandError
from evenhand.stats.intervals import wilson


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    wh = build(tmp_path_factory.mktemp("headline"))
    return headline.run(context(wh))


def share(result: AuditResult, key: str) -> tuple[float, int]:
    e = result.figure(key).estimate
    return e.value, e.n


def test_schools_and_type_shares(result: AuditResult) -> None:
    assert result.figure("schools").estimate.value == 9
    # maintained: 100001, 100003, 100005, 100007, 100008, 100009; academies: 140002, 140006; free school: 140004
    assert share(result, "share_maintained") == (6 / 9, 9)
    assert share(result, "share_academy") == (2 / 9, 9)
    assert share(result, "share_free_school") == (1 / 9, 9)
    assert share(result, "share_academy_or_free_school") == (3 / 9, 9)
    e = result.figure("share_maintained").estimate
    assert (e.low, e.high) == (wilson(6, 9).low, wilson(6, 9).high)


def test_current_framework_shares(result: AuditResult) -> None:
    # graded since 1 September 2019: all but 100003 (March 2018) and 100005 (May 2016)
    assert share(result, "share_graded_current_framework") == (7 / 9, 9)
    # 100003 adds an ungraded inspection in January 2025; 100005 has neither
    assert share(result, "share_graded_or_ungraded_current_framework") == (8 / 9, 9)


def test_key_judgements_in_the_year(result: AuditResult) -> None:
    # graded in 2024/25: 100001 (1, 2, 1, 2), 140002 (3, 2, 2, 3), 140006 (4, 3, 2, 4)
    assert result.figure("graded_in_year").estimate.value == 3
    assert share(result, "good_or_outstanding_quality_of_education") == (1 / 3, 3)
    assert share(result, "good_or_outstanding_behaviour_and_attitudes") == (2 / 3, 3)
    assert share(result, "good_or_outstanding_personal_development") == (1.0, 3)
    assert share(result, "good_or_outstanding_leadership_and_management") == (1 / 3, 3)
    assert share(result, "overall_not_judged") == (1.0, 3)
    assert any("Not judged" in f for f in result.findings)


def test_not_judged_from_2024_is_definitional_without_an_interval(result: AuditResult) -> None:
    # referee item 10: graded inspections from September 2024 carry no overall grade, so the
    # 100% 'Not judged' is definitional: no interval on it anywhere (figure, table, finding)
    e = result.figure("overall_not_judged").estimate
    assert math.isnan(e.low) and math.isnan(e.high)
    assert e.method.startswith("definitional")
    (line,) = [f for f in result.findings if "Not judged" in f]
    assert "100% (all 3)" in line and "CI" not in line and "by definition" in line
    row = result.tables["main"].filter(pl.col("measure") == "Overall effectiveness: not judged")
    assert row["low"].to_list() == [None] and row["high"].to_list() == [None]
    # the observed shares beside it keep their intervals (PD is 3 of 3 good or better, observed)
    assert not math.isnan(result.figure("good_or_outstanding_personal_development").estimate.low)


def test_ungraded_outcomes_in_the_year(result: AuditResult) -> None:
    assert result.figure("ungraded_in_year").estimate.value == 3
    for code in ("standards_maintained", "improved_significantly", "some_aspects_not_as_strong"):
        assert share(result, f"ungraded_{code}") == (1 / 3, 3)
    assert share(result, "ungraded_maintained_or_improved") == (2 / 3, 3)


def test_result_is_complete_and_deterministic(tmp_path: Path, result: AuditResult) -> None:
    assert result.chart is not None and result.chart["title"]["text"].startswith("Graded inspections in 2024/25")
    assert result.inputs and all(i["sha256"] for i in result.inputs)
    assert "2019-09-01" in result.method and result.caveats
    assert result.small_n  # every share here rests on fewer than 30
    again = headline.run(context(build(tmp_path)))  # a second build from the same files
    assert json.dumps(again.to_dict(), sort_keys=True, default=str) == json.dumps(result.to_dict(), sort_keys=True, default=str)
    assert again.tables["main"].equals(result.tables["main"])


def test_academic_year_and_framework() -> None:
    assert headline.academic_year(dt.date(2025, 8, 31)) == ("2024/25", dt.date(2024, 9, 1))
    assert headline.academic_year(dt.date(2024, 12, 31)) == ("2024/25", dt.date(2024, 9, 1))
    assert headline.current_framework(dt.date(2025, 8, 31))[0] == dt.date(2019, 9, 1)
    assert headline.current_framework(dt.date(2026, 2, 28))[0] == dt.date(2025, 11, 10)


def test_no_file_for_the_date_is_a_clear_error(tmp_path: Path) -> None:
    ctx = context(build(tmp_path), dt.date(2025, 7, 31))
    with pytest.raises(EvenhandError, match=r"no school-level file is dated 2025-07-31.*2024-08-31, 2025-08-31"):
        headline.run(ctx)


@pytest.mark.integration
@pytest.mark.slow
def test_national_2025_matches_the_published_release(tmp_path_factory: pytest.TempPathFactory) -> None:
    wh = national_warehouse(tmp_path_factory.mktemp("national"))
    r = headline.run(context(wh))
    assert r.figure("schools").estimate.value == 21_990
    # the published percentages (Main findings, as at 31 August 2025), to the nearest whole number
    published = {
        "share_maintained": 48,
        "share_academy_or_free_school": 52,
        "share_graded_current_framework": 60,
        "share_graded_or_ungraded_current_framework": 98,
        "good_or_outstanding_quality_of_education": 83,
        "good_or_outstanding_behaviour_and_attitudes": 94,
        "good_or_outstanding_personal_development": 96,
        "good_or_outstanding_leadership_and_management": 88,
        "ungraded_maintained_or_improved": 95,
    }
    for key, pct in published.items():
        assert round(100 * r.figure(key).estimate.value) == pct, key
    assert r.figure("overall_not_judged").estimate.value == 1.0
    assert r.parameters["file"].endswith(".csv")  # the CSV and Parquet copies share the date: one is used
