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

import itertools
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
#: The kinds of school compared like against like (phase as the snapshot's own file gives it).
#: The headline is mainstream schools: the mix of nursery, special and PRU schools differs between
#: files, and their grades differ; the phases are also shown apart.
KINDS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("primary and secondary", ("Primary", "Secondary")),
    ("primary", ("Primary",)),
    ("secondary", ("Secondary",)),
    ("all schools", None),
)
HEADLINE_KIND = KINDS[0][0]

_LFL_SCHEMA: dict[str, Any] = {
    "era": pl.String, "kind": pl.String, "snapshot_as_at": pl.Date, "years_after_era_end": pl.Float64,
    "n_events": pl.Int64, "n": pl.Int64, "n_graded_measure": pl.Int64, "measure": pl.String,
    "good_or_better": pl.Float64, "good_or_better_low": pl.Float64, "good_or_better_high": pl.Float64,
    "k_q1": pl.Int64, "n_q1": pl.Int64, "good_or_better_q1": pl.Float64, "k_q5": pl.Int64, "n_q5": pl.Int64,
    "good_or_better_q5": pl.Float64, "gap_q5_minus_q1": pl.Float64, "gap_low": pl.Float64, "gap_high": pl.Float64,
    "n_pairs_in_file": pl.Int64, "n_transitions": pl.Int64, "unchanged": pl.Int64, "cliff_edges": pl.Int64,
    "stability": pl.Float64, "stability_low": pl.Float64, "stability_high": pl.Float64,
    "cliff_edge_rate": pl.Float64, "cliff_edge_low": pl.Float64, "cliff_edge_high": pl.Float64,
    "n_safeguarding_recorded": pl.Int64, "safeguarding_not_effective": pl.Int64,
    "safeguarding_not_effective_rate": pl.Float64, "safeguarding_low": pl.Float64, "safeguarding_high": pl.Float64,
    "small_n": pl.Boolean,
}


def like_for_like_snapshot(era: str, snaps: list[Any]) -> Any:
    """The snapshot that sees ``era`` as schools' current judgements: the first national file taken
    after the era ended (the newest, for an era still running), if within LIKE_FOR_LIKE_YEARS."""
    end = {e.era: e.valid_to for e in maps.eras()}.get(era)
    after = [d for d in snaps if end is not None and d > end]
    snap = after[0] if after else (snaps[-1] if snaps else None)
    # a much later file holds only the schools not re-inspected since (mostly exempt outstanding schools)
    if snap is None or (end is not None and snap > end and (snap - end).days > LIKE_FOR_LIKE_YEARS * 365.25):
        return None
    return snap


def like_for_like(events: pl.DataFrame, rows: pl.DataFrame, tr: pl.DataFrame | None = None,
                  eras: list[str] | None = None) -> pl.DataFrame:
    """Each era seen the same way, every measure on the same rows: its inspections in the LATEST
    graded block of the first national snapshot taken after the era ended (:func:`like_for_like_snapshot`),
    so that every era is a census of schools' current judgements about a year after it ended, not a
    pool of latest and previous blocks selected on outcome; per kind of school (:data:`KINDS`, phase
    from that file). The deprivation gap uses the IDACI quintile that file gives the school (same
    measure, same time); stability and cliff edges use the pair that file holds for the school (its
    previous graded block against its latest), matched to the transitions' comparability rule.

    ``events``: the graded-events frame; ``rows``: evenhand.audit.frames.snapshot_rows (columns
    snapshot_as_at, event_id, snapshot_block; file_id, row_number, phase, idaci_quintile where
    known: without them the events' own columns are used and no pairs are formed); ``tr``: the
    transitions (from_event_id, to_event_id, comparable, from/to code and scale, change, cliff_edge). Pure."""
    eras = eras or era_order()
    flagged = flag_events(events)
    snaps = sorted(set(rows["snapshot_as_at"].to_list())) if rows.height else []
    ends = {e.era: e.valid_to for e in maps.eras()}
    have_rows = all(c in rows.columns for c in ("file_id", "row_number"))
    attrs = [c for c in ("phase", "idaci_quintile") if c in rows.columns]
    comp = _comparable_pairs(tr) if tr is not None and tr.height else None
    out: list[dict[str, Any]] = []
    for era in eras:
        snap = like_for_like_snapshot(era, snaps)
        if snap is None:
            continue
        at = rows.filter(pl.col("snapshot_as_at") == snap)
        latest = at.filter(pl.col("snapshot_block") == frames.LATEST)
        keep = ["event_id", *attrs, *(["file_id", "row_number"] if have_rows else [])]
        ev = flagged.filter(pl.col("era") == era).drop(attrs).join(latest.select(keep), on="event_id")
        if ev.height == 0:
            continue
        pairs = None
        if have_rows:
            prev = at.filter(pl.col("snapshot_block") == frames.PREVIOUS).select(
                "file_id", "row_number", pl.col("event_id").alias("from_event_id"))
            pairs = ev.select("file_id", "row_number", pl.col("event_id").alias("to_event_id"), *attrs).join(
                prev, on=["file_id", "row_number"])
        area = MEASURE_AREA.get(era, "overall_effectiveness")
        for kind, phases in KINDS:
            sub = ev if phases is None else ev.filter(pl.col("phase").is_in(list(phases)))
            if sub.height == 0:
                continue
            r = _measures(sub, area)
            psub = None if pairs is None else (pairs if phases is None else pairs.filter(pl.col("phase").is_in(list(phases))))
            n_pairs = 0 if psub is None else psub.height
            matched = (psub.join(comp, on=["from_event_id", "to_event_id"]) if psub is not None and comp is not None
                       else None)
            n_tr = 0 if matched is None else matched.height
            unchanged = 0 if matched is None else int((matched["change"] == 0).sum())
            cliffs = 0 if matched is None else int(matched["cliff_edge"].sum())
            stab, cliff = wilson(unchanged, n_tr), wilson(cliffs, n_tr)
            end = ends.get(era)
            out.append({
                "era": era, "kind": kind, "snapshot_as_at": snap,
                "years_after_era_end": (snap - end).days / 365.25 if end else None,
                "n_events": sub.height, **r,
                "n_pairs_in_file": n_pairs, "n_transitions": n_tr, "unchanged": unchanged, "cliff_edges": cliffs,
                "stability": stab.value, "stability_low": stab.low, "stability_high": stab.high,
                "cliff_edge_rate": cliff.value, "cliff_edge_low": cliff.low, "cliff_edge_high": cliff.high,
                "small_n": sub.height < SMALL_N,
            })
    return pl.DataFrame(out, schema=_LFL_SCHEMA, orient="row").with_columns(pl.col(pl.Float64).fill_nan(None))


def _comparable_pairs(tr: pl.DataFrame) -> pl.DataFrame:
    from evenhand.audit.consistency import _comparable, with_cliff_edge

    return _comparable(with_cliff_edge(tr)).select("from_event_id", "to_event_id", "change", "cliff_edge").unique(
        ["from_event_id", "to_event_id"])


def _measures(ev: pl.DataFrame, area: str | None) -> dict[str, Any]:
    """n, good or better (with Wilson), IDACI q5 and q1 shares and their Newcombe gap, and the
    safeguarding-not-effective share of one set of inspections."""
    graded = ev.filter(pl.col(area).is_in(CODES)) if area else ev.clear()
    col = area or "overall_effectiveness"
    g = wilson(int(graded[col].is_in(GOOD).sum()), graded.height)
    q = {k: graded.filter(pl.col("idaci_quintile").cast(pl.Int64) == k) for k in (1, 5)}
    k5, n5 = int(q[5][col].is_in(GOOD).sum()), q[5].height
    k1, n1 = int(q[1][col].is_in(GOOD).sum()), q[1].height
    gap = newcombe_difference(k5, n5, k1, n1)
    rec = ev.filter(pl.col("safeguarding_recorded"))
    k_sg = int(rec["safeguarding_not_effective"].sum())
    sg = wilson(k_sg, rec.height)
    return {
        "n": ev.height, "n_graded_measure": graded.height, "measure": _measure_label_area(area),
        "good_or_better": g.value, "good_or_better_low": g.low, "good_or_better_high": g.high,
        "k_q1": k1, "n_q1": n1, "good_or_better_q1": k1 / n1 if n1 else None,
        "k_q5": k5, "n_q5": n5, "good_or_better_q5": k5 / n5 if n5 else None,
        "gap_q5_minus_q1": gap.value, "gap_low": gap.low, "gap_high": gap.high,
        "n_safeguarding_recorded": rec.height, "safeguarding_not_effective": k_sg,
        "safeguarding_not_effective_rate": sg.value, "safeguarding_low": sg.low, "safeguarding_high": sg.high,
    }


def _measure_label_area(area: str | None) -> str:
    if area is None:
        return "none (no four-point grade)"
    return "overall effectiveness" if area == "overall_effectiveness" else area.replace("_", " ")


def era_differences(lfl: pl.DataFrame, kind: str = HEADLINE_KIND) -> pl.DataFrame:
    """Each era against the one before it in the like-for-like table, for one kind of school:
    the change in the deprivation gap (percentage points; interval from the two Newcombe
    intervals, treated as independent normal, since the two files' inspections are different
    inspections) and in stability (Newcombe difference of two proportions). A gap measured on
    another grade (quality of education from September 2024, overall effectiveness before) is
    not differenced: ``gap_change`` is null. Pure."""
    t = lfl.filter(pl.col("kind") == kind)
    rows: list[dict[str, Any]] = []
    recs = list(t.iter_rows(named=True))
    for a, b in itertools.pairwise(recs):
        d_gap = lo_gap = hi_gap = None
        same_measure = a.get("measure") == b.get("measure")
        if same_measure and a["gap_q5_minus_q1"] is not None and b["gap_q5_minus_q1"] is not None:
            d_gap = b["gap_q5_minus_q1"] - a["gap_q5_minus_q1"]
            # half-widths of each side of each interval, combined in quadrature (MOVER for a difference)
            lo_gap = d_gap - ((b["gap_q5_minus_q1"] - b["gap_low"]) ** 2 + (a["gap_high"] - a["gap_q5_minus_q1"]) ** 2) ** 0.5
            hi_gap = d_gap + ((b["gap_high"] - b["gap_q5_minus_q1"]) ** 2 + (a["gap_q5_minus_q1"] - a["gap_low"]) ** 2) ** 0.5
        st = newcombe_difference(b["unchanged"], b["n_transitions"], a["unchanged"], a["n_transitions"]) \
            if a["n_transitions"] and b["n_transitions"] else None
        rows.append({
            "kind": kind, "from_era": a["era"], "from_snapshot": a["snapshot_as_at"], "to_era": b["era"],
            "to_snapshot": b["snapshot_as_at"], "gap_change": d_gap, "gap_change_low": lo_gap, "gap_change_high": hi_gap,
            "stability_change": st.value if st else None, "stability_change_low": st.low if st else None,
            "stability_change_high": st.high if st else None,
        })
    schema = {"kind": pl.String, "from_era": pl.String, "from_snapshot": pl.Date, "to_era": pl.String, "to_snapshot": pl.Date,
              "gap_change": pl.Float64, "gap_change_low": pl.Float64, "gap_change_high": pl.Float64,
              "stability_change": pl.Float64, "stability_change_low": pl.Float64, "stability_change_high": pl.Float64}
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
        title="Like against like: each framework in the national file taken a year after it ended",
        subtitle=[f"Primary and secondary schools' latest graded inspections (n = {n:,}); whiskers are 95% intervals;",
                  f"measures on fewer than {SMALL_N} observations are not drawn"],
    )
    return charts.chart_spec(chart)


def _pts(v: float | None) -> str:
    return "n/a" if v is None else f"{'+' if v >= 0 else '-'}{abs(100 * v):.1f}"


def _lfl_sentence(r: dict[str, Any], names: dict[str, str]) -> str:
    parts = [f"{names.get(r['era'], r['era'])} (file as at {r['snapshot_as_at']}; n = {r['n']:,}): good or better "
             f"{pct(r['good_or_better'])} ({r['measure']})"]
    if r["n_q1"] and r["n_q5"]:
        parts.append(f"most minus least deprived fifth {_pts(r['gap_q5_minus_q1'])} points (95% CI {100 * r['gap_low']:.1f} to "
                     f"{100 * r['gap_high']:.1f}; n = {r['n_q1'] + r['n_q5']:,})")
    if r["n_transitions"] >= SMALL_N:
        parts.append(f"same grade as the previous graded inspection the file holds {pct(r['stability'])} "
                     f"({pct(r['stability_low'])} to {pct(r['stability_high'])}; n = {r['n_transitions']:,} pairs)")
    if r["n_safeguarding_recorded"]:
        parts.append(f"safeguarding not effective {pct(r['safeguarding_not_effective_rate'], 2)} (n = {r['n_safeguarding_recorded']:,})")
    return ", ".join(parts)


def run(ctx: AuditContext) -> AuditResult:
    events = graded_events(ctx)
    tr = transitions(ctx)
    table = era_table(events, tr)
    rows = frames.snapshot_rows(ctx)
    lfl = like_for_like(events, rows, tr)
    diffs = era_differences(lfl)
    headline = lfl.filter(pl.col("kind") == HEADLINE_KIND)
    figures: list[Figure] = []
    findings: list[str] = []
    era_names = {e.era: e.label for e in maps.eras()}
    for r in headline.iter_rows(named=True):
        era, name, snap = r["era"], era_names.get(r["era"], r["era"]), r["snapshot_as_at"]
        where = f"latest graded block of the national file as at {snap}, primary and secondary schools"
        if r["n_q1"] and r["n_q5"]:
            figures.append(Figure(f"{era}_gap_q5_q1_like_for_like",
                                  f"{name}: good or better, IDACI quintile 5 minus quintile 1 ({r['measure']}; {where})",
                                  newcombe_difference(r["k_q5"], r["n_q5"], r["k_q1"], r["n_q1"]), "percentage points"))
        if r["n_transitions"]:
            figures.append(Figure(f"{era}_stability_like_for_like",
                                  f"{name}: same overall grade as the previous graded inspection in the same file ({where})",
                                  wilson(r["unchanged"], r["n_transitions"]), "share"))
            figures.append(Figure(f"{era}_cliff_edge_rate_like_for_like",
                                  f"{name}: two or more grades worse than the previous graded inspection in the same file ({where})",
                                  wilson(r["cliff_edges"], r["n_transitions"]), "share"))
    for r in lfl.filter(pl.col("kind") == "all schools").iter_rows(named=True):
        if r["n_safeguarding_recorded"]:
            figures.append(Figure(f"{r['era']}_safeguarding_not_effective_latest_block",
                                  f"{era_names.get(r['era'], r['era'])}: safeguarding not effective, latest block of the national file as at {r['snapshot_as_at']}",
                                  wilson(r["safeguarding_not_effective"], r["n_safeguarding_recorded"]), "share"))
    if headline.height:
        findings.append(
            "Like against like (each framework's inspections that were still primary and secondary schools' latest graded "
            "inspection in the national file taken about a year after it ended; IDACI quintile and phase from that file): "
            + "; ".join(_lfl_sentence(r, era_names) for r in headline.iter_rows(named=True)) + ".")
    verdict = []
    for d in diffs.iter_rows(named=True):
        a, b = era_names.get(d["from_era"], d["from_era"]), era_names.get(d["to_era"], d["to_era"])
        bits = []
        if d["gap_change"] is not None:
            bits.append(f"the deprivation gap changed by {_pts(d['gap_change'])} points (95% CI {100 * d['gap_change_low']:.1f} to "
                        f"{100 * d['gap_change_high']:.1f})")
        if d["stability_change"] is not None:
            bits.append(f"the share keeping the same grade by {_pts(d['stability_change'])} points (95% CI "
                        f"{100 * d['stability_change_low']:.1f} to {100 * d['stability_change_high']:.1f})")
        if bits:
            verdict.append(f"{b} ({d['to_snapshot']} file) against {a} ({d['from_snapshot']} file): " + " and ".join(bits))
    findings.append(
        ("; ".join(verdict) + ". " if verdict else "")
        + "What the data say about the claim that each framework fixed the last one's problems: they cannot test it. "
        "These are changes between like-selected sets of inspections, not effects of a framework: who was inspected "
        "differs (risk-targeted inspection, outstanding schools exempt from 2012 to 2020, short inspections of good schools), "
        "and the grade scale and what is judged changed with each framework.")
    with_gap = table.filter(pl.col("gap_q5_minus_q1").is_not_null() & ~pl.col("small_n"))
    if with_gap.height:
        findings.append(
            "Not like for like (pooled per era over the latest and previous blocks of every file and the 2005-2020 history, "
            "selected differently in each era; shown for reference only): most minus least deprived fifth "
            + "; ".join(f"{era_names.get(r['era'], r['era'])} {_pts(r['gap_q5_minus_q1'])} points (n = {r['n_q1'] + r['n_q5']:,})"
                        for r in with_gap.iter_rows(named=True))
            + "; same grade as the previous graded inspection "
            + "; ".join(f"{era_names.get(r['era'], r['era'])} {pct(r['stability'])} (n = {r['n_transitions']:,})"
                        for r in table.filter(pl.col("stability").is_not_null() & (pl.col("n_transitions") >= SMALL_N)).iter_rows(named=True))
            + ".")
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
            "Like for like, the IDACI quintile and phase are those of the file the inspection is read from (2020 or 2025). "
            "In the pooled table (not like for like) they are the school's in the latest school-level file, applied to "
            "inspections of every era: a school's intake may have changed since an early inspection."
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
        "(docs/decisions/0400-transitions.md). Like for like, the pair is the one the file holds (its previous graded "
        "block against its latest); a pair the transitions do not hold as consecutive (another graded inspection between "
        "them in the history) is left out and counted (n_pairs_in_file against n_transitions).",
        "Eras before 2015 and the report cards have no national file taken within "
        f"{LIKE_FOR_LIKE_YEARS} years of their end in the data, so they have no like-for-like row: they appear only in "
        "the pooled table, which is not like for like.",
    ]
    if missing:
        caveats.append("No graded inspections in the data for: " + ", ".join(missing) + ".")
    if small:
        caveats.append(f"Fewer than {SMALL_N} observations, shown but not to be read: " + "; ".join(small) + ".")
    fw_frames = {
        "like_for_like": Frame(
            unit="a graded inspection that is a school's latest in a national file (for stability: that inspection and the "
                 "previous graded inspection the same file holds for the school)",
            snapshot="for each era, the first national school-level file taken after it ended: "
                     + ", ".join(f"{r['era']} {r['snapshot_as_at']}" for r in headline.iter_rows(named=True)),
            sample="the latest graded block of that file (every open school's current judgement), never pooled with the previous "
                   "block; headline: primary and secondary schools as that file gives their phase (each phase and all schools "
                   "shown apart); IDACI quintile from the same file",
            denominator="inspections of the era in that block with the measure recorded; for stability, their pairs with "
                        "comparable grades",
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
            f"than {SMALL_N} inspections are flagged as small. Like for like (the headline): each era's inspections in the latest graded block "
            "of the first national school-level file taken after the era ended (the newest for the current era), within "
            f"{LIKE_FOR_LIKE_YEARS} years of its end, by phase as that file gives it (primary and secondary together, each apart, "
            "all schools), with that file's IDACI quintile; stability from the pair of graded inspections the same file holds "
            "for each school; the change between consecutive eras with the deprivation gap's interval combined from the two "
            "Newcombe intervals (MOVER) and stability's by Newcombe. The pooled per-era table is kept for reference only. "
            + " ".join(f.text() for f in fw_frames.values())
        ),
        figures=figures,
        tables={"main": lfl, "differences": diffs, "pooled_by_era": table},
        frames=fw_frames,
        chart=_chart(headline),
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={"as_at": ctx.as_at.isoformat(), "small_n_threshold": SMALL_N, "measure_area": MEASURE_AREA},
        small_n=small,
    )
