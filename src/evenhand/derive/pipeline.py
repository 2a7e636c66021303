"""Stage 3, derive: out tables computed from the core tables inside the same atomic build
(lineage, as-at snapshots, transitions, timing, context joins).

Each derivation is a function ``(con) -> None`` that reads core tables and writes ``out.*``
tables; add it to DERIVATIONS in dependency order.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import duckdb

from evenhand.derive.as_at import derive_latest_as_at
from evenhand.derive.event_context import derive_event_context
from evenhand.derive.lineage import derive_lineage
from evenhand.derive.timing import derive_timing
from evenhand.derive.transitions import derive_transitions

DERIVATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    derive_lineage,  # out.lineage, out.lineage_links, out.predecessors, out.event_lineage
    derive_latest_as_at,  # out.latest_as_at (needs out.predecessors)
    derive_transitions,  # out.transitions (needs out.event_lineage)
    derive_timing,  # out.timing (needs out.latest_as_at)
    derive_event_context,  # out.event_context (needs out.predecessors; empty without core.context)
]


def derive_all(con: duckdb.DuckDBPyConnection, timings: dict[str, float] | None = None) -> None:
    """Run every derivation; ``timings`` (when given) gains 'derive <name>' -> seconds."""
    con.execute("CREATE SCHEMA IF NOT EXISTS out")
    for derivation in DERIVATIONS:
        t = time.perf_counter()
        derivation(con)
        if timings is not None:
            timings[f"derive {derivation.__name__.removeprefix('derive_')}"] = time.perf_counter() - t
