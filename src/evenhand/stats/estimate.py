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

    def __post_init__(self) -> None:
        # a value or bound read from a table's null (no interval could be made, e.g. a mean of one
        # value) is NaN, the one way "no interval" is said; a None would break every formatter
        for name in ("value", "low", "high"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, math.nan)

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
