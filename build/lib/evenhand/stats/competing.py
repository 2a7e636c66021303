"""Cumulative incidence with competing risks: the Aalen-Johansen estimator.

Each subject has a time ``t`` (days from the start of follow-up) and a cause: 0 when censored
at ``t`` (follow-up ended with nothing happening), else 1..K (the first event that happened).
The cumulative incidence of cause k by time h is

    F_k(h) = sum over event times s <= h of  S(s-) * d_k(s) / n(s),

S the Kaplan-Meier survival from any cause, d_k(s) the events of cause k at s and n(s) the
number at risk (time >= s). Events at a time count before censorings at the same time (the
usual convention). With no censoring before h, F_k(h) is exactly the share of subjects whose
first event was cause k by h; with one cause it is 1 - Kaplan-Meier.

Intervals are percentile bootstrap intervals resampling *clusters* (a school lineage with
several inadequate judgements is one cluster), so repeated judgements of the same school are
not treated as independent. Deterministic for a seed.

Why our own: lifelines (the maintained choice) pins pandas < 3, which the shared environment
has (docs/decisions/0910-competing-risks-own-estimator.md); the estimator is twenty lines and
tested against its exact special cases and a simulation with a closed-form truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from evenhand.stats.estimate import Estimate

__all__ = ["BOOTSTRAP_METHOD", "aalen_johansen", "cumulative_incidence"]

BOOTSTRAP_METHOD = "Aalen-Johansen; percentile bootstrap interval over schools (lineages)"


def aalen_johansen(
    times: npt.ArrayLike, causes: npt.ArrayLike, horizons: Sequence[float], n_causes: int,
    weights: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """F[k - 1, j] = cumulative incidence of cause k by ``horizons[j]``. NaN beyond the last
    observed time when that time is a censoring (nobody is followed there); when everyone has
    had an event by then the incidences stay at their final values. ``weights`` (case
    multiplicities, as a bootstrap draws them) default to 1."""
    t = np.asarray(times, dtype=np.float64)
    c = np.asarray(causes, dtype=np.int64)
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != t.shape:
        raise ValueError("weights and times differ in length")
    keep = w > 0
    t, c, w = t[keep], c[keep], w[keep]
    if t.shape != c.shape:
        raise ValueError("times and causes differ in length")
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError("times must be known and non-negative")
    if ((c < 0) | (c > n_causes)).any():
        raise ValueError(f"causes must be 0 (censored) to {n_causes}")
    out = np.full((n_causes, len(horizons)), np.nan)
    if t.size == 0:
        return out
    order = np.argsort(t, kind="stable")
    t, c, w = t[order], c[order], w[order]
    uniq, first = np.unique(t, return_index=True)
    tail = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
    n_at_risk = tail[first]  # weight of subjects with time >= s
    d = np.zeros((n_causes, uniq.size))
    idx = np.searchsorted(uniq, t)
    for k in range(1, n_causes + 1):
        d[k - 1] = np.bincount(idx[c == k], weights=w[c == k], minlength=uniq.size)
    d_all = d.sum(axis=0)
    surv = np.cumprod(1.0 - d_all / n_at_risk)
    surv_before = np.concatenate([[1.0], surv[:-1]])
    inc = np.cumsum(surv_before * d / n_at_risk, axis=1)  # (K, times)
    last = float(t.max())
    followed_on = surv[-1] > 0  # someone still event-free at the last time: nothing is known beyond it
    for j, h in enumerate(horizons):
        if h > last and followed_on:
            continue
        pos = int(np.searchsorted(uniq, h, side="right")) - 1
        out[:, j] = 0.0 if pos < 0 else inc[:, pos]
    return out


def cumulative_incidence(
    times: npt.ArrayLike,
    causes: npt.ArrayLike,
    horizons: Sequence[float],
    n_causes: int,
    clusters: npt.ArrayLike | None = None,
    reps: int = 400,
    seed: int = 20230108,
    level: float = 0.95,
) -> list[list[Estimate]]:
    """Estimates [cause - 1][horizon]: Aalen-Johansen value with a cluster bootstrap interval.
    ``n`` of each Estimate is the number of subjects (judgements)."""
    t = np.asarray(times, dtype=np.float64)
    c = np.asarray(causes, dtype=np.int64)
    point = aalen_johansen(t, c, horizons, n_causes)
    n = int(t.size)
    if n == 0:
        return [[Estimate(math.nan, math.nan, math.nan, 0, level, BOOTSTRAP_METHOD) for _ in horizons] for _ in range(n_causes)]
    cl = np.arange(n) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1].reshape(-1)
    n_cl = int(cl.max()) + 1
    rng = np.random.default_rng(seed)
    draws = np.full((reps, n_causes, len(horizons)), np.nan)
    for b in range(reps):
        times_picked = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl)
        draws[b] = aalen_johansen(t, c, horizons, n_causes, weights=times_picked[cl])
    alpha = (1.0 - level) / 2.0
    out: list[list[Estimate]] = []
    for k in range(n_causes):
        row = []
        for j in range(len(horizons)):
            v = float(point[k, j])
            col = draws[:, k, j]
            col = col[~np.isnan(col)]
            if math.isnan(v) or col.size < reps // 2:
                row.append(Estimate(v, math.nan, math.nan, n, level, BOOTSTRAP_METHOD))
                continue
            lo, hi = np.quantile(col, [alpha, 1.0 - alpha])
            row.append(Estimate(v, float(lo), float(hi), n, level, BOOTSTRAP_METHOD))
        out.append(row)
    return out
