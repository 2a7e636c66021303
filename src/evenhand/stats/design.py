"""Model design matrices shared by the ordinal and multilevel estimators.

One place decides how a frame becomes a matrix: which rows are complete,
which categorical levels are kept, which are merged into "other", which level
is the reference, and how numeric predictors are centred and scaled for the
optimiser. A :class:`DesignSpec` remembers those choices so that new data
(for predictions) is coded exactly as the fitting data was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "DesignSpec",
    "PreparedData",
    "as_polars",
    "level_text",
    "missing_expr",
    "prepare",
    "text_expr",
]

OTHER = "other"
ROW_ID = "__row_id"


def as_polars(df: Any) -> pl.DataFrame:
    """A Polars copy of a Polars or pandas frame (pandas index dropped)."""
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pl.LazyFrame):
        return df.collect()
    import pandas as pd

    if isinstance(df, pd.DataFrame):
        return pl.from_pandas(df.reset_index(drop=True))
    raise TypeError(f"expected a Polars or pandas DataFrame, got {type(df).__name__}")


def _natural_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def level_text(value: object) -> str:
    """Categorical values compared as text; 2.0 and 2 both become "2"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def text_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    """A column as level text, matching :func:`level_text` (2.0 -> "2", True -> "true")."""
    x = pl.col(col)
    if dtype.is_float():
        return (
            pl.when(x == x.round())
            .then(x.cast(pl.Int64, strict=False).cast(pl.Utf8))
            .otherwise(x.cast(pl.Utf8))
        )
    return x.cast(pl.Utf8)


def missing_expr(col: str, dtype: pl.DataType) -> pl.Expr:
    expr = pl.col(col).is_null()
    if dtype.is_float():
        expr = expr | pl.col(col).is_nan()
    return expr


@dataclass(frozen=True)
class DesignSpec:
    """How predictors become model columns.

    ``columns`` are the model's column names: a numeric predictor keeps its
    name, a categorical one becomes ``name[level]`` dummies against
    ``reference[name]``. ``merged`` lists, per categorical, the sparse levels
    coded as the level ``other`` (then a ``name[other]`` dummy). Numeric
    predictors are centred and scaled by ``center`` / ``scale`` inside the
    optimiser; coefficients are reported per original unit.
    """

    predictors: tuple[str, ...]
    categorical: tuple[str, ...]
    reference: Mapping[str, str]
    levels: Mapping[str, tuple[str, ...]]
    merged: Mapping[str, tuple[str, ...]]
    center: Mapping[str, float]
    scale: Mapping[str, float]
    columns: tuple[str, ...]

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(p for p in self.predictors if p not in self.categorical)

    def recode(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Categorical columns as text with merged levels mapped to ``other``."""
        exprs = []
        for c in self.categorical:
            merged = list(self.merged.get(c, ()))
            text = text_expr(c, frame.schema[c])
            if merged:
                text = pl.when(text.is_in(merged)).then(pl.lit(OTHER)).otherwise(text)
            exprs.append(text.alias(c))
        return frame.with_columns(exprs) if exprs else frame

    def matrix(self, frame: pl.DataFrame, standardise: bool = True) -> npt.NDArray[np.float64]:
        """Model matrix for complete rows already recoded by :meth:`recode`.

        A categorical value the fit never saw raises, naming the column and value.
        """
        n = frame.height
        cols: list[npt.NDArray[np.float64]] = []
        for p in self.predictors:
            if p in self.categorical:
                cols.extend(self._indicators(frame[p], p))
            else:
                x = frame[p].cast(pl.Float64).to_numpy().astype(np.float64)
                if standardise:
                    x = (x - self.center[p]) / self.scale[p]
                cols.append(x)
        if not cols:
            return np.zeros((n, 0))
        return np.column_stack(cols)

    def _indicators(self, values: pl.Series, p: str) -> list[npt.NDArray[np.float64]]:
        """One 0/1 column per non-reference level of the categorical ``p``. A text column without
        nulls (as :meth:`recode` leaves it) is compared in Polars, anything else as numpy text
        (the same 0/1 values; the Polars route skips converting every value to a numpy string)."""
        known = {self.reference[p], *self.levels[p]}
        text = None if values.dtype == pl.String and values.null_count() == 0 else values.to_numpy().astype(str)
        seen = set(values.unique().to_list()) if text is None else set(text.tolist())
        unknown = sorted(seen - known)
        if unknown:
            raise ValueError(f"column {p!r}: level(s) {unknown} were not seen when the model was fitted")
        if text is None:
            return [(values == lev).to_numpy().astype(np.float64) for lev in self.levels[p]]
        return [(text == lev).astype(np.float64) for lev in self.levels[p]]

    def unscale(self) -> npt.NDArray[np.float64]:
        """Per-column factor turning a standardised coefficient into one per original unit."""
        out: list[float] = []
        for p in self.predictors:
            if p in self.categorical:
                out.extend([1.0] * len(self.levels[p]))
            else:
                out.append(1.0 / self.scale[p])
        return np.asarray(out, dtype=np.float64)

    def offset_shift(self, coef_std: npt.NDArray[np.float64]) -> float:
        """sum(beta_std * center / scale): what centring moved the linear predictor by."""
        shift = 0.0
        i = 0
        for p in self.predictors:
            if p in self.categorical:
                i += len(self.levels[p])
            else:
                shift += float(coef_std[i]) * self.center[p] / self.scale[p]
                i += 1
        return shift


@dataclass(frozen=True)
class PreparedData:
    frame: pl.DataFrame  # complete rows, recoded, with ROW_ID
    spec: DesignSpec
    n_dropped_missing: int
    notes: tuple[str, ...]


def prepare(
    df: Any,
    required: Sequence[str],
    predictors: Sequence[str],
    categorical: Sequence[str] = (),
    reference: Mapping[str, object] | None = None,
    min_level_rows: int = 30,
) -> PreparedData:
    """Complete cases, level handling and numeric scaling for a model.

    ``required`` are other columns (outcome, group) that must be present and
    non-missing. Rows missing any used value are dropped and counted.
    Non-reference levels with fewer than ``min_level_rows`` rows are merged
    into ``other``; a categorical without a given reference uses its most
    frequent level. Constant numeric predictors are dropped. Every such
    decision is returned as a note.
    """
    frame = as_polars(df)
    predictors = list(dict.fromkeys(predictors))
    categorical = [c for c in dict.fromkeys(categorical)]
    reference = dict(reference or {})
    notes: list[str] = []
    missing_cols = [c for c in [*required, *predictors] if c not in frame.columns]
    if missing_cols:
        raise KeyError(f"columns not in the frame: {missing_cols}")
    stray = [c for c in categorical if c not in predictors]
    if stray:
        raise ValueError(f"categorical columns {stray} are not among the predictors")
    used = list(dict.fromkeys([*required, *predictors]))
    frame = frame.select(used).with_row_index(ROW_ID)
    miss = pl.any_horizontal([missing_expr(c, frame.schema[c]) for c in used])
    n_all = frame.height
    frame = frame.filter(~miss)
    n_dropped = n_all - frame.height
    if n_dropped:
        notes.append(f"{n_dropped} of {n_all} rows dropped for missing values in {used}")

    levels: dict[str, tuple[str, ...]] = {}
    merged: dict[str, tuple[str, ...]] = {}
    ref_out: dict[str, str] = {}
    for c in categorical:
        text = frame.select(text_expr(c, frame.schema[c]).alias("v"))["v"]
        vc = text.value_counts()
        counts = {str(k): int(v) for k, v in zip(vc["v"], vc["count"], strict=True)}
        if c in reference:
            ref = level_text(reference[c])
            if ref not in counts:
                raise ValueError(
                    f"reference level {ref!r} for {c!r} is not in the data "
                    f"(levels: {sorted(counts, key=_natural_key)})"
                )
        else:
            if not counts:
                raise ValueError(f"no complete rows to choose a reference level for {c!r}")
            ref = max(sorted(counts, key=_natural_key), key=lambda v: counts[v])
            notes.append(f"{c}: no reference level given; using the most frequent, {ref!r}")
        if counts.get(ref, 0) < min_level_rows:
            notes.append(
                f"{c}: reference level {ref!r} has only {counts.get(ref, 0)} rows; "
                "its contrasts are imprecise"
            )
        others = [v for v in sorted(counts, key=_natural_key) if v != ref]
        sparse = [v for v in others if counts[v] < min_level_rows]
        kept = [v for v in others if counts[v] >= min_level_rows]
        if sparse:
            if OTHER in counts:
                raise ValueError(f"{c}: a real level is called {OTHER!r}; rename it first")
            n_sparse = sum(counts[v] for v in sparse)
            notes.append(
                f"{c}: levels with fewer than {min_level_rows} rows merged into "
                f"{OTHER!r} ({n_sparse} rows): {sparse}"
            )
            if n_sparse < min_level_rows:
                notes.append(f"{c}: merged level {OTHER!r} still has only {n_sparse} rows")
            kept.append(OTHER)
            merged[c] = tuple(sparse)
        if not kept:
            notes.append(f"{c}: only one level ({ref!r}) in the data; it adds no term")
        levels[c] = tuple(kept)
        ref_out[c] = ref

    center: dict[str, float] = {}
    scale: dict[str, float] = {}
    kept_predictors: list[str] = []
    for p in predictors:
        if p in categorical:
            if levels[p]:
                kept_predictors.append(p)
            continue
        dtype = frame.schema[p]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            raise TypeError(
                f"predictor {p!r} has type {dtype}; list it in `categorical` or make it numeric"
            )
        x = frame[p].cast(pl.Float64).to_numpy()
        sd = float(np.std(x, ddof=1)) if frame.height > 1 else 0.0
        if not math.isfinite(sd) or sd == 0.0:
            notes.append(f"{p}: constant in the complete rows; dropped from the model")
            continue
        center[p] = float(np.mean(x))
        scale[p] = sd
        kept_predictors.append(p)

    columns: list[str] = []
    for p in kept_predictors:
        if p in categorical:
            columns.extend(f"{p}[{lev}]" for lev in levels[p])
        else:
            columns.append(p)
    kept_cat = tuple(c for c in categorical if c in kept_predictors)
    spec = DesignSpec(
        predictors=tuple(kept_predictors),
        categorical=kept_cat,
        reference={c: ref_out[c] for c in kept_cat},
        levels={c: levels[c] for c in kept_cat},
        merged={c: merged[c] for c in kept_cat if c in merged},
        center=center,
        scale=scale,
        columns=tuple(columns),
    )
    frame = spec.recode(frame)
    return PreparedData(frame=frame, spec=spec, n_dropped_missing=n_dropped, notes=tuple(notes))
