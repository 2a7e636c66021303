"""Frameworks audit: per-era measures on the tiny built warehouse (hand-computed) and on the
national data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from inspections_fixture import context, national_warehouse, tiny_warehouse

from evenhand.audit import frameworks
from evenhand.stats.intervals import newcombe_difference, wilson


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_warehouse(tmp_path_factory.mktemp("frameworks"))


def test_tiny_warehouse_hand_computed(tiny: Path) -> None:
    ctx = context(tiny)
    r = frameworks.run(ctx)
    # the pooled per-era table (kept for reference; the findings and figures are like for like)
    t = {row["era"]: row for row in r.tables["pooled_by_era"].iter_rows(named=True)}
    assert list(t) == ["eif_2019", "eif_2024"]
    e = t["eif_2019"]
    # eif_2019 holds 9 inspections (all but E's 2024 one).
    assert e["n_events"] == 9 and e["measure"] == "overall effectiveness"
    # IDACI 1 = A and D: A 4, A 2, D 3, D 2 -> 2 of 4 good or better;
    # IDACI 5 = B and C and E: B 1, B 4, C 2, C 2, E 2 -> 4 of 5.
    assert (e["k_q1"], e["n_q1"], e["k_q5"], e["n_q5"]) == (2, 4, 4, 5)
    gap = newcombe_difference(4, 5, 2, 4)
    assert (e["gap_q5_minus_q1"], e["gap_low"], e["gap_high"]) == pytest.approx((gap.value, gap.low, gap.high))
    # transitions into eif_2019: 4 comparable, 1 unchanged, 1 cliff edge
    assert (e["n_transitions"], e["unchanged"], e["cliff_edges"]) == (4, 1, 1)
    assert (e["stability"], e["cliff_edge_rate"]) == (wilson(1, 4).value, wilson(1, 4).value)
    # safeguarding not effective: A 2022 and B 2023 of 9
    assert (e["n_safeguarding_not_effective"], e["n_safeguarding_recorded"]) == (2, 9)
    # no pooled figure: every figure is read from the like-for-like frame
    assert not [x.key for x in r.figures if not x.key.endswith(("_like_for_like", "_latest_block"))]
    f = t["eif_2024"]
    assert f["measure"] == "quality of education" and f["n_events"] == 1
    assert (f["k_q5"], f["n_q5"], f["n_q1"]) == (1, 1, 0) and f["gap_q5_minus_q1"] is None
    assert f["n_transitions"] == 0 and f["stability"] is None
    assert (f["n_safeguarding_not_effective"], f["n_safeguarding_recorded"]) == (1, 1)
    assert all(row["small_n"] for row in t.values())
    assert r.small_n == ["Education inspection framework (2019-2024): 9 graded inspections",
                         "EIF without overall grade (2024-2025): 1 graded inspections"]  # era labels, not codes
    again = frameworks.run(ctx)
    assert json.dumps(r.to_dict(), sort_keys=True, default=str) == json.dumps(again.to_dict(), sort_keys=True, default=str)


def test_small_n_notes_per_measure() -> None:
    table = pl.DataFrame([
        {"era": "x", "small_n": False, "n_events": 500, "n_q1": 50, "n_q5": 200, "n_transitions": 0, "n_safeguarding_recorded": 1},
        {"era": "y", "small_n": True, "n_events": 2, "n_q1": 0, "n_q5": 0, "n_transitions": 0, "n_safeguarding_recorded": 2},
    ])
    assert frameworks.small_n_notes(table) == ["x: IDACI quintile 1 (n = 50)", "x: safeguarding judgements (n = 1)", "y: 2 graded inspections"]


@pytest.mark.integration
def test_national_frameworks_with_report_cards() -> None:
    r = frameworks.run(context(national_warehouse(), dt.date(2026, 2, 28)))
    t = {row["era"]: row for row in r.tables["pooled_by_era"].iter_rows(named=True)}
    assert {"cif_2015", "eif_2019", "eif_2024", "report_card_2025"} <= set(t)
    assert t["report_card_2025"]["n_events"] == 2 and t["report_card_2025"]["small_n"]
    assert any(s.startswith("Report cards (2025-)") for s in r.small_n)  # the era by its label
    e = t["eif_2019"]
    assert e["n_events"] > 10_000 and not e["small_n"]
    assert e["gap_low"] <= e["gap_q5_minus_q1"] <= e["gap_high"]
    assert e["n_transitions"] > 10_000 and 0 < e["stability"] < 1
    assert 0 < e["safeguarding_not_effective_rate"] < 0.1
    assert t["eif_2024"]["measure"] == "quality of education" and t["eif_2024"]["n_transitions"] == 0
    assert r.findings and r.chart is not None
    # like for like: CIF read from the 2020 file, the EIF from the 2025 one, primary and secondary
    lfl = {row["era"]: row for row in r.tables["main"].filter(pl.col("kind") == frameworks.HEADLINE_KIND).iter_rows(named=True)}
    assert lfl["cif_2015"]["snapshot_as_at"] == dt.date(2020, 8, 31) and lfl["eif_2019"]["snapshot_as_at"] == dt.date(2025, 8, 31)
    assert lfl["eif_2019"]["n_transitions"] > 5_000 and lfl["cif_2015"]["n_transitions"] > 5_000
    assert r.findings[0].startswith("Like against like")
    d = r.tables["differences"].row(0, named=True)
    assert (d["from_era"], d["to_era"]) == ("cif_2015", "eif_2019") and d["gap_change_low"] <= d["gap_change"] <= d["gap_change_high"]
