"""Probability limits of (possibly misspecified) proportional-odds fits.

Given the exact distribution of the judgement over a finite set of covariate
"cells" (each with a population weight), the maximum-likelihood estimate of a
proportional-odds model converges to the parameter that maximises the
expected log-likelihood

    sum_c w_c sum_j pi_cj log p_j(x_c; theta).

Fitting that weighted problem gives what a model fitted to an infinitely large
nation would return: the truth against which the finite-sample estimates and
their intervals are judged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import optimize
from scipy.special import expit

FloatArray = npt.NDArray[np.float64]


def _cuts(theta: FloatArray, k: int) -> FloatArray:
    t = theta[k:]
    return np.cumsum(np.concatenate([t[:1], np.exp(t[1:])]))


def po_plim(x: FloatArray, probs: FloatArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Maximise the expected PO log-likelihood: (coefficients, cut-points).

    ``x``: (cells, p) design; ``probs``: (cells, K) true category
    probabilities per cell; ``weights``: (cells,) population weights.
    The model is P(Y <= j | x) = expit(t_j - x'beta).
    """
    n_cells, k = x.shape
    n_cat = probs.shape[1]
    rows = np.repeat(np.arange(n_cells), n_cat)
    y = np.tile(np.arange(n_cat), n_cells)
    w = (weights[:, None] * probs).ravel()
    keep = w > 0
    rows, y, w = rows[keep], y[keep], w[keep] / w[keep].sum()
    xr = x[rows]

    def negll(theta: FloatArray) -> tuple[float, FloatArray]:
        beta = theta[:k]
        cuts = np.concatenate([[-np.inf], _cuts(theta, k), [np.inf]])
        xb = xr @ beta
        upp = cuts[y + 1] - xb
        low = cuts[y] - xb
        fu_c, fl_c = expit(upp), expit(low)
        prob = fu_c - fl_c + 1e-300
        fu = fu_c * (1.0 - fu_c) / prob
        fl = fl_c * (1.0 - fl_c) / prob
        ll = float(np.sum(w * np.log(prob)))
        g_beta = -(xr.T @ (w * (fu - fl)))
        n_thr = n_cat - 1
        d_t = (
            np.bincount(y, weights=w * fu, minlength=n_cat)[:n_thr]
            - np.bincount(y, weights=w * fl, minlength=n_cat)[1:]
        )
        tail = np.cumsum(d_t[::-1])[::-1]
        tail[1:] *= np.exp(theta[k + 1 :])
        return -ll, -np.concatenate([g_beta, tail])

    marg = np.clip(np.bincount(y, weights=w, minlength=n_cat).cumsum()[:-1], 1e-9, 1 - 1e-9)
    start_cuts = np.log(marg / (1 - marg))
    start = np.concatenate(
        [np.zeros(k), start_cuts[:1], np.log(np.maximum(np.diff(start_cuts), 1e-3))]
    )
    res = optimize.minimize(
        negll, start, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000}
    )
    theta = np.asarray(res.x, dtype=np.float64)
    return theta[:k], _cuts(theta, k)
