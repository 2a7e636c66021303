"""The school timeline drawn directly as SVG: every level on the axis, gaps left open, report
cards on their own five-point panel, text escaped, the same bytes for the same data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from evenhand.audit import charts
from evenhand.present.school import timeline_points, timeline_svg
from evenhand.present.timeline import LABEL_CHARS, LEFT


def event(start: str, label: str, code: str, kind: str = "graded", area: str = "overall_effectiveness",
          scale: str = "four_point", area_label: str = "Overall effectiveness") -> dict[str, Any]:
    return {"start_date": start, "start_text": start, "kind": kind,
            "judgements": [{"area": area, "scale": scale, "code": code, "label": label, "graded": True, "area_label": area_label}]}


def test_levels_gaps_and_points() -> None:
    data = {"timeline": [event("2006-01-10", "Good", "2"), event("2009-02-26", "Outstanding", "1"),
                         event("2022-11-15", "Inadequate", "4"), event("2023-06-21", "Good", "2")]}
    svg = timeline_svg(data)
    assert svg is not None and svg == timeline_svg(data)  # deterministic
    root = ET.fromstring(svg)  # well-formed
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for level in ("Outstanding", "Good", "Requires improvement", "Inadequate"):  # every level, even unused ones
        assert level in texts
    circles = list(root.iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 4
    assert {c.get("fill") for c in circles} == {charts.FOUR_POINT_COLOURS[g] for g in ("Good", "Outstanding", "Inadequate")}
    # 2009 -> 2022 is more than six years: two line segments, none across the gap
    lines = list(root.iter("{http://www.w3.org/2000/svg}polyline"))
    assert len(lines) == 2 and all(len(pl.get("points", "").split()) == 2 for pl in lines)
    four, _ = timeline_points(data)
    assert [p["segment"] for p in four] == [0, 0, 1, 1]
    assert "Requires improvement" in texts  # short enough: one line
    assert "n = 4 graded inspections" in svg


def test_satisfactory_shares_the_third_level_and_report_cards_get_their_own_panel() -> None:
    data = {"timeline": [
        event("2010-03-02", "Satisfactory", "3"),
        event("2025-12-01", "Strong standard", "2", kind="report_card", area="inclusion", scale="report_card_5", area_label="Inclusion"),
        event("2025-12-01", "<b>Exceptional</b>", "1", kind="report_card", area="leadership", scale="report_card_5", area_label="Leadership & governance"),
    ]}
    svg = timeline_svg(data)
    assert svg is not None
    ET.fromstring(svg)
    # the shared level's label is too long for the room left of the plot (the chart's edge cut
    # its start off): it is drawn on two lines, right-aligned, between its neighbours' rows
    root = ET.fromstring(svg)
    texts = [t for t in root.iter("{http://www.w3.org/2000/svg}text")]
    i = next(i for i, t in enumerate(texts) if t.text == "Requires improvement /")
    first, second = texts[i], texts[i + 1]
    assert second.text == "Satisfactory"
    assert first.get("x") == second.get("x") == f"{LEFT - 8:.1f}" and first.get("text-anchor") == second.get("text-anchor") == "end"
    assert float(second.get("y", 0)) - float(first.get("y", 0)) == 12
    assert all(len(t.text or "") <= LABEL_CHARS for t in texts if t.get("text-anchor") == "end")
    assert "Requires improvement / Satisfactory" not in svg
    assert "Report-card areas (5-point scale)" in svg
    for level in charts.FIVE_POINT_SCALE:
        assert f">{level}<" in svg
    assert "<b>" not in svg and "&lt;b&gt;Exceptional&lt;/b&gt;" in svg and "Leadership &amp; governance" in svg
    assert len(re.findall(r"<circle ", svg)) == 3


def test_nothing_to_draw() -> None:
    assert timeline_svg({"timeline": [event("2010-03-02", "Not judged", "NJ", scale="not_applicable")]}) is None
