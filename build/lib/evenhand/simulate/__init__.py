"""Synthetic data with planted, known effects, for testing the statistics and for demos.

Everything here is clearly synthetic (URNs from 900000, "ZZ" postcodes) and
deterministic for a seed.
"""

from evenhand.simulate.nation import (
    AREAS,
    GRADE_LABELS,
    REGIONS,
    SCHOOL_TYPES,
    NationParams,
    NationTruth,
    PublicationDelayTruth,
    SyntheticNation,
    analysis_frame,
    simulate_nation,
)

__all__ = [
    "AREAS",
    "GRADE_LABELS",
    "REGIONS",
    "SCHOOL_TYPES",
    "NationParams",
    "NationTruth",
    "PublicationDelayTruth",
    "SyntheticNation",
    "analysis_frame",
    "simulate_nation",
]
