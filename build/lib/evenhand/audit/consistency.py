"""Consistency audit: how stable are judgements between consecutive graded inspections, how
often do schools fall off a cliff, how often does the overall grade part from the key
judgements, and how much do Ofsted regions differ after controls.

Claim tested (DESIGN section 1): judgements are inconsistent, between inspections of the same
school and between inspection teams.

Pure functions over frames (:func:`transition_matrices`, :func:`stability`,
:func:`cliff_edges`, :func:`exclusions`, :func:`divergence`, :func:`region_frame`,
:func:`region_variation`) do the work; :func:`run` only reads the warehouse and assembles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from evenhand.audit.result import AuditContext, AuditResult, Figure, describe, num, pct
from evenhand.audit.safeguarding import academic_year, graded_events
from evenhand.derive.facts import cliff_edge_expr
from evenhand.metadata.definitions import CLIFF_EDGE
from evenhand.present import charts
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import row_shares_from_pairs, wilson, wilson_columns
from evenhand.stats.multilevel import RegionVariation, fit_region_variation

NAME = "consistency"
CODES: tuple[str, ...] = ("1", "2", "3", "4")
ERA_ORDER: tuple[str, ...] = (
    "pre_2005", "s5_2005", "s5_2009", "s5_2012", "cif_2015", "eif_2019", "eif_2024", "report_card_2025",
)
#: Era whose graded events feed the regional model by default: the latest with an overall grade.
REGION_ERA = "eif_2019"
REGION_CONTROLS: tuple[str, ...] = ("phase", "type_group", "log_pupils", "idaci_quintile", "academic_year")
REGION_CATEGORICAL: tuple[str, ...] = ("phase", "type_group", "idaci_quintile", "academic_year")
REGION_REFERENCE: dict[str, str] = {"phase": "Primary", "type_group": "maintained or other", "idaci_quintile": "1"}
REGION_PROXY = (
    "Region stands in for inspection teams: Ofsted does not publish inspector identity in bulk, so "
    "differences between teams can only be seen as far as they line up with Ofsted's regions."
)

TRANSITIONS_SQL = """
SELECT t.lineage_id, t.from_event_id, t.to_event_id, t.from_urn, t.to_urn, t.urn_changed,
       t.from_start_date, t.to_start_date, t.days_apart, t.from_era, t.to_era,
       t.from_scale, t.from_code, t.from_label, t.to_scale, t.to_code, t.to_label,
       t.comparable, t.comparison_basis, t.change, t.direction, t.note,
       coalesce(e.school_name, l.school_name) AS school_name{flag_column}
FROM out.transitions t
LEFT JOIN core.events e ON e.event_id = t.to_event_id{flag_join}
LEFT JOIN out.lineage l ON l.urn = t.to_urn
WHERE t.to_start_date <= ?
ORDER BY t.to_start_date, t.to_event_id
"""


def transitions(ctx: AuditContext) -> pl.DataFrame:
    """Transitions whose later inspection started by the as-at date, with the cliff-edge flag
    of the later inspection decided at build time (out.event_flags)."""
    have = ctx.has_table("out.event_flags")
    sql = TRANSITIONS_SQL.replace("{flag_column}", ", f.cliff_edge" if have else "").replace(
        "{flag_join}", "\nLEFT JOIN out.event_flags f ON f.event_id = t.to_event_id" if have else "")
    return with_cliff_edge(ctx.frame(sql, [ctx.as_at]))


def with_cliff_edge(tr: pl.DataFrame) -> pl.DataFrame:
    """``cliff_edge`` as out.event_flags holds it; a frame without it (hand-made, or a warehouse
    without out.event_flags) gets it from the same rule (evenhand.derive.facts.cliff_edge_expr)."""
    if "cliff_edge" in tr.columns:
        return tr.with_columns(pl.col("cliff_edge").fill_null(False))
    return tr.with_columns(cliff_edge_expr().alias("cliff_edge"))


def _reason(note: str | None) -> str:
    if note is None:
        return "not comparable (no reason given)"
    if re.search(r"code 3 changed meaning", note):
        return "grade 3 changed meaning in September 2012 (Satisfactory, then Requires improvement)"
    if "Not judged" in note:
        return "later inspection has no overall grade (graded inspections from September 2024: 'Not judged')"
    if "no overall judgement" in note:
        return "later inspection has no overall judgement (report card)"
    return note


def exclusions(tr: pl.DataFrame) -> pl.DataFrame:
    """Non-comparable transitions by reason: reason, count."""
    bad = tr.filter(~pl.col("comparable"))
    if bad.height == 0:
        return pl.DataFrame(schema={"reason": pl.Utf8, "count": pl.Int64})
    return (
        bad.with_columns(pl.col("note").map_elements(_reason, return_dtype=pl.Utf8).alias("reason"))
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .sort(["count", "reason"], descending=[True, False])
    )


def _comparable(tr: pl.DataFrame) -> pl.DataFrame:
    """Comparable four-point transitions (the only kind the shipped maps make comparable)."""
    return tr.filter(
        pl.col("comparable") & pl.col("from_code").is_in(CODES) & pl.col("to_code").is_in(CODES)
        & (pl.col("from_scale") == "four_point") & (pl.col("to_scale") == "four_point")
    )


def _eras(frame: pl.DataFrame, col: str) -> list[str]:
    seen = set(frame[col].drop_nulls().to_list())
    return [e for e in ERA_ORDER if e in seen] + sorted(seen - set(ERA_ORDER))


def transition_matrices(tr: pl.DataFrame) -> pl.DataFrame:
    """Per era of the later inspection: counts and row shares (Wilson) from each earlier
    grade to each later grade. Labels are those of the codes in that era's rows."""
    comp = _comparable(tr)
    parts = []
    for era in _eras(comp, "to_era"):
        sub = comp.filter(pl.col("to_era") == era)
        m = row_shares_from_pairs(sub, "from_code", "to_code", row_levels=CODES, col_levels=CODES)
        labels = dict(sub.select("from_code", "from_label").unique().iter_rows())
        labels.update(dict(sub.select("to_code", "to_label").unique().iter_rows()))
        parts.append(
            m.with_columns(
                pl.lit(era).alias("to_era"),
                pl.col("from_code").replace_strict(labels, default=None, return_dtype=pl.Utf8).alias("from_label"),
                pl.col("to_code").replace_strict(labels, default=None, return_dtype=pl.Utf8).alias("to_label"),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={"to_era": pl.Utf8, "from_code": pl.Utf8, "from_label": pl.Utf8, "to_code": pl.Utf8, "to_label": pl.Utf8,
                    "count": pl.Int64, "n": pl.Int64, "share": pl.Float64, "low": pl.Float64, "high": pl.Float64}
        )
    return pl.concat(parts).select(
        "to_era", "from_code", "from_label", "to_code", "to_label", "count", "n", "share", "low", "high"
    )


def stability(tr: pl.DataFrame, by: str | None = "to_era") -> pl.DataFrame:
    """Comparable transitions (by era of the later inspection, or all): n, unchanged share,
    cliff-edge rate (two or more steps worse) and outstanding -> inadequate rate, with Wilson
    intervals. An era with no comparable transition has no row."""
    comp = _comparable(with_cliff_edge(tr))
    agg_exprs = [
        pl.len().cast(pl.Int64).alias("n"),
        (pl.col("change") == 0).sum().cast(pl.Int64).alias("unchanged"),
        (pl.col("change") < 0).sum().cast(pl.Int64).alias("improved"),
        (pl.col("change") > 0).sum().cast(pl.Int64).alias("declined"),
        pl.col("cliff_edge").sum().cast(pl.Int64).alias("cliff_edge"),
        ((pl.col("from_code") == "1") & (pl.col("to_code") == "4")).sum().cast(pl.Int64).alias("outstanding_to_inadequate"),
    ]
    if comp.height == 0:
        out = pl.DataFrame(
            schema={**({by: pl.Utf8} if by else {}), "n": pl.Int64, "unchanged": pl.Int64, "improved": pl.Int64,
                    "declined": pl.Int64, "cliff_edge": pl.Int64, "outstanding_to_inadequate": pl.Int64}
        )
    elif by:
        out = comp.group_by(by).agg(agg_exprs)
        order = {e: i for i, e in enumerate(_eras(comp, by))}
        out = out.sort(pl.col(by).replace_strict(order, return_dtype=pl.Int64))
    else:
        out = comp.select(agg_exprs)
    out = wilson_columns(out, "unchanged", "n", names=("stability", "stability_low", "stability_high"))
    out = wilson_columns(out, "cliff_edge", "n", names=("cliff_edge_rate", "cliff_edge_low", "cliff_edge_high"))
    return wilson_columns(
        out, "outstanding_to_inadequate", "n", names=("o_to_i_rate", "o_to_i_low", "o_to_i_high")
    )


def cliff_edges(tr: pl.DataFrame) -> pl.DataFrame:
    """Every comparable transition two or more steps worse (includes outstanding -> inadequate)."""
    cols = [
        "lineage_id", "school_name", "from_urn", "to_urn", "urn_changed", "from_event_id", "to_event_id",
        "from_start_date", "to_start_date", "days_apart", "from_era", "to_era", "from_label", "to_label", "change",
    ]
    comp = _comparable(with_cliff_edge(tr)).filter(pl.col("cliff_edge"))
    return comp.select([c for c in cols if c in comp.columns]).sort(["to_start_date", "to_event_id"])


KEY_JUDGEMENTS: dict[str, str] = {
    "quality_of_education": "quality of education",
    "leadership_and_management": "leadership and management",
}


def divergence(events: pl.DataFrame, by: str | None = "era") -> pl.DataFrame:
    """Share of graded events where the overall grade differs from a key judgement, among
    events graded on the four-point scale in both (by era, or all)."""
    rows = []
    for area, label in KEY_JUDGEMENTS.items():
        both = events.filter(
            pl.col("overall_effectiveness").is_in(CODES) & pl.col(area).is_in(CODES)
        ).with_columns((pl.col("overall_effectiveness") != pl.col(area)).alias("differs"),
                       (pl.col("overall_effectiveness").cast(pl.Int64) > pl.col(area).cast(pl.Int64)).alias("overall_worse"))
        keys = [by] if by else []
        if both.height == 0:
            continue
        g = (both.group_by(keys) if keys else both.group_by(pl.lit(1).alias("_all")))
        agg = g.agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("differs").sum().cast(pl.Int64).alias("differs"),
            pl.col("overall_worse").sum().cast(pl.Int64).alias("overall_worse"),
        )
        if not keys:
            agg = agg.drop("_all")
        rows.append(agg.with_columns(pl.lit(area).alias("judgement"), pl.lit(label).alias("judgement_label")))
    if not rows:
        return pl.DataFrame(schema={**({by: pl.Utf8} if by else {}), "judgement": pl.Utf8, "judgement_label": pl.Utf8,
                                    "n": pl.Int64, "differs": pl.Int64, "overall_worse": pl.Int64,
                                    "share": pl.Float64, "low": pl.Float64, "high": pl.Float64})
    out = pl.concat(rows)
    out = wilson_columns(out, "differs", "n")
    lead = [by] if by else []
    return out.select(*lead, "judgement", "judgement_label", "n", "differs", "overall_worse", "share", "low", "high").sort(
        [*lead, "judgement"]
    )


def type_group(col: str = "school_type") -> pl.Expr:
    """School type grouped by governance: academy, free school, or maintained / other. (The full
    type list is collinear with phase: every nursery is an 'LA Nursery School'.)"""
    t = pl.col(col)
    return (
        pl.when(t.is_null()).then(None)
        .when(t.str.contains("(?i)free school")).then(pl.lit("free school"))
        .when(t.str.contains("(?i)academy|city technology|studio school|university technical")).then(pl.lit("academy"))
        .otherwise(pl.lit("maintained or other"))
    )


def region_frame(events: pl.DataFrame, era: str = REGION_ERA) -> pl.DataFrame:
    """One row per school: its latest graded event of ``era`` with an overall grade, with
    ``good_or_better`` (overall code 1-2), region and the controls."""
    f = events.filter((pl.col("era") == era) & pl.col("overall_effectiveness").is_in(CODES))
    key = "lineage_id" if "lineage_id" in f.columns and f["lineage_id"].null_count() == 0 else "urn"
    f = f.sort([key, "start_date", "event_id"]).unique(subset=key, keep="last", maintain_order=True)
    return f.with_columns(
        pl.col("overall_effectiveness").is_in(["1", "2"]).cast(pl.Int64).alias("good_or_better"),
        academic_year().alias("academic_year"),
        type_group().alias("type_group"),
        pl.col("pupils").cast(pl.Float64).clip(lower_bound=1.0).log().alias("log_pupils"),
        pl.col("idaci_quintile").cast(pl.Utf8).alias("idaci_quintile"),
    )


MIN_LEVEL_ROWS = 50


def pool_rare_levels(frame: pl.DataFrame, columns: Sequence[str], min_rows: int = MIN_LEVEL_ROWS) -> pl.DataFrame:
    """Levels of each categorical column seen in fewer than ``min_rows`` rows become 'other';
    if 'other' itself is still that rare, its rows join the most frequent level (so that no
    level is small enough to separate the outcome perfectly)."""
    out = frame
    for col in columns:
        if col not in out.columns:
            continue
        counts = out.group_by(col).len().drop_nulls(col)
        if counts.height == 0:
            continue
        rare = counts.filter(pl.col("len") < min_rows)[col].to_list()
        if not rare:
            continue
        mode = counts.sort(["len", col], descending=[True, False])[col][0]
        pooled = int(counts.filter(pl.col(col).is_in(rare))["len"].sum())
        target = "other" if pooled >= min_rows else mode
        out = out.with_columns(
            pl.when(pl.col(col).is_in(rare)).then(pl.lit(target)).otherwise(pl.col(col)).alias(col)
        )
    return out


def region_variation(
    frame: pl.DataFrame,
    controls: Sequence[str] = REGION_CONTROLS,
    categorical: Sequence[str] = REGION_CATEGORICAL,
) -> RegionVariation:
    """Random-intercept logistic model of good-or-better by Ofsted region, after controls."""
    cats = [c for c in categorical if c in controls]
    frame = pool_rare_levels(frame.with_columns([pl.col(c).cast(pl.Utf8) for c in cats]), cats)
    return fit_region_variation(
        frame, "good_or_better", "ofsted_region", list(controls),
        categorical=cats, min_level_rows=MIN_LEVEL_ROWS,
        reference={k: v for k, v in REGION_REFERENCE.items() if k in cats and v in set(frame[k].drop_nulls().to_list())},
    )


def _chart(st: pl.DataFrame) -> dict[str, Any] | None:
    if st.height == 0:
        return None
    long = pl.concat(
        [
            st.select(pl.col("to_era").alias("era"), pl.lit("Unchanged (stability)").alias("measure"),
                      pl.col("stability").alias("share"), pl.col("stability_low").alias("low"),
                      pl.col("stability_high").alias("high"), "n"),
            st.select(pl.col("to_era").alias("era"), pl.lit("Two or more grades worse").alias("measure"),
                      pl.col("cliff_edge_rate").alias("share"), pl.col("cliff_edge_low").alias("low"),
                      pl.col("cliff_edge_high").alias("high"), "n"),
        ]
    )
    n = int(st["n"].sum())
    chart = charts.bar_with_intervals(
        long, "era", "share", "low", "high", "measure",
        title="Consecutive graded inspections: same grade, or two or more grades worse",
        subtitle=f"Comparable pairs by era of the later inspection (n = {n:,}); whiskers are 95% Wilson intervals",
        x_title="Framework era of the later inspection", y_title="Share of pairs",
        color_title="Measure", x_order=st["to_era"].to_list(), y_format="%", y_domain=(0.0, 1.0),
    )
    return charts.chart_spec(chart)


def _p_text(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {num(p, 4)}"


def _count(value: int, n: int) -> Estimate:
    return Estimate(float(value), math.nan, math.nan, n, 0.95, "count")


def run(ctx: AuditContext) -> AuditResult:
    tr = transitions(ctx)
    events = graded_events(ctx)
    ex = exclusions(tr)
    mats = transition_matrices(tr)
    st = stability(tr)
    overall = stability(tr, by=None)
    cliffs = cliff_edges(tr)
    div = divergence(events)
    div_all = divergence(events, by=None)
    n_all, n_comp = tr.height, _comparable(tr).height
    o = overall.row(0, named=True) if overall.height else {"n": 0, "unchanged": 0, "cliff_edge": 0, "outstanding_to_inadequate": 0}
    stab = wilson(o["unchanged"], o["n"])
    cliff = wilson(o["cliff_edge"], o["n"])
    o2i = wilson(o["outstanding_to_inadequate"], o["n"])
    figures = [
        Figure("stability", "Consecutive graded inspections with the same overall grade", stab, "share"),
        Figure("cliff_edge_rate", "Consecutive graded inspections two or more grades worse", cliff, "share"),
        Figure("outstanding_to_inadequate_rate", "Outstanding followed by inadequate", o2i, "share"),
        Figure("cliff_edges", "Cliff-edge drops (two or more grades worse)", _count(o["cliff_edge"], o["n"]), "count"),
        Figure("excluded_transitions", "Consecutive pairs excluded as not comparable", _count(n_all - n_comp, n_all), "count"),
    ]
    for r in div_all.iter_rows(named=True):
        figures.append(
            Figure(f"divergence_{r['judgement']}", f"Overall grade differs from {r['judgement_label']}",
                   Estimate(r["share"], r["low"], r["high"], r["n"], 0.95, "Wilson score"), "share")
        )
    # Regional variation
    caveats = [
        REGION_PROXY,
        (
            f"{n_all - n_comp:,} of {n_all:,} consecutive pairs of graded inspections were excluded as not "
            "comparable: " + "; ".join(f"{r['count']:,} because {r['reason']}" for r in ex.iter_rows(named=True))
            + ". Pairs are never forced onto a common scale."
            if n_all
            else "No consecutive pairs of graded inspections are in the data."
        ),
        (
            "Consecutive inspections are those the data hold: the latest and previous graded inspections of "
            "each school in the school-level file and the ratings history. An inspection missing from the data "
            "joins the two either side of it into one pair."
        ),
        (
            "Stability mixes genuine change in a school with inconsistency of judgement: the data cannot "
            "separate the two. Good and outstanding schools were often exempt from or given short "
            "inspections, so who gets a graded re-inspection is not random."
        ),
        (
            "The regional model's controls (phase, type, size, IDACI quintile) are the school's as the latest "
            "school-level file gives them, not as they were at the inspection; year is the academic year of the "
            "inspection."
        ),
        (
            "The regional model does not control for how effective the schools are (pupil progress): a region "
            "whose schools make more progress will look more favourably judged without any difference between "
            "inspection teams. A region effect is therefore an upper bound on team inconsistency, not a measure of it."
        ),
    ]
    rv: RegionVariation | None = None
    rv_error = ""
    rf = region_frame(events)
    try:
        rv = region_variation(rf)
    except (ValueError, KeyError) as exc:
        rv_error = str(exc)
    region_table = pl.DataFrame(schema={"ofsted_region": pl.Utf8, "n": pl.Int64, "effect": pl.Float64, "low": pl.Float64, "high": pl.Float64})
    findings = [
        (
            f"Of {n_comp:,} comparable consecutive graded inspections, {describe(stab, 'share')} kept the same "
            f"overall grade and {o['cliff_edge']:,} fell two or more grades ({describe(cliff, 'share')}), "
            f"{o['outstanding_to_inadequate']:,} of them from outstanding to inadequate."
        ),
    ]
    recent = st.filter(pl.col("n") >= 100)
    if recent.height:
        r = recent.row(recent.height - 1, named=True)
        findings.append(
            f"For pairs whose later inspection was in {r['to_era']}: {describe(wilson(r['unchanged'], r['n']), 'share')} "
            f"unchanged; {r['cliff_edge']:,} cliff edges ({describe(wilson(r['cliff_edge'], r['n']), 'share')})."
        )
    qoe = div_all.filter(pl.col("judgement") == "quality_of_education")
    if qoe.height:
        r = qoe.row(0, named=True)
        findings.append(
            f"In {pct(r['share'])} of {r['n']:,} graded inspections with both grades (95% CI {pct(r['low'])} to "
            f"{pct(r['high'])}) the overall grade differed from the quality of education grade."
        )
    if rv is not None:
        figures.append(Figure("region_icc", "Share of variation in good-or-better between Ofsted regions (latent ICC)", rv.icc, "share"))
        figures.append(Figure("region_sd", "SD of region intercepts (log-odds)", rv.sigma, "ratio"))
        region_table = rv.summary().rename({"group": "ofsted_region"})
        findings.append(
            f"After controls, Ofsted regions account for {describe(rv.icc, 'share')} of the latent variation in "
            f"good-or-better judgements ({rv.n_groups} regions; likelihood-ratio test of no region effect "
            f"{_p_text(rv.lrt_p_value)})."
        )
        eff = rv.summary().sort(["effect", "group"])
        low_r, high_r = eff.row(0, named=True), eff.row(eff.height - 1, named=True)
        findings.append(
            "Odds of good or better against an average region, after controls: highest in "
            f"{high_r['group']} ({num(math.exp(high_r['effect']))} times, 95% CI {num(math.exp(high_r['low']))} to "
            f"{num(math.exp(high_r['high']))}; n = {high_r['n']:,}), lowest in {low_r['group']} "
            f"({num(math.exp(low_r['effect']))} times, 95% CI {num(math.exp(low_r['low']))} to "
            f"{num(math.exp(low_r['high']))}; n = {low_r['n']:,})."
        )
        caveats.append(
            "Region effects are posterior means of each region's intercept; their intervals ignore the "
            "uncertainty in the fixed effects and in the between-region SD, so they are a little too narrow."
        )
        caveats += [f"Regional model: {n}" for n in rv.notes]
    else:
        caveats.append(f"The regional model could not be fitted: {rv_error}")
    small = [f"transitions into {r['to_era']} (n = {r['n']})" for r in st.filter(pl.col("n") < 100).iter_rows(named=True)]
    n_missing_region = rf.filter(pl.col("ofsted_region").is_null()).height
    if n_missing_region:
        caveats.append(f"{n_missing_region:,} schools in the regional model's era have no Ofsted region in the school-level files and are left out.")
    return AuditResult(
        name=NAME,
        title="Consistency of judgements",
        question=(
            "How stable are overall grades between a school's consecutive graded inspections, how often do "
            "they fall two grades or more, how often does the overall grade depart from the key judgements, and "
            "how much do Ofsted regions differ after controls?"
        ),
        claim="Inspection judgements are inconsistent: between visits, and between inspection teams.",
        method=(
            "Transitions: consecutive graded inspections within a school's URN lineage (academy conversions "
            "chained), on overall effectiveness, grouped by the era of the later inspection; only pairs whose "
            "grades mean the same on both dates are compared (docs/decisions/0400-transitions.md), the others "
            "are counted by reason. Row shares of each matrix and every rate carry Wilson score 95% intervals. "
            "Stability is the share of pairs with the same grade. " + CLIFF_EDGE + " Divergence is the "
            "share of graded inspections graded on the four-point scale in both where the overall grade differs "
            "from quality of education (or from leadership and management). Regional variation: a "
            "random-intercept logistic regression of overall good-or-better on school phase, type (academy, free school, maintained or other), log pupils, "
            "IDACI quintile and academic year, with a random intercept per Ofsted region, fitted to each "
            f"school's latest graded inspection of the {REGION_ERA} era; reported as the latent intraclass "
            "correlation with a profile-likelihood interval and the likelihood-ratio test of no region effect "
            "(docs/decisions/0100-region-variation-glmm.md). " + REGION_PROXY
        ),
        figures=figures,
        tables={"main": st, "matrices": mats, "cliff_edges": cliffs, "excluded": ex, "divergence": div, "regions": region_table},
        chart=_chart(st),
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={
            "as_at": ctx.as_at.isoformat(), "region_era": REGION_ERA, "region_controls": list(REGION_CONTROLS),
            "cliff_edge": CLIFF_EDGE,
        },
        small_n=small,
    )
