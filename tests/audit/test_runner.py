"""The one runner (Evenhand.run_audits): the default as-at date, unknown audit names."""

from __future__ import annotations

from pathlib import Path

import pytest

from evenhand.core.pipeline import build_warehouse
from evenhand.engine import Evenhand
from evenhand.errors import EvenhandError
from helpers import caversham_like, csv_text, graded, mi_eif_headers, os_headers, school, write


def test_default_as_at_prefers_the_official_statistics_over_a_newer_local_extract(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), [caversham_like()]))
    mi_row = {**school(100001), **graded("10400000", "05/01/2026", "10/02/2026", "Not judged")}
    write(tmp_path / "raw" / "mi_leeds_as-at-2026-02-28.csv", csv_text(mi_eif_headers(), [mi_row]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    with Evenhand(wh) as eh:
        # neither one-school file is national: the newest is not preferred for that alone, the
        # official statistics are not either; both say what they cover
        snaps = {s.as_at.isoformat(): s for s in eh.snapshots}
        assert set(snaps) == {"2025-08-31", "2026-02-28"}
        assert not any(s.national for s in snaps.values())
        assert all(s.coverage.endswith(" only") for s in snaps.values())
        run = eh.run_audits(["headline"])
        assert run.snapshot == eh.snapshot()
        assert run.snapshot.coverage in run.result("headline").title  # type: ignore[union-attr]


def test_unknown_audit_name_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    with Evenhand(wh) as eh, pytest.raises(EvenhandError, match="unknown audit"):
        eh.run_audits(["intuition"])
