"""The dashboard through FastAPI's TestClient: every route, hostile input, headers, bounds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from web_support import HOSTILE_NAME, build_test_warehouse, write_audit, write_table

from evenhand.web import create_app
from evenhand.web.store import SEARCH_LIMIT

HOSTILE = [
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "'; DROP TABLE core.schools; --",
    "\"><img src=x onerror=alert(1)>",
    "x" * 60_000,  # httpx refuses longer queries; 100k is sent raw in test_query_of_100k_chars
    "\u202eloohcs",  # right-to-left override
    "a\x00b",
    "🏫📚",
    "%",
    "_",
    "\\",
    "../../etc/passwd",
    "{{ 7*7 }}",
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_warehouse(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def client(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    audits = write_audit(tmp_path_factory.mktemp("audits"))
    with TestClient(create_app(warehouse, audits), raise_server_exceptions=True) as c:
        yield c


def assert_safe(r: object) -> None:
    """No 500, security headers present, no unescaped hostile markup."""
    status = r.status_code  # type: ignore[attr-defined]
    assert status < 500, status
    h = r.headers  # type: ignore[attr-defined]
    csp = h["content-security-policy"]
    for part in ("script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert part in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"]
    if h.get("content-type", "").startswith("text/html"):
        body = r.text  # type: ignore[attr-defined]
        assert "<script>alert" not in body
        assert "onerror=alert" not in body.replace("&lt;img src=x onerror=alert", "")
        assert "\x00" not in body
        # the only script is the vendored htmx, from 'self'
        assert re.findall(r"<script\b[^>]*>", body) in ([], ['<script src="/static/vendor/htmx.min.js" defer>'])
        assert " style=" not in body.split("<article", 1)[0]  # our own markup has no inline style


def test_pages_render(client: TestClient) -> None:
    for url in ("/", "/search", "/search?q=cav", "/school/109778", "/audit/headline", "/data", "/methods"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert_safe(r)
    assert "Caversham Primary School" in client.get("/school/109778").text


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["schools"] >= 62
    assert_safe(r)


def test_search_by_name_urn_postcode(client: TestClient) -> None:
    assert "/school/109778" in client.get("/search", params={"q": "caversham"}).text
    assert "/school/109778" in client.get("/search", params={"q": "109778"}).text
    assert "/school/109778" in client.get("/search", params={"q": "rg4 7"}).text
    partial = client.get("/search", params={"q": "caversham"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.text and "/school/109778" in partial.text


def test_search_is_bounded(client: TestClient) -> None:
    r = client.get("/search", params={"q": "Readingtown"})
    assert r.text.count('href="/school/13') == SEARCH_LIMIT
    assert f"the first {SEARCH_LIMIT}" in r.text


def test_hostile_school_name_is_escaped(client: TestClient) -> None:
    r = client.get("/search", params={"q": "script"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert_safe(r)
    page = client.get("/school/123456")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert_safe(page)
    assert HOSTILE_NAME not in page.text


def test_sql_fragments_are_data(client: TestClient) -> None:
    r = client.get("/search", params={"q": "' OR 1=1 --"})
    assert_safe(r)
    assert "/school/123457" in r.text  # the school with that text in its name, and only it
    assert r.text.count('href="/school/') == 1
    assert client.get("/health").json()["status"] == "ok"  # nothing dropped


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_search(client: TestClient, q: str) -> None:
    for headers in ({}, {"HX-Request": "true"}):
        r = client.get("/search", params={"q": q}, headers=headers)
        assert r.status_code == 200
        assert_safe(r)
        assert len(r.text) < 200_000  # a 100k query is cut, not echoed


@pytest.mark.parametrize("urn", ["abc", "1e5", "-1", "99999999", "109778.0", "<script>", "' OR 1=1 --", "%00", "\u202e1", "🏫"])
def test_bad_urns_get_422(client: TestClient, urn: str) -> None:
    for suffix in ("", "/timeline.svg", "/history.json", "/report.pdf"):
        r = client.get(f"/school/{urn}{suffix}")
        assert r.status_code in (404, 422), (urn, suffix, r.status_code)
        assert_safe(r)


def test_unknown_school_is_404(client: TestClient) -> None:
    r = client.get("/school/999999")
    assert r.status_code == 404 and "not in this warehouse" in r.text
    assert_safe(r)
    assert client.get("/school/999999/timeline.svg").status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/school/../../etc/passwd", "/static/../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/..%2f..%2fpyproject.toml",
     "/data/export/..%2f..%2fetc%2fpasswd", "/audit/..%2f..%2fetc", "/audit/headline/..%2fx.csv", "/etc/passwd", "/" + "a" * 5000],
)
def test_path_traversal(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (404, 422), (path, r.status_code)
    assert "[project]" not in r.text and "root:" not in r.text
    assert_safe(r)


def test_school_page_has_timeline_chart(client: TestClient) -> None:
    page = client.get("/school/109778").text
    assert 'src="/school/109778/timeline.svg"' in page
    svg = client.get("/school/109778/timeline.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text and "<script" not in svg.text
    assert client.get("/school/109778/history.json").json()["urn"] == 109778


def test_pdf_link_matches_availability(client: TestClient) -> None:
    page = client.get("/school/109778").text
    pdf = client.get("/school/109778/report.pdf")
    if 'href="/school/109778/report.pdf"' in page:
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    else:
        assert pdf.status_code == 404 and "not available" in page


def test_audit_page(client: TestClient) -> None:
    r = client.get("/audit/headline")
    assert_safe(r)
    t = r.text
    assert "Headline &lt;b&gt;numbers&lt;/b&gt;" in t
    assert "60.0% (95% CI 31.0% to 83.0%; n = 10)" in t
    for part in ("Method", "Caveats", "Wilson intervals.", 'href="/audit/headline/main.csv"', 'src="/audit/headline/chart.svg"'):
        assert part in t
    assert "&lt;img src=x onerror=alert(3)&gt;" in t
    csv = client.get("/audit/headline/main.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("grade,n")
    assert_safe(csv)
    chart = client.get("/audit/headline/chart.svg")
    assert chart.status_code == 200 and "<svg" in chart.text
    assert "60.0% of schools" in client.get("/").text  # key findings on the home page


def test_missing_and_unknown_audits(client: TestClient) -> None:
    r = client.get("/audit/intake")  # registered, but no result in the folder
    assert r.status_code == 404 and "evenhand audit --only intake" in r.text
    assert_safe(r)
    for bad in ("/audit/nope", "/audit/HEADLINE", "/audit/headline/nope.csv", "/audit/" + "x" * 1000):
        r = client.get(bad)
        assert r.status_code == 404, bad
        assert_safe(r)


def test_data_page_lists_provenance(client: TestClient) -> None:
    t = client.get("/data").text
    assert "official_as-at-2025-08-31.csv" in t
    assert re.search(r"<code title=\"[0-9a-f]{64}\">", t)
    # each file's layout by its title from maps/layouts.toml (the code only as a tooltip)
    assert "Ofsted state-funded schools: latest inspections" in t and ">ofsted latest eif<" not in t


def test_export_download_only_listed_files(warehouse: Path) -> None:
    export = warehouse.parent / "export"
    export.mkdir(exist_ok=True)
    (export / "datapackage.json").write_text("{}", encoding="utf-8")
    (export / "data").mkdir(exist_ok=True)
    (export / "data" / "core_schools.parquet").write_bytes(b"PAR1")
    with TestClient(create_app(warehouse)) as c:
        page = c.get("/data").text
        assert "/data/export/datapackage.json" in page and "/data/export/data/core_schools.parquet" in page
        assert c.get("/data/export/datapackage.json").json() == {}
        assert c.get("/data/export/data/core_schools.parquet").content == b"PAR1"
        for bad in ("/data/export/../evenhand.duckdb", "/data/export/data/../../evenhand.duckdb", "/data/export/%2e%2e/evenhand.duckdb", "/data/export//etc/passwd"):
            r = c.get(bad)
            assert r.status_code == 404, bad
            assert_safe(r)
        assert c.get("/data/export/evenhand.duckdb").status_code == 404
        assert c.get("/data/export/..%2Fevenhand.duckdb").status_code == 404


def test_read_only_methods(client: TestClient) -> None:
    for method in ("post", "put", "delete", "patch"):
        r = client.request(method.upper(), "/school/109778")
        assert r.status_code == 405
        assert_safe(r)


def test_no_cdn_or_external_reference(client: TestClient) -> None:
    for url in ("/", "/school/109778", "/audit/headline", "/data", "/methods"):
        body = client.get(url).text
        for ref in re.findall(r"""(?:src|href)=["']([^"']+)""", body):
            assert not ref.startswith(("http:", "//")), (url, ref)
            if ref.startswith("https:"):
                assert "ofsted.gov.uk" in ref or "service.gov.uk" in ref or "gov.uk" in ref, (url, ref)


def test_htmx_vendored(client: TestClient) -> None:
    r = client.get("/static/vendor/htmx.min.js")
    assert r.status_code == 200 and b"htmx" in r.content[:2000]
    assert client.get("/static/vendor/htmx.LICENSE").status_code == 200


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    from evenhand.errors import EvenhandError

    with pytest.raises(EvenhandError, match="no warehouse"):
        create_app(tmp_path / "none.duckdb")


def test_serve_help_has_example() -> None:
    from typer.testing import CliRunner

    from evenhand.cli import app

    r = CliRunner().invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "Example:" in r.output


def test_query_of_100k_chars(client: TestClient) -> None:
    """A raw ASGI request (httpx refuses a query this long): cut, answered, not echoed whole."""
    import asyncio

    app = client.app
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    for q in (b"q=" + b"%3Cscript%3E" * 10_000, b"q=" + b"y" * 100_000):
        sent.clear()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                 "path": "/search", "raw_path": b"/search", "query_string": q, "headers": [(b"host", b"testserver")],
                 "client": ("127.0.0.1", 1), "server": ("testserver", 80), "root_path": ""}
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
        assert start["status"] == 200
        assert len(body) < 20_000
        assert b"<script>" not in body.replace(b'<script src="/static/vendor/htmx.min.js" defer>', b"")


def test_serve_refuses_a_missing_warehouse(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from evenhand.cli import app

    # one worker builds the app in this process; several only check the file here (each worker
    # opens its own): the same message either way, before any server starts
    for workers in ("1", "2"):
        r = CliRunner().invoke(app, ["serve", "--warehouse", str(tmp_path / "none.duckdb"), "--workers", workers])
        assert r.exit_code == 2 and "no warehouse" in r.output, (workers, r.output)
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    outputs = set()
    for workers in ("1", "2"):
        r = CliRunner().invoke(app, ["serve", "--warehouse", str(junk), "--workers", workers])
        assert r.exit_code == 2 and "Traceback" not in r.output and str(junk) in r.output.replace("\n", ""), (workers, r.output)
        outputs.add(r.output)
    assert len(outputs) == 1, outputs
    r = CliRunner().invoke(app, ["serve", "--warehouse", str(tmp_path / "none.duckdb"), "--audits", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such folder" in r.output


def test_school_page_is_the_shared_report_without_inline_styles(warehouse: Path) -> None:
    """One school view (the shared report partial), whose share bars are classes, so the CSP
    holds without rewriting; a hostile school name is escaped."""
    with TestClient(create_app(warehouse)) as c:
        page = c.get("/school/109778")
        assert page.status_code == 200
        assert_safe(page)
        assert "Caversham Primary School" in page.text and "Inadequate" in page.text
        assert " style=" not in page.text
        assert c.get("/school/109778/report.pdf").status_code == 200
        hostile = c.get("/school/123456")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile.text and "<script>alert(1)" not in hostile.text
        assert_safe(hostile)
    templates = Path(__file__).resolve().parents[2] / "src" / "evenhand" / "templates"
    assert [p.name for p in templates.rglob("*.html") if "style=" in p.read_text(encoding="utf-8")] == []


def test_on_demand_audit_answers_at_once_then_runs(warehouse: Path) -> None:
    with TestClient(create_app(warehouse)) as c:  # no --audits: audits run on demand
        r = c.get("/audit/safeguarding")
        assert r.status_code == 200 and 'hx-get="/audit/safeguarding?run=1"' in r.text
        assert_safe(r)
        done = c.get("/audit/safeguarding?run=1", headers={"HX-Request": "true"})
        assert done.status_code == 200 and 'id="audit"' in done.text  # a result, or why there is none
        assert_safe(done)
        again = c.get("/audit/safeguarding")
        assert "?run=1" not in again.text  # cached: shown at once
        assert c.get("/audit/safeguarding?run=abc").status_code == 422


def test_audit_with_an_undrawable_chart(warehouse: Path, tmp_path: Path) -> None:
    import json

    folder = write_audit(tmp_path / "a")
    data = json.loads((folder / "headline.json").read_text(encoding="utf-8"))
    data["chart"] = {"data": {"url": "https://example.org/x.csv"}, "mark": "bar"}  # remote data: refused
    (folder / "headline.json").write_text(json.dumps(data), encoding="utf-8")
    with TestClient(create_app(warehouse, folder)) as c:
        r = c.get("/audit/headline")
        assert r.status_code == 200 and "chart.svg" not in r.text
        assert c.get("/audit/headline/chart.svg").status_code == 404


def _audit_with_tables(folder: Path) -> Path:
    """The headline audit with a second table of shares (floats at full precision) and regions."""
    import json

    import polars as pl

    write_audit(folder)
    data = json.loads((folder / "headline.json").read_text(encoding="utf-8"))
    data["tables"] = {"main": {}, "shares": {}, "regions": {}, "matrices": {}}
    data["parameters"] = {"as_at": "2025-08-31", "eras": ["eif_2019", "s5_2012"], "region_era": "eif_2019"}
    (folder / "headline.json").write_text(json.dumps(data), encoding="utf-8")
    write_table(pl.DataFrame({
        "to_era": ["eif_2019", "s5_2012", "cif_2015"], "n": [1200, 30, 455],
        "share": [0.123456789012345, 0.5, 0.987654321], "low": [0.1012345678, 0.33, 0.97], "high": [0.1434343434, 0.67, 0.99],
    }), folder / "headline__shares")
    write_table(pl.DataFrame({"ofsted_region": ["London", "South East"], "n": [100, 120], "effect": [0.8, -0.3], "low": [0.5, -0.6], "high": [1.1, -0.05]}), folder / "headline__regions")
    write_table(pl.DataFrame({
        "to_era": ["eif_2019"] * 4, "from_code": ["1", "1", "2", "2"], "from_label": ["Outstanding", "Outstanding", "Good", "Good"],
        "to_code": ["1", "2", "1", "2"], "to_label": ["Outstanding", "Good", "Outstanding", "Good"],
        "count": [6, 4, 1, 9], "n": [10, 10, 10, 10], "share": [0.6, 0.4, 0.1, 0.9], "low": [0.3, 0.2, 0.02, 0.6], "high": [0.8, 0.7, 0.4, 0.98],
    }), folder / "headline__matrices")
    return folder


@pytest.fixture(scope="module")
def rich_client(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(warehouse, _audit_with_tables(tmp_path_factory.mktemp("rich")))) as c:
        yield c


def test_every_audit_table_is_reachable_with_labels_and_rounding(rich_client: TestClient) -> None:
    page = rich_client.get("/audit/headline").text
    for key in ("main", "shares", "regions", "matrices"):
        assert f"/audit/headline?table={key}" in page
    r = rich_client.get("/audit/headline?table=shares")
    assert_safe(r)
    t = r.text
    assert "12.3% (10.1% to 14.3%)" in t  # share with its interval, in one cell
    assert "Framework of the later inspection" in t and "Education inspection framework" in t  # labels, not field names
    assert not re.search(r"\d\.\d{6,}", t)  # no 16-digit floats
    assert ">to_era<" not in t and "eif_2019<" not in t
    assert "1,200" in t
    # the parameters in words, not Python literals
    assert "[" not in t.split("<h2>Method</h2>")[1].split("<h2>Caveats</h2>")[0]
    assert rich_client.get("/audit/headline?table=nope").status_code == 404


def test_audit_table_sorts_and_filters_on_the_server(rich_client: TestClient) -> None:
    def first_cells(url: str) -> list[str]:
        body = rich_client.get(url).text.split('<table class="data sortable">')[1].split("</table>")[0]
        return re.findall(r"<tr><td[^>]*>([^<]*)</td>", body)

    assert first_cells("/audit/headline?table=shares&sort=share&order=desc")[0].startswith("Common inspection framework")
    assert first_cells("/audit/headline?table=shares&sort=share&order=asc")[0].startswith("Education inspection framework")
    assert first_cells("/audit/headline?table=shares&sort=n&order=asc")[0].startswith("Section 5")
    got = rich_client.get("/audit/headline?table=shares&q=section+5").text
    assert "1 of 3 rows contain" in got
    assert_safe(rich_client.get("/audit/headline?table=shares&sort=<script>&q=<script>alert(1)</script>"))


def test_transitions_matrix_and_region_chart(rich_client: TestClient) -> None:
    t = rich_client.get("/audit/headline?table=matrices").text
    assert '<table class="matrix">' in t and "60.0% (6)" in t and "90.0% (9)" in t
    assert "/audit/headline/regions.svg" in t
    svg = rich_client.get("/audit/headline/regions.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml") and "London" in svg.text


def test_search_suggests_and_has_a_shareable_url(client: TestClient) -> None:
    t = client.get("/search?q=Cavershem").text
    assert "Did you mean" in t and "/search?q=caversham" in t and "/school/109778" in t
    assert 'hx-replace-url="true"' in t  # typing keeps the address a shareable /search?q=


def test_data_page_finds_the_export_given_and_shows_no_absolute_path(warehouse: Path, tmp_path: Path) -> None:
    export = tmp_path / "somewhere" / "open-data"
    (export / "data").mkdir(parents=True)
    (export / "datapackage.json").write_text("{}", encoding="utf-8")
    (export / "evenhand.db").write_bytes(b"SQLite format 3\x00")
    with TestClient(create_app(warehouse, open_data=export)) as c:
        page = c.get("/data").text
    assert "/data/export/datapackage.json" in page and "datasette evenhand.db" in page
    assert str(tmp_path) not in page and str(warehouse.parent) not in page
    with TestClient(create_app(warehouse, open_data=tmp_path / "none")) as c:
        page = c.get("/data").text
    assert "No open-data export was found" in page and str(tmp_path) not in page


def test_serve_open_data_must_hold_a_package(warehouse: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from evenhand.cli import app

    r = CliRunner().invoke(app, ["serve", "--warehouse", str(warehouse), "--open-data", str(tmp_path)])
    assert r.exit_code == 2 and "datapackage.json" in r.output


def test_school_page_expected_judgement_and_the_reports_timeline(warehouse: Path, tmp_path: Path) -> None:
    """The dashboard's school page shows the report's expected judgement (its chart drawn when
    asked for), lets ?inspection= put another inspection first (404 for one that is not the
    school's), and draws the report's own timeline: every level of the four-point scale."""
    import datetime as dt

    folder = write_audit(tmp_path / "audit")
    with TestClient(create_app(warehouse, folder)) as c:
        events = c.get("/school/109778/history.json").json()["events"]
    graded = [e for e in events if e["kind"] == "graded" and e.get("start_date")]
    assert len(graded) >= 2
    p = [0.15, 0.61, 0.2, 0.04]
    rows = [{"urn": 109778, "lineage_id": "L109778", "event_id": e["event_id"], "event_urn": 109778,
             "area": "overall_effectiveness", "start_date": dt.date.fromisoformat(e["start_date"]), "year": "2022/23",
             "latest": i == len(graded) - 1, "observed": "2",
             **{f"p_{g}{s}": p[j] + d for j, g in enumerate("1234") for s, d in (("", 0.0), ("_low", -0.01), ("_high", 0.01))},
             "p_observed_or_worse": 0.85, "p_observed_or_worse_low": 0.84, "p_observed_or_worse_high": 0.86}
            for i, e in enumerate(graded)]
    pl.DataFrame(rows).write_parquet(folder / "intake__expected.parquet")
    with TestClient(create_app(warehouse, folder)) as c:
        page = c.get("/school/109778").text
        assert 'src="/school/109778/expected.svg"' in page and "the latest graded inspection" in page
        assert "Show this inspection first" in page and "61% (60–62%)" in page
        first = graded[0]["start_date"]
        named = c.get("/school/109778", params={"inspection": first})
        assert named.status_code == 200 and "the inspection chosen" in named.text
        assert f'src="/school/109778/expected.svg?inspection={first}"' in named.text
        assert f'href="/school/109778/report.pdf?inspection={first}"' in named.text
        pdf = c.get("/school/109778/report.pdf", params={"inspection": first})
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert c.get("/school/109778/report.pdf", params={"inspection": "1999-01-01"}).status_code == 404
        svg = c.get("/school/109778/expected.svg", params={"inspection": first})
        assert svg.status_code == 200 and "<svg" in svg.text and "Expected overall judgement" in svg.text
        for bad in ("1999-01-01", "<script>", "x" * 100):
            r = c.get("/school/109778", params={"inspection": bad})
            assert r.status_code == 404 and "has no inspection" in r.text
            assert_safe(r)
        t = c.get("/school/109778/timeline.svg").text
        for level in ("Outstanding", "Good", "Requires improvement", "Inadequate"):
            assert level in t, level


def test_school_page_refuses_an_expected_table_from_another_warehouse_as_the_cli_does(warehouse: Path, tmp_path: Path) -> None:
    """One rule for the expected judgement's table (Evenhand.expected): a table computed from other
    input files than this warehouse's is refused with its reason on the dashboard's school page,
    in `evenhand school` and through the API alike; none of them shows its numbers."""
    import datetime as dt
    import json

    from typer.testing import CliRunner

    from evenhand.cli import app
    from evenhand.engine import Evenhand

    folder = write_audit(tmp_path / "audit", name="intake")
    meta = json.loads((folder / "intake.json").read_text(encoding="utf-8"))
    meta["inputs"] = [{"path": "elsewhere.csv", "sha256": "0" * 64}]
    (folder / "intake.json").write_text(json.dumps(meta), encoding="utf-8")
    p = [0.15, 0.61, 0.2, 0.04]
    pl.DataFrame([{"urn": 109778, "lineage_id": "L109778", "event_id": "x", "event_urn": 109778,
                   "area": "overall_effectiveness", "start_date": dt.date(2022, 11, 15), "year": "2022/23",
                   "latest": True, "observed": "2",
                   **{f"p_{g}{s}": p[j] + d for j, g in enumerate("1234") for s, d in (("", 0.0), ("_low", -0.01), ("_high", 0.01))},
                   "p_observed_or_worse": 0.85, "p_observed_or_worse_low": 0.84, "p_observed_or_worse_high": 0.86}]
                 ).write_parquet(folder / "intake__expected.parquet")
    reason = "computed from other input files"
    with TestClient(create_app(warehouse, folder)) as c:
        page = c.get("/school/109778").text
    assert reason in page and "61% (60–62%)" not in page
    out = tmp_path / "s.html"
    r = CliRunner().invoke(app, ["school", "109778", "--warehouse", str(warehouse), "--audits", str(folder), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert reason in out.read_text(encoding="utf-8")
    with Evenhand(warehouse) as eh:
        data = eh.school_report(109778, "data", audits=folder)
        assert isinstance(data, dict) and reason in str(data["expected"])
        assert eh.expected(folder) is eh.expected(folder)  # read once per folder
