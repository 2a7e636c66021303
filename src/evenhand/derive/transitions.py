"""Consecutive graded inspections within a lineage, on overall effectiveness.

Each side keeps its own scale, code, label, rank and era. Two judgements are ``comparable``
(docs/decisions/0400-transitions.md):

- on the ``same_scale`` basis when both are graded, both on one scale, and each code means
  the same at both dates (the label the code table gives it is the same on the earlier and
  the later date). Outstanding (2009) -> Inadequate (2022) qualifies; Satisfactory (grade 3
  until August 2012) -> Good (2014) does not, because code 3 meant 'Requires improvement' by
  then;
- on a ``mapping:<name>`` basis when both points appear in one *enabled* mapping of
  maps/scale_mappings.csv (or the mapping passed in), which puts them on a common rank.
  The shipped four-point ordinal mapping is disabled: 'Satisfactory' is not 'Requires
  improvement' (DESIGN section 2);
- never otherwise: judgements not graded ('Not judged' from September 2024), report cards
  without an overall grade, and different scales get ``comparable`` = false and a note.
"""

from __future__ import annotations

import duckdb
import polars as pl

from evenhand import maps
from evenhand.core.warehouse import frame
from evenhand.derive.lineage import replace_table
from evenhand.metadata import out_tables as O


def scale_mappings(enabled_only: bool = True) -> pl.DataFrame:
    """maps/scale_mappings.csv: mapping, scale, label, common_rank, enabled, note."""
    rows = maps.read_rows("scale_mappings.csv")
    df = pl.DataFrame(
        {
            "mapping": [r["mapping"] for r in rows],
            "scale": [r["scale"] for r in rows],
            "label": [r["label"] for r in rows],
            "common_rank": [int(r["common_rank"]) for r in rows],
            "enabled": [r["enabled"] == "true" for r in rows],
            "note": [r["note"] for r in rows],
        },
        schema={"mapping": pl.String, "scale": pl.String, "label": pl.String, "common_rank": pl.Int64, "enabled": pl.Boolean, "note": pl.String},
    )
    return df.filter(pl.col("enabled")) if enabled_only else df


def _codes() -> pl.DataFrame:
    return pl.DataFrame(
        [{"scale": c.scale, "code": c.code, "label": c.label, "valid_from": c.valid_from, "valid_to": c.valid_to} for c in maps.codes()],
        schema={"scale": pl.String, "code": pl.String, "label": pl.String, "valid_from": pl.Date, "valid_to": pl.Date},
    )


def _label_at(df: pl.DataFrame, scale: str, code: str, when: str, out: str) -> pl.DataFrame:
    """The label the code table gives (scale, code) on date ``when``, as column ``out``."""
    codes = _codes()
    hit = (
        df.select("_i", pl.col(scale).alias("scale"), pl.col(code).alias("code"), pl.col(when).alias("_d"))
        .join(codes, on=["scale", "code"])
        .filter(
            (pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("_d")))
            & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= pl.col("_d")))
        )
        .group_by("_i").agg(pl.col("label").first().alias(out))
    )
    return df.join(hit, on="_i", how="left")


def transitions(con: duckdb.DuckDBPyConnection, mappings: pl.DataFrame | None = None) -> pl.DataFrame:
    """Compute out.transitions; ``mappings`` (rows as maps/scale_mappings.csv, enabled ones
    used) replaces the shipped file."""
    maps_used = scale_mappings() if mappings is None else mappings.filter(pl.col("enabled"))
    ev = frame(
        con,
        """
        SELECT el.lineage_id, e.event_id, e.urn, e.kind, e.era, e.start_date,
               coalesce(j.judgement_date, e.start_date) AS jdate,
               j.scale, j.code, j.label, j.rank, j.graded
        FROM core.events e
        JOIN out.event_lineage el USING (event_id)
        LEFT JOIN core.judgements j ON j.event_id = e.event_id AND j.area = 'overall_effectiveness'
        WHERE e.kind IN ('graded', 'report_card') AND e.start_date IS NOT NULL
        ORDER BY el.lineage_id, e.start_date, e.event_id
        """,
    )
    cols = ["event_id", "urn", "kind", "era", "start_date", "jdate", "scale", "code", "label", "rank", "graded"]
    # ev is sorted by lineage then date: the previous row is the previous event unless the lineage changes
    first = (pl.col("lineage_id") != pl.col("lineage_id").shift(1)).fill_null(True)
    t = ev.with_columns(
        [pl.when(first).then(None).otherwise(pl.col(c).shift(1)).alias(f"from_{c}") for c in cols]
    ).rename(
        {c: f"to_{c}" for c in cols}
    ).filter(pl.col("from_event_id").is_not_null())
    t = t.with_columns(
        _i=pl.int_range(pl.len()),
    ).with_columns(
        seq=(pl.col("_i") - pl.col("_i").min().over("lineage_id") + 1).cast(pl.Int64),
    )
    t = _label_at(t, "from_scale", "from_code", "to_jdate", "_from_label_later")
    t = _label_at(t, "to_scale", "to_code", "from_jdate", "_to_label_earlier")
    both_graded = pl.col("from_graded").fill_null(False) & pl.col("to_graded").fill_null(False)
    same_meaning = (
        (pl.col("from_scale") == pl.col("to_scale"))
        & (pl.col("_from_label_later") == pl.col("from_label")).fill_null(False)
        & (pl.col("_to_label_earlier") == pl.col("to_label")).fill_null(False)
    )
    t = t.with_columns(_direct=both_graded & same_meaning.fill_null(False))

    # explicit mappings: both points in one enabled mapping
    mp = maps_used.select("mapping", "scale", "label", "common_rank")
    via = (
        t.filter(both_graded & ~pl.col("_direct"))
        .select("_i", "from_scale", "from_label", "to_scale", "to_label")
        .join(mp.rename({"scale": "from_scale", "label": "from_label", "common_rank": "_fc"}), on=["from_scale", "from_label"])
        .join(mp.rename({"scale": "to_scale", "label": "to_label", "common_rank": "_tc", "mapping": "_m2"}), on=["to_scale", "to_label"])
        .filter(pl.col("mapping") == pl.col("_m2"))
        .sort("_i", "mapping")
        .group_by("_i", maintain_order=True)
        .agg(pl.col("mapping").first(), pl.col("_fc").first(), pl.col("_tc").first())
    )
    t = t.join(via, on="_i", how="left")
    comparable = pl.col("_direct") | pl.col("mapping").is_not_null()
    change = (
        pl.when(pl.col("_direct")).then(pl.col("to_rank").cast(pl.Int64) - pl.col("from_rank").cast(pl.Int64))
        .when(pl.col("mapping").is_not_null()).then(pl.col("_tc") - pl.col("_fc"))
    )
    t = t.with_columns(
        comparable=comparable,
        comparison_basis=pl.when(pl.col("_direct")).then(pl.lit("same_scale"))
        .when(pl.col("mapping").is_not_null()).then(pl.format("mapping:{}", "mapping")),
        change=change,
    ).with_columns(
        direction=pl.when(pl.col("change") < 0).then(pl.lit("improved"))
        .when(pl.col("change") > 0).then(pl.lit("declined"))
        .when(pl.col("change") == 0).then(pl.lit("unchanged")),
        note=pl.when(pl.col("comparable")).then(None)
        .when(pl.col("from_scale").is_null()).then(pl.lit("earlier inspection has no overall judgement"))
        .when(pl.col("to_scale").is_null()).then(pl.lit("later inspection has no overall judgement"))
        .when(~pl.col("from_graded")).then(pl.format("earlier overall judgement not graded ('{}')", "from_label"))
        .when(~pl.col("to_graded")).then(pl.format("later overall judgement not graded ('{}')", "to_label"))
        .when(pl.col("from_scale") != pl.col("to_scale")).then(
            pl.format("different scales ({} and {}) and no enabled mapping in maps/scale_mappings.csv", "from_scale", "to_scale"))
        .when((pl.col("_from_label_later") == pl.col("from_label")).fill_null(False)).then(
            pl.format(
                "code {} changed meaning between the two dates ('{}' on the later date, '{}' on the earlier) "
                "and no enabled mapping in maps/scale_mappings.csv",
                "to_code", "to_label", pl.col("_to_label_earlier").fill_null("no label"),
            )
        )
        .otherwise(
            pl.format(
                "code {} changed meaning between the two dates ('{}' on the earlier date, '{}' on the later) "
                "and no enabled mapping in maps/scale_mappings.csv",
                "from_code", "from_label", pl.col("_from_label_later").fill_null("no label"),
            )
        ),
        urn_changed=pl.col("from_urn") != pl.col("to_urn"),
        days_apart=(pl.col("to_start_date") - pl.col("from_start_date")).dt.total_days(),
        lineage_id=pl.col("lineage_id"),
    )
    return O.TRANSITIONS.conform(t)


def derive_transitions(con: duckdb.DuckDBPyConnection) -> None:
    replace_table(con, O.TRANSITIONS, transitions(con))
