"""Each inspection joined to the school's context measures from the year before it.

Reads ``core.context`` (urn, academic_year like '2018/19', measure, value, suppression,
file_id: one row per school, year and measure). For each event and measure it takes the
nearest academic year that *ended before the inspection started* (so results of the year
of the inspection, published after it, are never used): ``years_apart`` is the academic year
of the inspection minus that of the measure (1 = the previous academic year). The measure
may come from the event's own URN or, following lineage, from a predecessor
(out.predecessors), so a converter academy inspected soon after conversion gets its
predecessor's census and results (``from_predecessor``); on the same year the own URN wins.
The nearest year is used even when its value is suppressed (``suppression`` says why):
an older unsuppressed value is not substituted silently. Where several files give the same
school, year and measure, a row with a value beats a suppressed one, a final file beats a
provisional one (a file whose name says "provisional": DfE's provisional and final KS4 files
share a layout), then the later file.

Where ``core.context`` does not exist (a warehouse built without DfE files), out.event_context
is created empty.
"""

from __future__ import annotations

import duckdb

from evenhand.core.warehouse import frame, has_table
from evenhand.derive.lineage import replace_table
from evenhand.metadata import out_tables as O

CONTEXT = "core.context"


def provisional(path: str) -> str:
    """SQL: whether the file at ``path`` (an expression, e.g. ``f.path``) holds provisional
    results: DfE publishes provisional results before the final ones in the same layout, and only
    the file's name says which it is ("...ks4provisional..."). The one rule for every reader of
    core.context (here, and the school pages' context over the years)."""
    return f"coalesce(lower({path}) LIKE '%provisional%', false)"


def derive_event_context(con: duckdb.DuckDBPyConnection) -> None:
    if not has_table(con, CONTEXT):
        replace_table(con, O.EVENT_CONTEXT, None)
        return
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'core' AND table_name = 'context'"
    ).fetchall()}
    suppression = "c.suppression" if "suppression" in cols else "NULL::VARCHAR"
    value_text = "c.value_text" if "value_text" in cols else "NULL::VARCHAR"
    file_id = "c.file_id" if "file_id" in cols else "NULL::BIGINT"
    # DfE publishes provisional results before the final ones in the same layout; only the file
    # says which it is (its name: "...ks4provisional..."). The final file wins on the same year.
    if "file_id" in cols and has_table(con, "meta.files"):
        files_join = "LEFT JOIN meta.files mf ON mf.file_id = c.file_id"
        is_provisional = provisional("mf.path")
    else:
        files_join, is_provisional = "", "false"
    df = frame(
        con,
        f"""
        WITH ctx AS (  -- one row per school, measure and year: a value beats a suppression, a final
                       -- file beats a provisional one, then the later file
            SELECT c.urn, c.measure, TRY_CAST(substr(c.academic_year, 1, 4) AS INTEGER) AS y,
                   arg_max(c.rowid, (c.value IS NOT NULL OR {value_text} IS NOT NULL, NOT {is_provisional},
                                     {file_id})) AS rid
            FROM {CONTEXT} c {files_join}
            WHERE c.urn IS NOT NULL AND c.measure IS NOT NULL AND c.academic_year IS NOT NULL
            GROUP BY ALL
        ),
        ev AS (
            SELECT event_id, urn,
                   year(start_date) - CASE WHEN month(start_date) < 9 THEN 1 ELSE 0 END AS ev_y
            FROM core.events WHERE start_date IS NOT NULL
        ),
        cand AS (
            SELECT DISTINCT urn, urn AS context_urn, 0 AS steps FROM ev
            UNION ALL
            SELECT urn, predecessor_urn, steps FROM out.predecessors
        ),
        best AS (  -- nearest year first, then the nearest URN (own = 0 steps), then the newer URN
            SELECT ev.event_id, ev.urn, c.measure, ev.ev_y,
                   arg_max(c.rid, (c.y, -cand.steps, c.urn)) AS rid, max(c.y) AS y
            FROM ev
            JOIN cand ON cand.urn = ev.urn
            JOIN ctx c ON c.urn = cand.context_urn AND c.y < ev.ev_y
            GROUP BY ALL
        )
        SELECT b.event_id, b.urn, b.measure, x.academic_year, TRY_CAST(x.value AS DOUBLE) AS value,
               {value_text.replace("c.", "x.")} AS value_text, {suppression.replace("c.", "x.")} AS suppression,
               x.urn AS context_urn, x.urn <> b.urn AS from_predecessor, b.ev_y - b.y AS years_apart,
               {file_id.replace("c.", "x.")} AS file_id
        FROM best b JOIN {CONTEXT} x ON x.rowid = b.rid
        ORDER BY b.event_id, b.measure
        """,
    )
    replace_table(con, O.EVENT_CONTEXT, O.EVENT_CONTEXT.conform(df))
