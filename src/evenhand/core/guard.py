"""What keeps a build from losing data: the previous warehouse's contents (a build never
replaces it with less than it held unless told to), a lock against two builds of the same
warehouse at once, the leftovers of dead builds, and signals that stop a build cleanly.

docs/decisions/1400-build-never-loses-data.md gives the reasons.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any

import duckdb

from evenhand.errors import EvenhandError

LOCK_SUFFIX = ".lock"


class BuildInterrupted(EvenhandError):
    """A build stopped by a signal (SIGTERM, SIGHUP or SIGINT): its partial files are removed."""

    def __init__(self, signum: int, swapped: bool = False) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        if swapped:
            super().__init__(f"build stopped by {name} just after the new warehouse was swapped in: the new warehouse is complete")
        else:
            super().__init__(f"build stopped by {name}: its partial files were removed; the previous warehouse is unchanged")


@dataclass
class Previous:
    """What the warehouse a build would replace holds."""

    files: dict[str, str]  # path of each loaded file -> its layout
    events: int
    schools: int
    raw_folders: set[str] = field(default_factory=set)  # the raw-layer folders its views read

    @property
    def files_loaded(self) -> int:
        return len(self.files)


def check_target(target: Path) -> Path:
    """The warehouse path, refused with a plain reason if a build could not write it there."""
    target = Path(target)
    if target.is_dir():
        raise EvenhandError(f"--warehouse {target} is a directory: give a file path, e.g. {target / 'evenhand.duckdb'}")
    parent = target.absolute().parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise EvenhandError(f"--warehouse {target}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EvenhandError(f"--warehouse {target}: cannot write in {existing} (permission denied)")
    if target.exists() and not os.access(target, os.R_OK):
        raise EvenhandError(f"--warehouse {target}: cannot read the existing file (permission denied)")
    return target


def previous_state(target: Path) -> Previous | None:
    """The files, events and schools of the warehouse at ``target``; None when there is none.

    A file there that is not an Evenhand warehouse is refused rather than overwritten.
    """
    if not target.exists():
        return None
    with open(target, "rb") as f:
        magic = f.read(12)[8:12]
    if magic != b"DUCK":
        raise EvenhandError(
            f"--warehouse {target} exists and is not a DuckDB warehouse: refusing to replace it; choose another path or move it away"
        )
    try:
        con = duckdb.connect(str(target), read_only=True, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    except duckdb.ConnectionException:
        # this process already holds it open with other settings (a test, a notebook): share that
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error as e:
        raise EvenhandError(
            f"--warehouse {target} exists but cannot be opened ({str(e).splitlines()[0]}): "
            "refusing to replace it; choose another path or move it away"
        ) from None
    try:
        try:
            files = con.execute("SELECT path, coalesce(layout, '') FROM meta.files WHERE status = 'loaded'").fetchall()
        except duckdb.Error:
            raise EvenhandError(
                f"--warehouse {target} exists and is not an Evenhand warehouse (it has no meta.files): "
                "refusing to replace it; choose another path or move it away"
            ) from None

        def count(sql: str) -> int:
            try:
                row = con.execute(sql).fetchone()
            except duckdb.Error:
                return 0
            return int(row[0]) if row else 0

        events = count("SELECT count(*) FROM core.events")
        schools = count("SELECT count(DISTINCT urn) FROM core.schools")
        folders: set[str] = set()
        with contextlib.suppress(duckdb.Error):
            for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE schema_name = 'raw'").fetchall():
                start = str(sql).find("read_parquet('")
                if start >= 0:
                    path = str(sql)[start + len("read_parquet('") :].split("')")[0].replace("''", "'")
                    folders.add(str(Path(path).parent))
    finally:
        con.close()
    return Previous({str(p): str(layout) for p, layout in files}, events, schools, folders)


def _allowed(path: str, patterns: Sequence[str]) -> bool:
    base = PurePosixPath(path).name
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(base, p) or path.endswith("/" + p) for p in patterns)


def refuse_less(records: Sequence[Any], previous: Previous | None, allow_missing: Sequence[str], raw: Path) -> None:
    """Raise unless this build keeps every file the previous warehouse loaded (or the user
    allowed its loss) and loads at least one file. ``records`` are pipeline FileRecords."""
    loaded = {r.path for r in records if r.status == "loaded"}
    if not loaded:
        shown = "; ".join(f"{r.path}: {r.message or r.status}" for r in records[:5])
        more = f"; ... and {len(records) - 5} more" if len(records) > 5 else ""
        found = f"{len(records)} file(s) found, none loaded ({shown}{more})" if records else "no files found"
        raise EvenhandError(f"nothing to build from {raw}: {found}. The previous warehouse is unchanged.")
    lost: list[str] = []
    for r in records:
        if r.status == "rejected" and not _allowed(r.path, allow_missing):
            lost.append(f"{r.path} was rejected whole ({(r.message or '').splitlines()[0][:200]})")
    if previous is not None:
        by_path = {r.path: r for r in records}
        for path, layout in sorted(previous.files.items()):
            if path in loaded or _allowed(path, allow_missing):
                continue
            now = by_path.get(path)
            if now is None:
                lost.append(f"{path} ({layout}) was loaded in the previous warehouse and is now missing")
            elif now.status != "rejected":  # rejected files are listed above
                lost.append(f"{path} ({layout}) was loaded in the previous warehouse and is now {now.status} ({now.message or ''})")
    if lost:
        shown = "; ".join(lost[:10]) + (f"; ... and {len(lost) - 10} more" if len(lost) > 10 else "")
        raise EvenhandError(
            f"the build would keep less than the previous warehouse: {shown}. The previous warehouse is unchanged; "
            "if leaving these out is intended, repeat with --allow-missing FILE for each (a path, a name or a pattern)."
        )


# ---- one build at a time -------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_path(target: Path) -> Path:
    return target.with_name(target.name + LOCK_SUFFIX)


@contextlib.contextmanager
def build_lock(target: Path) -> Iterator[Path]:
    """Hold ``<warehouse>.lock`` (holding the owner's PID) for the build; a live owner refuses
    a second build, a dead owner's lock is stale and taken over."""
    lock = lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(lock.read_text(encoding="ascii").strip() or "0")
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _pid_alive(owner):
                raise EvenhandError(
                    f"another build of {target} is running (process {owner}, lock {lock}): wait for it to finish"
                ) from None
            lock.unlink(missing_ok=True)  # stale: its owner is dead
            continue
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{os.getpid()}\n")
        break
    else:
        raise EvenhandError(f"cannot take the build lock {lock}: remove it if no build is running")
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            if lock.read_text(encoding="ascii").strip() == str(os.getpid()):
                lock.unlink()


def remove_orphans(target: Path, previous: Previous | None) -> list[Path]:
    """Temporary files and raw folders of dead builds of ``target`` (called under the lock,
    so no other build of it is running); the raw folder the current warehouse reads is kept."""
    from evenhand.core.warehouse import RAW_FOLDER_INFIX

    keep = {str(Path(p).absolute()) for p in (previous.raw_folders if previous else set())}
    removed: list[Path] = []
    for p in sorted(target.parent.glob(target.name + ".building-*")):
        pid = p.name.rsplit(".building-", 1)[-1].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        p.unlink(missing_ok=True)
        removed.append(p)
    for p in sorted(target.parent.glob(target.name + RAW_FOLDER_INFIX + "*")):
        if str(p.absolute()) in keep:
            continue
        pid = p.name.rsplit(RAW_FOLDER_INFIX, 1)[-1].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
            continue
        if previous is None and not pid.isdigit():
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


# ---- signals ---------------------------------------------------------------------------------

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None), signal.SIGINT) if s is not None)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While a build runs, SIGTERM, SIGHUP and SIGINT raise :class:`BuildInterrupted` in the
    main thread, so every ``finally`` that removes partial files runs. A second signal while
    cleaning up is ignored (the cleanup is short). Only in the main thread; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if _held is not None:
            _held.append(signum)
            return
        if stopping:
            return
        stopping = True
        raise BuildInterrupted(signum)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def describe_os_error(e: OSError, doing: str) -> EvenhandError:
    """A one-line reason for an operating-system error (full disk, permissions, read errors)."""
    where = f" {e.filename}" if e.filename else ""
    if e.errno == errno.ENOSPC:
        return EvenhandError(f"the disk is full while {doing}{where}: free some space and build again; the previous warehouse is unchanged")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return EvenhandError(f"permission denied while {doing}{where}: the previous warehouse is unchanged")
    return EvenhandError(f"{e.strerror or e} while {doing}{where}: the previous warehouse is unchanged")


_held: list[int] | None = None  # signals that arrived while the swap was under way


def hold_signals() -> None:
    """From here until :func:`release_signals`, a stop signal is recorded, not raised: the swap
    of the new warehouse and the bookkeeping that follows it are not interrupted half-way."""
    global _held
    _held = []


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """A stop signal inside the block is raised at its end, not inside it: for starting threads
    (``ThreadPoolExecutor.submit``). An exception raised by a signal handler while Python's
    ``Thread.start`` runs leaves the new thread failing with a KeyError traceback on stderr.
    Within :func:`hold_signals` already, a no-op."""
    if _held is not None:
        yield
        return
    hold_signals()
    try:
        yield
    except BaseException:
        release_signals(raise_pending=False)
        raise
    release_signals()


def release_signals(raise_pending: bool = True, swapped: bool = False) -> None:
    """End :func:`hold_signals`; a signal that came meanwhile is raised now (``swapped``: after
    the new warehouse was swapped in)."""
    global _held
    pending, _held = _held, None
    if pending and raise_pending:
        raise BuildInterrupted(pending[0], swapped=swapped)


def describe_engine_error(e: Exception, target: Path) -> EvenhandError:
    """A one-line reason for a DuckDB error while writing the warehouse (a full disk shows as one)."""
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    if is_disk_full(e):
        return EvenhandError(f"the disk is full while writing {target}: free some space and build again; the previous warehouse is unchanged")
    return EvenhandError(f"cannot write the warehouse {target} ({first}): the previous warehouse is unchanged")


def is_disk_full(e: BaseException) -> bool:
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e) or "os error 28" in str(e)
