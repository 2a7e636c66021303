"""The school page's content: the shared school report (evenhand.present.school and the
templates/_school_body.html partial) when this version has it, else the dashboard's own view of
evenhand.query's history JSON. Also the report's PDF, when a renderer exists."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from markupsafe import Markup

from evenhand.web.store import Store

log = logging.getLogger("evenhand.web")


def shared_report_available() -> bool:
    try:
        from evenhand.present import report, school
    except ImportError:
        return False
    return hasattr(school, "school_report_data") and (Path(report.__file__).parents[1] / "templates" / "_school_body.html").is_file()


def report_data(
    wh: Store, urn: int, audits_dir: Path | None, history: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """school_report_data(...) for ``urn`` (reusing its ``history`` JSON when given), or None
    when the shared report is unavailable or fails."""
    if not shared_report_available():
        return None
    try:
        from evenhand.present.report import read_expected
        from evenhand.present.school import school_report_data

        expected = read_expected(audits_dir) if audits_dir else None
        with wh.cursor() as cur:
            data: dict[str, Any] = school_report_data(cur, urn, expected=expected, history=history)
        return data
    except Exception:  # the dashboard falls back to its own view rather than failing the page
        log.exception("shared school report failed for URN %s; showing the dashboard's own view", urn)
        return None


def shared_body(data: dict[str, Any]) -> Markup | None:
    """The shared partial rendered by the report environment (autoescaped there)."""
    try:
        from evenhand.present.report import environment

        return Markup(csp_safe(environment().get_template("_school_body.html").render(s=data)))
    except Exception:
        log.exception("templates/_school_body.html failed to render; showing the dashboard's own view")
        return None


_BAR = re.compile(r'(class="eh-bar)"\s+style="width:\s*([0-9]+(?:\.[0-9]+)?)rem;?"')
_STYLE = re.compile(r'\sstyle="[^"]*"')


def csp_safe(html: str) -> str:
    """The partial without inline style attributes (the CSP blocks them): share bars drawn with
    ``style="width: N rem"`` become classes ``w0``..``w120`` (tenths of a rem, web.css)."""

    def bar(m: re.Match[str]) -> str:
        tenths = max(0, min(120, round(float(m.group(2)) * 10)))
        return f'{m.group(1)} w{tenths}"'

    return _STYLE.sub("", _BAR.sub(bar, html))


def split_before_timeline(body: Markup | None) -> tuple[Markup | None, Markup | None]:
    """The partial split where its list of inspections starts, so the chart can go above it."""
    if body is None:
        return None, None
    mark = '<section id="timeline">'
    i = body.find(mark)
    if i < 0:
        return body, Markup("")
    return Markup(body[:i]), Markup(body[i:])


def pdf_available() -> bool:
    if not shared_report_available():
        return False
    from evenhand.present import report

    return hasattr(report, "school_html") and hasattr(report, "html_to_pdf")


def school_pdf(data: dict[str, Any]) -> bytes:
    from evenhand.present.report import html_to_pdf, school_html

    return html_to_pdf(school_html(data))
