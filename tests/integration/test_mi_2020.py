"""Integration: the 31 August 2020 MI (as R saved it) beside the 2025 official statistics, on the
real files in ../shared/data (skipped, with the reason, where absent). Each headline number is
recomputed by a plain second route over the raw CSV."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from evenhand.audit import headline, timing
from evenhand.core.pipeline import DATA_SUFFIXES, build_warehouse, discover
from evenhand.read.containers import open_file
from evenhand.read.sniff import recognise
from helpers import need_shared_data

pytestmark = pytest.mark.integration

MI_2020 = "mi_latest-inspections_as-at-2020-08-31_england.csv"
AS_AT = dt.date(2020, 8, 31)


@pytest.fixture(scope="module")
def raw_2020() -> pl.DataFrame:
    return pl.read_csv(need_shared_data() / "ofsted" / MI_2020, infer_schema=False)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = need_shared_data()
    raw = tmp_path_factory.mktemp("raw")
    for f in sorted((data / "ofsted").iterdir()):
        shutil.copy(f, raw / f.name)
    wh = tmp_path_factory.mktemp("wh") / "evenhand.duckdb"
    build_warehouse(raw, wh)
    return wh


def context(wh: Path, as_at: dt.date):  # type: ignore[no-untyped-def]
    from audit_fixture import context as ctx

    return ctx(wh, as_at)


def test_every_data_file_in_the_shared_folder_is_recognised() -> None:
    data = need_shared_data()
    unrecognised = []
    for p in discover(data):
        if p.suffix.lower() not in DATA_SUFFIXES or p.name == "MANIFEST.tsv":
            continue
        if recognise(open_file(p, p.name)) is None:
            unrecognised.append(str(p.relative_to(data)))
    assert unrecognised == []
    m = recognise(open_file(data / "ofsted" / MI_2020, MI_2020))
    assert m is not None and m.layout.name == "ofsted_latest_mi_2019" and len(m.mapping) == 70 and not m.ambiguous


def test_headline_as_at_2020_reproduces_the_file(warehouse: Path, raw_2020: pl.DataFrame) -> None:
    r = headline.run(context(warehouse, AS_AT))
    # plain route: the raw CSV, one row per open school
    n = raw_2020.height
    start = pl.col("Inspection.start.date").str.to_date("%Y-%m-%d")
    year = raw_2020.filter((start >= dt.date(2019, 9, 1)) & (start <= AS_AT))
    assert r.figure("schools").estimate.value == n == 21_969
    assert r.figure("graded_in_year").estimate.value == year.height
    assert r.figure("share_graded_current_framework").estimate.value == pytest.approx(year.height / n)
    oe = year.filter(pl.col("Overall.effectiveness").is_in(["1", "2", "3", "4"]))
    assert r.figure("good_or_outstanding_overall_effectiveness").estimate.value == pytest.approx(
        oe.filter(pl.col("Overall.effectiveness").is_in(["1", "2"])).height / oe.height)
    graded_qoe = year.filter(pl.col("Quality.of.education").is_in(["1", "2", "3", "4"]))
    good = graded_qoe.filter(pl.col("Quality.of.education").is_in(["1", "2"])).height
    assert r.figure("good_or_outstanding_quality_of_education").estimate.value == pytest.approx(good / graded_qoe.height)
    assert r.figure("good_or_outstanding_quality_of_education").estimate.n == graded_qoe.height


def test_inspection_length_by_era_matches_the_file(warehouse: Path, raw_2020: pl.DataFrame) -> None:
    r = timing.run(context(warehouse, dt.date(2025, 8, 31)))
    # plain route: every full inspection of the 2020 file (latest and previous), once per number
    blocks = [("Inspection.number.of.latest.full.inspection", "Inspection.start.date", "Inspection.end.date"),
              ("Previous.full.inspection.number", "Previous.inspection.start.date", "Previous.inspection.end.date")]
    ev = pl.concat([raw_2020.select(pl.col(a).alias("n"), pl.col(b).str.to_date().alias("s"), pl.col(c).str.to_date().alias("e"))
                    for a, b, c in blocks]).drop_nulls().unique("n")
    ev = ev.with_columns(((pl.col("e") - pl.col("s")).dt.total_days() + 1).alias("days")).filter(pl.col("days") >= 1)
    eras = {"s5_2005": (dt.date(2005, 9, 1), dt.date(2009, 8, 31)), "s5_2012": (dt.date(2012, 9, 1), dt.date(2015, 8, 31)),
            "eif_2019": (dt.date(2019, 9, 1), dt.date(2024, 8, 31))}
    table = r.tables["length"].filter((pl.col("dimension") == "era") & (pl.col("kind") == "graded"))
    for era, (lo, hi) in eras.items():
        part = ev.filter(pl.col("s").is_between(lo, hi))
        (row,) = table.filter(pl.col("group") == era).to_dicts()
        assert row["n"] == part.height
        assert row["mean_days"] == pytest.approx(part["days"].mean())
    assert not any("cannot be measured" in c for c in r.caveats)
