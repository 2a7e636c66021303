"""The previous build of out.school_pages, one SQL statement of ``to_json(list(struct_pack(...)))``
CTEs (main before decision 1320), kept as a second route for the tests: every part of every page
the Polars build writes must equal what this statement gives, parsed."""

from __future__ import annotations

import json
from typing import Any

import duckdb

from evenhand.derive.event_context import provisional
from evenhand.derive.school_pages import CONTEXT_MEASURE_NAMES

PARTS = ("school", "events", "lineage", "facts", "latest", "similar_schools", "context", "school_files", "fallback", "report_card")


def _columns(con: duckdb.DuckDBPyConnection, qualified: str, drop: tuple[str, ...] = ()) -> list[str]:
    schema, table = qualified.split(".")
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, table],
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) not in drop]


def _struct(alias: str, cols: list[str]) -> str:
    return "struct_pack(" + ", ".join(f'"{c}" := {alias}."{c}"' for c in cols) + ")"


def old_pages(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, Any]]:
    """urn -> {part: parsed JSON} as the previous build wrote them."""
    sql = _sql(con)
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'core' AND table_name = 'context'").fetchall()[0][0]:
        sql = sql.replace("JOIN core.context c ON", "JOIN (SELECT NULL::BIGINT AS urn, NULL::VARCHAR AS measure, NULL::VARCHAR AS academic_year, "
                          "NULL::DOUBLE AS value, NULL::VARCHAR AS value_text, NULL::VARCHAR AS suppression, NULL::BIGINT AS file_id WHERE false) c ON")
    got = con.execute(sql).fetchall()
    return {int(r[0]): {p: (json.loads(v) if v is not None else None) for p, v in zip(PARTS, r[1:], strict=True)} for r in got}


def _sql(con: duckdb.DuckDBPyConnection) -> str:
    ev_cols = _columns(con, "core.events")
    j_cols = _columns(con, "core.judgements", ("event_id",))
    sch_cols = _columns(con, "core.schools", ("file_id", "row_number"))
    lat_cols = _columns(con, "out.latest_as_at")
    measures = ", ".join("'" + m + "'" for m in CONTEXT_MEASURE_NAMES)
    return f"""
WITH
-- every inspection as the history JSON gives it (query.history_from_core)
-- list_sort sorts structs field by field: (area, scale, code, ...) as history's ORDER BY area; an ordered
-- aggregate (list(... ORDER BY ...)) costs several times more
j AS (SELECT event_id, list_sort(list({_struct('x', j_cols)})) AS l FROM core.judgements x GROUP BY 1),
s AS (
    SELECT s.event_id, list_sort(list(struct_pack(file := f.path, row_number := s.row_number, block := s.block,
                                        reported_urn := s.reported_urn, relates_to_current_urn := s.relates_to_current_urn,
                                        as_at := s.as_at))) AS l
    FROM core.event_sources s JOIN meta.files f USING (file_id) GROUP BY 1
),
c AS (
    SELECT c.event_id, list_sort(list(struct_pack(field := c.field, value := c.value, file := f.path, row_number := c.row_number, kept := c.kept))) AS l
    FROM meta.conflicts c JOIN meta.files f USING (file_id) GROUP BY 1
),
doc AS (
    SELECT e.event_id, e.urn, e.start_date,
           to_json(struct_insert({_struct('e', ev_cols)},
                                 judgements := coalesce(j.l, []), sources := coalesce(s.l, []), conflicts := coalesce(c.l, []))) AS doc
    FROM core.events e LEFT JOIN j USING (event_id) LEFT JOIN s USING (event_id) LEFT JOIN c USING (event_id)
),
ids AS (
    SELECT urn AS page_urn, event_id FROM core.events
    UNION
    SELECT reported_urn, event_id FROM core.event_sources WHERE reported_urn IS NOT NULL
),
pages AS (SELECT page_urn AS urn FROM ids UNION SELECT urn FROM core.schools),
hist AS (
    SELECT ids.page_urn AS urn,
           to_json(list_transform(list_sort(list(struct_pack(d := doc.start_date, i := doc.event_id, doc := doc.doc)), 'ASC', 'NULLS LAST'), lambda x: x.doc)) AS events
    FROM ids JOIN doc USING (event_id) GROUP BY 1
),
school AS (
    SELECT urn, to_json({_struct('x', sch_cols)}) AS school
    FROM core.schools x
    QUALIFY row_number() OVER (PARTITION BY urn ORDER BY as_at DESC NULLS LAST, file_id DESC) = 1
),
school_files AS (
    SELECT s.urn, to_json(list(DISTINCT f.path ORDER BY f.path)) AS files
    FROM core.schools s JOIN meta.files f ON f.file_id = s.file_id GROUP BY 1
),
fallback AS (
    SELECT urn, to_json(first(struct_pack(school_name := school_name, school_type := school_type)
                              ORDER BY start_date DESC NULLS LAST)) AS fallback
    FROM core.events GROUP BY 1
),
-- the lineage (query._lineage for every URN)
lin_urns AS (
    SELECT lineage_id, list(struct_pack(urn := urn, position := position, role := role, school_name := school_name, n_events := n_events)
                            ORDER BY position NULLS LAST, urn) AS urns
    FROM out.lineage GROUP BY 1
),
rel AS (
    SELECT urn AS me, 'predecessor' AS side, predecessor_urn AS other, steps, same_lineage, true AS carries FROM out.predecessors
    UNION ALL SELECT predecessor_urn, 'successor', urn, steps, same_lineage, true FROM out.predecessors
    UNION ALL SELECT successor_urn, 'predecessor', predecessor_urn, 1, chained, carries FROM out.lineage_links
    UNION ALL SELECT predecessor_urn, 'successor', successor_urn, 1, chained, carries FROM out.lineage_links
),
one AS (
    SELECT me, side, other AS urn, min(steps) AS steps, bool_or(same_lineage) AS in_lineage, bool_or(carries) AS carries
    FROM rel GROUP BY ALL
),
other_events AS (
    SELECT e.urn, list(struct_pack(event_id := e.event_id, kind := e.kind, era := e.era, start_date := e.start_date,
                                   publication_date := e.publication_date, category_of_concern := e.category_of_concern,
                                   overall_scale := j.scale, overall_code := j.code, overall_label := j.label)
                       ORDER BY e.start_date, e.event_id) AS events
    FROM core.events e
    LEFT JOIN core.judgements j ON j.event_id = e.event_id AND j.area = 'overall_effectiveness'
    WHERE e.urn IN (SELECT urn FROM one)
    GROUP BY 1
),
related AS (
    SELECT one.me, one.side, one.steps,
           struct_pack(urn := one.urn, steps := one.steps, in_lineage := one.in_lineage, carries := one.carries,
                       school_name := l.school_name, lineage_id := l.lineage_id,
                       link_kind := coalesce(k1.kind, k2.kind), link_relation := coalesce(k1.relation, k2.relation),
                       link_source := coalesce(k1.source, k2.source), link_note := coalesce(k1.note, k2.note),
                       events := coalesce(oe.events, [])) AS r,
           one.urn
    FROM one
    LEFT JOIN out.lineage l ON l.urn = one.urn
    LEFT JOIN out.lineage_links k1 ON one.side = 'predecessor' AND k1.predecessor_urn = one.urn AND k1.successor_urn = one.me
    LEFT JOIN out.lineage_links k2 ON one.side = 'successor' AND k2.successor_urn = one.urn AND k2.predecessor_urn = one.me
    LEFT JOIN other_events oe ON oe.urn = one.urn
),
rel_lists AS (
    SELECT me,
           coalesce(list(r ORDER BY steps, urn) FILTER (WHERE side = 'predecessor'), []) AS predecessors,
           coalesce(list(r ORDER BY steps, urn) FILTER (WHERE side = 'successor'), []) AS successors,
           coalesce(list(urn) FILTER (WHERE side = 'predecessor'), []) AS pred_urns
    FROM related GROUP BY 1
),
lineage AS (
    SELECT l.urn, to_json(struct_pack(
               lineage_id := l.lineage_id, position := l.position, role := l.role, urns := u.urns,
               flags := struct_pack(merge := l.merge, split := l.split,
                                    merged_from := coalesce(l.merged_from, []), merged_into := coalesce(l.merged_into, []),
                                    split_from := coalesce(l.split_from, []), split_into := coalesce(l.split_into, []),
                                    other_links := coalesce(l.other_links, []), notes := l.notes),
               predecessors := coalesce(r.predecessors, []), successors := coalesce(r.successors, []))) AS lineage,
           list_transform(u.urns, lambda x: x.urn) AS lineage_urns, coalesce(r.pred_urns, []) AS pred_urns
    FROM out.lineage l JOIN lin_urns u USING (lineage_id) LEFT JOIN rel_lists r ON r.me = l.urn
),
-- the facts of every event a report shows: its history's and its predecessors' own
shown AS (
    SELECT page_urn AS urn, event_id FROM ids
    UNION
    SELECT l.urn, e.event_id FROM lineage l, unnest(l.pred_urns) AS p(pred) JOIN core.events e ON e.urn = p.pred
),
facts AS (
    SELECT shown.urn, to_json(list_sort(list(struct_pack(
               event_id := shown.event_id,
               inspection_length_days := t.inspection_length_days, inspection_length_working_days := t.inspection_length_working_days,
               end_to_publication_days := t.end_to_publication_days, start_to_publication_days := t.start_to_publication_days,
               publication_delay_working_days := f.publication_delay_working_days, publication_delay_from := f.publication_delay_from,
               safeguarding_limited := f.safeguarding_limited, safeguarding_not_met := f.safeguarding_not_met,
               cliff_edge := f.cliff_edge, overall_change := f.overall_change,
               publication_target_working_days := f.publication_target_working_days, publication_target_source := f.publication_target_source,
               publication_target_level := f.publication_target_level, beyond_target := f.beyond_target,
               transition := CASE WHEN tr.to_event_id IS NOT NULL THEN struct_pack(
                   from_label := tr.from_label, to_label := tr.to_label, from_start_date := tr.from_start_date, to_scale := tr.to_scale) END
           )))) AS facts
    FROM shown
    LEFT JOIN out.timing t ON t.event_id = shown.event_id
    LEFT JOIN out.event_flags f ON f.event_id = shown.event_id
    LEFT JOIN (SELECT * FROM out.transitions QUALIFY row_number() OVER (PARTITION BY to_event_id ORDER BY to_start_date DESC, from_event_id DESC) = 1) tr
           ON tr.to_event_id = shown.event_id
    GROUP BY 1
),
-- the latest judgement as at the newest file (out.latest_as_at), with that file's date
latest AS (
    SELECT x.urn, to_json(struct_insert({_struct('x', lat_cols)}, file_as_at := f.as_at)) AS latest
    FROM out.latest_as_at x LEFT JOIN meta.files f ON f.file_id = x.open_in_file_id
    QUALIFY row_number() OVER (PARTITION BY x.urn ORDER BY x.as_at DESC) = 1
),
-- similar schools: open schools of the same phase, IDACI quintile and size band (a fifth of the
-- phase by pupils) at their latest graded inspection as at the newest file, this school excluded
p AS (
    SELECT l.urn, l.overall_scale, l.overall_code, l.overall_label, s.phase, s.idaci_quintile, s.pupils::DOUBLE AS pupils, l.as_at
    FROM out.latest_as_at l JOIN core.schools s ON s.file_id = l.open_in_file_id AND s.urn = l.urn
    WHERE l.as_at = (SELECT max(as_at) FROM out.latest_as_at) AND s.pupils IS NOT NULL AND s.phase IS NOT NULL
),
cuts AS (SELECT phase, quantile_disc(pupils, [0.2, 0.4, 0.6, 0.8]) AS q, any_value(as_at) AS as_at FROM p GROUP BY 1),
pb AS (
    SELECT p.*, 1 + len(list_filter(cuts.q, lambda x: p.pupils > x)) AS band
    FROM p JOIN cuts USING (phase) WHERE p.pupils > 0
),
cells AS (
    SELECT phase, idaci_quintile, band, overall_scale = 'four_point' AS graded, overall_code AS code, overall_label AS label, count(*) AS k
    FROM pb GROUP BY ALL
),
me AS (
    SELECT x.urn, x.phase, x.idaci_quintile, x.pupils::DOUBLE AS pupils, cuts.as_at, cuts.q,
           1 + len(list_filter(cuts.q, lambda v: x.pupils::DOUBLE > v)) AS band
    FROM (SELECT * FROM core.schools QUALIFY row_number() OVER (PARTITION BY urn ORDER BY as_at DESC NULLS LAST, file_id DESC) = 1) x
    JOIN cuts ON cuts.phase = x.phase
    WHERE x.idaci_quintile IS NOT NULL AND x.pupils IS NOT NULL
),
sim AS (
    SELECT me.urn, to_json(struct_pack(
               as_at := any_value(me.as_at), band := any_value(me.band),
               edges := any_value([0::DOUBLE] || me.q || ['inf'::DOUBLE]),
               cells := coalesce(list(struct_pack(graded := c.graded, code := c.code, label := c.label,
                                                  k := c.k - CASE WHEN self.urn IS NOT NULL AND self.graded IS NOT DISTINCT FROM c.graded
                                                                   AND self.code IS NOT DISTINCT FROM c.code
                                                                   AND self.label IS NOT DISTINCT FROM c.label THEN 1 ELSE 0 END)
                                      ORDER BY c.graded NULLS LAST, c.code NULLS LAST, c.label NULLS LAST) FILTER (WHERE c.k IS NOT NULL), []))) AS similar_schools
    FROM me
    LEFT JOIN cells c ON c.phase = me.phase AND c.idaci_quintile = me.idaci_quintile AND c.band = me.band
    LEFT JOIN (SELECT urn, phase, idaci_quintile, band, overall_scale = 'four_point' AS graded, overall_code AS code, overall_label AS label FROM pb) self
           ON self.urn = me.urn AND self.phase = me.phase AND self.idaci_quintile = me.idaci_quintile AND self.band = me.band
    GROUP BY me.urn
),
-- the context over the years: DfE measures of the school's lineage and its predecessors
ctx_urns AS (
    SELECT pages.urn AS page_urn, u AS urn
    FROM pages LEFT JOIN lineage l USING (urn),
         unnest(CASE WHEN l.urn IS NULL THEN [pages.urn] ELSE list_distinct(l.lineage_urns || l.pred_urns) END) AS t(u)
),
ctx AS (
    -- one row per measure and year, all its fields from it: a value over none, a final file over a
    -- provisional one, then the newest file, and in one file the school's own URN's (then the highest URN)
    SELECT page_urn, measure, academic_year, pick.value AS value, pick.value_text AS value_text, pick.suppression AS suppression
    FROM (SELECT cu.page_urn, c.measure, c.academic_year,
                 arg_max(struct_pack(value := c.value, value_text := c.value_text, suppression := c.suppression),
                         (c.value IS NOT NULL OR c.value_text IS NOT NULL, NOT {provisional('cf.path')}, c.file_id,
                          c.urn = cu.page_urn, c.urn)) AS pick
          FROM ctx_urns cu JOIN core.context c ON c.urn = cu.urn LEFT JOIN meta.files cf ON cf.file_id = c.file_id
          WHERE c.measure IN ({measures}) AND c.academic_year IS NOT NULL
          GROUP BY ALL)
),
ctx_rows AS (
    SELECT page_urn AS urn, list(struct_pack(measure := measure, academic_year := academic_year, value := value,
                                             value_text := value_text, suppression := suppression)
                                 ORDER BY measure, academic_year) AS rows
    FROM ctx GROUP BY 1
),
-- report-card schools (their latest graded inspection, in any file, a report card) compared with
-- report-card schools only: per area and five-point grade, how many of the others were given it
rc AS (
    SELECT urn, event_id FROM core.events WHERE kind IN ('graded', 'report_card')
    QUALIFY row_number() OVER (PARTITION BY urn ORDER BY start_date DESC NULLS LAST, event_id DESC) = 1
        AND kind = 'report_card'
),
rc_cells AS (
    SELECT j.area, j.code, j.label, count(*) AS k
    FROM rc JOIN core.judgements j USING (event_id) WHERE j.scale = 'report_card_5' GROUP BY ALL
),
report_card AS (
    SELECT rc.urn, to_json(struct_pack(
               event_id := any_value(rc.event_id), n_schools := (SELECT count(*) FROM rc),
               cells := coalesce(list(struct_pack(area := c.area, code := c.code, label := c.label,
                                                  k := c.k - CASE WHEN own.event_id IS NULL THEN 0 ELSE 1 END)
                                      ORDER BY c.area, c.code) FILTER (WHERE c.area IS NOT NULL), []))) AS report_card
    FROM rc LEFT JOIN rc_cells c ON true
    LEFT JOIN core.judgements own ON own.event_id = rc.event_id AND own.area = c.area AND own.code = c.code AND own.scale = 'report_card_5'
    GROUP BY rc.urn
),
ctx_files AS (
    SELECT cu.page_urn AS urn, list(DISTINCT f.path ORDER BY f.path) AS files
    FROM ctx_urns cu JOIN core.context c ON c.urn = cu.urn JOIN meta.files f ON f.file_id = c.file_id
    WHERE c.measure IN ({measures})
    GROUP BY 1
)
SELECT pages.urn, school.school, coalesce(hist.events, '[]') AS events, lineage.lineage,
       coalesce(facts.facts, '[]') AS facts, latest.latest, sim.similar_schools,
       to_json(struct_pack(rows := coalesce(ctx_rows.rows, []), files := coalesce(ctx_files.files, []))) AS context,
       coalesce(school_files.files, '[]') AS school_files, fallback.fallback, report_card.report_card
FROM pages
LEFT JOIN school USING (urn) LEFT JOIN hist USING (urn) LEFT JOIN lineage USING (urn) LEFT JOIN facts USING (urn)
LEFT JOIN latest USING (urn) LEFT JOIN sim USING (urn) LEFT JOIN ctx_rows USING (urn) LEFT JOIN ctx_files USING (urn)
LEFT JOIN school_files USING (urn) LEFT JOIN fallback USING (urn) LEFT JOIN report_card USING (urn)
ORDER BY pages.urn
"""
