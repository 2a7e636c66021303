"""Ofsted rows (official statistics, management information, history files) into schools,
event occurrences and judgements. One row holds up to four events (latest graded, previous
graded, latest ungraded, report card): each block is unpivoted to its own occurrence."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from evenhand import maps
from evenhand.core.inputs import RawInput
from evenhand.core.normalise import Collector, resolve_codes, to_date, to_int, to_yes_no
from evenhand.metadata.tables import SCHOOLS

INT_FIELDS = {
    "urn": pl.Int64, "laestab": pl.Int64, "trust_uid": pl.Int64, "sponsor_uid": pl.Int64,
    "idaci_quintile": pl.Int16, "pupils": pl.Int64, "lowest_age": pl.Int16, "highest_age": pl.Int16,
    "warning_notices": pl.Int64, "ungraded_count": pl.Int64, "monitoring_count": pl.Int64,
}
DATE_FIELDS = ("open_date",)
EVENT_INT_FIELDS = {"urn_at_time": pl.Int64, "laestab_at_time": pl.Int64}
EVENT_DATE_FIELDS = ("start_date", "end_date", "publication_date")
EVENT_BOOL_FIELDS = ("relates_to_current_urn", "converted_to_graded")


@dataclass
class OfstedOutput:
    schools: pl.DataFrame | None
    occurrences: pl.DataFrame
    judgements: pl.DataFrame


def build(inp: RawInput, c: Collector) -> OfstedOutput:
    df = inp.canonical()
    hdr = inp.headers
    typed = {"_row": df["_row"]}
    for name, dtype in INT_FIELDS.items():
        if name in df.columns:
            typed[name] = to_int(df, name, hdr[name], dtype, c)
    for name in DATE_FIELDS:
        if name in df.columns:
            typed[name] = to_date(df, name, hdr[name], inp.layout.date_formats, c)
    if "urn" in df.columns:
        missing = df.filter(pl.col("urn").is_null()).select("_row", pl.lit(None, pl.String).alias("value"))
        c.fail_rows(missing, hdr["urn"], "URN is missing")
    if "idaci_quintile" in typed:
        q = typed["idaci_quintile"]
        bad = df.select("_row", pl.col("idaci_quintile").alias("value")).filter(q.is_not_null() & ~q.is_between(1, 5))
        c.fail_rows(bad, hdr["idaci_quintile"], "IDACI quintile must be 1 (least deprived) to 5 (most deprived)")
    _check_codes(df, "most_recent_category_of_concern", "category_of_concern", hdr, c)

    schools = None
    if "school_name" in df.columns:
        plain = df.drop([k for k in typed if k != "_row"] + [k for k in df.columns if "." in k])
        sdf = plain.with_columns([s.alias(k) for k, s in typed.items() if k != "_row"])
        sdf = sdf.rename({"_row": "row_number"}).with_columns(
            pl.lit(inp.file_id).alias("file_id"),
            pl.lit(inp.as_at, dtype=pl.Date).alias("as_at"),
            pl.lit(inp.publication).alias("publication"),
        )
        schools = SCHOOLS.conform(sdf)

    urn = typed.get("urn", pl.Series("urn", [None] * df.height, dtype=pl.Int64))
    occurrences, judgements = [], []
    for block, kind in maps.blocks().items():
        fields = [k for k in df.columns if k.startswith(block + ".")]
        if not fields:
            continue
        occ, jud = _block(inp, df, urn, block, kind, fields, c)
        occurrences.append(occ)
        judgements.append(jud)
    occ_all = pl.concat(occurrences, how="diagonal_relaxed") if occurrences else pl.DataFrame()
    jud_all = pl.concat(judgements, how="diagonal_relaxed") if judgements else pl.DataFrame()
    return OfstedOutput(schools, occ_all, jud_all)


def _check_codes(df: pl.DataFrame, col: str, scale: str, hdr: dict[str, str], c: Collector) -> None:
    if col not in df.columns:
        return
    known = [x for code in maps.codes() if code.scale == scale for x in (code.code, *code.aliases)]
    bad = df.select("_row", pl.col(col).alias("value")).filter(pl.col("value").is_not_null() & ~pl.col("value").is_in(known))
    c.fail_rows(bad, hdr[col], f"unknown {scale.replace('_', ' ')} (known: {', '.join(sorted(set(known)))})")


# inspection type columns: each value must be a code of the scale of the same name
# (maps/codes.csv), stored as that code's label (one spelling whichever file said it)
TYPE_FIELDS = ("inspection_type", "inspection_type_grouping", "event_type_grouping")


def _type_key(col: pl.Expr) -> pl.Expr:
    return col.str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase()


def _type_label(df: pl.DataFrame, col: str, header: str, c: Collector) -> pl.Series:
    """The code label of each value of an inspection type column; an unknown value is a problem
    naming the file, row, column and value."""
    labels = {
        " ".join(x.split()).lower(): code.label
        for code in maps.codes() if code.scale == col for x in (code.code, code.label, *code.aliases)
    }
    # a column holds a few dozen distinct values: each is keyed and looked up once
    values = df[col].drop_nulls().unique()
    found = values.to_frame().select(_type_key(pl.col(col)).replace_strict(labels, default=None, return_dtype=pl.String)).to_series()
    readable = found.is_not_null()
    out = (df[col].replace_strict(values.filter(readable), found.filter(readable), default=None, return_dtype=pl.String)
           if readable.any() else pl.Series(col, [None] * df.height, dtype=pl.String))
    bad = df.select("_row", pl.col(col).alias("value")).filter(pl.col("value").is_not_null() & out.is_null())
    if bad.height:
        known = sorted({code.label for code in maps.codes() if code.scale == col})
        c.fail_rows(bad, header, f"unknown {col.replace('_', ' ')} (add it to maps/codes.csv if Ofsted publishes it; known: {'; '.join(known)})")
    return out


def _normalise_category(col: pl.Expr) -> pl.Expr:
    mapping = {x: code.code for code in maps.codes() if code.scale == "category_of_concern" for x in (code.code, *code.aliases)}
    return col.replace_strict(mapping, default=None)


def _block(
    inp: RawInput, df: pl.DataFrame, urn: pl.Series, block: str, kind: str, fields: list[str], c: Collector
) -> tuple[pl.DataFrame, pl.DataFrame]:
    prefix = block + "."
    hdr = inp.headers
    sub = df.select(["_row", *fields]).rename({f: f[len(prefix):] for f in fields})
    bh = {f[len(prefix):]: hdr[f] for f in fields}
    cols: dict[str, pl.Series] = {"_row": sub["_row"], "reported_urn": urn}
    for name, dtype in EVENT_INT_FIELDS.items():
        if name in sub.columns:
            cols[name] = to_int(sub, name, bh[name], dtype, c)
    for name in EVENT_DATE_FIELDS:
        if name in sub.columns:
            cols[name] = to_date(sub, name, bh[name], inp.layout.date_formats, c)
    for name in EVENT_BOOL_FIELDS:
        if name in sub.columns:
            cols[name] = to_yes_no(sub, name, bh[name], c)
    if "category_of_concern" in sub.columns:
        _check_codes(sub, "category_of_concern", "category_of_concern", bh, c)
    for name in TYPE_FIELDS:
        if name in sub.columns:
            sub = sub.with_columns(_type_label(sub, name, bh[name], c))
    texts = [k for k in ("inspection_number", "inspection_type", "inspection_type_grouping", "event_type_grouping",
                         "school_name_at_time", "school_type_at_time", "category_of_concern") if k in sub.columns]
    occ = pl.DataFrame(cols).with_columns(
        [sub[k] for k in texts]
    )
    if "inspection_number" in occ.columns:
        occ = occ.with_columns(
            pl.col("inspection_number").str.replace(r"^(\d+)\.0+$", "${1}").str.to_uppercase().str.replace_all(r"\s", "")
        )
    if "category_of_concern" in occ.columns:
        occ = occ.with_columns(_normalise_category(pl.col("category_of_concern")).alias("category_of_concern"))
    j_cols = [k for k in sub.columns if k.startswith("j.")]
    present = pl.lit(False)
    for k in ("inspection_number", "start_date"):
        if k in occ.columns:
            present = present | pl.col(k).is_not_null()
    kind_expr = pl.lit(kind)
    if "converted_to_graded" in occ.columns:
        # an ungraded inspection that converted to a graded one is that graded inspection
        kind_expr = pl.when(pl.col("converted_to_graded").fill_null(False)).then(pl.lit("graded")).otherwise(pl.lit(kind))
    occ = occ.with_columns(
        pl.lit(inp.file_id).alias("file_id"),
        pl.lit(block).alias("block"),
        kind_expr.alias("kind"),
        pl.lit(inp.as_at, dtype=pl.Date).alias("as_at"),
        pl.coalesce([pl.col("urn_at_time") if "urn_at_time" in occ.columns else pl.lit(None, pl.Int64), pl.col("reported_urn")]).alias("urn"),
    )
    has_event = occ.select(present.alias("p"))["p"]
    # judgements given for an event that has neither number nor date cannot be placed
    if j_cols:
        orphan = sub.filter(~has_event).select("_row", pl.concat_str([pl.col(k) for k in j_cols], separator="", ignore_nulls=True).alias("value"))
        orphan = orphan.filter(pl.col("value").str.len_chars() > 0)
        c.fail_rows(orphan, f"{block} block", "judgements given without an inspection number or start date")
    occ = occ.filter(has_event)
    if "start_date" not in occ.columns:
        occ = occ.with_columns(pl.lit(None, pl.Date).alias("start_date"))
    if not j_cols:
        return occ, pl.DataFrame()
    keep_rows = sub.filter(has_event)
    jdates = {k[len("jdate."):]: to_date(sub, k, bh[k], inp.layout.date_formats, c).filter(has_event)
              for k in sub.columns if k.startswith("jdate.")}
    start = occ["start_date"]
    # one area after another (the order of an unpivot), each row's judgement date its own
    # or the event's start; each (area, raw value) pair gets an index into ``pairs``
    pieces, pair_frames, n_pairs = [], [], 0
    for k in j_cols:
        area = k[2:]
        when = pl.select(pl.coalesce(pl.lit(jdates[area]), pl.lit(start))).to_series() if area in jdates else start
        piece = pl.DataFrame({"_row": keep_rows["_row"], "raw_value": keep_rows[k], "judgement_date": when.alias("judgement_date")})
        piece = piece.filter(pl.col("raw_value").is_not_null())
        values = piece["raw_value"].unique(maintain_order=True)
        keys = pl.Series(range(n_pairs, n_pairs + values.len()), dtype=pl.UInt32)
        pieces.append(piece.select(
            "_row", pl.lit(area, pl.String).alias("area"), "raw_value", "judgement_date",
            (pl.col("raw_value").replace_strict(values, keys, return_dtype=pl.UInt32) if values.len() else pl.lit(None, pl.UInt32)).alias("_key"),
        ))
        pair_frames.append(pl.DataFrame({"area": [area] * values.len(), "raw_value": values}, schema={"area": pl.String, "raw_value": pl.String}))
        n_pairs += values.len()
    long = pl.concat(pieces).with_row_index("_jid")
    headers = {k[2:]: bh[k] for k in j_cols}
    resolved = resolve_codes(long, pl.concat(pair_frames), c, headers)
    resolved = resolved.with_columns(pl.lit(inp.file_id).alias("file_id"), pl.lit(block).alias("block")).drop("_jid")
    return occ, resolved
