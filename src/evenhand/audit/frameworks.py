"""Frameworks audit: the intake and consistency measures side by side for each framework era.

Claim tested (DESIGN section 1): each new framework fixes the last one's problems (fairer to
schools serving deprived intakes, more consistent, fewer safeguarding-led failures). For
every era in maps/eras.csv where the data hold graded inspections: n; the share good or
better in IDACI quintile 5 (most deprived) and quintile 1 (least deprived) and their
difference (Newcombe interval); stability and cliff-edge rate of the transitions INTO that
era; the safeguarding-not-effective rate. Simple, directly computed measures: the intake
audit's models are not used here.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from evenhand import maps
from evenhand.audit import charts, frames
from evenhand.audit.consistency import CODES, stability, transitions
from evenhand.audit.result import AuditContext, AuditResult, Figure, Frame, pct
from evenhand.audit.safeguarding import flag_events, graded_events
from evenhand.stats.intervals import newcombe_difference, wilson

NAME = "frameworks"
SMALL_N = 100
GOOD = ("1", "2")

#: The grade used for "good or better" in each era: the overall grade where there is one,
#: quality of education where the overall grade was withdrawn (September 2024).
#: Report cards have no four-point grade at all: no "good or better" share for them.
MEASURE_AREA: dict[str, str | None] = {"eif_2024": "quality_of_education", "report_card_2025": None}


def _measure_label(era: str) -> str:
    if era in MEASURE_AREA:
        area = MEASURE_AREA[era]
        return area.replace("_", " ") if area else "none (no four-point grade)"
    return "overall effectiveness"


def era_order() -> list[str]:
    return [e.era for e in sorted(maps.eras(), key=lambda e: e.valid_from)]


def _share(k: int, n: int) -> dict[str, Any]:
    e = wilson(k, n)
    return {"k": k, "n": n, "share": e.value, "low": e.low, "high": e.high}


def era_table(events: pl.DataFrame, tr: pl.DataFrame, eras: list[str] | None = None) -> pl.DataFrame:
    """One row per era holding graded (or report-card) events. Pure: ``events`` is the
    graded-events frame (evenhand.audit.safeguarding.graded_events), ``tr`` the transitions."""
    eras = eras or era_order()
    flagged = flag_events(events)
    st = stability(tr)
    st_by = {r["to_era"]: r for r in st.iter_rows(named=True)}
    rows: list[dict[str, Any]] = []
    for era in eras:
        ev = flagged.filter(pl.col("era") == era)
        if ev.height == 0:
            continue
        area = MEASURE_AREA.get(era, "overall_effectiveness")
        graded = ev.filter(pl.col(area).is_in(CODES)) if area else ev.clear()
        area = area or "overall_effectiveness"
        q = {
            k: graded.filter(pl.col("idaci_quintile").cast(pl.Int64) == k)
            for k in (1, 5)
        }
        k5, n5 = int(q[5][area].is_in(GOOD).sum()), q[5].height
        k1, n1 = int(q[1][area].is_in(GOOD).sum()), q[1].height
        gap = newcombe_difference(k5, n5, k1, n1)
        gob = _share(int(graded[area].is_in(GOOD).sum()), graded.height)
        s5, s1 = wilson(k5, n5), wilson(k1, n1)
        rec = ev.filter(pl.col("safeguarding_recorded"))
        sg = _share(int(rec["safeguarding_not_effective"].sum()), rec.height)
        t = st_by.get(era)
        t_n = int(t["n"]) if t else 0
        stab = wilson(int(t["unchanged"]), t_n) if t else wilson(0, 0)
        cliff = wilson(int(t["cliff_edge"]), t_n) if t else wilson(0, 0)
        rows.append({
            "era": era,
            "n_events": ev.height,
            "measure": _measure_label(era),
            "n_graded_measure": graded.height,
            "good_or_better": gob["share"], "good_or_better_low": gob["low"], "good_or_better_high": gob["high"],
            "k_q1": k1, "n_q1": n1, "good_or_better_q1": s1.value, "q1_low": s1.low, "q1_high": s1.high,
            "k_q5": k5, "n_q5": n5, "good_or_better_q5": s5.value, "q5_low": s5.low, "q5_high": s5.high,
            "gap_q5_minus_q1": gap.value, "gap_low": gap.low, "gap_high": gap.high,
            "n_transitions": t_n, "unchanged": int(t["unchanged"]) if t else 0, "cliff_edges": int(t["cliff_edge"]) if t else 0,
            "stability": stab.value, "stability_low": stab.low, "stability_high": stab.high,
            "cliff_edge_rate": cliff.value, "cliff_edge_low": cliff.low, "cliff_edge_high": cliff.high,
            "n_safeguarding_recorded": sg["n"], "n_safeguarding_not_effective": sg["k"],
            "safeguarding_not_effective_rate": sg["share"], "safeguarding_low": sg["low"], "safeguarding_high": sg["high"],
            "small_n": ev.height < SMALL_N,
        })
    schema = {
        "era": pl.Utf8, "n_events": pl.Int64, "measure": pl.Utf8, "n_graded_measure": pl.Int64,
        "good_or_better": pl.Float64, "good_or_better_low": pl.Float64, "good_or_better_high": pl.Float64,
        "k_q1": pl.Int64, "n_q1": pl.Int64, "good_or_better_q1": pl.Float64, "q1_low": pl.Float64, "q1_high": pl.Float64,
        "k_q5": pl.Int64, "n_q5": pl.Int64, "good_or_better_q5": pl.Float64, "q5_low": pl.Float64, "q5_high": pl.Float64,
        "gap_q5_minus_q1": pl.Float64, "gap_low": pl.Float64, "gap_high": pl.Float64,
        "n_transitions": pl.Int64, "unchanged": pl.Int64, "cliff_edges": pl.Int64, "stability": pl.Float64, "stability_low": pl.Float64, "stability_high": pl.Float64,
        "cliff_edge_rate": pl.Float64, "cliff_edge_low": pl.Float64, "cliff_edge_high": pl.Float64,
        "n_safeguarding_recorded": pl.Int64, "n_safeguarding_not_effective": pl.Int64,
        "safeguarding_not_effective_rate": pl.Float64, "safeguarding_low": pl.Float64, "safeguarding_high": pl.Float64,
        "small_n": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col(pl.Float64).fill_nan(None))


LIKE_FOR_LIKE_YEARS = 2


def like_for_like(events: pl.DataFrame, blocks: pl.DataFrame, eras: list[str] | None = None) -> pl.DataFrame:
    """Each era seen the same way: its inspections in the LATEST block of the first national
    snapshot taken after the era ended (the newest, for an era still running), so that every
    era is a census of schools' current judgements about a year after it ended, not a pool of
    latest and previous blocks selected on outcome. ``events`` is the graded-events frame,
    ``blocks`` evenhand.audit.frames.snapshot_blocks. Pure."""
    eras = eras or era_order()
    ends = {e.era: e.valid_to for e in maps.eras()}
    flagged = flag_events(events)
    snaps = sorted(set(blocks["snapshot_as_at"].to_list())) if blocks.height else []
    rows: list[dict[str, Any]] = []
    for era in eras:
        end = ends.get(era)
        after = [d for d in snaps if end is not None and d > end]
        snap = after[0] if after else (snaps[-1] if snaps else None)
        # only a file taken within LIKE_FOR_LIKE_YEARS of the era's end sees it as its current judgements;
        # a much later file holds only the schools not re-inspected since (mostly exempt outstanding schools)
        if snap is None or (end is not None and snap > end and (snap - end).days > LIKE_FOR_LIKE_YEARS * 365.25):
            continue
        ids = blocks.filter((pl.col("snapshot_as_at") == snap) & (pl.col("snapshot_block") == frames.LATEST)).select("event_id")
        ev = flagged.filter(pl.col("era") == era).join(ids, on="event_id")
        if ev.height == 0:
            continue
        area = MEASURE_AREA.get(era, "overall_effectiveness") or "overall_effectiveness"
        graded = ev.filter(pl.col(area).is_in(CODES))
        rec = ev.filter(pl.col("safeguarding_recorded"))
        g, sg = wilson(int(graded[area].is_in(GOOD).sum()), graded.height), wilson(int(rec["safeguarding_not_effective"].sum()), rec.height)
        rows.append({"era": era, "snapshot_as_at": snap, "years_after_era_end": (snap - end).days / 365.25 if end else None,
                     "n": ev.height, "n_graded_measure": graded.height, "good_or_better": g.value, "good_or_better_low": g.low,
                     "good_or_better_high": g.high, "n_safeguarding_recorded": rec.height,
                     "safeguarding_not_effective": int(rec["safeguarding_not_effective"].sum()),
                     "safeguarding_not_effective_rate": sg.value, "safeguarding_low": sg.low, "safeguarding_high": sg.high})
    schema = {"era": pl.String, "snapshot_as_at": pl.Date, "years_after_era_end": pl.Float64, "n": pl.Int64, "n_graded_measure": pl.Int64,
              "good_or_better": pl.Float64, "good_or_better_low": pl.Float64, "good_or_better_high": pl.Float64,
              "n_safeguarding_recorded": pl.Int64, "safeguarding_not_effective": pl.Int64, "safeguarding_not_effective_rate": pl.Float64,
              "safeguarding_low": pl.Float64, "safeguarding_high": pl.Float64}
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.col(pl.Float64).fill_nan(None))


def small_n_notes(table: pl.DataFrame) -> list[str]:
    """Every era, and every measure within an era, resting on fewer than SMALL_N observations."""
    out: list[str] = []
    names = {e.era: e.label for e in maps.eras()}
    for r in table.iter_rows(named=True):
        era = names.get(r["era"], r["era"])
        if r["small_n"]:
            out.append(f"{era}: {r['n_events']} graded inspections")
            continue
        for label, n in (
            ("IDACI quintile 1", r["n_q1"]), ("IDACI quintile 5", r["n_q5"]),
            ("transitions into the era", r["n_transitions"]), ("safeguarding judgements", r["n_safeguarding_recorded"]),
        ):
            if 0 < n < SMALL_N:
                out.append(f"{era}: {label} (n = {n})")
    return out


def _chart(table: pl.DataFrame) -> dict[str, Any] | None:
    """Two charts, one measure per axis: the deprivation gap in percentage points, and the
    shares (same grade, two or more grades worse, safeguarding not effective), by era label."""
    labels = {e.era: e.label for e in maps.eras()}
    parts = []
    for label, v, lo, hi, n_expr in (
        ("Good or better: gap, quintile 5 minus quintile 1", "gap_q5_minus_q1", "gap_low", "gap_high",
         pl.min_horizontal("n_q1", "n_q5")),
        ("Same grade as the previous inspection", "stability", "stability_low", "stability_high", pl.col("n_transitions")),
        ("Two or more grades worse", "cliff_edge_rate", "cliff_edge_low", "cliff_edge_high", pl.col("n_transitions")),
        ("Safeguarding not effective", "safeguarding_not_effective_rate", "safeguarding_low", "safeguarding_high",
         pl.col("n_safeguarding_recorded")),
    ):
        # measures resting on fewer than SMALL_N observations stay in the table, not the chart
        parts.append(table.filter(n_expr >= SMALL_N).select(
            pl.col("era").replace_strict(labels, default=pl.col("era")).alias("era"), pl.lit(label).alias("measure"),
            pl.col(v).alias("value"), pl.col(lo).alias("low"), pl.col(hi).alias("high")))
    long = pl.concat(parts).drop_nulls("value")
    if long.height == 0:
        return None
    n = int(table["n_events"].sum())
    order = [labels.get(e, e) for e in table["era"].to_list()]
    gap = long.filter(pl.col("measure").str.starts_with("Good or better")).with_columns(
        pl.col("value", "low", "high") * 100)
    shares = long.filter(~pl.col("measure").str.starts_with("Good or better"))
    charts_: list[Any] = []
    if gap.height:
        charts_.append(charts.bar_with_intervals(
            gap, "era", "value", "low", "high",
            title="Gap in the share good or better: most deprived fifth minus least deprived",
            subtitle=["Percentage points; below zero: the most deprived schools were judged good or better", "less often than the least deprived; Newcombe intervals"],
            x_title="Framework", y_title="Percentage points", x_order=[e for e in order if e in set(gap["era"].to_list())],
            y_format=".0f", horizontal=True, theme=False,
        ))
    if shares.height:
        charts_.append(charts.bar_with_intervals(
            shares, "era", "value", "low", "high", "measure",
            title="Consistency and safeguarding: shares of graded inspections",
            subtitle="Wilson intervals", x_title="Framework", y_title="Share", color_title="Measure",
            x_order=[e for e in order if e in set(shares["era"].to_list())], y_format=".0%", horizontal=True, theme=False,
        ))
    chart = charts.stack(
        *charts_,
        title="Intake and consistency measures by inspection framework",
        subtitle=[f"Graded inspections by framework (n = {n:,}); whiskers are 95% intervals;",
                  f"measures on fewer than {SMALL_N} observations are not drawn"],
    )
    return charts.chart_spec(chart)


def run(ctx: AuditContext) -> AuditResult:
    events = graded_events(ctx)
    tr = transitions(ctx)
    table = era_table(events, tr)
    figures: list[Figure] = []
    findings: list[str] = []
    era_names = {e.era: e.label for e in maps.eras()}
    for r in table.iter_rows(named=True):
        era = r["era"]
        name = era_names.get(era, era)
        gap = newcombe_difference(r["k_q5"], r["n_q5"], r["k_q1"], r["n_q1"])
        if r["n_q1"] and r["n_q5"]:
            figures.append(Figure(f"{era}_gap_q5_q1", f"{name}: good or better, IDACI quintile 5 minus quintile 1 ({r['measure']})", gap, "percentage points"))
        if r["n_transitions"]:
            figures.append(Figure(f"{era}_stability", f"{name}: same overall grade as the previous graded inspection",
                                  wilson(r["unchanged"], r["n_transitions"]), "share"))
            figures.append(Figure(f"{era}_cliff_edge_rate", f"{name}: two or more grades worse than the previous graded inspection",
                                  wilson(r["cliff_edges"], r["n_transitions"]), "share"))
        if r["n_safeguarding_recorded"]:
            figures.append(Figure(f"{era}_safeguarding_not_effective", f"{name}: safeguarding not effective",
                                  wilson(r["n_safeguarding_not_effective"], r["n_safeguarding_recorded"]), "share"))
    with_gap = table.filter(pl.col("gap_q5_minus_q1").is_not_null() & ~pl.col("small_n"))
    if with_gap.height:
        parts = [
            f"{era_names.get(r['era'], r['era'])} {'+' if r['gap_q5_minus_q1'] >= 0 else '-'}{abs(100 * r['gap_q5_minus_q1']):.1f} points "
            f"(95% CI {100 * r['gap_low']:.1f} to {100 * r['gap_high']:.1f}; n = {r['n_q1'] + r['n_q5']:,})"
            for r in with_gap.iter_rows(named=True)
        ]
        findings.append(
            "Share good or better in the most deprived fifth of schools minus the least deprived fifth, by era: "
            + "; ".join(parts) + "."
        )
    with_stab = table.filter(pl.col("stability").is_not_null() & (pl.col("n_transitions") >= SMALL_N))
    if with_stab.height:
        findings.append(
            "Share of schools keeping the same overall grade as at their previous graded inspection, by era of the "
            "later inspection: "
            + "; ".join(f"{era_names.get(r['era'], r['era'])} {pct(r['stability'])} (n = {r['n_transitions']:,})" for r in with_stab.iter_rows(named=True))
            + "."
        )
    lfl = like_for_like(events, frames.snapshot_blocks(ctx))
    for r in lfl.iter_rows(named=True):
        if r["n_safeguarding_recorded"]:
            figures.append(Figure(f"{r['era']}_safeguarding_not_effective_latest_block",
                                  f"{r['era']}: safeguarding not effective, latest block of the national file as at {r['snapshot_as_at']}",
                                  wilson(r["safeguarding_not_effective"], r["n_safeguarding_recorded"]), "share"))
    if lfl.height:
        findings.insert(0,
            "Like against like, each era's inspections that were still schools' latest graded inspection about a year after the "
            "era ended: " + "; ".join(
                f"{r['era']} (file as at {r['snapshot_as_at']}): good or better {pct(r['good_or_better'])} (n = {r['n_graded_measure']:,})"
                + (f", safeguarding not effective {pct(r['safeguarding_not_effective_rate'], 2)} (n = {r['n_safeguarding_recorded']:,})"
                   if r["n_safeguarding_recorded"] else "")
                for r in lfl.iter_rows(named=True))
            + ". The per-era figures below pool the latest and previous blocks of different files, whose selection differs by era; "
            "they are not like for like. Neither view isolates the framework from who was inspected (risk-targeted inspection, "
            "the 2012-2020 exemption of outstanding schools), so the data cannot test whether a framework 'fixed' the last one's problems.")
    small = small_n_notes(table)
    missing = [e for e in era_order() if e not in set(table["era"].to_list())]
    caveats = [
        (
            "The data hold, for each school, its latest and previous graded inspections (school-level file) and "
            "the ratings history (2005-2020, overall grade only): earlier eras are seen only through schools "
            "still open and only for the judgements the history carries, so IDACI and safeguarding measures "
            "are missing or thin before 2015."
        ),
        (
            "IDACI quintile is the school's in the latest school-level file, applied to inspections of every "
            "era: a school's intake may have changed since an early inspection."
        ),
        (
            "Graded inspections from September 2024 have no overall grade: for eif_2024 'good or better' is "
            "quality of education, and stability and cliff edges cannot be computed for transitions into it."
        ),
        (
            "Differences between eras mix the framework with who was inspected: outstanding schools were exempt "
            "from routine inspection from 2012 to 2020, and good schools mostly had short inspections, so the "
            "schools receiving a graded inspection differ from era to era."
        ),
        "Stability and cliff-edge rates compare only pairs whose grades mean the same on both dates "
        "(docs/decisions/0400-transitions.md).",
    ]
    if missing:
        caveats.append("No graded inspections in the data for: " + ", ".join(missing) + ".")
    if small:
        caveats.append(f"Fewer than {SMALL_N} observations, shown but not to be read: " + "; ".join(small) + ".")
    fw_frames = {
        "like_for_like": Frame(
            unit="a graded inspection that is a school's latest in a national file",
            snapshot="for each era, the first national school-level file taken after it ended: "
                     + ", ".join(f"{r['era']} {r['snapshot_as_at']}" for r in lfl.iter_rows(named=True)),
            sample="the latest graded block of that file (every open school's current judgement), never pooled with the previous block",
            denominator="inspections of the era in that block with the measure recorded",
        ),
        "by_era": Frame(
            unit="a graded inspection (or a pair of consecutive ones, for stability)",
            snapshot=f"every file loaded, inspections started by {ctx.as_at.isoformat()}",
            sample="latest and previous blocks of the national files and the 2005-2020 history, pooled by era: selected differently "
                   "in each era (outcome-selected blocks, a survivor-only history, risk-targeted inspection)",
            denominator="inspections of the era with the measure recorded",
        ),
    }
    return AuditResult(
        name=NAME,
        title="Frameworks compared",
        question=(
            "Did each inspection framework change how judgements relate to intake, how stable they are, and how "
            "often safeguarding was found not effective?"
        ),
        claim="Each new framework fixes the problems of the last.",
        method=(
            "For every framework era in maps/eras.csv with graded inspections (or report cards) started by the "
            "as-at date: the number of inspections; the share graded good or outstanding (overall effectiveness; "
            "quality of education for eif_2024, which has no overall grade) among schools in IDACI quintile 5 "
            "(most deprived) and quintile 1 (least deprived), with Wilson intervals, and their difference with "
            "Newcombe's hybrid score interval; the stability (same grade) and cliff-edge rate (two or more grades "
            "worse) of comparable consecutive graded inspections whose later inspection is in the era, with "
            "Wilson intervals; and the share of inspections with a safeguarding judgement where safeguarding "
            "was not effective (or Not met). Measures are computed directly, without models. Eras with fewer "
            f"than {SMALL_N} inspections are flagged as small. Like for like: each era's inspections in the latest graded block "
            "of the first national school-level file taken after the era ended (the newest for the current era). "
            + " ".join(f.text() for f in fw_frames.values())
        ),
        figures=figures,
        tables={"main": table, "like_for_like": lfl},
        frames=fw_frames,
        chart=_chart(table),
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={"as_at": ctx.as_at.isoformat(), "small_n_threshold": SMALL_N, "measure_area": MEASURE_AREA},
        small_n=small,
    )
