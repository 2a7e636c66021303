"""The school timeline as SVG, drawn directly (docs/decisions/1310-school-pages-precomputed.md).

Vega-Lite through vl-convert costs a quarter to a full second for this one small chart (and
its SVG another 0.7 s of WeasyPrint's time in the PDF), more than everything else a school's
page needs; the timeline is a few dots on a few levels, so it is drawn here in a few
milliseconds, in the Evenhand look (the palette, font and ink of :mod:`evenhand.audit.charts`).
What is drawn comes from :func:`evenhand.present.school.timeline_points`: the four-point
overall judgements with every level on the axis (best at the top), joined by a line only when
at most TIMELINE_JOIN_YEARS apart, and report-card areas on the five-point scale in a panel of
their own. Deterministic: the same data give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from evenhand.audit import charts

WIDTH = 640
LEFT = 190  # room for the level labels
RIGHT = 20
ROW = 34  # pixels between two levels
INK, MUTED, GRID, LINE = "#1A1A1A", "#404040", "#DDDDDD", "#9E9E9E"


def _x_scale(dates: list[dt.date]) -> tuple[dt.date, dt.date, int]:
    """From 1 January of the first year to 1 January after the last; tick step in years."""
    lo, hi = dt.date(min(dates).year, 1, 1), dt.date(max(dates).year + 1, 1, 1)
    span = hi.year - lo.year
    return lo, hi, 1 if span <= 8 else 2 if span <= 20 else 5


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "start", weight: str = "normal", fill: str = INK) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}">{escape(s)}</text>')


#: about the widest a label of 11 px text may be left of the plot (DejaVu Sans averages under
#: 0.6 em a character); a longer level label is drawn on two lines rather than cut by the edge
LABEL_CHARS = int((LEFT - 16) / (0.6 * 11))


def _level_label(y: float, label: str) -> list[str]:
    """A level's label, right-aligned left of the plot; on two lines (split after " / ", else at
    the space nearest the middle) when it is too long for the room, e.g. "Requires improvement /
    Satisfactory", whose start the edge of the chart used to cut off."""
    if len(label) <= LABEL_CHARS or " " not in label:
        return [_text(LEFT - 8, y + 4, label, 11, anchor="end")]
    if " / " in label:
        cut = label.index(" / ") + 2
    else:
        spaces = [i for i, c in enumerate(label) if c == " "]
        cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    first, second = label[:cut].rstrip(), label[cut:].strip()
    return [_text(LEFT - 8, y - 2, first, 11, anchor="end"), _text(LEFT - 8, y + 10, second, 11, anchor="end")]


def _panel(top: float, title: str, subtitle: str | None, levels: list[str], colours: dict[str, str],
           points: list[dict[str, Any]], lo: dt.date, hi: dt.date, step: int, lines: bool) -> tuple[list[str], float]:
    """One panel: its title, level rows, year axis and points; returns the SVG parts and its bottom."""
    out = [_text(LEFT, top + 14, title, 13, weight="bold")]
    y0 = top + 22
    if subtitle:
        out.append(_text(LEFT, top + 30, subtitle, 10, fill=MUTED))
        y0 = top + 38
    width = WIDTH - LEFT - RIGHT
    days = (hi - lo).days

    def x_of(d: dt.date) -> float:
        return LEFT + width * (d - lo).days / days

    def y_of(level: str) -> float:
        return y0 + ROW / 2 + ROW * levels.index(level)

    bottom = y0 + ROW * len(levels)
    for lv in levels:  # level labels and grid lines
        y = y_of(lv)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>')
        out.extend(_level_label(y, lv))
    out.append(f'<line x1="{LEFT}" y1="{bottom:.1f}" x2="{WIDTH - RIGHT}" y2="{bottom:.1f}" stroke="{MUTED}" stroke-width="1"/>')
    for year in range(lo.year, hi.year + 1, step):  # the year axis
        x = x_of(dt.date(year, 1, 1))
        out.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 5:.1f}" stroke="{MUTED}" stroke-width="1"/>')
        out.append(_text(x, bottom + 17, str(year), 10, anchor="middle", fill=MUTED))
    out.append(_text(LEFT + width / 2, bottom + 33, "Inspection started", 11, anchor="middle"))
    if lines:  # segments: no line across a gap
        segs: dict[int, list[str]] = {}
        for p in points:
            segs.setdefault(int(p["segment"]), []).append(f"{x_of(p['date']):.1f},{y_of(p['level']):.1f}")
        for pts in segs.values():
            if len(pts) > 1:
                out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{LINE}" stroke-width="1.5"/>')
    for p in points:
        tip = f"Inspection started: {p['when']}; {p['tooltip']}"
        out.append(f'<circle cx="{x_of(p["date"]):.1f}" cy="{y_of(p["level"]):.1f}" r="6.5" fill="{colours[p["level"]]}" '
                   f'stroke="{INK}" stroke-width="0.8"><title>{escape(tip)}</title></circle>')
    return out, bottom + 40


def timeline_svg(four: list[dict[str, Any]], five: list[dict[str, Any]], join_years: int) -> str | None:
    """The SVG for the points of :func:`evenhand.present.school.timeline_points`; None when empty."""
    if not four and not five:
        return None
    dates = [p["date"] for p in four + five]
    lo, hi, step = _x_scale(dates)
    n = len({p["date"] for p in four}) + len({p["date"] for p in five})
    title = "Graded inspections over time, each on its own scale"
    subtitle = f"n = {n} graded inspection{'s' if n != 1 else ''}; grades of different scales are never converted"
    parts = [_text(10, 20, title, 15, weight="bold"), _text(10, 38, subtitle, 11, fill=MUTED)]
    top = 52.0
    if four:
        # every level on the axis; the third reads "Requires improvement / Satisfactory" when a
        # pre-2012 Satisfactory is among the points (timeline_points names it)
        names = {1: "Outstanding", 2: "Good", 3: next((p["level"] for p in four if p["rank"] == 3), "Requires improvement"), 4: "Inadequate"}
        levels = [names[k] for k in (1, 2, 3, 4)]
        base = charts.FOUR_POINT_COLOURS
        colours = {names[1]: base["Outstanding"], names[2]: base["Good"], names[3]: base["Requires improvement"], names[4]: base["Inadequate"]}
        panel, top = _panel(top, "Overall effectiveness (4-point scale)",
                            f"Lines join inspections at most {join_years} years apart; a longer gap is left open",
                            levels, colours, four, lo, hi, step, lines=True)
        parts += panel
    if five:
        levels = list(charts.FIVE_POINT_SCALE)
        panel, top = _panel(top + 6, "Report-card areas (5-point scale)", None, levels, dict(charts.FIVE_POINT_COLOURS),
                            five, lo, hi, step, lines=False)
        parts += panel
    height = int(top + 4)
    desc = f"{title}. {subtitle}."
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" font-family="{escape(charts.FONT)}"><title>{escape(title)}</title><desc>{escape(desc)}</desc>'
        f'<rect width="{WIDTH}" height="{height}" fill="#FFFFFF"/>' + "".join(parts) + "</svg>"
    )
