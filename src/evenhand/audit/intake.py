"""Intake audit: are judgements graded by who a school serves rather than how well it teaches?

Three layers, each a plain function so the warehouse and the synthetic nation share them:

- :func:`warehouse_frame` / :func:`nation_frame` give the *raw frame*: one row per graded event
  and key judgement (four-point scale, graded codes only), with the school's IDACI quintile,
  phase, pupils, type, region, the effectiveness measure of the nearest year before the
  inspection and its FSM share.
- :func:`prepare` keeps each school's latest graded event per judgement (rows independent
  given the school), derives the model columns (inspection year, type group, log size,
  standardised effectiveness, FSM quintile).
- :func:`analyse` computes distributions with Wilson intervals, the proportional-odds models
  with and without effectiveness, the share of the deprivation gradient effectiveness explains
  and the per-school expected-judgement distributions. :func:`run` wraps it in an AuditResult.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from evenhand import maps
from evenhand.audit.result import AuditContext, AuditResult, Figure, describe, num, pct
from evenhand.present import charts
from evenhand.simulate.nation import SyntheticNation
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import wilson, wilson_columns
from evenhand.stats.ordinal import OrdinalFit, fit_ordinal, gradient_share_explained

GRADES: tuple[str, ...] = ("1", "2", "3", "4")
GRADE_LABELS = maps.grade_labels("four_point")
KEY_AREAS: dict[str, str] = {
    "overall_effectiveness": "Overall effectiveness",
    "quality_of_education": "Quality of education",
    "leadership_and_management": "Leadership and management",
}
#: Overall effectiveness was no longer graded from September 2024.
OE_LAST_DAY = dt.date(2024, 8, 31)
DEPRIVATION_TERM = "idaci_quintile[5]"
#: Sensitivity analysis: effectiveness measured at most this many academic years before.
NEAR_YEARS = 3
CONTROLS = ["phase", "log_pupils", "type_group", "region", "year"]
CATEGORICAL = ["idaci_quintile", "phase", "type_group", "region", "year"]
REFERENCE: dict[str, object] = {"idaci_quintile": "1"}
EFFECTIVENESS_MEASURES = (
    "progress8",
    "ks2_reading_progress",
    "ks2_writing_progress",
    "ks2_maths_progress",
)
FSM_MEASURES = ("fsm6_pct", "fsm_pct")

RAW_SCHEMA: dict[str, Any] = {
    "event_id": pl.Utf8,
    "urn": pl.Int64,
    "area": pl.Utf8,
    "grade": pl.Utf8,
    "start_date": pl.Date,
    "idaci_quintile": pl.Int64,
    "phase": pl.Utf8,
    "pupils": pl.Float64,
    "school_type": pl.Utf8,
    "region": pl.Utf8,
    "effectiveness_raw": pl.Float64,
    "effectiveness_measure": pl.Utf8,
    "effectiveness_year": pl.Utf8,
    "years_apart": pl.Int64,
    "fsm_pct": pl.Float64,
}


# ----------------------------------------------------------------------------- raw frames


def warehouse_frame(ctx: AuditContext) -> pl.DataFrame:
    """Raw frame from the warehouse: graded key judgements up to the as-at date.

    The school's columns come from the school row of the file that reported the event
    (core.event_sources -> core.schools; the newest such row with a quintile); the
    effectiveness and FSM measures from out.event_context (nearest year before).
    """
    areas = ", ".join(f"'{a}'" for a in KEY_AREAS)
    base = ctx.frame(
        f"""
        WITH ev AS (
            SELECT e.event_id, e.urn, e.start_date, j.area, j.code AS grade
            FROM core.events e JOIN core.judgements j USING (event_id)
            WHERE e.kind = 'graded' AND j.scale = 'four_point' AND j.graded
              AND j.code IN ('1', '2', '3', '4') AND j.area IN ({areas})
              AND e.start_date IS NOT NULL AND e.start_date <= ?
              AND NOT (j.area = 'overall_effectiveness' AND e.start_date > ?)
        ),
        src AS (
            SELECT es.event_id, s.idaci_quintile, s.phase, s.pupils, s.school_type,
                   s.ofsted_region,
                   row_number() OVER (
                       PARTITION BY es.event_id
                       ORDER BY (s.idaci_quintile IS NULL), s.as_at DESC NULLS LAST,
                                es.file_id DESC, es.row_number
                   ) AS rn
            FROM core.event_sources es
            JOIN core.schools s ON s.file_id = es.file_id AND s.row_number = es.row_number
        )
        SELECT ev.event_id, ev.urn, ev.area, ev.grade, ev.start_date,
               CAST(src.idaci_quintile AS BIGINT) AS idaci_quintile, src.phase,
               CAST(src.pupils AS DOUBLE) AS pupils, src.school_type,
               src.ofsted_region AS region
        FROM ev LEFT JOIN src ON src.event_id = ev.event_id AND src.rn = 1
        """,
        [ctx.as_at, min(ctx.as_at, OE_LAST_DAY)],
    )
    measures = EFFECTIVENESS_MEASURES + FSM_MEASURES
    if ctx.has_table("out.event_context"):
        quoted = ", ".join(f"'{m}'" for m in measures)
        context = ctx.frame(
            f"""SELECT event_id, measure, value, academic_year, years_apart
                FROM out.event_context WHERE measure IN ({quoted})"""
        )
    else:
        context = pl.DataFrame(
            schema={
                "event_id": pl.Utf8,
                "measure": pl.Utf8,
                "value": pl.Float64,
                "academic_year": pl.Utf8,
                "years_apart": pl.Int64,
            }
        )
    return attach_context(base, context)


def attach_context(base: pl.DataFrame, context: pl.DataFrame) -> pl.DataFrame:
    """Effectiveness (P8 for secondaries; KS2 mean progress, else maths, for primaries) and FSM."""
    wide = {
        m: context.filter(pl.col("measure") == m).select(
            "event_id",
            pl.col("value").alias(m),
            pl.col("academic_year").alias(f"{m}__year"),
            pl.col("years_apart").cast(pl.Int64).alias(f"{m}__apart"),
        )
        for m in EFFECTIVENESS_MEASURES + FSM_MEASURES
    }
    frame = base
    for w in wide.values():
        frame = frame.join(w.unique("event_id", keep="first"), on="event_id", how="left")
    ks2 = ["ks2_reading_progress", "ks2_writing_progress", "ks2_maths_progress"]
    ks2_all = pl.all_horizontal([pl.col(c).is_not_null() for c in ks2])
    secondary = pl.col("phase") == "Secondary"
    primary = pl.col("phase") == "Primary"
    fsm_pick = max(FSM_MEASURES, key=lambda m: frame[m].is_not_null().sum())
    frame = frame.with_columns(
        pl.when(secondary)
        .then(pl.col("progress8"))
        .when(primary & ks2_all)
        .then(pl.mean_horizontal(ks2))
        .when(primary)
        .then(pl.col("ks2_maths_progress"))
        .alias("effectiveness_raw"),
        pl.when(secondary & pl.col("progress8").is_not_null())
        .then(pl.lit("progress8"))
        .when(primary & ks2_all)
        .then(pl.lit("ks2_mean_progress"))
        .when(primary & pl.col("ks2_maths_progress").is_not_null())
        .then(pl.lit("ks2_maths_progress"))
        .alias("effectiveness_measure"),
        pl.when(secondary)
        .then(pl.col("progress8__year"))
        .otherwise(pl.col("ks2_maths_progress__year"))
        .alias("effectiveness_year"),
        pl.when(secondary)
        .then(pl.col("progress8__apart"))
        .otherwise(pl.col("ks2_maths_progress__apart"))
        .alias("years_apart"),
        pl.col(fsm_pick).alias("fsm_pct"),
    )
    return frame.select([pl.col(c).cast(t) for c, t in RAW_SCHEMA.items()])


def nation_frame(nation: SyntheticNation) -> pl.DataFrame:
    """The raw frame of a synthetic nation (its measured ``progress`` as effectiveness)."""
    events = nation.events.filter(pl.col("kind") == "graded")
    j = nation.judgements.filter(pl.col("area").is_in(list(KEY_AREAS))).select(
        "event_id", "area", pl.col("code").alias("grade")
    )
    s = nation.schools.select(
        "urn",
        pl.col("idaci_quintile").cast(pl.Int64),
        "phase",
        pl.col("pupils").cast(pl.Float64),
        "school_type",
        pl.col("ofsted_region").alias("region"),
        pl.col("progress").alias("effectiveness_raw"),
        "fsm_pct",
    )
    frame = (
        events.select("event_id", "urn", "start_date")
        .join(j, on="event_id")
        .join(s, on="urn", how="left")
        .with_columns(
            pl.lit("synthetic_progress").alias("effectiveness_measure"),
            pl.lit("synthetic").alias("effectiveness_year"),
            pl.lit(1).alias("years_apart"),
        )
    )
    return frame.select([pl.col(c).cast(t) for c, t in RAW_SCHEMA.items()])


# ----------------------------------------------------------------------------- prepare


def type_group(school_type: pl.Expr) -> pl.Expr:
    """School type group (maps/school_type_groups.csv: Maintained, Academy, Free school)."""
    return maps.school_type_group_expr(school_type)


def academic_year(date: pl.Expr) -> pl.Expr:
    return maps.academic_year_expr(date)


def quintile_of(x: pl.Expr, cuts: list[float]) -> pl.Expr:
    """'1'..'5' for values cut at four increasing points (intervals closed on the right)."""
    return (1 + pl.sum_horizontal([(x > c).cast(pl.Int32) for c in cuts])).cast(pl.Utf8)


def prepare(raw: pl.DataFrame) -> pl.DataFrame:
    """Latest graded event per school and judgement, with the model columns."""
    latest = raw.sort("urn", "area", "start_date", "event_id").unique(
        ["urn", "area"], keep="last", maintain_order=True
    )
    frame = latest.with_columns(
        pl.col("idaci_quintile").cast(pl.Utf8),
        academic_year(pl.col("start_date")).alias("year"),
        type_group(pl.col("school_type")).alias("type_group"),
        pl.when(pl.col("pupils") > 0).then(pl.col("pupils").log()).alias("log_pupils"),
    )
    # Effectiveness: standardised within phase (P8 and KS2 progress are on different scales).
    frame = frame.with_columns(
        (
            (pl.col("effectiveness_raw") - pl.col("effectiveness_raw").mean().over("phase"))
            / pl.col("effectiveness_raw").std().over("phase")
        ).alias("effectiveness")
    )
    # FSM quintiles: cut points over the schools in the frame (one value per school).
    # one value per school (deterministic: the smallest when a school's rows differ)
    fsm_school = (
        frame.select("urn", "fsm_pct").drop_nulls().group_by("urn").agg(pl.col("fsm_pct").min())
    )["fsm_pct"]
    if fsm_school.len() >= 5:
        cuts = np.quantile(fsm_school.to_numpy(), [0.2, 0.4, 0.6, 0.8]).tolist()
        frame = frame.with_columns(
            pl.when(pl.col("fsm_pct").is_not_null())
            .then(quintile_of(pl.col("fsm_pct"), cuts))
            .alias("fsm_quintile")
        )
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias("fsm_quintile"))
    return frame.sort("area", "urn")


# ----------------------------------------------------------------------------- analyse


@dataclass
class AreaModels:
    area: str
    n_all: int
    n_effectiveness: int
    fit_all: OrdinalFit | None
    fit_without: OrdinalFit | None
    fit_with: OrdinalFit | None
    share: Estimate | None
    notes: list[str] = field(default_factory=list)
    #: sensitivity: the same comparison on rows whose measure is at most NEAR_YEARS old
    n_near: int = 0
    near_without: OrdinalFit | None = None
    near_with: OrdinalFit | None = None
    near_share: Estimate | None = None


@dataclass
class IntakeAnalysis:
    distribution: pl.DataFrame
    odds_ratios: pl.DataFrame
    models: dict[str, AreaModels]
    expected: pl.DataFrame
    coverage: pl.DataFrame


def distribution(
    frame: pl.DataFrame,
    groupings: tuple[tuple[str, str], ...] = (("IDACI", "idaci_quintile"), ("FSM", "fsm_quintile")),
) -> pl.DataFrame:
    """Share of each grade by quintile (IDACI, FSM, ...) and judgement, with Wilson intervals.

    ``groupings`` pairs a label (the ``quintile_kind`` column) with the quintile column.
    """
    parts = []
    for kind, col in groupings:
        sub = frame.filter(pl.col(col).is_not_null())
        if sub.height == 0:
            continue
        counts = sub.group_by("area", pl.col(col).alias("quintile"), "grade").agg(
            pl.len().cast(pl.Int64).alias("count")
        )
        grid = (
            sub.select("area", pl.col(col).alias("quintile"))
            .unique()
            .join(pl.DataFrame({"grade": list(GRADES)}), how="cross")
        )
        c = grid.join(counts, on=["area", "quintile", "grade"], how="left").with_columns(
            pl.col("count").fill_null(0)
        )
        c = c.with_columns(pl.col("count").sum().over("area", "quintile").alias("n"))
        parts.append(c.with_columns(pl.lit(kind).alias("quintile_kind")))
    if not parts:
        return pl.DataFrame()
    out = wilson_columns(pl.concat(parts), "count", "n")
    return (
        out.with_columns(
            pl.col("grade").replace_strict(GRADE_LABELS, return_dtype=pl.Utf8).alias("label")
        )
        .select(
            "area",
            "quintile_kind",
            "quintile",
            "grade",
            "label",
            "count",
            "n",
            "share",
            "low",
            "high",
        )
        .sort("area", "quintile_kind", "quintile", "grade")
    )


def _fit(df: pl.DataFrame, with_eff: bool) -> OrdinalFit:
    preds = ["idaci_quintile", *CONTROLS] + (["effectiveness"] if with_eff else [])
    present = [p for p in preds if df[p].drop_nulls().n_unique() > 1 or p == "idaci_quintile"]
    cats = [c for c in CATEGORICAL if c in present]
    return fit_ordinal(df, "grade", GRADES, present, cats, REFERENCE)


def _or_rows(area: str, model: str, fit: OrdinalFit | None) -> list[dict[str, Any]]:
    if fit is None:
        return []
    kept = fit.odds_ratio_rows(lambda t: t.startswith("idaci_quintile[") or t == "effectiveness")
    return [{"area": area, "model": model, **r} for r in kept]


def analyse(
    frame: pl.DataFrame,
    areas: tuple[str, ...] = tuple(KEY_AREAS),
    seed: int = 0,
    min_rows: int = 200,
    all_rows: bool = True,
) -> IntakeAnalysis:
    """Everything the audit reports, from a prepared frame (pure, deterministic).

    ``all_rows=False`` skips the all-rows model and the expected distributions (only the
    with/without comparison is fitted: used by the repeated-seed coverage check).
    """
    dist = distribution(frame)
    models: dict[str, AreaModels] = {}
    or_rows: list[dict[str, Any]] = []
    expected_parts: list[pl.DataFrame] = []
    for area in areas:
        df = frame.filter(pl.col("area") == area).drop_nulls(
            ["idaci_quintile", "phase", "log_pupils", "type_group", "region", "year"]
        )
        eff = df.filter(pl.col("effectiveness").is_not_null() & pl.col("effectiveness").is_finite())
        m = AreaModels(area, df.height, eff.height, None, None, None, None)
        models[area] = m
        if df.height < min_rows or df["idaci_quintile"].n_unique() < 2:
            m.notes.append(f"too few rows to model ({df.height})")
            continue
        if all_rows:
            m.fit_all = _fit(df, with_eff=False)
            pred = m.fit_all.predict_distribution(df)
            expected_parts.append(
                pl.concat(
                    [
                        df.select("urn", "event_id", "area", pl.col("grade").alias("observed")),
                        pred,
                    ],
                    how="horizontal",
                )
            )
            or_rows += _or_rows(area, "all rows, without effectiveness", m.fit_all)
        if eff.height >= min_rows and eff["idaci_quintile"].n_unique() == 5:
            m.fit_without = _fit(eff, with_eff=False)
            m.fit_with = _fit(eff, with_eff=True)
            or_rows += _or_rows(area, "effectiveness rows, without effectiveness", m.fit_without)
            or_rows += _or_rows(area, "effectiveness rows, with effectiveness", m.fit_with)
            if DEPRIVATION_TERM in m.fit_without.terms and DEPRIVATION_TERM in m.fit_with.terms:
                m.share = gradient_share_explained(
                    m.fit_without, m.fit_with, DEPRIVATION_TERM, seed=seed
                )
            near = eff.filter(pl.col("years_apart") <= NEAR_YEARS)
            m.n_near = near.height
            if all_rows and near.height >= min_rows and near["idaci_quintile"].n_unique() == 5:
                m.near_without = _fit(near, with_eff=False)
                m.near_with = _fit(near, with_eff=True)
                label_near = f"measure at most {NEAR_YEARS} years before"
                or_rows += _or_rows(area, f"{label_near}, without effectiveness", m.near_without)
                or_rows += _or_rows(area, f"{label_near}, with effectiveness", m.near_with)
                if (
                    DEPRIVATION_TERM in m.near_without.terms
                    and DEPRIVATION_TERM in m.near_with.terms
                ):
                    m.near_share = gradient_share_explained(
                        m.near_without, m.near_with, DEPRIVATION_TERM, seed=seed
                    )
        else:
            m.notes.append(f"too few rows with an effectiveness measure ({eff.height})")
    odds = pl.DataFrame(
        or_rows,
        schema={
            "area": pl.Utf8,
            "model": pl.Utf8,
            "term": pl.Utf8,
            "odds_ratio": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "n": pl.Int64,
            "converged": pl.Boolean,
        },
    )
    expected = (
        pl.concat(expected_parts)
        if expected_parts
        else pl.DataFrame(
            schema={"urn": pl.Int64, "event_id": pl.Utf8, "area": pl.Utf8, "observed": pl.Utf8}
        )
    )
    coverage = (
        frame.filter(pl.col("effectiveness").is_not_null())
        .group_by("area", "effectiveness_measure", "years_apart")
        .agg(pl.len().alias("n"))
        .sort("area", "effectiveness_measure", "years_apart")
    )
    return IntakeAnalysis(dist, odds, models, expected, coverage)


# ----------------------------------------------------------------------------- result


def _or(fit: OrdinalFit | None, term: str = DEPRIVATION_TERM) -> Estimate | None:
    if fit is None or term not in fit.odds_ratios:
        return None
    return fit.odds_ratios[term]


def build_result(
    analysis: IntakeAnalysis,
    frame: pl.DataFrame,
    inputs: list[dict[str, Any]],
    as_at: dt.date,
    seed: int,
    synthetic: bool = False,
) -> AuditResult:
    figures: list[Figure] = []
    findings: list[str] = []
    small_n: list[str] = []
    for area, label in KEY_AREAS.items():
        m = analysis.models.get(area)
        if m is None:
            continue
        if m.fit_all is not None and (e := _or(m.fit_all)) is not None:
            figures.append(
                Figure(
                    f"{area}.or_q5_all",
                    f"{label}: odds ratio of a worse grade, most vs least deprived IDACI "
                    "quintile, all rows, controls only",
                    e,
                    "odds ratio",
                )
            )
        e_wo, e_w = _or(m.fit_without), _or(m.fit_with)
        if e_wo is not None and e_w is not None:
            figures.append(
                Figure(
                    f"{area}.or_q5_without",
                    f"{label}: odds ratio, quintile 5 vs 1, rows with effectiveness, "
                    "without effectiveness",
                    e_wo,
                    "odds ratio",
                )
            )
            figures.append(
                Figure(
                    f"{area}.or_q5_with",
                    f"{label}: odds ratio, quintile 5 vs 1, same rows, with effectiveness",
                    e_w,
                    "odds ratio",
                )
            )
            if m.fit_with is not None and (ee := _or(m.fit_with, "effectiveness")) is not None:
                figures.append(
                    Figure(
                        f"{area}.or_effectiveness",
                        f"{label}: odds ratio of a worse grade per standard deviation of "
                        "effectiveness (progress)",
                        ee,
                        "odds ratio",
                    )
                )
        if m.share is not None:
            figures.append(
                Figure(
                    f"{area}.share_explained",
                    f"{label}: share of the quintile 5 vs 1 gradient that effectiveness explains",
                    m.share,
                    "share",
                )
            )
        if m.near_share is not None:
            figures.append(
                Figure(
                    f"{area}.share_explained_near",
                    f"{label}: share of the gradient effectiveness explains, measure at most "
                    f"{NEAR_YEARS} years before the inspection (sensitivity)",
                    m.near_share,
                    "share",
                )
            )
        figures.append(
            Figure(
                f"{area}.rows_with_effectiveness",
                f"{label}: schools with an effectiveness measure, of {m.n_all:,} modelled",
                Estimate(float(m.n_effectiveness), math.nan, math.nan, m.n_all, 0.95, "count"),
                "count",
            )
        )
        if m.n_effectiveness < 1000:
            small_n.append(
                f"{label}: only {m.n_effectiveness:,} schools have an effectiveness measure"
            )
        for note in m.notes:
            small_n.append(f"{label}: {note}")
        e_all = _or(m.fit_all)
        if e_all is not None:
            if e_all.low > 1:
                verdict = "higher odds of a worse grade than"
            elif e_all.high < 1:
                verdict = "lower odds of a worse grade than"
            else:
                verdict = "odds of a worse grade not clearly different from"
            findings.append(
                f"{label}: schools in the most deprived IDACI quintile had {verdict} the least "
                f"deprived after controls: odds ratio {describe(e_all, 'odds ratio')}."
            )
        if e_wo is not None and e_w is not None and m.share is not None:
            findings.append(
                f"{label}, on the {m.n_effectiveness:,} schools with a prior progress measure: "
                f"the odds ratio moves from {num(e_wo.value)} without effectiveness to "
                f"{num(e_w.value)} (95% CI {num(e_w.low)} to {num(e_w.high)}) with it; "
                f"effectiveness explains {pct(m.share.value)} of the gradient "
                f"(95% CI {pct(m.share.low)} to {pct(m.share.high)})."
            )
        if m.near_share is not None:
            if m.share is not None and m.near_share.low > m.share.high:
                compare = (
                    f"its interval above that of the {pct(m.share.value)} on all rows with a "
                    "measure (a subset of those rows, so not a formal test)"
                )
            elif m.share is not None and m.near_share.value > m.share.value:
                compare = (
                    f"more than the {pct(m.share.value)} on all rows with a measure, though the "
                    "intervals overlap"
                )
            else:
                compare = "no more than on all rows with a measure"
            findings.append(
                f"{label}: where the progress measure is at most {NEAR_YEARS} years older than "
                f"the inspection ({m.n_near:,} schools, inspected soonest after the measure), "
                f"effectiveness explains {describe(m.near_share, 'share')} of the gradient, "
                f"{compare}."
            )
    # Observed shares good or better, quintile 5 vs 1 (overall effectiveness, IDACI).
    dist = analysis.distribution
    chart = None
    if dist.height:
        chart_area = next((a for a in KEY_AREAS if dist.filter(pl.col("area") == a).height), None)
        if chart_area is not None:
            sub = dist.filter((pl.col("area") == chart_area) & (pl.col("quintile_kind") == "IDACI"))
            n_total = int(sub.group_by("quintile").agg(pl.col("n").first())["n"].sum())
            chart = charts.chart_spec(
                charts.bar_with_intervals(
                    sub,
                    "quintile",
                    "share",
                    "low",
                    "high",
                    color="label",
                    title=f"{KEY_AREAS[chart_area]} by IDACI quintile (1 least, 5 most deprived)",
                    subtitle=f"Latest graded inspection of each school, as at {as_at}; "
                    f"n = {n_total:,}; whiskers are 95% Wilson intervals",
                    x_title="IDACI quintile",
                    y_title="Share of schools",
                    color_title="Grade",
                    x_order=["1", "2", "3", "4", "5"],
                    color_order=list(GRADE_LABELS.values()),
                    y_format=".0%",
                )
            )
            for q in ("1", "5"):
                row = (
                    sub.filter(pl.col("quintile") == q)
                    .group_by("quintile")
                    .agg(
                        pl.col("count").filter(pl.col("grade").is_in(["1", "2"])).sum(),
                        pl.col("n").first(),
                    )
                )
                if row.height:
                    e = wilson(int(row["count"][0]), int(row["n"][0]))
                    figures.append(
                        Figure(
                            f"{chart_area}.good_or_better_q{q}",
                            f"{KEY_AREAS[chart_area]}: share good or outstanding, IDACI quintile {q}",
                            e,
                            "share",
                        )
                    )
            fsm = dist.filter((pl.col("area") == chart_area) & (pl.col("quintile_kind") == "FSM"))
            for q in ("1", "5"):
                good = fsm.filter((pl.col("quintile") == q) & pl.col("grade").is_in(["1", "2"]))
                if good.height:
                    figures.append(
                        Figure(
                            f"{chart_area}.good_or_better_fsm_q{q}",
                            f"{KEY_AREAS[chart_area]}: share good or outstanding, FSM quintile "
                            f"{q} (schools with census FSM data)",
                            wilson(int(good["count"].sum()), int(good["n"][0])),
                            "share",
                        )
                    )
            f1 = [f for f in figures if f.key.endswith("good_or_better_q1")]
            f5 = [f for f in figures if f.key.endswith("good_or_better_q5")]
            if f1 and f5:
                findings.insert(
                    0,
                    f"{KEY_AREAS[chart_area]}: {f1[0].text()} of schools in the least deprived "
                    f"quintile were good or outstanding at their latest graded inspection, "
                    f"against {f5[0].text()} in the most deprived.",
                )
    cov = analysis.coverage
    years = sorted({str(y) for y in frame["effectiveness_year"].drop_nulls().unique().to_list()})
    apart = cov.group_by("years_apart").agg(pl.col("n").sum()).sort("years_apart")
    apart_text = ", ".join(f"{a} year(s): {n:,}" for a, n in apart.iter_rows()) or "none"
    caveats = [
        "Deprivation is the IDACI quintile Ofsted publishes in the school row of the file that "
        "reported the inspection (a snapshot of the school's current intake, not necessarily its "
        "intake at the time of the inspection).",
        f"Effectiveness is the school's own progress measure of the nearest academic year before "
        f"the inspection (KS4 Progress 8 for secondaries; mean KS2 reading, writing and maths "
        f"progress, else maths, for primaries), standardised within phase. Years available: "
        f"{', '.join(years) or 'none'}. Years between measure and inspection "
        f"(school-judgement rows): {apart_text}. "
        "Only inspections after the measure's year can have one, so the with/without comparison "
        "rests on a subset of schools inspected later; progress is a noisy, partial measure of "
        "effectiveness, so the share explained is a lower bound on what better measures might "
        "explain and an odds ratio 'with effectiveness' is not proof of bias.",
        "Each school's latest graded inspection of each judgement as at the date is used (one row "
        "per school, so rows are independent given the school); overall effectiveness only up to "
        "31 August 2024, when Ofsted stopped grading it.",
        "Observational data: other differences between schools in different quintiles "
        "(leadership turnover, pupil mobility, SEND, selection) are not controlled for; region "
        "stands in for inspection teams, whose identity is not published in bulk.",
        "Special schools, PRUs and nurseries have no progress measure and are in the all-rows "
        "model only.",
    ]
    if synthetic:
        caveats.insert(0, "SYNTHETIC DATA: this result is computed from a simulated nation.")
    odds = analysis.odds_ratios
    shares = pl.DataFrame(
        [
            {
                "area": a,
                "n_all": m.n_all,
                "n_effectiveness": m.n_effectiveness,
                "share_explained": m.share.value if m.share else None,
                "low": m.share.low if m.share else None,
                "high": m.share.high if m.share else None,
                "method": m.share.method if m.share else None,
                "n_near": m.n_near,
                "share_explained_near": m.near_share.value if m.near_share else None,
                "low_near": m.near_share.low if m.near_share else None,
                "high_near": m.near_share.high if m.near_share else None,
            }
            for a, m in analysis.models.items()
        ],
        schema={
            "area": pl.Utf8,
            "n_all": pl.Int64,
            "n_effectiveness": pl.Int64,
            "share_explained": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "method": pl.Utf8,
            "n_near": pl.Int64,
            "share_explained_near": pl.Float64,
            "low_near": pl.Float64,
            "high_near": pl.Float64,
        },
    ).with_columns(
        pl.col(
            "share_explained", "low", "high", "share_explained_near", "low_near", "high_near"
        ).fill_nan(None)
    )
    return AuditResult(
        name="intake",
        title="Intake: judgements by deprivation, with and without effectiveness",
        question=(
            "Do schools serving more deprived pupils get worse judgements, and how much of that "
            "gap is explained by how much progress their pupils make?"
        ),
        claim="Inspection grades reflect a school's intake more than the quality of its teaching.",
        method=(
            "Each school's latest graded inspection (four-point scale) as at the date; shares of "
            "each grade by IDACI quintile and by FSM quintile with Wilson 95% intervals; a "
            "proportional-odds logistic model of each key judgement on IDACI quintile, "
            "controlling for phase, log pupils, school type group, Ofsted region and inspection "
            "year; then, on the schools with a prior progress measure, the same model without "
            "and with standardised progress, and the share of the quintile 5 vs 1 log odds ratio "
            "that adding progress removes (delta-method interval, joint sandwich covariance); as a "
            "sensitivity check, the same comparison on the schools whose measure is at most "
            f"{NEAR_YEARS} academic years older than the inspection."
        ),
        figures=figures,
        tables={
            "main": analysis.distribution,
            "odds_ratios": odds,
            "share_explained": shares,
            "effectiveness_coverage": cov,
            "expected": analysis.expected,
        },
        chart=chart,
        findings=findings,
        caveats=caveats,
        inputs=inputs,
        parameters={"as_at": as_at, "seed": seed, "reference_quintile": "1"},
        small_n=small_n,
    )


def run(ctx: AuditContext) -> AuditResult:
    raw = warehouse_frame(ctx)
    frame = prepare(raw)
    analysis = analyse(frame, seed=ctx.seed)
    return build_result(analysis, frame, ctx.inputs(), ctx.as_at, ctx.seed, ctx.synthetic)
