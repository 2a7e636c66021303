"""Run audits against a warehouse and write their results."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from evenhand.audit.registry import AUDITS, audit_function
from evenhand.audit.result import AuditContext, AuditResult
from evenhand.core.warehouse import connect
from evenhand.errors import EvenhandError


def default_as_at(warehouse: Path) -> dt.date:
    """The as-at date of the newest national file: Ofsted's official statistics where there is
    one, else the newest management information. (A monthly MI file can be a one-authority
    extract, such as the Leeds file, so the newest file of any kind may describe a few hundred
    schools; the national evidence defaults to the official statistics.)"""
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            """SELECT coalesce(max(as_at) FILTER (WHERE publication = 'official_statistics'),
                               max(as_at) FILTER (WHERE publication = 'management_information'))
               FROM meta.files WHERE status = 'loaded'"""
        ).fetchall()
    finally:
        con.close()
    if not rows or rows[0][0] is None:
        raise EvenhandError("the warehouse holds no Ofsted school-level file with an as-at date: pass --as-at")
    value: dt.date = rows[0][0]
    return value


def run_audits(
    warehouse: Path,
    as_at: dt.date | None = None,
    only: list[str] | None = None,
    seed: int = 20230108,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[AuditResult], dict[str, float]]:
    names = list(only) if only else list(AUDITS)
    unknown = [n for n in names if n not in AUDITS]
    if unknown:
        raise EvenhandError(f"unknown audit(s) {', '.join(unknown)}; choose from: {', '.join(AUDITS)}")
    as_at = as_at or default_as_at(warehouse)
    con = connect(warehouse, read_only=True)
    results: list[AuditResult] = []
    timings: dict[str, float] = {}
    try:
        synthetic = bool(con.execute("SELECT count(*) FROM meta.build WHERE key = 'synthetic' AND value = 'true'").fetchall()[0][0])
        ctx = AuditContext(con=con, as_at=as_at, seed=seed, synthetic=synthetic)
        for i, name in enumerate(names, start=1):
            if progress:
                progress(f"audit {name}", i, len(names))
            t = time.perf_counter()
            results.append(audit_function(name)(ctx))
            timings[name] = time.perf_counter() - t
    finally:
        con.close()
    return results, timings
