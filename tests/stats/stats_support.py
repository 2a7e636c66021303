"""Shared constants and helpers for the tests of evenhand.stats and evenhand.simulate."""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl
from scipy import stats

from evenhand.simulate import SyntheticNation
from evenhand.stats import Estimate, OrdinalFit, fit_ordinal

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


def covers_log_wald(est: Estimate, truth: float, level: float) -> bool:
    """Does the log-scale Wald interval of a 95% odds-ratio ``est``, widened to ``level``, cover?

    Used for secondary checks on one simulated data set, where a family of
    plain 95% checks would fail by chance far more often than 5% of the time.
    """
    z95 = float(stats.norm.ppf(0.975))
    se = (math.log(est.high) - math.log(est.low)) / (2 * z95)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return abs(math.log(est.value) - math.log(truth)) <= z * se
