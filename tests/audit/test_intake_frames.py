"""The intake audit's frame and decomposition on synthetic nations with planted biases
(shared/REFEREE.md, "plant the bias, not just the effect"): the corrected audit recovers the
planted truth and the old frame / the naive ratio does not."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from evenhand.audit import intake
from evenhand.simulate.frame_bias import (
    add_lineages,
    biased_progress,
    expected_good_share,
    khb_truth,
)
from evenhand.simulate.nation import NationParams, SyntheticNation, simulate_nation
from evenhand.stats.decompose import khb_share_explained
from evenhand.stats.intervals import wilson

OE = "overall_effectiveness"


def _oe_models(nation: SyntheticNation) -> intake.AreaModels:
    frame = intake.prepare(intake.nation_frame(nation)).filter(pl.col("area") == OE)
    return intake.analyse(frame, areas=(OE,), all_rows=False).models[OE]


def old_per_urn_frame(nation: SyntheticNation) -> pl.DataFrame:
    """The frame before issue 15: every URN with a graded inspection, open or closed, its
    latest graded inspection (a converted school counted under both URNs)."""
    ev = nation.events.filter(pl.col("kind") == "graded").select("event_id", "urn", "start_date")
    j = nation.judgements.filter(pl.col("area") == OE).select(
        "event_id", "area", pl.col("code").alias("grade")
    )
    s = nation.schools.select(
        "urn",
        pl.col("idaci_quintile").cast(pl.Int64),
        "phase",
        pl.col("pupils").cast(pl.Float64),
        "school_type",
        pl.col("ofsted_region").alias("region"),
        pl.col("progress").alias("effectiveness_raw"),
        "fsm_pct",
    )
    f = (
        ev.join(j, on="event_id")
        .join(s, on="urn")
        .sort("urn", "start_date")
        .unique("urn", keep="last", maintain_order=True)
        .with_columns(
            pl.format("U{}", pl.col("urn")).alias("lineage_id"),
            pl.lit(False).alias("carried"),
            pl.lit("synthetic_progress").alias("effectiveness_measure"),
            pl.lit("synthetic").alias("effectiveness_year"),
            pl.lit(1).alias("years_apart"),
        )
    )
    return f.select([pl.col(c).cast(t) for c, t in intake.RAW_SCHEMA.items()])


def _good_shares(frame: pl.DataFrame) -> dict[int, tuple[int, int]]:
    g = (
        frame.group_by("idaci_quintile")
        .agg(pl.col("grade").is_in(["1", "2"]).sum().alias("k"), pl.len().alias("n"))
        .sort("idaci_quintile")
    )
    return {int(q): (int(k), int(n)) for q, k, n in g.iter_rows()}


@pytest.mark.slow
def test_one_row_per_lineage_recovers_the_planted_shares_and_per_urn_does_not() -> None:
    """Conversion after inadequate or requires improvement (predecessor URNs closed, their
    grades kept): the share good or better of open lineages in quintiles 1 and 5 covers the
    planted expectation; one row per URN adds the closed predecessors' bad grades and misses."""
    p = NationParams(thresholds=(-2.0, 1.2, 2.6))
    nation = add_lineages(
        simulate_nation(20_000, seed=7, params=p),
        seed=1,
        p_convert=0.9,
        p_convert_requires_improvement=0.5,
    )
    new = intake.prepare(intake.nation_frame(nation)).filter(pl.col("area") == OE)
    old = old_per_urn_frame(nation)
    assert new["lineage_id"].n_unique() == new.height
    assert old.height > new.height  # a converted school counted twice
    truth = expected_good_share(nation, new["urn"])
    got_new, got_old = _good_shares(new), _good_shares(old)
    for q in (1, 5):
        e_new, e_old = wilson(*got_new[q]), wilson(*got_old[q])
        assert e_new.covers(truth[q]), (q, e_new, truth[q])
        assert e_old.high < truth[q], (q, e_old, truth[q])  # biased down: closed schools' grades


@pytest.mark.slow
def test_khb_share_recovers_the_planted_decomposition_and_the_naive_ratio_does_not() -> None:
    """Effectiveness measured exactly and strongly related to grades: the KHB share covers the
    planted share (direct and indirect paths on the latent scale); the naive ratio is biased
    down by the rescaling of logit coefficients."""
    nation = simulate_nation(
        20_000, seed=21, params=NationParams(progress_noise_sd=0.0, beta_effectiveness=2.0)
    )
    m = _oe_models(nation)
    assert m.share is not None and m.naive_share is not None
    truth = khb_truth(nation)
    assert m.share.covers(truth), (m.share, truth)
    assert m.naive_share.high < truth, (m.naive_share, truth)


@pytest.mark.slow
def test_lagged_deprivation_biased_progress_moves_the_share_either_way() -> None:
    """Progress measured years before (correlation 0.9 with the effectiveness inspected) and
    shifted by deprivation: the share explained is too high when the measure understates
    deprived schools and too low when it overstates them, so its bias has no known sign."""
    nation = simulate_nation(10_000, seed=22)
    truth = khb_truth(nation)
    shares = {}
    for bias in (-0.3, 0.3):
        biased = biased_progress(nation, lag_corr=0.9, deprivation_bias=bias, noise_sd=0.0, seed=3)
        m = _oe_models(biased)
        assert m.share is not None
        shares[bias] = m.share
    assert shares[-0.3].low > truth, (shares[-0.3], truth)
    assert shares[0.3].high < truth, (shares[0.3], truth)


def test_khb_equals_the_residual_route_refitted_with_statsmodels() -> None:
    """Independent recomputation of the KHB share: fit the reduced model with the residual of
    progress on the other predictors (plain statsmodels OrderedModel, no evenhand code), take
    1 - b_full / b_reduced, and compare with the closed form the audit uses."""
    nation = simulate_nation(2500, seed=31)
    frame = intake.prepare(intake.nation_frame(nation)).filter(pl.col("area") == OE)
    m = intake.analyse(frame, areas=(OE,), all_rows=False, min_rows=100).models[OE]
    assert m.fit_with is not None and m.share is not None
    fit = m.fit_with
    x = fit.exog_internal
    iz = fit.terms.index("effectiveness")
    ix = fit.terms.index("idaci_quintile[5]")
    others = np.delete(x, iz, axis=1)
    w = np.column_stack([np.ones(len(x)), others])
    resid = x[:, iz] - w @ np.linalg.lstsq(w, x[:, iz], rcond=None)[0]
    y = fit.endog_codes
    full = OrderedModel(y, x, distr="logit").fit(method="bfgs", maxiter=2000, disp=0)
    x_red = x.copy()
    x_red[:, iz] = resid
    reduced = OrderedModel(y, x_red, distr="logit").fit(method="bfgs", maxiter=2000, disp=0)
    share_plain = 1.0 - full.params[ix] / reduced.params[ix]
    assert share_plain == pytest.approx(m.share.value, abs=2e-3)
    again = khb_share_explained(fit, "idaci_quintile[5]", "effectiveness")
    assert again.share.value == pytest.approx(m.share.value)
    assert again.indirect.value + again.direct.value == pytest.approx(again.total.value)
    assert again.share.low < again.share.value < again.share.high
