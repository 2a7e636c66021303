"""Variation between regions (the proxy for inspection teams) after controls.

Model: a random-intercept logistic regression of a binary judgement (for
example "good or better"),

    logit P(Y_ij = 1 | x_ij, u_j) = x_ij'beta + u_j,    u_j ~ N(0, sigma^2),

fitted by maximum likelihood, the likelihood integrated over each region's
intercept by adaptive Gauss-Hermite quadrature (as lme4's ``glmer`` with
``nAGQ > 1``). The between-region spread is reported as ``sigma`` and as the
latent-scale intraclass correlation

    ICC = sigma^2 / (sigma^2 + pi^2 / 3),

the share of the variance of the underlying (logistic) propensity that lies
between regions.

With only 8-10 regions the maximum-likelihood sigma is biased low (it divides
by the number of groups where an unbiased estimate would divide by one
fewer) and its likelihood-ratio interval under-covers (about 92% for a
nominal 95% with 8 groups, in the normal case). So sigma, the ICC and their
intervals come from the Cox-Reid adjusted profile likelihood

    l_R(sigma) = max_beta l(beta, sigma) - 1/2 log det J_beta(sigma),

the REML-type correction for estimating the fixed effects (it equals REML in
the linear mixed model), with ``J_beta`` the Laplace-form information for
beta. The interval is {sigma : 2 [l_R(sigma_hat) - l_R(sigma)] <= chi2_1(level)}
(deterministic: no resampling; the ICC is a monotone function of sigma, so its
interval is the transformed sigma interval). The maximum-likelihood sigma is
kept as ``sigma_ml``. The test of "no region effect" is the likelihood-ratio
test of the maximum-likelihood fit against the ordinary logistic model, with
the p-value from the 50:50 mixture of chi-square(0) and chi-square(1) that
holds when the null value sigma = 0 is on the boundary (Self & Liang 1987).

Why this and not a linear-probability mixed model or a Bayesian GLMM: see
``docs/decisions/0100-region-variation-glmm.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numpy.polynomial.hermite import hermgauss
from scipy import optimize, stats
from scipy.special import expit

from evenhand.stats.blas import one_blas_thread
from evenhand.stats.design import level_text, prepare, text_expr
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import z_value

__all__ = ["RegionVariation", "fit_region_variation", "latent_icc", "softplus_and_expit"]

FloatArray = npt.NDArray[np.float64]
LOGISTIC_VARIANCE = math.pi**2 / 3.0
#: Below this sigma the random intercept is treated as absent (boundary fit).
SIGMA_FLOOR = 1e-4
#: Tolerances of the adjusted profile: the gradient norm of each inner fit of beta at a fixed
#: sigma, and the bracket on sigma of its maximum and of each interval end.
PROFILE_GTOL = 1e-6
SIGMA_XTOL = 1e-5


def softplus_and_expit(lin: FloatArray, want_expit: bool = True) -> tuple[FloatArray, FloatArray | None]:
    """``log(1 + exp(lin))`` and ``expit(lin)``, from ``e = exp(-|lin|)``, in vectorised ufuncs.

    ``softplus = max(lin, 0) + log1p(e)`` and ``expit = exp(min(lin, 0)) / (1 + e)``: the values
    of ``np.logaddexp(0, lin)`` and ``scipy.special.expit(lin)`` to within 4 units of
    ``np.finfo(float).eps`` relative, over the whole float range, with no overflow (``exp``
    only sees values <= 0). In the region fits' likelihood (a rows x nodes array) this costs
    about half of those two calls (decision 1800).
    """
    e = np.exp(-np.abs(lin))
    softplus = np.maximum(lin, 0.0) + np.log1p(e)
    if not want_expit:
        return softplus, None
    return softplus, np.exp(np.minimum(lin, 0.0)) / (1.0 + e)


def latent_icc(sigma: float) -> float:
    """Latent-scale ICC of a random-intercept logistic model with intercept SD ``sigma``."""
    s2 = sigma * sigma
    return s2 / (s2 + LOGISTIC_VARIANCE)


@dataclass(frozen=True)
class RegionVariation:
    """Between-group variation of a binary judgement after controls.

    ``sigma`` is the SD of the group intercepts on the log-odds scale and
    ``icc`` the latent-scale intraclass correlation, each REML-type (Cox-Reid
    adjusted profile likelihood) with its adjusted-profile interval and
    ``n`` = rows used; ``sigma_ml`` is the maximum-likelihood SD. ``lrt_statistic`` and
    ``lrt_p_value`` test sigma = 0 (boundary mixture p-value).
    ``fixed_effects`` are odds ratios of the POSITIVE outcome, per unit or
    against the reference level, conditional on the group. ``group_effects``
    are each group's intercept deviation (log-odds) as the posterior mean
    given the fitted model, with an approximate interval from its posterior
    SD (which ignores the uncertainty in beta and sigma) and ``n`` = that
    group's rows.
    """

    outcome: str
    group: str
    n: int
    n_groups: int
    n_dropped_missing: int
    share_positive: float
    sigma: Estimate
    sigma_ml: float
    icc: Estimate
    lrt_statistic: float
    lrt_p_value: float
    fixed_effects: dict[str, Estimate]
    group_effects: dict[str, Estimate]
    log_likelihood: float
    log_likelihood_no_groups: float
    converged: bool
    notes: tuple[str, ...]
    level: float
    n_quadrature: int
    method: str = (
        "random-intercept logistic regression by adaptive Gauss-Hermite quadrature; "
        "latent ICC = sigma^2/(sigma^2 + pi^2/3); sigma and its interval from the Cox-Reid "
        "adjusted (REML-type) profile likelihood; likelihood-ratio test of the "
        "maximum-likelihood fit with the chi-square(0)/chi-square(1) boundary mixture"
    )

    def summary(self) -> pl.DataFrame:
        """Group effects as a frame: group, n, effect (log-odds), low, high."""
        names = list(self.group_effects)
        return pl.DataFrame(
            {
                "group": names,
                "n": [self.group_effects[g].n for g in names],
                "effect": [self.group_effects[g].value for g in names],
                "low": [self.group_effects[g].low for g in names],
                "high": [self.group_effects[g].high for g in names],
            },
            schema={
                "group": pl.Utf8,
                "n": pl.Int64,
                "effect": pl.Float64,
                "low": pl.Float64,
                "high": pl.Float64,
            },
        )


class _RandomInterceptLogit:
    """Marginal log-likelihood of a random-intercept logit by adaptive Gauss-Hermite."""

    def __init__(
        self, y: FloatArray, x: FloatArray, groups: npt.NDArray[np.int64], n_quad: int
    ) -> None:
        order = np.argsort(groups, kind="stable")
        self.y = y[order]
        self.x = x[order]
        self.g = groups[order]
        self.n_groups = int(self.g.max()) + 1
        self.starts = np.searchsorted(self.g, np.arange(self.n_groups))
        self.sizes = np.bincount(self.g, minlength=self.n_groups)
        nodes, weights = hermgauss(n_quad)
        self.nodes = nodes
        self.log_w = np.log(weights) + nodes**2
        self._u = np.zeros(self.n_groups)

    def _gsum(self, a: FloatArray) -> FloatArray:
        return np.asarray(np.add.reduceat(a, self.starts, axis=0))

    def _rows(self, per_group: FloatArray) -> FloatArray:
        """Each group's row of ``per_group`` repeated for its rows (rows are sorted by group):
        the same values as ``per_group[self.g]``, without a gather."""
        return np.repeat(per_group, self.sizes, axis=0)

    def _modes(self, eta: FloatArray, sigma: float) -> tuple[FloatArray, FloatArray]:
        """Posterior mode of each group's intercept and the curvature there."""
        u = self._u.copy()
        inv_s2 = 1.0 / (sigma * sigma)
        curv = np.ones(self.n_groups)
        for _ in range(100):
            p = expit(eta + self._rows(u))
            grad = self._gsum(self.y - p) - u * inv_s2
            curv = self._gsum(p * (1.0 - p)) + inv_s2
            step = grad / curv
            u = u + step
            if np.max(np.abs(step)) < 1e-10:
                break
        p = expit(eta + self._rows(u))
        curv = self._gsum(p * (1.0 - p)) + inv_s2
        if np.all(np.isfinite(u)):
            self._u = u
        return u, curv

    def evaluate(
        self, beta: FloatArray, log_sigma: float, gradient: bool = True
    ) -> tuple[float, FloatArray, FloatArray, FloatArray]:
        """(log-likelihood, gradient in (beta, log sigma), posterior means, posterior SDs)."""
        sigma = math.exp(log_sigma)
        eta = self.x @ beta
        mode, curv = self._modes(eta, sigma)
        scale = math.sqrt(2.0) / np.sqrt(curv)
        u_nodes = mode[:, None] + scale[:, None] * self.nodes[None, :]  # (G, Q)
        lin = eta[:, None] + self._rows(u_nodes)  # (n, Q)
        softplus, p_nodes = softplus_and_expit(lin, want_expit=gradient)
        ll_rows = self.y[:, None] * lin - softplus
        h = (
            self._gsum(ll_rows)
            - u_nodes**2 / (2.0 * sigma * sigma)
            - 0.5 * math.log(2.0 * math.pi * sigma * sigma)
        )
        a = self.log_w[None, :] + h
        top = a.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(a - top).sum(axis=1))
        loglik = float(np.sum(np.log(scale) + lse))
        post = np.exp(a - lse[:, None])  # posterior weights per group and node
        post_mean = (post * u_nodes).sum(axis=1)
        post_sd = np.sqrt(np.clip((post * u_nodes**2).sum(axis=1) - post_mean**2, 0.0, None))
        if not gradient:
            return loglik, np.zeros(0), post_mean, post_sd
        assert p_nodes is not None
        resid = ((self.y[:, None] - p_nodes) * self._rows(post)).sum(axis=1)
        grad_beta = self.x.T @ resid
        grad_ls = float(np.sum(post * (u_nodes**2 / (sigma * sigma) - 1.0)))
        return loglik, np.concatenate([grad_beta, [grad_ls]]), post_mean, post_sd

    def info_beta(self, beta: FloatArray, log_sigma: float | None) -> FloatArray:
        """Information for beta at fixed sigma, Laplace form (None: no random effect).

        sum_g [X_g'W_g X_g - b_g b_g' / (c_g + 1/sigma^2)] with W at the group modes,
        b_g = X_g'w_g and c_g = sum w_g: the Hessian of the Laplace-approximate
        marginal log-likelihood, treating W as locally constant.
        """
        eta = self.x @ beta
        if log_sigma is None:
            p = expit(eta)
            w = p * (1.0 - p)
            return np.asarray((self.x * w[:, None]).T @ self.x)
        sigma = math.exp(log_sigma)
        mode, _ = self._modes(eta, sigma)
        p = expit(eta + self._rows(mode))
        w = p * (1.0 - p)
        xw = self.x * w[:, None]
        total = xw.T @ self.x
        b = self._gsum(xw)  # (G, p)
        c = self._gsum(w) + 1.0 / (sigma * sigma)
        return np.asarray(total - (b / c[:, None]).T @ b)


def _logdet(m: FloatArray) -> float:
    sign, value = np.linalg.slogdet(m)
    return float(value) if sign > 0 else math.nan


def _logit_fit(y: FloatArray, x: FloatArray) -> tuple[FloatArray, float, FloatArray, bool]:
    """Ordinary logistic regression by Newton-Raphson: (beta, loglik, cov, converged)."""
    beta = np.zeros(x.shape[1])
    mean = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    beta[0] = math.log(mean / (1.0 - mean))
    converged = False
    info = np.eye(x.shape[1])
    for _ in range(100):
        p = expit(x @ beta)
        grad = x.T @ (y - p)
        info = (x * (p * (1.0 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    eta = x @ beta
    loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    try:
        cov = np.asarray(np.linalg.inv(info), dtype=np.float64)
    except np.linalg.LinAlgError:
        cov = np.full(info.shape, np.nan)
        converged = False
    return beta, loglik, cov, converged


def _numeric_hessian(grad: Callable[[FloatArray], FloatArray], at: FloatArray) -> FloatArray:
    k = len(at)
    h = np.zeros((k, k))
    for i in range(k):
        step = 1e-5 * max(1.0, abs(at[i]))
        e = np.zeros(k)
        e[i] = step
        h[:, i] = (grad(at + e) - grad(at - e)) / (2.0 * step)
    return (h + h.T) / 2.0


@one_blas_thread
def fit_region_variation(
    df: Any,
    outcome: str,
    group: str,
    predictors: Sequence[str],
    categorical: Sequence[str] = (),
    reference: Mapping[str, object] | None = None,
    *,
    positive: Collection[object] | None = None,
    level: float = 0.95,
    n_quadrature: int = 9,
    min_level_rows: int = 30,
) -> RegionVariation:
    """Random-intercept logistic model of a binary judgement by ``group`` (region).

    ``outcome`` is boolean / 0-1, or any column with ``positive`` naming the
    values (compared as text) that count as the positive outcome, e.g.
    ``positive={"1", "2"}`` for "good or better" on the four-point scale.
    ``predictors`` / ``categorical`` / ``reference`` are the controls, coded
    as in :func:`evenhand.stats.ordinal.fit_ordinal` (missing rows dropped
    and counted, sparse levels merged into ``other``). The group column must
    not be among the predictors.
    """
    if group in predictors:
        raise ValueError(f"the group column {group!r} cannot also be a predictor")
    prepared = prepare(df, [outcome, group], predictors, categorical, reference, min_level_rows)
    frame, spec = prepared.frame, prepared.spec
    notes = list(prepared.notes)
    if positive is None:
        dtype = frame.schema[outcome]
        if not (dtype == pl.Boolean or dtype.is_numeric()):
            raise ValueError(
                f"{outcome!r} is not boolean or 0/1; say which values are positive with `positive`"
            )
        raw = frame[outcome].cast(pl.Float64).to_numpy()
        if not set(np.unique(raw).tolist()) <= {0.0, 1.0}:
            raise ValueError(
                f"{outcome!r} is not boolean or 0/1; say which values are positive with `positive`"
            )
        y = raw.astype(np.float64)
    else:
        wanted = {level_text(v) for v in positive}
        text = frame.select(text_expr(outcome, frame.schema[outcome]).alias("t"))["t"]
        y = text.is_in(list(wanted)).to_numpy().astype(np.float64)
    group_text = frame.select(text_expr(group, frame.schema[group]).alias("g"))["g"]
    names = sorted(set(group_text.to_list()))
    if len(names) < 2:
        raise ValueError(f"need at least two groups in {group!r}, found {names}")
    code = {g: i for i, g in enumerate(names)}
    groups = np.array([code[g] for g in group_text.to_list()], dtype=np.int64)
    n = len(y)
    share = float(y.mean()) if n else math.nan
    if n == 0 or y.min() == y.max():
        raise ValueError(f"{outcome!r} takes one value only in the complete rows")
    if len(names) < 10:
        notes.append(
            f"only {len(names)} groups: the between-group SD rests on {len(names)} values, so "
            "its interval is wide and the maximum-likelihood estimate tends to be low"
        )
    x = np.column_stack([np.ones(n), spec.matrix(frame, standardise=True)])
    k = x.shape[1]
    z = z_value(level)
    crit = float(stats.chi2.ppf(level, 1))
    model = _RandomInterceptLogit(y, x, groups, n_quadrature)

    beta0, ll0, cov0, ok0 = _logit_fit(y, x)
    if not ok0:
        notes.append("the logistic model without groups did not converge (separation?)")

    def negative(theta: FloatArray) -> tuple[float, FloatArray]:
        ll, grad, _, _ = model.evaluate(theta[:k], float(theta[k]))
        return -ll, -grad

    converged = False
    best: tuple[float, FloatArray] = (math.inf, np.concatenate([beta0, [math.log(0.3)]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start_sigma in (0.3, 1.0):
            if math.isfinite(best[0]) and converged:
                break
            res = optimize.minimize(
                negative,
                np.concatenate([beta0, [math.log(start_sigma)]]),
                jac=True,
                method="BFGS",
                options={"gtol": 1e-5, "maxiter": 500},
            )
            if res.fun < best[0]:
                best = (float(res.fun), np.asarray(res.x, dtype=np.float64))
                converged = bool(res.success) or bool(np.max(np.abs(res.jac)) < 1e-3)
    theta = best[1]
    ll_full = -best[0]
    boundary = math.exp(theta[k]) < SIGMA_FLOOR or ll_full <= ll0 + 1e-9
    if boundary:
        sigma_hat = 0.0
        ll_full = ll0
        beta_hat, cov_beta = beta0, cov0
        notes.append("the between-group SD is estimated at 0 (boundary): no detectable variation")
        model._u = np.zeros(model.n_groups)
        _, _, post_mean, post_sd = model.evaluate(beta0, math.log(SIGMA_FLOOR), gradient=False)
    else:
        sigma_hat = math.exp(theta[k])
        beta_hat = theta[:k]
        hess = _numeric_hessian(lambda t: negative(t)[1], theta)
        try:
            cov_full = np.asarray(np.linalg.inv(hess), dtype=np.float64)
            cov_beta = cov_full[:k, :k]
            if np.any(np.diag(cov_beta) < 0):
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            cov_beta = np.full((k, k), np.nan)
            converged = False
            notes.append(
                "the Hessian is singular at the maximum: fixed-effect intervals unavailable"
            )
        _, _, post_mean, post_sd = model.evaluate(beta_hat, theta[k], gradient=False)
    if not converged:
        notes.append("the optimiser did not report convergence")

    # Adjusted profile likelihood for sigma (Cox-Reid; REML-type).
    profile_cache: dict[float, float] = {}
    warm = {"beta": beta_hat.copy()}
    hess_inv0 = cov_beta if np.all(np.isfinite(cov_beta)) else None
    if hess_inv0 is not None:
        hess_inv0 = (hess_inv0 + hess_inv0.T) / 2.0
        try:
            np.linalg.cholesky(hess_inv0)
        except np.linalg.LinAlgError:
            hess_inv0 = None
    adjusted0 = ll0 - 0.5 * _logdet(model.info_beta(beta0, None))

    def adjusted(sigma: float) -> float:
        """max_beta loglik(beta, sigma) - 1/2 log det J_beta(sigma)."""
        if sigma < SIGMA_FLOOR:
            return adjusted0
        key = round(math.log(sigma), 12)
        if key in profile_cache:
            return profile_cache[key]
        log_s = math.log(sigma)

        def neg_beta(b: FloatArray) -> tuple[float, FloatArray]:
            ll, grad, _, _ = model.evaluate(b, log_s)
            return -ll, -grad[:k]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = optimize.minimize(
                neg_beta,
                warm["beta"],
                jac=True,
                method="BFGS",
                options={"gtol": PROFILE_GTOL, "hess_inv0": hess_inv0},
            )
        warm["beta"] = np.asarray(r.x, dtype=np.float64)
        value = -float(r.fun) - 0.5 * _logdet(model.info_beta(warm["beta"], log_s))
        profile_cache[key] = value
        return value

    lrt = max(0.0, 2.0 * (ll_full - ll0))
    p_value = 1.0 if lrt <= 0.0 else float(0.5 * stats.chi2.sf(lrt, 1))
    sigma_adj, low_sigma, high_sigma = math.nan, math.nan, math.nan
    try:
        upper = max(3.0 * sigma_hat, 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize.minimize_scalar(
                lambda v: -adjusted(v),
                bounds=(0.0, upper),
                method="bounded",
                options={"xatol": SIGMA_XTOL},
            )
        sigma_adj = float(opt.x) if -float(opt.fun) > adjusted0 else 0.0
        if sigma_adj < SIGMA_FLOOR:
            sigma_adj = 0.0
        top = adjusted(sigma_adj)
        if not math.isfinite(top):
            raise ValueError("the adjusted profile likelihood is not finite")

        def excess(v: float) -> float:
            return 2.0 * (top - adjusted(v)) - crit

        if sigma_adj == 0.0 or excess(0.0) <= 0:
            low_sigma = 0.0
        else:
            lo = max(sigma_adj / 1000.0, SIGMA_FLOOR)
            low_sigma = (
                0.0
                if excess(lo) <= 0
                else float(optimize.brentq(excess, lo, sigma_adj, xtol=SIGMA_XTOL, rtol=SIGMA_XTOL))
            )
        warm["beta"] = beta_hat.copy()
        hi = max(2.0 * sigma_adj, 0.25)
        for _ in range(12):
            if excess(hi) > 0:
                break
            hi *= 2.0
        else:
            raise RuntimeError("no upper bracket for the profile interval")
        warm["beta"] = beta_hat.copy()
        start = max(sigma_adj, SIGMA_FLOOR)
        high_sigma = float(optimize.brentq(excess, start, hi, xtol=SIGMA_XTOL, rtol=SIGMA_XTOL))
    except (RuntimeError, ValueError) as exc:
        notes.append(f"the profile-likelihood interval could not be completed: {exc}")

    method_sigma = (
        "REML-type estimate (Cox-Reid adjusted profile likelihood); interval from the "
        "same adjusted profile likelihood"
    )
    sigma_est = Estimate(sigma_adj, low_sigma, high_sigma, n, level, method_sigma)
    icc_est = Estimate(
        latent_icc(sigma_adj) if math.isfinite(sigma_adj) else math.nan,
        latent_icc(low_sigma) if math.isfinite(low_sigma) else math.nan,
        latent_icc(high_sigma) if math.isfinite(high_sigma) else math.nan,
        n,
        level,
        "latent-scale ICC sigma^2/(sigma^2+pi^2/3); " + method_sigma,
    )

    unscale = spec.unscale()
    fixed: dict[str, Estimate] = {}
    for j, term in enumerate(spec.columns):
        b = float(beta_hat[j + 1] * unscale[j])
        se_b = (
            math.sqrt(cov_beta[j + 1, j + 1]) * unscale[j]
            if cov_beta[j + 1, j + 1] >= 0
            else math.nan
        )
        if math.isfinite(se_b):
            fixed[term] = Estimate(
                math.exp(b),
                math.exp(b - z * se_b),
                math.exp(b + z * se_b),
                n,
                level,
                "odds ratio of the positive outcome; Wald, log scale",
            )
        else:
            fixed[term] = Estimate(math.exp(b), math.nan, math.nan, n, level, "Wald, log scale")
    effects = {
        name: Estimate(
            float(post_mean[i]),
            float(post_mean[i] - z * post_sd[i]),
            float(post_mean[i] + z * post_sd[i]),
            int(model.sizes[i]),
            level,
            "posterior mean of the group intercept (log-odds), +/- z posterior SD",
        )
        for i, name in enumerate(names)
    }
    return RegionVariation(
        outcome=outcome,
        group=group,
        n=n,
        n_groups=len(names),
        n_dropped_missing=prepared.n_dropped_missing,
        share_positive=share,
        sigma=sigma_est,
        sigma_ml=sigma_hat,
        icc=icc_est,
        lrt_statistic=lrt,
        lrt_p_value=p_value,
        fixed_effects=fixed,
        group_effects=effects,
        log_likelihood=ll_full,
        log_likelihood_no_groups=ll0,
        converged=converged,
        notes=tuple(notes),
        level=level,
        n_quadrature=n_quadrature,
    )
