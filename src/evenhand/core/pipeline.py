"""`evenhand build`: every recognised file under a folder into a new warehouse."""

from __future__ import annotations

import contextvars
import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from evenhand import __version__, maps
from evenhand.core import dfe_context, gias, guard, merge, ofsted_events
from evenhand.core.inputs import RawInput
from evenhand.core.normalise import Collector, control_characters
from evenhand.core.synthetic import title_says_synthetic
from evenhand.core.warehouse import (
    atomic_build,
    create,
    create_raw_view,
    insert,
    insert_each,
    insert_many,
    new_raw_folder,
    write_raw_parquet,
)
from evenhand.derive.pipeline import EARLY_INPUTS, derive_all
from evenhand.errors import InputError, Problem
from evenhand.metadata import tables as T
from evenhand.metadata.schema import Table
from evenhand.read.containers import Opened, open_file, read_grid
from evenhand.read.sniff import Match, as_at_from_text, dated_file_name, recognise

BUILD_THREADS = max(2, min(4, os.cpu_count() or 2))
DATA_SUFFIXES = {".csv", ".xlsx", ".ods", ".parquet", ".txt", ".tsv"}
PANDAS_INDEX_HEADERS = {"", "unnamed: 0", "__index_level_0__"}
Progress = Callable[[str, int, int], None]


@dataclass
class FileRecord:
    file_id: int
    path: str
    sha256: str = ""
    bytes: int = 0
    status: str = "unrecognised"
    container: str | None = None
    encoding: str | None = None
    layout: str | None = None
    publication: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    as_at: dt.date | None = None
    as_at_source: str | None = None
    as_at_approximate: bool = False  # only the month is known (a file name such as gias_links_2021-05.csv)
    rows_read: int | None = None
    rows_empty: int | None = None
    rows_rejected: int | None = None
    warnings: int | None = None
    unmapped_columns: list[str] | None = None
    message: str | None = None


@dataclass
class BuildSummary:
    warehouse: Path
    files: list[FileRecord]
    counts: dict[str, int]
    events_by_kind: dict[str, int]
    n_warnings: int
    n_conflicts: int
    n_rejected: int
    warnings: list[dict[str, object]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds (bench/build.py)
    previous: guard.Previous | None = None  # what the replaced warehouse held
    synthetic: bool = False  # built from files whose title row says SYNTHETIC (evenhand.core.synthetic)
    cpu: dict[str, float] = field(default_factory=dict)  # stage -> CPU seconds of the process, all threads

    def changes(self) -> list[str]:
        """Counts compared with the replaced warehouse: events, schools, files loaded."""
        if self.previous is None:
            return []
        now = {"events": self.counts["events"], "schools": self.counts["schools"], "files loaded": self.counts["files_loaded"]}
        was = {"events": self.previous.events, "schools": self.previous.schools, "files loaded": self.previous.files_loaded}
        out = [f"{k} {was[k]:,} -> {now[k]:,} ({now[k] - was[k]:+,})" for k in now]
        loaded = {r.path for r in self.files if r.status == "loaded"}
        dropped = sorted(set(self.previous.files) - loaded)
        added = sorted(loaded - set(self.previous.files))
        if dropped:
            out.append(f"no longer loaded (allowed): {', '.join(dropped)}")
        if added:
            out.append(f"newly loaded: {', '.join(added)}")
        return out


class _Clock:
    """Seconds spent in each stage of a build, for the bench's per-stage breakdown."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # process CPU (all threads) between laps
        self._t = time.perf_counter()
        self._c = time.process_time()

    def lap(self, stage: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.times[stage] = self.times.get(stage, 0.0) + now - self._t
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu - self._c
        self._t, self._c = now, cpu


def discover(raw: Path) -> list[Path]:
    if raw.is_file():
        return [raw]
    return sorted(p for p in raw.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(raw).parts))


def not_files(raw: Path) -> list[tuple[str, str]]:
    """(path, why) of entries under ``raw`` that look like data files but cannot be read as
    files: folders named like one, links whose target is missing. Listed, never skipped silently."""
    if raw.is_file():
        return []
    out = []
    for p in sorted(raw.rglob("*")):
        rel = p.relative_to(raw)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_symlink() and not p.exists():
            out.append((str(rel), "a link whose target is missing"))
        elif p.is_dir() and p.suffix.lower() in DATA_SUFFIXES:
            out.append((str(rel), "a folder named like a data file (its files are read)"))
    return out


def _drop_empty(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    cols = [c for c in frame.columns if c != "_row"]
    if not cols:
        return frame, 0
    # a row is empty when every cell is null or only whitespace: each column is looked at
    # only in the rows blank in every column before it (after the first few columns, none)
    blank = pl.Series("_i", range(frame.height), dtype=pl.UInt32)
    for c in cols:
        cells = frame[c].gather(blank)
        blank = blank.filter(cells.is_null() | (cells.str.strip_chars() == ""))
        if blank.len() == 0:
            return frame, 0
    kept = frame.filter(pl.Series([True] * frame.height).scatter(blank, False))
    return kept, frame.height - kept.height


@dataclass
class _Loaded:
    """One file opened, recognised and read (in a reader thread), or the error that stopped it."""

    opened: Opened | None = None
    match: Match | None = None
    headers: list[str] = field(default_factory=list)
    frame: pl.DataFrame | None = None
    n_empty: int = 0
    error: InputError | None = None


def _load(path: Path, rel: str) -> _Loaded:
    out = _Loaded()
    try:
        out.opened = open_file(path, rel)
        out.match = recognise(out.opened)
        if out.match is None:
            return out
        out.headers, frame = read_grid(out.opened, out.match.header_index, out.match.sheet,
                                       short_rows_allowed=out.match.layout.short_rows_allowed)
    except InputError as e:
        out.error = e
        return out
    out.frame, out.n_empty = _drop_empty(frame)
    out.opened.grids.clear()  # the sheet was needed only to read it
    return out


def build_warehouse(
    raw: Path, target: Path, lenient: bool = False, progress: Progress | None = None, allow_missing: Sequence[str] = ()
) -> BuildSummary:
    """Build ``target`` from the files under ``raw``; the previous warehouse is replaced only
    by a complete build that keeps every file it loaded (unless ``allow_missing`` names it;
    core/guard.py). One build of a warehouse at a time; signals stop it cleanly."""
    target = guard.check_target(Path(target))
    try:
        with guard.stop_on_signals(), guard.build_lock(target):
            previous = guard.previous_state(target)
            guard.remove_orphans(target, previous)
            return _build(raw, target, lenient, progress, allow_missing, previous)
    except OSError as e:
        raise guard.describe_os_error(e, f"building {target}") from None
    except duckdb.IOException as e:
        raise guard.describe_engine_error(e, target) from None
    except Exception as e:
        if guard.is_disk_full(e):
            raise guard.describe_engine_error(e, target) from None
        raise
    finally:
        guard.release_signals(raise_pending=False)


def _build(
    raw: Path, target: Path, lenient: bool, progress: Progress | None, allow_missing: Sequence[str], previous: guard.Previous | None
) -> BuildSummary:
    clock = _Clock()
    paths = discover(raw)
    records: list[FileRecord] = []
    inputs: list[tuple[RawInput, Collector]] = []
    problems: list[Problem] = []
    problem_total = 0
    raw_frames: dict[str, list[pl.DataFrame]] = {}
    synthetic_files: list[str] = []  # loaded files whose title row says SYNTHETIC (evenhand demo's)

    rels = [str(p.relative_to(raw)) if raw.is_dir() else p.name for p in paths]
    for rel, why in not_files(raw):
        records.append(FileRecord(file_id=len(paths) + len(records) + 1, path=rel, message=why))
    # opening, recognising and parsing files is independent work: a small thread pool reads
    # ahead (Polars' CSV reader and calamine release the GIL); results are used in file order
    readers = ThreadPoolExecutor(max_workers=BUILD_THREADS, thread_name_prefix="evenhand-read")
    with guard.signals_held():  # submit starts the pool's threads: a signal is raised after, not during
        loads = [readers.submit(_load, p, r) if p.suffix.lower() in DATA_SUFFIXES else None for p, r in zip(paths, rels, strict=True)]
    # each recognised file is built as soon as it is read, in a second small pool, so that
    # building overlaps the reading of the files after it. Files are built independently
    # (Polars releases the GIL); each task runs in a copy of this context (academic-year
    # options are a ContextVar) and results are taken in file order, so the output does
    # not change
    builders = ThreadPoolExecutor(max_workers=BUILD_THREADS, thread_name_prefix="evenhand-build")
    built: list[Future[ofsted_events.OfstedOutput | pl.DataFrame | None]] = []
    try:
        for i, (path, rel, load) in enumerate(zip(paths, rels, loads, strict=True), start=1):
            if progress:
                progress(f"reading {rel}", i, len(paths))
            rec = FileRecord(file_id=i, path=rel)
            records.append(rec)
            if load is None:
                rec.message = "not a data file type"
                rec.sha256, rec.bytes = _digest(path)
                continue
            loaded = load.result()
            if loaded.opened is not None:
                opened = loaded.opened
                rec.sha256, rec.bytes, rec.container, rec.encoding = opened.sha256, len(opened.data), opened.container, opened.encoding
            if loaded.error is None and loaded.match is None:
                rec.message = "header matches no known layout"
                continue
            if loaded.match is not None:
                match = loaded.match
                rec.layout, rec.sheet, rec.header_row = match.layout.name, match.sheet, match.header_index + 1
            if loaded.error is not None:
                e = loaded.error
                (rec.sha256, rec.bytes), rec.status = _digest(path), "rejected"
                rec.message = "; ".join(p.message for p in e.problems)
                problems.extend(e.problems)
                problem_total += e.total
                continue
            assert loaded.match is not None and loaded.frame is not None
            match, headers, frame, n_empty = loaded.match, loaded.headers, loaded.frame, loaded.n_empty
            if loaded.opened is not None and title_says_synthetic(loaded.opened.top, match.header_index):
                synthetic_files.append(rel)
            layout = match.layout
            c = Collector(rel, i)
            # duplicates a mapped column has are reported by the matcher (match.ambiguous) below
            _check_headers(headers, c, skip={h for _, h1, h2 in match.ambiguous for h in (h1, h2)})
            if loaded.opened is not None and loaded.opened.short_rows:
                short = pl.DataFrame(loaded.opened.short_rows, schema={"_row": pl.Int64, "fields": pl.Int64}, orient="row")
                for (n,), grp in short.group_by("fields", maintain_order=True):
                    c.fail_rows(grp.select("_row", pl.lit(f"{n} of {len(headers)} fields").alias("value")), headers[int(n)],
                                f"the row ends before this column (fewer fields than the header's {len(headers)}): a cut or damaged row")
            if match.missing_required:
                shown = ", ".join(repr(layout.columns[m].shown) for m in match.missing_required)
                c.fail_file(f"recognised as {layout.name} but required column(s) missing: {shown}", column=shown)
            for canon, h1, h2 in match.ambiguous:
                c.fail_file(
                    f"columns {h1!r} and {h2!r} both read as {layout.columns[canon].shown!r} ({canon}) once headers are "
                    "normalised (case, spaces, dots and underscores; maps/headers.toml): rename or remove one of them",
                    column=f"{h1} / {h2}",
                )
            if frame.height == 0:
                c.fail_file(f"recognised as {layout.name} but has a header and no data rows: an incomplete download or export?")
            names = [n for n in frame.columns if n != "_row"]
            columns = {canon: names[idx] for canon, idx in match.mapping.items()}
            header_of = {canon: headers[idx] for canon, idx in match.mapping.items()}
            if loaded.opened is None or not loaded.opened.control_free:  # a CSV with no control byte has none in any cell
                control_characters(frame, columns, header_of, c)
            mapped_idx = set(match.mapping.values())
            unmapped = [headers[k] for k in range(len(headers)) if k not in mapped_idx and headers[k].strip().casefold() not in PANDAS_INDEX_HEADERS]
            if unmapped:
                c.warn(f"{len(unmapped)} column(s) no map knows, kept in the raw layer: {', '.join(unmapped)}", count=len(unmapped))
                if layout.builder == "ofsted_events":
                    _check_renamed(unmapped, layout, match.mapping, c)
            publication = layout.publication_default
            for canon, pub in layout.publication_if_present.items():
                if canon in match.mapping:
                    publication = pub
            as_at, source = None, None
            for text in match.title_lines:
                as_at = as_at or as_at_from_text(text)
            if as_at:
                source = "title"
            else:
                as_at, approximate = dated_file_name(path.name)
                if as_at is not None:
                    source = "file name"
                    rec.as_at_approximate = approximate
                    if approximate:
                        c.warn(f"the file name gives only a month: as-at date read as {as_at.isoformat()} (the first of that month), "
                               "flagged approximate in meta.files")
            rec.status, rec.publication, rec.rows_read, rec.rows_empty = "loaded", publication, frame.height, n_empty
            rec.unmapped_columns = unmapped
            inp = RawInput(i, rel, layout, publication, as_at, columns, header_of, frame,
                           c1_free=loaded.opened is not None and loaded.opened.c1_free)
            if as_at is None and layout.builder == "ofsted_events" and publication not in ("history_interchange", "history_scraped"):
                pub_cols = [c2 for c2 in columns if c2.endswith("publication_date")]
                c.warn("no as-at date in the title or file name: using the latest publication date in the file")
                source = "latest date in file"
                dates = []
                for pc in pub_cols:
                    from evenhand.core.normalise import to_date

                    dates.append(to_date(inp.canonical([pc]), pc, header_of[pc], layout.date_formats, Collector(rel, i)).max())
                found = [d for d in dates if isinstance(d, dt.date)]
                as_at = max(found) if found else None
                inp.as_at = as_at
            rec.as_at, rec.as_at_source = as_at, source
            raw_frames.setdefault(layout.name, []).append(frame.rename({n: n for n in names}).with_columns(pl.lit(i, pl.Int64).alias("_file_id")))
            inputs.append((inp, c))
            with guard.signals_held():  # submit may start a thread: a signal is raised after, not during
                built.append(builders.submit(contextvars.copy_context().run, _run_builder, inp, c))
        readers.shutdown(wait=True)
        loads.clear()  # each file's bytes: its frame is in its RawInput (memory: decision 1780)
        clock.lap("read and recognise files")  # (the builds of the files read first overlap it)
        # the raw layer goes to Parquet in a background thread while the rest of the build runs
        # (Polars releases the GIL); the warehouse gets views over it (build/warehouse.py)
        guard.hold_signals()  # a signal while the folder is made is raised inside the try below
        raw_dir = new_raw_folder(target)
    except BaseException:
        readers.shutdown(wait=True, cancel_futures=True)
        builders.shutdown(wait=True, cancel_futures=True)
        raise
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evenhand-raw")
    finished = False
    pool_exits: list[ThreadPoolExecutor] = [builders]
    try:
        guard.release_signals()
        with guard.signals_held():
            raw_written = {name: pool.submit(write_raw_parquet, raw_dir, name, frames) for name, frames in raw_frames.items()}
        raw_frames.clear()
        # build every recognised file
        ofsted_out: list[ofsted_events.OfstedOutput] = []
        table_out: dict[str, list[pl.DataFrame]] = {}  # core table name -> frames from each file
        rejections: list[dict[str, object]] = []
        all_warnings: list[dict[str, object]] = []
        by_id = {r.file_id: r for r in records}
        for k, ((inp, c), fut) in enumerate(zip(inputs, built, strict=True), start=1):
            if progress:
                progress(f"building {inp.name}", k, len(inputs))
            result = fut.result()
            if c.problem_total and lenient and c.bad_rows and not any(p.row is None for p in c.problems):
                for p in c.problems:
                    rejections.append({"file_id": inp.file_id, "row_number": p.row, "column_name": p.column, "value": p.value, "message": p.message})
                inp.frame = inp.frame.filter(~pl.col("_row").is_in(sorted(c.bad_rows)))
                by_id[inp.file_id].rows_rejected = len(c.bad_rows)
                if inp.frame.height == 0:  # every row bad: the file is rejected whole, not loaded empty
                    by_id[inp.file_id].status = "rejected"
                    by_id[inp.file_id].message = f"every row was rejected (first: {c.problems[0]})"
                    continue
                c2 = Collector(inp.name, inp.file_id)
                result = _run_builder(inp, c2)
                c.warnings.extend(c2.warnings)
                if c2.problem_total:
                    problems.extend(c2.problems)
                    problem_total += c2.problem_total
            elif c.problem_total:
                if lenient:
                    by_id[inp.file_id].status = "rejected"
                    by_id[inp.file_id].message = "; ".join(p.message for p in c.problems[:3])
                    for p in c.problems:
                        rejections.append({"file_id": inp.file_id, "row_number": p.row or 0, "column_name": p.column, "value": p.value, "message": p.message})
                    continue
                problems.extend(c.problems)
                problem_total += c.problem_total
            by_id[inp.file_id].rows_rejected = by_id[inp.file_id].rows_rejected or 0
            by_id[inp.file_id].warnings = len(c.warnings)
            all_warnings.extend(c.warnings)
            if isinstance(result, ofsted_events.OfstedOutput):
                ofsted_out.append(result)
            elif result is not None:
                table_out.setdefault(inp.layout.table or "", []).append(result)

        inputs.clear()  # the files' raw text frames (the raw layer has them) and their builders' futures
        built.clear()
        if problem_total and not lenient:
            raise InputError(problems, total=problem_total)
        guard.refuse_less(records, previous, allow_missing, raw)

        clock.lap("build core rows")
        if progress:
            progress("merging inspection events", 1, 1)
        occ = [o.occurrences for o in ofsted_out if o.occurrences.height]
        jud = [o.judgements for o in ofsted_out if o.judgements.height]
        file_names = {r.file_id: r.path for r in records}
        schools = [o.schools for o in ofsted_out if o.schools is not None]
        links = gias.combine_links(table_out.pop("gias_links", []), {r.file_id: r.as_at for r in records})
        with atomic_build(target, raw_dir) as con:
            for t in T.TABLES:
                create(con, t)
            # the core tables the merge does not make are written while it runs (a cursor in
            # a thread: DuckDB and Polars release the GIL); failures are reported below, in
            # the order of all the jobs, as if every table had been written after the merge
            ahead_jobs: list[tuple[Table, pl.DataFrame]] = []
            if schools:
                ahead_jobs.append((T.SCHOOLS, pl.concat(schools)))
            if links.height:
                ahead_jobs.append((T.GIAS_LINKS, links))
            ahead_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evenhand-ahead-insert")
            pool_exits.append(ahead_writer)
            with guard.signals_held():
                ahead = ahead_writer.submit(insert_each, con, ahead_jobs)
            ofsted_out.clear()  # the files' typed rows are held only by the merge from here (decision 1780)
            try:
                merged = merge.merge(
                    _taken(occ, pl.DataFrame({"urn": pl.Series([], dtype=pl.Int64), "file_id": pl.Series([], dtype=pl.Int64), "_row": pl.Series([], dtype=pl.Int64), "block": pl.Series([], dtype=pl.String), "reported_urn": pl.Series([], dtype=pl.Int64), "as_at": pl.Series([], dtype=pl.Date)})),
                    _taken(jud, _empty_judgements()),
                    file_names,
                )
            finally:
                wait([ahead])  # the connection is not closed under a running insert
            clock.lap("merge events")  # (with core.schools and core.gias_links written alongside)

            if progress:
                progress("writing the warehouse", 1, 1)
            # every table validated, then inserted; independent tables in parallel (cursors)
            jobs: list[tuple[Table, pl.DataFrame]] = [(T.FILES, pl.DataFrame(
                [r.__dict__ for r in records], schema_overrides={"as_at": pl.Date, "unmapped_columns": pl.List(pl.String)},
                infer_schema_length=None))]
            if all_warnings:
                jobs.append((T.WARNINGS, pl.DataFrame(all_warnings, infer_schema_length=None)))
            if rejections:
                jobs.append((T.REJECTIONS, pl.DataFrame(rejections, infer_schema_length=None)))
            jobs.append((T.CONFLICTS, merged.conflicts))
            if schools:
                jobs.append(ahead_jobs[0])
            events = merge.fill_school_names(merged.events, schools, links)
            jobs += [(T.EVENTS, events), (T.EVENT_SOURCES, merged.event_sources), (T.JUDGEMENTS, merged.judgements)]
            if links.height:
                jobs.append(ahead_jobs[-1])
            for name, frames in sorted(table_out.items()):
                jobs.append((T.table(name), pl.concat(frames, how="diagonal_relaxed")))
            # the tables lineage reads first, then lineage runs while the others are written
            early = {t for tables in EARLY_INPUTS.values() for t in tables}
            written_ahead = [t.qualified for t, _ in ahead_jobs]
            errors = dict(zip(written_ahead, ahead.result(), strict=True))
            rest = [j for j in jobs if j[0].qualified in early and j[0].qualified not in written_ahead]
            errors.update(zip((t.qualified for t, _ in rest), insert_each(con, rest), strict=True))
            for t, _ in jobs:  # the first failure in job order, as insert_many would raise it
                if (error := errors.get(t.qualified)) is not None:
                    raise error
            done = early | set(written_ahead)
            writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evenhand-late-insert")
            pool_exits.append(writer)
            with guard.signals_held():
                late = writer.submit(insert_many, con, [j for j in jobs if j[0].qualified not in done])
            # what the summary reports, then the core frames let go: once written, the warehouse
            # holds them, and the derivations read them there (memory at scale: decision 1780)
            counts = {
                "files": len(records),
                "files_loaded": sum(r.status == "loaded" for r in records),
                "schools_rows": sum(s.height for s in schools),
                "schools": pl.concat([s.select("urn") for s in schools])["urn"].n_unique() if schools else 0,
                "events": merged.events.height,
                "judgements": merged.judgements.height,
            }
            kinds = dict(merged.events.group_by("kind").len().sort("kind").iter_rows()) if merged.events.height else {}
            n_conflicts = merged.conflicts.select("event_id", "field").unique().height if merged.conflicts.height else 0
            del merged, events, links, schools
            jobs.clear()
            rest.clear()
            ahead_jobs.clear()
            table_out.clear()
            clock.lap("write core (lineage inputs)")  # the other core tables are written alongside derive
            for layout_name, written in raw_written.items():
                create_raw_view(con, layout_name, written.result())
            _write_maps(con)
            clock.lap("write raw layer and maps")
            if progress:
                progress("deriving out tables", 1, 1)
            try:
                derive_all(con, clock.times, core_ready=late.result)  # each derivation's own time (they overlap) ...
            finally:
                late.result()  # a failed insert is the error to report, as when inserts came first
            clock.lap("derive (all, wall)")  # ... and the stage's wall time
            # a warehouse built from any synthetic file is synthetic: every output says so
            synthetic = {"synthetic": "true"} if synthetic_files else {}
            build_info = {"evenhand_version": __version__, "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                          "raw": str(raw), "mode": "lenient" if lenient else "strict"} | synthetic
            write_declared(con, T.BUILD, pl.DataFrame({"key": list(build_info), "value": list(build_info.values())}))
        finished = True  # swapped in: the new warehouse names raw_dir
        guard.release_signals(swapped=True)  # a stop signal held during the swap is reported now
        clock.lap("checkpoint and swap")
        return BuildSummary(
            target, records, counts, kinds, len(all_warnings), n_conflicts,
            len(rejections), all_warnings, clock.times, previous, bool(synthetic_files), clock.cpu,
        )
    finally:
        for other in pool_exits:
            other.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=True, cancel_futures=True)
        if not finished:
            shutil.rmtree(raw_dir, ignore_errors=True)


def _digest(path: Path) -> tuple[str, int]:
    """(sha256, size) of a file for meta.files; ("", 0) when it cannot be read (that is reported)."""
    import hashlib

    try:
        data = path.read_bytes()
    except OSError:
        return "", 0
    return hashlib.sha256(data).hexdigest(), len(data)


RENAMED_SIMILARITY = 0.85  # difflib ratio of normalised headers above which one looks renamed


def _check_renamed(unmapped: list[str], layout: maps.Layout, mapping: dict[str, int], c: Collector) -> None:
    """An unknown header that reads almost like a column of this layout that is missing (a
    judgement column renamed in a re-save) would drop that column's values with only a
    warning: it is an error naming both headers."""
    import difflib

    missing = [(canon, pat) for canon, pat in layout.columns.items() if canon not in mapping and not pat.is_regex]
    for h in unmapped:
        key = maps.normalise_header(h)
        best = max(missing, key=lambda m: difflib.SequenceMatcher(None, key, maps.normalise_header(m[1].text)).ratio(), default=None)
        if best is None:
            continue
        ratio = difflib.SequenceMatcher(None, key, maps.normalise_header(best[1].text)).ratio()
        if ratio >= RENAMED_SIMILARITY:
            c.fail_file(f"the header {h.strip()!r} is not one the {layout.name} layout knows but reads like its column "
                        f"{best[1].shown!r}, which is missing: renamed? Its values would be left out; give it the published name",
                        column=h.strip())


def _check_headers(headers: list[str], c: Collector, skip: set[str] | frozenset[str] = frozenset()) -> None:
    """The same header twice (also an unmapped one): which copy holds the data cannot be known."""
    seen: dict[str, int] = {}
    for k, h in enumerate(headers, start=1):
        key = maps.normalise_header(h) if h.strip() else ""
        if not key or h in skip:
            continue
        if key in seen:
            c.fail_file(f"the header {h.strip()!r} appears twice (columns {seen[key]} and {k}): which copy holds the data is unknown; "
                        "rename or remove one", column=h.strip())
        else:
            seen[key] = k


def _taken(frames: list[pl.DataFrame], empty: pl.DataFrame) -> pl.DataFrame:
    """The frames concatenated, and the list emptied: the caller's reference is the only one."""
    out = pl.concat(frames, how="diagonal_relaxed") if frames else empty
    frames.clear()
    return out


def _empty_judgements() -> pl.DataFrame:
    return pl.DataFrame(schema={"file_id": pl.Int64, "_row": pl.Int64, "block": pl.String, "area": pl.String, "scale": pl.String,
                                "code": pl.String, "label": pl.String, "graded": pl.Boolean, "rank": pl.Int16,
                                "judgement_date": pl.Date, "raw_value": pl.String})


# layout "builder" (maps/layouts.toml) -> function. A builder returns OfstedOutput (events) or
# a frame of rows for the core table named by the layout's "table".
BUILDERS: dict[str, Callable[[RawInput, Collector], ofsted_events.OfstedOutput | pl.DataFrame]] = {
    "ofsted_events": ofsted_events.build,
    "gias": gias.build,
    "dfe_context": dfe_context.build,
    # typed rows of the layout's table, each field typed as the table declares it (no other logic)
    "table_rows": gias.build,
}


def _run_builder(inp: RawInput, c: Collector) -> ofsted_events.OfstedOutput | pl.DataFrame | None:
    try:
        builder = BUILDERS[inp.layout.builder]
    except KeyError:
        raise ValueError(f"layout {inp.layout.name} names an unknown builder {inp.layout.builder!r}") from None
    return builder(inp, c)


def write_declared(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame) -> None:
    """(Re)create a declared table and insert ``df`` through its declaration (validated)."""
    con.execute(f"DROP TABLE IF EXISTS {table.qualified}")
    create(con, table)
    insert(con, table, df)


def _write_maps(con: duckdb.DuckDBPyConnection) -> None:
    """The maps and code tables used, stored beside the data they explain."""
    c = con
    write_declared(c, T.META_CODES, pl.DataFrame([{**x.__dict__, "aliases": "|".join(x.aliases)} for x in maps.codes()]))
    write_declared(c, T.META_AREAS, pl.DataFrame([{**a.__dict__, "scales": "|".join(a.scales)} for a in maps.areas().values()]))
    write_declared(c, T.META_ERAS, pl.DataFrame([e.__dict__ for e in maps.eras()]))
    rows = []
    for layout in maps.layouts().values():
        for canon, pat in layout.columns.items():
            rows.append({"layout": layout.name, "canonical": canon, "header": pat.shown, "is_regex": pat.is_regex, "required": canon in layout.required})
    write_declared(c, T.META_COLUMN_MAPS, pl.DataFrame(rows))
