"""Where each inspection event was seen, for the audits' frames.

The national school-level file keeps, for each open school, its latest graded inspection
('latest' block) and the one before it ('previous' block); which inspections survive depends
on their outcome (a school graded badly is re-inspected soon, pushing that judgement into the
previous block and then out of the file). The 2005-2020 scraped history holds schools open
around 2018. Audits show these samples apart before pooling anything (shared/REFEREE.md).

:func:`event_sources` gives, per event, its block in the snapshot file (the newest national
snapshot as at the date, out.snapshots) and whether the history holds it. Pure helpers label
them for tables.
"""

from __future__ import annotations

import polars as pl

from evenhand.audit.result import AuditContext

LATEST = "latest graded block"
PREVIOUS = "previous graded block"
HISTORY_ONLY = "2005-2020 history only"
OTHER = "other file only"
#: The order blocks are shown in.
BLOCK_ORDER: tuple[str, ...] = (LATEST, PREVIOUS, HISTORY_ONLY, OTHER)


def snapshot_file(ctx: AuditContext) -> tuple[int, str] | None:
    """(file_id, as-at ISO date) of the newest national school-level snapshot on or before the
    as-at date (out.snapshots; before that table existed: the newest official-statistics file)."""
    if ctx.has_table("out.snapshots"):
        df = ctx.frame(
            "SELECT file_id, as_at FROM out.snapshots WHERE national AND as_at <= ? ORDER BY as_at DESC, newest_national DESC, file_id DESC LIMIT 1",
            [ctx.as_at],
        )
    else:
        df = ctx.frame(
            "SELECT file_id, as_at FROM meta.files WHERE status = 'loaded' AND layout LIKE 'ofsted_latest%' AND as_at <= ? "
            "ORDER BY as_at DESC, file_id LIMIT 1",
            [ctx.as_at],
        )
    if df.height == 0:
        return None
    return int(df["file_id"][0]), df["as_at"][0].isoformat()


def event_sources(ctx: AuditContext) -> pl.DataFrame:
    """event_id, snapshot_block (LATEST / PREVIOUS / null), in_history, source (one label of
    BLOCK_ORDER: the snapshot block where the event is in it, else the history, else other)."""
    snap = snapshot_file(ctx)
    fid = snap[0] if snap else -1
    df = ctx.frame(
        """
        SELECT s.event_id,
               bool_or(s.file_id = ? AND s.block IN ('graded', 'report_card')) AS in_latest,
               bool_or(s.file_id = ? AND s.block = 'previous') AS in_previous,
               bool_or(f.layout = 'history_scraped') AS in_history
        FROM core.event_sources s JOIN meta.files f USING (file_id)
        GROUP BY s.event_id
        """,
        [fid, fid],
    )
    return label_sources(df)


def label_sources(df: pl.DataFrame) -> pl.DataFrame:
    """From in_latest / in_previous / in_history flags: snapshot_block and source. Pure."""
    block = pl.when(pl.col("in_latest")).then(pl.lit(LATEST)).when(pl.col("in_previous")).then(pl.lit(PREVIOUS))
    return df.with_columns(block.otherwise(None).alias("snapshot_block")).with_columns(
        pl.coalesce(
            "snapshot_block", pl.when(pl.col("in_history")).then(pl.lit(HISTORY_ONLY)).otherwise(pl.lit(OTHER))
        ).alias("source")
    ).select("event_id", "snapshot_block", "in_history", "source")


def snapshot_blocks(ctx: AuditContext) -> pl.DataFrame:
    """Every national snapshot up to the as-at date (out.snapshots; one file per as-at date):
    snapshot_as_at, event_id, snapshot_block (LATEST or PREVIOUS) of each event it carries."""
    if not ctx.has_table("out.snapshots"):
        return pl.DataFrame(schema={"snapshot_as_at": pl.Date, "event_id": pl.String, "snapshot_block": pl.String})
    return ctx.frame(
        f"""
        WITH snap AS (
            SELECT as_at, arg_max(file_id, (newest_national, file_id)) AS file_id
            FROM out.snapshots WHERE national AND as_at <= ? GROUP BY as_at
        )
        SELECT snap.as_at AS snapshot_as_at, s.event_id,
               CASE WHEN bool_or(s.block IN ('graded', 'report_card')) THEN '{LATEST}' ELSE '{PREVIOUS}' END AS snapshot_block
        FROM core.event_sources s JOIN snap USING (file_id)
        WHERE s.block IN ('graded', 'report_card', 'previous')
        GROUP BY snap.as_at, s.event_id
        ORDER BY 1, 2
        """,
        [ctx.as_at],
    )


def snapshot_rows(ctx: AuditContext) -> pl.DataFrame:
    """Every national snapshot up to the as-at date (one file per as-at date, as
    :func:`snapshot_blocks`), one row per event in its latest or previous graded block, with the
    school's attributes AS THAT FILE GIVES THEM (core.schools, the same file row): snapshot_as_at,
    file_id, row_number, event_id, snapshot_block, file_urn, phase, school_type, idaci_quintile,
    local_authority, trust_uid. A latest-block and a previous-block event on the same row are the
    pair of consecutive graded inspections that file holds for that school."""
    schema = {"snapshot_as_at": pl.Date, "file_id": pl.Int64, "row_number": pl.Int64, "event_id": pl.String,
              "snapshot_block": pl.String, "file_urn": pl.Int64, "phase": pl.String, "school_type": pl.String,
              "idaci_quintile": pl.Int64, "local_authority": pl.String, "trust_uid": pl.String}
    if not ctx.has_table("out.snapshots") or not ctx.has_table("core.schools"):
        return pl.DataFrame(schema=schema)
    df = ctx.frame(
        f"""
        WITH snap AS (
            SELECT as_at, arg_max(file_id, (newest_national, file_id)) AS file_id
            FROM out.snapshots WHERE national AND as_at <= ? GROUP BY as_at
        )
        SELECT snap.as_at AS snapshot_as_at, s.file_id, s.row_number, s.event_id,
               CASE WHEN s.block IN ('graded', 'report_card') THEN '{LATEST}' ELSE '{PREVIOUS}' END AS snapshot_block,
               sc.urn AS file_urn, sc.phase, sc.school_type,
               TRY_CAST(sc.idaci_quintile AS BIGINT) AS idaci_quintile,
               sc.local_authority, CAST(sc.trust_uid AS VARCHAR) AS trust_uid
        FROM core.event_sources s JOIN snap USING (file_id)
        LEFT JOIN core.schools sc ON sc.file_id = s.file_id AND sc.row_number = s.row_number
        WHERE s.block IN ('graded', 'report_card', 'previous')
        ORDER BY 1, 2, 3, 5
        """,
        [ctx.as_at],
    )
    return df.cast({k: v for k, v in schema.items() if k in df.columns})  # type: ignore[arg-type]
