"""HTTP with timeouts, retries with exponential backoff, and resume of partial downloads."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from evenhand.errors import EvenhandError

RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
CHUNK = 1 << 16


class FetchError(EvenhandError):
    """A download that failed after every retry, or a page that is not what was expected."""


@dataclass
class Http:
    """A client with the retry policy. ``sleep`` is injectable so tests need not wait."""

    client: httpx.Client
    retries: int = 4
    backoff: float = 1.0  # seconds; doubled after each failed attempt
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def create(cls, timeout: float = 60.0, retries: int = 4, backoff: float = 1.0) -> Http:
        client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            follow_redirects=True,
            headers={"User-Agent": "evenhand-fetch (+https://github.com/evenhand; open data)"},
        )
        return cls(client, retries, backoff)

    def close(self) -> None:
        self.client.close()

    def _wait(self, attempt: int) -> None:
        self.sleep(self.backoff * (2**attempt))

    def get_json(self, url: str) -> dict[str, Any] | None:
        """The JSON at ``url``; ``None`` when it is not there (404/410)."""
        last = ""
        for attempt in range(self.retries + 1):
            try:
                r = self.client.get(url, headers={"Accept": "application/json"})
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if r.status_code in (404, 410):
                    return None
                if r.status_code in RETRY_STATUS:
                    last = f"HTTP {r.status_code}"
                elif r.status_code >= 400:
                    raise FetchError(f"{url}: HTTP {r.status_code}")
                else:
                    try:
                        data = r.json()
                    except ValueError:
                        raise FetchError(f"{url}: the answer is not JSON (is the address right, or is a proxy in the way?)") from None
                    if not isinstance(data, dict):
                        raise FetchError(f"{url}: the answer is not a Content API object")
                    return data
            if attempt < self.retries:
                self._wait(attempt)
        raise FetchError(f"{url}: failed after {self.retries + 1} attempts ({last})")

    def exists(self, url: str) -> bool:
        """Whether ``url`` answers with a file (used to find the newest dated download).

        ``False`` for a 404 or other client error; a server that cannot be reached (or keeps
        failing) raises :class:`FetchError` after the retries instead of looking like a miss.
        """
        last = ""
        for attempt in range(self.retries + 1):
            try:
                r = self.client.head(url)
                if r.status_code == 405:  # HEAD not allowed: ask for the first byte instead
                    with self.client.stream("GET", url, headers={"Range": "bytes=0-0"}) as g:
                        r = g
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if r.status_code in RETRY_STATUS:
                    last = f"HTTP {r.status_code}"
                else:
                    return r.status_code < 400
            if attempt < self.retries:
                self._wait(attempt)
        raise FetchError(f"{url}: no answer after {self.retries + 1} attempts ({last})")

    def download(self, url: str, part: Path) -> None:
        """Download ``url`` into ``part``, resuming what is already there.

        A broken connection or a body shorter than its Content-Length is retried from where
        it stopped (``Range: bytes=N-``); a server that ignores Range sends the whole file
        again and the part file is started afresh.
        """
        last = ""
        for attempt in range(self.retries + 1):
            have = part.stat().st_size if part.exists() else 0
            headers = {"Accept-Encoding": "identity"}
            if have:
                headers["Range"] = f"bytes={have}-"
            try:
                with self.client.stream("GET", url, headers=headers) as r:
                    if r.status_code == 416 and have:  # nothing left to send: the part is whole
                        return
                    if r.status_code in RETRY_STATUS:
                        last = f"HTTP {r.status_code}"
                    elif r.status_code >= 400:
                        raise FetchError(f"{url}: HTTP {r.status_code}")
                    else:
                        append = r.status_code == 206 and have > 0
                        expected = _expected_total(r, have if append else 0)
                        with part.open("ab" if append else "wb") as f:
                            for chunk in r.iter_bytes(CHUNK):
                                f.write(chunk)
                        size = part.stat().st_size
                        if expected is None or size == expected:
                            return
                        last = f"got {size:,} of {expected:,} bytes"
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
            if attempt < self.retries:
                self._wait(attempt)
        raise FetchError(f"{url}: download failed after {self.retries + 1} attempts ({last}); run fetch again to resume")


def _expected_total(r: httpx.Response, offset: int) -> int | None:
    if r.status_code == 206:
        cr = r.headers.get("content-range", "")
        if "/" in cr and cr.rsplit("/", 1)[1].isdigit():
            return int(cr.rsplit("/", 1)[1])
    cl = r.headers.get("content-length")
    if cl and cl.isdigit() and "content-encoding" not in r.headers:
        return offset + int(cl)
    return None
