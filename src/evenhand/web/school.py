"""The school page's content: the shared school report (evenhand.present.school and the
templates/_school_body.html partial, the same as `evenhand school URN`), and its PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from evenhand.derive.school_pages import SchoolPage
from evenhand.present.report import environment
from evenhand.present.report import school_pdf as report_pdf
from evenhand.web.store import Store, shown_path


def report_data(wh: Store, urn: int, audits_dir: Path | None, history: dict[str, Any] | None = None,
                page: SchoolPage | None = None) -> dict[str, Any]:
    """The school report's data for ``urn`` (Evenhand.school_report, as the CLI), reusing its
    ``history`` JSON and its precomputed ``page`` when given."""
    wh.maybe_reload()
    data = wh.eh.school_report(urn, "data", audits=audits_dir, history=history, page=page, shown=shown_path)
    assert isinstance(data, dict)
    return data


def shared_body(data: dict[str, Any], expected_img: str | None = None) -> Markup:
    """The shared partial, rendered by the one template environment (autoescaped); the
    expected-judgement chart as an image from ``expected_img`` (drawn when the browser asks)."""
    return Markup(environment().get_template("_school_body.html").render(s=data, expected_img=expected_img))


def split_before_timeline(body: Markup) -> tuple[Markup, Markup]:
    """The partial split where its list of inspections starts, so the chart can go above it."""
    mark = '<section id="timeline">'
    i = body.find(mark)
    if i < 0:
        return body, Markup("")
    return Markup(body[:i]), Markup(body[i:])


def school_pdf(data: dict[str, Any]) -> bytes:
    return report_pdf(data)
