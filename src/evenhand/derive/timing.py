"""Inspection timings: length, delay to publication (calendar and working days), age of the
latest graded judgement.

Working days come from :mod:`evenhand.derive.calendar` (England and Wales bank holidays from
the ``holidays`` library), counted as working days *after* the first date up to and
including the second: a report published the working day after the inspection ends has a
delay of 1. Inspection length is inclusive (a two-day inspection is 2 days), in calendar days
and in working days on site (a Thursday-to-Friday inspection is 2, a Friday-to-Monday one 2). The age of a
latest graded judgement is measured from the inspection's start date, as at the date of
out.latest_as_at.
"""

from __future__ import annotations

import duckdb
import polars as pl

from evenhand.core.warehouse import frame
from evenhand.derive.calendar import add_term_working_days_column, add_working_days_column
from evenhand.derive.lineage import replace_table
from evenhand.metadata import out_tables as O


def timing(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Compute out.timing (reads core.events and out.latest_as_at)."""
    df = frame(
        con,
        """
        WITH latest AS (
            SELECT graded_event_id AS event_id, any_value(as_at) AS as_at, count(*) AS n
            FROM out.latest_as_at WHERE graded_event_id IS NOT NULL GROUP BY 1
        )
        SELECT e.event_id, e.urn, e.kind, e.era, e.start_date, e.end_date, e.publication_date,
               datediff('day', e.start_date, e.end_date) + 1 AS inspection_length_days,
               datediff('day', e.start_date, e.publication_date) AS start_to_publication_days,
               datediff('day', e.end_date, e.publication_date) AS end_to_publication_days,
               e.publication_date < e.start_date AS published_before_start,
               (SELECT max(as_at) FROM out.latest_as_at) AS as_at,
               coalesce(l.n, 0) AS latest_graded_for_urns,
               datediff('day', e.start_date, l.as_at) AS age_of_latest_graded_days
        FROM core.events e LEFT JOIN latest l USING (event_id)
        ORDER BY e.event_id
        """,
    )
    df = _working_days(df, "start_date", "publication_date", "start_to_publication_working_days")
    df = _working_days(df, "end_date", "publication_date", "end_to_publication_working_days")
    df = _working_days(df, "start_date", "publication_date", "start_to_publication_term_working_days", term=True)
    df = _working_days(df, "end_date", "publication_date", "end_to_publication_term_working_days", term=True)
    # days on site that were working days: the working days in [start, end], both included
    # (working days after the day before the start, up to and including the end)
    df = _working_days(df.with_columns((pl.col("start_date") - pl.duration(days=1)).alias("_day_before")),
                       "_day_before", "end_date", "inspection_length_working_days").drop("_day_before")
    return O.TIMING.conform(df)


def _working_days(df: pl.DataFrame, start: str, end: str, out: str, term: bool = False) -> pl.DataFrame:
    """calendar.add_working_days_column on the rows where both dates are known.

    Both dates are nulled together first: the calendar sizes its look-up table on rows with
    both dates, and a date present only on one side (a start without a publication date)
    can lie outside it.
    """
    both = pl.col(start).is_not_null() & pl.col(end).is_not_null()
    tmp = df.select(
        pl.when(both).then(pl.col(start)).alias("_s"), pl.when(both).then(pl.col(end)).alias("_e")
    )
    counted = (add_term_working_days_column if term else add_working_days_column)(tmp, "_s", "_e", out)
    return df.with_columns(counted[out])


def derive_timing(con: duckdb.DuckDBPyConnection) -> None:
    replace_table(con, O.TIMING, timing(con))
