"""A small fixture warehouse for the report tests: official-layout files written here, built
by the real pipeline. Rows are invented (Caversham-like row from tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

from evenhand.core.pipeline import build_warehouse
from helpers import caversham_like, csv_text, graded, os_headers, previous, school, write

SCRIPT_URN = 100001
SCRIPT_NAME = '<script>alert(1)</script> & "Sons"'
FROZEN = "GENERATED-AT"


def build_fixture_warehouse(tmp: Path) -> Path:
    rows = [caversham_like(109778)]
    hostile = school(SCRIPT_URN, SCRIPT_NAME, **{"Local authority": "<b>Bold</b> & Co", "Total number of pupils": "380"})
    hostile.update(graded("10300001", "10/10/2023", "06/11/2023", "3"))
    hostile.update(previous("10200001", "01/03/2018", "30/03/2018", "2"))
    rows.append(hostile)
    grades = ["1", "2", "2", "2", "3", "2", "4", "2"]
    for i, g in enumerate(grades):
        urn = 100010 + i
        r = school(urn, f"Fixture Primary {i}", **{"Total number of pupils": str(300 + 15 * i)})
        r.update(graded(f"1031000{i}", "12/01/2024", "20/02/2024", g))
        rows.append(r)
    raw = tmp / "raw"
    write(raw / "official_as-at-2025-08-31.csv", csv_text(os_headers(), rows))
    write(raw / "history.csv", "urn,inspection_date,overall_effectiveness\n109778,2009-02-26,1\n100001,2012-05-01,2\n")
    wh = tmp / "evenhand.duckdb"
    build_warehouse(raw, wh)
    return wh
