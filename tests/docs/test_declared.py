"""Every table a build writes is declared in the metadata and documented in the data
dictionary; each map reader parses its file and gives names people read (that every map file
is read at all is tests/docs/test_package.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from evenhand import maps
from evenhand.core.pipeline import build_warehouse
from evenhand.core.warehouse import connect
from evenhand.metadata import TABLES
from helpers import csv_text, graded, os_headers, school, write

ROOT = Path(__file__).resolve().parents[2]
DICTIONARY = ROOT / "docs" / "data-dictionary.md"


def built_tables(con: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    """(tables of the core, out and meta schemas, raw views)."""
    tables = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
    views = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    return tables, views


def check_declared_and_documented(wh: Path) -> None:
    con = connect(wh, read_only=True)
    try:
        tables, views = built_tables(con)
    finally:
        con.close()
    declared = {t.qualified for t in TABLES}
    assert tables - declared == set(), "tables in the warehouse but not declared in evenhand.metadata"
    documented = set(re.findall(r"^### `([a-z_]+\.[a-z_0-9]+)`", DICTIONARY.read_text(encoding="utf-8"), flags=re.M))
    assert tables - documented == set(), "tables not in docs/data-dictionary.md"
    # the raw layer: one view per recognised layout, each listed in the dictionary's layouts section
    layouts = set(maps.layouts())
    raw = {v.split(".", 1)[1] for v in views if v.startswith("raw.")}
    assert raw and raw <= layouts
    text = DICTIONARY.read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in text for name in raw)


def test_a_built_warehouse_holds_only_declared_documented_tables(tmp_path: Path) -> None:
    rows = [{**school(100001), **graded("10000001", "30/09/2024", "04/11/2024", "2")}]
    write(tmp_path / "raw" / "official-stats_schools_as-at-2025-08-31.csv", csv_text(os_headers(), rows))
    build_warehouse(tmp_path / "raw", tmp_path / "w.duckdb")
    check_declared_and_documented(tmp_path / "w.duckdb")


@pytest.mark.integration
def test_the_real_warehouse_holds_only_declared_documented_tables(shared_warehouse: Path) -> None:
    check_declared_and_documented(shared_warehouse)


def test_every_map_reader_parses_its_file() -> None:
    assert maps.codes() and maps.eras() and maps.blocks() and maps.layouts()
    assert list(maps.areas()) == sorted(maps.areas(), key=maps.area_order)  # Ofsted's order
    assert all(a.label and "_" not in a.label for a in maps.areas().values())  # names people read
    assert set(maps.scale_labels()) >= {s for a in maps.areas().values() for s in a.scales}  # every judgement scale named
    assert set(maps.kinds()) == {"graded", "ungraded", "monitoring", "report_card"}
    assert maps.publication_targets() and maps.school_type_groups() and maps.ofsted_regions()
    assert "report cards" in (maps.framework_on(dt.date(2026, 1, 5)) or (None, ""))[1]
    for layout in maps.layouts().values():
        assert layout.columns, layout.name  # its column map parses
