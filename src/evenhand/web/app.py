"""The dashboard application: ``create_app(warehouse, audits_dir=None) -> FastAPI``.

Read-only (see :mod:`evenhand.web.store`), every parameter validated, every template
autoescaped, security headers on every response (:mod:`evenhand.web.security`). Mistakes in a
request get a helpful 404 or 422 page, never a 500.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from evenhand import maps
from evenhand.present import tables as present_tables
from evenhand.present.report import environment
from evenhand.present.school import (
    contest,
    expected_svg,
    has_expected_chart,
    has_timeline,
    resolve_inspection,
    timeline_svg,
)
from evenhand.stats.estimate import Estimate
from evenhand.web import charts as web_charts
from evenhand.web import school as shared
from evenhand.web.security import SecurityHeaders
from evenhand.web.store import SEARCH_LIMIT, AuditPage, AuditStore, Store, clean_query, shown_path

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
# patterns are used with fullmatch: '$' alone would also accept a trailing newline ('109778%0a')
URN_RE = re.compile(r"[0-9]{1,7}")
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,40}")
#: ?inspection= on a school page: a start date (YYYY-MM-DD) or an event id (used with fullmatch)
INSPECTION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
log = logging.getLogger("evenhand.web")
#: audit tables shown as a grid too (earlier judgement by later judgement, per framework)
MATRIX_TABLES = frozenset({"matrices"})
EXPORT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")  # used with fullmatch


class PageError(Exception):
    """A request we can answer only with an explanation (404 or 422 page)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _environment() -> jinja2.Environment:
    """The documents' environment (evenhand.present.report.environment: one policy) with the
    dashboard's pages first and its own filters."""
    env = environment("web")
    env.filters["thousands"] = lambda v: f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v))
    env.filters["figure"] = figure_text
    env.filters["words"] = lambda v: " ".join(w[:1].upper() + w[1:] for w in str(v or "").split())
    env.filters["filesize"] = filesize
    return env


def figure_text(fig: dict[str, Any]) -> str:
    """An audit figure (Figure.to_dict) as '23.4% (95% CI 21.0% to 25.9%; n = 1,234)'."""
    from evenhand.audit.result import describe

    def f(key: str) -> float:
        v = fig.get(key)
        return float("nan") if v is None else float(v)

    try:
        est = Estimate(f("value"), f("low"), f("high"), int(fig.get("n") or 0), float(fig.get("level") or 0.95), str(fig.get("method") or ""))
        return describe(est, str(fig.get("unit") or "ratio"))
    except (TypeError, ValueError):
        return "n/a"


def create_app(warehouse: Path | str, audits_dir: Path | str | None = None, open_data: Path | str | None = None) -> FastAPI:
    """The dashboard for one warehouse file (opened read-only) and, optionally, a folder of
    audit results written by ``evenhand audit --out DIR`` (else audits run on demand) and the
    folder ``evenhand export --out DIR`` wrote (else it is looked for in the usual places)."""
    wh = Store(Path(warehouse))
    audits = AuditStore(wh, Path(audits_dir) if audits_dir else None)
    env = _environment()
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        wh.close()

    app = FastAPI(title="Evenhand", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.warehouse = wh
    app.state.audits = audits
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    here = Path(warehouse).resolve().parent
    # where `evenhand export --out DIR` output is looked for: the folder given (serve
    # --open-data), else beside the warehouse, its parent's out/open-data, or the command's
    # documented default folder; the first holding a datapackage.json wins
    if open_data is not None:
        export_candidates = [Path(open_data)]
    else:
        export_candidates = [here / "open-data", here / "export", here / "out" / "open-data", here.parent / "out" / "open-data", Path.cwd() / "out" / "open-data"]

    def page(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("audit_names", audits.names())
        ctx.setdefault("q", "")  # the search box on every page starts empty
        return HTMLResponse(env.get_template(template).render(**ctx), status_code=status)

    def error_page(status: int, title: str, message: str) -> HTMLResponse:
        return page("error.html", status=status, title=title, message=message, code=status)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return error_page(exc.status, exc.title, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(404, "Page not found", "There is no page at this address. Search for a school by name, URN or postcode, or start from the home page.")
        if exc.status_code == 405:
            page_405 = error_page(405, "Method not allowed", "This dashboard is read-only: pages answer GET and HEAD requests only.")
            page_405.headers["Allow"] = "GET, HEAD"
            return page_405
        return error_page(exc.status_code, "Request not understood", "The request could not be answered.")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_page(422, "Request not understood", "A parameter of this request is not valid. Check the address, or search for a school instead.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover - last resort
        return error_page(500, "Something went wrong", "The page could not be built. The problem has been logged; please try again or report it.")

    def parse_urn(urn: str) -> int:
        if not URN_RE.fullmatch(urn):
            raise PageError(404, "Not a URN", "A URN (unique reference number) is a number of up to seven digits, such as 109778. Search for the school by name or postcode instead.")
        return int(urn)

    def audit_name(name: str) -> str:
        if not NAME_RE.fullmatch(name) or name not in audits.names():
            raise PageError(404, "No such audit", f"The audits are: {', '.join(audits.names())}.")
        return name

    # --- pages ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        ready = [p for n in audits.names() if (p := audits.get(n, run=False)) is not None]
        build = {k: (shown_path(Path(v)) if k in PATH_KEYS else v) for k, v in wh.build_info().items()}
        return page("home.html", findings=ready, n_schools=wh.n_schools, build=build)

    def search_html(text: str, partial: bool) -> str:
        def make() -> str:
            hits = wh.search(text)
            suggestion = wh.suggest(text) if text and not hits else None
            ctx: dict[str, Any] = {
                "q": text, "hits": hits, "limit": SEARCH_LIMIT, "audit_names": audits.names(),
                "suggestion": suggestion, "suggested": wh.search(suggestion) if suggestion else [],
            }
            return str(env.get_template("_results.html" if partial else "search.html").render(**ctx))

        html: str = wh.searches.get((text, partial), make)
        return html

    @app.get("/search", response_class=HTMLResponse)
    async def search(request: Request, q: str = "") -> HTMLResponse:
        text = clean_query(q)
        partial = request.headers.get("hx-request") == "true"
        html = wh.searches.peek((text, partial))  # as-you-type prefixes repeat: cached answers skip the thread hop
        if html is None:
            html = await run_in_threadpool(search_html, text, partial)
        return HTMLResponse(html)

    def school_context(urn: int) -> dict[str, Any]:
        def make() -> dict[str, Any] | None:
            if not wh.eh.has_pages:  # a warehouse built by an older Evenhand: say so, on every school page
                raise PageError(503, "This warehouse needs rebuilding", "It was built by an older version of Evenhand, whose school pages this "
                                "version cannot read. Run evenhand build again, then reload this page.")
            got = wh.page(urn)  # the precomputed page: one lookup; the rest is labelling
            if got is None:
                return None
            page, h = got
            # the SVG is drawn only when the browser asks for it (/school/N/timeline.svg): the
            # school report's own timeline (evenhand.present.school), one chart for CLI and dashboard
            report = shared.report_data(wh, urn, audits.dir, history=h, page=page)
            return {"h": h, "has_chart": has_timeline(report), "report": report}

        got: dict[str, Any] | None = wh.cache.get(("school", urn), make)
        if got is None:
            raise PageError(404, "School not found", f"URN {urn} is not in this warehouse. Search for the school by name or postcode: it may have a new URN after becoming an academy.")
        return got

    def contested(ctx: dict[str, Any], urn: int, inspection: str) -> dict[str, Any]:
        """The report data with the named inspection's expected judgement first (``?inspection=``:
        an event id or a start date); a 404 page for an inspection that is not the school's."""
        if not inspection:
            return dict(ctx["report"])
        if not INSPECTION_RE.fullmatch(inspection) or resolve_inspection(ctx["report"]["timeline"], inspection) is None:
            graded = [t["start_date"] for t in ctx["report"]["timeline"] if t["kind"] == "graded" and t.get("start_date")]
            raise PageError(404, "Inspection not found", f"URN {urn} has no inspection {inspection[:40]!r}. Name one by its start date "
                            f"(YYYY-MM-DD) or event id; its graded inspections started on: {', '.join(graded) or 'none'}.")
        report = dict(ctx["report"])
        report["expected"] = contest(report["expected"], report["timeline"], inspection)
        return report

    def render_school(urn: int, inspection: str) -> str:
        """The school's dashboard page, built (not cached: see school_html)."""
        ctx = school_context(urn)
        report = contested(ctx, urn, inspection)
        h = ctx["h"]
        by_event: dict[str, list[dict[str, Any]]] = {}
        for c in h.get("context") or []:
            by_event.setdefault(str(c.get("event_id")), []).append(c)
        ctx_rows: list[dict[str, Any]] = []
        ctx_date = ""
        for ev in reversed(h.get("events") or []):
            if ev.get("event_id") in by_event:
                ctx_rows, ctx_date = by_event[ev["event_id"]][:200], str(ev.get("start_date") or "")
                break
        img = f"/school/{urn}/expected.svg" + (f"?inspection={inspection}" if inspection else "")
        body = shared.shared_body(report, expected_img=img if has_expected_chart(report) else None)
        head, tail = shared.split_before_timeline(body)
        return str(
            env.get_template("school.html").render(
                urn=urn, h=h, report_name=report["school"]["name"], has_chart=ctx["has_chart"], inspection=inspection,
                audit_names=audits.names(), ctx_rows=ctx_rows, ctx_date=ctx_date,
                shared_body=body, shared_head=head, shared_tail=tail,
            )
        )

    def school_html(urn: int, inspection: str = "") -> str:
        html: str = wh.cache.get(("school-html", urn, inspection), lambda: render_school(urn, inspection))
        return html

    def warm_up() -> None:
        """Build one school's page at start-up and throw it away (templates compiled, maps read,
        the pages' index and blocks in memory), so the first visitors of a news spike do not
        queue behind that one-off work; no school's page is left cached by it."""
        try:
            with wh.cursor() as cur:
                got = cur.execute("SELECT min(urn) FROM out.school_pages").fetchall()
            if not got or got[0][0] is None:
                return
            render_school(int(got[0][0]), "")
        except Exception as e:  # a warm-up that fails must not stop the dashboard: the page will say why
            log.warning("warm-up of the school page failed: %s", e)
        finally:
            wh.cache.clear()

    warm_up()

    @app.get("/school/{urn}", response_class=HTMLResponse)
    async def school(urn: str, inspection: str = "") -> HTMLResponse:
        # Built in the event loop, not a thread: a page is ~10 ms of Python (one indexed lookup,
        # labelling, templates), so threads would only take turns with the GIL, and the hop to
        # and from a thread cost more than the lookup. Pages are served first come, first
        # served; a news spike is spread over worker processes (web/server.py).
        n = parse_urn(urn)
        inspection = inspection.strip()
        return HTMLResponse(school_html(n, inspection))

    @app.get("/school/{urn}/expected.svg")
    def school_expected(urn: str, inspection: str = "") -> Response:
        n = parse_urn(urn)
        inspection = inspection.strip()
        report = contested(school_context(n), n, inspection)
        svg = wh.cache.get(("expected-svg", n, inspection), lambda: expected_svg(report))
        if svg is None:
            raise PageError(404, "No chart", "The intake model gives no expected judgement for this school here.")
        return Response(svg, media_type="image/svg+xml", headers={"cache-control": "public, max-age=3600"})

    @app.get("/school/{urn}/timeline.svg")
    def school_timeline(urn: str) -> Response:
        n = parse_urn(urn)
        ctx = school_context(n)
        svg = wh.cache.get(("svg", n), lambda: timeline_svg(ctx["report"]) if ctx["has_chart"] else None)
        if svg is None:
            raise PageError(404, "No chart", "This school has no graded inspection with an overall judgement to chart.")
        return Response(svg, media_type="image/svg+xml", headers={"cache-control": "public, max-age=3600"})

    @app.get("/school/{urn}/history.json")
    def school_json(urn: str) -> JSONResponse:
        n = parse_urn(urn)
        school_context(n)  # 404 for an unknown school
        # the full history JSON (with each event's context rows), as `evenhand history N --json`
        return JSONResponse(wh.cache.get(("history", n), lambda: wh.history(n)))

    @app.get("/school/{urn}/report.pdf")
    def school_pdf(urn: str, inspection: str = "") -> Response:
        n = parse_urn(urn)
        inspection = inspection.strip()
        report = contested(school_context(n), n, inspection)  # 404 for an unknown school or inspection
        pdf = wh.cache.get(("pdf", n, inspection), lambda: shared.school_pdf(report))
        return Response(pdf, media_type="application/pdf", headers={"content-disposition": f'attachment; filename="evenhand-school-{n}.pdf"'})

    @app.get("/audit/{name}", response_class=HTMLResponse)
    def audit(request: Request, name: str, run: int = 0, table: str = "main", sort: str = "", order: str = "asc", q: str = "") -> HTMLResponse:
        name = audit_name(name)
        if not run and not audits.ready(name):
            # the audit runs on demand: answer at once, and let htmx (or the link) start the run
            return page("audit_pending.html", name=name)
        ap = audits.get(name)
        if ap is None:
            # htmx does not swap error responses: give it a 200 whose #audit explains
            status = 200 if request.headers.get("hx-request") == "true" else 404
            return page("audit_missing.html", status=status, name=name, reason=audits.error(name), on_demand=audits.dir is None)
        keys = table_order(ap)
        if not NAME_RE.fullmatch(table) or table not in ap.tables:
            if table != "main":
                raise PageError(404, "No such table", f"The tables of this audit are: {', '.join(keys) or 'none'}.")
            table = keys[0] if keys else "main"
        if sort and not NAME_RE.fullmatch(sort):
            sort = ""
        text = clean_query(q)
        # draw the chart now (once), so the image is ready when the browser asks for it
        has_chart = audit_svg(name, ap) is not None
        frame = audit_frame(name, ap, table)
        view = present_tables.table_view(frame, sort=sort or None, descending=order == "desc", contains=text, table=f"{name}.{table}") if frame is not None else None
        matrices = present_tables.matrix_view(frame, "to_era", "from_label", "to_label") if frame is not None and table in MATRIX_TABLES else []
        has_regions = region_svg(name, ap) is not None
        return page(
            "audit.html", a=ap.data, name=name, tables=keys, table=table, view=view, matrices=matrices,
            has_chart=has_chart, has_regions=has_regions, table_labels={k: table_label(k) for k in keys},
            parameters=[(present_tables.humanise(k), parameter_text(v)) for k, v in sorted((ap.data.get("parameters") or {}).items())],
        )

    def table_order(ap: AuditPage) -> list[str]:
        declared = [str(k) for k in (ap.data.get("tables") or {}) if str(k) in ap.tables]
        keys = declared + sorted(k for k in ap.tables if k not in declared)
        return sorted(keys, key=lambda k: k != "main")  # the main table first, then as declared

    def audit_frame(name: str, ap: AuditPage, table: str) -> Any:
        return ap.tables.get(table)

    def drawn_svg(key: tuple[str, str], what: str, draw: Callable[[], str | None]) -> str | None:
        """A chart drawn once and cached; one that cannot be drawn is left out (the table
        carries the numbers), never a 500."""
        def make() -> str | None:
            try:
                return draw()
            except Exception:
                log.exception("%s could not be drawn", what)
                return None

        svg: str | None = wh.cache.get(key, make)
        return svg

    def region_svg(name: str, ap: AuditPage) -> str | None:
        frame = ap.tables.get("regions")
        return drawn_svg(("region-svg", name), f"the region chart of audit {name}",
                         lambda: None if frame is None else web_charts.region_svg(frame))

    @app.get("/audit/{name}/regions.svg")
    def audit_regions(name: str) -> Response:
        ap = _audit_or_404(audit_name(name))
        svg = region_svg(name, ap)
        if svg is None:
            raise PageError(404, "No chart", "This audit has no regional model to chart.")
        return Response(svg, media_type="image/svg+xml")

    def audit_svg(name: str, ap: AuditPage) -> str | None:
        spec = ap.data.get("chart")
        return drawn_svg(("audit-svg", name), f"the chart of audit {name}",
                         lambda: web_charts.spec_svg(spec) if spec else None)

    @app.get("/audit/{name}/chart.svg")
    def audit_chart(name: str) -> Response:
        ap = _audit_or_404(audit_name(name))
        svg = audit_svg(name, ap)
        if svg is None:
            raise PageError(404, "No chart", "This audit has no chart.")
        return Response(svg, media_type="image/svg+xml")

    @app.get("/audit/{name}/{table}.csv")
    def audit_csv(name: str, table: str) -> Response:
        ap = _audit_or_404(audit_name(name))
        if not NAME_RE.fullmatch(table) or table not in ap.tables:
            raise PageError(404, "No such table", f"The tables of this audit are: {', '.join(sorted(ap.tables)) or 'none'}.")
        return Response(ap.csv(table), media_type="text/csv; charset=utf-8", headers={"content-disposition": f'attachment; filename="{name}__{table}.csv"'})

    def _audit_or_404(name: str) -> AuditPage:
        ap = audits.get(name)
        if ap is None:
            raise PageError(404, "Audit not available", audits.error(name) or "This audit has no result yet.")
        return ap

    def export_dir() -> Path | None:
        return next((d for d in export_candidates if (d / "datapackage.json").is_file()), None)

    def export_files() -> dict[str, Path]:
        """Downloadable export files by relative path: top level and data/ (nothing else)."""
        root = export_dir()
        if root is None:
            return {}
        found: dict[str, Path] = {}
        top = root.resolve()
        for folder, prefix in ((root, ""), (root / "data", "data/")):
            if folder.is_dir() and not folder.is_symlink():  # never follow a link out of the folder
                for p in sorted(folder.iterdir()):
                    if (p.is_file() and not p.is_symlink() and EXPORT_NAME_RE.fullmatch(p.name)
                            and p.resolve().is_relative_to(top)):
                        found[prefix + p.name] = p
        return found

    @app.get("/data", response_class=HTMLResponse)
    def data() -> HTMLResponse:
        files = wh.files()
        root = export_dir()
        exports = [(k, p.stat().st_size) for k, p in export_files().items()]
        looked = ", ".join(dict.fromkeys(shown_path(d) for d in export_candidates))  # each place said once, as shown
        build = {k: (shown_path(Path(v)) if k in PATH_KEYS else v) for k, v in wh.build_info().items()}
        return page("data.html", files=files, build=build, exports=exports, export_root=shown_path(root) if root else None,
                    export_looked=looked, datasette="evenhand.db" in {Path(k).name for k in export_files()})

    @app.get("/data/export/{filename:path}")
    def export(filename: str) -> Response:
        allowed = export_files()
        if filename not in allowed:
            raise PageError(404, "No such file", "Only the files listed on the data page can be downloaded.")
        return FileResponse(allowed[filename], filename=Path(filename).name)

    @app.get("/methods", response_class=HTMLResponse)
    def methods() -> HTMLResponse:
        ready = {n: p for n in audits.names() if (p := audits.get(n, run=False)) is not None}
        return page("methods.html", ready=ready)

    @app.get("/health")
    async def health() -> JSONResponse:  # no query: in the event loop
        try:
            return JSONResponse(wh.health())
        except Exception as e:  # the one place a failure is the answer
            return JSONResponse({"status": "error", "error": type(e).__name__}, status_code=503)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/robots.txt")
    def robots() -> Response:
        return Response("User-agent: *\nAllow: /\n", media_type="text/plain")

    return app


#: meta.build keys that hold a local path (shown without the folders above it)
PATH_KEYS = frozenset({"raw", "raw_dir", "warehouse", "audits", "out"})


def filesize(n: int | None) -> str:
    """Bytes as people read them: '1.2 MB'."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size):,} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{n:,} bytes"


def table_label(key: str) -> str:
    """An audit table's key as a tab label: 'cliff_edges' -> 'Cliff edges', 'main' -> 'Main table'."""
    return "Main table" if key == "main" else present_tables.humanise(key)


def parameter_text(v: Any) -> str:
    """An audit parameter in words (no Python literals): lists joined, mappings as 'a: b'."""
    if isinstance(v, dict):
        eras = {e.era for e in maps.eras()}
        return "; ".join(f"{present_tables.value_label('era' if k in eras else 'label', k)}: {parameter_text(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(parameter_text(x) for x in v)
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str) and v in {e.era for e in maps.eras()}:
        return present_tables.value_label("era", v)
    return str(v).replace("_", " ") if isinstance(v, str) and " " not in v and "_" in v and not v[:1].isdigit() else str(v)


def fmt_number(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,}"
