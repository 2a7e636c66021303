"""The school page's content: the shared school report (evenhand.present.school and the
templates/_school_body.html partial, the same as `evenhand school URN`), and its PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from evenhand.derive.school_pages import SchoolPage
from evenhand.present.report import environment, html_to_pdf, read_expected, school_html
from evenhand.present.school import school_report_data
from evenhand.web.store import Store


def report_data(wh: Store, urn: int, audits_dir: Path | None, history: dict[str, Any] | None = None,
                page: SchoolPage | None = None) -> dict[str, Any]:
    """school_report_data(...) for ``urn``, reusing its ``history`` JSON and its precomputed
    ``page`` when given."""
    expected = read_expected(audits_dir) if audits_dir else None
    with wh.cursor() as cur:
        data: dict[str, Any] = school_report_data(cur, urn, expected=expected, history=history, page=page, synthetic=wh.eh.synthetic)
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
    return html_to_pdf(school_html(data))
