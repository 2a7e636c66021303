"""Adjusted risk differences (average marginal effects) from a proportional-odds fit, and
cluster-robust covariances for them and for the odds ratios.

An odds ratio from a logit model is not a difference in risk, and odds ratios from models with
different controls are not comparable (non-collapsibility). The average marginal effect of a
categorical predictor answers "by how many percentage points would the share judged good or
better differ if every school in the data were in level L rather than the reference level,
everything else as it is":

    AME = mean_i [ P(y in event | x_i, column = L) - P(y in event | x_i, column = reference) ]

with ``event`` the first categories of the outcome (good or better: "1", "2"). Its standard
error is the delta method: the gradient of the AME in the fit's internal parameters
(standardised coefficients, first cut-point, log increments of the others), analytic, with the
fit's covariance: the inverse Hessian, or a cluster-robust sandwich (:func:`cluster_cov`) where
schools share a trust or a local authority. Pure and deterministic (no draws).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import expit

from evenhand.stats.design import as_polars, missing_expr
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import z_value
from evenhand.stats.ordinal import OrdinalFit

FloatArray = npt.NDArray[np.float64]
AME_METHOD = "average marginal effect, delta method"


def cluster_cov(fit: OrdinalFit, groups: Sequence[object] | npt.NDArray[Any]) -> FloatArray:
    """Cluster-robust (sandwich) covariance of the fit's internal parameters: the one rule,
    :meth:`evenhand.stats.ordinal.OrdinalFit.cluster_cov` (``groups``: one cluster label per
    fitted row, in the fit's row order, :func:`fitted_rows`)."""
    return fit.cluster_cov(np.asarray(groups).astype(str))


def fitted_rows(fit: OrdinalFit, frame: Any) -> pl.DataFrame:
    """The rows of ``frame`` the fit used (complete in the outcome and every predictor), in the
    fit's order. ``frame`` must be the frame the model was fitted on: a frame whose rows or
    outcomes differ from the fit's raises ``ValueError``."""
    df = as_polars(frame)
    ids = np.asarray(fit.row_ids, dtype=np.int64)
    if len(ids) != fit.n or (len(ids) and int(ids.max()) >= df.height):
        raise ValueError(f"the frame has {df.height} rows; the fit used {fit.n} with row ids beyond it")
    rows = df[ids.tolist()]
    miss = rows.select(pl.any_horizontal([missing_expr(c, rows.schema[c]) for c in [fit.outcome, *fit.spec.predictors]]))
    if miss.to_series().any():
        raise ValueError("the frame is not the one the model was fitted on (a fitted row has a missing value)")
    code_of = {c: i for i, c in enumerate(fit.fitted_categories)}
    y = np.array([code_of.get(str(v), -1) for v in rows[fit.outcome].cast(pl.String).to_list()], dtype=np.int64)
    if not np.array_equal(y, fit.endog_codes):
        raise ValueError("the frame is not the one the model was fitted on (its outcomes differ row for row)")
    return rows


def odds_ratio_with_cov(fit: OrdinalFit, term: str, cov: FloatArray) -> Estimate:
    """The odds ratio of ``term`` with a Wald interval from ``cov`` (internal parameters)."""
    j = list(fit.terms).index(term)
    se = math.sqrt(max(float(cov[j, j]), 0.0)) * float(fit.spec.unscale()[j])
    b = fit.coefficients[term]
    z = z_value(fit.level)
    if not math.isfinite(se) or se <= 0:
        return Estimate(math.exp(b), math.nan, math.nan, fit.n, fit.level, "Wald, log scale, cluster-robust")
    return Estimate(math.exp(b), math.exp(b - z * se), math.exp(b + z * se), fit.n, fit.level,
                    "Wald, log scale, cluster-robust")


@dataclass(frozen=True)
class RiskDifference:
    """P(event) at ``level`` minus at ``reference``, averaged over the fitted rows."""

    column: str
    level: str
    reference: str
    event: tuple[str, ...]
    estimate: Estimate
    share_level: float  # the average predicted probability with every row at ``level``
    share_reference: float


def average_marginal_effect(
    fit: OrdinalFit,
    frame: Any,
    column: str,
    level: str,
    reference: str,
    event: Sequence[str] = ("1", "2"),
    cov: FloatArray | None = None,
) -> RiskDifference:
    """Adjusted risk difference of ``event`` (the first categories of the outcome, best first)
    between ``level`` and ``reference`` of the categorical ``column``, averaged over the rows the
    model was fitted on, with a delta-method interval from ``cov`` (default: the inverse Hessian)."""
    if column not in fit.spec.categorical:
        raise ValueError(f"{column!r} is not a categorical predictor of the fit")
    ev = tuple(str(e) for e in event)
    fitted = list(fit.fitted_categories)
    if list(ev) != fitted[: len(ev)] or len(ev) >= len(fitted):
        raise ValueError(f"event {ev} must be the first categories of {fitted} (and not all of them)")
    rows = fitted_rows(fit, frame)
    j = len(ev) - 1  # P(y <= j) = expit(cut_j - x b)
    k = len(fit.spec.columns)
    params = fit.params_internal
    a = params[k:]
    cuts = fit._cut_internal()
    # d cut_j / d a_i: 1 for the first, exp(a_i) for the increments up to j
    dcut = np.zeros(len(a))
    dcut[0] = 1.0
    for i in range(1, j + 1):
        dcut[i] = math.exp(a[i])
    means: list[float] = []
    grads: list[FloatArray] = []
    for value in (level, reference):
        sub = fit.spec.recode(rows.with_columns(pl.lit(str(value)).alias(column)))
        x = fit.spec.matrix(sub, standardise=True)
        p = expit(cuts[j] - x @ params[:k])
        f = p * (1.0 - p)
        means.append(float(p.mean()))
        grads.append(np.concatenate([-(f[:, None] * x).mean(axis=0), float(f.mean()) * dcut]))
    diff = means[0] - means[1]
    g = grads[0] - grads[1]
    v = fit.cov_internal if cov is None else np.asarray(cov, dtype=np.float64)
    var = float(g @ v @ g)
    z = z_value(fit.level)
    method = AME_METHOD + ("" if cov is None else ", cluster-robust")
    if math.isfinite(var) and var >= 0:
        se = math.sqrt(var)
        est = Estimate(diff, diff - z * se, diff + z * se, fit.n, fit.level, method)
    else:
        est = Estimate(diff, math.nan, math.nan, fit.n, fit.level, method)
    return RiskDifference(column, str(level), str(reference), ev, est, means[0], means[1])


__all__ = ["AME_METHOD", "RiskDifference", "average_marginal_effect", "cluster_cov", "fitted_rows", "odds_ratio_with_cov"]
