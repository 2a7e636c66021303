"""Read-only access to the warehouse and audit results for the dashboard.

One in-memory DuckDB instance attaches the warehouse READ_ONLY; every request takes its own
``cursor()`` (DuckDB connections are not thread-safe, cursors are). File access from SQL is
switched off and the configuration locked once the warehouse is attached, so no query the
dashboard runs can read or write anything else. Every query is parameterised.

A search index (the latest row of each school in ``core.schools``) is copied into the
in-memory database at start-up, so search-as-you-type is a few milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from evenhand.engine import Evenhand
from evenhand.errors import UnknownSchoolError

#: Most search results ever returned.
SEARCH_LIMIT = 50
#: Longest search text considered (longer input is cut, never an error).
MAX_QUERY = 100


def _plain(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def clean_query(q: str | None) -> str:
    """Search text as the index sees it: printable characters only, trimmed, bounded."""
    if not q:
        return ""
    kept = "".join(ch for ch in q[: MAX_QUERY * 4] if ch.isprintable())
    return " ".join(kept.split())[:MAX_QUERY]


@dataclass(frozen=True)
class SchoolHit:
    urn: int
    school_name: str
    postcode: str | None
    local_authority: str | None
    phase: str | None
    school_type: str | None


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


class Store:
    """The dashboard's read-only view of one warehouse: an :class:`Evenhand` opened sandboxed
    (the one way in), a search index and page caches."""

    def __init__(self, path: Path) -> None:
        self.eh = Evenhand(Path(path), sandboxed=True)
        self.path = self.eh.path
        self._db = self.eh.con
        self._db.execute(
            """
            CREATE TABLE memory.main.school_index AS
            SELECT urn, school_name, postcode, local_authority, phase, school_type,
                   lower(school_name) AS name_key,
                   replace(upper(coalesce(postcode, '')), ' ', '') AS pc_key,
                   CAST(urn AS VARCHAR) AS urn_key
            FROM wh.core.schools
            QUALIFY row_number() OVER (PARTITION BY urn ORDER BY as_at DESC NULLS LAST, file_id DESC) = 1
            """
        )
        self.eh.lock_down()
        self.n_schools: int = self._db.execute("SELECT count(*) FROM memory.main.school_index").fetchall()[0][0]
        self.cache = LRU(1024)
        self.searches = LRU(2048)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one request, with the warehouse as its default catalog."""
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
        got = self.rows("SELECT count(*) AS n FROM core.events")
        return {"status": "ok", "warehouse": self.path.name, "schools": self.n_schools, "events": got[0]["n"]}

    def search(self, q: str | None) -> list[SchoolHit]:
        """Schools whose name contains ``q``, whose URN is ``q`` or whose postcode starts with it."""
        text = clean_query(q)
        if len(text) < 2 and not text.isdigit():
            return []
        name = f"%{_like_escape(text.lower())}%"
        pc = f"{_like_escape(text.upper().replace(' ', ''))}%"
        rows = self.rows(
            """
            SELECT urn, school_name, postcode, local_authority, phase, school_type
            FROM memory.main.school_index
            WHERE urn_key = ? OR name_key LIKE ? ESCAPE '\\' OR (length(?) >= 2 AND pc_key LIKE ? ESCAPE '\\')
            ORDER BY (urn_key = ?) DESC, (name_key LIKE ? ESCAPE '\\') DESC, school_name, urn
            LIMIT ?
            """,
            [text, name, text, pc, text, f"{_like_escape(text.lower())}%", SEARCH_LIMIT],
        )
        return [SchoolHit(**r) for r in rows]

    def school_exists(self, urn: int) -> bool:
        return bool(self.rows("SELECT count(*) AS n FROM memory.main.school_index WHERE urn = ?", [urn])[0]["n"])

    def history(self, urn: int) -> dict[str, Any]:
        """evenhand.query's history JSON for ``urn``; UnknownSchoolError when absent."""
        return self.eh.history(urn)

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
    """What an audit page shows, from an AuditResult (or its JSON file)."""

    name: str
    data: dict[str, Any]  # AuditResult.to_dict()
    csv: dict[str, bytes]  # table key -> CSV bytes


class AuditStore:
    """Audit results: read from ``evenhand audit --out DIR`` files, else run on demand (cached)."""

    def __init__(self, warehouse: Store, audits_dir: Path | None) -> None:
        self.warehouse = warehouse
        self.dir = Path(audits_dir) if audits_dir else None
        self._cache: dict[str, AuditPage | None] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

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
        csv: dict[str, bytes] = {}
        for key in data.get("tables", {}):
            f = self.dir / f"{name}__{key}.csv"
            if f.is_file():
                csv[str(key)] = f.read_bytes()
        return AuditPage(name, data, csv)

    def _run(self, name: str) -> AuditPage | None:
        run = self.warehouse.eh.run_audits([name], keep_going=True)
        result = run.result(name)
        if result is None:
            self._errors[name] = run.slots[0].reason
            return None
        import polars as pl

        csv = {}
        for key, table in result.tables.items():
            flat = table.with_columns([pl.col(c).cast(pl.String) for c, t in table.schema.items() if isinstance(t, pl.List | pl.Struct)])
            csv[key] = flat.write_csv().encode("utf-8")
        data = json.loads(json.dumps(result.to_dict(), default=str))
        return AuditPage(name, data, csv)

    def main_table(self, page: AuditPage, key: str = "main", limit: int = 200) -> tuple[list[str], list[list[str]], int]:
        """Header, first ``limit`` rows and the row count of one table (from its CSV)."""
        import csv as csvmod
        import io

        raw = page.csv.get(key)
        if raw is None:
            return [], [], 0
        reader = csvmod.reader(io.StringIO(raw.decode("utf-8")))
        header = next(reader, [])
        rows: list[list[str]] = []
        n = 0
        for r in reader:
            n += 1
            if len(rows) < limit:
                rows.append(r)
        return header, rows, n


__all__ = ["SEARCH_LIMIT", "AuditPage", "AuditStore", "SchoolHit", "Store", "UnknownSchoolError", "clean_query"]
