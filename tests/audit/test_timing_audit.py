"""Timing audit: publication delay against the targets, inspection length, age of judgements.

The fixture (tests/audit/audit_fixture.py) puts inspection and publication dates a whole number
of weeks apart, so each delay is 5 working days per week less any bank holiday in between;
the expected numbers below are worked out by hand from those dates.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from audit_fixture import AS_AT, build, context, national_warehouse
from scipy import stats

from evenhand.audit import timing
from evenhand.audit.result import AuditResult
from evenhand.core.pipeline import build_warehouse
from helpers import csv_text, graded, mi_eif_headers, school, write


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    return timing.run(context(build(tmp_path_factory.mktemp("timing"))))


def era_row(result: AuditResult, era: str, kind: str) -> dict[str, object]:
    main = result.tables["main"]
    rows = main.filter((pl.col("dimension") == "era") & (pl.col("group") == era) & (pl.col("kind") == kind)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_median_interval_is_the_order_statistic_interval() -> None:
    # Binomial(10, 1/2): P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024, so ranks 2 and 9
    e = timing.median_interval(list(range(1, 11)))
    assert (e.value, e.low, e.high, e.n) == (5.5, 2.0, 9.0, 10)
    # n = 6: P(B <= 0) = 1/64 <= 0.025, so the extremes
    e6 = timing.median_interval([6, 1, 5, 2, 4, 3])
    assert (e6.value, e6.low, e6.high) == (3.5, 1.0, 6.0)
    # n = 5: P(B <= 0) = 1/32 > 0.025: no 95% interval exists
    e5 = timing.median_interval([1, 2, 3, 4, 5])
    assert e5.value == 3.0 and math.isnan(e5.low) and math.isnan(e5.high)
    assert math.isnan(timing.median_interval([]).value)


def test_mean_interval() -> None:
    e = timing.mean_interval([25, 35, 25])
    sd = math.sqrt(((25 - 85 / 3) ** 2 * 2 + (35 - 85 / 3) ** 2) / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert e.value == pytest.approx(85 / 3)
    assert (e.low, e.high) == (pytest.approx(85 / 3 - half), pytest.approx(85 / 3 + half))


def test_delays_of_2024_25_graded_inspections(result: AuditResult) -> None:
    # 30 Sep -> 4 Nov 2024 (5 weeks), 7 Oct -> 25 Nov (7 weeks), 14 Oct -> 18 Nov (5 weeks)
    r = era_row(result, "eif_2024", "graded")
    assert (r["n"], r["median_working_days"], r["mean_working_days"]) == (3, 25.0, pytest.approx(85 / 3))
    assert r["median_low"] is None  # n < 6: no interval
    # target 38 working days (the 2021 arrangements, carried forward): none of the waits is beyond it
    assert (r["target_working_days"], r["n_with_target"], r["beyond_target"]) == ("38", 3, 0)
    assert r["beyond_share"] == 0 and r["beyond_upper_bound"] == 0
    assert r["basis"] == "start"


def test_delays_of_2024_25_ungraded_inspections(result: AuditResult) -> None:
    # 13 Jan -> 10 Feb 2025 (4 weeks), 3 Mar -> 31 Mar 2025 (4 weeks), 23 Sep -> 4 Nov 2024 (6 weeks: 30, not beyond 38)
    r = era_row(result, "eif_2024", "ungraded")
    assert (r["n"], r["median_working_days"], r["beyond_target"]) == (3, 20.0, 0)


def test_cif_targets_and_the_longer_target_for_inadequate(result: AuditResult) -> None:
    # 1 Mar -> 5 Apr 2018: 25 less Good Friday and Easter Monday = 23; 5 May -> 9 Jun 2016: 25 less 30 May = 24;
    # inadequate 5 Feb -> 12 Mar 2018 = 25 and 1 Jun -> 10 Jul 2017 = 27, both within the 28-day target for
    # reports that need further quality assurance; the first two are beyond the normal 19
    r = era_row(result, "cif_2015", "graded")
    assert (r["n"], r["median_working_days"], r["beyond_target"], r["n_with_target"]) == (4, 24.5, 2, 4)
    assert r["target_working_days"] == "19, 28"


def test_age_of_latest_graded_judgement(result: AuditResult) -> None:
    starts = [dt.date(2024, 9, 30), dt.date(2024, 10, 7), dt.date(2018, 3, 1), dt.date(2021, 6, 10), dt.date(2016, 5, 5),
              dt.date(2024, 10, 14), dt.date(2022, 1, 10), dt.date(2019, 10, 1), dt.date(2024, 6, 3)]
    ages = sorted((AS_AT - d).days for d in starts)
    med = result.figure("median_age_latest_graded").estimate
    assert (med.value, med.n) == (ages[4], 9) == (1329, 9)
    # more than 4 years (1,461 days): 2021-06-10, 2019-10-01, 2018-03-01, 2016-05-05; more than 6: the last two
    assert (result.figure("share_latest_graded_older_than_4y").estimate.value, result.figure("share_latest_graded_older_than_6y").estimate.value) == (4 / 9, 2 / 9)
    assert result.tables["age"]["schools"].sum() == 9


def test_no_end_dates_means_no_length_and_a_caveat(result: AuditResult) -> None:
    assert result.tables["length"].height == 0
    assert any("0 run from the inspection's end date" in c for c in result.caveats)
    assert any("cannot be measured" in c for c in result.caveats)


def test_targets_file_states_its_sources() -> None:
    t = timing.publication_targets()
    assert t.height >= 3 and t["source"].str.len_chars().min() > 40  # type: ignore[operator]
    assert set(t["basis"].to_list()) == {"end_to_publication"}
    # every row is verified or not, with the words found and an address; a verified row quotes Ofsted itself
    assert set(t["verified"].to_list()) <= {"yes", "no"}
    for r in t.iter_rows(named=True):
        assert "http" in r["evidence"] or "No source found" in r["evidence"] or "No later statement" in r["evidence"], r
        if r["verified"] == "yes":
            assert "Quoted words:" in r["evidence"] and "https://www.gov.uk/" in r["evidence"]
    # the EIF's two targets do not overlap: each inspection is judged against the one in force on its date
    eif = t.filter((pl.col("era") == "eif_2019") & (pl.col("level") == "normal")).sort("valid_from")
    assert eif["target_working_days"].to_list() == [30, 38] and eif["valid_to"][0] < eif["valid_from"][1]


def test_publisher_check_reproduces_a_published_average_only_under_its_definition() -> None:
    # inspections of Sept 2018 - July 2019: Ofsted published 18; three delays of 22-24 plain, 17-19 in term time
    df = pl.DataFrame({
        "start_date": [dt.date(2018, 10, 1), dt.date(2019, 3, 4), dt.date(2019, 6, 3), dt.date(2017, 1, 9)],
        "kind": ["graded"] * 4,
        "end_wd": [22.0, 23.0, 24.0, 90.0], "end_term_wd": [17.0, 18.0, 19.0, 90.0],
        "start_wd": [23.0, 24.0, 25.0, 91.0], "start_term_wd": [18.0, 19.0, 20.0, 91.0],
    })
    check = timing.publisher_check(df)
    g = {r["definition"]: r for r in check.filter((pl.col("inspections") == "graded") & (pl.col("period").str.starts_with("2018")))
         .iter_rows(named=True)}
    assert g["end to publication, school holidays left out as well"]["mean"] == 18 and g["end to publication, school holidays left out as well"]["reproduces"]
    assert g["end to publication, weekends and bank holidays left out"]["mean"] == 23 and not g["end to publication, weekends and bank holidays left out"]["reproduces"]
    assert {r["n"] for r in g.values()} == {3}  # the 2017 inspection is outside the period
    sentence = timing.publisher_sentence(check)
    # the finding quotes only the one rule's rows (every kind, from the start): 19 in term time, not matched to 18
    assert sentence and "for 2018-09-01 - 2019-07-31 Ofsted published 18" in sentence
    assert "19.0 (" in sentence and "18.0 (" not in sentence and "Matched under this rule: none" in sentence


def test_publisher_check_uses_one_rule_for_every_period() -> None:
    # 2018/19: graded with end dates (end, term time = 18: the old finding's pick) and ungraded without;
    # 2021: no end dates, graded (term 31) and ungraded (term 23): every kind = 27 (the old finding's pick)
    d = dt.date
    df = pl.DataFrame({
        "start_date": [d(2018, 10, 1), d(2019, 3, 4), d(2019, 5, 6), d(2021, 5, 4), d(2021, 6, 7)],
        "kind": ["graded", "graded", "ungraded", "graded", "ungraded"],
        "end_wd": [22.0, 24.0, None, None, None], "end_term_wd": [17.0, 19.0, None, None, None],
        "start_wd": [23.0, 25.0, 20.0, 52.0, 42.0], "start_term_wd": [18.0, 20.0, 13.0, 31.0, 23.0],
    })
    check = timing.publisher_check(df)
    q = check.filter(pl.col("quoted"))
    # the quoted rows: every kind, from the start, both countings, in both periods
    assert set(q["inspections"].to_list()) == {"every kind"}
    assert q["definition"].str.starts_with("start").all() and q.height == 4
    assert sorted(q.filter(pl.col("definition").str.contains("school holidays"))["mean"].to_list()) == [17.0, 27.0]
    sentence = timing.publisher_sentence(check)
    assert sentence is not None
    assert "Matched (within half a day): 2021-04-01 - 2021-07-31 with school holidays left out (27.0 against 27)" in sentence
    assert "2018-09-01 - 2019-07-31 with school holidays left out (17.0 against 18)" in sentence.split("Not matched:")[1]
    assert "18.0 (" not in sentence  # the graded end-date row of 2018/19 (the old pick) is context, not quoted
    assert "do not reproduce both" in sentence


def test_chart_findings_and_determinism(tmp_path: Path, result: AuditResult) -> None:
    assert result.chart is not None and result.findings and result.inputs
    again = timing.run(context(build(tmp_path)))
    assert json.dumps(again.to_dict(), sort_keys=True, default=str) == json.dumps(result.to_dict(), sort_keys=True, default=str)
    assert again.tables["main"].equals(result.tables["main"])


@pytest.mark.integration
@pytest.mark.slow
def test_national(tmp_path_factory: pytest.TempPathFactory) -> None:
    r = timing.run(context(national_warehouse(tmp_path_factory.mktemp("national"))))
    g = r.figure("median_delay_eif_2024_graded").estimate
    assert g.n == 3_269 and 10 <= g.value <= 60 and g.low <= g.value <= g.high
    assert r.figure("median_age_latest_graded").estimate.n + int(r.figure("schools_never_graded").estimate.value) == 21_990
    shares = [f.estimate for f in r.figures if f.unit == "share"]
    assert shares and all(0 <= e.low <= e.value <= e.high <= 1 for e in shares)
    assert np.isfinite(r.tables["main"]["median_working_days"].to_numpy()).all()
    # Ofsted's own average for inspections of Sept 2018 - July 2019 (18 working days, from the end) is reproduced
    # only when school holidays are left out too; weekends and bank holidays alone give about 23
    p = r.tables["publisher"].filter((pl.col("period") == "2018-09-01 to 2019-07-31") & (pl.col("inspections") == "graded"))
    term = p.filter(pl.col("definition") == "end to publication, school holidays left out as well").row(0, named=True)
    plain = p.filter(pl.col("definition") == "end to publication, weekends and bank holidays left out").row(0, named=True)
    assert term["reproduces"] and not plain["reproduces"] and plain["mean"] > 21 and term["n"] > 2_000
    # ... but the finding quotes one rule for both periods (every kind, from the start), and the figures are its rows:
    # 2018/19 17.3 (n 4,819) against 18 is not matched, 2021 27.4 (n 207) against 27 is; the 2021 graded rows
    # (31.2, n 94) and the 2018/19 end-date rows are context only
    q = r.tables["publisher"].filter(pl.col("quoted"))
    assert set(q["inspections"].to_list()) == {"every kind"} and q["definition"].str.starts_with("start").all()
    pub_figs = {f.key: f.estimate for f in r.figures if f.key.startswith("publisher_check_")}
    assert sorted(e.n for e in pub_figs.values()) == sorted(q["n"].to_list())
    sentence = next(f for f in r.findings if f.startswith("Reproducing the publisher"))
    for row in q.iter_rows(named=True):
        assert f"{row['mean']:.1f} (" in sentence and f"n = {row['n']:,})" in sentence
    assert "n = 94" not in sentence and "do not reproduce both" in sentence
    t21 = q.filter(pl.col("period").str.starts_with("2021") & pl.col("definition").str.contains("school holidays")).row(0, named=True)
    t18 = q.filter(pl.col("period").str.starts_with("2018") & pl.col("definition").str.contains("school holidays")).row(0, named=True)
    assert t21["reproduces"] and not t18["reproduces"] and t18["n"] > t21["n"] > 100
    # the key findings quoting a share beyond the target say in the sentence when it is unverified (38 for 2024/25; 19/28 CIF)
    assert "unverified publication target" in r.findings[0] and "38 working days is NOT verified" in r.findings[0]
    cif = next(f for f in r.findings if f.startswith("Counted from the last day"))
    assert "19 and 28 working days are NOT verified" in cif


def test_outcome_within_era(result: AuditResult) -> None:
    main = result.tables["main"].filter(pl.col("dimension") == "era and outcome")
    row = main.filter(pl.col("group") == "eif_2024: Not judged").row(0, named=True)
    assert (row["n"], row["median_working_days"]) == (3, 25.0)
    assert main.filter(pl.col("group") == "cif_2015: Inadequate")["n"].item() == 2


def test_median_interval_coverage_on_simulated_delays() -> None:
    # skewed, whole-number delays with a known median: the 95% order-statistic interval should
    # cover it in at least about 95% of samples (ties make it conservative), and not absurdly more
    rng = np.random.default_rng(20230108)
    truth_draws = np.round(np.exp(rng.normal(3.2, 0.5, 2_000_000)))
    truth = float(np.median(truth_draws))
    covered = 0
    for _ in range(400):
        sample = np.round(np.exp(rng.normal(3.2, 0.5, 60)))
        covered += timing.median_interval(sample).covers(truth)
    assert 0.93 <= covered / 400 <= 0.995


def test_end_dates_give_length_and_the_end_basis(tmp_path: Path) -> None:
    # monthly MI (EIF layout) carries inspection end dates: two two-day inspections
    rows = [
        # Mon 3 Oct 2022 - Tue 4 Oct, published Mon 14 Nov: 30 working days after the start, 29 after the end
        {**school(100101), **graded("10100001", "03/10/2022", "14/11/2022", "2", **{"Inspection end date": "04/10/2022"})},
        # Mon 10 Oct - Tue 11 Oct, published Mon 12 Dec: 45 after the start, 44 after the end (beyond the 38 in force since 2020-21)
        {**school(100102), **graded("10100002", "10/10/2022", "12/12/2022", "3", **{"Inspection end date": "11/10/2022"})},
    ]
    write(tmp_path / "raw" / "mi_latest-inspections_as-at-2022-11-30.csv", csv_text(mi_eif_headers(), rows))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    r = timing.run(context(wh, dt.date(2022, 11, 30)))
    length = r.tables["length"].filter(pl.col("dimension") == "kind").row(0, named=True)
    assert (length["kind"], length["n"], length["median_days"], length["median_working_days"]) == ("graded", 2, 2.0, 2.0)
    row = era_row(r, "eif_2019", "graded")
    assert row["basis"] == "end" and row["n_end"] == 2
    assert (row["median_working_days"], row["median_end_working_days"]) == (37.5, 36.5)
    assert (row["beyond_target"], row["n_with_target"]) == (1, 2)
    assert not any("cannot be measured" in c for c in r.caveats)


def test_length_by_type_era_and_outcome_counts_working_days_on_site(tmp_path: Path) -> None:
    rows = [
        # Fri 26 Aug 2022 - Tue 30 Aug (Mon 29 Aug is the summer bank holiday): 5 calendar days, 2 working days
        {**school(100201), **graded("10200001", "26/08/2022", "10/10/2022", "2", **{"Inspection end date": "30/08/2022"})},
        # Wed 5 Oct - Thu 6 Oct 2022: 2 and 2
        {**school(100202), **graded("10200002", "05/10/2022", "14/11/2022", "4", **{"Inspection end date": "06/10/2022",
            "Inspection type grouping": "Section 8 deemed section 5", "Inspection type": "S8 No Formal Designation Visit",
            "Event type grouping": "Schools - S8 deemed S5"})},
        # Tue 11 Oct 2022, one day
        {**school(100203), **graded("10200003", "11/10/2022", "21/11/2022", "2", **{"Inspection end date": "11/10/2022"})},
    ]
    write(tmp_path / "raw" / "mi_latest-inspections_as-at-2022-11-30.csv", csv_text(mi_eif_headers(), rows))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    r = timing.run(context(wh, dt.date(2022, 11, 30)))
    t = r.tables["length"]

    def row(dimension: str, group: str) -> dict[str, object]:
        (found,) = t.filter((pl.col("dimension") == dimension) & (pl.col("group") == group)).to_dicts()
        return found

    k = row("kind", "graded")
    assert (k["n"], k["mean_days"], k["mean_working_days"], k["one_working_day"]) == (3, pytest.approx(8 / 3), pytest.approx(5 / 3), 1)
    assert row("inspection type grouping", "Section 8 deemed section 5")["mean_working_days"] == 2.0
    assert row("inspection type grouping", "S5 Inspection")["n"] == 2
    assert row("outcome", "Inadequate")["n"] == 1 and row("outcome", "Good")["mean_days"] == 3.0
    assert row("era", "eif_2019")["n"] == 3 and row("era and outcome", "eif_2019: Good")["n"] == 2
    fig = {f.key: f for f in r.figures}["mean_length_working_days_graded"]
    assert (fig.estimate.value, fig.estimate.n) == (pytest.approx(5 / 3), 3)


def test_a_share_beyond_an_unverified_target_says_so_in_its_sentence() -> None:
    # maps/publication_targets.csv: 38 verified for 2020-2024 only; 30 (2019/20), 38 for 2024/25, 19 and 28 (CIF) not
    assert timing.unverified_targets("eif_2019", "38") == []
    assert timing.unverified_targets("eif_2019", "30, 38") == [30]
    assert timing.unverified_targets("eif_2024", "38") == [38]
    assert timing.unverified_targets("cif_2015", "19, 28") == [19, 28]
    assert "NOT verified" in timing.target_caveat("cif_2015", "19, 28") and "19 and 28 working days are" in timing.target_caveat("cif_2015", "19, 28")
    assert "NOT verified" not in timing.target_caveat("eif_2019", "38")
