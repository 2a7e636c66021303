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
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from evenhand import maps
from evenhand.audit import adjusted, charts, clusters
from evenhand.audit.result import (
    AuditContext,
    AuditResult,
    Figure,
    Frame,
    describe,
    num,
    pct,
)
from evenhand.simulate.nation import SyntheticNation
from evenhand.stats.decompose import KHBDecomposition, khb_share_explained
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import newcombe_difference, wilson, wilson_columns
from evenhand.stats.ordinal import OrdinalFit, fit_ordinal, gradient_share_explained

GRADES: tuple[str, ...] = ("1", "2", "3", "4")
GRADE_LABELS = maps.grade_labels("four_point")
KEY_AREAS: dict[str, str] = {
    area: maps.area_label(area) for area in ("overall_effectiveness", "quality_of_education", "leadership_and_management")
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
    "lineage_id": pl.Utf8,
    "carried": pl.Boolean,
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
SNAPSHOT_COLUMNS = ("urn", "lineage_id", "graded_event_id", "graded_carried", "open_in_file_id")


# ----------------------------------------------------------------------------- raw frames


def snapshot(ctx: AuditContext) -> tuple[pl.DataFrame, str]:
    """One row per school open at ``ctx.as_at`` with its latest graded inspection (own, or
    carried from a predecessor URN as Ofsted carries it), and where it came from.

    out.snapshot_schools for the national snapshot file of that date (out.snapshots) when the
    warehouse has it, else out.latest_as_at when it is dated ``ctx.as_at``, else the same rule
    (:func:`evenhand.derive.as_at.latest_as_at`) computed for ``ctx.as_at``.
    """
    cols = ", ".join(SNAPSHOT_COLUMNS)
    if ctx.has_table("out.snapshot_schools") and ctx.has_table("out.snapshots"):
        # one national file of that date (two copies of one file: the newest, then the last)
        df = ctx.frame(
            f"""SELECT {cols} FROM out.snapshot_schools WHERE file_id = (
                    SELECT file_id FROM out.snapshots WHERE national AND as_at = ?
                    ORDER BY newest_national DESC, file_id DESC LIMIT 1)""",
            [ctx.as_at],
        )
        if df.height:
            path = ctx.frame(
                "SELECT path FROM out.snapshots WHERE file_id = ?", [int(df["open_in_file_id"].max())]  # type: ignore[arg-type]
            )
            name = path["path"][0] if path.height else "the national school-level file"
            return df.sort("urn"), f"out.snapshot_schools ({name})"
    if ctx.has_table("out.latest_as_at"):
        df = ctx.frame(f"SELECT {cols} FROM out.latest_as_at WHERE as_at = ?", [ctx.as_at])
        if df.height:
            return df.sort("urn"), "out.latest_as_at"
    from evenhand.derive.as_at import latest_as_at

    df = latest_as_at(ctx.con, ctx.as_at).select(SNAPSHOT_COLUMNS)
    return df.sort("urn"), "the out.latest_as_at rule computed for the date"


def warehouse_frame(ctx: AuditContext) -> pl.DataFrame:
    """Raw frame from the warehouse: one row per school open at the snapshot and key judgement
    of its latest graded inspection (four-point scale, graded codes only).

    The school's columns (IDACI quintile, phase, pupils, type, region) come from its row in the
    snapshot file; the effectiveness and FSM measures from out.event_context for the inspection
    (nearest year before it, for the URN inspected).
    """
    snap, _ = snapshot(ctx)
    areas = ", ".join(f"'{a}'" for a in KEY_AREAS)
    ctx.con.register("_intake_snapshot", snap)
    try:
        base = ctx.frame(
            f"""
            WITH school AS (
                SELECT s.file_id, s.urn, arg_min(s.idaci_quintile, s.row_number) AS idaci_quintile,
                       arg_min(s.phase, s.row_number) AS phase, arg_min(s.pupils, s.row_number) AS pupils,
                       arg_min(s.school_type, s.row_number) AS school_type,
                       arg_min(s.ofsted_region, s.row_number) AS region
                FROM core.schools s
                JOIN (SELECT DISTINCT open_in_file_id, urn FROM _intake_snapshot) o
                  ON o.open_in_file_id = s.file_id AND o.urn = s.urn
                GROUP BY s.file_id, s.urn
            )
            SELECT e.event_id, o.urn, o.lineage_id, coalesce(o.graded_carried, false) AS carried,
                   j.area, j.code AS grade, e.start_date,
                   CAST(sc.idaci_quintile AS BIGINT) AS idaci_quintile, sc.phase,
                   CAST(sc.pupils AS DOUBLE) AS pupils, sc.school_type, sc.region
            FROM _intake_snapshot o
            JOIN core.events e ON e.event_id = o.graded_event_id
            JOIN core.judgements j ON j.event_id = e.event_id
            LEFT JOIN school sc ON sc.file_id = o.open_in_file_id AND sc.urn = o.urn
            WHERE j.scale = 'four_point' AND j.graded AND j.code IN ('1', '2', '3', '4')
              AND j.area IN ({areas})
            ORDER BY o.urn, j.area
            """
        )
    finally:
        ctx.con.unregister("_intake_snapshot")
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


@dataclass(frozen=True)
class FsmSource:
    """What the FSM share of the intake frame is and which inspections have it (referee item 5)."""

    measure: str  # the out.event_context measure picked (maps/measures.csv)
    description: str  # its description in maps/measures.csv
    census_years: tuple[str, ...]  # academic years of the census rows attached
    first_start: dt.date | None  # earliest start of an inspection that has an FSM share
    years_apart: tuple[int, int] | None  # least and most academic years from census to inspection


def pick_fsm_measure(frame: pl.DataFrame) -> str:
    """The FSM measure the frame uses: the one known for most rows (the first on a tie)."""
    return max(FSM_MEASURES, key=lambda m: frame[m].is_not_null().sum())


def fsm_source(ctx: AuditContext, raw: pl.DataFrame) -> FsmSource | None:
    """The FSM measure :func:`attach_context` picked for ``raw`` (same rule, same rows) and the
    census years and inspections behind it, for the frame text."""
    if not ctx.has_table("out.event_context") or raw.height == 0:
        return None
    quoted = ", ".join(f"'{m}'" for m in FSM_MEASURES)
    context = ctx.frame(
        f"""SELECT event_id, measure, value, academic_year, years_apart
            FROM out.event_context WHERE measure IN ({quoted})"""
    )
    base = raw.select("event_id", "start_date")
    for m in FSM_MEASURES:
        w = context.filter(pl.col("measure") == m).select("event_id", pl.col("value").alias(m)).unique("event_id", keep="first")
        base = base.join(w, on="event_id", how="left")
    pick = pick_fsm_measure(base)
    rows = (
        context.filter((pl.col("measure") == pick) & pl.col("value").is_not_null())
        .unique("event_id", keep="first")
        .join(raw.select("event_id", "start_date").unique("event_id"), on="event_id")
    )
    if rows.height == 0:
        return None
    desc = next((r["description"] for r in maps.read_rows("measures.csv") if r["measure"] == pick), pick)
    apart = rows["years_apart"].drop_nulls()
    return FsmSource(
        measure=pick,
        description=desc,
        census_years=tuple(sorted({str(y) for y in rows["academic_year"].drop_nulls().to_list()})),
        first_start=rows["start_date"].min(),  # type: ignore[arg-type]
        years_apart=(int(apart.min()), int(apart.max())) if apart.len() else None,  # type: ignore[arg-type]
    )


def fsm_words(src: FsmSource | None) -> str:
    """'FSM quintile (pupils ever eligible ...; census PNUMFSMEVER)': what the FSM rows are."""
    if src is None:
        return "FSM quintile (schools with census FSM data)"
    return f"FSM quintile ({_fsm_what(src)}, {_census_column(src)})"


def _fsm_what(src: FsmSource) -> str:
    """The measure's description in maps/measures.csv without its source: 'percentage of pupils
    eligible for free school meals at any time in the last six years'."""
    text = src.description.split(" (")[0]
    return text[:1].lower() + text[1:]


def _census_column(src: FsmSource) -> str:
    m = re.search(r"census ([A-Z0-9]+)", src.description)
    return f"census {m.group(1)}" if m else "census"


HISTORY_SCHEMA: dict[str, Any] = {
    "lineage_id": pl.Utf8,
    "event_id": pl.Utf8,
    "event_urn": pl.Int64,
    "start_date": pl.Date,
    "era": pl.Utf8,
    "grade": pl.Utf8,
}


def warehouse_history(ctx: AuditContext) -> pl.DataFrame | None:
    """Every graded inspection with an overall effectiveness grade on the four-point scale
    (graded codes only), started by ``ctx.as_at``, of every school lineage open at the snapshot
    (out.event_lineage: the open URN's own inspections and its predecessors'). One row per
    inspection: ``lineage_id, event_id, event_urn, start_date, era, grade``. None without
    out.event_lineage (an older warehouse): then only each school's latest is modelled."""
    snap, _ = snapshot(ctx)
    if not ctx.has_table("out.event_lineage"):
        return None
    ctx.con.register("_intake_lineages", snap.select("lineage_id").drop_nulls().unique())
    try:
        df = ctx.frame(
            """
            SELECT el.lineage_id, e.event_id, e.urn AS event_urn, e.start_date, e.era, j.code AS grade
            FROM core.events e
            JOIN out.event_lineage el ON el.event_id = e.event_id
            JOIN _intake_lineages l ON l.lineage_id = el.lineage_id
            JOIN core.judgements j ON j.event_id = e.event_id
            WHERE j.area = 'overall_effectiveness' AND j.scale = 'four_point' AND j.graded
              AND j.code IN ('1', '2', '3', '4') AND e.start_date <= ?
            ORDER BY el.lineage_id, e.start_date, e.event_id
            """,
            [ctx.as_at],
        )
    finally:
        ctx.con.unregister("_intake_lineages")
    return df.select([pl.col(c).cast(t) for c, t in HISTORY_SCHEMA.items()]).unique(
        "event_id", keep="first", maintain_order=True
    )


def nation_history(nation: SyntheticNation, as_at: dt.date | None = None) -> pl.DataFrame:
    """:func:`warehouse_history` for a synthetic nation: every graded inspection with an overall
    grade, started by the date, of each open school's URN and its predecessor's."""
    from evenhand.simulate.frame_bias import SNAPSHOT, lineage_columns

    day = as_at or SNAPSHOT
    lin = lineage_columns(nation.schools).filter(pl.col("open"))
    graded = nation.events.filter((pl.col("kind") == "graded") & (pl.col("start_date") <= day)).select(
        "event_id", pl.col("urn").alias("event_urn"), "start_date", "era"
    )
    oe = nation.judgements.filter(pl.col("area") == "overall_effectiveness").select(
        "event_id", pl.col("code").cast(pl.Utf8).alias("grade")
    )
    own = lin.select("lineage_id", pl.col("urn").alias("event_urn"))
    pred = lin.drop_nulls("predecessor_urn").select("lineage_id", pl.col("predecessor_urn").alias("event_urn"))
    urns = pl.concat([own, pred.cast(own.schema)]).unique()
    out = (
        urns.join(graded, on="event_urn")
        .join(oe, on="event_id")
        .filter(pl.col("grade").is_in(list(GRADES)))
        .sort("lineage_id", "start_date", "event_id")
    )
    return out.select([pl.col(c).cast(t) for c, t in HISTORY_SCHEMA.items()]).unique(
        "event_id", keep="first", maintain_order=True
    )


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
    fsm_pick = pick_fsm_measure(frame)
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


def nation_latest(nation: SyntheticNation, as_at: dt.date | None = None) -> pl.DataFrame:
    """The snapshot of a synthetic nation, by the rule of out.latest_as_at: one row per open
    school (``urn, lineage_id, graded_event_id, graded_carried``), its latest graded inspection
    (started by the date, published within a month of it) of its own URN, else its predecessor's (lineages from
    :func:`evenhand.simulate.frame_bias.add_lineages`; without them every school is open and
    its own lineage)."""
    from evenhand.simulate.frame_bias import SNAPSHOT, lineage_columns

    day = as_at or SNAPSHOT
    lin = lineage_columns(nation.schools)
    # as out.latest_as_at: started by the date and published within a month of it
    published_by = pl.lit(day).dt.offset_by("1mo")
    graded = nation.events.filter(
        (pl.col("kind") == "graded")
        & (pl.col("start_date") <= day)
        & (pl.col("publication_date").is_null() | (pl.col("publication_date") <= published_by))
    )
    open_ = lin.filter(pl.col("open"))
    own = open_.join(graded.select("urn", "event_id", "start_date"), on="urn").with_columns(
        pl.lit(0).alias("steps")
    )
    pred = open_.join(
        graded.select(pl.col("urn").alias("predecessor_urn"), "event_id", "start_date"),
        on="predecessor_urn",
    ).with_columns(pl.lit(1).alias("steps"))
    cand = pl.concat([own.select(own.columns), pred.select(own.columns)])
    best = (
        cand.sort("urn", "steps", "start_date", "event_id", descending=[False, True, False, False])
        .unique("urn", keep="last", maintain_order=True)
        .select("urn", pl.col("event_id").alias("graded_event_id"), (pl.col("steps") > 0).alias("graded_carried"))
    )
    return open_.select("urn", "lineage_id").join(best, on="urn", how="left").sort("urn")


def nation_frame(nation: SyntheticNation, as_at: dt.date | None = None) -> pl.DataFrame:
    """The raw frame of a synthetic nation at its snapshot (its measured ``progress`` as
    effectiveness): one row per open school and key judgement of its latest graded inspection."""
    snap = nation_latest(nation, as_at).drop_nulls("graded_event_id")
    ev = nation.events.select("event_id", "start_date")
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
        snap.rename({"graded_event_id": "event_id", "graded_carried": "carried"})
        .join(ev, on="event_id")
        .join(j, on="event_id")
        .join(s, on="urn", how="left")
        .with_columns(
            pl.lit("synthetic_progress").alias("effectiveness_measure"),
            pl.lit("synthetic").alias("effectiveness_year"),
            pl.lit(1).alias("years_apart"),
        )
    )
    return frame.select([pl.col(c).cast(t) for c, t in RAW_SCHEMA.items()]).sort("urn", "area")


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
    """The model columns, on one row per school lineage and judgement.

    The raw frame is already one row per open school; a lineage with two open URNs (a split)
    keeps the row of its latest inspection, so no lineage counts twice.
    """
    latest = raw.sort("lineage_id", "area", "start_date", "event_id").unique(
        ["lineage_id", "area"], keep="last", maintain_order=True
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
    # the IDACI quintile of the schools that have an FSM quintile: the same population as FSM
    frame = frame.with_columns(
        pl.when(pl.col("fsm_quintile").is_not_null())
        .then(pl.col("idaci_quintile"))
        .alias("idaci_quintile_fsm_population")
    )
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
    #: KHB share of the quintile 5 vs 1 gradient that effectiveness explains (the headline)
    share: Estimate | None
    notes: list[str] = field(default_factory=list)
    #: the naive ratio 1 - beta_with / beta_without, biased by the rescaling of logit
    #: coefficients (non-collapsibility): shown beside the KHB share for comparison only
    naive_share: Estimate | None = None
    khb: KHBDecomposition | None = None
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
    #: the models of every graded inspection behind ``expected``, one per framework era
    expected_fits: dict[str, OrdinalFit] = field(default_factory=dict)
    expected_notes: list[str] = field(default_factory=list)


OE = "overall_effectiveness"
#: The school's columns the expected-judgement model reads (as in its snapshot row).
SCHOOL_COLUMNS = ("idaci_quintile", "phase", "log_pupils", "type_group", "region")
EXPECTED_SCHEMA: dict[str, Any] = {
    "urn": pl.Int64,
    "lineage_id": pl.Utf8,
    "event_id": pl.Utf8,
    "event_urn": pl.Int64,
    "area": pl.Utf8,
    "start_date": pl.Date,
    "era": pl.Utf8,
    "year": pl.Utf8,
    "latest": pl.Boolean,
    "observed": pl.Utf8,
    **{f"p_{g}{s}": pl.Float64 for g in GRADES for s in ("", "_low", "_high")},
    **{f"p_observed_or_worse{s}": pl.Float64 for s in ("", "_low", "_high")},
}


def expected_caveat(as_at: dt.date) -> str:
    """What the expected-judgement table is and is not (the table's caveat; the school report
    says the same where it shows the numbers)."""
    return (
        "Expected judgements (table 'expected'): for every graded inspection with an overall "
        "grade of the schools open at the snapshot, the probability of each grade under a "
        "proportional-odds model of the overall grade on the school's IDACI quintile, phase, "
        "log pupils, type group and region as in its row of the snapshot file (as at "
        f"{as_at.isoformat()}, the same for all its inspections, so for an earlier inspection "
        "they are today's intake and context, not the school's at the time), and the academic "
        "year of the inspection; no progress or other measure from the time is in it. It is not "
        "a contemporaneous prediction. The model is fitted to every graded inspection of those "
        "schools (not only their latest, so each year's term describes that year's inspections), "
        "one model per framework (its own cut-points and gradient; grade 3 is Satisfactory to "
        "August 2012, Requires improvement after), with the covariance clustered by school "
        "lineage; 95% intervals by the delta method on the logit scale. It builds in the "
        "deprivation gradient under test: a grade 'as expected' for a school with this intake "
        "does not mean the grade, or the gradient, was fair."
    )


def expected_frame(frame: pl.DataFrame, history: pl.DataFrame | None = None) -> pl.DataFrame:
    """The rows of the expected-judgement model: every graded inspection with an overall grade
    (``history``, from :func:`warehouse_history`; default: the frame's own latest ones) of each
    school lineage in the prepared ``frame``, with that school's columns as in its snapshot row
    (IDACI quintile, phase, log pupils, type group, region: the same for all its inspections)
    and the inspection's own academic year; ``latest`` marks the inspection the audit's main
    frame holds for the school (its latest graded one with an overall grade)."""
    if history is None:
        history = frame.filter(pl.col("area") == OE).select(
            "lineage_id", "event_id", pl.col("urn").alias("event_urn"), "start_date",
            pl.col("start_date").map_elements(maps.era_of, return_dtype=pl.Utf8).alias("era"),
            "grade",
        )
    school = (
        frame.sort("lineage_id", "area")
        .unique("lineage_id", keep="first", maintain_order=True)
        .select("lineage_id", "urn", *SCHOOL_COLUMNS)
    )
    latest = frame.filter(pl.col("area") == OE).select("lineage_id", pl.col("event_id").alias("_latest"))
    return (
        history.join(school, on="lineage_id", how="inner")
        .join(latest, on="lineage_id", how="left")
        .with_columns(
            academic_year(pl.col("start_date")).alias("year"),
            (pl.col("event_id") == pl.col("_latest")).fill_null(False).alias("latest"),
            pl.lit(OE).alias("area"),
        )
        .drop("_latest")
        .sort("lineage_id", "start_date", "event_id")
    )


def expected_judgements(
    frame: pl.DataFrame, history: pl.DataFrame | None = None, min_rows: int = 200
) -> tuple[pl.DataFrame, dict[str, OrdinalFit], list[str]]:
    """The intake model's expected overall effectiveness for every graded inspection of the
    frame's schools, with 95% intervals: (table, fits by era, notes).

    One proportional-odds model per framework era (its own cut-points and gradient: grade 3 was
    Satisfactory to August 2012 and Requires improvement after, and the share of each grade
    moved between frameworks) of the overall grade on IDACI quintile and the audit's controls
    (phase, log pupils, type group, region, academic year of the inspection), fitted to every
    row of :func:`expected_frame` in that era, not only each school's latest inspection (which
    one stays latest depends on its grade: an inadequate or requires-improvement grade brings
    the next inspection sooner). Rows of one school are not independent, so the covariance is
    clustered by lineage; the intervals are the delta method on the logit scale
    (:meth:`OrdinalFit.predict_intervals`). An era with fewer than ``min_rows`` rows is left out.
    """
    rows = expected_frame(frame, history).drop_nulls([*SCHOOL_COLUMNS, "year", "grade"])
    notes: list[str] = []
    fits: dict[str, OrdinalFit] = {}
    parts: list[pl.DataFrame] = []
    era_col = "era" if "era" in rows.columns else None
    groups = rows.partition_by(era_col, as_dict=True, maintain_order=True) if era_col else {("all",): rows}
    for key, sub in sorted(groups.items(), key=lambda kv: str(kv[0][0])):
        era = str(key[0])
        if sub.height < min_rows or sub["idaci_quintile"].n_unique() < 2:
            notes.append(f"{maps.era_label(era)}: too few inspections to model the expected judgement ({sub.height})")
            continue
        fit = _fit(sub, with_eff=False)
        fits[era] = fit
        notes += [f"{maps.era_label(era)}: {n}" for n in fit.notes]
        cov = fit.cluster_cov(sub["lineage_id"].to_numpy()[fit.row_ids])
        pred = fit.predict_intervals(sub, cov=cov, at_or_worse=True)
        parts.append(pl.concat([sub.rename({"grade": "observed"}), pred], how="horizontal"))
    if not parts:
        return pl.DataFrame(schema=EXPECTED_SCHEMA), fits, notes or ["no inspections to model the expected judgement"]
    table = pl.concat(parts, how="diagonal_relaxed")
    if "era" not in table.columns:
        table = table.with_columns(pl.lit(None, dtype=pl.Utf8).alias("era"))
    # the chance of the grade given or a worse one (1 for the best grade: no interval)
    worse = [
        pl.when(pl.col("observed") == GRADES[0])
        .then(pl.lit(1.0) if s == "" else pl.lit(None, dtype=pl.Float64))
        .otherwise(
            pl.coalesce(
                [pl.when(pl.col("observed") == g).then(pl.col(f"q_{g}{s}")) for g in GRADES[1:] if f"q_{g}" in table.columns]
            )
        )
        .alias(f"p_observed_or_worse{s}")
        for s in ("", "_low", "_high")
    ]
    table = table.with_columns(worse).sort("lineage_id", "start_date", "event_id")
    return table.select([pl.col(c).cast(t) for c, t in EXPECTED_SCHEMA.items()]), fits, notes


def distribution(
    frame: pl.DataFrame,
    groupings: tuple[tuple[str, str], ...] = (
        ("IDACI", "idaci_quintile"),
        ("FSM", "fsm_quintile"),
        ("IDACI, FSM population", "idaci_quintile_fsm_population"),
    ),
) -> pl.DataFrame:
    """Share of each grade by quintile (IDACI, FSM, ...) and judgement, with Wilson intervals.

    ``groupings`` pairs a label (the ``quintile_kind`` column) with the quintile column.
    """
    parts = []
    for kind, col in groupings:
        if col not in frame.columns:
            continue
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
    history: pl.DataFrame | None = None,
) -> IntakeAnalysis:
    """Everything the audit reports, from a prepared frame (pure, deterministic).

    ``all_rows=False`` skips the all-rows model and the expected distributions (only the
    with/without comparison is fitted: used by the repeated-seed coverage check). ``history``:
    every graded inspection of the frame's schools (:func:`warehouse_history`), for the
    expected judgements (:func:`expected_judgements`); default: their latest only.
    """
    dist = distribution(frame)
    models: dict[str, AreaModels] = {}
    or_rows: list[dict[str, Any]] = []
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
            or_rows += _or_rows(area, "all rows, without effectiveness", m.fit_all)
        if eff.height >= min_rows and eff["idaci_quintile"].n_unique() == 5:
            m.fit_without = _fit(eff, with_eff=False)
            m.fit_with = _fit(eff, with_eff=True)
            or_rows += _or_rows(area, "effectiveness rows, without effectiveness", m.fit_without)
            or_rows += _or_rows(area, "effectiveness rows, with effectiveness", m.fit_with)
            if DEPRIVATION_TERM in m.fit_without.terms and DEPRIVATION_TERM in m.fit_with.terms:
                m.naive_share = gradient_share_explained(
                    m.fit_without, m.fit_with, DEPRIVATION_TERM, seed=seed
                )
            if DEPRIVATION_TERM in m.fit_with.terms and "effectiveness" in m.fit_with.terms:
                m.khb = khb_share_explained(m.fit_with, DEPRIVATION_TERM, "effectiveness")
                m.share = m.khb.share
            near = eff.filter(pl.col("years_apart") <= NEAR_YEARS)
            m.n_near = near.height
            if all_rows and near.height >= min_rows and near["idaci_quintile"].n_unique() == 5:
                m.near_without = _fit(near, with_eff=False)
                m.near_with = _fit(near, with_eff=True)
                label_near = f"measure at most {NEAR_YEARS} years before"
                or_rows += _or_rows(area, f"{label_near}, without effectiveness", m.near_without)
                or_rows += _or_rows(area, f"{label_near}, with effectiveness", m.near_with)
                if DEPRIVATION_TERM in m.near_with.terms and "effectiveness" in m.near_with.terms:
                    m.near_share = khb_share_explained(
                        m.near_with, DEPRIVATION_TERM, "effectiveness"
                    ).share
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
    expected_fits: dict[str, OrdinalFit] = {}
    expected_notes: list[str] = []
    if all_rows and OE in areas:
        expected, expected_fits, expected_notes = expected_judgements(frame, history, min_rows)
    else:
        expected = pl.DataFrame(schema=EXPECTED_SCHEMA)
    coverage = (
        frame.filter(pl.col("effectiveness").is_not_null())
        .group_by("area", "effectiveness_measure", "years_apart")
        .agg(pl.len().alias("n"))
        .sort("area", "effectiveness_measure", "years_apart")
    )
    return IntakeAnalysis(dist, odds, models, expected, coverage, expected_fits, expected_notes)


# ----------------------------------------------------------------------------- result


def _or(fit: OrdinalFit | None, term: str = DEPRIVATION_TERM) -> Estimate | None:
    if fit is None or term not in fit.odds_ratios:
        return None
    return fit.odds_ratios[term]


def _good(dist: pl.DataFrame, area: str, kind: str, q: str) -> tuple[int, int] | None:
    sub = dist.filter(
        (pl.col("area") == area) & (pl.col("quintile_kind") == kind) & (pl.col("quintile") == q)
    )
    if sub.height == 0:
        return None
    good = int(sub.filter(pl.col("grade").is_in(["1", "2"]))["count"].sum())
    return good, int(sub["n"][0])


def describe_frame(frame: pl.DataFrame, as_at: dt.date, snapshot_source: str,
                   fsm: FsmSource | None = None) -> Frame:
    """The frame of the intake audit, with the counts of this run."""
    n_schools = frame["urn"].n_unique() if frame.height else 0
    n_lineages = frame["lineage_id"].n_unique() if frame.height else 0
    oe = frame.filter(pl.col("area") == "overall_effectiveness")
    carried = int(oe["carried"].sum()) if oe.height else 0
    with_fsm = frame.filter(pl.col("fsm_pct").is_not_null())["urn"].n_unique() if frame.height else 0
    out = Frame(
        unit=(
            f"one school lineage open at the snapshot ({n_lineages:,} lineages, {n_schools:,} "
            "open URNs), with the key judgements of its latest graded inspection; where the open "
            "URN has not been graded yet, its predecessor's latest graded inspection is carried, "
            f"as Ofsted's file carries it ({carried:,} overall-effectiveness rows)."
        ),
        snapshot=(
            f"as at {as_at.isoformat()}, from {snapshot_source} (the schools the school-level "
            "file of that date shows open; deprivation, phase, size, type and region from each "
            "school's row in that file)."
        ),
        sample=(
            "every open school whose latest graded inspection has the judgement on the "
            "four-point scale. Overall effectiveness was not graded from September 2024, so "
            "schools whose latest graded inspection is from then are out of the overall "
            "effectiveness rows (quality of education and leadership still count them). "
            "Inspections are targeted at risk (weaker schools are inspected sooner; outstanding "
            "schools were exempt 2012-2020), so a school's latest grade may be many years old. "
            "The with/without-effectiveness comparison uses only the schools whose inspection "
            "has a progress measure from a year before it."
        ),
        denominator=(
            "shares are of the open schools in a quintile with that judgement graded. IDACI "
            "quintiles (Ofsted's, 1 least deprived) cover every school in the file; FSM "
            f"quintiles only the {with_fsm:,} schools with a census FSM share, cut at the "
            "quintiles of those schools: the two are different populations, so IDACI figures "
            f"for the FSM population are given beside them. {_fsm_frame_text(fsm)}"
        ),
        notes=(
            "Rows are one per school lineage, so independent given the school; schools in one trust or "
            "local authority are not: the risk-differences table gives every odds ratio and adjusted "
            "difference with an interval clustered by trust or local authority beside the model's.",
        ),
    )    # Frame.text() adds its own full stops
    return Frame(
        out.unit.rstrip("."), out.snapshot.rstrip("."), out.sample.rstrip("."),
        out.denominator.rstrip("."), out.notes
    )



def _fsm_frame_text(fsm: FsmSource | None) -> str:
    """What the FSM rows are and what selected their schools (referee item 5)."""
    if fsm is None:
        return ("The FSM quintiles are cut over all phases pooled (not within phase); the FSM share is the "
                "census's as attached to the inspection (out.event_context).")
    census = ", ".join(fsm.census_years) or "none"
    apart = (f"{fsm.years_apart[0]} to {fsm.years_apart[1]} academic years before it"
             if fsm.years_apart else "before it")
    first = (f"; so only schools whose latest graded inspection started on or after "
             f"{fsm.first_start.isoformat()} have one" if fsm.first_start else "")
    return (
        f"The FSM share is the {_fsm_what(fsm)} "
        f"({_census_column(fsm)}, measure {fsm.measure}), from the school census of {census}; a census is "
        f"attached to an inspection only when it is from an academic year before the inspection "
        f"({apart}){first}: a later, risk-targeted and weaker set of schools than the IDACI rows, which "
        "is why the IDACI shares of the same schools are given beside them. The FSM quintiles are cut "
        "over all phases pooled (not within phase), and the census can be several years older than the inspection."
    )


def expected_frame_desc(analysis: IntakeAnalysis, as_at: dt.date, snapshot_source: str) -> Frame:
    """The frame of the 'expected' table."""
    t = analysis.expected
    n_lin = t["lineage_id"].n_unique() if t.height else 0
    return Frame(
        unit=f"one graded inspection with an overall effectiveness grade ({t.height:,} inspections of "
        f"{n_lin:,} school lineages), the school's own or its predecessors' URNs",
        snapshot=f"schools open as at {as_at.isoformat()}, from {snapshot_source}; the school's "
        "IDACI quintile, phase, size, type and region from its row in that file, for every one of "
        "its inspections",
        sample="every inspection of those schools started by the date with the overall grade on "
        "the four-point scale (to August 2024) and all the model's columns known",
        denominator="each row's probabilities sum to 1 over the four grades",
        notes=(
            "For an earlier inspection the school's columns are today's, so the expected judgement is "
            "not a contemporaneous prediction (the caveats say what the model is and is not).",
        ),
    )


def build_result(
    analysis: IntakeAnalysis,
    frame: pl.DataFrame,
    inputs: list[dict[str, Any]],
    as_at: dt.date,
    seed: int,
    synthetic: bool = False,
    snapshot_source: str = "the snapshot",
    fsm: FsmSource | None = None,
) -> AuditResult:
    figures: list[Figure] = []
    findings: list[str] = []
    small_n: list[str] = []
    dist = analysis.distribution
    frame_desc = describe_frame(frame, as_at, snapshot_source, fsm)
    oe_label = KEY_AREAS["overall_effectiveness"]
    # Observed shares good or better and their absolute difference, quintile 1 vs 5.
    for area, label in KEY_AREAS.items():
        for kind, kind_label, key in (
            ("IDACI", "IDACI quintile", ""),
            ("FSM", fsm_words(fsm), "fsm_"),
            ("IDACI, FSM population", "IDACI quintile, schools with census FSM data"
             + (f" (latest graded inspection from {fsm.first_start.isoformat()})" if fsm and fsm.first_start else ""),
             "idaci_fsmpop_"),
        ):
            cells = {q: _good(dist, area, kind, q) for q in ("1", "5")}
            for q, c in cells.items():
                if c is not None:
                    figures.append(
                        Figure(
                            f"{area}.good_or_better_{key}q{q}",
                            f"{label}: share good or outstanding, {kind_label} {q}",
                            wilson(*c),
                            "share",
                        )
                    )
            c1, c5 = cells["1"], cells["5"]
            if c1 is not None and c5 is not None:
                figures.append(
                    Figure(
                        f"{area}.good_or_better_{key}difference",
                        f"{label}: difference in share good or outstanding, {kind_label} 1 "
                        "minus 5 (percentage points)",
                        newcombe_difference(c1[0], c1[1], c5[0], c5[1]),
                        "percentage points",
                    )
                )
    for area, label in KEY_AREAS.items():
        m = analysis.models.get(area)
        if m is None:
            continue
        if m.fit_all is not None and (e := _or(m.fit_all)) is not None:
            figures.append(
                Figure(
                    f"{area}.or_q5_all",
                    f"{label}: odds ratio of a worse grade, most vs least deprived IDACI "
                    "quintile, all schools, controls only",
                    e,
                    "odds ratio",
                )
            )
        e_wo, e_w = _or(m.fit_without), _or(m.fit_with)
        if e_wo is not None and e_w is not None:
            figures.append(
                Figure(
                    f"{area}.or_q5_without",
                    f"{label}: odds ratio, quintile 5 vs 1, schools with a progress measure, "
                    "without it",
                    e_wo,
                    "odds ratio",
                )
            )
            figures.append(
                Figure(
                    f"{area}.or_q5_with",
                    f"{label}: odds ratio, quintile 5 vs 1, same schools, with progress",
                    e_w,
                    "odds ratio",
                )
            )
            if m.fit_with is not None and (ee := _or(m.fit_with, "effectiveness")) is not None:
                figures.append(
                    Figure(
                        f"{area}.or_effectiveness",
                        f"{label}: odds ratio of a worse grade per standard deviation of "
                        "progress",
                        ee,
                        "odds ratio",
                    )
                )
        if m.share is not None:
            figures.append(
                Figure(
                    f"{area}.share_explained",
                    f"{label}: share of the quintile 5 vs 1 gradient that progress explains "
                    "(KHB decomposition)",
                    m.share,
                    "share",
                )
            )
        if m.naive_share is not None:
            figures.append(
                Figure(
                    f"{area}.share_explained_naive",
                    f"{label}: the same by the naive ratio of coefficients (biased by the "
                    "rescaling of logit models; for comparison only)",
                    m.naive_share,
                    "share",
                )
            )
        if m.near_share is not None:
            figures.append(
                Figure(
                    f"{area}.share_explained_near",
                    f"{label}: share of the gradient progress explains (KHB), measure at most "
                    f"{NEAR_YEARS} years before the inspection (sensitivity)",
                    m.near_share,
                    "share",
                )
            )
        figures.append(
            Figure(
                f"{area}.rows_with_effectiveness",
                f"{label}: schools with a progress measure, of {m.n_all:,} modelled",
                Estimate(float(m.n_effectiveness), math.nan, math.nan, m.n_all, 0.95, "count"),
                "count",
            )
        )
        if m.n_effectiveness < 1000:
            small_n.append(f"{label}: only {m.n_effectiveness:,} schools have a progress measure")
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
                f"{label}: open schools in the most deprived IDACI quintile had {verdict} the "
                f"least deprived, after phase, size, type, region and year of inspection: odds "
                f"ratio {describe(e_all, 'odds ratio')}."
            )
        if e_wo is not None and e_w is not None and m.share is not None:
            naive = (
                f"; the naive ratio of coefficients would say {pct(m.naive_share.value)}"
                if m.naive_share is not None
                else ""
            )
            findings.append(
                f"{label}, on the {m.n_effectiveness:,} schools with a progress measure from "
                f"before their inspection: the odds ratio is {num(e_wo.value)} without progress "
                f"and {num(e_w.value)} (95% CI {num(e_w.low)} to {num(e_w.high)}) with it; "
                f"progress accounts for {describe(m.share, 'share')} of the gradient (KHB "
                f"decomposition){naive}. Progress measures are not contextualised and lag the "
                "inspection, so this share may be too high or too low: the bias has no known sign."
            )
        if m.near_share is not None:
            findings.append(
                f"{label}: where the progress measure is at most {NEAR_YEARS} years older than "
                f"the inspection ({m.n_near:,} schools), progress accounts for "
                f"{describe(m.near_share, 'share')} of the gradient (sensitivity check)."
            )
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
                    subtitle=f"Open schools as at {as_at}, latest graded inspection, one row per "
                    f"school lineage; n = {n_total:,}; whiskers are 95% Wilson intervals",
                    x_title="IDACI quintile",
                    y_title="Share of schools",
                    color_title="Grade",
                    x_order=["1", "2", "3", "4", "5"],
                    color_order=list(GRADE_LABELS.values()),
                    y_format=".0%",
                )
            )
    keys = {f.key: f for f in figures}
    oe = "overall_effectiveness"
    if f"{oe}.good_or_better_q1" in keys and f"{oe}.good_or_better_q5" in keys:
        d = keys[f"{oe}.good_or_better_difference"]
        findings.insert(
            0,
            f"{oe_label}: {keys[f'{oe}.good_or_better_q1'].text()} of open schools in the least "
            f"deprived IDACI quintile were good or outstanding at their latest graded inspection, "
            f"against {keys[f'{oe}.good_or_better_q5'].text()} in the most deprived: a gap of "
            f"{d.text()}.",
        )
    findings.insert(0, _claim_verdict(analysis))  # what the data show on the claim: the pack's key finding
    cov = analysis.coverage
    years = sorted({str(y) for y in frame["effectiveness_year"].drop_nulls().unique().to_list()})
    apart = cov.group_by("years_apart").agg(pl.col("n").sum()).sort("years_apart")
    apart_text = ", ".join(f"{a} year(s): {n:,}" for a, n in apart.iter_rows()) or "none"
    caveats = [
        "Deprivation is the IDACI quintile Ofsted publishes in each school's row of the snapshot "
        "file: the school's intake now, not necessarily its intake when it was inspected.",
        f"Effectiveness is the progress measure of the inspected URN for the nearest academic "
        f"year before the inspection (KS4 Progress 8 for secondaries, final results preferred to "
        f"provisional; mean KS2 reading, writing and maths progress, else maths, for "
        f"primaries), standardised within phase. Years available: {', '.join(years) or 'none'}. "
        f"Years between measure and inspection (school-judgement rows): {apart_text}. Progress "
        "measures are not contextualised (they do not adjust for disadvantage) and describe "
        "earlier pupils than those the inspection saw: the bias of the share explained has no "
        "known sign (it may be too high or too low), and an odds ratio 'with progress' above 1 is not proof that inspectors are biased.",
        "The share explained is the KHB decomposition (Karlson, Holm and Breen 2012), which "
        "compares the models on one scale; the naive ratio of the two coefficients is shown "
        "for comparison and is biased by the rescaling of logit coefficients.",
        "Observational data: other differences between schools in different quintiles "
        "(leadership turnover, pupil mobility, SEND, selection) are not controlled for; region "
        "is not an inspection team, whose identity is not published in bulk.",
        "Special schools, PRUs and nurseries have no progress measure and are in the all-schools "
        "model only.",
    ]
    caveats.append(expected_caveat(as_at))
    ors = {e: o for e, f in analysis.expected_fits.items() if (o := _or(f)) is not None}
    if ors:
        n_x = analysis.expected.height
        n_lin = analysis.expected["lineage_id"].n_unique()
        each = "; ".join(f"{maps.era_label(e)} {describe(o, 'odds ratio')}" for e, o in ors.items())
        caveats[-1] += (
            f" In those models ({n_x:,} inspections of {n_lin:,} schools, one model per framework) "
            f"the odds ratio of a worse grade, most vs least deprived IDACI quintile, is: {each}. "
            "They are not the audit's headline figure, which uses each school's latest inspection."
        )
    if synthetic:
        caveats.insert(0, "SYNTHETIC DATA: this result is computed from a simulated nation.")
    shares = pl.DataFrame(
        [
            {
                "area": a,
                "method": method,
                "n_all": m.n_all,
                "n_effectiveness": m.n_effectiveness,
                "share_explained": e.value,
                "low": e.low,
                "high": e.high,
                "interval": e.method,
            }
            for a, m in analysis.models.items()
            for method, e in (
                ("KHB decomposition", m.share),
                ("naive ratio of coefficients", m.naive_share),
                (f"KHB, measure at most {NEAR_YEARS} years before", m.near_share),
            )
            if e is not None
        ],
        schema={
            "area": pl.Utf8,
            "method": pl.Utf8,
            "n_all": pl.Int64,
            "n_effectiveness": pl.Int64,
            "share_explained": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "interval": pl.Utf8,
        },
    ).with_columns(pl.col("share_explained", "low", "high").fill_nan(None))
    return AuditResult(
        name="intake",
        title="Intake: judgements by deprivation, with and without effectiveness",
        question=(
            "Do schools serving more deprived pupils get worse judgements, and how much of that "
            "gap is explained by how much progress their pupils make?"
        ),
        claim="Inspection grades reflect a school's intake more than the quality of its teaching.",
        method=(
            f"{frame_desc.text()} Shares of each grade by IDACI quintile and by FSM quintile "
            "with Wilson 95% intervals, and the difference between quintiles 1 and 5 with "
            "Newcombe's interval; a proportional-odds logistic model of each key judgement on "
            "IDACI quintile, controlling for phase, log pupils, school type group, Ofsted region "
            "and inspection year; then, on the schools with a prior progress measure, the same "
            "model without and with standardised progress, and the share of the quintile 5 vs 1 "
            "log odds ratio that progress accounts for by the KHB decomposition (delta-method "
            "interval from the joint sandwich covariance of the ordinal model and the "
            "regression of progress on the other predictors); as a sensitivity check, the same "
            f"on the schools whose measure is at most {NEAR_YEARS} academic years older than "
            "the inspection."
        ),
        figures=figures,
        tables={
            "main": analysis.distribution,
            "odds_ratios": analysis.odds_ratios,
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
        frames={"main": frame_desc, "expected": expected_frame_desc(analysis, as_at, snapshot_source)},
    )


def _claim_verdict(analysis: IntakeAnalysis) -> str:
    """What the data say about the public claim, in words (overall effectiveness)."""
    m = analysis.models.get("overall_effectiveness")
    claim = "The claim that grades reflect intake more than effectiveness"
    if m is None or m.fit_all is None or (e := _or(m.fit_all)) is None:
        return f"{claim} cannot be tested here: too few schools."
    if not e.low > 1:
        return (
            f"{claim} is not supported: on this frame the most deprived schools' odds of a worse "
            "grade are not clearly higher after controls."
        )
    if m.share is None or math.isnan(m.share.low):
        return (
            f"{claim}: the data show a deprivation gradient in grades, but cannot say how much of "
            "it effectiveness explains (too few schools with a progress measure)."
        )
    near = m.near_share
    if near is not None and not math.isnan(near.value):
        # referee item 4: the lag is the main threat, so the key finding carries the
        # recent-progress check beside the headline share, and does not call the rest unexplained
        recent = (
            f"; where the progress measure is at most {NEAR_YEARS} years older than the inspection "
            f"({m.n_near:,} schools) it accounts for {describe(near, 'share')}, so the share is "
            "sensitive to how old the progress measure is"
        )
        rest = (
            f"The remaining {pct(1.0 - near.value, 0)} to {pct(1.0 - m.share.value, 0)} (on the two frames) is "
            "what these progress measures do not account for, not a share shown to be due to intake"
        )
    else:
        recent = ""
        rest = (
            f"The remaining {pct(1.0 - m.share.value, 0)} is what these progress measures do not account "
            "for, not a share shown to be due to intake (no recent-progress check could be fitted)"
        )
    return (
        "On the claim that grades reflect intake more than effectiveness: the data show a "
        "deprivation gradient in grades that progress accounts for only in part: "
        f"{describe(m.share, 'share')} on all schools with a progress measure from before the "
        f"inspection{recent}. {rest}. This is consistent with the claim but cannot prove it: the "
        "progress measures are partial, lagged and not contextualised (their bias has no known "
        "sign), and what remains may reflect differences the data do not measure."
    )


def risk_differences(frame: pl.DataFrame, analysis: IntakeAnalysis) -> pl.DataFrame:
    """IDACI quintile 5 against 1: the adjusted difference in the share good or outstanding
    (average marginal effect) beside the odds ratio, each model of each area, intervals
    model-based and clustered by trust or local authority (``cluster_id``; each school alone
    where the frame has none). The rows are those :func:`analyse` fitted (checked row for row)."""
    if "cluster_id" not in frame.columns:
        frame = frame.with_columns(pl.format("school:{}", pl.col("urn")).alias("cluster_id"))
    items = []
    for area, m in analysis.models.items():
        df = frame.filter(pl.col("area") == area).drop_nulls(
            ["idaci_quintile", "phase", "log_pupils", "type_group", "region", "year"]
        )
        eff = df.filter(pl.col("effectiveness").is_not_null() & pl.col("effectiveness").is_finite())
        items += [
            ({"area": area, "model": "all rows, without effectiveness"}, m.fit_all, df),
            ({"area": area, "model": "effectiveness rows, without effectiveness"}, m.fit_without, eff),
            ({"area": area, "model": "effectiveness rows, with effectiveness"}, m.fit_with, eff),
        ]
    return adjusted.risk_difference_table(items, "idaci_quintile", "5", "1")


RISK_DIFFERENCE_METHOD = (
    "Adjusted risk differences: for IDACI quintile 5 against 1, the share good or outstanding "
    "predicted with every school in quintile 5 minus with every school in quintile 1, averaged "
    "over the same schools (average marginal effect of the ordinal model), with a delta-method "
    "interval; intervals are given twice, from the model and clustered by trust or local "
    "authority (sandwich covariance over clusters: the school's academy trust, else its local "
    "authority), for the odds ratios too."
)


def add_risk_differences(result: AuditResult, table: pl.DataFrame) -> None:
    oe = table.filter(
        (pl.col("area") == "overall_effectiveness") & (pl.col("model") == "all rows, without effectiveness")
    )
    finding = None
    if oe.height:
        finding = adjusted.sentence(
            oe.row(0, named=True),
            f"{KEY_AREAS['overall_effectiveness']}, adjusted for phase, size, type, region and year, "
            "schools in the most deprived IDACI quintile against the least deprived",
        )
    adjusted.add_to_result(result, table, "intake", finding, RISK_DIFFERENCE_METHOD, at=len(result.findings))


def run(ctx: AuditContext) -> AuditResult:
    _, source = snapshot(ctx)
    raw = warehouse_frame(ctx)
    frame = clusters.attach_clusters(prepare(raw), clusters.school_clusters(ctx))
    analysis = analyse(frame, seed=ctx.seed, history=warehouse_history(ctx))
    result = build_result(
        analysis, frame, ctx.inputs(), ctx.as_at, ctx.seed, ctx.synthetic, snapshot_source=source,
        fsm=fsm_source(ctx, raw),
    )
    add_risk_differences(result, risk_differences(frame, analysis))
    return result
