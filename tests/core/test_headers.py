"""Header matching survives re-saves: the declared normalisation (maps/headers.toml) applied to
map headers and file headers lets one column map read the official file and the copies R,
pandas and Excel write; headers that become the same text are errors naming both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from evenhand import maps
from evenhand.core.pipeline import build_warehouse
from evenhand.errors import InputError
from evenhand.read.sniff import best_match, match_header
from helpers import (
    RESAVES,
    csv_text,
    mi2019_headers,
    mi_eif_headers,
    os_headers,
    rc_headers,
    school,
    write,
)

# an example published header for every "re:" pattern in the maps (a new pattern needs one)
REGEX_EXAMPLES = {
    "Number of warning notices issued in (\\d{4} \\d{2}|\\d{4} \\d{4}) academic year": "Number of warning notices issued in 2024/25 academic year",
    "The income deprivation affecting children index IDACI (quintile|quntile)( \\d{4})?": "The income deprivation affecting children index (IDACI) quintile",
    "Current school type used for chart \\w+": "Current school type used for chart C6",
    "Latest ungraded inspection number( since last graded inspection)?": "Latest ungraded inspection number since last graded inspection",
    "School name at time of the (latest )?ungraded inspection": "School name at time of the latest ungraded inspection",
    "School type at time of the (latest )?ungraded inspection": "School type at time of the latest ungraded inspection",
    "(Latest )?ungraded inspection end date": "Latest ungraded inspection end date",
    "(First )?publication date": "Publication date",
    "Category( of concern)?": "Category of concern",
    "(Is safeguarding effective|Safeguarding is effective)": "Safeguarding is effective?",
    "(Sixth form provision where applicable|16 to 19 study programmes)": "16 to 19 study programmes",
    "Previous (safeguarding is effective|is safeguarding effective)": "Previous safeguarding is effective?",
    "field name|metafile heading": "Field Name",
    "label description|metafile description|description": "Label/Description",
    "nftype|schooltype": "NFTYPE",
    "agel(ow)?": "AGELOW",
    "ageh(igh)?": "AGEHIGH",
    "academic ?year|year": "Academic Year",
    "inspection (start )?date": "inspection_date",
    "(effectiveness of )?leadership and management": "leadership_and_management",
    "safeguarding( is)? effective": "safeguarding_effective",
}


def published_header(layout: maps.Layout) -> list[str]:
    """Every column of a layout as published (a regex column by its example)."""
    out = []
    for pattern in layout.columns.values():
        if pattern.is_regex:
            assert pattern.shown in REGEX_EXAMPLES, f"add an example header for {pattern.shown!r}"
            out.append(REGEX_EXAMPLES[pattern.shown])
        else:
            out.append(pattern.text)
    return out


@pytest.mark.parametrize("resave", sorted(RESAVES))
@pytest.mark.parametrize("layout_name", sorted(maps.layouts()))
def test_every_layout_matches_its_resaved_headers(layout_name: str, resave: str) -> None:
    layout = maps.layouts()[layout_name]
    header = published_header(layout)
    _, official, _ = match_header(header, layout)
    assert len(official) == len(layout.columns)
    score, mapping, missing = match_header([RESAVES[resave](h) for h in header], layout)
    assert mapping == official and not missing and score == 1.0


@pytest.mark.parametrize("resave", sorted(RESAVES))
@pytest.mark.parametrize(
    ("header_list", "expected"),
    [(os_headers, "ofsted_latest_eif"), (mi_eif_headers, "ofsted_latest_eif"), (rc_headers, "ofsted_latest_report_card"),
     (mi2019_headers, "ofsted_latest_mi_2019")],
)
def test_real_header_rows_are_recognised_after_a_resave(header_list: Callable[[], list[str]], expected: str, resave: str) -> None:
    headers = header_list()
    official = best_match([headers])
    assert official is not None and official.layout.name == expected
    m = best_match([[RESAVES[resave](h) for h in headers]])
    assert m is not None and m.layout.name == expected
    assert m.mapping == official.mapping and not m.ambiguous


def test_normalisation_examples() -> None:
    n = maps.normalise_header
    assert n("Safeguarding.is.effective?") == n("safeguarding_is_effective") == n("Safeguarding is effective?") == "safeguarding is effective"
    assert n("The.income.deprivation.affecting.children.index.(IDACI).quintile") == "the income deprivation affecting children index idaci quintile"
    assert n("X16.to.19.study.programmes") == n("16 to 19 study programmes")
    assert n("\ufeffLatest OEIF  safeguarding\u00a0is effective? ") == "latest oeif safeguarding is effective"


def test_map_headers_that_read_the_same_are_an_error_naming_both() -> None:
    columns = {"graded.j.overall_effectiveness": maps.HeaderPattern("Overall effectiveness"),
               "previous.j.overall_effectiveness": maps.HeaderPattern("Overall.Effectiveness")}
    with pytest.raises(maps.AmbiguousHeaders, match=r"'Overall effectiveness'.*'Overall\.Effectiveness'"):
        maps.check_unambiguous(columns, "test map")
    for layout in maps.layouts().values():  # the shipped maps have none
        maps.check_unambiguous(layout.columns, layout.name)


def test_file_headers_that_read_the_same_are_an_error_naming_both(tmp_path: Path) -> None:
    header = [*os_headers(), "Overall.effectiveness"]
    row = school(100001)
    write(tmp_path / "raw" / "os_as-at-2025-08-31.csv", csv_text(header, [row]))
    with pytest.raises(InputError) as e:
        build_warehouse(tmp_path / "raw", tmp_path / "wh.duckdb")
    msg = str(e.value)
    assert "'Overall effectiveness'" in msg and "'Overall.effectiveness'" in msg and "normalised" in msg
    assert not (tmp_path / "wh.duckdb").exists()


def test_pandas_snake_case_copy_builds_the_same_events(tmp_path: Path) -> None:
    from helpers import caversham_like, pandas_snake

    header = os_headers()
    rows = [caversham_like()]
    write(tmp_path / "a" / "os_as-at-2025-08-31.csv", csv_text(header, rows))
    snake = [{pandas_snake(k): v for k, v in r.items()} for r in rows]
    write(tmp_path / "b" / "os_as-at-2025-08-31.csv", csv_text([pandas_snake(h) for h in header], snake))
    got = []
    for d in ("a", "b"):
        build_warehouse(tmp_path / d, tmp_path / f"{d}.duckdb")
        con = duckdb.connect(str(tmp_path / f"{d}.duckdb"), read_only=True)
        got.append(con.execute("SELECT e.event_id, e.start_date, j.area, j.code FROM core.events e JOIN core.judgements j USING (event_id) ORDER BY ALL").fetchall())
        con.close()
    assert got[0] == got[1] and len(got[0]) > 10
