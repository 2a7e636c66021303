"""The embedded DuckDB warehouse: offline connections, generated DDL, atomic builds.

A build writes a new file beside the target and swaps it in with ``os.replace`` only once it
is complete, so a failed or killed build leaves the previous warehouse untouched and usable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from evenhand.errors import EvenhandError
from evenhand.metadata.schema import Table

DEFAULT_WAREHOUSE = Path("warehouse") / "evenhand.duckdb"
# never let DuckDB fetch an extension from the network at run time
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: Path | str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if path != ":memory:" and read_only and not Path(path).exists():
        raise EvenhandError(f"no warehouse at {path}: run 'evenhand build --raw DIR' first")
    return duckdb.connect(str(path), read_only=read_only, config=dict(OFFLINE))


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run a parameterised query and return a Polars frame."""
    result = con.sql(sql, params=params or None).pl() if params else con.sql(sql).pl()
    assert isinstance(result, pl.DataFrame)
    return result


def create(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    con.execute(table.ddl())


def insert(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame) -> None:
    """Conform to the declaration, validate, and insert."""
    conformed = table.conform(df)
    table.validate(conformed)
    con.register("_incoming", conformed.to_arrow())
    try:
        con.execute(f"INSERT INTO {table.qualified} SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")


def write_raw(con: duckdb.DuckDBPyConnection, name: str, df: pl.DataFrame) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.register("_raw", df.to_arrow())
    try:
        con.execute(f'CREATE TABLE raw."{name}" AS SELECT * FROM _raw')
    finally:
        con.unregister("_raw")


def write_plain(con: duckdb.DuckDBPyConnection, qualified: str, df: pl.DataFrame) -> None:
    schema = qualified.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.register("_plain", df.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {qualified} AS SELECT * FROM _plain")
    finally:
        con.unregister("_plain")


def _stale_builds(target: Path) -> Iterator[Path]:
    for p in target.parent.glob(target.name + ".building-*"):
        pid = p.name.rsplit("-", 1)[-1].split(".")[0]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                continue  # that build is still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        yield p


@contextlib.contextmanager
def atomic_build(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to a fresh database file; on success swap it in atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_builds(target):
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f"{target.name}.building-{os.getpid()}")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    con = connect(tmp)
    ok = False
    try:
        yield con
        con.execute("CHECKPOINT")
        ok = True
    finally:
        con.close()
        if ok:
            os.replace(tmp, target)
            Path(str(target) + ".wal").unlink(missing_ok=True)
        else:
            tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
