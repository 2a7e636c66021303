"""`evenhand export`: every declared core and out table (and the provenance tables of meta) as
CSV and Parquet, described by a Frictionless data package that `frictionless validate` passes,
and as SQLite with Datasette metadata."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from evenhand.core.pipeline import build_warehouse
from evenhand.metadata import TABLES
from evenhand.metadata.out_tables import NOT_EXPORTED
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
    declared = {t.qualified for t in TABLES if t.schema in ("core", "out")} | {"meta.files", "meta.warnings", "meta.conflicts", "meta.rejections"}
    # out.school_pages is a presentation cache of the other tables (a JSON page per URN): not exported
    assert declared - set(NOT_EXPORTED) <= {w.table for w in written}
    assert not set(NOT_EXPORTED) & {w.table for w in written}
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    resources = {r["title"]: r for r in package["resources"]}
    assert set(resources) == {t.qualified for t in exported_tables()}
    assert package["licenses"][0]["title"] == "Open Government Licence v3.0"
    for t in exported_tables():
        r = resources[t.qualified]
        frame = pl.read_parquet(tmp_path / r["evenhand:parquet"])
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


def test_frictionless_validates_the_whole_package(warehouse: Path, tmp_path: Path) -> None:
    frictionless = pytest.importorskip("frictionless", reason="frictionless is a dev dependency (pip install frictionless)")
    export(warehouse, tmp_path)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    errors = [f"{t.name}: {e.type}: {e.message}" for t in report.tasks for e in t.errors][:10]
    assert report.valid, errors
    assert len(report.tasks) == len(exported_tables())
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    keys = {r["name"]: r["schema"].get("foreignKeys", []) for r in package["resources"]}
    assert {"fields": "event_id", "reference": {"resource": "core.events", "fields": "event_id"}} in keys["core.judgements"]
    assert {"fields": "file_id", "reference": {"resource": "meta.files", "fields": "file_id"}} in keys["core.schools"]


def test_a_broken_foreign_key_fails_validation(warehouse: Path, tmp_path: Path) -> None:
    """The check can fail: a judgement of an event the events table lacks is reported."""
    frictionless = pytest.importorskip("frictionless", reason="frictionless is a dev dependency (pip install frictionless)")
    export(warehouse, tmp_path)
    path = tmp_path / "data" / "core.judgements.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines[1].split(",", 1)
    lines[1] = "NOT-AN-EVENT," + first[1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert not report.valid
    assert any(e.type == "foreign-key" for t in report.tasks for e in t.errors)


def test_list_fields_are_json_arrays_and_nulls_are_empty(warehouse: Path, tmp_path: Path) -> None:
    export(warehouse, tmp_path)
    events = pl.read_csv(tmp_path / "data" / "core.events.csv", infer_schema_length=0)
    assert all(json.loads(v) for v in events["source_files"].to_list())  # ["official.csv"]
    files = (tmp_path / "data" / "meta.files.csv").read_text(encoding="utf-8")
    assert "nan" not in files.lower().replace("unmapped", "")


def test_sqlite_copy_with_datasette_metadata(warehouse: Path, tmp_path: Path) -> None:
    import sqlite3

    export(warehouse, tmp_path)
    meta = json.loads((tmp_path / "metadata.json").read_text(encoding="utf-8"))
    tables = meta["databases"]["evenhand"]["tables"]
    assert tables["core_events"]["columns"]["school_name"].startswith("School name")
    assert meta["license"] == "Open Government Licence v3.0"
    con = sqlite3.connect(tmp_path / "evenhand.db")
    try:
        n = con.execute("SELECT count(*) FROM core_events").fetchone()[0]
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    package = json.loads((tmp_path / "datapackage.json").read_text(encoding="utf-8"))
    assert n == next(r["rows"] for r in package["resources"] if r["name"] == "core.events")
    assert names == set(tables)


def test_history_only_events_are_named(tmp_path: Path) -> None:
    """An earlier inspection carried by a school's row (no name of its own) gets the school's name."""
    from helpers import previous

    d = tmp_path
    row = {**school(100002, "Named School"), **graded("10300002", "10/01/2024", "12/02/2024", "2"), **previous("10100002", "10/01/2019", "12/02/2019", "3")}
    write(d / "raw" / "official.csv", csv_text(os_headers(), [row]))
    build_warehouse(d / "raw", d / "evenhand.duckdb")
    export(d / "evenhand.duckdb", d / "o", sqlite=False)
    events = pl.read_csv(d / "o" / "data" / "core.events.csv", infer_schema_length=0)
    assert events.height == 2
    assert events["school_name"].to_list() == ["Named School", "Named School"]


def test_a_synthetic_export_stamps_every_csv_row_and_still_validates(warehouse: Path, tmp_path: Path) -> None:
    import duckdb

    from evenhand.audit.result import STAMP

    fake = tmp_path / "synthetic.duckdb"
    fake.write_bytes(warehouse.read_bytes())
    con = duckdb.connect(str(fake))
    con.execute("INSERT INTO meta.build VALUES ('synthetic', 'true')")
    con.close()
    export(fake, tmp_path / "o", sqlite=False)
    events = pl.read_csv(tmp_path / "o" / "data" / "core.events.csv", infer_schema_length=0)
    assert events.columns[0] == "synthetic_data" and set(events["synthetic_data"]) == {STAMP}
    package = json.loads((tmp_path / "o" / "datapackage.json").read_text(encoding="utf-8"))
    assert package["title"].startswith("SYNTHETIC")
    frictionless = pytest.importorskip("frictionless", reason="frictionless is a dev dependency")
    report = frictionless.validate(str(tmp_path / "o" / "datapackage.json"))
    assert report.valid, [e.message for t in report.tasks for e in t.errors][:5]
