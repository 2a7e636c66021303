"""One definition per fact, on the warehouse of ../shared/data: for the schools whose reports
carry a flag, and a seeded sample of the others, the national audits (as at the newest national
snapshot) list exactly the events the school reports flag, and each audit's count is its list."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from one_definition import FLAG_KEYS, disagreements, national, open_read_only, reports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(shared_warehouse: Path) -> Path:
    return shared_warehouse


def test_national_audits_and_school_reports_agree(warehouse: Path) -> None:
    con = open_read_only(warehouse)
    try:
        nat = national(con)
        assert nat.as_at == dt.date(2025, 8, 31)  # the newest national snapshot, not the Leeds-only file
        urn_of = dict(con.execute("SELECT event_id, urn FROM core.events").fetchall())
        rng = random.Random(10)
        urns: set[int] = {urn_of[e] for k in ("safeguarding_limited", "safeguarding_not_met") for e in nat.events[k]}
        for key in ("cliff_edge", "publication_delay"):
            urns |= set(rng.sample(sorted({urn_of[e] for e in nat.events[key]}), 25))
        every = [int(r[0]) for r in con.execute("SELECT DISTINCT urn FROM core.schools ORDER BY 1").fetchall()]
        urns |= set(rng.sample(every, 40)) | {109778}
        rep = reports(con, sorted(urns), nat.as_at)
    finally:
        con.close()
    assert disagreements(nat, rep) == []
    for key in FLAG_KEYS:
        assert nat.counts[key] == len(nat.events[key]), key
    # every safeguarding-limited judgement in the national count is flagged on a school's report
    assert rep.all_flagged("safeguarding_limited") == nat.events["safeguarding_limited"]
    assert nat.counts["safeguarding_limited"] > 0 and nat.counts["cliff_edge"] > 0 and nat.counts["publication_delay"] > 0
    # Caversham's inspection of November 2022 is safeguarding-limited in both
    assert rep.flagged[109778]["safeguarding_limited"] and rep.flagged[109778]["safeguarding_limited"] <= nat.events["safeguarding_limited"]
