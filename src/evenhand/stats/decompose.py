"""How much of a gradient runs through a mediator: the KHB decomposition for ordinal logits.

Comparing the coefficient of a term (say, most vs least deprived) in a logit or ordinal-logit
model without and with a mediator (effectiveness) mixes two things: the part of the gradient
the mediator carries, and a change of scale. Adding any predictor of the outcome rescales
every coefficient of a logit model (the residual variance is fixed at pi^2/3), so the naive
ratio ``1 - beta_with / beta_without`` is biased even when the mediator is unrelated to the
term (non-collapsibility).

Karlson, Holm and Breen (2012, *Sociological Methodology* 42: 286-313) compare like with like:
the reduced model uses the mediator's *residual* from a linear regression on every other
predictor instead of dropping it, so both models have the same fit and the same scale. Because
``Z = W g + R``, the reduced model is a reparametrisation of the full one and its coefficient of
the term is exactly ``b + c * g_x``:

    total = b + c * g_x,   indirect = c * g_x,   share = indirect / total,

with ``b`` the term's and ``c`` the mediator's coefficient in the full model and ``g_x`` the
term's coefficient in the regression of the mediator on the other predictors. Only the full
model and one least-squares regression are fitted. The interval is the delta method on
``share`` with the joint covariance of (b, c, g_x) from stacked estimating equations: the
ordinal model's per-row influence (inverse Hessian times the score) beside the regression's
(``(W'W)^-1 w_i r_i``), so the correlation between the two fits is allowed for and the
variance is robust to misspecification (sandwich).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import z_value
from evenhand.stats.ordinal import OrdinalFit

__all__ = ["KHBDecomposition", "khb_share_explained"]


@dataclass(frozen=True)
class KHBDecomposition:
    """The KHB decomposition of one term's log odds ratio (scale of the full model).

    ``share`` is ``indirect / total`` with its delta-method interval; ``total``, ``direct`` and
    ``indirect`` are log odds ratios (each an Estimate with its delta-method interval).
    """

    term: str
    mediator: str
    total: Estimate
    direct: Estimate
    indirect: Estimate
    share: Estimate
    method: str


def khb_share_explained(
    fit_full: OrdinalFit, term: str, mediator: str, *, level: float = 0.95
) -> KHBDecomposition:
    """KHB share of ``term``'s gradient explained by ``mediator`` in the fitted full model.

    ``fit_full`` must contain both ``term`` (a model column, e.g. ``"idaci_quintile[5]"``) and
    the numeric ``mediator`` column. Rows are taken as independent (one row per school).
    """
    for t in (term, mediator):
        if t not in fit_full.terms:
            raise KeyError(f"term {t!r} is not in the model; terms are {list(fit_full.terms)}")
    n = fit_full.n
    nan = Estimate(math.nan, math.nan, math.nan, n, level, "not computed: the fit failed")
    method = (
        "KHB decomposition (Karlson, Holm and Breen 2012): the reduced model uses the "
        "mediator's residual on every other predictor, so both models share one scale; "
        "delta-method interval from the joint sandwich covariance of the ordinal model and "
        "the mediator regression"
    )
    if not fit_full.converged or not np.all(np.isfinite(fit_full.cov_internal)):
        return KHBDecomposition(term, mediator, nan, nan, nan, nan, "not computed: the fit failed")
    ix, iz = fit_full.terms.index(term), fit_full.terms.index(mediator)
    x = fit_full.exog_internal
    k = x.shape[1]
    others = [j for j in range(k) if j != iz]
    w = np.column_stack([np.ones(n), x[:, others]])
    z = x[:, iz]
    wtw_inv = np.linalg.pinv(w.T @ w)
    gamma = wtw_inv @ (w.T @ z)
    resid = z - w @ gamma
    gx_pos = 1 + others.index(ix)
    g = float(gamma[gx_pos])
    b = float(fit_full.params_internal[ix])
    c = float(fit_full.params_internal[iz])
    # influence functions (n rows): ordinal MLE and OLS
    scores = fit_full._score_obs()
    psi_b = scores @ fit_full.cov_internal[:, ix]
    psi_c = scores @ fit_full.cov_internal[:, iz]
    psi_g = (w * resid[:, None]) @ wtw_inv[:, gx_pos]
    psi = np.column_stack([psi_b, psi_c, psi_g])
    cov = psi.T @ psi
    total, indirect = b + c * g, c * g
    z_ = z_value(level)

    def est(value: float, grad: np.ndarray) -> Estimate:
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        return Estimate(value, value - z_ * se, value + z_ * se, n, level, method)

    share = indirect / total if total != 0 else math.nan
    if math.isfinite(share):
        d_share = np.array([-indirect, g * b, c * b]) / total**2
        share_e = est(share, d_share)
    else:
        share_e = Estimate(share, math.nan, math.nan, n, level, method)
    total_e = est(total, np.array([1.0, g, c]))
    se_total = (total_e.high - total_e.low) / (2.0 * z_)
    weak = not (math.isfinite(se_total) and abs(total) > 2.0 * se_total)
    if weak:
        share_e = Estimate(
            share_e.value, share_e.low, share_e.high, n, level,
            method + "; the total gradient is not clearly non-zero: the share is unstable",
        )
    return KHBDecomposition(
        term=term,
        mediator=mediator,
        total=total_e,
        direct=est(b, np.array([1.0, 0.0, 0.0])),
        indirect=est(indirect, np.array([0.0, g, c])),
        share=share_e,
        method=method,
    )
