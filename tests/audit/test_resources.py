"""Resources audit: warehouse path on a synthetic warehouse, no planted income effect, real data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
from audit_nation_support import write_nation_warehouse

from evenhand.audit import resources
from evenhand.audit.result import AuditContext, AuditResult
from evenhand.simulate.nation import simulate_nation

AS_AT = dt.date(2024, 8, 31)


@pytest.fixture(scope="module")
def small_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nation = simulate_nation(3000, seed=12)
    return write_nation_warehouse(nation, tmp_path_factory.mktemp("resources") / "wh.duckdb")


def _run(path: Path) -> AuditResult:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return resources.run(AuditContext(con=con, as_at=AS_AT, seed=1, synthetic=True))
    finally:
        con.close()


def test_result_shape_and_determinism(small_path: Path) -> None:
    a, b = _run(small_path), _run(small_path)
    assert json.dumps(a.to_dict(), default=str, sort_keys=True) == json.dumps(
        b.to_dict(), default=str, sort_keys=True
    )
    assert a.name == "resources" and a.findings and a.caveats and a.chart is not None
    cov = a.figure("overall_effectiveness.finance_coverage").estimate
    assert cov.value == 1.0 and cov.n > 0  # every synthetic school has income per pupil
    e = a.figure("overall_effectiveness.or_income_pp_q5").estimate
    assert e.low <= e.value <= e.high and e.n > 0
    main = a.tables["main"]
    assert "income per pupil" in main["quintile_kind"].to_list()
    assert ((main["low"] <= main["share"]) & (main["share"] <= main["high"])).all()
    assert {"schools", "with_finance", "share", "finance_years"} <= set(
        a.tables["coverage"].columns
    )
    assert any("maintained" in c for c in a.caveats)


def test_per_pupil_from_totals_when_not_published() -> None:
    raw = pl.DataFrame({"event_id": ["a", "b", "c"], "pupils": [100.0, 0.0, 50.0]})
    context = pl.DataFrame(
        {
            "event_id": ["a", "a", "b", "c"],
            "measure": ["income_gbp", "pupils", "income_gbp", "income_per_pupil_gbp"],
            "value": [500_000.0, 125.0, 1000.0, 4321.0],
            "academic_year": ["2016/17", "2018/19", "2016/17", "2017/18"],
            "years_apart": [3, 1, 2, 1],
        }
    )
    out = resources.add_finance(raw, context)
    assert out["income_pp"].to_list() == [4000.0, None, 4321.0]  # census pupils beat the row's
    assert out["finance_year"].to_list() == ["2016/17", "2016/17", "2017/18"]


@pytest.mark.slow
def test_no_planted_income_effect_is_found() -> None:
    """Income per pupil has no planted effect given deprivation: the controlled ORs sit near 1."""
    nation = simulate_nation(20_000, seed=20240903)
    frame = resources.prepare(resources.nation_frame(nation))
    result = resources.analyse(frame, areas=("overall_effectiveness",))
    fit = result.fits[("overall_effectiveness", "income_pp")]
    assert fit.ok
    for q in range(2, 6):
        term = f"income_pp_quintile[{q}]"
        se = fit.std_errors[term]
        assert abs(math.log(fit.odds_ratios[term].value)) < 3 * se, (term, fit.odds_ratios[term])
    # while deprivation, planted, is clearly found in the same model
    assert fit.odds_ratios["idaci_quintile[5]"].low > 1.5


@pytest.mark.integration
def test_real_data(tmp_path: Path) -> None:
    from evenhand.core.pipeline import build_warehouse
    from helpers import need_shared_data

    wh = tmp_path / "wh.duckdb"
    build_warehouse(need_shared_data(), wh)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        r = resources.run(AuditContext(con=con, as_at=dt.date(2025, 8, 31)))
    finally:
        con.close()
    cov = r.figure("overall_effectiveness.finance_coverage").estimate
    assert 0 < cov.value < 1 and cov.n > 10_000
    assert r.figure("overall_effectiveness.or_income_pp_q5").estimate.n > 1000
    assert "2017/18" in r.parameters["finance_years"]
