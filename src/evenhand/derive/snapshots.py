"""out.snapshots: every Ofsted school-level file with an as-at date, what it covers, and
whether it is national.

This is the one place that decides whether a file describes England. Every default as-at
date (audits, the evidence pack, a school's report, the dashboard) is the newest national
snapshot (``newest_national``); a file that covers part of England (the Leeds MI extract) is
only ever shown under its coverage ("Leeds only").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from evenhand import maps
from evenhand.core.warehouse import frame
from evenhand.derive.lineage import replace_table
from evenhand.errors import EvenhandError
from evenhand.metadata import out_tables as O
from evenhand.metadata import tables as T

#: share of the local authorities seen in any school-level file that a national file covers
NATIONAL_LA_SHARE = 0.9
#: a file of at most this many local authorities is described by their names
NAMED_LAS = 3


def is_national(n_regions_covered: int, n_las: int, n_las_seen: int) -> bool:
    """The rule: every Ofsted region, and at least 90% of the local authorities seen."""
    return n_regions_covered >= len(maps.ofsted_regions()) and n_las >= NATIONAL_LA_SHARE * n_las_seen


def coverage_text(national: bool, las: list[str], n_regions: int) -> str:
    if national:
        return "England"
    if not las:
        return "no local authority stated"
    if len(las) <= NAMED_LAS:
        return ", ".join(sorted(las)) + " only"
    region_text = "region" if n_regions == 1 else "regions"
    return f"{len(las)} local authorities in {n_regions} {region_text}"


def snapshots(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    regions = list(maps.ofsted_regions())
    df = frame(
        con,
        """
        SELECT s.as_at, s.file_id, coalesce(f.path, 'file ' || s.file_id) AS path, f.layout, s.publication,
               count(DISTINCT s.urn) AS n_schools,
               count(DISTINCT s.local_authority) AS n_local_authorities,
               count(DISTINCT s.ofsted_region) FILTER (WHERE list_contains($1, s.ofsted_region)) AS n_regions_covered,
               count(DISTINCT s.ofsted_region) AS n_ofsted_regions,
               list(DISTINCT s.local_authority ORDER BY s.local_authority) FILTER (WHERE s.local_authority IS NOT NULL) AS las
        FROM core.schools s LEFT JOIN meta.files f ON f.file_id = s.file_id
        WHERE s.as_at IS NOT NULL
        GROUP BY ALL
        ORDER BY s.as_at, s.file_id
        """,
        [regions],
    )
    if df.height == 0:
        return df
    seen = con.execute("SELECT count(DISTINCT local_authority) FROM core.schools").fetchall()[0][0]
    rows = []
    for r in df.iter_rows(named=True):
        national = is_national(r["n_regions_covered"], r["n_local_authorities"], seen)
        rows.append({**r, "national": national,
                     "coverage": coverage_text(national, r["las"] or [], r["n_ofsted_regions"])})
    out = pl.DataFrame(rows).drop("las", "n_regions_covered")
    newest = out.filter(pl.col("national")).sort(["as_at", "file_id"]).tail(1)
    key = newest["file_id"][0] if newest.height else None
    out = out.with_columns(newest_national=pl.col("file_id") == key if key is not None else pl.lit(False))
    return O.SNAPSHOTS.conform(out)


def derive_snapshots(con: duckdb.DuckDBPyConnection) -> None:
    replace_table(con, O.SNAPSHOTS, snapshots(con))


@dataclass(frozen=True)
class Snapshot:
    """The as-at date an output describes, with the file behind it and what that file covers."""

    as_at: dt.date
    file_id: int | None
    path: str | None
    national: bool
    coverage: str  # 'England', 'Leeds only', ...
    n_schools: int | None = None
    newest_national: bool = False

    @property
    def date_text(self) -> str:
        return f"{self.as_at.day} {self.as_at.strftime('%B %Y')}"

    @property
    def scope(self) -> str:
        """'' for England; ' (Leeds only)' otherwise: appended to every title that names a date."""
        return "" if self.national else f" ({self.coverage})"

    @property
    def label(self) -> str:
        """'England as at 31 August 2025' or 'Leeds only as at 28 February 2026'."""
        return f"{self.coverage} as at {self.date_text}"


def snapshot_for(snapshots: list[Snapshot], as_at: dt.date | None) -> Snapshot:
    """The one as-at rule, given the warehouse's snapshots (out.snapshots, any order).

    No date: the newest national snapshot; where no file covers England, the newest file
    (whose coverage every title then states). A date: the file of that date (national
    preferred); a date between files describes the newest file at or before it (national
    preferred), under that file's coverage."""
    if not snapshots:
        raise EvenhandError("the warehouse holds no Ofsted school-level file with an as-at date: add an "
                            "Ofsted official statistics or management information file and build again")

    def best(cands: list[Snapshot]) -> Snapshot:
        return max(cands, key=lambda s: (s.national, s.as_at, s.file_id or 0))

    if as_at is None:
        return best(snapshots)
    same = [s for s in snapshots if s.as_at == as_at]
    if same:
        return best(same)
    before = [s for s in snapshots if s.as_at <= as_at]
    if not before:
        first = min(s.as_at for s in snapshots)
        raise EvenhandError(
            f"no school-level file is dated at or before {as_at.isoformat()} (the earliest is "
            f"{first.isoformat()}): choose a later --as-at, or add an Ofsted file for that date")
    national = [s for s in before if s.national]
    base = max(national or before, key=lambda s: (s.as_at, s.file_id or 0))
    return Snapshot(as_at=as_at, file_id=base.file_id, path=base.path, national=base.national,
                    coverage=base.coverage, n_schools=base.n_schools)


def read_snapshots(con: duckdb.DuckDBPyConnection) -> list[Snapshot]:
    """out.snapshots as Snapshot objects, oldest first."""
    return [Snapshot(**r) for r in frame(
        con, "SELECT as_at, file_id, path, national, coverage, n_schools, newest_national FROM out.snapshots "
             "ORDER BY as_at, file_id").iter_rows(named=True)]


def derive_school_latest(con: duckdb.DuckDBPyConnection) -> None:
    """out.school_latest: each URN's newest row in core.schools (the one tie-break)."""
    cols = ", ".join(T.SCHOOL_LATEST.column_names)
    # newest as_at (a row without one is older than any dated row), then file, then row; the
    # key (file_id, row_number) is unique, so the pick is the same as a window's row_number() = 1
    # over (as_at DESC NULLS LAST, file_id DESC, row_number DESC), at a third of its cost
    df = frame(con, f"""
        WITH newest AS (
            SELECT arg_max(rowid, (coalesce(as_at, DATE '0001-01-01'), file_id, row_number)) AS rid
            FROM core.schools GROUP BY urn
        )
        SELECT {cols} FROM core.schools s SEMI JOIN newest n ON n.rid = s.rowid
        ORDER BY urn""")
    replace_table(con, T.SCHOOL_LATEST, df)
