"""Integration: the DfE and other/ files in ../shared/data into core.context (skipped, with the
reason, where that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from evenhand import maps

pytestmark = pytest.mark.integration

# ../shared/data beside the repository root
SHARED_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
OURS = tuple(n for n, lay in maps.layouts().items() if lay.builder == "dfe_context")

EXPECTED_LAYOUTS = {
    "dfe/ees_ks4_2023-24_school-information.csv": "dfe_ees_ks4",
    "dfe/la-815-north-yorkshire/performance-tables_815_spine.csv": "dfe_spine",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2017_815_census.csv": "dfe_census",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2017_815_cfr.csv": "dfe_cfr",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2017_815_ks4.csv": "dfe_ks4_final",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2018_815_census.csv": "dfe_census",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2018_815_cfr.csv": "dfe_cfr",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2018_815_ks4.csv": "dfe_ks4_final",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2019_815_census.csv": "dfe_census",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2019_815_cfr.csv": "dfe_cfr",
    "dfe/la-815-north-yorkshire/performance-tables_labelled-2019_815_ks4.csv": "dfe_ks4_final",
    "dfe/la-850-hampshire/performance-tables_2016-17_850_ks2final.csv": "dfe_ks2_final",
    "dfe/la-850-hampshire/performance-tables_2017-18_850_ks2final.csv": "dfe_ks2_final",
    "dfe/la-850-hampshire/performance-tables_2018-19_850_ks2final.csv": "dfe_ks2_final",
    "dfe/la-936-surrey/performance-tables_2016-17_936_ks2final.csv": "dfe_ks2_final",
    "dfe/la-936-surrey/performance-tables_2017-18_936_ks2final.csv": "dfe_ks2_final",
    "dfe/la-936-surrey/performance-tables_2018-19_936_ks2final.csv": "dfe_ks2_final",
    "dfe/performance-tables_2017-18_england_spine.xlsx": "dfe_spine",
    "dfe/performance-tables_2018-19_england_abs.csv": "dfe_absence",
    "dfe/performance-tables_2018-19_england_census.csv": "dfe_census",
    "dfe/performance-tables_2018-19_england_ks2final_subset.csv": "dfe_ks2_subset",
    "dfe/performance-tables_2018-19_england_ks4final_subset.csv": "dfe_ks4_subset",
    "dfe/performance-tables_2018-19_england_ks4provisional_headline.csv": "dfe_ks4_final",
    "dfe/performance-tables_labelled-2016_england_ks5final.csv": "dfe_ks5_final",
    "dfe/performance-tables_labelled-2017_england_ks5final.csv": "dfe_ks5_final",
    "other/maintained-finance_2014_income-expenditure.csv": "finance_interchange",
    "other/maintained-finance_2015_income-expenditure.csv": "finance_interchange",
    "other/maintained-finance_2016_income-expenditure.csv": "finance_interchange",
    "other/maintained-finance_2017_income-expenditure.csv": "finance_interchange",
    "other/maintained-finance_2018_income-expenditure.csv": "finance_interchange",
}


def need_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"integration data not found at {SHARED_DATA} (../shared/data beside the repository)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def warehouse(shared_warehouse: Path) -> Path:
    return shared_warehouse  # built strictly: any bad value in any file fails the build


def sql(wh: Path, q: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(q).fetchall()
    finally:
        con.close()


def test_every_dfe_and_other_file_is_recognised(warehouse: Path) -> None:
    rows = sql(warehouse, """SELECT path, layout, status, message FROM meta.files
                             WHERE (path LIKE 'dfe/%' OR path LIKE 'other/%') AND path NOT LIKE 'dfe/gias%'""")
    got = {p: lay for p, lay, _, _ in rows if not p.startswith("dfe/meta/")}
    assert got == EXPECTED_LAYOUTS
    assert set(EXPECTED_LAYOUTS.values()) == set(OURS)  # every DfE layout meets a real file
    # the DfE field dictionaries (dfe/meta/*.csv) load into meta.dfe_field_dictionary
    meta = {(p, lay, st) for p, lay, st, _ in rows if p.startswith("dfe/meta/")}
    assert meta == {(p, "dfe_field_dictionary", "loaded") for p, _, _ in meta} and len(meta) == 3
    assert {p: st for p, _, st, _ in rows if p in EXPECTED_LAYOUTS} == dict.fromkeys(EXPECTED_LAYOUTS, "loaded")
    # the CFR and KS4 copies that end with short totals rows and no line end are read whole
    got = dict(sql(warehouse, """SELECT f.path, count(DISTINCT c.urn) FROM core.context c JOIN meta.files f USING (file_id)
                                 WHERE f.path LIKE 'dfe/la-815-%cfr.csv' OR f.path LIKE 'dfe/la-815-%ks4.csv' GROUP BY 1"""))
    assert len(got) == 6 and min(got.values()) > 60


def test_years_and_their_sources(warehouse: Path) -> None:
    got = dict(sql(warehouse, """SELECT f.path, list(DISTINCT coalesce(c.academic_year, '-') || ' ' || c.year_source)
                                 FROM core.context c JOIN meta.files f USING (file_id) GROUP BY 1"""))
    assert got["dfe/ees_ks4_2023-24_school-information.csv"] == ["2023/24 content"]
    assert got["dfe/performance-tables_2018-19_england_census.csv"] == ["2018/19 file name"]
    assert got["dfe/performance-tables_labelled-2017_england_ks5final.csv"] == ["- unknown"]
    assert got["dfe/la-815-north-yorkshire/performance-tables_815_spine.csv"] == ["- unknown"]
    assert got["other/maintained-finance_2014_income-expenditure.csv"] == ["2013/14 content (single year)"]
    for path, years in got.items():
        if "labelled-" in path:
            assert years == ["- unknown"], path


def test_no_silent_nulls(warehouse: Path) -> None:
    assert sql(warehouse, """SELECT count(*) FROM core.context
                             WHERE value IS NULL AND value_text IS NULL AND suppression IS NULL""") == [(0,)]
    reasons = dict(sql(warehouse, "SELECT raw_value, any_value(suppression) FROM core.context WHERE suppression IS NOT NULL GROUP BY 1"))
    assert {"SUPP", "NE", "NP", "NA", "z", "c", "LOWCOV", "NEW"} <= set(reasons)


def test_census_rows_equal_the_raw_file(warehouse: Path) -> None:
    f = need_data() / "dfe" / "performance-tables_2018-19_england_census.csv"
    raw = duckdb.connect()
    expect = raw.execute(f"""SELECT count(*) FILTER (WHERE regexp_full_match(URN, '[0-9]+')),
                                    count(*) FILTER (WHERE PNUMFSMEVER = 'NA'),
                                    sum(TRY_CAST(NOR AS BIGINT)) FILTER (WHERE regexp_full_match(URN, '[0-9]+'))
                             FROM read_csv('{f}', all_varchar = true)""").fetchall()[0]
    got = sql(warehouse, """SELECT count(DISTINCT urn),
                                   count(*) FILTER (WHERE measure = 'fsm6_pct' AND suppression = 'not applicable'),
                                   sum(value) FILTER (WHERE measure = 'pupils')::BIGINT
                            FROM core.context c JOIN meta.files f USING (file_id)
                            WHERE f.path = 'dfe/performance-tables_2018-19_england_census.csv'""")[0]
    assert got == expect


MATCH = """
WITH os AS (
    SELECT DISTINCT s.urn, s.phase FROM core.schools s JOIN meta.files f USING (file_id)
    WHERE f.path = 'ofsted/official-stats_schools_as-at-2025-08-31_england.csv'),
ctx AS (
    SELECT urn,
           CASE WHEN layout = 'dfe_census' THEN 'census' WHEN layout LIKE 'dfe_ks2%' THEN 'ks2' ELSE 'ks4' END AS fam,
           bool_or(measure IN ('fsm6_pct', 'ks2_reading_progress', 'progress8') AND value IS NOT NULL) AS has_value
    FROM core.context
    WHERE academic_year = '2018/19' AND layout IN ('dfe_census', 'dfe_ks2_final', 'dfe_ks2_subset', 'dfe_ks4_final', 'dfe_ks4_subset')
    GROUP BY ALL)
SELECT os.phase, count(DISTINCT os.urn) AS n,
       round(100.0 * count(DISTINCT os.urn) FILTER (WHERE fam = 'census') / count(DISTINCT os.urn), 1),
       round(100.0 * count(DISTINCT os.urn) FILTER (WHERE fam = 'ks2') / count(DISTINCT os.urn), 1),
       round(100.0 * count(DISTINCT os.urn) FILTER (WHERE fam = 'ks4') / count(DISTINCT os.urn), 1),
       round(100.0 * count(DISTINCT os.urn) FILTER (WHERE fam = 'census' AND has_value) / count(DISTINCT os.urn), 1),
       round(100.0 * count(DISTINCT os.urn) FILTER (WHERE fam = 'ks2' AND has_value) / count(DISTINCT os.urn), 1),
       round(100.0 * count(DISTINCT os.urn) FILTER (WHERE fam = 'ks4' AND has_value) / count(DISTINCT os.urn), 1)
FROM os LEFT JOIN ctx USING (urn)
GROUP BY ALL ORDER BY n DESC
"""


def test_2018_19_context_joins_the_2025_official_statistics_schools(warehouse: Path) -> None:
    """Share of the schools in the 2025 official statistics file, by Ofsted phase, with a
    2018/19 census, KS2 or KS4 row (and with a published fsm6_pct / reading progress / Progress 8),
    matched on URN alone: schools that opened or changed URN since 2019 do not match until
    lineage follows them."""
    rows = sql(warehouse, MATCH)
    print("\nphase      schools  census   ks2    ks4   | with a value: census(fsm6) ks2(reading) ks4(P8)")
    for phase, n, census, ks2, ks4, census_v, ks2_v, ks4_v in rows:
        print(f"{phase:<10} {n:>7} {census:>6}% {ks2:>5}% {ks4:>5}% | {census_v:>6}% {ks2_v:>6}% {ks4_v:>6}%")
    rate = {r[0]: r[1:5] for r in rows}
    assert rate["Primary"][0] > 16000
    assert rate["Primary"][1] >= 80 and rate["Secondary"][1] >= 80  # census
    assert rate["Special"][1] >= 70 and rate["PRU"][1] >= 70 and rate["Nursery"][1] >= 90
    assert rate["Primary"][2] >= 70  # KS2: infant and first schools have no key stage 2
    assert rate["Secondary"][3] >= 75  # KS4: middle schools and new schools have none
    assert rate["Primary"][3] == 0 and rate["Nursery"][2] == 0
