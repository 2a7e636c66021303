"""Load test of `evenhand serve` on loopback: 20 concurrent clients for 30 s on school pages
and search-as-you-type, reporting throughput, p50/p95/p99 latency and errors.

The server runs in a subprocess (the real `evenhand serve` command, with --workers) so the
clients do not share its interpreter. The clients are a minimal HTTP/1.1 keep-alive client on
asyncio streams (--client raw, the default): on a 2-core machine the load generator shares the
cores with the server, and httpx's client costs several milliseconds of CPU a request, enough to
dominate every latency measured (--client httpx keeps it for comparison). The bench prints its
own CPU per request, so the instrument's footprint is visible. The schools are sampled from
every school with an inspection (core.events), closed schools known only from their
inspections included, as a news link can point to any of them. Phases, in one run:

1. baseline: /health for a few seconds (the cost of the stack itself; figures below are also
   given as ratios to its p95, so runs on different machines can be compared);
2. cold (the news spike, issue 13): the clients open the sampled schools (200 by default, never
   visited since the server started), each page once, as many at a time as there are clients;
   target p95 <= 300 ms and zero errors, printed beside the /health baseline;
3. one client on the cached school pages for a few seconds (the service time without queueing);
4. mixed: the clients for --seconds, each request a school page (sampled URNs, now cached) or
   an htmx search (prefixes of names, postcodes and URNs; the server caches each distinct
   search's answer, as the prefixes people type repeat).

Example:
    .venv/bin/python bench/serve_load.py --warehouse /tmp/me/evenhand.duckdb --seconds 30 --clients 20

Targets: cold school pages p95 <= 300 ms with zero errors (issue 13); cached school pages p95
under 100 ms with zero errors (issue 6); on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(warehouse: Path, n: int, seed: int) -> tuple[list[int], list[str]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT e.urn, coalesce(any_value(s.school_name), any_value(e.school_name), 'school') AS school_name, any_value(s.postcode)
               FROM core.events e LEFT JOIN core.schools s USING (urn) GROUP BY e.urn ORDER BY e.urn"""
        ).fetchall()
    finally:
        con.close()
    rng = random.Random(seed)
    picked = rng.sample(rows, min(n, len(rows)))
    urns = sorted({int(r[0]) for r in picked})
    queries: list[str] = []
    for urn, name, pc in picked:
        words = str(name).split()
        queries.append(words[0][: rng.randint(3, 8)])
        if len(words) > 1:
            queries.append(" ".join(words[:2]))
        if pc:
            queries.append(str(pc)[: rng.randint(2, 5)])
        queries.append(str(urn))
    return urns, queries


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * (len(s) - 1))))
    return s[k]


def summary(name: str, lat: list[float], errors: int, seconds: float) -> dict[str, float | int | str]:
    return {
        "kind": name,
        "requests": len(lat),
        "errors": errors,
        "throughput_rps": round(len(lat) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(1000 * pct(lat, 50), 1),
        "p95_ms": round(1000 * pct(lat, 95), 1),
        "p99_ms": round(1000 * pct(lat, 99), 1),
        "max_ms": round(1000 * max(lat), 1) if lat else float("nan"),
    }


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: GET, status and body length.
    Reconnects (once) when the server closed an idle connection before the request."""

    def __init__(self, base: str) -> None:
        url = httpx.URL(base)
        self.host, self.port = str(url.host), int(url.port or 80)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n".encode()
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(request)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt:
                    raise
                continue  # the server closed the idle connection: once more on a new one
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
            if fields.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await self.reader.readexactly(int(fields.get("content-length", "0")))
            if fields.get("connection", "").lower() == "close":
                await self.close()
            return status
        raise ConnectionError("unreachable")


class Client:
    """The load generator's client: ``raw`` (RawConnection per task) or ``httpx``."""

    def __init__(self, kind: str, base: str, clients: int, timeout: float) -> None:
        self.kind, self.base = kind, base
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        self.http = httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) if kind == "httpx" else None

    def connection(self) -> RawConnection | None:
        return RawConnection(self.base) if self.http is None else None

    async def get(self, conn: RawConnection | None, url: str, headers: dict[str, str] | None = None) -> bool:
        try:
            if conn is not None:
                return await conn.get(url, headers) == 200
            assert self.http is not None
            return (await self.http.get(url, headers=headers)).status_code == 200
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError):
            if conn is not None:
                await conn.close()
            return False

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()


CLIENT = "raw"  # set by --client
CPU_USED: list[tuple[float, int]] = []  # (this process's CPU seconds, requests) per phase


async def run_clients(base: str, clients: int, seconds: float, make: object) -> tuple[dict[str, list[float]], dict[str, int], float]:
    lat: dict[str, list[float]] = {}
    err: dict[str, int] = {}
    stop = time.perf_counter() + seconds
    http = Client(CLIENT, base, clients, 30.0)

    async def client(i: int) -> None:
        rng = random.Random(i)
        conn = http.connection()
        while time.perf_counter() < stop:
            kind, url, headers = make(rng)  # type: ignore[operator]
            t = time.perf_counter()
            ok = await http.get(conn, url, headers)
            dt = time.perf_counter() - t
            if ok:
                lat.setdefault(kind, []).append(dt)
            else:
                err[kind] = err.get(kind, 0) + 1
        if conn is not None:
            await conn.close()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(i) for i in range(clients)))
    await http.aclose()
    CPU_USED.append((time.process_time() - c0, sum(len(v) for v in lat.values()) + sum(err.values())))
    return lat, err, time.perf_counter() - t0


async def cold_pass(base: str, clients: int, urns: list[int]) -> tuple[list[float], int, float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for u in urns:
        queue.put_nowait(u)
    lat: list[float] = []
    errors = 0

    http = Client(CLIENT, base, clients, 120.0)
    conns = [http.connection() for _ in range(clients)]
    for conn in conns:  # connected before the clock starts, as the other phases' connections are
        if conn is not None:
            await conn._connect()

    async def worker(conn: RawConnection | None) -> None:
        nonlocal errors
        while not queue.empty():
            u = queue.get_nowait()
            t = time.perf_counter()
            if await http.get(conn, f"/school/{u}"):
                lat.append(time.perf_counter() - t)
            else:
                errors += 1
        if conn is not None:
            await conn.close()

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(c) for c in conns))
    await http.aclose()
    CPU_USED.append((time.process_time() - c0, len(lat) + errors))
    return lat, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument("--audits", type=Path, default=None)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--schools", type=int, default=200, help="distinct school pages in the mix")
    ap.add_argument("--search-share", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw", help="the load generator's HTTP client (see above)")
    ap.add_argument("--workers", type=int, default=None, help="evenhand serve --workers (default: the command's own default)")
    a = ap.parse_args()
    global CLIENT
    CLIENT = a.client

    urns, queries = sample(a.warehouse, a.schools, a.seed)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-c", "from evenhand.cli import app; app()", "serve", "--host", "127.0.0.1", "--port", str(port), "--warehouse", str(a.warehouse)]
    if a.audits:
        cmd += ["--audits", str(a.audits)]
    if a.workers is not None:
        cmd += ["--workers", str(a.workers)]
    # the server's messages go to a file, not a pipe nobody reads: a full pipe would stop the
    # server at its 64 KB-th byte of logging (a worker's tracebacks), and the bench with it
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed after the server stops, below
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise SystemExit(f"server did not start: {log.read().decode(errors='replace')[-4000:]}")
            time.sleep(0.2)

        results = []
        lat, err, took = asyncio.run(run_clients(base, a.clients, a.baseline_seconds, lambda rng: ("health (baseline)", "/health", {})))
        base_p95 = pct(lat.get("health (baseline)", []), 95)
        results.append(summary("health (baseline)", lat.get("health (baseline)", []), err.get("health (baseline)", 0), took))

        cl, ce, ct = asyncio.run(cold_pass(base, a.clients, urns))
        results.append(summary(f"school page, cold (first visit, {len(urns)} schools)", cl, ce, ct))

        def mixed(rng: random.Random) -> tuple[str, str, dict[str, str]]:
            if rng.random() < a.search_share:
                return "search (htmx partial, cached after 1st)", "/search?" + httpx.QueryParams({"q": rng.choice(queries)}).__str__(), {"HX-Request": "true"}
            return "school page (cached)", f"/school/{rng.choice(urns)}", {}

        one, one_err, one_took = asyncio.run(run_clients(base, 1, a.baseline_seconds, lambda rng: ("school page (cached), 1 client", f"/school/{rng.choice(urns)}", {})))
        results.append(summary("school page (cached), 1 client: service time", one.get("school page (cached), 1 client", []), one_err.get("school page (cached), 1 client", 0), one_took))

        lat, err, took = asyncio.run(run_clients(base, a.clients, a.seconds, mixed))
        for kind in ("school page (cached)", "search (htmx partial, cached after 1st)"):
            results.append(summary(kind, lat.get(kind, []), err.get(kind, 0), took))
        total = sum(len(v) for v in lat.values())
        results.append(summary("mixed, all requests", [x for v in lat.values() for x in v], sum(err.values()), took))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.seek(0)
        logged = log.read().decode(errors="replace")
        log.close()
    errors_logged = logged.count("Exception in ASGI application")
    if errors_logged:
        print(f"the server logged {errors_logged} exception(s); the last lines:\n{logged[-3000:]}")

    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the end (other work on the machine inflates every latency)")
    used, made = sum(c for c, _ in CPU_USED), sum(n for _, n in CPU_USED)
    print(f"load generator: {a.client} client, {1000 * used / max(made, 1):.2f} ms of its own CPU per request ({made} requests)")
    print(f"evenhand serve on loopback (--workers {a.workers if a.workers is not None else 'default'}): {a.clients} clients, {a.seconds:.0f} s mixed ({a.search_share:.0%} search), {len(urns)} schools, {len(queries)} queries")
    print(f"{'kind':<50} {'req':>7} {'err':>4} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p95/base':>8}")
    for r in results:
        ratio = float(r["p95_ms"]) / (1000 * base_p95) if base_p95 == base_p95 and base_p95 > 0 else float("nan")
        print(f"{r['kind']:<50} {r['requests']:>7} {r['errors']:>4} {r['throughput_rps']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7} {ratio:>8.1f}")
    school = next(r for r in results if r["kind"] == "school page (cached)")
    cold = next(r for r in results if str(r["kind"]).startswith("school page, cold"))
    errors = sum(int(r["errors"]) for r in results)
    cold_ok = int(cold["errors"]) == 0 and float(cold["p95_ms"]) <= 300
    print(
        f"target cold (news spike: {cold['requests']} never-seen schools, {a.clients} clients, zero errors, "
        f"p95 <= 300 ms): {'MET' if cold_ok else 'NOT MET'} (p95 {cold['p95_ms']} ms, "
        f"{float(cold['p95_ms']) / (1000 * base_p95):.1f}x the /health p95 of {1000 * base_p95:.1f} ms)"
    )
    verdict = "MET" if errors == 0 and float(school["p95_ms"]) < 100 else "NOT MET"
    print(f"target cached (zero errors, school-page p95 < 100 ms): {verdict}; total mixed requests {total}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
