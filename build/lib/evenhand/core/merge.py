"""One row per inspection: identify each event, merge what several files say about it, and
record every disagreement as a conflict instead of silently picking a value.

Identity: the inspection number where there is one; otherwise URN and start date (and an
event without a number is matched to the numbered event of the same URN and start date
when there is exactly one). Precedence when values disagree: the file with the latest as-at
date, then the first file read; the conflict table lists every value seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from evenhand.core.normalise import era_expr

EVENT_FIELDS = (
    "urn", "laestab_at_time", "school_name_at_time", "school_type_at_time", "kind", "inspection_type",
    "inspection_type_grouping", "event_type_grouping", "start_date", "end_date", "publication_date",
    "category_of_concern", "converted_to_graded",
)
# fields whose disagreement is not a conflict about the inspection itself
NOT_COMPARED = {"school_name_at_time", "school_type_at_time"}


@dataclass
class Merged:
    events: pl.DataFrame
    event_sources: pl.DataFrame
    judgements: pl.DataFrame
    conflicts: pl.DataFrame


def _keys(occ: pl.DataFrame) -> pl.DataFrame:
    fallback = pl.concat_str([pl.lit("URN"), pl.col("urn").cast(pl.String), pl.lit("-"), pl.col("start_date").cast(pl.String)])
    occ = occ.with_columns(pl.coalesce([pl.col("inspection_number"), fallback]).alias("event_id"))
    numbered = (
        occ.filter(pl.col("inspection_number").is_not_null() & pl.col("start_date").is_not_null())
        .group_by(["urn", "start_date"])
        .agg(pl.col("inspection_number").unique().alias("numbers"))
        .filter(pl.col("numbers").list.len() == 1)
        .select("urn", "start_date", pl.col("numbers").list.first().alias("matched_number"))
    )
    occ = occ.join(numbered, on=["urn", "start_date"], how="left", nulls_equal=False)
    occ = occ.with_columns(
        pl.when(pl.col("inspection_number").is_null() & pl.col("matched_number").is_not_null())
        .then(pl.col("matched_number"))
        .otherwise(pl.col("event_id"))
        .alias("event_id")
    ).drop("matched_number")
    return occ


def merge(occurrences: pl.DataFrame, judgements: pl.DataFrame, file_names: dict[int, str]) -> Merged:
    for f in (*EVENT_FIELDS, "inspection_number", "relates_to_current_urn"):
        if f not in occurrences.columns:
            dtype = {"start_date": pl.Date, "end_date": pl.Date, "publication_date": pl.Date, "urn": pl.Int64,
                     "laestab_at_time": pl.Int64, "converted_to_graded": pl.Boolean, "relates_to_current_urn": pl.Boolean}.get(f, pl.String)
            occurrences = occurrences.with_columns(pl.lit(None, dtype=dtype).alias(f))
    occ = _keys(occurrences)
    # maintain_order: within one row the blocks keep their order (maps/blocks.csv: the latest
    # graded block before the ungraded one), so a converted ungraded inspection takes the
    # graded block's dates, the same in every run
    occ = occ.sort(["as_at", "file_id", "_row"], descending=[True, False, False], nulls_last=True, maintain_order=True)
    occ = occ.with_columns(pl.int_range(pl.len()).alias("_prec"))

    agg = [pl.col(f).drop_nulls().first().alias(f) for f in (*EVENT_FIELDS, "inspection_number")]
    agg += [pl.col(f).drop_nulls().n_unique().alias(f"_n_{f}") for f in EVENT_FIELDS if f not in NOT_COMPARED]
    agg += [pl.len().alias("n_sources"), pl.col("file_id").unique().sort().alias("_files")]
    ev = occ.group_by("event_id", maintain_order=True).agg(agg)

    conflict_frames = []
    for f in EVENT_FIELDS:
        if f in NOT_COMPARED:
            continue
        bad = ev.filter(pl.col(f"_n_{f}") > 1).select("event_id", pl.col(f).cast(pl.String).alias("_kept"))
        if bad.height:
            rows = occ.join(bad, on="event_id").filter(pl.col(f).is_not_null()).select(
                "event_id", pl.lit(f).alias("field"), pl.col(f).cast(pl.String).alias("value"),
                "file_id", pl.col("_row").alias("row_number"), (pl.col(f).cast(pl.String) == pl.col("_kept")).alias("kept"),
            )
            conflict_frames.append(rows)

    # judgements: one per event and area, from the highest-precedence source
    jud = judgements.join(occ.select("file_id", "_row", "block", "event_id", "_prec"), on=["file_id", "_row", "block"], how="inner")
    jud = jud.sort("_prec")
    jagg = jud.group_by(["event_id", "area"], maintain_order=True).agg(
        pl.all().exclude(["event_id", "area"]).first(),
        (pl.col("scale") + ":" + pl.col("code")).n_unique().alias("_n"),
        pl.len().alias("n_sources"),
    )
    jbad = jagg.filter(pl.col("_n") > 1).select("event_id", "area", (pl.col("scale") + ":" + pl.col("code")).alias("_kept"))
    if jbad.height:
        conflict_frames.append(
            jud.join(jbad, on=["event_id", "area"]).select(
                "event_id", ("judgement:" + pl.col("area")).alias("field"), pl.col("raw_value").alias("value"),
                "file_id", pl.col("_row").alias("row_number"), ((pl.col("scale") + ":" + pl.col("code")) == pl.col("_kept")).alias("kept"),
            )
        )
    conflicts = (
        pl.concat(conflict_frames)
        if conflict_frames
        else pl.DataFrame(schema={"event_id": pl.String, "field": pl.String, "value": pl.String, "file_id": pl.Int64, "row_number": pl.Int64, "kept": pl.Boolean})
    )
    n_conf = conflicts.group_by("event_id").agg(pl.col("field").n_unique().alias("n_conflicts"))

    names = pl.DataFrame({"file_id": list(file_names), "_name": list(file_names.values())}, schema={"file_id": pl.Int64, "_name": pl.String})
    files = ev.select("event_id", "_files").explode("_files").rename({"_files": "file_id"}).with_columns(pl.col("file_id").cast(pl.Int64))
    files = files.join(names, on="file_id", how="left").group_by("event_id", maintain_order=True).agg(pl.col("_name").alias("source_files"))

    events = (
        ev.drop([c for c in ev.columns if c.startswith("_")])
        .join(files, on="event_id", how="left")
        .join(n_conf, on="event_id", how="left")
        .with_columns(
            pl.col("n_conflicts").fill_null(0).cast(pl.Int64),
            pl.col("n_sources").cast(pl.Int64),
            era_expr("start_date").alias("era"),
        )
        .rename({"laestab_at_time": "laestab", "school_name_at_time": "school_name", "school_type_at_time": "school_type"})
        .sort("event_id")
    )
    sources = occ.select(
        "event_id", "file_id", pl.col("_row").alias("row_number"), "block",
        "reported_urn", "relates_to_current_urn", "as_at",
    ).sort(["event_id", "file_id", "row_number"])
    judgements_out = jagg.select(
        "event_id", "area", "scale", "code", "label", "graded", "rank", "judgement_date", "raw_value",
    ).sort(["event_id", "area"])
    return Merged(events, sources, judgements_out, conflicts.sort(["event_id", "field", "file_id", "row_number"]))
