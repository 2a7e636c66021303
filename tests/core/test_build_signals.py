"""Issue 14, signals and leftovers: a build stopped by SIGTERM, SIGHUP or SIGINT says so and
removes its partial files; a SIGKILL at any point leaves a warehouse that opens (the old one or
the complete new one); leftovers of dead builds are removed; two builds of one warehouse do
not run at once."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from evenhand.core.pipeline import build_warehouse
from helpers import caversham_like, csv_text, graded, os_headers, school, write


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def small(tmp: Path) -> tuple[Path, str]:
    write(tmp / "good" / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp / "wh" / "evenhand.duckdb"
    build_warehouse(tmp / "good", wh)
    return wh, digest(wh)


def big_raw(tmp: Path, n: int = 20000) -> Path:
    rows = [{**school(200000 + i, f"School {i}"), **graded(str(10_000_000 + i), "01/02/2023", "01/03/2023", "2")} for i in range(n)]
    write(tmp / "big" / "os.csv", csv_text(os_headers(), [caversham_like(), *rows]))
    return tmp / "big"


def start(raw: Path, wh: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "evenhand.cli", "build", "--raw", str(raw), "--warehouse", str(wh)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], cond: object, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if callable(cond) and cond():
            return
        time.sleep(0.01)
    assert proc.poll() is None, "the build finished before the test could act: make the input bigger"
    raise AssertionError("timed out waiting for the build")


def beside(wh: Path) -> list[str]:
    return sorted(p.name for p in wh.parent.iterdir())


def raw_folder_in_use(wh: Path) -> set[str]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        sql = " ".join(r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE schema_name = 'raw'").fetchall())
    finally:
        con.close()
    return {p.name for p in wh.parent.iterdir() if p != wh and str(p) in sql}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_build_with_a_message_and_no_partial_files(tmp_path: Path, sig: signal.Signals) -> None:
    wh, before = small(tmp_path)
    kept = set(beside(wh))
    proc = start(big_raw(tmp_path), wh)
    wait_for(proc, lambda: any(".raw-" in n and n not in kept for n in beside(wh)))  # part-way: its raw folder exists
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, (proc.returncode, out, err)
    assert f"build stopped by {sig.name}" in " ".join(err.split()), err
    assert "Traceback" not in err
    assert digest(wh) == before
    assert set(beside(wh)) == kept, "the stopped build must remove its own partial files and its lock"


def test_a_second_build_of_the_same_warehouse_refuses_to_start(tmp_path: Path) -> None:
    """The lock names a live build (here a stand-in process, so the test does not race a real
    build's end): a second build refuses; once the owner is gone the lock is stale."""
    wh, before = small(tmp_path)
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        (wh.parent / (wh.name + ".lock")).write_text(f"{owner.pid}\n")
        second = subprocess.run([sys.executable, "-m", "evenhand.cli", "build", "--raw", str(tmp_path / "good"), "--warehouse", str(wh)],
                                capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"another build of {wh} is running (process {owner.pid}" in " ".join(second.stderr.split())
        assert digest(wh) == before
    finally:
        owner.kill()
        owner.wait()
    build_warehouse(tmp_path / "good", wh)  # the owner is dead: its lock is stale
    assert not (wh.parent / (wh.name + ".lock")).exists()


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_stale_lock_and_the_leftovers_of_dead_builds_are_removed(tmp_path: Path) -> None:
    wh, _ = small(tmp_path)
    in_use = raw_folder_in_use(wh)
    pid = dead_pid()
    (wh.parent / (wh.name + ".lock")).write_text(f"{pid}\n")
    (wh.parent / f"{wh.name}.building-{pid}").write_bytes(b"partial")
    (wh.parent / f"{wh.name}.building-{pid}.wal").write_bytes(b"partial")
    orphan = wh.parent / f"{wh.name}.raw-{pid}-123"
    orphan.mkdir()
    (orphan / "ofsted_latest_eif.parquet").write_bytes(b"partial")
    # even a build that fails cleans up after dead builds, and keeps the raw folder in use
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="nothing to build"):
        build_warehouse(tmp_path / "empty", wh)
    assert beside(wh) == sorted({wh.name, *in_use})
    build_warehouse(tmp_path / "good", wh)
    assert len(raw_folder_in_use(wh)) == 1 and beside(wh) == sorted({wh.name, *raw_folder_in_use(wh)})


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_a_warehouse_that_opens(tmp_path: Path) -> None:
    """SIGKILL at points spread over a whole build, including after the swap: the warehouse
    always opens and holds either the previous build or the complete new one; the next build
    cleans up whatever the killed one left."""
    wh, before = small(tmp_path)
    raw = big_raw(tmp_path, 5000)
    t0 = time.time()
    proc = start(raw, wh)
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    duration = time.time() - t0
    new_events = 5002
    rng = random.Random(14)
    points = sorted(rng.uniform(0.05, 1.1) * duration for _ in range(6))
    for delay in points:
        build_warehouse(tmp_path / "good", wh)  # back to the small warehouse
        before = digest(wh)
        proc = start(raw, wh)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        con = duckdb.connect(str(wh), read_only=True)
        events = con.execute("SELECT count(*) FROM core.events").fetchone()
        raw_rows = con.execute("SELECT count(*) FROM raw.ofsted_latest_eif").fetchone()
        con.close()
        assert events is not None and raw_rows is not None
        assert (events[0], raw_rows[0]) in ((2, 1), (new_events, 5001)), f"killed at {delay:.2f} s: {events}, {raw_rows}"
        if events[0] == 2:
            assert digest(wh) == before, f"killed at {delay:.2f} s before the swap: the previous warehouse must be unchanged"
    build_warehouse(raw, wh)
    assert beside(wh) == sorted({wh.name, *raw_folder_in_use(wh)})


def test_a_signal_while_threads_start_is_raised_after_they_started() -> None:
    """Starting a pool's thread is not interrupted half-way (Python's Thread.start would leave
    the new thread failing with a KeyError traceback): the signal is raised when the block ends."""
    from concurrent.futures import ThreadPoolExecutor

    from evenhand.core.guard import BuildInterrupted, signals_held, stop_on_signals

    reached_end = False
    with stop_on_signals(), ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(BuildInterrupted, match="SIGTERM"), signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here: recorded, not raised
            fut = pool.submit(lambda: 42)
            reached_end = True
        assert fut.result() == 42
    assert reached_end
