"""What a school page shows on the real data, recomputed by the plain second route
(tests/derive/school_pages_plain.py) for a seeded sample of URNs: random schools, schools with
predecessors, merges and splits, report-card schools, and schools whose context over the years
has a measure and year given by several files or by several URNs of one file (the context rule).
Every part compared (events with their judgements, sources and conflicts; the lineage; the
context rows and files; the similar-school and report-card cells) equals the page's."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "derive"))
from school_pages_plain import Plain, differences

pytestmark = pytest.mark.integration


def _pick(con: duckdb.DuckDBPyConnection, sql: str, k: int, rng: random.Random) -> list[int]:
    """A seeded sample of the URNs ``sql`` gives that have a page (a school row or an inspection)."""
    urns = sorted(int(r[0]) for r in con.execute(f"SELECT urn FROM ({sql}) WHERE urn IN (SELECT urn FROM out.school_pages)").fetchall())
    return rng.sample(urns, min(k, len(urns)))


def sample(con: duckdb.DuckDBPyConnection) -> dict[str, list[int]]:
    rng = random.Random(13)
    return {
        "random": _pick(con, "SELECT urn FROM out.school_pages", 100, rng),
        "predecessors": _pick(con, "SELECT DISTINCT urn FROM out.predecessors", 25, rng),
        "merge or split": _pick(con, "SELECT urn FROM out.lineage WHERE merge OR split", 15, rng),
        "report card": _pick(con, "SELECT urn FROM core.events WHERE kind = 'report_card'", 5, rng),
        # a measure and year given by two files (final and provisional KS4 among them)
        "two files": _pick(con, """SELECT urn FROM core.context WHERE measure IN ('progress8', 'attainment8', 'pupils')
                                   GROUP BY urn, measure, academic_year HAVING count(DISTINCT file_id) > 1""", 15, rng),
        # a measure and year given by two URNs of one lineage in one file
        "two urns of one file": _pick(con, """SELECT l.urn FROM out.lineage l JOIN out.lineage m USING (lineage_id)
                                             JOIN core.context a ON a.urn = l.urn JOIN core.context b ON b.urn = m.urn
                                             WHERE l.urn <> m.urn AND a.file_id = b.file_id AND a.measure = b.measure
                                               AND a.academic_year = b.academic_year AND a.measure = 'pupils'""", 10, rng),
        "no school row": _pick(con, "SELECT urn FROM core.events WHERE urn NOT IN (SELECT urn FROM core.schools)", 10, rng),
    }


def test_sampled_pages_equal_the_plain_route(shared_warehouse: Path) -> None:
    con = duckdb.connect(str(shared_warehouse), read_only=True)
    try:
        groups = sample(con)
        assert all(groups.values()), {k: len(v) for k, v in groups.items()}
        urns = sorted({u for g in groups.values() for u in g})
        route = Plain(con, urns)
        assert route.page_urns() == {int(r[0]) for r in con.execute("SELECT urn FROM out.school_pages").fetchall()}
        diffs = differences(con, urns, route)
        assert not diffs, [(u, part) for u, part, _, _ in diffs][:20]
    finally:
        con.close()
