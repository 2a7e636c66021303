"""The school PDF as its reader sees it after the speed work (issue 13): chart labels drawn as
one run each at the place WeasyPrint's letter-by-letter drawing puts them, text the PDF route
leaves to WeasyPrint untouched, the judgements' bullets where an outside marker sits, the
inspections table at its fixed column widths and inside the page's margins; the PDF's print
layout (decision 1740) shows every fact of every inspection the screen layout shows, the
timeline drawn from an image where the inline chart was."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from report_fixture import FROZEN, build_fixture_warehouse
from test_pack_layout import past_right_margin

from evenhand.core.warehouse import connect
from evenhand.present import report, svg_text
from evenhand.present.report import (
    _parsed_stylesheet,
    gc_paused,
    html_to_pdf,
    render,
    resolve_root_vars,
    school_html,
    school_pdf,
    stylesheet,
    svg_image,
)
from evenhand.present.school import school_report_data, timeline_svg

LABELS_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" viewBox="0 0 400 120" font-family="DejaVu Sans, Verdana, sans-serif">
<text x="10" y="20" font-size="15" text-anchor="start" font-weight="bold" fill="#1A1A1A">Graded inspections over time</text>
<text x="200" y="50" font-size="10" text-anchor="middle" fill="#404040">AVA Type 2016</text>
<text x="390" y="80" font-size="11" text-anchor="end" fill="#1A1A1A">Requires improvement / Satisfactory</text>
</svg>"""

PER_LETTER_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" viewBox="0 0 400 120" font-family="DejaVu Sans">
<text x="10 30 50" y="20" font-size="12">abc</text>
<text x="10" y="60" dx="0 4 8" font-size="12">def</text>
<text x="10" y="90" letter-spacing="3" font-size="12">spaced</text>
</svg>"""


def shows(pdf: bytes) -> list[tuple[str, float, float]]:
    """Every word of the PDF with where it starts (x, y of its box in points; poppler's
    pdftotext, which follows the charts' form XObjects), in reading order."""
    return [(w, x0, y) for w, x0, _, y in boxes(pdf)]


def boxes(pdf: bytes) -> list[tuple[str, float, float, float]]:
    """Every word of the PDF: text, left and right x, top y (points)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return [(html.unescape(w), round(float(x0), 3), round(float(x1), 3), round(float(y), 3))
            for x0, y, x1, w in re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<', out)]


def text_operators(pdf: bytes) -> int:
    """How many text-showing operators (Tj, TJ) the PDF's streams hold."""
    reader = PdfReader(io.BytesIO(pdf))
    numbers = {n for table in reader.xref.values() for n in table} | set(reader.xref_objStm)
    count = 0
    for number in sorted(numbers):
        obj = reader.get_object(number)
        if obj is not None and hasattr(obj, "get_data"):
            count += len(re.findall(rb"[\])]\s*T[Jj]\b", obj.get_data()))
    return count


def letter_by_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeasyPrint's own SVG text drawing for the rest of the test."""
    import weasyprint.svg as wsvg

    svg_text.install()
    original = svg_text._INSTALLED["original"]
    monkeypatch.setitem(wsvg.TAGS, "text", original)
    monkeypatch.setitem(wsvg.TAGS, "tspan", original)
    monkeypatch.setattr(wsvg, "text", original)


def page(svg: str) -> str:
    return f"<!DOCTYPE html><html><body><figure>{svg}</figure></body></html>"


def test_chart_labels_are_one_run_each_where_the_letters_were(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_pdf = html_to_pdf(page(LABELS_SVG))
    with monkeypatch.context() as m:
        letter_by_letter(m)
        slow_pdf = html_to_pdf(page(LABELS_SVG))
    labels = ["Graded inspections over time", "AVA Type 2016", "Requires improvement / Satisfactory"]
    assert text_operators(fast_pdf) == len(labels)  # one run of glyphs per label
    assert text_operators(slow_pdf) == sum(len(label.replace(" ", "")) for label in labels)  # WeasyPrint's own: one per letter
    fast, slow = boxes(fast_pdf), boxes(slow_pdf)
    assert [w for w, *_ in fast] == [w for w, *_ in slow] == " ".join(labels).split()
    for label, anchor in zip(labels, ("start", "middle", "end"), strict=True):
        ours, theirs = ([b for b in bs if b[0] in label.split()] for bs in (fast, slow))
        assert {round(y) for *_, y in ours} == {round(y) for *_, y in theirs}  # the same line
        start_a, end_a, start_b, end_b = ours[0][1], ours[-1][2], theirs[0][1], theirs[-1][2]
        # the anchored point is where WeasyPrint puts it; the font's kerning (AV, VA, Ty) may
        # make a label a point narrower than its letters laid out one by one
        anchored = {"start": (start_a, start_b), "middle": ((start_a + end_a) / 2, (start_b + end_b) / 2), "end": (end_a, end_b)}
        assert abs(anchored[anchor][0] - anchored[anchor][1]) < 0.2, (label, anchor)
        assert abs((end_a - start_a) - (end_b - start_b)) < 2.5, label


def test_text_placed_letter_by_letter_is_left_to_weasyprint(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = shows(html_to_pdf(page(PER_LETTER_SVG)))
    with monkeypatch.context() as m:
        letter_by_letter(m)
        theirs = shows(html_to_pdf(page(PER_LETTER_SVG)))
    assert ours == theirs
    assert text_operators(html_to_pdf(page(PER_LETTER_SVG))) == len("abcdefspaced")


def test_install_leaves_a_different_weasyprint_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import weasyprint.svg as wsvg

    def other(svg: Any, node: Any, font_size: float) -> None:
        raise AssertionError("not called")

    monkeypatch.setattr(svg_text, "_INSTALLED", {})
    monkeypatch.setitem(wsvg.TAGS, "text", other)
    assert svg_text.install() is False
    assert wsvg.TAGS["text"] is other
    assert svg_text._INSTALLED == {}


def test_simple_means_one_place_and_no_per_letter_attribute() -> None:
    from xml.etree import ElementTree

    def node(xml: str) -> Any:
        element = ElementTree.fromstring(xml)

        class Node:
            text = element.text
            attrib = element.attrib

        return Node()

    assert svg_text.simple(node('<text x="1" y="2">ab</text>'))
    assert svg_text.simple(node("<text>ab</text>"))
    assert not svg_text.simple(node('<text x="1 5" y="2">ab</text>'))
    assert not svg_text.simple(node('<text x="1" y="2" rotate="30">ab</text>'))
    assert not svg_text.simple(node('<text x="1" y="2" textLength="40">ab</text>'))
    assert not svg_text.simple(node('<text x="1" y="2"></text>'))


BULLETS = """<article class="eh-school"><table class="eh-timeline"><thead><tr><th>started</th><th>published</th><th>inspection</th><th>judgements</th></tr></thead>
<tbody><tr><td>1 May 2020</td><td>2 June 2020</td><td>Graded inspection</td><td><ul class="eh-judgements">
<li>Overall effectiveness: <strong>Requires improvement</strong> <span class="eh-scale">[4-point]</span></li>
<li>Leadership and management: <strong>Good</strong> <span class="eh-scale">[4-point]</span></li>
<li>Quality of education, a much longer area name that wraps: <strong>Good</strong></li></ul></td></tr></tbody></table>
<section id="caveats"><h2>Caveats</h2><ul><li>A caveat long enough to wrap onto a second line of the page, so that its hanging indent is
checked as well as its bullet, which sits in the margin of the list.</li><li>A short one.</li></ul>
<ul class="eh-small"><li>shared/data/some_file.csv (inspections)</li></ul></section></article>"""


def test_judgement_bullets_sit_where_an_outside_marker_does() -> None:
    inside = html_to_pdf(render("base.html", generated=FROZEN).replace("<footer>", BULLETS + "<footer>", 1))
    outside_rule = "<style>article.eh-school ul > li { list-style-position: outside !important; text-indent: 0 !important; }</style>"
    outside = html_to_pdf(render("base.html", generated=FROZEN).replace("</head>", outside_rule + "</head>", 1)
                          .replace("<footer>", BULLETS + "<footer>", 1))
    a, b = sorted(shows(inside), key=lambda s: (s[2], s[1])), sorted(shows(outside), key=lambda s: (s[2], s[1]))
    assert [w for w, _, _ in a] == [w for w, _, _ in b]
    assert [w for w, _, _ in a].count("•") == 6
    for (word, xa, ya), (_, xb, yb) in zip(a, b, strict=True):
        assert abs(xa - xb) < 0.05 and abs(ya - yb) < 0.05, word


def test_pdf_stylesheet_has_the_root_colours_in_place_of_var() -> None:
    css = ":root { --ink: #1a1a1a; --rule: #c8c8c8; } th { border-bottom: 1px solid var(--rule); color: var(--ink); }"
    assert resolve_root_vars(css).endswith("th { border-bottom: 1px solid #c8c8c8; color: #1a1a1a; }")
    # a fallback or a name :root does not set is left to the renderer
    assert resolve_root_vars("p { color: var(--ink, red); background: var(--none); }") == "p { color: var(--ink, red); background: var(--none); }"
    assert resolve_root_vars(":root { --a: red; } p { color: var(--a, blue); border-color: var(--b); }").endswith("p { color: var(--a, blue); border-color: var(--b); }")
    assert "var(" not in resolve_root_vars(stylesheet())


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_warehouse(tmp_path_factory.mktemp("school_pdf"))


def school_data(warehouse: Path, urn: int) -> dict[str, Any]:
    con = connect(warehouse, read_only=True)
    try:
        return school_report_data(con, urn)
    finally:
        con.close()


def school_page(warehouse: Path, urn: int, print_layout: bool = True) -> str:
    """The HTML the school's PDF is made from (school_pdf), or with ``print_layout=False`` the report's HTML."""
    return school_html(school_data(warehouse, urn), generated=FROZEN, print_layout=print_layout)


def test_school_pdf_stays_inside_the_margins(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for full in (report.PRINT_FULL_ROWS, 1):  # 1: the older inspections' compact rows too
        monkeypatch.setattr(report, "PRINT_FULL_ROWS", full)
        for urn in (109778, 100001, 100010):
            assert past_right_margin(school_pdf(school_data(warehouse, urn), generated=FROZEN)) == [], (urn, full)


def row_texts(html: str) -> list[str]:
    """The text WeasyPrint lays out in each body row of the inspections table, in order, without
    whitespace (a row split over two pages is one row; a wrapped phrase still matches)."""
    from weasyprint import HTML

    css, fonts = _parsed_stylesheet()
    doc = HTML(string=html.replace(f"<style>{stylesheet()}</style>", "", 1), base_url=None).render(
        stylesheets=[css], font_config=fonts)
    rows: dict[Any, list[str]] = {}

    def walk(box: Any, table: bool, row: Any) -> None:
        kind = type(box).__name__
        if kind == "TableBox" and "eh-timeline" in (box.element.get("class") or ""):
            table = True
        if table and kind == "TableRowGroupBox" and box.element.tag != "tbody":
            return  # the header, repeated on each page
        if table and kind == "TableRowBox":
            row = box.element
            rows.setdefault(row, [])
        if row is not None and kind == "TextBox":
            rows[row].append(box.text)
        for child in getattr(box, "children", None) or []:
            walk(child, table, row)

    for p in doc.pages:
        walk(p._page_box, False, None)
    return [re.sub(r"\s+", "", "".join(parts)) for parts in rows.values()]


def pdf_words(pdf: bytes) -> list[str]:
    """Every word of the PDF's text (poppler's pdftotext)."""
    return [w for w, _, _ in shows(pdf)]


def words_of(text: str) -> list[str]:
    """Words without the punctuation between them (a line may break after a hyphen)."""
    return [w for w in re.split(r"[\s;,-]+", text) if w]


def inspection_facts(e: dict[str, Any]) -> list[str]:
    """Every fact the inspections table shows for one inspection, as the reader reads it."""
    facts = [e["start_text"], e["publication_text"], e["kind_label"], e["era_label"]]
    if e["inspection_type"]:
        facts.append(e["inspection_type"])
    if e["length"]:
        n, w = e["length"]["days"], e["length"]["working_days"]
        facts.append(f"to {e['end_text']}: {n} day{'s' if n != 1 else ''} on site, {w} working day{'s' if w != 1 else ''}")
    if e["delay"]:
        facts.append(f"{e['delay']['working_days']} working days after the {e['delay']['from']}")
    if e["late"]:
        facts.append(f"beyond the {e['target_working_days']}-day target")
    if e["other_urn"]:
        facts.append(f"URN {e['urn']}" + (" (predecessor)" if e["predecessor"] else ""))
    if e["category_label"]:
        facts.append(e["category_label"])
    if e["safeguarding_limited"]:
        facts.append("safeguarding-limited")
    if e["cliff_edge"]:
        facts.append("cliff-edge drop")
    facts += [f"{j['area_label']}: {j['label']}" for j in e["judgements"]] or ["no judgement recorded"]
    return facts


def with_every_kind_of_row(data: dict[str, Any]) -> dict[str, Any]:
    """The fixture school's timeline with each feature a row can carry: a predecessor's URN, days
    on site, a late report, a category of concern, both flags, a judgement on a second scale."""
    tl = [dict(e, judgements=[dict(j) for j in e["judgements"]]) for e in data["timeline"]]
    first, last = tl[0], tl[-1]
    first.update(other_urn=True, urn=100999, predecessor=True, late=True, target_working_days=19,
                 length={"days": 2, "working_days": 2}, end_text="2 May 2001", category_label="Special measures",
                 safeguarding_limited=True, cliff_edge=True)
    last["judgements"].append({"area": "x", "area_label": "Inclusion", "label": "Expected standard",
                               "code": "3", "scale": "x", "scale_label": "report-card 5-point", "graded": True})
    return dict(data, timeline=tl)


def test_the_pdf_shows_every_fact_of_every_inspection(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PDF's print layout (decision 1740: plain marked text for tags, the scale once per
    inspection, older inspections in small plain type) loses nothing the report shows: every
    date, length, delay, URN, category, flag and judgement of every inspection is laid out in
    that inspection's row, in full rows and in compact ones, with each inspection's scale, once or
    beside a judgement on another scale; and every word of them is in the PDF's text."""
    for urn in (109778, 100001, 100010):
        data = with_every_kind_of_row(school_data(warehouse, urn))
        for full in (report.PRINT_FULL_ROWS, 1, 0):  # 0: every row compact; 1: the latest full
            monkeypatch.setattr(report, "PRINT_FULL_ROWS", full)
            html = school_html(data, generated=FROZEN, print_layout=True)
            rows = row_texts(html)
            assert len(rows) == len(data["timeline"]), (urn, full)
            needed: Counter[str] = Counter()
            for e, row in zip(data["timeline"], rows, strict=True):
                facts = inspection_facts(e) + [f"[{x}]" for x in sorted({j["scale_label"] for j in e["judgements"]} - {""})]
                for fact in facts:
                    assert re.sub(r"\s+", "", fact) in row, (urn, full, e["start_text"], fact)
                    needed.update(words_of(fact))
            assert "Inclusion:Expectedstandard[report-card5-point]" in rows[-1]  # a second scale beside its judgement
            have = Counter(words_of(" ".join(pdf_words(html_to_pdf(html)))))
            assert not needed - have, (urn, full, needed - have)
    # the report's own layout shows the same facts
    data = with_every_kind_of_row(school_data(warehouse, 109778))
    for e, row in zip(data["timeline"], row_texts(school_html(data, generated=FROZEN)), strict=True):
        for fact in inspection_facts(e):
            assert re.sub(r"\s+", "", fact) in row, fact


def test_print_layout_has_fewer_boxes_and_the_same_report_on_screen(warehouse: Path) -> None:
    """The PDF's HTML: no boxed tags, line breaks or bullet lists in the inspections table, the
    timeline an image of inline data; the report's HTML (and so the dashboard's partial) as before."""
    pdf_html, screen = school_page(warehouse, 109778), school_page(warehouse, 109778, print_layout=False)
    table = pdf_html[pdf_html.index('<table class="eh-timeline eh-print">'):]
    table = table[:table.index("</table>")]
    assert "eh-tag" not in table and "<br>" not in table and "<ul" not in table and "<strong>" in table
    assert '<figure class="eh-chart eh-timeline-chart"><img src="data:image/svg+xml;base64,' in pdf_html
    assert "<svg" not in pdf_html[:pdf_html.index('<section id="similar">')]
    assert '<table class="eh-timeline">' in screen and 'class="eh-tag"' in screen and "<ul class=\"eh-judgements\">" in screen
    assert '<figure class="eh-chart eh-timeline-chart"><svg' in screen


def test_the_timeline_image_draws_the_inline_chart(warehouse: Path) -> None:
    """svg_image: the chart drawn from an <img> of inline data has the same words at the same
    places as the inline SVG (within 0.05 pt), and the chart's title as its alt text."""
    svg = timeline_svg(school_data(warehouse, 109778))
    assert svg
    img = svg_image(svg)
    assert 'alt="Graded inspections over time, each on its own scale"' in img

    def page(chart: str) -> str:
        body = f'<figure class="eh-chart eh-timeline-chart">{chart}</figure>'
        return render("base.html", generated=FROZEN).replace("<footer>", body + "<footer>", 1)

    inline, image = shows(html_to_pdf(page(svg))), shows(html_to_pdf(page(str(img))))
    assert [w for w, _, _ in image] == [w for w, _, _ in inline] and "Outstanding" in [w for w, _, _ in inline]
    for (word, xa, ya), (_, xb, yb) in zip(image, inline, strict=True):
        assert abs(xa - xb) < 0.05 and abs(ya - yb) < 0.05, word


def test_inspections_table_has_fixed_columns_in_the_pdf(warehouse: Path) -> None:
    from weasyprint import HTML

    css, fonts = _parsed_stylesheet()
    html = school_page(warehouse, 109778).replace(f"<style>{stylesheet()}</style>", "", 1)
    doc = HTML(string=html, base_url=None).render(stylesheets=[css], font_config=fonts)

    def tables(box: Any) -> Any:
        if type(box).__name__ == "TableBox" and box.element is not None and "eh-timeline" in (box.element.get("class") or "").split():
            yield box
        for child in getattr(box, "children", None) or []:
            yield from tables(child)

    table = next(t for p in doc.pages for t in tables(p._page_box))
    assert table.style["table_layout"] == "fixed"
    shares = [w / table.width for w in table.column_widths]
    for share, declared in zip(shares[:3], (0.23, 0.22, 0.18), strict=True):
        assert declared <= share < declared + 0.03  # the declared width and the cell's padding
    assert shares[3] > 0.3  # the judgements get the rest


def test_the_collector_does_not_run_while_weasyprint_renders(warehouse: Path) -> None:
    """html_to_pdf pauses Python's cyclic collector for the render and frees what the render
    left with one young collection after it (decision 1730): no collection of the whole heap,
    and the collector as it was before (on stays on, off stays off, also after an error)."""
    import gc

    html = school_page(warehouse, 109778)
    html_to_pdf(html)  # warm: imports and the parsed stylesheet
    seen: list[tuple[str, int]] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append((phase, info["generation"]))

    gc.collect()  # the young generation's count starts at 0: nothing due before the render
    gc.callbacks.append(note)
    try:
        assert gc.isenabled()
        pdf = html_to_pdf(html)
        assert gc.isenabled()
        assert seen == [("start", 0)]  # the one young collection after the render; with the collector on: dozens
        gc.disable()
        try:
            html_to_pdf(html)
            assert not gc.isenabled()
        finally:
            gc.enable()
        assert seen == [("start", 0)]  # off stays off: nothing collected
        with pytest.raises(RuntimeError), gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("a render failed")
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(note)
    assert pdf.startswith(b"%PDF") and past_right_margin(pdf) == []
