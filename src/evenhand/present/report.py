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

import base64
import datetime as dt
import gc
import html as html_text
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import polars as pl
from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from evenhand import __version__, maps
from evenhand.audit.charts import to_svg
from evenhand.audit.result import STAMP, Slot
from evenhand.core.warehouse import frame
from evenhand.present.pack_tables import parameter_rows, table_views, words
from evenhand.present.synthetic import stamp_outputs

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

#: Claims about something other than what an audit's first findings measure: the key finding
#: is the audit's finding (else its caveat) that names this topic. The timing audit answers
#: both the waiting claim (its first findings: publication delay) and the claim about the time
#: inspectors have (inspection length), which the files may not let it measure.
CLAIM_TOPICS: dict[str, str] = {CLAIMS[5][0]: "length"}
#: Key findings show each audit's first sentences only (the audit's own section has them all).
KEY_FINDINGS = 2
FILE_STEM = "evidence-pack"


# --- templates ------------------------------------------------------------------------------


#: the longest text any single value is shown at (pages, reports, PDFs); the full value stays in
#: the warehouse and the downloads. A 10 MB name in an input file made a 40 MB page and an 89 s PDF.
MAX_SHOWN = 2000


#: an audit's own texts (method, findings, caveats) are printed whole up to this length: they
#: are the package's writing, and a method cut at MAX_SHOWN would send a reader to a download
OWN_TEXT_MAX = 50_000


def own_text(text: str) -> Markup | str:
    """An audit's method, finding or caveat, escaped and marked as the package's own, so the
    cap for input values (:func:`cap_value`) does not cut it; past OWN_TEXT_MAX it is cut too."""
    return Markup(escape(text)) if len(text) <= OWN_TEXT_MAX else text


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
        auto_reload=False,  # package files: compiled once, not checked on disk at every page
    )
    env.globals["version"] = __version__
    env.globals["stamp"] = STAMP
    env.globals["synthetic"] = False
    env.filters["tenths"] = tenths
    env.filters["layout_title"] = maps.layout_title
    return env


def tenths(share: float | None) -> int:
    """A share (0-1) as a bar width class number: tenths of a rem on a 12 rem bar, 0-120
    (classes .eh-bar.wN, .eh-whisker.wN / .mlN in the stylesheets; no inline styles)."""
    return max(0, min(120, round(120 * float(share or 0))))


@cache
def stylesheet() -> str:
    static = resources.files("evenhand").joinpath("static")
    return "\n".join(static.joinpath(name).read_text(encoding="utf-8") for name in ("report.css", "bars.css"))


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


@cache
def _parsed_stylesheet() -> tuple[Any, Any]:
    """The report stylesheet parsed by WeasyPrint once per process (about 0.1 s a document),
    with the font configuration it was parsed for."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration
    fonts = FontConfiguration()
    return CSS(string=resolve_root_vars(stylesheet()), font_config=fonts), fonts


def resolve_root_vars(css: str) -> str:
    """The stylesheet with each ``var(--name)`` replaced by the value ``:root`` gives it (the
    same colours): WeasyPrint resolves a var() again for every element it applies to, about 3%
    of a school PDF's work. A var() with a fallback or a name :root does not set is kept."""
    root = re.search(r":root\s*\{([^}]*)\}", css)
    if root is None:
        return css
    values = {name: value.strip() for name, value in re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", root.group(1))}
    return re.sub(r"var\((--[\w-]+)\)", lambda m: values.get(m.group(1), m.group(0)), css)


_PDF_LOCK = threading.Lock()  # one WeasyPrint render at a time shares the parsed stylesheet and fonts


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while WeasyPrint renders, then one young
    collection of what the render left (decision 1730). A render keeps its boxes alive for its
    whole length, so with the collector on they survived the young collections into the old
    generation and set off a collection of the whole heap (every object the process holds,
    about 0.25 s) about once a render of a long report; paused, they are freed by one young
    collection after it (the same objects, a quarter to a third of the collector's time).
    Leaves the collector as it was when it was already off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
            gc.collect(0)


def html_to_pdf(html: str) -> bytes:
    """The PDF of an Evenhand HTML document, with WeasyPrint, fetching nothing. The inlined
    report stylesheet (render()) is given to WeasyPrint parsed once, not parsed again per
    document; the PDF is the same."""
    from weasyprint import HTML

    from evenhand.present import svg_text

    svg_text.install()  # chart labels drawn as one run each, not letter by letter (svg_text.py)
    inline = f"<style>{stylesheet()}</style>"
    with _PDF_LOCK, gc_paused():  # the document is garbage before the collection after it
        if inline in html:
            css, fonts = _parsed_stylesheet()
            pdf = HTML(string=html.replace(inline, "", 1), base_url=None,
                       url_fetcher=_refusing_fetcher()).write_pdf(stylesheets=[css], font_config=fonts)
        else:
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
    """An audit's Vega-Lite spec as a self-contained SVG (evenhand.audit.charts.to_svg)."""
    return to_svg(_chart_from_spec(spec))  # type: ignore[arg-type]


def chart_parts(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A stack of charts (``vconcat``, evenhand.audit.charts.stack) as its parts, each a stack
    of one (the first keeps the stack's title): each part is fitted to the printed page on its
    own, so a tall stack is not shrunk to unreadable type, and a page may break between parts."""
    parts = spec.get("vconcat")
    if not isinstance(parts, list) or len(parts) < 2:
        return [spec]
    top = {k: v for k, v in spec.items() if k not in ("vconcat", "title")}
    return [{**top, **({"title": spec["title"]} if i == 0 and "title" in spec else {}), "vconcat": [part]} for i, part in enumerate(parts)]


def _frame_words(d: dict[str, Any]) -> dict[str, Any]:
    return {k: ([words(x) for x in v] if isinstance(v, list) else words(v) if isinstance(v, str) else v) for k, v in d.items()}


def audit_view(slot: Slot, synthetic: bool = False) -> dict[str, Any]:
    """What ``_audit_section.html`` and ``_key_findings.html`` need from one audit."""
    r = slot.result
    if r is None:
        return {"name": slot.name, "title": slot.name.capitalize() + " (not available)", "available": False,
                "reason": slot.reason, "findings": [], "key_findings": [], "more_findings": 0}
    svgs: list[Markup] = []
    chart_error = ""
    if r.chart:
        try:
            svgs = [Markup(chart_svg(part)) for part in chart_parts(r.chart)]
        except Exception as e:
            chart_error = f"the chart could not be drawn ({type(e).__name__}: {e})."
    title = (r.chart or {}).get("title", "")
    tables = table_views(r.name, r.tables, str(title.get("text", "") if isinstance(title, dict) else title))
    for i, t in enumerate(tables):  # a landscape table is printed in the wide-tables annex, its section points to it
        t["anchor"] = f"wide-{r.name}-{t['key']}"
        # one note under a run of parts of one table (the grade-share tables), under its last part
        t["footnote"] = not t.get("part") or i == len(tables) - 1 or not tables[i + 1].get("part")
    figures = [{"label": words(f.label), "text": f.text()} for f in r.figures]
    return {
        "name": r.name,
        "title": r.title,
        "available": True,
        "question": r.question,
        "claim": r.claim,
        "method": own_text(words(r.method)),
        "findings": [own_text(words(f)) for f in r.findings],
        "key_findings": [own_text(words(f)) for f in r.findings[:KEY_FINDINGS]],
        "more_findings": max(0, len(r.findings) - KEY_FINDINGS),
        "figures": figures,
        "caveats": [own_text(words(c)) for c in r.caveats],
        "frames": [{"name": words(k), **_frame_words(f.to_dict())} for k, f in r.frames.items()],
        "small_n": [words(x) for x in r.small_n],
        "chart_svgs": svgs,
        "chart_error": chart_error,
        "tables": tables,
        "parameters": parameter_rows(r.parameters),
        "synthetic": synthetic,
        "reason": "",
    }


def _layout_title(layout: str | None) -> str:
    from evenhand import maps

    if not layout:
        return ""
    lay = maps.layouts().get(layout)
    return lay.title if lay else words(layout)


def provenance(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every input file of the build: path, layout, status, as-at date, rows and sha256."""
    df = frame(con, "SELECT path, layout, status, as_at, rows_read, sha256 FROM meta.files ORDER BY path")
    return [
        {"path": r["path"], "layout": _layout_title(r["layout"]), "status": r["status"],
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


def _on_topic(view: dict[str, Any], topic: str) -> dict[str, Any]:
    """The audit's view with, as key findings, its findings about ``topic``; where it has none,
    its figures about it; else its caveats about it, said as what the data cannot test."""
    if not view.get("available"):
        return view
    hits = [f for f in view["findings"] if topic in f.lower()]
    if not hits:  # no sentence about it: the audit's own figure on it, said once
        hits = [f"{f['label']}: {f['text']}." for f in view.get("figures", []) if topic in f["label"].lower()]
    if not hits:
        hits = [Markup("Cannot be tested from these files: {}").format(c) for c in view["caveats"] if topic in c.lower()]
    if not hits:
        hits = [f"The {view['title']} section states no finding about inspection {topic}."]
    return {**view, "key_findings": hits[:KEY_FINDINGS], "more_findings": max(0, len(view["findings"]) - len(hits[:KEY_FINDINGS]))}


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
        topic = CLAIM_TOPICS.get(claim)
        if topic:
            audits = [_on_topic(a, topic) for a in audits]
        claims.append({"claim": claim, "measures": measures, "audits": audits})
    # landscape tables go together after the provenance: a change of page size mid-section
    # would leave the portrait page before it part empty
    wide = [t | {"title": f"{v['title']}: {t['title']}"} for v in views for t in v.get("tables", []) if t["layout"] == "landscape" and t["shown"]]
    return render(
        "national.html",
        generated=generated,
        wide_tables=wide,
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
    html = national_html(slots, as_at, inputs, commands, synthetic, generated, coverage)  # synthetic: banner and page header from base.html
    paths = [out / f"{FILE_STEM}.html"]
    paths[0].write_text(html, encoding="utf-8")
    if pdf:
        p = out / f"{FILE_STEM}.pdf"
        p.write_bytes(html_to_pdf(html))
        paths.append(p)
    prov = out / "provenance.csv"
    pl.DataFrame(inputs, schema={k: pl.String for k in ("path", "layout", "status", "as_at", "rows", "sha256")}).write_csv(prov)
    paths.append(prov)
    for s in slots:
        if s.result is not None:
            paths += s.result.write(out / "tables")
    if synthetic:
        stamp_outputs([p for p in paths if p.suffix.lower() in (".csv", ".parquet", ".json")])
    return paths


# --- the school report ----------------------------------------------------------------------


#: The PDF's inspections table draws this many of the latest inspections in full (grades in
#: bold, one paragraph per judgement) and the older ones in small plain type (decision 1740).
PRINT_FULL_ROWS = 4


def school_html(data: dict[str, Any], generated: str | None = None, print_layout: bool = False) -> str:
    """The school report for ``school_report_data(...)``, with its timeline chart.
    ``print_layout``: the inspections table as the PDF draws it (school_pdf, decision 1740)."""
    from evenhand.present.school import expected_svg, timeline_svg

    svg = timeline_svg(data)
    exp = expected_svg(data)
    chart = svg_image if print_layout else Markup  # the expected-judgement chart (Vega-Lite's SVG) stays inline
    return render("school.html", generated=generated, s=data, timeline_svg=chart(svg) if svg else None,
                  expected_svg=Markup(exp) if exp else None, synthetic=bool(data.get("synthetic")),
                  print_layout=print_layout, print_full_rows=PRINT_FULL_ROWS)


def svg_image(svg: str) -> Markup:
    """An SVG chart as an ``<img>`` of inline data (the PDF's timeline, decision 1740): WeasyPrint
    draws it the same (same size, same text), but its markup skips the HTML parser and the
    document's style cascade (about a twentieth of a long school PDF's work); the alt text is
    the chart's title."""
    title = re.search(r"<title>(.*?)</title>", svg, re.DOTALL)
    alt = html_text.unescape(title.group(1)) if title else "Chart"
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return Markup(f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(alt)}">')


def school_pdf(data: dict[str, Any], generated: str | None = None) -> bytes:
    """The school report's PDF: its HTML in the print layout (the inspections table with fewer
    boxes for WeasyPrint, the same facts: decision 1740), rendered by html_to_pdf."""
    return html_to_pdf(school_html(data, generated=generated, print_layout=True))


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


def audit_folders(warehouse: Path) -> list[Path]:
    """Where `evenhand audit`, `report national`, `run` and `demo` put the audit results for a
    warehouse, nearest first: beside the warehouse file, and beside its folder (``out/audit``
    when the warehouse is ``out/warehouse/evenhand.duckdb``, as `demo` and `run` write them)."""
    here, up = warehouse.parent, warehouse.parent.parent
    return [here / "audit", here / "out" / "audit", up / "audit", up / "out" / "audit", here / "report", up / "report"]


def find_expected(warehouse: Path, con: duckdb.DuckDBPyConnection, audits_dir: Path | None = None,
                  shown: Callable[[Path], str] = str) -> tuple[pl.DataFrame | None, str]:
    """The intake audit's 'expected' table for this warehouse and why there is none: from
    ``audits_dir`` when given, else from the first of :func:`audit_folders` that holds it. A
    table written from another warehouse (its input files' SHA-256 not all in this one's
    meta.files) is not used."""
    folders = [audits_dir] if audits_dir is not None else audit_folders(warehouse)
    loaded = {str(r[0]) for r in con.execute("SELECT sha256 FROM meta.files WHERE status = 'loaded'").fetchall()}
    for folder in folders:
        table = read_expected(folder)
        if table is None:
            continue
        meta = next((p for p in (folder / "intake.json", folder / "tables" / "intake.json") if p.exists()), None)
        if meta is not None:
            import json

            used = {str(i.get("sha256")) for i in json.loads(meta.read_text(encoding="utf-8")).get("inputs", [])}
            if used - loaded:
                return None, (f"the intake audit results in {shown(folder)} were computed from other input files than this "
                              "warehouse's: run `evenhand audit` on this warehouse again")
        return table, ""
    where = shown(audits_dir) if audits_dir is not None else " or ".join(dict.fromkeys(shown(f) for f in folders[:2]))
    return None, (f"the intake audit's results were not found in {where}: run "
                  f"`evenhand audit --warehouse {shown(warehouse)} --out {shown(folders[0])}` (a few minutes), then this report again")


def read_expected(audits_dir: Path | None) -> pl.DataFrame | None:
    """The intake audit's 'expected' table written by `evenhand audit --out DIR`, if there
    (read once per process while the file stays the same: the dashboard asks on every page)."""
    if audits_dir is None:
        return None
    p = audits_dir / "intake__expected.parquet"
    if not p.exists():
        p = audits_dir / "tables" / "intake__expected.parquet"
    if not p.exists():
        return None
    st = p.stat()
    return _read_parquet(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _read_parquet(path: str, mtime_ns: int, size: int) -> pl.DataFrame:
    return pl.read_parquet(path)
