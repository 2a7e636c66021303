"""A small warehouse for the headline, timing and consequences audit tests, built by the real
pipeline from fixture files in the official layouts (tests/helpers.py writers).

Nine schools in a 2025 official-statistics file, one closed school in a 2024 file, a GIAS
link from 100016 to its academy successor 140006, and one from 100009 (still open) to 150009,
which is in no school-level file yet (a pending change of URN). Dates are Mondays a whole number of weeks
apart (away from bank holidays), so the working-day delays are 5 per week.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from evenhand.audit.result import AuditContext
from evenhand.core.pipeline import build_warehouse
from evenhand.core.warehouse import connect
from helpers import csv_text, graded, os_headers, previous, school, ungraded, write

AS_AT = dt.date(2025, 8, 31)
NJ = "Not judged"


def _row(urn: int, school_type: str, *blocks: dict[str, str]) -> dict[str, str]:
    row = school(urn, f"School {urn}", **{"Type of education": school_type})
    for b in blocks:
        row.update(b)
    return row


def _graded_eif24(number: str, start: str, published: str, qoe: str, ba: str, pd: str, lm: str) -> dict[str, str]:
    return graded(number, start, published, NJ, **{
        "Quality of education": qoe, "Behaviour and attitudes": ba, "Personal development": pd,
        "Effectiveness of leadership and management": lm,
    })


def rows_2025() -> list[dict[str, str]]:
    return [
        _row(100001, "Community School", _graded_eif24("10000001", "30/09/2024", "04/11/2024", "1", "2", "1", "2")),
        _row(140002, "Academy Converter", _graded_eif24("10000002", "07/10/2024", "25/11/2024", "3", "2", "2", "3")),
        _row(100003, "Voluntary Aided School", graded("10000003", "01/03/2018", "05/04/2018", "2"),
             ungraded("10000013", "13/01/2025", "10/02/2025", "Standards maintained")),
        _row(140004, "Free School", graded("10000004", "10/06/2021", "15/07/2021", "2"),
             ungraded("10000014", "03/03/2025", "31/03/2025", "Improved significantly")),
        _row(100005, "Foundation School", graded("10000005", "05/05/2016", "09/06/2016", "1")),
        _row(140006, "Academy Sponsor Led", _graded_eif24("10000006", "14/10/2024", "18/11/2024", "4", "3", "2", "4"),
             previous("10000016", "05/02/2018", "12/03/2018", "4", **{
                 "Previous category of concern": "SM",
                 "Does the previous graded inspection relate to the URN of the current school?": "No",
                 "URN at time of previous graded inspection": "100016",
                 "School name at time of previous graded inspection": "School 100016",
             })),
        _row(100007, "Community School", graded("10000007", "10/01/2022", "14/02/2022", "2"),
             ungraded("10000017", "23/09/2024", "04/11/2024", "Some aspects not as strong")),
        _row(100008, "Community School", graded("10000008", "01/10/2019", "05/11/2019", "3"),
             previous("10000018", "01/06/2017", "10/07/2017", "4")),
        _row(100009, "Community School", graded("10000009", "03/06/2024", "15/07/2024", "4", **{"Category of concern": "SM"})),
    ]


def rows_2024() -> list[dict[str, str]]:
    return [_row(100020, "Community School", graded("10000020", "08/05/2023", "12/06/2023", "4", **{"Category of concern": "SM"}))]


GIAS = (
    '"URN","LinkURN","LinkName","LinkType","LinkEstablishedDate"\r\n'
    '100016,140006,"School 140006","Successor","01-09-2019"\r\n'
    '140006,100016,"School 100016","Predecessor","01-09-2019"\r\n'
    '100009,150009,"School 150009","Successor","01-07-2025"\r\n'
)


def build(tmp: Path, gias: str = GIAS) -> Path:
    raw = tmp / "raw"
    write(raw / "official-stats_schools_as-at-2025-08-31.csv", csv_text(os_headers(), rows_2025()))
    write(raw / "official-stats_schools_as-at-2024-08-31.csv", csv_text(os_headers(), rows_2024()))
    write(raw / "gias_links_2025-04-22.csv", gias)
    wh = tmp / "wh.duckdb"
    build_warehouse(raw, wh)
    return wh


def context(wh: Path, as_at: dt.date = AS_AT) -> AuditContext:
    return AuditContext(con=connect(wh, read_only=True), as_at=as_at, seed=1)


_NATIONAL: dict[str, Path] = {}


def national_warehouse(tmp: Path) -> Path:
    """The warehouse of ../shared/data, built once per test session (about 15 s)."""
    from helpers import need_shared_data

    data = need_shared_data()
    if "wh" not in _NATIONAL:
        wh = tmp / "national.duckdb"
        build_warehouse(data, wh)
        _NATIONAL["wh"] = wh
    return _NATIONAL["wh"]
