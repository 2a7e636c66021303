"""Working days in England: bank holidays, conventions, and scalar/vectorised agreement.

Every expected count below is worked out by hand in the comment above it,
listing the days after ``start`` up to and including ``end``.
"""

from __future__ import annotations

import datetime as dt
import random

import holidays
import polars as pl
import pytest

from evenhand.derive.calendar import (
    add_working_days,
    add_working_days_column,
    bank_holidays,
    calendar_source,
    is_working_day,
    working_days_between,
)

D = dt.date


# --- Christmas and New Year, including weekend Christmases with substitute days ---


def test_christmas_2021_substitute_days_move_to_monday_and_tuesday() -> None:
    # Christmas Day 2021 is a Saturday and Boxing Day a Sunday, so the bank
    # holidays are Mon 27 and Tue 28 December.
    # After Fri 24 Dec up to Fri 31 Dec: Sat 25 -, Sun 26 -, Mon 27 hol, Tue 28 hol,
    # Wed 29 +, Thu 30 +, Fri 31 +  => 3
    assert working_days_between(D(2021, 12, 24), D(2021, 12, 31)) == 3
    assert not is_working_day(D(2021, 12, 27))
    assert not is_working_day(D(2021, 12, 28))
    assert is_working_day(D(2021, 12, 29))


def test_christmas_2021_into_new_year_2022_observed_on_monday_3_january() -> None:
    # New Year's Day 2022 is a Saturday; the bank holiday is Mon 3 Jan.
    # After Fri 24 Dec 2021 up to Tue 4 Jan 2022: Wed 29, Thu 30, Fri 31 (3),
    # Sat 1 -, Sun 2 -, Mon 3 hol, Tue 4 +  => 4
    assert working_days_between(D(2021, 12, 24), D(2022, 1, 4)) == 4


def test_christmas_2022_sunday_christmas_moves_to_tuesday_27() -> None:
    # Christmas Day 2022 is a Sunday: Boxing Day Mon 26, Christmas (substitute) Tue 27;
    # New Year's Day 2023 is a Sunday: substitute Mon 2 Jan.
    # After Fri 23 Dec 2022 up to Fri 6 Jan 2023:
    # Sat 24 -, Sun 25 -, Mon 26 hol, Tue 27 hol, Wed 28 +, Thu 29 +, Fri 30 +,
    # Sat 31 -, Sun 1 -, Mon 2 hol, Tue 3 +, Wed 4 +, Thu 5 +, Fri 6 +  => 7
    assert working_days_between(D(2022, 12, 23), D(2023, 1, 6)) == 7


def test_christmas_2020_boxing_day_saturday_moves_to_monday_28() -> None:
    # Christmas Day 2020 is a Friday, Boxing Day a Saturday (substitute Mon 28).
    # After Thu 24 Dec up to Thu 31 Dec: Fri 25 hol, Sat 26 -, Sun 27 -, Mon 28 hol,
    # Tue 29 +, Wed 30 +, Thu 31 +  => 3
    assert working_days_between(D(2020, 12, 24), D(2020, 12, 31)) == 3


# --- Easter ---


def test_easter_2023_good_friday_and_easter_monday() -> None:
    # Good Friday 7 April 2023, Easter Monday 10 April 2023.
    # After Thu 6 Apr up to Wed 12 Apr: Fri 7 hol, Sat 8 -, Sun 9 -, Mon 10 hol,
    # Tue 11 +, Wed 12 +  => 2
    assert working_days_between(D(2023, 4, 6), D(2023, 4, 12)) == 2
    assert not is_working_day(D(2023, 4, 7))
    assert not is_working_day(D(2023, 4, 10))


def test_easter_2023_over_a_month() -> None:
    # After Wed 29 Mar 2023 up to Fri 28 Apr 2023:
    # Thu 30, Fri 31 Mar (2); Mon 3 - Thu 6 Apr (4) = 6; Fri 7 and Mon 10 hol;
    # Tue 11 - Fri 14 (4) = 10; 17-21 (5) = 15; 24-28 (5) = 20  => 20
    assert working_days_between(D(2023, 3, 29), D(2023, 4, 28)) == 20


# --- moved and one-off bank holidays ---


def test_ve_day_2020_early_may_holiday_moved_to_friday_8_may() -> None:
    # In 2020 the early May bank holiday moved from Mon 4 May to Fri 8 May (VE Day 75).
    # After Fri 1 May up to Fri 8 May: Mon 4 +, Tue 5 +, Wed 6 +, Thu 7 +, Fri 8 hol  => 4
    assert working_days_between(D(2020, 5, 1), D(2020, 5, 8)) == 4
    assert is_working_day(D(2020, 5, 4))
    assert not is_working_day(D(2020, 5, 8))


def test_platinum_jubilee_2022_spring_holiday_moved_to_2_june_plus_3_june() -> None:
    # 2022: the spring bank holiday moved from Mon 30 May to Thu 2 June, and Fri
    # 3 June was the Platinum Jubilee bank holiday.
    # After Fri 27 May up to Fri 10 Jun: Mon 30 +, Tue 31 +, Wed 1 +, Thu 2 hol,
    # Fri 3 hol, Sat 4 -, Sun 5 -, Mon 6 - Fri 10 (5)  => 3 + 5 = 8
    assert working_days_between(D(2022, 5, 27), D(2022, 6, 10)) == 8
    assert is_working_day(D(2022, 5, 30))
    assert not is_working_day(D(2022, 6, 2))
    assert not is_working_day(D(2022, 6, 3))


def test_state_funeral_19_september_2022() -> None:
    # The state funeral of Queen Elizabeth II, Mon 19 Sep 2022, was a bank holiday.
    # After Fri 16 Sep up to Fri 23 Sep: Sat -, Sun -, Mon 19 hol, Tue 20 - Fri 23 (4)  => 4
    assert working_days_between(D(2022, 9, 16), D(2022, 9, 23)) == 4
    assert not is_working_day(D(2022, 9, 19))


def test_coronation_8_may_2023_and_early_may_1_may_2023() -> None:
    # Early May bank holiday Mon 1 May 2023 and coronation bank holiday Mon 8 May 2023.
    # After Fri 28 Apr up to Fri 12 May: Mon 1 hol, Tue 2 - Fri 5 (4), Mon 8 hol,
    # Tue 9 - Fri 12 (4)  => 8
    assert working_days_between(D(2023, 4, 28), D(2023, 5, 12)) == 8
    assert not is_working_day(D(2023, 5, 8))


# --- conventions ---


def test_same_day_is_zero_and_next_working_day_is_one() -> None:
    # An inspection ending Thu 12 Jan 2023 and published the same day: 0.
    assert working_days_between(D(2023, 1, 12), D(2023, 1, 12)) == 0
    # Published Fri 13 Jan: one working day after the end  => 1
    assert working_days_between(D(2023, 1, 12), D(2023, 1, 13)) == 1
    # Published Mon 16 Jan: Fri 13 +, Sat -, Sun -, Mon 16 +  => 2
    assert working_days_between(D(2023, 1, 12), D(2023, 1, 16)) == 2


def test_start_on_a_weekend_does_not_count_itself() -> None:
    # After Sat 14 Jan 2023 up to Mon 16 Jan: Sun -, Mon 16 +  => 1
    assert working_days_between(D(2023, 1, 14), D(2023, 1, 16)) == 1
    # After Sat 14 up to Sun 15: nothing  => 0
    assert working_days_between(D(2023, 1, 14), D(2023, 1, 15)) == 0


def test_end_before_start_is_negative_and_antisymmetric() -> None:
    # Reverse of the Easter 2023 case above (2 working days)  => -2
    assert working_days_between(D(2023, 4, 12), D(2023, 4, 6)) == -2
    rng = random.Random(7)
    for _ in range(200):
        a = D(2019, 1, 1) + dt.timedelta(days=rng.randrange(2000))
        b = D(2019, 1, 1) + dt.timedelta(days=rng.randrange(2000))
        c = D(2019, 1, 1) + dt.timedelta(days=rng.randrange(2000))
        assert working_days_between(a, b) == -working_days_between(b, a)
        assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)


def test_datetime_arguments_use_their_date() -> None:
    # Same as Easter 2023 (2), with times of day attached.
    assert working_days_between(dt.datetime(2023, 4, 6, 17), dt.datetime(2023, 4, 12, 9)) == 2


def test_dates_outside_the_library_years_raise() -> None:
    with pytest.raises(ValueError, match="outside the years"):
        working_days_between(D(1800, 1, 1), D(1800, 2, 1))
    with pytest.raises(ValueError, match="outside the years"):
        is_working_day(D(2150, 1, 1))


def test_wrong_types_raise() -> None:
    with pytest.raises(TypeError):
        working_days_between("2023-01-01", D(2023, 1, 2))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        add_working_days(D(2023, 1, 2), 1.5)  # type: ignore[arg-type]


def test_brute_force_day_by_day_agrees() -> None:
    # Independent reference: walk the calendar one day at a time with the
    # holidays library directly (no numpy busday arithmetic).
    eng = holidays.country_holidays("GB", subdiv="ENG", years=range(2004, 2032))

    def reference(a: dt.date, b: dt.date) -> int:
        lo, hi, sign = (a, b, 1) if a <= b else (b, a, -1)
        n = 0
        d = lo + dt.timedelta(days=1)
        while d <= hi:
            if d.weekday() < 5 and d not in eng:
                n += 1
            d += dt.timedelta(days=1)
        return sign * n

    rng = random.Random(11)
    for _ in range(150):
        a = D(2005, 1, 1) + dt.timedelta(days=rng.randrange(9000))
        b = a + dt.timedelta(days=rng.randrange(-120, 120))
        assert working_days_between(a, b) == reference(a, b), (a, b)


# --- add_working_days ---


def test_add_working_days_examples() -> None:
    # 1 working day after Thu 6 Apr 2023: Fri 7 hol, Mon 10 hol  => Tue 11 Apr
    assert add_working_days(D(2023, 4, 6), 1) == D(2023, 4, 11)
    # 1 working day after Sat 24 Dec 2022: Mon 26, Tue 27 hol  => Wed 28 Dec
    assert add_working_days(D(2022, 12, 24), 1) == D(2022, 12, 28)
    # 1 working day before Wed 28 Dec 2022: Tue 27, Mon 26 hol, weekend  => Fri 23 Dec
    assert add_working_days(D(2022, 12, 28), -1) == D(2022, 12, 23)
    # 1 working day before Sat 14 Jan 2023  => Fri 13 Jan
    assert add_working_days(D(2023, 1, 14), -1) == D(2023, 1, 13)
    # 0 returns the date itself, even on a weekend
    assert add_working_days(D(2023, 1, 14), 0) == D(2023, 1, 14)
    # 20 working days after Wed 29 Mar 2023 (see the Easter month test)  => Fri 28 Apr
    assert add_working_days(D(2023, 3, 29), 20) == D(2023, 4, 28)


def test_add_working_days_inverts_working_days_between() -> None:
    rng = random.Random(3)
    for _ in range(300):
        d = D(2005, 1, 1) + dt.timedelta(days=rng.randrange(9000))
        n = rng.randrange(0, 400)
        e = add_working_days(d, n)
        assert working_days_between(d, e) == n
        if n > 0:
            assert is_working_day(e)
            # earliest such date: the day before has one fewer
            assert working_days_between(d, e - dt.timedelta(days=1)) == n - 1
        if is_working_day(d) and n > 0:
            back = add_working_days(d, -n)
            assert is_working_day(back)
            assert working_days_between(back, d) == n


# --- vectorised column ---


def test_column_agrees_with_scalar_on_random_pairs() -> None:
    rng = random.Random(2024)
    starts: list[dt.date] = []
    ends: list[dt.date] = []
    for _ in range(400):
        a = D(2005, 1, 1) + dt.timedelta(days=rng.randrange(365 * 25))
        # mostly realistic delays, some long spans and some negative ones
        span = rng.choice([rng.randrange(0, 90), rng.randrange(-30, 0), rng.randrange(0, 3000)])
        starts.append(a)
        ends.append(a + dt.timedelta(days=span))
    df = pl.DataFrame({"end": starts, "published": ends})
    out = add_working_days_column(df, "end", "published", "delay")
    assert out.get_column("delay").dtype == pl.Int32
    expected = [working_days_between(a, b) for a, b in zip(starts, ends, strict=True)]
    assert out.get_column("delay").to_list() == expected
    assert out.select("end", "published").equals(df)


def test_column_named_cases_match_hand_counts() -> None:
    df = pl.DataFrame(
        {
            "s": [D(2021, 12, 24), D(2020, 5, 1), D(2022, 5, 27), D(2023, 4, 28), D(2023, 4, 12)],
            "e": [D(2022, 1, 4), D(2020, 5, 8), D(2022, 6, 10), D(2023, 5, 12), D(2023, 4, 6)],
        }
    )
    # hand counts from the tests above: 4, 4, 8, 8 and the negative Easter case -2
    out = add_working_days_column(df, "s", "e", "n")
    assert out.get_column("n").to_list() == [4, 4, 8, 8, -2]


def test_column_nulls_in_give_nulls_out() -> None:
    df = pl.DataFrame(
        {
            "s": [D(2023, 4, 6), None, D(2023, 4, 6), None],
            "e": [D(2023, 4, 12), D(2023, 4, 12), None, None],
        },
        schema={"s": pl.Date, "e": pl.Date},
    )
    out = add_working_days_column(df, "s", "e", "n")
    assert out.get_column("n").to_list() == [2, None, None, None]


def test_column_all_null_and_empty_frames() -> None:
    all_null = pl.DataFrame(
        {"s": [None, None], "e": [None, None]}, schema={"s": pl.Date, "e": pl.Date}
    )
    out = add_working_days_column(all_null, "s", "e", "n")
    assert out.get_column("n").to_list() == [None, None]
    assert out.get_column("n").dtype == pl.Int32
    empty = all_null.clear()
    assert add_working_days_column(empty, "s", "e", "n").height == 0


def test_column_accepts_datetimes_and_rejects_strings() -> None:
    df = pl.DataFrame({"s": [dt.datetime(2023, 4, 6, 15)], "e": [dt.datetime(2023, 4, 12, 8)]})
    assert add_working_days_column(df, "s", "e", "n").get_column("n").to_list() == [2]
    bad = pl.DataFrame({"s": ["2023-04-06"], "e": [D(2023, 4, 12)]})
    with pytest.raises(TypeError, match="'s'"):
        add_working_days_column(bad, "s", "e", "n")
    with pytest.raises(KeyError, match="'missing'"):
        add_working_days_column(bad, "missing", "e", "n")


# --- England and Wales, provenance ---


def test_wales_has_the_same_bank_holidays_as_england() -> None:
    years = range(2000, 2036)
    eng = holidays.country_holidays("GB", subdiv="ENG", years=years)
    wls = holidays.country_holidays("GB", subdiv="WLS", years=years)
    assert set(eng) == set(wls)


def test_bank_holidays_lists_named_days() -> None:
    days = dict(bank_holidays(2022, 2023))
    assert D(2022, 6, 3) in days and "Jubilee" in days[D(2022, 6, 3)]
    assert D(2022, 9, 19) in days
    assert D(2023, 5, 8) in days
    assert "holidays" in calendar_source() and holidays.__version__ in calendar_source()


def test_column_with_one_date_missing_outside_the_range_of_complete_rows() -> None:
    # a row with only a start date far outside the complete rows' span must not break the index
    df = pl.DataFrame(
        {"s": [dt.date(2023, 1, 3), dt.date(1999, 1, 1), None], "e": [dt.date(2023, 1, 10), None, dt.date(2031, 6, 1)]}
    )
    out = add_working_days_column(df, "s", "e", "n")
    assert out["n"].to_list() == [5, None, None]
