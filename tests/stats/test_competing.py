"""Aalen-Johansen cumulative incidence: exact special cases and a planted-truth simulation."""

from __future__ import annotations

import numpy as np
import pytest

from evenhand.stats.competing import aalen_johansen, cumulative_incidence


def test_no_censoring_is_the_empirical_share() -> None:
    t = np.array([1, 2, 2, 3, 5, 8], dtype=float)
    c = np.array([1, 2, 1, 1, 2, 2])
    f = aalen_johansen(t, c, [2, 4, 8], 2)
    assert f[0].tolist() == pytest.approx([2 / 6, 3 / 6, 3 / 6])
    assert f[1].tolist() == pytest.approx([1 / 6, 1 / 6, 3 / 6])


def test_one_cause_is_one_minus_kaplan_meier() -> None:
    # times 1(event) 2(censored) 3(event) 4(event): KM S(1)=3/4, S(3)=3/4*1/2, S(4)=0
    f = aalen_johansen([1, 2, 3, 4], [1, 0, 1, 1], [1, 2, 3, 4], 1)
    assert f[0].tolist() == pytest.approx([0.25, 0.25, 1 - 0.375, 1.0])


def test_hand_example_with_censoring_and_two_causes() -> None:
    # n=5: t=1 cause1; t=2 censored; t=3 cause2; t=3 cause1; t=6 censored
    # S(1-)=1, n=5 -> F1 += 1/5; S(1)=4/5; t=3: n=3, S(3-)=4/5 -> F1 += 4/5*1/3, F2 += 4/5*1/3
    f = aalen_johansen([1, 2, 3, 3, 6], [1, 0, 2, 1, 0], [3, 6, 7], 2)
    assert f[0, 0] == pytest.approx(0.2 + 0.8 / 3)
    assert f[1, 0] == pytest.approx(0.8 / 3)
    assert np.isnan(f[0, 2])  # beyond the last time, a censoring: not estimated
    # everyone has an event by t=3: the incidences are known at any later horizon
    g = aalen_johansen([1, 2, 3], [1, 2, 1], [10.0], 2)
    assert g[:, 0].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_weights_equal_duplicated_rows() -> None:
    t, c = np.array([1.0, 2, 3, 4, 5]), np.array([1, 0, 2, 1, 0])
    w = np.array([2, 1, 0, 3, 1])
    rows = np.repeat(np.arange(5), w)
    assert np.allclose(aalen_johansen(t, c, [2, 4, 5], 2, weights=w), aalen_johansen(t[rows], c[rows], [2, 4, 5], 2))


def test_recovers_planted_competing_exponentials_under_censoring() -> None:
    # hazards l1, l2; F_k(h) = l_k / (l1 + l2) * (1 - exp(-(l1 + l2) h)); uniform censoring
    rng = np.random.default_rng(5)
    n, l1, l2 = 4000, 0.5, 0.2
    t1, t2, cens = rng.exponential(1 / l1, n), rng.exponential(1 / l2, n), rng.uniform(0, 6, n)
    t = np.minimum.reduce([t1, t2, cens])
    c = np.where(t == cens, 0, np.where(t == t1, 1, 2))
    est = cumulative_incidence(t, c, [1.0, 2.0], 2, reps=200, seed=1)
    for k, lam in ((0, l1), (1, l2)):
        for j, h in enumerate((1.0, 2.0)):
            truth = lam / (l1 + l2) * (1 - np.exp(-(l1 + l2) * h))
            assert est[k][j].covers(truth), (k, h, truth, est[k][j])
    # the naive share among the uncensored (ignoring censoring) would be biased upward for cause 1 by h=2
    naive = ((c == 1) & (t <= 2)).sum() / ((t > 2) | (c != 0)).sum()
    assert naive > est[0][1].high


def test_cluster_bootstrap_is_wider_when_clusters_repeat() -> None:
    rng = np.random.default_rng(3)
    base_t = rng.exponential(2.0, 300)
    base_c = rng.integers(1, 3, 300)
    t, c, cl = np.repeat(base_t, 4), np.repeat(base_c, 4), np.repeat(np.arange(300), 4)
    naive = cumulative_incidence(t, c, [2.0], 2, reps=200, seed=2)[0][0]
    clustered = cumulative_incidence(t, c, [2.0], 2, clusters=cl, reps=200, seed=2)[0][0]
    assert clustered.width > 1.5 * naive.width
