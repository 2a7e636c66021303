"""The 2019-2020 MI layout ('section 8' and 'full' inspections), as R saved it: dotted headers,
ISO dates, eight GIAS columns appended; its inspection types are codes (maps/codes.csv)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from evenhand.core.pipeline import build_warehouse
from evenhand.errors import InputError
from helpers import csv_text, gias_appended_headers, mi2019_headers, r_dots, write

NAME = "mi_latest-inspections_as-at-2020-08-31_england.csv"


def q(wh: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def caversham_2020(**extra: str) -> dict[str, str]:
    """A row shaped like Caversham Primary's in the 31 August 2020 MI (values as published)."""
    row = {
        "Web link": "Ofsted School Webpage", "URN": "109778", "LAESTAB": "8702003", "School name": "Caversham Primary School",
        "Ofsted phase": "Primary", "Type of education": "Community School", "Ofsted region": "South East", "Region": "South East",
        "Local authority": "Reading", "Postcode": "RG4 7RA",
        "The income deprivation affecting children index (IDACI) quintile": "1", "Total number of pupils": "418",
        "Inspection number of latest full inspection": "ITS325026", "Inspection type": "Section 5 RTI Historic",
        "Inspection type grouping": "Section 5 RTI Historic", "Event type grouping": "Schools - S5",
        "Inspection start date": "2009-02-26", "Inspection end date": "2009-02-26", "Publication date": "2009-03-18",
        "Does the latest full inspection relate to the URN of the current school?": "Yes",
        "URN at time of latest full inspection": "109778", "Overall effectiveness": "1", "Quality of education": "9",
        "Behaviour and attitudes": "9", "Personal development": "9", "Effectiveness of leadership and management": "1",
        "Safeguarding is effective?": "9", "Early years provision (where applicable)": "1", "Sixth form provision (where applicable)": "9",
        "Previous full inspection number": "ITS278269", "Previous inspection start date": "2005-11-22",
        "Previous inspection end date": "2005-11-23", "Previous publication date": "2006-06-15",
        "Previous full inspection overall effectiveness": "2", "Previous effectiveness of leadership and management": "2",
        "Previous safeguarding is effective?": "9",
        "Easting": "471291", "Northing": "175436", "Academy": "0", "LA.Code": "870",
    }
    row.update(extra)
    return row


def converted_short(urn: str = "100007") -> dict[str, str]:
    """A short (section 8) inspection of a good school that converted to a full inspection."""
    return {
        **caversham_2020(URN=urn, **{"School name": "Converted Primary", "URN at time of latest full inspection": urn}),
        "Latest section 8 inspection number since last full inspection": "10001384",
        "Date of latest section 8 inspection": "2016-01-27", "Section 8 inspection publication date": "2016-02-20",
        "Did the latest section 8 inspection convert to a full inspection?": "Yes",
        "Number of section 8 inspections since the last full inspection": "0",
        "Inspection number of latest full inspection": "10001384", "Inspection type": "Maintained Academy and School Short inspection",
        "Inspection type grouping": "Section 8 conversion", "Event type grouping": "Schools \u2013 Section 8 conversion",
        "Inspection start date": "2016-01-27", "Inspection end date": "2016-01-28", "Publication date": "2016-02-20",
        "Overall effectiveness": "2",
        **{h: "" for h in mi2019_headers() if h.startswith("Previous")},
    }


def r_copy(tmp: Path, rows: list[dict[str, str]]) -> Path:
    """The file as the public R session saved it: dotted official headers, GIAS columns after."""
    header = mi2019_headers() + gias_appended_headers()
    text = csv_text(header, rows)
    first, rest = text.split("\r\n", 1)
    official = len(mi2019_headers())
    cells = first.split(",")
    dotted = ",".join([r_dots(h) for h in cells[:official]] + cells[official:])
    return write(tmp / "raw" / NAME, dotted + "\r\n" + rest)


def test_r_copy_of_the_2020_mi_loads_with_end_dates_and_its_own_as_at(tmp_path: Path) -> None:
    r_copy(tmp_path, [caversham_2020(), converted_short()])
    wh = tmp_path / "wh.duckdb"
    s = build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT layout, as_at::VARCHAR, publication FROM meta.files") == [("ofsted_latest_mi_2019", "2020-08-31", "management_information")]
    ev = q(wh, "SELECT event_id, kind, start_date::VARCHAR, end_date::VARCHAR, publication_date::VARCHAR, era, inspection_type_grouping, event_type_grouping FROM core.events ORDER BY 1")
    assert ev == [
        ("10001384", "graded", "2016-01-27", "2016-01-28", "2016-02-20", "cif_2015", "Section 8 conversion", "Schools \u2013 Section 8 conversion"),
        ("ITS278269", "graded", "2005-11-22", "2005-11-23", "2006-06-15", "s5_2005", None, None),
        ("ITS325026", "graded", "2009-02-26", "2009-02-26", "2009-03-18", "s5_2005", "Section 5 RTI Historic", "Schools - S5"),
    ]
    assert q(wh, "SELECT DISTINCT as_at::VARCHAR FROM core.schools") == [("2020-08-31",)]
    j = dict(q(wh, "SELECT area, label FROM core.judgements WHERE event_id = 'ITS325026'"))
    assert j["overall_effectiveness"] == "Outstanding" and j["quality_of_education"] == "Not applicable (code 9)"
    # the eight GIAS columns are kept raw and warned about, not mapped
    warned = [w["message"] for w in s.warnings if "no map knows" in str(w["message"])]
    assert len(warned) == 1 and "Easting" in warned[0] and "LA.Code" in warned[0]
    assert q(wh, 'SELECT "Easting", "LA.Code" FROM raw.ofsted_latest_mi_2019 ORDER BY _row')[0] == ("471291", "870")


def test_dd_mm_yyyy_dates_are_read_too(tmp_path: Path) -> None:
    row = caversham_2020(**{"Inspection start date": "26/02/2009", "Inspection end date": "26/02/2009", "Publication date": "18/03/2009"})
    r_copy(tmp_path, [row])
    build_warehouse(tmp_path / "raw", tmp_path / "wh.duckdb")
    assert q(tmp_path / "wh.duckdb", "SELECT publication_date::VARCHAR FROM core.events WHERE event_id = 'ITS325026'") == [("2009-03-18",)]


@pytest.mark.parametrize(
    ("column", "value"),
    [("Inspection type", "Section 5 Inspection of Nowhere"), ("Event type grouping", "Schools - S9"),
     ("Inspection type grouping", "Deemed something")],
)
def test_unknown_inspection_type_is_an_error_naming_file_row_column_value(tmp_path: Path, column: str, value: str) -> None:
    r_copy(tmp_path, [caversham_2020(), caversham_2020(URN="100001", **{column: value})])
    with pytest.raises(InputError) as e:
        build_warehouse(tmp_path / "raw", tmp_path / "wh.duckdb")
    p = e.value.problems[0]
    assert (p.file, p.row, p.column, p.value) == (NAME, 3, r_dots(column), value)
    assert "maps/codes.csv" in p.message


def test_bad_iso_date_names_the_formats(tmp_path: Path) -> None:
    r_copy(tmp_path, [caversham_2020(**{"Inspection end date": "2009-02-30"})])
    with pytest.raises(InputError) as e:
        build_warehouse(tmp_path / "raw", tmp_path / "wh.duckdb")
    p = e.value.problems[0]
    assert (p.row, p.column, p.value) == (2, "Inspection.end.date", "2009-02-30")
    assert "yyyy-mm-dd or dd/mm/yyyy" in p.message


def test_the_2020_and_2025_snapshots_merge_into_one_history_with_conflicts_recorded(tmp_path: Path) -> None:
    from helpers import caversham_like, history, info, os_headers

    # 2020: latest full 2009 (ITS325026), previous 2005; 2025: latest 2023, previous 2022 and,
    # in a second school row, the same 2009 inspection told with another publication date
    r_copy(tmp_path, [caversham_2020()])
    later = caversham_like()
    other = {**caversham_like(100001), "Inspection number of latest graded inspection": "ITS325026",
             "Inspection type": "Section 5 RTI Historic", "Inspection type grouping": "Section 5 RTI Historic",
             "Event type grouping": "Schools - S5", "URN at time of latest graded inspection": "109778",
             "Inspection start date": "26/02/2009", "Publication date": "19/03/2009", "Overall effectiveness": "1",
             "Quality of education": "9", "Behaviour and attitudes": "9", "Personal development": "9",
             "Effectiveness of leadership and management": "1", "Safeguarding is effective?": "9",
             "Early years provision (where applicable)": "1", "Sixth form provision (where applicable)": "9",
             **{h: "" for h in os_headers() if h.startswith("Previous")}}
    write(tmp_path / "raw" / "official-stats_as-at-2025-08-31.csv", csv_text(os_headers(), [later, other]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    h = history(wh, 109778)
    starts = [(e["event_id"], e["start_date"], e["end_date"], e["publication_date"], e["n_sources"]) for e in h["events"]]
    assert starts[:2] == [("ITS278269", "2005-11-22", "2005-11-23", "2006-06-15", 1),
                          ("ITS325026", "2009-02-26", "2009-02-26", "2009-03-19", 2)]
    assert [e["event_id"] for e in h["events"]].count("ITS325026") == 1
    # the newer snapshot's value is kept; both are listed, each with its own file's as-at
    conf = q(wh, """SELECT c.value, c.kept, f.as_at::VARCHAR FROM meta.conflicts c JOIN meta.files f USING (file_id)
                    WHERE event_id = 'ITS325026' AND field = 'publication_date' ORDER BY 3""")
    assert conf == [("2009-03-18", False, "2020-08-31"), ("2009-03-19", True, "2025-08-31")]
    assert sorted(q(wh, "SELECT as_at::VARCHAR FROM core.event_sources WHERE event_id = 'ITS325026'")) == [("2020-08-31",), ("2025-08-31",)]
    c = info(wh)["conflicts"]
    assert c["by_field"] == {"publication_date": 1}
    assert c["between_snapshots"] == [{"older": "2020-08-31", "newer": "2025-08-31", "events": 1, "fields": 1,
                                       "field_names": ["publication_date"]}]
    assert sorted(q(wh, "SELECT DISTINCT as_at::VARCHAR FROM core.schools")) == [("2020-08-31",), ("2025-08-31",)]


def test_a_month_only_date_in_a_file_name_is_that_month_flagged_approximate(tmp_path: Path) -> None:
    from evenhand.read.sniff import dated_file_name

    assert dated_file_name("gias_links_2021-05.csv") == (dt.date(2021, 5, 1), True)
    assert dated_file_name("gias_links_2022-07-30.csv") == (dt.date(2022, 7, 30), False)
    assert dated_file_name("links_edubasealldata20170218.csv") == (dt.date(2017, 2, 18), False)
    links = "URN,LinkURN,LinkName,LinkType,LinkEstablishedDate\r\n100001,140001,Academy,Successor,01-09-2015\r\n"
    write(tmp_path / "raw" / "gias_links_2021-05.csv", links)
    write(tmp_path / "raw" / "gias_links_2017-02-18.csv", links.replace("Successor", "Child"))
    s = build_warehouse(tmp_path / "raw", tmp_path / "wh.duckdb")
    got = q(tmp_path / "wh.duckdb", "SELECT path, as_at::VARCHAR, as_at_source, as_at_approximate FROM meta.files ORDER BY path")
    assert got == [("gias_links_2017-02-18.csv", "2017-02-18", "file name", False), ("gias_links_2021-05.csv", "2021-05-01", "file name", True)]
    assert any("only a month" in str(w["message"]) for w in s.warnings)
