"""The national evidence pack, rendered from AuditResults built here (the audits themselves
are tested elsewhere): HTML snapshot, PDF, tables, missing audits, offline rendering."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from pathlib import Path

import polars as pl
import pytest
from report_fixture import FROZEN, build_fixture_warehouse
from test_school_report import check_snapshot, pdf_text
from typer.testing import CliRunner

from evenhand.audit.charts import bar_with_intervals, chart_spec
from evenhand.audit.result import AuditResult, Figure
from evenhand.cli import app
from evenhand.core.warehouse import connect
from evenhand.present.report import (
    CLAIMS,
    Slot,
    _refusing_fetcher,
    external_references,
    national_html,
    provenance,
    reproduce_commands,
    write_national,
)
from evenhand.stats.estimate import Estimate
from evenhand.stats.intervals import wilson

AS_AT = dt.date(2025, 8, 31)


def intake_result() -> AuditResult:
    table = pl.DataFrame({
        "idaci_quintile": [1, 2, 3, 4, 5],
        "k": [120, 110, 100, 90, 70],
        "n": [400, 400, 400, 400, 400],
    })
    rows = [wilson(k, n) for k, n in zip(table["k"], table["n"], strict=True)]
    table = table.with_columns(
        share=pl.Series([e.value for e in rows]), low=pl.Series([e.low for e in rows]), high=pl.Series([e.high for e in rows])
    )
    chart = bar_with_intervals(
        table.with_columns(pl.col("idaci_quintile").cast(pl.String)), "idaci_quintile", "share", "low", "high",
        title="Share judged outstanding by IDACI quintile", subtitle="n = 2,000 schools; 95% Wilson intervals",
        x_title="IDACI quintile (1 = least deprived)", y_title="Share outstanding", y_format=".0%",
    )
    return AuditResult(
        name="intake", title="Intake and judgement", question="Do judgements follow intake rather than effectiveness?",
        claim=CLAIMS[0][0], method="Shares by quintile with Wilson intervals (a fixture, not a real analysis).",
        figures=[Figure("q1_q5_gap", "Gap in share outstanding, quintile 1 minus 5", Estimate(0.125, 0.066, 0.183, 800, method="newcombe"), "share"),
                 Figure("or", "Odds ratio per quintile", Estimate(0.81, 0.75, 0.88, 2000, method="ordinal"), "odds ratio")],
        tables={"main": table}, chart=chart_spec(chart),
        findings=["Schools in the least deprived fifth were judged outstanding more often: 30.0% against 17.5%."],
        caveats=["Fixture numbers."], inputs=[], parameters={"seed": 1}, small_n=[],
    )


def timing_result() -> AuditResult:
    table = pl.DataFrame({"grade": ["Good", "Inadequate <b>"], "median_working_days": [18.0, 41.0], "n": [900, 40]})
    return AuditResult(
        name="timing", title="Timing: waiting for the report", question="How long do schools wait for their report?",
        claim=CLAIMS[4][0], method="Working days from the end (or start) of the inspection to publication.",
        figures=[Figure("median", "Median wait, inadequate", Estimate(41.0, 35.0, 47.0, 40), "working days"),
                 Figure("nan", "Not estimable", Estimate(math.nan, math.nan, math.nan, 0), "share")],
        tables={"main": table, "by_era": pl.DataFrame({"era": ["eif_2019"], "n": [940]})}, chart=None,
        findings=["Inadequate reports took a median 41.0 working days (n = 40)."], caveats=["Few files give end dates."],
        inputs=[], small_n=["inadequate: n = 40"],
    )


def slots() -> list[Slot]:
    return [
        Slot("headline", None, "This version of Evenhand has no headline audit yet (module evenhand.audit.headline)."),
        Slot("intake", intake_result()),
        Slot("consistency", None, "The audit failed on this warehouse: ValueError: boom"),
        Slot("timing", timing_result()),
    ]


INPUTS = [{"path": "ofsted/official.csv", "layout": "ofsted_latest_eif", "status": "loaded", "as_at": "2025-08-31", "rows": "21,992", "sha256": "ab" * 32}]


def pack_html() -> str:
    return national_html(slots(), AS_AT, INPUTS, reproduce_commands("w.duckdb", AS_AT, "out/report", "raw/"), generated=FROZEN)


def test_national_snapshot() -> None:
    check_snapshot("national.html", pack_html())


def test_key_findings_then_sections_then_provenance() -> None:
    html = pack_html()
    kf, intake, prov = html.index('id="key-findings"'), html.index('id="audit-intake"'), html.index('id="provenance"')
    assert kf < intake < prov
    key = html[kf:intake]
    for claim, _, _ in CLAIMS:
        assert claim.replace('"', "&#34;").replace("'", "&#39;") in key
    # the key finding states the audit's sentence once; its figures are in the section, not repeated here
    assert "judged outstanding more often: 30.0% against 17.5%" in key
    assert "12.5% (95% CI 6.6% to 18.3%; n = 800)" not in key and "12.5% (95% CI 6.6% to 18.3%; n = 800)" in html
    assert "evenhand report national --as-at 2025-08-31 --warehouse w.duckdb --out out/report" in html
    assert "ab" * 6 in html and "ab" * 32 not in html  # a short hash; the full one is in provenance.csv
    assert "<svg" in html and "Share judged outstanding by IDACI quintile" in html


def test_missing_audits_say_so_and_show_no_number() -> None:
    html = pack_html()
    for name in ("headline", "consistency", "safeguarding", "resources", "consequences", "frameworks"):
        assert f"The {name} audit is not available." in html, name
    section = re.search(r'<section class="eh-audit eh-empty" id="audit-consistency">(.*?)</section>', html, re.S)
    assert section and "ValueError: boom" in section.group(1)
    assert not re.search(r"\d+(\.\d+)?%", section.group(1))
    assert "&lt;b&gt;" in html and "Inadequate <b>" not in html  # table cells escaped


def test_no_external_src_or_href() -> None:
    html = pack_html()
    assert external_references(html) == []
    assert "@import" not in html and "fonts.googleapis" not in html
    assert external_references('<a href="https://example.com/x">x</a><img src="logo.png">') == ["https://example.com/x", "logo.png"]


def test_pdf_fetches_nothing() -> None:
    with pytest.raises(ValueError, match="refused"):
        _refusing_fetcher().fetch("https://example.com/font.woff2")
    with pytest.raises(ValueError, match="refused"):
        _refusing_fetcher().fetch("file:///etc/passwd")


def test_write_national_html_pdf_and_tables(tmp_path: Path) -> None:
    paths = write_national(tmp_path, slots(), AS_AT, INPUTS, ["evenhand ..."], generated=FROZEN)
    names = {p.relative_to(tmp_path).as_posix() for p in paths}
    assert {"evidence-pack.html", "evidence-pack.pdf", "tables/intake__main.csv", "tables/intake__main.parquet",
            "tables/timing__by_era.parquet"} <= names
    assert pl.read_parquet(tmp_path / "tables" / "intake__main.parquet").height == 5
    text = pdf_text((tmp_path / "evidence-pack.pdf").read_bytes())
    for title in ("Key findings", "Intake and judgement", "Timing: waiting for the report", "Provenance and how to reproduce"):
        assert title in text, title
    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO((tmp_path / "evidence-pack.pdf").read_bytes())).pages) >= 4


def test_provenance_lists_every_input(tmp_path: Path) -> None:
    wh = build_fixture_warehouse(tmp_path)
    con = connect(wh, read_only=True)
    try:
        inputs = provenance(con)
    finally:
        con.close()
    assert {i["path"] for i in inputs} == {"official_as-at-2025-08-31.csv", "history.csv"}
    assert all(len(i["sha256"]) == 64 for i in inputs)


def test_cli_report_national(tmp_path: Path) -> None:
    wh = build_fixture_warehouse(tmp_path)
    out = tmp_path / "pack"
    r = CliRunner().invoke(app, ["report", "national", "--warehouse", str(wh), "--out", str(out), "--as-at", "2025-08-31"])
    assert r.exit_code == 0, r.output
    html = (out / "evidence-pack.html").read_text(encoding="utf-8")
    assert external_references(html) == []
    assert (out / "evidence-pack.pdf").read_bytes().startswith(b"%PDF")
    r = CliRunner().invoke(app, ["report", "national", "--warehouse", str(wh), "--out", str(out), "--as-at", "31/08/2025"])
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output


def test_reproduce_commands_use_the_build_record(tmp_path: Path) -> None:
    from evenhand.engine import Evenhand

    wh = build_fixture_warehouse(tmp_path)
    with Evenhand(wh) as eh:
        built = eh.build_info()
    cmds = reproduce_commands(str(wh), AS_AT, "out", built.get("raw"), built.get("mode") == "lenient")
    assert cmds[0] == f"evenhand build --raw {tmp_path / 'raw'} --warehouse {wh}"
    assert cmds[1].startswith("evenhand report national --as-at 2025-08-31")
