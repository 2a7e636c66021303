"""School search: closed schools known only from their inspections, and suggestions for
misspelt names, on a small warehouse written by the test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from evenhand.derive.snapshots import derive_school_latest
from evenhand.metadata import table
from evenhand.web import search


class Db:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        res = self.con.execute(sql, params or [])
        cols = [d[0] for d in res.description or []]
        return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]


def _insert(con: duckdb.DuckDBPyConnection, qualified: str, rows: list[dict[str, Any]]) -> None:
    t = table(qualified)
    for r in rows:
        values = [r.get(c) for c in t.column_names]
        con.execute(f"INSERT INTO wh.{qualified} VALUES ({', '.join('?' for _ in values)})", values)


@pytest.fixture()
def db(tmp_path: Path) -> Db:
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH '{tmp_path / 'wh.duckdb'}' AS wh")
    for schema in ("core",):
        con.execute(f"CREATE SCHEMA wh.{schema}")
    for q in ("core.schools", "core.events", "core.gias_links"):
        con.execute(table(q).ddl(checks=False).replace(f"CREATE TABLE {q}", f"CREATE TABLE wh.{q}"))
    school = {"file_id": 1, "as_at": dt.date(2025, 8, 31), "publication": "official_statistics"}
    _insert(con, "core.schools", [
        {**school, "row_number": 2, "urn": 109778, "school_name": "Caversham Primary School", "postcode": "RG4 7RA", "local_authority": "Reading", "phase": "Primary"},
        {**school, "row_number": 3, "urn": 148135, "school_name": "Walbottle Academy", "postcode": "NE15 9TP", "phase": "Secondary"},
    ])
    event = {"kind": "graded", "n_sources": 1, "n_conflicts": 0, "source_files": ["history.csv"]}
    _insert(con, "core.events", [
        {**event, "event_id": "E1", "urn": 108524, "school_name": None, "start_date": dt.date(2014, 5, 20)},
        {**event, "event_id": "E2", "urn": 148135, "school_name": "Walbottle Academy", "start_date": dt.date(2023, 1, 10)},
        {**event, "event_id": "E3", "urn": 100001, "school_name": "Old Mill Infants", "start_date": dt.date(2008, 3, 1)},
    ])
    _insert(con, "core.gias_links", [
        {"file_id": 2, "urn": 108524, "link_urn": 148135, "link_name": "Walbottle Academy", "link_type": "Successor", "n_files": 1},
        {"file_id": 2, "urn": 148135, "link_urn": 108524, "link_name": "Walbottle Campus", "link_type": "Predecessor", "n_files": 1},
    ])
    con.execute("USE wh")  # out.school_latest as the build derives it
    derive_school_latest(con)
    con.execute("USE memory")
    for sql in search.index_sql(has_links=True):
        con.execute(sql)
    return Db(con)


def test_open_schools_come_first_and_keep_their_details(db: Db) -> None:
    hits = search.search(db, "walbottle")
    assert [(h.urn, h.closed) for h in hits] == [(148135, False), (108524, True)]
    assert hits[0].postcode == "NE15 9TP"


def test_closed_predecessor_is_found_by_name_and_urn_with_its_successor(db: Db) -> None:
    (hit,) = search.search(db, "Walbottle Campus")
    assert (hit.urn, hit.closed, hit.successor_urn, hit.successor_name) == (108524, True, 148135, "Walbottle Academy")
    assert [h.urn for h in search.search(db, "108524")] == [108524]


def test_a_school_named_only_by_its_inspections_is_found(db: Db) -> None:
    (hit,) = search.search(db, "old mill")
    assert (hit.urn, hit.closed, hit.successor_urn) == (100001, True, None)


def test_misspelling_suggests_the_name(db: Db) -> None:
    assert search.search(db, "Cavershem") == []
    assert search.suggest(db, "Cavershem") == "caversham"
    assert search.suggest(db, "cavershem primary") == "caversham primary"
    assert search.suggest(db, "Walbotle Campus") == "walbottle campus"


def test_no_suggestion_for_a_right_spelling_or_nonsense(db: Db) -> None:
    assert search.suggest(db, "Caversham") is None  # already right: nothing to suggest
    assert search.suggest(db, "Zzyzxqj") is None
    assert search.suggest(db, "123456") is None
    assert search.suggest(db, "") is None
