"""The Python API: one warehouse, opened read-only.

    import evenhand
    eh = evenhand.open("warehouse/evenhand.duckdb")
    eh.tables()                       # ['core.events', 'core.judgements', ...]
    eh.table("core.events")           # a polars.DataFrame
    eh.history(109778)                # every inspection of one school, as plain data
    eh.audit("headline")              # an AuditResult (figures with intervals, tables, caveats)
    eh.school_report(109778)          # the school report as HTML text

Examples in docs/api.md are run by tests/docs/test_api_examples.py.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from evenhand.errors import EvenhandError

if TYPE_CHECKING:  # imported when used, so `import evenhand` stays light
    import polars as pl

    from evenhand.audit.result import AuditResult

#: schemas a user reads; raw.* (all-text copies of the inputs) is reachable with .sql()
USER_SCHEMAS = ("core", "out", "meta")


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            return None
        raise


class Warehouse:
    """A read-only view of one Evenhand warehouse (see :func:`open`)."""

    def __init__(self, path: Path | str) -> None:
        from evenhand.core.warehouse import connect

        self.path = Path(path)
        self.con = connect(self.path, read_only=True)  # raises a clear error when it is missing

    # --- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<evenhand warehouse {self.path}>"

    # --- tables --------------------------------------------------------------------------

    def tables(self) -> list[str]:
        """Qualified names of the tables a user reads (core.*, out.*, meta.*), sorted."""
        rows = self.con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN (SELECT unnest(?)) ORDER BY 1",
            [list(USER_SCHEMAS)],
        ).fetchall()
        return [r[0] for r in rows]

    def table(self, name: str) -> pl.DataFrame:
        """One whole table as a Polars frame: ``"core.events"``, or ``"events"`` when unambiguous."""
        names = self.tables()
        if name not in names:
            matches = [n for n in names if n.split(".", 1)[1] == name]
            if len(matches) != 1:
                raise EvenhandError(f"no table {name!r} in {self.path}; the tables are: {', '.join(names)}")
            name = matches[0]
        schema, table = name.split(".", 1)
        return self.con.sql(f'SELECT * FROM "{schema}"."{table}"').pl()

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Any read-only SQL query (DuckDB dialect) as a Polars frame; ``?`` marks parameters."""
        return self.con.sql(query, params=params).pl() if params else self.con.sql(query).pl()

    # --- questions -----------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What the warehouse holds (as ``evenhand info --json``)."""
        from evenhand.query import _info

        return _info(self.con)

    def history(self, urn: int) -> dict[str, Any]:
        """Every inspection of one school (as ``evenhand history URN --json``): ``school``,
        ``events`` (each with its ``judgements`` on their own scales and ``sources``),
        ``lineage`` and ``context``. Unknown URNs raise :class:`UnknownSchoolError`."""
        from evenhand.query import _history

        return _history(self.con, int(urn))

    def synthetic(self) -> bool:
        """Whether this warehouse was built from a synthetic nation (``evenhand demo``)."""
        if "meta.build" not in self.tables():
            return False
        rows = self.con.execute("SELECT count(*) FROM meta.build WHERE key = 'synthetic' AND value = 'true'").fetchall()
        return bool(rows[0][0])

    def audit(self, name: str, as_at: dt.date | str | None = None, seed: int = 20230108) -> AuditResult:
        """Run one audit (``evenhand audit --only NAME``) and return its result: ``figures``
        (estimates with 95% intervals and n), ``tables``, ``findings``, ``caveats``."""
        from evenhand.audit.registry import AUDITS
        from evenhand.audit.result import AuditContext
        from evenhand.audit.runner import default_as_at

        if name not in AUDITS:
            raise EvenhandError(f"no audit {name!r}; the audits are: {', '.join(AUDITS)}")
        module = _optional(f"evenhand.audit.{name}")
        if module is None:
            raise EvenhandError(f"the {name!r} audit is not available in this version of Evenhand")
        if isinstance(as_at, str):
            try:
                as_at = dt.date.fromisoformat(as_at)
            except ValueError:
                raise EvenhandError(f"as_at {as_at!r} is not a date: use YYYY-MM-DD, e.g. 2025-08-31") from None
        date = as_at or default_as_at(self.path)
        ctx = AuditContext(con=self.con, as_at=date, seed=seed, synthetic=self.synthetic())
        result: AuditResult = module.run(ctx)
        return result

    def school_report(self, urn: int, format: str = "html", as_at: dt.date | None = None) -> str | bytes | dict[str, Any]:
        """One school's report: ``format="html"`` (text), ``"pdf"`` (bytes) or ``"data"`` (the
        dict the report renders)."""
        if format not in ("html", "pdf", "data"):
            raise EvenhandError(f"format {format!r}: choose html, pdf or data")
        school = _optional("evenhand.present.school")
        report = _optional("evenhand.present.report")
        if school is None or (format != "data" and report is None):
            raise EvenhandError("the school report is not available in this version of Evenhand")
        data: dict[str, Any] = school.school_report_data(self.con, int(urn), as_at=as_at, warehouse=self.path)
        if format == "data":
            return data
        assert report is not None
        html: str = report.school_html(data)
        if format == "pdf":
            pdf: bytes = report.html_to_pdf(html)
            return pdf
        return html


def open(path: Path | str = Path("warehouse") / "evenhand.duckdb") -> Warehouse:
    """Open a warehouse read-only. Example: ``eh = evenhand.open("warehouse/evenhand.duckdb")``."""
    return Warehouse(path)
