"""One as-at rule, one runner: on a warehouse built from the real Ofsted files (national
2020 and 2025 files plus the newer Leeds-only MI extract), the CLI, the dashboard, the API and
a school's report describe the same snapshot, and the Leeds file is only ever shown as Leeds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from evenhand.cli import app
from evenhand.core.pipeline import build_warehouse
from evenhand.engine import Evenhand
from evenhand.web.app import create_app
from helpers import need_shared_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = need_shared_data()
    raw = tmp_path_factory.mktemp("raw")
    for f in sorted((data / "ofsted").glob("*.csv")):  # the national files and the newer Leeds extract
        shutil.copy(f, raw / f.name)
    wh = tmp_path_factory.mktemp("wh") / "evenhand.duckdb"
    build_warehouse(raw, wh)
    return wh


def test_the_default_snapshot_is_the_newest_national_file_not_the_newer_leeds_extract(warehouse: Path) -> None:
    with Evenhand(warehouse) as eh:
        by_path = {Path(s.path or "").name: s for s in eh.snapshots}
        leeds = by_path["mi_latest-inspections_as-at-2026-02-28_leeds.csv"]
        assert (leeds.national, leeds.coverage, leeds.n_schools) == (False, "Leeds only", 279)
        snap = eh.snapshot()
        assert (snap.as_at.isoformat(), snap.national, snap.coverage, snap.n_schools) == ("2025-08-31", True, "England", 21990)
        # a plain second route: the newest file whose schools span every Ofsted region
        plain = eh.rows(
            """SELECT s.as_at FROM core.schools s GROUP BY s.file_id, s.as_at
               HAVING count(DISTINCT s.ofsted_region) = 8 ORDER BY s.as_at DESC LIMIT 1""")
        assert plain[0]["as_at"] == snap.as_at
        assert {r["as_at"].isoformat() for r in eh.rows("SELECT DISTINCT as_at FROM out.latest_as_at")} == {"2025-08-31"}


def test_cli_api_and_dashboard_headline_agree(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    r = CliRunner().invoke(app, ["audit", "--only", "headline", "--warehouse", str(warehouse), "--out", str(out)])
    assert r.exit_code == 0, r.output
    cli = json.loads((out / "headline.json").read_text(encoding="utf-8"))
    with Evenhand(warehouse) as eh:
        api = eh.audit("headline").to_dict()
    assert cli["title"] == api["title"] == "Headline figures as at 2025-08-31 (2024/25)"
    assert cli["figures"] == json.loads(json.dumps(api["figures"], default=str))
    assert "21,990 state-funded schools" in cli["findings"][0]
    for audits_dir in (None, out):  # run on demand, and read from the CLI's files
        with TestClient(create_app(warehouse, audits_dir)) as client:
            page = client.get("/audit/headline?run=1").text
            assert "as at 2025-08-31" in page and "21,990" in page, audits_dir
            assert "figures as at 2026-02-28" not in page and "279 state-funded" not in page  # (the inputs list names the Leeds file)


def test_the_leeds_file_only_under_its_own_title(warehouse: Path) -> None:
    with Evenhand(warehouse) as eh:
        r = eh.audit("headline", as_at="2026-02-28")
    assert r.title.startswith("Headline figures (Leeds only) as at 2026-02-28")
    assert "(Leeds only) lists 279 state-funded schools" in r.findings[0]


def test_a_school_report_is_dated_by_the_newest_national_file(warehouse: Path) -> None:
    with Evenhand(warehouse) as eh:
        data = eh.school_report(109778, format="data")
    assert isinstance(data, dict)
    assert data["latest"]["as_at"] == "2025-08-31"
