"""The Python API: ``evenhand.open(path)`` returns :class:`evenhand.engine.Evenhand`, the
object every command and the dashboard use too (docs/api.md; its examples are run by
tests/docs/test_api_examples.py).

    import evenhand
    eh = evenhand.open("warehouse/evenhand.duckdb")
    eh.tables()                       # ['core.events', 'core.judgements', ...]
    eh.table("core.events")           # a polars.DataFrame
    eh.history(109778)                # every inspection of one school, as plain data
    eh.snapshot()                     # the as-at date outputs describe, and what its file covers
    eh.audit("headline")              # an AuditResult (figures with intervals, tables, caveats)
    eh.school_report(109778)          # the school report as HTML text
"""

from __future__ import annotations

from evenhand.engine import Evenhand, open

__all__ = ["Evenhand", "open"]
