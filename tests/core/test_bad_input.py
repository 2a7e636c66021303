"""The bad-input corpus: each file gives a clear error naming file, row, column and value,
exits non-zero, and leaves the previous warehouse untouched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evenhand.cli import app
from evenhand.core.pipeline import build_warehouse
from evenhand.errors import InputError
from helpers import caversham_like, csv_text, graded, os_headers, school, write


def good_warehouse(tmp: Path) -> tuple[Path, str]:
    write(tmp / "good" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp / "wh" / "evenhand.duckdb"
    build_warehouse(tmp / "good", wh)
    return wh, hashlib.sha256(wh.read_bytes()).hexdigest()


def good_csv() -> str:
    return csv_text(os_headers(), [caversham_like()])


CORPUS: dict[str, tuple[bytes, list[str]]] = {
    "truncated.csv": (good_csv().encode()[:-40], ["truncated.csv", "truncated"]),
    "error-page.csv": (b"<!DOCTYPE html>\n<html><head><title>Page not found - GOV.UK</title></head><body>404</body></html>\n", ["error-page.csv", "web page"]),
    "lfs.csv": (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n", ["lfs.csv", "Git LFS pointer"]),
    "wrong-encoding.csv": (good_csv().replace("Caversham", "Cavers\u0081ham").encode("utf-8").replace("\u0081".encode(), b"\x81\x8d"), ["wrong-encoding.csv", "neither UTF-8 nor Windows-1252"]),
    "empty.csv": (b"", ["empty.csv", "empty"]),
    "header-only.csv": (csv_text(os_headers(), []).encode(), ["header-only.csv", "no data rows"]),
    "missing-column.csv": (
        csv_text([h for h in os_headers() if h != "Inspection start date"], [{k: v for k, v in caversham_like().items() if k != "Inspection start date"}]).encode(),
        ["missing-column.csv", "required column(s) missing", "Inspection start date"],
    ),
    "unknown-code.csv": (
        csv_text(os_headers(), [{**caversham_like(), "Quality of education": "Brilliant"}]).encode(),
        ["unknown-code.csv", "row 2", "'Quality of education'", "'Brilliant'", "unknown code"],
    ),
    "bad-date.csv": (
        csv_text(os_headers(), [{**caversham_like(), "Publication date": "31/02/2023"}]).encode(),
        ["bad-date.csv", "row 2", "'Publication date'", "'31/02/2023'", "not a date"],
    ),
    "bad-number.csv": (
        csv_text(os_headers(), [{**caversham_like(), "Total number of pupils": "four hundred"}]).encode(),
        ["bad-number.csv", "row 2", "'Total number of pupils'", "'four hundred'", "not a whole number"],
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_file_gives_a_clear_error_and_keeps_the_warehouse(tmp_path: Path, name: str) -> None:
    wh, before = good_warehouse(tmp_path)
    content, expected = CORPUS[name]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / name).write_bytes(content)
    with pytest.raises(InputError) as e:
        build_warehouse(bad, wh)
    for text in expected:
        assert text in str(e.value), f"{text!r} not in {e.value}"
    assert hashlib.sha256(wh.read_bytes()).hexdigest() == before
    assert not list(wh.parent.glob("*.building-*")), "a failed build must not leave its temporary file"
    # and the CLI says it plainly, with a non-zero exit and no traceback
    result = CliRunner().invoke(app, ["build", "--raw", str(bad), "--warehouse", str(wh)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert expected[0] in result.output


def test_lenient_build_rejects_bad_rows_and_lists_them(tmp_path: Path) -> None:
    rows = [caversham_like(), {**school(100009, "Second School"), **graded("10111111", "01/02/2023", "01/03/2023", "Brilliant")}]
    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), rows))
    wh = tmp_path / "wh.duckdb"
    s = build_warehouse(tmp_path / "raw", wh, lenient=True)
    assert s.n_rejected == 1
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT row_number, column_name, value FROM meta.rejections").fetchall() == [(3, "Overall effectiveness", "Brilliant")]
    assert con.execute("SELECT rows_read, rows_rejected FROM meta.files").fetchall() == [(2, 1)]
    assert con.execute("SELECT count(*) FROM core.schools").fetchall() == [(1,)]


def test_duplicate_rows_with_conflicting_grades_are_reported_as_conflicts(tmp_path: Path) -> None:
    a = caversham_like()
    b = {**caversham_like(), "Previous quality of education": "3"}
    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [a, b]))
    wh = tmp_path / "wh.duckdb"
    s = build_warehouse(tmp_path / "raw", wh)
    assert s.n_conflicts == 1
    con = duckdb.connect(str(wh), read_only=True)
    rows = con.execute("SELECT field, value, row_number, kept FROM meta.conflicts ORDER BY row_number").fetchall()
    assert rows == [("judgement:quality_of_education", "2.0", 2, True), ("judgement:quality_of_education", "3", 3, False)]
    assert con.execute("SELECT n_conflicts, n_sources FROM core.events WHERE event_id = '10242325'").fetchall() == [(1, 2)]
    result = CliRunner().invoke(app, ["build", "--raw", str(tmp_path / "raw"), "--warehouse", str(wh)])
    assert "conflicts: 1" in result.output


def test_unrecognised_files_are_listed_not_fatal(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "os.csv", good_csv())
    write(tmp_path / "raw" / "notes.txt", "some notes, not data\n")
    write(tmp_path / "raw" / "README.md", "# read me\n")
    wh = tmp_path / "wh.duckdb"
    result = CliRunner().invoke(app, ["build", "--raw", str(tmp_path / "raw"), "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output
    assert "not recognised (2 files" in result.output
    assert "notes.txt" in result.output


def test_killed_build_leaves_the_previous_warehouse_intact(tmp_path: Path) -> None:
    wh, before = good_warehouse(tmp_path)
    big = tmp_path / "big"
    rows = [{**school(200000 + i, f"School {i}"), **graded(str(10_000_000 + i), "01/02/2023", "01/03/2023", "2")} for i in range(20000)]
    write(big / "os.csv", csv_text(os_headers(), rows))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "evenhand.cli", "build", "--raw", str(big), "--warehouse", str(wh)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # kill it once its temporary warehouse exists, i.e. part-way through writing
    deadline = time.time() + 60
    while time.time() < deadline and not list(wh.parent.glob("*.building-*")) and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the build finished before it could be killed: make the input bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert hashlib.sha256(wh.read_bytes()).hexdigest() == before
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT count(*) FROM core.events").fetchall() == [(2,)]
    con.close()
    # the next build cleans up the dead build's leftovers and succeeds
    build_warehouse(big, wh)
    assert not list(wh.parent.glob("*.building-*"))
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT count(*) FROM core.events").fetchall() == [(20000,)]
