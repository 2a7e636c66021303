"""`evenhand fetch` against a local HTTP server on 127.0.0.1: no test touches the internet.

The server answers Content API requests with the hand-written responses in
tests/fixtures/content_api/ and serves real files from ../shared/data under the asset
paths those responses name; it can fail a request, cut a body short, or answer with a web
page, to test retries, resume and rejection.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from evenhand.fetch import fetch
from evenhand.fetch.download import Http
from evenhand.fetch.pipeline import read_manifest
from evenhand.fetch.sources import attachments_of, linked_documents, load_sources, rehost
from evenhand.read.containers import sha256_of
from helpers import FIXTURES, SHARED_DATA, need_shared_data

MI_GOOD = "/media/67c9a1b2e0f10a1b2c3d4e5f/State_funded_schools_inspections_and_outcomes_as_at_28_February_2026.csv"
MI_BROKEN = "/media/67c9a1b2e0f10a1b2c3d4e60/Management_information_-_state-funded_schools_-_latest_inspections_-_broken.csv"
OS_2025 = "/media/6745f0a1b2c3d4e5f6a7b8c9/Management_information_-_state-funded_schools_-_as_at_31_August_2025.csv"
GIAS = "/edubase/downloads/public/links_edubasealldata20250422.csv"
TODAY = date(2025, 4, 25)  # the GIAS download is found three days back

HTML_ERROR = b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>Page not found - GOV.UK</title></head><body><h1>Page not found</h1></body></html>\n"


@dataclass
class Route:
    body: bytes
    content_type: str = "text/csv"
    fail_first: int = 0  # answer 503 this many times
    cut_first: int = 0  # send half the body, then close, this many times
    gets: int = 0
    ranges: list[str | None] = field(default_factory=list)


class Server:
    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _route(self) -> Route | None:
                return server.routes.get(self.path.split("?")[0])

            def do_HEAD(self) -> None:
                r = self._route()
                self.send_response(200 if r else 404)
                self.send_header("Content-Length", str(len(r.body) if r else 0))
                self.end_headers()

            def do_GET(self) -> None:
                r = self._route()
                if r is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                r.gets += 1
                rng = self.headers.get("Range")
                r.ranges.append(rng)
                if r.fail_first > 0:
                    r.fail_first -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = r.body[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Type", r.content_type)
                self.send_header("Content-Length", str(len(body)))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(r.body) - 1}/{len(r.body)}")
                self.end_headers()
                if r.cut_first > 0:
                    r.cut_first -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def content_api_routes() -> dict[str, Route]:
    routes = {}
    for p in (FIXTURES / "content_api").glob("*.json"):
        routes["/api/content" + p.stem.replace("__", "/")] = Route(p.read_bytes(), "application/json")
    return routes


def data_routes() -> dict[str, Route]:
    need_shared_data()
    leeds = (SHARED_DATA / "ofsted" / "mi_latest-inspections_as-at-2026-02-28_leeds.csv").read_bytes()
    # the official statistics file's header and first 300 schools: the real layout, small
    with (SHARED_DATA / "ofsted" / "official-stats_schools_as-at-2025-08-31_england.csv").open("rb") as f:
        official = b"".join(f.readline() for _ in range(301))
    gias = (SHARED_DATA / "dfe" / "gias_links_2025-04-22.csv").read_bytes()
    cut = leeds[: len(leeds) // 2]
    cut = cut[: cut.rfind(b"\n") + 40]  # a download that stopped mid-row
    return {MI_GOOD: Route(leeds), MI_BROKEN: Route(cut), OS_2025: Route(official), GIAS: Route(gias)}


@pytest.fixture
def routes() -> dict[str, Route]:
    return {**content_api_routes(), **data_routes()}


@pytest.fixture
def server(routes: dict[str, Route]) -> Iterator[Server]:
    with Server(routes) as s:
        yield s


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def http_client(sleeps: Sleeps | None = None, retries: int = 3) -> Http:
    return Http(httpx.Client(timeout=10.0), retries=retries, backoff=0.5, sleep=sleeps if sleeps is not None else Sleeps())


def statuses(report: object) -> dict[str, str]:
    return {f.url.rsplit("/", 1)[-1]: f.status for f in report.files}  # type: ignore[attr-defined]


# ---- parsing the Content API (no server) ---------------------------------------------------

def test_attachments_are_read_from_both_shapes() -> None:
    mi = json.loads((FIXTURES / "content_api" / "__government__statistical-data-sets__monthly-management-information-ofsteds-school-inspections-outcomes.json").read_text())
    urls = [u for u, _ in attachments_of(mi)]
    assert "https://assets.publishing.service.gov.uk" + MI_GOOD in urls
    assert any(u.endswith(".pdf") for u in urls)
    pub = json.loads((FIXTURES / "content_api" / "__government__statistics__state-funded-schools-inspections-and-outcomes-as-at-31-august-2025.json").read_text())
    found = dict(attachments_of(pub))  # details.documents as HTML snippets
    assert "school-level data" in found["https://assets.publishing.service.gov.uk" + OS_2025]
    coll = json.loads((FIXTURES / "content_api" / "__government__collections__maintained-schools-and-academies-inspections-and-outcomes-official-statistics.json").read_text())
    assert linked_documents(coll)[0][0].endswith("31-august-2025")  # newest first


def test_mirror_replaces_every_host() -> None:
    assert rehost("https://assets.publishing.service.gov.uk/media/x/a.csv", "http://127.0.0.1:9/m") == "http://127.0.0.1:9/m/media/x/a.csv"
    assert rehost("https://www.gov.uk/api/content/a?b=1", None) == "https://www.gov.uk/api/content/a?b=1"


def test_sources_are_data() -> None:
    s = load_sources()
    assert s.licence == "Open Government Licence v3.0"
    assert {x.kind for x in s.sources} == {"content_api", "dated"}
    assert any("links_edubasealldata{date}.csv" in x.url for x in s.sources)


# ---- against the local server --------------------------------------------------------------

def test_fetch_checks_records_and_rejects(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    report = fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    st = statuses(report)
    assert st[MI_GOOD.rsplit("/", 1)[1]] == "downloaded"
    assert st[OS_2025.rsplit("/", 1)[1]] == "downloaded"
    assert st[GIAS.rsplit("/", 1)[1]] == "downloaded"
    broken = next(f for f in report.files if f.url.endswith(MI_BROKEN))
    assert broken.status == "rejected" and "truncated" in broken.message
    assert not report.ok and report.problems == []
    # the PDF and the year-to-date file were not asked for
    assert all(not f.url.endswith(".pdf") for f in report.files)
    # nothing half-done is left behind; the rejected file was never stored
    assert not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / "ofsted" / MI_BROKEN.rsplit("/", 1)[1]).exists()
    manifest = read_manifest(tmp_path)
    assert len(manifest) == 3
    layouts = {e["layout"] for e in manifest.values()}
    assert layouts == {"ofsted_latest_report_card", "ofsted_latest_eif", "gias_links"}
    for url, e in manifest.items():
        assert url.startswith("https://")  # recorded as published, not as mirrored
        data = (tmp_path / e["path"]).read_bytes()
        assert e["sha256"] == sha256_of(data) and e["size"] == len(data)
        assert e["licence"] == "Open Government Licence v3.0" and e["retrieved_at"]
    assert (tmp_path / "gias" / "links_edubasealldata20250422.csv").read_bytes() == routes[GIAS].body


def test_second_run_skips_files_with_the_same_hash(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    before = {p: routes[p].gets for p in (MI_GOOD, OS_2025, GIAS)}
    report = fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    assert {p: routes[p].gets for p in before} == before  # no file downloaded again
    skipped = [f for f in report.files if f.status == "skipped"]
    assert len(skipped) == 3
    # a file changed on disk is downloaded again
    (tmp_path / "gias" / "links_edubasealldata20250422.csv").write_bytes(b"URN,LinkURN\n")
    report = fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    assert statuses(report)["links_edubasealldata20250422.csv"] == "downloaded"
    assert routes[GIAS].gets == before[GIAS] + 1


def test_broken_download_resumes_with_range(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    routes[GIAS].cut_first = 1
    sleeps = Sleeps()
    report = fetch(tmp_path, mirror=server.url, http=http_client(sleeps), today=TODAY)
    assert statuses(report)["links_edubasealldata20250422.csv"] == "downloaded"
    assert routes[GIAS].ranges[0] is None
    half = len(routes[GIAS].body) // 2
    resumed_at = int(str(routes[GIAS].ranges[1]).removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= half  # only the rest was asked for
    assert (tmp_path / "gias" / "links_edubasealldata20250422.csv").read_bytes() == routes[GIAS].body
    assert sleeps == [0.5]


def test_part_file_left_by_an_earlier_run_is_resumed(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    body = routes[GIAS].body
    (tmp_path / "gias").mkdir(parents=True)
    (tmp_path / "gias" / "links_edubasealldata20250422.csv.part").write_bytes(body[:1000])
    fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    assert routes[GIAS].ranges == ["bytes=1000-"]
    assert (tmp_path / "gias" / "links_edubasealldata20250422.csv").read_bytes() == body


def test_server_errors_are_retried_with_backoff(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    routes[OS_2025].fail_first = 2
    routes["/api/content/government/statistical-data-sets/monthly-management-information-ofsteds-school-inspections-outcomes"].fail_first = 1
    sleeps = Sleeps()
    report = fetch(tmp_path, mirror=server.url, http=http_client(sleeps), today=TODAY)
    assert statuses(report)[OS_2025.rsplit("/", 1)[1]] == "downloaded"
    assert sorted(sleeps) == [0.5, 0.5, 1.0]  # doubled after each failure


def test_giving_up_after_the_retries_keeps_nothing(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    routes[OS_2025].fail_first = 99
    report = fetch(tmp_path, mirror=server.url, http=http_client(retries=2), today=TODAY)
    failed = next(f for f in report.files if f.url.endswith(OS_2025))
    assert failed.status == "failed" and "3 attempts" in failed.message and "HTTP 503" in failed.message
    assert not (tmp_path / "ofsted" / OS_2025.rsplit("/", 1)[1]).exists()


def test_html_error_page_is_rejected_never_stored(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    routes[OS_2025] = Route(HTML_ERROR, "text/html")
    report = fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    f = next(f for f in report.files if f.url.endswith(OS_2025))
    assert f.status == "rejected" and "web page" in f.message
    assert not (tmp_path / "ofsted" / OS_2025.rsplit("/", 1)[1]).exists()
    assert "https://assets.publishing.service.gov.uk" + OS_2025 not in read_manifest(tmp_path)


def test_a_moved_page_is_reported_not_fatal(server: Server, routes: dict[str, Route], tmp_path: Path) -> None:
    del routes["/api/content/government/collections/maintained-schools-and-academies-inspections-and-outcomes-official-statistics"]
    report = fetch(tmp_path, mirror=server.url, http=http_client(), today=TODAY)
    assert any("ofsted-official-statistics" in p and "404" in p for p in report.problems)
    assert statuses(report)["links_edubasealldata20250422.csv"] == "downloaded"


def test_cli_fetch_reports_the_rejected_file(server: Server, tmp_path: Path) -> None:
    from evenhand.cli import app

    result = CliRunner().invoke(app, ["fetch", "--dest", str(tmp_path), "--mirror", server.url, "--retries", "1"])
    assert result.exit_code == 2, result.output
    assert "rejected" in result.output and "truncated" in result.output
    assert (tmp_path / "manifest.json").exists()


@pytest.mark.slow
def test_run_fetches_into_an_empty_folder_then_builds_and_reports(server: Server, tmp_path: Path) -> None:
    from evenhand.run import run_pipeline

    result = run_pipeline(tmp_path / "raw", tmp_path / "out", tmp_path / "w.duckdb", mirror=server.url, pdf=False)
    assert (tmp_path / "raw" / "manifest.json").exists()
    assert any("truncated" in n for n in result.notes)  # the rejected file is reported, the rest used
    assert result.open_first is not None and result.open_first.exists()
    import evenhand

    with evenhand.open(tmp_path / "w.duckdb") as eh:
        files = eh.table("meta.files")
        assert set(files.filter(status="loaded")["layout"].to_list()) == {"ofsted_latest_report_card", "ofsted_latest_eif"}
    # the test server's GIAS file is dated 2025-04-22, further back than the look-back from today
    assert any("gias-links: no download found" in n for n in result.notes)
    # a second run finds the files there and does not fetch again
    again = run_pipeline(tmp_path / "raw", tmp_path / "out2", tmp_path / "w2.duckdb", mirror="http://127.0.0.1:9", pdf=False)
    assert not any(n.startswith("fetch:") for n in again.notes)


def test_a_cut_off_workbook_is_rejected_with_a_message(tmp_path: Path) -> None:
    import io
    import zipfile

    from evenhand.errors import EvenhandError
    from evenhand.fetch.pipeline import check_layout

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>" * 2000)
        z.writestr("[Content_Types].xml", "<Types/>" * 2000)
    p = tmp_path / "latest.xlsx"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(EvenhandError, match=r"cannot be opened|not a layout|zip"):
        check_layout(p, "latest.xlsx")
