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

from evenhand import maps
from evenhand.audit import charts, frames
from evenhand.audit.result import AuditContext, AuditResult, Figure, Frame, describe, num, pct
from evenhand.audit.safeguarding import academic_year, graded_events
from evenhand.audit.timing import median_interval
from evenhand.derive.facts import cliff_edge_expr
from evenhand.metadata.definitions import CLIFF_EDGE
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import row_shares_from_pairs, wilson, wilson_columns
from evenhand.stats.multilevel import RegionVariation, fit_region_variation

NAME = "consistency"
CODES: tuple[str, ...] = ("1", "2", "3", "4")
ERA_ORDER: tuple[str, ...] = maps.era_order()  # maps/eras.csv, by start date
#: Era whose graded events feed the regional model by default: the latest with an overall grade.
REGION_ERA = "eif_2019"
REGION_CONTROLS: tuple[str, ...] = ("phase", "type_group", "log_pupils", "idaci_quintile", "academic_year")
REGION_CATEGORICAL: tuple[str, ...] = ("phase", "type_group", "idaci_quintile", "academic_year")
REGION_REFERENCE: dict[str, str] = {"phase": "Primary", "type_group": "Maintained", "idaci_quintile": "1"}
REGION_PROXY = (
    "Region is not an inspection team. These files do not say which inspector or team inspected a "
    "school, so variation between inspectors (within or across regions) cannot be measured from them: "
    "the regional figure is neither team variation nor an upper bound on it. Inspectors' variation "
    "within a region averages out of a region's intercept, and what differs between regions also "
    "includes the schools themselves (what the controls miss)."
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


def _code_labels(sub: pl.DataFrame) -> dict[str, str]:
    """Each grade code's label in these pairs (earlier and later inspections together): the
    most frequent, ties to the first alphabetically (a code can carry two labels, e.g. a few
    'Satisfactory' 3s among the 'Requires improvement' 3s of one era)."""
    both = pl.concat([
        sub.select(pl.col("from_code").alias("code"), pl.col("from_label").alias("label")),
        sub.select(pl.col("to_code").alias("code"), pl.col("to_label").alias("label")),
    ]).drop_nulls("code")
    counts = both.group_by("code", "label").len().sort(["code", "len", "label"], descending=[False, True, False], nulls_last=True)
    return dict(counts.unique("code", keep="first", maintain_order=True).select("code", "label").iter_rows())


def transition_matrices(tr: pl.DataFrame) -> pl.DataFrame:
    """Per era of the later inspection: counts and row shares (Wilson) from each earlier
    grade to each later grade. Labels are those of the codes in that era's rows (the most
    frequent, :func:`_code_labels`)."""
    comp = _comparable(tr)
    parts = []
    for era in _eras(comp, "to_era"):
        sub = comp.filter(pl.col("to_era") == era)
        m = row_shares_from_pairs(sub, "from_code", "to_code", row_levels=CODES, col_levels=CODES)
        labels = _code_labels(sub)
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
    area: maps.area_label(area).lower() for area in ("quality_of_education", "leadership_and_management")
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
    """School type group (maps/school_type_groups.csv: Maintained, Academy, Free school; the full
    type list is collinear with phase: every nursery is an 'LA Nursery School')."""
    return maps.school_type_group_expr(pl.col(col))


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


PROGRESS_MEASURES: tuple[str, ...] = ("progress8", "ks2_reading_progress", "ks2_writing_progress", "ks2_maths_progress")
#: The one year of progress measures the warehouse holds nationally (DfE 2018/19 performance tables).
PROGRESS_YEAR = "2018/19"


def region_progress(ctx: AuditContext) -> pl.DataFrame:
    """event_id, measure, value: the school's 2018/19 progress measures attached to each event
    (out.event_context: same school or its predecessor, by the build's rule)."""
    if not ctx.has_table("out.event_context"):
        return pl.DataFrame(schema={"event_id": pl.String, "measure": pl.String, "value": pl.Float64})
    quoted = ", ".join(f"'{m}'" for m in PROGRESS_MEASURES)
    return ctx.frame(f"SELECT event_id, measure, value FROM out.event_context WHERE measure IN ({quoted}) AND academic_year = ? "
                     "AND value IS NOT NULL", [PROGRESS_YEAR])


def attach_progress(rf: pl.DataFrame, context: pl.DataFrame) -> pl.DataFrame:
    """``progress_z``: Progress 8 for secondary schools, the mean of KS2 reading, writing and maths
    progress (else maths alone) for primary schools, standardised within phase. Pure."""
    wide = context.unique(["event_id", "measure"], keep="first").pivot(on="measure", index="event_id", values="value")
    for m in PROGRESS_MEASURES:
        if m not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(m))
    out = rf.drop([c for c in ("progress_raw", "progress_z") if c in rf.columns]).join(wide, on="event_id", how="left")
    ks2 = ["ks2_reading_progress", "ks2_writing_progress", "ks2_maths_progress"]
    raw = (pl.when(pl.col("phase") == "Secondary").then(pl.col("progress8"))
           .when((pl.col("phase") == "Primary") & pl.all_horizontal([pl.col(c).is_not_null() for c in ks2])).then(pl.mean_horizontal(ks2))
           .when(pl.col("phase") == "Primary").then(pl.col("ks2_maths_progress")))
    out = out.with_columns(raw.alias("progress_raw"))
    z = (pl.col("progress_raw") - pl.col("progress_raw").mean().over("phase")) / pl.col("progress_raw").std().over("phase")
    return out.with_columns(z.alias("progress_z")).drop([m for m in PROGRESS_MEASURES if m in out.columns and m not in rf.columns])


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


GAP_BANDS: tuple[tuple[str, float, float], ...] = (
    ("under 2 years", 0.0, 2.0), ("2 to 4 years", 2.0, 4.0), ("4 to 6 years", 4.0, 6.0), ("6 years or more", 6.0, math.inf),
)
PAIR_HISTORY = "both in the 2005-2020 history"
PAIR_FILE = "both in the school-level file"
PAIR_MIXED = "one in each"
PAIR_OTHER = "other"


def pair_sources(tr: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
    """Add ``pair_source``: where the two inspections of a pair are held (``sources`` from
    evenhand.audit.frames.event_sources), and ``years_apart``. Pure."""
    s = sources.select("event_id", pl.col("in_history"), pl.col("snapshot_block").is_not_null().alias("in_file"))
    out = tr.join(s.rename({"event_id": "from_event_id", "in_history": "_fh", "in_file": "_ff"}), on="from_event_id", how="left")
    out = out.join(s.rename({"event_id": "to_event_id", "in_history": "_th", "in_file": "_tf"}), on="to_event_id", how="left")
    fh, ff, th, tf = (pl.col(c).fill_null(False) for c in ("_fh", "_ff", "_th", "_tf"))
    label = (pl.when(fh & th).then(pl.lit(PAIR_HISTORY)).when(ff & tf).then(pl.lit(PAIR_FILE))
             .when((fh | ff) & (th | tf)).then(pl.lit(PAIR_MIXED)).otherwise(pl.lit(PAIR_OTHER)))
    return out.with_columns(label.alias("pair_source"), (pl.col("days_apart").cast(pl.Float64) / 365.25).alias("years_apart")).drop(
        "_fh", "_ff", "_th", "_tf")


def _gap_band() -> pl.Expr:
    y = pl.col("years_apart")
    expr: pl.Expr = pl.lit("unknown")
    for label, lo, hi in reversed(GAP_BANDS):
        expr = pl.when((y >= lo) & (y < hi)).then(pl.lit(label)).otherwise(expr)
    return expr


def conditional_cliffs(tr: pl.DataFrame) -> pl.DataFrame:
    """Cliff-edge and fall-to-inadequate rates CONDITIONAL on the starting grade (a fall of two
    grades can only start from outstanding or good), overall and by gap between the two
    inspections and by where the pair is held. ``tr`` needs ``pair_source`` and ``years_apart``
    (:func:`pair_sources`). Rows: dimension, group, from_code, from_label, n, cliff_edges,
    cliff_rate (Wilson), to_inadequate, to_inadequate_rate (Wilson), median_years_apart."""
    comp = _comparable(tr).filter(pl.col("from_code").is_in(["1", "2"])).with_columns(_gap_band().alias("gap"))
    rows: list[dict[str, Any]] = []
    for dimension, col in (("starting grade", None), ("gap between inspections", "gap"), ("where the pair is held", "pair_source")):
        groups = [("all pairs", comp)] if col is None else [(str(g[0]), d) for g, d in comp.group_by(col)]
        order = [b[0] for b in GAP_BANDS] + ["unknown"] if col == "gap" else [PAIR_HISTORY, PAIR_FILE, PAIR_MIXED, PAIR_OTHER, "all pairs"]
        for group, part in sorted(groups, key=lambda g: order.index(g[0]) if g[0] in order else 99):
            for code in ("1", "2"):
                sub = part.filter(pl.col("from_code") == code)
                if sub.height == 0:
                    continue
                k = int(sub.select(_cliff_expr(sub)).to_series().sum())
                ki = int((sub["to_code"] == "4").sum())
                c, i = wilson(k, sub.height), wilson(ki, sub.height)
                med = sub["years_apart"].median()
                labels = sub["from_label"].drop_nulls()
                rows.append({"dimension": dimension, "group": group, "from_code": code,
                             "from_label": labels[0] if labels.len() else GRADE_WORDS[code],
                             "n": sub.height, "cliff_edges": k, "cliff_rate": c.value, "cliff_low": c.low, "cliff_high": c.high,
                             "to_inadequate": ki, "to_inadequate_rate": i.value, "to_inadequate_low": i.low, "to_inadequate_high": i.high,
                             "median_years_apart": float(med) if isinstance(med, int | float) else None})
    schema = {"dimension": pl.String, "group": pl.String, "from_code": pl.String, "from_label": pl.String, "n": pl.Int64,
              "cliff_edges": pl.Int64, "cliff_rate": pl.Float64, "cliff_low": pl.Float64, "cliff_high": pl.Float64,
              "to_inadequate": pl.Int64, "to_inadequate_rate": pl.Float64, "to_inadequate_low": pl.Float64,
              "to_inadequate_high": pl.Float64, "median_years_apart": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col(pl.Float64).fill_nan(None))


def _cliff_expr(frame: pl.DataFrame) -> pl.Expr:
    """The one cliff-edge rule: out.event_flags' flag where the frame carries it, else the same
    rule (evenhand.derive.facts.cliff_edge_expr)."""
    if "cliff_edge" in frame.columns:
        return pl.col("cliff_edge").fill_null(False)
    return cliff_edge_expr()


GRADE_WORDS = maps.grade_labels("four_point")  # maps/codes.csv


def _chart(st: pl.DataFrame) -> dict[str, Any] | None:
    if st.height == 0:
        return None
    _era_name = pl.col("to_era").replace_strict(maps.era_labels(), default=pl.col("to_era"), return_dtype=pl.String)
    long = pl.concat(
        [
            st.select(_era_name.alias("era"), pl.lit("Unchanged (stability)").alias("measure"),
                      pl.col("stability").alias("share"), pl.col("stability_low").alias("low"),
                      pl.col("stability_high").alias("high"), "n"),
            st.select(_era_name.alias("era"), pl.lit("Two or more grades worse").alias("measure"),
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
        color_title="Measure", x_order=[maps.era_label(e) for e in st["to_era"].to_list()], y_format="%", y_domain=(0.0, 1.0),
    )
    return charts.chart_spec(chart)


def _by_source_text(rows: list[tuple[str, str, dict[str, Any] | None]]) -> str:
    """The rate from outstanding to inadequate by where the pair is held (REFEREE 3: samples
    selected differently are shown apart before they are pooled)."""
    words = {PAIR_FILE: "both in the snapshot school-level file", PAIR_MIXED: "one in the history and one in that file",
             PAIR_OTHER: "other (an inspection held only in another file, such as the 2020 management information)"}
    bits = [f"{words.get(label, label)}, {row['to_inadequate']:,} of {row['n']:,} "
            f"({describe(wilson(row['to_inadequate'], row['n']), 'share')})"
            for label, _, row in rows if row]
    if not bits:
        return ""
    return ("Apart by where the pair is held, which selects the pairs differently, the share next judged inadequate is: "
            + "; ".join(bits) + ", so the pooled rate is a mixture of these, not one rate. ")


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
    trs = pair_sources(tr, frames.event_sources(ctx))
    cond = conditional_cliffs(trs)

    def crow(dimension: str, group: str, code: str) -> dict[str, Any] | None:
        r = cond.filter((pl.col("dimension") == dimension) & (pl.col("group") == group) & (pl.col("from_code") == code))
        return r.row(0, named=True) if r.height else None

    from_o, from_g = crow("starting grade", "all pairs", "1"), crow("starting grade", "all pairs", "2")
    # the samples are selected differently (the history: schools open around 2018; the files: each school's latest
    # two graded inspections): the rate from outstanding is given apart by where the pair is held, not only pooled
    o_by_source = [(label, key, crow("where the pair is held", label, "1"))
                   for label, key in ((PAIR_HISTORY, "history"), (PAIR_FILE, "file"), (PAIR_MIXED, "mixed"), (PAIR_OTHER, "other"))]
    figures: list[Figure] = []
    if from_o:
        figures.append(Figure("outstanding_to_inadequate_from_outstanding", "Inadequate next, among pairs starting outstanding",
                              wilson(from_o["to_inadequate"], from_o["n"]), "share"))
        for label, key, row in o_by_source:
            if row:
                figures.append(Figure(f"outstanding_to_inadequate_from_outstanding_{key}",
                                      f"Inadequate next, among pairs starting outstanding, {label}",
                                      wilson(row["to_inadequate"], row["n"]), "share"))
        figures.append(Figure("cliff_edge_from_outstanding", "Two or more grades worse, among pairs starting outstanding",
                              wilson(from_o["cliff_edges"], from_o["n"]), "share"))
    if from_g:
        figures.append(Figure("cliff_edge_from_good", "Inadequate next (two grades worse), among pairs starting good",
                              wilson(from_g["cliff_edges"], from_g["n"]), "share"))
    o_pairs = _comparable(trs).filter(pl.col("from_code") == "1")
    o2i_pairs = o_pairs.filter(pl.col("to_code") == "4")
    med_o = median_interval(o_pairs["years_apart"].drop_nulls().to_numpy())
    if o_pairs.height:
        figures.append(Figure("years_apart_from_outstanding", "Median years between the two inspections of pairs starting outstanding", med_o, "ratio"))
    n_o2i_hist = o2i_pairs.filter(pl.col("pair_source").is_in([PAIR_HISTORY, PAIR_MIXED])).height
    figures += [
        Figure("stability", "Consecutive graded inspections with the same overall grade", stab, "share"),
        Figure("cliff_edge_rate", "Two or more grades worse, among ALL comparable pairs (including those that cannot fall two grades)", cliff, "share"),
        Figure("outstanding_to_inadequate_rate", "Outstanding followed by inadequate, among ALL comparable pairs (not a rate for outstanding schools)", o2i, "share"),
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
            f"The main regional model does not control for how effective the schools are; a second fit adds {PROGRESS_YEAR} "
            "pupil progress (Progress 8 or KS2 progress, standardised within phase) on the schools that have it, and the "
            "first is refitted on those same schools for a like-for-like comparison. Progress measures are not "
            "contextualised and describe pupils who left in 2019, not the school at a later inspection."
        ),
    ]
    rv: RegionVariation | None = None
    rv_error = ""
    rf = region_frame(events)
    try:
        rv = region_variation(rf)
    except (ValueError, KeyError) as exc:
        rv_error = str(exc)
    # with and without progress, on the same schools (those with a progress measure)
    rv_same: RegionVariation | None = None
    rv_prog: RegionVariation | None = None
    rfp = attach_progress(rf, region_progress(ctx)).filter(pl.col("progress_z").is_not_null())
    if rfp.height >= 10 * MIN_LEVEL_ROWS:
        try:
            rv_same = region_variation(rfp)
            rv_prog = region_variation(rfp, controls=(*REGION_CONTROLS, "progress_z"))
        except (ValueError, KeyError) as exc:
            caveats.append(f"The regional model with progress could not be fitted: {exc}")
    if rv_same is not None and rv_prog is not None:
        figures.append(Figure("region_icc_same_rows", "Regional share of variation, schools with a progress measure, without progress",
                              rv_same.icc, "share"))
        figures.append(Figure("region_icc_with_progress", f"Regional share of variation, the same schools, with {PROGRESS_YEAR} progress",
                              rv_prog.icc, "share"))
    region_table = pl.DataFrame(schema={"ofsted_region": pl.Utf8, "n": pl.Int64, "effect": pl.Float64, "low": pl.Float64, "high": pl.Float64})
    findings = [
        (
            f"Of {n_comp:,} comparable consecutive graded inspections, {describe(stab, 'share')} kept the same "
            f"overall grade and {o['cliff_edge']:,} fell two or more grades."
        ),
    ]
    if from_o and from_g:
        findings.append(
            f"A fall of two grades can only start from outstanding or good. Of {from_o['n']:,} pairs starting outstanding, "
            f"{describe(wilson(from_o['to_inadequate'], from_o['n']), 'share')} were next judged inadequate and "
            f"{describe(wilson(from_o['cliff_edges'], from_o['n']), 'share')} fell two grades or more; of {from_g['n']:,} starting "
            f"good, {describe(wilson(from_g['cliff_edges'], from_g['n']), 'share')} were next judged inadequate. "
            f"Pairs starting outstanding are a median {num(med_o.value, 1)} years apart (outstanding schools were exempt from "
            f"routine inspection 2012-2020, so most were re-inspected only when risk was flagged), and {n_o2i_hist:,} of the "
            f"{o2i_pairs.height:,} outstanding-to-inadequate pairs have at least one inspection from the 2005-2020 history (its schools "
            "are those open around 2018). "
            + _by_source_text(o_by_source)
            + "The data support that "
            "falls from outstanding to inadequate happen, but the rate describes schools selected for re-inspection after a "
            "long gap, not the risk facing a typical outstanding school."
        )
    recent = st.filter(pl.col("n") >= 100)
    if recent.height:
        r = recent.row(recent.height - 1, named=True)
        findings.append(
            f"For pairs whose later inspection was under the {maps.era_label(r['to_era'])}, pooled over every comparable pair "
            "the files hold (all phases, the history and both school-level files; not like for like between frameworks, for "
            "which see the frameworks audit's same-grade figure on one file's primary and secondary schools): "
            f"{describe(wilson(r['unchanged'], r['n']), 'share')} unchanged; {r['cliff_edge']:,} cliff edges "
            f"({describe(wilson(r['cliff_edge'], r['n']), 'share')})."
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
        text = (
            f"Regional variation: after controls for phase, type, size, deprivation and year, the share of schools judged good "
            f"or better differs between Ofsted's {rv.n_groups} regions more than chance would give (likelihood-ratio test "
            f"{_p_text(rv.lrt_p_value)}); regions account for {describe(rv.icc, 'share')} of the latent variation"
        )
        if rv_same is not None and rv_prog is not None:
            text += (
                f". On the {rv_prog.n:,} schools with a {PROGRESS_YEAR} progress measure it is {describe(rv_same.icc, 'share')} "
                f"without progress and {describe(rv_prog.icc, 'share')} with it: part of what looks regional is how much "
                "progress the schools' pupils make"
            )
        findings.append(
            text + ". This is variation between regions, not between inspectors or teams: the files do not say who "
            "inspected, so inspector-level variation cannot be measured from them, and the regional figure is neither "
            "that variation nor an upper bound on it."
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
    findings[0] = (  # the verdict states the stability figure the first finding gave
        "On the claim that judgements are inconsistent between visits and between inspection teams, the data cannot test "
        f"either part: of {n_comp:,} comparable consecutive graded inspections {describe(stab, 'share')} kept the same overall "
        f"grade and {o['cliff_edge']:,} fell two or more grades, but a school can "
        "really change between visits years apart and the files cannot separate that from an inconsistent judgement; and no "
        "file says who inspected, so team or inspector variation cannot be measured"
        + (f" (regions, the nearest proxy, account for {describe(rv.icc, 'share')} of the latent variation after controls"
           + (f", {pct(rv_prog.icc.value)} with progress" if rv_prog is not None else "") + ")" if rv is not None else "")
        + "."
    )
    small = [f"transitions into the {maps.era_label(r['to_era'])} (n = {r['n']})" for r in st.filter(pl.col("n") < 100).iter_rows(named=True)]
    n_missing_region = rf.filter(pl.col("ofsted_region").is_null()).height
    if n_missing_region:
        caveats.append(f"{n_missing_region:,} schools in the regional model's era have no Ofsted region in the school-level files and are left out.")
    cons_frames = {
        "transitions": Frame(
            unit="a pair of consecutive graded inspections of one school lineage (academy conversions chained)",
            snapshot=f"inspections started by {ctx.as_at.isoformat()}, from the national school-level file and the 2005-2020 history",
            sample="the pairs the files hold: the latest two graded inspections of each open school, and the history of schools "
                   "open around 2018; who is re-inspected depends on risk (outstanding schools were exempt 2012-2020), so pairs "
                   "starting outstanding are few, long and selected",
            denominator="cliff edges: comparable pairs starting from the same grade (outstanding, or good); stability: all comparable pairs",
        ),
        "regions": Frame(
            unit="a school (lineage): its latest graded inspection of the education inspection framework (2019-2024)",
            snapshot=f"controls from the newest school-level file; progress from {PROGRESS_YEAR}",
            sample="schools with an overall grade in that era and the controls; the progress comparison on those with a progress measure",
            denominator="latent variation in good-or-better judgements (intraclass correlation between Ofsted regions)",
            notes=("Region is not an inspection team; inspector-level variation cannot be measured from these files.",),
        ),
    }
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
            "random-intercept logistic regression of overall good-or-better on school phase, school type group (maps/school_type_groups.csv: maintained, academy, free school), log pupils, "
            "IDACI quintile and academic year, with a random intercept per Ofsted region, fitted to each "
            f"school's latest graded inspection of the {REGION_ERA} era; reported as the latent intraclass "
            "correlation with a profile-likelihood interval and the likelihood-ratio test of no region effect "
            "(docs/decisions/0100-region-variation-glmm.md). " + REGION_PROXY + " Cliff edges by starting grade: among comparable "
            "pairs starting outstanding or good, the share two or more grades worse and the share next judged inadequate, "
            "overall, by years between the two inspections and by where the pair is held (both in the 2005-2020 history, both in "
            "the school-level file, one in each). " + " ".join(f.text() for f in cons_frames.values())
        ),
        figures=figures,
        tables={"main": st, "conditional_cliffs": cond, "matrices": mats, "cliff_edges": cliffs, "excluded": ex, "divergence": div, "regions": region_table},
        chart=_chart(st),
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={
            "as_at": ctx.as_at.isoformat(), "region_era": REGION_ERA, "region_controls": list(REGION_CONTROLS),
            "cliff_edge": CLIFF_EDGE,
        },
        small_n=small,
        frames=cons_frames,
    )
