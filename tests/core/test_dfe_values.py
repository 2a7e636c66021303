"""Values in DfE context files: special codes, bad values, totals rows, duplicates.

Fixtures are written here in the official layouts (real headers, invented rows).
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from evenhand.core.dfe_context import measures, suppression_codes
from evenhand.core.pipeline import build_warehouse
from evenhand.errors import InputError
from evenhand.metadata.tables import CONTEXT
from helpers import csv_text, write


def cols(header: str) -> list[str]:
    """A published header row, as its column names."""
    return header.split(",")


CENSUS = cols(
    "URN,LA,ESTAB,SCHOOLTYPE,NOR,NORG,NORB,PNORG,PNORB,TSENELSE,PSENELSE,TSENELK,PSENELK,NUMEAL,"
    "NUMENGFL,NUMUNCFL,PNUMEAL,PNUMENGFL,PNUMUNCFL,NUMFSM,NUMFSMEVER,PNUMFSMEVER"
)
KS4_SUBSET = cols(
    "RECTYPE,URN,SCHNAME,PCODE,PCODE2,TOWN,P8MEA,P8_BANDING,ATT8SCR,PTL2BASICS_95,PTEBACC_E_PTQ_EE,"
    "EBACCAPS,OFSTEDRATING,INSPECTIONDT,WEB,SCHTYPE,GRAMMAR,GENDER,RELIGION,LATITUDE,LONGITUDE,"
    "COLOUR1,COLOUR2,PHASE"
)
EES_KS4 = cols(
    "time_period,time_identifier,geographic_level,country_code,country_name,school_laestab,school_urn,"
    "school_name,t_allks_pupils,t_pupils,avg_ks2_scaledscore,pt_disadvantaged,pt_language_not_english,"
    "pt_sen_with_ehcp,pt_sen_no_ehcp,diffn_att8,diffn_p8mea,p8_banding"
)


def q(wh: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def build(tmp: Path, files: dict[str, str], lenient: bool = False) -> Path:
    for name, text in files.items():
        write(tmp / "raw" / name, text)
    wh = tmp / "wh.duckdb"
    build_warehouse(tmp / "raw", wh, lenient=lenient)
    return wh


def census_row(urn: str, **values: str) -> dict[str, str]:
    row = {"URN": urn, "LA": "201", "ESTAB": "3614", "SCHOOLTYPE": "State-funded primary", "NOR": "285"}
    row.update(values)
    return row


def test_every_special_code_becomes_a_missing_value_with_its_reason(tmp_path: Path) -> None:
    codes = suppression_codes()
    rows = [census_row(str(100000 + i), PNUMFSMEVER=code) for i, code in enumerate(codes)]
    wh = build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)})
    got = q(wh, "SELECT raw_value, value, value_text, suppression FROM core.context WHERE measure = 'fsm6_pct'")
    assert sorted(got) == sorted((code, None, None, reason) for code, reason in codes.items())


def test_suppression_map_and_table_agree() -> None:
    text = resources.files("evenhand.maps").joinpath("suppression.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    # the brief's codes, and the ones found in the real files, are all there
    for code in ("z", "c", "x", "low", "u", "NE", "SUPP", "SUPP!", "NP", "NA", "LOWCOV", "NEW", "..", "-"):
        assert code in suppression_codes(), code
    assert len({r["code"] for r in rows}) == len(rows), "a code is listed twice"
    allowed = next(f for f in CONTEXT.fields if f.name == "suppression").allowed_values()
    assert allowed is not None and set(allowed) == {r["reason"] for r in rows}
    assert next(f for f in CONTEXT.fields if f.name == "measure").allowed_values() == tuple(measures())


def test_numbers_as_published(tmp_path: Path) -> None:
    """Percent signs, thousands separators, '2.0' from spreadsheet tools, signs, surrounding blanks."""
    rows = [census_row("100001", NOR="1,234", PNUMFSMEVER="16.2%", NUMFSM=" 32 ", PNUMEAL="2.0", PSENELK="-0.5")]
    wh = build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)})
    got = dict(q(wh, "SELECT measure, value FROM core.context WHERE value IS NOT NULL"))
    assert got == {"pupils": 1234.0, "fsm6_pct": 16.2, "fsm_pupils": 32.0, "eal_pct": 2.0, "sen_support_pct": -0.5}


def test_an_empty_cell_gives_no_row_and_no_silent_null(tmp_path: Path) -> None:
    rows = [census_row("100001", PNUMFSMEVER="", NUMFSM="NULL")]
    wh = build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)})
    assert q(wh, "SELECT measure FROM core.context WHERE measure IN ('fsm6_pct', 'fsm_pupils')") == []
    assert q(wh, "SELECT count(*) FROM core.context WHERE value IS NULL AND value_text IS NULL AND suppression IS NULL") == [(0,)]


@pytest.mark.parametrize("bad", ["banana", "n/a", "inf", "1.2.3", "12abc"])
def test_an_unknown_value_in_a_numeric_measure_is_a_problem(tmp_path: Path, bad: str) -> None:
    rows = [census_row("100001"), census_row("100002", PNUMFSMEVER=bad)]
    with pytest.raises(InputError) as e:
        build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)})
    [p] = e.value.problems
    assert (p.file, p.row, p.column, p.value) == ("census_2018-19.csv", 3, "PNUMFSMEVER", bad)
    assert "not a number and not a known special code" in p.message and "maps/suppression.csv" in p.message


def test_special_codes_are_case_sensitive(tmp_path: Path) -> None:
    """Codes match as published: 'supp' is not 'SUPP' (and a grade 'C' is not the EES 'c')."""
    rows = [census_row("100001", PNUMFSMEVER="supp")]
    with pytest.raises(InputError, match="PNUMFSMEVER"):
        build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)})


def test_a_lenient_build_rejects_only_the_bad_row(tmp_path: Path) -> None:
    rows = [census_row("100001", PNUMFSMEVER="12"), census_row("100002", PNUMFSMEVER="??")]
    wh = build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)}, lenient=True)
    assert q(wh, "SELECT row_number, column_name, value FROM meta.rejections") == [(3, "PNUMFSMEVER", "??")]
    assert q(wh, "SELECT DISTINCT urn FROM core.context") == [(100001,)]


def test_an_unknown_band_is_a_problem(tmp_path: Path) -> None:
    rows = [{"RECTYPE": "1", "URN": "100001", "PCODE": "EC2Y 8BB", "P8MEA": "0.1", "P8_BANDING": "7"}]
    with pytest.raises(InputError) as e:
        build(tmp_path, {"ks4_2018-19.csv": csv_text(KS4_SUBSET, rows)})
    [p] = e.value.problems
    assert (p.row, p.column, p.value) == (2, "P8_BANDING", "7")
    assert "progress band" in p.message


def test_bands_by_code_or_label(tmp_path: Path) -> None:
    ees = [{"time_period": "202324", "geographic_level": "School", "school_urn": str(100000 + i), "pt_disadvantaged": "1",
            "p8_banding": label} for i, label in enumerate(["Well above average", "average", "Below average", "z"])]
    wh = build(tmp_path, {"ees.csv": csv_text(EES_KS4, ees)})
    got = q(wh, "SELECT urn, value, value_text, suppression FROM core.context WHERE measure = 'progress8_band' ORDER BY urn")
    assert got == [(100000, 1.0, "Well above average", None), (100001, 3.0, "Average", None),
                   (100002, 4.0, "Below average", None), (100003, None, None, "not applicable")]


def test_totals_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = [census_row("100001"), census_row("NAT", ESTAB="PRI"), census_row("LA", LA="815", ESTAB="SEC"), census_row("")]
    wh = build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, rows)})
    assert q(wh, "SELECT DISTINCT urn FROM core.context") == [(100001,)]
    assert q(wh, "SELECT count FROM meta.warnings WHERE message LIKE '%totals skipped%'") == [(3,)]


def test_an_unknown_record_type_or_a_school_without_urn_is_a_problem(tmp_path: Path) -> None:
    rows = [{"RECTYPE": "9", "URN": "100001", "PCODE": "EC2Y 8BB", "P8MEA": "0.1", "P8_BANDING": "3"},
            {"RECTYPE": "1", "URN": "", "PCODE": "EC2Y 8BB", "P8MEA": "0.1", "P8_BANDING": "3"}]
    with pytest.raises(InputError) as e:
        build(tmp_path, {"ks4_2018-19.csv": csv_text(KS4_SUBSET, rows)})
    got = {(p.row, p.column, p.value): p.message for p in e.value.problems}
    assert "unknown record type" in got[(2, "RECTYPE", "9")]
    assert "URN is missing" in got[(3, "URN", None)]


def test_a_urn_that_is_not_a_number_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        build(tmp_path, {"census_2018-19.csv": csv_text(CENSUS, [census_row("10O001")])})
    [p] = e.value.problems
    assert (p.row, p.column, p.value) == (2, "URN", "10O001")


def test_the_same_measure_from_two_files_is_kept_twice(tmp_path: Path) -> None:
    a = [{"RECTYPE": "1", "URN": "100001", "PCODE": "EC2Y 8BB", "P8MEA": "0.10", "P8_BANDING": "3"}]
    b = [{"RECTYPE": "1", "URN": "100001", "PCODE": "EC2Y 8BB", "P8MEA": "0.12", "P8_BANDING": "3"}]
    wh = build(tmp_path, {"a_2018-19.csv": csv_text(KS4_SUBSET, a), "b_2018-19.csv": csv_text(KS4_SUBSET, b)})
    got = q(wh, "SELECT file_id, value FROM core.context WHERE measure = 'progress8' ORDER BY file_id")
    assert [v for _, v in got] == [0.10, 0.12] and got[0][0] != got[1][0]
