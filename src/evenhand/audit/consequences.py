"""Consequences: what followed an inadequate graded judgement.

For every graded inspection with overall effectiveness 'Inadequate' (code 4 on the four-point
scale) that started on or before the as-at date:

- a new URN: the URN has a successor in out.lineage_links (the chained one-to-one successor
  first, else any direct link: merge, amalgamation, ...); an academy successor (by its school
  type, maps/school_type_groups.csv) is the usual route after an academy order;
- closure: the URN is not open at the as-at date (absent from the newest school-level file
  covering its local authority, as out.latest_as_at defines open) and has no successor;
- the next graded (or report-card) inspection within the lineage (out.event_lineage: the same
  school across one-to-one URN changes), its overall effectiveness and the days between the
  two start dates. Schools not re-inspected by the as-at date are censored: the median time is
  among those re-inspected, and the share not yet re-inspected is reported beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import polars as pl

from evenhand import maps
from evenhand.audit import charts
from evenhand.audit.result import AuditContext, AuditResult, Figure, Frame, describe, pct
from evenhand.audit.timing import ORDER_STAT, median_interval
from evenhand.derive.as_at import latest_as_at
from evenhand.stats.competing import BOOTSTRAP_METHOD, cumulative_incidence
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import wilson

NAME = "consequences"
SMALL_N = 30
FOLLOWED = (
    "Re-inspected under the same URN",
    "New URN (academy), then re-inspected",
    "New URN (other or unknown type), then re-inspected",
    "New URN (academy), not yet re-inspected",
    "New URN (other or unknown type), not yet re-inspected",
    "Closed: no successor, absent from the newest school-level file",
    "Not yet re-inspected, open under the same URN",
)


def _open_urns(ctx: AuditContext) -> set[int]:
    if ctx.has_table("out.latest_as_at") and ctx.frame("SELECT count(*) AS n FROM out.latest_as_at WHERE as_at = ?", [ctx.as_at])["n"].item() > 0:
        return set(ctx.frame("SELECT urn FROM out.latest_as_at WHERE as_at = ?", [ctx.as_at])["urn"].to_list())
    return set(latest_as_at(ctx.con, ctx.as_at)["urn"].to_list())


def inadequate_events(ctx: AuditContext) -> pl.DataFrame:
    """One row per inadequate graded inspection with its successor and next graded inspection;
    ``known_state_funded``: whether any state-funded school-level file or GIAS link list knows the
    URN; ``same_site_urn``: a school opened at the same postcode after the judgement."""
    group_links = "UNION SELECT urn FROM core.gias_group_links" if ctx.has_table("core.gias_group_links") else ""
    return ctx.frame(
        """
        WITH inad AS (
            SELECT e.event_id, e.urn, e.school_name, e.start_date, e.era, e.category_of_concern,
                   el.lineage_id
            FROM core.judgements j JOIN core.events e USING (event_id)
            JOIN out.event_lineage el USING (event_id)
            WHERE j.area = 'overall_effectiveness' AND j.scale = 'four_point' AND j.code = '4'
              AND e.kind IN ('graded', 'report_card') AND e.start_date <= $1
        ),
        succ AS (
            SELECT predecessor_urn AS urn,
                   arg_min(successor_urn, (NOT chained, successor_urn)) AS successor_urn,
                   arg_min(kind, (NOT chained, successor_urn)) AS successor_link,
                   arg_min(link_established_date, (NOT chained, successor_urn)) AS link_date
            FROM out.lineage_links
            WHERE direct AND (link_established_date IS NULL OR link_established_date <= $1)
            GROUP BY predecessor_urn
        ),
        stype AS (
            SELECT l.urn, l.school_type, l.school_name, o.open_date
            FROM out.school_latest l JOIN (SELECT urn, max(open_date) AS open_date FROM core.schools GROUP BY urn) o USING (urn)
        ),
        src AS (
            SELECT s.event_id, bool_or(f.layout = 'history_scraped') AS in_history,
                   bool_or(f.layout <> 'history_scraped') AS in_school_file
            FROM core.event_sources s JOIN meta.files f USING (file_id)
            WHERE s.event_id IN (SELECT event_id FROM inad) GROUP BY s.event_id
        ),
        seen AS (
            SELECT urn, max(greatest(start_date, coalesce(publication_date, start_date))) AS last_seen
            FROM core.events WHERE start_date <= $1 GROUP BY urn
        ),
        known AS (
            -- URNs some state-funded school-level file or GIAS link list knows (any vintage)
            SELECT urn FROM core.schools
            UNION SELECT urn FROM core.gias_links UNION SELECT link_urn FROM core.gias_links
            {group_links}
        ),
        site AS (
            -- another URN at the school's postcode that opened after the judgement: a successor on the same site
            SELECT i.event_id, min(o.urn) AS same_site_urn
            FROM inad i
            JOIN (SELECT urn, arg_max(postcode, as_at) AS postcode FROM core.schools GROUP BY urn) p ON p.urn = i.urn
            JOIN (SELECT urn, arg_max(postcode, as_at) AS postcode, max(open_date) AS open_date FROM core.schools GROUP BY urn) o
              ON o.postcode = p.postcode AND o.urn <> i.urn AND o.open_date > i.start_date AND o.open_date <= $1
            WHERE p.postcode IS NOT NULL
            GROUP BY i.event_id
        ),
        nxt AS (
            SELECT i.event_id,
                   arg_min(e.event_id, (e.start_date, e.event_id)) AS next_event_id
            FROM inad i JOIN out.event_lineage el ON el.lineage_id = i.lineage_id
            JOIN core.events e ON e.event_id = el.event_id
            WHERE e.kind IN ('graded', 'report_card') AND e.start_date > i.start_date AND e.start_date <= $1
            GROUP BY i.event_id
        )
        SELECT i.urn, coalesce(st0.school_name, i.school_name, lin.school_name) AS school_name, i.lineage_id, i.event_id,
               i.start_date AS inadequate_start_date, i.era, i.category_of_concern,
               s.successor_urn, s.successor_link, s.link_date AS successor_link_date,
               st.school_name AS successor_name, st.school_type AS successor_type,
               n.next_event_id, ne.urn AS next_urn, stn.school_type AS next_urn_type, ne.start_date AS next_start_date, ne.era AS next_era,
               nj.scale AS next_scale, nj.code AS next_code, nj.label AS next_label,
               datediff('day', i.start_date, ne.start_date) AS days_to_next,
               datediff('day', i.start_date, $1) AS days_followed,
               coalesce(src.in_history, false) AS in_history, coalesce(src.in_school_file, false) AS in_school_file,
               st.open_date AS successor_open_date,
               datediff('day', i.start_date, least(coalesce(st.open_date, s.link_date), coalesce(s.link_date, st.open_date))) AS days_to_successor,
               datediff('day', i.start_date, least(seen.last_seen, $1)) AS days_to_last_seen,
               i.urn IN (SELECT urn FROM known) AS known_state_funded, site.same_site_urn
        FROM inad i
        LEFT JOIN succ s ON s.urn = i.urn
        LEFT JOIN stype st ON st.urn = s.successor_urn
        LEFT JOIN stype st0 ON st0.urn = i.urn
        LEFT JOIN out.lineage lin ON lin.urn = i.urn
        LEFT JOIN nxt n ON n.event_id = i.event_id
        LEFT JOIN core.events ne ON ne.event_id = n.next_event_id
        LEFT JOIN stype stn ON stn.urn = ne.urn
        LEFT JOIN src ON src.event_id = i.event_id
        LEFT JOIN seen ON seen.urn = i.urn
        LEFT JOIN site ON site.event_id = i.event_id
        LEFT JOIN core.judgements nj ON nj.event_id = n.next_event_id AND nj.area = 'overall_effectiveness'
        ORDER BY i.start_date, i.urn, i.event_id
        """.replace("{group_links}", group_links),
        [ctx.as_at],
    )


def _what_followed(r: dict[str, Any], open_urns: set[int], groups: dict[str, str]) -> str:
    academy = groups.get((r["successor_type"] or "").casefold()) in ("Academy", "Free school")
    succ = "academy" if academy else "other or unknown type"
    if r["next_event_id"] is not None:
        if r["next_urn"] == r["urn"]:
            return FOLLOWED[0]
        # re-inspected under a later URN of the lineage: its type says whether it is an academy
        later_academy = academy or groups.get((r["next_urn_type"] or "").casefold()) in ("Academy", "Free school")
        return f"New URN ({'academy' if later_academy else 'other or unknown type'}), then re-inspected"
    if r["successor_urn"] is not None and (r["urn"] not in open_urns or r["successor_urn"] in open_urns):
        return f"New URN ({succ}), not yet re-inspected"
    # a successor on record that is not open yet while the school still is: the change of URN is pending
    if r["urn"] not in open_urns:
        return FOLLOWED[5]
    return FOLLOWED[6]


#: The headline cohort: inadequate judgements held in the 2005-2020 scraped history that started
#: from 1 September 2018 (the history lists schools open around 2018, so from then on the list
#: precedes the judgement and cannot depend on what followed it) up to the end of the history
#: (its last inspection is in February 2020, before the March 2020 pause). Every one of them is
#: followed to the as-at date: at least five years for an as-at date after February 2025.
COMPLETE_FROM = dt.date(2018, 9, 1)
COMPLETE_TO = dt.date(2020, 2, 29)
COMPLETE_LABEL = ("inadequate judgements of 1 September 2018 to 29 February 2020 (academic years 2018/19 and 2019/20 up to "
                  "the March 2020 pause) held in the 2005-2020 ratings history")
CAUSES = ("Re-inspected under the same URN", "New URN", "Closed (no successor)")
YEAR = 365.25
HORIZON_YEARS = (1, 2, 3, 5)
BOOT_REPS = 400


def first_events(ev: pl.DataFrame) -> pl.DataFrame:
    """Time (days) to the first of re-inspection under the same URN (cause 1), a new URN (cause 2,
    dated by the successor's opening or link date, else by its first inspection, else censored at
    the as-at date as a new URN by then) and closure (cause 3, dated at the last inspection or
    publication of the URN the files hold: the closure date itself is in no file, so this is the
    earliest it can have been), else censored at the as-at date (cause 0). Pure."""
    wf = pl.col("what_followed")
    to_succ = pl.col("days_to_successor").clip(lower_bound=0)
    new_then = wf.is_in([FOLLOWED[1], FOLLOWED[2]])
    new_only = wf.is_in([FOLLOWED[3], FOLLOWED[4]])
    cause = (pl.when(wf == FOLLOWED[0]).then(1).when(new_then | new_only).then(2).when(wf == FOLLOWED[5]).then(3).otherwise(0))
    time = (
        pl.when(wf == FOLLOWED[0]).then(pl.col("days_to_next"))
        .when(new_then).then(pl.min_horizontal(to_succ.fill_null(pl.col("days_to_next")), pl.col("days_to_next")))
        .when(new_only).then(pl.min_horizontal(to_succ.fill_null(pl.col("days_followed")), pl.col("days_followed")))
        .when(wf == FOLLOWED[5]).then(pl.col("days_to_last_seen").clip(lower_bound=0, upper_bound=pl.col("days_followed")))
        .otherwise(pl.col("days_followed"))
    )
    return ev.with_columns(cause.cast(pl.Int64).alias("first_cause"), time.cast(pl.Float64).alias("first_days"))


def in_complete_cohort(ev: pl.DataFrame) -> pl.Expr:
    """The headline cohort (:data:`COMPLETE_FROM` to :data:`COMPLETE_TO`, held in the history), of
    schools some state-funded file or link list knows: the scraped history also holds URNs that
    no state-funded school-level file (2020, 2025) or GIAS link list (2017-2025) has ever listed,
    which then look 'closed'; they cannot be told apart from schools outside the state-funded
    sector (independent schools are inspected by Ofsted too) and are left out and counted."""
    d = pl.col("inadequate_start_date")
    known = pl.col("known_state_funded").fill_null(True) if "known_state_funded" in ev.columns else pl.lit(True)
    return pl.col("in_history") & (d >= COMPLETE_FROM) & (d <= COMPLETE_TO) & known


def closure_check(ev: pl.DataFrame) -> pl.DataFrame:
    """The history-held judgements of the headline period that look closed (no successor, absent
    from the newest file), by what the files and links say of the URN: unknown to every
    state-funded file and link list (left out of the headline), known with a school opened at the
    same postcode since (a possible successor on the same site), known with neither. Pure."""
    d = pl.col("inadequate_start_date")
    period = ev.filter(pl.col("in_history") & (d >= COMPLETE_FROM) & (d <= COMPLETE_TO))
    known = pl.col("known_state_funded").fill_null(True) if "known_state_funded" in period.columns else pl.lit(True)
    site = pl.col("same_site_urn").is_not_null() if "same_site_urn" in period.columns else pl.lit(False)
    closed = pl.col("what_followed") == FOLLOWED[5]
    rows = []
    for label, mask in (
        ("in the period, held in the history", pl.lit(True)),
        ("looks closed (no successor link, absent from the newest file)", closed),
        ("looks closed: URN unknown to every state-funded file and GIAS link list (left out of the headline)", closed & ~known),
        ("looks closed: known, a school opened at the same postcode since (possible successor on the same site)", closed & known & site),
        ("looks closed: known, no school opened at the same postcode", closed & known & ~site),
        ("URN unknown to every state-funded file and GIAS link list, whatever followed (all left out of the headline)", ~known),
        ("URN unknown to every file and link list, not looking closed (re-inspected in the history; left out too)", ~known & ~closed),
        ("headline cohort (known URNs)", known),
    ):
        rows.append({"what": label, "judgements": period.filter(mask).height})
    return pl.DataFrame(rows, schema={"what": pl.String, "judgements": pl.Int64})


def competing_table(ev: pl.DataFrame, frame: str, seed: int, reps: int = BOOT_REPS) -> list[dict[str, Any]]:
    """Cumulative incidence of each first event at 1, 2, 3 and 5 years (Aalen-Johansen; cluster
    bootstrap over lineages). Rows: frame, cause, years, n, value, low, high."""
    fe = first_events(ev)
    horizons = [h * YEAR for h in HORIZON_YEARS]
    est = cumulative_incidence(fe["first_days"].to_numpy(), fe["first_cause"].to_numpy(), horizons, len(CAUSES),
                               clusters=fe["lineage_id"].fill_null("").to_numpy(), reps=reps, seed=seed)
    rows = []
    for k, cause in enumerate(CAUSES):
        for j, years in enumerate(HORIZON_YEARS):
            e = est[k][j]
            rows.append({"frame": frame, "cause": cause, "years": years, "n": e.n, "value": e.value, "low": e.low, "high": e.high})
    return rows


def academic_year_of(col: str) -> pl.Expr:
    d = pl.col(col)
    first = pl.when(d.dt.month() >= 9).then(d.dt.year()).otherwise(d.dt.year() - 1)
    return pl.concat_str([first.cast(pl.Utf8), pl.lit("/"), ((first + 1) % 100).cast(pl.Utf8).str.zfill(2)])


def cohort_table(ev: pl.DataFrame) -> pl.DataFrame:
    """By academic year of the inadequate judgement and where it is held (the history, or only a
    school-level file): what had followed by the as-at date, with Wilson intervals. Shows the
    survivorship of the early history (no closures, no conversions) and the censoring of recent years."""
    fe = ev.with_columns(
        academic_year_of("inadequate_start_date").alias("academic_year"),
        pl.when(pl.col("in_history")).then(pl.lit("2005-2020 history")).otherwise(pl.lit("school-level file only")).alias("held_in"),
        in_complete_cohort(ev).alias("complete_follow_up"),
    )
    rows = []
    for (year, held), part in sorted(fe.group_by("academic_year", "held_in"), key=lambda g: (str(g[0][0]), str(g[0][1]))):
        n = part.height
        r: dict[str, Any] = {"academic_year": year, "held_in": held, "n": n,
                             "complete_follow_up": bool(part["complete_follow_up"].all()),
                             "min_years_followed": float(part["days_followed"].cast(pl.Float64).fill_null(0.0).to_numpy().min()) / YEAR}
        for key, mask in (("new_urn", pl.col("what_followed").str.starts_with("New URN")),
                          ("closed", pl.col("what_followed") == FOLLOWED[5]),
                          ("reinspected_same_urn", pl.col("what_followed") == FOLLOWED[0]),
                          ("not_yet_reinspected", ~pl.col("reinspected"))):
            e = wilson(part.filter(mask).height, n)
            r |= {key: e.value, f"{key}_low": e.low, f"{key}_high": e.high}
        rows.append(r)
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.col(pl.Float64).fill_nan(None)) if rows else pl.DataFrame()


def run(ctx: AuditContext) -> AuditResult:
    groups = maps.school_type_groups()
    open_urns = _open_urns(ctx)
    ev = inadequate_events(ctx)
    followed = [_what_followed(r, open_urns, groups) for r in ev.iter_rows(named=True)]
    ev = ev.with_columns(
        pl.Series("what_followed", followed, dtype=pl.String),
        pl.col("urn").is_in(sorted(open_urns)).alias("urn_open_at_as_at"),
        pl.col("successor_urn").is_in(sorted(open_urns)).fill_null(False).alias("successor_open_at_as_at"),
        pl.col("successor_type").map_elements(lambda t: groups.get(t.casefold(), "Other or unknown"), return_dtype=pl.String).alias("successor_group"),
        pl.col("next_event_id").is_not_null().alias("reinspected"),
    ).with_columns(
        (pl.col("urn_open_at_as_at") & pl.col("successor_urn").is_not_null() & ~pl.col("successor_open_at_as_at")).alias("successor_pending"),
    )
    n = ev.height
    figures: list[Figure] = []
    # the headline: the cohort with complete follow-up (see COMPLETE_FROM), first events as competing risks
    complete = ev.filter(in_complete_cohort(ev))
    nc = complete.height
    period = ev.filter(pl.col("in_history") & (pl.col("inadequate_start_date") >= COMPLETE_FROM)
                       & (pl.col("inadequate_start_date") <= COMPLETE_TO))
    bound_frame = "complete follow-up period, unknown URNs counted as state schools (bound)"
    ci_rows = (competing_table(complete, "complete follow-up cohort", ctx.seed)
               + competing_table(period, bound_frame, ctx.seed)
               + competing_table(ev, "all inadequate judgements (pooled)", ctx.seed))
    ci = pl.DataFrame(ci_rows, schema={"frame": pl.String, "cause": pl.String, "years": pl.Int64, "n": pl.Int64,
                                       "value": pl.Float64, "low": pl.Float64, "high": pl.Float64}).with_columns(pl.col(pl.Float64).fill_nan(None))

    def cif(frame: str, cause: str, years: int) -> Estimate:
        r = ci.filter((pl.col("frame") == frame) & (pl.col("cause") == cause) & (pl.col("years") == years))
        if r.height == 0 or r["value"][0] is None:
            return Estimate(math.nan, math.nan, math.nan, 0, method=BOOTSTRAP_METHOD)
        v = r.row(0, named=True)
        return Estimate(v["value"], v["low"] if v["low"] is not None else math.nan, v["high"] if v["high"] is not None else math.nan,
                        v["n"], method=BOOTSTRAP_METHOD)

    cc = "complete follow-up cohort"
    figures.append(Figure("complete_cohort_events", f"Inadequate judgements in the complete follow-up cohort ({COMPLETE_LABEL})",
                          Estimate(float(nc), math.nan, math.nan, nc, method="count"), "count"))
    head: dict[str, Estimate] = {}
    # closure is given once, as the share by the as-at date (Wilson; every judgement of the cohort
    # is followed at least five years, so nothing is censored): no second interval for it
    for key, cause in (("reinspected", CAUSES[0]), ("new_urn", CAUSES[1])):
        for years in (2, 5):
            e = cif(cc, cause, years)
            head[f"{key}_{years}"] = e
            figures.append(Figure(f"complete_{key}_{years}y", f"Complete follow-up cohort: {cause[:1].lower() + cause[1:]} first, within {years} years "
                                  "(cumulative incidence, competing risks)", e, "share"))
    complete_by_date = {key: wilson(complete.filter(mask).height, nc) for key, mask in (
        ("new_urn", pl.col("what_followed").is_in([FOLLOWED[1], FOLLOWED[2], FOLLOWED[3], FOLLOWED[4]])),
        ("closed", pl.col("what_followed") == FOLLOWED[5]),
    )}
    figures.append(Figure("complete_new_urn_by_as_at", f"Complete follow-up cohort: new URN before any further graded inspection, by {ctx.as_at.isoformat()}",
                          complete_by_date["new_urn"], "share"))
    figures.append(Figure("complete_closed_by_as_at", f"Complete follow-up cohort: closed with no successor by {ctx.as_at.isoformat()}",
                          complete_by_date["closed"], "share"))
    # what the files and links say of the URNs that look closed (issue 15: conversions with a missing link, schools outside the sector)
    check = closure_check(ev)
    closed_expr = pl.col("what_followed") == FOLLOWED[5]
    site_col = pl.col("same_site_urn").is_not_null()
    closed_no_site = wilson(complete.filter(closed_expr & ~site_col).height, nc)
    figures.append(Figure("complete_closed_no_same_site_school", "Complete follow-up cohort: closed with no successor link and no school "
                          f"opened at the same postcode since, by {ctx.as_at.isoformat()}", closed_no_site, "share"))
    new_urn_bound = cif(bound_frame, CAUSES[1], 5)
    figures.append(Figure("complete_new_urn_5y_if_unknown_are_state_schools", "Complete follow-up period, the URNs no file lists counted "
                          "as state schools: new URN first, within 5 years (lower bound of the headline share)", new_urn_bound, "share"))
    old_closed = wilson(period.filter(closed_expr).height, period.height)
    figures.append(Figure("complete_closed_by_as_at_old_frame", "Old frame (every URN the history holds, known to a state-funded file "
                          "or not): closed with no successor", old_closed, "share"))
    unknown_expr = ~pl.col("known_state_funded").fill_null(True)
    n_unknown = period.filter(closed_expr & unknown_expr).height
    n_unknown_all = period.filter(unknown_expr).height
    # the table shows the closed share once (the Wilson share by the as-at date above), not its cumulative incidence too
    ci = ci.filter(~((pl.col("frame") != "all inadequate judgements (pooled)") & (pl.col("cause") == CAUSES[2])))
    n_site = complete.filter(closed_expr & site_col).height
    figures.append(Figure("inadequate_events", f"Inadequate graded judgements started by {ctx.as_at.isoformat()} (all cohorts pooled)",
                          Estimate(float(n), math.nan, math.nan, n, method="count"), "count"))
    n_schools = ev["lineage_id"].n_unique()
    figures.append(Figure("inadequate_schools", "Schools (lineages) with an inadequate judgement", Estimate(float(n_schools), math.nan, math.nan, n_schools, method="count"), "count"))

    rows: list[dict[str, Any]] = []

    def add(section: str, measure: str, k: int, denom: int, key: str | None = None, label: str | None = None) -> Estimate:
        e = wilson(k, denom)
        rows.append({"section": section, "measure": measure, "count": k, "n": denom, "share": e.value, "low": e.low, "high": e.high})
        if key:
            figures.append(Figure(key, label or measure, e, "share"))
        return e

    for i, what in enumerate(FOLLOWED):
        k = int((ev["what_followed"] == what).sum())
        add("what followed", what, k, n, f"followed_{i + 1}", f"What followed an inadequate judgement: {what[0].lower()}{what[1:]}")
    before = ev["what_followed"].is_in([FOLLOWED[1], FOLLOWED[2], FOLLOWED[3], FOLLOWED[4]])
    e_new = add("URN", "New URN before the next graded inspection", int(before.sum()), n, "share_new_urn_before_reinspection",
                "All cohorts pooled (survivorship-biased; not the headline): new URN before any further graded inspection")
    e_acad = add("URN", "New URN (academy) before the next graded inspection",
                 int(ev["what_followed"].is_in([FOLLOWED[1], FOLLOWED[3]]).sum()), n, "share_new_urn_academy_before_reinspection",
                 "Share of inadequate judgements followed by an academy URN before any further graded inspection")
    add("URN", "URN has a successor at any time (before or after re-inspection)", int(ev["successor_urn"].is_not_null().sum()), n,
        "share_urn_has_successor", "Share of inadequate judgements whose URN has a successor by the as-at date (at any time after)")
    e_closed = add("URN", "Closed: no successor, absent from the newest file", int((ev["what_followed"] == FOLLOWED[5]).sum()), n, "share_closed",
                   "All cohorts pooled (survivorship-biased; not the headline): closed with no successor")
    re = ev.filter(pl.col("reinspected"))
    e_re = add("re-inspection", "Re-inspected (graded) by the as-at date", re.height, n, "share_reinspected",
               f"Share re-inspected (graded) by {ctx.as_at.isoformat()}")
    e_cens = add("re-inspection", "Not yet re-inspected (censored)", n - re.height, n, "share_not_reinspected",
                 f"Share not re-inspected by {ctx.as_at.isoformat()} (censored)")
    next_counts = re.group_by("next_scale", "next_code", "next_label").len().sort(["next_scale", "next_code", "next_label"], nulls_last=True)
    for _scale, _code, label, k in next_counts.iter_rows():
        shown = label or "Overall effectiveness not recorded"
        slug = "".join(ch if ch.isalnum() else "_" for ch in shown.lower())
        add("next graded judgement", shown, k, re.height, f"next_{slug}", f"Next graded judgement after an inadequate one: {shown}")
    days = re["days_to_next"].to_numpy().astype(np.float64)
    med = median_interval(days)
    figures.append(Figure("median_days_to_next", "All cohorts pooled: median days from an inadequate judgement to the next graded inspection (among those re-inspected only)", med, "days"))

    by_era_rows = []
    for era in ev["era"].unique(maintain_order=True).to_list():
        part = ev.filter(pl.col("era") == era)
        r2 = part.filter(pl.col("reinspected"))
        m = median_interval(r2["days_to_next"].to_numpy().astype(np.float64))
        w = wilson(r2.height, part.height)
        better = r2.filter((pl.col("next_scale") == "four_point") & pl.col("next_code").is_in(["1", "2"])).height
        g = wilson(better, r2.filter(pl.col("next_scale") == "four_point").height)
        by_era_rows.append({"era": era, "inadequate": part.height, "reinspected": r2.height, "reinspected_share": w.value,
                            "reinspected_low": w.low, "reinspected_high": w.high, "median_days_to_next": m.value,
                            "median_low": m.low, "median_high": m.high, "next_good_or_better_share": g.value,
                            "next_good_or_better_low": g.low, "next_good_or_better_high": g.high, "next_graded_on_four_point": g.n})
    by_era = pl.DataFrame(by_era_rows, infer_schema_length=None) if by_era_rows else pl.DataFrame()
    if by_era.height:
        by_era = by_era.with_columns(pl.col(pl.Float64).fill_nan(None))

    main = pl.DataFrame(rows, schema={"section": pl.String, "measure": pl.String, "count": pl.Int64, "n": pl.Int64,
                                      "share": pl.Float64, "low": pl.Float64, "high": pl.Float64}).with_columns(pl.col("share", "low", "high").fill_nan(None))
    schools = ev.select(
        "urn", "school_name", "lineage_id", "event_id", "inadequate_start_date", "era", "category_of_concern", "what_followed",
        "successor_urn", "successor_name", "successor_type", "successor_link", "successor_link_date", "successor_open_at_as_at",
        "successor_pending", "known_state_funded", "same_site_urn",
        "next_event_id", "next_urn", "next_start_date", "next_label", "days_to_next", "urn_open_at_as_at", "days_followed",
    ).sort(["inadequate_start_date", "urn", "event_id"])

    chart: dict[str, Any] | None = None
    chart_df = main.filter((pl.col("section") == "what followed") & (pl.col("count") > 0))
    if chart_df.height:
        chart = charts.chart_spec(charts.bar_with_intervals(
            chart_df, "measure", "share", "low", "high",
            title="What followed an inadequate graded judgement",
            subtitle=f"n = {n:,} inadequate judgements started by {ctx.as_at.isoformat()}; 95% Wilson intervals",
            x_title="What followed", y_title="Share of inadequate judgements", y_format=".0%",
            x_order=[w for w in FOLLOWED if w in set(chart_df["measure"].to_list())],
        ))

    findings: list[str] = []
    n_left_out = period.filter(~pl.col("known_state_funded").fill_null(True)).height
    bound_note = (f" ({pct(new_urn_bound.value)} if the {n_left_out:,} judgements of URNs no file lists, left out, are of state "
                  "schools: see below)" if n_left_out and not math.isnan(new_urn_bound.value) else "")
    if nc:
        findings.append(
            f"Among the {nc:,} {COMPLETE_LABEL} (every one followed to {ctx.as_at.isoformat()}, at least five years), the first thing "
            f"to happen within five years was a new URN for {describe(head['new_urn_5'], 'share')}{bound_note} (within two years: "
            f"{describe(head['new_urn_2'], 'share')}) and a graded re-inspection under the same URN for "
            f"{describe(head['reinspected_5'], 'share')} (within two years: {describe(head['reinspected_2'], 'share')}; the March "
            "2020 to September 2021 pause falls in this window); "
            f"{describe(complete_by_date['closed'], 'share')} had closed with no successor by the as-at date (a plain share with a "
            "Wilson interval: nothing in the cohort is censored), "
            f"{n_site:,} of them with a school opened at the same postcode since (a possible successor on the same site; without "
            f"them {describe(closed_no_site, 'share')}) "
            "(cumulative incidence with re-inspection, new URN and closure as competing risks; intervals resample schools). "
            "This supports the claim that an inadequate judgement is usually followed by a new URN (mostly an academy) "
            "rather than by re-inspection of the same school, and shows closure to be rare; the files cannot say whether an "
            "academy order caused it."
        )
        if n_unknown:
            findings.append(
                f"Checked against every GIAS links vintage (2017-2025) and every state-funded school-level file: {n_unknown:,} of the "
                f"{period.height:,} inadequate judgements of the period that the history holds are of URNs that none of them has ever "
                "listed, with no name, type or address in any file. Counted as closures, they made the closed share "
                f"{describe(old_closed, 'share')}. They cannot be conversions with a missing link (a conversion's academy has a URN "
                "the links and the 2020 and 2025 files know); they are either schools outside the state-funded sector, which "
                "the scraped history may hold (Ofsted inspects independent schools too, on similar grades), or state schools that "
                "closed with no successor before August 2020: the files cannot tell which. The headline leaves them out, so the "
                f"closed share lies between {describe(complete_by_date['closed'], 'share')} (none of them a closure) and "
                f"{pct(old_closed.value)} (all of them); by the same token the share whose first event within five years was a "
                f"new URN lies between {describe(new_urn_bound, 'share')} (all of them state schools) and "
                f"{pct(head['new_urn_5'].value)} (none of them)."
            )
        if n_unknown_all:
            others = (period.filter(unknown_expr & ~closed_expr).group_by("what_followed").len()
                      .sort(["len", "what_followed"], descending=[True, False]))
            other_text = "; ".join(f"{k:,} {w[:1].lower() + w[1:]}" for w, k in others.iter_rows())
            findings.append(
                f"The cohort's arithmetic: the history holds {period.height:,} inadequate judgements of the period; "
                f"{n_unknown_all:,} are of URNs that no state-funded file or link list has ever listed and all of them are left "
                f"out, whatever followed ({n_unknown:,} look closed"
                + (f"; {other_text}, an inspection the history holds" if other_text else "")
                + f"), leaving the {nc:,} of the headline cohort."
            )
    early = ev.filter(pl.col("inadequate_start_date") < dt.date(2010, 9, 1))
    if early.height:
        k_same = early.filter(pl.col("what_followed") == FOLLOWED[0]).height
        findings.append(
            f"The pooled shares understate both: the 2005-2020 history holds only schools open around 2018, so of the {early.height:,} "
            f"inadequate judgements of 2005/06 to 2009/10 it holds, {k_same:,} were re-inspected under the same URN and "
            f"{early.filter(pl.col('what_followed').str.starts_with('New URN') | (pl.col('what_followed') == FOLLOWED[5])).height:,} "
            "converted or closed: schools that did were dropped from the history before it was scraped."
        )
    if n:
        findings.append(
            f"Pooled over every cohort (not the headline: early cohorts are survivors and recent ones are not yet followed up), of {n:,} "
            f"inadequate graded judgements started by {ctx.as_at.isoformat()}, {describe(e_new, 'share')} were followed by a new URN "
            f"before any further graded inspection ({describe(e_acad, 'share')} an academy or free school), and "
            f"{describe(e_closed, 'share')} by closure with no successor."
        )
        four = re.filter(pl.col("next_scale") == "four_point")
        good = wilson(four.filter(pl.col("next_code").is_in(["1", "2"])).height, four.height)
        figures.append(Figure("next_good_or_outstanding", "Next graded judgement good or outstanding (among those with an overall grade)", good, "share"))
        text = (f"{describe(e_re, 'share')} had a further graded inspection by then, a median of {describe(med, 'days')} later "
                f"(among those re-inspected; {pct(e_cens.value)} not yet re-inspected are censored)")
        if four.height:
            text += f"; the next overall judgement was good or outstanding for {describe(good, 'share')} of those given one"
        findings.append(text + ".")

    caveats = [
        f"Headline frame: the {COMPLETE_LABEL}, the only cohort whose schools were listed before the judgement (so none is missing "
        "for what followed) and followed at least five years. Earlier cohorts miss every school that converted or closed before "
        "about 2018; later ones are held only in the school-level file of open schools (a school that closed since is missing) and "
        "are not yet followed for long. The cohort table shows every year and source apart.",
        "Closure dates are in no loaded file: a closure is dated at the URN's last inspection or publication the files hold, the "
        "earliest it can have been, so its cumulative incidence by a horizon is an upper bound (its share by the as-at date is exact "
        "up to missing successor links). New URNs are dated by the successor's opening date or link date.",
        "The warehouse holds only the inspections the loaded files report: a school-level file gives each open school's latest and "
        "previous graded inspection, and the 2005-2020 history covers schools open around 2018. An inspection missing from the files "
        "makes the 'next' one found later than the real next one, and a school closed before 2018 may be missing altogether.",
        "Time to the next inspection is censored: a school judged inadequate recently cannot have been re-inspected yet, so the median is "
        "among those re-inspected and understates the typical wait; the share not yet re-inspected is given beside it.",
        "A new URN is read from GIAS / Ofsted links (out.lineage_links) established by the as-at date (or undated); the data do not "
        "say whether an academy order caused it, nor the date of the order. Merges and amalgamations count as 'other or unknown type'.",
        "'Closed' means absent from the newest school-level file covering the school's local authority at the as-at date, with no "
        "successor link in any GIAS links vintage loaded (2017-2025); a school opened at the same postcode since is shown as a "
        "possible successor on the same site (same_site_urn). URNs that no state-funded school-level file or link list has ever "
        "listed are left out of the headline cohort and counted (closure_check): the scraped history cannot say whether they are "
        "state-funded.",
        "A school still open under its own URN at the date whose successor URN is not yet open counts as 'open under the same URN' "
        "(the change of URN is pending; 'successor_pending' in the list).",
        "From September 2024 graded inspections give no overall effectiveness grade: a next judgement 'Not judged' is counted as such.",
    ]
    small_n = [f.label for f in figures if f.unit != "count" and 0 < f.estimate.n < SMALL_N]

    frames = {
        "main": Frame(
            unit="an inadequate graded judgement (a school judged inadequate twice counts twice; intervals resample school lineages)",
            snapshot=f"as at {ctx.as_at.isoformat()}: open schools from the newest school-level file covering each school; "
                     "successor links from GIAS files dated by then",
            sample=f"headline: {COMPLETE_LABEL}, of URNs a state-funded school-level file or GIAS link list knows. Selection: the "
                   "history lists schools open around 2018, so earlier judgements are survivors (converted and closed schools "
                   "missing) and later ones come from the file of open schools",
            denominator="all inadequate judgements of the cohort; each judgement's first event (re-inspection under the same URN, "
                        "new URN, closure) competes with the others, censored at the as-at date",
        ),
        "pooled": Frame(
            unit="an inadequate graded judgement",
            snapshot=f"as at {ctx.as_at.isoformat()}",
            sample="every inadequate judgement the files hold, 2005 onwards, pooled across differently selected cohorts",
            denominator="all inadequate judgements held (biased: survivors before 2018, short follow-up after 2021)",
        ),
    }
    return AuditResult(
        name=NAME,
        title="What follows an inadequate judgement",
        question="After a school is judged inadequate, does it get a new URN (academy), close, or get re-inspected, and how soon and with what result?",
        claim="High-stakes, cliff-edged grades: an inadequate judgement leads to academy orders, new URNs and closures.",
        method=(
            "Every graded inspection with overall effectiveness 'Inadequate' (code 4, four-point scale) that started on or before "
            f"{ctx.as_at.isoformat()}. New URN: a direct successor link of the URN (out.lineage_links; the chained one-to-one successor "
            "first), classed academy when the successor's school type is an academy or free school. Closed: not open at the date "
            "(out.latest_as_at) and no successor. Next judgement: the first later graded or report-card inspection in the same lineage "
            f"(out.event_lineage) started by the date; days between start dates, median with a {ORDER_STAT}; shares with 95% Wilson "
            "intervals. Counted per inadequate judgement (a school judged inadequate twice counts twice). Competing risks: for "
            "each judgement the first of re-inspection under the same URN, a new URN and closure, censored at the as-at date, "
            f"with the Aalen-Johansen cumulative incidence at 1, 2, 3 and 5 years and {BOOT_REPS} bootstrap resamples of school "
            "lineages for the 95% intervals. "
            + frames["main"].text()
        ),
        figures=figures,
        tables={"main": main, "cumulative_incidence": ci, "cohorts": cohort_table(ev), "schools": schools, "by_era": by_era,
                "closure_check": check},
        frames=frames,
        chart=chart,
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={"as_at": ctx.as_at, "inadequate": "overall_effectiveness four_point code 4", "median_interval": ORDER_STAT},
        small_n=small_n,
    )
