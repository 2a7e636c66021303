"""The embedded DuckDB warehouse: offline connections, generated DDL, atomic builds.

A build writes a new file beside the target and swaps it in with ``os.replace`` only once it
is complete, so a failed or killed build leaves the previous warehouse untouched and usable.

The raw layer (every input row as published, all text) is kept as Parquet files in a folder
beside the warehouse, ``<warehouse>.raw-<pid>-<ns>/<layout>.parquet``, that Polars writes while
the rest of the build runs; the warehouse holds views ``raw.<layout>`` over them. Each build
writes a NEW folder and only the new warehouse file names it, so the one ``os.replace`` still
swaps the data and its raw layer together; older folders are removed after the swap
(docs/decisions/0800-build-performance.md). Keep the folder with the warehouse file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


def table_names(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Qualified names (``schema.table``) of the tables and views of the connection's current
    database: the one table-existence check every stage uses."""
    got = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    return frozenset(r[0] for r in got)


def has_table(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    return qualified in table_names(con)


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run a parameterised query and return a Polars frame."""
    result = con.sql(sql, params=params or None).pl() if params else con.sql(sql).pl()
    assert isinstance(result, pl.DataFrame)
    return result


def create(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """The table from its declaration. Allowed values are checked by :func:`insert` (every
    write goes through it), not again by DuckDB CHECK constraints (docs/decisions/0800)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    con.execute(table.ddl(checks=False))


def insert(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame) -> None:
    """Conform to the declaration, validate, and insert."""
    conformed = table.conform(df)
    table.validate(conformed)
    con.register("_incoming", conformed.to_arrow())
    try:
        con.execute(f"INSERT INTO {table.qualified} SELECT * FROM _incoming")
    finally:
        con.unregister("_incoming")


INSERT_THREADS = 2


def insert_many(con: duckdb.DuckDBPyConnection, jobs: Sequence[tuple[Table, pl.DataFrame]]) -> None:
    """:func:`insert` each (table, frame), different tables in parallel on their own cursors
    (DuckDB appends to different tables concurrently; validation is Polars, off the GIL).
    The first failure in job order is raised, as a serial loop would."""
    for error in insert_each(con, jobs):
        if error is not None:
            raise error


def insert_each(con: duckdb.DuckDBPyConnection, jobs: Sequence[tuple[Table, pl.DataFrame]]) -> list[Exception | None]:
    """As :func:`insert_many`, but every job's failure (or None) is returned in job order, not
    raised: for a caller that writes some tables earlier and reports the first failure in
    the order of all its jobs."""

    def run(table: Table, df: pl.DataFrame) -> None:
        cur = con.cursor()
        try:
            insert(cur, table, df)
        finally:
            cur.close()

    with ThreadPoolExecutor(max_workers=INSERT_THREADS, thread_name_prefix="evenhand-insert") as pool:
        from evenhand.core.guard import signals_held

        with signals_held():  # submit starts the pool's threads: a signal is raised after, not during
            futures = [pool.submit(run, t, df) for t, df in jobs]
        errors: list[Exception | None] = []
        for f in futures:
            try:
                f.result()
            except Exception as e:  # (a BaseException such as a stop signal is raised at once)
                errors.append(e)
            else:
                errors.append(None)
        return errors


RAW_FOLDER_INFIX = ".raw-"


def new_raw_folder(target: Path) -> Path:
    """A fresh folder for one build's raw layer, beside the warehouse it will belong to."""
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.with_name(f"{target.name}{RAW_FOLDER_INFIX}{os.getpid()}-{time.time_ns()}")
    folder.mkdir()
    return folder


def write_raw_parquet(folder: Path, name: str, frames: list[pl.DataFrame]) -> Path:
    """One layout's raw rows (all text, ``_file_id``, ``_row``) as a Parquet file; thread-safe."""
    path = folder / f"{name}.parquet"
    pl.concat(frames, how="diagonal_relaxed").write_parquet(path, compression="zstd", compression_level=1)
    return path


def create_raw_view(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """``raw.<name>`` as a view over the Parquet file at ``path`` (absolute)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    literal = "'" + str(Path(path).absolute()).replace("'", "''") + "'"
    con.execute(f'CREATE VIEW raw."{name}" AS SELECT * FROM read_parquet({literal})')


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_other_raw_folders(target: Path, keep: Path | None) -> None:
    """After a swap: the raw folders of earlier (or killed) builds, not those of running builds."""
    for p in target.parent.glob(target.name + RAW_FOLDER_INFIX + "*"):
        if keep is not None and p.absolute() == keep.absolute():
            continue
        pid = p.name.rsplit(RAW_FOLDER_INFIX, 1)[-1].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue  # another build is writing it
        shutil.rmtree(p, ignore_errors=True)


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


BUILD_CHECKPOINT_THRESHOLD = "1TB"


@contextlib.contextmanager
def atomic_build(target: Path, raw_folder: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a connection to a fresh database file; on success swap it in atomically.

    ``raw_folder`` (from :func:`new_raw_folder`) is this build's raw layer: removed if the
    build fails; on success it stays, named by the new file, and older ones are removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_builds(target):
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f"{target.name}.building-{os.getpid()}")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    con = connect(tmp)
    # one checkpoint, at the end: DuckDB's automatic checkpoints (every 16 MB of WAL), landing
    # while other cursors append, left up to 236 free blocks (59 MB, +45%) in 2 of 3 builds of
    # the whole data under load (docs/decisions/1770-one-checkpoint-per-build.md)
    con.execute(f"SET checkpoint_threshold = '{BUILD_CHECKPOINT_THRESHOLD}'")
    ok = False
    try:
        yield con
        con.execute("CHECKPOINT")
        ok = True
    finally:
        con.close()
        if ok:
            from evenhand.core import guard

            guard.hold_signals()  # the caller releases them once it has noted the swap
            os.replace(tmp, target)
            Path(str(target) + ".wal").unlink(missing_ok=True)
            if raw_folder is not None and raw_folder.exists() and not any(raw_folder.iterdir()):
                raw_folder.rmdir()  # no raw rows: no folder
            _remove_other_raw_folders(target, raw_folder)
        else:
            tmp.unlink(missing_ok=True)
            if raw_folder is not None:
                shutil.rmtree(raw_folder, ignore_errors=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
