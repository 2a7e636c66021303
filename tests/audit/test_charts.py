"""Chart builders: valid Vega-Lite, titles everywhere, offline deterministic rendering, palettes."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import altair as alt
import numpy as np
import polars as pl
import pytest

from evenhand.audit import charts
from evenhand.audit.charts import (
    FIVE_POINT_COLOURS,
    FIVE_POINT_SCALE,
    FOUR_POINT_COLOURS,
    FOUR_POINT_SCALE,
    OKABE_ITO,
    bar_with_intervals,
    chart_spec,
    graded_colours,
    heatmap,
    line_with_band,
    scale_colours,
    stacked_share,
    theme_config,
    to_png,
    to_svg,
)

# --- fixtures: one small chart per builder ------------------------------------


def _bar() -> alt.LayerChart:
    df = pl.DataFrame(
        {
            "quintile": [1, 2, 3, 4, 5],
            "rate": [0.22, 0.18, 0.14, 0.11, 0.08],
            "lo": [0.20, 0.16, 0.12, 0.09, 0.06],
            "hi": [0.24, 0.20, 0.16, 0.13, 0.10],
        }
    )
    return bar_with_intervals(
        df,
        "quintile",
        "rate",
        "lo",
        "hi",
        title="Outstanding by deprivation",
        subtitle="n = 21,345 schools; 95% Wilson intervals",
        x_title="IDACI quintile (1 = least deprived)",
        y_title="Share judged outstanding",
        y_format=".0%",
    )


def _grouped_bar() -> alt.LayerChart:
    df = pl.DataFrame(
        {
            "phase": ["Primary", "Primary", "Secondary", "Secondary"],
            "grade": ["Outstanding", "Inadequate", "Outstanding", "Inadequate"],
            "rate": [0.10, 0.05, 0.20, 0.08],
            "lo": [0.08, 0.04, 0.17, 0.06],
            "hi": [0.12, 0.06, 0.23, 0.10],
        }
    )
    return bar_with_intervals(
        df,
        "phase",
        "rate",
        "lo",
        "hi",
        "grade",
        title="Grades by phase",
        subtitle="n = 9,000 inspections",
        x_title="Phase",
        y_title="Share",
        color_title="Overall effectiveness",
    )


def _stacked() -> alt.LayerChart:
    rows = []
    for q in range(1, 6):
        raw = [0.1 + 0.02 * (5 - q), 0.6, 0.2 - 0.01 * q, 0.1 + 0.01 * q]
        total = sum(raw)
        rows += [
            {"quintile": f"Quintile {q}", "grade": g, "share": r / total}
            for g, r in zip(FOUR_POINT_SCALE, raw, strict=True)
        ]
    return stacked_share(
        pl.DataFrame(rows),
        "grade",
        "share",
        "quintile",
        FOUR_POINT_SCALE,
        title="Grades by deprivation",
        subtitle="n = 20,000 inspections",
        x_title="Share of inspections",
        y_title="IDACI quintile",
        legend_title="Overall effectiveness",
    )


def _heatmap() -> alt.LayerChart:
    rows = [
        {"from": a, "to": b, "rate": 0.7 if a == b else 0.1, "label": "70%" if a == b else "10%"}
        for a in FOUR_POINT_SCALE
        for b in FOUR_POINT_SCALE
    ]
    return heatmap(
        pl.DataFrame(rows),
        "from",
        "to",
        "rate",
        "label",
        title="Consecutive judgements",
        subtitle="n = 12,000 pairs of inspections",
        x_title="Next judgement",
        y_title="Previous judgement",
        value_title="Share of previous grade",
        domain=(0, 1),
        value_format=".0%",
    )


def _line() -> alt.LayerChart:
    df = pl.DataFrame(
        {
            "year": [dt.date(2015 + i, 9, 1) for i in range(6)],
            "delay": [20.0, 21.0, 22.5, 23.0, 25.0, 24.0],
            "lo": [18.0, 19.0, 20.5, 21.0, 23.0, 22.0],
            "hi": [22.0, 23.0, 24.5, 25.0, 27.0, 26.0],
        }
    )
    return line_with_band(
        df,
        "year",
        "delay",
        "lo",
        "hi",
        title="Publication delay",
        subtitle="n = 50,000 reports; median with 95% interval",
        x_title="Academic year starting",
        y_title="Working days from end of inspection",
    )


BUILDERS: dict[str, Callable[[], alt.LayerChart]] = {
    "bar": _bar,
    "grouped_bar": _grouped_bar,
    "stacked": _stacked,
    "heatmap": _heatmap,
    "line": _line,
}

TITLES = {
    "bar": ("Outstanding by deprivation", "IDACI quintile (1 = least deprived)"),
    "grouped_bar": ("Grades by phase", "Phase"),
    "stacked": ("Grades by deprivation", "Share of inspections"),
    "heatmap": ("Consecutive judgements", "Next judgement"),
    "line": ("Publication delay", "Academic year starting"),
}


def _encodings(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for layer in spec.get("layer", [spec]):
        for channel, enc in layer.get("encoding", {}).items():
            if isinstance(enc, dict):
                yield channel, enc


# --- specs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builder_gives_valid_spec_with_titles(name: str) -> None:
    chart = BUILDERS[name]()
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert spec["title"]["text"] == TITLES[name][0]
    assert spec["title"]["subtitle"].startswith("n = ")
    titles = [(ch, enc.get("title")) for ch, enc in _encodings(spec) if ch in ("x", "y")]
    assert {ch for ch, _ in titles} == {"x", "y"}
    # every layer's x and y carry the axis title, so no layer's field name leaks into it
    assert all(isinstance(t, str) and t for _, t in titles), titles
    assert len({t for ch, t in titles if ch == "x"}) == 1
    assert len({t for ch, t in titles if ch == "y"}) == 1
    assert ("x", TITLES[name][1]) in titles
    assert spec["config"]["font"] == charts.FONT
    assert spec["description"]
    # data are inline, never fetched
    assert "datasets" in spec
    assert "url" not in str(spec.get("data", ""))


@pytest.mark.parametrize("missing", ["title", "subtitle", "x_title", "y_title"])
def test_builders_refuse_missing_or_blank_titles(missing: str) -> None:
    df = pl.DataFrame({"x": ["a"], "y": [1.0], "lo": [0.5], "hi": [1.5]})
    kwargs = {"title": "T", "subtitle": "n = 1", "x_title": "X", "y_title": "Y"}
    kwargs[missing] = "  "
    with pytest.raises(ValueError, match=missing):
        bar_with_intervals(df, "x", "y", "lo", "hi", **kwargs)
    with pytest.raises(ValueError, match=missing):
        line_with_band(df, "x", "y", "lo", "hi", **kwargs)
    del kwargs[missing]
    with pytest.raises(TypeError):
        bar_with_intervals(df, "x", "y", "lo", "hi", **kwargs)  # type: ignore[call-arg]


def test_missing_column_is_named() -> None:
    df = pl.DataFrame({"x": ["a"], "y": [1.0], "lo": [0.5]})
    with pytest.raises(KeyError, match="'hi'"):
        bar_with_intervals(
            df, "x", "y", "lo", "hi", title="T", subtitle="n = 1", x_title="X", y_title="Y"
        )


def test_spec_does_not_depend_on_a_globally_enabled_altair_theme() -> None:
    plain = chart_spec(_bar())
    with alt.theme.enable("dark"):
        themed = chart_spec(_bar())
    assert themed == plain
    assert plain["config"]["background"] == "#FFFFFF"


def test_category_order_is_kept() -> None:
    spec = _grouped_bar().to_dict()
    colours = next(enc for ch, enc in _encodings(spec) if ch == "color")
    assert colours["scale"]["domain"] == ["Outstanding", "Inadequate"]
    assert colours["scale"]["range"] == [
        FOUR_POINT_COLOURS["Outstanding"],
        FOUR_POINT_COLOURS["Inadequate"],
    ]
    x = next(enc for ch, enc in _encodings(spec) if ch == "x")
    assert x["sort"] == ["Primary", "Secondary"]


def test_dates_are_inline_utc_milliseconds() -> None:
    spec = _line().to_dict()
    (rows,) = spec["datasets"].values()
    # 1 September 2015 00:00 UTC
    assert rows[0]["year"] == 1441065600000
    assert rows[0]["_year_text"] == "1 September 2015"
    x = next(enc for ch, enc in _encodings(spec) if ch == "x")
    assert x["scale"]["type"] == "utc"


def test_stacked_share_refuses_percentages_and_overfull_groups() -> None:
    common: dict[str, Any] = {
        "title": "T",
        "subtitle": "n = 2",
        "x_title": "Share",
        "y_title": "Group",
        "legend_title": "Grade",
    }
    pct = pl.DataFrame({"g": ["a", "a"], "c": ["Good", "Inadequate"], "s": [60.0, 40.0]})
    with pytest.raises(ValueError, match="fractions"):
        stacked_share(pct, "c", "s", "g", FOUR_POINT_SCALE, **common)
    over = pl.DataFrame({"g": ["a", "a"], "c": ["Good", "Inadequate"], "s": [0.7, 0.6]})
    with pytest.raises(ValueError, match="more than 1"):
        stacked_share(over, "c", "s", "g", FOUR_POINT_SCALE, **common)
    unknown = pl.DataFrame({"g": ["a"], "c": ["Satisfactory"], "s": [0.5]})
    with pytest.raises(ValueError, match="Satisfactory"):
        stacked_share(unknown, "c", "s", "g", FOUR_POINT_SCALE, **common)


def test_column_names_with_dots_and_brackets_render() -> None:
    df = pl.DataFrame({"grade [2024]": ["a", "b"], "rate.mid": [0.3, 0.5], "rate.lo": [0.2, 0.4]})
    df = df.with_columns((pl.col("rate.mid") + 0.1).alias("rate.hi"))
    chart = bar_with_intervals(
        df,
        "grade [2024]",
        "rate.mid",
        "rate.lo",
        "rate.hi",
        title="Dots",
        subtitle="n = 2",
        x_title="Grade",
        y_title="Rate",
    )
    svg = to_svg(chart)
    assert "Dots" in svg
    assert ">a<" in svg and ">b<" in svg


def test_external_data_is_refused() -> None:
    chart = alt.Chart("https://example.com/data.csv").mark_point().encode(x="a:Q", y="b:Q")
    chart = chart.properties(title=alt.TitleParams("Remote", subtitle="n = ?"))
    with pytest.raises(ValueError, match="external data"):
        to_svg(chart)


# --- rendering ------------------------------------------------------------------


_XMLNS = re.compile(r'\sxmlns(?::\w+)?="[^"]*"')


@pytest.mark.parametrize("name", list(BUILDERS))
def test_svg_renders_with_title_and_no_external_reference(name: str) -> None:
    svg = to_svg(BUILDERS[name]())
    assert svg.startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    title, axis_title = TITLES[name]
    assert f">{title}</text>" in svg
    assert f"<title>{title}</title>" in svg
    assert axis_title in svg
    refs = re.findall(r'(?:href|src)\s*=\s*"([^"]*)"', svg)
    assert all(not r.startswith(("http:", "https:", "//")) for r in refs), refs
    assert "url(http" not in svg and "@import" not in svg and "@font-face" not in svg
    # the only URLs are the XML namespace declarations
    assert "http://" not in _XMLNS.sub("", svg)
    assert "https://" not in _XMLNS.sub("", svg)
    assert 'font-family="DejaVu Sans' in svg


@pytest.mark.parametrize("name", list(BUILDERS))
def test_same_input_gives_byte_identical_svg(name: str) -> None:
    first = to_svg(BUILDERS[name]())
    second = to_svg(BUILDERS[name]())
    third = to_svg(BUILDERS[name]())
    assert first == second == third


def test_svg_does_not_depend_on_the_time_zone() -> None:
    # Dates travel as UTC milliseconds on a UTC scale: a renderer in another
    # time zone draws the same axis.
    script = (
        "import runpy, sys; ns = runpy.run_path(sys.argv[1]); "
        "sys.stdout.write(ns['to_svg'](ns['_line']()))"
    )
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    out = subprocess.run(
        [sys.executable, "-c", script, __file__],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout == to_svg(_line())
    assert ">2016</text>" in out.stdout


def test_heatmap_gradient_ids_are_stable_and_resolve() -> None:
    # Vega numbers gradient ids per process; to_svg renumbers them so repeated
    # renders match, and every url(#id) still points at an element.
    svg = to_svg(_heatmap())
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    assert ids, "the colour legend should carry a gradient with an id"
    assert set(re.findall(r"url\(#([^)]+)\)", svg)) <= ids


def test_svg_has_segment_labels_and_white_text_on_dark_cells() -> None:
    stacked = to_svg(_stacked())
    assert ">56%</text>" in stacked  # Quintile 1, Good: 0.6 / 1.08
    assert 'aria-label="Quintile 1, Good: 55.6%"' in stacked
    heat = to_svg(_heatmap())
    assert re.search(r'fill="#FFFFFF"[^>]*>70%</text>', heat) is None  # 0.7 is not above 0.7
    dark = heatmap(
        pl.DataFrame({"r": ["a", "a"], "c": ["x", "y"], "v": [0.95, 0.05], "t": ["95%", "5%"]}),
        "r",
        "c",
        "v",
        "t",
        title="Dark",
        subtitle="n = 2",
        x_title="C",
        y_title="R",
        value_title="V",
        domain=(0, 1),
    )
    dark_svg = to_svg(dark)
    assert re.search(r'fill="#FFFFFF"[^>]*>95%</text>', dark_svg)
    assert re.search(r'fill="#1A1A1A"[^>]*>5%</text>', dark_svg)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_png_renders_at_scale() -> None:
    chart = _bar()
    w1, h1 = _png_size(to_png(chart, scale=1))
    w2, h2 = _png_size(to_png(chart, scale=2))
    assert abs(w2 - 2 * w1) <= 2 and abs(h2 - 2 * h1) <= 2
    with pytest.raises(ValueError):
        to_png(chart, scale=0)


# --- palettes -------------------------------------------------------------------

# Machado, Oliveira & Fernandes (2009) simulation matrices, severity 1.0, linear RGB.
_CVD = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ]
    ),
    "tritanopia": np.array(
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ]
    ),
}


def _lab(hex_colour: str, matrix: np.ndarray) -> np.ndarray:
    srgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(matrix @ linear, 0, 1)
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ linear
    )
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _min_distance(palette: list[str], matrix: np.ndarray) -> float:
    labs = [_lab(c, matrix) for c in palette]
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(labs, 2))


def test_five_point_scale_has_five_distinct_ordered_colours() -> None:
    assert list(FIVE_POINT_COLOURS) == list(FIVE_POINT_SCALE)
    colours = list(FIVE_POINT_COLOURS.values())
    assert len(set(c.lower() for c in colours)) == 5
    assert colours == graded_colours(5)
    assert scale_colours(FIVE_POINT_SCALE) == colours
    # a subset keeps each grade's colour
    assert scale_colours(["Exceptional", "Urgent improvement"]) == [colours[0], colours[4]]


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("vision", list(_CVD))
def test_graded_palettes_stay_distinct_under_colour_blindness(n: int, vision: str) -> None:
    # CIE76 distance of at least 20 between every pair (about 9 is "just noticeable"
    # for chart patches; 20 is clearly different).
    assert _min_distance(graded_colours(n), _CVD[vision]) >= 20


@pytest.mark.parametrize("vision", list(_CVD))
def test_categorical_palette_stays_distinct_under_colour_blindness(vision: str) -> None:
    assert len(set(OKABE_ITO)) == 8
    assert _min_distance(list(OKABE_ITO), _CVD[vision]) >= 15


def test_graded_palette_is_ordered_dark_light_dark() -> None:
    # lightness rises to the neutral middle and falls again: an ordered diverging scale
    lightness = [_lab(c, np.eye(3))[0] for c in graded_colours(5)]
    assert lightness[0] < lightness[1] < lightness[2] > lightness[3] > lightness[4]


def test_scale_colours_falls_back_to_okabe_ito_and_limits_categories() -> None:
    assert scale_colours(["EIF", "Report card"]) == list(OKABE_ITO[:2])
    with pytest.raises(ValueError, match="distinguishable"):
        scale_colours([f"c{i}" for i in range(9)])
    with pytest.raises(ValueError):
        graded_colours(6)


def test_theme_uses_local_fonts_only() -> None:
    config = theme_config()
    fonts = {v for k, v in _walk(config) if k.lower().endswith("font")}
    assert fonts == {charts.FONT}
    assert "DejaVu Sans" in charts.FONT and charts.FONT.endswith("sans-serif")
    assert "http" not in str(config)


def _walk(node: object) -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)


def test_series_lines_get_one_legend_in_series_colours() -> None:
    rows = [
        {"year": y, "type": t, "d": 15.0 + i * 5, "lo": 13.0 + i * 5, "hi": 17.0 + i * 5}
        for i, t in enumerate(["Graded", "Ungraded"])
        for y in range(2016, 2020)
    ]
    chart = line_with_band(
        pl.DataFrame(rows),
        "year",
        "d",
        "lo",
        "hi",
        "type",
        title="Delay by type",
        subtitle="n = 800",
        x_title="Year",
        y_title="Working days",
        color_title="Inspection type",
        x_format="d",
    )
    svg = to_svg(chart)
    assert svg.count('aria-roledescription="legend"') == 1
    assert "Inspection type" in svg and ">Ungraded</text>" in svg
    assert f'fill="{OKABE_ITO[1]}"' in svg
    with pytest.raises(ValueError, match="color_title"):
        line_with_band(
            pl.DataFrame(rows),
            "year",
            "d",
            "lo",
            "hi",
            "type",
            title="T",
            subtitle="n = 8",
            x_title="Year",
            y_title="Days",
        )


def test_register_theme_is_opt_in() -> None:
    name = charts.register_theme()
    assert name in alt.theme.names()
    assert alt.theme.active != name
    with alt.theme.enable(name):
        spec = alt.Chart(pl.DataFrame({"a": [1]})).mark_point().encode(x="a:Q").to_dict()
    assert spec["config"]["font"] == charts.FONT
