"""The national evidence pack (HTML, PDF, tables as CSV and Parquet) and the rendering
machinery the school report and the dashboard share.

The pack renders whatever audits exist: an audit whose module is missing (or fails) gets a
visible 'not available' box, never a number. Templates live in ``evenhand/templates``
(Jinja2, autoescape on): ``base.html`` and partials (``_audit_section.html``,
``_key_findings.html``, ``_provenance.html``, ``_school_body.html``, ``_not_available.html``)
that the dashboard can include. The stylesheet is ``evenhand/static/report.css`` (local fonts
only), inlined so each HTML file stands alone.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import polars as pl
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from evenhand import __version__
from evenhand.audit.result import STAMP, Slot
from evenhand.core.warehouse import frame
from evenhand.present.charts import to_svg

#: The public claims (DESIGN section 1), what Evenhand measures, and the audits that answer.
CLAIMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "[judgements] more closely correlate to the socio-economic intake of the school rather than its effectiveness",
        "grade by deprivation (IDACI quintile, % free school meals), with and without effectiveness measures in the model",
        ("intake",),
    ),
    (
        "limited evidence of reliability, too much variability between inspection teams",
        "stability of consecutive judgements, cliff-edge drops, regional variation after controls, agreement between sub-judgements",
        ("consistency",),
    ),
    (
        "gaps in safeguarding administration [are used] to fail a school that is performing well",
        "safeguarding-limited judgements: inadequate overall or in leadership where safeguarding was ineffective but education was good or better",
        ("safeguarding",),
    ),
    (
        "little or no weighting is given to the very different budgets schools receive",
        "grade by income and spending per pupil, controlled",
        ("resources",),
    ),
    (
        "high-stakes, cliff-edged single-word grades; heads left waiting for reports",
        "publication delay (working days) by grade and era; age of each school's latest grade; what follows an inadequate grade",
        ("timing", "consequences"),
    ),
    (
        "lack of time inspectors have to substantiate their evidence",
        "inspection length (start to end date) by type, era and outcome",
        ("timing",),
    ),
    (
        "[since 2024 the system has changed:] did the reforms change any of the above?",
        "the same measures under each framework, side by side",
        ("frameworks",),
    ),
)

TABLE_ROWS_SHOWN = 40
#: Tables longer than this (per-school lists, e.g. expected judgements) are not printed at all:
#: their first rows would say nothing; the CSV and Parquet beside the pack hold them.
TABLE_ROWS_PRINTABLE = 200
KEY_FIGURES = 2
#: Key findings show each audit's first sentences only (the audit's own section has them all).
KEY_FINDINGS = 2
FILE_STEM = "evidence-pack"


# --- templates ------------------------------------------------------------------------------


#: the longest text any single value is shown at (pages, reports, PDFs); the full value stays in
#: the warehouse and the downloads. A 10 MB name in an input file made a 40 MB page and an 89 s PDF.
MAX_SHOWN = 2000


def cap_value(value: Any) -> Any:
    """Jinja ``finalize``: a plain text value over MAX_SHOWN characters is cut, saying so.
    Markup (the stylesheet, charts, rendered partials) is the package's own and passes."""
    if isinstance(value, str) and not isinstance(value, Markup) and len(value) > MAX_SHOWN:
        return value[:MAX_SHOWN] + f"… [cut: {len(value):,} characters in all; see the data download]"
    return value


@cache
def environment(pages: str | None = None) -> Environment:
    """The one Jinja2 environment policy for every Evenhand document and page: autoescape on,
    strict undefined (a missing value is an error, never a blank), long values capped.
    ``pages="web"`` looks in templates/web/ first (the dashboard's pages), then templates/."""
    loaders = [PackageLoader("evenhand", f"templates/{pages}")] if pages else []
    env = Environment(
        loader=ChoiceLoader([*loaders, PackageLoader("evenhand", "templates")]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=cap_value,
    )
    env.globals["version"] = __version__
    return env


@cache
def stylesheet() -> str:
    return resources.files("evenhand").joinpath("static/report.css").read_text(encoding="utf-8")


def render(template: str, generated: str | None = None, **context: Any) -> str:
    """Render ``template`` with the stylesheet inlined; ``generated``: the generation time text."""
    gen = generated or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return environment().get_template(template).render(css=Markup(stylesheet()), generated=gen, **context)


# --- PDF ------------------------------------------------------------------------------------


def _refusing_fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class OfflineFetcher(URLFetcher):  # type: ignore[misc]
        """Fetches nothing but inline ``data:`` URLs: the PDF never touches the network or disk."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise ValueError(f"Evenhand renders offline: refused to fetch {url}")

    return OfflineFetcher()


def html_to_pdf(html: str) -> bytes:
    """The PDF of an Evenhand HTML document, with WeasyPrint, fetching nothing."""
    from weasyprint import HTML

    pdf = HTML(string=html, base_url=None, url_fetcher=_refusing_fetcher()).write_pdf()
    assert pdf is not None
    return bytes(pdf)


# --- audits ---------------------------------------------------------------------------------


def _chart_from_spec(spec: Mapping[str, Any]) -> alt.TopLevelMixin:
    kinds: list[tuple[str, type[Any]]] = [
        ("layer", alt.LayerChart), ("hconcat", alt.HConcatChart), ("vconcat", alt.VConcatChart),
        ("concat", alt.ConcatChart), ("facet", alt.FacetChart),
    ]
    for key, cls in kinds:
        if key in spec and (key != "facet" or "spec" in spec):
            return cls.from_dict(dict(spec), validate=False)  # type: ignore[no-any-return]
    return alt.Chart.from_dict(dict(spec), validate=False)


def chart_svg(spec: Mapping[str, Any]) -> str:
    """An audit's Vega-Lite spec as a self-contained SVG (evenhand.present.charts.to_svg)."""
    return to_svg(_chart_from_spec(spec))  # type: ignore[arg-type]


def _cell(v: Any) -> dict[str, Any]:
    if v is None:
        return {"text": "", "num": False}
    if isinstance(v, bool):
        return {"text": "yes" if v else "no", "num": False}
    if isinstance(v, int):
        return {"text": f"{v:,}", "num": True}
    if isinstance(v, float):
        if math.isnan(v):
            return {"text": "n/a", "num": True}
        return {"text": f"{v:,.3g}" if abs(v) < 1 else f"{v:,.2f}", "num": True}
    if isinstance(v, dt.date):
        return {"text": v.isoformat(), "num": False}
    if isinstance(v, list | tuple):
        return {"text": ", ".join(str(x) for x in v), "num": False}
    return {"text": str(v), "num": False}


def audit_view(slot: Slot, synthetic: bool = False) -> dict[str, Any]:
    """What ``_audit_section.html`` and ``_key_findings.html`` need from one audit."""
    r = slot.result
    if r is None:
        return {"name": slot.name, "title": slot.name.capitalize() + " (not available)", "available": False,
                "reason": slot.reason, "key_figures": [], "findings": [], "key_findings": [], "more_findings": 0}
    svg: Markup | None = None
    chart_error = ""
    if r.chart:
        try:
            svg = Markup(chart_svg(r.chart))
        except Exception as e:
            chart_error = f"the chart could not be drawn ({type(e).__name__}: {e})."
    tables = []
    for key, df in r.tables.items():
        shown = df.head(TABLE_ROWS_SHOWN if df.height <= TABLE_ROWS_PRINTABLE else 0)
        tables.append({
            "key": key,
            "columns": df.columns,
            "rows": [[_cell(v) for v in row] for row in shown.iter_rows()],
            "shown": shown.height,
            "total": df.height,
            "csv": f"tables/{r.name}__{key}.csv",
            "parquet": f"tables/{r.name}__{key}.parquet",
        })
    figures = [{"label": f.label, "text": f.text()} for f in r.figures]
    return {
        "name": r.name,
        "title": r.title,
        "available": True,
        "question": r.question,
        "claim": r.claim,
        "method": r.method,
        "findings": list(r.findings),
        "key_findings": list(r.findings[:KEY_FINDINGS]),
        "more_findings": max(0, len(r.findings) - KEY_FINDINGS),
        "figures": figures,
        "key_figures": figures[:KEY_FIGURES],
        "caveats": list(r.caveats),
        "frames": [{"name": k, **f.to_dict()} for k, f in r.frames.items()],
        "small_n": list(r.small_n),
        "chart_svg": svg,
        "chart_error": chart_error,
        "tables": tables,
        "parameters": sorted((str(k), str(v)) for k, v in r.parameters.items()),
        "synthetic": synthetic,
        "reason": "",
    }


def provenance(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every input file of the build: path, layout, status, as-at date, rows and sha256."""
    df = frame(con, "SELECT path, layout, status, as_at, rows_read, sha256 FROM meta.files ORDER BY path")
    return [
        {"path": r["path"], "layout": r["layout"], "status": r["status"],
         "as_at": r["as_at"].isoformat() if r["as_at"] else None,
         "rows": f"{r['rows_read']:,}" if r["rows_read"] is not None else "", "sha256": r["sha256"]}
        for r in df.iter_rows(named=True)
    ]


def reproduce_commands(
    warehouse: str, as_at: dt.date, out: str, raw: str | None = None, lenient: bool = False
) -> list[str]:
    return [
        f"evenhand build --raw {raw or '<the folder of the input files listed above>'} --warehouse {warehouse}"
        + (" --lenient" if lenient else ""),
        f"evenhand report national --as-at {as_at.isoformat()} --warehouse {warehouse} --out {out}",
    ]


def _date_text(d: dt.date) -> str:
    return f"{d.day} {d.strftime('%B %Y')}"


def national_html(
    slots: Sequence[Slot],
    as_at: dt.date,
    inputs: list[dict[str, Any]],
    commands: list[str],
    synthetic: bool = False,
    generated: str | None = None,
    coverage: str = "England",
) -> str:
    """The evidence pack's HTML; ``coverage`` is what the as-at file covers (out.snapshots):
    a pack of a file that is not national says so in its title."""
    views = [audit_view(s, synthetic) for s in slots]
    by_name = {v["name"]: v for v in views}
    claims = []
    for claim, measures, names in CLAIMS:
        audits = [by_name.get(n) or audit_view(Slot(n, None, f"The {n} audit was not run for this pack.")) for n in names]
        claims.append({"claim": claim, "measures": measures, "audits": audits})
    return render(
        "national.html",
        generated=generated,
        audits=views,
        claims=claims,
        as_at=as_at.isoformat(),
        as_at_text=_date_text(as_at),
        coverage=coverage,
        inputs=inputs,
        commands=commands,
        synthetic=synthetic,
    )


def write_national(
    out: Path,
    slots: Sequence[Slot],
    as_at: dt.date,
    inputs: list[dict[str, Any]],
    commands: list[str],
    synthetic: bool = False,
    pdf: bool = True,
    generated: str | None = None,
    coverage: str = "England",
) -> list[Path]:
    """Write evidence-pack.html, evidence-pack.pdf and tables/<audit>__<table>.csv|parquet."""
    out.mkdir(parents=True, exist_ok=True)
    html = national_html(slots, as_at, inputs, commands, synthetic, generated, coverage)
    if synthetic:
        html = stamp_html(html)
    paths = [out / f"{FILE_STEM}.html"]
    paths[0].write_text(html, encoding="utf-8")
    if pdf:
        p = out / f"{FILE_STEM}.pdf"
        p.write_bytes(html_to_pdf(html))
        paths.append(p)
    for s in slots:
        if s.result is not None:
            paths += s.result.write(out / "tables")
    return paths


def stamp_html(html: str) -> str:
    """The synthetic stamp as a banner at the top of the page (evenhand demo's outputs)."""
    banner = f'<div role="alert" class="eh-synthetic-banner">{STAMP}</div>'
    if banner in html:
        return html
    at = html.find(">", html.find("<body")) + 1 if "<body" in html else 0
    return html[:at] + banner + html[at:]


# --- the school report ----------------------------------------------------------------------


def school_html(data: dict[str, Any], generated: str | None = None) -> str:
    """The school report for ``school_report_data(...)``."""
    return render("school.html", generated=generated, s=data)


_EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*([^"'\s>]+)""", re.IGNORECASE)
OFFICIAL_HOSTS = (
    "https://www.gov.uk/", "https://gov.uk/", "https://reports.ofsted.gov.uk/", "https://www.ofsted.gov.uk/",
    "https://get-information-schools.service.gov.uk", "https://www.compare-school-performance.service.gov.uk",
    "https://explore-education-statistics.service.gov.uk", "https://www.nationalarchives.gov.uk/doc/open-government-licence/",
)


def external_references(html: str) -> list[str]:
    """Every src/href in ``html`` that is not an in-page anchor, inline data or an official source."""
    bad = []
    for url in _EXTERNAL.findall(html):
        if url.startswith("#") or url.startswith("data:"):
            continue
        if url.startswith(OFFICIAL_HOSTS):
            continue
        bad.append(url)
    return bad


def read_expected(audits_dir: Path | None) -> pl.DataFrame | None:
    """The intake audit's 'expected' table written by `evenhand audit --out DIR`, if there."""
    if audits_dir is None:
        return None
    p = audits_dir / "intake__expected.parquet"
    if not p.exists():
        p = audits_dir / "tables" / "intake__expected.parquet"
    return pl.read_parquet(p) if p.exists() else None
