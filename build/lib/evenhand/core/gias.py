"""GIAS links, groups and group links into typed core tables."""

from __future__ import annotations

import polars as pl

from evenhand.core.inputs import RawInput
from evenhand.core.normalise import Collector, to_date, to_int
from evenhand.metadata.tables import table

INTS = ("urn", "link_urn", "group_uid")


def build(inp: RawInput, c: Collector) -> pl.DataFrame:
    target = table(inp.layout.table or "")
    df = inp.canonical()
    out: dict[str, pl.Series] = {"row_number": df["_row"]}
    declared = {f.name: f for f in target.fields}
    for name in df.columns:
        if name == "_row" or name not in declared:
            continue
        f = declared[name]
        if f.type == "int":
            out[name] = to_int(df, name, inp.headers[name], pl.Int64, c)
        elif f.type == "date":
            out[name] = to_date(df, name, inp.headers[name], inp.layout.date_formats, c)
        else:
            out[name] = df[name]
        if not f.nullable:
            missing = df.filter(pl.col(name).is_null()).select("_row", pl.lit(None, pl.String).alias("value"))
            c.fail_rows(missing, inp.headers[name], f"{name} is missing")
    frame = pl.DataFrame(out).with_columns(pl.lit(inp.file_id, pl.Int64).alias("file_id"))
    return frame


def combine_links(frames: list[pl.DataFrame], as_at: dict[int, object]) -> pl.DataFrame:
    """The union of every links file: each link once, from the newest file, with how many carried it."""
    if not frames:
        return pl.DataFrame()
    allf = pl.concat(frames, how="diagonal_relaxed")
    order = pl.DataFrame({"file_id": list(as_at), "_as_at": [str(v) if v else "" for v in as_at.values()]}, schema={"file_id": pl.Int64, "_as_at": pl.String})
    allf = allf.join(order, on="file_id", how="left").sort(["_as_at", "file_id"], descending=[True, True])
    key = ["urn", "link_urn", "link_type"]
    return (
        allf.group_by(key, maintain_order=True)
        .agg(pl.all().exclude(key).first(), pl.col("file_id").n_unique().alias("n_files"))
        .drop(["_as_at", "row_number"])
        .sort(key)
    )
