"""The one result type every audit returns, and the context every audit receives.

Presentation (CLI summary, evidence pack, school report, dashboard) reads these results and
never recomputes them. Every number carries its interval, its n and its method.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from evenhand.core.synthetic import STAMP as STAMP  # re-exported
from evenhand.core.warehouse import has_table
from evenhand.stats.estimate import Estimate

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Figure:
    """One headline number of an audit: a labelled Estimate with its unit.

    ``unit`` is one of 'share' (0-1, shown as a percentage), 'percentage points' (a difference
    of two shares, stored as a fraction), 'odds ratio', 'working days', 'days', 'count' (of its
    n), 'ratio' (any other dimensionless number).
    """

    key: str
    label: str
    estimate: Estimate
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "unit": self.unit, **_clean(self.estimate.to_dict())}

    def text(self) -> str:
        return describe(self.estimate, self.unit)


@dataclass(frozen=True)
class Frame:
    """The frame of a finding (shared/REFEREE.md): what one row is, as at which date and file,
    which rows are in and what selected them, and what each rate divides by.

    One Frame per audit, or per headline where they differ (``AuditResult.frames``, keyed by
    the figure key or a short name). Printed in the result, its method text and the pack.
    """

    unit: str
    snapshot: str
    sample: str  # which rows, and what decided that they are in (the selection)
    denominator: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "snapshot": self.snapshot, "sample": self.sample,
                "denominator": self.denominator, "notes": list(self.notes)}

    def text(self) -> str:
        """One paragraph for method text: 'Frame. Unit: ...; snapshot: ...; ...'."""
        notes = (" " + " ".join(self.notes)) if self.notes else ""
        return (f"Frame. Unit: {self.unit}. Snapshot: {self.snapshot}. Sample and selection: {self.sample}. "
                f"Denominator: {self.denominator}.{notes}")


class FrameCache:
    """Answers by (SQL, parameters), each computed once however many threads ask: the first
    asker runs the query, the others wait for it (and ask again themselves if it failed, so
    that each caller sees its own error)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[tuple[str, tuple[Any, ...]], pl.DataFrame] = {}
        self._running: dict[tuple[str, tuple[Any, ...]], Future[pl.DataFrame]] = {}

    def get(self, sql: str, params: list[Any] | None, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        key = (sql, tuple(params or ()))
        with self._lock:
            if key in self._done:
                return self._done[key]
            running = self._running.get(key)
            if running is None:
                mine: Future[pl.DataFrame] = Future()
                self._running[key] = mine
        if running is not None:
            try:
                return running.result()
            except Exception:
                return compute()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._running[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            self._done[key] = value
            del self._running[key]
        mine.set_result(value)
        return value


@dataclass
class AuditContext:
    """What an audit may use: a read-only warehouse connection, the as-at date and a seed."""

    con: duckdb.DuckDBPyConnection
    as_at: dt.date
    seed: int = 20230108
    synthetic: bool = False
    coverage: str = "England"  # what the as-at file covers (out.snapshots): 'England', 'Leeds only'
    national: bool = True
    #: answers of :meth:`frame` by (sql, params): audits that ask the same question (the
    #: graded-events frame of safeguarding, consistency and frameworks) read it once; shared
    #: with :meth:`on` contexts (the runner's prefetch thread)
    _frames: FrameCache = field(default_factory=lambda: FrameCache(), repr=False, compare=False)

    @property
    def scope(self) -> str:
        """'' for England; ' (Leeds only)' otherwise: appended to every title that names the date."""
        return "" if self.national else f" ({self.coverage})"

    def frame(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """The answer to ``sql`` as a Polars frame; the same question on the same context is
        answered from memory (the connection is read-only and Polars frames are immutable)."""
        con = self.con
        return self._frames.get(sql, params, lambda: con.sql(sql, params=params).pl() if params else con.sql(sql).pl())

    def on(self, con: duckdb.DuckDBPyConnection) -> AuditContext:
        """This context on another connection (a cursor of the same warehouse, for another
        thread), sharing its answers."""
        return replace(self, con=con)

    def has_table(self, qualified: str) -> bool:
        return has_table(self.con, qualified)

    def inputs(self) -> list[dict[str, Any]]:
        """Provenance of every loaded input file (path, layout, as-at date, sha256)."""
        df = self.frame("SELECT path, layout, as_at, sha256 FROM meta.files WHERE status = 'loaded' ORDER BY path")
        return [_clean(r) for r in df.iter_rows(named=True)]


def table_csv(table: pl.DataFrame) -> bytes:
    """An audit table as CSV bytes (list and struct columns written as text): the one CSV form
    of a table, for the files `evenhand audit` writes and the dashboard's downloads."""
    flat = table.with_columns([pl.col(c).cast(pl.String) for c, t in table.schema.items() if isinstance(t, pl.List | pl.Struct)])
    return flat.write_csv().encode("utf-8")


def stamp_result(r: AuditResult) -> None:
    """Put the synthetic stamp first among a result's caveats (its JSON and its section say it)."""
    if not r.caveats or r.caveats[0] != STAMP:
        r.caveats.insert(0, STAMP)


@dataclass
class Slot:
    """One audit's place in a run (the pack, the dashboard): its result, or why there is none."""

    name: str
    result: AuditResult | None
    reason: str = ""


@dataclass
class AuditResult:
    name: str
    title: str
    question: str
    claim: str  # the public claim (DESIGN section 1) this audit tests
    method: str  # plain words
    figures: list[Figure]
    tables: dict[str, pl.DataFrame]  # "main" first: a tidy table
    chart: dict[str, Any] | None  # a Vega-Lite spec (Altair chart.to_dict()), inline data only
    findings: list[str]  # generated from the numbers, never hand-written
    caveats: list[str]
    inputs: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)
    small_n: list[str] = field(default_factory=list)  # where n is too small to read much into
    frames: dict[str, Frame] = field(default_factory=dict)  # "main" first; see Frame

    def figure(self, key: str) -> Figure:
        for f in self.figures:
            if f.key == key:
                return f
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "title": self.title,
            "question": self.question,
            "claim": self.claim,
            "method": self.method,
            "figures": [f.to_dict() for f in self.figures],
            "findings": self.findings,
            "caveats": self.caveats,
            "small_n": self.small_n,
            "frames": {k: f.to_dict() for k, f in self.frames.items()},
            "inputs": self.inputs,
            "parameters": _clean(self.parameters),
            "tables": {k: {"columns": v.columns, "rows": v.height} for k, v in self.tables.items()},
            "chart": self.chart,
        }

    def write(self, out: Path) -> list[Path]:
        """<name>.json, and each table as <name>__<table>.csv and .parquet. Returns the paths."""
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{self.name}.json"]
        paths[0].write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        for key, table in self.tables.items():
            csv, pq = out / f"{self.name}__{key}.csv", out / f"{self.name}__{key}.parquet"
            csv.write_bytes(table_csv(table))
            table.write_parquet(pq)
            paths += [csv, pq]
        return paths


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: dates as ISO text, NaN as None."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dt.date):
            v = v.isoformat()
        elif isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    return out


def pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}%"


def num(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:,.{digits}f}"


def _days(x: float) -> str:
    """Days as people count them: whole days without a decimal, else one decimal."""
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def describe(e: Estimate, unit: str) -> str:
    """'23.4% (95% CI 21.0% to 25.9%; n = 1,234)' — every number with its interval and n.

    A count is a count of its n ('19 of 459'), or just the count when it is its own n; a
    share of all or none of n says so ('100% (all 3,269; 95% CI 99.9% to 100%)'), and carries no
    interval only where it is definitional (no interval given);
    whole days print without a decimal; an interval that rounds to the estimate itself is
    said in words ('the 95% CI is 16 itself'), never '16.0 (95% CI 16.0 to 16.0)'.
    'percentage points' is a difference of two shares (stored as a fraction)."""
    level = f"{round(100 * e.level)}% CI"
    if unit == "count":
        if math.isnan(e.value):
            return f"n/a (n = {e.n:,})"
        return f"{int(e.value):,}" if int(e.value) == e.n else f"{int(e.value):,} of {e.n:,}"
    if unit == "share" and not math.isnan(e.value) and e.n and e.value in (0.0, 1.0):
        if e.value == 1.0:  # an observed 100% still has an interval; a definitional one has none (NaN)
            return f"100% (all {e.n:,}; {level} {pct(e.low)} to 100%)" if not math.isnan(e.low) else f"100% (all {e.n:,})"
        return f"0% (none of {e.n:,}; {level} 0% to {pct(e.high)})" if not math.isnan(e.high) else f"0% (none of {e.n:,})"
    suffix = ""
    if unit == "share":
        v, lo, hi = pct(e.value), pct(e.low), pct(e.high)
    elif unit == "percentage points":
        v, lo, hi = num(100 * e.value, 1), num(100 * e.low, 1), num(100 * e.high, 1)
        v, suffix = v + " percentage points", ""
    elif unit in ("working days", "days"):
        v, lo, hi = _days(e.value), _days(e.low), _days(e.high)
        v, suffix = v + f" {unit}", f" {unit}"
    else:
        v, lo, hi = num(e.value), num(e.low), num(e.high)
    if math.isnan(e.low) or math.isnan(e.high):
        return f"{v} (no interval; n = {e.n:,})"
    if lo == hi == v.split(" ")[0]:
        return f"{v} (the {level} is {lo}{suffix} itself; n = {e.n:,})"
    return f"{v} ({level} {lo} to {hi}{suffix}; n = {e.n:,})"
