"""Plant the bias, not just the effect (shared/REFEREE.md): on synthetic histories with
risk-targeted inspection, outcome-selected previous blocks, a survivor-only scraped history and
consequences as competing risks (evenhand.simulate.histories), each corrected frame recovers the
planted truth and the old frame would not.

The audits' pure functions are fed the selected views exactly as the warehouse queries give
them (the same columns), and compared with the population the views were selected from.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from evenhand.audit import consequences, consistency, frames, safeguarding
from evenhand.simulate.histories import Histories, simulate_histories
from evenhand.stats.intervals import wilson

N_SCHOOLS = 6000


@pytest.fixture(scope="module")
def hist() -> Histories:
    return simulate_histories(N_SCHOOLS, seed=11)


# ----------------------------------------------------------------------------- safeguarding


def _flagged(view: pl.DataFrame) -> pl.DataFrame:
    return view.with_columns(
        pl.col("code").alias("overall_effectiveness"),
        pl.col("safeguarding").is_not_null().alias("safeguarding_recorded"),
        (pl.col("safeguarding") == "No").fill_null(False).alias("safeguarding_not_effective"),
    )


def test_safeguarding_blocks_show_the_selection_and_the_inadequate_share_is_recovered(hist: Histories) -> None:
    obs = _flagged(hist.observed())
    pop = _flagged(hist.events).filter(pl.col("era") == "eif_2019")
    truth_rate = pop["safeguarding_not_effective"].mean()
    blocks = safeguarding.by_block(obs, eras=("eif_2019",))
    latest = blocks.filter(pl.col("block") == frames.LATEST).row(0, named=True)
    prev = blocks.filter(pl.col("block") == frames.PREVIOUS).row(0, named=True)
    # the planted selection: the latest block (each school's current judgement) under-states and
    # the previous block over-states the share of all inspections of the era ...
    assert latest["high"] < truth_rate < prev["low"]
    # (pooled, the two blocks come close here only because nearly every inspection of a five-year
    # era is still one of a school's latest two; the file cannot say how many are missing)
    # ... while a share conditional on the grade the selection acts through is recovered:
    # safeguarding not effective among inadequate judgements (planted 0.5)
    n, k = safeguarding.inadequate_with_safeguarding(obs)
    assert wilson(k, n).covers(hist.params.p_safeguarding_not_effective[3])
    assert latest["inadequate_share"] is not None and prev["inadequate_share"] is not None


def test_visibility_counts_blocks_of_the_snapshot_not_history_rows(hist: Histories) -> None:
    obs = _flagged(hist.observed())
    vis = safeguarding.visibility(obs)
    rec = obs.filter(pl.col("safeguarding_recorded"))
    assert vis["graded"] == rec.filter(pl.col("snapshot_block") == frames.LATEST).height
    assert vis["graded"] + vis["previous"] + vis["neither"] == rec.height


# ----------------------------------------------------------------------------- consistency


def _transitions(view: pl.DataFrame) -> pl.DataFrame:
    v = view.sort(["lineage_id", "start_date"])
    nxt = v.with_columns(
        pl.col("event_id").shift(-1).over("lineage_id").alias("to_event_id"),
        pl.col("code").shift(-1).over("lineage_id").alias("to_code"),
        pl.col("start_date").shift(-1).over("lineage_id").alias("to_start_date"),
    ).filter(pl.col("to_event_id").is_not_null())
    return nxt.select(
        "lineage_id", pl.col("event_id").alias("from_event_id"), "to_event_id", pl.col("code").alias("from_code"), "to_code",
        pl.col("start_date").alias("from_start_date"), "to_start_date",
        (pl.col("to_start_date") - pl.col("start_date")).dt.total_days().alias("days_apart"),
        pl.lit(True).alias("comparable"), pl.lit("four_point").alias("from_scale"), pl.lit("four_point").alias("to_scale"),
        (pl.col("to_code").cast(pl.Int64) - pl.col("code").cast(pl.Int64)).alias("change"),
        pl.col("code").replace_strict({"1": "Outstanding", "2": "Good", "3": "Requires improvement", "4": "Inadequate"}).alias("from_label"),
    )


def test_cliff_edges_conditional_on_the_starting_grade(hist: Histories) -> None:
    pop = _transitions(hist.events)
    truth = float(((pop["from_code"] == "1") & (pop["to_code"] == "4")).sum() / (pop["from_code"] == "1").sum())
    obs_view = hist.observed()
    tr = consistency.pair_sources(_transitions(obs_view), obs_view.select("event_id", "snapshot_block", "in_history"))
    cond = consistency.conditional_cliffs(tr)
    row = cond.filter((pl.col("dimension") == "starting grade") & (pl.col("from_code") == "1")).row(0, named=True)
    est = wilson(row["to_inadequate"], row["n"])
    # the conditional rate is close to the planted one (the survivor history loses a few falls) ...
    assert abs(est.value - truth) < max(0.35 * truth, est.high - est.low)
    # ... the old frame (outstanding -> inadequate over ALL pairs) is nowhere near it
    old = float(((tr["from_code"] == "1") & (tr["to_code"] == "4")).sum() / tr.height)
    assert old < 0.4 * truth
    # risk-targeted inspection: pairs starting outstanding are far apart (the exemption), by source too
    assert row["median_years_apart"] > 4.0
    assert set(cond.filter(pl.col("dimension") == "where the pair is held")["group"].to_list()) >= {
        consistency.PAIR_HISTORY, consistency.PAIR_FILE}


# ----------------------------------------------------------------------------- consequences

F = consequences.FOLLOWED


def _inadequate_frame(hist: Histories, events: pl.DataFrame, in_history: set[str]) -> pl.DataFrame:
    """The columns consequences.inadequate_events gives, for the inadequate events in ``events``."""
    as_at = hist.params.as_at
    urns = {r["urn"]: r for r in hist.urns.iter_rows(named=True)}
    successor: dict[int, tuple[int, dt.date]] = {}
    by_lineage = hist.urns.sort("opened").group_by("lineage_id", maintain_order=True).agg("urn", "opened")
    for row in by_lineage.iter_rows(named=True):
        for a, b, opened in zip(row["urn"], row["urn"][1:], row["opened"][1:], strict=False):
            successor[a] = (b, opened)
    ev = events.sort(["lineage_id", "start_date"])
    rows = []
    groups = {k[0]: g for k, g in ev.group_by("lineage_id")}
    for lin, g in groups.items():
        recs = g.sort("start_date").to_dicts()
        for i, r in enumerate(recs):
            if r["code"] != "4" or r["start_date"] > as_at:
                continue
            nxt = next((x for x in recs[i + 1:] if x["start_date"] <= as_at), None)
            succ = successor.get(r["urn"])
            ended = urns[r["urn"]]["ended"]
            open_now = ended is None or ended > as_at
            if nxt is not None:
                what = F[0] if nxt["urn"] == r["urn"] else F[1]
            elif succ is not None:
                what = F[3]
            elif not open_now:
                what = F[5]
            else:
                what = F[6]
            seen = max(x["start_date"] for x in recs if x["urn"] == r["urn"])
            rows.append({
                "lineage_id": lin, "inadequate_start_date": r["start_date"], "what_followed": what,
                "days_to_next": (nxt["start_date"] - r["start_date"]).days if nxt else None,
                "days_to_successor": (succ[1] - r["start_date"]).days if succ else None,
                "days_followed": (as_at - r["start_date"]).days,
                "days_to_last_seen": (min(seen, as_at) - r["start_date"]).days,
                "in_history": r["event_id"] in in_history, "reinspected": nxt is not None,
            })
    return pl.DataFrame(rows, schema={"lineage_id": pl.String, "inadequate_start_date": pl.Date, "what_followed": pl.String,
                                      "days_to_next": pl.Int64, "days_to_successor": pl.Int64, "days_followed": pl.Int64,
                                      "days_to_last_seen": pl.Int64, "in_history": pl.Boolean, "reinspected": pl.Boolean})


def _truth_5y(pop: pl.DataFrame, cause: int) -> float:
    fe = consequences.first_events(pop)
    return float(((fe["first_cause"] == cause) & (fe["first_days"] <= 5 * consequences.YEAR)).mean())


def test_consequences_complete_cohort_recovers_the_planted_competing_risks(hist: Histories) -> None:
    hist_ids = set(hist.scraped_history()["event_id"].to_list())
    population = _inadequate_frame(hist, hist.events, hist_ids)
    observed = _inadequate_frame(hist, hist.observed(), hist_ids)
    d = pl.col("inadequate_start_date")
    cohort_pop = population.filter((d >= consequences.COMPLETE_FROM) & (d <= consequences.COMPLETE_TO))
    rows = consequences.competing_table(observed.filter(consequences.in_complete_cohort(observed)), "complete", seed=3, reps=200)
    ci = {(r["cause"], r["years"]): r for r in rows}
    for k, cause in enumerate(consequences.CAUSES[:2], start=1):  # re-inspection, new URN
        truth = _truth_5y(cohort_pop, k)
        r = ci[(cause, 5)]
        assert r["low"] <= truth <= r["high"], (cause, truth, r)
    # closure: its share by the as-at date is recovered (dated at the last inspection, so by 5 years it is an upper bound)
    truth_closed = float((cohort_pop["what_followed"] == F[5]).mean())
    cohort_obs = observed.filter(consequences.in_complete_cohort(observed))
    assert wilson(int((cohort_obs["what_followed"] == F[5]).sum()), cohort_obs.height).covers(truth_closed)
    # the old frame: every inadequate judgement the files hold, pooled; the survivor history hides
    # early conversions and closures, so the pooled share of new URNs is far below the population's
    early = (d < dt.date(2016, 9, 1))
    old_new = float(observed.filter(early)["what_followed"].str.starts_with("New URN").mean())
    true_new = float(population.filter(early)["what_followed"].str.starts_with("New URN").mean())
    assert old_new < 0.5 * true_new
    assert np.isfinite(true_new) and true_new > 0.2
