"""Timing: how long schools wait for their report, how long inspections last, and how old each
school's latest graded judgement is.

- Publication delay in working days (England and Wales bank holidays; out.timing): start ->
  publication for every event with both dates, end -> publication where an end date exists,
  by outcome, inspection type grouping and era; median with a distribution-free
  order-statistic interval (the binomial interval for a median: no resampling, so no seed),
  mean with a t interval; n for each.
- The share beyond the published target that applies to each report, and whether it was
  exceeded, as out.event_flags decides them (maps/publication_targets.csv; from the end, or
  from the start less one working day); an upper-bound share counts every day from the start.
- Inspection length (end - start + 1) where both dates exist.
- The age of every open school's latest graded judgement as at the date (out.latest_as_at, or
  evenhand.derive.as_at.latest_as_at for another date): distribution and shares older than 4
  and 6 years, with Wilson intervals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from evenhand import maps
from evenhand.audit.result import AuditContext, AuditResult, Figure, describe, num
from evenhand.derive.as_at import latest_as_at
from evenhand.maps import eras
from evenhand.metadata.definitions import LATE_PUBLICATION
from evenhand.present import charts
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import wilson

NAME = "timing"
ORDER_STAT = "distribution-free order-statistic (binomial) interval for the median"
T_INTERVAL = "t interval for the mean"
SMALL_N = 30
KIND_LABELS = {"graded": "Graded", "ungraded": "Ungraded", "report_card": "Report card", "monitoring": "Monitoring"}
AGE_YEARS = (4, 6)
YEAR_DAYS = 365.25


def median_interval(values: np.ndarray | list[float], level: float = 0.95) -> Estimate:
    """Median with the distribution-free interval [x_(l), x_(n+1-l)], l the largest rank with
    P(Binomial(n, 1/2) <= l - 1) <= (1 - level) / 2. Coverage is at least ``level``; with fewer
    than 6 values no such interval exists at 95% and the bounds are NaN."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, level, ORDER_STAT)
    med = float(np.median(x))
    alpha = (1.0 - level) / 2.0
    k = int(stats.binom.ppf(alpha, n, 0.5))
    # ppf gives the smallest k with cdf(k) >= alpha: the lower rank l is k when cdf(k) > alpha, k + 1 when equal
    lower_rank = k + 1 if stats.binom.cdf(k, n, 0.5) <= alpha else k
    if lower_rank < 1:
        return Estimate(med, math.nan, math.nan, n, level, ORDER_STAT)
    return Estimate(med, float(x[lower_rank - 1]), float(x[n - lower_rank]), n, level, ORDER_STAT)


def mean_interval(values: np.ndarray | list[float], level: float = 0.95) -> Estimate:
    """Mean with a t interval (NaN bounds with fewer than 2 values)."""
    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, level, T_INTERVAL)
    m = float(x.mean())
    if n < 2:
        return Estimate(m, math.nan, math.nan, n, level, T_INTERVAL)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return Estimate(m, m - half, m + half, n, level, T_INTERVAL)


def publication_targets() -> pl.DataFrame:
    """maps/publication_targets.csv as a table (shown in the pack beside the figures)."""
    return pl.DataFrame(
        [t.__dict__ for t in maps.publication_targets()],
        schema={"era": pl.String, "kind": pl.String, "target_working_days": pl.Int64, "level": pl.String,
                "basis": pl.String, "source": pl.String},
    )


def _delays(ctx: AuditContext) -> pl.DataFrame:
    df = ctx.frame(
        """
        SELECT t.event_id, t.urn, e.kind, e.era, t.start_date, t.end_date, t.publication_date,
               t.inspection_length_days, t.start_to_publication_working_days AS start_wd,
               t.end_to_publication_working_days AS end_wd,
               coalesce(t.published_before_start, false) AS published_before_start,
               f.publication_target_working_days AS target, f.beyond_target,
               f.beyond_target_upper_bound,
               coalesce(e.inspection_type_grouping,
                        CASE e.kind WHEN 'ungraded' THEN 'Ungraded inspection (type not published)'
                                    ELSE 'Type not published (previous graded inspection)' END) AS type_grouping,
               CASE WHEN e.kind = 'ungraded' THEN coalesce(u.label, 'Outcome not recorded')
                    ELSE coalesce(o.label, 'Overall effectiveness not recorded') END AS outcome
        FROM out.timing t JOIN core.events e USING (event_id)
        JOIN out.event_flags f USING (event_id)
        LEFT JOIN core.judgements o ON o.event_id = t.event_id AND o.area = 'overall_effectiveness'
        LEFT JOIN core.judgements u ON u.event_id = t.event_id AND u.area = 'ungraded_outcome'
        WHERE t.start_date <= ?
        ORDER BY t.event_id
        """,
        [ctx.as_at],
    )
    return df


def _summary(df: pl.DataFrame, dimension: str, column: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    keys = df.select(column, "kind").unique().sort(["kind", column], nulls_last=True)
    for group, kind in keys.iter_rows():
        part = df.filter((pl.col(column) == group) & (pl.col("kind") == kind))
        out.append(_row(part, dimension, str(group), str(kind)))
    return out


def _row(part: pl.DataFrame, dimension: str, group: str, kind: str) -> dict[str, Any]:
    has_end = part.filter(pl.col("end_wd").is_not_null())
    basis = "end" if has_end.height == part.height and part.height else ("start" if has_end.height == 0 else "mixed")
    delay = part["start_wd"].to_numpy()
    med, mean = median_interval(delay), mean_interval(delay)
    end_delay = has_end["end_wd"].to_numpy()
    end_med = median_interval(end_delay)
    # the target and beyond-target flags of each event are decided once (out.event_flags)
    with_target = part.filter(pl.col("target").is_not_null())
    beyond = int(with_target["beyond_target"].fill_null(False).sum())
    upper = int(with_target["beyond_target_upper_bound"].fill_null(False).sum())
    b = wilson(beyond, with_target.height)
    b2 = wilson(upper, with_target.height)
    targets = sorted(set(with_target["target"].to_list()))
    return {
        "dimension": dimension, "group": group, "kind": kind, "n": part.height,
        "median_working_days": med.value, "median_low": med.low, "median_high": med.high,
        "mean_working_days": mean.value, "mean_low": mean.low, "mean_high": mean.high,
        "n_end": has_end.height, "median_end_working_days": end_med.value, "median_end_low": end_med.low, "median_end_high": end_med.high,
        "target_working_days": ", ".join(str(t) for t in targets) or None, "n_with_target": with_target.height,
        "beyond_target": beyond, "beyond_share": b.value, "beyond_low": b.low, "beyond_high": b.high,
        "beyond_upper_bound": upper, "beyond_share_upper_bound": b2.value, "beyond_upper_low": b2.low, "beyond_upper_high": b2.high,
        "basis": basis,
    }


def _ages(ctx: AuditContext) -> pl.DataFrame:
    have = ctx.has_table("out.latest_as_at") and ctx.frame("SELECT count(*) AS n FROM out.latest_as_at WHERE as_at = ?", [ctx.as_at])["n"].item() > 0
    if have:
        return ctx.frame("SELECT urn, graded_kind, graded_era, graded_carried, age_of_latest_graded_days FROM out.latest_as_at WHERE as_at = ? ORDER BY urn", [ctx.as_at])
    return latest_as_at(ctx.con, ctx.as_at).select("urn", "graded_kind", "graded_era", "graded_carried", "age_of_latest_graded_days").sort("urn")


def run(ctx: AuditContext) -> AuditResult:
    targets = publication_targets()
    era_order = [e.era for e in sorted(eras(), key=lambda e: e.valid_from)]
    era_label = {e.era: e.label for e in eras()}

    all_events = _delays(ctx)
    n_bad = all_events.filter(pl.col("published_before_start")).height
    df = all_events.filter(pl.col("start_wd").is_not_null() & ~pl.col("published_before_start"))
    n_no_pub = all_events.filter(pl.col("start_wd").is_null()).height

    # outcome within era as well as across eras: each era has its own target and its own scale
    df = df.with_columns(pl.concat_str([pl.col("era").fill_null("unknown era"), pl.col("outcome")], separator=": ").alias("era_outcome"))
    rows = (
        _summary(df, "era", "era")
        + _summary(df, "outcome", "outcome")
        + _summary(df, "era and outcome", "era_outcome")
        + _summary(df, "inspection type grouping", "type_grouping")
    )
    main = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.col(pl.Float64).fill_nan(None)) if rows else pl.DataFrame()
    if main.height:
        main = main.with_columns(
            pl.col("group").replace_strict({e: era_order.index(e) for e in era_order}, default=99, return_dtype=pl.Int64).alias("_o")
        ).sort(["dimension", "_o", "group", "kind"]).drop("_o")

    figures: list[Figure] = []
    findings: list[str] = []
    late = df.filter(pl.col("target").is_not_null())
    figures.append(Figure("late_publication_count", "Reports published beyond their target",
                          Estimate(float(late["beyond_target"].fill_null(False).sum()), math.nan, math.nan, late.height, method="count"), "count"))
    era_rows = [r for r in rows if r["dimension"] == "era"]
    era_rows.sort(key=lambda r: (era_order.index(r["group"]) if r["group"] in era_order else 99, r["kind"]))
    for r in era_rows:
        key = f"{r['group']}_{r['kind']}"
        figures.append(Figure(f"median_delay_{key}", f"Median start-to-publication delay, {KIND_LABELS.get(r['kind'], r['kind']).lower()} inspections, {era_label.get(r['group'], r['group'])}",
                              Estimate(r["median_working_days"], r["median_low"], r["median_high"], r["n"], method=ORDER_STAT), "working days"))
        if r["n_with_target"]:
            figures.append(Figure(f"beyond_target_{key}", f"Share published beyond the target of {r['target_working_days']} working days, {KIND_LABELS.get(r['kind'], r['kind']).lower()} inspections, {era_label.get(r['group'], r['group'])} ({'from the end' if r['basis'] == 'end' else 'from the start less one working day'})",
                                  Estimate(r["beyond_share"], r["beyond_low"], r["beyond_high"], r["n_with_target"], method="Wilson score"), "share"))
    # the latest era with graded inspections: its delays and the target
    graded_eras = [r for r in era_rows if r["kind"] in ("graded", "report_card") and r["n"] >= SMALL_N]
    if graded_eras:
        r = graded_eras[-1]
        e = Estimate(r["median_working_days"], r["median_low"], r["median_high"], r["n"], method=ORDER_STAT)
        text = f"For graded inspections in the {era_label.get(r['group'], r['group'])} era, the median wait from the first day of the inspection to publication was {describe(e, 'working days')}"
        if r["n_with_target"]:
            b = Estimate(r["beyond_share"], r["beyond_low"], r["beyond_high"], r["n_with_target"])
            text += f"; {describe(b, 'share')} were published more than {r['target_working_days']} working days after {'the end' if r['basis'] == 'end' else 'the start less one working day (the target runs from the end; a school inspection lasts at most two days)'}"
        findings.append(text + ".")
    # outcomes within the EIF 2019 era (the last era with overall grades): slowest and fastest graded outcome
    eif = df.filter((pl.col("era") == "eif_2019") & (pl.col("kind") == "graded"))
    by_outcome = [_row(eif.filter(pl.col("outcome") == o), "outcome", o, "graded") for o in sorted(set(eif["outcome"].to_list()))]
    by_outcome = [r for r in by_outcome if r["n"] >= SMALL_N]
    if len(by_outcome) >= 2:
        by_outcome.sort(key=lambda r: (r["median_working_days"], r["group"]))
        lo, hi = by_outcome[0], by_outcome[-1]
        for r in (lo, hi):
            figures.append(Figure(f"median_delay_eif_2019_{r['group'].lower().replace(' ', '_')}", f"Median start-to-publication delay, EIF 2019-2024 graded inspections judged {r['group']}",
                                  Estimate(r["median_working_days"], r["median_low"], r["median_high"], r["n"], method=ORDER_STAT), "working days"))
        findings.append(
            f"Under the EIF (2019-2024), graded inspections judged {hi['group']} waited longest: median "
            f"{describe(Estimate(hi['median_working_days'], hi['median_low'], hi['median_high'], hi['n']), 'working days')}, against "
            f"{describe(Estimate(lo['median_working_days'], lo['median_low'], lo['median_high'], lo['n']), 'working days')} for {lo['group']}."
        )

    # inspection length
    length = df.filter(pl.col("inspection_length_days").is_not_null())
    length_rows = []
    for kind in sorted(set(length["kind"].to_list())):
        part = length.filter(pl.col("kind") == kind)["inspection_length_days"].to_numpy()
        m = median_interval(part)
        mean = mean_interval(part)
        length_rows.append({"kind": kind, "n": m.n, "median_days": m.value, "median_low": m.low, "median_high": m.high,
                            "mean_days": mean.value, "mean_low": mean.low, "mean_high": mean.high})
        figures.append(Figure(f"length_{kind}", f"Median inspection length (calendar days, inclusive), {KIND_LABELS.get(kind, kind).lower()} inspections", m, "days"))
    length_table = pl.DataFrame(length_rows, schema={"kind": pl.String, "n": pl.Int64, "median_days": pl.Float64, "median_low": pl.Float64,
                                                     "median_high": pl.Float64, "mean_days": pl.Float64, "mean_low": pl.Float64, "mean_high": pl.Float64})

    # age of the latest graded judgement
    ages = _ages(ctx)
    n_open = ages.height
    aged = ages.filter(pl.col("age_of_latest_graded_days").is_not_null())
    age_days = aged["age_of_latest_graded_days"].to_numpy()
    med_age = median_interval(age_days)
    figures.append(Figure("median_age_latest_graded", f"Median age of open schools' latest graded judgement as at {ctx.as_at.isoformat()}", med_age, "days"))
    older: dict[int, Estimate] = {}
    for years in AGE_YEARS:
        older[years] = wilson(int((age_days > years * YEAR_DAYS).sum()), int(age_days.size))
        figures.append(Figure(f"share_latest_graded_older_than_{years}y", f"Share of open schools whose latest graded judgement is more than {years} years old", older[years], "share"))
    never = n_open - aged.height
    figures.append(Figure("schools_never_graded", "Open schools with no graded inspection on record (own or carried)", Estimate(float(never), math.nan, math.nan, n_open, method="count"), "count"))
    bins = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15]
    age_rows = []
    for i, lo_y in enumerate(bins):
        hi_y = bins[i + 1] if i + 1 < len(bins) else None
        sel = (age_days >= lo_y * YEAR_DAYS) & ((age_days < hi_y * YEAR_DAYS) if hi_y is not None else True)
        k = int(np.sum(sel))
        e = wilson(k, int(age_days.size))
        age_rows.append({"age_years": f"{lo_y}-{hi_y}" if hi_y is not None else f"{lo_y}+", "schools": k, "n": e.n, "share": e.value, "low": e.low, "high": e.high})
    age_table = pl.DataFrame(age_rows).with_columns(pl.col("share", "low", "high").fill_nan(None))
    if age_days.size:
        findings.append(
            f"As at {ctx.as_at.isoformat()}, the median open school's latest graded judgement was {num(med_age.value / YEAR_DAYS, 1)} years old "
            f"(n = {med_age.n:,}); {describe(older[4], 'share')} were more than 4 years old and {describe(older[6], 'share')} more than 6."
        )

    chart: dict[str, Any] | None = None
    # eras with fewer than 6 inspections have no median interval: their bars are drawn without whiskers
    chart_df = pl.DataFrame(era_rows, infer_schema_length=None).with_columns(pl.col(pl.Float64).fill_nan(None)) if era_rows else pl.DataFrame()
    if chart_df.height:
        chart_df = chart_df.with_columns(
            pl.col("group").replace_strict(era_label, default=pl.col("group")).alias("era_label"),
            pl.col("kind").replace_strict(KIND_LABELS, default=pl.col("kind")).alias("kind_label"),
        )
        chart = charts.chart_spec(charts.bar_with_intervals(
            chart_df, "era_label", "median_working_days", "median_low", "median_high", color="kind_label",
            title="Working days from the start of an inspection to its report's publication",
            subtitle=f"Median by framework era; n = {int(chart_df['n'].sum()):,} inspections with both dates; 95% order-statistic intervals",
            x_title="Framework era", y_title="Median working days", color_title="Inspection",
            x_order=[era_label[e] for e in era_order if era_label[e] in set(chart_df["era_label"].to_list())],
        ))

    caveats = [
        "The shared files carry no inspection end dates, so the delay runs from the FIRST day of the inspection and includes the "
        "inspection days themselves; Ofsted's targets run from the end. A report counts as beyond the target only when it is "
        "beyond it however long the inspection lasted (at most two days: one working day is taken off a count from the start); "
        "the 'upper bound' columns count every working day from the start.",
        "The targets in maps/publication_targets.csv are our reading of Ofsted's handbooks (see each row's source); where no target is "
        "recorded for an era no share beyond the target is given.",
        "Older eras are a selected sample: the files hold each open school's latest and previous graded inspection and the 2005-2020 "
        "history has no publication dates, so delays before 2019 rest on the inspections that are still a school's latest or previous.",
        "A long delay can have many causes (moderation of an inadequate judgement, complaints, school holidays); the data do not say which.",
    ]
    if n_no_pub:
        caveats.append(f"{n_no_pub:,} inspections started by the date have no publication date (mostly the 2005-2020 history) and are left out of the delays.")
    if n_bad:
        caveats.append(f"{n_bad:,} inspections have a publication date before their start date (a data error) and are left out.")
    if length.height == 0:
        caveats.append("No inspection in the warehouse has both a start and an end date, so inspection length cannot be measured from these files.")
    small_n = [f.label for f in figures if f.unit != "count" and 0 < f.estimate.n < SMALL_N]

    return AuditResult(
        name=NAME,
        title="Publication delay, inspection length and the age of judgements",
        question="How long do schools wait for their report, how long do inspections last, and how old are the judgements in force?",
        claim="High-stakes, cliff-edged grades, and heads left waiting for reports; too little time to substantiate evidence.",
        method=(
            "Working days (Monday to Friday, less England and Wales bank holidays) after the start (or end, where known) of each "
            f"inspection up to its publication date (out.timing), for inspections that started on or before {ctx.as_at.isoformat()}; "
            "grouped by outcome (overall effectiveness label, or ungraded outcome), inspection type grouping and framework era. "
            f"Medians with a {ORDER_STAT} (no resampling); means with a {T_INTERVAL}; the share beyond the published target "
            "with a Wilson interval, each report's target and whether it was exceeded decided once for every output (out.event_flags): "
            + LATE_PUBLICATION + " Inspection length = end - start + 1 calendar days where both exist. "
            f"Age = {ctx.as_at.isoformat()} minus the start of each open school's latest graded inspection (own or carried from a "
            "predecessor, as in Ofsted's official statistics)."
        ),
        figures=figures,
        tables={"main": main, "targets": targets, "length": length_table, "age": age_table},
        chart=chart,
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={"as_at": ctx.as_at, "median_interval": ORDER_STAT, "mean_interval": T_INTERVAL, "age_thresholds_years": list(AGE_YEARS),
                    "year_days": YEAR_DAYS, "small_n": SMALL_N},
        small_n=small_n,
    )


__all__ = ["mean_interval", "median_interval", "publication_targets", "run"]
