"""The school-holiday map and term-time working days."""

from __future__ import annotations

import datetime as dt

import polars as pl

from evenhand.derive.calendar import (
    _easter,
    add_term_working_days_column,
    add_working_days_column,
    school_holiday_limits,
    school_holiday_periods,
)


def test_easter_dates() -> None:
    assert [_easter(y) for y in (2019, 2022, 2024, 2025)] == [
        dt.date(2019, 4, 21), dt.date(2022, 4, 17), dt.date(2024, 3, 31), dt.date(2025, 4, 20)]


def test_periods_of_2023() -> None:
    p = {h: (a, b) for h, a, b in school_holiday_periods(2023)}
    assert p["summer"] == (dt.date(2023, 7, 22), dt.date(2023, 9, 1))
    assert p["christmas"] == (dt.date(2023, 12, 21), dt.date(2024, 1, 3))
    assert p["october_half_term"] == (dt.date(2023, 10, 23), dt.date(2023, 10, 27))  # Mon-Fri week of 27 Oct
    assert p["may_half_term"] == (dt.date(2023, 5, 29), dt.date(2023, 6, 2))  # spring bank holiday week
    assert p["february_half_term"] == (dt.date(2023, 2, 13), dt.date(2023, 2, 17))
    assert p["easter"] == (dt.date(2023, 3, 31), dt.date(2023, 4, 17))
    assert "local authority" in school_holiday_limits()


def test_term_working_days_leave_out_the_summer() -> None:
    df = pl.DataFrame({"s": [dt.date(2023, 7, 10), dt.date(2023, 3, 6), None],
                       "e": [dt.date(2023, 9, 8), dt.date(2023, 3, 10), dt.date(2023, 3, 10)]})
    out = add_term_working_days_column(add_working_days_column(df, "s", "e", "wd"), "s", "e", "twd")
    # 10 July -> 8 September 2023: 43 working days (28 August bank holiday); in term: 11-21 July (9) + 4-8 Sept (5)
    assert out["wd"].to_list()[:2] == [43, 4]
    assert out["twd"].to_list() == [14, 4, None]
