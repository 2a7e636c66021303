"""Stage 3, derive: out tables computed from the core tables inside the same atomic build
(lineage, as-at snapshots, transitions, timing, context joins).

Each derivation is a function ``(con) -> None`` that reads core tables and writes ``out.*``
tables; add it to derivations() in dependency order and to NEEDS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import duckdb

from evenhand.core.guard import signals_held
from evenhand.derive.as_at import derive_latest_as_at
from evenhand.derive.event_context import derive_event_context
from evenhand.derive.facts import derive_event_flags, derive_snapshot_schools
from evenhand.derive.lineage import derive_lineage
from evenhand.derive.school_pages import PageBuild
from evenhand.derive.snapshots import derive_school_latest, derive_snapshots
from evenhand.derive.timing import derive_timing
from evenhand.derive.transitions import derive_transitions

Derivation = Callable[[duckdb.DuckDBPyConnection], None]


def derivations() -> list[Derivation]:
    """The derivations of one build, in dependency order (a list per build: the parts of
    out.school_pages share one PageBuild, which holds the parts until the last writes the table)."""
    pages = PageBuild()
    return [
        derive_lineage,  # out.lineage, out.lineage_links, out.predecessors, out.event_lineage
        derive_snapshots,  # out.snapshots (core.schools, meta.files)
        derive_school_latest,  # out.school_latest (core.schools)
        pages.derive_page_events,  # the pages' events, school, files (core tables only)
        derive_latest_as_at,  # out.latest_as_at (needs out.predecessors, out.snapshots)
        derive_transitions,  # out.transitions (needs out.event_lineage)
        derive_timing,  # out.timing (needs out.latest_as_at)
        derive_event_context,  # out.event_context (needs out.predecessors; empty without core.context)
        derive_event_flags,  # out.event_flags (needs out.event_lineage, out.transitions, out.timing)
        derive_snapshot_schools,  # out.snapshot_schools (needs out.snapshots, out.predecessors)
        # (before the page parts that wait for page_events: a free thread starts it rather than wait)
        pages.derive_page_lineage,  # the pages' lineage, context, facts shown (needs out.lineage ...)
        pages.derive_page_latest,  # the pages' latest, similar schools, report card (needs out.latest_as_at)
        pages.derive_page_facts,  # the pages' facts (needs out.event_flags, out.timing, out.transitions)
        pages.derive_school_pages,  # out.school_pages: every page's parts joined, written
    ]


# what each derivation reads from another (function names); a derivation not listed here
# waits for every derivation before it in derivations()
NEEDS: dict[str, tuple[str, ...]] = {
    "derive_lineage": (),
    "derive_snapshots": (),
    "derive_school_latest": (),
    "derive_page_events": (),
    "derive_latest_as_at": ("derive_lineage", "derive_snapshots"),
    "derive_transitions": ("derive_lineage",),
    "derive_timing": ("derive_latest_as_at",),
    "derive_event_context": ("derive_lineage",),
    "derive_event_flags": ("derive_transitions", "derive_timing"),
    "derive_page_lineage": ("derive_lineage", "derive_page_events"),
    "derive_snapshot_schools": ("derive_lineage", "derive_snapshots"),
    "derive_page_latest": ("derive_latest_as_at", "derive_page_lineage"),
    "derive_page_facts": ("derive_event_flags", "derive_transitions", "derive_timing", "derive_page_lineage"),
    "derive_school_pages": ("derive_page_events", "derive_page_latest", "derive_page_facts"),
}
THREADS = 2
# core tables a derivation reads, for the derivations that may start before every core table
# is written (derive_all's ``core_ready``); any derivation not listed waits for all of them
EARLY_INPUTS: dict[str, tuple[str, ...]] = {
    "derive_lineage": ("core.events", "core.event_sources", "core.schools", "core.gias_links"),
}


def derive_all(
    con: duckdb.DuckDBPyConnection,
    timings: dict[str, float] | None = None,
    core_ready: Callable[[], object] | None = None,
) -> None:
    """Run every derivation; ``timings`` (when given) gains 'derive <name>' -> seconds.

    Derivations whose inputs are ready run side by side, each on its own cursor (DuckDB and
    Polars work outside the GIL); each still reads only what it read before, after the
    derivations it needs have written it. The first failure in derivations() order is raised.
    ``core_ready`` (when given) blocks until every core table is written: derivations not in
    EARLY_INPUTS call it first (the build writes the EARLY_INPUTS tables before calling).
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS out")

    def run(derivation: Callable[[duckdb.DuckDBPyConnection], None], after: list[Future[None]]) -> None:
        for f in after:
            f.result()
        if core_ready is not None and derivation.__name__ not in EARLY_INPUTS:
            core_ready()
        t = time.perf_counter()
        cur = con.cursor()
        try:
            derivation(cur)
        finally:
            cur.close()
        if timings is not None:
            timings[f"derive {derivation.__name__.removeprefix('derive_')}"] = time.perf_counter() - t

    futures: dict[str, Future[None]] = {}
    # tasks start in submission order (dependency order), so a task waiting for another only
    # ever waits for one already running or done: no deadlock with a small pool
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="evenhand-derive") as pool:
        for derivation in derivations():
            name = derivation.__name__
            needs = NEEDS.get(name, tuple(futures))
            with signals_held():  # submit may start a thread: a stop signal is raised after, not during
                futures[name] = pool.submit(run, derivation, [futures[n] for n in needs if n in futures])
        for f in futures.values():
            f.result()
