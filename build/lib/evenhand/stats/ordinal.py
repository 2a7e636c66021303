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
        low, upp, prob, params = self._parts(params)
        fu = self.pdf(upp) / prob
        fl = self.pdf(low) / prob
        k = self.k_vars
        n_thr = self.k_levels - 1
        y = self.endog
        rows = np.arange(self.nobs)
        d = np.zeros((self.nobs, n_thr + 1))
        d[rows, y] += fu
        below = y > 0
        d[rows[below], y[below] - 1] -= fl[below]
        d = d[:, :n_thr]
        tail = np.cumsum(d[:, ::-1], axis=1)[:, ::-1]
        tail[:, 1:] *= np.exp(params[k + 1 :])
        return np.column_stack([-(fu - fl)[:, None] * self.exog, tail])

    def hessian(self, params: FloatArray) -> FloatArray:
        h = approx_fprime(np.asarray(params, dtype=np.float64), self.score, centered=True)
        return np.asarray((h + h.T) / 2.0)


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
        model = _LogitOrderedModel(self.endog_codes, self.exog_internal, distr="logit")
        return np.asarray(model.score_obs(self.params_internal))


def _fit_arrays(
    y: npt.NDArray[np.int64],
    x: FloatArray,
    maxiter: int,
    start: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, bool, float, list[str]]:
    """Fit the model on arrays: (params, cov, converged, loglike, notes)."""
    notes: list[str] = []
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
    cov = np.full((len(params), len(params)), np.nan)
    if np.all(np.isfinite(hess)):
        try:
            np.linalg.cholesky(-hess)
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

    Rows missing the outcome or any predictor are dropped and counted
    (``n_dropped_missing``). Non-convergence and separation are reported in
    ``converged``, ``separated_terms`` and ``notes``; they never raise.
    """
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
        params, cov, converged, loglike, fit_notes = _fit_arrays(y, x, maxiter)
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
