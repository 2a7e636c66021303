"""Every school the warehouse of ../shared/data names has a dashboard page: a seeded sample of
the schools known only from their inspections (closed, with no row in any school-level file;
8,711 of 31,732 on the shared data) and of the others, each answered 200 with the school's
name (or its fallback, "URN N") in the title, as the CLI's report names it."""

from __future__ import annotations

import random
import re
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from evenhand.engine import Evenhand
from evenhand.web import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(shared_warehouse: Path) -> Path:
    return shared_warehouse


def _urns(warehouse: Path) -> tuple[list[int], list[int]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        only = [r[0] for r in con.execute(
            "SELECT DISTINCT urn FROM core.events WHERE urn NOT IN (SELECT urn FROM core.schools) ORDER BY 1").fetchall()]
        listed = [r[0] for r in con.execute(
            "SELECT DISTINCT urn FROM core.events WHERE urn IN (SELECT urn FROM core.schools) ORDER BY 1").fetchall()]
    finally:
        con.close()
    rng = random.Random(13)
    return rng.sample(only, 40), rng.sample(listed, 20)


def test_schools_known_only_from_their_inspections_have_pages(warehouse: Path) -> None:
    only, listed = _urns(warehouse)
    assert len(only) == 40  # the shared data has thousands of them: the sample is not empty
    with Evenhand(warehouse) as eh:
        names = {u: eh.school_report(u, format="data")["school"]["name"] for u in only + listed}
    with TestClient(create_app(warehouse), raise_server_exceptions=True) as client:
        for urn in only + listed:
            r = client.get(f"/school/{urn}")
            assert r.status_code == 200, urn
            title = re.search(r"<title>(.*?) · Evenhand</title>", r.text)
            assert title is not None, urn
            assert title.group(1) == str(escape(names[urn])), urn
            links = set(re.findall(rf'(?:src|href)="(/school/{urn}/[^"]*)"', r.text))
            assert f"/school/{urn}/history.json" in links, urn
            for link in links - {f"/school/{urn}/report.pdf"}:  # every chart and file the page links to
                assert client.get(link.replace("&amp;", "&")).status_code == 200, link
        pdf = client.get(f"/school/{only[0]}/report.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), only[0]


def test_a_school_no_file_names_is_not_summarised_by_its_urn_twice(warehouse: Path) -> None:
    """1,515 closed schools are known only from inspections that give no name: the summary says
    no file names them (it used to read "URN 133285 has URN 133285."); a named one keeps its name."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        nameless = [r[0] for r in con.execute("""
            SELECT DISTINCT urn FROM core.events WHERE urn NOT IN (SELECT urn FROM core.schools)
            AND urn NOT IN (SELECT urn FROM core.events WHERE school_name IS NOT NULL) ORDER BY urn LIMIT 5""").fetchall()]
        named = con.execute("SELECT urn, school_name FROM core.events WHERE school_name IS NOT NULL AND urn NOT IN (SELECT urn FROM core.schools) ORDER BY urn LIMIT 1").fetchall()[0]
    finally:
        con.close()
    assert nameless
    eh = Evenhand(warehouse)
    try:
        for urn in nameless:
            first = eh.school_report(urn, format="data")["summary"][0]
            assert first == f"No file Evenhand holds gives the name, phase, type or local authority of URN {urn}.", first
        first = eh.school_report(named[0], format="data")["summary"][0]
        assert first.startswith(str(named[1])) and f"URN {named[0]}" in first, first
    finally:
        eh.close()
