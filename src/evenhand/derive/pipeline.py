"""Stage 3, derive: out tables computed from the core tables inside the same atomic build
(lineage, as-at snapshots, transitions, timing, context joins).

Each derivation is a function ``(con) -> None`` that reads core tables and writes ``out.*``
tables; add it to DERIVATIONS in dependency order.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

DERIVATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = []


def derive_all(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS out")
    for derivation in DERIVATIONS:
        derivation(con)
