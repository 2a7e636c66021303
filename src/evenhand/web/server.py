"""Running the dashboard: uvicorn with limits on slow and idle connections.

uvicorn closes an idle keep-alive connection only after a response; a connection that opens
and never finishes its request headers (or trickles them, a "slowloris") is never closed. The
protocol below gives every request ``header_timeout`` seconds, from the connection opening or
the previous response ending, to deliver its headers, then closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds a client has to send a request's headers
KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept
MAX_CONNECTIONS = 100  # beyond this, uvicorn answers 503


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


def run(app: Any, host: str, port: int, header_timeout: float = HEADER_TIMEOUT) -> None:
    import uvicorn

    protocol = type("EvenhandH11Protocol", (GuardedH11Protocol,), {"header_timeout": header_timeout})
    uvicorn.run(
        app, host=host, port=port, log_level="warning", access_log=False, server_header=False,
        http=protocol, timeout_keep_alive=KEEP_ALIVE, limit_concurrency=MAX_CONNECTIONS, timeout_graceful_shutdown=5,
    )
