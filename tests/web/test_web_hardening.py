"""Issue 14, dashboard hardening: symlinks out of served folders, HEAD and Allow, relative
redirects, a cap on any value shown, reloading a rebuilt warehouse, no local paths in pages,
strict URNs, and closing connections that never send a request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import build_test_warehouse

from evenhand.core.pipeline import build_warehouse
from evenhand.web import create_app, store
from helpers import caversham_like, csv_text, graded, os_headers, school, write


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_warehouse(tmp_path_factory.mktemp("web-hardening"))


@pytest.fixture(scope="module")
def client(warehouse: Path) -> Iterator[TestClient]:
    with TestClient(create_app(warehouse)) as c:
        yield c


def test_a_directory_symlink_in_the_export_folder_is_not_followed(tmp_path: Path) -> None:
    wh = build_test_warehouse(tmp_path / "site")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwords.csv").write_text("root,hunter2\n")
    export = wh.parent / "export"
    export.mkdir()
    (export / "datapackage.json").write_text("{}")
    (export / "data").symlink_to(secret, target_is_directory=True)
    (export / "linked.csv").symlink_to(secret / "passwords.csv")
    with TestClient(create_app(wh)) as c:
        page = c.get("/data").text
        assert "passwords.csv" not in page and "linked.csv" not in page
        for url in ("/data/export/data/passwords.csv", "/data/export/linked.csv"):
            r = c.get(url)
            assert r.status_code == 404 and "hunter2" not in r.text


def test_head_is_answered_like_get_without_a_body(client: TestClient) -> None:
    for url in ("/", "/school/109778", "/data", "/health", "/static/vendor/htmx.min.js"):
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code == 200, url
        assert head.content == b"", url
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-security-policy"]


def test_405_names_the_allowed_methods(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = client.request(method, "/school/109778")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD"


def test_redirects_do_not_repeat_the_host_header(client: TestClient) -> None:
    r = client.get("/school/109778/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code in (301, 302, 307, 308), r.status_code
    assert r.headers["location"] == "/school/109778"
    assert "evil.example" not in r.headers["location"]


@pytest.mark.parametrize("url", ["/school/109778%0a", "/school/109778%0A/history.json", "/school/%0a109778", "/school/109778%20"])
def test_urns_are_matched_whole(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404, (url, r.status_code)


def test_pages_show_no_local_absolute_paths(client: TestClient, warehouse: Path) -> None:
    for url in ("/", "/data", "/methods", "/school/109778"):
        text = client.get(url).text
        assert str(warehouse.parent) not in text, url
        assert str(Path.cwd()) not in text, url


def test_a_huge_value_is_cut_on_the_page(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "os.csv", csv_text(os_headers(), [{**caversham_like(), "School name": "Caversham " + "x" * 300_000}]))
    wh = tmp_path / "evenhand.duckdb"
    build_warehouse(tmp_path / "raw", wh)
    with TestClient(create_app(wh)) as c:
        r = c.get("/school/109778")
        assert r.status_code == 200
        assert "x" * 3000 not in r.text
        assert "characters in all" in r.text
        assert len(r.text) < 200_000


def test_a_rebuilt_warehouse_is_served_without_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "RELOAD_CHECK", 0.0)
    raw = tmp_path / "raw"
    write(raw / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "evenhand.duckdb"
    build_warehouse(raw, wh)
    with TestClient(create_app(wh)) as c:
        assert c.get("/health").json()["events"] == 2
        assert c.get("/school/100042").status_code == 404
        newer = {**school(100042, "Rebuilt School"), **graded("10400042", "01/02/2024", "01/03/2024", "1")}
        write(raw / "os.csv", csv_text(os_headers(), [caversham_like(), newer]))
        build_warehouse(raw, wh)
        # requests keep being answered while the new file is picked up
        statuses = [c.get("/school/109778").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert c.get("/health").json()["events"] == 3
        assert c.get("/school/100042").status_code == 200
        assert "Rebuilt School" in c.get("/search", params={"q": "Rebuilt"}).text


def test_a_connection_that_never_sends_a_request_is_closed(warehouse: Path) -> None:
    import uvicorn

    from evenhand.web.server import GuardedH11Protocol

    protocol = type("Quick", (GuardedH11Protocol,), {"header_timeout": 0.5})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(warehouse), host="127.0.0.1", port=port, http=protocol, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        assert server.started
        with socket.create_connection(("127.0.0.1", port), timeout=30) as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            assert idle.recv(1024) == b"", "the server must close a connection whose request never arrives"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as ok:
            ok.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert ok.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_warehouse_with_school_pages_of_an_older_build_says_rebuild(tmp_path: Path) -> None:
    """out.school_pages as builds before decision 1320 wrote it (one JSON column per part):
    every school page says the warehouse needs rebuilding (503), not 'something went wrong'."""
    import duckdb

    raw = tmp_path / "raw"
    write(raw / "os.csv", csv_text(os_headers(), [caversham_like()]))
    wh = tmp_path / "evenhand.duckdb"
    build_warehouse(raw, wh)
    con = duckdb.connect(str(wh))
    con.execute("DROP TABLE out.school_pages")
    con.execute("CREATE TABLE out.school_pages (urn BIGINT, school VARCHAR, events VARCHAR)")
    con.execute("INSERT INTO out.school_pages VALUES (109778, NULL, '[]')")
    con.close()
    with TestClient(create_app(wh), raise_server_exceptions=True) as c:
        r = c.get("/school/109778")
        assert r.status_code == 503
        assert "This warehouse needs rebuilding" in r.text and "evenhand build" in r.text
        assert c.get("/health").status_code == 200
