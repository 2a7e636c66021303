"""Facts decided once, at build time, that every output reads (docs/decisions/1010-one-definition.md).

- ``out.event_flags``: per inspection event, safeguarding-limited (the one definition,
  :data:`SAFEGUARDING_LIMITED`), report-card safeguarding standards 'Not met', the cliff-edge
  drop from the previous graded inspection in the lineage (out.transitions), the publication
  target that applies (maps/publication_targets.csv only, :func:`evenhand.maps.publication_target`)
  and whether the report was published beyond it (out.timing's working days).
- ``out.snapshot_schools``: per snapshot (out.snapshots: an Ofsted school-level file with an
  as-at date), one row per school the file shows open, with the latest graded and ungraded
  inspection Ofsted carries for it as at that date (own, or a predecessor's), by the same
  rule as out.latest_as_at (:func:`evenhand.derive.as_at.latest_for_open_sets`), every snapshot in
  one query.

The national audits, a school's report and the dashboard read these tables; none decides a
flag itself.
"""

from __future__ import annotations

import duckdb
import polars as pl

from evenhand import maps
from evenhand.core.warehouse import frame, has_table
from evenhand.derive.lineage import replace_table
from evenhand.metadata import out_tables as O
from evenhand.metadata.definitions import (
    CLIFF_EDGE,
    CLIFF_EDGE_STEPS,
    EDUCATION_JUDGEMENTS,
    GOOD_OR_BETTER,
    LATE_PUBLICATION,
    SAFEGUARDING_LIMITED,
    START_COUNT_ALLOWANCE,
)

#: the judgements a flag reads, one column per area, each on the scale the rule is written for:
#: the one pivot of core.judgements (the flags, and the safeguarding audit's table, use it)
JUDGEMENT_COLUMNS_SQL = """
        max(CASE WHEN area = 'overall_effectiveness' AND scale = 'four_point' THEN code END) AS overall_effectiveness,
        max(CASE WHEN area = 'quality_of_education' AND scale = 'four_point' THEN code END) AS quality_of_education,
        max(CASE WHEN area = 'behaviour_and_attitudes' AND scale = 'four_point' THEN code END) AS behaviour_and_attitudes,
        max(CASE WHEN area = 'personal_development' AND scale = 'four_point' THEN code END) AS personal_development,
        max(CASE WHEN area = 'leadership_and_management' AND scale = 'four_point' THEN code END) AS leadership_and_management,
        max(CASE WHEN area = 'safeguarding_effective' AND scale = 'safeguarding_effective' THEN code END) AS safeguarding_effective,
        max(CASE WHEN area = 'safeguarding_standards' AND scale = 'met_not_met' THEN code END) AS safeguarding_standards
"""

_FLAG_INPUTS_SQL = """
WITH j AS (
    SELECT event_id,""" + JUDGEMENT_COLUMNS_SQL + """
    FROM core.judgements GROUP BY event_id
),
tr AS (
    SELECT to_event_id AS event_id, from_event_id, from_scale, from_label, to_scale, comparable, change
    FROM out.transitions
)
SELECT e.event_id, e.urn, el.lineage_id, e.kind, e.era, e.start_date, e.publication_date,
       e.category_of_concern,
       j.overall_effectiveness, j.quality_of_education, j.behaviour_and_attitudes,
       j.personal_development, j.leadership_and_management, j.safeguarding_effective,
       j.safeguarding_standards,
       tr.from_event_id AS previous_graded_event_id, tr.from_label AS previous_overall_label,
       coalesce(tr.comparable, false) AS comparable, tr.from_scale, tr.to_scale, tr.change,
       t.end_to_publication_working_days AS end_wd, t.start_to_publication_working_days AS start_wd,
       coalesce(t.published_before_start, false) AS published_before_start
FROM core.events e
LEFT JOIN j USING (event_id)
LEFT JOIN out.event_lineage el USING (event_id)
LEFT JOIN tr USING (event_id)
LEFT JOIN out.timing t USING (event_id)
ORDER BY e.event_id
"""


def _targets(events: pl.DataFrame) -> pl.DataFrame:
    """event_id -> the target that applies (maps.publication_target), for each distinct
    (era, kind, concern, start date) of ``events``: a target applies from the date it came
    into force (maps/publication_targets.csv valid_from / valid_to)."""
    if "start_date" not in events.columns:
        events = events.with_columns(pl.lit(None, dtype=pl.Date).alias("start_date"))
    keys = events.select("era", "kind", "concern", "start_date").unique()
    rows = []
    for era, kind, concern, start in keys.iter_rows():
        t = maps.publication_target(era, kind, bool(concern), start)
        rows.append({
            "era": era, "kind": kind, "concern": concern, "start_date": start,
            "publication_target_working_days": t.target_working_days if t else None,
            "publication_target_level": t.level if t else None,
            "publication_target_source": t.source if t else None,
        })
    lookup = pl.DataFrame(rows, schema={
        "era": pl.String, "kind": pl.String, "concern": pl.Boolean, "start_date": pl.Date,
        "publication_target_working_days": pl.Int64, "publication_target_level": pl.String,
        "publication_target_source": pl.String,
    })
    return events.join(lookup, on=["era", "kind", "concern", "start_date"], how="left", nulls_equal=True)


def safeguarding_flags(frame_in: pl.DataFrame) -> pl.DataFrame:
    """Add the safeguarding columns of out.event_flags (:data:`SAFEGUARDING_LIMITED`) to a frame
    with one column per judgement area holding its code (four-point codes only for the
    four-point areas; ``safeguarding_effective`` Yes / No; ``safeguarding_standards`` Met / Not
    met). The build applies it to every event; the audits' tests apply it to simulated frames."""
    sg, std = pl.col("safeguarding_effective"), pl.col("safeguarding_standards")
    recorded = sg.is_in(["Yes", "No"]).fill_null(False) | std.is_in(["Met", "Not met"]).fill_null(False)
    not_effective = (sg == "No").fill_null(False) | (std == "Not met").fill_null(False)
    education_recorded = pl.all_horizontal([pl.col(c).is_not_null() for c in EDUCATION_JUDGEMENTS])
    education_good = pl.all_horizontal([pl.col(c).is_in(GOOD_OR_BETTER).fill_null(False) for c in EDUCATION_JUDGEMENTS])
    inadequate = (pl.col("overall_effectiveness") == "4").fill_null(False) | (pl.col("leadership_and_management") == "4").fill_null(False)
    classifiable = education_recorded & (
        pl.col("overall_effectiveness").is_not_null() | pl.col("leadership_and_management").is_not_null()
    )
    return frame_in.with_columns(
        safeguarding_recorded=recorded,
        safeguarding_not_effective=recorded & not_effective,
        safeguarding_not_met=(std == "Not met").fill_null(False),
        classifiable=classifiable,
        quality_of_education_good=pl.col("quality_of_education").is_in(GOOD_OR_BETTER).fill_null(False),
        education_good=education_good,
        inadequate_overall_or_leadership=inadequate,
        safeguarding_limited=(sg == "No").fill_null(False) & inadequate & education_good,
    )


def cliff_edge_expr() -> pl.Expr:
    """:data:`CLIFF_EDGE` on a frame of transitions (comparable, from_scale, to_scale, change)."""
    same_scale = (pl.col("from_scale") == pl.col("to_scale")).fill_null(False)
    return (pl.col("comparable").fill_null(False) & same_scale & (pl.col("change") >= CLIFF_EDGE_STEPS)).fill_null(False)


def flag(frame_in: pl.DataFrame) -> pl.DataFrame:
    """The flags of out.event_flags from one row per event with its judgement codes (one
    column per area, four-point codes only), its transition from the previous graded
    inspection and its working-day delays (the shape :data:`_FLAG_INPUTS_SQL` reads). Pure, so
    tests can feed it hand-made rows."""
    concern = (pl.col("overall_effectiveness") == "4").fill_null(False) | pl.col("category_of_concern").is_not_null()
    df = safeguarding_flags(frame_in).with_columns(concern=concern)
    same_scale = (pl.col("from_scale") == pl.col("to_scale")).fill_null(False)
    df = df.with_columns(
        cliff_edge=cliff_edge_expr(),
        overall_change=pl.when(pl.col("comparable") & same_scale).then(pl.col("change")),
    )
    df = _targets(df)
    ok = ~pl.col("published_before_start")
    delay = (
        pl.when(ok & pl.col("end_wd").is_not_null()).then(pl.col("end_wd"))
        .when(ok & pl.col("start_wd").is_not_null()).then(pl.col("start_wd"))
    )
    delay_from = (
        pl.when(ok & pl.col("end_wd").is_not_null()).then(pl.lit("end"))
        .when(ok & pl.col("start_wd").is_not_null()).then(pl.lit("start"))
    )
    target = pl.col("publication_target_working_days")
    allowance = pl.when(pl.col("publication_delay_from") == "start").then(START_COUNT_ALLOWANCE).otherwise(0)
    return df.with_columns(publication_delay_working_days=delay, publication_delay_from=delay_from).with_columns(
        beyond_target=pl.when(target.is_not_null() & pl.col("publication_delay_working_days").is_not_null())
        .then(pl.col("publication_delay_working_days") - allowance > target),
        beyond_target_upper_bound=pl.when(target.is_not_null() & pl.col("publication_delay_working_days").is_not_null())
        .then(pl.col("publication_delay_working_days") > target),
    )


def event_flags(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Compute out.event_flags (reads core.events, core.judgements, out.event_lineage,
    out.transitions, out.timing)."""
    return O.EVENT_FLAGS.conform(flag(frame(con, _FLAG_INPUTS_SQL)))


def derive_event_flags(con: duckdb.DuckDBPyConnection) -> None:
    replace_table(con, O.EVENT_FLAGS, event_flags(con))


# --- per snapshot ---------------------------------------------------------------------------


#: per snapshot file (out.snapshots), the schools it shows open: one open set per file
_SNAPSHOT_OPEN_SQL = """
    SELECT n.as_at, s.file_id AS open_set, s.urn,
           arg_max(s.school_name, s.row_number) AS school_name, arg_max(s.phase, s.row_number) AS phase,
           arg_max(s.local_authority, s.row_number) AS local_authority, max(s.file_id) AS open_in_file_id
    FROM core.schools s JOIN out.snapshots n ON n.file_id = s.file_id
    GROUP BY n.as_at, s.file_id, s.urn
"""


def snapshot_schools(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """Compute out.snapshot_schools: for each row of out.snapshots, the schools its file
    shows open, with their latest inspections as at its date (reads out.snapshots,
    core.schools, core.events, core.judgements, out.predecessors, out.lineage), every
    snapshot in one query of the one rule (:func:`evenhand.derive.as_at.latest_for_open_sets`)."""
    from evenhand.derive.as_at import latest_for_open_sets

    snaps = frame(con, "SELECT as_at, file_id, national, coverage FROM out.snapshots ORDER BY as_at, file_id")
    if snaps.height == 0:
        return None
    df = latest_for_open_sets(con, _SNAPSHOT_OPEN_SQL).rename({"open_set": "file_id"})
    df = df.join(snaps.select("file_id", "national", "coverage"), on="file_id", how="left")
    return O.SNAPSHOT_SCHOOLS.conform(df.sort("as_at", "file_id", "urn"))


def derive_snapshot_schools(con: duckdb.DuckDBPyConnection) -> None:
    replace_table(con, O.SNAPSHOT_SCHOOLS, snapshot_schools(con) if has_table(con, "out.snapshots") else None)


__all__ = [
    "CLIFF_EDGE",
    "LATE_PUBLICATION",
    "SAFEGUARDING_LIMITED",
    "cliff_edge_expr",
    "derive_event_flags",
    "derive_snapshot_schools",
    "event_flags",
    "flag",
    "safeguarding_flags",
    "snapshot_schools",
]
