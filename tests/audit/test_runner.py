"""The audit runner: default as-at date, unknown audit names, written outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from evenhand.audit.runner import default_as_at, run_audits
from evenhand.core.pipeline import build_warehouse
from evenhand.errors import EvenhandError
from helpers import caversham_like, csv_text, graded, mi_eif_headers, os_headers, school, write


def test_default_as_at_prefers_the_official_statistics_over_a_newer_local_extract(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), [caversham_like()]))
    mi_row = {**school(100001), **graded("10400000", "05/01/2026", "10/02/2026", "Not judged")}
    write(tmp_path / "raw" / "mi_leeds_as-at-2026-02-28.csv", csv_text(mi_eif_headers(), [mi_row]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    assert str(default_as_at(wh)) == "2025-08-31"


def test_unknown_audit_name_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    with pytest.raises(EvenhandError, match="unknown audit"):
        run_audits(wh, only=["intuition"])
