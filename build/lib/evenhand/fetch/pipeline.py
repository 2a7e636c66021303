"""Find, download, check and record the official files (see :mod:`evenhand.fetch`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from evenhand.errors import EvenhandError
from evenhand.fetch.download import FetchError, Http
from evenhand.fetch.sources import (
    Candidate,
    Source,
    Sources,
    attachments_of,
    dated_urls,
    linked_documents,
    load_sources,
    rehost,
    wanted,
)
from evenhand.read.containers import open_file, read_grid, sha256_of

MANIFEST = "manifest.json"

Progress = Callable[[str, int, int], None]


@dataclass
class FileResult:
    url: str
    status: str  # downloaded | unchanged | skipped | rejected | failed
    path: str | None = None
    layout: str | None = None
    size: int | None = None
    sha256: str | None = None
    message: str = ""


@dataclass
class FetchReport:
    dest: Path
    files: list[FileResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # sources that could not be read

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(f.status in ("rejected", "failed") for f in self.files)


def read_manifest(dest: Path) -> dict[str, dict[str, Any]]:
    """Manifest entries by URL (the URL as published, not as mirrored)."""
    p = dest / MANIFEST
    if not p.exists():
        return {}
    data = json.loads(p.read_text(encoding="utf-8"))
    return {e["url"]: e for e in data.get("files", [])}


def write_manifest(dest: Path, entries: dict[str, dict[str, Any]], sources: Sources) -> None:
    body = {
        "about": "Files fetched by `evenhand fetch`: where each came from, when, and its sha256.",
        "licence": sources.licence,
        "licence_url": sources.licence_url,
        "files": sorted(entries.values(), key=lambda e: e["path"]),
    }
    tmp = dest / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, dest / MANIFEST)


def check_layout(path: Path, name: str) -> str:
    """The layout name of a downloaded file, or an EvenhandError saying why it is not data.

    Web pages, Git LFS pointers, empty or truncated files and files of no known layout are
    refused here, so they are never stored as data.
    """
    from evenhand.read.sniff import recognise

    try:
        opened = open_file(path, name)
        match = recognise(opened)
    except EvenhandError:
        raise
    except Exception as e:  # a cut-off workbook or zip: say so rather than show a traceback
        raise EvenhandError(f"{name}: cannot be opened as a data file ({type(e).__name__}: {e}); the download may be incomplete") from None
    if match is None:
        raise EvenhandError(f"{name}: not a layout Evenhand knows (no header matched maps/layouts.toml)")
    if match.missing_required:
        raise EvenhandError(f"{name}: looks like {match.layout.name} but lacks {', '.join(match.missing_required)}")
    if opened.container == "csv":
        read_grid(opened, match.header_index, match.sheet)  # every row fits the header; not cut off
    return match.layout.name


def discover(sources: Sources, http: Http, mirror: str | None, today: date) -> tuple[list[Candidate], list[str]]:
    """Every file the sources point to now, and the problems met finding them."""
    found: list[Candidate] = []
    problems: list[str] = []
    for s in sources.sources:
        try:
            if s.kind == "content_api":
                found.extend(_content_api(s, sources, http, mirror))
            elif s.kind == "dated":
                url = next((u for u in dated_urls(s, today) if http.exists(rehost(u, mirror))), None)
                if url is None:
                    problems.append(f"{s.name}: no download found for the last {s.look_back_days} days ({s.url})")
                else:
                    found.append(Candidate(s.name, s.folder, url, s.title))
            else:
                problems.append(f"{s.name}: unknown kind {s.kind!r} in sources.toml")
        except EvenhandError as e:
            problems.append(f"{s.name}: {e}")
    return found, problems


def _content_api(s: Source, sources: Sources, http: Http, mirror: str | None) -> list[Candidate]:
    def page(path: str) -> dict[str, Any]:
        url = rehost(sources.content_api + path, mirror)
        data = http.get_json(url)
        if data is None:
            raise FetchError(f"GOV.UK page {path} is not there any more (404): update maps/sources.toml")
        return data

    top = page(s.path)
    pages = [top]
    if s.follow:
        for base_path, _ in linked_documents(top)[: s.max_documents]:
            pages.append(page(base_path))
    out = [Candidate(s.name, s.folder, url, title) for p in pages for url, title in attachments_of(p) if wanted(s, url, title)]
    if not out:
        raise FetchError(f"GOV.UK page {s.path} lists no file matching {s.include!r}: update maps/sources.toml")
    return out


def fetch(
    dest: Path,
    mirror: str | None = None,
    sources: Sources | None = None,
    http: Http | None = None,
    today: date | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch every source into ``dest`` (see the module docstring)."""
    sources = sources or load_sources()
    own_http = http is None
    http = http or Http.create()
    today = today or date.today()
    dest.mkdir(parents=True, exist_ok=True)
    report = FetchReport(dest)
    manifest = read_manifest(dest)
    try:
        if progress:
            progress("finding files on GOV.UK and GIAS", 0, 1)
        candidates, report.problems = discover(sources, http, mirror, today)
        for i, c in enumerate(candidates):
            if progress:
                progress(f"{c.filename}", i, len(candidates))
            result = _fetch_one(c, dest, mirror, http, manifest, sources)
            report.files.append(result)
            if result.status in ("downloaded", "unchanged"):
                write_manifest(dest, manifest, sources)
        if progress:
            progress("done", len(candidates), len(candidates))
    finally:
        if own_http:
            http.close()
    return report


def _fetch_one(c: Candidate, dest: Path, mirror: str | None, http: Http, manifest: dict[str, dict[str, Any]], sources: Sources) -> FileResult:
    folder = dest / c.folder
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / c.filename
    rel = target.relative_to(dest).as_posix()
    known = manifest.get(c.url)
    if known and target.exists() and known.get("path") == rel:
        digest = sha256_of(target.read_bytes())
        if digest == known.get("sha256"):
            return FileResult(c.url, "skipped", rel, known.get("layout"), target.stat().st_size, digest, "already present with the same sha256")
    part = target.with_name(target.name + ".part")
    try:
        http.download(rehost(c.url, mirror), part)
    except FetchError as e:
        return FileResult(c.url, "failed", rel, message=str(e))
    try:
        layout = check_layout(part, c.filename)
    except EvenhandError as e:
        part.unlink(missing_ok=True)
        msg = str(e).replace("1 problem(s) in the input:\n  ", "")
        return FileResult(c.url, "rejected", rel, message=f"rejected, not stored: {msg}")
    data = part.read_bytes()
    digest, size = sha256_of(data), len(data)
    status = "downloaded"
    if target.exists() and sha256_of(target.read_bytes()) == digest:
        part.unlink()
        status = "unchanged"
    else:
        os.replace(part, target)
    entry = {
        "url": c.url,
        "path": rel,
        "source": c.source,
        "title": c.title,
        "layout": layout,
        "retrieved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": size,
        "sha256": digest,
        "licence": sources.licence,
    }
    if mirror:
        entry["mirror"] = mirror
    manifest[c.url] = entry
    return FileResult(c.url, status, rel, layout, size, digest)


def summary_rows(report: FetchReport) -> list[dict[str, Any]]:
    return [asdict(f) for f in report.files]
