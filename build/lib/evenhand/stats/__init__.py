"""Estimators for the audits: every result is an :class:`Estimate` with its interval and n.

- :mod:`evenhand.stats.intervals`: Wilson intervals for shares (scalar, vectorised
  over Polars columns, per row of a transition matrix) and Newcombe's interval
  for a difference of two shares.
- :mod:`evenhand.stats.ordinal`: proportional-odds models of graded judgements
  and the share of a deprivation gradient that effectiveness explains.
- :mod:`evenhand.stats.multilevel`: between-region (team) variation after
  controls: random-intercept logistic model, latent ICC, likelihood-ratio test.
"""

from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import (
    newcombe_difference,
    row_shares,
    row_shares_from_pairs,
    wilson,
    wilson_arrays,
    wilson_columns,
    wilson_exprs,
)
from evenhand.stats.multilevel import RegionVariation, fit_region_variation, latent_icc
from evenhand.stats.ordinal import OrdinalFit, fit_ordinal, gradient_share_explained

__all__ = [
    "Estimate",
    "OrdinalFit",
    "RegionVariation",
    "fit_ordinal",
    "fit_region_variation",
    "gradient_share_explained",
    "latent_icc",
    "newcombe_difference",
    "row_shares",
    "row_shares_from_pairs",
    "wilson",
    "wilson_arrays",
    "wilson_columns",
    "wilson_exprs",
]
