"""Intervals for proportions: Wilson score, per-row shares of a transition
matrix, and the difference of two proportions (Newcombe's hybrid score).

References
----------
- E. B. Wilson (1927), "Probable inference, the law of succession, and
  statistical inference", JASA 22: 209-212.
- R. G. Newcombe (1998), "Interval estimation for the difference between
  independent proportions: comparison of eleven methods", Statistics in
  Medicine 17: 873-890 (method 10, the hybrid score interval).
- L. D. Brown, T. T. Cai, A. DasGupta (2001), "Interval estimation for a
  binomial proportion", Statistical Science 16: 101-133 (why Wilson, not Wald).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from evenhand.stats.estimate import Estimate

__all__ = [
    "newcombe_difference",
    "row_shares",
    "row_shares_from_pairs",
    "wilson",
    "wilson_arrays",
    "wilson_columns",
    "wilson_exprs",
    "z_value",
]

WILSON = "Wilson score"
NEWCOMBE = "Newcombe hybrid score (method 10)"

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def z_value(level: float) -> float:
    """Two-sided standard normal quantile for a ``level`` interval (0.95 -> 1.95996...)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")
    return _z(float(level))


@functools.lru_cache(maxsize=64)
def _z(level: float) -> float:
    # scipy's ppf costs ~0.3 ms a call (argument checks); a school page asks for it a dozen times
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _check_counts(k: int, n: int) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def _wilson_bounds(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def wilson(k: int, n: int, level: float = 0.95) -> Estimate:
    """Wilson score interval for the proportion ``k / n``.

    The bounds are exactly 0 when ``k == 0`` and exactly 1 when ``k == n``.
    With ``n == 0`` the share is undefined: value and bounds are NaN.
    """
    k, n = int(k), int(n)
    _check_counts(k, n)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, level, WILSON)
    low, high = _wilson_bounds(k, n, z_value(level))
    return Estimate(k / n, low, high, n, level, WILSON)


def wilson_arrays(
    k: npt.ArrayLike, n: npt.ArrayLike, level: float = 0.95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Vectorised Wilson interval: (share, low, high) arrays; NaN where n == 0."""
    ka = np.asarray(k, dtype=np.float64)
    na = np.asarray(n, dtype=np.float64)
    if np.any(ka < 0) or np.any(ka > na):
        raise ValueError("need 0 <= k <= n in every position")
    z = z_value(level)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ka / na
        denom = 1.0 + z2 / na
        centre = (p + z2 / (2.0 * na)) / denom
        half = (z / denom) * np.sqrt(p * (1.0 - p) / na + z2 / (4.0 * na * na))
        low = np.where(ka == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        high = np.where(ka == na, 1.0, np.clip(centre + half, 0.0, 1.0))
    empty = na == 0
    p = np.where(empty, np.nan, p)
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    return p, low, high


def wilson_exprs(
    k: str | pl.Expr,
    n: str | pl.Expr,
    level: float = 0.95,
    names: tuple[str, str, str] = ("share", "low", "high"),
) -> list[pl.Expr]:
    """Polars expressions for the Wilson share and bounds of count ``k`` out of ``n``.

    Rows where ``n`` is 0 or null give nulls.
    """
    ke = pl.col(k) if isinstance(k, str) else k
    ne = pl.col(n) if isinstance(n, str) else n
    kf = ke.cast(pl.Float64)
    nf = ne.cast(pl.Float64)
    z = z_value(level)
    z2 = z * z
    p = kf / nf
    denom = 1.0 + z2 / nf
    centre = (p + z2 / (2.0 * nf)) / denom
    half = (z / denom) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt()
    ok = nf > 0
    low = pl.when(kf == 0).then(0.0).otherwise((centre - half).clip(0.0, 1.0))
    high = pl.when(kf == nf).then(1.0).otherwise((centre + half).clip(0.0, 1.0))
    share_name, low_name, high_name = names
    return [
        pl.when(ok).then(p).otherwise(None).alias(share_name),
        pl.when(ok).then(low).otherwise(None).alias(low_name),
        pl.when(ok).then(high).otherwise(None).alias(high_name),
    ]


def wilson_columns(
    frame: FrameT,
    k: str,
    n: str,
    level: float = 0.95,
    names: tuple[str, str, str] = ("share", "low", "high"),
) -> FrameT:
    """Add Wilson ``share``, ``low`` and ``high`` columns to a Polars frame.

    ``k`` and ``n`` name the count and denominator columns. Raises when some
    ``k`` exceeds its ``n`` or is negative (only checked for an eager frame).
    """
    if isinstance(frame, pl.DataFrame):
        bad = frame.filter((pl.col(k) < 0) | (pl.col(k) > pl.col(n)))
        if bad.height:
            row = bad.row(0, named=True)
            raise ValueError(f"need 0 <= {k} <= {n}; first bad row: {row}")
    return frame.with_columns(wilson_exprs(k, n, level, names))


def row_shares(
    counts: npt.ArrayLike,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    level: float = 0.95,
    simultaneous: bool = False,
) -> pl.DataFrame:
    """Shares of each row of a counts matrix (e.g. a transition matrix) with intervals.

    Returns one row per cell, in row-major order, with columns ``from``,
    ``to``, ``count``, ``n`` (the row total), ``share``, ``low`` and ``high``.
    Each cell's interval is the Wilson interval for that cell against the rest
    of its row (a marginal interval). With ``simultaneous=True`` the level is
    Bonferroni-adjusted over the cells of a row (``1 - (1 - level) / k``), a
    Goodman-type set of intervals that hold jointly for the whole row.
    A row with no observations has null shares.
    """
    mat = np.asarray(counts)
    if mat.ndim != 2:
        raise ValueError(f"counts must be a 2-d matrix, got shape {mat.shape}")
    if np.any(mat < 0) or not np.all(np.equal(np.mod(mat, 1), 0)):
        raise ValueError("counts must be non-negative whole numbers")
    n_rows, n_cols = mat.shape
    rows = list(row_labels) if row_labels is not None else [str(i) for i in range(n_rows)]
    cols = list(col_labels) if col_labels is not None else [str(j) for j in range(n_cols)]
    if len(rows) != n_rows or len(cols) != n_cols:
        raise ValueError("row_labels / col_labels do not match the matrix shape")
    cell_level = 1.0 - (1.0 - level) / n_cols if simultaneous else level
    k = mat.astype(np.int64).ravel()
    n = np.repeat(mat.astype(np.int64).sum(axis=1), n_cols)
    share, low, high = wilson_arrays(k, n, cell_level)
    return pl.DataFrame(
        {
            "from": np.repeat(np.array(rows, dtype=object), n_cols).tolist(),
            "to": np.tile(np.array(cols, dtype=object), n_rows).tolist(),
            "count": k,
            "n": n,
            "share": share,
            "low": low,
            "high": high,
        },
        schema={
            "from": pl.Utf8,
            "to": pl.Utf8,
            "count": pl.Int64,
            "n": pl.Int64,
            "share": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
        },
    ).with_columns(pl.col("share", "low", "high").fill_nan(None))


def row_shares_from_pairs(
    frame: pl.DataFrame,
    row: str,
    col: str,
    count: str | None = None,
    row_levels: Sequence[str] | None = None,
    col_levels: Sequence[str] | None = None,
    level: float = 0.95,
    simultaneous: bool = False,
) -> pl.DataFrame:
    """:func:`row_shares` from a long frame of (from, to) pairs.

    Each frame row is one pair (or carries its ``count``). Levels default to
    the sorted values seen; give ``row_levels`` / ``col_levels`` to fix the
    order and keep empty rows and columns. Values are compared as strings.
    A value outside the given levels raises.
    """
    data = frame.select(
        pl.col(row).cast(pl.Utf8).alias("_r"),
        pl.col(col).cast(pl.Utf8).alias("_c"),
        (pl.col(count) if count else pl.lit(1)).cast(pl.Int64).alias("_k"),
    ).drop_nulls(["_r", "_c"])
    rows = list(row_levels) if row_levels is not None else sorted(data["_r"].unique().to_list())
    cols = list(col_levels) if col_levels is not None else sorted(data["_c"].unique().to_list())
    unknown_r = set(data["_r"].unique().to_list()) - set(rows)
    unknown_c = set(data["_c"].unique().to_list()) - set(cols)
    if unknown_r or unknown_c:
        raise ValueError(
            f"values outside the given levels: {row}={sorted(unknown_r)}, {col}={sorted(unknown_c)}"
        )
    agg = data.group_by("_r", "_c").agg(pl.col("_k").sum())
    r_index = {v: i for i, v in enumerate(rows)}
    c_index = {v: j for j, v in enumerate(cols)}
    mat = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for r, c, kk in agg.iter_rows():
        mat[r_index[r], c_index[c]] += kk
    out = row_shares(mat, rows, cols, level, simultaneous)
    return out.rename({"from": row, "to": col}) if row != col else out


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> Estimate:
    """Difference ``k1/n1 - k2/n2`` of two independent proportions.

    Interval: Newcombe's hybrid score interval (his method 10), built from the
    two Wilson intervals; it stays inside [-1, 1] and behaves well at 0 and
    n. The returned ``n`` is ``n1 + n2``. NaN when either denominator is 0.
    """
    k1, n1, k2, n2 = int(k1), int(n1), int(k2), int(n2)
    _check_counts(k1, n1)
    _check_counts(k2, n2)
    if n1 == 0 or n2 == 0:
        return Estimate(math.nan, math.nan, math.nan, n1 + n2, level, NEWCOMBE)
    z = z_value(level)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson_bounds(k1, n1, z)
    l2, u2 = _wilson_bounds(k2, n2, z)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Estimate(d, max(-1.0, low), min(1.0, high), n1 + n2, level, NEWCOMBE)
