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


# ---- 2. values that cannot be right are errors naming file, row, column and value ----------


def bad_build(tmp_path: Path, previous: tuple[Path, str], content: bytes, *texts: str, name: str = "os.csv", extra: tuple[str, ...] = ()) -> Result:
    """Build the good files plus one bad file; the build must fail saying ``texts``."""
    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    (raw / name).write_bytes(content)
    result = run(raw, wh, *extra)
    assert_refused(result, wh, before, name, *texts)
    return result


def os_csv(*rows: dict[str, str], header: list[str] | None = None) -> bytes:
    return csv_text(header or os_headers(), list(rows)).encode()


@pytest.mark.parametrize(("column", "value", "message"), [
    ("School open date", "01/09/11", "a two-digit year"),
    ("Inspection start date", "15/11/23", "a two-digit year"),
    ("Publication date", "17/07/23", "a two-digit year"),
    ("Inspection start date", "21/06/1850", "a date outside 1992-09-01"),
    ("Publication date", "17/07/2300", "a date outside 1992-09-01"),
    ("School open date", "01/09/1700", "a date outside 1800-01-01"),
    ("URN", "-109778", "not a URN"),
    ("URN", "1097780", "not a URN"),
    ("URN", "10977x", "not a whole number"),
    ("School name", "Caversham\x1b[31m Primary", "control character"),
])
def test_impossible_values_are_errors_naming_row_column_and_value(
    tmp_path: Path, previous: tuple[Path, str], column: str, value: str, message: str
) -> None:
    result = bad_build(tmp_path, previous, os_csv({**caversham_like(), column: value}), "row 2", repr(column), message)
    shown = value.encode("unicode_escape").decode() if message == "control character" else value
    said(result, repr(shown)[1:-1])


def test_lenient_rejects_the_row_with_an_impossible_value_and_names_it(tmp_path: Path) -> None:
    raw = good_raw(tmp_path / "raw")
    write(raw / "third.csv", csv_text(os_headers(), [
        {**school(100010, "Third School"), **graded("10111112", "01/02/2023", "01/03/2023", "1")},
        {**school(100011, "Fourth School", **{"School open date": "01/09/11"}), **graded("10111113", "01/02/2023", "01/03/2023", "1")},
    ]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(raw, wh, lenient=True)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT row_number, column_name, value FROM meta.rejections").fetchall() == [(3, "School open date", "01/09/11")]
    assert con.execute("SELECT count(*) FROM core.schools WHERE urn = 100011").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM core.schools WHERE open_date < DATE '1800-01-01'").fetchall() == [(0,)]
    con.close()


def test_a_short_row_is_an_error_naming_its_row_and_where_it_ends(tmp_path: Path, previous: tuple[Path, str]) -> None:
    header = os_headers()
    lines = os_csv(caversham_like(), second_school()).decode().split("\r\n")
    fields = lines[1].split(",")
    lines[1] = ",".join(fields[:10])  # cut to 10 of 76 fields: URN 109778 loses its inspections
    bad_build(tmp_path, previous, "\r\n".join(lines).encode(), "row 2", repr(header[10]), f"'10 of {len(header)} fields'", "fewer fields than the header")


def test_a_row_with_extra_fields_names_its_row(tmp_path: Path, previous: tuple[Path, str]) -> None:
    lines = os_csv(caversham_like(), second_school()).decode().split("\r\n")
    lines[2] += ",surplus"
    bad_build(tmp_path, previous, "\r\n".join(lines).encode(), "row 3", "fields but the header has")


def test_a_file_cut_inside_quotes_names_its_last_row(tmp_path: Path, previous: tuple[Path, str]) -> None:
    text = os_csv(caversham_like(), {**second_school(), "School name": "Second, School"}).decode()
    cut = text[: text.index("Second, School") + 5]
    bad_build(tmp_path, previous, cut.encode(), "row 3", "ends inside a quoted value")


def test_a_duplicate_header_is_an_error(tmp_path: Path, previous: tuple[Path, str]) -> None:
    header = os_headers()
    dup = [*header[:5], "URN", *header[5:]]
    body = csv_text(header, [caversham_like()]).split("\r\n", 1)[1]
    lines = body.split("\r\n")
    cells = lines[0].split(",")
    lines[0] = ",".join([*cells[:5], "999999", *cells[5:]])
    content = (",".join(dup) + "\r\n" + "\r\n".join(lines)).encode()
    result = bad_build(tmp_path, previous, content, "'URN' and 'URN' both read as")
    assert "appears twice" not in result.output  # reported once, by the header matcher


def test_a_nul_byte_far_into_a_file_is_an_error_naming_its_row(tmp_path: Path, previous: tuple[Path, str]) -> None:
    rows = [{**school(200000 + i, f"School {i}"), **graded(str(10_000_000 + i), "01/02/2023", "01/03/2023", "2")} for i in range(300)]
    rows[-1]["School name"] = "School\x00 299"
    content = os_csv(*rows)
    assert content.index(b"\x00") > 65536
    bad_build(tmp_path, previous, content, "row 301", "'School name'", "School\\\\x00 299", "control character")


def test_one_stray_byte_in_a_utf8_file_is_an_error_not_a_silent_redecode(tmp_path: Path, previous: tuple[Path, str]) -> None:
    good = os_csv({**caversham_like(), "School name": "St Thomas à Becket"}, {**second_school(), "School name": "North Star 180°"})
    content = good.replace(b"North Star", b"North St\xe9r")
    field_no = os_headers().index("School name") + 1
    bad_build(tmp_path, previous, content, "row 3", f"byte 0xe9 (field {field_no}) is not UTF-8", "mixes encodings", "North St\\\\xe9r")


def test_a_windows_1252_file_is_read_as_windows_1252(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write(raw / "os.csv", csv_text(os_headers(), [{**caversham_like(), "School name": "St Thomas à Becket – 180°"}]), encoding="cp1252")
    wh = tmp_path / "wh.duckdb"
    build_warehouse(raw, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT school_name FROM core.schools").fetchall() == [("St Thomas à Becket – 180°",)]
    assert con.execute("SELECT encoding FROM meta.files").fetchall() == [("windows-1252",)]
    con.close()


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    raw = tmp_path / "raw"
    write(raw / "os.csv", csv_text(os_headers(), [{**caversham_like(), "School name": "St Thomas à Becket"}]), encoding=encoding)
    wh = tmp_path / "wh.duckdb"
    build_warehouse(raw, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT school_name FROM core.schools").fetchall() == [("St Thomas à Becket",)]
    con.close()


def test_cr_only_line_endings_are_read(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw).mkdir()
    (raw / "os.csv").write_bytes(os_csv(caversham_like(), second_school()).replace(b"\r\n", b"\r"))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(raw, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT count(*) FROM core.events").fetchall() == [(3,)]
    con.close()


def test_gzip_is_named_as_gzip(tmp_path: Path, previous: tuple[Path, str]) -> None:
    import gzip

    bad_build(tmp_path, previous, gzip.compress(os_csv(caversham_like())), "gzip-compressed", "gunzip")


def test_folders_named_like_data_files_and_dangling_links_are_listed(tmp_path: Path) -> None:
    raw = good_raw(tmp_path / "raw")
    (raw / "folder.csv").mkdir()
    (raw / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    result = run(raw, tmp_path / "wh.duckdb")
    assert result.exit_code == 0, result.output
    said(result, "folder.csv: a folder named like a data file", "gone.csv: a link whose target is missing")


# ---- 3. no bare tracebacks: one line naming the file --------------------------------------


def xlsx_bytes(tmp_path: Path) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(os_headers())
    ws.append([caversham_like().get(h, "") or None for h in os_headers()])
    path = tmp_path / "made.xlsx"
    wb.save(path)
    return path.read_bytes()


def test_a_truncated_xlsx_is_a_one_line_error(tmp_path: Path, previous: tuple[Path, str]) -> None:
    data = xlsx_bytes(tmp_path)
    bad_build(tmp_path, previous, data[: len(data) // 2], "damaged or truncated", name="os.xlsx")


def test_a_corrupt_xlsx_is_a_one_line_error(tmp_path: Path, previous: tuple[Path, str]) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "this is not a workbook")
    bad_build(tmp_path, previous, buf.getvalue(), "cannot read the workbook", name="os.xlsx")


def parquet_bytes(tmp_path: Path, frame: object = None) -> bytes:
    import polars as pl

    df = frame if isinstance(frame, pl.DataFrame) else pl.DataFrame([caversham_like()])
    path = tmp_path / "made.parquet"
    df.write_parquet(path)
    return path.read_bytes()


def test_a_truncated_parquet_is_a_one_line_error(tmp_path: Path, previous: tuple[Path, str]) -> None:
    data = parquet_bytes(tmp_path)
    bad_build(tmp_path, previous, data[: len(data) // 2], "cannot read it as Parquet", name="os.parquet")


def test_a_garbage_parquet_is_a_one_line_error(tmp_path: Path, previous: tuple[Path, str]) -> None:
    bad_build(tmp_path, previous, b"PAR1" + bytes(range(256)) * 4, "cannot read it as Parquet", name="os.parquet")


def test_a_parquet_struct_column_is_a_one_line_error(tmp_path: Path, previous: tuple[Path, str]) -> None:
    import polars as pl

    frame = pl.DataFrame([caversham_like()]).with_columns(pl.struct("URN", "School name").alias("nested"))
    bad_build(tmp_path, previous, parquet_bytes(tmp_path, frame), "nested (struct or list) column(s)", "'nested'", name="os.parquet")


def test_a_huge_field_in_the_first_rows_is_read(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write(raw / "os.csv", csv_text(os_headers(), [{**caversham_like(), "School name": "x" * 200_000}]))
    wh = tmp_path / "wh.duckdb"
    build_warehouse(raw, wh)
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT length(school_name) FROM core.schools").fetchall() == [(200_000,)]
    con.close()


def test_a_read_error_names_the_file(tmp_path: Path, previous: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    real = Path.read_bytes

    def failing(self: Path) -> bytes:
        if self.name == "os-second.csv":
            raise OSError(errno.EIO, "Input/output error", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    assert_refused(run(raw, wh), wh, before, "more/os-second.csv", "cannot read the file: Input/output error")


def test_warehouse_pointing_at_a_directory_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    result = run(good_raw(tmp_path / "raw"), tmp_path / "adir")
    assert result.exit_code == 2 and "is a directory" in result.output and "Traceback" not in result.output


def test_warehouse_under_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = run(good_raw(tmp_path / "raw"), tmp_path / "afile" / "wh.duckdb")
    assert result.exit_code == 2 and "is a file, not a folder" in result.output


def test_warehouse_in_an_unwritable_place_is_a_one_line_error(tmp_path: Path) -> None:
    result = run(good_raw(tmp_path / "raw"), Path("/proc/evenhand.duckdb"))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "/proc/evenhand.duckdb" in result.output


def test_markup_in_values_and_paths_is_shown_literally(tmp_path: Path, previous: tuple[Path, str]) -> None:
    wh, before = previous
    raw = good_raw(tmp_path / "raw [/x]")
    write(raw / "[bold]bad[/].csv", csv_text(os_headers(), [{**caversham_like(), "Overall effectiveness": "[/]"}]))
    result = run(raw, wh)
    assert_refused(result, wh, before, "[bold]bad[/].csv", "value '[/]'", "unknown code")
    ok = run(raw, wh, "--lenient", "--allow-missing", "*bad*")
    assert ok.exit_code in (0, 2), ok.output
    assert "MarkupError" not in ok.output


@pytest.mark.skipif(not Path("/usr/bin/unshare").exists(), reason="needs unshare(1) to mount a small tmpfs in a user namespace")
def test_a_full_disk_is_a_one_line_error_and_keeps_the_warehouse(tmp_path: Path, previous: tuple[Path, str]) -> None:
    import shutil
    import subprocess
    import sys

    wh, before = previous
    raw = good_raw(tmp_path / "raw")
    write(raw / "third.csv", csv_text(os_headers(), [{**school(100010 + i, f"School {i}"), **graded(str(10111112 + i), "01/02/2023", "01/03/2023", "1")} for i in range(2000)]))
    size_kb = wh.stat().st_size // 1024 + sum(p.stat().st_size for p in wh.parent.rglob("*") if p.is_file() and p != wh) // 1024 + 256
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (
        f"mount -t tmpfs -o size={size_kb}k tmpfs {mnt} || exit 77; "
        f"cp -a {wh.parent}/. {mnt}/ && sha256sum {mnt / wh.name}; "
        f"{sys.executable} -m evenhand.cli build --raw {raw} --warehouse {mnt / wh.name}; echo exit=$?; "
        f"sha256sum {mnt / wh.name}; ls -a {mnt}"
    )
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a user namespace here: {probe.stderr.decode().strip()}")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "COLUMNS": "200"})
    if proc.returncode == 77:
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert "exit=2" in out, out
    assert "disk is full" in out, out
    hashes = [line.split()[0] for line in proc.stdout.splitlines() if line.endswith(wh.name) and len(line.split()[0]) == 64]
    assert hashes == [before, before], out
    assert ".building-" not in out and ".lock" not in out and shutil.which("sh")


def test_a_renamed_judgement_column_is_an_error_not_a_dropped_judgement(tmp_path: Path, previous: tuple[Path, str]) -> None:
    header = ["Quality of educaton" if h == "Quality of education" else h for h in os_headers()]
    row = {("Quality of educaton" if k == "Quality of education" else k): v for k, v in caversham_like().items()}
    bad_build(tmp_path, previous, csv_text(header, [row]).encode(), "'Quality of educaton'", "reads like its column 'Quality of education'", "renamed")


def test_a_duplicate_unmapped_header_is_an_error_too(tmp_path: Path, previous: tuple[Path, str]) -> None:
    header = [*os_headers(), "Notes", "Notes"]
    bad_build(tmp_path, previous, csv_text(header, [caversham_like()]).encode(), "'Notes' appears twice")
