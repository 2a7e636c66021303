"""The academic year of a DfE context file: from its content, an explicit option, or a file
name that states an academic year; otherwise unknown (null, with a warning), never guessed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from evenhand.core.dfe_context import (
    academic_year_from_file_name,
    academic_year_from_text,
    academic_year_options,
)
from evenhand.core.pipeline import build_warehouse
from evenhand.errors import InputError
from helpers import csv_text, write


def cols(header: str) -> list[str]:
    """A published header row, as its column names."""
    return header.split(",")


ABSENCE = cols("LA,ESTAB,URN,PERCTOT,PPERSABS10")
FINANCE = cols("URN,Income,Expenditure,Balance,Academic Year")
EES_KS4 = cols(
    "time_period,time_identifier,geographic_level,country_code,country_name,school_laestab,school_urn,"
    "school_name,t_allks_pupils,t_pupils,avg_ks2_scaledscore,pt_disadvantaged,pt_language_not_english,"
    "pt_sen_with_ehcp,pt_sen_no_ehcp,diffn_att8,diffn_p8mea,p8_banding"
)
ABS_ROW = {"LA": "201", "ESTAB": "3614", "URN": "100000", "PERCTOT": "2.6", "PPERSABS10": "3.4"}


def q(wh: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def build(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        write(tmp / "raw" / name, text)
    wh = tmp / "wh.duckdb"
    build_warehouse(tmp / "raw", wh)
    return wh


def years(wh: Path) -> set[tuple[str | None, str]]:
    return set(q(wh, "SELECT DISTINCT academic_year, year_source FROM core.context"))


@pytest.mark.parametrize(("text", "year"), [
    ("2018-19", "2018/19"), ("2018/19", "2018/19"), ("201819", "2018/19"), ("2018/2019", "2018/19"),
    ("1999-00", "1999/00"), ("2018-20", None), ("2019", None), ("labelled-2017", None), ("2025-08", None),
])
def test_academic_year_from_text(text: str, year: str | None) -> None:
    assert academic_year_from_text(text) == year


@pytest.mark.parametrize(("name", "year"), [
    ("dfe/performance-tables_2018-19_england_census.csv", "2018/19"),
    ("performance-tables_2017-18_england_spine.xlsx", "2017/18"),
    ("ees_ks4_2023-24_school-information.csv", "2023/24"),
    ("performance-tables_labelled-2017_815_census.csv", None),
    ("maintained-finance_2014_income-expenditure.csv", None),
    ("official-stats_schools_as-at-2025-08-31_england.csv", None),
    ("2018-19/census.csv", None),  # only the file's own name counts
])
def test_academic_year_from_file_name(name: str, year: str | None) -> None:
    assert academic_year_from_file_name(name) == year


def test_year_from_the_file_name_is_recorded_as_such(tmp_path: Path) -> None:
    wh = build(tmp_path, {"performance-tables_2018-19_england_abs.csv": csv_text(ABSENCE, [ABS_ROW])})
    assert years(wh) == {("2018/19", "file name")}
    assert q(wh, "SELECT count(*) FROM meta.warnings WHERE message LIKE '%taken from the file name%'") == [(1,)]


def test_a_labelled_year_is_unknown_not_invented(tmp_path: Path) -> None:
    wh = build(tmp_path, {"performance-tables_labelled-2017_england_abs.csv": csv_text(ABSENCE, [ABS_ROW])})
    assert years(wh) == {(None, "unknown")}
    [(message, count)] = q(wh, "SELECT message, count FROM meta.warnings WHERE message LIKE '%academic year is unknown%'")
    assert count == 1 and "labelled-2017" in message


def test_an_explicit_option_gives_the_year(tmp_path: Path) -> None:
    with academic_year_options({"*labelled-2017*": "2016-17"}):
        wh = build(tmp_path, {"performance-tables_labelled-2017_england_abs.csv": csv_text(ABSENCE, [ABS_ROW])})
    assert years(wh) == {("2016/17", "option")}
    # the option only lasts for the block
    wh2 = build(tmp_path / "again", {"performance-tables_labelled-2017_england_abs.csv": csv_text(ABSENCE, [ABS_ROW])})
    assert years(wh2) == {(None, "unknown")}


def test_an_option_beats_the_file_name(tmp_path: Path) -> None:
    with academic_year_options({"performance-tables_2018-19_england_abs.csv": "2017/18"}):
        wh = build(tmp_path, {"performance-tables_2018-19_england_abs.csv": csv_text(ABSENCE, [ABS_ROW])})
    assert years(wh) == {("2017/18", "option")}


def test_a_bad_option_is_refused() -> None:
    with pytest.raises(ValueError, match="not an academic year"), academic_year_options({"x.csv": "2017"}):
        pass


def test_the_content_states_the_year(tmp_path: Path) -> None:
    rows = [{"time_period": "202324", "geographic_level": "School", "school_urn": "100049", "pt_disadvantaged": "33.3"},
            {"time_period": "2022/23", "geographic_level": "School", "school_urn": "100050", "pt_disadvantaged": "20"}]
    with academic_year_options({"*": "2019/20"}):
        wh = build(tmp_path, {"ees_ks4_labelled-2017.csv": csv_text(EES_KS4, rows)})
    assert set(q(wh, "SELECT urn, academic_year, year_source FROM core.context")) == {
        (100049, "2023/24", "content"), (100050, "2022/23", "content")}
    # an option that contradicts the content is reported, and the content wins
    assert q(wh, "SELECT count FROM meta.warnings WHERE message LIKE '%differs from the year the file states%'") == [(2,)]


def test_a_single_year_in_the_content_is_read_as_the_year_ending_in_it(tmp_path: Path) -> None:
    rows = [{"URN": "100000", "Income": "2145540.94", "Expenditure": "2156764.59", "Balance": "-11223.65", "Academic Year": "2014"}]
    wh = build(tmp_path, {"maintained-finance_2014_income-expenditure.csv": csv_text(FINANCE, rows)})
    assert years(wh) == {("2013/14", "content (single year)")}
    [(message,)] = q(wh, "SELECT message FROM meta.warnings WHERE message LIKE '%single year%'")
    assert "'2014'" in message and "2013/14" in message


def test_a_bad_year_in_the_content_is_a_problem(tmp_path: Path) -> None:
    rows = [{"URN": "100000", "Income": "1", "Expenditure": "1", "Balance": "0", "Academic Year": "last year"}]
    with pytest.raises(InputError) as e:
        build(tmp_path, {"finance.csv": csv_text(FINANCE, rows)})
    [p] = e.value.problems
    assert (p.row, p.column, p.value) == (2, "Academic Year", "last year")
    assert "not an academic year" in p.message
