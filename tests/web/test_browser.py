"""End to end in a real headless browser: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium (install it with
``apt-get install chromium``; scripts/setup does so as root). Skipped, with the reason, when
chromium or the playwright package is absent. The screenshot goes to test-artifacts/.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_support import build_test_warehouse, write_audit

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None, reason="Debian chromium is not installed (apt-get install -y chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install 'playwright>=1.40'; never 'playwright install')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_warehouse(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def server(warehouse: Path) -> Iterator[str]:
    from evenhand.web import create_app

    yield from _serve(create_app(warehouse, write_audit(warehouse.parent / "audits")))


@pytest.fixture(scope="module")
def server_on_demand(warehouse: Path) -> Iterator[str]:
    from evenhand.web import create_app

    yield from _serve(create_app(warehouse))  # no --audits: each audit runs on its first visit


def _serve(app: object) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    exe = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        yield b
        b.close()


def test_search_open_school_see_chart_download_pdf(server: str, browser: object) -> None:
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text} {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(server) and not r.url.startswith("data:") else None)

    page.goto(server + "/")
    page.fill("#q", "cavers")  # htmx fetches /search?q= as you type; no submit
    link = page.locator("#results a[href='/school/109778']")
    link.wait_for(timeout=10_000)
    # results arrived in place, and the address became the search's own, to share
    page.wait_for_url(server + "/search?q=cavers")
    link.click()
    page.wait_for_url(server + "/school/109778")
    assert "Caversham Primary School" in page.inner_text("h1")
    assert page.locator("table").count() >= 1  # the timeline table
    img = page.locator("img[src='/school/109778/timeline.svg']")
    img.wait_for()
    width = page.evaluate("() => document.querySelector(\"img[src='/school/109778/timeline.svg']\").naturalWidth")
    assert width > 100, "the timeline chart did not render"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "school-109778.png"), full_page=True)

    pdf_link = page.locator("a[href='/school/109778/report.pdf']")
    if pdf_link.count():
        with page.expect_download() as dl:
            pdf_link.click()
        path = dl.value.path()
        assert path is not None and Path(path).read_bytes().startswith(b"%PDF")
    else:
        assert "not available" in page.inner_text("main")

    # the hostile school: its name shows as text and no script ran
    page.goto(server + "/search?q=script")
    page.locator("a[href='/school/123456']").click()
    page.wait_for_url(server + "/school/123456")
    assert "<script>alert(1)</script>" in page.inner_text("main")
    assert not page.evaluate("() => window.__pwned === true")

    page.goto(server + "/audit/headline")
    chart = page.locator("img[src='/audit/headline/chart.svg']")
    chart.wait_for()
    assert page.evaluate("() => document.querySelector(\"img[src='/audit/headline/chart.svg']\").naturalWidth") > 0
    page.screenshot(path=str(ARTIFACTS / "audit-headline.png"), full_page=True)

    csp = [e for e in errors if "Content Security Policy" in e]
    assert not csp, "\n".join(csp)
    assert not external, external
    ctx.close()


def test_on_demand_audit_fills_in(server_on_demand: str, browser: object) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server_on_demand + "/audit/safeguarding")
    # the page answers at once; htmx asks for the run and swaps the result (or why there is none) in
    page.wait_for_function("() => !document.querySelector('.pending')", timeout=60_000)
    assert page.locator("#audit h1").count() == 1
    assert page.url == server_on_demand + "/audit/safeguarding"
    page.close()


#: Every kind of dashboard page (the server fixture has one audit result: headline).
PAGES = [
    "/", "/search", "/search?q=cavers", "/search?q=Cavershem", "/search?q=zzzzqqq", "/school/109778", "/school/123456",
    "/school/123457", "/audit/headline", "/audit/headline?table=main&sort=n&order=desc", "/audit/intake", "/data",
    "/methods", "/no-such-page", "/school/999999",
]


def _sideways(page: object) -> tuple[int, int]:
    got = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")  # type: ignore[attr-defined]
    return int(got[0]), int(got[1])


@pytest.mark.parametrize("width", [1280, 390])
def test_no_page_scrolls_sideways(server: str, browser: object, width: int) -> None:
    """At a desktop and a phone width no page is wider than the window (a wide table scrolls
    inside its own box); a screenshot of each page goes to test-artifacts/ to look at."""
    page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    wide = []
    for path in PAGES:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        scroll, client = _sideways(page)
        if scroll > client:
            wide.append(f"{path}: {scroll} px wide in a {client} px window")
        name = path.strip("/").replace("/", "_").replace("?", "_").replace("&", "_").replace("=", "-") or "home"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    # the check can fail: a page made wider than the window is caught
    page.evaluate("() => { const d = document.createElement('div'); d.style.width = '3000px'; d.style.height = '1px'; document.body.appendChild(d); }")
    assert _sideways(page)[0] > _sideways(page)[1]
    page.close()
    assert not wide, "\n".join(wide)


def test_enter_gives_a_shareable_search_address(server: str, browser: object) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 900})  # type: ignore[attr-defined]
    page.goto(server + "/")
    page.fill("#q", "Cavershem")
    page.press("#q", "Enter")
    page.wait_for_url(server + "/search?q=Cavershem")
    page.locator("#results a[href='/school/109778']").wait_for(timeout=10_000)
    assert "Did you mean" in page.inner_text("#results")
    page.goto(server + "/search?q=Cavershem")  # the address alone gives the same answer
    assert page.locator("#results a[href='/school/109778']").count() == 1
    page.close()


def test_open_data_browsable_in_datasette(warehouse: Path, browser: object, tmp_path: Path) -> None:
    """The export's SQLite copy and metadata.json open in Datasette with the field descriptions."""
    import subprocess
    import sys

    pytest.importorskip("datasette", reason="datasette is a dev dependency (pip install datasette)")
    from evenhand.present.export import export

    out = tmp_path / "open-data"
    export(warehouse, out)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "datasette", "serve", str(out / "evenhand.db"), "--metadata", str(out / "metadata.json"),
         "--host", "127.0.0.1", "--port", str(port), "--setting", "suggest_facets", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        deadline = time.time() + 60
        while True:
            try:
                page.goto(base + "/evenhand/core_events")
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
        text = page.inner_text("body")
        assert "Caversham Primary School" in text  # the rows
        assert "Inspection events: ONE row per inspection" in text  # the table's description
        assert "Ofsted inspection number (8 digits" in text  # a column's description, from the same metadata
        page.goto(base + "/evenhand/core_events?urn=109778")
        assert "Caversham Primary School" in page.inner_text("body")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "datasette-core_events.png"), full_page=False)
        page.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def server_with_expected(warehouse: Path) -> Iterator[str]:
    """The dashboard with an intake 'expected' table for 109778's graded inspections."""
    import datetime as dt

    import polars as pl

    from evenhand.core.warehouse import connect
    from evenhand.query import history
    from evenhand.web import create_app

    folder = write_audit(warehouse.parent / "audits-expected")
    con = connect(warehouse, read_only=True)
    try:
        events = history(con, 109778)["events"]
    finally:
        con.close()
    graded = [e for e in events if e["kind"] == "graded" and e.get("start_date")]
    p = [0.2, 0.72, 0.07, 0.01]
    pl.DataFrame([
        {"urn": 109778, "lineage_id": "L109778", "event_id": e["event_id"], "event_urn": 109778, "area": "overall_effectiveness",
         "start_date": dt.date.fromisoformat(e["start_date"]), "year": "2022/23", "latest": i == len(graded) - 1, "observed": "2",
         **{f"p_{g}{s}": p[j] + d for j, g in enumerate("1234") for s, d in (("", 0.0), ("_low", -0.005), ("_high", 0.005))},
         "p_observed_or_worse": 0.8, "p_observed_or_worse_low": 0.78, "p_observed_or_worse_high": 0.82}
        for i, e in enumerate(graded)
    ]).write_parquet(folder / "intake__expected.parquet")
    yield from _serve(create_app(warehouse, folder))


@pytest.mark.parametrize("width", [1280, 390])
def test_school_expected_judgement_fits_and_switches(server_with_expected: str, browser: object, width: int) -> None:
    """The expected judgement on the school page: its chart loads, nothing scrolls sideways at
    either width, and 'Show this inspection first' puts that inspection first."""
    page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    page.goto(server_with_expected + "/school/109778")
    img = page.locator("img[src^='/school/109778/expected.svg']")
    img.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => document.querySelector(\"img[src^='/school/109778/expected.svg']\").naturalWidth") > 100
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    link = page.locator("a:has-text('Show this inspection first')").first
    link.click()
    page.wait_for_url("**inspection=*")
    assert "the inspection chosen" in page.inner_text("#similar")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    page.close()
