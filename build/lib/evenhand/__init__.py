"""Evenhand: an open evidence engine for English school inspections."""

__version__ = "0.1.0"

from evenhand.api import open as open  # evenhand.open(path): the Python API (docs/api.md)
