"""Running the dashboard: uvicorn with limits on slow and idle connections, in one or more
worker processes.

uvicorn closes an idle keep-alive connection only after a response; a connection that opens
and never finishes its request headers (or trickles them, a "slowloris") is never closed. The
protocol below gives every request ``header_timeout`` seconds, from the connection opening or
the previous response ending, to deliver its headers, then closes the connection.

A school page is CPU work in Python, so one process serves one page at a time whatever its
threads. With ``workers`` > 1, uvicorn starts that many processes on one listening socket
(the kernel shares the connections out); each opens the warehouse read-only with its own
search index and caches (``worker_app``, told what to open through one environment variable).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds a client has to send a request's headers
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept
MAX_CONNECTIONS = 100  # beyond this, uvicorn answers 503


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once (TCP_NODELAY). asyncio sets it only when the socket says it is
    TCP; a listening socket handed to uvicorn's worker processes is rebuilt from its file
    descriptor with protocol 0, so without this a response's second write waited for the
    client's delayed acknowledgement: 40 ms on every request."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class GuardedH11Protocol(H11Protocol):
    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._seen_cycle: object = None

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._seen_cycle:
            self._seen_cycle = self.cycle  # a request's headers arrived: it is being answered
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection has the same time for its headers


WORKER_ENV = "EVENHAND_SERVE"  # what each worker process opens (JSON), set by run_workers


def default_workers() -> int:
    """One worker per CPU this process may use, at most 4 (each holds its own caches)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def _options() -> dict[str, Any]:
    return {
        "log_level": "warning", "access_log": False, "server_header": False, "timeout_keep_alive": KEEP_ALIVE,
        "limit_concurrency": MAX_CONNECTIONS, "timeout_graceful_shutdown": 5,
    }


def run(app: Any, host: str, port: int, header_timeout: float = HEADER_TIMEOUT) -> None:
    """Serve ``app`` (one process)."""
    import uvicorn

    protocol = type("EvenhandH11Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout})
    uvicorn.run(app, host=host, port=port, http=protocol, **_options())


def worker_app() -> Any:
    """The app of one worker process (uvicorn calls this factory in each worker)."""
    from evenhand.web.app import create_app

    spec = json.loads(os.environ[WORKER_ENV])
    GuardedH11Protocol.header_timeout = float(spec["header_timeout"])
    return create_app(spec["warehouse"], spec["audits"], spec["open_data"])


def run_workers(warehouse: Path, audits: Path | None, open_data: Path | None, host: str, port: int, workers: int,
                header_timeout: float = HEADER_TIMEOUT) -> None:
    """Serve the dashboard from ``workers`` processes (see the module's text)."""
    import uvicorn

    os.environ[WORKER_ENV] = json.dumps({
        "warehouse": str(Path(warehouse).resolve()), "audits": str(Path(audits).resolve()) if audits else None,
        "open_data": str(Path(open_data).resolve()) if open_data else None, "header_timeout": header_timeout,
    })
    uvicorn.run("evenhand.web.server:worker_app", factory=True, host=host, port=port, workers=workers,
                http="evenhand.web.server:GuardedH11Protocol", **_options())
