"""The evidence pack as a reader meets it: tables that fit the page in people's words, text that
never runs past the right margin of the PDF, the safeguarding-limited inspections listed, and the
SYNTHETIC mark on every page of a synthetic pack."""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import polars as pl
import pytest
from pypdf import PdfReader
from report_fixture import FROZEN
from test_report import AS_AT, INPUTS, intake_result, timing_result

from evenhand import maps
from evenhand.audit.result import AuditResult, describe
from evenhand.present.pack_tables import columns, parameter_text, table_views, words
from evenhand.present.report import CLAIMS, Slot, html_to_pdf, national_html, reproduce_commands
from evenhand.present.synthetic import STAMP
from evenhand.stats.estimate import Estimate

#: The stylesheet's print margins (static/report.css: @page margin 16mm 14mm 18mm).
RIGHT_MARGIN_PT = 14 / 25.4 * 72
TOLERANCE_PT = 1.0


# --- where the text of a PDF sits ------------------------------------------------------------


def text_runs(pdf: bytes) -> list[dict[str, Any]]:
    """Every run of text of every page with its start and end x (points from the page's left
    edge, from the fonts' glyph widths as pypdf's layout mode computes them)."""
    from pypdf._text_extraction._layout_mode._fixed_width_page import (
        recurse_to_target_op,
        set_font_operation,
    )
    from pypdf._text_extraction._layout_mode._text_state_manager import TextStateManager
    from pypdf.generic import ContentStream

    out: list[dict[str, Any]] = []
    for i, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        fonts = page._layout_mode_fonts()
        ops = iter(ContentStream(page["/Contents"].get_object(), page.pdf, "bytes").operations)
        state = TextStateManager()
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        for operands, op in ops:
            if op in (b"BT", b"q"):
                groups, _ = recurse_to_target_op(ops, state, b"ET" if op == b"BT" else b"Q", fonts, True)
                for g in groups:
                    if g["text"].strip():
                        out.append({"page": i + 1, "x0": g["tx"], "x1": g["displaced_tx"], "down": _down(g, height),
                                    "width": width, "height": height, "text": g["text"]})
            elif op == b"Tf":
                set_font_operation(state, fonts, operands)
            else:
                state.set_state_param(op, operands)
    return out


def _down(group: dict[str, Any], height: float) -> float:
    """How far below the page's top edge a run of text sits (points): WeasyPrint draws with the
    y axis flipped (negative y downward), other producers upward from the bottom."""
    y = float(group["ty"]) * float(group["flip_sort"])
    return -y if y < 0 else height - y


def past_right_margin(pdf: bytes) -> list[str]:
    """Text that ends to the right of the page's right margin: page, end x and the text."""
    return [
        f"page {r['page']}: x = {r['x1']:.0f} > {r['width'] - RIGHT_MARGIN_PT:.0f}: {r['text'][:60]!r}"
        for r in text_runs(pdf) if r["x1"] > r["width"] - RIGHT_MARGIN_PT + TOLERANCE_PT
    ]


def test_the_margin_check_catches_text_past_the_right_margin() -> None:
    html = ("<style>@page { size: A4; margin: 16mm 14mm 18mm; }</style><p>fits</p>"
            "<p style='white-space: nowrap'>" + "an unbreakable line far too long for any page " * 4 + "</p>")
    bad = past_right_margin(html_to_pdf(html))
    assert bad and "unbreakable" in bad[0]
    assert past_right_margin(html_to_pdf("<style>@page { size: A4; margin: 16mm 14mm 18mm; }</style><p>fits</p>")) == []


# --- fixtures: wide and long tables, the safeguarding list -------------------------------------


def wide_result() -> AuditResult:
    """A frameworks-like table (six rows, many estimates) and a timing-like long wide table."""
    eras = ["s5_2005", "s5_2009", "s5_2012", "cif_2015", "eif_2019", "eif_2024"]
    few: dict[str, Any] = {"era": eras, "n_events": [1000 + i for i in range(6)]}
    for est, low, high in (("good_or_better", "good_or_better_low", "good_or_better_high"),
                           ("stability", "stability_low", "stability_high"),
                           ("cliff_edge_rate", "cliff_edge_low", "cliff_edge_high")):
        few[est], few[low], few[high] = [0.5] * 6, [0.45] * 6, [0.55] * 6
    few["gap_q5_minus_q1"], few["gap_low"], few["gap_high"] = [-0.215] * 6, [-0.236] * 6, [-0.193] * 6
    few["n_transitions"], few["unchanged"], few["cliff_edges"] = [900] * 6, [400] * 6, [30] * 6
    long: dict[str, Any] = {"dimension": ["era"] * 60, "group": [eras[i % 6] for i in range(60)], "kind": ["graded"] * 60, "n": list(range(60))}
    for m in ("median", "mean", "median_end"):
        long[f"{m}_working_days"], long[f"{m}_low"], long[f"{m}_high"] = [16.0] * 60, [16.0] * 60, [17.0] * 60
    long["n_end"], long["target_working_days"], long["n_with_target"], long["beyond_target"] = [0] * 60, ["19, 28"] * 60, [5] * 60, [2] * 60
    long["beyond_share"], long["beyond_low"], long["beyond_high"] = [0.4] * 60, [0.3] * 60, [0.5] * 60
    long["basis"] = ["start"] * 60
    sg = pl.DataFrame({
        "urn": [109778, 100002], "school_name": ["Caversham Primary School", "Other School"], "event_id": ["10242325", "1"],
        "era": ["eif_2019", "eif_2019"], "start_date": [dt.date(2022, 11, 15), dt.date(2021, 1, 5)],
        "publication_date": [dt.date(2023, 3, 20), None], "overall_effectiveness": ["4", "4"], "quality_of_education": ["2", "3"],
        "behaviour_and_attitudes": ["2", "3"], "personal_development": ["2", "3"], "leadership_and_management": ["4", "4"],
        "safeguarding_effective": ["No", "No"], "safeguarding_standards": [None, None], "category_of_concern": ["SWK", "SM"],
        "safeguarding_limited": [True, False], "classifiable": [True, True],
    })
    return AuditResult(
        name="frameworks", title="Frameworks compared", question="Did the reforms change anything?", claim=CLAIMS[6][0],
        method="Fixture.", figures=[], chart=None,
        # "huge": wide and too long to print (a note in its section, never a landscape page there)
        tables={"main": pl.DataFrame(few), "long": pl.DataFrame(long), "huge": pl.concat([pl.DataFrame(long)] * 5), "events": sg},
        findings=["For pairs whose later inspection was in eif_2019: 42.3% unchanged."], caveats=["Fixture."], inputs=[],
        parameters={"measure_area": {"eif_2024": "quality_of_education", "report_card_2025": None}, "codes": ["1", "2"]},
    )


def layout_pack(synthetic: bool = False) -> str:
    slots = [Slot("intake", intake_result()), Slot("timing", timing_result()), Slot("frameworks", wide_result())]
    return national_html(slots, AS_AT, INPUTS * 30, reproduce_commands("w.duckdb", AS_AT, "out/report", "raw/"),
                         synthetic=synthetic, generated=FROZEN)


@pytest.fixture(scope="module")
def pack_pdf() -> bytes:
    return html_to_pdf(layout_pack())


def test_no_text_past_the_right_margin(pack_pdf: bytes) -> None:
    assert past_right_margin(pack_pdf) == []


def test_wide_long_tables_get_landscape_pages_and_nothing_else(pack_pdf: bytes) -> None:
    pages = PdfReader(io.BytesIO(pack_pdf)).pages
    landscape = [i for i, p in enumerate(pages) if float(p.mediabox.width) > float(p.mediabox.height)]
    assert landscape, "the long wide table should be on a landscape page"
    assert len(landscape) < len(pages) / 2


def page_fill(pdf: bytes) -> list[tuple[int, bool, float]]:
    """(page, landscape, how far down the page its body text reaches: 0 at the top margin, 1 at
    the bottom margin) for every page; the page-number footer and the SYNTHETIC header are not body."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    runs = [r for r in text_runs(pdf) if not r["text"].strip().startswith(("page ", STAMP))]
    out = []
    for i, page in enumerate(pages, start=1):
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        top, bottom = 16 / 25.4 * 72, h - 18 / 25.4 * 72  # static/report.css: @page margin 16mm 14mm 18mm
        downs = [r["down"] for r in runs if r["page"] == i and top - 1 <= r["down"] <= bottom + 1]
        out.append((i, w > h, (max(downs) - top) / (bottom - top) if downs else 0.0))
    return out


def near_empty_pages(pdf: bytes, least: float = 0.5) -> list[str]:
    """Pages whose text ends above the middle, other than the last page and the last portrait
    page before the wide-tables annex (the landscape pages that end the pack)."""
    fill = page_fill(pdf)
    annex = next((i for i in range(len(fill)) if all(wide for _, wide, _ in fill[i:])), len(fill))
    return [f"page {p} of {len(fill)}: text ends {f:.0%} down the page" for p, _, f in fill[:-1]
            if f < least and p != annex]


def test_the_near_empty_check_catches_a_page_with_a_few_lines() -> None:
    page = "<style>@page { size: A4; margin: 16mm 14mm 18mm; }</style>"
    full = "<p>" + "A line of text that fills the page. " * 900 + "</p>"
    assert near_empty_pages(html_to_pdf(page + full)) == []
    assert near_empty_pages(html_to_pdf(page + "<p>a few lines</p><p style='break-before: page'>the next page</p>" + full))[0].startswith("page 1 ")


def test_no_near_empty_pages(pack_pdf: bytes) -> None:
    """Every page but the last, and the last before the landscape pages of the wide tables, is
    filled at least half way (no forced page per audit; no change of page size mid-section)."""
    assert near_empty_pages(pack_pdf) == []


def test_wide_tables_are_printed_together_after_the_provenance_and_their_sections_point_there(pack_pdf: bytes) -> None:
    html = layout_pack()
    annex = html.index('id="wide-tables"')
    assert html.index('id="provenance"') < annex
    assert 'href="#wide-frameworks-long"' in html[:annex] and 'id="wide-frameworks-long"' in html[annex:]
    fill = page_fill(pack_pdf)
    landscape = [p for p, wide, _ in fill if wide]
    assert landscape == list(range(landscape[0], len(fill) + 1)), "the landscape pages come last, together"


def test_provenance_is_compact(pack_pdf: bytes) -> None:
    html = layout_pack()
    prov = html[html.index('id="provenance"'):]
    assert "ab" * 6 in prov and "ab" * 7 not in prov  # 12 characters of the hash; the full one in provenance.csv
    assert "provenance.csv" in prov


# --- tables in people's words -------------------------------------------------------------


def test_estimates_sit_beside_their_intervals_under_labels_from_the_map() -> None:
    df = pl.DataFrame({"to_era": ["eif_2019"], "n": [10042], "stability": [0.423], "stability_low": [0.413], "stability_high": [0.432]})
    cols = columns(df)
    assert [c.key for c in cols] == ["to_era", "n", "stability"] and cols[2].low == "stability_low"
    view = table_views("consistency", {"main": df})[0]
    assert view["headings"] == [maps.columns()["to_era"].label, maps.columns()["n"].label,
                                maps.columns()["stability"].label + " (95% CI)"]
    assert [c["text"] for c in view["rows"][0]] == ["Education inspection framework (2019-2024)", "10,042", "42.3% (41.3 to 43.2)"]


def test_every_column_of_the_fixture_tables_has_a_label_and_no_field_name_is_printed() -> None:
    html = layout_pack()
    for r in (intake_result(), timing_result(), wide_result()):
        for key, df in r.tables.items():
            for col in df.columns:
                assert col in maps.columns(), f"{r.name}.{key}.{col} has no label in maps/columns.csv"
    for code in ("quintile_kind", "not_effective_low", "s5_2005", "eif_2019", "median_low", "gap_q5_minus_q1", "idaci_quintile"):
        assert f">{code}<" not in html and f" {code} " not in html, code


def test_wide_few_rows_turn_on_their_side_long_wide_go_landscape() -> None:
    views = {v["key"]: v for v in table_views("frameworks", wide_result().tables)}
    assert views["main"]["layout"] == "transposed"
    assert views["main"]["headings"][1] == "Section 5 (2005-2009)"  # one column per framework, by its label
    assert views["long"]["layout"] == "landscape"
    assert views["long"]["shown"] == 40 and views["long"]["total"] == 60


def test_collapsed_intervals_and_gaps_read_plainly() -> None:
    views = {v["key"]: v for v in table_views("frameworks", wide_result().tables)}
    long_row = [c["text"] for c in views["long"]["rows"][0]]
    assert "16 (16 to 17)" in long_row and "19, 28" in long_row
    gap = next(r for r in views["main"]["rows"] if r[0]["text"].startswith("Gap"))
    assert gap[1]["text"] == "-21.5 (-23.6 to -19.3)"


def test_safeguarding_limited_inspections_are_listed_by_name_and_linked() -> None:
    views = {v["key"]: v for v in table_views("safeguarding", {"events": wide_result().tables["events"]})}
    v = views["events"]
    assert v["shown"] == 1 and v["headings"][:4] == ["School (its Ofsted reports)", "URN", "Inspection started", "Report published"]
    school, urn, started, published, judgements = v["rows"][0]
    assert school["text"] == "Caversham Primary School" and school["href"] == "https://reports.ofsted.gov.uk/provider/21/109778"
    assert (urn["text"], started["text"], published["text"]) == ("109778", "15 Nov 2022", "20 Mar 2023")
    assert "Overall effectiveness: Inadequate" in judgements["text"] and "Quality of education: Good" in judgements["text"]
    assert "safeguarding not effective" in judgements["text"]


def test_parameters_are_words_not_python() -> None:
    text = parameter_text({"eif_2024": "quality_of_education", "report_card_2025": None})
    assert text == "EIF without overall grade (2024-2025): Quality of education; Report cards (2025-): none"
    assert parameter_text(["1", "2"]) == "1, 2" and parameter_text("2025-08-31") == "31 August 2025"
    html = layout_pack()
    assert "{'" not in html and "None}" not in html and "['1'" not in html


def test_words_replace_codes_with_the_maps_labels() -> None:
    assert words("later inspection in eif_2019") == "later inspection in Education inspection framework (2019-2024)"
    assert words("idaci_quintile[5]") == "IDACI quintile 5 (against 1)"
    assert words("dropped for missing values in ['phase', 'log_pupils']") == "dropped for missing values in phase, number of pupils (log)"


# --- numbers said plainly -------------------------------------------------------------------


@pytest.mark.parametrize(("estimate", "unit", "text"), [
    (Estimate(3771, math.nan, math.nan, 3771), "count", "3,771"),
    (Estimate(19, math.nan, math.nan, 459), "count", "19 of 459"),
    (Estimate(16.0, 16.0, 16.0, 2823), "working days", "16 working days (the 95% CI is 16 working days itself; n = 2,823)"),
    (Estimate(1194.0, 1167.0, 1209.0, 21887), "days", "1,194 days (95% CI 1,167 to 1,209 days; n = 21,887)"),
    (Estimate(1.0, 0.999, 1.0, 3269), "share", "100% (all 3,269; 95% CI 99.9% to 100%)"),
    (Estimate(1.0, math.nan, math.nan, 12), "share", "100% (all 12)"),  # definitional: no interval
    (Estimate(-0.215, -0.236, -0.193, 6947), "percentage points", "-21.5 percentage points (95% CI -23.6 to -19.3; n = 6,947)"),
    (Estimate(0.46, 0.455, 0.464, 43094), "share", "46.0% (95% CI 45.5% to 46.4%; n = 43,094)"),
])
def test_describe_says_counts_collapsed_intervals_and_days_plainly(estimate: Estimate, unit: str, text: str) -> None:
    assert describe(estimate, unit) == text


# --- SYNTHETIC on every page ----------------------------------------------------------------


def test_a_synthetic_pack_says_so_on_every_page() -> None:
    html = layout_pack(synthetic=True)
    assert html.index(STAMP) < html.index("<h1>")  # the banner first
    pages = PdfReader(io.BytesIO(html_to_pdf(html))).pages
    missing = [i + 1 for i, p in enumerate(pages) if STAMP not in (p.extract_text() or "").replace("\n", " ")]
    assert missing == [], f"pages without the stamp: {missing} of {len(pages)}"
    assert STAMP not in layout_pack(synthetic=False)


def test_a_column_named_alike_in_two_tables_takes_its_own_tables_label_and_interval() -> None:
    """timing.main's median_working_days is the delay to publication with median_low/high;
    timing.length's is the inspection's length with median_working_low/high (maps/columns.csv
    ``table``): neither table borrows the other's words or interval."""
    length = pl.DataFrame({"kind": ["graded"], "n": [42487], "median_days": [2.0], "median_low": [2.0], "median_high": [3.0],
                           "median_working_days": [2.0], "median_working_low": [1.0], "median_working_high": [2.0]})
    view = table_views("timing", {"length": length})[0]
    cells = dict(zip(view["headings"], (c["text"] for c in view["rows"][0]), strict=True))
    assert cells["Median length (working days) (95% CI)"] == "2 (1 to 2)"
    assert cells["Median length (calendar days) (95% CI)"] == "2 (2 to 3)"
    assert not any("publication" in h or "Lower" in h for h in view["headings"])
    delays = pl.DataFrame({"kind": ["graded"], "median_working_days": [22.0], "median_low": [22.0], "median_high": [23.0]})
    view = table_views("timing", {"main": delays})[0]
    assert view["headings"][-1] == "Median working days to publication (95% CI)" and view["rows"][0][-1]["text"] == "22 (22 to 23)"
    from evenhand.present.tables import table_view

    web = table_view(length, table="timing.length")
    assert [c.label for c in web.columns][-1] == "Median length (working days)" and web.rows[0][-1] == "2.0 (1.0 to 2.0)"


def test_a_stack_of_charts_is_drawn_part_by_part_so_each_fits_the_page_in_readable_type() -> None:
    import altair as alt

    from evenhand.present.report import chart_parts, chart_svg

    df = pl.DataFrame({"era": ["Section 5 (2005-2009)", "EIF (2019-2024)"], "gap": [-0.2, -0.1], "share": [0.5, 0.4]}).to_pandas()
    one = alt.Chart(df).mark_bar().encode(x="gap:Q", y="era:N").properties(title="Gap in percentage points")
    two = alt.Chart(df).mark_bar().encode(x="share:Q", y="era:N").properties(title="Shares")
    spec = alt.vconcat(one, two).properties(title="Measures by framework").to_dict()
    parts = chart_parts(spec)
    assert len(parts) == 2 and parts[0]["title"] == "Measures by framework" and "title" not in parts[1]
    svgs = [chart_svg(p) for p in parts]
    assert "Measures by framework" in svgs[0] and "Gap in percentage points" in svgs[0] and "Shares" in svgs[1]
    assert chart_parts(one.to_dict()) == [one.to_dict()]  # a single chart is drawn as it is


def test_a_risk_difference_table_shows_each_estimate_with_its_own_interval() -> None:
    """low/high there are the risk difference's: the odds ratio beside it takes its own
    interval (or_low/or_high), never the risk difference's (maps/columns.csv ``table``)."""
    df = pl.DataFrame({"area": ["overall_effectiveness"], "comparison": ["IDACI quintile 5 against 1"],
                       "risk_difference": [-0.0537], "low": [-0.063], "high": [-0.044], "low_clustered": [-0.065], "high_clustered": [-0.043],
                       "odds_ratio": [2.57], "or_low": [2.25], "or_high": [2.94], "or_low_clustered": [2.17], "or_high_clustered": [3.05]})
    for audit in ("intake", "resources"):
        view = table_views(audit, {"risk_differences": df})[0]
        rows = {r[0]["text"]: r[1]["text"] for r in view["rows"]} if view.get("transposed") else dict(
            zip(view["headings"], (c["text"] for c in view["rows"][0]), strict=True))
        assert rows["Odds ratio (95% CI)"] == "2.57 (2.25 to 2.94)"
        assert rows["Adjusted difference (95% CI)"] == "-5.4 (-6.3 to -4.4)"
    from evenhand.present.tables import table_view

    web = table_view(df, table="intake.risk_differences")
    shown = dict(zip([c.label for c in web.columns], web.rows[0], strict=True))
    assert shown["Odds ratio"] == "2.57 (2.25 to 2.94)"


def test_an_audits_long_method_is_printed_whole_and_escaped() -> None:
    """The cap on input values (MAX_SHOWN) cut five methods of the real pack mid-sentence; an
    audit's own texts are printed whole, still escaped."""
    from evenhand.present.report import MAX_SHOWN

    r = wide_result()
    long_method = "Frame <b>and</b> 'method', " + "every step said. " * (MAX_SHOWN // 10) + "The end of the method."
    r = AuditResult(**{**r.__dict__, "method": long_method, "caveats": ["Inspection length is not in the files: 'start' only."]})
    html = national_html([Slot("frameworks", r)], AS_AT, INPUTS, [], generated=FROZEN)
    assert "The end of the method." in html and "[cut:" not in html
    assert "Frame &lt;b&gt;and&lt;/b&gt; &#39;method&#39;" in html and "&amp;#39;" not in html
