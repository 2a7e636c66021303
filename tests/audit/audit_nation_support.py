"""A synthetic nation written into a small DuckDB with the warehouse table shapes the intake
and resources audits read (core.events, core.judgements, core.event_sources, core.schools,
out.event_context, core.context, out.lineage, out.event_lineage, out.predecessors, out.latest_as_at by the
warehouse's own rule, meta.files). Only the columns those audits use are written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from evenhand.simulate.frame_bias import finance_context, lineage_columns
from evenhand.simulate.nation import SyntheticNation


def write_nation_warehouse(nation: SyntheticNation, path: Path) -> Path:
    con = duckdb.connect(str(path))
    try:
        for schema in ("core", "out", "meta"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        files = pl.DataFrame(
            {
                "file_id": [1],
                "path": ["synthetic/official-stats.csv"],
                "layout": ["ofsted_latest_eif"],
                "as_at": [dt.date(2024, 8, 31)],
                "sha256": ["0" * 64],
                "status": ["loaded"],
                "publication": ["official_statistics"],
            }
        )
        s = nation.schools
        open_urns = lineage_columns(s).filter(pl.col("open"))["urn"]
        schools = s.filter(pl.col("urn").is_in(open_urns.implode())).select(
            pl.lit(1).alias("file_id"),
            (pl.int_range(pl.len()) + 2).alias("row_number"),
            pl.lit(dt.date(2024, 8, 31)).alias("as_at"),
            "urn",
            "school_name",
            "phase",
            "local_authority",
            "school_type",
            "ofsted_region",
            pl.col("idaci_quintile").cast(pl.Int16),
            pl.col("pupils").cast(pl.Int32),
        )
        events = nation.events.select(
            "event_id", "urn", "kind", "era", "start_date", "end_date", "publication_date",
            "category_of_concern", pl.lit(False).alias("converted_to_graded"),
        )
        # the school row that reported each event: the open school (predecessor events are
        # reported in the successor's row, as Ofsted's file carries them)
        succ = lineage_columns(s).filter(pl.col("predecessor_urn").is_not_null())
        reporter = events.join(
            succ.select(pl.col("predecessor_urn").alias("urn"), pl.col("urn").alias("reported_by")),
            on="urn",
            how="left",
        ).with_columns(pl.coalesce("reported_by", "urn").alias("reported_by"))
        sources = reporter.join(
            schools.select(pl.col("urn").alias("reported_by"), "file_id", "row_number"), on="reported_by"
        ).select(
            "event_id", "file_id", "row_number", pl.lit("graded").alias("block")
        )
        judgements = nation.judgements.with_columns(
            pl.lit(True).alias("graded"),
        ).select("event_id", "area", "scale", "code", "label", "graded")
        ev = events.join(s.select("urn", "progress", "fsm_pct", "income_per_pupil_gbp"), on="urn")
        context = pl.concat(
            [
                ev.select(
                    "event_id",
                    "urn",
                    pl.lit(m).alias("measure"),
                    pl.lit("2018/19").alias("academic_year"),
                    pl.col(col).alias("value"),
                    pl.lit(1).cast(pl.Int64).alias("years_apart"),
                    pl.lit(False).alias("from_predecessor"),
                )
                for m, col in (
                    ("progress8", "progress"),
                    ("ks2_reading_progress", "progress"),
                    ("ks2_writing_progress", "progress"),
                    ("ks2_maths_progress", "progress"),
                    ("fsm6_pct", "fsm_pct"),
                    ("income_per_pupil_gbp", "income_per_pupil_gbp"),
                )
            ]
        )
        finance = (
            finance_context(nation)
            .filter(pl.col("measure") != "ofsted_pupils")
            .with_columns(
                pl.lit(2).cast(pl.Int64).alias("file_id"),
                pl.int_range(pl.len(), dtype=pl.Int64).alias("row_number"),
            )
        )
        lin = lineage_columns(s)
        predecessors = lin.filter(pl.col("predecessor_urn").is_not_null()).select(
            "urn", "predecessor_urn", pl.lit(1).cast(pl.Int64).alias("steps")
        )
        for name, df in (
            ("meta.files", files),
            ("core.schools", schools),
            ("core.events", events),
            ("core.event_sources", sources),
            ("core.judgements", judgements),
            ("out.event_context", context),
            ("out.predecessors", predecessors),
            ("core.context", finance),
            ("out.lineage", lin.select("urn", "lineage_id")),
            ("out.event_lineage", events.join(lin.select("urn", "lineage_id"), on="urn").select("event_id", "urn", "lineage_id")),
        ):
            con.register("_df", df.to_arrow())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _df")
            con.unregister("_df")
        # the snapshot by the warehouse's own rule (derive/as_at.py), not the nation's
        from evenhand.derive.as_at import latest_as_at

        latest = latest_as_at(con, dt.date(2024, 8, 31))
        con.register("_df", latest.to_arrow())
        con.execute("CREATE TABLE out.latest_as_at AS SELECT * FROM _df")
        con.unregister("_df")
    finally:
        con.close()
    return path
