"""Read maps/sources.toml and turn each source into the URLs of the files to download."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from evenhand import maps

DATA_EXTENSIONS = (".csv", ".xlsx", ".ods")


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # content_api | dated
    title: str
    folder: str
    path: str = ""
    include: str = ""
    follow: bool = False
    max_documents: int = 1
    url: str = ""
    look_back_days: int = 14


@dataclass(frozen=True)
class Sources:
    licence: str
    licence_url: str
    content_api: str
    sources: tuple[Source, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Candidate:
    """One file a source points to."""

    source: str
    folder: str
    url: str
    title: str

    @property
    def filename(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1]) or "download"


def parse_sources(text: str) -> Sources:
    raw = tomllib.loads(text)
    items = []
    for s in raw.get("source", []):
        items.append(
            Source(
                name=s["name"], kind=s["kind"], title=s.get("title", s["name"]), folder=s.get("folder", s["name"]),
                path=s.get("path", ""), include=s.get("include", ""), follow=bool(s.get("follow", False)),
                max_documents=int(s.get("max_documents", 1)), url=s.get("url", ""),
                look_back_days=int(s.get("look_back_days", 14)),
            )
        )
    return Sources(raw["licence"], raw.get("licence_url", ""), raw["content_api"], tuple(items))


def load_sources() -> Sources:
    return parse_sources(maps.read_text("sources.toml"))


def rehost(url: str, mirror: str | None) -> str:
    """Send a gov.uk / assets / GIAS URL to the mirror instead (same path and query)."""
    if not mirror:
        return url
    m = urlsplit(mirror)
    u = urlsplit(url)
    return urlunsplit((m.scheme, m.netloc, m.path.rstrip("/") + u.path, u.query, ""))


_HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)


def attachments_of(page: dict[str, Any]) -> list[tuple[str, str]]:
    """(url, title) of every file a Content API response lists.

    ``details.attachments`` is a list of objects with ``url`` and ``title``; older pages put
    their attachments in ``details.documents`` as HTML snippets (or objects) instead.
    """
    details = page.get("details") or {}
    found: list[tuple[str, str]] = []
    for a in details.get("attachments") or []:
        if isinstance(a, dict) and a.get("url"):
            found.append((str(a["url"]), str(a.get("title") or a.get("filename") or "")))
    for d in details.get("documents") or []:
        if isinstance(d, dict) and d.get("url"):
            found.append((str(d["url"]), str(d.get("title") or "")))
        elif isinstance(d, str):
            title = re.sub(r"<[^>]+>", " ", d)
            title = re.sub(r"\s+", " ", title).strip()
            for href in _HREF.findall(d):
                found.append((href, title))
    seen: set[str] = set()
    out = []
    for url, title in found:
        if url.startswith("/"):
            url = "https://www.gov.uk" + url
        if url not in seen:
            seen.add(url)
            out.append((url, title))
    return out


def linked_documents(page: dict[str, Any]) -> list[tuple[str, str]]:
    """(base_path, public_updated_at) of the documents a collection page links to, newest first."""
    docs = (page.get("links") or {}).get("documents") or []
    out = [(str(d["base_path"]), str(d.get("public_updated_at") or "")) for d in docs if isinstance(d, dict) and d.get("base_path")]
    return sorted(out, key=lambda x: x[1], reverse=True)


def is_data_file(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(DATA_EXTENSIONS)


def wanted(source: Source, url: str, title: str) -> bool:
    if not is_data_file(url):
        return False
    if not source.include:
        return True
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    pattern = re.compile(source.include, re.IGNORECASE)
    return bool(pattern.search(title) or pattern.search(name))


def dated_urls(source: Source, today: date) -> list[str]:
    """The dated URLs to try, newest first."""
    return [source.url.format(date=(today - timedelta(days=k)).strftime("%Y%m%d")) for k in range(source.look_back_days + 1)]
