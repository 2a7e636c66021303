"""Integration: the real files in ../shared/data (skipped, with the reason, where absent)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from helpers import history, need_shared_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(shared_warehouse: Path) -> Path:
    return shared_warehouse


def sql(wh: Path, q: str) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(q).fetchall()
    finally:
        con.close()


def test_every_ofsted_and_gias_file_is_recognised(warehouse: Path) -> None:
    rows = dict(sql(warehouse, "SELECT path, layout FROM meta.files WHERE path LIKE 'ofsted/%' OR path LIKE 'dfe/gias%'"))
    assert rows == {
        "dfe/gias_group-links_2022-03.csv": "gias_group_links",
        "dfe/gias_groups_2022-03.csv": "gias_groups",
        "dfe/gias_links_2017-02-18.csv": "gias_links",
        "dfe/gias_links_2021-05.csv": "gias_links",
        "dfe/gias_links_2022-07-30.csv": "gias_links",
        "dfe/gias_links_2023-04-21.csv": "gias_links",
        "dfe/gias_links_2024-03-12.csv": "gias_links",
        "dfe/gias_links_2025-04-22.csv": "gias_links",
        "dfe/gias_links_2025-09.csv": "gias_links",
        "ofsted/mi_latest-inspections_as-at-2020-08-31_england.csv": "ofsted_latest_mi_2019",
        "ofsted/mi_latest-inspections_as-at-2026-02-28_leeds.csv": "ofsted_latest_report_card",
        "ofsted/official-stats_schools_as-at-2025-08-31_england.csv": "ofsted_latest_eif",
        "ofsted/official-stats_schools_as-at-2025-08-31_england.parquet": "ofsted_latest_eif",
        "ofsted/ratings-history_2005-2020_scraped.csv": "history_scraped",
    }


def test_national_counts_read_back_equal_the_raw_file(warehouse: Path) -> None:
    data = need_shared_data()
    f = data / "ofsted" / "official-stats_schools_as-at-2025-08-31_england.csv"
    raw = duckdb.connect()
    expect = raw.execute(
        f"""SELECT count(*),
                   count(DISTINCT "Inspection number of latest graded inspection"),
                   count(DISTINCT "Previous inspection number"),
                   count(DISTINCT "Latest ungraded inspection number since last graded inspection"),
                   count(*) FILTER (WHERE "Overall effectiveness" = '4'),
                   count(*) FILTER (WHERE "Safeguarding is effective?" = 'No')
            FROM read_csv('{f}', all_varchar=true)"""
    ).fetchall()[0]
    assert expect[0] == 21990
    fid = "(SELECT file_id FROM meta.files WHERE path = 'ofsted/official-stats_schools_as-at-2025-08-31_england.csv')"
    got = sql(warehouse, f"""
        SELECT (SELECT count(*) FROM core.schools WHERE file_id = {fid}),
               (SELECT count(DISTINCT event_id) FROM core.event_sources WHERE file_id = {fid} AND block = 'graded'),
               (SELECT count(DISTINCT event_id) FROM core.event_sources WHERE file_id = {fid} AND block = 'previous'),
               (SELECT count(DISTINCT event_id) FROM core.event_sources WHERE file_id = {fid} AND block = 'ungraded'),
               (SELECT count(*) FROM core.event_sources s JOIN core.judgements j USING (event_id)
                 WHERE s.file_id = {fid} AND s.block = 'graded' AND j.area = 'overall_effectiveness' AND j.code = '4'),
               (SELECT count(*) FROM core.event_sources s JOIN core.judgements j USING (event_id)
                 WHERE s.file_id = {fid} AND s.block = 'graded' AND j.area = 'safeguarding_effective' AND j.code = 'No')
    """)[0]
    assert got == expect
    # the Parquet copy (with 15 empty trailing rows) gives the same schools
    assert sql(warehouse, "SELECT rows_read, rows_empty FROM meta.files WHERE path LIKE '%england.parquet'") == [(21990, 15)]
    # the scraped history: every row is an event with its grade
    assert sql(warehouse, "SELECT rows_read FROM meta.files WHERE path LIKE '%scraped.csv'") == [(60134,)]


def test_caversham_primary_history(warehouse: Path) -> None:
    h = history(warehouse, 109778)
    assert h["school"]["school_name"] == "Caversham Primary School"
    by_start = {e["start_date"]: e for e in h["events"]}
    nov = by_start["2022-11-15"]
    assert nov["kind"] == "graded" and nov["publication_date"] == "2023-03-20"
    assert nov["event_id"] == "10242325"
    j = {x["area"]: x["label"] for x in nov["judgements"]}
    assert j["overall_effectiveness"] == "Inadequate"
    assert j["leadership_and_management"] == "Inadequate"
    assert j["safeguarding_effective"] == "No"
    for area in ("quality_of_education", "behaviour_and_attitudes", "personal_development", "early_years"):
        assert j[area] == "Good", area
    assert nov["category_of_concern"] == "SWK"
    june = by_start["2023-06-21"]
    jj = {x["area"]: x["label"] for x in june["judgements"] if x["graded"]}
    assert set(jj.values()) == {"Good", "Yes"}
    assert jj["overall_effectiveness"] == "Good"
    # 2009 outstanding: in the scraped history and, with its sub-judgements, in the 2020 MI file
    feb09 = {x["area"]: x["label"] for x in by_start["2009-02-26"]["judgements"]}
    assert feb09["overall_effectiveness"] == "Outstanding" and feb09["leadership_and_management"] == "Outstanding"


def test_ungraded_outcomes_and_report_cards(warehouse: Path) -> None:
    outcomes = dict(sql(warehouse, "SELECT label, count(*) FROM core.judgements WHERE area = 'ungraded_outcome' GROUP BY 1"))
    assert outcomes["School remains Good"] >= 5938
    rc = sql(warehouse, "SELECT count(*) FROM core.events WHERE kind = 'report_card'")
    assert rc == [(2,)]
    # IDACI: quintile 1 is least deprived (Wokingham) and 5 most deprived (Knowsley)
    q = dict(sql(warehouse, """SELECT local_authority, avg(idaci_quintile) FROM core.schools
                              WHERE local_authority IN ('Wokingham', 'Knowsley') GROUP BY 1"""))
    assert q["Wokingham"] < 2 < 4 < q["Knowsley"]


def test_intake_models_match_statsmodels_on_the_real_data(warehouse: Path) -> None:
    """The audits' proportional-odds fits (Newton, analytic Hessian) are at the maximum of
    statsmodels' OrderedModel likelihood to within 1e-6 in every parameter, on the national rows."""
    import datetime as dt

    import polars as pl

    from evenhand.audit import intake
    from evenhand.audit.result import AuditContext
    from evenhand.core.warehouse import connect
    from ordinal_reference import assert_at_statsmodels_maximum

    con = connect(warehouse, read_only=True)
    try:
        ctx = AuditContext(con=con, as_at=dt.date(2025, 8, 31))
        frame = intake.prepare(intake.warehouse_frame(ctx))
    finally:
        con.close()
    df = frame.filter(pl.col("area") == "overall_effectiveness").drop_nulls(
        ["idaci_quintile", "phase", "log_pupils", "type_group", "region", "year"]
    )
    eff = df.filter(pl.col("effectiveness").is_not_null() & pl.col("effectiveness").is_finite())
    assert df.height > 15_000 and eff.height > 5_000
    for fit in (intake._fit(df, with_eff=False), intake._fit(eff, with_eff=True)):
        assert fit.ok, fit.notes
        assert_at_statsmodels_maximum(fit)
