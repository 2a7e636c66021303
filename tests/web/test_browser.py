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
    assert page.url.rstrip("/") == server  # results arrived in place, no navigation
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
