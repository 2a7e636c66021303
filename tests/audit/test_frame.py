"""The frame of a finding travels with the result: JSON and the pack's section."""

from __future__ import annotations

import math

import polars as pl

from evenhand.audit.result import AuditResult, Figure, Frame
from evenhand.stats.estimate import Estimate


def _result(frames: dict[str, Frame]) -> AuditResult:
    return AuditResult(
        name="x", title="X", question="q", claim="c", method="m",
        figures=[Figure("n", "n", Estimate(1.0, math.nan, math.nan, 1, method="count"), "count")],
        tables={"main": pl.DataFrame({"a": [1]})}, chart=None, findings=[], caveats=[], inputs=[], frames=frames,
    )


def test_frame_in_json_and_text() -> None:
    f = Frame("one inspection", "file as at 2025-08-31", "latest block only", "inspections with a judgement", ("n1",))
    d = _result({"main": f}).to_dict()
    assert d["frames"]["main"] == {"unit": "one inspection", "snapshot": "file as at 2025-08-31",
                                   "sample": "latest block only", "denominator": "inspections with a judgement",
                                   "notes": ["n1"]}
    t = f.text()
    for part in ("Unit: one inspection", "Snapshot: file as at 2025-08-31", "latest block only", "Denominator: inspections"):
        assert part in t


def test_no_frame_is_an_empty_mapping() -> None:
    assert _result({}).to_dict()["frames"] == {}
