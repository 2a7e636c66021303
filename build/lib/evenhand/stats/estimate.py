"""The one result type every estimator in :mod:`evenhand.stats` returns."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval and the number of observations behind it.

    ``value`` is the estimate, ``low`` and ``high`` the bounds of its ``level``
    (two-sided) interval and ``n`` the count it rests on (for a proportion the
    denominator; for a model term the rows used by the model; for a difference
    of two proportions the two denominators summed). ``method`` names how the
    interval was computed so that every number can state its method.
    An estimate that cannot be made (for example a share of nothing) is NaN
    with NaN bounds, never an exception.
    """

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95
    method: str = ""

    def covers(self, truth: float) -> bool:
        """True when ``truth`` lies inside the closed interval [low, high]."""
        if math.isnan(self.low) or math.isnan(self.high):
            return False
        return self.low <= truth <= self.high

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, float | int | str]:
        """A plain dict (JSON-ready apart from NaN) with every field."""
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "level": self.level,
            "method": self.method,
        }
