"""The resources frame as it was before issue 15, rebuilt on a synthetic nation so a test can
show it finds an effect of money that was never planted (tests/audit/test_resources.py).

- rows: every URN's latest graded inspection (open or closed);
- finance: the nearest academic year before the inspection, of the URN or its predecessor
  (the out.event_context rule), however old;
- pupils: the census of the nearest year before the inspection, else Ofsted's pupil count in
  the current school row;
- quintiles cut within phase over nominal pounds of every year pooled.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from evenhand.audit import intake, resources
from evenhand.simulate.frame_bias import lineage_columns
from evenhand.simulate.nation import SyntheticNation


def _nearest_before(ev: pl.DataFrame, ctx: pl.DataFrame, measure: str) -> pl.DataFrame:
    """event_id -> value of ``measure`` of the nearest year before the event (own URN or its
    predecessor; own wins on the same year)."""
    m = ctx.filter(pl.col("measure") == measure).select(
        pl.col("urn").alias("context_urn"), pl.col("academic_year").str.slice(0, 4).cast(pl.Int64).alias("y"), "value"
    )
    cand = ev.select("event_id", "urn", "event_y", "predecessor_urn")
    own = cand.join(m, left_on="urn", right_on="context_urn").with_columns(pl.lit(0).alias("steps"))
    pred = cand.join(m, left_on="predecessor_urn", right_on="context_urn").with_columns(pl.lit(1).alias("steps"))
    both = pl.concat([own.select(own.columns), pred.select(own.columns)]).filter(pl.col("y") < pl.col("event_y"))
    return (
        both.sort("event_id", "y", "steps", descending=[False, True, False])
        .unique("event_id", keep="first", maintain_order=True)
        .select("event_id", pl.col("value").alias(measure))
    )


def old_resources_frame(nation: SyntheticNation, context: pl.DataFrame) -> pl.DataFrame:
    lin = lineage_columns(nation.schools)
    ev = resources.nation_events(nation).filter(pl.col("area") == "overall_effectiveness")
    ev = (
        ev.sort("urn", "start_date", "event_id")
        .unique("urn", keep="last", maintain_order=True)
        .join(lin.select("urn", "predecessor_urn"), on="urn", how="left")
        .with_columns(
            (pl.col("start_date").dt.year() - (pl.col("start_date").dt.month() < 9).cast(pl.Int64)).alias("event_y")
        )
    )
    frame = ev
    for m in ("income_gbp", "pupils", "fsm_pct"):
        frame = frame.join(_nearest_before(ev, context, m), on="event_id", how="left")
    ofsted = context.filter(pl.col("measure") == "ofsted_pupils").select("urn", pl.col("value").alias("ofsted_pupils"))
    # a closed school has no current row: Ofsted's file shows its successor's
    succ = lin.filter(pl.col("predecessor_urn").is_not_null()).select(
        pl.col("predecessor_urn").alias("urn"), pl.col("urn").alias("row_urn")
    )
    frame = (
        frame.join(succ, on="urn", how="left")
        .with_columns(pl.coalesce("row_urn", "urn").alias("row_urn"))
        .join(ofsted.rename({"urn": "row_urn"}), on="row_urn", how="left")
    )
    pupils = pl.coalesce("pupils", "ofsted_pupils")
    frame = frame.with_columns(
        pl.when(pupils > 0).then(pl.col("income_gbp") / pupils).alias("income_pp"),
        pl.when(pupils > 0).then(pupils.log()).alias("log_pupils"),
        pl.col("idaci_quintile").cast(pl.Utf8),
        intake.academic_year(pl.col("start_date")).alias("year"),
    ).filter(pl.col("income_pp").is_not_null())
    cuts = {
        ph: np.quantile(g["income_pp"].to_numpy(), [0.2, 0.4, 0.6, 0.8]).tolist()
        for (ph,), g in frame.group_by("phase")
    }
    col = pl.lit(None, dtype=pl.Utf8)
    for ph, c in sorted(cuts.items()):
        col = pl.when(pl.col("phase") == ph).then(intake.quintile_of(pl.col("income_pp"), c)).otherwise(col)
    return frame.with_columns(col.alias("income_pp_quintile"))
