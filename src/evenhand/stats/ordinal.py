"""Proportional-odds (ordinal logistic) models of a graded judgement.

The model is statsmodels' :class:`~statsmodels.miscmodels.ordinal_model.OrderedModel`
with the logit link:

    P(Y <= j | x) = expit(t_j - x'beta),   j = 1 .. K-1,

with the categories in the order given (for Ofsted grades: Outstanding, Good,
Requires improvement, Inadequate). ``exp(beta)`` is then the odds ratio of a
WORSE judgement (a later category) per unit of the predictor, or for a
dummy, against the reference level: the same at every cut of the scale
(the proportional-odds assumption).

The statsmodels class is used as is, with two speed-ups that do not change
the model: the logistic cdf/pdf are computed with ``scipy.special.expit``
rather than ``scipy.stats.logistic`` and the score (gradient) is analytic
rather than numerical; the Hessian is the numerical Jacobian of that score.
Numeric predictors are centred and scaled inside the optimiser and every
reported coefficient is per original unit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import optimize, stats
from scipy.special import expit
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools.numdiff import approx_fprime

from evenhand.stats.blas import one_blas_thread
from evenhand.stats.design import (
    ROW_ID,
    DesignSpec,
    as_polars,
    level_text,
    missing_expr,
    prepare,
    text_expr,
)
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import z_value

__all__ = ["OrdinalFit", "fit_ordinal", "gradient_share_explained"]

FloatArray = npt.NDArray[np.float64]

#: |log odds ratio| above this (an odds ratio beyond ~160 000) is treated as a
#: sign of (quasi-)complete separation.
SEPARATION_LOG_OR = 12.0
#: A standard error above this (log-odds scale) likewise.
SEPARATION_SE = 50.0


class _LogitOrderedModel(OrderedModel):  # type: ignore[misc]
    """OrderedModel (logit) with a fast cdf/pdf and an analytic score."""

    def cdf(self, x: FloatArray) -> FloatArray:
        return np.asarray(expit(x))

    def pdf(self, x: FloatArray) -> FloatArray:
        p = expit(x)
        return np.asarray(p * (1.0 - p))

    def _parts(self, params: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        low, upp = self._bounds(params)
        prob = self.prob(low, upp) + 1e-20
        return low, upp, prob, np.asarray(params, dtype=np.float64)

    def score(self, params: FloatArray) -> FloatArray:
        low, upp, prob, params = self._parts(params)
        fu = self.pdf(upp) / prob
        fl = self.pdf(low) / prob
        k = self.k_vars
        n_thr = self.k_levels - 1
        y = self.endog
        grad_beta = -(self.exog.T @ (fu - fl))
        d_t = (
            np.bincount(y, weights=fu, minlength=n_thr + 1)[:n_thr]
            - np.bincount(y, weights=fl, minlength=n_thr + 1)[1:]
        )
        tail = np.cumsum(d_t[::-1])[::-1]
        grad_thr = tail.copy()
        grad_thr[1:] *= np.exp(params[k + 1 :])
        return np.concatenate([grad_beta, grad_thr])

    def score_obs(self, params: FloatArray) -> FloatArray:
        return _score_obs_arrays(self.endog, self.exog, params)

    def hessian(self, params: FloatArray) -> FloatArray:
        h = approx_fprime(np.asarray(params, dtype=np.float64), self.score, centered=True)
        return np.asarray((h + h.T) / 2.0)


def _score_obs_arrays(y: npt.NDArray[np.int64], x: FloatArray, params: FloatArray) -> FloatArray:
    """Per-row score contributions (n x params) in statsmodels' parametrisation, analytic."""
    params = np.asarray(params, dtype=np.float64)
    n, k = x.shape
    n_thr = len(params) - k
    cuts = np.cumsum(np.concatenate([params[k : k + 1], np.exp(params[k + 1 :])]))
    tt = np.concatenate([[-np.inf], cuts, [np.inf]])
    xb = x @ params[:k]
    low, upp = tt[y] - xb, tt[y + 1] - xb
    cu, cl = expit(upp), expit(low)
    prob = cu - cl + 1e-20
    fu = cu * (1.0 - cu) / prob
    fl = cl * (1.0 - cl) / prob
    rows = np.arange(n)
    d = np.zeros((n, n_thr + 1))
    d[rows, y] += fu
    below = y > 0
    d[rows[below], y[below] - 1] -= fl[below]
    d = d[:, :n_thr]
    tail = np.cumsum(d[:, ::-1], axis=1)[:, ::-1]
    tail[:, 1:] *= np.exp(params[k + 1 :])
    return np.column_stack([-(fu - fl)[:, None] * x, tail])


@dataclass(frozen=True)
class OrdinalFit:
    """A fitted proportional-odds model.

    ``odds_ratios[term]`` is the odds ratio of a worse (later) category per
    unit of a numeric predictor or against the reference level of a
    categorical one (terms are named ``variable[level]``), with a Wald
    interval on the log scale and ``n`` = rows used. ``thresholds`` are the
    cut-points on the linear-predictor scale, named ``"A|B"`` for the cut
    between categories A and B. ``converged`` is the optimiser's report
    combined with a positive-definite Hessian; ``separated_terms`` lists terms
    whose estimates ran off towards infinity (no finite maximum likelihood
    estimate exists); ``notes`` says what was dropped, merged or went wrong.
    """

    outcome: str
    categories: tuple[str, ...]
    terms: tuple[str, ...]
    coefficients: dict[str, float]
    std_errors: dict[str, float]
    odds_ratios: dict[str, Estimate]
    p_values: dict[str, float]
    thresholds: dict[str, float]
    n: int
    n_dropped_missing: int
    converged: bool
    log_likelihood: float
    separated_terms: tuple[str, ...]
    notes: tuple[str, ...]
    level: float
    spec: DesignSpec = field(repr=False)
    fitted_categories: tuple[str, ...] = field(repr=False)
    params_internal: FloatArray = field(repr=False, compare=False)
    cov_internal: FloatArray = field(repr=False, compare=False)
    row_ids: npt.NDArray[np.int64] = field(repr=False, compare=False)
    exog_internal: FloatArray = field(repr=False, compare=False)
    endog_codes: npt.NDArray[np.int64] = field(repr=False, compare=False)

    method: str = (
        "proportional-odds logistic regression (statsmodels OrderedModel, logit); Wald intervals"
    )

    @property
    def ok(self) -> bool:
        """Converged, with no sign of separation: the numbers can be read."""
        return self.converged and not self.separated_terms

    def odds_ratio(self, term: str) -> Estimate:
        if term not in self.odds_ratios:
            raise KeyError(f"no term {term!r}; terms are {list(self.terms)}")
        return self.odds_ratios[term]

    def odds_ratio_rows(self, keep: Callable[[str], bool]) -> list[dict[str, Any]]:
        """One plain row per kept term: term, odds_ratio, low, high, n and whether the fit is ok."""
        return [
            {"term": t, "odds_ratio": e.value, "low": e.low, "high": e.high, "n": e.n, "converged": self.ok}
            for t in self.terms
            if keep(t)
            for e in (self.odds_ratios[t],)
        ]

    def summary(self) -> pl.DataFrame:
        """One row per term: odds ratio, interval, log-odds coefficient, SE, p-value, n."""
        return pl.DataFrame(
            {
                "term": list(self.terms),
                "odds_ratio": [self.odds_ratios[t].value for t in self.terms],
                "low": [self.odds_ratios[t].low for t in self.terms],
                "high": [self.odds_ratios[t].high for t in self.terms],
                "log_odds": [self.coefficients[t] for t in self.terms],
                "std_error": [self.std_errors[t] for t in self.terms],
                "p_value": [self.p_values[t] for t in self.terms],
                "n": [self.n] * len(self.terms),
            },
            schema={
                "term": pl.Utf8,
                "odds_ratio": pl.Float64,
                "low": pl.Float64,
                "high": pl.Float64,
                "log_odds": pl.Float64,
                "std_error": pl.Float64,
                "p_value": pl.Float64,
                "n": pl.Int64,
            },
        )

    def _cut_internal(self) -> FloatArray:
        k = len(self.spec.columns)
        th = self.params_internal[k:]
        return np.cumsum(np.concatenate([th[:1], np.exp(th[1:])]))

    def predict_distribution(self, new_df: Any) -> pl.DataFrame:
        """Predicted probability of each category for every row of ``new_df``.

        Returns a frame with one ``p_<category>`` column per category (in
        order), aligned row for row with ``new_df``; rows missing a predictor
        get nulls. A category absent from the fitting data gets probability 0.
        A categorical level the model never saw raises ``ValueError``.
        """
        frame = as_polars(new_df)
        absent = [p for p in self.spec.predictors if p not in frame.columns]
        if absent:
            raise KeyError(f"columns not in the frame: {absent}")
        n_rows = frame.height
        out = np.full((n_rows, len(self.categories)), np.nan)
        if self.spec.predictors:
            miss = pl.any_horizontal(
                [missing_expr(p, frame.schema[p]) for p in self.spec.predictors]
            )
            complete = ~frame.select(miss.alias("m"))["m"].to_numpy()
        else:
            complete = np.ones(n_rows, dtype=bool)
        if complete.any() and np.all(np.isfinite(self.params_internal)):
            sub = self.spec.recode(frame.filter(pl.Series(complete)))
            x = self.spec.matrix(sub, standardise=True)
            k = len(self.spec.columns)
            xb = x @ self.params_internal[:k]
            cum = expit(self._cut_internal()[None, :] - xb[:, None])
            full = np.column_stack([np.zeros(len(xb)), cum, np.ones(len(xb))])
            probs = np.diff(full, axis=1)
            idx = [self.categories.index(c) for c in self.fitted_categories]
            block = np.zeros((len(xb), len(self.categories)))
            block[:, idx] = probs
            out[complete] = block
        data = {f"p_{c}": out[:, j] for j, c in enumerate(self.categories)}
        return pl.DataFrame(data).with_columns(pl.all().fill_nan(None))

    def _score_obs(self) -> FloatArray:
        return _score_obs_arrays(self.endog_codes, self.exog_internal, self.params_internal)

    def cluster_cov(self, groups: Sequence[object] | npt.NDArray[Any]) -> FloatArray:
        """Cluster-robust (sandwich) covariance of the internal parameters, clusters given per
        fitted row (aligned with ``row_ids``: the complete rows in their order): ``H^-1 B H^-1``
        with ``B`` the sum over clusters of the outer product of the cluster's summed scores,
        times ``G / (G - 1) * (n - 1) / (n - p)`` for ``G`` clusters, ``n`` rows and ``p``
        parameters (statsmodels' ``cov_type="cluster"`` small-sample correction)."""
        g = np.asarray(groups)
        if len(g) != self.n:
            raise ValueError(f"groups has {len(g)} values for {self.n} fitted rows")
        _, codes = np.unique(g, return_inverse=True)
        n_groups = int(codes.max()) + 1 if len(codes) else 0
        psi = self._score_obs() @ self.cov_internal  # per-row influence (n x p)
        summed = np.zeros((n_groups, psi.shape[1]))
        np.add.at(summed, codes, psi)
        cov = summed.T @ summed
        n, p = psi.shape
        if n_groups > 1 and n > p:
            cov *= n_groups / (n_groups - 1) * (n - 1) / (n - p)
        return np.asarray((cov + cov.T) / 2.0)

    def predict_intervals(
        self,
        new_df: Any,
        cov: FloatArray | None = None,
        level: float | None = None,
        at_or_worse: bool = False,
    ) -> pl.DataFrame:
        """:meth:`predict_distribution` with a ``level`` interval for each probability:
        ``p_<c>``, ``p_<c>_low``, ``p_<c>_high`` per category, row for row with ``new_df``.

        Delta method on the logit scale: the gradient of each category's probability in the
        internal parameters (coefficients, first cut-point, log increments of the others) with
        ``cov`` (default: the fit's inverse-Hessian covariance ``cov_internal``) gives the
        probability's standard error; the interval is ``expit(logit(p) +- z * se / (p(1-p)))``,
        so it stays inside 0 and 1. Deterministic (no draws). A category absent from the fit
        gets probability 0 with no interval; rows missing a predictor get nulls.
        ``at_or_worse``: also ``q_<c>``, ``q_<c>_low``, ``q_<c>_high``, the probability of
        category ``c`` or a later one, for each fitted category after the first (same method).
        """
        level = self.level if level is None else level
        v = self.cov_internal if cov is None else np.asarray(cov, dtype=np.float64)
        point = self.predict_distribution(new_df)
        frame = as_polars(new_df)
        n_rows = frame.height
        n_cat = len(self.categories)
        low = np.full((n_rows, n_cat), np.nan)
        high = np.full((n_rows, n_cat), np.nan)
        n_cut = len(self.fitted_categories) - 1
        q_p = np.full((n_rows, n_cut), np.nan)
        q_lo = np.full((n_rows, n_cut), np.nan)
        q_hi = np.full((n_rows, n_cut), np.nan)
        complete = point[f"p_{self.categories[0]}"].is_not_null().to_numpy()
        ok = np.all(np.isfinite(v)) and np.all(np.isfinite(self.params_internal))
        if complete.any() and ok:
            sub = self.spec.recode(frame.filter(pl.Series(complete)))
            x = self.spec.matrix(sub, standardise=True)
            k = len(self.spec.columns)
            a = self.params_internal[k:]
            m = len(a)  # cut-points
            cuts = self._cut_internal()
            tj = np.zeros((m, m))  # d t_j / d a_i
            tj[:, 0] = 1.0
            for i in range(1, m):
                tj[i:, i] = math.exp(a[i])
            z = z_value(level)
            idx = [self.categories.index(c) for c in self.fitted_categories]
            rows = np.flatnonzero(complete)
            for start in range(0, len(rows), 4096):
                xs = x[start : start + 4096]
                xb = xs @ self.params_internal[:k]
                c = expit(cuts[None, :] - xb[:, None])  # (r, m)
                f = c * (1.0 - c)
                # d c_j / d theta: (r, m, p)
                dc = np.concatenate(
                    [-f[:, :, None] * xs[:, None, :], f[:, :, None] * tj[None, :, :]], axis=2
                )
                zeros = np.zeros((len(xb), 1, dc.shape[2]))
                full = np.concatenate([zeros, dc, zeros], axis=1)
                grad = np.diff(full, axis=1)  # (r, K_fitted, p)
                probs = np.diff(np.column_stack([np.zeros(len(xb)), c, np.ones(len(xb))]), axis=1)
                var = _quadratic_forms(grad, v)
                se = np.sqrt(np.clip(var, 0.0, None))
                with np.errstate(divide="ignore", invalid="ignore"):
                    pc = np.clip(probs, 1e-300, 1.0 - 1e-16)
                    lg = np.log(pc / (1.0 - pc))
                    half = z * se / (pc * (1.0 - pc))
                    lo, hi = expit(lg - half), expit(lg + half)
                r = rows[start : start + 4096]
                blo = np.zeros((len(xb), n_cat))
                bhi = np.zeros((len(xb), n_cat))
                blo[:, idx], bhi[:, idx] = lo, hi
                absent = [j for j in range(n_cat) if j not in idx]
                blo[:, absent] = np.nan
                bhi[:, absent] = np.nan
                low[r], high[r] = blo, bhi
                if at_or_worse:
                    var_c = _quadratic_forms(dc, v)
                    se_c = np.sqrt(np.clip(var_c, 0.0, None))
                    qc = np.clip(1.0 - c, 1e-300, 1.0 - 1e-16)
                    lq = np.log(qc / (1.0 - qc))
                    hq = z * se_c / (qc * (1.0 - qc))
                    q_p[r], q_lo[r], q_hi[r] = 1.0 - c, expit(lq - hq), expit(lq + hq)
        cols: list[pl.Series] = []
        for j, cat in enumerate(self.categories):
            cols += [
                point[f"p_{cat}"],
                pl.Series(f"p_{cat}_low", low[:, j]),
                pl.Series(f"p_{cat}_high", high[:, j]),
            ]
        if at_or_worse:
            for j, cat in enumerate(self.fitted_categories[1:]):
                cols += [
                    pl.Series(f"q_{cat}", q_p[:, j]),
                    pl.Series(f"q_{cat}_low", q_lo[:, j]),
                    pl.Series(f"q_{cat}_high", q_hi[:, j]),
                ]
        return pl.DataFrame(cols).with_columns(pl.all().fill_nan(None))


def _quadratic_forms(g: FloatArray, v: FloatArray) -> FloatArray:
    """``g[r, k] @ v @ g[r, k]`` for every (r, k): one matrix product, then a row-wise dot
    (a three-operand ``einsum`` loops over all four indices: ~10x slower; the sums agree to
    ~1e-15 relative)."""
    gv = (g.reshape(-1, g.shape[-1]) @ v).reshape(g.shape)
    return np.asarray(np.einsum("rkq,rkq->rk", gv, g))


Engine = Literal["newton", "statsmodels"]
#: Newton steps stop when no parameter moves more than this (log-odds scale).
NEWTON_TOL = 1e-10
#: The information matrix (minus the Hessian) counts as singular when its smallest eigenvalue is
#: at most this share of its largest, so that a collinear design fails the same way on every
#: machine, not only where rounding happens to leave that eigenvalue negative. Smallest over
#: largest: 1e-5 and up in the real-data fits; 1.9e-17 for two collinear columns (whose smallest
#: eigenvalue came out +4.2e-14 on one machine, which a Cholesky let through).
HESSIAN_RCOND = 1e-12


def _newton_parts(
    y: npt.NDArray[np.int64], x: FloatArray, beta: FloatArray, cuts: FloatArray, hessian: bool
) -> tuple[float, FloatArray, FloatArray | None]:
    """Log-likelihood, score and (optionally) Hessian in (beta, cut-points), analytically.

    For a row in category y, with u = t_y - x'b and l = t_{y-1} - x'b (t_{-1} = -inf,
    t_{K-1} = +inf), the likelihood is p = F(u) - F(l), F the logistic cdf; the first and
    second derivatives of log p in u and l give every entry (as statsmodels computes p).
    """
    n_thr = len(cuts)
    xb = x @ beta
    tt = np.concatenate([[-np.inf], cuts, [np.inf]])
    upp = tt[y + 1] - xb
    low = tt[y] - xb
    fu_c, fl_c = expit(upp), expit(low)
    prob = fu_c - fl_c + 1e-20
    loglike = float(np.sum(np.log(prob)))
    fu, fl = fu_c * (1.0 - fu_c), fl_c * (1.0 - fl_c)
    au, al = fu / prob, -fl / prob  # d log p / du, d log p / dl
    grad_beta = -(x.T @ (au + al))
    upper_idx, lower_idx = y, y - 1  # index of t in u (valid below K-1) and in l (valid above 0)
    grad_t = (
        np.bincount(upper_idx, weights=au, minlength=n_thr + 1)[:n_thr]
        + np.bincount(y, weights=al, minlength=n_thr + 1)[1:]
    )
    grad = np.concatenate([grad_beta, grad_t])
    if not hessian:
        return loglike, grad, None
    huu = fu * (1.0 - 2.0 * fu_c) / prob - au * au
    hll = -fl * (1.0 - 2.0 * fl_c) / prob - al * al
    hul = -au * al
    k = x.shape[1]
    h = np.empty((k + n_thr, k + n_thr))
    h[:k, :k] = (x * (huu + 2.0 * hul + hll)[:, None]).T @ x
    wu = np.zeros((len(y), n_thr))
    rows = np.arange(len(y))
    up = upper_idx < n_thr
    wu[rows[up], upper_idx[up]] = (huu + hul)[up]
    lo = lower_idx >= 0
    wl = np.zeros((len(y), n_thr))
    wl[rows[lo], lower_idx[lo]] = (hul + hll)[lo]
    h_bt = -(x.T @ (wu + wl))
    h[:k, k:] = h_bt
    h[k:, :k] = h_bt.T
    h_tt = np.zeros((n_thr, n_thr))
    diag = (
        np.bincount(upper_idx, weights=huu, minlength=n_thr + 1)[:n_thr]
        + np.bincount(y, weights=hll, minlength=n_thr + 1)[1:]
    )
    h_tt[np.arange(n_thr), np.arange(n_thr)] = diag
    if n_thr > 1:
        # t_j in l and t_{j+1} in u: rows in category j + 1
        off = np.bincount(y, weights=hul, minlength=n_thr + 1)[1:n_thr]
        h_tt[np.arange(n_thr - 1), np.arange(1, n_thr)] = off
        h_tt[np.arange(1, n_thr), np.arange(n_thr - 1)] = off
    h[k:, k:] = h_tt
    return loglike, grad, h


def _to_internal(
    beta: FloatArray, cuts: FloatArray, grad: FloatArray, hess: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(beta, cut-points) to statsmodels' parameters (beta, t_0, log increments), with the
    Hessian by the chain rule (exact: the second-derivative term of exp included)."""
    k, n_thr = len(beta), len(cuts)
    incr = np.log(np.diff(cuts))
    params = np.concatenate([beta, cuts[:1], incr])
    jac = np.eye(k + n_thr)
    # t_j = a_0 + sum_{i=1..j} exp(a_i)
    block = np.zeros((n_thr, n_thr))
    block[:, 0] = 1.0
    for i in range(1, n_thr):
        block[i:, i] = math.exp(incr[i - 1])
    jac[k:, k:] = block
    h = jac.T @ hess @ jac
    g_t = grad[k:]
    for i in range(1, n_thr):
        h[k + i, k + i] += float(np.sum(g_t[i:])) * math.exp(incr[i - 1])
    return params, (h + h.T) / 2.0


def _well_conditioned(information: FloatArray) -> bool:
    """Positive definite and not numerically singular (see :data:`HESSIAN_RCOND`)."""
    eig = np.linalg.eigvalsh((information + information.T) / 2.0)
    return bool(eig[0] > HESSIAN_RCOND * eig[-1] > 0.0)


def _newton_arrays(
    y: npt.NDArray[np.int64], x: FloatArray, maxiter: int = 100
) -> tuple[FloatArray, FloatArray, float] | None:
    """Maximum likelihood by Newton-Raphson with step halving on (beta, cut-points).

    The proportional-odds log-likelihood is concave in (beta, cut-points), so from the
    exact no-covariate solution Newton converges to machine precision in a few steps.
    Returns (internal params, internal Hessian, loglike), or None when the steps do not
    settle (separation, a singular design): the caller then uses the statsmodels route.
    """
    n_cat = int(y.max()) + 1
    k = x.shape[1]
    share = np.cumsum(np.bincount(y, minlength=n_cat))[:-1] / len(y)
    cuts = np.log(share / (1.0 - share))
    beta = np.zeros(k)
    ll, grad, hess = _newton_parts(y, x, beta, cuts, True)
    for _ in range(maxiter):
        assert hess is not None
        try:
            step = np.linalg.solve(-hess, grad)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        alpha = 1.0
        while True:
            nb, nc = beta + alpha * step[:k], cuts + alpha * step[k:]
            if np.all(np.diff(nc) > 0):
                nll, ngrad, nhess = _newton_parts(y, x, nb, nc, True)
                if math.isfinite(nll) and nll >= ll - 1e-9 * max(1.0, abs(ll)):
                    break
            alpha /= 2.0
            if alpha < 1e-8:
                return None
        moved = float(np.max(np.abs(alpha * step)))
        beta, cuts, ll, grad, hess = nb, nc, nll, ngrad, nhess
        if moved < NEWTON_TOL and alpha == 1.0:
            assert hess is not None
            params, h_int = _to_internal(beta, cuts, grad, hess)
            return params, h_int, ll
    return None


def _fit_arrays(
    y: npt.NDArray[np.int64],
    x: FloatArray,
    maxiter: int,
    start: FloatArray | None = None,
    engine: Engine = "newton",
) -> tuple[FloatArray, FloatArray, bool, float, list[str]]:
    """Fit the model on arrays: (params, cov, converged, loglike, notes).

    ``engine="newton"`` (default): analytic score and Hessian, Newton-Raphson to machine
    precision; where it does not settle (separation, collinearity) the statsmodels route
    below is used instead, so those cases are reported as before. ``engine="statsmodels"``:
    OrderedModel's BFGS (convergence at a mean score of 1e-5) and a numerical Hessian of the
    analytic score (the route used before; kept as the reference in tests and benches).
    """
    notes: list[str] = []
    hess: FloatArray | None = None
    if engine == "newton" and start is None:
        with np.errstate(all="ignore"):
            done = _newton_arrays(y, x)
        if done is not None:
            params, hess, loglike = done
            converged = True
    if hess is None:
        model = _LogitOrderedModel(y, x, distr="logit")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(start_params=start, method="bfgs", maxiter=maxiter, disp=0)
            params = np.asarray(res.params, dtype=np.float64)
            converged = bool(res.mle_retvals.get("converged", False))
            if not converged:
                res2 = model.fit(start_params=params, method="newton", maxiter=100, disp=0)
                params2 = np.asarray(res2.params, dtype=np.float64)
                if bool(res2.mle_retvals.get("converged", False)) and np.all(np.isfinite(params2)):
                    params, converged = params2, True
                    notes.append("BFGS did not converge; Newton steps from its end point did")
                else:
                    notes.append(f"the optimiser did not converge within {maxiter} iterations")
            loglike = float(model.loglike(params))
            hess = model.hessian(params)
    assert hess is not None
    cov = np.full((len(params), len(params)), np.nan)
    if np.all(np.isfinite(hess)):
        try:
            if not _well_conditioned(-hess):
                raise np.linalg.LinAlgError("singular information matrix")
            cov = np.linalg.inv(-hess)
            cov = (cov + cov.T) / 2.0
        except np.linalg.LinAlgError:
            converged = False
            notes.append(
                "the Hessian is not negative definite at the end point: standard errors "
                "unavailable (a term may be collinear with others or separated)"
            )
    else:
        converged = False
        notes.append("the Hessian could not be computed: standard errors unavailable")
    return params, cov, converged, loglike, notes


def _refit_point(
    y: npt.NDArray[np.int64], x: FloatArray, start: FloatArray, hess_inv0: FloatArray
) -> FloatArray | None:
    """Point estimate only, BFGS warm-started from a fit and its covariance (bootstrap)."""
    model = _LogitOrderedModel(y, x, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = optimize.minimize(
            lambda p: -model.loglike(p),
            start,
            jac=lambda p: -model.score(p),
            method="BFGS",
            options={"hess_inv0": hess_inv0, "gtol": 1e-6, "maxiter": 500},
        )
    if not res.success and not np.all(np.abs(model.score(res.x)) < 1e-3):
        return None
    return np.asarray(res.x, dtype=np.float64)


@one_blas_thread
def fit_ordinal(
    df: Any,
    outcome: str,
    categories_in_order: Sequence[object],
    predictors: Sequence[str],
    categorical: Sequence[str] = (),
    reference: Mapping[str, object] | None = None,
    *,
    min_level_rows: int = 30,
    level: float = 0.95,
    maxiter: int = 1000,
    engine: Engine = "newton",
) -> OrdinalFit:
    """Fit a proportional-odds logistic model of ``outcome``.

    Parameters
    ----------
    df:
        A Polars or pandas frame.
    outcome:
        The judgement column; its values, compared as text, must all be in
        ``categories_in_order`` (best first for grades: ``["1", "2", "3", "4"]``).
        Any other value raises ``ValueError`` (filter "Not judged" first).
    predictors, categorical, reference:
        Columns in the model; those in ``categorical`` become dummies against
        ``reference[column]`` (most frequent level when not given, with a note).
    min_level_rows:
        Non-reference levels with fewer complete rows than this are merged
        into one level ``other`` (with a note), which keeps sparse levels from
        producing separated, meaningless odds ratios.
    engine:
        ``"newton"`` (default): analytic score and Hessian, Newton-Raphson to machine
        precision (falls back to the statsmodels route where it does not settle).
        ``"statsmodels"``: OrderedModel's BFGS and a numerical Hessian, the reference
        route the tests compare against.

    Rows missing the outcome or any predictor are dropped and counted
    (``n_dropped_missing``). Non-convergence and separation are reported in
    ``converged``, ``separated_terms`` and ``notes``; they never raise.
    """
    if engine not in ("newton", "statsmodels"):
        raise ValueError(f"engine must be 'newton' or 'statsmodels', got {engine!r}")
    categories = tuple(level_text(c) for c in categories_in_order)
    if len(set(categories)) != len(categories) or len(categories) < 2:
        raise ValueError(f"categories_in_order must hold 2+ distinct values, got {categories}")
    prepared = prepare(df, [outcome], predictors, categorical, reference, min_level_rows)
    frame, spec = prepared.frame, prepared.spec
    notes = list(prepared.notes)
    y_text = frame.select(text_expr(outcome, frame.schema[outcome]).alias("y"))["y"]
    unknown = sorted(set(y_text.unique().to_list()) - set(categories))
    if unknown:
        raise ValueError(
            f"{outcome!r} has values outside categories_in_order {list(categories)}: {unknown}"
        )
    present = set(y_text.unique().to_list())
    fitted = tuple(c for c in categories if c in present)
    if len(fitted) < 2:
        raise ValueError(f"{outcome!r} has fewer than two categories in the complete rows")
    if len(fitted) < len(categories):
        notes.append(
            f"categories with no rows were left out of the fit (predicted probability 0): "
            f"{[c for c in categories if c not in present]}"
        )
    if not spec.columns:
        raise ValueError("no usable predictors remain (see the notes of prepare)")
    code_of = {c: i for i, c in enumerate(fitted)}
    y = np.array([code_of[v] for v in y_text.to_list()], dtype=np.int64)
    x = spec.matrix(frame, standardise=True)
    n = len(y)
    k = x.shape[1]
    row_ids = frame[ROW_ID].to_numpy().astype(np.int64)

    try:
        params, cov, converged, loglike, fit_notes = _fit_arrays(y, x, maxiter, engine=engine)
        notes.extend(fit_notes)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        params = np.full(k + len(fitted) - 1, np.nan)
        cov = np.full((len(params), len(params)), np.nan)
        converged, loglike = False, math.nan
        notes.append(f"the model could not be fitted: {exc}")

    unscale = spec.unscale()
    coef = params[:k] * unscale
    se_internal = np.sqrt(np.clip(np.diag(cov)[:k], 0.0, None))
    se = se_internal * unscale
    z = z_value(level)
    separated: list[str] = []
    for j, term in enumerate(spec.columns):
        if (
            abs(params[j]) > SEPARATION_LOG_OR
            or (math.isfinite(se_internal[j]) and se_internal[j] > SEPARATION_SE)
            or (not math.isfinite(se_internal[j]) and math.isfinite(params[j]))
        ):
            separated.append(term)
    if separated:
        notes.append(
            "possible (quasi-)complete separation: no finite estimate for "
            f"{separated}; their odds ratios and intervals are not meaningful"
        )

    odds: dict[str, Estimate] = {}
    pvals: dict[str, float] = {}
    for j, term in enumerate(spec.columns):
        b, s = float(coef[j]), float(se[j])
        if math.isfinite(s) and s > 0:
            odds[term] = Estimate(
                math.exp(b), math.exp(b - z * s), math.exp(b + z * s), n, level, "Wald, log scale"
            )
            pvals[term] = float(2.0 * stats.norm.sf(abs(b / s)))
        else:
            value = math.exp(b) if math.isfinite(b) and abs(b) < 700 else math.nan
            odds[term] = Estimate(value, math.nan, math.nan, n, level, "Wald, log scale")
            pvals[term] = math.nan

    cuts = np.cumsum(np.concatenate([params[k : k + 1], np.exp(params[k + 1 :])]))
    shift = spec.offset_shift(params[:k])
    thresholds = {
        f"{fitted[j]}|{fitted[j + 1]}": float(cuts[j] + shift) for j in range(len(fitted) - 1)
    }
    return OrdinalFit(
        outcome=outcome,
        categories=categories,
        terms=spec.columns,
        coefficients={t: float(coef[j]) for j, t in enumerate(spec.columns)},
        std_errors={t: float(se[j]) for j, t in enumerate(spec.columns)},
        odds_ratios=odds,
        p_values=pvals,
        thresholds=thresholds,
        n=n,
        n_dropped_missing=prepared.n_dropped_missing,
        converged=converged,
        log_likelihood=loglike,
        separated_terms=tuple(separated),
        notes=tuple(notes),
        level=level,
        spec=spec,
        fitted_categories=fitted,
        params_internal=params,
        cov_internal=cov,
        row_ids=row_ids,
        exog_internal=x,
        endog_codes=y,
    )


def _term_index(fit: OrdinalFit, term: str) -> int:
    if term not in fit.terms:
        raise KeyError(f"term {term!r} is not in the model; terms are {list(fit.terms)}")
    return fit.terms.index(term)


@one_blas_thread
def gradient_share_explained(
    fit_without: OrdinalFit,
    fit_with: OrdinalFit,
    term: str,
    *,
    method: Literal["delta", "bootstrap"] = "delta",
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Share of a deprivation gradient explained by adding effectiveness.

    ``share = 1 - beta_with / beta_without`` where ``beta`` is the log odds
    ratio of ``term`` (e.g. ``"idaci_quintile[5]"``, most vs least deprived,
    or a linear trend term) in the model without and with the effectiveness
    measure. Both fits must use the same rows (fit them on the same complete
    cases: include the effectiveness column among the required columns of the
    first fit by dropping rows where it is missing beforehand).

    Interval, ``method="delta"`` (default, fast): delta method on the ratio
    with the joint robust (sandwich) covariance of the two coefficients,
    computed from the per-row score contributions of both models (stacked
    estimating equations), so the strong correlation between the two
    estimates is accounted for. ``method="bootstrap"``: percentile interval
    from ``n_boot`` case-resampling replicates (seeded with ``seed``), each
    refitting both models; slower (two fits per replicate).
    The share is not bounded by 0 and 1; it is unstable, and flagged in the
    method text, when ``beta_without`` is not clearly away from zero.
    """
    i1 = _term_index(fit_without, term)
    i2 = _term_index(fit_with, term)
    if fit_without.n != fit_with.n or not np.array_equal(fit_without.row_ids, fit_with.row_ids):
        raise ValueError(
            "the two fits use different rows; fit both on the same complete cases "
            f"(n without = {fit_without.n}, n with = {fit_with.n})"
        )
    b1 = float(fit_without.params_internal[i1])
    b2 = float(fit_with.params_internal[i2])
    n = fit_with.n
    share = 1.0 - b2 / b1 if b1 != 0 else math.nan
    se1 = math.sqrt(max(float(fit_without.cov_internal[i1, i1]), 0.0))
    weak = not (math.isfinite(se1) and abs(b1) > 2.0 * se1)
    caveat = "; gradient without effectiveness not clearly non-zero: unstable" if weak else ""
    if not (fit_without.converged and fit_with.converged) or not math.isfinite(share):
        return Estimate(share, math.nan, math.nan, n, level, f"not computed: a fit failed{caveat}")

    if method == "delta":
        psi1 = fit_without._score_obs() @ fit_without.cov_internal[:, i1]
        psi2 = fit_with._score_obs() @ fit_with.cov_internal[:, i2]
        v11 = float(psi1 @ psi1)
        v22 = float(psi2 @ psi2)
        v12 = float(psi1 @ psi2)
        g1, g2 = b2 / b1**2, -1.0 / b1
        var = g1 * g1 * v11 + g2 * g2 * v22 + 2.0 * g1 * g2 * v12
        se = math.sqrt(max(var, 0.0))
        z = z_value(level)
        return Estimate(
            share,
            share - z * se,
            share + z * se,
            n,
            level,
            f"delta method, joint sandwich covariance of the two log odds ratios{caveat}",
        )
    if method != "bootstrap":
        raise ValueError(f"method must be 'delta' or 'bootstrap', got {method!r}")

    rng = np.random.default_rng(seed)
    x1, y1 = fit_without.exog_internal, fit_without.endog_codes
    x2, y2 = fit_with.exog_internal, fit_with.endog_codes
    k1 = len(np.unique(y1))
    draws: list[float] = []
    skipped = 0
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if len(np.unique(y1[idx])) < k1:
            skipped += 1
            continue
        p1 = _refit_point(y1[idx], x1[idx], fit_without.params_internal, fit_without.cov_internal)
        p2 = _refit_point(y2[idx], x2[idx], fit_with.params_internal, fit_with.cov_internal)
        if p1 is None or p2 is None or p1[i1] == 0:
            skipped += 1
            continue
        draws.append(1.0 - p2[i2] / p1[i1])
    if len(draws) < max(10, n_boot // 2):
        return Estimate(share, math.nan, math.nan, n, level, "bootstrap failed: too few replicates")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(draws), [alpha, 1.0 - alpha])
    return Estimate(
        share,
        float(low),
        float(high),
        n,
        level,
        f"percentile bootstrap, {len(draws)} case-resampling replicates "
        f"(seed {seed}, {skipped} skipped){caveat}",
    )
