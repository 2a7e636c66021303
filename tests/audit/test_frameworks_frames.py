"""Frameworks like against like (issue 15): on synthetic histories with risk-targeted inspection
and files that keep only each open school's latest two graded inspections
(evenhand.simulate.histories), with a deprivation gradient planted the same in every era, the
like-for-like frame (each era's inspections in the latest block of the file taken a year after it
ended, the pair that file holds for stability, the file's own quintile and phase) recovers the
census of schools' current judgements computed from the population; the pooled per-era frame
(latest and previous blocks and the survivor-only history) does not.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from evenhand.audit import frames, frameworks
from evenhand.simulate.histories import Histories, HistoryParams, simulate_histories
from evenhand.stats.intervals import newcombe_difference, wilson

SNAPSHOTS = (dt.date(2020, 8, 31), dt.date(2025, 8, 31))
ERAS = ["cif_2015", "eif_2019"]


@pytest.fixture(scope="module")
def hist() -> Histories:
    return simulate_histories(6000, seed=21, params=HistoryParams(deprivation_effect=0.45))


def _flagged(view: pl.DataFrame) -> pl.DataFrame:
    return view.with_columns(
        pl.col("code").alias("overall_effectiveness"),
        pl.col("safeguarding").is_not_null().alias("safeguarding_recorded"),
        (pl.col("safeguarding") == "No").fill_null(False).alias("safeguarding_not_effective"),
        *[pl.lit(False).alias(c) for c in ("safeguarding_not_met", "classifiable", "quality_of_education_good",
                                           "education_good", "safeguarding_limited")],
    )


def _transitions(view: pl.DataFrame) -> pl.DataFrame:
    v = view.sort(["lineage_id", "start_date"])
    nxt = v.with_columns(
        pl.col("event_id").shift(-1).over("lineage_id").alias("to_event_id"),
        pl.col("code").shift(-1).over("lineage_id").alias("to_code"),
        pl.col("era").shift(-1).over("lineage_id").alias("to_era"),
    ).filter(pl.col("to_event_id").is_not_null())
    return nxt.select(
        pl.col("event_id").alias("from_event_id"), "to_event_id", pl.col("code").alias("from_code"), "to_code", "to_era",
        pl.lit(True).alias("comparable"), pl.lit("four_point").alias("from_scale"), pl.lit("four_point").alias("to_scale"),
        (pl.col("to_code").cast(pl.Int64) - pl.col("code").cast(pl.Int64)).alias("change"),
    )


def _rows(hist: Histories) -> pl.DataFrame:
    """frames.snapshot_rows as the warehouse gives it: one row per event in a file's latest or
    previous block, the file row shared by a school's two blocks, the file's quintile and phase."""
    parts = []
    for i, d in enumerate(SNAPSHOTS):
        f = hist.school_file(d)
        parts.append(f.select(
            pl.lit(d).alias("snapshot_as_at"), pl.lit(i, dtype=pl.Int64).alias("file_id"),
            pl.col("file_urn").rank("dense").cast(pl.Int64).alias("row_number"), "event_id",
            pl.when(pl.col("block") == "graded").then(pl.lit(frames.LATEST)).otherwise(pl.lit(frames.PREVIOUS)).alias("snapshot_block"),
            "phase", "idaci_quintile"))
    return pl.concat(parts)


def _census(hist: Histories, d: dt.date, era: str, phase: str | None = None) -> dict[str, float]:
    """The truth, from the population: every school open at ``d`` whose latest graded inspection
    by then is of ``era``; its grade, quintile and the grade of the inspection before it."""
    open_l = hist.open_urns(d).select("lineage_id").unique()
    ev = hist.events.filter(pl.col("start_date") <= d).join(open_l, on="lineage_id").sort(["lineage_id", "start_date"])
    ev = ev.with_columns(pl.col("code").shift(1).over("lineage_id").alias("prev_code"))
    cur = ev.group_by("lineage_id").agg(pl.all().last()).filter(pl.col("era") == era)
    if phase:
        cur = cur.filter(pl.col("phase") == phase)
    good = pl.col("code").is_in(["1", "2"])
    q5 = cur.filter(pl.col("idaci_quintile") == 5).select(good.mean()).item()
    q1 = cur.filter(pl.col("idaci_quintile") == 1).select(good.mean()).item()
    pairs = cur.filter(pl.col("prev_code").is_not_null())
    return {"n": cur.height, "gap": q5 - q1, "stability": float((pairs["code"] == pairs["prev_code"]).mean()),
            "n_pairs": pairs.height}


def test_like_for_like_recovers_the_census_and_the_pooled_frame_does_not(hist: Histories) -> None:
    events = _flagged(hist.events)
    lfl = frameworks.like_for_like(events, _rows(hist), _transitions(hist.events), eras=ERAS)
    head = {r["era"]: r for r in lfl.filter(pl.col("kind") == frameworks.HEADLINE_KIND).iter_rows(named=True)}
    assert set(head) == set(ERAS)
    assert head["cif_2015"]["snapshot_as_at"] == SNAPSHOTS[0] and head["eif_2019"]["snapshot_as_at"] == SNAPSHOTS[1]
    # the pooled (old) frame: every observed inspection of the era (2025 file's two blocks + the survivor history)
    obs = _flagged(hist.observed())
    pooled = frameworks.era_table(obs, _transitions(obs), eras=ERAS)
    pooled_by = {r["era"]: r for r in pooled.iter_rows(named=True)}
    missed = 0
    for era, d in zip(ERAS, SNAPSHOTS, strict=True):
        truth = _census(hist, d, era)
        r = head[era]
        # the like-for-like frame IS the census of current judgements: same rows, same numbers
        assert r["n"] == truth["n"] and r["n_transitions"] == truth["n_pairs"]
        assert r["gap_q5_minus_q1"] == pytest.approx(truth["gap"], abs=1e-12)
        assert r["stability"] == pytest.approx(truth["stability"], abs=1e-12)
        # the planted gradient is there (most deprived judged good or better less often)
        assert r["gap_high"] < 0
        # phase from the file: the primary row is the census of primary schools
        prim = lfl.filter((pl.col("kind") == "primary") & (pl.col("era") == era)).row(0, named=True)
        assert prim["gap_q5_minus_q1"] == pytest.approx(_census(hist, d, era, "Primary")["gap"], abs=1e-12)
        # the pooled frame mixes outcome-selected blocks and re-inspections of weak schools: its
        # deprivation gap misses the census in every era (seed 21: -24.2 vs -18.3 and -23.8 vs -14.4
        # points), its stability in at least one (41.7% vs 45.2% for the EIF)
        p = pooled_by[era]
        assert not (p["gap_low"] <= truth["gap"] <= p["gap_high"])
        missed += not wilson(p["unchanged"], p["n_transitions"]).covers(truth["stability"])
    assert missed >= 1


def test_era_differences_compare_like_with_like() -> None:
    lfl = pl.DataFrame({
        "era": ["cif_2015", "eif_2019"], "kind": [frameworks.HEADLINE_KIND] * 2,
        "snapshot_as_at": [dt.date(2020, 8, 31), dt.date(2025, 8, 31)], "measure": ["overall effectiveness"] * 2,
        "gap_q5_minus_q1": [-0.10, -0.05], "gap_low": [-0.13, -0.07], "gap_high": [-0.07, -0.03],
        "unchanged": [300, 450], "n_transitions": [1000, 1000],
    })
    d = frameworks.era_differences(lfl).row(0, named=True)
    assert (d["from_era"], d["to_era"]) == ("cif_2015", "eif_2019")
    assert d["gap_change"] == pytest.approx(0.05)
    # MOVER: lower = diff - sqrt((b - b_low)^2 + (a_high - a)^2)
    assert d["gap_change_low"] == pytest.approx(0.05 - (0.02**2 + 0.03**2) ** 0.5)
    assert d["gap_change_high"] == pytest.approx(0.05 + (0.02**2 + 0.03**2) ** 0.5)
    nd = newcombe_difference(450, 1000, 300, 1000)
    assert (d["stability_change"], d["stability_change_low"]) == pytest.approx((nd.value, nd.low))
    # different measures are never differenced
    other = lfl.with_columns(pl.Series("measure", ["overall effectiveness", "quality of education"]))
    assert frameworks.era_differences(other).row(0, named=True)["gap_change"] is None
