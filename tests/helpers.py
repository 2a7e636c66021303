"""Small fixtures in the official layouts, written by the tests.

Headers are the published header rows of real files (the 2025 official statistics list ships
in src/evenhand/maps/; the report-card list is tests/fixtures/headers/*.txt)
(header names only; no data is copied). Rows are invented.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def headers(name: str) -> list[str]:
    return (FIXTURES / "headers" / f"{name}.txt").read_text(encoding="utf-8").splitlines()


def os_headers() -> list[str]:
    """Official statistics school-level file, 2025 layout (the header list the package ships
    for `evenhand demo`)."""
    from importlib import resources

    from evenhand.demo import HEADERS_FILE

    return resources.files("evenhand.maps").joinpath(HEADERS_FILE).read_text(encoding="utf-8").splitlines()


def mi_eif_headers() -> list[str]:
    """Monthly MI 'latest inspections', EIF layout (2019-2024): the official statistics columns
    without the year-specific warning-notice and chart columns, with inspection end dates."""
    out = []
    for h in os_headers():
        if h.startswith("Number of warning notices") or h.startswith("Current school type used for chart"):
            continue
        out.append(h)
        if h == "Inspection start date":
            out.append("Inspection end date")
        if h == "Previous inspection start date":
            out.append("Previous inspection end date")
    return out


def rc_headers() -> list[str]:
    """Monthly MI, report-card layout (from November 2025)."""
    return headers("ofsted_mi_report_card_2026")


def mi2019_headers() -> list[str]:
    """Monthly MI 'latest inspections', 2019-2020 wording ('section 8' and 'full' inspections):
    the 70 official columns of the 31 August 2020 release."""
    return headers("ofsted_mi_2019_2020")


def gias_appended_headers() -> list[str]:
    """The eight GIAS columns a third party appended to its copy of the 2020 MI file."""
    return headers("gias_columns_appended_2020")


def r_make_names(h: str) -> str:
    """A header as R's read.csv (make.names) writes it: every character other than a letter,
    digit, '.' or '_' becomes '.', and an 'X' goes before a leading digit."""
    out = re.sub(r"[^A-Za-z0-9._]", ".", h)
    return "X" + out if re.match(r"[0-9_]|\.[0-9]", out) else out


def r_dots(h: str) -> str:
    """A header as the 2020 MI copy has it (an R session replaced spaces with dots)."""
    return h.replace(" ", ".")


def pandas_snake(h: str) -> str:
    """A header as pandas users commonly rewrite it: lower case, spaces as underscores."""
    return re.sub(r"\s+", "_", h.strip().lower())


def excel_resave(h: str) -> str:
    """A header after a spreadsheet round trip: a non-breaking space and a trailing space."""
    return h.replace(" ", "\u00a0", 1) + " "


RESAVES = {"official": lambda h: h, "r_make_names": r_make_names, "r_dots": r_dots,
           "pandas_snake": pandas_snake, "excel": excel_resave}


def school(urn: int, name: str = "Test Primary School", **extra: str) -> dict[str, str]:
    base = {
        "URN": str(urn), "LAESTAB": "8702003", "School name": name, "Ofsted phase": "Primary",
        "Type of education": "Community School", "Ofsted region": "South East", "Region": "South East",
        "Local authority": "Reading", "Postcode": "RG4 7RA",
        "The income deprivation affecting children index (IDACI) quintile": "1",
        "Total number of pupils": "406",
    }
    base.update(extra)
    return base


def graded(number: str, start: str, published: str, oe: str = "2", **judgements: str) -> dict[str, str]:
    row = {
        "Inspection number of latest graded inspection": number, "Inspection type": "S5 Inspection",
        "Inspection type grouping": "S5 Inspection", "Event type grouping": "Schools - S5",
        "Inspection start date": start, "Publication date": published, "Overall effectiveness": oe,
        "Quality of education": "2", "Behaviour and attitudes": "2", "Personal development": "2",
        "Effectiveness of leadership and management": "2", "Safeguarding is effective?": "Yes",
        "Early years provision (where applicable)": "2", "Sixth form provision (where applicable)": "9",
    }
    row.update(judgements)
    return row


def previous(number: str, start: str, published: str, oe: str = "2", **extra: str) -> dict[str, str]:
    row = {
        "Previous inspection number": number, "Previous inspection start date": start,
        "Previous publication date": published, "Previous graded inspection overall effectiveness": oe,
        "Previous effectiveness of leadership and management": oe, "Previous safeguarding is effective?": "Yes",
    }
    row.update(extra)
    return row


def ungraded(number: str, start: str, published: str, outcome: str = "School remains Good") -> dict[str, str]:
    return {
        "Latest ungraded inspection number since last graded inspection": number,
        "Date of latest ungraded inspection": start, "Ungraded inspection publication date": published,
        "Ungraded inspection overall outcome": outcome,
        "Did the latest ungraded inspection convert to a graded inspection?": "No",
    }


def csv_text(header: list[str], rows: list[dict[str, str]], title: list[str] | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for t in title or []:
        w.writerow([t])
    w.writerow(header)
    unknown = {k for r in rows for k in r} - set(header)
    assert not unknown, f"fixture uses headers not in the layout: {unknown}"
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return buf.getvalue()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def caversham_like(urn: int = 109778) -> dict[str, str]:
    """One official-statistics row shaped like Caversham Primary's in the 2025 file."""
    row = school(urn, "Caversham Primary School")
    row.update(
        graded("10299286", "21/06/2023", "17/07/2023", "2",
               **{"Inspection type": "Schools with Serious Weaknesses Visit 1",
                  "Inspection type grouping": "Section 8 deemed section 5",
                  "Event type grouping": "Schools - S8 deemed S5"})
    )
    row.update(previous("10242325", "15/11/2022", "20/03/2023", "4", **{
        "Previous category of concern": "SWK", "Previous quality of education": "2.0",
        "Previous behaviour and attitudes": "2.0", "Previous personal development": "2.0",
        "Previous effectiveness of leadership and management": "4.0", "Previous safeguarding is effective?": "No",
        "Previous early years provision (where applicable)": "2.0", "Previous sixth form provision (where applicable)": "9.0",
    }))
    return row


def need_shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"integration data not found at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


def history(warehouse: Path, urn: int) -> dict[str, Any]:
    """One school's history JSON, through the one way in (evenhand.engine.Evenhand)."""
    from evenhand.engine import Evenhand

    with Evenhand(warehouse) as eh:
        return eh.history(urn)


def info(warehouse: Path) -> dict[str, Any]:
    """``evenhand info --json``, through the one way in."""
    from evenhand.engine import Evenhand

    with Evenhand(warehouse) as eh:
        return eh.info()
