"""out.timing: our use of the working-day calendar (the calendar itself is tested by its author).

Expected counts are worked out by hand: working days after the first date up to and
including the second, Monday to Friday, less England and Wales bank holidays.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from tiny_warehouse import GOOD, D, Tiny, rows

from evenhand.derive.pipeline import derive_all


@pytest.fixture
def timing(tmp_path: Path) -> dict[str, dict[str, object]]:
    t = Tiny(tmp_path / "w.duckdb")
    # Christmas 2022: Christmas Day and Boxing Day fall on Sun/Mon, so Mon 26 and Tue 27
    # December and Mon 2 January 2023 are bank holidays
    t.event("XMAS", 100001, D(2022, 12, 13), GOOD, published=D(2023, 1, 10))
    # Easter 2023: Good Friday 7 April, Easter Monday 10 April; a two-day inspection
    t.event("EASTER", 100002, D(2023, 3, 28), GOOD, end=D(2023, 3, 29), published=D(2023, 4, 18))
    # 2022 spring bank holiday moved to Thursday 2 June, Platinum Jubilee Friday 3 June
    t.event("JUBILEE", 100003, D(2022, 5, 31), GOOD, published=D(2022, 6, 7))
    t.event("NOPUB", 100004, D(2023, 5, 2), GOOD)
    t.event("BAD", 100005, D(2023, 5, 2), GOOD, published=D(2023, 4, 28))
    t.school(100001, D(2023, 8, 31)).school(100002, D(2023, 8, 31))
    con: duckdb.DuckDBPyConnection = t.write()
    derive_all(con)
    return {r["event_id"]: r for r in rows(con, "SELECT * FROM out.timing")}


def test_publication_delay_across_christmas(timing: dict[str, dict[str, object]]) -> None:
    r = timing["XMAS"]
    # Dec 14-16 (3), 19-23 (5), 28-30 (3), Jan 3-6 (4), 9-10 (2)
    assert (r["start_to_publication_days"], r["start_to_publication_working_days"]) == (28, 17)
    assert r["inspection_length_days"] is None and r["end_to_publication_working_days"] is None


def test_publication_delay_across_easter_from_start_and_end(timing: dict[str, dict[str, object]]) -> None:
    r = timing["EASTER"]
    assert r["inspection_length_days"] == 2
    # Mar 29-31 (3), Apr 3-6 (4), 11-14 (4), 17-18 (2); from the end, 29 March is not counted
    assert (r["start_to_publication_days"], r["start_to_publication_working_days"]) == (21, 13)
    assert (r["end_to_publication_days"], r["end_to_publication_working_days"]) == (20, 12)


def test_moved_bank_holiday(timing: dict[str, dict[str, object]]) -> None:
    # 1 June, 6 June, 7 June
    assert timing["JUBILEE"]["start_to_publication_working_days"] == 3


def test_missing_and_impossible_dates(timing: dict[str, dict[str, object]]) -> None:
    assert timing["NOPUB"]["start_to_publication_working_days"] is None
    assert timing["BAD"]["published_before_start"] is True
    # negative, not zero: minus the working days after 28 April up to 2 May 2023 (1 May is a bank holiday)
    assert timing["BAD"]["start_to_publication_working_days"] == -1


def test_age_of_latest_graded_judgement(timing: dict[str, dict[str, object]]) -> None:
    assert timing["XMAS"]["as_at"] == D(2023, 8, 31)
    assert timing["XMAS"]["latest_graded_for_urns"] == 1
    assert timing["XMAS"]["age_of_latest_graded_days"] == (D(2023, 8, 31) - D(2022, 12, 13)).days
    assert timing["JUBILEE"]["age_of_latest_graded_days"] is None  # 100003 is not open
