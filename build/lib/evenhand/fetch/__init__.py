"""Fetch the current official files: GOV.UK Content API pages and GIAS dated downloads.

    from evenhand.fetch import fetch
    report = fetch(Path("raw"))            # or fetch(dest, mirror="http://127.0.0.1:8000")

Every file is downloaded into ``<name>.part`` (resumed with an HTTP Range request after a
broken connection), checked to be a known layout (:mod:`evenhand.read`), and only then moved
into place and recorded in ``manifest.json`` (URL, retrieved at, size, sha256, licence).
"""

from evenhand.fetch.pipeline import FetchReport, FileResult, fetch

__all__ = ["FetchReport", "FileResult", "fetch"]
