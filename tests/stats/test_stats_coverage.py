"""Coverage of the 95% intervals over 200 simulated nations (seeds 0..199).

Each replication simulates a smaller nation (3,000 schools, about 2,550 EIF
graded inspections, one per school) with the default planted effects and
checks whether the interval covers the known truth. With 200 replications the
Monte Carlo standard error of a 95% coverage is about 1.5 points, so the
accepted band is 90% to 99%.
"""

from __future__ import annotations

import polars as pl
import pytest
from stats_support import GRADES, REFERENCE

from evenhand.simulate import SyntheticNation, analysis_frame, simulate_nation
from evenhand.stats import (
    fit_ordinal,
    fit_region_variation,
    gradient_share_explained,
    wilson,
)

REPLICATIONS = 200
N_SCHOOLS = 3_000
BAND = (0.90, 0.99)
TERM = "idaci_quintile[5]"
CATEGORICAL = ["idaci_quintile", "ofsted_region"]


def _replications() -> list[tuple[SyntheticNation, pl.DataFrame]]:
    out = []
    for seed in range(REPLICATIONS):
        nation = simulate_nation(N_SCHOOLS, seed=seed)
        out.append((nation, analysis_frame(nation)))
    return out


def _report(name: str, hits: int) -> float:
    rate = hits / REPLICATIONS
    print(f"\n{name}: {hits}/{REPLICATIONS} = {rate:.3f}")
    return rate


@pytest.mark.slow
def test_quintile5_odds_ratio_coverage() -> None:
    hits = 0
    failures = 0
    for nation, frame in _replications():
        fit = fit_ordinal(
            frame,
            "overall_effectiveness",
            GRADES,
            ["idaci_quintile", "effectiveness", "ofsted_region"],
            CATEGORICAL,
            REFERENCE,
        )
        failures += not fit.ok
        hits += fit.odds_ratio(TERM).covers(nation.truth.quintile_odds_ratios[5])
    assert failures == 0
    rate = _report("quintile-5 odds ratio, Wald 95%", hits)
    assert BAND[0] <= rate <= BAND[1]


@pytest.mark.slow
def test_share_explained_coverage() -> None:
    hits = 0
    for nation, frame in _replications():
        with_eff = fit_ordinal(
            frame,
            "overall_effectiveness",
            GRADES,
            ["idaci_quintile", "effectiveness", "ofsted_region"],
            CATEGORICAL,
            REFERENCE,
        )
        without = fit_ordinal(
            frame,
            "overall_effectiveness",
            GRADES,
            ["idaci_quintile", "ofsted_region"],
            CATEGORICAL,
            REFERENCE,
        )
        share = gradient_share_explained(without, with_eff, TERM)
        hits += share.covers(nation.truth.share_explained[5])
    rate = _report("share of the quintile-5 gradient explained, delta 95%", hits)
    assert BAND[0] <= rate <= BAND[1]


@pytest.mark.slow
def test_wilson_coverage_of_safeguarding_limited_share() -> None:
    hits = 0
    for nation, _ in _replications():
        frame = analysis_frame(nation, first_only=False)
        est = wilson(int(frame["safeguarding_limited"].sum()), frame.height)
        hits += est.covers(nation.truth.safeguarding_limited_share)
    rate = _report("safeguarding-limited share, Wilson 95%", hits)
    assert BAND[0] <= rate <= BAND[1]


@pytest.mark.slow
def test_latent_icc_coverage() -> None:
    hits = 0
    for nation, frame in _replications():
        fit = fit_region_variation(
            frame,
            "overall_effectiveness",
            "ofsted_region",
            ["idaci_quintile", "effectiveness"],
            ["idaci_quintile"],
            {"idaci_quintile": 1},
            positive={"1", "2"},
        )
        hits += fit.icc.covers(nation.truth.latent_icc)
    rate = _report("latent ICC of regions, adjusted-profile 95%", hits)
    assert BAND[0] <= rate <= BAND[1]
