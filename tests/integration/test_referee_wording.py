"""Integration: the referee's items 4-7 and 10 (notes/referee.md) on the real files — the numbers
it recomputed from the raw files, in the wording and frame the audits now give them."""

from __future__ import annotations

import datetime as dt
import math
import re

import duckdb
import pytest

from evenhand.audit import consequences, headline, intake, resources
from evenhand.audit.result import AuditContext, AuditResult
from evenhand.core.pipeline import build_warehouse
from helpers import need_shared_data

pytestmark = pytest.mark.integration
AS_AT = dt.date(2025, 8, 31)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AuditResult]:
    data = need_shared_data()
    wh = tmp_path_factory.mktemp("wh") / "evenhand.duckdb"
    build_warehouse(data, wh)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        ctx = AuditContext(con=con, as_at=AS_AT)
        return {r.name: r for r in (m.run(ctx) for m in (headline, intake, resources, consequences))}
    finally:
        con.close()


def test_not_judged_is_definitional(results: dict[str, AuditResult]) -> None:
    e = results["headline"].figure("overall_not_judged").estimate
    assert (e.value, e.n) == (1.0, 3_269) and math.isnan(e.low) and math.isnan(e.high)
    (line,) = [f for f in results["headline"].findings if "Not judged" in f]
    assert "100% (all 3,269)" in line and "CI" not in line


def test_intake_gap_in_points_and_the_recent_progress_check(results: dict[str, AuditResult]) -> None:
    r = results["intake"]
    d = r.figure("overall_effectiveness.good_or_better_difference")
    assert d.unit == "percentage points" and round(100 * d.estimate.value, 1) == 4.9
    assert any("a gap of 4.9 percentage points (95% CI 3.7 to 6.1;" in f for f in r.findings)
    key = r.findings[0]
    assert "24.6% (95% CI 20.0% to 29.2%; n = 8,133)" in key
    assert "43.8% (95% CI 23.8% to 63.7%; n = 2,175)" in key and "unexplained" not in key
    den = r.frames["main"].denominator
    assert "PNUMFSMEVER" in den and "2018/19" in den and "all phases pooled" in den
    assert re.search(r"started on or after 2019-\d\d-\d\d", den)
    fsm = r.figure("overall_effectiveness.good_or_better_fsm_q1")
    assert "at any time in the last six years" in fsm.label


def test_resources_income_verdict_is_borderline(results: dict[str, AuditResult]) -> None:
    r = results["resources"]
    e = r.figure("overall_effectiveness.or_income_pp_q5").estimate
    assert (round(e.value, 2), round(e.low, 2), round(e.high, 2)) == (1.38, 0.89, 2.12)
    alt = r.figure("overall_effectiveness.or_income_pp_q5_fsm_known_pct").estimate
    assert alt.low > 1 and alt.n == e.n  # the referee: 1.77 (1.14-2.75) on its own rows and model
    assert "borderline" in r.findings[0] and "sensitivity check" in r.findings[0].lower()
    assert any("8.6 percentage points (95% CI 1.2 to 15.9; n = 652)" in f for f in r.findings)


def test_consequences_bounds_arithmetic_and_one_interval(results: dict[str, AuditResult]) -> None:
    r = results["consequences"]
    assert r.figure("complete_cohort_events").estimate.value == 315
    head, low = r.figure("complete_new_urn_5y").estimate, r.figure("complete_new_urn_5y_if_unknown_are_state_schools").estimate
    assert round(100 * head.value, 1) == 67.9 and low.n == 410 and round(100 * low.value) == 52
    text = " ".join(r.findings)
    assert "410 inadequate judgements of the period; 95 are of URNs" in text and "93 look closed" in text
    assert "2 re-inspected under the same URN" in text and "leaving the 315" in text
    closed = r.figure("complete_closed_by_as_at").text()
    assert closed.startswith("6.0% (95% CI 3.9% to 9.2%") and "3.8%" not in text
