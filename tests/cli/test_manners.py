"""CLI manners: --version, help that starts from what a new user types, a line per stage when
output is not a terminal, clear errors for folders with nothing to build, and --find by name,
postcode or URN that says when it guesses."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from evenhand import __version__
from evenhand.cli import app
from evenhand.core.pipeline import build_warehouse
from helpers import caversham_like, csv_text, graded, os_headers, school, write

runner = CliRunner()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    rows = [caversham_like(), {**school(100001, "Another School", Postcode="NE15 9TP"), **graded("10300001", "10/01/2024", "12/02/2024", "3")}]
    write(d / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), rows))
    build_warehouse(d / "raw", d / "evenhand.duckdb")
    return d / "evenhand.duckdb"


def test_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"evenhand {__version__}"


def test_help_starts_from_what_a_new_user_types() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    text = r.output
    assert text.index("evenhand demo --out demo") < text.index("evenhand run --raw raw") < text.index("Commands")
    assert "../shared" not in text  # no developer's path
    assert 'evenhand school --find "Caversham"' in text


def test_a_line_per_stage_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import evenhand.cli as cli

    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, force_terminal=False, width=200))
    with cli.progress_bar(first_step=0) as progress:
        progress("simulating", 0, 3)
        progress("simulating", 0, 3)  # the same stage again: no second line
        progress("building the warehouse", 1, 3)
        progress("done", 3, 3)
    lines = buf.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["[1/3] simulating", "[2/3] building the warehouse", "[3/3] done"]


def test_build_prints_its_stages_to_a_log(tmp_path: Path) -> None:
    rows = [caversham_like()]
    write(tmp_path / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), rows))
    r = runner.invoke(app, ["build", "--raw", str(tmp_path / "raw"), "--warehouse", str(tmp_path / "w.duckdb")])
    assert r.exit_code == 0, r.output
    assert "writing the warehouse" in r.output and "] " in r.output  # '[i/n] stage (s)' lines, not silence


@pytest.mark.parametrize("files", [{}, {"notes.txt": "hello\n", "other.csv": "a,b\n1,2\n"}])
def test_nothing_to_build_is_a_clear_error(tmp_path: Path, files: dict[str, str]) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, text in files.items():
        (raw / name).write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["build", "--raw", str(raw), "--warehouse", str(tmp_path / "w.duckdb")])
    assert r.exit_code != 0
    assert "nothing to build" in r.output and "None" not in r.output and "file_id" not in r.output
    assert not (tmp_path / "w.duckdb").exists()


def test_find_by_postcode_urn_and_name(warehouse: Path) -> None:
    def find(text: str) -> tuple[int, str]:
        r = runner.invoke(app, ["school", "--find", text, "--warehouse", str(warehouse)])
        return r.exit_code, r.output

    code, text = find("rg4 7ra")
    assert code == 0 and "postcode RG4 7RA" in text and "109778" in text and "Another" not in text
    code, text = find("NE15")
    assert code == 0 and "100001" in text
    code, text = find("109778")
    assert code == 0 and "URN 109778" in text and "Caversham Primary School" in text
    code, text = find("caversham")
    assert code == 0 and "109778" in text and "guess" not in text.lower()


def test_find_says_when_it_guesses(warehouse: Path) -> None:
    r = runner.invoke(app, ["school", "--find", "Cavershem", "--warehouse", str(warehouse)])
    assert r.exit_code == 0
    assert "Guessing you meant 'caversham'" in r.output and "109778" in r.output and "a guess" in r.output
    r = runner.invoke(app, ["school", "--find", "Zzqxjkw", "--warehouse", str(warehouse)])
    assert r.exit_code == 2 and "no school name contains" in r.output
    r = runner.invoke(app, ["school", "--find", "999999", "--warehouse", str(warehouse)])
    assert r.exit_code == 2 and "no school has URN 999999" in r.output


def test_output_reads_in_a_60_column_terminal(warehouse: Path, tmp_path: Path) -> None:
    """Help, info, history, --find and build: no line wider than the terminal, people's words
    (no era or area codes), each inspection of a history a block of its own. Run as a user runs
    them (a process with COLUMNS=60: click's test runner fixes help at 80 columns)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "60", "PYTHONPATH": os.pathsep.join(sys.path)}
    wh = ["--warehouse", str(warehouse)]

    def run(*args: str) -> str:
        r = subprocess.run([sys.executable, "-m", "evenhand", *args], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        wide = [line for line in (r.stdout + r.stderr).splitlines() if len(line) > 60]
        assert wide == [], (args, wide)
        return r.stdout

    for args in (["--help"], ["school", "--find", "Cavershem", *wh], ["school", "--find", "RG4", *wh],
                 ["build", "--raw", str(warehouse.parent / "raw"), "--warehouse", str(tmp_path / "w.duckdb")]):
        run(*args)
    info = run("info", *wh)
    assert "report_card" not in info and "files loaded:" in info
    assert "ofsted_latest" not in info and "Ofsted state-funded schools" in info  # layouts by their titles
    assert "judgement:" not in info
    history = run("history", "109778", *wh)
    assert "Education inspection framework (2019-2024)" in history and "eif_2019" not in history
    assert "Overall effectiveness: " in history and "overall_effectiveness" not in history
    assert "Safeguarding: effective" in history and "Safeguarding effective?" not in history


def test_field_and_layout_words() -> None:
    """The words `info` and the dashboard's data page print for a conflict field and a layout."""
    from evenhand import maps

    assert maps.field_label("judgement:early_years") == "early years judgement"
    assert maps.field_label("laestab_at_time") == "LAESTAB at time"
    assert maps.field_label("publication_date") == "publication date"
    assert maps.layout_title("ofsted_latest_eif").startswith("Ofsted state-funded schools: latest inspections")
    assert maps.layout_title(None) == "(no layout recognised)"


def test_only_takes_several_audits_with_commas(warehouse: Path) -> None:
    """`--only timing,safeguarding` is read as two audits; an unknown name among them is named."""
    r = CliRunner().invoke(app, ["audit", "--only", "headline,horoscope", "--warehouse", str(warehouse)])
    assert r.exit_code == 2 and "unknown audit(s) horoscope;" in r.output
