"""Headline: the figures Ofsted's official statistics release publishes, recomputed from the
same school-level file, so a reader can check that Evenhand reads the data right.

Reading of Ofsted's methodology (docs/decisions/0500-headline-method.md):

- the schools are the rows of the school-level file with the as-at date (one row per open
  state-funded school); where several loaded files share the date (a CSV and a Parquet copy
  of one release), one is used: official statistics before management information, then the
  most rows, then the lowest file id;
- school type groups follow the 'Type of education' column, as Ofsted's chart C6 groups it
  (maps/school_type_groups.csv): maintained (which, as in C6, includes non-maintained special
  schools and city technology colleges), academies (converter, sponsor-led, special,
  alternative provision, UTCs, studio schools) and free schools;
- 'under the current framework' = the school's latest graded (or ungraded) inspection in the
  file started on or after the start of the framework in force at the as-at date (the EIF
  from 1 September 2019, which carried on without an overall grade from September 2024; the
  renewed report-card framework from 10 November 2025). As in Ofsted's file, a school not yet
  inspected in its current form counts with its predecessor's inspection;
- inspections in the academic year = the file's latest graded / ungraded inspections that
  started between 1 September and the as-at date (the file lists inspections published by
  the release's cut-off, a month after the as-at date). An ungraded inspection that converted
  to a graded one counts as graded;
- good or outstanding = grade 1 or 2 of a key judgement, out of graded inspections in the year
  with a grade in that judgement.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl

from evenhand import maps
from evenhand.audit import charts
from evenhand.audit.result import AuditContext, AuditResult, Figure, describe, pct
from evenhand.errors import EvenhandError
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import wilson

NAME = "headline"
KEY_JUDGEMENTS: tuple[tuple[str, str], ...] = tuple(
    (area, maps.area_label(area))
    for area in ("quality_of_education", "behaviour_and_attitudes", "personal_development", "leadership_and_management")
)
GROUPS = ("Maintained", "Academy", "Free school")
SMALL_N = 30


def academic_year(as_at: dt.date) -> tuple[str, dt.date]:
    """('2024/25', 1 September 2024) for any date of that academic year (maps.academic_year)."""
    return maps.academic_year(as_at), maps.academic_year_start(as_at)


def not_judged_from() -> dt.date | None:
    """The date from which graded inspections carry no overall effectiveness grade: the
    valid_from of the 'Not judged' (NJ) code in maps/codes.csv."""
    return next((c.valid_from for c in maps.codes() if c.code == "NJ"), None)


def current_framework(as_at: dt.date) -> tuple[dt.date, str]:
    current = maps.framework_on(as_at)
    if current is None:
        raise EvenhandError(f"no inspection framework is recorded as in force at {as_at.isoformat()}")
    return current


def school_file(ctx: AuditContext) -> dict[str, Any]:
    """The school-level file for ctx.as_at (see the module docstring for the choice)."""
    df = ctx.frame(
        """
        SELECT * FROM (
            SELECT f.file_id, f.path, f.publication, f.layout, f.sha256, count(s.urn) AS rows
            FROM meta.files f JOIN core.schools s USING (file_id)
            WHERE f.status = 'loaded' AND f.as_at = ?
            GROUP BY f.file_id, f.path, f.publication, f.layout, f.sha256
        ) ORDER BY coalesce(publication = 'official_statistics', false) DESC, rows DESC, file_id
        """,
        [ctx.as_at],
    )
    if df.height == 0:
        dates = ctx.frame("SELECT DISTINCT as_at FROM core.schools WHERE as_at IS NOT NULL ORDER BY 1")["as_at"].to_list()
        shown = ", ".join(d.isoformat() for d in dates) or "none"
        raise EvenhandError(
            f"no school-level file is dated {ctx.as_at.isoformat()}: the headline figures are computed from the "
            f"file for the as-at date (school-level files in the warehouse are dated: {shown}); pass --as-at with one of them"
        )
    chosen = df.row(0, named=True)
    chosen["duplicates"] = df["path"].to_list()[1:]
    return chosen


def _figure_share(key: str, label: str, k: int, n: int) -> Figure:
    return Figure(key, label, wilson(k, n), "share")


def run(ctx: AuditContext) -> AuditResult:
    f = school_file(ctx)
    fid = int(f["file_id"])
    year, year_start = academic_year(ctx.as_at)
    fw_start, fw_name = current_framework(ctx.as_at)
    groups = maps.school_type_groups()

    schools = ctx.frame("SELECT DISTINCT urn, school_type FROM core.schools WHERE file_id = ? ORDER BY urn", [fid])
    n_schools = schools["urn"].n_unique()
    types = schools["school_type"].fill_null("").to_list()
    grouped = [groups.get(t.casefold(), "Other or unknown") for t in types]
    counts = {g: grouped.count(g) for g in (*GROUPS, "Other or unknown")}
    unknown_types = sorted({t for t, g in zip(types, grouped, strict=True) if g == "Other or unknown"})

    ev = ctx.frame(
        """
        SELECT s.reported_urn AS urn, s.block, e.event_id, e.kind, e.start_date, e.publication_date,
               coalesce(e.converted_to_graded, false) AS converted
        FROM core.event_sources s JOIN core.events e USING (event_id)
        WHERE s.file_id = ? AND s.block IN ('graded', 'ungraded', 'report_card')
        """,
        [fid],
    )
    graded_blocks = ev.filter(pl.col("block").is_in(["graded", "report_card"]))
    ungraded_block = ev.filter(pl.col("block") == "ungraded")
    in_fw = pl.col("start_date") >= fw_start
    graded_fw = set(graded_blocks.filter(in_fw)["urn"].to_list())
    any_fw = graded_fw | set(ungraded_block.filter(in_fw)["urn"].to_list())
    graded_fw &= set(schools["urn"].to_list())
    any_fw &= set(schools["urn"].to_list())

    in_year = pl.col("start_date").is_between(year_start, ctx.as_at)
    year_graded_ids = set(graded_blocks.filter(in_year)["event_id"].to_list()) | set(
        ungraded_block.filter(in_year & pl.col("converted"))["event_id"].to_list()
    )
    year_ungraded = ungraded_block.filter(in_year & ~pl.col("converted")).unique("event_id")
    n_converted = ungraded_block.filter(in_year & pl.col("converted")).select(pl.col("event_id").n_unique()).item()

    judg = ctx.frame(
        """
        SELECT DISTINCT j.event_id, j.area, j.scale, j.code, j.label
        FROM core.judgements j JOIN core.event_sources s USING (event_id)
        WHERE s.file_id = ? AND s.block IN ('graded', 'ungraded', 'report_card')
        """,
        [fid],
    )

    rows: list[dict[str, Any]] = []
    figures: list[Figure] = [Figure("schools", "State-funded schools in the file", Estimate(float(n_schools), math.nan, math.nan, n_schools, method="count"), "count")]

    def add(section: str, measure: str, k: int, n: int, key: str | None = None, label: str | None = None,
            definitional: bool = False) -> Estimate:
        e = wilson(k, n)
        if definitional:  # a share fixed by definition is not estimated: no interval (result.describe)
            e = Estimate(e.value, math.nan, math.nan, e.n, method="definitional: no interval")
        rows.append({"section": section, "measure": measure, "count": k, "n": n, "share": e.value, "low": e.low, "high": e.high})
        if key:
            figures.append(Figure(key, label or measure, e, "share"))
        return e

    for g in GROUPS:
        add("school type", g, counts[g], n_schools, f"share_{g.lower().replace(' ', '_')}", f"Share of schools: {g.lower()}")
    add("school type", "Academy or free school", counts["Academy"] + counts["Free school"], n_schools,
        "share_academy_or_free_school", "Share of schools: academy or free school")
    if counts["Other or unknown"]:
        add("school type", "Other or unknown", counts["Other or unknown"], n_schools)
    e_g = add("current framework", "Graded inspection under the current framework", len(graded_fw), n_schools,
              "share_graded_current_framework", "Share of schools with a graded inspection under the current framework")
    e_gu = add("current framework", "Graded or ungraded inspection under the current framework", len(any_fw), n_schools,
               "share_graded_or_ungraded_current_framework", "Share of schools with a graded or ungraded inspection under the current framework")

    n_graded_year = len(year_graded_ids)
    n_ungraded_year = year_ungraded.height
    figures.append(Figure("graded_in_year", f"Graded inspections in {year} (latest per school)", Estimate(float(n_graded_year), math.nan, math.nan, n_graded_year, method="count"), "count"))
    figures.append(Figure("ungraded_in_year", f"Ungraded inspections in {year} (latest per school)", Estimate(float(n_ungraded_year), math.nan, math.nan, n_ungraded_year, method="count"), "count"))

    key_rows: list[dict[str, Any]] = []
    gj = judg.filter(pl.col("event_id").is_in(sorted(year_graded_ids)))
    for area, label in KEY_JUDGEMENTS:
        a = gj.filter((pl.col("area") == area) & (pl.col("scale") == "four_point"))
        k = a.filter(pl.col("code").is_in(["1", "2"])).height
        e = add(f"graded inspections {year}", f"{label}: good or outstanding", k, a.height, f"good_or_outstanding_{area}",
                f"{label}: share good or outstanding at graded inspections in {year}")
        key_rows.append({"judgement": label, "share": e.value, "low": e.low, "high": e.high, "n": e.n})
    oe = gj.filter(pl.col("area") == "overall_effectiveness")
    oe_graded = oe.filter(pl.col("scale") == "four_point")
    oe_nj = oe.filter(pl.col("code") == "NJ").height
    nj_from = not_judged_from()
    # A graded inspection that started on or after the date maps/codes.csv gives for 'Not judged'
    # carries no overall grade by definition: its 100% is definitional and has no interval.
    nj_definitional = nj_from is not None and year_start >= nj_from
    e_nj = add(f"graded inspections {year}", "Overall effectiveness: not judged", oe_nj, n_graded_year, "overall_not_judged",
               f"Share of graded inspections in {year} with overall effectiveness 'Not judged'", definitional=nj_definitional and oe_nj == n_graded_year)
    if oe_graded.height:
        add(f"graded inspections {year}", "Overall effectiveness: good or outstanding",
            oe_graded.filter(pl.col("code").is_in(["1", "2"])).height, oe_graded.height, "good_or_outstanding_overall_effectiveness",
            f"Overall effectiveness: share good or outstanding at graded inspections in {year}")

    uo = judg.filter((pl.col("area") == "ungraded_outcome") & pl.col("event_id").is_in(year_ungraded["event_id"].to_list()))
    n_uo = uo.height
    outcome_counts = uo.group_by("code", "label").len().sort(["len", "code"], descending=[True, False])
    for code, label, k in outcome_counts.iter_rows():
        add(f"ungraded inspections {year}", f"Outcome: {label}", k, n_uo, f"ungraded_{code}", f"Ungraded inspections in {year}: {label}")
    maintained_or_improved = uo.filter(pl.col("code").is_in(["standards_maintained", "improved_significantly", "remains_good", "remains_outstanding"])).height
    e_mi = add(f"ungraded inspections {year}", "Standards maintained or improved significantly", maintained_or_improved, n_uo,
               "ungraded_maintained_or_improved", f"Ungraded inspections in {year}: standards maintained or improved significantly")

    main = pl.DataFrame(rows, schema={"section": pl.String, "measure": pl.String, "count": pl.Int64, "n": pl.Int64,
                                      "share": pl.Float64, "low": pl.Float64, "high": pl.Float64})
    main = main.with_columns(pl.col("share", "low", "high").fill_nan(None))
    types_table = (
        pl.DataFrame({"school_type": types, "group": grouped}).group_by("group", "school_type").len("schools")
        .sort(["group", "schools", "school_type"], descending=[False, True, False])
    )

    chart: dict[str, Any] | None = None
    key_df = pl.DataFrame(key_rows, schema={"judgement": pl.String, "share": pl.Float64, "low": pl.Float64, "high": pl.Float64, "n": pl.Int64}).filter(pl.col("n") > 0)
    if key_df.height:
        chart = charts.chart_spec(charts.bar_with_intervals(
            key_df, "judgement", "share", "low", "high",
            title=f"Graded inspections in {year}: share good or outstanding in each key judgement",
            subtitle=f"n = {n_graded_year:,} graded inspections (latest per school); 95% Wilson intervals; file as at {ctx.as_at.isoformat()}{ctx.scope}",
            x_title="Key judgement", y_title="Share good or outstanding", y_format=".0%", y_domain=(0.0, 1.0),
        ))

    findings = [
        f"The file as at {ctx.as_at.isoformat()}{ctx.scope} lists {n_schools:,} state-funded schools: "
        f"{pct(counts['Maintained'] / n_schools if n_schools else math.nan)} maintained, "
        f"{pct((counts['Academy'] + counts['Free school']) / n_schools if n_schools else math.nan)} academies and free schools. "
        f"{describe(e_g, 'share')} have had a graded inspection under the current framework, and "
        f"{describe(e_gu, 'share')} a graded or ungraded one.",
    ]
    if key_df.height:
        parts = ", ".join(f"{r['judgement'].lower()} {pct(r['share'], 0)}" for r in key_df.iter_rows(named=True))
        findings.append(
            f"Of {n_graded_year:,} graded inspections in {year}, the share good or outstanding was: {parts}; "
            f"{describe(e_mi, 'share')} of ungraded inspections found standards maintained or improved significantly."
        )
    if oe_nj:
        why = (f"by definition: graded inspections from {nj_from:%-d %B %Y} carry no overall grade, so no interval"
               if nj_definitional and nj_from and oe_nj == n_graded_year else "no overall grade from September 2024")
        findings.append(f"Overall effectiveness was 'Not judged' at {describe(e_nj, 'share')} of graded inspections in {year} ({why}).")

    caveats = [
        "The file holds each school's latest graded and latest ungraded inspection only: a school inspected twice in the year "
        "counts once, so the in-year counts are of schools' latest inspections, not of every inspection carried out (Ofsted's "
        "count of inspections carried out in the year comes from its in-year data, which this audit does not read).",
        "Shares are of the schools in the file (state-funded schools open at the as-at date); the Wilson intervals treat the "
        "year's inspections as a sample from a process, though they are a census of the year.",
        f"'Current framework' is our reading: {fw_name}. A school not yet inspected in its current form counts with its "
        "predecessor's inspection, as Ofsted's file carries it.",
        "Maintained schools include non-maintained special schools and city technology colleges, as Ofsted's chart C6 groups them.",
    ]
    if f["publication"] != "official_statistics":
        caveats.append(f"The file for this date is {str(f['publication']).replace('_', ' ')}, not an official statistics release: "
                       "there is no published release to check these figures against.")
    n_las = ctx.frame("SELECT count(DISTINCT local_authority) AS n FROM core.schools WHERE file_id = ?", [fid])["n"].item()
    if n_las < 100:
        caveats.append(f"The file covers {n_las} local authorit{'y' if n_las == 1 else 'ies'} only: these are not national figures.")
    if n_graded_year and key_df.height == 0:
        caveats.append(f"None of the {n_graded_year:,} graded inspections in {year} has the EIF key judgements (report cards grade other "
                       "areas on a five-point scale), so no good-or-outstanding shares are given.")
    if n_converted:
        caveats.append(f"{n_converted:,} ungraded inspection(s) in {year} converted to graded inspections: counted as graded, not in the ungraded outcomes.")
    if unknown_types:
        caveats.append(f"School types with no group in maps/school_type_groups.csv: {', '.join(t or '(blank)' for t in unknown_types)}.")
    if f["duplicates"]:
        caveats.append(f"Other loaded files share the as-at date and were not used: {', '.join(f['duplicates'])}.")
    small_n = [fig.label for fig in figures if fig.unit == "share" and 0 < fig.estimate.n < SMALL_N]

    return AuditResult(
        name=NAME,
        title=f"Headline figures{ctx.scope} as at {ctx.as_at.isoformat()} ({year})",
        question="What does Ofsted's official statistics release say, recomputed from the same school-level file?",
        claim="Evenhand reads the official data correctly: its figures should match the published release.",
        method=(
            f"From the school-level file {f['path']} (as at {ctx.as_at.isoformat()}): schools = its rows; school type groups "
            "from 'Type of education' (maps/school_type_groups.csv, as Ofsted's chart C6 groups them); 'under the current "
            f"framework' = latest graded (or ungraded) inspection in the file started on or after {fw_start.isoformat()}, "
            f"the start of the {fw_name} (our reading of Ofsted's methodology); inspections in {year} = the file's latest "
            f"graded / ungraded inspections that started from {year_start.isoformat()} to {ctx.as_at.isoformat()}, an "
            "ungraded inspection converted to a graded one counting as graded; good or outstanding = grade 1 or 2 of a key "
            "judgement among graded inspections with a grade in it. Every share has a 95% Wilson score interval and its n."
        ),
        figures=figures,
        tables={"main": main, "school_types": types_table},
        chart=chart,
        findings=findings,
        caveats=caveats,
        inputs=ctx.inputs(),
        parameters={"as_at": ctx.as_at, "academic_year": year, "file": f["path"], "file_sha256": f["sha256"],
                    "framework_start": fw_start, "framework": fw_name},
        small_n=small_n,
    )
