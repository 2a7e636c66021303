"""Each open school's latest graded and ungraded inspection "as at" a date.

Follows the method of Ofsted's official statistics (docs/decisions/0400-latest-as-at.md):

- an inspection counts as at date D if it started on or before D and was published within
  ``published_within_months`` of D (Ofsted's "as at 31 August" release counts inspections
  published by 30 September; the 2025 file's latest publication date is 29 September 2025).
  Events with no publication date (the 2005-2020 history) count when they started by D;
- *open* at D = present in the newest school-level file (``core.schools``) at or before D
  that covers the school's local authority. A file covers the local authorities it has rows
  for, so a one-authority extract (the Leeds MI file) updates Leeds and closes no-one else; a
  national file (out.snapshots) covers every authority, so a school of an authority that no
  longer exists in a newer national file is not open;
- latest graded = the latest graded or report-card inspection of the school's own URN; a
  school not yet inspected in its current form carries its predecessor's latest
  (``out.predecessors``: chained lineage, or links across which Ofsted's own files carry
  inspections), with ``graded_carried`` = true;
- latest ungraded = the latest ungraded inspection that started on or after the latest
  graded one, own or carried (``ungraded_carried``). As in Ofsted's file, an ungraded
  inspection converted to a graded one is both: it can be the latest graded and the latest
  ungraded inspection.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from evenhand.core.warehouse import frame
from evenhand.derive.lineage import replace_table
from evenhand.derive.snapshots import read_snapshots, snapshot_for
from evenhand.errors import EvenhandError
from evenhand.metadata import out_tables as O

GRADED_KINDS = ("graded", "report_card")


def school_file_dates(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """As-at dates of the school-level files in the warehouse, oldest first."""
    rows = con.execute("SELECT DISTINCT as_at FROM core.schools WHERE as_at IS NOT NULL ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def latest_as_at(
    con: duckdb.DuckDBPyConnection, as_at: dt.date, published_within_months: int = 1
) -> pl.DataFrame:
    """One row per school open at ``as_at`` (see the module docstring), as out.latest_as_at."""
    dates = school_file_dates(con)
    if not dates or dates[0] > as_at:
        first = f"the earliest is {dates[0].isoformat()}" if dates else "there are none"
        raise EvenhandError(
            f"no school-level file is dated at or before {as_at.isoformat()} ({first}), so no "
            "school can be shown open then: add an Ofsted official statistics or MI file for that date"
        )
    has_snapshots = bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'out' AND table_name = 'snapshots'").fetchall()[0][0])
    return latest_for_open(con, OPEN_BY_AUTHORITY_SQL if has_snapshots else OPEN_BY_AUTHORITY_NO_SNAPSHOTS_SQL,
                           as_at, published_within_months)


#: Open at $1: in the newest school-level file at or before $1 that covers the school's local
#: authority (out.latest_as_at's rule). A national file (out.snapshots) covers every local
#: authority, including those it has no row for: a school of an authority abolished since an
#: older national file (Northamptonshire, split in 2021) is not open at a later national date.
OPEN_BY_AUTHORITY_SQL = """
    WITH national AS (
        SELECT max(as_at) AS d FROM out.snapshots WHERE national AND as_at <= $1
    ),
    newest AS (
        SELECT coalesce(local_authority, '') AS la,
               greatest(max(as_at), coalesce((SELECT d FROM national), DATE '0001-01-01')) AS newest
        FROM core.schools WHERE as_at <= $1 GROUP BY 1
    )
    SELECT s.urn,
           arg_max(s.school_name, s.file_id) AS school_name,
           arg_max(s.phase, s.file_id) AS phase,
           arg_max(s.local_authority, s.file_id) AS local_authority,
           max(s.file_id) AS open_in_file_id
    FROM core.schools s JOIN newest n
      ON coalesce(s.local_authority, '') = n.la AND s.as_at = n.newest
    GROUP BY s.urn
"""


#: The same rule where out.snapshots is not (yet) derived: each local authority's newest file.
OPEN_BY_AUTHORITY_NO_SNAPSHOTS_SQL = OPEN_BY_AUTHORITY_SQL.replace(
    "SELECT max(as_at) AS d FROM out.snapshots WHERE national AND as_at <= $1", "SELECT NULL::DATE AS d"
)


def latest_for_open(
    con: duckdb.DuckDBPyConnection, open_sql: str, as_at: dt.date, published_within_months: int = 1
) -> pl.DataFrame:
    """The rows of out.latest_as_at for the schools ``open_sql`` returns (urn, school_name,
    phase, local_authority, open_in_file_id; it may use $1 for the date), as at one date: the
    rule of :func:`latest_for_open_sets` for one set of open schools."""
    sets_sql = f"SELECT $1::DATE AS as_at, 0::BIGINT AS open_set, * FROM ({open_sql})"
    df = latest_for_open_sets(con, sets_sql, [as_at], published_within_months)
    return O.LATEST_AS_AT.conform(df)


def latest_for_open_sets(
    con: duckdb.DuckDBPyConnection, open_sql: str, params: list[object] | None = None,
    published_within_months: int = 1,
) -> pl.DataFrame:
    """The one rule for "the latest inspection Ofsted carries for a school as at a date" (module
    docstring), for any number of sets of open schools at once: ``open_sql`` (with ``params``
    as $1, $2, ...) returns (as_at, open_set, urn, school_name, phase, local_authority,
    open_in_file_id), one row per (open_set, urn), each set open as at its ``as_at``. Returns
    the columns of out.latest_as_at plus ``open_set``, ordered by open_set then urn.
    out.latest_as_at (one set) and out.snapshot_schools (one set per snapshot file) use it."""
    months = len(params or []) + 1
    df = frame(
        con,
        """
        WITH open AS (
        """
        + open_sql
        + f"""
        ),
        cand AS (
            SELECT o.open_set, o.as_at AS d, o.urn, e.event_id, e.kind, e.start_date,
                   coalesce(e.converted_to_graded, false) AS converted_to_graded, 0 AS steps
            FROM open o JOIN core.events e ON e.urn = o.urn
            WHERE e.start_date <= o.as_at
              AND (e.publication_date IS NULL OR e.publication_date <= o.as_at + to_months(${months}))
            UNION ALL
            SELECT o.open_set, o.as_at, o.urn, e.event_id, e.kind, e.start_date,
                   coalesce(e.converted_to_graded, false), p.steps
            FROM open o JOIN out.predecessors p ON p.urn = o.urn
                        JOIN core.events e ON e.urn = p.predecessor_urn
            WHERE e.start_date <= o.as_at
              AND (e.publication_date IS NULL OR e.publication_date <= o.as_at + to_months(${months}))
        ),
        graded AS (
            SELECT open_set, urn AS school, arg_max(event_id, (steps = 0, start_date, event_id)) AS graded_event_id
            FROM cand c WHERE kind IN ('graded', 'report_card') GROUP BY open_set, urn
        ),
        g AS (
            SELECT gr.open_set, gr.school, e.event_id AS graded_event_id, e.urn AS graded_urn, e.kind AS graded_kind,
                   e.era AS graded_era, e.start_date AS graded_start_date,
                   e.publication_date AS graded_publication_date, e.category_of_concern,
                   j.scale AS overall_scale, j.code AS overall_code, j.label AS overall_label
            FROM graded gr JOIN core.events e ON e.event_id = gr.graded_event_id
            LEFT JOIN core.judgements j ON j.event_id = e.event_id AND j.area = 'overall_effectiveness'
        ),
        ungraded AS (
            SELECT c.open_set, c.urn AS school,
                   arg_max(c.event_id, (c.start_date, c.steps = 0, c.event_id)) AS ungraded_event_id
            FROM cand c LEFT JOIN g ON g.open_set = c.open_set AND g.school = c.urn
            WHERE (c.kind = 'ungraded' OR c.converted_to_graded)
              AND (g.graded_start_date IS NULL OR c.start_date >= g.graded_start_date)
            GROUP BY c.open_set, c.urn
        ),
        u AS (
            SELECT un.open_set, un.school, e.event_id AS ungraded_event_id, e.urn AS ungraded_urn,
                   e.start_date AS ungraded_start_date, e.publication_date AS ungraded_publication_date,
                   j.code AS ungraded_outcome_code, j.label AS ungraded_outcome_label
            FROM ungraded un JOIN core.events e ON e.event_id = un.ungraded_event_id
            LEFT JOIN core.judgements j ON j.event_id = e.event_id AND j.area = 'ungraded_outcome'
        )
        SELECT o.as_at, o.open_set, o.urn, o.school_name, o.phase, o.local_authority, o.open_in_file_id,
               l.lineage_id,
               g.graded_event_id, g.graded_urn, g.graded_kind, g.graded_era, g.graded_start_date,
               g.graded_publication_date, g.overall_scale, g.overall_code, g.overall_label,
               g.category_of_concern,
               coalesce(g.graded_urn <> o.urn, false) AS graded_carried,
               u.ungraded_event_id, u.ungraded_urn, u.ungraded_start_date, u.ungraded_publication_date,
               u.ungraded_outcome_code, u.ungraded_outcome_label,
               coalesce(u.ungraded_urn <> o.urn, false) AS ungraded_carried,
               datediff('day', g.graded_start_date, o.as_at) AS age_of_latest_graded_days
        FROM open o
        LEFT JOIN g ON g.open_set = o.open_set AND g.school = o.urn
        LEFT JOIN u ON u.open_set = o.open_set AND u.school = o.urn
        LEFT JOIN out.lineage l ON l.urn = o.urn
        ORDER BY o.open_set, o.urn
        """,
        [*(params or []), published_within_months],
    )
    return df


def default_as_at(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The default as-at date (evenhand.derive.snapshots.snapshot_for: the newest national
    snapshot); None when the warehouse holds no school-level file with an as-at date."""
    snaps = read_snapshots(con)
    return snapshot_for(snaps, None).as_at if snaps else None


def derive_latest_as_at(con: duckdb.DuckDBPyConnection) -> None:
    """Materialise out.latest_as_at for the default as-at date (the newest national snapshot)."""
    date = default_as_at(con)
    replace_table(con, O.LATEST_AS_AT, latest_as_at(con, date) if date else None)
