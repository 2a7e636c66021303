"""`evenhand export`: every declared core and out table as Parquet, described by a
Frictionless data package whose fields match the Parquet columns."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from evenhand.core.pipeline import build_warehouse
from evenhand.metadata import TABLES
from evenhand.present.export import FRICTIONLESS_TYPES, export, exported_tables
from helpers import caversham_like, csv_text, graded, os_headers, school, write

PARQUET_TO_FRICTIONLESS = {
    pl.String: "string", pl.Int64: "integer", pl.Int16: "integer", pl.Int32: "integer",
    pl.Float64: "number", pl.Date: "date", pl.Boolean: "boolean", pl.List: "array",
}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("export")
    rows = [caversham_like(), {**school(100001, "Another School"), **graded("10300001", "10/01/2024", "12/02/2024", "3")}]
    write(d / "raw" / "official.csv", csv_text(os_headers(), rows))
    build_warehouse(d / "raw", d / "evenhand.duckdb")
    return d / "evenhand.duckdb"


def test_every_declared_table_is_exported_and_described(warehouse: Path, tmp_path: Path) -> None:
    written = export(warehouse, tmp_path)
    declared = {t.qualified for t in TABLES if t.schema in ("core", "out")}
    assert declared <= {w.table for w in written}
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    resources = {r["title"]: r for r in package["resources"]}
    assert set(resources) == {t.qualified for t in exported_tables()}
    assert package["licenses"][0]["title"] == "Open Government Licence v3.0"
    for t in exported_tables():
        r = resources[t.qualified]
        frame = pl.read_parquet(tmp_path / r["path"])
        fields = r["schema"]["fields"]
        assert [f["name"] for f in fields] == frame.columns, t.qualified
        for f, (name, dtype) in zip(fields, frame.schema.items(), strict=True):
            assert PARQUET_TO_FRICTIONLESS[dtype.base_type()] == f["type"], (t.qualified, name)  # type: ignore[index]
            assert f["description"]
            enum = f.get("constraints", {}).get("enum")
            if enum is not None:  # every value present is one of the declared values
                assert set(frame[name].drop_nulls().unique().to_list()) <= set(enum), (t.qualified, name)
            if f.get("constraints", {}).get("required"):
                assert frame[name].null_count() == 0, (t.qualified, name)
        assert r["rows"] == frame.height
        assert r["schema"].get("primaryKey", []) == list(t.primary_key)
    assert resources["core.events"]["rows"] >= 3  # Caversham's two graded events and another school's
    assert {t for t in FRICTIONLESS_TYPES.values() for t in t.values()} <= {"string", "integer", "number", "date", "boolean", "array"}
    assert (tmp_path / "data-dictionary.md").read_text(encoding="utf-8").startswith("# Data dictionary")


def test_cli_export(warehouse: Path, tmp_path: Path) -> None:
    from evenhand.cli import app

    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "o"), "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    assert "datapackage.json" in result.output
    assert (tmp_path / "o" / "data" / "core.events.parquet").exists()


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    from evenhand.cli import app

    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "o"), "--warehouse", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "evenhand build" in result.output
