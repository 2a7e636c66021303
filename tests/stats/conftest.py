"""Shared fixtures: one large synthetic nation and the models fitted to it (built once)."""

from __future__ import annotations

import pytest
from stats_support import LARGE_N, LARGE_SEED, LargeFits, fit_three

from evenhand.simulate import analysis_frame, simulate_nation
from evenhand.stats import RegionVariation, fit_region_variation


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
