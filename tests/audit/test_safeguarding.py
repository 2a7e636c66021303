"""Safeguarding audit: definition on hand-made rows, a tiny built warehouse with hand-computed
figures, recovery of the planted safeguarding-limited share, and the national data."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl
import pytest
from inspections_fixture import context, nation_frame, national_warehouse, tiny_warehouse

from evenhand.audit import safeguarding
from evenhand.audit.result import describe
from evenhand.simulate.nation import simulate_nation
from evenhand.stats.intervals import wilson

COLS = (
    "event_id", "overall_effectiveness", "quality_of_education", "behaviour_and_attitudes",
    "personal_development", "leadership_and_management", "safeguarding_effective", "safeguarding_standards",
)


def frame(rows: list[tuple[str | None, ...]]) -> pl.DataFrame:
    df = pl.DataFrame(rows, schema=dict.fromkeys(COLS, pl.Utf8), orient="row")
    return df.with_columns(
        pl.lit(dt.date(2022, 11, 15)).alias("start_date"), pl.lit(1).alias("urn"), pl.lit("x").alias("era"),
    )


def test_definition_on_hand_made_rows() -> None:
    f = safeguarding.flag_events(frame([
        ("limited_oe", "4", "2", "2", "1", "4", "No", None),
        ("limited_lam_only", None, "1", "2", "2", "4", "No", None),  # no overall grade (2024-)
        ("education_ri", "4", "3", "2", "2", "4", "No", None),
        ("leadership_ri", "3", "2", "2", "2", "3", "No", None),  # neither inadequate
        ("safeguarding_yes", "4", "2", "2", "2", "4", "Yes", None),
        ("no_education_grades", "4", None, None, None, "4", "No", None),  # before 2019
        ("report_card_not_met", None, None, None, None, None, None, "Not met"),
        ("report_card_met", None, None, None, None, None, None, "Met"),
        ("not_recorded", "2", "2", "2", "2", "2", None, None),
    ]))
    got = {r["event_id"]: r for r in f.iter_rows(named=True)}
    assert [k for k, r in got.items() if r["safeguarding_limited"]] == ["limited_oe", "limited_lam_only"]
    assert [k for k, r in got.items() if r["safeguarding_not_effective"]] == [
        "limited_oe", "limited_lam_only", "education_ri", "leadership_ri", "no_education_grades", "report_card_not_met",
    ]
    assert not got["no_education_grades"]["classifiable"]
    assert not got["not_recorded"]["safeguarding_recorded"]
    s = safeguarding.summarise(f)
    assert (s.n_graded, s.n_not_effective, s.n_limited) == (8, 6, 2)
    assert s.n_not_effective_classifiable == 4  # limited x2, education_ri, leadership_ri
    assert s.limited_among_not_effective == wilson(2, 6)
    assert s.limited_among_graded == wilson(2, 8)
    assert s.n_qoe_good == 3  # limited_oe, limited_lam_only, leadership_ri
    assert s.n_otherwise_good == 3 and s.otherwise_good_among_not_effective == wilson(3, 6)


def test_academic_year() -> None:
    f = pl.DataFrame({"start_date": [dt.date(2022, 8, 31), dt.date(2022, 9, 1), dt.date(2000, 1, 5)]})
    assert f.select(safeguarding.academic_year())["start_date"].to_list() == ["2021/22", "2022/23", "1999/00"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_warehouse(tmp_path_factory.mktemp("safeguarding"))


def test_tiny_warehouse_hand_computed(tiny: Path) -> None:
    ctx = context(tiny)
    r = safeguarding.run(ctx)
    # 10 graded inspections, all with a safeguarding judgement; No at A 2022-11-15, B 2023-01-10,
    # E 2024-10-01; A and E are safeguarding-limited (B's education was RI).
    assert r.figure("not_effective_rate").estimate == wilson(3, 10)
    assert r.figure("limited_among_not_effective").estimate == wilson(2, 3)
    assert r.figure("limited_among_graded").estimate == wilson(2, 10)
    assert r.figure("limited_count").estimate.value == 2
    events = r.tables["events"]
    assert events.height == 3
    assert events.filter(pl.col("safeguarding_limited"))["urn"].to_list() == [109778, 100004]
    cav = events.filter(pl.col("urn") == 109778).row(0, named=True)
    assert cav["start_date"] == dt.date(2022, 11, 15) and cav["publication_date"] == dt.date(2023, 3, 20)
    assert (cav["overall_effectiveness"], cav["quality_of_education"], cav["leadership_and_management"]) == ("4", "2", "4")
    trend = {row["academic_year"]: row for row in r.tables["main"].iter_rows(named=True)}
    assert set(trend) == {"2019/20", "2021/22", "2022/23", "2024/25"}
    # 2022/23: A 2022-11-15 and 2023-06-21, B 2023-01-10, D 2023-05-01
    assert (trend["2022/23"]["n_graded"], trend["2022/23"]["n_not_effective"], trend["2022/23"]["n_limited"]) == (4, 2, 1)
    assert (trend["2024/25"]["n_graded"], trend["2024/25"]["n_limited"]) == (1, 1)
    assert "safeguarding-limited" in r.method and "codes 1-2" in r.method
    assert any("previous" in c and "latest" in c for c in r.caveats)
    assert r.inputs and r.inputs[0]["sha256"]
    assert r.chart is None  # every year has fewer than 30 graded inspections: nothing worth drawing
    # deterministic and JSON-ready
    again = safeguarding.run(ctx)
    assert json.dumps(r.to_dict(), sort_keys=True, default=str) == json.dumps(again.to_dict(), sort_keys=True, default=str)
    assert all(t.equals(again.tables[k]) for k, t in r.tables.items())


def test_as_at_excludes_later_inspections(tiny: Path) -> None:
    r = safeguarding.run(context(tiny, dt.date(2023, 8, 31)))
    assert r.figure("not_effective_rate").estimate == wilson(2, 9)  # E's 2024 inspection not yet
    assert r.figure("limited_count").estimate.value == 1


def _eif(nation_seed: int, n_schools: int) -> tuple[pl.DataFrame, float, int]:
    nation = simulate_nation(n_schools, seed=nation_seed)
    f = nation_frame(nation).filter(pl.col("era") == "eif_2019")
    return f, nation.truth.safeguarding_limited_share, nation.truth.safeguarding_limited_count


def test_recovers_planted_safeguarding_limited_share() -> None:
    f, truth, count = _eif(7, 20_000)
    _, s, _, events = safeguarding.analyse(f)
    assert s.n_limited == count  # the definition finds exactly the planted events
    assert events.filter(pl.col("safeguarding_limited")).height == count
    assert s.limited_among_graded.covers(truth)
    assert s.limited_among_graded.n == f.height


@pytest.mark.slow
def test_safeguarding_limited_share_interval_coverage() -> None:
    reps, covered = 200, 0
    for seed in range(reps):
        f, truth, _ = _eif(1000 + seed, 2_000)
        covered += safeguarding.analyse(f)[1].limited_among_graded.covers(truth)
    assert 0.90 * reps <= covered <= 0.99 * reps, covered


@pytest.mark.integration
def test_national_caversham_is_safeguarding_limited() -> None:
    ctx = context(national_warehouse(), dt.date(2025, 8, 31))
    r = safeguarding.run(ctx)
    events = r.tables["events"]
    cav = events.filter((pl.col("urn") == 109778) & (pl.col("start_date") == dt.date(2022, 11, 15)))
    assert cav.height == 1 and cav["safeguarding_limited"].item()
    assert cav["publication_date"].item() == dt.date(2023, 3, 20)
    n_no = r.figure("not_effective_rate").estimate
    assert n_no.n > 20_000 and 0 < n_no.value < 0.05 and not math.isnan(n_no.low)
    assert 0 < r.figure("limited_count").estimate.value < n_no.value * n_no.n
    assert len(r.findings) >= 2 and r.caveats
    assert r.chart is not None and "2014/15" in json.dumps(r.chart["title"])  # left out (n = 1), and says so


def test_inadequate_count_on_the_pooled_frame_or_the_snapshot_file() -> None:
    # two EIF inadequate judgements in the snapshot file's blocks, one only in another file (2020 MI), one CIF
    f = pl.DataFrame({
        "era": ["eif_2019", "eif_2019", "eif_2019", "cif_2015"],
        "safeguarding_recorded": [True, True, True, True],
        "overall_effectiveness": ["4", "4", "4", "4"],
        "safeguarding_not_effective": [True, False, True, True],
        "snapshot_block": ["latest graded inspection", "previous graded inspection", None, None],
    })
    assert safeguarding.inadequate_with_safeguarding(f) == (2, 1)
    assert safeguarding.inadequate_with_safeguarding(f, snapshot_only=False) == (3, 2)


def test_key_finding_leads_with_the_classifiable_denominator(tiny: Path) -> None:
    r = safeguarding.run(context(tiny))
    cls = r.figure("limited_among_classifiable").estimate
    every = r.figure("limited_among_not_effective").estimate
    k = int(r.figure("limited_count").estimate.value)
    head = r.findings[0]
    # "k of the n_cls ... that can be safeguarding-limited", its share; the unclassifiable ones as context
    assert f"of the {cls.n:,} graded inspections that found safeguarding not effective and carry all three" in head
    assert f"{k:,} were inadequate overall or for leadership" in head and describe(cls, "share") in head
    if every.n > cls.n:
        assert f"the other {every.n - cls.n:,} of the {every.n:,} found not effective" in head
        assert describe(every, "share") not in head  # the diluted share is not the headline any more
    else:
        assert f"every one of the {every.n:,} found not effective" in head
    # the inadequate count beside it is on the same frame (every loaded file), and says so
    all_files = r.figure("eif_inadequate_safeguarding_not_effective_all_files").estimate
    if all_files.n:
        assert f"{round(all_files.value * all_files.n):,} of {all_files.n:,} inadequate judgements" in head
        assert "same frame (every loaded file" in head
