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
from evenhand.stats.estimate import Estimate

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
    e = a.figure("overall_effectiveness.or_income_pp_q5").estimate
    assert e.low <= e.value <= e.high and e.n > 0
    main = a.tables["main"]
    assert "income per pupil" in main["quintile_kind"].to_list()
    assert ((main["low"] <= main["share"]) & (main["share"] <= main["high"])).all()
    cov = a.tables["coverage"]
    assert set(cov["finance_year"].to_list()) == {"2017/18"}  # 1-2 years before, own URN
    assert set(cov["pupils_gap"].drop_nulls().to_list()) == {1}  # January 2019 census
    assert any("maintained" in c for c in a.caveats)
    assert "Unit: one school lineage" in a.method
    assert a.to_dict()["frames"]["main"]["denominator"].startswith("shares are of the lineages")
    assert any(f.startswith("The claim that grades penalise") for f in a.findings)


def _events(rows: list[tuple[str, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "event_id": e, "urn": u, "lineage_id": lin, "area": "overall_effectiveness",
                "grade": "2", "start_date": dt.date.fromisoformat(d), "idaci_quintile": 3,
                "phase": "Primary", "school_type": "Community School", "region": "London",
            }
            for e, u, lin, d in rows
        ],
        schema=resources.EVENTS_SCHEMA,
    )


def _context(rows: list[tuple[int, str, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"urn": u, "measure": m, "academic_year": y, "value": v} for u, m, y, v in rows],
        schema=resources.CONTEXT_SCHEMA,
    )


def test_clean_frame_rules() -> None:
    """Finance of the URN itself 1-2 years before; pupils of that year's census or the next,
    taken before the inspection; published per-pupil values win; one row per lineage."""
    events = _events(
        [
            ("a", 1, "L1", "2019-03-05"),  # 2018/19: finance 2017/18 (1 year), census Jan 2019
            ("a2", 1, "L1", "2020-01-10"),  # a later inspection of the same lineage: not used
            ("b", 2, "L2", "2018-10-02"),  # before the January 2019 census: no pupils -> out
            ("c", 3, "L3", "2023-05-01"),  # finance 5 years before: out
            ("d", 4, "L4", "2019-06-01"),  # per pupil as published (CFR)
            ("e", 5, "L5", "2019-06-01"),  # only a predecessor's finance (urn 6): out
        ]
    )
    context = _context(
        [
            (1, "income_gbp", "2017/18", 500_000.0), (1, "pupils", "2018/19", 125.0),
            (1, "fsm_pct", "2018/19", 20.0),
            (2, "income_gbp", "2017/18", 1_000_000.0), (2, "pupils", "2018/19", 250.0),
            (3, "income_gbp", "2017/18", 700_000.0), (3, "pupils", "2018/19", 100.0),
            (4, "income_per_pupil_gbp", "2017/18", 4321.0), (4, "income_gbp", "2017/18", 1.0),
            (4, "pupils", "2018/19", 80.0),
            (6, "income_gbp", "2017/18", 900_000.0), (5, "pupils", "2018/19", 200.0),
        ]
    )
    out = resources.clean_frame(events, context).sort("event_id")
    assert out["event_id"].to_list() == ["a", "d"]
    assert out["income_pp"].to_list() == [4000.0, 4321.0]
    assert out["finance_year"].to_list() == ["2017/18", "2017/18"]
    assert out["pupils_gap"].to_list() == [1, 1]
    assert out["fsm_pct"].to_list()[0] == 20.0


def test_fsm_alternatives_for_the_sensitivity_check() -> None:
    """Referee item 6: the FSM control's alternatives (ever-6 share; NUMFSM / NOR) reach the frame."""
    events = _events([("a", 1, "L1", "2019-03-05"), ("b", 2, "L2", "2019-03-05")])
    context = _context(
        [
            (1, "income_gbp", "2017/18", 500_000.0), (1, "pupils", "2018/19", 125.0),
            (1, "fsm6_pct", "2018/19", 30.0), (1, "fsm_pupils", "2018/19", 25.0),
            (2, "income_gbp", "2017/18", 500_000.0), (2, "pupils", "2018/19", 100.0),
            (2, "fsm_pct", "2018/19", 12.0), (2, "fsm6_pct", "2018/19", 18.0), (2, "fsm_pupils", "2018/19", 99.0),
        ]
    )
    out = resources.clean_frame(events, context).sort("event_id")
    assert out["fsm_pct"].to_list() == [30.0, 12.0]  # the model's control: PNUMFSM, else PNUMFSMEVER
    assert out["fsm_ever_pct"].to_list() == [30.0, 18.0]
    assert out["fsm_known_pct"].to_list() == [20.0, 12.0]  # 25 of 125; PNUMFSM as published wins


def test_income_verdict_is_borderline_when_the_fsm_control_flips_it() -> None:
    from types import SimpleNamespace

    main = Estimate(1.38, 0.89, 2.12, 1621)
    alt = Estimate(1.54, 1.003, 2.37, 1621)
    text = resources._sensitivity_text(main, {"fsm_known_pct": alt})
    assert "1.54 (95% CI 1.00 to 2.37; n = 1,621)" in text and "borderline" in text
    assert resources._sensitivity_text(main, {"fsm_known_pct": Estimate(1.40, 0.90, 2.2, 1621)}) == ""
    fit = SimpleNamespace(odds_ratios={"income_pp_quintile[5]": main})
    analysis = resources.ResourcesAnalysis(pl.DataFrame(), pl.DataFrame(), {("overall_effectiveness", "income_pp"): fit},  # type: ignore[dict-item]
                                           pl.DataFrame(), {}, {("overall_effectiveness", "income_pp", "fsm_known_pct"): alt})
    verdict = resources._claim_verdict(analysis)
    assert "borderline" in verdict and "no evidence either way" not in verdict
    assert "0.89 to 2.12" in verdict and "1.00 to 2.37" in verdict
    analysis.sensitivity.clear()
    assert "no evidence either way" in resources._claim_verdict(analysis)


def test_quintiles_are_cut_within_finance_year_and_phase() -> None:
    """Nominal pounds of two years: each year's schools spread over all five quintiles."""
    rows, ctx = [], []
    for i in range(60):
        fy = 2016 if i < 30 else 2017
        rows.append((f"e{i}", 100 + i, f"L{i}", f"{fy + 2}-03-01"))
        money = (1.5 if fy == 2017 else 1.0) * (3000.0 + 10 * (i % 30))  # later year: more pounds
        ctx += [
            (100 + i, "income_gbp", f"{fy}/{(fy + 1) % 100:02d}", money * 100),
            (100 + i, "pupils", f"{fy}/{(fy + 1) % 100:02d}", 100.0),
        ]
    out = resources.clean_frame(_events(rows), _context(ctx))
    for fy in ("2016/17", "2017/18"):
        q = out.filter(pl.col("finance_year") == fy)["income_pp_quintile"]
        assert sorted(set(q.to_list())) == ["1", "2", "3", "4", "5"], fy


@pytest.mark.slow
def test_clean_frame_finds_no_unplanted_money_effect_and_the_old_frame_does() -> None:
    """Income per pupil has no planted effect. Planted: conversion after weak grades
    (predecessor finance), finance of several years in nominal pounds, one census, and
    Ofsted's current pupil count fallen where the school was judged weak. The clean frame's
    odds ratio covers 1; the old frame (latest inspection per URN, nearest finance however old,
    predecessor finance, Ofsted pupils as fallback, quintiles over pooled years) finds an
    'effect' of money."""
    from legacy_frames import old_resources_frame

    from evenhand.audit import intake
    from evenhand.simulate.frame_bias import add_lineages, finance_context
    from evenhand.simulate.nation import NationParams
    from evenhand.stats.ordinal import fit_ordinal

    nation = add_lineages(
        simulate_nation(20_000, seed=41, params=NationParams(thresholds=(-2.0, 1.2, 2.6))),
        seed=2,
        p_convert=0.9,
        p_convert_requires_improvement=0.5,
    )
    context = finance_context(nation, seed=3, pupil_loss_if_weak=0.3)
    new = resources.analyse(resources.nation_frame(nation, context), areas=("overall_effectiveness",))
    e_new = new.fits[("overall_effectiveness", "income_pp")].odds_ratios["income_pp_quintile[5]"]
    assert e_new.covers(1.0), e_new
    old = old_resources_frame(nation, context)
    cats = ["income_pp_quintile", "phase", "idaci_quintile", "region", "year"]
    fit_old = fit_ordinal(
        old, "grade", intake.GRADES, [*cats[:2], "log_pupils", *cats[2:]], cats,
        {"income_pp_quintile": "1", "idaci_quintile": "1"},
    )
    e_old = fit_old.odds_ratios["income_pp_quintile[5]"]
    assert e_old.low > 1.0, e_old


@pytest.mark.slow
def test_no_planted_income_effect_is_found() -> None:
    """Income per pupil has no planted effect given deprivation: the controlled ORs sit near 1."""
    nation = simulate_nation(20_000, seed=20240903)
    result = resources.analyse(resources.nation_frame(nation), areas=("overall_effectiveness",))
    fit = result.fits[("overall_effectiveness", "income_pp")]
    assert fit.ok
    for q in range(2, 6):
        term = f"income_pp_quintile[{q}]"
        se = fit.std_errors[term]
        assert abs(math.log(fit.odds_ratios[term].value)) < 3 * se, (term, fit.odds_ratios[term])
    # while deprivation, planted, is clearly found in the same model
    assert fit.odds_ratios["idaci_quintile[5]"].low > 1.2


@pytest.mark.integration
def test_real_data(shared_warehouse: Path) -> None:
    """The clean frame on the real files, and its headline odds ratio recomputed by a plain
    second route: SQL over core.context and core.events, quintiles by numpy, the model by
    statsmodels directly."""
    import numpy as np
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    con = duckdb.connect(str(shared_warehouse), read_only=True)
    try:
        r = resources.run(AuditContext(con=con, as_at=dt.date(2025, 8, 31)))
        plain = con.sql(
            """
            WITH ev AS (
                SELECT e.event_id, e.urn, e.start_date, j.code AS grade,
                       year(e.start_date) - CASE WHEN month(e.start_date) < 9 THEN 1 ELSE 0 END AS ey
                FROM core.events e JOIN core.judgements j USING (event_id)
                WHERE e.kind = 'graded' AND j.area = 'overall_effectiveness' AND j.graded
                  AND j.scale = 'four_point' AND j.code IN ('1','2','3','4')
                  AND e.start_date BETWEEN DATE '2019-02-01' AND DATE '2025-08-31'
            ),
            inc AS (SELECT urn, arg_max(value, file_id) AS income FROM core.context
                    WHERE measure = 'income_gbp' AND academic_year = '2017/18' GROUP BY urn),
            cen AS (SELECT urn, arg_max(value, file_id) FILTER (measure = 'pupils') AS pupils,
                           arg_max(value, file_id) FILTER (measure = 'fsm_pct') AS fsm,
                           arg_max(value, file_id) FILTER (measure = 'fsm6_pct') AS fsm6
                    FROM core.context WHERE academic_year = '2018/19' GROUP BY urn),
            sch AS (  -- the school row of the file that reported the event
                SELECT es.event_id, arg_max(s.idaci_quintile, (s.idaci_quintile IS NOT NULL, s.as_at, es.file_id)) AS idaci,
                       arg_max(s.phase, (s.idaci_quintile IS NOT NULL, s.as_at, es.file_id)) AS phase,
                       arg_max(s.ofsted_region, (s.idaci_quintile IS NOT NULL, s.as_at, es.file_id)) AS region
                FROM core.event_sources es JOIN core.schools s ON s.file_id = es.file_id AND s.row_number = es.row_number
                GROUP BY es.event_id
            ),
            firsts AS (
                SELECT ev.*, row_number() OVER (PARTITION BY coalesce(l.lineage_id, 'L' || ev.urn)
                                                ORDER BY ev.start_date, ev.event_id) AS k
                FROM ev JOIN inc USING (urn) JOIN cen USING (urn)
                LEFT JOIN out.lineage l USING (urn)
                WHERE ev.ey IN (2018, 2019) AND cen.pupils > 0
            )
            SELECT f.grade, f.ey, inc.income / cen.pupils AS ipp, cen.pupils, coalesce(cen.fsm, cen.fsm6) AS fsm,
                   s.idaci, s.phase, s.region
            FROM firsts f JOIN inc USING (urn) JOIN cen USING (urn) JOIN sch s USING (event_id)
            WHERE f.k = 1
            """
        ).pl()
    finally:
        con.close()
    e = r.figure("overall_effectiveness.or_income_pp_q5").estimate
    assert e.n > 1000
    assert "2017/18" in r.parameters["finance_years"]
    assert "January 2019" in r.frames["main"].snapshot
    # plain route: quintiles within phase by numpy, dummies by hand, statsmodels OrderedModel
    df = plain
    q = np.zeros(df.height, dtype=int)
    for ph in df["phase"].unique().to_list():
        mask = (df["phase"] == ph).to_numpy()
        if mask.sum() >= 25:
            cuts = np.quantile(df["ipp"].to_numpy()[mask], [0.2, 0.4, 0.6, 0.8])
            q[mask] = 1 + np.searchsorted(cuts, df["ipp"].to_numpy()[mask], side="left")
    df = df.with_columns(pl.Series("q", q)).filter(pl.col("q") > 0).drop_nulls()
    q = df["q"].to_numpy()
    cols = [(q == k).astype(float) for k in (2, 3, 4, 5)]
    names = ["q2", "q3", "q4", "q5"]
    for col, ref in (("idaci", 1), ("phase", "Primary"), ("region", None), ("ey", None)):
        values = df[col].to_numpy()
        levels = sorted(set(values.tolist()))
        ref = levels[0] if ref is None else ref
        for lev in levels:
            if lev != ref:
                cols.append((values == lev).astype(float))
                names.append(f"{col}={lev}")
    for c in (np.log(df["pupils"].to_numpy()), df["fsm"].to_numpy()):
        cols.append((c - c.mean()) / c.std())
    x = np.column_stack(cols)
    y = df["grade"].cast(pl.Int64).to_numpy() - 1
    res = OrderedModel(y, x, distr="logit").fit(method="bfgs", maxiter=5000, disp=0)
    or_plain = float(np.exp(res.params[names.index("q5")]))
    assert df.height == e.n, (df.height, e.n)
    assert or_plain == pytest.approx(e.value, rel=0.02), (or_plain, e)
