"""Resources audit: are judgements related to a school's income and spending per pupil?

The frame (shared/REFEREE.md, "same measure, same time"; issue 15):

- unit: one school lineage, at its first graded inspection in the one or two academic years
  after a finance year (so the money describes the school shortly before it was inspected);
- finance of the inspected URN itself (never a predecessor's), from the finance files;
- pupils (and FSM share) from the school census of the finance year, else the next census,
  taken before the inspection (so a grade cannot have moved the denominator; the same rule
  for every school; never Ofsted's current pupil count); per-pupil values as
  published where a file gives them (CFR publishes them with its own year's pupils);
- quintiles of income and expenditure per pupil cut within finance year and phase, so nominal
  pounds of different years are never ranked together;
- a proportional-odds model of each key judgement on the quintile, controlling for phase, log
  pupils, IDACI quintile, FSM share, Ofsted region and inspection year.

:func:`clean_frame` is a pure function of an events table and a long context table, so the
warehouse (:func:`warehouse_frame`) and a synthetic nation (:func:`nation_frame`) share it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from evenhand.audit import adjusted, charts, clusters, intake
from evenhand.audit.result import AuditContext, AuditResult, Figure, Frame, describe
from evenhand.simulate.nation import SyntheticNation
from evenhand.stats.intervals import newcombe_difference
from evenhand.stats.ordinal import OrdinalFit, fit_ordinal

FINANCE_MEASURES = ("income_gbp", "expenditure_gbp", "income_per_pupil_gbp", "expenditure_per_pupil_gbp")
CENSUS_MEASURES = ("pupils", "fsm_pct", "fsm6_pct", "fsm_pupils")
MEASURES: dict[str, str] = {
    "income_pp": "income per pupil",
    "expenditure_pp": "expenditure per pupil",
}
#: The finance year is at most this many academic years before the inspection's (and before it).
MAX_FINANCE_GAP = 2
#: Pupils come from the census of the finance year or at most this many years after it.
MAX_PUPILS_GAP = 1
#: The school census is taken in January (third Thursday): an inspection must start after the
#: end of that January for the census count to describe the school before it was inspected.
CENSUS_LAST_DAY = 31
CONTROLS = ["phase", "log_pupils", "idaci_quintile", "fsm_pct", "region", "year"]
#: The FSM control of the model (``fsm_pct``) is the census PNUMFSM where published, else
#: PNUMFSMEVER; the sensitivity check refits the overall-effectiveness model on the same rows
#: with each of these in its place (referee item 6: the income verdict rests on the FSM control).
FSM_ALTERNATIVES: dict[str, str] = {
    "fsm_ever_pct": "pupils ever eligible for free school meals in the last 6 years (census PNUMFSMEVER)",
    "fsm_known_pct": "pupils known to be eligible for free school meals (census NUMFSM / NOR, or PNUMFSM)",
}
CATEGORICAL = ["phase", "idaci_quintile", "region", "year"]
TERM = "{m}_quintile[5]"
MIN_CUT = 25  # schools in a finance year and phase needed to cut quintiles

EVENTS_SCHEMA: dict[str, Any] = {
    "event_id": pl.Utf8,
    "urn": pl.Int64,
    "lineage_id": pl.Utf8,
    "area": pl.Utf8,
    "grade": pl.Utf8,
    "start_date": pl.Date,
    "idaci_quintile": pl.Int64,
    "phase": pl.Utf8,
    "school_type": pl.Utf8,
    "region": pl.Utf8,
}
CONTEXT_SCHEMA: dict[str, Any] = {
    "urn": pl.Int64,
    "measure": pl.Utf8,
    "academic_year": pl.Utf8,
    "value": pl.Float64,
}


# ----------------------------------------------------------------------------- inputs


def warehouse_events(ctx: AuditContext) -> pl.DataFrame:
    """Graded key judgements (four-point, graded codes) of every URN up to the as-at date, with
    the school's columns from the row of the file that reported the event and its lineage."""
    areas = ", ".join(f"'{a}'" for a in intake.KEY_AREAS)
    lineage = (
        "LEFT JOIN out.lineage l ON l.urn = ev.urn"
        if ctx.has_table("out.lineage")
        else "LEFT JOIN (SELECT NULL::BIGINT AS urn, NULL::VARCHAR AS lineage_id) l ON false"
    )
    df = ctx.frame(
        f"""
        WITH ev AS (
            SELECT e.event_id, e.urn, e.start_date, j.area, j.code AS grade
            FROM core.events e JOIN core.judgements j USING (event_id)
            WHERE e.kind = 'graded' AND j.scale = 'four_point' AND j.graded
              AND j.code IN ('1', '2', '3', '4') AND j.area IN ({areas})
              AND e.start_date IS NOT NULL AND e.start_date <= ?
        ),
        src AS (
            SELECT es.event_id, s.idaci_quintile, s.phase, s.school_type, s.ofsted_region,
                   row_number() OVER (
                       PARTITION BY es.event_id
                       ORDER BY (s.idaci_quintile IS NULL), s.as_at DESC NULLS LAST,
                                es.file_id DESC, es.row_number
                   ) AS rn
            FROM core.event_sources es
            JOIN core.schools s ON s.file_id = es.file_id AND s.row_number = es.row_number
        )
        SELECT ev.event_id, ev.urn, coalesce(l.lineage_id, 'L' || ev.urn) AS lineage_id,
               ev.area, ev.grade, ev.start_date,
               CAST(src.idaci_quintile AS BIGINT) AS idaci_quintile, src.phase,
               src.school_type, src.ofsted_region AS region
        FROM ev LEFT JOIN src ON src.event_id = ev.event_id AND src.rn = 1
        {lineage}
        ORDER BY ev.urn, ev.start_date, ev.event_id, ev.area
        """,
        [ctx.as_at],
    )
    return df.select([pl.col(c).cast(t) for c, t in EVENTS_SCHEMA.items()])


def warehouse_context(ctx: AuditContext) -> pl.DataFrame:
    """Finance and census measures by school and year (core.context): one value per school,
    measure and year (a value beats a suppression, then the later file)."""
    if not ctx.has_table("core.context"):
        return pl.DataFrame(schema=CONTEXT_SCHEMA)
    quoted = ", ".join(f"'{m}'" for m in FINANCE_MEASURES + CENSUS_MEASURES)
    df = ctx.frame(
        f"""
        SELECT urn, measure, academic_year,
               arg_max(value, (value IS NOT NULL, file_id, row_number)) AS value
        FROM core.context
        WHERE measure IN ({quoted}) AND urn IS NOT NULL AND academic_year IS NOT NULL
        GROUP BY urn, measure, academic_year
        ORDER BY urn, measure, academic_year
        """
    )
    return df.select([pl.col(c).cast(t) for c, t in CONTEXT_SCHEMA.items()])


def nation_events(nation: SyntheticNation) -> pl.DataFrame:
    from evenhand.simulate.frame_bias import lineage_columns

    ev = nation.events.filter(pl.col("kind") == "graded").select("event_id", "urn", "start_date")
    j = nation.judgements.filter(pl.col("area").is_in(list(intake.KEY_AREAS))).select(
        "event_id", "area", pl.col("code").alias("grade")
    )
    lin = lineage_columns(nation.schools).select("urn", "lineage_id")
    # the school's row: an event of a closed predecessor reports its successor's row (as Ofsted
    # carries it); the nation's school columns do not change across a conversion but the type
    s = nation.schools.select(
        "urn",
        pl.col("idaci_quintile").cast(pl.Int64),
        "phase",
        "school_type",
        pl.col("ofsted_region").alias("region"),
    )
    df = ev.join(j, on="event_id").join(lin, on="urn", how="left").join(s, on="urn", how="left")
    return df.select([pl.col(c).cast(t) for c, t in EVENTS_SCHEMA.items()]).sort(
        "urn", "start_date", "event_id", "area"
    )


# ----------------------------------------------------------------------------- frame


def _year(label: pl.Expr) -> pl.Expr:
    return label.str.slice(0, 4).cast(pl.Int64, strict=False)


def clean_frame(events: pl.DataFrame, context: pl.DataFrame) -> pl.DataFrame:
    """One row per school lineage and key judgement: its first graded inspection within
    MAX_FINANCE_GAP academic years after a finance year of its own URN, with the money of that
    year, the pupils and FSM share of that year's census (else the next, at most
    MAX_PUPILS_GAP), per-pupil values and quintiles cut within finance year and phase."""
    ctx = context.with_columns(_year(pl.col("academic_year")).alias("y")).drop_nulls("y")
    fin = (
        ctx.filter(pl.col("measure").is_in(list(FINANCE_MEASURES)))
        .pivot(on="measure", index=["urn", "y"], values="value", aggregate_function="first")
        .rename({"y": "finance_y"})
    )
    for m in FINANCE_MEASURES:
        if m not in fin.columns:
            fin = fin.with_columns(pl.lit(None, dtype=pl.Float64).alias(m))
    cen = (
        ctx.filter(pl.col("measure").is_in(list(CENSUS_MEASURES)))
        .pivot(on="measure", index=["urn", "y"], values="value", aggregate_function="first")
        .rename({"y": "census_y"})
    )
    for m in CENSUS_MEASURES:
        if m not in cen.columns:
            cen = cen.with_columns(pl.lit(None, dtype=pl.Float64).alias(m))
    ev = events.with_columns(
        (pl.col("start_date").dt.year() - (pl.col("start_date").dt.month() < 9).cast(pl.Int64)).alias(
            "event_y"
        )
    )
    # finance of the inspected URN, 1..MAX_FINANCE_GAP academic years before the inspection's
    joined = (
        ev.join(fin, on="urn", how="inner")
        .filter(
            (pl.col("event_y") - pl.col("finance_y") >= 1)
            & (pl.col("event_y") - pl.col("finance_y") <= MAX_FINANCE_GAP)
        )
        .sort("event_id", "area", "finance_y")
        .unique(["event_id", "area"], keep="last", maintain_order=True)
    )
    # census of the finance year, else the next (same URN)
    with_pupils = (
        joined.join(cen, on="urn", how="left")
        .with_columns((pl.col("census_y") - pl.col("finance_y")).alias("pupils_gap"))
        .with_columns(
            pl.when(
                (pl.col("pupils_gap") >= 0)
                & (pl.col("pupils_gap") <= MAX_PUPILS_GAP)
                # the count precedes the inspection: a grade cannot have moved the denominator
                & (pl.col("start_date") > pl.date(pl.col("census_y") + 1, 1, CENSUS_LAST_DAY))
            )
            .then(pl.col("pupils_gap"))
            .alias("pupils_gap")
        )
        .sort("event_id", "area", pl.col("pupils_gap").fill_null(99))
        .unique(["event_id", "area"], keep="first", maintain_order=True)
        .with_columns(
            pl.when(pl.col("pupils_gap").is_not_null()).then(pl.col(c)).alias(c)
            for c in ("pupils", "fsm_pct", "fsm6_pct", "fsm_pupils", "census_y")
        )
    )
    pupils = pl.col("pupils")
    ok = pupils > 0
    frame = with_pupils.with_columns(
        pl.coalesce(pl.col("income_per_pupil_gbp"), pl.when(ok).then(pl.col("income_gbp") / pupils)).alias(
            "income_pp"
        ),
        pl.coalesce(
            pl.col("expenditure_per_pupil_gbp"), pl.when(ok).then(pl.col("expenditure_gbp") / pupils)
        ).alias("expenditure_pp"),
        pl.coalesce(pl.col("fsm_pct"), pl.col("fsm6_pct")).alias("fsm_pct"),
        pl.col("fsm6_pct").alias("fsm_ever_pct"),
        pl.coalesce(pl.col("fsm_pct"), pl.when(ok).then(100.0 * pl.col("fsm_pupils") / pupils)).alias("fsm_known_pct"),
        pl.when(ok).then(pupils.log()).alias("log_pupils"),
        pl.format("{}/{}", pl.col("finance_y"), ((pl.col("finance_y") + 1) % 100).cast(pl.Utf8).str.zfill(2)).alias(
            "finance_year"
        ),
        (pl.col("event_y") - pl.col("finance_y")).alias("finance_years_apart"),
        pl.col("idaci_quintile").cast(pl.Utf8),
        intake.academic_year(pl.col("start_date")).alias("year"),
    )
    # one row per lineage and judgement: the first qualifying inspection
    frame = frame.filter(pl.col("income_pp").is_not_null() | pl.col("expenditure_pp").is_not_null())
    frame = frame.sort("lineage_id", "area", "start_date", "event_id").unique(
        ["lineage_id", "area"], keep="first", maintain_order=True
    )
    # quintiles within finance year and phase (one value per lineage)
    for m in MEASURES:
        school = (
            frame.select("lineage_id", "finance_y", "phase", m)
            .drop_nulls()
            .unique(["lineage_id", "finance_y", "phase"], keep="first")
        )
        cuts = {
            (int(fy), str(ph)): np.quantile(g[m].to_numpy(), [0.2, 0.4, 0.6, 0.8]).tolist()
            for (fy, ph), g in school.group_by("finance_y", "phase")
            if g.height >= MIN_CUT
        }
        col = pl.lit(None, dtype=pl.Utf8)
        for (fy, ph), c in sorted(cuts.items()):
            col = (
                pl.when((pl.col("finance_y") == fy) & (pl.col("phase") == ph) & pl.col(m).is_not_null())
                .then(intake.quintile_of(pl.col(m), c))
                .otherwise(col)
            )
        frame = frame.with_columns(col.alias(f"{m}_quintile"))
    keep = [
        "event_id", "urn", "lineage_id", "area", "grade", "start_date", "year", "phase",
        "school_type", "region", "idaci_quintile", "pupils", "log_pupils", "fsm_pct", *FSM_ALTERNATIVES,
        "income_pp", "expenditure_pp", "income_pp_quintile", "expenditure_pp_quintile",
        "finance_year", "finance_years_apart", "census_y", "pupils_gap",
    ]
    return frame.select(keep).sort("area", "lineage_id")


def warehouse_frame(ctx: AuditContext) -> pl.DataFrame:
    return clean_frame(warehouse_events(ctx), warehouse_context(ctx))


def nation_frame(nation: SyntheticNation, context: pl.DataFrame | None = None) -> pl.DataFrame:
    """Synthetic nation: its graded events and the finance of
    :func:`evenhand.simulate.frame_bias.finance_context` (no planted effect of money)."""
    from evenhand.simulate.frame_bias import finance_context

    ctx = finance_context(nation) if context is None else context
    return clean_frame(nation_events(nation), ctx.filter(pl.col("measure") != "ofsted_pupils"))


# ----------------------------------------------------------------------------- analyse


@dataclass
class ResourcesAnalysis:
    distribution: pl.DataFrame
    odds_ratios: pl.DataFrame
    fits: dict[tuple[str, str], OrdinalFit]
    coverage: pl.DataFrame
    n_rows: dict[str, int]
    #: (area, measure, FSM alternative) -> the quintile 5 vs 1 odds ratio refitted on the
    #: model's rows with that FSM measure as the control (only where it differs from the model's)
    sensitivity: dict[tuple[str, str, str], Any] = field(default_factory=dict)


def _fit(df: pl.DataFrame, measure: str) -> OrdinalFit:
    q = f"{measure}_quintile"
    preds = [q] + [c for c in CONTROLS if df[c].drop_nulls().n_unique() > 1]
    cats = [c for c in [q, *CATEGORICAL] if c in preds]
    return fit_ordinal(df, "grade", intake.GRADES, preds, cats, {q: "1", "idaci_quintile": "1"})


def analyse(
    frame: pl.DataFrame, areas: tuple[str, ...] = tuple(intake.KEY_AREAS), min_rows: int = 200
) -> ResourcesAnalysis:
    dist = intake.distribution(
        frame,
        (
            ("income per pupil", "income_pp_quintile"),
            ("expenditure per pupil", "expenditure_pp_quintile"),
        ),
    )
    rows: list[dict[str, Any]] = []
    fits: dict[tuple[str, str], OrdinalFit] = {}
    n_rows: dict[str, int] = {}
    sensitivity: dict[tuple[str, str, str], Any] = {}
    for area in areas:
        df = frame.filter(pl.col("area") == area)
        n_rows[area] = df.height
        for m in MEASURES:
            sub = df.drop_nulls([f"{m}_quintile", *CONTROLS])
            if sub.height < min_rows or sub[f"{m}_quintile"].n_unique() < 5:
                continue
            fit = _fit(sub, m)
            fits[(area, m)] = fit
            if area == "overall_effectiveness":
                sensitivity.update(_fsm_sensitivity(sub, area, m, min_rows))
            quintile_term = functools.partial(_has_prefix, f"{m}_quintile[")
            rows += [{"area": area, "measure": m, **r} for r in fit.odds_ratio_rows(quintile_term)]
    odds = pl.DataFrame(
        rows,
        schema={
            "area": pl.Utf8,
            "measure": pl.Utf8,
            "term": pl.Utf8,
            "odds_ratio": pl.Float64,
            "low": pl.Float64,
            "high": pl.Float64,
            "n": pl.Int64,
            "converged": pl.Boolean,
        },
    )
    coverage = (
        frame.group_by("area", "finance_year", "phase", "finance_years_apart", "pupils_gap")
        .agg(
            pl.len().alias("schools"),
            pl.col("income_pp_quintile").is_not_null().sum().alias("with_quintile"),
        )
        .sort("area", "finance_year", "phase", "finance_years_apart", "pupils_gap", nulls_last=True)
    )
    return ResourcesAnalysis(dist, odds, fits, coverage, n_rows, sensitivity)


def _fsm_sensitivity(sub: pl.DataFrame, area: str, m: str, min_rows: int) -> dict[tuple[str, str, str], Any]:
    """The model refitted on ``sub`` with each FSM alternative as the FSM control, where the
    alternative is known for enough rows and is not the model's own control on every row."""
    out: dict[tuple[str, str, str], Any] = {}
    for alt in FSM_ALTERNATIVES:
        if alt not in sub.columns:
            continue
        alt_rows = sub.filter(pl.col(alt).is_not_null())
        if alt_rows.height < min_rows or (alt_rows[alt] - alt_rows["fsm_pct"]).abs().max() < 1e-9:  # type: ignore[operator]
            continue
        fit = _fit(alt_rows.with_columns(pl.col(alt).alias("fsm_pct")), m)
        e = fit.odds_ratios.get(TERM.format(m=m))
        if e is not None:
            out[(area, m, alt)] = e
    return out


# ----------------------------------------------------------------------------- result


def describe_frame(frame: pl.DataFrame, as_at: dt.date) -> Frame:
    oe = frame.filter(pl.col("area") == "overall_effectiveness")
    years = sorted({str(y) for y in frame["finance_year"].drop_nulls().unique().to_list()})
    census = sorted({int(y) for y in frame["census_y"].drop_nulls().unique().to_list()})
    census_text = ", ".join(f"January {y + 1}" for y in census) or "none"
    gaps = sorted({int(g) for g in frame["pupils_gap"].drop_nulls().unique().to_list()})
    gap_text = (
        "the census of the finance year"
        if gaps == [0]
        else f"the census {', '.join(str(g) for g in gaps)} year(s) after the finance year"
        if gaps
        else "no census"
    )
    inspected = (
        f"{oe['start_date'].min()!s} to {oe['start_date'].max()!s}" if oe.height else "none"
    )
    out = Frame(
        unit=(
            f"one school lineage ({frame['lineage_id'].n_unique():,}), at its first graded "
            f"inspection within {MAX_FINANCE_GAP} academic years after a finance year of the "
            "inspected URN itself (a predecessor's finance is never used)."
        ),
        snapshot=(
            f"events up to {as_at.isoformat()}; finance year(s) {', '.join(years) or 'none'}; "
            f"pupils and FSM share from the school census ({census_text}): {gap_text}, taken "
            "before the inspection, the same rule for every school, never Ofsted's current "
            "pupil count; overall "
            f"effectiveness inspections from {inspected}."
        ),
        sample=(
            "maintained schools with finance data (the finance files cover local-authority "
            "maintained schools only: academies are absent), inspected soon after the finance "
            "year and with a census pupil count. Inspections are targeted at risk, so the "
            "schools inspected in a given window are not a random sample of maintained schools; "
            "the results say nothing about academies."
        ),
        denominator=(
            "shares are of the lineages in a quintile with that judgement graded; quintiles of "
            "income and expenditure per pupil are cut within finance year and phase, so money "
            "of different years is never ranked together (no deflator is needed)."
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



def build_result(
    analysis: ResourcesAnalysis,
    frame: pl.DataFrame,
    inputs: list[dict[str, Any]],
    as_at: dt.date,
    seed: int,
    synthetic: bool = False,
) -> AuditResult:
    figures: list[Figure] = []
    findings: list[str] = []
    small_n: list[str] = []
    frame_desc = describe_frame(frame, as_at)
    oe = "overall_effectiveness"
    for area, label in intake.KEY_AREAS.items():
        if not analysis.n_rows.get(area):
            small_n.append(f"{label}: no school in the frame")
            continue
        figures.append(
            Figure(
                f"{area}.schools_in_frame",
                f"{label}: school lineages in the frame (inspected within {MAX_FINANCE_GAP} "
                "years after their finance year)",
                _count(analysis.n_rows[area]),
                "count",
            )
        )
        for m, mlabel in MEASURES.items():
            fit = analysis.fits.get((area, m))
            term = TERM.format(m=m)
            if fit is None or term not in fit.odds_ratios:
                small_n.append(f"{label}: too few schools with {mlabel} to model")
                continue
            e = fit.odds_ratios[term]
            figures.append(
                Figure(
                    f"{area}.or_{m}_q5",
                    f"{label}: odds ratio of a worse grade, highest vs lowest {mlabel} "
                    "quintile (within finance year and phase), controlled",
                    e,
                    "odds ratio",
                )
            )
            d = _good_difference(analysis.distribution, area, mlabel)
            if d is not None:
                figures.append(
                    Figure(
                        f"{area}.good_or_better_difference_{m}",
                        f"{label}: share good or outstanding, lowest minus highest {mlabel} "
                        "quintile (unadjusted; percentage points)",
                        d,
                        "percentage points",
                    )
                )
            if e.low > 1:
                verdict = (
                    f"schools in the highest {mlabel} quintile had higher odds of a worse grade "
                    "than those in the lowest"
                )
            elif e.high < 1:
                verdict = (
                    f"schools in the highest {mlabel} quintile had lower odds of a worse grade "
                    "than those in the lowest"
                )
            else:
                verdict = (
                    f"no evidence that schools' grades differ between the highest and lowest "
                    f"{mlabel} quintile"
                )
            alts = {a: x for (ar, mm, a), x in analysis.sensitivity.items() if ar == area and mm == m}
            for a, x in alts.items():
                figures.append(Figure(
                    f"{area}.or_{m}_q5_{a}",
                    f"{label}: odds ratio of a worse grade, highest vs lowest {mlabel} quintile, controlled, "
                    f"with the FSM control as {FSM_ALTERNATIVES[a]} (sensitivity check, same rows)",
                    x, "odds ratio"))
            sensitive = _sensitivity_text(e, alts)
            if sensitive:
                verdict = (
                    f"borderline, sensitive to the FSM control: no clear difference between the highest and "
                    f"lowest {mlabel} quintile on this model"
                )
            gap = (
                f"; the unadjusted gap in the share good or outstanding (lowest minus highest) "
                f"is {describe(d, 'percentage points')}"
                if d is not None
                else ""
            )
            findings.append(
                f"{label}: {verdict}, after phase, size, deprivation (IDACI and FSM), region and "
                f"year: odds ratio {describe(e, 'odds ratio')}{gap}." + (f" {sensitive}" if sensitive else "")
            )
            if fit.n < 1000:
                small_n.append(f"{label}, {mlabel}: model on {fit.n:,} schools")
    findings.insert(0, _claim_verdict(analysis))  # what the data show on the claim: the pack's key finding
    caveats = [
        "The finance files cover local-authority maintained schools only: academies and free "
        "schools are absent, so the result says nothing about them and the covered schools are "
        "not a random sample of all schools.",
        f"Finance is that of the inspected URN for the nearest academic year 1 to "
        f"{MAX_FINANCE_GAP} years before the inspection; a school whose inspection fell outside "
        "that window, or whose finance is only a predecessor's, is not in the frame.",
        f"Pupils (the per-pupil denominator) and the FSM share come from the census of the "
        f"finance year or at most {MAX_PUPILS_GAP} year after it, taken before the inspection "
        "(a census after it could reflect pupils leaving after the grade); where a file publishes "
        "per-pupil values (CFR) they are used as published.",
        "Funding follows deprivation by design, so the model controls for IDACI quintile and FSM "
        "share; what remains is association, not the effect of money.",
    ]
    if synthetic:
        caveats.insert(0, "SYNTHETIC DATA: this result is computed from a simulated nation.")
    chart = None
    sub = analysis.distribution
    if sub.height:
        sub = sub.filter((pl.col("area") == oe) & (pl.col("quintile_kind") == "income per pupil"))
    if sub.height:
        n_total = int(sub.group_by("quintile").agg(pl.col("n").first())["n"].sum())
        chart = charts.chart_spec(
            charts.bar_with_intervals(
                sub,
                "quintile",
                "share",
                "low",
                "high",
                color="label",
                title="Overall effectiveness by income per pupil quintile (within year and phase)",
                subtitle=f"Maintained schools inspected within {MAX_FINANCE_GAP} years after "
                f"their finance year; n = {n_total:,}; whiskers are 95% Wilson intervals",
                x_title="Income per pupil quintile (1 lowest, 5 highest)",
                y_title="Share of schools",
                color_title="Grade",
                x_order=["1", "2", "3", "4", "5"],
                color_order=list(intake.GRADE_LABELS.values()),
                y_format=".0%",
            )
        )
    years = sorted({str(y) for y in frame["finance_year"].drop_nulls().unique().to_list()})
    return AuditResult(
        name="resources",
        title="Resources: judgements by income and expenditure per pupil",
        question=(
            "Do schools with less money per pupil get worse judgements, once phase, size, "
            "deprivation, region and year are taken into account?"
        ),
        claim="Inspection grades penalise schools for funding they do not control.",
        method=(
            f"{frame_desc.text()} Shares of each grade by quintile of income and of expenditure "
            "per pupil with Wilson 95% intervals, and the lowest-minus-highest difference in the "
            "share good or outstanding with Newcombe's interval; a proportional-odds logistic "
            "model of each key judgement on the quintile, controlling for phase, log pupils, "
            "IDACI quintile, FSM share, Ofsted region and inspection year (Wald 95% intervals)."
        ),
        figures=figures,
        tables={
            "main": analysis.distribution,
            "odds_ratios": analysis.odds_ratios,
            "coverage": analysis.coverage,
        },
        chart=chart,
        findings=findings,
        caveats=caveats,
        inputs=inputs,
        parameters={
            "as_at": as_at,
            "seed": seed,
            "finance_years": years,
            "max_finance_gap": MAX_FINANCE_GAP,
            "max_pupils_gap": MAX_PUPILS_GAP,
        },
        small_n=small_n,
        frames={"main": frame_desc},
    )


def _sensitivity_text(e: Any, alts: dict[str, Any]) -> str:
    """A sentence when the verdict on ``e`` (interval includes 1 or not) changes with the FSM
    control (:data:`FSM_ALTERNATIVES`), else ''."""
    flips = {a: x for a, x in alts.items() if (x.low > 1 or x.high < 1) != (e.low > 1 or e.high < 1)}
    if not flips:
        return ""
    each = "; ".join(f"with the FSM control as {FSM_ALTERNATIVES[a]} instead, {describe(x, 'odds ratio')}" for a, x in flips.items())
    return (
        f"Sensitivity check on the same schools: {each}. Whether the interval includes 1 depends on the FSM measure, "
        "so this verdict is borderline and rests on the model's FSM control (PNUMFSM where the census publishes it, "
        "else PNUMFSMEVER, pupils ever eligible for free school meals in the last 6 years)."
    )


def _claim_verdict(analysis: ResourcesAnalysis) -> str:
    """What the frame says about the public claim (overall effectiveness), in words."""
    claim = "The claim that grades penalise schools for funding they do not control"
    est = {}
    for m in MEASURES:
        fit = analysis.fits.get(("overall_effectiveness", m))
        e = fit.odds_ratios.get(TERM.format(m=m)) if fit is not None else None
        if e is not None and not math.isnan(e.low):
            est[m] = e
    if "income_pp" not in est:
        return f"{claim} cannot be tested on this frame: too few maintained schools with finance."
    inc, spend = est["income_pp"], est.get("expenditure_pp")
    alts = {a: e for (area, m, a), e in analysis.sensitivity.items() if area == "overall_effectiveness" and m == "income_pp"}
    sensitive = _sensitivity_text(inc, alts)
    tail = f" Income per pupil: {sensitive[0].lower()}{sensitive[1:]}" if sensitive else ""
    more_is_worse = [MEASURES[m] for m, e in est.items() if e.low > 1]
    less_is_worse = [MEASURES[m] for m, e in est.items() if e.high < 1]
    scope = " The frame covers maintained schools only and cannot test academies."
    if less_is_worse and not more_is_worse:
        return (
            f"{claim} is consistent with this frame: schools with less "
            f"{' and '.join(less_is_worse)} had worse grades after deprivation (an association, "
            "not the effect of money)." + scope
        )
    if more_is_worse:
        return (
            f"{claim} is not supported in the form stated: on this frame schools with MORE "
            f"{' and '.join(more_is_worse)} had worse grades after deprivation, not those with "
            "less (money can follow difficulty: falling rolls, deficits, support for weak "
            f"schools); income per pupil: odds ratio {describe(inc, 'odds ratio')}"
            + (f"; expenditure per pupil: {describe(spend, 'odds ratio')}" if spend else "")
            + "." + tail + scope
        )
    if sensitive:
        return (
            f"{claim}: on income per pupil this frame's result is borderline (odds ratio "
            f"{describe(inc, 'odds ratio')})." + tail + scope
        )
    return (
        f"{claim}: this frame gives no evidence either way (income per pupil: odds ratio "
        f"{describe(inc, 'odds ratio')})." + scope
    )


def _good_difference(dist: pl.DataFrame, area: str, kind: str) -> Any:
    cells = {}
    for q in ("1", "5"):
        sub = dist.filter(
            (pl.col("area") == area) & (pl.col("quintile_kind") == kind) & (pl.col("quintile") == q)
        )
        if sub.height == 0:
            return None
        cells[q] = (int(sub.filter(pl.col("grade").is_in(["1", "2"]))["count"].sum()), int(sub["n"][0]))
    return newcombe_difference(cells["1"][0], cells["1"][1], cells["5"][0], cells["5"][1])


def _count(n: int) -> Any:
    from evenhand.stats.estimate import Estimate

    return Estimate(float(n), math.nan, math.nan, n, 0.95, "count")


def risk_differences(frame: pl.DataFrame, analysis: ResourcesAnalysis) -> pl.DataFrame:
    """Highest against lowest quintile of each money measure: the adjusted difference in the
    share good or outstanding (average marginal effect) beside the odds ratio, each area,
    intervals model-based and clustered by trust or local authority (``cluster_id``)."""
    if "cluster_id" not in frame.columns:
        frame = frame.with_columns(pl.format("school:{}", pl.col("urn")).alias("cluster_id"))
    parts = []
    for m in MEASURES:
        items = []
        for (area, measure), fit in analysis.fits.items():
            if measure != m:
                continue
            sub = frame.filter(pl.col("area") == area).drop_nulls([f"{m}_quintile", *CONTROLS])
            items.append(({"area": area, "model": m.replace("_pp", " per pupil")}, fit, sub))
        parts.append(adjusted.risk_difference_table(items, f"{m}_quintile", "5", "1"))
    return pl.concat(parts) if parts else adjusted.risk_difference_table([], "x", "5")


RISK_DIFFERENCE_METHOD = (
    "Adjusted risk differences: for the highest against the lowest quintile of each money "
    "measure, the share good or outstanding predicted with every school in quintile 5 minus with "
    "every school in quintile 1, averaged over the same schools (average marginal effect of the "
    "ordinal model, delta-method interval); intervals model-based and clustered by trust or "
    "local authority (sandwich covariance over the school's academy trust, else its local "
    "authority), for the odds ratios too."
)


def run(ctx: AuditContext) -> AuditResult:
    frame = clusters.attach_clusters(warehouse_frame(ctx), clusters.school_clusters(ctx))
    analysis = analyse(frame)
    result = build_result(analysis, frame, ctx.inputs(), ctx.as_at, ctx.seed, ctx.synthetic)
    table = risk_differences(frame, analysis)
    oe = table.filter((pl.col("area") == "overall_effectiveness") & (pl.col("model") == "income per pupil"))
    finding = adjusted.sentence(
        oe.row(0, named=True),
        "Overall effectiveness, adjusted for phase, size, IDACI quintile, FSM share, region and year, "
        "schools in the highest income-per-pupil quintile against the lowest",
    ) if oe.height else None
    adjusted.add_to_result(result, table, "resources", finding, RISK_DIFFERENCE_METHOD)
    return result


def _has_prefix(prefix: str, term: str) -> bool:
    return term.startswith(prefix)


__all__ = [
    "ResourcesAnalysis",
    "analyse",
    "build_result",
    "clean_frame",
    "nation_frame",
    "run",
    "warehouse_frame",
]
