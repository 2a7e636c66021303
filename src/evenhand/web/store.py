"""Read-only access to the warehouse and audit results for the dashboard.

One in-memory DuckDB instance attaches the warehouse READ_ONLY; every request takes its own
``cursor()`` (DuckDB connections are not thread-safe, cursors are). File access from SQL is
switched off and the configuration locked once the warehouse is attached, so no query the
dashboard runs can read or write anything else. Every query is parameterised.

A search index (the latest row of each school in ``core.schools``, and the closed schools
only the inspection history names: :mod:`evenhand.web.search`) is copied into the in-memory
database at start-up, so search-as-you-type is a few milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from evenhand.audit.result import table_csv
from evenhand.derive.school_pages import SchoolPage, read_page
from evenhand.engine import Evenhand
from evenhand.errors import EvenhandError, UnknownSchoolError
from evenhand.web import search as school_search
from evenhand.web.search import SEARCH_LIMIT, SchoolHit, clean_query

log = logging.getLogger("evenhand.web")


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


class LRU:
    """A small thread-safe least-recently-used cache (the warehouse never changes under us)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: Any) -> Any:
        """The cached value, or None (no building, no reordering)."""
        with self._lock:
            return self._d.get(key)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        value = make()  # outside the lock: two threads may build the same value, harmlessly
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return value


RELOAD_CHECK = 1.0  # seconds between checks that the warehouse file is still the one open


def _file_signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def _open_indexed(path: Path) -> tuple[Evenhand, int, int, int]:
    """The warehouse opened sandboxed, with the search index built and SQL file access shut;
    with the counts of open and of closed schools, and of inspection events."""
    eh = Evenhand(Path(path), sandboxed=True)
    for sql in school_search.index_sql(eh.has_table("core.gias_links")):  # every school named, open or closed
        eh.con.execute(sql)
    eh.lock_down()
    counts = eh.con.execute("SELECT count(*) FILTER (NOT closed), count(*) FILTER (closed) FROM memory.main.school_index").fetchall()[0]
    events = eh.con.execute("SELECT count(*) FROM wh.core.events").fetchall()[0][0]
    return eh, counts[0], counts[1], events


def check_warehouse(path: Path) -> None:
    """Open the warehouse the way a worker does and close it again: the same clear error
    (:class:`EvenhandError`) for a missing or unreadable file, without building a search index
    that nobody would use (``evenhand serve --workers N`` checks once before its workers start)."""
    Evenhand(Path(path), sandboxed=True).close()


class Store:
    """The dashboard's read-only view of one warehouse: an :class:`Evenhand` opened sandboxed
    (the one way in), a search index and page caches. A rebuild swaps a new file in at the
    same path: the next request (checked at most every RELOAD_CHECK seconds) opens it, and
    requests under way finish on the old one."""

    def __init__(self, path: Path) -> None:
        self._signature = _file_signature(Path(path)) if Path(path).is_file() else (0, 0, 0)
        # n_schools: open schools (the latest school-level files); n_closed: closed schools only
        # the inspection history names
        self.eh, self.n_schools, self.n_closed, self.n_events = _open_indexed(Path(path))
        self.path = self.eh.path
        self.cache = LRU(1024)
        self.searches = LRU(2048)
        # a rebuild swaps a new file in at the same path: it is picked up on the next request
        # (checked at most every RELOAD_CHECK seconds); requests under way finish on the old one
        self.generation = 0
        self._checked = time.monotonic()
        self._reload_lock = threading.Lock()
        self._retired: list[Evenhand] = []

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        return self.eh.con

    def close(self) -> None:
        for eh in [*self._retired, self.eh]:
            eh.close()
        self._retired.clear()

    def maybe_reload(self) -> bool:
        """Open the warehouse again if its file was replaced (a new build); True if it was."""
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK:
            return False
        with self._reload_lock:
            if now - self._checked < RELOAD_CHECK:
                return False
            self._checked = now
            try:
                signature = _file_signature(self.path)
            except OSError:
                return False  # gone for a moment (or for good): keep serving what is open
            if signature == self._signature:
                return False
            try:
                eh, n_schools, n_closed, n_events = _open_indexed(self.path)
            except (EvenhandError, duckdb.Error) as e:
                log.warning("the warehouse changed but cannot be opened yet (%s): still serving the previous one", e)
                return False
            for old in self._retired:  # two reloads ago: no request still uses it
                old.close()
            self._retired = [self.eh]
            self.eh, self.n_schools, self.n_closed, self.n_events, self._signature = eh, n_schools, n_closed, n_events, signature
            self.cache = LRU(1024)
            self.searches = LRU(2048)
            self.generation += 1
            log.info("reloaded the warehouse %s (generation %d)", self.path.name, self.generation)
            return True

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one request, with the warehouse as its default catalog."""
        self.maybe_reload()
        with self.eh.cursor() as cur:
            yield cur

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            res = cur.execute(sql, params or [])
            cols = [d[0] for d in res.description or []]
            return [{c: _plain(v) for c, v in zip(cols, r, strict=True)} for r in res.fetchall()]

    def has_table(self, qualified: str) -> bool:
        return self.eh.has_table(qualified)

    def health(self) -> dict[str, Any]:
        """The warehouse being served and its counts (taken when it was opened: it is read-only)."""
        self.maybe_reload()
        return {"status": "ok", "warehouse": self.path.name, "schools": self.n_schools, "events": self.n_events}

    def search(self, q: str | None) -> list[SchoolHit]:
        """Schools whose name contains ``q``, whose URN is ``q`` or whose postcode starts with it."""
        return school_search.search(self, q)

    def suggest(self, q: str | None) -> str | None:
        """A corrected search for a misspelt name (see :mod:`evenhand.web.search`)."""
        return school_search.suggest(self, q)

    def school_exists(self, urn: int) -> bool:
        return bool(self.rows("SELECT count(*) AS n FROM memory.main.school_index WHERE urn = ?", [urn])[0]["n"])

    def history(self, urn: int) -> dict[str, Any]:
        """evenhand.query's history JSON for ``urn``; UnknownSchoolError when absent."""
        return self.eh.history(urn)

    def page(self, urn: int) -> tuple[SchoolPage, dict[str, Any]] | None:
        """The school's precomputed page (out.school_pages, one lookup) and its history JSON
        without the per-event context rows (only /history.json shows those: :meth:`history`);
        None for a URN the warehouse does not hold."""
        if not self.eh.has_pages:
            raise EvenhandError("the warehouse was built by an older Evenhand (no out.school_pages as this version writes it): build it again")
        with self.cursor() as cur:
            page = read_page(cur, urn)
        if page is None:
            return None
        return page, {"urn": page.urn, "school": page.school, "events": page.events, "lineage": page.lineage}

    def files(self) -> list[dict[str, Any]]:
        return self.rows(
            """SELECT file_id, path, status, layout, publication, as_at, rows_read, sha256
               FROM meta.files ORDER BY status, path"""
        )

    def build_info(self) -> dict[str, str]:
        return self.eh.build_info()


# --- audit results ------------------------------------------------------------------------


@dataclass
class AuditPage:
    """What an audit page shows, from an AuditResult (or the files `evenhand audit` wrote)."""

    name: str
    data: dict[str, Any]  # AuditResult.to_dict()
    tables: dict[str, pl.DataFrame]  # typed, as the audit returned them (or their Parquet files)

    def csv(self, key: str) -> bytes:
        """The table as the CSV that `evenhand audit` writes (the download)."""
        return table_csv(self.tables[key])


class AuditStore:
    """Audit results: read from ``evenhand audit --out DIR`` files, else run on demand (cached)."""

    def __init__(self, warehouse: Store, audits_dir: Path | None) -> None:
        self.warehouse = warehouse
        self.dir = Path(audits_dir) if audits_dir else None
        self._cache: dict[str, AuditPage | None] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._generation = warehouse.generation

    @staticmethod
    def names() -> tuple[str, ...]:
        from evenhand.audit.registry import AUDITS

        return AUDITS

    def error(self, name: str) -> str | None:
        return self._errors.get(name)

    def ready(self, name: str) -> bool:
        """Whether a page can be shown without running the audit now."""
        return self.dir is not None or name in self._cache

    def get(self, name: str, run: bool = True) -> AuditPage | None:
        """The result of audit ``name`` (a registered name), or None when it is not available."""
        if name not in self.names():
            raise KeyError(name)
        if self.dir is None and self._generation != self.warehouse.generation:
            self._cache.clear()  # audits run on demand were computed on the previous warehouse
            self._errors.clear()
            self._generation = self.warehouse.generation
        if name in self._cache:
            return self._cache[name]
        if not run and self.dir is None:
            return None  # never start a slow audit for a page that only lists what is ready
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one run per audit at a time; other audits and pages are not held up
            if name in self._cache:
                return self._cache[name]
            page = self._from_dir(name)
            if page is None and run and self.dir is None:
                page = self._run(name)
            if page is not None or run:
                self._cache[name] = page
            return page

    def _from_dir(self, name: str) -> AuditPage | None:
        if self.dir is None:
            return None
        path = self.dir / f"{name}.json"
        if not path.is_file():
            self._errors[name] = f"no {name}.json in the audit folder"
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            self._errors[name] = f"{path.name} could not be read: {e}"
            return None
        tables: dict[str, pl.DataFrame] = {}
        for key in data.get("tables", {}):
            f = self.dir / f"{name}__{key}.parquet"
            if f.is_file():
                try:
                    tables[str(key)] = pl.read_parquet(f)
                except (OSError, pl.exceptions.PolarsError) as e:
                    self._errors[name] = f"{f.name} could not be read: {e}"
                    return None
        return AuditPage(name, data, tables)

    def _run(self, name: str) -> AuditPage | None:
        run = self.warehouse.eh.run_audits([name], keep_going=True)
        result = run.result(name)
        if result is None:
            self._errors[name] = run.slots[0].reason
            return None
        data = json.loads(json.dumps(result.to_dict(), default=str))
        return AuditPage(name, data, dict(result.tables))


__all__ = ["SEARCH_LIMIT", "AuditPage", "AuditStore", "SchoolHit", "Store", "UnknownSchoolError", "clean_query"]


def shown_path(p: Path) -> str:
    """A local folder as a page may show it: a relative path as given, an absolute one by its
    last two parts only (no absolute path of this machine leaks into a page)."""
    if not p.is_absolute():
        return str(p)
    parts = [x for x in p.parts if x != p.anchor]
    return "…/" + "/".join(parts[-2:]) if parts else "the root folder"
