"""Unit tests: official Ofsted layouts in every container and encoding, into core tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import polars as pl
import pytest

from evenhand.core.pipeline import build_warehouse
from helpers import (
    caversham_like,
    csv_text,
    graded,
    history,
    info,
    mi_eif_headers,
    os_headers,
    rc_headers,
    school,
    ungraded,
    write,
)


def q(wh: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def os_file(tmp: Path, rows: list[dict[str, str]], name: str = "os.csv", encoding: str = "utf-8", title: list[str] | None = None) -> Path:
    return write(tmp / "raw" / name, csv_text(os_headers(), rows, title), encoding)


def test_one_row_unpivots_into_its_events(tmp_path: Path) -> None:
    row = caversham_like()
    row.update(ungraded("10300001", "01/02/2024", "01/03/2024", "School remains Good"))
    os_file(tmp_path, [row], name="official_as-at-2025-08-31.csv")
    wh = tmp_path / "wh.duckdb"
    s = build_warehouse(tmp_path / "raw", wh)
    assert s.counts["events"] == 3
    kinds = dict(q(wh, "SELECT event_id, kind FROM core.events"))
    assert kinds == {"10299286": "graded", "10242325": "graded", "10300001": "ungraded"}
    # the previous graded inspection keeps its own judgements, each on its own scale
    j = {a: (s_, c, lab) for a, s_, c, lab in q(wh, "SELECT area, scale, code, label FROM core.judgements WHERE event_id = '10242325'")}
    assert j["overall_effectiveness"] == ("four_point", "4", "Inadequate")
    assert j["leadership_and_management"] == ("four_point", "4", "Inadequate")
    assert j["safeguarding_effective"] == ("safeguarding_effective", "No", "No")
    assert j["quality_of_education"] == ("four_point", "2", "Good")
    assert j["sixth_form"] == ("not_applicable", "9", "Not applicable (code 9)")
    ev = q(wh, "SELECT start_date::VARCHAR, publication_date::VARCHAR, category_of_concern, era FROM core.events WHERE event_id = '10242325'")
    assert ev == [("2022-11-15", "2023-03-20", "SWK", "eif_2019")]
    assert q(wh, "SELECT code, label FROM core.judgements WHERE event_id = '10300001'") == [("remains_good", "School remains Good")]
    # the as-at date came from the file name, and the file is the official statistics
    assert q(wh, "SELECT as_at::VARCHAR, as_at_source, publication FROM meta.files") == [("2025-08-31", "file name", "official_statistics")]


def test_mi_eif_layout_with_title_row_windows_1252_and_end_dates(tmp_path: Path) -> None:
    row = school(100001, "St Mary\u2019s C of E School \u2013 Annex")
    row.update(graded("ITS449512", "05/10/2021", "10/11/2021", "3", **{"Inspection end date": "06/10/2021"}))
    title = ["Management information - state-funded schools - latest inspections as at 31 December 2021"]
    write(tmp_path / "raw" / "mi.csv", csv_text(mi_eif_headers(), [row], title), "cp1252")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT encoding, layout, header_row, as_at::VARCHAR, as_at_source, publication FROM meta.files") == [
        ("windows-1252", "ofsted_latest_eif", 2, "2021-12-31", "title", "management_information")
    ]
    assert q(wh, "SELECT school_name FROM core.schools") == [("St Mary\u2019s C of E School \u2013 Annex",)]
    assert q(wh, "SELECT event_id, end_date::VARCHAR FROM core.events") == [("ITS449512", "2021-10-06")]
    assert q(wh, "SELECT label FROM core.judgements WHERE area = 'overall_effectiveness'") == [("Requires improvement",)]


def test_2024_25_not_judged_overall(tmp_path: Path) -> None:
    row = school(100002)
    row.update(graded("10350000", "01/10/2024", "01/11/2024", "Not judged"))
    os_file(tmp_path, [row])
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT scale, code, label, graded FROM core.judgements WHERE area = 'overall_effectiveness'") == [
        ("not_applicable", "NJ", "Not judged", False)
    ]
    assert q(wh, "SELECT era FROM core.events") == [("eif_2024",)]


def test_report_card_layout(tmp_path: Path) -> None:
    rc = {h: "NULL" for h in rc_headers()}
    rc.update({
        "URN": "107848", "School name": "Gildersome Primary School", "Ofsted phase": "Primary",
        "Type of education": "Community School", "Ofsted region": "North East, Yorkshire and the Humber",
        "Local authority": "Leeds",
        "Inspection number of latest full inspection": "10432161", "Inspection type": "S5 Inspection",
        "Inspection start date": "25/11/2025", "Publication date": "10/02/2026",
        "Safeguarding standards": "Met", "Safeguarding standards - date of judgement": "25/11/2025",
        "Inclusion": "Needs attention", "Inclusion - date of judgement": "25/11/2025",
        "Achievement": "Expected standard", "Achievement - date of judgement": "26/11/2025",
        "Post-16 provision (where applicable)": "Not applicable",
        "Inspection number of latest OEIF graded inspection": "10255739",
        "Inspection start date of latest OEIF graded inspection": "04/02/2025",
        "Latest OEIF overall effectiveness": "Not judged", "Latest OEIF quality of education": "2",
        "Latest OEIF  safeguarding is effective?": "Yes",
    })
    write(tmp_path / "raw" / "leeds.csv", csv_text(rc_headers(), [rc]), "cp1252")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT layout FROM meta.files") == [("ofsted_latest_report_card",)]
    ev = dict(q(wh, "SELECT event_id, kind || '/' || era FROM core.events"))
    assert ev == {"10432161": "report_card/report_card_2025", "10255739": "graded/eif_2024"}
    j = {a: (s, c, lab, str(d)) for a, s, c, lab, d in q(wh, "SELECT area, scale, code, label, judgement_date FROM core.judgements WHERE event_id = '10432161'")}
    assert j["safeguarding_standards"] == ("met_not_met", "Met", "Met", "2025-11-25")
    assert j["inclusion"] == ("report_card_5", "4", "Needs attention", "2025-11-25")
    assert j["achievement"][3] == "2025-11-26"  # each area keeps its own date
    assert j["post_16"][:2] == ("not_applicable", "NA")
    # the double-spaced OEIF safeguarding header is read
    assert q(wh, "SELECT code FROM core.judgements WHERE event_id = '10255739' AND area = 'safeguarding_effective'") == [("Yes",)]


def test_history_interchange_and_scraped_shapes(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "history.csv", "urn,inspection_date,overall_effectiveness,quality_of_education\n100003,2012-06-01,3,\n100003,2016-01-10,Good,2\n")
    write(tmp_path / "raw" / "scraped.csv", "URN,Rating,Inspection Date\r\n100004,Satisfactory,20100301\r\n100004,Requires Improvement,20140301\r\n")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert sorted(q(wh, "SELECT path, layout FROM meta.files")) == [("history.csv", "history_interchange"), ("scraped.csv", "history_scraped")]
    rows = q(wh, "SELECT e.urn, e.start_date::VARCHAR, j.code, j.label FROM core.events e JOIN core.judgements j USING (event_id) WHERE j.area = 'overall_effectiveness' ORDER BY 1, 2")
    assert rows == [
        (100003, "2012-06-01", "3", "Satisfactory"),  # grade 3 before September 2012 is Satisfactory
        (100003, "2016-01-10", "2", "Good"),
        (100004, "2010-03-01", "3", "Satisfactory"),
        (100004, "2014-03-01", "3", "Requires improvement"),
    ]


@pytest.mark.parametrize("container", ["xlsx", "ods", "parquet", "bom", "pandas"])
def test_containers_give_the_same_events(tmp_path: Path, container: str) -> None:
    rows = [caversham_like(), {**school(100005, "Other School"), **graded("10200000", "01/02/2023", "01/03/2023", "1")}]
    header = os_headers()
    grid = [[r.get(h, "") for h in header] for r in rows]
    raw = tmp_path / "raw"
    raw.mkdir()
    if container == "xlsx":
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "School level data"
        ws.append(["State-funded schools inspections and outcomes as at 31 August 2025"])
        ws.append([])
        ws.append(header)
        for g in grid:
            ws.append([int(v) if v.isdigit() and len(v) < 6 else (v or None) for v in g])
        wb.save(raw / "os.xlsx")
    elif container == "ods":
        df = pd.DataFrame(grid, columns=header).replace("", None)
        df.to_excel(raw / "os.ods", engine="odf", index=False)
    elif container == "parquet":
        frame = pl.DataFrame(grid, schema=header, orient="row").with_columns(
            pl.col("URN").cast(pl.Float64), pl.col("Previous graded inspection overall effectiveness").replace("", None).cast(pl.Float64)
        )
        empty = pl.DataFrame({c: [None] * 3 for c in header}, schema=frame.schema)  # trailing empty rows
        pl.concat([frame, empty]).write_parquet(raw / "os.parquet")
    elif container == "bom":
        write(raw / "os.csv", "\ufeff" + csv_text(header, rows) + ",".join([""] * len(header)) + "\r\n")
    elif container == "pandas":
        df = pd.DataFrame(grid, columns=header)
        df.to_csv(raw / "os.csv")  # leading unnamed index column, as pandas writes it
    wh = tmp_path / "wh.duckdb"
    s = build_warehouse(raw, wh)
    assert s.counts["events"] == 3
    assert sorted(q(wh, "SELECT event_id FROM core.events")) == [("10200000",), ("10242325",), ("10299286",)]
    assert q(wh, "SELECT code FROM core.judgements WHERE event_id = '10242325' AND area = 'overall_effectiveness'") == [("4",)]
    assert q(wh, "SELECT count(*) FROM core.schools") == [(2,)]
    files = q(wh, "SELECT rows_read, warnings FROM meta.files")
    assert files[0][0] == 2
    if container == "pandas":
        # the pandas index column is recognised, not reported as an unknown column
        assert q(wh, "SELECT unmapped_columns FROM meta.files") == [([],)]


def test_same_event_from_two_files_is_one_row_and_conflicts_are_recorded(tmp_path: Path) -> None:
    a = caversham_like()
    b = caversham_like()
    b["Previous publication date"] = "21/03/2023"  # a later file disagrees
    os_file(tmp_path, [a], name="os_as-at-2024-08-31.csv")
    os_file(tmp_path, [b], name="os_as-at-2025-08-31.csv")
    wh = tmp_path / "wh.duckdb"
    s = build_warehouse(tmp_path / "raw", wh)
    assert s.counts["events"] == 2
    assert q(wh, "SELECT n_sources, n_conflicts, publication_date::VARCHAR FROM core.events WHERE event_id = '10242325'") == [(2, 1, "2023-03-21")]
    conflicts = q(wh, "SELECT c.field, c.value, f.path, c.row_number, c.kept FROM meta.conflicts c JOIN meta.files f USING (file_id) ORDER BY 3")
    assert conflicts == [
        ("publication_date", "2023-03-20", "os_as-at-2024-08-31.csv", 2, False),
        ("publication_date", "2023-03-21", "os_as-at-2025-08-31.csv", 2, True),
    ]


def test_scraped_event_without_number_merges_with_numbered_event(tmp_path: Path) -> None:
    os_file(tmp_path, [caversham_like()], name="os_as-at-2025-08-31.csv")
    write(tmp_path / "raw" / "scraped.csv", "URN,Rating,Inspection Date\n109778,Inadequate,20221115\n109778,Outstanding,20090226\n")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT n_sources FROM core.events WHERE event_id = '10242325'") == [(2,)]
    assert q(wh, "SELECT count(*) FROM core.events") == [(3,)]


def test_unmapped_column_is_kept_raw_and_warned(tmp_path: Path) -> None:
    header = [*os_headers(), "Inspector's favourite colour"]
    row = {**caversham_like(), "Inspector's favourite colour": "blue"}
    write(tmp_path / "raw" / "os.csv", csv_text(header, [row]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT unmapped_columns FROM meta.files") == [(["Inspector's favourite colour"],)]
    assert "Inspector's favourite colour" in q(wh, "SELECT message FROM meta.warnings")[0][0]
    assert q(wh, "SELECT \"Inspector's favourite colour\" FROM raw.ofsted_latest_eif") == [("blue",)]


def test_raw_layer_is_lossless(tmp_path: Path) -> None:
    row = {**caversham_like(), "Total number of pupils": "406.0", "Category of concern": ""}
    os_file(tmp_path, [row])
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    got = q(wh, 'SELECT _file_id, _row, "Total number of pupils", "Previous quality of education" FROM raw.ofsted_latest_eif')
    assert got == [(1, 2, "406.0", "2.0")]
    assert q(wh, "SELECT pupils FROM core.schools") == [(406,)]


def test_info_and_history_json_are_stable(tmp_path: Path) -> None:
    os_file(tmp_path, [caversham_like()], name="os_as-at-2025-08-31.csv")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    i = info(wh)
    assert i["events"]["by_kind"] == {"graded": 2}
    assert i["schools"]["distinct_urns"] == 1
    h = history(wh, 109778)
    text = json.dumps(h, sort_keys=True)
    assert json.loads(text) == h  # plain JSON: dates are strings
    assert [e["start_date"] for e in h["events"]] == ["2022-11-15", "2023-06-21"]
    assert {"event_id", "judgements", "sources", "conflicts", "era", "kind", "source_files"} <= set(h["events"][0])


def test_c1_characters_from_a_mis_decoded_file_are_repaired(tmp_path: Path) -> None:
    # the 2025 official statistics CSV carries U+0096 (a Windows-1252 en dash decoded as Latin-1)
    row = {**caversham_like(), "Event type grouping": "Schools \x96 Section 8 conversion"}
    os_file(tmp_path, [row])
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert q(wh, "SELECT event_type_grouping FROM core.events WHERE event_id = '10299286'") == [("Schools \u2013 Section 8 conversion",)]
    assert q(wh, 'SELECT "Event type grouping" FROM raw.ofsted_latest_eif') == [("Schools \x96 Section 8 conversion",)]
