"""`evenhand demo` / `evenhand run`: a synthetic nation written as official files, built and
analysed like real ones, with every output saying it is synthetic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from evenhand.audit.result import STAMP
from evenhand.core.pipeline import build_warehouse
from evenhand.core.warehouse import connect
from evenhand.demo import official_headers, official_rows, write_official_files
from evenhand.run import has_data_files
from evenhand.simulate import simulate_nation


def test_headers_are_the_published_list_with_the_year() -> None:
    h = official_headers(2019)
    assert "Number of warning notices issued in 2018/19 academic year" in h
    assert h.index("Inspection end date") == h.index("Inspection start date") + 1
    assert h[:3] == ["Web Link (opens in new window)", "URN", "LAESTAB"]


def test_files_round_trip_through_the_build(tmp_path: Path) -> None:
    nation = simulate_nation(120, 7)
    paths = write_official_files(nation, tmp_path / "raw", years=(2021, 2025))
    assert paths[0].read_text(encoding="utf-8").startswith(STAMP)  # a title row above the header
    rows = official_rows(nation.schools, nation.events, nation.judgements, dt.date(2025, 8, 31))
    assert len(rows) == 120
    summary = build_warehouse(tmp_path / "raw", tmp_path / "w.duckdb")
    assert {r.layout for r in summary.files} == {"ofsted_latest_eif"}
    assert summary.synthetic  # the title row says so: whichever command builds them, the warehouse is synthetic
    con = connect(tmp_path / "w.duckdb", read_only=True)
    try:
        assert con.execute("SELECT value FROM meta.build WHERE key = 'synthetic'").fetchall() == [("true",)]
        built = con.sql(
            "SELECT e.event_id, e.kind, e.start_date, j.code FROM core.events e LEFT JOIN core.judgements j "
            "ON j.event_id = e.event_id AND j.area = 'overall_effectiveness' WHERE e.kind = 'graded'"
        ).pl()
    finally:
        con.close()
    truth = nation.events.join(nation.judgements.filter(area="overall_effectiveness").select("event_id", "code"), on="event_id")
    joined = built.join(truth.select("event_id", pl.col("start_date").alias("t_start"), pl.col("code").alias("t_code")), on="event_id", how="left")
    assert joined.height > 0 and joined["t_start"].null_count() == 0  # every built event is a simulated one
    assert (joined["start_date"] == joined["t_start"]).all()
    assert (joined["code"] == joined["t_code"]).all()  # the judgement survives the round trip


def test_every_synthetic_output_file_is_stamped(tmp_path: Path) -> None:
    from evenhand.present.synthetic import COLUMN, is_stamped, stamp_outputs

    pl.DataFrame({"urn": [1, 2], "share": [0.5, 0.25]}).write_csv(tmp_path / "t.csv")
    pl.DataFrame({"urn": [1]}).write_parquet(tmp_path / "t.parquet")
    pl.DataFrame({"urn": [1]}).write_parquet(tmp_path / "open.parquet")
    (tmp_path / "r.json").write_text('{"name": "x"}', encoding="utf-8")
    (tmp_path / "d.md").write_text("# Data\n", encoding="utf-8")
    stamp_outputs([tmp_path / "t.csv", tmp_path / "t.parquet", tmp_path / "r.json", tmp_path / "d.md"])
    stamp_outputs([tmp_path / "open.parquet"], table_columns=False)
    for name in ("t.csv", "t.parquet", "open.parquet", "r.json", "d.md"):
        assert is_stamped(tmp_path / name), name
    csv_back = pl.read_csv(tmp_path / "t.csv")
    assert csv_back.columns == [COLUMN, "urn", "share"] and csv_back["share"].to_list() == [0.5, 0.25]  # values kept
    assert pl.read_parquet(tmp_path / "open.parquet").columns == ["urn"]  # open data keeps its declared columns
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["name"] == "x"
    stamp_outputs([tmp_path])  # twice: no second stamp
    assert pl.read_csv(tmp_path / "t.csv").columns.count(COLUMN) == 1
    pl.DataFrame({"urn": [1]}).write_csv(tmp_path / "plain.csv")
    assert not is_stamped(tmp_path / "plain.csv")


def test_has_data_files(tmp_path: Path) -> None:
    assert not has_data_files(tmp_path / "none")
    (tmp_path / "notes.md").write_text("x")
    assert not has_data_files(tmp_path)
    (tmp_path / "a" / "b.csv").parent.mkdir()
    (tmp_path / "a" / "b.csv").write_text("URN\n1\n")
    assert has_data_files(tmp_path)


@pytest.mark.slow
def test_demo_then_run_end_to_end(tmp_path: Path) -> None:
    from evenhand.cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--schools", "400", "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert STAMP in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("open: ") and Path(last.removeprefix("open: ")).exists()
    con = connect(tmp_path / "demo" / "warehouse" / "evenhand.duckdb", read_only=True)
    try:
        assert con.execute("SELECT value FROM meta.build WHERE key = 'synthetic'").fetchall() == [("true",)]
    finally:
        con.close()
    assert STAMP in json.loads((tmp_path / "demo" / "open-data" / "datapackage.json").read_text(encoding="utf-8"))["title"]
    assert (tmp_path / "demo" / "README.md").read_text(encoding="utf-8").startswith(STAMP)
    for j in (tmp_path / "demo" / "audit").glob("*.json"):
        assert json.loads(j.read_text(encoding="utf-8"))["caveats"][0] == STAMP, j.name
    html = tmp_path / "demo" / "report" / "evidence-pack.html"
    assert STAMP in html.read_text(encoding="utf-8")
    from evenhand.present.synthetic import is_stamped

    unstamped = [
        str(p.relative_to(tmp_path)) for folder in ("audit", "report", "open-data")
        for p in (tmp_path / "demo" / folder).rglob("*")
        if p.suffix in (".csv", ".parquet", ".json", ".md", ".html") and not is_stamped(p)
    ]
    assert unstamped == []
    # `run` on files already there: no fetch, the same pipeline
    result = CliRunner().invoke(app, ["run", "--raw", str(tmp_path / "demo" / "raw"), "--out", str(tmp_path / "run"),
                                      "--warehouse", str(tmp_path / "run" / "w.duckdb"), "--no-pdf"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("open: ")
    assert (tmp_path / "run" / "open-data" / "datapackage.json").exists()
    # the demo's raw files are synthetic: `run` on them marks every output as the demo does
    assert STAMP in result.output
    assert STAMP in (tmp_path / "run" / "report" / "evidence-pack.html").read_text(encoding="utf-8")
    unstamped = [
        str(p.relative_to(tmp_path)) for folder in ("audit", "report", "open-data")
        for p in (tmp_path / "run" / folder).rglob("*")
        if p.suffix in (".csv", ".parquet", ".json", ".md", ".html") and not is_stamped(p)
    ]
    assert unstamped == []


def test_only_a_title_row_above_the_header_marks_a_file_synthetic() -> None:
    from evenhand.core.synthetic import title_says_synthetic

    header = ["URN", "School name"]
    assert title_says_synthetic([[f"{STAMP}: inspections as at 31 August 2025"], header], 1)
    assert not title_says_synthetic([["Management information - state-funded schools"], header], 1)
    assert not title_says_synthetic([header, [STAMP, "x"]], 0)  # a value in a data row is not a title
