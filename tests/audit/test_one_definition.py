"""One definition per fact, on a synthetic nation built through the official files: the national
audits' counts and lists of safeguarding-limited judgements, report cards with safeguarding not
met, cliff-edge drops and reports published beyond their target are exactly the events the
school reports flag (every school of the nation is reported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evenhand.core.pipeline import build_warehouse
from evenhand.demo import write_official_files
from evenhand.simulate import simulate_nation
from evenhand.simulate.nation import NationParams
from one_definition import FLAG_KEYS, disagreements, national, open_read_only, reports


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("one-definition")
    # more safeguarding-limited inadequate judgements than the default, so a small nation has several
    nation = simulate_nation(160, 11, NationParams(safeguarding_limited_given_inadequate=0.6))
    write_official_files(nation, tmp / "raw")
    build_warehouse(tmp / "raw", tmp / "w.duckdb")
    return tmp / "w.duckdb"


def test_national_counts_equal_the_flags_of_the_school_reports(warehouse: Path) -> None:
    con = open_read_only(warehouse)
    try:
        nat = national(con)
        urns = [int(r[0]) for r in con.execute("SELECT DISTINCT urn FROM core.events ORDER BY 1").fetchall()]
        rep = reports(con, urns, nat.as_at)
    finally:
        con.close()
    assert disagreements(nat, rep) == []
    for key in FLAG_KEYS:
        # every event the audits list is flagged by some school's report, and the headline count is that list
        assert rep.all_flagged(key) == nat.events[key], key
        assert nat.counts[key] == len(nat.events[key]), key
    # the comparison is not empty: the nation has each fact the build derives (no report cards: none not met)
    assert all(nat.counts[k] > 0 for k in ("safeguarding_limited", "cliff_edge", "publication_delay")), nat.counts
