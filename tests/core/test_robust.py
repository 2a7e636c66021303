"""Issue 14, "nothing lost, nothing silently wrong": each case of the adversarial run as a test
on small fixtures in the official layouts. Every failing build must exit non-zero with a
one-line reason naming the file (and row, column, value where they exist), and leave the
previous warehouse byte-identical with no partial files beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

from evenhand.cli import app
from evenhand.core.pipeline import build_warehouse
from helpers import caversham_like, csv_text, graded, os_headers, school, write


def second_school() -> dict[str, str]:
    return {**school(100009, "Second School"), **graded("10111111", "01/02/2023", "01/03/2023", "2")}


def good_raw(folder: Path) -> Path:
    write(folder / "os.csv", csv_text(os_headers(), [caversham_like()]))
    write(folder / "more" / "os-second.csv", csv_text(os_headers(), [second_school()]))
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, str]:
    """A good warehouse built from two files, and its sha256."""
    wh = tmp_path / "wh" / "evenhand.duckdb"
    build_warehouse(good_raw(tmp_path / "good"), wh)
    return wh, digest(wh)


def leftovers(wh: Path) -> list[str]:
    """Files beside the warehouse that are not the warehouse or the raw folder it reads."""
    con = duckdb.connect(str(wh), read_only=True)
    try:
        views = [r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE schema_name = 'raw'").fetchall()]
    finally:
        con.close()
    used = {p.name for p in wh.parent.iterdir() if any(str(p) in v for v in views)}
    return sorted(p.name for p in wh.parent.iterdir() if p != wh and p.name not in used)


def flat(text: str) -> str:
    """Output without whitespace: the console wraps long lines anywhere."""
    return "".join(text.split())


def said(result: Result, *texts: str) -> None:
    for text in texts:
        assert flat(text) in flat(result.output), f"{text!r} not in {result.output}"


def run(raw: Path, wh: Path, *extra: str) -> Result:
    return CliRunner().invoke(app, ["build", "--raw", str(raw), "--warehouse", str(wh), *extra])


def assert_refused(result: Result, wh: Path, before: str, *texts: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    said(result, *texts)
    assert digest(wh) == before, "a failed build must leave the previous warehouse byte-identical"
    assert leftovers(wh) == []


# ---- 1. a build never replaces a warehouse with less ---------------------------------------


def test_a_folder_of_unrecognised_files_loads_nothing_and_fails(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    write(tmp_path / "bad" / "README.md", "# notes\n")
    write(tmp_path / "bad" / "notes.csv", "just,some\nwords,here\n")
    assert_refused(run(tmp_path / "bad", wh), wh, before, "nothing to build from", "none loaded", "notes.csv: header matches no known layout")


def test_a_semicolon_resave_is_not_recognised_and_fails(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    text = csv_text(os_headers(), [caversham_like()]).replace(",", ";")
    write(tmp_path / "bad" / "os.csv", text)
    assert_refused(run(tmp_path / "bad", wh), wh, before, "nothing to build from", "os.csv")


def test_a_header_below_row_30_is_not_recognised_and_fails(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    write(tmp_path / "bad" / "os.csv", csv_text(os_headers(), [caversham_like()], title=[f"title line {i}" for i in range(31)]))
    assert_refused(run(tmp_path / "bad", wh), wh, before, "nothing to build from", "os.csv")


def test_a_file_loaded_before_and_now_missing_fails_unless_allowed(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    (raw / "more" / "os-second.csv").unlink()
    assert_refused(run(raw, wh), wh, before, "more/os-second.csv", "loaded in the previous warehouse and is now missing", "--allow-missing")
    result = run(raw, wh, "--allow-missing", "os-second.csv")
    assert result.exit_code == 0, result.output
    said(result, "compared with the previous warehouse: events 3 -> 2 (-1); schools 2 -> 1 (-1); files loaded 2 -> 1 (-1)",
         "no longer loaded (allowed): more/os-second.csv")


def test_a_file_loaded_before_and_now_unrecognised_fails(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    write(raw / "more" / "os-second.csv", csv_text(os_headers(), [second_school()]).replace(",", ";"))
    assert_refused(run(raw, wh), wh, before, "more/os-second.csv", "now unrecognised")


def test_lenient_never_drops_a_whole_file_silently(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    cut = raw / "more" / "os-second.csv"
    cut.write_bytes(cut.read_bytes()[:-40])  # a truncated download
    assert_refused(run(raw, wh, "--lenient"), wh, before, "more/os-second.csv was rejected whole", "truncated")
    result = run(raw, wh, "--lenient", "--allow-missing", "more/os-second.csv")
    assert result.exit_code == 0, result.output
    said(result, "rejected whole (1 files", "more/os-second.csv")
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT path, status FROM meta.files ORDER BY path").fetchall() == [("more/os-second.csv", "rejected"), ("os.csv", "loaded")]
    con.close()


def test_lenient_with_a_file_whose_every_row_is_bad_fails(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    write(raw / "more" / "os-second.csv", csv_text(os_headers(), [{**second_school(), "Overall effectiveness": "Brilliant"}]))
    assert_refused(run(raw, wh, "--lenient"), wh, before, "more/os-second.csv was rejected whole", "every row was rejected", "Brilliant")


def test_the_summary_compares_counts_with_the_previous_warehouse(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, _ = previous
    raw = good_raw(tmp_path / "raw")
    write(raw / "third.csv", csv_text(os_headers(), [{**school(100010, "Third School"), **graded("10111112", "01/02/2023", "01/03/2023", "1")}]))
    result = run(raw, wh)
    assert result.exit_code == 0, result.output
    said(result, "events 3 -> 4 (+1); schools 2 -> 3 (+1); files loaded 2 -> 3 (+1)", "newly loaded: third.csv")


def test_warehouse_that_is_not_a_warehouse_is_not_overwritten(tmp_path: Path) -> None:
    wh = tmp_path / "notes.txt"
    wh.write_text("my notes\n")
    result = run(good_raw(tmp_path / "raw"), wh)
    assert result.exit_code == 2 and "is not a DuckDB warehouse" in result.output
    assert wh.read_text() == "my notes\n"
