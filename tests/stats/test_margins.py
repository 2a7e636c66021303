"""Adjusted risk differences (average marginal effects) and cluster-robust intervals of the
proportional-odds fit: the point by a plain second route (predicted distributions on
counterfactual frames), the analytic gradient by numerical differentiation, coverage on
simulated data with a planted truth, and clustered intervals where the rows share clusters."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.special import expit
from statsmodels.tools.numdiff import approx_fprime

from evenhand.stats.margins import (
    average_marginal_effect,
    cluster_cov,
    fitted_rows,
    odds_ratio_with_cov,
)
from evenhand.stats.ordinal import fit_ordinal

CUTS = np.array([-1.0, 1.5, 3.0])  # latent cut-points between grades 1|2, 2|3, 3|4


def _simulate(rng: np.random.Generator, n: int, beta_q: float = 0.8, cluster_sd: float = 0.0,
              n_clusters: int = 0) -> pl.DataFrame:
    q = rng.choice(["1", "3", "5"], size=n)
    size = rng.normal(size=n)
    if n_clusters:
        cl = rng.integers(0, n_clusters, size=n)
        u = rng.normal(0.0, cluster_sd, size=n_clusters)[cl]
        # the deprivation level is shared within a cluster (a trust of similar schools)
        q = np.array(["1", "3", "5"])[cl % 3]
    else:
        cl = np.arange(n)
        u = np.zeros(n)
    eta = beta_q * (q == "5") + 0.3 * (q == "3") + 0.4 * size + u
    y = 1 + np.searchsorted(CUTS, eta + rng.logistic(size=n))
    return pl.DataFrame({"grade": y.astype(str), "q": q, "size": size, "cluster": cl.astype(str), "eta_rest": 0.4 * size + u})


def _fit(df: pl.DataFrame):  # type: ignore[no-untyped-def]
    return fit_ordinal(df, "grade", ["1", "2", "3", "4"], ["q", "size"], ["q"], {"q": "1"})


def test_point_equals_the_plain_route_and_the_gradient_is_the_numerical_one() -> None:
    df = _simulate(np.random.default_rng(3), 1500).with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0).then(None).otherwise(pl.col("size")).alias("size"))
    fit = _fit(df)
    rd = average_marginal_effect(fit, df, "q", "5", "1", ("1", "2"))
    rows = fitted_rows(fit, df)
    assert rows.height == fit.n < df.height  # rows missing a predictor are not averaged over
    # plain route: the fit's own predicted distributions with every row set to 5, then to 1
    p5 = fit.predict_distribution(rows.with_columns(pl.lit("5").alias("q")))
    p1 = fit.predict_distribution(rows.with_columns(pl.lit("1").alias("q")))
    plain = float((p5["p_1"] + p5["p_2"]).mean() - (p1["p_1"] + p1["p_2"]).mean())
    assert rd.estimate.value == pytest.approx(plain, abs=1e-12)
    assert rd.share_level - rd.share_reference == pytest.approx(plain, abs=1e-12)

    # the analytic gradient against central differences of the same function
    k = len(fit.spec.columns)

    def ame(theta: np.ndarray) -> float:
        a = theta[k:]
        cut = a[0] + math.exp(a[1])
        out = []
        for v in ("5", "1"):
            x = fit.spec.matrix(fit.spec.recode(rows.with_columns(pl.lit(v).alias("q"))), standardise=True)
            out.append(float(expit(cut - x @ theta[:k]).mean()))
        return out[0] - out[1]

    g = approx_fprime(fit.params_internal, ame, centered=True)
    se_num = math.sqrt(float(g @ fit.cov_internal @ g))
    se = (rd.estimate.high - rd.estimate.low) / (2 * 1.959963984540054)
    assert se == pytest.approx(se_num, rel=1e-5)
    assert rd.estimate.value < 0  # the planted effect: quintile 5 judged good or better less often


def _true_ame(beta_q: float, eta_rest: np.ndarray) -> float:
    # the same rows, every one at 5 then at 1: P(grade <= 2) = expit(cut_2 - eta)
    return float(expit(CUTS[1] - beta_q - eta_rest).mean() - expit(CUTS[1] - eta_rest).mean())


def test_coverage_of_the_planted_risk_difference() -> None:
    rng = np.random.default_rng(11)
    covered, reps = 0, 120
    for _ in range(reps):
        df = _simulate(rng, 800)
        rd = average_marginal_effect(_fit(df), df, "q", "5", "1")
        covered += rd.estimate.covers(_true_ame(0.8, df["eta_rest"].to_numpy()))
    assert 0.90 <= covered / reps <= 0.99


def test_clustered_intervals_are_wider_and_cover_where_rows_share_a_cluster() -> None:
    """Rows share clusters (random intercepts, deprivation constant within a cluster): the
    model-based interval is too narrow; the cluster-robust one keeps close to its level."""
    rng = np.random.default_rng(5)
    reps, naive_cov, robust_cov, wider = 80, 0, 0, 0
    beta = 0.8
    # the population-averaged truth under the random intercepts, by a large simulation
    big = _simulate(np.random.default_rng(99), 400_000, beta, cluster_sd=1.0, n_clusters=60_000)
    eta = big["eta_rest"].to_numpy()
    truth = float(expit(CUTS[1] - beta - eta).mean() - expit(CUTS[1] - eta).mean())
    for _ in range(reps):
        df = _simulate(rng, 1500, beta, cluster_sd=1.0, n_clusters=90)
        fit = _fit(df)
        rows = fitted_rows(fit, df)
        v = cluster_cov(fit, rows["cluster"].to_numpy())
        naive = average_marginal_effect(fit, df, "q", "5", "1")
        robust = average_marginal_effect(fit, df, "q", "5", "1", cov=v)
        naive_cov += naive.estimate.covers(truth)
        robust_cov += robust.estimate.covers(truth)
        wider += (robust.estimate.high - robust.estimate.low) > 1.5 * (naive.estimate.high - naive.estimate.low)
        o = odds_ratio_with_cov(fit, "q[5]", v)
        assert o.value == pytest.approx(fit.odds_ratios["q[5]"].value) and o.low < o.value < o.high
    assert wider == reps
    assert robust_cov / reps >= 0.85 and naive_cov / reps < robust_cov / reps - 0.2


def test_cluster_cov_of_singletons_is_the_robust_sandwich() -> None:
    df = _simulate(np.random.default_rng(8), 3000)
    fit = _fit(df)
    v = cluster_cov(fit, np.arange(fit.n))
    # a correctly specified model: the sandwich is close to the inverse Hessian
    assert np.allclose(np.sqrt(np.diag(v)), np.sqrt(np.diag(fit.cov_internal)), rtol=0.1)
    with pytest.raises(ValueError, match="fitted rows"):
        cluster_cov(fit, np.arange(fit.n - 1))
    with pytest.raises(ValueError, match="first categories"):
        average_marginal_effect(fit, df, "q", "5", "1", ("2",))
