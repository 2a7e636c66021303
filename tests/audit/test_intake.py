"""Intake audit: warehouse path on a synthetic warehouse, recovery of planted effects, real data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest
from audit_nation_support import write_nation_warehouse

from evenhand.audit import intake
from evenhand.audit.result import AuditContext, AuditResult
from evenhand.simulate.nation import simulate_nation

AS_AT = dt.date(2024, 8, 31)
MODEL_COLS = [
    "urn",
    "area",
    "grade",
    "idaci_quintile",
    "phase",
    "log_pupils",
    "type_group",
    "region",
    "year",
    "effectiveness",
    "fsm_quintile",
]


def _run(path: Path, seed: int = 3) -> AuditResult:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return intake.run(AuditContext(con=con, as_at=AS_AT, seed=seed, synthetic=True))
    finally:
        con.close()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    nation = simulate_nation(3000, seed=11)
    path = write_nation_warehouse(nation, tmp_path_factory.mktemp("intake") / "wh.duckdb")
    return path, nation


def test_warehouse_path_matches_the_nation_frame(small: tuple[Path, object]) -> None:
    path, nation = small
    con = duckdb.connect(str(path), read_only=True)
    try:
        ctx = AuditContext(con=con, as_at=AS_AT)
        from_wh = intake.prepare(intake.warehouse_frame(ctx)).select(MODEL_COLS)
    finally:
        con.close()
    from_nation = intake.prepare(intake.nation_frame(nation)).select(MODEL_COLS)  # type: ignore[arg-type]
    assert from_wh.height == from_nation.height > 0
    exact = [c for c in MODEL_COLS if c != "effectiveness"]
    assert from_wh.select(exact).equals(from_nation.select(exact))
    gap = (from_wh["effectiveness"] - from_nation["effectiveness"]).abs().max()
    assert gap is not None and float(gap) < 1e-9  # type: ignore[arg-type]
    # one row per school and judgement: the latest graded event
    assert from_wh.select("urn", "area").is_duplicated().sum() == 0


def test_result_shape_and_determinism(small: tuple[Path, object]) -> None:
    path, _ = small
    a, b = _run(path), _run(path)
    assert json.dumps(a.to_dict(), default=str, sort_keys=True) == json.dumps(
        b.to_dict(), default=str, sort_keys=True
    )
    assert a.name == "intake" and a.findings and a.caveats and a.chart is not None
    assert a.inputs and a.inputs[0]["sha256"] == "0" * 64
    keys = {f.key for f in a.figures}
    for k in ("or_q5_all", "or_q5_without", "or_q5_with", "share_explained"):
        assert f"overall_effectiveness.{k}" in keys
    for f in a.figures:
        assert f.estimate.n > 0
        if f.unit == "odds ratio":
            assert f.estimate.low <= f.estimate.value <= f.estimate.high
    exp = a.tables["expected"]
    assert {"urn", "event_id", "observed", "p_1", "p_2", "p_3", "p_4"} <= set(exp.columns)
    sums = exp.select(pl.sum_horizontal("p_1", "p_2", "p_3", "p_4").alias("s"))["s"]
    assert (sums - 1.0).abs().max() < 1e-9  # type: ignore[operator]
    main = a.tables["main"]
    assert set(main["quintile_kind"].unique().to_list()) == {"IDACI", "FSM"}
    assert ((main["low"] <= main["share"]) & (main["share"] <= main["high"])).all()
    # same rows with and without effectiveness
    s = (
        a.tables["share_explained"]
        .filter(pl.col("area") == "overall_effectiveness")
        .row(0, named=True)
    )
    assert 0 < s["n_effectiveness"] <= s["n_all"]
    # synthetic measures are all one year old: the near-measure sensitivity is the same fit
    assert s["n_near"] == s["n_effectiveness"]
    assert s["share_explained_near"] == pytest.approx(s["share_explained"])
    assert "SYNTHETIC" in a.caveats[0]


def test_prepare_keeps_the_latest_event_per_school_and_judgement() -> None:
    raw = pl.DataFrame(
        {
            "event_id": ["a", "b", "c"],
            "urn": [1, 1, 2],
            "area": ["overall_effectiveness"] * 3,
            "grade": ["2", "3", "1"],
            "start_date": [dt.date(2021, 1, 1), dt.date(2023, 1, 1), dt.date(2022, 5, 1)],
            "idaci_quintile": [1, 1, 5],
            "phase": ["Primary"] * 3,
            "pupils": [200.0, 210.0, 0.0],
            "school_type": ["Community School"] * 3,
            "region": ["London"] * 3,
            "effectiveness_raw": [0.5, None, -1.0],
            "effectiveness_measure": ["ks2_mean_progress", None, "ks2_mean_progress"],
            "effectiveness_year": ["2018/19", None, "2018/19"],
            "years_apart": [3, None, 4],
            "fsm_pct": [10.0, 10.0, 40.0],
        },
        schema=intake.RAW_SCHEMA,
    )
    out = intake.prepare(raw)
    assert out["event_id"].to_list() == ["b", "c"]
    assert out["year"].to_list() == ["2022/23", "2021/22"]
    assert out["log_pupils"].to_list()[1] is None  # no log of zero pupils
    assert out["effectiveness"].to_list()[0] is None


def test_type_group_and_academic_year() -> None:
    df = pl.DataFrame(
        {
            "t": ["Academy Converter", "Free School Special", "Community School", None],
            "d": [
                dt.date(2019, 9, 1),
                dt.date(2019, 8, 31),
                dt.date(2024, 1, 5),
                dt.date(2000, 9, 30),
            ],
        }
    )
    out = df.select(
        intake.type_group(pl.col("t")).alias("g"), intake.academic_year(pl.col("d")).alias("y")
    )
    assert out["g"].to_list() == ["Academy", "Free school", "Maintained", None]
    assert out["y"].to_list() == ["2019/20", "2018/19", "2023/24", "2000/01"]


@pytest.mark.slow
def test_planted_odds_ratios_and_share_are_recovered() -> None:
    """Large nation: the ORs with progress, without it, and the share explained cover the truth."""
    nation = simulate_nation(20_000, seed=20240902)
    frame = intake.prepare(intake.nation_frame(nation))
    result = intake.analyse(frame, areas=("overall_effectiveness",), seed=1)
    m = result.models["overall_effectiveness"]
    assert m.fit_with is not None and m.fit_without is not None and m.share is not None
    assert m.fit_with.ok and m.fit_without.ok
    truth = nation.truth
    for q in range(2, 6):
        term = f"idaci_quintile[{q}]"
        e_with = m.fit_with.odds_ratios[term]
        e_without = m.fit_without.odds_ratios[term]
        assert e_with.covers(truth.quintile_odds_ratios_given_progress[q]), (q, e_with)
        assert e_without.covers(truth.quintile_odds_ratios_without_effectiveness[q]), (q, e_without)
    assert m.share.covers(truth.share_explained_by_progress[5]), m.share
    # and the planted conditional OR is inside the with-effectiveness interval when progress is exact
    assert m.n_all == m.n_effectiveness  # every synthetic school has a progress measure
    assert not math.isnan(m.share.low)


@pytest.mark.slow
def test_planted_odds_ratios_with_exact_effectiveness() -> None:
    from evenhand.simulate.nation import NationParams

    nation = simulate_nation(20_000, seed=5, params=NationParams(progress_noise_sd=0.0))
    frame = intake.prepare(intake.nation_frame(nation))
    m = intake.analyse(frame, areas=("overall_effectiveness",)).models["overall_effectiveness"]
    assert m.fit_with is not None and m.share is not None
    for q in range(2, 6):
        e = m.fit_with.odds_ratios[f"idaci_quintile[{q}]"]
        assert e.covers(nation.truth.quintile_odds_ratios[q]), (q, e)
    assert m.share.covers(nation.truth.share_explained[5]), m.share


@pytest.mark.integration
def test_real_data(tmp_path: Path) -> None:
    from evenhand.core.pipeline import build_warehouse
    from helpers import need_shared_data

    data = need_shared_data()
    wh = tmp_path / "wh.duckdb"
    build_warehouse(data, wh)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        r = intake.run(AuditContext(con=con, as_at=dt.date(2025, 8, 31)))
    finally:
        con.close()
    oe_all = r.figure("overall_effectiveness.or_q5_all").estimate
    assert oe_all.n > 10_000 and oe_all.low > 1
    w = r.figure("overall_effectiveness.or_q5_with").estimate
    wo = r.figure("overall_effectiveness.or_q5_without").estimate
    assert w.n == wo.n > 1000
    share = r.figure("overall_effectiveness.share_explained").estimate
    assert share.n == w.n and not math.isnan(share.low)
    assert any("2018/19" in c for c in r.caveats)
    near = r.figure("overall_effectiveness.share_explained_near").estimate
    assert 0 < near.n < share.n
    assert r.tables["expected"].height > 10_000


@pytest.mark.slow
def test_interval_coverage_over_repeated_seeds() -> None:
    """95% intervals (quintile 5 vs 1 with and without progress, share explained) cover the
    truth in 90-99% of 200 synthetic nations of 1,500 schools."""
    reps = 200
    hits = {"with": 0, "without": 0, "share": 0}
    for rep in range(reps):
        nation = simulate_nation(1500, seed=50_000 + rep)
        frame = intake.prepare(intake.nation_frame(nation)).filter(
            pl.col("area") == "overall_effectiveness"
        )
        m = intake.analyse(
            frame, areas=("overall_effectiveness",), min_rows=100, all_rows=False
        ).models["overall_effectiveness"]
        assert m.fit_with is not None and m.fit_without is not None and m.share is not None
        t = nation.truth
        hits["with"] += m.fit_with.odds_ratios["idaci_quintile[5]"].covers(
            t.quintile_odds_ratios_given_progress[5]
        )
        hits["without"] += m.fit_without.odds_ratios["idaci_quintile[5]"].covers(
            t.quintile_odds_ratios_without_effectiveness[5]
        )
        hits["share"] += m.share.covers(t.share_explained_by_progress[5])
    for key, k in hits.items():
        assert 0.90 * reps <= k <= 0.99 * reps, (key, k / reps)
