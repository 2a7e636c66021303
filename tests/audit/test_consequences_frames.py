"""Consequences (issue 15): the closure share of the complete follow-up cohort. On synthetic
histories where the scraped history also holds schools no state-funded file or link list knows
(an independent sector, inspected by Ofsted and graded alike, never in the state-funded files),
the old frame counts each of their inadequate judgements as a closure; the corrected cohort
(URNs some state-funded file or link knows) recovers the planted closure share, and
closure_check counts what was left out."""

from __future__ import annotations

import polars as pl
import pytest
from test_planted_frames import F, _inadequate_frame

from evenhand.audit import consequences
from evenhand.simulate.histories import Histories, simulate_histories
from evenhand.stats.intervals import wilson


@pytest.fixture(scope="module")
def hist() -> Histories:
    return simulate_histories(6000, seed=11)


def _outside_sector(n: int, seed: int) -> pl.DataFrame:
    """Inadequate judgements of schools outside the state-funded sector, as the audit sees them:
    in the history only, no successor, absent from the newest file: 'closed'."""
    ind = simulate_histories(n, seed=seed)
    h = ind.scraped_history().filter(pl.col("code") == "4")
    return h.select(
        ("IND" + pl.col("lineage_id")).alias("lineage_id"), pl.col("start_date").alias("inadequate_start_date"),
        pl.lit(F[5]).alias("what_followed"), pl.lit(None, dtype=pl.Int64).alias("days_to_next"),
        pl.lit(None, dtype=pl.Int64).alias("days_to_successor"),
        (pl.lit(ind.params.as_at) - pl.col("start_date")).dt.total_days().alias("days_followed"),
        pl.lit(0, dtype=pl.Int64).alias("days_to_last_seen"), pl.lit(True).alias("in_history"), pl.lit(False).alias("reinspected"),
        pl.lit(False).alias("known_state_funded"),
    )


def test_closure_share_leaves_out_urns_no_state_funded_file_knows(hist: Histories) -> None:
    hist_ids = set(hist.scraped_history()["event_id"].to_list())
    population = _inadequate_frame(hist, hist.events, hist_ids)
    d = pl.col("inadequate_start_date")
    cohort_pop = population.filter((d >= consequences.COMPLETE_FROM) & (d <= consequences.COMPLETE_TO))
    truth = float((cohort_pop["what_followed"] == F[5]).mean())
    observed = _inadequate_frame(hist, hist.observed(), hist_ids).with_columns(pl.lit(True).alias("known_state_funded"))
    outside = _outside_sector(2500, seed=12)
    both = pl.concat([observed, outside.select(observed.columns)])
    in_period = both.filter(pl.col("in_history") & (d >= consequences.COMPLETE_FROM) & (d <= consequences.COMPLETE_TO))
    n_out = in_period.filter(~pl.col("known_state_funded")).height
    assert n_out > 20  # the planted contamination is there
    # the old frame: every URN the history holds
    old = wilson(int((in_period["what_followed"] == F[5]).sum()), in_period.height)
    assert not old.covers(truth) and old.value > truth
    # the corrected cohort: URNs a state-funded file or link knows
    cohort = both.filter(consequences.in_complete_cohort(both))
    new = wilson(int((cohort["what_followed"] == F[5]).sum()), cohort.height)
    assert new.covers(truth)
    check = dict(consequences.closure_check(both).iter_rows())
    assert check["looks closed: URN unknown to every state-funded file and GIAS link list (left out of the headline)"] == n_out
    assert check["headline cohort (known URNs)"] == cohort.height == in_period.height - n_out
    # referee item 7: every unknown URN is left out whatever followed, so the arithmetic closes
    n_unknown_all = in_period.filter(~pl.col("known_state_funded")).height
    assert check["URN unknown to every state-funded file and GIAS link list, whatever followed (all left out of the headline)"] \
        == n_unknown_all == in_period.height - cohort.height
    assert check["URN unknown to every file and link list, not looking closed (re-inspected in the history; left out too)"] == \
        in_period.filter(~pl.col("known_state_funded") & (pl.col("what_followed") != F[5])).height
    # a frame without the column (a test nation with no such schools) keeps every row
    assert observed.drop("known_state_funded").filter(consequences.in_complete_cohort(observed.drop("known_state_funded"))).height \
        == observed.filter(consequences.in_complete_cohort(observed)).height
