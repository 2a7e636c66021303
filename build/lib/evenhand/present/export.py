"""Open-data export: every core and out table as Parquet, a Frictionless data package
(datapackage.json, Table Schema written from the field metadata) and the data dictionary.

    from evenhand.present.export import export
    export(Path("warehouse/evenhand.duckdb"), Path("out/open-data"))

The data package follows https://specs.frictionlessdata.io/data-package/ and
https://specs.frictionlessdata.io/table-schema/ (v1): one resource per table, its ``path``
the Parquet file, its ``schema`` the declared fields with type, description, ``required``
for non-null fields, ``enum`` for fields with a closed list of values, and the primary key.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evenhand import __version__
from evenhand.core.warehouse import connect, table_names
from evenhand.metadata import TABLES, Table
from evenhand.metadata.docs import data_dictionary

EXPORTED_SCHEMAS = ("core", "out")
EXTRA_TABLES = ("meta.files",)  # provenance: which file (and sha256) each row came from
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
}


@dataclass
class Exported:
    table: str
    path: Path
    rows: int


def exported_tables() -> list[Table]:
    return [t for t in TABLES if t.schema in EXPORTED_SCHEMAS or t.qualified in EXTRA_TABLES]


def resource_name(t: Table) -> str:
    """Frictionless names are lower-case letters, digits and ``-._``: core.events -> core.events."""
    return t.qualified.lower()


def table_schema(t: Table) -> dict[str, Any]:
    fields = []
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
    return schema


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
            "validated official records; out.* are derived tables. See data-dictionary.md."
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
                "profile": "data-resource",  # v1 tabular-data-resource requires CSV; see decision 1002
                "name": resource_name(t),
                "title": t.qualified,
                "description": t.description,
                "path": path,
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "encoding": "binary",
                "rows": rows,
                "schema": table_schema(t),
            }
            for t, path, rows in tables
        ],
    }


def export(warehouse: Path, out: Path) -> list[Exported]:
    """Write every exported table, datapackage.json and data-dictionary.md into ``out``."""
    con = connect(warehouse, read_only=True)
    written: list[Exported] = []
    try:
        present = table_names(con)
        synthetic = False
        if "meta.build" in present:
            synthetic = bool(con.execute("SELECT count(*) FROM meta.build WHERE key = 'synthetic' AND value = 'true'").fetchall()[0][0])
        data_dir = out / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        rows: list[tuple[Table, str, int]] = []
        for t in exported_tables():
            if t.qualified in present:
                cols = ", ".join(f'"{c}"' for c in t.column_names)
                frame = con.sql(f"SELECT {cols} FROM {t.qualified}").pl()
            else:  # declared but not built (no input of that kind): an empty, typed table
                frame = pl.DataFrame(schema=t.polars_schema())
            frame = frame.cast(t.polars_schema())  # type: ignore[arg-type]
            rel = f"data/{t.qualified}.parquet"
            frame.write_parquet(out / rel)
            rows.append((t, rel, frame.height))
            written.append(Exported(t.qualified, out / rel, frame.height))
    finally:
        con.close()
    (out / "datapackage.json").write_text(json.dumps(datapackage(rows, synthetic), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    dictionary = data_dictionary()
    if synthetic:
        dictionary = "> **SYNTHETIC DATA — not real schools.**\n\n" + dictionary
    (out / "data-dictionary.md").write_text(dictionary, encoding="utf-8")
    return written
