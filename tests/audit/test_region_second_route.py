"""The regional-variation figure (consistency audit, issue 15) recomputed by a plain second route:
an ordinary logistic regression with one intercept per region and the same controls on the same
frame, then the between-region variance of those intercepts by the Paule-Mandel moment
estimator (the one-way random-effects ANOVA of meta-analysis: solve
sum_j (b_j - b_w)^2 / (se_j^2 + tau^2) = K - 1), and the latent ICC tau^2 / (tau^2 + pi^2/3).

Tolerance: the two routes estimate the same region SD (the random-intercept model's sigma,
conditional on the controls) differently: the audit by maximum likelihood over the quadrature
likelihood (and its REML-type Cox-Reid version for the headline), the second route in two
stages. With some 1,300 schools a region the two-stage approximation is close: the moment SD
must be within SD_TOLERANCE = 0.05 log-odds of the audit's maximum-likelihood SD, and inside
the audit's 95% interval, as must its ICC."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import optimize

from evenhand.audit import consistency
from evenhand.stats.multilevel import fit_region_variation

SD_TOLERANCE = 0.05
LOGISTIC_VARIANCE = math.pi**2 / 3


def moment_sd(frame: pl.DataFrame, outcome: str, group: str, numeric: list[str], categorical: dict[str, str]) -> float:
    """Plain route: region intercepts from statsmodels' Logit (no global intercept), their SEs,
    and the Paule-Mandel tau. ``categorical``: column -> reference level."""
    pdf = frame.select(outcome, group, *numeric, *categorical).drop_nulls().to_pandas()
    x = pd.get_dummies(pdf[[group]], prefix="", prefix_sep="", dtype=float)
    for c, ref in categorical.items():
        d = pd.get_dummies(pdf[c].astype(str), prefix=c, dtype=float)
        x = pd.concat([x, d.drop(columns=[f"{c}_{ref}"])], axis=1)
    for c in numeric:
        x[c] = pdf[c].astype(float)
    fit = sm.Logit(pdf[outcome].astype(float), x).fit(disp=0, maxiter=200)
    groups = sorted(pdf[group].unique())
    b = np.array([fit.params[g] for g in groups])
    se = np.array([fit.bse[g] for g in groups])
    k = len(b)

    def q(t2: float) -> float:
        w = 1 / (se**2 + t2)
        return float((w * (b - (w * b).sum() / w.sum()) ** 2).sum() - (k - 1))

    return math.sqrt(optimize.brentq(q, 0.0, 25.0)) if q(0.0) > 0 else 0.0


def test_both_routes_recover_a_planted_region_sd() -> None:
    rng = np.random.default_rng(7)
    sd, n, k = 0.4, 12_000, 8
    region = rng.integers(0, k, n)
    u = rng.normal(0, sd, k)[region]
    size = rng.normal(size=n)
    q5 = rng.random(n) < 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.5 + u + 0.3 * size - 0.8 * q5)))).astype(int)
    frame = pl.DataFrame({"y": y, "region": [f"R{r}" for r in region], "size": size, "q": np.where(q5, "5", "1")})
    rv = fit_region_variation(frame, "y", "region", ["size", "q"], categorical=["q"], reference={"q": "1"})
    m = moment_sd(frame, "y", "region", ["size"], {"q": "1"})
    assert abs(m - rv.sigma_ml) <= SD_TOLERANCE
    assert rv.sigma.low <= sd <= rv.sigma.high


@pytest.mark.integration
def test_real_data_region_variation_by_a_second_route() -> None:
    from inspections_fixture import context, national_warehouse

    from evenhand.audit.safeguarding import graded_events

    ctx = context(national_warehouse(), dt.date(2025, 8, 31))
    r = consistency.run(ctx)
    icc = r.figure("region_icc").estimate
    rf = consistency.region_frame(graded_events(ctx))
    cats = list(consistency.REGION_CATEGORICAL)
    f = consistency.pool_rare_levels(rf.with_columns([pl.col(c).cast(pl.Utf8) for c in cats]), cats)
    rv = consistency.region_variation(rf)
    assert rv.icc.value == pytest.approx(icc.value) and rv.n == icc.n
    refs = {c: consistency.REGION_REFERENCE.get(c) or str(f[c].drop_nulls().mode().sort()[0]) for c in cats}
    m = moment_sd(f, "good_or_better", "ofsted_region", ["log_pupils"], refs)
    assert abs(m - rv.sigma_ml) <= SD_TOLERANCE, (m, rv.sigma_ml)
    m_icc = m * m / (m * m + LOGISTIC_VARIANCE)
    assert rv.sigma.low <= m <= rv.sigma.high and icc.low <= m_icc <= icc.high
