"""Random-intercept logistic model: planted region variation recovered, boundary, checks."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.special import expit
from stats_support import LargeFits, covers_log_wald

from evenhand.simulate import NationParams, analysis_frame, simulate_nation
from evenhand.stats import RegionVariation, fit_region_variation, latent_icc, multilevel
from evenhand.stats.multilevel import _RandomInterceptLogit, softplus_and_expit


def test_latent_icc_formula() -> None:
    assert latent_icc(0.0) == 0.0
    assert latent_icc(math.pi / math.sqrt(3.0)) == pytest.approx(0.5)
    assert latent_icc(0.3) == pytest.approx(0.09 / (0.09 + math.pi**2 / 3))


def test_planted_icc_recovered(large: LargeFits, large_region: RegionVariation) -> None:
    truth = large.nation.truth
    fit = large_region
    assert fit.converged, fit.notes
    assert fit.n_groups == 8
    assert fit.n == large.frame.height
    assert fit.icc.covers(truth.latent_icc), (fit.icc, truth.latent_icc)
    assert fit.sigma.covers(truth.region_sd), (fit.sigma, truth.region_sd)
    assert fit.icc.low > 0.0  # the variation is detected, not merely not excluded
    assert fit.lrt_p_value < 1e-6
    # REML-type sigma exceeds the ML one by about sqrt(G / (G - 1)) with 8 large groups.
    assert fit.sigma.value / fit.sigma_ml == pytest.approx(math.sqrt(8 / 7), abs=0.03)
    assert fit.sigma.low < fit.sigma.value < fit.sigma.high
    assert fit.icc.value == pytest.approx(latent_icc(fit.sigma.value))


def test_region_effects_and_controls_recovered(
    large: LargeFits, large_region: RegionVariation
) -> None:
    truth = large.nation.truth
    planted = np.array([truth.region_effects[g] for g in large_region.group_effects])
    estimated = np.array([e.value for e in large_region.group_effects.values()])
    # Positive outcome (good or better) is the opposite of the latent "worse" scale.
    assert np.corrcoef(planted, -estimated)[0, 1] > 0.95
    for name, est in large_region.group_effects.items():
        assert est.n == large.frame.filter(pl.col("ofsted_region") == name).height
    # Dichotomising the planted ordinal model gives an exact logit with the same
    # coefficients, sign flipped: OR(good or better) = 1 / OR(worse). Secondary
    # checks on the same data as the ICC test: at 99.5% (Bonferroni over 10 checks).
    fixed = large_region.fixed_effects
    assert covers_log_wald(fixed["effectiveness"], 1.0 / truth.odds_ratio_effectiveness, 0.995)
    for q in range(2, 6):
        odds = 1.0 / truth.quintile_odds_ratios[q]
        assert covers_log_wald(fixed[f"idaci_quintile[{q}]"], odds, 0.995), q
    summary = large_region.summary()
    assert summary.columns == ["group", "n", "effect", "low", "high"]
    assert summary["n"].sum() == large_region.n


def test_no_region_effect_gives_an_interval_from_zero() -> None:
    nation = simulate_nation(6_000, seed=5, params=NationParams(region_sd=0.0))
    frame = analysis_frame(nation)
    fit = fit_region_variation(
        frame,
        "overall_effectiveness",
        "ofsted_region",
        ["idaci_quintile", "effectiveness"],
        ["idaci_quintile"],
        {"idaci_quintile": 1},
        positive={"1", "2"},
    )
    assert fit.sigma.low == 0.0
    assert fit.icc.low == 0.0
    assert fit.icc.high < 0.02
    assert fit.lrt_p_value > 0.05
    assert fit.log_likelihood >= fit.log_likelihood_no_groups


def test_quadrature_is_accurate_and_gradient_analytic() -> None:
    rng = np.random.default_rng(3)
    n, groups = 3_000, 8
    g = rng.integers(0, groups, n)
    x = np.column_stack([np.ones(n), rng.standard_normal(n)])
    u = rng.normal(0, 0.5, groups)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 + x[:, 1] + u[g])))).astype(float)
    beta, log_sigma = np.array([0.4, 0.9]), math.log(0.5)
    values = [_RandomInterceptLogit(y, x, g, q).evaluate(beta, log_sigma)[0] for q in (5, 9, 25)]
    assert values[1] == pytest.approx(values[2], abs=1e-8)
    assert values[0] == pytest.approx(values[2], abs=1e-4)
    model = _RandomInterceptLogit(y, x, g, 9)
    theta = np.array([0.4, 0.9, log_sigma])
    _, grad, _, _ = model.evaluate(theta[:2], theta[2])
    numeric = np.zeros(3)
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6
        hi = model.evaluate((theta + e)[:2], (theta + e)[2])[0]
        lo = model.evaluate((theta - e)[:2], (theta - e)[2])[0]
        numeric[i] = (hi - lo) / 2e-6
    assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-4)


def test_softplus_and_expit_match_the_library_functions() -> None:
    """The evaluation kernel against numpy's logaddexp and scipy's expit across the whole float
    range (no overflow, no NaN), to 4 machine epsilons relative (values below 1e-300, where
    both underflow, to 1e-300 absolute)."""
    lin = np.concatenate([
        np.array([-1e308, -800.0, -745.0, -709.0, -40.0, -37.0, -1e-300, 0.0, 1e-300, 37.0, 40.0, 709.0, 800.0, 1e308]),
        np.linspace(-60.0, 60.0, 20_001),
        np.random.default_rng(0).normal(0.0, 5.0, (2_000, 9)).ravel(),
    ])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is exact enough
        softplus, p = softplus_and_expit(lin)
    assert p is not None and np.all(np.isfinite(softplus)) and np.all(np.isfinite(p))
    eps = np.finfo(float).eps
    for got, want in ((softplus, np.logaddexp(0.0, lin)), (p, expit(lin))):
        assert np.all(np.abs(got - want) <= 4 * eps * np.abs(want) + 1e-300)
    assert np.all((p >= 0.0) & (p <= 1.0))
    assert softplus_and_expit(lin, want_expit=False)[1] is None


def test_fit_is_the_same_with_the_library_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Second route: the fit with numpy's logaddexp and scipy's expit inside the likelihood gives
    the same estimates, to the optimiser's tolerance on sigma (SIGMA_XTOL)."""
    rng = np.random.default_rng(11)
    n, groups = 4_000, 9
    g = rng.integers(0, groups, n)
    x = rng.standard_normal(n)
    u = rng.normal(0.0, 0.4, groups)
    y = rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * x + u[g])))
    frame = pl.DataFrame({"y": y, "region": [f"r{i}" for i in g], "x": x})
    fast = fit_region_variation(frame, "y", "region", ["x"])
    monkeypatch.setattr(
        multilevel, "softplus_and_expit",
        lambda lin, want_expit=True: (np.logaddexp(0.0, lin), expit(lin) if want_expit else None),
    )
    library = fit_region_variation(frame, "y", "region", ["x"])
    tolerance = 10 * multilevel.SIGMA_XTOL
    for a, b in ((fast.sigma, library.sigma), (fast.icc, library.icc)):
        assert (a.value, a.low, a.high) == pytest.approx((b.value, b.low, b.high), abs=tolerance)
    assert fast.log_likelihood == pytest.approx(library.log_likelihood, abs=1e-8)
    assert fast.fixed_effects["x"].value == pytest.approx(library.fixed_effects["x"].value, rel=1e-6)


def test_boolean_outcome_and_input_checks() -> None:
    rng = np.random.default_rng(1)
    n = 2_000
    region = rng.choice(["r1", "r2", "r3", "r4"], size=n)
    x = rng.standard_normal(n)
    shift = {"r1": -0.6, "r2": 0.0, "r3": 0.3, "r4": 0.6}
    eta = 0.3 + 0.7 * x + np.array([shift[r] for r in region])
    frame = pl.DataFrame({"good": rng.random(n) < 1 / (1 + np.exp(-eta)), "x": x, "region": region})
    fit = fit_region_variation(frame, "good", "region", ["x"])
    assert fit.n == n
    assert fit.fixed_effects["x"].covers(math.exp(0.7))
    assert fit.sigma.value > 0
    with pytest.raises(ValueError, match="positive"):
        fit_region_variation(frame.with_columns(pl.lit("a").alias("good")), "good", "region", ["x"])
    with pytest.raises(ValueError, match="two groups"):
        fit_region_variation(
            frame.with_columns(pl.lit("r1").alias("region")), "good", "region", ["x"]
        )
    with pytest.raises(ValueError, match="predictor"):
        fit_region_variation(frame, "good", "region", ["x", "region"])
