"""Shared fixtures: one large synthetic nation and the models fitted to it (built once)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl
import pytest
from scipy import stats

from evenhand.simulate import SyntheticNation, analysis_frame, simulate_nation
from evenhand.stats import Estimate, OrdinalFit, RegionVariation, fit_ordinal, fit_region_variation

GRADES = ["1", "2", "3", "4"]
REFERENCE = {"idaci_quintile": 1, "ofsted_region": "London"}
LARGE_N = 20_000
LARGE_SEED = 20240901


@dataclass(frozen=True)
class LargeFits:
    nation: SyntheticNation
    frame: pl.DataFrame
    with_eff: OrdinalFit
    without_eff: OrdinalFit
    with_progress: OrdinalFit


def fit_three(frame: pl.DataFrame) -> tuple[OrdinalFit, OrdinalFit, OrdinalFit]:
    cats = ["idaci_quintile", "ofsted_region"]
    with_eff = fit_ordinal(
        frame,
        "overall_effectiveness",
        GRADES,
        ["idaci_quintile", "effectiveness", "ofsted_region"],
        cats,
        REFERENCE,
    )
    without_eff = fit_ordinal(
        frame, "overall_effectiveness", GRADES, ["idaci_quintile", "ofsted_region"], cats, REFERENCE
    )
    with_progress = fit_ordinal(
        frame,
        "overall_effectiveness",
        GRADES,
        ["idaci_quintile", "progress", "ofsted_region"],
        cats,
        REFERENCE,
    )
    return with_eff, without_eff, with_progress


@pytest.fixture(scope="session")
def large() -> LargeFits:
    nation = simulate_nation(LARGE_N, seed=LARGE_SEED)
    frame = analysis_frame(nation)
    with_eff, without_eff, with_progress = fit_three(frame)
    return LargeFits(nation, frame, with_eff, without_eff, with_progress)


@pytest.fixture(scope="session")
def large_region(large: LargeFits) -> RegionVariation:
    return fit_region_variation(
        large.frame,
        "overall_effectiveness",
        "ofsted_region",
        ["idaci_quintile", "effectiveness"],
        ["idaci_quintile"],
        {"idaci_quintile": 1},
        positive={"1", "2"},
    )


def covers_log_wald(est: Estimate, truth: float, level: float) -> bool:
    """Does the log-scale Wald interval of a 95% odds-ratio ``est``, widened to ``level``, cover?

    Used for secondary checks on one simulated data set, where a family of
    plain 95% checks would fail by chance far more often than 5% of the time.
    """
    z95 = float(stats.norm.ppf(0.975))
    se = (math.log(est.high) - math.log(est.low)) / (2 * z95)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return abs(math.log(est.value) - math.log(truth)) <= z * se
