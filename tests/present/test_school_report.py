"""The per-school report: data, HTML (snapshot), PDF, escaping, errors, and Caversham on real data."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from report_fixture import FROZEN, SCRIPT_NAME, SCRIPT_URN, build_fixture_warehouse
from typer.testing import CliRunner

from evenhand.cli import app
from evenhand.core.warehouse import connect
from evenhand.errors import UnknownSchoolError
from evenhand.present.report import external_references, html_to_pdf, school_html
from evenhand.present.school import school_report_data
from helpers import need_shared_data

SNAPSHOTS = Path(__file__).parent / "snapshots"
SECTIONS = ("Summary", "Flags", "Every inspection", "How similar schools were judged", "Context over the years", "Caveats")


def check_snapshot(name: str, text: str) -> None:
    """Compare with snapshots/<name>; EVENHAND_UPDATE_SNAPSHOTS=1 rewrites it."""
    path = SNAPSHOTS / name
    text = re.sub(r"<style>.*?</style>", "<style>(report.css)</style>", text, flags=re.S)  # the stylesheet is not the snapshot
    if os.environ.get("EVENHAND_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if os.environ.get("EVENHAND_UPDATE_SNAPSHOTS") != "1":
            pytest.fail(f"snapshot {name} was missing and has been written: check it and re-run")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; if intended, re-run with EVENHAND_UPDATE_SNAPSHOTS=1"


def pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_warehouse(tmp_path_factory.mktemp("school"))


def data_for(warehouse: Path, urn: int) -> dict:
    con = connect(warehouse, read_only=True)
    try:
        return school_report_data(con, urn)
    finally:
        con.close()


def test_caversham_like_flags_and_delay(warehouse: Path) -> None:
    d = data_for(warehouse, 109778)
    keys = {f["key"]: f for f in d["flags"]}
    assert set(keys) >= {"safeguarding_limited", "cliff_edge", "publication_delay"}
    assert keys["safeguarding_limited"]["event_id"] == "10242325"
    nov = next(e for e in d["timeline"] if e["event_id"] == "10242325")
    assert nov["delay"] == {"working_days": 86, "from": "start", "calendar_days": 125}
    assert nov["late"] and nov["safeguarding_limited"] and nov["cliff_edge"]
    # each judgement keeps its own scale: nothing is converted
    assert {(j["area"], j["scale"], j["label"]) for j in nov["judgements"]} >= {
        ("overall_effectiveness", "four_point", "Inadequate"), ("safeguarding_effective", "safeguarding_effective", "not effective")}
    sg = next(j for j in nov["judgements"] if j["area"] == "safeguarding_effective")
    assert sg["area_label"] == "Safeguarding" and sg["code"] == "No" and sg["scale_label"] == ""
    assert d["expected"]["available"] is False and "evenhand audit" in d["expected"]["reason"]
    assert d["similar"]["available"] and d["similar"]["n_graded"] >= 1


def test_school_html_snapshot(warehouse: Path) -> None:
    for urn in (109778, SCRIPT_URN):
        html = school_html(data_for(warehouse, urn), generated=FROZEN)
        check_snapshot(f"school_{urn}.html", html)


def test_hostile_school_name_is_escaped_everywhere(warehouse: Path) -> None:
    html = school_html(data_for(warehouse, SCRIPT_URN), generated=FROZEN)
    assert "<script" not in html.lower()
    assert "<b>Bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Sons&#34;" in html
    # the title too
    assert re.search(r"<title>&lt;script&gt;", html)
    pdf = pdf_text(html_to_pdf(html))
    assert SCRIPT_NAME in pdf.replace("\n", " ")


def test_no_external_requests(warehouse: Path) -> None:
    html = school_html(data_for(warehouse, 109778), generated=FROZEN)
    assert external_references(html) == []
    assert "@import" not in html and "url(" not in html


def test_pdf_has_every_section(warehouse: Path) -> None:
    text = pdf_text(html_to_pdf(school_html(data_for(warehouse, 109778), generated=FROZEN)))
    for title in SECTIONS:
        assert title in text, title
    assert "86 working days" in text.replace("\n", " ")


def test_unknown_urn_suggests_close_matches(warehouse: Path) -> None:
    con = connect(warehouse, read_only=True)
    try:
        with pytest.raises(UnknownSchoolError, match=r"109778.*--find"):
            school_report_data(con, 109779)
    finally:
        con.close()
    r = CliRunner().invoke(app, ["school", "caversam primary", "--warehouse", str(warehouse)])
    assert r.exit_code == 2
    assert "Caversham Primary School (URN 109778)" in r.output.replace("\n", "")
    r = CliRunner().invoke(app, ["school", "--find", "caversham", "--warehouse", str(warehouse)])
    assert r.exit_code == 0 and "109778" in r.output


def test_cli_writes_html_and_pdf(warehouse: Path, tmp_path: Path) -> None:
    for fmt in ("html", "pdf"):
        out = tmp_path / f"s.{fmt}"
        r = CliRunner().invoke(app, ["school", "109778", "--format", fmt, "--out", str(out), "--warehouse", str(warehouse),
                                     "--audits", str(tmp_path / "none")])
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 1000
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.integration
def test_caversham_primary_on_real_data(tmp_path_factory: pytest.TempPathFactory) -> None:
    from evenhand.core.pipeline import build_warehouse

    data = need_shared_data()
    wh = tmp_path_factory.mktemp("real") / "evenhand.duckdb"
    build_warehouse(data, wh)
    d = data_for(wh, 109778)
    nov = next(e for e in d["timeline"] if e["start_date"] == "2022-11-15")
    assert nov["safeguarding_limited"]
    assert nov["delay"]["working_days"] == 86 and nov["late"]
    assert any(f["key"] == "safeguarding_limited" and f["event_id"] == nov["event_id"] for f in d["flags"])
    html = school_html(d, generated=FROZEN)
    assert "86 working days" in html and "safeguarding-limited" in html
    assert external_references(html) == []
    # the 2020 MI gives the 2005 and 2009 inspections their end and publication dates
    y2009 = next(e for e in d["timeline"] if e["start_date"] == "2009-02-26")
    assert y2009["length"] == {"days": 1, "working_days": 1}
    assert y2009["delay"] == {"working_days": 14, "from": "end", "calendar_days": 20}
    y2005 = next(e for e in d["timeline"] if e["start_date"] == "2005-11-22")
    assert y2005["length"] == {"days": 2, "working_days": 2} and y2005["publication_date"] == "2006-06-15"
    assert "1 day on site, 1 working day" in html and "2 days on site, 2 working days" in html


def test_expected_judgement_from_the_intake_table(warehouse: Path) -> None:
    import polars as pl

    expected = pl.DataFrame({"urn": [109778, 1], "event_id": ["10242325", "x"], "area": ["overall_effectiveness"] * 2,
                             "observed": ["4", "2"], "p_1": [0.125, 0.5], "p_2": [0.5, 0.5], "p_3": [0.25, 0.0], "p_4": [0.125, 0.0]})
    con = connect(warehouse, read_only=True)
    try:
        d = school_report_data(con, 109778, expected=expected)
    finally:
        con.close()
    exp = d["expected"]
    assert exp["available"] and len(exp["items"]) == 1
    item = exp["items"][0]
    # the flagged (contested) inspection, in words: its grade and how likely a grade this low was
    assert item["contested"] and item["observed_label"] == "Inadequate"
    assert [p["label"] for p in item["probabilities"]] == ["Outstanding", "Good", "Requires improvement", "Inadequate"]
    assert item["as_bad_or_worse"] == 0.125
    assert "It was judged inadequate: the model gives a grade this low or lower a 12% chance." in item["sentence"]
    html = school_html(d, generated=FROZEN)
    section = html.split('id="similar"')[1].split('id="context"')[0]
    assert "p_4" not in html and "event_id" not in html and "not available" not in section
    assert "builds in the very gradient" in section  # the caveat where the number is read
    assert "without an interval" in section  # the table has no interval columns: said, not hidden


def _expected_table(rows: list[tuple[str, str, str, bool, list[float], list[float], list[float]]]):
    """An 'expected' table as the intake audit writes it: one row per graded inspection."""
    import polars as pl

    data: dict[str, list] = {"urn": [], "lineage_id": [], "event_id": [], "event_urn": [], "area": [],
                             "start_date": [], "year": [], "latest": [], "observed": []}
    for g in "1234":
        for s in ("", "_low", "_high"):
            data[f"p_{g}{s}"] = []
    for s in ("", "_low", "_high"):
        data[f"p_observed_or_worse{s}"] = []
    import datetime as dt

    for event_id, start, observed, latest, p, lo, hi in rows:
        data["urn"].append(109778)
        data["lineage_id"].append("L109778")
        data["event_id"].append(event_id)
        data["event_urn"].append(109778)
        data["area"].append("overall_effectiveness")
        data["start_date"].append(dt.date.fromisoformat(start))
        data["year"].append("2022/23")
        data["latest"].append(latest)
        data["observed"].append(observed)
        for j, g in enumerate("1234"):
            data[f"p_{g}"].append(p[j])
            data[f"p_{g}_low"].append(lo[j])
            data[f"p_{g}_high"].append(hi[j])
        k = int(observed) - 1
        data["p_observed_or_worse"].append(sum(p[k:]))
        data["p_observed_or_worse_low"].append(None if k == 0 else sum(p[k:]) - 0.01)
        data["p_observed_or_worse_high"].append(None if k == 0 else sum(p[k:]) + 0.01)
    return pl.DataFrame(data)


def test_expected_judgement_for_each_inspection_the_contested_one_first(warehouse: Path, tmp_path: Path) -> None:
    """Every graded inspection in the table gets its expected judgement, with its interval, in
    words; the latest graded inspection first by default, another when named (a date or an event
    id, in the data, the CLI and on the page); an unknown one is a clear error."""
    from evenhand.errors import UnknownInspectionError

    d0 = data_for(warehouse, 109778)
    graded = [t for t in d0["timeline"] if t["kind"] == "graded" and t.get("start_date")]
    assert len(graded) >= 2
    old, new = graded[0], graded[-1]
    table = _expected_table([
        (old["event_id"], old["start_date"], "1", False, [0.5, 0.4, 0.08, 0.02], [0.45, 0.35, 0.06, 0.015], [0.55, 0.45, 0.1, 0.025]),
        (new["event_id"], new["start_date"], "4", True, [0.15, 0.61, 0.2, 0.04], [0.13, 0.57, 0.18, 0.036], [0.17, 0.65, 0.22, 0.044]),
    ])
    con = connect(warehouse, read_only=True)
    try:
        d = school_report_data(con, 109778, expected=table)
        named = school_report_data(con, 109778, expected=table, inspection=old["start_date"])
        by_id = school_report_data(con, 109778, expected=table, inspection=old["event_id"])
        with pytest.raises(UnknownInspectionError, match=r"no inspection '1999-01-01'.*graded inspections"):
            school_report_data(con, 109778, expected=table, inspection="1999-01-01")
    finally:
        con.close()
    # a named inspection the model has no row for is said, and the latest shown first instead
    from evenhand.present.school import contest

    only_new = contest(dict(d["expected"], items=d["expected"]["items"][:1]), d["timeline"], old["start_date"])
    assert only_new["items"][0]["event_id"] == new["event_id"] and "is not in the model's table" in only_new["not_covered"][0]
    items = d["expected"]["items"]
    assert [i["event_id"] for i in items] == [new["event_id"], old["event_id"]]
    first = items[0]
    assert first["contested"] and first["latest"] and not first["named"]
    assert first["sentence"].startswith("For a school with this intake the model expected good most often: 61% (57–65%);")
    assert "inadequate 4.0% (3.6–4.4%)" in first["sentence"]
    assert "It was judged inadequate: the model gives a grade this low or lower a 4% (3–5%) chance." in first["sentence"]
    # grades are labels from the maps (Satisfactory before September 2012), never codes
    labels = [p["label"] for p in items[1]["probabilities"]]
    assert labels[0] == "Outstanding" and "Inadequate" in labels and not any(lab.isdigit() for lab in labels)
    if old["start_date"] < "2012-09-01":
        assert "Satisfactory" in labels
    for other in (named, by_id):
        its = other["expected"]["items"]
        assert its[0]["event_id"] == old["event_id"] and its[0]["named"] and its[0]["contested"]
        assert not its[1]["contested"]
    html = school_html(named, generated=FROZEN)
    section = html.split('id="expected"')[1].split('id="context"')[0]
    assert "the inspection chosen" in section and "<svg" in section  # the chart, drawn
    assert "not the school&#39;s at the time" in section and "does not mean fair" in section  # basis and caveat
    assert "p_1" not in section and "event_id" not in section
    check_snapshot("school_109778_expected.html", re.sub(r"<svg.*?</svg>", "<svg>(chart)</svg>", section, flags=re.S))
    # the CLI names an inspection; an unknown one is an error naming the school's inspections
    audits = tmp_path / "audit"
    audits.mkdir()
    table.write_parquet(audits / "intake__expected.parquet")
    out = tmp_path / "s.html"
    r = CliRunner().invoke(app, ["school", "109778", "--warehouse", str(warehouse), "--audits", str(audits),
                                 "--inspection", old["start_date"], "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "the inspection chosen" in out.read_text(encoding="utf-8")
    r = CliRunner().invoke(app, ["school", "109778", "--warehouse", str(warehouse), "--audits", str(audits),
                                 "--inspection", "1999-01-01", "--out", str(out)])
    assert r.exit_code == 2 and "graded inspections" in r.output


def test_expected_chart_spec_has_whiskers_and_labels() -> None:
    """The chart of one inspection's expected judgement: bars with interval whiskers, grade labels
    (the grade given marked), drawn with evenhand.audit.charts."""
    from evenhand.present.school import expected_chart

    item = {"start_text": "15 November 2022", "sentence": "x", "probabilities": [
        {"label": lab, "p": p, "low": p - 0.01, "high": p + 0.01, "observed": lab == "Inadequate"}
        for lab, p in (("Outstanding", 0.2), ("Good", 0.6), ("Requires improvement", 0.15), ("Inadequate", 0.05))]}
    spec = expected_chart(item).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["bar", "errorbar"]
    values = spec["datasets"][next(iter(spec["datasets"]))] if "datasets" in spec else spec["data"]["values"]
    assert [v["grade"] for v in values] == ["Outstanding", "Good", "Requires improvement", "Inadequate (given)"]
    assert "whiskers are 95% intervals" in str(spec["title"])


def test_timeline_has_every_level_and_gaps(warehouse: Path) -> None:
    """The one timeline (CLI report and dashboard): every level of the four-point scale on its
    axis, whatever grades the school had, and no line across a long gap."""
    from evenhand.present.school import TIMELINE_JOIN_YEARS, timeline_chart

    d = data_for(warehouse, 109778)
    spec = timeline_chart(d).to_dict()
    four = spec["vconcat"][0]
    y = four["layer"][1]["encoding"]["y"]
    assert y["scale"]["domain"][0] == "Outstanding" and y["scale"]["domain"][-1] == "Inadequate"
    assert any(lvl.startswith("Requires improvement") for lvl in y["scale"]["domain"]) and len(y["scale"]["domain"]) == 4
    def values(node: object) -> list[dict]:
        if isinstance(node, dict):
            if isinstance(node.get("values"), list) and node["values"] and "segment" in node["values"][0]:
                return node["values"]
            return next((v for x in node.values() if (v := values(x))), [])
        if isinstance(node, list):
            return next((v for x in node if (v := values(x))), [])
        return []

    rows = values(spec)
    assert len(rows) >= 2
    segs = {}
    for r in rows:
        segs.setdefault(r["segment"], []).append(r["ms"])
    joined = [max(v) - min(v) for v in segs.values()]
    assert all(j <= TIMELINE_JOIN_YEARS * 365.25 * 86400e3 for j in joined)
