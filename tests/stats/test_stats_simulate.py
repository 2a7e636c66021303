"""The synthetic nation: exact shapes, determinism, and the planted truths it reports."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.special import expit
from stats_support import LargeFits

from evenhand.simulate import (
    AREAS,
    GRADE_LABELS,
    REGIONS,
    SCHOOL_TYPES,
    NationParams,
    analysis_frame,
    simulate_nation,
)
from evenhand.simulate._plim import po_plim
from evenhand.stats import wilson

SCHOOLS_SCHEMA = {
    "urn": pl.Int64,
    "laestab": pl.Int64,
    "school_name": pl.Utf8,
    "phase": pl.Utf8,
    "school_type": pl.Utf8,
    "ofsted_region": pl.Utf8,
    "local_authority": pl.Utf8,
    "idaci_quintile": pl.Int8,
    "fsm_pct": pl.Float64,
    "pupils": pl.Int64,
    "effectiveness": pl.Float64,
    "progress": pl.Float64,
    "income_per_pupil_gbp": pl.Float64,
    "postcode": pl.Utf8,
}
EVENTS_SCHEMA = {
    "event_id": pl.Utf8,
    "inspection_number": pl.Utf8,
    "urn": pl.Int64,
    "kind": pl.Utf8,
    "era": pl.Utf8,
    "inspection_type": pl.Utf8,
    "start_date": pl.Date,
    "end_date": pl.Date,
    "publication_date": pl.Date,
    "category_of_concern": pl.Utf8,
}
JUDGEMENTS_SCHEMA = {
    "event_id": pl.Utf8,
    "area": pl.Utf8,
    "scale": pl.Utf8,
    "code": pl.Utf8,
    "label": pl.Utf8,
}


def test_same_seed_identical_frames_other_seed_different() -> None:
    a = simulate_nation(3_000, seed=42)
    b = simulate_nation(3_000, seed=42)
    c = simulate_nation(3_000, seed=43)
    assert a.schools.equals(b.schools)
    assert a.events.equals(b.events)
    assert a.judgements.equals(b.judgements)
    assert a.truth == b.truth
    assert not a.schools.equals(c.schools)
    assert not a.judgements.equals(c.judgements)
    assert a.truth.region_effects != c.truth.region_effects


def test_exact_schemas(large: LargeFits) -> None:
    nation = large.nation
    assert dict(nation.schools.schema) == SCHOOLS_SCHEMA
    assert dict(nation.events.schema) == EVENTS_SCHEMA
    assert dict(nation.judgements.schema) == JUDGEMENTS_SCHEMA


def test_school_values(large: LargeFits) -> None:
    s = large.nation.schools
    assert s.height == 20_000
    assert s["urn"].min() == 900_000 and s["urn"].n_unique() == s.height
    assert s["laestab"].n_unique() == s.height
    assert set(s["ofsted_region"].unique()) == set(REGIONS)
    assert set(s["school_type"].unique()) == set(SCHOOL_TYPES)
    assert set(s["phase"].unique()) == {"Primary", "Secondary"}
    assert sorted(s["idaci_quintile"].unique().to_list()) == [1, 2, 3, 4, 5]
    assert s["postcode"].str.contains(r"^ZZ\d{1,2} \d[A-Z]{2}$").all()
    assert s["fsm_pct"].is_between(0, 100).all()
    assert (s["pupils"] > 0).all() and (s["income_per_pupil_gbp"] > 0).all()
    assert s.null_count().sum_horizontal().item() == 0
    # Deprivation shows up where it should: free school meals rise with the quintile.
    fsm = s.group_by("idaci_quintile").agg(pl.col("fsm_pct").mean()).sort("idaci_quintile")
    assert fsm["fsm_pct"].is_sorted()
    # Effectiveness is standardised and correlated with deprivation as planted.
    eff = s["effectiveness"].to_numpy()
    q = s["idaci_quintile"].to_numpy().astype(float)
    assert abs(eff.mean()) < 0.03 and abs(eff.std() - 1) < 0.03
    corr = np.corrcoef(eff, q)[0, 1]
    assert corr == pytest.approx(large.nation.truth.effectiveness_deprivation_corr, abs=0.03)
    noise = (s["progress"] - s["effectiveness"]).std()
    assert noise == pytest.approx(large.nation.params.progress_noise_sd, rel=0.05)


def test_event_values(large: LargeFits) -> None:
    e = large.nation.events
    assert e["event_id"].n_unique() == e.height
    assert e["inspection_number"].str.contains(r"^\d{8}$").all()
    assert set(e["kind"].unique()) == {"graded", "ungraded"}
    assert set(e["urn"].unique()) <= set(large.nation.schools["urn"])
    eif_start, eif_end = pl.date(2019, 9, 1), pl.date(2024, 8, 31)
    checks = e.select(
        era_ok=(
            (pl.col("era") == "eif_2019") == pl.col("start_date").is_between(eif_start, eif_end)
        ).all(),
        cif_ok=pl.col("start_date").min() >= pl.date(2015, 9, 1),
        order_ok=(
            (pl.col("start_date") <= pl.col("end_date"))
            & (pl.col("end_date") < pl.col("publication_date"))
        ).all(),
        covid_ok=~pl.col("start_date").is_between(pl.date(2020, 3, 17), pl.date(2021, 9, 5)).any(),
        weekday_ok=(pl.col("start_date").dt.weekday() <= 3).all(),
    )
    assert checks.row(0) == (True, True, True, True, True)
    graded = e.filter(pl.col("kind") == "graded")
    assert set(graded["era"].unique()) == {"cif_2015", "eif_2019"}
    assert set(graded["inspection_type"].unique()) == {"S5 Inspection"}
    # Consecutive graded pairs (CIF then EIF) exist for most schools.
    pairs = graded.group_by("urn").agg(pl.col("era").n_unique().alias("eras"))
    assert (pairs["eras"] == 2).mean() > 0.5
    # Category of concern only for an Inadequate overall grade, and always then.
    overall = large.nation.judgements.filter(pl.col("area") == "overall_effectiveness")
    joined = e.join(overall, on="event_id", how="left")
    assert (
        joined["category_of_concern"].is_not_null() == (joined["code"] == "4").fill_null(False)
    ).all()
    assert set(e["category_of_concern"].drop_nulls().unique()) == {"SM", "SWK"}


def test_judgement_values(large: LargeFits) -> None:
    j = large.nation.judgements
    e = large.nation.events
    assert set(j["area"].unique()) == set(AREAS)
    four = j.filter(pl.col("scale") == "four_point")
    assert set(four["code"].unique()) == {"1", "2", "3", "4"}
    assert (four["label"] == four["code"].replace_strict(GRADE_LABELS)).all()
    sg = j.filter(pl.col("scale") == "safeguarding_effective")
    assert set(sg["area"].unique()) == {"safeguarding_effective"}
    assert set(sg["code"].unique()) == {"Yes", "No"} and (sg["code"] == sg["label"]).all()
    per_event = j.group_by("event_id").len().join(e, on="event_id", how="right")
    counts = per_event.group_by("kind", "era").agg(pl.col("len").fill_null(0).unique())
    expected = {
        ("graded", "eif_2019"): [6],
        ("graded", "cif_2015"): [3],
        ("ungraded", "eif_2019"): [0],
        ("ungraded", "cif_2015"): [0],
    }
    assert {(r["kind"], r["era"]): r["len"] for r in counts.iter_rows(named=True)} == expected


def test_safeguarding_limited_share_recovered(large: LargeFits) -> None:
    truth = large.nation.truth
    all_eif = analysis_frame(large.nation, first_only=False)
    assert all_eif.height == truth.eif_graded_events
    count = int(all_eif["safeguarding_limited"].sum())
    assert count == truth.safeguarding_limited_count > 0
    est = wilson(count, all_eif.height)
    assert est.covers(truth.safeguarding_limited_share), (est, truth.safeguarding_limited_share)
    limited = all_eif.filter(pl.col("safeguarding_limited"))
    assert (limited["safeguarding_effective"] == "No").all()
    assert (limited["quality_of_education"].is_in(["1", "2"])).all()
    # Among Inadequate events the limited share is the planted conditional probability.
    inadequate = all_eif.filter(pl.col("overall_effectiveness") == "4")
    cond = wilson(int(inadequate["safeguarding_limited"].sum()), inadequate.height)
    assert cond.covers(truth.safeguarding_limited_given_inadequate)


def test_publication_delay_matches_plant(large: LargeFits) -> None:
    frame = analysis_frame(large.nation, first_only=False)
    delay = large.nation.truth.publication_delay
    for grade in ["1", "2", "3", "4"]:
        d = frame.filter(pl.col("overall_effectiveness") == grade)["publication_delay_weekdays"]
        se = math.sqrt(delay.extra_mean_by_grade[grade] / d.len())  # Poisson variance
        assert abs(d.mean() - delay.expected_mean(grade)) < 3.5 * se, grade
        assert d.min() >= delay.min_weekdays
    assert delay.expected_mean("4") > delay.expected_mean("2")
    # Weekdays, not calendar days: no publication falls on a weekend.
    assert (large.nation.events["publication_date"].dt.weekday() <= 5).all()


def test_grade_mix_is_plausible(large: LargeFits) -> None:
    mix = (
        large.frame["overall_effectiveness"]
        .value_counts(normalize=True)
        .sort("overall_effectiveness")["proportion"]
        .to_list()
    )
    assert (
        0.07 < mix[0] < 0.2
        and 0.55 < mix[1] < 0.75
        and 0.1 < mix[2] < 0.25
        and 0.02 < mix[3] < 0.08
    )


def test_truth_machinery_reproduces_the_planted_model() -> None:
    # Fitting the probability limit of the CORRECT model (effectiveness included)
    # must return the planted values exactly: checks the integration and the optimiser.
    params = NationParams()
    nodes, weights = np.polynomial.hermite.hermgauss(30)
    nodes, weights = nodes * math.sqrt(2), weights / math.sqrt(math.pi)
    lor = np.log(params.quintile_odds_ratios)
    cuts = np.asarray(params.thresholds)
    rows, probs, w = [], [], []
    for q in range(5):
        for e, we in zip(nodes, weights, strict=True):
            eta = -params.beta_effectiveness * e + lor[q]
            cum = expit(cuts - eta)
            probs.append(np.diff(np.concatenate([[0.0], cum, [1.0]])))
            rows.append([float(q == k) for k in range(1, 5)] + [e])
            w.append(0.2 * we)
    coef, fitted_cuts = po_plim(np.array(rows), np.array(probs), np.array(w))
    assert coef[:4] == pytest.approx(lor[1:], abs=1e-6)
    assert coef[4] == pytest.approx(-params.beta_effectiveness, abs=1e-6)
    assert fitted_cuts == pytest.approx(cuts, abs=1e-6)


def test_truth_values_are_consistent() -> None:
    truth = simulate_nation(500, seed=1).truth
    assert truth.quintile_odds_ratios == {1: 1.0, 2: 1.15, 3: 1.3, 4: 1.5, 5: 1.75}
    assert truth.latent_icc == pytest.approx(0.09 / (0.09 + math.pi**2 / 3))
    assert truth.odds_ratio_effectiveness == pytest.approx(math.exp(-1.0))
    for q in range(2, 6):
        assert truth.quintile_odds_ratios_without_effectiveness[q] > truth.quintile_odds_ratios[q]
        assert 0 < truth.share_explained_by_progress[q] < truth.share_explained[q] < 1
    none = simulate_nation(500, seed=1, params=NationParams(effectiveness_deprivation_corr=0.0))
    # Uncorrelated effectiveness explains (almost) nothing; what remains is non-collapsibility.
    assert abs(none.truth.share_explained[5]) < 0.2
    assert none.truth.share_explained[5] < truth.share_explained[5] - 0.3


def test_params_are_validated() -> None:
    with pytest.raises(ValueError):
        NationParams(quintile_odds_ratios=(1.2, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError):
        NationParams(thresholds=(1.0, 0.0, 2.0))
    with pytest.raises(ValueError):
        NationParams(effectiveness_deprivation_corr=1.0)
    with pytest.raises(ValueError):
        simulate_nation(0)


def test_names_are_synthetic(large: LargeFits) -> None:
    names = large.nation.schools["school_name"]
    assert names.str.contains(r"(School|Academy)$").all()
    assert names.n_unique() > 1_000
    # Event identity as the warehouse keys it (decision 0002): the inspection number.
    assert (large.nation.events["event_id"] == large.nation.events["inspection_number"]).all()
    assert large.nation.events["inspection_number"].cast(pl.Int64).min() >= 90_000_000
