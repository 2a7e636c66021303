"""What the build's performance work must not weaken (no timings here: see bench/build.py).

- validation is still generated from the field metadata and names the column and value;
- the DfE field dictionaries (dfe/meta/*.csv) load into meta.dfe_field_dictionary;
- the raw layer stays lossless and the swap stays atomic.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
from tests.helpers import caversham_like, csv_text, os_headers, write

from evenhand.core.pipeline import build_warehouse
from evenhand.errors import InputError
from evenhand.metadata import tables as T
from evenhand.metadata.schema import Field, Table

DEMO = Table(
    "demo",
    "core",
    "A table for the validation tests.",
    (
        Field("id", "int", "key", nullable=False),
        Field("kind", "text", "kind", allowed=("a", "b")),
        Field("when", "date", "date"),
    ),
    primary_key=("id",),
)


def _frame(**cols: list[object]) -> pl.DataFrame:
    base: dict[str, list[object]] = {"id": [1, 2], "kind": ["a", None], "when": [dt.date(2024, 1, 1), None]}
    base.update(cols)
    return DEMO.conform(pl.DataFrame(base, strict=False))


def test_validate_accepts_a_conforming_frame() -> None:
    df = _frame()
    assert DEMO.validate(df) is df


def test_validate_names_a_value_not_allowed() -> None:
    with pytest.raises(InputError) as e:
        DEMO.validate(_frame(kind=["a", "zz"]))
    p = e.value.problems[0]
    assert (p.file, p.column, p.value) == ("table core.demo", "kind", "zz")
    assert "isin" in p.message


def test_validate_names_a_null_in_a_required_field() -> None:
    df = pl.DataFrame({"id": [1, None], "kind": ["a", "b"], "when": [None, None]}, schema=DEMO.polars_schema())
    with pytest.raises(InputError) as e:
        DEMO.validate(df)
    assert e.value.problems[0].column == "id"
    assert "not_nullable" in e.value.problems[0].message


def test_validate_refuses_a_wrong_type_and_extra_columns() -> None:
    df = pl.DataFrame({"id": ["1"], "kind": ["a"], "when": [None]}, schema={"id": pl.String, "kind": pl.String, "when": pl.Date})
    with pytest.raises(InputError) as e:
        DEMO.validate(df)
    assert e.value.problems[0].column == "id"
    with pytest.raises(InputError):
        DEMO.validate(_frame().with_columns(pl.lit(1).alias("extra")))


def test_validate_refuses_a_duplicate_primary_key() -> None:
    with pytest.raises(InputError) as e:
        DEMO.validate(_frame(id=[7, 7]))
    assert "primary key" in e.value.problems[0].message


def test_validate_counts_every_failure() -> None:
    df = pl.DataFrame({"id": list(range(30)), "kind": ["x"] * 30, "when": [None] * 30}, schema=DEMO.polars_schema())
    with pytest.raises(InputError) as e:
        DEMO.validate(df)
    assert e.value.total == 30
    assert len(e.value.problems) <= 10


# ---- DfE field dictionaries -----------------------------------------------------------------

KS2_META = 'Column,Field Name,Label/Description\n1,RECTYPE,"Record type (1=Mainstream school; 2=Special school)"\n2,URN,School unique reference number\n'
KS4_META = (
    "\ufeffColumn,Metafile heading,Metafile description,Methodology changes,Null field for special schools\n"
    "1,RECTYPE,Record type,,Yes\n2,P8MEA,Progress 8 measure after adjustment,New in 2016,\n"
)
INFO_META = "\ufeffColumn,Field Name,Description\n1,URN,School unique reference number\n2,LANAME,Local authority name\n"


def test_dfe_field_dictionaries_load(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write(raw / "meta" / "performance-tables_2018-19_ks2_meta.csv", KS2_META)
    write(raw / "meta" / "performance-tables_2018-19_ks4_final_meta.csv", KS4_META)
    write(raw / "meta" / "performance-tables_2018-19_school_information_meta.csv", INFO_META)
    wh = tmp_path / "wh" / "evenhand.duckdb"
    summary = build_warehouse(raw, wh)
    assert {r.layout for r in summary.files} == {"dfe_field_dictionary"}
    assert all(r.status == "loaded" for r in summary.files)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        rows = con.execute(
            "SELECT f.path, d.column_number, d.field_name, d.description, d.methodology_changes "
            "FROM meta.dfe_field_dictionary d JOIN meta.files f USING (file_id) ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    assert ("meta/performance-tables_2018-19_ks4_final_meta.csv", 2, "P8MEA", "Progress 8 measure after adjustment", "New in 2016") in rows
    assert ("meta/performance-tables_2018-19_ks2_meta.csv", 1, "RECTYPE", "Record type (1=Mainstream school; 2=Special school)", None) in rows
    assert len(rows) == 6
    # the column no map knows is kept raw and reported
    assert any("Null field for special schools" in str(w["message"]) for w in summary.warnings)


def test_dfe_field_dictionary_is_declared() -> None:
    assert T.table("meta.dfe_field_dictionary").primary_key == ("file_id", "row_number")


# ---- raw layer and swap ---------------------------------------------------------------------


def _raw_rows(wh: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_raw_layer_is_lossless_text(tmp_path: Path) -> None:
    row = caversham_like()
    row["Total number of pupils"] = " 0406 "  # leading zero and spaces kept as published
    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [row]))
    wh = tmp_path / "evenhand.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    got = _raw_rows(wh, 'SELECT "Total number of pupils", _file_id, _row FROM raw.ofsted_latest_eif')
    assert got == [(" 0406 ", 1, 2)]
    types = _raw_rows(wh, "SELECT DISTINCT data_type FROM duckdb_columns() WHERE schema_name = 'raw' AND column_name NOT IN ('_row', '_file_id')")
    assert types == [("VARCHAR",)]


def test_rebuild_replaces_the_raw_layer_and_leaves_no_stray_files(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "wh" / "evenhand.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    build_warehouse(tmp_path / "raw", wh)
    assert _raw_rows(wh, "SELECT count(*) FROM raw.ofsted_latest_eif") == [(1,)]
    left = sorted(p.name for p in wh.parent.iterdir())
    assert not [n for n in left if ".building-" in n], left


def test_a_failed_build_keeps_the_previous_raw_layer(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "evenhand.duckdb"
    write(tmp_path / "good" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    build_warehouse(tmp_path / "good", wh)
    folders = sorted(p.name for p in wh.parent.iterdir() if ".raw-" in p.name)
    assert len(folders) == 1
    bad = caversham_like()
    bad["Overall effectiveness"] = "7"  # an unknown grade: the build fails
    write(tmp_path / "bad" / "os.csv", csv_text(os_headers(), [bad]))
    with pytest.raises(InputError):
        build_warehouse(tmp_path / "bad", wh)
    assert sorted(p.name for p in wh.parent.iterdir() if ".raw-" in p.name) == folders
    assert _raw_rows(wh, "SELECT count(*) FROM raw.ofsted_latest_eif") == [(1,)]


def test_a_killed_builds_raw_folder_goes_at_the_next_build(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "evenhand.duckdb"
    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    build_warehouse(tmp_path / "raw", wh)
    dead = wh.with_name(wh.name + ".raw-999999999-1")  # no such process
    dead.mkdir()
    (dead / "ofsted_latest_eif.parquet").write_bytes(b"partial")
    build_warehouse(tmp_path / "raw", wh)
    assert not dead.exists()
    assert len([p for p in wh.parent.iterdir() if ".raw-" in p.name]) == 1


def test_parallel_derivations_equal_serial_ones(tmp_path: Path) -> None:
    from evenhand.derive.pipeline import derivations

    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [caversham_like(), caversham_like(100001)]))
    wh = tmp_path / "evenhand.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    con = duckdb.connect(str(wh))
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'out' ORDER BY 1").fetchall()]
        assert "event_context" in names and "timing" in names
        before = {n: con.sql(f"SELECT * FROM out.{n}").pl() for n in names}
        for derivation in derivations():  # one after another, on one connection
            derivation(con)
        for n in names:
            after = con.sql(f"SELECT * FROM out.{n}").pl()
            assert after.equals(before[n]), n
    finally:
        con.close()


def test_derivations_wait_for_the_core_tables_and_report_their_failure(tmp_path: Path) -> None:
    from evenhand.derive.pipeline import EARLY_INPUTS, derive_all

    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "evenhand.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    waited: list[int] = []

    def not_ready() -> None:
        waited.append(1)
        raise RuntimeError("core tables not written")

    con = duckdb.connect(str(wh))
    try:
        with pytest.raises(RuntimeError, match="core tables not written"):
            derive_all(con, core_ready=not_ready)
    finally:
        con.close()
    assert waited  # every derivation outside EARLY_INPUTS asked
    assert set(EARLY_INPUTS) == {"derive_lineage"}


def test_utf8_multibyte_check_matches_the_full_search() -> None:
    """has_utf8_multibyte (tried only at lead bytes) says what the alternation's search says."""
    import random

    from evenhand.read.containers import _UTF8_MULTIBYTE, has_utf8_multibyte

    rng = random.Random(13)
    samples = [b"", b"plain ascii,1,2\n", "caf\u00e9".encode(), "caf\u00e9".encode("cp1252"), b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98\x80",
               b"\xf5\x80\x80\x80", b"\xc1\xbf"]
    samples += [bytes(rng.choice(b"ab,\n\x80\xbf\xc2\xdf\xe0\xef\xf0\xf4\xf5\xe9") for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for s in samples:
        assert has_utf8_multibyte(s) == bool(_UTF8_MULTIBYTE.search(s)), s


def test_judgement_merge_on_packed_keys_equals_the_join_on_three_columns() -> None:
    """merge() joins judgements to their events and groups them on packed integer keys: the
    result equals the join on (file_id, _row, block) and grouping on (event_id, area), nulls
    included (a null block matches nothing; a null area is its own group)."""
    from evenhand.core import merge as M

    occ = pl.DataFrame({
        "urn": [1, 1, 2, 2, 3], "file_id": [1, 2, 1, 2, 2], "_row": [2, 5, 3, 3, 9],
        "block": ["graded", "graded", "graded", None, "ungraded"], "reported_urn": [1, 1, 2, 2, 3],
        "as_at": [dt.date(2024, 8, 31), dt.date(2025, 8, 31), dt.date(2024, 8, 31), dt.date(2025, 8, 31), None],
        "inspection_number": ["A1", "A1", "B1", "B1", None], "start_date": [dt.date(2020, 1, 1)] * 4 + [dt.date(2021, 1, 1)],
    })
    jud = pl.DataFrame({
        "file_id": [1, 2, 2, 1, 2, 2, 2], "_row": [2, 5, 5, 3, 3, 9, 9],
        "block": ["graded", "graded", "graded", "graded", None, "ungraded", "ungraded"],
        "area": ["overall", "overall", None, "overall", "overall", "overall", "overall"],
        "scale": ["s"] * 7, "code": ["1", "2", "3", "2", "2", "4", "3"], "label": ["x"] * 7, "graded": [True] * 7,
        "rank": pl.Series([1] * 7, dtype=pl.Int16), "judgement_date": [None] * 7, "raw_value": ["r"] * 7,
    }, schema_overrides={"judgement_date": pl.Date})
    got = M.merge(occ, jud, {1: "a.csv", 2: "b.csv"})
    # the plain route: the three-column join and the two-column grouping
    keyed = M._keys(occ.with_columns([pl.lit(None, pl.String).alias(f) for f in M.EVENT_FIELDS if f not in occ.columns]))
    keyed = keyed.sort(["as_at", "file_id", "_row"], descending=[True, False, False], nulls_last=True, maintain_order=True)
    keyed = keyed.with_columns(pl.int_range(pl.len()).alias("_prec"))
    plain = jud.join(keyed.select("file_id", "_row", "block", "event_id", "_prec"), on=["file_id", "_row", "block"], how="inner").sort("_prec")
    want = plain.group_by(["event_id", "area"], maintain_order=True).agg(pl.all().exclude(["event_id", "area"]).first()).select(
        "event_id", "area", "scale", "code", "label", "graded", "rank", "judgement_date", "raw_value").sort(["event_id", "area"])
    assert got.judgements.equals(want)
    assert got.judgements.height == 4  # A1 overall, A1 null area, B1 overall (the null block matched nothing), URN3 overall
    conflicts = got.conflicts.filter(pl.col("field").str.starts_with("judgement:"))
    assert sorted(conflicts["event_id"].unique().to_list()) == ["A1", "URN3-2021-01-01"]


def test_byte_level_control_and_c1_checks_match_the_cell_searches() -> None:
    """A CSV's bytes with no control byte (no C1 pair) have no cell with one: the per-column
    searches the build then skips would have found nothing; with one, they run."""
    import random

    from evenhand.core.normalise import C1_PATTERN, CONTROL_CHARS
    from evenhand.read.containers import c1_free, control_free

    rng = random.Random(7)
    alphabet = ["a", ",", "\t", "\r", "\u00e9", "\u0096", "\x00", "\x1b", "\x7f", "\u2013", "\u0085", "\x0c", " "]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        cells = pl.Series([text])
        assert control_free(text.encode()) == (not cells.str.contains(CONTROL_CHARS).any()), repr(text)
        assert c1_free(text.encode()) == (not cells.str.contains(C1_PATTERN).any()), repr(text)



def _plain_resolve(long: pl.DataFrame, c: object) -> pl.DataFrame:
    """The plain route for code resolution: every row joined to every candidate code, sorted
    (valid first, the area's scale order, the code table's order), the first kept; unknown
    values reported per area in row order."""
    from evenhand import maps
    from evenhand.core.normalise import Collector, code_lookup, value_key

    assert isinstance(c, Collector)
    d = pl.col("judgement_date")
    valid = d.is_null() | ((pl.col("valid_from").is_null() | (d >= pl.col("valid_from"))) & (pl.col("valid_to").is_null() | (d <= pl.col("valid_to"))))
    j = long.with_columns(value_key("raw_value")).join(code_lookup().with_row_index("_cand"), on=["area", "value_key"], how="left", maintain_order="left")
    for (area,), grp in j.filter(pl.col("scale").is_null()).group_by("area", maintain_order=True):
        allowed = sorted({r.label for sc in maps.areas()[str(area)].scales for r in maps.codes() if r.scale == sc})
        c.fail_rows(grp.select("_row", pl.col("raw_value").alias("value")), str(area), f"unknown code for {area} (known: {', '.join(allowed)})")
    j = j.filter(pl.col("scale").is_not_null()).with_columns(valid.alias("_valid"))
    j = j.sort(["_jid", "_valid", "priority", "_cand"], descending=[False, True, False, False], maintain_order=True)
    return j.group_by("_jid", maintain_order=True).first().select(
        "_jid", "_row", "area", "raw_value", "judgement_date", "scale", "code", "label", "rank", "graded")


def test_code_resolution_on_distinct_pairs_equals_the_row_by_row_join() -> None:
    """resolve_codes matches each (area, raw value) pair once and chooses between candidates
    once per (pair, date): the result equals the plain row-by-row join (null dates, dates
    either side of a code's validity, an area with two scales, unknown values), and the
    problems name the same rows, columns and values."""
    import random

    from evenhand.core.normalise import Collector, resolve_codes

    rng = random.Random(11)
    values = {
        "overall_effectiveness": ["1", "2", "3", "4", "3.0", "Grade 3", "Satisfactory", "requires  improvement", "9", "NJ", "7", "x"],
        "early_years": ["1", "2", "3", "Exceptional", "Needs attention", "8", "5"],
        "safeguarding_effective": ["Yes", "no", "N", "maybe"],
    }
    dates = [None, dt.date(2010, 5, 1), dt.date(2012, 8, 31), dt.date(2012, 9, 1), dt.date(2024, 9, 2), dt.date(2025, 11, 10), dt.date(2026, 1, 5)]
    for n in (0, 5, 600):
        rows = []
        for r in range(n):
            area = rng.choice(list(values))
            rows.append({"_row": r + 2, "area": area, "raw_value": rng.choice(values[area]), "judgement_date": rng.choice(dates)})
        long = pl.DataFrame(rows, schema={"_row": pl.Int64, "area": pl.String, "raw_value": pl.String, "judgement_date": pl.Date}).with_row_index("_jid")
        pairs = long.select("area", "raw_value").unique(maintain_order=True)
        keyed = long.join(pairs.with_row_index("_key"), on=["area", "raw_value"], how="left", maintain_order="left")
        got_c, want_c = Collector("f.csv", 1), Collector("f.csv", 1)
        got = resolve_codes(keyed, pairs, got_c, {})
        want = _plain_resolve(long, want_c)
        assert got.equals(want) and got.schema == want.schema
        assert got_c.problems == want_c.problems and got_c.problem_total == want_c.problem_total
        if n == 600:
            assert 0 < got_c.problem_total < n  # unknown values were there to find ...
            assert {"Satisfactory", "Requires improvement", "Outstanding", "Exceptional"} <= set(got["label"].to_list())
            assert got_c.warnings  # ... and 'Satisfactory' after August 2012 (kept, with a warning)


def test_typed_columns_read_as_the_plain_route_and_name_the_same_bad_cells() -> None:
    """to_int casts first and takes the 'n.0' regex only when a value fails; to_date tries a
    later format only while values are unread: the values and every problem (row, column,
    value, message) equal the plain route's (the regex on every cell, every format on every cell)."""
    import random

    from evenhand import maps
    from evenhand.core.normalise import (
        _TWO_DIGIT_YEAR,
        URN_MAX,
        Collector,
        integer_text,
        is_urn,
        to_date,
        to_int,
    )

    def plain_int(df: pl.DataFrame, col: str, c: Collector) -> pl.Series:
        parsed = df.select(integer_text(col).cast(pl.Int64, strict=False)).to_series()
        c.fail_rows(df.select("_row", pl.col(col).alias("value")).filter(pl.col("value").is_not_null() & parsed.is_null()), col, "not a whole number")
        if is_urn(col):
            wrong = df.select("_row", pl.col(col).alias("value")).filter(parsed.is_not_null() & ~parsed.is_between(1, URN_MAX))
            c.fail_rows(wrong, col, f"not a URN (a whole number from 1 to {URN_MAX:,}, at most six digits)")
            parsed = pl.select(pl.when(parsed.is_between(1, URN_MAX)).then(parsed)).to_series()
        return parsed

    def plain_date(df: pl.DataFrame, col: str, formats: tuple[str, ...], c: Collector) -> pl.Series:
        s = pl.col(col)
        two = s.str.contains(_TWO_DIGIT_YEAR).fill_null(False)
        attempts = [s.str.to_date(f, strict=False) for f in formats] + [s.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)]
        parsed = df.select(pl.when(two).then(None).otherwise(pl.coalesce(attempts)).alias(col)).to_series()
        values = df.select("_row", s.alias("value"), two.alias("_two"))
        c.fail_rows(values.filter(pl.col("_two")), col, "a two-digit year: write the year in full (e.g. 01/09/2011), as the official files do")
        shown = " or ".join(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy") for f in formats)
        c.fail_rows(values.filter(pl.col("value").is_not_null() & ~pl.col("_two") & parsed.is_null()), col, f"not a date (expected {shown})")
        rng_ = maps.date_range(col)
        latest = dt.date(dt.date.today().year + rng_.years_ahead, 12, 31)
        inside = parsed.is_between(rng_.earliest, latest)
        c.fail_rows(values.filter(parsed.is_not_null() & ~inside), col, f"a date outside {rng_.earliest.isoformat()} to {latest.isoformat()}: {rng_.why}")
        return pl.select(pl.when(inside).then(parsed).alias(col)).to_series()

    rng = random.Random(5)
    ints = ["1", "42", "100000", "2.0", "-3.00", "+4", "1e3", "2.5", "four hundred", "99999999999999999999", None, "07", "10977x", "0"]
    dates = ["01/09/2011", "1-9-2011", "2011-09-01", "2011-09-01 00:00:00", "31/02/2023", "01/09/11", "yesterday", None, "15/07/1850"]
    fmts = ("%d/%m/%Y", "%d-%m-%Y")
    seen: set[str] = set()
    for trial in range(60):
        n = rng.randint(1, 40)
        pool_i = ints if trial % 3 else ["5", "6.0", "7"]  # some columns mixed, some all plain or all 'n.0'
        pool_d = dates if trial % 3 else rng.choice([["01/09/2011", "02/10/2012"], ["1-9-2011", "01/09/2011"], [None]])
        df = pl.DataFrame({"_row": list(range(2, n + 2)), "urn": [rng.choice(pool_i) for _ in range(n)],
                           "pupils": [rng.choice(pool_i) for _ in range(n)], "start_date": [rng.choice(pool_d) for _ in range(n)]},
                          schema={"_row": pl.Int64, "urn": pl.String, "pupils": pl.String, "start_date": pl.String})
        for col in ("urn", "pupils"):
            got_c, want_c = Collector("f.csv", 1), Collector("f.csv", 1)
            assert to_int(df, col, col, pl.Int64, got_c).to_list() == plain_int(df, col, want_c).to_list()
            assert got_c.problems == want_c.problems and got_c.problem_total == want_c.problem_total
            seen.update(p.message.split(" (")[0].split(":")[0] for p in got_c.problems)
        got_c, want_c = Collector("f.csv", 1), Collector("f.csv", 1)
        got = to_date(df, "start_date", "start_date", fmts, got_c)
        want = plain_date(df, "start_date", fmts, want_c)
        assert got.to_list() == want.to_list() and got.dtype == want.dtype == pl.Date
        assert got_c.problems == want_c.problems and got_c.problem_total == want_c.problem_total
        seen.update(p.message.split(" (")[0].split(":")[0] for p in got_c.problems)
    # every kind of problem was met
    assert seen == {"not a whole number", "not a URN", "a two-digit year", "not a date", "a date outside 1992-09-01 to " + f"{dt.date.today().year + 1}-12-31"}


def test_field_counts_on_bytes_equal_the_line_by_line_count() -> None:
    """field_counts counts commas on the bytes (quoted sections taken out by pairing quotes,
    blank lines left out, None when a quoted value spans lines): the same frame as counting
    each decoded line with its quoted sections removed."""
    import random

    from evenhand.read.containers import field_counts

    def plain(rest: bytes, first_row: int) -> pl.DataFrame | None:
        lines = pl.Series("l", rest.decode("utf-8", errors="replace").split("\n")).str.strip_suffix("\r")
        frame = pl.DataFrame({"l": lines}).with_row_index("_row", offset=first_row).with_columns(pl.col("_row").cast(pl.Int64))
        if frame.select((pl.col("l").str.count_matches('"') % 2 == 1).any()).item():
            return None
        unquoted = pl.col("l").str.replace_all('"[^"]*"', "")
        return frame.filter(pl.col("l").str.strip_chars() != "").select("_row", (unquoted.str.count_matches(",", literal=True) + 1).alias("fields"))

    rng = random.Random(3)
    pieces = ["a", "1", ",", ",", '"', '"x,y"', " ", "\t", "\r", "\n", "\n", "\u00a0", "\u3000", "\u00e9", ",,"]
    spans = 0
    for trial in range(600):
        rest = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))).encode()
        if trial % 2:  # quotes kept even per line in half the cases, so that counting happens
            rest = b"\n".join(line if line.count(b'"') % 2 == 0 else line + b'"' for line in rest.split(b"\n"))
        got, want = field_counts(rest, 2), plain(rest, 2)
        spans += want is None
        assert (got is None and want is None) or (got is not None and want is not None and got.equals(want) and got.schema == want.schema), rest
    assert 50 < spans < 550  # both outcomes were met


def test_empty_rows_found_column_by_column_equal_the_all_columns_test() -> None:
    """_drop_empty looks at a column only in the rows blank in every column before it: the
    rows kept and the count dropped equal the test of every cell of every row."""
    import random

    from evenhand.core.pipeline import _drop_empty

    rng = random.Random(17)
    cells = [None, "", " ", "\t", "\u00a0", "x", " 1 ", "NULL"]
    for trial in range(200):
        n, k = rng.randint(0, 25), rng.randint(1, 4)
        weights = [6, 3, 2, 1, 1, 1, 1, 1] if trial % 2 else [1] * len(cells)
        frame = pl.DataFrame({f"c{j}": pl.Series([rng.choices(cells, weights)[0] for _ in range(n)], dtype=pl.String) for j in range(k)})
        frame = frame.with_row_index("_row", offset=2).with_columns(pl.col("_row").cast(pl.Int64))
        empty = pl.all_horizontal([pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in frame.columns if c != "_row"])
        want = frame.filter(~empty)
        got, dropped = _drop_empty(frame)
        assert got.equals(want) and dropped == frame.height - want.height


@pytest.mark.parametrize(("failing", "raised"), [
    ({"core.schools", "core.events"}, "core.schools"),  # written during the merge, first in job order
    ({"core.event_sources", "core.schools"}, "core.schools"),
    ({"core.events", "core.event_sources"}, "core.events"),
    ({"core.event_sources"}, "core.event_sources"),
])
def test_tables_written_during_the_merge_report_failures_in_job_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: set[str], raised: str
) -> None:
    """core.schools (and core.gias_links) are written while the merge runs: a failed insert is
    still reported as a build that wrote every table after the merge would report it (the
    first failure in job order), and the previous warehouse is kept."""
    from evenhand.core import warehouse

    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "wh" / "evenhand.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    kept = wh.read_bytes()
    plain = warehouse.insert

    def insert(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame) -> None:
        if table.qualified in failing:
            raise RuntimeError(f"insert into {table.qualified} failed")
        plain(con, table, df)

    monkeypatch.setattr(warehouse, "insert", insert)
    with pytest.raises(RuntimeError, match=f"^insert into {re.escape(raised)} failed$"):
        build_warehouse(tmp_path / "raw", wh)
    assert wh.read_bytes() == kept
    assert sorted(p.name for p in wh.parent.iterdir() if ".building-" in p.name) == []


def test_insert_each_returns_every_failure_in_job_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evenhand.core import warehouse

    con = warehouse.connect()
    jobs = [(t, pl.DataFrame()) for t in (T.FILES, T.WARNINGS, T.CONFLICTS)]

    def insert(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame) -> None:
        if table is not T.WARNINGS:
            raise ValueError(table.qualified)

    monkeypatch.setattr(warehouse, "insert", insert)
    errors = warehouse.insert_each(con, jobs)
    assert [str(e) if e else None for e in errors] == ["meta.files", None, "meta.conflicts"]
    with pytest.raises(ValueError, match=r"^meta\.files$"):
        warehouse.insert_many(con, jobs)
    con.close()
