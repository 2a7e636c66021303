"""Wilson, Newcombe and transition-matrix shares against published values and exact coverage."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from evenhand.stats import (
    Estimate,
    newcombe_difference,
    row_shares,
    row_shares_from_pairs,
    wilson,
    wilson_arrays,
    wilson_columns,
)

Z95 = 1.959963984540054


def test_wilson_textbook_81_of_263() -> None:
    # Wilson interval for 81/263 (e.g. Newcombe 1998a; Wikipedia "Binomial proportion
    # confidence interval"): 0.2553 to 0.3662.
    est = wilson(81, 263)
    assert est.value == pytest.approx(81 / 263)
    assert est.low == pytest.approx(0.2553, abs=5e-5)
    assert est.high == pytest.approx(0.3662, abs=5e-5)
    assert est.n == 263
    assert est.method == "Wilson score"


@pytest.mark.parametrize("n", [1, 10, 29, 263])
def test_wilson_k_zero_and_k_n_are_exact_at_the_boundary(n: int) -> None:
    zero = wilson(0, n)
    assert zero.value == 0.0
    assert zero.low == 0.0
    assert zero.high == pytest.approx(Z95**2 / (n + Z95**2))
    full = wilson(n, n)
    assert full.value == 1.0
    assert full.high == 1.0
    assert full.low == pytest.approx(n / (n + Z95**2))


def test_wilson_newcombe_single_proportion_examples() -> None:
    # Newcombe (1998a) Table I, method 3 (score without continuity correction).
    assert wilson(15, 148).low == pytest.approx(0.0624, abs=5e-5)
    assert wilson(15, 148).high == pytest.approx(0.1605, abs=5e-5)
    assert wilson(0, 20).high == pytest.approx(0.1611, abs=5e-5)
    assert wilson(1, 29).low == pytest.approx(0.0061, abs=5e-5)
    assert wilson(1, 29).high == pytest.approx(0.1718, abs=5e-5)


def test_wilson_empty_and_invalid() -> None:
    empty = wilson(0, 0)
    assert math.isnan(empty.value) and math.isnan(empty.low) and empty.n == 0
    with pytest.raises(ValueError):
        wilson(5, 4)
    with pytest.raises(ValueError):
        wilson(-1, 4)
    with pytest.raises(ValueError):
        wilson(1, 4, level=1.0)


def test_wilson_wider_at_higher_level() -> None:
    assert wilson(30, 100, 0.99).width > wilson(30, 100, 0.95).width > wilson(30, 100, 0.8).width


def test_wilson_arrays_match_scalar() -> None:
    k = np.array([0, 1, 7, 50, 99, 100, 0])
    n = np.array([100, 100, 100, 100, 100, 100, 0])
    share, low, high = wilson_arrays(k, n)
    for i in range(len(k) - 1):
        est = wilson(int(k[i]), int(n[i]))
        assert (share[i], low[i], high[i]) == pytest.approx((est.value, est.low, est.high))
    assert np.isnan(share[-1]) and np.isnan(low[-1]) and np.isnan(high[-1])


def test_wilson_columns_eager_and_lazy() -> None:
    frame = pl.DataFrame(
        {"group": ["a", "b", "c", "d"], "k": [81, 0, 10, 0], "n": [263, 10, 10, 0]}
    )
    eager = wilson_columns(frame, "k", "n")
    lazy = wilson_columns(frame.lazy(), "k", "n").collect()
    assert eager.equals(lazy)
    assert eager.columns == ["group", "k", "n", "share", "low", "high"]
    first = eager.row(0, named=True)
    assert first["low"] == pytest.approx(0.2553, abs=5e-5)
    assert first["high"] == pytest.approx(0.3662, abs=5e-5)
    assert eager.row(1, named=True)["low"] == 0.0
    assert eager.row(2, named=True)["high"] == 1.0
    assert eager.row(3, named=True)["share"] is None
    with pytest.raises(ValueError, match="first bad row"):
        wilson_columns(pl.DataFrame({"k": [3], "n": [2]}), "k", "n")


@pytest.mark.parametrize("n", [20, 50, 100])
def test_wilson_exact_coverage_is_close_to_nominal(n: int) -> None:
    # Exact coverage from the binomial distribution over a grid of true p
    # (Brown, Cai & DasGupta 2001): Wilson averages ~95% and never collapses.
    k = np.arange(n + 1)
    _, low, high = wilson_arrays(k, np.full(n + 1, n))
    grid = np.linspace(0.01, 0.99, 197)
    coverage = np.array([stats.binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum() for p in grid])
    assert 0.945 <= coverage.mean() <= 0.957
    middle = (grid >= 0.1) & (grid <= 0.9)
    assert coverage[middle].min() > 0.92
    # The Wald interval, for contrast, falls far short on the same grid.
    share = k / n
    half = Z95 * np.sqrt(share * (1 - share) / n)
    wald = np.array(
        [stats.binom.pmf(k, n, p)[(share - half <= p) & (p <= share + half)].sum() for p in grid]
    )
    assert wald.min() < coverage.min() - 0.2


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998b), Table II, method 10 (hybrid score).
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((0, 10, 0, 10), (-0.2775, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0)),
        ((10, 10, 0, 10), (0.6075, 1.0)),
    ],
)
def test_newcombe_published_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    k1, n1, k2, n2 = counts
    est = newcombe_difference(k1, n1, k2, n2)
    assert est.value == pytest.approx(k1 / n1 - k2 / n2)
    assert est.low == pytest.approx(expected[0], abs=5e-5)
    assert est.high == pytest.approx(expected[1], abs=5e-5)
    assert est.n == n1 + n2


def test_newcombe_antisymmetric_and_empty() -> None:
    ab = newcombe_difference(30, 90, 12, 70)
    ba = newcombe_difference(12, 70, 30, 90)
    assert ab.value == pytest.approx(-ba.value)
    assert ab.low == pytest.approx(-ba.high)
    assert ab.high == pytest.approx(-ba.low)
    with pytest.raises(ValueError):
        newcombe_difference(1, 0, 1, 2)
    empty = newcombe_difference(0, 0, 1, 2)
    assert math.isnan(empty.value) and math.isnan(empty.low) and empty.n == 2


def test_row_shares_transition_matrix() -> None:
    counts = [[40, 8, 2, 0], [5, 60, 10, 1], [0, 0, 0, 0]]
    labels = ["Outstanding", "Good", "Requires improvement", "Inadequate"]
    out = row_shares(counts, labels[:3], labels)
    assert out.columns == ["from", "to", "count", "n", "share", "low", "high"]
    assert out.height == 12
    sums = out.group_by("from").agg(pl.col("share").sum()).sort("from")
    assert sums.filter(pl.col("from") != "Requires improvement")[
        "share"
    ].to_list() == pytest.approx([1.0, 1.0])
    cell = out.filter((pl.col("from") == "Good") & (pl.col("to") == "Requires improvement")).row(
        0, named=True
    )
    ref = wilson(10, 76)
    assert (cell["n"], cell["share"], cell["low"], cell["high"]) == pytest.approx(
        (76, ref.value, ref.low, ref.high)
    )
    empty_row = out.filter(pl.col("from") == "Requires improvement")
    assert empty_row["n"].to_list() == [0, 0, 0, 0]
    assert empty_row["share"].null_count() == 4
    joint = row_shares(counts, labels[:3], labels, simultaneous=True)
    assert (joint["high"] - joint["low"]).drop_nulls().min() > 0
    assert ((joint["high"] - joint["low"]) >= (out["high"] - out["low"]) - 1e-12).all()
    with pytest.raises(ValueError):
        row_shares([[1, -1]])
    with pytest.raises(ValueError):
        row_shares([[1, 2]], ["a", "b"], ["x", "y"])


def test_row_shares_from_pairs_fills_empty_cells_in_level_order() -> None:
    pairs = pl.DataFrame({"before": ["1", "1", "2", "2", "2"], "after": ["1", "2", "2", "2", "4"]})
    out = row_shares_from_pairs(
        pairs, "before", "after", row_levels=["1", "2"], col_levels=["1", "2", "3", "4"]
    )
    assert out.columns[:2] == ["before", "after"]
    assert out["count"].to_list() == [1, 1, 0, 0, 0, 2, 0, 1]
    assert out["n"].to_list() == [2] * 4 + [3] * 4
    weighted = row_shares_from_pairs(
        pl.DataFrame({"a": ["x", "x"], "b": ["y", "z"], "c": [3, 1]}), "a", "b", count="c"
    )
    assert weighted["count"].to_list() == [3, 1]
    with pytest.raises(ValueError, match="outside the given levels"):
        row_shares_from_pairs(pairs, "before", "after", row_levels=["1"])


def test_estimate_to_dict_and_covers() -> None:
    est = Estimate(0.3, 0.2, 0.4, 120, 0.9, "demo")
    assert est.to_dict() == {
        "value": 0.3,
        "low": 0.2,
        "high": 0.4,
        "n": 120,
        "level": 0.9,
        "method": "demo",
    }
    assert est.covers(0.2) and est.covers(0.4) and not est.covers(0.41)
    assert not Estimate(math.nan, math.nan, math.nan, 0).covers(0.0)
    assert est.width == pytest.approx(0.2)
    with pytest.raises(AttributeError):
        est.value = 1.0  # type: ignore[misc]


def test_an_estimate_read_from_a_null_has_no_interval_not_a_none() -> None:
    """A bound read from a table's null (a mean of one value has no t interval) is NaN, the one
    way 'no interval' is said, so every formatter prints it (a None broke the national pack)."""
    import math

    from evenhand.audit.result import describe
    from evenhand.stats.estimate import Estimate

    e = Estimate(27.0, None, None, 1, method="t interval for the mean")  # type: ignore[arg-type]
    assert math.isnan(e.low) and math.isnan(e.high) and e.value == 27.0
    assert describe(e, "working days").startswith("27 working days")
