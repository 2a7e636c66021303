"""Recognise a file's layout from its header row: never from its name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from evenhand import maps
from evenhand.read.containers import Opened, spreadsheet_grid, spreadsheet_sheets


@dataclass
class Match:
    layout: maps.Layout
    header_index: int  # 0-based
    sheet: str | None
    mapping: dict[str, int]  # canonical -> column index
    missing_required: list[str]
    score: float
    title_lines: list[str] = field(default_factory=list)
    # (canonical, header, other header): two headers of the file that read the same once
    # normalised (maps/headers.toml), one of them mapped: the file cannot be read unambiguously
    ambiguous: list[tuple[str, str, str]] = field(default_factory=list)


def match_header(header: list[str], layout: maps.Layout) -> tuple[float, dict[str, int], list[str]]:
    """(score, canonical -> column index, missing required canonicals) of one header row.

    Headers are compared after the declared normalisation (maps/headers.toml), so the official
    header and its R, pandas or Excel re-saves match the same map entry."""
    normalised = [maps.normalise_header(h) for h in header]
    columns = layout.columns
    # cheap rejection first: every signature column must be present
    for canonical in layout.signature:
        if not any(columns[canonical].matches_normalised(h) for h in normalised):
            return 0.0, {}, []
    mapping: dict[str, int] = {}
    used: set[int] = set()
    for canonical, pattern in columns.items():
        for i, h in enumerate(normalised):
            if i not in used and pattern.matches_normalised(h):
                mapping[canonical] = i
                used.add(i)
                break
    score = len(mapping) / max(1, len(layout.columns))
    missing = [c for c in layout.required if c not in mapping]
    return score, mapping, missing


def ambiguous_headers(header: list[str], mapping: dict[str, int]) -> list[tuple[str, str, str]]:
    """(canonical, mapped header, other header) where another header of the row reads the same
    once normalised: which one the map means cannot be decided."""
    normalised = [maps.normalise_header(h) for h in header]
    out = []
    for canonical, i in mapping.items():
        for j, h in enumerate(normalised):
            if j != i and h == normalised[i]:
                out.append((canonical, header[i], header[j]))
                break
    return out


def best_match(rows: list[list[str]], sheet: str | None = None) -> Match | None:
    best: Match | None = None
    layouts = list(maps.layouts().values())  # parsed once per file, not once per row
    for idx, row in enumerate(rows):
        if sum(1 for c in row if c and c.strip()) < 2:
            continue
        for layout in layouts:
            score, mapping, missing = match_header(row, layout)
            # recognised when its signature is present (missing required columns are then
            # reported as an error naming them); the layout matching most headers wins
            recognised = score > 0
            if recognised and (best is None or (len(mapping), score) > (len(best.mapping), best.score)):
                titles = [" ".join(c for c in r if c and c.strip()) for r in rows[:idx]]
                best = Match(layout, idx, sheet, mapping, missing, score, [t for t in titles if t],
                             ambiguous_headers(row, mapping))
        if best is not None and best.header_index == idx:
            break  # the first row that matches is the header
    return best


def recognise(opened: Opened) -> Match | None:
    if opened.container in ("xlsx", "ods"):
        best: Match | None = None
        for sheet in spreadsheet_sheets(opened):
            grid = spreadsheet_grid(opened, sheet, n_rows=30)
            rows = [["" if v is None else str(v) for v in r] for r in grid.iter_rows()]
            m = best_match(rows, sheet)
            if m is not None and (best is None or m.score > best.score):
                best = m
        return best
    return best_match(opened.top)


_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"], start=1)}


def as_at_from_text(text: str) -> date | None:
    """'... as at 31 August 2025' -> 2025-08-31; also ISO dates after 'as at' / 'as-at'."""
    m = re.search(r"as[ _-]at[ _-]+(\d{1,2})(?:st|nd|rd|th)?[ _-]+([A-Za-z]+)[ _-]+(\d{4})", text, re.IGNORECASE)
    if m and m.group(2).lower() in _MONTHS:
        return date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    m = re.search(r"as[ _-]at[ _-]+(\d{4})-(\d{2})-(\d{2})", text, re.IGNORECASE)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return None


def date_from_file_name(name: str) -> date | None:
    """A dated download such as 'links_edubasealldata20250422.csv' or 'gias_links_2025-04-22.csv'."""
    return dated_file_name(name)[0]


def dated_file_name(name: str) -> tuple[date | None, bool]:
    """(date, approximate) from a file name. A name giving only a month ('gias_links_2021-05.csv')
    is read as the first of that month and flagged approximate: the day is not known."""
    found = as_at_from_text(name)
    if found:
        return found, False
    m = re.search(r"(20\d{2})-?(\d{2})-?(\d{2})(?!\d)", name)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), False
        except ValueError:
            return None, False
    m = re.search(r"(20\d{2})-(\d{2})(?![\d-])", name)
    if m:
        y, mo = int(m.group(1)), int(m.group(2))
        if 1 <= mo <= 12:
            return date(y, mo, 1), True
    return None, False
