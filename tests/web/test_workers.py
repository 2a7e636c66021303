"""`evenhand serve --workers N`: the real command, several processes on one socket, each
answering school pages and search; accepted connections send without delay (TCP_NODELAY)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from web_support import build_test_warehouse

from evenhand.web.server import _no_delay, default_workers


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_warehouse(tmp_path_factory.mktemp("workers"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(d))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts worker processes through /proc")
def test_serve_with_two_workers_answers_from_two_processes(warehouse: Path) -> None:
    con = duckdb.connect(str(warehouse), read_only=True)
    events = con.execute("SELECT count(*) FROM core.events").fetchall()[0][0]
    con.close()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from evenhand.cli import app; app()", "serve", "--warehouse", str(warehouse),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.time() < deadline, "the dashboard did not start"
            time.sleep(0.3)
        # both workers up (uvicorn's supervisor is the command's process)
        while len([c for c in _children(proc.pid) if Path(f"/proc/{c}/cmdline").read_bytes().find(b"multiprocessing") >= 0]) < 2:
            assert time.time() < deadline, f"two workers expected, children: {_children(proc.pid)}"
            time.sleep(0.3)
        for _ in range(6):  # new connections are shared out between the processes; each answers
            with httpx.Client(base_url=base, timeout=30) as c:
                r = c.get("/school/109778")
                assert r.status_code == 200 and "Caversham Primary School" in r.text
                assert c.get("/health").json()["events"] == events
                assert "Caversham" in c.get("/search", params={"q": "cav"}).text
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_socket_rebuilt_from_its_descriptor_sends_without_delay() -> None:
    """uvicorn's workers get the listening socket rebuilt from its file descriptor (protocol
    0), for which asyncio leaves Nagle's algorithm on: every response waited 40 ms."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        rebuilt = socket.socket(fileno=os.dup(conn.fileno()), proto=0)
        try:
            rebuilt.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)

            class Transport:
                def get_extra_info(self, name: str) -> socket.socket | None:
                    return rebuilt if name == "socket" else None

            _no_delay(Transport())  # type: ignore[arg-type]
            assert rebuilt.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            rebuilt.close()
            conn.close()
            client.close()


def test_default_workers_is_one_per_cpu_up_to_four() -> None:
    assert 1 <= default_workers() <= 4
