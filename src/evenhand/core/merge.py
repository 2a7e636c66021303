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


def _codes(values: pl.Series) -> dict[str, int]:
    """Each distinct non-null value -> a small integer (0, 1, ...), for a join or grouping key."""
    return {v: k for k, v in enumerate(values.drop_nulls().unique().sort().to_list())}


def _coded(col: str, codes: dict[str, int]) -> pl.Expr:
    """``col``'s code in ``codes`` (Int64; null for a null value)."""
    if not codes:
        return pl.lit(None, pl.Int64)
    return pl.col(col).replace_strict(codes, return_dtype=pl.Int64)


_ROW_BITS = 36


def _fits_source_key(df: pl.DataFrame, block_code: dict[str, int]) -> bool:
    """Whether every (file_id, _row) of ``df`` packs into :func:`_source_key` without overflow."""
    if df.height == 0:
        return True
    lo = df.select(pl.min("file_id").cast(pl.Int64), pl.min("_row").cast(pl.Int64)).row(0)
    hi = df.select(pl.max("file_id").cast(pl.Int64), pl.max("_row").cast(pl.Int64)).row(0)
    n = max(len(block_code), 1)
    return all(v is None or v >= 0 for v in lo) and (hi[1] or 0) < (1 << _ROW_BITS) and (hi[0] or 0) * n < (1 << (62 - _ROW_BITS))


def _source_key(block_code: dict[str, int]) -> pl.Expr:
    """One Int64 per source row (file_id, _row, block): equal exactly when all three are (null
    when one is null, so, as in a join on the three columns, it matches nothing)."""
    n = max(len(block_code), 1)
    return (
        (pl.col("file_id").cast(pl.Int64) * n + _coded("block", block_code)) * (1 << _ROW_BITS)
        + pl.col("_row").cast(pl.Int64)
    ).alias("_key")


def merge(occurrences: pl.DataFrame, judgements: pl.DataFrame, file_names: dict[int, str]) -> Merged:
    for f in (*EVENT_FIELDS, "inspection_number", "relates_to_current_urn"):
        if f not in occurrences.columns:
            dtype = {"start_date": pl.Date, "end_date": pl.Date, "publication_date": pl.Date, "urn": pl.Int64,
                     "laestab_at_time": pl.Int64, "converted_to_graded": pl.Boolean, "relates_to_current_urn": pl.Boolean}.get(f, pl.String)
            occurrences = occurrences.with_columns(pl.lit(None, dtype=dtype).alias(f))
    occ = _keys(occurrences)
    del occurrences  # (the caller holds no other reference: the frames go as soon as they are copied)
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

    # judgements: one per event and area, from the highest-precedence source. The join and
    # the grouping run on one integer key each (a source row: file, row, block; an event and
    # area), not on several columns with strings: the same rows, in the same order, at about
    # two thirds of the cost (docs/decisions/1710-build-packed-keys.md)
    occ = occ.with_columns(pl.col("event_id").rank("dense").cast(pl.Int64).fill_null(0).alias("_eid"))  # a null id: 0
    block_code = _codes(pl.concat([occ["block"], judgements["block"]]))
    if _fits_source_key(occ, block_code) and _fits_source_key(judgements, block_code):
        occ_key = occ.select(_source_key(block_code), "event_id", "_eid", "_prec")
        jud = judgements.with_columns(_source_key(block_code)).join(occ_key, on="_key", how="inner").drop("_key")
    else:  # pragma: no cover - file ids or rows beyond the integer key's range
        jud = judgements.join(occ.select("file_id", "_row", "block", "event_id", "_eid", "_prec"), on=["file_id", "_row", "block"], how="inner")
    del judgements
    jud = jud.sort("_prec")
    # _g orders as (event_id, area) sort, nulls first: event ids by dense rank (a null id 0),
    # areas by their sorted codes from 1 (a null area 0); judgements_out is sorted on it
    area_code = {a: k + 1 for a, k in _codes(jud["area"]).items()}
    n_areas = len(area_code) + 1
    jud = jud.with_columns(
        (pl.col("_eid") * n_areas + _coded("area", area_code).fill_null(0)).alias("_g")
    )
    jagg = jud.group_by("_g", maintain_order=True).agg(
        pl.all().exclude(["_g", "_eid"]).first(),
        (pl.col("scale") + ":" + pl.col("code")).n_unique().alias("_n"),
        pl.len().alias("n_sources"),
    )
    jud = jud.drop("_g", "_eid")
    occ = occ.drop("_eid")
    jbad = jagg.filter(pl.col("_n") > 1).select("event_id", "area", (pl.col("scale") + ":" + pl.col("code")).alias("_kept"))
    if jbad.height:
        conflict_frames.append(
            jud.join(jbad, on=["event_id", "area"]).select(
                "event_id", ("judgement:" + pl.col("area")).alias("field"), pl.col("raw_value").alias("value"),
                "file_id", pl.col("_row").alias("row_number"), ((pl.col("scale") + ":" + pl.col("code")) == pl.col("_kept")).alias("kept"),
            )
        )
    del jud
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
    judgements_out = jagg.sort("_g").select(  # the (event_id, area) order: see _g above
        "event_id", "area", "scale", "code", "label", "graded", "rank", "judgement_date", "raw_value",
    )
    return Merged(events, sources, judgements_out, conflicts.sort(["event_id", "field", "file_id", "row_number"]))


def fill_school_names(events: pl.DataFrame, schools: list[pl.DataFrame], links: pl.DataFrame) -> pl.DataFrame:
    """Name the school of an event whose file rows carry no name (the history files' earlier
    inspections): the name a school-level file gives the same URN (the newest such file), else
    the name Get Information About Schools gives that URN when it links it to another school.

    A URN names one establishment, so the name is that school's, though perhaps not the one it
    had on the day. An event whose URN no file names keeps an empty name.
    """
    if events.height == 0 or "school_name" not in events.columns:
        return events
    named: list[pl.DataFrame] = []
    if schools:
        named.append(
            pl.concat([s.select("urn", "school_name", "as_at") for s in schools])
            .filter(pl.col("school_name").is_not_null())
            .sort(["as_at", "urn"], descending=[True, False], nulls_last=True)
            .unique("urn", keep="first", maintain_order=True)
            .select("urn", pl.col("school_name").alias("_name"), pl.lit(0).alias("_rank"))
        )
    if links.height and "link_name" in links.columns:
        named.append(
            links.filter(pl.col("link_name").is_not_null())
            .sort(["link_urn", "link_name"])
            .unique("link_urn", keep="first", maintain_order=True)
            .select(pl.col("link_urn").alias("urn"), pl.col("link_name").alias("_name"), pl.lit(1).alias("_rank"))
        )
    if not named:
        return events
    names = pl.concat(named).sort(["urn", "_rank"]).unique("urn", keep="first", maintain_order=True).drop("_rank")
    return (
        events.join(names, on="urn", how="left")
        .with_columns(pl.coalesce([pl.col("school_name"), pl.col("_name")]).alias("school_name"))
        .drop("_name")
    )
