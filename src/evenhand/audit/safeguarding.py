"""Safeguarding audit: graded inspections where safeguarding was not effective, and how many
of them were otherwise good ("safeguarding-limited").

Claim tested (DESIGN section 1): a school can be judged inadequate because of a safeguarding
finding while its education is judged good. The audit counts such events, lists them and
shows the trend by academic year.

The pure functions (:func:`flag_events`, :func:`summarise`, :func:`trend`, :func:`analyse`)
work on one frame of graded events with one column per judgement (the shape
:func:`graded_events` reads from the warehouse), so tests can feed them simulated nations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from evenhand import maps
from evenhand.audit import charts, frames
from evenhand.audit.result import AuditContext, AuditResult, Figure, Frame, describe, pct
from evenhand.derive.facts import JUDGEMENT_COLUMNS_SQL, safeguarding_flags
from evenhand.metadata import definitions as D
from evenhand.metadata.definitions import SAFEGUARDING_LIMITED
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import wilson, wilson_columns

NAME = "safeguarding"

#: Key judgements on the four-point scale, one column each in the graded-events frame.
FOUR_POINT_AREAS: tuple[str, ...] = (
    "overall_effectiveness",
    "quality_of_education",
    "behaviour_and_attitudes",
    "personal_development",
    "leadership_and_management",
)
#: The one definition (out.event_flags, decided at build time: evenhand.derive.facts).
DEFINITION = SAFEGUARDING_LIMITED
GOOD_OR_BETTER = D.GOOD_OR_BETTER
FLAG_COLUMNS: tuple[str, ...] = (
    "safeguarding_recorded", "safeguarding_not_effective", "safeguarding_not_met", "classifiable",
    "quality_of_education_good", "education_good", "safeguarding_limited",
)


def academic_year(col: str = "start_date") -> pl.Expr:
    """'2022/23' for a date between 1 September 2022 and 31 August 2023 (maps.academic_year_expr)."""
    return maps.academic_year_expr(pl.col(col))


GRADED_EVENTS_SQL = """
WITH ev AS (
    SELECT event_id, urn, school_name, kind, era, start_date, publication_date,
           category_of_concern
    FROM core.events
    WHERE kind IN ('graded', 'report_card') AND start_date IS NOT NULL AND start_date <= ?
),
j AS (
    SELECT event_id,""" + JUDGEMENT_COLUMNS_SQL + """
    FROM core.judgements
    WHERE event_id IN (SELECT event_id FROM ev)
    GROUP BY event_id
),
src AS (
    SELECT event_id, list(DISTINCT block ORDER BY block) AS blocks
    FROM core.event_sources GROUP BY event_id
),
sch AS (
    SELECT urn, ofsted_region, phase, school_type, pupils, idaci_quintile, school_name AS current_name
    FROM out.school_latest
)
SELECT ev.event_id, ev.urn, coalesce(ev.school_name, s1.current_name, s2.current_name) AS school_name,
       ev.kind, ev.era, ev.start_date, ev.publication_date, ev.category_of_concern,
       j.overall_effectiveness, j.quality_of_education, j.behaviour_and_attitudes,
       j.personal_development, j.leadership_and_management, j.safeguarding_effective,
       j.safeguarding_standards,
       coalesce(src.blocks, []::VARCHAR[]) AS blocks,
       coalesce(s1.ofsted_region, s2.ofsted_region) AS ofsted_region,
       coalesce(s1.phase, s2.phase) AS phase,
       coalesce(s1.school_type, s2.school_type) AS school_type,
       coalesce(s1.pupils, s2.pupils) AS pupils,
       coalesce(s1.idaci_quintile, s2.idaci_quintile) AS idaci_quintile,
       el.lineage_id{flag_columns}
FROM ev
{flag_join}
LEFT JOIN j USING (event_id)
LEFT JOIN src USING (event_id)
LEFT JOIN out.event_lineage el USING (event_id)
LEFT JOIN sch s1 ON s1.urn = ev.urn
LEFT JOIN sch s2 ON s2.urn = el.latest_urn
ORDER BY ev.start_date, ev.event_id
"""


def graded_events(ctx: AuditContext) -> pl.DataFrame:
    """Graded and report-card events started by the as-at date, one row each, with every
    key judgement code as a column (null when not graded on its usual scale), the blocks of
    the school-level files that reported it and the school's attributes (its own URN's row in
    the newest school-level file, else its lineage's latest URN's)."""
    sql = GRADED_EVENTS_SQL
    if not ctx.has_table("out.event_lineage"):
        sql = sql.replace(
            "LEFT JOIN out.event_lineage el USING (event_id)",
            "LEFT JOIN (SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS lineage_id, NULL::BIGINT AS latest_urn) el USING (event_id)",
        )
    # the flags decided at build time; a warehouse without out.event_flags (a hand-written
    # test nation) gets them from flag_events, by the same function
    have_flags = ctx.has_table("out.event_flags")
    sql = sql.replace("{flag_columns}", "".join(f", f.{c}" for c in FLAG_COLUMNS) if have_flags else "")
    sql = sql.replace("{flag_join}", "LEFT JOIN out.event_flags f USING (event_id)" if have_flags else "")
    return ctx.frame(sql, [ctx.as_at])


def flag_events(frame: pl.DataFrame) -> pl.DataFrame:
    """The safeguarding flags of each event (:data:`DEFINITION`): read from out.event_flags
    where :func:`graded_events` joined them, else (a simulated frame with only the judgement
    columns) added by the same function the build uses (evenhand.derive.facts.safeguarding_flags)."""
    if all(c in frame.columns for c in FLAG_COLUMNS):
        return frame.with_columns([pl.col(c).fill_null(False) for c in FLAG_COLUMNS])
    return safeguarding_flags(frame.drop([c for c in FLAG_COLUMNS if c in frame.columns]))


@dataclass(frozen=True)
class Summary:
    n_graded: int  # graded events with a safeguarding judgement recorded
    n_not_effective: int
    n_not_effective_classifiable: int
    n_qoe_good: int  # safeguarding-No events with quality of education good or better
    n_otherwise_good: int  # ... with all three education judgements good or better
    n_limited: int
    n_not_met: int  # report cards with safeguarding standards Not met
    not_effective_rate: Estimate
    limited_among_not_effective: Estimate
    limited_among_classifiable_not_effective: Estimate
    limited_among_graded: Estimate
    qoe_good_among_not_effective: Estimate
    otherwise_good_among_not_effective: Estimate


def summarise(flagged: pl.DataFrame) -> Summary:
    rec = flagged.filter(pl.col("safeguarding_recorded"))
    no = rec.filter(pl.col("safeguarding_not_effective"))
    n, n_no = rec.height, no.height
    n_cls = no.filter(pl.col("classifiable")).height
    n_lim = int(no["safeguarding_limited"].sum()) if n_no else 0
    n_qoe = int(no["quality_of_education_good"].sum()) if n_no else 0
    n_good = int(no["education_good"].sum()) if n_no else 0
    return Summary(
        n_graded=n,
        n_not_effective=n_no,
        n_not_effective_classifiable=n_cls,
        n_qoe_good=n_qoe,
        n_otherwise_good=n_good,
        n_limited=n_lim,
        n_not_met=int(no["safeguarding_not_met"].sum()) if n_no else 0,
        not_effective_rate=wilson(n_no, n),
        limited_among_not_effective=wilson(n_lim, n_no),
        limited_among_classifiable_not_effective=wilson(n_lim, n_cls),
        limited_among_graded=wilson(n_lim, n),
        qoe_good_among_not_effective=wilson(n_qoe, n_no),
        otherwise_good_among_not_effective=wilson(n_good, n_no),
    )


def trend(flagged: pl.DataFrame) -> pl.DataFrame:
    """By academic year of the start date: graded events with safeguarding recorded,
    not-effective and safeguarding-limited counts, each rate with its Wilson interval."""
    rec = flagged.filter(pl.col("safeguarding_recorded")).with_columns(academic_year().alias("academic_year"))
    if rec.height == 0:
        return pl.DataFrame(
            schema={
                "academic_year": pl.Utf8, "n_graded": pl.Int64, "n_not_effective": pl.Int64,
                "not_effective_rate": pl.Float64, "not_effective_low": pl.Float64, "not_effective_high": pl.Float64,
                "n_limited": pl.Int64, "limited_rate": pl.Float64, "limited_low": pl.Float64, "limited_high": pl.Float64,
            }
        )
    agg = (
        rec.group_by("academic_year")
        .agg(
            pl.len().cast(pl.Int64).alias("n_graded"),
            pl.col("safeguarding_not_effective").sum().cast(pl.Int64).alias("n_not_effective"),
            pl.col("safeguarding_limited").sum().cast(pl.Int64).alias("n_limited"),
        )
        .sort("academic_year")
    )
    agg = wilson_columns(agg, "n_not_effective", "n_graded", names=("not_effective_rate", "not_effective_low", "not_effective_high"))
    agg = wilson_columns(agg, "n_limited", "n_graded", names=("limited_rate", "limited_low", "limited_high"))
    return agg.select(
        "academic_year", "n_graded", "n_not_effective", "not_effective_rate", "not_effective_low",
        "not_effective_high", "n_limited", "limited_rate", "limited_low", "limited_high",
    )


EVENT_COLUMNS = (
    "urn", "school_name", "event_id", "era", "start_date", "publication_date",
    "overall_effectiveness", "quality_of_education", "behaviour_and_attitudes",
    "personal_development", "leadership_and_management", "safeguarding_effective",
    "safeguarding_standards", "category_of_concern", "safeguarding_limited", "safeguarding_not_met", "classifiable",
)


def events_table(flagged: pl.DataFrame) -> pl.DataFrame:
    """Every safeguarding-not-effective event, safeguarding-limited ones first."""
    rec = flagged.filter(pl.col("safeguarding_not_effective"))
    cols = [c for c in EVENT_COLUMNS if c in rec.columns]
    return rec.select(cols).sort(
        ["safeguarding_limited", "start_date", "urn"], descending=[True, False, False], nulls_last=True
    )


def analyse(frame: pl.DataFrame) -> tuple[pl.DataFrame, Summary, pl.DataFrame, pl.DataFrame]:
    """Pure core of the audit: (flagged frame, summary, trend table, events table)."""
    flagged = flag_events(frame)
    return flagged, summarise(flagged), trend(flagged), events_table(flagged)


def visibility(flagged: pl.DataFrame) -> dict[str, int]:
    """How many safeguarding-recorded events are in the latest and previous graded blocks of the
    snapshot file (``snapshot_block``, evenhand.audit.frames; each event once). Without that column
    (a frame not joined to the sources) the file blocks an event was reported in ('blocks'),
    counting only the school-level blocks, never the history's."""
    rec = flagged.filter(pl.col("safeguarding_recorded"))
    out: dict[str, int] = {"events": rec.height}
    if "snapshot_block" in rec.columns:
        out["graded"] = rec.filter(pl.col("snapshot_block") == frames.LATEST).height
        out["previous"] = rec.filter(pl.col("snapshot_block") == frames.PREVIOUS).height
        out["neither"] = rec.height - out["graded"] - out["previous"]
    elif "blocks" in rec.columns and rec.height:
        for block in ("graded", "previous", "report_card"):
            out[block] = int(rec.select(pl.col("blocks").list.contains(block).sum()).item())
    return out


#: Years with fewer graded inspections than this stay in the table but not on the chart.
CHART_MIN_N = 30


def _chart(tr: pl.DataFrame, s: Summary) -> dict[str, Any] | None:
    left_out = tr.filter(pl.col("n_graded") < CHART_MIN_N)
    tr = tr.filter(pl.col("n_graded") >= CHART_MIN_N)
    if tr.height == 0:
        return None
    note = (
        f"; not drawn (fewer than {CHART_MIN_N}): " + ", ".join(left_out["academic_year"].to_list())
        if left_out.height
        else ""
    )
    long = pl.concat(
        [
            tr.select(
                "academic_year",
                pl.lit("Safeguarding not effective").alias("measure"),
                pl.col("not_effective_rate").alias("rate"),
                pl.col("not_effective_low").alias("low"),
                pl.col("not_effective_high").alias("high"),
            ),
            tr.select(
                "academic_year",
                pl.lit("Safeguarding-limited").alias("measure"),
                pl.col("limited_rate").alias("rate"),
                pl.col("limited_low").alias("low"),
                pl.col("limited_high").alias("high"),
            ),
        ]
    )
    chart = charts.line_with_band(
        long, "academic_year", "rate", "low", "high", "measure",
        title="Graded inspections where safeguarding was not effective, by academic year",
        subtitle=(
            f"Share of graded inspections with a safeguarding judgement (n = {s.n_graded:,}); "
            f"bands are 95% Wilson intervals{note}"
        ),
        x_title="Academic year of the inspection", y_title="Share of graded inspections",
        color_title="Measure", y_format="%", y_zero=True,
        x_order=tr["academic_year"].to_list(),
    )
    return charts.chart_spec(chart)


BLOCK_ERAS: tuple[str, ...] = ("cif_2015", "eif_2019", "eif_2024", "report_card_2025")


def with_sources(flagged: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
    """Join each event's block in the snapshot file and its source (evenhand.audit.frames)."""
    cols = ["event_id", "snapshot_block", "in_history", "source"]
    return flagged.drop([c for c in cols[1:] if c in flagged.columns]).join(sources.select(cols), on="event_id", how="left").with_columns(
        pl.col("source").fill_null(frames.OTHER), pl.col("in_history").fill_null(False))


def by_block(flagged: pl.DataFrame, eras: tuple[str, ...] = BLOCK_ERAS) -> pl.DataFrame:
    """Per era and block of the snapshot file: inspections with a safeguarding judgement, how many
    found it not effective (rate, Wilson), and among those judged inadequate overall (four-point
    code 4) how many had safeguarding not effective. Pure; the blocks are never pooled here."""
    rows = []
    rec = flagged.filter(pl.col("safeguarding_recorded") & pl.col("snapshot_block").is_not_null())
    for era in eras:
        for block in (frames.LATEST, frames.PREVIOUS):
            part = rec.filter((pl.col("era") == era) & (pl.col("snapshot_block") == block))
            if part.height == 0:
                continue
            k = int(part["safeguarding_not_effective"].sum())
            e = wilson(k, part.height)
            inad = part.filter(pl.col("overall_effectiveness") == "4")
            ki = int(inad["safeguarding_not_effective"].sum()) if inad.height else 0
            ei = wilson(ki, inad.height)
            rows.append({"era": era, "block": block, "n": part.height, "not_effective": k, "rate": e.value, "low": e.low, "high": e.high,
                         "n_inadequate": inad.height, "inadequate_not_effective": ki, "inadequate_share": ei.value,
                         "inadequate_low": ei.low, "inadequate_high": ei.high})
    schema = {"era": pl.String, "block": pl.String, "n": pl.Int64, "not_effective": pl.Int64, "rate": pl.Float64, "low": pl.Float64,
              "high": pl.Float64, "n_inadequate": pl.Int64, "inadequate_not_effective": pl.Int64, "inadequate_share": pl.Float64,
              "inadequate_low": pl.Float64, "inadequate_high": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col(pl.Float64).fill_nan(None))


def inadequate_with_safeguarding(flagged: pl.DataFrame, era: str = "eif_2019", snapshot_only: bool = True) -> tuple[int, int]:
    """(inadequate overall judgements of the era with a safeguarding judgement, of which not
    effective): with ``snapshot_only``, in either block of the snapshot file (``snapshot_block``),
    each inspection once; otherwise (and where the frame has no blocks) every inspection of the
    frame, each once: the frame of the pooled safeguarding-limited counts (every loaded file)."""
    part = flagged.filter((pl.col("era") == era) & pl.col("safeguarding_recorded") & (pl.col("overall_effectiveness") == "4"))
    if snapshot_only and "snapshot_block" in part.columns:
        part = part.filter(pl.col("snapshot_block").is_not_null())
    return part.height, int(part["safeguarding_not_effective"].sum()) if part.height else 0


def run(ctx: AuditContext) -> AuditResult:
    frame = graded_events(ctx)
    flagged, s, tr, events = analyse(frame)
    flagged = with_sources(flagged, frames.event_sources(ctx))
    snap = frames.snapshot_file(ctx)
    snap_text = f"the national school-level file as at {snap[1]}" if snap else "no national school-level file"
    blocks = by_block(flagged)
    vis = visibility(flagged)
    n_inad, k_inad = inadequate_with_safeguarding(flagged)
    inad_share = wilson(k_inad, n_inad)
    # the same count on the frame of the pooled safeguarding-limited figures (every loaded file, each inspection once)
    n_inad_all, k_inad_all = inadequate_with_safeguarding(flagged, snapshot_only=False)
    inad_share_all = wilson(k_inad_all, n_inad_all)
    unclassifiable = s.n_not_effective - s.n_not_effective_classifiable
    era_names = {"cif_2015": "common inspection framework (2015-2019)", "eif_2019": "education inspection framework (2019-2024)",
                 "eif_2024": "EIF without overall grade (2024-2025)", "report_card_2025": "report cards (2025-)"}
    figures: list[Figure] = []
    block_est: dict[tuple[str, str], Estimate] = {}
    for r in blocks.iter_rows(named=True):
        e = Estimate(r["rate"] if r["rate"] is not None else math.nan, r["low"] if r["low"] is not None else math.nan,
                     r["high"] if r["high"] is not None else math.nan, r["n"], 0.95, "Wilson score")
        block_est[(r["era"], r["block"])] = e
        key = "latest" if r["block"] == frames.LATEST else "previous"
        figures.append(Figure(f"not_effective_{r['era']}_{key}", f"Safeguarding not effective, {era_names.get(r['era'], r['era'])}, {r['block']} of {snap_text}", e, "share"))
    figures.append(Figure("eif_inadequate_safeguarding_not_effective", "Education inspection framework (2019-2024): inadequate overall judgements where safeguarding was not effective",
                          inad_share, "share"))
    figures.append(Figure("eif_inadequate_safeguarding_not_effective_all_files",
                          "Education inspection framework (2019-2024), every loaded file (each inspection once; the frame of the "
                          "safeguarding-limited counts): inadequate overall judgements where safeguarding was not effective",
                          inad_share_all, "share"))
    figures += [
        Figure("not_effective_rate", "Pooled over blocks and eras (not a national rate): graded inspections where safeguarding was not effective", s.not_effective_rate, "share"),
        Figure("limited_among_not_effective", "Safeguarding-limited, among safeguarding-not-effective inspections", s.limited_among_not_effective, "share"),
        Figure("limited_among_classifiable", "Safeguarding-limited, among safeguarding-not-effective inspections with all education judgements", s.limited_among_classifiable_not_effective, "share"),
        Figure("limited_among_graded", "Safeguarding-limited, among all graded inspections with a safeguarding judgement", s.limited_among_graded, "share"),
        Figure("qoe_good_among_not_effective", "Quality of education good or better, among safeguarding-not-effective inspections", s.qoe_good_among_not_effective, "share"),
        Figure("otherwise_good_among_not_effective", "Quality of education, behaviour and attitudes and personal development all good or better, among safeguarding-not-effective inspections", s.otherwise_good_among_not_effective, "share"),
        Figure("limited_count", "Safeguarding-limited inspections", Estimate(float(s.n_limited), math.nan, math.nan, s.n_not_effective, 0.95, "count"), "count"),
        Figure("not_met_count", "Report cards with safeguarding standards not met", Estimate(float(s.n_not_met), math.nan, math.nan, s.n_not_effective, 0.95, "count"), "count"),
    ]
    findings: list[str] = []
    lat, prev = block_est.get(("eif_2019", frames.LATEST)), block_est.get(("eif_2019", frames.PREVIOUS))
    if lat is not None and prev is not None:
        findings.append(
            f"Under the education inspection framework (2019-2024), safeguarding was not effective in {describe(lat, 'share')} of the "
            f"inspections that are still schools' latest graded inspection in {snap_text}, against {describe(prev, 'share')} of those "
            "now in the previous block. The file keeps two inspections per school and which survive depends on the outcome (a school "
            "found wanting is re-inspected soon), so neither figure is the share of all inspections that found safeguarding not "
            "effective; pooled, they are that share only if no inspection of the era has dropped out of both blocks, which the file "
            "cannot show. The data cannot test a claim about how often inspections find safeguarding ineffective."
        )
    clat, cprev = block_est.get(("cif_2015", frames.LATEST)), block_est.get(("cif_2015", frames.PREVIOUS))
    if clat is not None and cprev is not None:
        k_l = round(clat.value * clat.n) if not math.isnan(clat.value) else 0
        k_p = round(cprev.value * cprev.n) if not math.isnan(cprev.value) else 0
        findings.append(
            f"The same selection is starker for the common inspection framework (2015-2019): {k_l:,} of {clat.n:,} latest-block "
            f"inspections against {k_p:,} of {cprev.n:,} previous-block ones. Comparing eras is like against like only within one "
            "block of files taken at the end of each era; within this one file the older era's latest block holds schools not "
            "re-inspected since, mostly those judged well."
        )
    if n_inad:
        findings.append(
            f"Of {n_inad:,} inadequate overall judgements under the education inspection framework (2019-2024) with a safeguarding "
            f"judgement in either block of {snap_text}, {k_inad:,} had safeguarding not effective ({describe(inad_share, 'share')}): safeguarding is part of about "
            "half of recent inadequate judgements, but few of those schools were judged good in their education (below)."
        )
    findings += [
        (
            f"Pooled over blocks and eras (not a national rate): of {s.n_graded:,} graded inspections with a safeguarding judgement, "
            f"{s.n_not_effective:,} found safeguarding not effective ({describe(s.not_effective_rate, 'share')})."
        ),
        (
            f"{s.n_limited:,} of those {s.n_not_effective:,} were safeguarding-limited: inadequate overall or "
            f"for leadership while quality of education, behaviour and attitudes and personal development "
            f"were all good or better: {describe(s.limited_among_classifiable_not_effective, 'share')} of the "
            f"{s.n_not_effective_classifiable:,} that carry all three education judgements and so can be; "
            f"{describe(s.limited_among_not_effective, 'share')} of all {s.n_not_effective:,}, {unclassifiable:,} of which "
            "cannot be by definition."
        ),
    ]
    # what the data show on the claim (first: the evidence pack's key finding)
    # the headline's denominator is the inspections that CAN be safeguarding-limited (all three education
    # judgements); the other not-effective ones are context; the inadequate count beside it is on the same frame
    findings.insert(0, (
        "On the claim that schools are failed on a safeguarding technicality while their education is good, the data show "
        f"that it happens but rarely: of the {s.n_not_effective_classifiable:,} graded inspections that found safeguarding not "
        "effective and carry all three education judgements (the only ones that can be safeguarding-limited), "
        f"{s.n_limited:,} were inadequate overall or for leadership while every education judgement was good or better "
        f"({describe(s.limited_among_classifiable_not_effective, 'share')})"
        + (f"; the other {unclassifiable:,} of the {s.n_not_effective:,} found not effective have no quality of education, "
           "behaviour and attitudes or personal development grade (inspections before September 2019, or report cards) and "
           "cannot be classified" if unclassifiable else f"; that is every one of the {s.n_not_effective:,} found not effective")
        + (f". In the same frame (every loaded file, each inspection once), safeguarding was not effective in {k_inad_all:,} of "
           f"{n_inad_all:,} inadequate judgements under the education inspection framework (2019-2024) "
           f"({describe(inad_share_all, 'share')})" if n_inad_all else "")
        + ". Whether a finding was a 'technicality' the files cannot test: they hold the judgement, not its reasons."
    ))
    if tr.height:
        peak = tr.filter(pl.col("n_graded") >= 100).sort(["not_effective_rate", "academic_year"], descending=[True, False])
        if peak.height:
            p = peak.row(0, named=True)
            findings.append(
                f"The highest yearly rate of safeguarding not effective (years with at least 100 graded "
                f"inspections) was {pct(p['not_effective_rate'])} in {p['academic_year']} "
                f"({p['n_not_effective']:,} of {p['n_graded']:,})."
            )
    caveats = [
        (
            "The data see only the inspections the school-level files carry: for each school its latest "
            "graded inspection and the one before it ('previous' block), plus the ratings history, which has "
            "no safeguarding judgement. "
            f"Of the {vis.get('events', 0):,} graded inspections with a safeguarding judgement, "
            f"{vis.get('graded', 0):,} are in the latest graded block of {snap_text} and {vis.get('previous', 0):,} in its "
            f"previous block ({vis.get('neither', 0):,} in neither: in other files only). Earlier inspections of a school, and inspections of schools that have since "
            "closed, are missing, so counts under-state the national totals, and the yearly trend is "
            "tilted towards recent years."
        ),
        (
            "A school inspected again soon after a safeguarding-not-effective judgement (as schools in a "
            "category of concern are) pushes that judgement into the 'previous' block and then out of the "
            "file: such events are more likely to be missing than others."
        ),
        (
            f"{unclassifiable:,} safeguarding-not-effective inspections lack one of the three education "
            "judgements (before September 2019, or report cards) and cannot be classified as "
            "safeguarding-limited; they are counted as not safeguarding-limited."
        ),
        (
            "Report cards (from November 2025) record safeguarding standards Met / Not met; 'Not met' counts "
            "as not effective, but report cards have no overall or leadership grade on the four-point scale, "
            "so none can be safeguarding-limited by this definition."
        ),
        "The judgements say what inspectors concluded, not whether pupils were safe: this audit cannot "
        "check the finding itself.",
    ]
    small = [f"academic year {r['academic_year']} (n = {r['n_graded']})" for r in tr.filter(pl.col("n_graded") < 100).iter_rows(named=True)]
    sg_frames = {
        "main": Frame(
            unit="a graded inspection (or report card) with a safeguarding judgement",
            snapshot=f"{snap_text}; inspections started by {ctx.as_at.isoformat()}",
            sample="shown by block of that file: the latest graded inspection of each open school, and the one before it. "
                   "Which inspections survive into each block depends on their outcome (a school found wanting is re-inspected "
                   "soon), and the ratings history carries no safeguarding judgement, so earlier inspections are missing",
            denominator="inspections of the era in that block with a safeguarding judgement; for the inadequate share, inadequate "
                        "overall judgements of the era with a safeguarding judgement (in the snapshot file, or in every loaded file where "
                        "the finding says so); for the safeguarding-limited share, the safeguarding-not-effective inspections with all "
                        "three education judgements (every loaded file, each inspection once), the only ones that can be safeguarding-limited",
        ),
    }
    return AuditResult(
        name=NAME,
        title="Safeguarding and otherwise-good schools",
        question=(
            "How often was safeguarding judged not effective, and how many of those schools were otherwise "
            "good in quality of education and the other key judgements?"
        ),
        claim="Schools are failed on a safeguarding technicality while their education is good.",
        method=(
            sg_frames["main"].text() + " "
            "Graded inspections (and report cards) started by the as-at date, with a safeguarding judgement "
            "recorded (Yes / No, or Met / Not met). Safeguarding is 'not effective' when 'Safeguarding is "
            "effective?' is No or the report card's safeguarding standards are Not met. "
            + DEFINITION
            + " Rates use Wilson score 95% intervals; the trend groups inspections by the academic year "
            "(September to August) of their start date."
        ),
        figures=figures,
        tables={"main": tr, "by_block": blocks, "events": events},
        frames=sg_frames,
        chart=_chart(tr, s),
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={"as_at": ctx.as_at.isoformat(), "definition": DEFINITION, "good_or_better_codes": list(GOOD_OR_BETTER)},
        small_n=small,
    )
