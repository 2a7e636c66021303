"""Evenhand: an open evidence engine for English school inspections."""

__version__ = "0.1.0"

