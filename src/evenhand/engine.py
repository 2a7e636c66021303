"""The one way in: ``Evenhand(warehouse)``.

Every entry point — the CLI commands, the dashboard, the Python API (``evenhand.open``),
``demo`` and ``run`` — opens a warehouse through this object. It opens the file once,
read-only; knows whether it is synthetic; decides the as-at date by one rule (the newest
snapshot that covers all of England, ``out.snapshots``); runs audits by name through one
runner; and records the as-at date, seed and inputs of a run once (:class:`AuditRun`).

    eh = Evenhand("warehouse/evenhand.duckdb")
    snap = eh.snapshot()                 # Snapshot(as_at=2025-08-31, coverage='England', ...)
    run = eh.run_audits(["headline"])    # AuditRun: results, timings, snapshot, seed, inputs
    eh.history(109778)                   # one school's inspections, as plain data

Layers: this object sits above the audits and presentation (it runs the one and hands the
other what it renders) and below the entry points (commands/, web/, run.py, api.py).
Presentation (present/, templates) never opens a warehouse or decides a date: it receives
what this object returns.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl

from evenhand.audit.registry import AUDITS, audit_function, prefetch
from evenhand.audit.result import AuditContext, AuditResult, Slot, stamp_result
from evenhand.core.warehouse import DEFAULT_WAREHOUSE, OFFLINE, table_names
from evenhand.derive.snapshots import Snapshot, read_snapshots, snapshot_for
from evenhand.errors import EvenhandError
from evenhand.stats.blas import blas_one_thread

#: the seed every audit uses unless told otherwise (same inputs and seed, same results)
DEFAULT_SEED = 20230108
#: schemas a user reads; raw.* (all-text copies of the inputs) is reachable with .sql()
USER_SCHEMAS = ("core", "out", "meta")

Progress = Callable[[str, int, int], None]


def parse_date(text: str | dt.date | None, option: str = "--as-at") -> dt.date | None:
    """A date given by a user (YYYY-MM-DD), or a clear error naming the option."""
    if text is None or isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise EvenhandError(f"{option} {text!r} is not a date: use YYYY-MM-DD, e.g. 2025-08-31") from None


@dataclass
class AuditRun:
    """One run of the audits: the snapshot, seed and inputs recorded once for all of them."""

    snapshot: Snapshot
    seed: int
    synthetic: bool
    inputs: list[dict[str, Any]]
    slots: list[Slot]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def results(self) -> list[AuditResult]:
        return [s.result for s in self.slots if s.result is not None]

    def result(self, name: str) -> AuditResult | None:
        return next((s.result for s in self.slots if s.name == name), None)


class Evenhand:
    """A read-only view of one warehouse; the single object every entry point uses.

    ``sandboxed=True`` (the dashboard) attaches the file to an in-memory database with
    file access from SQL switched off and the configuration locked, so no query can read or
    write anything else; every :meth:`cursor` is then safe to use from its own thread.
    """

    def __init__(self, path: Path | str = DEFAULT_WAREHOUSE, *, sandboxed: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise EvenhandError(f"{self.path} is a folder, not a warehouse file: give the .duckdb file (--warehouse)")
        if not self.path.is_file():
            raise EvenhandError(f"no warehouse at {self.path}: run 'evenhand build --raw DIR' first")
        self.sandboxed = sandboxed
        self._lock = threading.Lock()
        self._local = threading.local()  # each thread's cursor (see cursor())
        self._kept: list[duckdb.DuckDBPyConnection] = []  # those cursors, closed by close()
        self._kept_lock = threading.Lock()
        self._expected: dict[tuple[Path | None, Callable[[Path], str]], tuple[pl.DataFrame | None, str]] = {}
        try:
            if sandboxed:
                self._db = duckdb.connect(":memory:", config=dict(OFFLINE))
                quoted = str(self.path.resolve()).replace("'", "''")
                self._db.execute(f"ATTACH '{quoted}' AS wh (READ_ONLY)")
                self._db.execute("USE wh")
            else:
                self._db = duckdb.connect(str(self.path), read_only=True, config=dict(OFFLINE))
        except duckdb.Error as e:
            raise EvenhandError(f"cannot open the warehouse {self.path} read-only: {e}") from e

    def lock_down(self) -> None:
        """No file access from SQL from now on, and no way to switch it back (sandboxed)."""
        self._db.execute("SET enable_external_access = false")
        self._db.execute("SET lock_configuration = true")

    # --- lifetime ----------------------------------------------------------------------------

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection (one thread at a time; use :meth:`cursor` from other threads)."""
        return self._db

    def open_cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor with the warehouse as its default catalog; the caller closes it (or
        closing this Evenhand does)."""
        cur = self._db.cursor()
        if self.sandboxed:
            cur.execute("USE wh")
        return cur

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one request or one thread. Each thread keeps one (opening a cursor
        costs a few tenths of a millisecond, a dashboard request several); a nested use in the
        same thread gets a new cursor, closed after it, so that no query replaces a result its
        caller is still reading."""
        local = self._local
        if getattr(local, "busy", False):
            cur = self.open_cursor()
            try:
                yield cur
            finally:
                cur.close()
            return
        if getattr(local, "cur", None) is None:
            local.cur = self.open_cursor()
            with self._kept_lock:
                self._kept.append(local.cur)
        local.busy = True
        try:
            yield local.cur
        finally:
            local.busy = False

    def close(self) -> None:
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for cur in kept:
            cur.close()
        self._db.close()

    def __enter__(self) -> Evenhand:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<evenhand warehouse {self.path}>"

    # --- reading -----------------------------------------------------------------------------

    def frame(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Any read-only SQL query (DuckDB dialect) as a Polars frame; ``?`` marks parameters."""
        with self.cursor() as cur:
            return cur.sql(sql, params=params).pl() if params else cur.sql(sql).pl()

    sql = frame  # the Python API's name for it

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            res = cur.execute(sql, params or [])
            cols = [d[0] for d in res.description or []]
            return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]

    @cached_property
    def _table_names(self) -> frozenset[str]:
        with self.cursor() as cur:
            return table_names(cur)

    @cached_property
    def has_pages(self) -> bool:
        """Whether out.school_pages is as this version writes it (derive.school_pages.has_pages),
        asked once: the warehouse is read-only."""
        from evenhand.derive.school_pages import has_pages

        with self.cursor() as cur:
            return has_pages(cur)

    def has_table(self, qualified: str) -> bool:
        """Whether ``schema.table`` exists in the warehouse (the one such check)."""
        return qualified in self._table_names

    def tables(self) -> list[str]:
        """Qualified names of the tables a user reads (core.*, out.*, meta.*), sorted."""
        return sorted(n for n in self._table_names if n.split(".", 1)[0] in USER_SCHEMAS)

    def table(self, name: str) -> pl.DataFrame:
        """One whole table as a Polars frame: ``"core.events"``, or ``"events"`` when unambiguous."""
        names = self.tables()
        if name not in names:
            matches = [n for n in names if n.split(".", 1)[1] == name]
            if len(matches) != 1:
                raise EvenhandError(f"no table {name!r} in {self.path}; the tables are: {', '.join(names)}")
            name = matches[0]
        schema, table = name.split(".", 1)
        return self.frame(f'SELECT * FROM "{schema}"."{table}"')

    @cached_property
    def synthetic(self) -> bool:
        """Whether this warehouse was built from a synthetic nation (``evenhand demo``)."""
        if not self.has_table("meta.build"):
            return False
        got = self.rows("SELECT count(*) AS n FROM meta.build WHERE key = 'synthetic' AND value = 'true'")
        return bool(got[0]["n"])

    def build_info(self) -> dict[str, str]:
        """meta.build as a dict (raw folder, mode, version, build time); {} when absent."""
        if not self.has_table("meta.build"):
            return {}
        return {str(r["key"]): str(r["value"]) for r in self.rows("SELECT key, value FROM meta.build ORDER BY key")}

    def inputs(self) -> list[dict[str, Any]]:
        """Provenance of every loaded input file (path, layout, as-at date, sha256)."""
        return self.rows("SELECT path, layout, as_at, sha256 FROM meta.files WHERE status = 'loaded' ORDER BY path")

    def history(self, urn: int) -> dict[str, Any]:
        """Every inspection of one school (as ``evenhand history URN --json``): ``school``,
        ``events`` (each with its ``judgements`` on their own scales and ``sources``),
        ``lineage`` and ``context``. Unknown URNs raise :class:`UnknownSchoolError`."""
        from evenhand.query import history

        with self.cursor() as cur:
            return history(cur, int(urn))

    def info(self) -> dict[str, Any]:
        """What the warehouse holds (as ``evenhand info --json``)."""
        from evenhand.query import info

        with self.cursor() as cur:
            return info(cur)

    # --- the as-at rule ------------------------------------------------------------------------

    @cached_property
    def snapshots(self) -> list[Snapshot]:
        """Every school-level file's snapshot, oldest first (out.snapshots)."""
        if not self.has_table("out.snapshots"):
            raise EvenhandError(f"the warehouse {self.path} was built by an older Evenhand (no out.snapshots): build it again")
        with self.cursor() as cur:
            return read_snapshots(cur)

    def snapshot(self, as_at: dt.date | str | None = None) -> Snapshot:
        """The snapshot outputs describe: by default the newest national one; for a date, the
        file of that date (national preferred), else what the files at or before it cover."""
        return snapshot_for(self.snapshots, parse_date(as_at))

    # --- audits ----------------------------------------------------------------------------------

    def audit_context(self, con: duckdb.DuckDBPyConnection, snapshot: Snapshot, seed: int = DEFAULT_SEED) -> AuditContext:
        return AuditContext(con=con, as_at=snapshot.as_at, seed=seed, synthetic=self.synthetic,
                            coverage=snapshot.coverage, national=snapshot.national)

    def run_audits(
        self,
        names: Sequence[str] | None = None,
        as_at: dt.date | str | None = None,
        seed: int = DEFAULT_SEED,
        progress: Progress | None = None,
        keep_going: bool = False,
    ) -> AuditRun:
        """Run audits by name (all by default, in the pack's order): the one runner.

        ``keep_going``: an audit that fails becomes an empty slot with the reason (the
        evidence pack and dashboard show it as not available); otherwise its error is raised.
        """
        chosen = list(names) if names else list(AUDITS)
        unknown = [n for n in chosen if n not in AUDITS]
        if unknown:
            raise EvenhandError(f"unknown audit(s) {', '.join(unknown)}; choose from: {', '.join(AUDITS)}")
        snap = self.snapshot(as_at)
        run = AuditRun(snapshot=snap, seed=seed, synthetic=self.synthetic, inputs=self.inputs(), slots=[])
        with self._lock, self.cursor() as cur, blas_one_thread():
            ctx = self.audit_context(cur, snap, seed)
            with self._reading_ahead(ctx, chosen):
                self._run_slots(ctx, chosen, run, progress, keep_going)
        return run

    @contextmanager
    def _reading_ahead(self, ctx: AuditContext, names: Sequence[str]) -> Iterator[None]:
        """The audits' warehouse reads (audit/registry.py LOADERS) made ahead on a second cursor
        in a thread while the audits compute; joined before the block ends."""
        cur = self.open_cursor()
        stop = threading.Event()
        reader = threading.Thread(target=prefetch, args=(ctx.on(cur), names, stop), name="evenhand-read-ahead", daemon=True)
        reader.start()
        try:
            yield
        finally:
            stop.set()
            reader.join()
            cur.close()

    def _run_slots(self, ctx: AuditContext, chosen: Sequence[str], run: AuditRun, progress: Progress | None,
                   keep_going: bool) -> None:
        """Each audit in turn into ``run``: its slot and its time."""
        for i, name in enumerate(chosen, start=1):
            if progress:
                progress(f"audit {name}", i, len(chosen))
            t = time.perf_counter()
            try:
                result = audit_function(name)(ctx)
                if self.synthetic:
                    stamp_result(result)
                run.slots.append(Slot(name, result))
            except EvenhandError as e:
                if not keep_going:
                    raise
                run.slots.append(Slot(name, None, f"The audit cannot run on this warehouse: {e}"))
            except Exception as e:
                if not keep_going:
                    raise
                run.slots.append(Slot(name, None, f"The audit failed on this warehouse: {type(e).__name__}: {e}"))
            run.timings[name] = time.perf_counter() - t

    def audit(self, name: str, as_at: dt.date | str | None = None, seed: int = DEFAULT_SEED) -> AuditResult:
        """Run one audit (``evenhand audit --only NAME``) and return its result: ``figures``
        (estimates with 95% intervals and n), ``tables``, ``findings``, ``caveats``."""
        if name not in AUDITS:
            raise EvenhandError(f"no audit {name!r}; the audits are: {', '.join(AUDITS)}")
        result = self.run_audits([name], as_at, seed).result(name)
        assert result is not None
        return result


    # --- a school's report ---------------------------------------------------------------------

    def expected(self, audits: Path | None = None, shown: Callable[[Path], str] = str) -> tuple[pl.DataFrame | None, str]:
        """The intake audit's 'expected' table for this warehouse and, when there is none, why:
        from ``audits`` (a folder written by ``evenhand audit --out``) or the audit folder beside
        the warehouse; a table computed from other input files is refused. Read once per folder.
        ``shown`` writes a path into the reason (the dashboard passes one that hides local paths)."""
        from evenhand.present.report import find_expected

        folder = None if audits is None else Path(audits)
        key = (folder, shown)
        if key not in self._expected:
            with self.cursor() as cur:
                self._expected[key] = find_expected(self.path, cur, folder, shown)
        return self._expected[key]

    def school_report(self, urn: int, format: str = "html", inspection: str | None = None,
                      audits: Path | None = None, history: dict[str, Any] | None = None,
                      page: Any = None, shown: Callable[[Path], str] = str) -> str | bytes | dict[str, Any]:
        """One school's report, as at the default snapshot: ``format="html"`` (text), ``"pdf"``
        (bytes) or ``"data"`` (the dict the report renders). ``inspection``: the contested
        inspection (start date or event id) whose expected judgement comes first; ``audits``: see
        :meth:`expected`. The CLI (`evenhand school`), the dashboard and the API all come here.
        ``history``/``page``: the school's history JSON and out.school_pages row when the caller
        has read them (the dashboard)."""
        from evenhand.present.report import school_html, school_pdf
        from evenhand.present.school import school_report_data

        if format not in ("html", "pdf", "data"):
            raise EvenhandError(f"format {format!r}: choose html, pdf or data")
        table, why = self.expected(audits, shown)
        with self.cursor() as cur:
            data: dict[str, Any] = school_report_data(cur, int(urn), expected=table, expected_reason=why or None,
                                                      inspection=inspection, history=history, page=page,
                                                      synthetic=self.synthetic)
        if format == "data":
            return data
        return school_pdf(data) if format == "pdf" else school_html(data)


def open(path: Path | str = DEFAULT_WAREHOUSE) -> Evenhand:
    """Open a warehouse read-only. Example: ``eh = evenhand.open("warehouse/evenhand.duckdb")``."""
    return Evenhand(path)
