"""Working days in England (and Wales), for inspection timings.

A *working day* is a Monday to Friday that is not a bank holiday in England.
Bank holidays come from the maintained ``holidays`` library
(``holidays.country_holidays("GB", subdiv="ENG")``), never from a hand-typed
list, so substitute days (Christmas on a weekend), moved days (the early May
bank holiday on Friday 8 May 2020 for VE Day; the spring bank holiday on
Thursday 2 June 2022) and one-off days (Platinum Jubilee 3 June 2022, the state
funeral 19 September 2022, the coronation 8 May 2023) are all included.

Wales has exactly the same bank holidays as England (the library's ``WLS``
subdivision yields the same dates as ``ENG``; a test checks it), so these
functions serve both. Scotland and Northern Ireland differ and are not
covered; Evenhand audits schools in England.

Counting convention (used everywhere in Evenhand)::

    working_days_between(start, end) = number of working days d with start < d <= end

That is the number of working days *after* ``start`` up to and including
``end``: day 1 is the first working day after ``start``. Ofsted states its
publication targets in working days after the end of the inspection, so
``working_days_between(inspection_end, published)`` is the delay to compare
with such a target: a report published on the next working day after the
inspection ended counts 1; one published on the same day counts 0; and the
count does not depend on whether ``start`` itself is a working day.

If ``end`` is before ``start`` the count is negative:
``working_days_between(a, b) == -working_days_between(b, a)`` (and counts add
up: ``between(a, b) + between(b, c) == between(a, c)``). A negative delay in
the data therefore shows up as a negative number, not as zero.

Caveats: school holidays, the days between Christmas and New Year that are
not bank holidays, and any Ofsted-specific closure days are counted as working
days. One-off bank holidays announced after the installed ``holidays`` release
are missing for future dates; :func:`calendar_source` states the version used,
for the methods text. The library covers the years 1872 to 2100; dates outside
them raise ``ValueError`` rather than silently counting holidays as working
days.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Literal

import holidays
import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "add_working_days",
    "add_working_days_column",
    "bank_holidays",
    "calendar_source",
    "is_working_day",
    "working_days_between",
]

_COUNTRY = "GB"
_SUBDIV = "ENG"
_WEEKMASK = "1111100"  # Monday to Friday
_EPOCH = dt.date(1970, 1, 1)


def _year_range() -> tuple[int, int]:
    cls = holidays.country_holidays(_COUNTRY, subdiv=_SUBDIV).__class__
    return int(cls.start_year), int(cls.end_year)


_FIRST_YEAR, _LAST_YEAR = _year_range()


def calendar_source() -> str:
    """One sentence naming the holiday source and its version, for methods text."""
    return (
        "Working days are Monday to Friday excluding bank holidays in England and Wales, "
        f"from the python-holidays library version {holidays.__version__} "
        f"(country {_COUNTRY}, subdivision {_SUBDIV})."
    )


def _check_years(first: int, last: int) -> None:
    if first < _FIRST_YEAR or last > _LAST_YEAR:
        raise ValueError(
            f"dates in {first}-{last} are outside the years the holidays library covers "
            f"({_FIRST_YEAR}-{_LAST_YEAR}); working days cannot be counted there"
        )


@lru_cache(maxsize=256)
def _holidays(first_year: int, last_year: int) -> tuple[tuple[dt.date, str], ...]:
    _check_years(first_year, last_year)
    hols = holidays.country_holidays(
        _COUNTRY, subdiv=_SUBDIV, years=range(first_year, last_year + 1)
    )
    return tuple(sorted((d, str(name)) for d, name in hols.items()))


def bank_holidays(first_year: int, last_year: int) -> list[tuple[dt.date, str]]:
    """Bank holidays in England and Wales from ``first_year`` to ``last_year`` inclusive.

    Includes substitute ("observed") days and holidays that fall on a weekend.
    """
    if last_year < first_year:
        raise ValueError(f"last_year {last_year} is before first_year {first_year}")
    return list(_holidays(first_year, last_year))


@lru_cache(maxsize=256)
def _busdaycal(first_year: int, last_year: int) -> np.busdaycalendar:
    days = [d for d, _ in _holidays(first_year, last_year)]
    return np.busdaycalendar(weekmask=_WEEKMASK, holidays=np.array(days, dtype="datetime64[D]"))


def _calendar_for(*dates: dt.date) -> np.busdaycalendar:
    years = [d.year for d in dates]
    return _busdaycal(min(years), max(years))


def _as_date(d: dt.date, name: str) -> dt.date:
    if isinstance(d, dt.datetime):
        return d.date()
    if not isinstance(d, dt.date):
        raise TypeError(f"{name} must be a datetime.date, got {type(d).__name__}: {d!r}")
    return d


def is_working_day(d: dt.date) -> bool:
    """True if ``d`` is a Monday to Friday that is not an England and Wales bank holiday."""
    d = _as_date(d, "d")
    return bool(np.is_busday(np.datetime64(d, "D"), busdaycal=_calendar_for(d)))


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days ``d`` with ``start < d <= end``; negative if ``end`` is before ``start``.

    See the module docstring for the convention. ``start == end`` gives 0.
    """
    start = _as_date(start, "start")
    end = _as_date(end, "end")
    one = dt.timedelta(days=1)
    cal = _calendar_for(start, end)
    lo, hi, sign = (start, end, 1) if start <= end else (end, start, -1)
    # busday_count counts [begin, end), so shifting both ends by one day gives
    # (lo, hi]. (Its own negative counts for end < begin cover (end, begin],
    # not what we want, hence the explicit sign.)
    count = np.busday_count(
        np.datetime64(lo + one, "D"), np.datetime64(hi + one, "D"), busdaycal=cal
    )
    return sign * int(count)


def add_working_days(d: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``d`` (``n > 0``) or before it (``n < 0``); ``d`` if ``n == 0``.

    For ``n >= 0`` this inverts :func:`working_days_between`:
    ``working_days_between(d, add_working_days(d, n)) == n`` and the result is the
    earliest date with that count (a working day when ``n > 0``). For ``n < 0``
    and a working day ``d``, ``working_days_between(add_working_days(d, n), d) == -n``.
    ``d`` need not be a working day: one working day after a Saturday is the
    next Monday (if that is not a bank holiday) and one before it is the Friday.
    """
    d = _as_date(d, "d")
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"n must be an integer number of working days, got {n!r}")
    n = int(n)
    if n == 0:
        return d
    # At least 5 in 7 days minus about 10 holidays a year are working days, so
    # 2|n| + 30 calendar days either side always covers the answer.
    margin = dt.timedelta(days=2 * abs(n) + 30)
    lo = max(d - margin, dt.date(_FIRST_YEAR, 1, 1)) if n < 0 else d
    hi = min(d + margin, dt.date(_LAST_YEAR, 12, 31)) if n > 0 else d
    cal = _calendar_for(lo, hi)
    # For n > 0 a non-working d rolls back first (Saturday -> Friday, + 1 -> Monday);
    # for n < 0 it rolls forward (Saturday -> Monday, - 1 -> Friday).
    roll: Literal["backward", "forward"] = "backward" if n > 0 else "forward"
    out = np.busday_offset(np.datetime64(d, "D"), n, roll=roll, busdaycal=cal)
    result = out.item()
    assert isinstance(result, dt.date)
    _check_years(result.year, result.year)
    return result


def _as_date_series(s: pl.Series, name: str) -> pl.Series:
    if s.dtype == pl.Date:
        return s
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.date()
    if s.dtype == pl.Null:
        return s.cast(pl.Date)
    raise TypeError(f"column {name!r} must be a Date (or Datetime) column, got {s.dtype}")


def add_working_days_column(
    df: pl.DataFrame, start_col: str, end_col: str, out_col: str
) -> pl.DataFrame:
    """Add ``out_col`` (Int32) = :func:`working_days_between` of two date columns, row by row.

    Vectorised: one cumulative working-day index is built over the span of dates
    present (a few thousand days) and each row is two array look-ups, so 200,000
    rows take milliseconds. A null in either column gives a null count; ``end``
    before ``start`` gives a negative count. Datetime columns are truncated to
    their date. The frame is otherwise returned unchanged (same rows, same order).
    """
    for col in (start_col, end_col):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in frame (columns: {', '.join(df.columns)})")
    start = _as_date_series(df.get_column(start_col), start_col).to_physical().cast(pl.Int64)
    end = _as_date_series(df.get_column(end_col), end_col).to_physical().cast(pl.Int64)
    missing = start.is_null() | end.is_null()
    present = pl.concat([start.filter(~missing), end.filter(~missing)])
    if present.len() == 0:
        return df.with_columns(pl.lit(None, dtype=pl.Int32).alias(out_col))

    lo_raw, hi_raw = present.min(), present.max()
    assert isinstance(lo_raw, int) and isinstance(hi_raw, int)
    lo, hi = lo_raw, hi_raw
    lo_date = _EPOCH + dt.timedelta(days=lo)
    hi_date = _EPOCH + dt.timedelta(days=hi)
    cal = _calendar_for(lo_date, hi_date)
    # cum[k] = number of working days in [lo, lo + k), for k = 0 .. hi - lo + 1.
    days = np.arange(lo, hi + 1, dtype="int64").astype("datetime64[D]")
    cum = np.zeros(days.size + 1, dtype=np.int64)
    np.cumsum(np.is_busday(days, busdaycal=cal), out=cum[1:])
    # Working days in (s, e] = working days in [s + 1, e + 1) = cum[e + 1 - lo] - cum[s + 1 - lo].
    # rows missing either date may hold the other outside [lo, hi]: index them at lo (nulled below)
    s_idx = start.zip_with(~missing, pl.Series([lo] * len(start), dtype=pl.Int64)).to_numpy() - lo + 1
    e_idx = end.zip_with(~missing, pl.Series([lo] * len(end), dtype=pl.Int64)).to_numpy() - lo + 1
    counts = pl.Series(out_col, cum[e_idx] - cum[s_idx], dtype=pl.Int32)
    counts = pl.select(
        pl.when(pl.lit(missing)).then(None).otherwise(pl.lit(counts)).alias(out_col)
    ).to_series()
    return df.with_columns(counts)


# ----------------------------------------------------------------------------- school holidays

_SCHOOL_HOLIDAY_LIMITS = (
    "School holidays are the typical periods of maps/school_holidays.csv (Christmas, Easter, the three "
    "half terms and the summer break), the same for every school: term dates are set by each local "
    "authority or academy trust, so for a given school a holiday may fall a week earlier or later, "
    "and INSET days are not covered."
)


def school_holiday_limits() -> str:
    """One sentence stating what the school-holiday map is and is not, for methods text."""
    return _SCHOOL_HOLIDAY_LIMITS


def _easter(year: int) -> dt.date:
    """Easter Sunday (Gregorian; anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ll = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ll) // 451
    month = (h + ll - 7 * m + 114) // 31
    day = (h + ll - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def school_holiday_periods(year: int) -> list[tuple[str, dt.date, dt.date]]:
    """(holiday, first day, last day) of each typical school holiday that starts in ``year``,
    from maps/school_holidays.csv."""
    from evenhand import maps

    out: list[tuple[str, dt.date, dt.date]] = []
    for r in maps.school_holidays():
        lo, hi = int(r["first_offset_days"]), int(r["last_offset_days"])
        if r["rule"] == "fixed_date":
            anchor = dt.date(year, int(r["month"]), int(r["day"]))
        elif r["rule"] == "easter_sunday":
            anchor = _easter(year)
        elif r["rule"] == "week_containing":
            day = dt.date(year, int(r["month"]), int(r["day"]))
            if r["holiday"] == "may_half_term":  # the last Monday of May
                day = dt.date(year, 5, 31)
                day -= dt.timedelta(days=day.weekday())
            anchor = day - dt.timedelta(days=day.weekday())
        else:
            raise ValueError(f"maps/school_holidays.csv: holiday {r['holiday']!r} has unknown rule {r['rule']!r}")
        out.append((r["holiday"], anchor + dt.timedelta(days=lo), anchor + dt.timedelta(days=hi)))
    return out


@lru_cache(maxsize=64)
def _holiday_weekdays(first_year: int, last_year: int) -> npt.NDArray[np.datetime64]:
    days: set[dt.date] = set()
    for y in range(first_year - 1, last_year + 1):
        for _, a, b in school_holiday_periods(y):
            d = a
            while d <= b:
                if d.weekday() < 5:
                    days.add(d)
                d += dt.timedelta(days=1)
    return np.array(sorted(days), dtype="datetime64[D]")


def add_term_working_days_column(df: pl.DataFrame, start: str, end: str, out: str) -> pl.DataFrame:
    """Like :func:`add_working_days_column` but school holidays (maps/school_holidays.csv) are
    not counted either: working days in term time after ``start`` up to ``end``."""
    both = df.filter(pl.col(start).is_not_null() & pl.col(end).is_not_null())
    if both.height == 0:
        return df.with_columns(pl.lit(None, dtype=pl.Int64).alias(out))
    first = min(both[start].min(), both[end].min())  # type: ignore[type-var]
    last = max(both[start].max(), both[end].max())  # type: ignore[type-var]
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    bank = [d for d, _ in _holidays(first.year - 1, last.year + 1)]
    hol = np.concatenate([np.array(bank, dtype="datetime64[D]"), _holiday_weekdays(first.year, last.year)])
    cal = np.busdaycalendar(weekmask=_WEEKMASK, holidays=np.unique(hol))
    s = df[start].cast(pl.Date).to_numpy().astype("datetime64[D]")
    e = df[end].cast(pl.Date).to_numpy().astype("datetime64[D]")
    ok = ~(np.isnat(s) | np.isnat(e))
    res = np.zeros(len(df), dtype=np.int64)
    # count d with start < d <= end: busday_count counts [a, b), so shift both by one day
    res[ok] = np.busday_count(s[ok] + 1, e[ok] + 1, busdaycal=cal)
    counted = pl.Series(out, res, dtype=pl.Int64)
    return df.with_columns(pl.when(pl.Series(ok)).then(counted).otherwise(None).alias(out))
