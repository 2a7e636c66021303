"""Open CSV (UTF-8, UTF-8 with BOM, UTF-16, Windows-1252), XLSX, ODS and Parquet files as a
grid of text, refusing things that are not data (web pages, Git LFS pointers, empty files)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from evenhand.errors import InputError, Problem

SNIFF_ROWS = 30  # a header is looked for in the first rows (title rows may sit above it)
# a field may be long (a free-text column); the csv module's 128 KB default would be a crash
csv.field_size_limit(1 << 30)


@dataclass
class Opened:
    """A file opened as text cells: ``top`` holds the first rows for header sniffing."""

    path: Path
    name: str
    data: bytes
    sha256: str
    container: str
    encoding: str | None
    sheet: str | None
    top: list[list[str]]
    # worksheets already read (sheet -> all-text grid): the sniff reads a sheet whole anyway
    # (calamine parses the sheet's XML in full even for a few rows), so the reader reuses it
    grids: dict[str, pl.DataFrame] = field(default_factory=dict)
    # rows with fewer fields than the header, as (row, fields) (CSV only; set by read_grid)
    short_rows: list[tuple[int, int]] = field(default_factory=list)
    # CSV only, from the UTF-8 bytes every cell is read from: no control character
    # (normalise.CONTROL_CHARS) / no C1 character (U+0080-U+009F) in any cell. False means
    # "not known" (spreadsheets, Parquet): the cells are then searched one column at a time
    control_free: bool = False
    c1_free: bool = False


def fail(name: str, message: str, row: int | None = None, column: str | None = None, value: str | None = None) -> InputError:
    return InputError([Problem(name, row, column, value, message)])


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _refuse_non_data(name: str, data: bytes) -> None:
    if not data.strip():
        raise fail(name, "the file is empty")
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"version https://git-lfs.github.com/spec"):
        raise fail(name, "this is a Git LFS pointer, not the data itself: fetch the real file (git lfs pull)")
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head[:512]:
        raise fail(name, "this is a web page (HTML/XML), not a data file: the download probably failed or needed a login")


def detect_container(data: bytes) -> str:
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
                if "mimetype" in names and b"opendocument.spreadsheet" in z.read("mimetype"):
                    return "ods"
                if "xl/workbook.xml" in names:
                    return "xlsx"
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError):
            return "damaged zip"
        return "zip"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    return "csv"


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the start reads as UTF-16 text with no byte-order mark."""
    head = data[:4096]
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_UTF8_LEAD = re.compile(rb"[\xc2-\xf4]")  # every match of _UTF8_MULTIBYTE starts with one of these


# every byte but the control characters of normalise.CONTROL_CHARS (a cell holds one only
# as that byte: UTF-8 multi-byte sequences use bytes from 0x80 up)
_NOT_CONTROL = bytes(b for b in range(256) if not (b <= 0x08 or b in (0x0B, 0x0C) or 0x0E <= b <= 0x1F or b == 0x7F))
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")  # U+0080-U+009F in UTF-8


def control_free(body: bytes) -> bool:
    """No control character (tab, line feed and carriage return are text) in UTF-8 ``body``."""
    return not body.translate(None, _NOT_CONTROL)


def c1_free(body: bytes) -> bool:
    """No C1 character (U+0080-U+009F) in UTF-8 ``body``."""
    return _C1_UTF8.search(body) is None


def has_utf8_multibyte(data: bytes) -> bool:
    """Whether any valid UTF-8 multi-byte sequence occurs in ``data`` (as _UTF8_MULTIBYTE.search).

    The alternation is tried only where a lead byte stands: a Windows-1252 file has few bytes
    above 0x7f, and searching the alternation over every byte cost 0.1 s CPU per 2 MB file.
    """
    return any(_UTF8_MULTIBYTE.match(data, m.start()) for m in _UTF8_LEAD.finditer(data))


def _where(data: bytes, pos: int) -> tuple[int, int, str]:
    """(1-based line, 1-based field, the field's text) of byte ``pos`` in CSV bytes."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    line_end = data.find(b"\n", pos)
    line = data[line_start : len(data) if line_end < 0 else line_end]
    before = data[line_start:pos].decode("utf-8", errors="replace")
    field_no = len(next(csv.reader([before + "x"]), [""]))
    fields = next(csv.reader([line.decode("utf-8", errors="backslashreplace").rstrip("\r")]), [])
    value = fields[field_no - 1] if 0 < field_no <= len(fields) else line.decode("utf-8", errors="backslashreplace")[:80]
    return data[:pos].count(b"\n") + 1, field_no, value


def decode_text(name: str, data: bytes) -> tuple[str, bytes, str]:
    """Return (encoding, UTF-8 bytes without BOM, text of the first lines).

    The encoding is decided for the whole file: a BOM says UTF-8 or UTF-16 (UTF-16 without a
    BOM is recognised by its zero bytes); otherwise UTF-8 if every byte reads as UTF-8, or
    Windows-1252 (the encoding Ofsted's own CSV downloads use) if no byte sequence in it is
    UTF-8. A file that is UTF-8 except for some bytes is an error naming the first such byte's
    row and field: re-decoding it all as Windows-1252 would garble every other accented name.
    Old Mac line endings (CR only) are read as line ends.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        enc, body = "utf-8-sig", data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(data):
        enc = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else str(_utf16_without_bom(data))
        try:
            body = data.decode(enc).lstrip("\ufeff").encode("utf-8")
        except UnicodeDecodeError as e:
            raise fail(name, f"not valid {enc.upper()} at byte {e.start}") from None
    else:
        enc, body = "utf-8", data
    if b"\x00" in body[:65536]:
        raise fail(name, "the file contains NUL bytes: it is binary or in an encoding that is not supported (save it as CSV in UTF-8)")
    if enc == "utf-8":
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            if has_utf8_multibyte(data):
                row, field_no, value = _where(data, e.start)
                raise fail(
                    name,
                    f"byte 0x{data[e.start]:02x} (field {field_no}) is not UTF-8, but the rest of the file is: "
                    "the file mixes encodings; re-save it as UTF-8",
                    row=row, value=value,
                ) from None
            try:
                body = data.decode("cp1252").encode("utf-8")
                enc = "windows-1252"
            except UnicodeDecodeError as e2:
                row, field_no, value = _where(data, e2.start)
                raise fail(
                    name,
                    f"byte 0x{data[e2.start]:02x} (field {field_no}) is neither UTF-8 nor Windows-1252: re-save the file as UTF-8",
                    row=row, value=value,
                ) from None
    if b"\r" in body and b"\n" not in body:
        body = body.replace(b"\r", b"\n")  # CR-only (old Mac) line endings
    return enc, body, ""


def read_bytes(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise fail(name, f"cannot read the file: {e.strerror or e}") from None


def read_parquet(name: str, data: bytes) -> pl.DataFrame:
    """A Parquet file as a frame; damage and nested (struct, list) columns are errors naming the file."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as e:  # polars raises several kinds for a truncated or garbage file
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise fail(name, f"cannot read it as Parquet ({first[:200]}): it is damaged or truncated (re-download it)") from None
    nested = [c for c, t in frame.schema.items() if t.is_nested() or t == pl.Object]
    if nested:
        raise fail(name, f"nested (struct or list) column(s) cannot be read as a table: {', '.join(nested)}; "
                   "save the file with one plain value per cell", column=nested[0])
    return frame


def open_file(path: Path, name: str) -> Opened:
    data = read_bytes(path, name)
    digest = sha256_of(data)
    _refuse_non_data(name, data)
    container = detect_container(data)
    if container == "xls":
        raise fail(name, "old binary Excel (.xls) is not supported: save it as .xlsx or CSV")
    if container == "zip":
        raise fail(name, "a zip archive that is not a spreadsheet: unzip it into the raw folder")
    if container == "damaged zip":
        raise fail(name, "a damaged or truncated zip or spreadsheet (.xlsx): re-download it")
    if container == "gzip":
        raise fail(name, "a gzip-compressed file: decompress it (gunzip) into the raw folder")
    if container == "parquet":
        frame = read_parquet(name, data)
        top = [list(frame.columns)]
        return Opened(path, name, data, digest, container, None, None, top)
    if container in ("xlsx", "ods"):
        return Opened(path, name, data, digest, container, None, None, [])
    enc, body, _ = decode_text(name, data)
    top = _csv_top(body)
    return Opened(path, name, body, digest, "csv", enc, None, top, control_free=control_free(body), c1_free=c1_free(body))


def _csv_top(body: bytes) -> list[list[str]]:
    lines = body[: 1 << 24].split(b"\n", SNIFF_ROWS)[:SNIFF_ROWS]
    text = b"\n".join(lines).decode("utf-8", errors="replace")
    try:
        return [row for row in csv.reader(io.StringIO(text))]
    except csv.Error:  # e.g. a quote left open in the first rows: sniff what reads
        return [next(csv.reader([line]), []) for line in text.split("\n")]


def spreadsheet_sheets(opened: Opened) -> list[str]:
    import fastexcel

    try:
        reader = fastexcel.read_excel(opened.data)
        return list(reader.sheet_names)
    except Exception as e:  # calamine: a damaged workbook
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise fail(opened.name, f"cannot read the workbook ({first[:200]}): it is damaged or truncated (re-download it)") from None


def spreadsheet_grid(opened: Opened, sheet: str, n_rows: int | None = None) -> pl.DataFrame:
    """A worksheet as all-text cells with no header (numbers as shown, dates ISO).

    The whole sheet is read once and kept on ``opened``; ``n_rows`` gives its first rows.
    """
    grid = opened.grids.get(sheet)
    if grid is None:
        try:
            grid = pl.read_excel(
                io.BytesIO(opened.data),
                sheet_name=sheet,
                engine="calamine",
                has_header=False,
                infer_schema_length=0,
            )
        except Exception as e:  # a corrupt workbook: name it, don't dump a traceback
            raise fail(opened.name, f"cannot read worksheet {sheet!r}: {e}") from None
        opened.grids[sheet] = grid
    return grid.head(n_rows) if n_rows else grid


def unique_names(headers: list[str]) -> list[str]:
    """Column names for the raw layer: the published headers, made unique and non-empty."""
    out: list[str] = []
    seen: set[str] = set()
    for i, h in enumerate(headers):
        base = h.replace("\ufeff", "").strip() or f"_unnamed_{i}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base} ({k})", k + 1
        seen.add(name)
        out.append(name)
    return out


def field_counts(rest: bytes, first_row: int) -> pl.DataFrame | None:
    """(_row, fields) of each non-blank line of CSV bytes, counted with quoted sections taken
    out; None when a quoted value spans lines (then rows are not lines).

    Counted on the bytes (``rest`` is UTF-8, where a line feed, quote or comma byte is always
    that character): a line with an odd number of quotes means a value spans lines; with
    every line even, the quotes of a line pair up in order and a comma between the two quotes
    of a pair is inside a quoted section. A line is blank when it is empty once whitespace is
    stripped (Unicode whitespace, as ``str.strip_chars``); only a line with no comma and no
    quote can be, and only such lines are decoded and looked at.
    """
    import numpy as np

    arr = np.frombuffer(rest, dtype=np.uint8)
    nl = np.flatnonzero(arr == 0x0A)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [arr.size]))  # each line is arr[starts[k]:ends[k]]
    quotes = np.flatnonzero(arr == 0x22)
    q_before_end = np.searchsorted(quotes, ends)
    q_per_line = np.diff(np.concatenate(([0], q_before_end)))
    if (q_per_line % 2 == 1).any():
        return None
    commas = np.flatnonzero(arr == 0x2C)
    per_line = np.diff(np.concatenate(([0], np.searchsorted(commas, ends))))
    # quotes pair up within each line (1st with 2nd, 3rd with 4th ...): take out the commas
    # between the quotes of each pair, from the pair's line
    opening, closing = quotes[0::2], quotes[1::2]
    inside = np.searchsorted(commas, closing) - np.searchsorted(commas, opening)
    per_line = per_line - np.bincount(np.searchsorted(nl, opening), weights=inside, minlength=per_line.size).astype(np.int64)
    fields = per_line + 1
    # a line with a comma or a quote is not blank; the others (few, in a file of several
    # columns) are decoded and stripped
    keep = (fields > 1) | (q_per_line > 0)
    unsure = np.flatnonzero(~keep)
    if unsure.size:
        lines = pl.Series("l", [rest[starts[k]:ends[k]].decode("utf-8", errors="replace") for k in unsure]).str.strip_suffix("\r")
        keep[unsure] = (lines.str.strip_chars() != "").to_numpy()
    rows = np.flatnonzero(keep)
    return pl.DataFrame({
        "_row": pl.Series(rows + first_row, dtype=pl.Int64),
        "fields": pl.Series(fields[rows], dtype=pl.UInt32),
    })


def read_grid(opened: Opened, header_index: int, sheet: str | None, short_rows_allowed: bool = True) -> tuple[list[str], pl.DataFrame]:
    """The data below the header as all-text columns, plus the published header list.

    ``header_index`` is 0-based. The returned frame has the raw-layer column names and a
    ``_row`` column (1-based spreadsheet row). Completely empty rows are kept here; the
    caller counts and drops them. CSV rows with fewer fields than the header are noted in
    ``opened.short_rows`` unless the layout publishes them (``short_rows_allowed``); the
    caller reports them. A row with more fields is an error naming it.
    """
    name = opened.name
    if opened.container == "parquet":
        frame = read_parquet(name, opened.data)
        headers = [str(c) for c in frame.columns]
        frame = frame.select([_as_text(frame[c]) for c in frame.columns])
        names = unique_names(headers)
        frame.columns = names
        first_row = 2
    elif opened.container in ("xlsx", "ods"):
        assert sheet is not None
        grid = spreadsheet_grid(opened, sheet)
        header_vals = grid.row(header_index)
        headers = ["" if v is None else str(v) for v in header_vals]
        while headers and headers[-1] == "":
            headers.pop()
        frame = grid.slice(header_index + 1).select(grid.columns[: len(headers)])
        names = unique_names(headers)
        frame.columns = names
        first_row = header_index + 2
    else:
        body = opened.data
        offset = 0
        for _ in range(header_index):
            nl = body.index(b"\n", offset)
            offset = nl + 1
        header_line_end = body.find(b"\n", offset)
        header_line_end = len(body) if header_line_end < 0 else header_line_end
        headers = next(csv.reader([body[offset:header_line_end].decode("utf-8").rstrip("\r")]))
        names = unique_names(headers)
        rest = body[header_line_end + 1 :] if header_line_end < len(body) else b""
        _check_truncation(name, body, len(headers), header_index)
        if not rest.strip():
            frame = pl.DataFrame({n: pl.Series(n, [], dtype=pl.String) for n in names})
        else:
            try:
                frame = pl.read_csv(
                    io.BytesIO(rest),
                    has_header=False,
                    schema=dict.fromkeys(names, pl.String),
                    missing_columns="insert",  # a short first row is reported below, not a crash
                    raise_if_empty=False,
                )
            except (pl.exceptions.ComputeError, pl.exceptions.SchemaError) as e:
                msg = str(e).splitlines()[0]
                counts = field_counts(rest, header_index + 2)
                long = counts.filter(pl.col("fields") > len(headers)) if counts is not None else None
                if long is not None and long.height:
                    row, n = long.row(0)
                    raise fail(name, f"this row has {n} fields but the header has {len(headers)} ({long.height} such row(s))", row=row) from None
                raise fail(name, f"rows do not fit the header of {len(headers)} columns ({msg})") from None
            if frame.width != len(names):
                raise fail(name, f"rows have {frame.width} fields but the header has {len(names)}")
            if not short_rows_allowed and len(headers) > 1:
                counts = field_counts(rest, header_index + 2)
                if counts is None:  # quoted values span lines: count fields the slow, exact way
                    text = rest.decode("utf-8")
                    reader = csv.reader(io.StringIO(text))
                    pairs = [(header_index + 1 + reader.line_num, len(r)) for r in reader if r and any(x.strip() for x in r)]
                    opened.short_rows = [(r, n) for r, n in pairs if n < len(headers)]
                else:
                    opened.short_rows = [(int(r), int(n)) for r, n in counts.filter(pl.col("fields") < len(headers)).iter_rows()]
        first_row = header_index + 2
    frame = frame.with_row_index("_row", offset=first_row).with_columns(pl.col("_row").cast(pl.Int64))
    return headers, frame


def _check_truncation(name: str, body: bytes, n_headers: int, header_index: int) -> None:
    """A download cut off mid-row leaves a last line with too few fields or an open quote."""
    tail = body.rstrip(b"\r\n")
    if body.endswith(b"\n"):
        return
    last_nl = tail.rfind(b"\n")
    last = tail[last_nl + 1 :].decode("utf-8", errors="replace")
    if last.count('"') % 2 == 1:
        raise fail(name, "the file ends inside a quoted value: it looks truncated (re-download it)", row=tail.count(b"\n") + 1, value=last[-60:])
    fields = next(csv.reader([last]), [])
    if n_headers > 1 and len(fields) < n_headers and last_nl >= 0:
        # DfE files end with total rows that are short by design (trailing empty fields left
        # out); a last row as short as the row before it is that shape, not a cut-off download
        prev = tail[tail.rfind(b"\n", 0, last_nl) + 1 : last_nl].decode("utf-8", errors="replace").rstrip("\r")
        if len(next(csv.reader([prev]), [])) == len(fields):
            return
        line = tail.count(b"\n") + 1
        raise fail(
            name,
            f"the last row has {len(fields)} of {n_headers} fields and no line end: the file looks truncated (re-download it)",
            row=line,
            value=last[-60:],
        )


def _as_text(s: pl.Series) -> pl.Series:
    if s.dtype == pl.String:
        return s
    if s.dtype in (pl.Date, pl.Datetime):
        return s.dt.strftime("%Y-%m-%d")
    return s.cast(pl.String)
