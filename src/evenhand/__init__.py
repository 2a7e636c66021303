"""Evenhand: an open evidence engine for English school inspections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from evenhand.api import open as open  # evenhand.open(path): the Python API (docs/api.md)


def __getattr__(name: str) -> Any:
    """``evenhand.open`` is imported on first use: the engine brings the audits' statistics
    (SciPy, statsmodels: about 2 s of imports), which `evenhand build` and `export` never use."""
    if name == "open":
        from evenhand.api import open as open_

        return open_
    raise AttributeError(f"module 'evenhand' has no attribute {name!r}")
