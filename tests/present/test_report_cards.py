"""A report-card school is compared with report-card schools only, on the five-point scale and
in Ofsted's order of areas; with too few of them the report says so (issue 12)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from evenhand import maps
from evenhand.derive.pipeline import derive_all
from evenhand.present.report import school_html
from evenhand.present.school import REPORT_CARD_MIN_SCHOOLS, school_report_data

sys.path.insert(0, str(Path(__file__).parents[1] / "derive"))
from tiny_warehouse import GOOD, RI, D, Tiny

AREAS = ("inclusion", "curriculum_and_teaching", "achievement", "leadership_and_governance")


def nation(tmp: Path, n_report_cards: int) -> duckdb.DuckDBPyConnection:
    """Schools 100000.. each with a 2019 graded inspection; the first ``n_report_cards`` also
    have a December 2025 report card whose grades are known (school i: code 1 + i % 5)."""
    t = Tiny(tmp / "w.duckdb")
    for i in range(n_report_cards + 5):
        urn = 100000 + i
        t.school(urn, D(2025, 8, 31))
        t.event(f"G{i}", urn, D(2019, 5, 1), GOOD if i % 2 else RI)
        if i < n_report_cards:
            t.event(f"R{i}", urn, D(2025, 12, 1), None, kind="report_card")
            for area in AREAS:
                t.judge(f"R{i}", area, str(1 + (i + AREAS.index(area)) % 5), scale="report_card_5")
            t.judge(f"R{i}", "safeguarding_standards", "Met", scale="met_not_met")
    con = t.write()
    derive_all(con)
    return con


def test_report_card_school_compared_with_report_card_schools_only(tmp_path: Path) -> None:
    n = REPORT_CARD_MIN_SCHOOLS + 6
    con = nation(tmp_path, n)
    d = school_report_data(con, 100000)
    sim = d["similar"]
    assert sim["report_card"] and sim["available"] and sim["n_schools"] == n and sim["n_others"] == n - 1
    # Ofsted's order of report-card areas, each on the five-point scale, never four-point grades
    order = sorted(AREAS, key=lambda a: maps.areas()[a].report_card_order or 99)
    assert [a["area"] for a in sim["areas"]] == order
    five = list(maps.grade_labels("report_card_5").values())
    for a in sim["areas"]:
        assert [r["label"] for r in a["distribution"]] == five
        # the other report-card schools, this one excluded, counted by a second route
        k = AREAS.index(a["area"])
        for r in a["distribution"]:
            want = sum(1 for i in range(1, n) if str(1 + (i + k) % 5) == r["code"])
            assert r["k"] == want and r["n"] == n - 1
        assert abs(sum(r["share"] for r in a["distribution"]) - 1) < 1e-9
        assert all(r["low"] <= r["share"] <= r["high"] for r in a["distribution"])
    html = school_html(d)
    section = html.split('id="similar"')[1].split('<h3 id="expected"')[0]
    assert "Exceptional" in section and "Urgent improvement" in section
    assert "Outstanding" not in section and "Requires improvement" not in section
    # a school whose latest graded inspection is four-point keeps the four-point comparison
    other = school_report_data(con, 100000 + n + 1)["similar"]
    assert not other.get("report_card")
    con.close()


def test_too_few_report_card_schools_is_said(tmp_path: Path) -> None:
    con = nation(tmp_path, 2)
    d = school_report_data(con, 100001)
    sim = d["similar"]
    assert sim["report_card"] and not sim["available"]
    assert sim["reason"].startswith("too few report-card schools to compare (n = 2")
    html = school_html(d)
    assert "too few report-card schools to compare (n = 2" in html
    assert any("report card" in line and "too few" in line for line in d["summary"])
    con.close()
