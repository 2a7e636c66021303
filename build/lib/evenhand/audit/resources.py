"""Resources audit: are judgements related to a school's income and spending per pupil?

Reuses the intake audit's frame (each school's latest graded inspection per key judgement,
with its deprivation, phase, size, region and inspection year) and adds the finance measures
of the nearest academic year before the inspection (out.event_context). Per-pupil values are
taken as published where a file gives them (CFR), else total income / expenditure divided by
the pupils measure of the nearest census year (else the pupils in the school's Ofsted row).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evenhand.audit import intake
from evenhand.audit.result import AuditContext, AuditResult, Figure, describe
from evenhand.present import charts
from evenhand.simulate.nation import SyntheticNation
from evenhand.stats.intervals import wilson
from evenhand.stats.ordinal import OrdinalFit, fit_ordinal

FINANCE_MEASURES = (
    "income_per_pupil_gbp",
    "expenditure_per_pupil_gbp",
    "income_gbp",
    "expenditure_gbp",
    "pupils",
)
MEASURES: dict[str, str] = {
    "income_pp": "income per pupil",
    "expenditure_pp": "expenditure per pupil",
}
CONTROLS = ["phase", "log_pupils", "idaci_quintile", "region", "year"]
TERM = "{m}_quintile[5]"


# ----------------------------------------------------------------------------- frames


def add_finance(raw: pl.DataFrame, context: pl.DataFrame) -> pl.DataFrame:
    """Join the finance measures (nearest year before each event) onto the intake raw frame."""
    frame = raw
    for m in FINANCE_MEASURES:
        w = context.filter(pl.col("measure") == m).select(
            "event_id",
            pl.col("value").alias(f"ctx_{m}"),
            pl.col("academic_year").alias(f"ctx_{m}__year"),
            pl.col("years_apart").cast(pl.Int64).alias(f"ctx_{m}__apart"),
            (
                pl.col("from_predecessor")
                if "from_predecessor" in context.columns
                else pl.lit(False)
            ).alias(f"ctx_{m}__pred"),
        )
        frame = frame.join(w.unique("event_id", keep="first"), on="event_id", how="left")
    pupils = pl.coalesce(pl.col("ctx_pupils"), pl.col("pupils"))
    ok = pupils > 0
    frame = frame.with_columns(
        pl.coalesce(
            pl.col("ctx_income_per_pupil_gbp"),
            pl.when(ok).then(pl.col("ctx_income_gbp") / pupils),
        ).alias("income_pp"),
        pl.coalesce(
            pl.col("ctx_expenditure_per_pupil_gbp"),
            pl.when(ok).then(pl.col("ctx_expenditure_gbp") / pupils),
        ).alias("expenditure_pp"),
        pl.coalesce(pl.col("ctx_income_per_pupil_gbp__year"), pl.col("ctx_income_gbp__year")).alias(
            "finance_year"
        ),
        pl.coalesce(
            pl.col("ctx_income_per_pupil_gbp__apart"), pl.col("ctx_income_gbp__apart")
        ).alias("finance_years_apart"),
        pl.coalesce(pl.col("ctx_income_per_pupil_gbp__pred"), pl.col("ctx_income_gbp__pred")).alias(
            "finance_from_predecessor"
        ),
    )
    return frame.drop([c for c in frame.columns if c.startswith("ctx_")])


def warehouse_frame(ctx: AuditContext) -> pl.DataFrame:
    raw = intake.warehouse_frame(ctx)
    if ctx.has_table("out.event_context"):
        quoted = ", ".join(f"'{m}'" for m in FINANCE_MEASURES)
        context = ctx.frame(
            f"""SELECT event_id, measure, value, academic_year, years_apart, from_predecessor
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
                "from_predecessor": pl.Boolean,
            }
        )
    return add_finance(raw, context)


def nation_frame(nation: SyntheticNation) -> pl.DataFrame:
    """Synthetic nation: income per pupil as simulated (it has no planted effect)."""
    raw = intake.nation_frame(nation)
    s = nation.schools.select("urn", "income_per_pupil_gbp")
    context = (
        raw.select("event_id", "urn")
        .join(s, on="urn")
        .select(
            "event_id",
            pl.lit("income_per_pupil_gbp").alias("measure"),
            pl.col("income_per_pupil_gbp").alias("value"),
            pl.lit("synthetic").alias("academic_year"),
            pl.lit(1).cast(pl.Int64).alias("years_apart"),
        )
    )
    return add_finance(raw, context)


def prepare(raw: pl.DataFrame) -> pl.DataFrame:
    """Intake's preparation, then quintiles of each finance measure within phase."""
    frame = intake.prepare(raw)
    for m in MEASURES:
        school = (
            frame.select("urn", "phase", m)
            .drop_nulls()
            .sort("urn", "phase", m)
            .unique("urn", keep="first", maintain_order=True)
        )
        cuts = {
            ph: np.quantile(g[m].to_numpy(), [0.2, 0.4, 0.6, 0.8]).tolist()
            for (ph,), g in school.group_by("phase")
            if g.height >= 25
        }
        col = pl.lit(None, dtype=pl.Utf8)
        for ph, c in sorted(cuts.items()):
            col = (
                pl.when((pl.col("phase") == ph) & pl.col(m).is_not_null())
                .then(intake.quintile_of(pl.col(m), c))
                .otherwise(col)
            )
        frame = frame.with_columns(col.alias(f"{m}_quintile"))
    return frame


# ----------------------------------------------------------------------------- analyse


@dataclass
class ResourcesAnalysis:
    distribution: pl.DataFrame
    odds_ratios: pl.DataFrame
    fits: dict[tuple[str, str], OrdinalFit]
    coverage: pl.DataFrame
    n_rows: dict[str, int]
    n_finance: dict[str, int]


def _fit(df: pl.DataFrame, measure: str) -> OrdinalFit:
    q = f"{measure}_quintile"
    preds = [q] + [c for c in CONTROLS if df[c].drop_nulls().n_unique() > 1]
    cats = [c for c in [q, "phase", "idaci_quintile", "region", "year"] if c in preds]
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
    n_fin: dict[str, int] = {}
    for area in areas:
        df = frame.filter(pl.col("area") == area)
        n_rows[area] = df.height
        n_fin[area] = df.filter(pl.col("income_pp").is_not_null()).height
        for m in MEASURES:
            sub = df.drop_nulls([f"{m}_quintile", *CONTROLS])
            if sub.height < min_rows or sub[f"{m}_quintile"].n_unique() < 5:
                continue
            fit = _fit(sub, m)
            fits[(area, m)] = fit
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
        frame.with_columns(pl.col("income_pp").is_not_null().alias("has_finance"))
        .group_by("area", "type_group", "phase")
        .agg(
            pl.len().alias("schools"),
            pl.col("has_finance").sum().alias("with_finance"),
            pl.col("finance_year")
            .drop_nulls()
            .unique()
            .sort()
            .str.join(", ")
            .alias("finance_years"),
        )
        .with_columns((pl.col("with_finance") / pl.col("schools")).alias("share"))
        .sort("area", "type_group", "phase", nulls_last=True)
    )
    return ResourcesAnalysis(dist, odds, fits, coverage, n_rows, n_fin)


# ----------------------------------------------------------------------------- result


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
    for area, label in intake.KEY_AREAS.items():
        if area not in analysis.n_rows:
            continue
        n_all, n_fin = analysis.n_rows[area], analysis.n_finance[area]
        if n_all:
            figures.append(
                Figure(
                    f"{area}.finance_coverage",
                    f"{label}: share of schools (latest graded inspection) with finance data",
                    wilson(n_fin, n_all),
                    "share",
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
                    "quintile (within phase), controlled",
                    e,
                    "odds ratio",
                )
            )
            if e.low > 1:
                verdict = "higher odds of a worse grade than"
            elif e.high < 1:
                verdict = "lower odds of a worse grade than"
            else:
                verdict = "odds of a worse grade not clearly different from"
            findings.append(
                f"{label}: schools in the highest {mlabel} quintile had {verdict} those in the "
                f"lowest, after phase, size, deprivation, region and year: odds ratio "
                f"{describe(e, 'odds ratio')}."
            )
            if fit.n < 1000:
                small_n.append(f"{label}, {mlabel}: model on {fit.n:,} schools")
    cov = analysis.coverage
    oe_cov = (
        cov.filter(pl.col("area") == "overall_effectiveness")
        .group_by("type_group")
        .agg(pl.col("schools").sum(), pl.col("with_finance").sum())
        .sort("type_group", nulls_last=True)
    )
    for group, schools, with_fin in oe_cov.iter_rows():
        if group is None or not schools:
            continue
        figures.append(
            Figure(
                f"overall_effectiveness.finance_coverage.{group.lower().replace(' ', '_')}",
                f"Share of schools with finance data, current type group {group} (overall "
                "effectiveness, latest graded inspection)",
                wilson(int(with_fin), int(schools)),
                "share",
            )
        )
    fin = frame.filter(pl.col("income_pp").is_not_null())
    years = sorted({str(y) for y in fin["finance_year"].drop_nulls().unique().to_list()})
    types = sorted({str(t) for t in fin["school_type"].drop_nulls().unique().to_list()})
    groups = sorted({str(t) for t in fin["type_group"].drop_nulls().unique().to_list()})
    apart = (
        fin.sort("urn", "finance_years_apart", nulls_last=True)
        .unique(["urn"], keep="first", maintain_order=True)
        .group_by("finance_years_apart")
        .agg(pl.len().alias("n"))
        .sort("finance_years_apart")
    )
    n_fin_schools = fin["urn"].n_unique()
    n_pred = fin.filter(pl.col("finance_from_predecessor").fill_null(False))["urn"].n_unique()
    apart_text = ", ".join(f"{a}: {n:,}" for a, n in apart.iter_rows()) or "none"
    oe = "overall_effectiveness"
    if analysis.n_rows.get(oe):
        share_e = wilson(analysis.n_finance[oe], analysis.n_rows[oe])
        findings.insert(
            0,
            f"Finance data joins for {describe(share_e, 'share')} of schools' latest graded "
            f"inspections (overall effectiveness), from the years {', '.join(years) or 'none'}.",
        )
    caveats = [
        f"Finance years joined: {', '.join(years) or 'none'}; current school type groups of "
        f"the covered schools: {', '.join(groups) or 'none'} ({len(types)} published types; a "
        "school maintained in the finance year may since have become an academy). The shared "
        "finance files cover local-authority maintained schools only: academies and free "
        "schools in their academy years are absent, so the result says nothing about them and "
        "the covered schools are not a random sample of all schools.",
        f"The finance measure is the nearest academic year before the inspection; years between "
        f"them (schools): {apart_text}. A budget several years before an inspection may not "
        "reflect the resources the inspected school had.",
        f"{n_pred:,} of the {n_fin_schools:,} schools with finance data have it from a "
        "predecessor URN (typically the maintained school before academy conversion, carried "
        "by out.event_context): their finance describes the school before it changed form.",
        "Per-pupil values are as published where a file gives them; otherwise total income or "
        "expenditure divided by the pupils of the nearest census year before the inspection "
        "(else the pupils in Ofsted's school row), which may be a different year from the "
        "finance year.",
        "Quintiles are cut within phase (primary and secondary funding differ by design); "
        "funding follows deprivation, so the model controls for IDACI quintile, and what "
        "remains is association, not the effect of money.",
        "Each school's latest graded inspection of each judgement as at the date.",
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
                title="Overall effectiveness by income per pupil quintile (within phase)",
                subtitle=f"Maintained schools with finance data, latest graded inspection as at "
                f"{as_at}; n = {n_total:,}; whiskers are 95% Wilson intervals",
                x_title="Income per pupil quintile (1 lowest, 5 highest)",
                y_title="Share of schools",
                color_title="Grade",
                x_order=["1", "2", "3", "4", "5"],
                color_order=list(intake.GRADE_LABELS.values()),
                y_format=".0%",
            )
        )
    return AuditResult(
        name="resources",
        title="Resources: judgements by income and expenditure per pupil",
        question=(
            "Do schools with less money per pupil get worse judgements, once phase, size, "
            "deprivation, region and year are taken into account?"
        ),
        claim="Inspection grades penalise schools for funding they do not control.",
        method=(
            "Each school's latest graded inspection as at the date, joined to its income and "
            "expenditure per pupil in the nearest academic year before the inspection; shares "
            "of each grade by within-phase quintile of income and of expenditure per pupil with "
            "Wilson 95% intervals; a proportional-odds logistic model of each key judgement on "
            "the quintile, controlling for phase, log pupils, IDACI quintile, Ofsted region and "
            "inspection year (Wald 95% intervals)."
        ),
        figures=figures,
        tables={
            "main": analysis.distribution,
            "odds_ratios": analysis.odds_ratios,
            "coverage": cov,
        },
        chart=chart,
        findings=findings,
        caveats=caveats,
        inputs=inputs,
        parameters={"as_at": as_at, "seed": seed, "finance_years": years},
        small_n=small_n,
    )


def run(ctx: AuditContext) -> AuditResult:
    frame = prepare(warehouse_frame(ctx))
    analysis = analyse(frame)
    return build_result(analysis, frame, ctx.inputs(), ctx.as_at, ctx.seed, ctx.synthetic)


def _has_prefix(prefix: str, term: str) -> bool:
    return term.startswith(prefix)
