"""Adjusted risk differences beside odds ratios, and intervals clustered by trust or local
authority, for the audits that fit proportional-odds models (intake, resources).

For each model: the average marginal effect of a quintile (level against reference) on the
share judged good or outstanding (evenhand.stats.margins), with the model-based interval and
the interval clustered by trust or local authority (evenhand.audit.clusters), and the odds
ratio with both intervals. The outcome is always good or outstanding (overall effectiveness or
the area's grade 1 or 2): the table's title says so rather than a column on every row. Pure: the fits, their frames and a ``cluster_id`` column.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl

from evenhand.audit.result import AuditResult, Figure, pct
from evenhand.stats.estimate import Estimate
from evenhand.stats.margins import (
    average_marginal_effect,
    cluster_cov,
    fitted_rows,
    odds_ratio_with_cov,
)
from evenhand.stats.ordinal import OrdinalFit

GOOD_OR_BETTER = ("1", "2")
SCHEMA: dict[str, Any] = {
    "area": pl.String, "model": pl.String, "comparison": pl.String,
    "adjusted_share_level": pl.Float64, "adjusted_share_reference": pl.Float64,
    "risk_difference": pl.Float64, "low": pl.Float64, "high": pl.Float64,
    "low_clustered": pl.Float64, "high_clustered": pl.Float64,
    "odds_ratio": pl.Float64, "or_low": pl.Float64, "or_high": pl.Float64,
    "or_low_clustered": pl.Float64, "or_high_clustered": pl.Float64,
    "n": pl.Int64, "n_clusters": pl.Int64, "n_trusts": pl.Int64, "n_local_authorities": pl.Int64,
    "largest_cluster": pl.Int64, "converged": pl.Boolean,
}


def risk_difference_row(fit: OrdinalFit, frame: pl.DataFrame, column: str, level: str, reference: str,
                        labels: dict[str, str]) -> dict[str, Any] | None:
    """One row of :data:`SCHEMA` for one fit (None where the term is not in it)."""
    term = f"{column}[{level}]"
    if term not in fit.terms or not np.all(np.isfinite(fit.params_internal)):
        return None
    rows = fitted_rows(fit, frame)
    groups = rows["cluster_id"].to_numpy() if "cluster_id" in rows.columns else np.arange(fit.n)
    v = cluster_cov(fit, groups)
    plain = average_marginal_effect(fit, frame, column, level, reference, GOOD_OR_BETTER)
    clustered = average_marginal_effect(fit, frame, column, level, reference, GOOD_OR_BETTER, cov=v)
    o, oc = fit.odds_ratios[term], odds_ratio_with_cov(fit, term, v)
    kinds = rows["cluster_kind"] if "cluster_kind" in rows.columns else pl.Series([], dtype=pl.String)
    ids = pl.Series(groups.astype(str))
    return {
        **labels, "comparison": f"{column.replace('_', ' ')} {level} against {reference}",
        "adjusted_share_level": plain.share_level, "adjusted_share_reference": plain.share_reference,
        "risk_difference": plain.estimate.value, "low": plain.estimate.low, "high": plain.estimate.high,
        "low_clustered": clustered.estimate.low, "high_clustered": clustered.estimate.high,
        "odds_ratio": o.value, "or_low": o.low, "or_high": o.high, "or_low_clustered": oc.low, "or_high_clustered": oc.high,
        "n": fit.n, "n_clusters": ids.n_unique(),
        "n_trusts": rows.filter(kinds == "trust")["cluster_id"].n_unique() if kinds.len() else 0,
        "n_local_authorities": rows.filter(kinds == "local authority")["cluster_id"].n_unique() if kinds.len() else 0,
        "largest_cluster": int(ids.value_counts()["count"].max()) if fit.n else 0,  # type: ignore[arg-type]
        "converged": fit.ok,
    }


def risk_difference_table(items: Iterable[tuple[dict[str, str], OrdinalFit | None, pl.DataFrame]],
                          column: str, level: str, reference: str = "1") -> pl.DataFrame:
    rows = []
    for labels, fit, frame in items:
        if fit is None:
            continue
        r = risk_difference_row(fit, frame, column, level, reference, labels)
        if r is not None:
            rows.append(r)
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").with_columns(pl.col(pl.Float64).fill_nan(None))


def _pts(v: float | None) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.1f}"


def sentence(r: dict[str, Any], who: str) -> str:
    """The finding for one row: the adjusted difference in points, both intervals, the odds ratio
    with its clustered interval and the clusters."""
    direction = "less" if r["risk_difference"] < 0 else "more"
    return (
        f"{who}: judged good or outstanding {abs(100 * r['risk_difference']):.1f} percentage points {direction} often "
        f"(adjusted: {pct(r['adjusted_share_level'])} against {pct(r['adjusted_share_reference'])}, the average over the "
        f"same {r['n']:,} schools; 95% CI {_pts(r['low'])} to {_pts(r['high'])} points, clustered by trust or local "
        f"authority {_pts(r['low_clustered'])} to {_pts(r['high_clustered'])}); odds ratio {r['odds_ratio']:.2f}, clustered "
        f"interval {r['or_low_clustered']:.2f} to {r['or_high_clustered']:.2f} ({r['n_clusters']:,} clusters: "
        f"{r['n_trusts']:,} trusts, {r['n_local_authorities']:,} local authorities, the rest schools alone; the largest "
        f"holds {r['largest_cluster']:,} schools)."
    )


def add_to_result(result: AuditResult, table: pl.DataFrame, key_prefix: str, finding: str | None,
                  method: str, at: int | None = None) -> None:
    """The table, a figure per row (the clustered interval) and the finding at position ``at``
    (default: after the first two, the claim's verdict and the headline the pack shows)."""
    result.tables["risk_differences"] = table
    for r in table.iter_rows(named=True):
        key = f"{key_prefix}.{r['area']}.{r['model']}".replace(" ", "_").replace(",", "")
        result.figures.append(Figure(
            f"{key}.risk_difference", f"{r['area'].replace('_', ' ')}: adjusted difference in the share good or outstanding, "
            f"{r['comparison']} ({r['model']}; interval clustered by trust or local authority)",
            Estimate(r["risk_difference"], r["low_clustered"] if r["low_clustered"] is not None else math.nan,
                     r["high_clustered"] if r["high_clustered"] is not None else math.nan, r["n"],
                     method="average marginal effect, delta method, cluster-robust"),
            "percentage points"))
    if finding:
        result.findings.insert(min(2, len(result.findings)) if at is None else at, finding)
    result.method = result.method + " " + method
