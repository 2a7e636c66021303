"""One school's page, precomputed at build time: ``out.school_pages`` (docs/decisions/1310-school-pages-precomputed.md,
1320-school-pages-compressed.md).

Everything a school's report and its dashboard page show that does not depend on the request
is computed here, for every URN at once: the school's details, every inspection as
``evenhand history URN --json`` gives it (judgements, sources, conflicts), the lineage, the
per-event facts (out.timing, out.event_flags, out.transitions), the latest judgement as at the
newest file, the similar-school distribution, the context over the years and the files used.
DuckDB does the joins and rules set-wise; Polars nests the rows and encodes the JSON. One row
per URN, in URN order: one JSON object (its lists of rows columnar), Zstandard-compressed; a
page is one point lookup (:func:`read_page`) and the rest is labelling and formatting
(:mod:`evenhand.present.school`).

Second routes, in the tests: :func:`evenhand.query.history_from_core` (the per-URN queries
for the history JSON), held equal to every page of the test warehouses, and the previous
one-statement SQL build (tests/derive/school_pages_sql.py), held equal part by part.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from evenhand.core.warehouse import frame, table_names
from evenhand.derive.event_context import provisional
from evenhand.derive.lineage import replace_table
from evenhand.errors import EvenhandError, InputError, Problem
from evenhand.metadata import out_tables as O

#: Context measures a school's report shows over the years (labels and formats: present.school).
CONTEXT_MEASURE_NAMES: tuple[str, ...] = (
    "pupils", "fsm_pct", "fsm6_pct", "eal_pct", "sen_ehcp_pct", "sen_support_pct",
    "absence_overall_pct", "persistent_absence_pct", "ks2_rwm_expected_pct", "ks2_reading_progress",
    "ks2_maths_progress", "progress8", "attainment8", "income_per_pupil_gbp", "expenditure_per_pupil_gbp",
)


def _columns(con: duckdb.DuckDBPyConnection, qualified: str, drop: tuple[str, ...] = ()) -> list[str]:
    schema, table = qualified.split(".")
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, table],
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) not in drop]


NEEDED = ("core.events", "core.judgements", "core.event_sources", "core.schools", "meta.files", "meta.conflicts",
          "out.lineage", "out.lineage_links", "out.predecessors", "out.timing", "out.event_flags", "out.transitions",
          "out.latest_as_at")


# --- building every page ---------------------------------------------------------------------
#
# DuckDB does the relational work (joins, windows, arg_max) and returns flat rows; Polars
# nests them and encodes the JSON (DuckDB's nested aggregates and to_json cost several times
# more). A list of rows is stored "columnar": one JSON object of equal-length arrays, a key
# once per list rather than once per row (the keys were more than half of the pages' bytes);
# :func:`rows` turns it back into the list of objects the readers see
# (docs/decisions/1320-school-pages-compressed.md).


def _json(expr: pl.Expr) -> pl.Expr:
    """The JSON text of a value (a list, a struct, ...): Polars encodes structs only, so wrap it."""
    return pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def _doc(cols: list[str]) -> pl.Expr:
    """The JSON object of ``cols``, in that order."""
    return pl.struct([pl.col(c) for c in cols]).struct.json_encode()


def _columnar(df: pl.DataFrame, key: str, order: list[str], cols: list[str], name: str) -> pl.DataFrame:
    """Per ``key``, the rows of ``cols`` in ``order`` (ascending, nulls last, as DuckDB's ORDER
    BY) as one list column per field: ``name.field`` (see :func:`_pack`)."""
    return (
        df.sort([key, *order], nulls_last=True, maintain_order=True)
        .group_by(key, maintain_order=True)
        .agg([pl.col(c).alias(f"{name}.{c}") for c in cols])
    )


def _pack(df: pl.DataFrame, name: str, cols: list[str]) -> pl.DataFrame:
    """The ``name.field`` list columns as one struct ``name``; null where a left join found no
    rows (:func:`rows` reads null as none)."""
    parts = [f"{name}.{c}" for c in cols]
    packed = pl.struct([pl.col(p).alias(c) for p, c in zip(parts, cols, strict=True)])
    return df.with_columns(pl.when(pl.col(parts[0]).is_not_null()).then(packed).alias(name)).drop(parts)


def _empty_list(df: pl.DataFrame, col: str) -> pl.Expr:
    return pl.col(col).fill_null(pl.lit([], dtype=df.schema[col]))


def _nested(df: pl.DataFrame, key: str, order: list[str], cols: list[str], name: str, on: str, into: pl.DataFrame) -> pl.DataFrame:
    """``into`` with ``name``: the columnar rows of ``df`` whose ``key`` equals its ``on``."""
    got = _columnar(df, key, order, cols, name).rename({key: on})
    return _pack(into.join(got, on=on, how="left"), name, cols)


EVENT_PARTS: dict[str, tuple[str, ...]] = {
    "judgements": ("area", "scale", "code", "label", "graded", "rank", "judgement_date", "raw_value"),
    "sources": ("file", "row_number", "block", "reported_urn", "relates_to_current_urn", "as_at"),
    "conflicts": ("field", "value", "file", "row_number", "kept"),
}


#: a judgement's values that the warehouse's dictionary holds once per distinct combination (its
#: "kind"): a page's judgement is its kind's number and its date (decision 1340)
KIND_COLS: tuple[str, ...] = ("area", "scale", "code", "label", "graded", "rank", "raw_value")
#: the stored columns of a page's judgements, sources and conflicts (a file is its number in the dictionary)
STORED_PARTS: dict[str, tuple[str, ...]] = {
    "judgements": ("kind", "judgement_date"),
    "sources": EVENT_PARTS["sources"],
    "conflicts": EVENT_PARTS["conflicts"],
}


def _numbered(values: pl.Series, name: str) -> pl.DataFrame:
    """(``name``, value): the distinct non-null ``values`` numbered 0, 1, ... in sorted order (an
    entry of the warehouse's page dictionary: ``value`` is the number's)."""
    return values.drop_nulls().unique().sort().to_frame("value").with_row_index(name)


def _events(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame]]:
    """(ids, hist, dictionary): the (page_urn, event_id) pairs of every page, each page's events
    (columnar) as query.history_from_core gives them but with each file as its number in the
    dictionary and each judgement as its kind's number (KIND_COLS) and its date; and those
    dictionary entries ("file": the paths, "kind": the kinds' values, in number order)."""
    ev = frame(con, "SELECT * FROM core.events")
    flat = {
        "judgements": frame(con, "SELECT * FROM core.judgements"),
        "sources": frame(con, """SELECT s.event_id, f.path AS file, s.row_number, s.block, s.reported_urn, s.relates_to_current_urn, s.as_at
                                 FROM core.event_sources s JOIN meta.files f USING (file_id)"""),
        "conflicts": frame(con, """SELECT c.event_id, c.field, c.value, f.path AS file, c.row_number, c.kept
                                   FROM meta.conflicts c JOIN meta.files f USING (file_id)"""),
    }
    for name, part_cols in EVENT_PARTS.items():
        if [c for c in flat[name].columns if c != "event_id"] != list(part_cols):
            raise InputError([Problem(f"table for {name}", None, None, None, f"columns {flat[name].columns} are not event_id + {part_cols}")])
        # an event's rows in the order the history gives them (every column ascending, nulls last)
        flat[name] = flat[name].sort(["event_id", *part_cols], nulls_last=True, maintain_order=True)
    # the dictionary: every file a source, a conflict or an event's source_files names, every kind
    src_files = ev.select("event_id", pl.col("source_files").alias("file"), pl.int_range(pl.len()).alias("_ev")).explode("file")
    files = _numbered(pl.concat([flat["sources"]["file"], flat["conflicts"]["file"], src_files["file"]]), "file_no")
    kinds = flat["judgements"].select(KIND_COLS).unique().sort(list(KIND_COLS), nulls_last=True).with_row_index("kind")

    def numbered(df: pl.DataFrame) -> pl.DataFrame:
        return (df.join(files, left_on="file", right_on="value", how="left", maintain_order="left")
                .with_columns(pl.col("file_no").alias("file")).drop("file_no"))

    flat["judgements"] = flat["judgements"].join(kinds, on=list(KIND_COLS), how="left", nulls_equal=True, maintain_order="left")
    flat["sources"], flat["conflicts"] = numbered(flat["sources"]), numbered(flat["conflicts"])
    # an event's source_files as numbers, in their order (an empty list stays empty: its one exploded row is null)
    if ev.select(pl.col("source_files").list.eval(pl.element().is_null()).list.any().any()).item():
        raise InputError([Problem("table core.events", None, "source_files", None, "a null in a list of source files")])
    src_files = numbered(src_files).group_by("_ev", maintain_order=True).agg(pl.col("file").drop_nulls().alias("source_files"))
    doc = ev.with_columns(source_files=src_files.sort("_ev")["source_files"])
    for name, part_cols in STORED_PARTS.items():
        doc = _nested(flat[name], "event_id", [], list(part_cols), name, "event_id", doc)
    ids = pl.concat([  # (core.event_sources itself: a source's file need not be in meta.files)
        ev.select(pl.col("urn").alias("page_urn"), "event_id"),
        frame(con, "SELECT reported_urn AS page_urn, event_id FROM core.event_sources WHERE reported_urn IS NOT NULL"),
    ]).unique()
    cols = [*ev.columns, *EVENT_PARTS]
    # the (page, event) pairs sorted first, then the documents joined in that order: sorting the
    # joined documents (nested lists) gathered them all once more
    order = (ids.join(ev.select("event_id", "start_date"), on="event_id")
             .sort(["page_urn", "start_date", "event_id"], nulls_last=True).drop("start_date"))
    hist = (order.join(doc, on="event_id", maintain_order="left").group_by("page_urn", maintain_order=True)
            .agg([pl.col(c).alias(f"events.{c}") for c in cols]))
    hist = _pack(hist.rename({"page_urn": "urn"}), "events", cols)
    dictionary = {"file": files.select("value"), "kind": kinds.drop("kind")}
    return ids, hist.select("urn", _json(pl.col("events")).alias("events")), dictionary


_RELATED = ("urn", "steps", "in_lineage", "carries", "school_name", "lineage_id", "link_kind", "link_relation", "link_source", "link_note", "events")
_OTHER_EVENTS = ("event_id", "kind", "era", "start_date", "publication_date", "category_of_concern", "overall_scale", "overall_code", "overall_label")


def _lineage(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(lineage, preds, members): each URN's lineage JSON (query._lineage for every URN; its
    lists columnar), its predecessors (urn, pred) and the URNs of its lineage (urn, member)."""
    lin = frame(con, "SELECT * FROM out.lineage")
    related = frame(con, """
        WITH rel AS (
            SELECT urn AS me, 'predecessor' AS side, predecessor_urn AS other, steps, same_lineage, true AS carries FROM out.predecessors
            UNION ALL SELECT predecessor_urn, 'successor', urn, steps, same_lineage, true FROM out.predecessors
            UNION ALL SELECT successor_urn, 'predecessor', predecessor_urn, 1, chained, carries FROM out.lineage_links
            UNION ALL SELECT predecessor_urn, 'successor', successor_urn, 1, chained, carries FROM out.lineage_links
        ),
        one AS (
            SELECT me, side, other AS urn, min(steps) AS steps, bool_or(same_lineage) AS in_lineage, bool_or(carries) AS carries
            FROM rel GROUP BY ALL
        )
        SELECT one.me, one.side, one.urn, one.steps, one.in_lineage, one.carries, l.school_name, l.lineage_id,
               coalesce(k1.kind, k2.kind) AS link_kind, coalesce(k1.relation, k2.relation) AS link_relation,
               coalesce(k1.source, k2.source) AS link_source, coalesce(k1.note, k2.note) AS link_note
        FROM one
        LEFT JOIN out.lineage l ON l.urn = one.urn
        LEFT JOIN out.lineage_links k1 ON one.side = 'predecessor' AND k1.predecessor_urn = one.urn AND k1.successor_urn = one.me
        LEFT JOIN out.lineage_links k2 ON one.side = 'successor' AND k2.successor_urn = one.urn AND k2.predecessor_urn = one.me
    """)
    other = frame(con, """
        SELECT e.urn, e.event_id, e.kind, e.era, e.start_date, e.publication_date, e.category_of_concern,
               j.scale AS overall_scale, j.code AS overall_code, j.label AS overall_label
        FROM core.events e
        LEFT JOIN core.judgements j ON j.event_id = e.event_id AND j.area = 'overall_effectiveness'
        WHERE e.urn IN (SELECT urn FROM out.predecessors UNION SELECT predecessor_urn FROM out.predecessors
                        UNION SELECT successor_urn FROM out.lineage_links UNION SELECT predecessor_urn FROM out.lineage_links)
    """)
    related = _nested(other, "urn", ["start_date", "event_id"], list(_OTHER_EVENTS), "events", "urn", related)
    ucols = ["urn", "position", "role", "school_name", "n_events"]
    doc = _nested(lin, "lineage_id", ["position", "urn"], ucols, "urns", "lineage_id", lin)
    for side, name in (("predecessor", "predecessors"), ("successor", "successors")):
        doc = _nested(related.filter(pl.col("side") == side), "me", ["steps", "urn"], list(_RELATED), name, "urn", doc)
    for c in ("merged_from", "merged_into", "split_from", "split_into", "other_links"):
        doc = doc.with_columns(_empty_list(doc, c))
    doc = doc.with_columns(flags=pl.struct(["merge", "split", "merged_from", "merged_into", "split_from", "split_into", "other_links", "notes"]))
    out = doc.select("urn", _doc(["lineage_id", "position", "role", "urns", "flags", "predecessors", "successors"]).alias("lineage"))
    preds = (related.filter(pl.col("side") == "predecessor").select(pl.col("me").alias("urn"), pl.col("urn").alias("pred"))
             .unique().join(lin.select("urn"), on="urn", how="semi"))
    members = lin.select("urn", "lineage_id").join(lin.select(pl.col("urn").alias("member"), "lineage_id"), on="lineage_id").drop("lineage_id")
    return out, preds, members


FACT_COLS: tuple[str, ...] = (
    "event_id", "inspection_length_days", "inspection_length_working_days", "end_to_publication_days", "start_to_publication_days",
    "publication_delay_working_days", "publication_delay_from", "safeguarding_limited", "safeguarding_not_met",
    "cliff_edge", "overall_change", "publication_target_working_days", "publication_target_source",
    "publication_target_level", "beyond_target", "transition",
)


def _shown(con: duckdb.DuckDBPyConnection, ids: pl.DataFrame, preds: pl.DataFrame) -> pl.DataFrame:
    """(page_urn, event_id): the events whose facts each page shows (its own, reported, and its predecessors' own)."""
    own = frame(con, "SELECT urn AS pred, event_id FROM core.events")
    return pl.concat([ids, preds.join(own, on="pred").select(pl.col("urn").alias("page_urn"), "event_id")]).unique()


def _facts(con: duckdb.DuckDBPyConnection, shown: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(facts, targets): each page's facts (columnar) per event it shows (:func:`_shown`), the
    publication target's source (a quotation: the same few texts on every event) as its number in
    the dictionary and the transition as the array of its TRANSITION_KEYS' values; and those texts
    (the dictionary's "target", in number order)."""
    per_event = frame(con, """
        SELECT e.event_id,
               t.inspection_length_days, t.inspection_length_working_days, t.end_to_publication_days, t.start_to_publication_days,
               f.publication_delay_working_days, f.publication_delay_from, f.safeguarding_limited, f.safeguarding_not_met,
               f.cliff_edge, f.overall_change, f.publication_target_working_days, f.publication_target_source,
               f.publication_target_level, f.beyond_target,
               tr.to_event_id IS NOT NULL AS _has_tr, tr.from_label, tr.to_label, tr.from_start_date, tr.to_scale
        FROM core.events e
        LEFT JOIN out.timing t ON t.event_id = e.event_id
        LEFT JOIN out.event_flags f ON f.event_id = e.event_id
        LEFT JOIN (SELECT * FROM out.transitions QUALIFY row_number() OVER (PARTITION BY to_event_id ORDER BY to_start_date DESC, from_event_id DESC) = 1) tr
               ON tr.to_event_id = e.event_id
    """)
    targets = _numbered(per_event["publication_target_source"], "target")
    per_event = per_event.join(targets, left_on="publication_target_source", right_on="value", how="left", maintain_order="left")
    per_event = per_event.with_columns(
        publication_target_source=pl.col("target"),
        transition=pl.when(pl.col("_has_tr")).then(pl.concat_list([pl.col(c).cast(pl.String) for c in TRANSITION_KEYS])),
    )
    got = _columnar(shown.join(per_event, on="event_id"), "page_urn", ["event_id"], list(FACT_COLS), "facts")
    got = _pack(got.rename({"page_urn": "urn"}), "facts", list(FACT_COLS))
    return got.select("urn", _json(pl.col("facts")).alias("facts")), targets.select("value")


#: the keys of a fact's transition (stored as the array of their values; dates as ISO text)
TRANSITION_KEYS: tuple[str, ...] = ("from_label", "to_label", "from_start_date", "to_scale")


CONTEXT_COLS: tuple[str, ...] = ("measure", "academic_year", "value", "value_text", "suppression")


def _context(con: duckdb.DuckDBPyConnection, pages: pl.DataFrame, preds: pl.DataFrame, members: pl.DataFrame,
             have_context: bool) -> pl.DataFrame:
    """Each page's context JSON: DfE measures of its lineage's and predecessors' URNs by year
    (columnar rows), and their files."""
    lone = pages.join(members.select("urn").unique(), on="urn", how="anti").select("urn", pl.col("urn").alias("u"))
    cu = (pl.concat([members.rename({"member": "u"}), preds.rename({"pred": "u"})]).join(pages, on="urn", how="semi"))
    cu = pl.concat([cu, lone]).unique().rename({"urn": "page_urn", "u": "urn"})
    measures = ", ".join("'" + m + "'" for m in CONTEXT_MEASURE_NAMES)
    rows = pl.DataFrame(schema={"page_urn": pl.Int64, "measure": pl.String, "academic_year": pl.String, "value": pl.Float64,
                                "value_text": pl.String, "suppression": pl.String})
    files = pl.DataFrame(schema={"urn": pl.Int64, "path": pl.String})
    if have_context:
        con.register("_page_ctx_urns", cu.to_arrow())
        try:
            # one row of core.context per measure and year, every field from that row: a value over
            # none, a final file over a provisional one and then the newest file (out.event_context's
            # rule for the same table), and in one file the school's own URN's (then the highest URN):
            # the per-URN query this replaced left a tie between two URNs of one file to chance
            rank = (f"(c.value IS NOT NULL OR c.value_text IS NOT NULL, NOT {provisional('f.path')}, c.file_id, "
                    "c.urn = cu.page_urn, c.urn)")
            rows = frame(con, f"""
                SELECT page_urn, measure, academic_year, pick.value AS value, pick.value_text AS value_text,
                       pick.suppression AS suppression
                FROM (SELECT cu.page_urn, c.measure, c.academic_year,
                             arg_max(struct_pack(value := c.value, value_text := c.value_text, suppression := c.suppression), {rank}) AS pick
                      FROM _page_ctx_urns cu JOIN core.context c ON c.urn = cu.urn LEFT JOIN meta.files f ON f.file_id = c.file_id
                      WHERE c.measure IN ({measures}) AND c.academic_year IS NOT NULL
                      GROUP BY ALL)""")
        finally:
            con.unregister("_page_ctx_urns")
        files = frame(con, f"SELECT DISTINCT c.urn, f.path FROM core.context c JOIN meta.files f USING (file_id) WHERE c.measure IN ({measures})")
    doc = _nested(rows, "page_urn", ["measure", "academic_year"], list(CONTEXT_COLS), "rows", "urn", pages)
    fl = (cu.join(files, on="urn").select("page_urn", "path").unique().sort(["page_urn", "path"])
          .group_by("page_urn", maintain_order=True).agg(pl.col("path").alias("files")).rename({"page_urn": "urn"}))
    doc = doc.join(fl, on="urn", how="left")
    doc = doc.with_columns(_empty_list(doc, "files"))
    return doc.select("urn", _doc(["rows", "files"]).alias("context"))


def _core_small(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The small parts from core tables alone: school, school_files, fallback (Polars-encoded)."""
    sch_cols = _columns(con, "core.schools", ("file_id", "row_number"))
    school = frame(con, """SELECT urn AS _urn, * EXCLUDE (file_id, row_number) FROM core.schools
                           QUALIFY row_number() OVER (PARTITION BY urn ORDER BY as_at DESC NULLS LAST, file_id DESC) = 1""")
    files = frame(con, """SELECT s.urn, list(DISTINCT f.path ORDER BY f.path) AS files
                          FROM core.schools s JOIN meta.files f ON f.file_id = s.file_id GROUP BY 1""")
    fallback = frame(con, """SELECT urn, f.school_name, f.school_type FROM (
                                 SELECT urn, first(struct_pack(school_name := school_name, school_type := school_type)
                                                   ORDER BY start_date DESC NULLS LAST) AS f
                                 FROM core.events GROUP BY 1)""")
    return {
        "school": school.select(pl.col("_urn").alias("urn"), _doc(sch_cols).alias("school")),
        "school_files": files.select("urn", _json(pl.col("files")).alias("school_files")),
        "fallback": fallback.select("urn", _doc(["school_name", "school_type"]).alias("fallback")),
    }


def _latest_small(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The small parts that read out.latest_as_at: latest (Polars-encoded), and similar_schools and
    report_card (DuckDB's to_json: a size band's edges include infinity)."""
    lat_cols = _columns(con, "out.latest_as_at")
    latest = frame(con, """SELECT x.urn AS _urn, x.*, f.as_at AS file_as_at
                           FROM out.latest_as_at x LEFT JOIN meta.files f ON f.file_id = x.open_in_file_id
                           QUALIFY row_number() OVER (PARTITION BY x.urn ORDER BY x.as_at DESC) = 1""")
    group = frame(con, _GROUP_SQL)
    return {
        "latest": latest.select(pl.col("_urn").alias("urn"), _doc([*lat_cols, "file_as_at"]).alias("latest")),
        "similar_schools": group.select("urn", "similar_schools"),
        "report_card": group.select("urn", "report_card"),
    }


# similar schools and report-card comparisons: one statement, its JSON by DuckDB (infinite edges)
_GROUP_SQL = """
WITH
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
)

SELECT coalesce(sim.urn, report_card.urn) AS urn, sim.similar_schools::VARCHAR AS similar_schools, report_card.report_card::VARCHAR AS report_card
FROM sim FULL JOIN report_card USING (urn)
"""

#: the parts of a page, in the order the JSON object gives them, in runs each compressed as soon as
#: its parts are built: every part but the facts (known once out.latest_as_at is), then the facts
#: (out.event_flags), so the two are compressed side by side; a part missing for a URN is null
#: (events and facts: none; :func:`rows` reads null as no rows), school_files []. Each run is one
#: Zstandard frame: a run of its own costs ~15% more bytes (measured: three runs 90 MB, two 83 MB,
#: one 78 MB on the Ofsted set)
SEGMENTS: tuple[tuple[str, ...], ...] = (
    ("school", "events", "school_files", "fallback", "lineage", "latest", "similar_schools", "context", "report_card"),
    ("facts",),
)
PARTS: tuple[str, ...] = tuple(p for seg in SEGMENTS for p in seg)
_DEFAULTS = {"school_files": "[]"}
#: how a page is compressed (pyarrow's codec name): Zstandard compresses the pages' JSON about 3.5x
#: at ~170 MB/s here; LZ4 twice as fast, 2.5x, a warehouse larger than before (decision 1320). A page
#: is one Zstandard frame per run of SEGMENTS, one after the other: it decompresses to their texts
#: joined, one JSON object (decision 1330)
CODEC = "zstd"
#: pages compressed and written per chunk of URNs (bounds the build's memory)
_CHUNK = 4096
_CORE_INPUTS = ("core.events", "core.judgements", "core.event_sources", "core.schools", "meta.files", "meta.conflicts")


def _text(df: pl.DataFrame, k: int) -> pl.Expr:
    """The JSON text of the parts of ``SEGMENTS[k]``: its run of the page's object (with the
    opening brace in the first, the closing one in the last)."""
    text = pl.lit("{" if k == 0 else "")
    for i, name in enumerate(SEGMENTS[k]):
        text = text + pl.lit(("," if i or k else "") + f'"{name}":') + pl.col(name).fill_null(_DEFAULTS.get(name, "null"))
    return text + "}" if k == len(SEGMENTS) - 1 else text


#: the stored format of out.school_pages: 2 (decision 1340) numbers files, judgement kinds and
#: publication-target texts through the warehouse's one page dictionary
#: (out.school_page_dictionary); 1 (decisions 1320, 1330, no ``format`` column) wrote them out
PAGE_FORMAT = 2
#: the page dictionary's parts: files (a path per number), judgement kinds (KIND_COLS' values
#: per number, columnar), publication-target sources (a text per number)
DICTIONARY_PARTS: tuple[str, ...] = ("file", "kind", "target")


def _dictionary_text(parts: dict[str, pl.DataFrame]) -> str:
    """The page dictionary's JSON text: per part its values in number order (one column: an
    array; several: an object of arrays)."""
    if sorted(parts) != sorted(DICTIONARY_PARTS):
        raise InputError([Problem(f"table {O.SCHOOL_PAGE_DICTIONARY.qualified}", None, None, None,
                                  f"parts {sorted(parts)} of the page dictionary built, not {sorted(DICTIONARY_PARTS)}")])
    out = {}
    for name in DICTIONARY_PARTS:
        df = parts[name]
        out[name] = df.to_series().to_list() if df.width == 1 else df.to_dict(as_series=False)
    return json.dumps(out, default=str)


class PageBuild:
    """The pages of one build, part by part: each run of parts (SEGMENTS) is computed and
    compressed as soon as the tables it reads are written, so that most of the work runs beside
    the other derivations (derive/pipeline.py runs each method as a derivation; decision 1330):

    - :meth:`derive_page_events` (core tables only): the pages' URNs; school, events, school_files, fallback;
    - :meth:`derive_page_lineage` (out.lineage ...): the lineage, the context, which events' facts each page shows;
    - :meth:`derive_page_latest` (out.latest_as_at): latest, similar schools, report card; then
      every part but the facts, compressed;
    - :meth:`derive_page_facts` (out.timing, out.event_flags, out.transitions): the facts, compressed;
    - :meth:`derive_school_pages`: each page's frames joined, out.school_pages written.

    Each method reads only what its predecessors in that list left; a warehouse that lacks a
    table of NEEDED gets an empty out.school_pages, as before.
    """

    def __init__(self) -> None:
        self.skip = False
        self.parts: dict[str, pl.DataFrame] = {}
        self.dictionary: dict[str, pl.DataFrame] = {}  # the entries of the warehouse's page dictionary, per kind
        self.frames: dict[int, list[bytes]] = {}  # per run of SEGMENTS, per URN of self.urns
        self.sizes: dict[int, list[int]] = {}
        self._claimed: set[int] = set()
        self._lock = threading.Lock()

    def _missing(self, con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> bool:
        have = table_names(con)
        self.skip = self.skip or any(t not in have for t in tables)
        return self.skip

    def _compress_ready(self) -> None:
        """Compress every run of SEGMENTS whose parts are all built (they leave self.parts); two
        steps that run side by side never claim the same run."""
        with self._lock:
            todo = [k for k, seg in enumerate(SEGMENTS) if k not in self._claimed and all(p in self.parts for p in seg)]
            self._claimed.update(todo)
            got = {k: [self.parts.pop(p) for p in SEGMENTS[k]] for k in todo}
        for k in todo:
            self._segment(k, got[k])

    def _segment(self, k: int, parts: list[pl.DataFrame]) -> None:
        """Compress the run ``SEGMENTS[k]`` of every page from its ``parts`` (frames of urn and the part)."""
        out = self.urns.to_frame()
        for part in parts:
            out = out.join(part, on="urn", how="left")
        out = out.select("urn", _text(out, k).alias("text")).sort("urn")
        if not out["urn"].equals(self.urns):
            raise InputError([Problem(f"table {O.SCHOOL_PAGES.qualified}", None, "urn", None, f"a part of {SEGMENTS[k]} has rows that share a URN")])
        codec = pa.Codec(CODEC)  # it releases the GIL while it compresses
        frames: list[bytes] = []
        sizes: list[int] = []
        for start in range(0, out.height, _CHUNK):
            raw = out["text"].slice(start, _CHUNK).cast(pl.Binary).to_list()
            frames += [codec.compress(b, asbytes=True) for b in raw]
            sizes += [len(b) for b in raw]
        with self._lock:
            self.frames[k], self.sizes[k] = frames, sizes

    def derive_page_events(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._missing(con, _CORE_INPUTS):
            return
        ids, hist, dictionary = _events(con)
        self.dictionary.update(dictionary)
        schools = frame(con, "SELECT DISTINCT urn FROM core.schools")
        self.ids = ids
        self.pages = pl.concat([ids.select(pl.col("page_urn").alias("urn")), schools]).unique().sort("urn")
        self.urns = self.pages["urn"]
        self.parts["events"] = hist
        self.parts.update(_core_small(con))
        self._compress_ready()

    def derive_page_lineage(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._missing(con, ("out.lineage", "out.lineage_links", "out.predecessors")):
            return
        self.parts["lineage"], preds, members = _lineage(con)
        self.parts["context"] = _context(con, self.pages, preds, members, "core.context" in table_names(con))
        self.shown = _shown(con, self.ids, preds)
        self._compress_ready()

    def derive_page_latest(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._missing(con, ("out.latest_as_at",)):
            return
        self.parts.update(_latest_small(con))
        self._compress_ready()

    def derive_page_facts(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._missing(con, ("out.timing", "out.event_flags", "out.transitions")):
            return
        self.parts["facts"], self.dictionary["target"] = _facts(con, self.shown)
        self._compress_ready()

    def derive_school_pages(self, con: duckdb.DuckDBPyConnection) -> None:
        """out.school_pages: one row per URN with everything its page shows (see the module)."""
        if self._missing(con, NEEDED):
            replace_table(con, O.SCHOOL_PAGE_DICTIONARY, None)
            replace_table(con, O.SCHOOL_PAGES, None)
            return
        if sorted(self.frames) != list(range(len(SEGMENTS))):
            raise InputError([Problem(f"table {O.SCHOOL_PAGES.qualified}", None, None, None, f"parts {sorted(self.frames)} of the pages built, not all")])
        if self.urns.is_duplicated().any():
            raise InputError([Problem(f"table {O.SCHOOL_PAGES.qualified}", None, "urn", None, "rows share a primary key")])
        text = _dictionary_text(self.dictionary)
        dictionary_id = hashlib.sha256(text.encode()).hexdigest()[:16]
        replace_table(con, O.SCHOOL_PAGE_DICTIONARY, pl.DataFrame({"dictionary_id": [dictionary_id], "dictionary": [text]}))
        replace_table(con, O.SCHOOL_PAGES, None)
        # each page its runs' Zstandard frames, in a column stored as it is: DuckDB's own string
        # compression (FSST) of the pages' JSON cost more than building them (docs/decisions/1320)
        for start in range(0, self.urns.len(), _CHUNK):
            stop = start + _CHUNK
            packed = pl.DataFrame(
                {"urn": self.urns.slice(start, _CHUNK),
                 "page": [b"".join(f) for f in zip(*(self.frames[k][start:stop] for k in range(len(SEGMENTS))), strict=True)],
                 "page_bytes": [sum(n) for n in zip(*(self.sizes[k][start:stop] for k in range(len(SEGMENTS))), strict=True)]},
            ).with_columns(format=pl.lit(PAGE_FORMAT), dictionary_id=pl.lit(dictionary_id))
            schema = O.SCHOOL_PAGES.polars_schema()
            packed = packed.select(list(schema)).cast(schema)  # type: ignore[arg-type]
            con.register("_school_pages_chunk", packed.to_arrow())
            try:
                con.execute(f"INSERT INTO {O.SCHOOL_PAGES.qualified} SELECT * FROM _school_pages_chunk")
            finally:
                con.unregister("_school_pages_chunk")
        self.frames, self.sizes = {}, {}
        # the one index in the warehouse (docs/decisions/0003 leaves keys unindexed): a page is read
        # by its URN; built in milliseconds on 33,000 rows
        con.execute(f"CREATE INDEX school_pages_urn ON {O.SCHOOL_PAGES.qualified} (urn)")

    def steps(self) -> list[Callable[[duckdb.DuckDBPyConnection], None]]:
        """The parts in an order they may run in (each after the ones before it)."""
        return [self.derive_page_events, self.derive_page_lineage, self.derive_page_latest, self.derive_page_facts, self.derive_school_pages]


def derive_school_pages(con: duckdb.DuckDBPyConnection) -> None:
    """out.school_pages: one row per URN with everything its page shows (see the module), every part in turn."""
    for step in PageBuild().steps():
        step(con)


# --- reading one page -------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolPage:
    """One URN's row of out.school_pages, its JSON parts parsed (dates stay ISO text)."""

    urn: int
    school: dict[str, Any] | None
    events: list[dict[str, Any]]
    lineage: dict[str, Any] | None
    facts: dict[str, dict[str, Any]]
    latest: dict[str, Any] | None
    similar: dict[str, Any] | None
    context: dict[str, Any]
    school_files: list[str]
    fallback: dict[str, Any] | None
    report_card: dict[str, Any] | None = None


def rows(columnar: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """A columnar list of rows (one array per field, see the build) as the list of objects; null: none."""
    if not columnar:
        return []
    keys = list(columnar)
    return [dict(zip(keys, vals, strict=True)) for vals in zip(*columnar.values(), strict=True)]


@dataclass(frozen=True)
class _Dictionary:
    """The warehouse's page dictionary, parsed: what a page's numbers stand for."""

    files: list[str]
    kinds: list[tuple[Any, ...]]  # KIND_COLS' values
    targets: list[str]


#: page dictionaries met by this process, by id (a warehouse built again has another id)
_DICTIONARIES: dict[str, _Dictionary] = {}


def _dictionary(con: duckdb.DuckDBPyConnection, dictionary_id: str) -> _Dictionary:
    got = _DICTIONARIES.get(dictionary_id)
    if got is None:
        try:
            rows_ = con.execute(f"SELECT dictionary FROM {O.SCHOOL_PAGE_DICTIONARY.qualified} WHERE dictionary_id = ?", [dictionary_id]).fetchall()
        except duckdb.CatalogException as e:
            raise EvenhandError(f"{OLDER}: {e}") from e
        if not rows_:
            raise EvenhandError(f"{OLDER}: no page dictionary {dictionary_id} in {O.SCHOOL_PAGE_DICTIONARY.qualified}")
        d = json.loads(rows_[0][0])
        kinds = d["kind"]
        got = _Dictionary(files=d["file"], kinds=list(zip(*(kinds[c] for c in KIND_COLS), strict=True)), targets=d["target"])
        _DICTIONARIES[dictionary_id] = got
    return got


def _events_of(columnar: dict[str, list[Any]] | None, dic: _Dictionary) -> list[dict[str, Any]]:
    """A page's events as the history gives them: its stored events (see :func:`_events`) with the
    dictionary's files and judgement kinds for their numbers."""
    files, kinds = dic.files, dic.kinds
    out = rows(columnar)
    for e in out:
        e["source_files"] = [files[i] for i in e["source_files"]]
        j = e["judgements"]
        e["judgements"] = [] if not j else [
            {"area": k[0], "scale": k[1], "code": k[2], "label": k[3], "graded": k[4], "rank": k[5], "judgement_date": day, "raw_value": k[6]}
            for k, day in zip((kinds[i] for i in j["kind"]), j["judgement_date"], strict=True)
        ]
        for part in ("sources", "conflicts"):
            got = rows(e[part])
            for r in got:
                r["file"] = files[r["file"]]
            e[part] = got
    return out


def _facts_of(columnar: dict[str, list[Any]] | None, dic: _Dictionary) -> dict[str, dict[str, Any]]:
    """A page's facts by event id: its stored facts (see :func:`_facts`) with the dictionary's texts
    for their numbers and each transition as an object."""
    out = {}
    for f in rows(columnar):
        t = f["publication_target_source"]
        f["publication_target_source"] = None if t is None else dic.targets[t]
        if f["transition"] is not None:
            f["transition"] = dict(zip(TRANSITION_KEYS, f["transition"], strict=True))
        out[f["event_id"]] = f
    return out


def _lineage_of(lin: dict[str, Any] | None) -> dict[str, Any] | None:
    if lin is None:
        return None
    lin["urns"] = rows(lin["urns"])
    for side in ("predecessors", "successors"):
        lin[side] = [{**r, "events": rows(r["events"])} for r in rows(lin[side])]
    return lin


def read_pages(con: duckdb.DuckDBPyConnection, urns: list[int]) -> dict[int, SchoolPage]:
    """The pages of ``urns`` (those that exist): one indexed point lookup each."""
    out = {}
    for u in dict.fromkeys(int(u) for u in urns):
        try:
            got = con.execute("SELECT page, page_bytes, format, dictionary_id FROM out.school_pages WHERE urn = ?", [u]).fetchall()
        except duckdb.BinderException as e:  # out.school_pages of an older build (one JSON text column per part, or no format)
            raise EvenhandError(f"{OLDER}: {e}") from e
        if not got:
            continue
        if got[0][2] != PAGE_FORMAT:
            raise EvenhandError(f"{OLDER}: its pages are in format {got[0][2]}, this version reads format {PAGE_FORMAT}")
        dic = _dictionary(con, got[0][3])
        d = json.loads(pa.decompress(got[0][0], decompressed_size=got[0][1], codec=CODEC, asbytes=True))
        ctx = d["context"]
        out[u] = SchoolPage(
            urn=u, school=d["school"], events=_events_of(d["events"], dic), lineage=_lineage_of(d["lineage"]),
            facts=_facts_of(d["facts"], dic), latest=d["latest"], similar=d["similar_schools"],
            context={"rows": rows(ctx["rows"]), "files": ctx["files"]}, school_files=d["school_files"],
            fallback=d["fallback"], report_card=d["report_card"],
        )
    return out


def read_page(con: duckdb.DuckDBPyConnection, urn: int) -> SchoolPage | None:
    return read_pages(con, [urn]).get(int(urn))


OLDER = "the warehouse was built by an older Evenhand (out.school_pages not in the format this version reads): build it again"


def has_pages(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has out.school_pages as this version writes it: pages of
    PAGE_FORMAT (a warehouse built before decision 1320 has one JSON text column per part, one
    built before decision 1340 no ``format`` column) and the page dictionary."""
    got = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'out' AND database_name = current_database() "
        "AND ((table_name = 'school_pages' AND column_name IN ('page', 'format', 'dictionary_id')) "
        "OR (table_name = 'school_page_dictionary' AND column_name = 'dictionary'))"
    ).fetchall()
    if got[0][0] != 4:
        return False
    formats = con.execute("SELECT DISTINCT format FROM out.school_pages").fetchall()
    return all(f[0] == PAGE_FORMAT for f in formats)
