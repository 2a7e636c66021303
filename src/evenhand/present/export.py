"""Open-data export: every core and out table (and the provenance tables of meta) as CSV
and Parquet, a Frictionless data package (datapackage.json, Table Schema written from the
field metadata), the data dictionary, and an SQLite copy with Datasette metadata.

    from evenhand.present.export import export
    export(Path("warehouse/evenhand.duckdb"), Path("out/open-data"))

The data package follows https://specs.frictionlessdata.io/data-package/ and
https://specs.frictionlessdata.io/table-schema/ (v1): one tabular resource per table, its
``path`` the CSV file (list fields as JSON arrays), its ``schema`` the declared fields with
type, description, ``required`` for non-null fields, ``enum`` for fields with a closed list
of values, the primary key and the foreign keys; ``frictionless validate datapackage.json``
passes on it. The same rows, typed, are in ``data/<table>.parquet`` (named by each
resource's ``evenhand:parquet``), and in ``evenhand.db`` for ``datasette evenhand.db
--metadata metadata.json`` (docs/decisions/1210-open-data-csv-sqlite.md).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evenhand import __version__
from evenhand.audit.result import STAMP
from evenhand.core.warehouse import connect, table_names
from evenhand.metadata import TABLES, Table
from evenhand.metadata.docs import data_dictionary

EXPORTED_SCHEMAS = ("core", "out")
# provenance: which file (and sha256) each row came from, and what the build warned about,
# found in disagreement or (lenient builds) left out
EXTRA_TABLES = ("meta.files", "meta.warnings", "meta.conflicts", "meta.rejections")
SQLITE_NAME = "evenhand.db"
DATASETTE_METADATA = "metadata.json"
LICENCE = {
    "name": "OGL-UK-3.0",
    "title": "Open Government Licence v3.0",
    "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
}

# declared type -> Table Schema type (and format / array item type)
FRICTIONLESS_TYPES: dict[str, dict[str, str]] = {
    "text": {"type": "string"},
    "int": {"type": "integer"},
    "smallint": {"type": "integer"},
    "float": {"type": "number"},
    "date": {"type": "date"},
    "bool": {"type": "boolean"},
    "text[]": {"type": "array"},
    "blob": {"type": "string"},  # (out.school_pages only, which is not exported)
}


@dataclass
class Exported:
    table: str
    path: Path  # the CSV file (the Parquet copy is beside it)
    rows: int


def exported_tables() -> list[Table]:
    from evenhand.metadata.out_tables import NOT_EXPORTED

    return [t for t in TABLES if (t.schema in EXPORTED_SCHEMAS or t.qualified in EXTRA_TABLES) and t.qualified not in NOT_EXPORTED]


def resource_name(t: Table) -> str:
    """Frictionless names are lower-case letters, digits and ``-._``: core.events -> core.events."""
    return t.qualified.lower()


#: The first column of every CSV of a synthetic export (the demo's): no row passes for real.
SYNTHETIC_COLUMN = "synthetic_data"


def table_schema(t: Table, synthetic: bool = False) -> dict[str, Any]:
    fields: list[dict[str, Any]] = []
    if synthetic:
        fields.append({"name": SYNTHETIC_COLUMN, "type": "string", "description": f"Every row: {STAMP}",
                       "constraints": {"required": True, "enum": [STAMP]}})
    for f in t.fields:
        d: dict[str, Any] = {"name": f.name, **FRICTIONLESS_TYPES[f.type], "description": f.description}
        if f.unit:
            d["description"] += f" (unit: {f.unit})"
        constraints: dict[str, Any] = {}
        if not f.nullable:
            constraints["required"] = True
        allowed = f.allowed_values()
        if allowed is not None and f.type == "text":
            constraints["enum"] = list(allowed)
        if constraints:
            d["constraints"] = constraints
        fields.append(d)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if t.primary_key:
        schema["primaryKey"] = list(t.primary_key)
    keys = foreign_keys(t)
    if keys:
        schema["foreignKeys"] = keys
    return schema


def foreign_keys(t: Table) -> list[dict[str, Any]]:
    """Table Schema foreignKeys from each field's declared ``references`` (exported tables only)."""
    exported = {x.qualified for x in exported_tables()}
    keys = []
    for f in t.fields:
        if not f.references:
            continue
        schema, table, field = f.references.split(".")
        if f"{schema}.{table}" in exported:
            keys.append({"fields": f.name, "reference": {"resource": f"{schema}.{table}", "fields": field}})
    return keys


def sqlite_name(t: Table) -> str:
    """The table's name in the SQLite copy: core.events -> core_events (no dot in Datasette URLs)."""
    return f"{t.schema}_{t.name}"


def datapackage(tables: list[tuple[Table, str, int]], synthetic: bool = False) -> dict[str, Any]:
    """The descriptor for (table, relative Parquet path, rows) of each exported table."""
    title = "Evenhand warehouse: English school inspections (Ofsted) with DfE context"
    if synthetic:
        title = "SYNTHETIC DATA — not real schools. " + title
    return {
        "profile": "data-package",
        "name": "evenhand-warehouse" + ("-synthetic" if synthetic else ""),
        "title": title,
        "description": (
            "Tables of the Evenhand warehouse, exported by `evenhand export`. core.* are the typed, "
            "validated official records; out.* are derived tables; meta.* record the input files, "
            "the build's warnings, disagreements between files and rows left out. Each table is a "
            "CSV file (list fields as JSON arrays) described here, the same rows typed as Parquet "
            "beside it, and a table of evenhand.db (SQLite; browse it with `datasette evenhand.db "
            "--metadata metadata.json`). See data-dictionary.md."
        ),
        "version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "licenses": [LICENCE],
        "sources": [
            {"title": "Ofsted: state-funded schools inspections and outcomes (official statistics and management information)", "path": "https://www.gov.uk/government/organisations/ofsted/about/statistics"},
            {"title": "DfE: Get Information About Schools", "path": "https://get-information-schools.service.gov.uk/"},
            {"title": "DfE: school performance tables and Explore Education Statistics", "path": "https://explore-education-statistics.service.gov.uk/"},
        ],
        "resources": [
            {
                "profile": "tabular-data-resource",
                "name": resource_name(t),
                "title": t.qualified,
                "description": t.description,
                "path": path,
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "rows": rows,
                "schema": table_schema(t, synthetic),
                "evenhand:parquet": path.removesuffix(".csv") + ".parquet",
                "evenhand:sqlite": f"{SQLITE_NAME} table {sqlite_name(t)}",
            }
            for t, path, rows in tables
        ],
    }


def export(warehouse: Path, out: Path, sqlite: bool = True, timings: dict[str, float] | None = None) -> list[Exported]:
    """Write every exported table (CSV and Parquet), datapackage.json, data-dictionary.md and
    (``sqlite``) evenhand.db with Datasette's metadata.json into ``out``. ``timings`` (if
    given) receives the seconds spent per stage (bench/export.py)."""
    clock = timings if timings is not None else {}
    con = connect(warehouse, read_only=True)
    written: list[Exported] = []
    db_path = out / SQLITE_NAME
    try:
        present = table_names(con)
        synthetic = False
        if "meta.build" in present:
            synthetic = bool(con.execute("SELECT count(*) FROM meta.build WHERE key = 'synthetic' AND value = 'true'").fetchall()[0][0])
        data_dir = out / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        rows: list[tuple[Table, str, int]] = []
        tmp_db = db_path.with_name(db_path.name + ".partial")
        tmp_db.unlink(missing_ok=True)
        # the SQLite copy is written by one background thread (ADBC's C code releases the GIL)
        # while the next tables are read and written as Parquet and CSV; every call on the
        # SQLite connection happens in that thread
        db = _SqliteWriter(tmp_db) if sqlite else None
        sq = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evenhand-sqlite")
        pending: list[Future[None]] = []
        try:
            for t in exported_tables():
                t0 = time.perf_counter()
                if t.qualified in present:
                    cols = ", ".join(f'"{c}"' for c in t.column_names)
                    frame = con.sql(f"SELECT {cols} FROM {t.qualified}").pl()
                else:  # declared but not built (no input of that kind): an empty, typed table
                    frame = pl.DataFrame(schema=t.polars_schema())
                frame = frame.cast(t.polars_schema())  # type: ignore[arg-type]
                _lap(clock, "read from the warehouse", t0)
                t0 = time.perf_counter()
                rel = f"data/{t.qualified}.csv"
                frame.write_parquet(out / f"data/{t.qualified}.parquet")
                _lap(clock, "write Parquet", t0)
                t0 = time.perf_counter()
                flat = _flat(frame)
                # in a synthetic export every CSV row says so (the SQLite copy's title does)
                stamped = flat.select(pl.lit(STAMP).alias(SYNTHETIC_COLUMN), pl.all()) if synthetic else flat
                stamped.write_csv(out / rel)
                _lap(clock, "write CSV", t0)
                if db is not None:
                    pending.append(sq.submit(db.table, t, flat))
                rows.append((t, rel, frame.height))
                written.append(Exported(t.qualified, out / rel, frame.height))
            if db is not None:
                t0 = time.perf_counter()
                pending.append(sq.submit(db.finish))
                for f in pending:
                    f.result()  # the first failure, in table order
                _lap(clock, "wait for the SQLite copy", t0)
        finally:
            if db is not None:
                sq.submit(db.close).result()
            sq.shutdown(wait=True, cancel_futures=True)
        if sqlite:
            tmp_db.replace(db_path)
    finally:
        con.close()
    t0 = time.perf_counter()
    package = datapackage(rows, synthetic)
    (out / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if sqlite:
        meta = datasette_metadata(package, [t for t, _, _ in rows])
        (out / DATASETTE_METADATA).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    dictionary = data_dictionary()
    if synthetic:
        dictionary = "> **SYNTHETIC DATA — not real schools.**\n\n" + dictionary
    (out / "data-dictionary.md").write_text(dictionary, encoding="utf-8")
    _lap(clock, "descriptors", t0)
    return written


def _lap(clock: dict[str, float], stage: str, t0: float) -> None:
    clock[stage] = clock.get(stage, 0.0) + time.perf_counter() - t0


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """List fields as JSON arrays (Table Schema's ``array`` in CSV); everything else as is.
    Encoded by Polars (a one-field struct's JSON with the ``{"v":`` wrapper cut off)."""
    lists = [c for c, dt_ in frame.schema.items() if isinstance(dt_, pl.List)]
    if not lists:
        return frame
    out = []
    for c in lists:
        enc = pl.struct(pl.col(c).alias("v")).struct.json_encode()
        out.append(pl.when(pl.col(c).is_not_null()).then(enc.str.slice(5, enc.str.len_chars() - 6)).alias(c))
    return frame.with_columns(out)


SQLITE_TYPES = {"text": "TEXT", "int": "INTEGER", "smallint": "INTEGER", "float": "REAL", "date": "TEXT", "bool": "INTEGER", "text[]": "TEXT", "blob": "BLOB"}
# the columns people filter on in Datasette get an index (unless the primary key starts with it)
SQLITE_INDEXED = ("urn", "event_id")


def sqlite_ddl(t: Table) -> list[str]:
    """CREATE TABLE (and its CREATE INDEX statements) of a table's SQLite copy.

    A table with a primary key is a WITHOUT ROWID table clustered on it: the key is declared
    (Datasette links rows by it) and stored once, not a second time as an index beside a
    rowid table; a table without one is a plain rowid table (docs/decisions/1300-export-sqlite.md).
    """
    name = sqlite_name(t)
    cols = ", ".join(f'"{f.name}" {SQLITE_TYPES[f.type]}{"" if f.nullable else " NOT NULL"}' for f in t.fields)
    pk = f', PRIMARY KEY ({", ".join(chr(34) + c + chr(34) for c in t.primary_key)})' if t.primary_key else ""
    out = [f'CREATE TABLE "{name}" ({cols}{pk}){" WITHOUT ROWID" if t.primary_key else ""}']
    for f in t.fields:
        if f.name in SQLITE_INDEXED and f.name not in t.primary_key[:1]:
            out.append(f'CREATE INDEX "{name}__{f.name}" ON "{name}" ("{f.name}")')
    return out


class _SqliteWriter:
    """evenhand.db written through ADBC's SQLite driver: each table's rows go in as one Arrow
    batch (C code, no Python object per value), in primary-key order, in one transaction;
    indexes are made after the rows are in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: Any = None  # opened by the first table, in the thread that writes
        self.cur: Any = None
        self.indexes: list[str] = []

    def _open(self) -> None:
        import adbc_driver_sqlite.dbapi as adbc

        pre = sqlite3.connect(self.path)  # no rollback journal: the .partial file is replaced
        pre.execute("PRAGMA journal_mode = OFF")  # only when complete
        pre.close()
        self.db = adbc.connect(str(self.path))
        self.cur = self.db.cursor()

    def table(self, t: Table, flat: pl.DataFrame) -> None:
        if self.db is None:
            self._open()
        create, *indexes = sqlite_ddl(t)
        self.cur.execute(f'DROP TABLE IF EXISTS "{sqlite_name(t)}"')
        self.cur.execute(create)
        self.indexes += indexes
        if not flat.height:
            return
        conv = [pl.col(c).cast(pl.String) for c, d in flat.schema.items() if d == pl.Date]
        conv += [pl.col(c).cast(pl.Int8) for c, d in flat.schema.items() if d == pl.Boolean]
        typed = flat.with_columns(conv) if conv else flat
        if t.primary_key:
            typed = typed.sort(list(t.primary_key))
        self.cur.adbc_ingest(sqlite_name(t), typed.select(t.column_names).to_arrow(), mode="append")

    def finish(self) -> None:
        if self.db is None:
            self._open()
        for statement in self.indexes:
            self.cur.execute(statement)
        self.db.commit()

    def close(self) -> None:
        if self.db is not None:
            self.cur.close()
            self.db.close()


def datasette_metadata(package: dict[str, Any], tables: list[Table]) -> dict[str, Any]:
    """Datasette's metadata.json: the package's title, licence and sources, and every table's
    and column's description (from the same field metadata as the data package)."""
    return {
        "title": package["title"],
        "description": package["description"],
        "license": LICENCE["title"],
        "license_url": LICENCE["path"],
        "source": "Ofsted and the Department for Education",
        "source_url": package["sources"][0]["path"],
        "databases": {
            SQLITE_NAME.removesuffix(".db"): {
                "tables": {
                    sqlite_name(t): {
                        "title": t.qualified,
                        "description": t.description,
                        "columns": {f.name: f.description + (f" (unit: {f.unit})" if f.unit else "") for f in t.fields},
                    }
                    for t in tables
                }
            }
        },
    }
