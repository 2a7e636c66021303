"""Accessible, colour-blind-safe charts for Evenhand's outputs.

One look for every chart: a categorical palette (Okabe-Ito), ordered diverging
palettes for graded scales (blue for the better end, orange for the worse end,
neutral grey for a middle point; never red against green), a single-hue blue
ramp for heatmaps, and fonts from a locally installed family (DejaVu Sans with
generic fall-backs; no web fonts). The palettes keep every pair of colours
apart under simulated protanopia, deuteranopia and tritanopia (the tests check
it), and the builders add what colour alone cannot carry: segment labels,
word-wrapped axis labels, white separators between stacked segments and text
colour chosen for contrast on heatmap cells.

Every builder requires a title, a subtitle (where the caller states n and the
interval method) and axis titles, and returns an Altair chart with the theme
already applied (:func:`apply_theme`), so the HTML report, the dashboard and
the PDF all get the same chart. :func:`to_svg` and :func:`to_png` render with
vl-convert entirely offline: the data must be inline (the default for Altair
with a data frame), remote URLs are refused, and the rendered SVG references
nothing outside itself.

Rendering is deterministic: the same chart gives a byte-identical SVG (element
ids that Vega numbers per process are renumbered in order of appearance).
Dates are passed to Vega as UTC milliseconds and drawn on a UTC time scale, so
the output does not depend on the machine's time zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import altair as alt
import polars as pl
import vl_convert as vlc

from evenhand import maps

__all__ = [
    "FIVE_POINT_COLOURS",
    "FIVE_POINT_SCALE",
    "FONT",
    "FOUR_POINT_2005_SCALE",
    "FOUR_POINT_COLOURS",
    "FOUR_POINT_SCALE",
    "OKABE_ITO",
    "SEQUENTIAL",
    "THEME_NAME",
    "TopLevelChart",
    "apply_theme",
    "bar_with_intervals",
    "chart_spec",
    "graded_colours",
    "heatmap",
    "line_with_band",
    "register_theme",
    "scale_colours",
    "stack",
    "stacked_share",
    "theme_config",
    "to_png",
    "to_svg",
]

TopLevelChart: TypeAlias = (
    alt.Chart
    | alt.LayerChart
    | alt.HConcatChart
    | alt.VConcatChart
    | alt.ConcatChart
    | alt.FacetChart
)

# --- palettes ---------------------------------------------------------------

#: Okabe & Ito (2008) colour-universal-design palette, in the order used for
#: categories. Yellow (contrast 1.3:1 on white) and black come last.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)

#: Graded colours from the better end to the worse end: dark blue, mid blue,
#: neutral grey, light orange, dark orange. Blue-orange is the hue axis that
#: all common colour-vision deficiencies keep; the ends are dark enough for
#: 6:1 or better contrast on white.
_GRADED_5: tuple[str, ...] = ("#084594", "#4A90C8", "#BDBDBD", "#E8893A", "#A63603")

_GRADED: dict[int, tuple[str, ...]] = {
    2: (_GRADED_5[0], _GRADED_5[4]),
    3: (_GRADED_5[0], _GRADED_5[2], _GRADED_5[4]),
    4: (_GRADED_5[0], _GRADED_5[1], _GRADED_5[3], _GRADED_5[4]),
    5: _GRADED_5,
}

#: Ofsted's four-point scale (from September 2012), best first.
FOUR_POINT_SCALE: tuple[str, ...] = tuple(maps.grade_labels("four_point").values())
#: The four-point scale before September 2012 ("Satisfactory" is not "Requires improvement";
#: it only shares the palette position).
FOUR_POINT_2005_SCALE: tuple[str, ...] = tuple(maps.grade_labels("four_point", on=dt.date(2012, 8, 31)).values())
#: Report-card scale (from November 2025), best first.
FIVE_POINT_SCALE: tuple[str, ...] = tuple(maps.grade_labels("report_card_5").values())
FOUR_POINT_COLOURS: dict[str, str] = dict(zip(FOUR_POINT_SCALE, _GRADED[4], strict=True))
FIVE_POINT_COLOURS: dict[str, str] = dict(zip(FIVE_POINT_SCALE, _GRADED[5], strict=True))

_KNOWN_SCALES: tuple[tuple[str, ...], ...] = (
    FOUR_POINT_SCALE,
    FOUR_POINT_2005_SCALE,
    FIVE_POINT_SCALE,
)

#: Single-hue sequential ramp (ColorBrewer Blues) for heatmaps, light to dark.
SEQUENTIAL: tuple[str, ...] = ("#F7FBFF", "#C6DBEF", "#6BAED6", "#2171B5", "#08306B")
# Above this fraction of the colour domain a heatmap cell is dark enough for white text.
_DARK_CELL = 0.7

#: Font stack: a locally installed family first, then generic fall-backs.
FONT = "DejaVu Sans, Verdana, sans-serif"

_INK = "#1A1A1A"
_MUTED = "#404040"
_INTERVAL_INK = "#1A1A1A"
_WHITE = "#FFFFFF"


def graded_colours(n: int) -> list[str]:
    """An ordered diverging palette of ``n`` colours (2 to 5), better end first."""
    if n not in _GRADED:
        raise ValueError(f"graded palettes have 2 to 5 colours, not {n}")
    return list(_GRADED[n])


def scale_colours(levels: Sequence[object]) -> list[str]:
    """Colours for ``levels`` in the given order.

    A known grading scale (four-point, 2005 four-point, five-point report card;
    listed best first, or a subset of it in scale order) gets its graded
    colours, so a grade has the same colour in every chart. Anything else gets
    Okabe-Ito colours in order.
    """
    labels = [str(v) for v in levels]
    for scale in _KNOWN_SCALES:
        if labels and set(labels) <= set(scale):
            colours = dict(zip(scale, _GRADED[len(scale)], strict=True))
            return [colours[label] for label in labels]
    if len(labels) > len(OKABE_ITO):
        raise ValueError(
            f"{len(labels)} categories is more than the {len(OKABE_ITO)} distinguishable "
            "colours of the palette; group or facet the data instead"
        )
    return list(OKABE_ITO[: len(labels)])


# --- theme ------------------------------------------------------------------


def theme_config() -> dict[str, Any]:
    """The Vega-Lite ``config`` applied to every Evenhand chart."""
    text = {"font": FONT, "color": _INK}
    return {
        "font": FONT,
        "background": "#FFFFFF",
        "padding": 8,
        "view": {"stroke": None, "continuousWidth": 480, "continuousHeight": 300},
        "title": {
            "font": FONT,
            "fontSize": 17,
            "fontWeight": "bold",
            "color": _INK,
            "anchor": "start",
            "offset": 14,
            "subtitleFont": FONT,
            "subtitleFontSize": 13,
            "subtitleColor": _MUTED,
            "subtitlePadding": 5,
        },
        "axis": {
            "labelFont": FONT,
            "labelFontSize": 12,
            "labelColor": _INK,
            "titleFont": FONT,
            "titleFontSize": 13,
            "titleFontWeight": "normal",
            "titleColor": _INK,
            "titlePadding": 10,
            "domainColor": "#666666",
            "tickColor": "#666666",
            "gridColor": "#E3E3E3",
            "labelLimit": 260,
        },
        "axisBand": {"grid": False, "labelAngle": 0, "labelPadding": 6},
        "legend": {
            "labelFont": FONT,
            "labelFontSize": 12,
            "labelColor": _INK,
            "titleFont": FONT,
            "titleFontSize": 13,
            "titleFontWeight": "normal",
            "titleColor": _INK,
            "orient": "bottom",
            "direction": "horizontal",
            "labelLimit": 260,
            "symbolStrokeWidth": 0,
        },
        "header": {"labelFont": FONT, "titleFont": FONT, "labelFontSize": 12, "titleFontSize": 13},
        "text": {**text, "fontSize": 12},
        "mark": {"font": FONT},
        "range": {
            "category": list(OKABE_ITO),
            "ordinal": list(_GRADED_5),
            "diverging": list(_GRADED_5),
            "heatmap": list(SEQUENTIAL),
            "ramp": list(SEQUENTIAL),
        },
    }


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_theme(chart: TopLevelChart) -> TopLevelChart:
    """A copy of ``chart`` carrying :func:`theme_config` as its config.

    Config the chart already has (e.g. from ``configure_axis``) wins over the theme.
    """
    out = chart.copy(deep=False)
    own = {} if chart.config is alt.Undefined else chart.config.to_dict()
    out.config = _config(json.dumps(_deep_merge(theme_config(), own), sort_keys=True))
    return out


@functools.lru_cache(maxsize=32)
def _config(merged_json: str) -> alt.Config:
    """The validated ``alt.Config`` of a merged theme (validating it costs ~0.4 s a chart, and
    the theme is the same for every chart). Altair's ``configure_*`` copy a config before
    changing it, so sharing one object between charts is safe."""
    return alt.Config.from_dict(json.loads(merged_json))


THEME_NAME = "evenhand"


def register_theme(enable: bool = False) -> str:
    """Register :func:`theme_config` as the Altair theme ``"evenhand"``; returns the name.

    For charts built outside this module (e.g. ad hoc dashboard charts). The
    builders here do not need it: their charts carry the config themselves.
    Enabling changes process-wide Altair state, so it is off by default.
    """

    def _theme() -> alt.theme.ThemeConfig:
        return alt.theme.ThemeConfig(config=theme_config())  # type: ignore[typeddict-item]

    alt.theme.register(THEME_NAME, enable=enable)(_theme)
    return THEME_NAME


# --- data helpers -----------------------------------------------------------


def _require(df: pl.DataFrame, *cols: str | None) -> None:
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"expected a polars DataFrame, got {type(df).__name__}")
    for col in cols:
        if col is not None and col not in df.columns:
            raise KeyError(f"column {col!r} not in frame (columns: {', '.join(df.columns)})")


def _require_text(**texts: str | Sequence[str]) -> None:
    for name, value in texts.items():
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v.strip() for v in value):
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} is required: a non-empty string (got {value!r})")


def _is_temporal(dtype: pl.DataType) -> bool:
    return dtype == pl.Date or isinstance(dtype, pl.Datetime)


def _levels(df: pl.DataFrame, col: str, order: Sequence[object] | None) -> list[Any]:
    """Category levels: ``order`` if given (checked to cover the data), else first appearance."""
    present = [v for v in df.get_column(col).unique(maintain_order=True).to_list() if v is not None]
    if order is None:
        return present
    wanted = list(order)
    unknown = [v for v in present if v not in wanted]
    if unknown:
        raise ValueError(
            f"column {col!r} has values not in the given order: "
            f"{', '.join(map(repr, unknown))} (order: {', '.join(map(repr, wanted))})"
        )
    return wanted


def _encoding_type(dtype: pl.DataType) -> str:
    if _is_temporal(dtype):
        return "temporal"
    if dtype.is_numeric():
        return "quantitative"
    return "nominal"


def _fld(col: str) -> str:
    """A column name as a Vega-Lite field: dots and brackets escaped, so they are not paths."""
    for ch in ("\\", ".", "[", "]"):
        col = col.replace(ch, "\\" + ch)
    return col


def _date_text(col: str) -> str:
    return f"_{col}_text"


def _inline(df: pl.DataFrame, cols: Sequence[str | None]) -> pl.DataFrame:
    """The columns a chart needs, with dates as UTC epoch milliseconds (time-zone proof).

    Each date column also gets a ``_<col>_text`` copy written out in words for tooltips.
    """
    keep = list(dict.fromkeys(c for c in cols if c is not None))
    out = df.select(keep)
    conv: list[pl.Expr] = []
    for col in keep:
        dtype = out.schema[col]
        if dtype == pl.Date:
            conv.append(pl.col(col).cast(pl.Datetime("ms")).dt.epoch("ms").alias(col))
            conv.append(pl.col(col).dt.strftime("%-d %B %Y").alias(_date_text(col)))
        elif isinstance(dtype, pl.Datetime):
            expr = pl.col(col)
            if dtype.time_zone is not None:
                expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            conv.append(expr.dt.epoch("ms").alias(col))
            conv.append(expr.dt.strftime("%-d %B %Y %H:%M").alias(_date_text(col)))
    return out.with_columns(conv) if conv else out


def _wrap_words() -> str:
    # Vega draws an array label as several lines: one word per line keeps
    # "Requires improvement" readable without rotating or truncating it.
    return "split(datum.label, ' ')"


def _title(title: str, subtitle: str | Sequence[str]) -> alt.TitleParams:
    return alt.TitleParams(text=title, subtitle=subtitle if isinstance(subtitle, str) else list(subtitle))


def _fmt_tooltip(
    col: str, dtype: pl.DataType, title: str, number_format: str | None
) -> alt.Tooltip:
    if _is_temporal(dtype):
        return alt.Tooltip(field=_fld(_date_text(col)), type="nominal", title=title)
    if dtype.is_numeric():
        return alt.Tooltip(
            field=_fld(col), type="quantitative", title=title, format=number_format or ",.3~f"
        )
    return alt.Tooltip(field=_fld(col), type="nominal", title=title)


def _finish(
    chart: TopLevelChart, title: str, subtitle: str | Sequence[str], description: str | None
) -> TopLevelChart:
    sub = subtitle if isinstance(subtitle, str) else " ".join(subtitle)
    chart = chart.properties(
        title=_title(title, subtitle), description=description or f"{title}. {sub}"
    )
    return apply_theme(chart)


# --- builders ---------------------------------------------------------------


#: A category axis whose labels are longer than this (characters) is drawn horizontally:
#: bars across, labels in full on the left, never squeezed or overlapping under narrow bars.
HORIZONTAL_LABEL_CHARS = 12


def _horizontal(levels: Sequence[object]) -> bool:
    return max((len(str(v)) for v in levels), default=0) > HORIZONTAL_LABEL_CHARS


def bar_with_intervals(
    df: pl.DataFrame,
    x: str,
    y: str,
    low: str,
    high: str,
    color: str | None = None,
    *,
    title: str,
    subtitle: str | Sequence[str],
    x_title: str,
    y_title: str,
    color_title: str | None = None,
    x_order: Sequence[object] | None = None,
    color_order: Sequence[object] | None = None,
    y_format: str | None = None,
    y_domain: tuple[float, float] | None = None,
    width: int | None = None,
    height: int = 300,
    description: str | None = None,
    horizontal: bool | None = None,
    targets: pl.DataFrame | None = None,
    target_title: str = "Target",
    theme: bool = True,
) -> alt.LayerChart:
    """Bars of ``y`` per ``x`` category with interval whiskers from ``low`` to ``high``.

    With ``color`` the bars are grouped side by side within each ``x`` category
    (colours from the grade palette if the levels are a known grading scale,
    else Okabe-Ito). Categories keep ``x_order`` / ``color_order`` if given,
    else their order of first appearance in ``df``. ``y_format`` is a d3 format
    (e.g. ``".0%"`` for shares). Bars start at zero.

    ``horizontal`` (default: when a category label is longer than
    HORIZONTAL_LABEL_CHARS) puts the categories down the
    left with their labels in full and the bars across, so labels never overlap.
    ``targets``: a frame of (``x``, ``target``) drawn as a black mark across each
    category's bars at its target (e.g. the published publication target; say so
    in the subtitle), ``target_title`` in its tooltip. ``theme=False`` leaves the config off (for
    :func:`stack`, which themes the whole).
    """
    _require(df, x, y, low, high, color)
    _require_text(title=title, subtitle=subtitle, x_title=x_title, y_title=y_title)
    if color is not None and not color_title:
        raise ValueError("color_title is required when color is given (it titles the legend)")
    x_levels = _levels(df, x, x_order)
    c_levels = _levels(df, color, color_order) if color else []
    n_bars = len(x_levels) * (len(c_levels) if color else 1)
    across = _horizontal(x_levels) if horizontal is None else horizontal
    cat, val, off = ("y", "x", "yOffset") if across else ("x", "y", "xOffset")
    enc = {"x": alt.X, "y": alt.Y}
    enc2 = {"x": alt.X2, "y": alt.Y2}
    data = _inline(df, [x, y, low, high, color] if color else [x, y, low, high])
    # Across: the category title sits above the labels, where it cannot run into them.
    cat_axis = (
        alt.Axis(labelLimit=320, titleAngle=0, titleAnchor="end", titleAlign="right", titleBaseline="bottom", titleX=-6, titleY=-8)
        if across else alt.Axis(labelExpr=_wrap_words(), labelAngle=0)
    )
    cat_enc = enc[cat](field=_fld(x), type="nominal", title=x_title, sort=x_levels, axis=cat_axis)
    v_scale = alt.Scale(zero=True, domain=list(y_domain)) if y_domain else alt.Scale(zero=True)
    v_axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    tooltip = [
        _fmt_tooltip(x, df.schema[x], x_title, None),
        _fmt_tooltip(y, df.schema[y], y_title, y_format),
        _fmt_tooltip(low, df.schema[low], "Interval low", y_format),
        _fmt_tooltip(high, df.schema[high], "Interval high", y_format),
    ]
    base = alt.Chart(data)
    bar_enc: dict[str, Any] = {
        cat: cat_enc,
        val: enc[val](field=_fld(y), type="quantitative", title=y_title, scale=v_scale, axis=v_axis),
    }
    err_enc: dict[str, Any] = {
        cat: cat_enc,
        val: enc[val](field=_fld(low), type="quantitative", title=y_title, scale=v_scale),
        val + "2": enc2[val](field=_fld(high)),
    }
    if color is not None:
        scale = alt.Scale(domain=c_levels, range=scale_colours(c_levels))
        bar_enc["color"] = alt.Color(
            field=_fld(color), type="nominal", title=color_title, scale=scale, sort=c_levels,
            legend=alt.Legend(direction="vertical", orient="bottom", labelLimit=520),
        )
        offset = alt.YOffset if across else alt.XOffset
        bar_enc[off] = offset(field=_fld(color), type="nominal", sort=c_levels, scale=alt.Scale(domain=c_levels))
        err_enc[off] = offset(field=_fld(color), type="nominal", sort=c_levels, scale=alt.Scale(domain=c_levels))
        tooltip.insert(1, _fmt_tooltip(color, df.schema[color], color_title or color, None))
    bars = base.mark_bar(color=OKABE_ITO[0], stroke="#FFFFFF", strokeWidth=1).encode(
        **bar_enc, tooltip=tooltip
    )
    whiskers = base.mark_errorbar(
        ticks=alt.MarkConfig(size=10), color=_INTERVAL_INK, thickness=1.5
    ).encode(**err_enc, tooltip=tooltip)
    layers: list[Any] = [bars, whiskers]
    if targets is not None and targets.height:
        _require(targets, x, "target")
        tdata = _inline(targets, [x, "target"])
        layers.append(
            alt.Chart(tdata).mark_tick(color=_INK, thickness=3, opacity=1).encode(
                **{
                    cat: enc[cat](field=_fld(x), type="nominal", sort=x_levels, title=x_title, axis=cat_axis),
                    val: enc[val](field="target", type="quantitative", scale=v_scale, title=y_title),
                    "tooltip": [_fmt_tooltip("target", targets.schema["target"], target_title, None)],
                }
            )
        )
    if across:
        size = {"width": width or 420, "height": max(120, (22 if color else 30) * n_bars)}
    else:
        size = {"width": width or max(240, min(720, 56 * n_bars)), "height": height}
    chart = alt.layer(*layers).properties(**size)
    if not theme:
        sub = subtitle if isinstance(subtitle, str) else " ".join(subtitle)
        chart = chart.properties(title=_title(title, subtitle), description=description or f"{title}. {sub}")
        assert isinstance(chart, alt.LayerChart)
        return chart
    out = _finish(chart, title, subtitle, description)
    assert isinstance(out, alt.LayerChart)
    return out


def stack(*parts: alt.LayerChart | alt.Chart, title: str, subtitle: str | Sequence[str], description: str | None = None) -> alt.VConcatChart:
    """Charts one above the other, each with its own value axis (one measure per axis),
    themed once. Build the parts with ``theme=False``."""
    _require_text(title=title, subtitle=subtitle)
    chart = alt.vconcat(*parts, spacing=28).resolve_scale(color="independent", x="independent", y="independent")
    out = _finish(chart, title, subtitle, description)
    assert isinstance(out, alt.VConcatChart)
    return out


def stacked_share(
    df: pl.DataFrame,
    category: str,
    share: str,
    group: str,
    order: Sequence[object],
    *,
    title: str,
    subtitle: str,
    x_title: str,
    y_title: str,
    legend_title: str,
    group_order: Sequence[object] | None = None,
    labels: bool = True,
    label_min: float = 0.06,
    width: int = 560,
    description: str | None = None,
) -> alt.LayerChart:
    """One horizontal 100% bar per ``group``, split into ``category`` shares in ``order``.

    ``share`` must hold fractions (0 to 1) that sum to at most 1 within each
    group (a frame of percentages is refused rather than drawn wrongly).
    ``order`` lists every category, best first for a grading scale (whose
    colours are then the graded palette). Segments of at least ``label_min``
    are labelled with their percentage.
    """
    _require(df, category, share, group)
    _require_text(
        title=title, subtitle=subtitle, x_title=x_title, y_title=y_title, legend_title=legend_title
    )
    cat_levels = _levels(df, category, order)
    grp_levels = _levels(df, group, group_order)
    if not df.schema[share].is_numeric():
        raise TypeError(f"column {share!r} must be numeric fractions, got {df.schema[share]}")
    shares = df.get_column(share)
    if shares.null_count() or ((shares < 0) | (shares > 1)).any():
        raise ValueError(f"column {share!r} must hold fractions between 0 and 1, without nulls")
    colours = scale_colours(cat_levels)
    rank = {str(v): i for i, v in enumerate(cat_levels)}
    on_dark = {str(v): _text_on(c) == _WHITE for v, c in zip(cat_levels, colours, strict=True)}

    data = (
        _inline(df, [group, category, share])
        .with_columns(
            pl.col(category)
            .cast(pl.String)
            .replace_strict(rank, return_dtype=pl.Int32)
            .alias("_rank"),
            pl.col(category)
            .cast(pl.String)
            .replace_strict(on_dark, return_dtype=pl.Boolean)
            .alias("_dark"),
        )
        .sort(pl.col(group).cast(pl.String), "_rank")
        .with_columns(
            (pl.col(share).cum_sum().over(group) - pl.col(share)).alias("_start"),
            pl.col(share).cum_sum().over(group).alias("_end"),
        )
        .with_columns(
            ((pl.col("_start") + pl.col("_end")) / 2).alias("_mid"),
            pl.format(
                "{}, {}: {}%", pl.col(group), pl.col(category), (pl.col(share) * 100).round(1)
            ).alias("_aria"),
            pl.format("{}%", (pl.col(share) * 100).round(0).cast(pl.Int64)).alias("_label"),
        )
    )
    over = data.group_by(group).agg(pl.col(share).sum()).filter(pl.col(share) > 1 + 1e-6)
    if over.height:
        bad = ", ".join(f"{g!r} ({s:.3f})" for g, s in over.sort(group).iter_rows())
        raise ValueError(f"shares in {share!r} sum to more than 1 for group(s): {bad}")

    y_enc = alt.Y(field=_fld(group), type="nominal", title=y_title, sort=grp_levels)
    x_scale = alt.Scale(domain=[0, 1], nice=False)
    tooltip = [
        alt.Tooltip(field=_fld(group), type="nominal", title=y_title),
        alt.Tooltip(field=_fld(category), type="nominal", title=legend_title),
        alt.Tooltip(field=_fld(share), type="quantitative", title=x_title, format=".1%"),
    ]
    base = alt.Chart(data)
    bars = base.mark_bar(stroke="#FFFFFF", strokeWidth=1.5).encode(
        y=y_enc,
        x=alt.X(
            field="_start",
            type="quantitative",
            title=x_title,
            scale=x_scale,
            axis=alt.Axis(format="%"),
        ),
        x2=alt.X2(field="_end"),
        color=alt.Color(
            field=_fld(category),
            type="nominal",
            title=legend_title,
            scale=alt.Scale(domain=cat_levels, range=colours),
            sort=cat_levels,
        ),
        tooltip=tooltip,
        description=alt.Description(field="_aria", type="nominal"),
    )
    layers: list[alt.Chart] = [bars]
    if labels:
        text = (
            base.transform_filter(alt.datum[share] >= label_min)
            .mark_text(fontSize=11)
            .encode(
                y=y_enc,
                x=alt.X(field="_mid", type="quantitative", title=x_title, scale=x_scale),
                text=alt.Text(field="_label", type="nominal"),
                color=_label_colour(),
                tooltip=tooltip,
            )
        )
        layers.append(text)
    chart = alt.layer(*layers).properties(width=width, height=alt.Step(34))
    out = _finish(chart, title, subtitle, description)
    assert isinstance(out, alt.LayerChart)
    return out


def heatmap(
    df: pl.DataFrame,
    row: str,
    col: str,
    value: str,
    text: str,
    *,
    title: str,
    subtitle: str,
    x_title: str,
    y_title: str,
    value_title: str,
    row_order: Sequence[object] | None = None,
    col_order: Sequence[object] | None = None,
    domain: tuple[float, float] | None = None,
    value_format: str | None = None,
    description: str | None = None,
) -> alt.LayerChart:
    """Cells coloured by ``value`` (light to dark blue), labelled with the ``text`` column.

    Rows and columns keep ``row_order`` / ``col_order`` if given, else first
    appearance. ``text`` is shown as given, so the caller writes e.g.
    ``"23% (n=120)"``; its colour switches to white on dark cells. ``domain``
    fixes the colour scale (e.g. ``(0, 1)`` for rates); by default it spans the data.
    """
    _require(df, row, col, value, text)
    _require_text(
        title=title, subtitle=subtitle, x_title=x_title, y_title=y_title, value_title=value_title
    )
    if not df.schema[value].is_numeric():
        raise TypeError(f"column {value!r} must be numeric, got {df.schema[value]}")
    rows = _levels(df, row, row_order)
    cols = _levels(df, col, col_order)
    if domain is None:
        vmin, vmax = df.get_column(value).min(), df.get_column(value).max()
        lo = float(vmin) if isinstance(vmin, int | float) else 0.0
        hi = float(vmax) if isinstance(vmax, int | float) else 1.0
        domain = (lo, hi if hi > lo else lo + 1.0)
    lo, hi = domain
    if not hi > lo:
        raise ValueError(f"domain must be increasing, got {domain}")
    data = _inline(df, [row, col, value, text]).with_columns(
        (((pl.col(value) - lo) / (hi - lo)) > _DARK_CELL).fill_null(False).alias("_dark"),
        pl.col(text).cast(pl.String).fill_null("").alias(text),
    )
    x_enc = alt.X(
        field=_fld(col),
        type="nominal",
        title=x_title,
        sort=cols,
        axis=alt.Axis(labelExpr=_wrap_words(), labelAngle=0),
    )
    y_enc = alt.Y(field=_fld(row), type="nominal", title=y_title, sort=rows)
    tooltip = [
        alt.Tooltip(field=_fld(row), type="nominal", title=y_title),
        alt.Tooltip(field=_fld(col), type="nominal", title=x_title),
        alt.Tooltip(
            field=_fld(value),
            type="quantitative",
            title=value_title,
            format=value_format or ",.3~f",
        ),
        alt.Tooltip(field=_fld(text), type="nominal", title="Label"),
    ]
    legend = alt.Legend(format=value_format) if value_format else alt.Legend()
    base = alt.Chart(data)
    cells = base.mark_rect(stroke="#FFFFFF", strokeWidth=1).encode(
        x=x_enc,
        y=y_enc,
        color=alt.Color(
            field=_fld(value),
            type="quantitative",
            title=value_title,
            scale=alt.Scale(domain=[lo, hi], range=list(SEQUENTIAL), interpolate="rgb", clamp=True),
            legend=legend,
        ),
        tooltip=tooltip,
    )
    labels = base.mark_text(fontSize=12).encode(
        x=x_enc,
        y=y_enc,
        text=alt.Text(field=_fld(text), type="nominal"),
        color=_label_colour(),
        tooltip=tooltip,
    )
    chart = alt.layer(cells, labels).properties(
        width=alt.Step(
            max(72, 16 + 9 * max((len(w) for c in cols for w in str(c).split()), default=8))
        ),
        height=alt.Step(40),
    )
    out = _finish(chart, title, subtitle, description)
    assert isinstance(out, alt.LayerChart)
    return out


def line_with_band(
    df: pl.DataFrame,
    x: str,
    y: str,
    low: str,
    high: str,
    color: str | None = None,
    *,
    title: str,
    subtitle: str,
    x_title: str,
    y_title: str,
    color_title: str | None = None,
    color_order: Sequence[object] | None = None,
    x_order: Sequence[object] | None = None,
    y_format: str | None = None,
    x_format: str | None = None,
    y_zero: bool = False,
    width: int = 560,
    height: int = 300,
    description: str | None = None,
) -> alt.LayerChart:
    """A line of ``y`` over ``x`` with points, and a shaded band from ``low`` to ``high``.

    ``x`` may be a date (drawn on a UTC time axis; ``x_format`` is a d3 time
    format, default year), a number, or a category (kept in ``x_order`` or
    first-appearance order). With ``color`` there is one line and band per
    series, in Okabe-Ito colours (or graded colours for a known grading scale).
    """
    _require(df, x, y, low, high, color)
    _require_text(title=title, subtitle=subtitle, x_title=x_title, y_title=y_title)
    if color is not None and not color_title:
        raise ValueError("color_title is required when color is given (it titles the legend)")
    x_dtype = df.schema[x]
    x_kind = _encoding_type(x_dtype)
    data = _inline(df, [x, y, low, high, color] if color else [x, y, low, high])
    if x_kind == "temporal":
        x_enc = alt.X(
            field=_fld(x),
            type="temporal",
            title=x_title,
            scale=alt.Scale(type="utc"),
            axis=alt.Axis(format=x_format or "%Y"),
        )
    elif x_kind == "quantitative":
        x_enc = alt.X(
            field=_fld(x),
            type="quantitative",
            title=x_title,
            scale=alt.Scale(zero=False),
            axis=alt.Axis(format=x_format) if x_format else alt.Axis(),
        )
    else:
        x_enc = alt.X(
            field=_fld(x),
            type="ordinal",
            title=x_title,
            sort=_levels(df, x, x_order),
            axis=alt.Axis(labelAngle=0),
        )
    y_axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    y_scale = alt.Scale(zero=y_zero)
    tooltip = [
        _fmt_tooltip(x, x_dtype, x_title, x_format if x_kind != "temporal" else None),
        _fmt_tooltip(y, df.schema[y], y_title, y_format),
        _fmt_tooltip(low, df.schema[low], "Interval low", y_format),
        _fmt_tooltip(high, df.schema[high], "Interval high", y_format),
    ]
    line_kw: dict[str, Any] = {}
    band_kw: dict[str, Any] = {}
    if color is not None:
        levels = _levels(df, color, color_order)
        c_enc = alt.Color(
            field=_fld(color),
            type="nominal",
            title=color_title,
            sort=levels,
            scale=alt.Scale(domain=levels, range=scale_colours(levels)),
            legend=alt.Legend(symbolOpacity=1, symbolType="circle"),
        )
        # the same encoding in both layers, so their legends merge into one
        line_kw["color"] = c_enc
        band_kw["color"] = c_enc
        tooltip.insert(1, _fmt_tooltip(color, df.schema[color], color_title or color, None))
    base = alt.Chart(data)
    band = base.mark_area(opacity=0.22, color=OKABE_ITO[0]).encode(
        x=x_enc,
        y=alt.Y(field=_fld(low), type="quantitative", title=y_title, scale=y_scale),
        y2=alt.Y2(field=_fld(high)),
        **band_kw,
    )
    line = base.mark_line(
        color=OKABE_ITO[0],
        strokeWidth=2,
        point=alt.OverlayMarkDef(size=36, filled=True, color=OKABE_ITO[0]),
    ).encode(
        x=x_enc,
        y=alt.Y(field=_fld(y), type="quantitative", title=y_title, scale=y_scale, axis=y_axis),
        tooltip=tooltip,
        **line_kw,
    )
    chart = alt.layer(band, line).properties(width=width, height=height)
    out = _finish(chart, title, subtitle, description)
    assert isinstance(out, alt.LayerChart)
    return out


# --- rendering --------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _label_colour() -> Any:
    """White text where the row's ``_dark`` flag is set, near-black elsewhere (no colour scale)."""
    return alt.when(alt.datum["_dark"]).then(alt.value(_WHITE)).otherwise(alt.value(_INK))


def _text_on(background: str) -> str:
    """Black or white text, whichever contrasts more with ``background`` (WCAG formula)."""
    lum = _luminance(background)
    black = (lum + 0.05) / 0.05
    white = 1.05 / (lum + 0.05)
    return _INK if black >= white else _WHITE


def _vl_version() -> str | None:
    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None


def _find_urls(node: object, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "url" and isinstance(value, str):
                found.append(f"{here} = {value}")
            found.extend(_find_urls(value, here))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_find_urls(value, f"{path}[{i}]"))
    return found


def chart_spec(chart: TopLevelChart) -> dict[str, Any]:
    """The validated Vega-Lite spec of ``chart`` with the Evenhand theme, data inline.

    The config is the theme plus the chart's own config only, so a theme enabled
    globally elsewhere in the process cannot change the output. Raises
    ``ValueError`` if the spec refers to data by URL (Evenhand renders offline).
    """
    spec = chart.to_dict(validate=True)
    # Undo whatever the globally enabled Altair theme merged in: top-level keys
    # the chart itself does not set, and its config (replaced by ours below).
    active = alt.theme.get()
    for key in active() if active is not None else {}:
        if key not in ("config", "$schema") and getattr(chart, key, alt.Undefined) is alt.Undefined:
            spec.pop(key, None)
    own = {} if chart.config is alt.Undefined else chart.config.to_dict()
    spec["config"] = _deep_merge(theme_config(), own)
    urls = _find_urls({k: v for k, v in spec.items() if k != "$schema"})
    if urls:
        raise ValueError(
            "chart refers to external data, which Evenhand does not load (offline rendering): "
            + "; ".join(urls)
        )
    return spec


_ID = re.compile(r'\bid="([^"]+)"')


def _normalise_ids(svg: str) -> str:
    """Renumber element ids in order of appearance (Vega numbers them per process)."""
    ids = list(dict.fromkeys(_ID.findall(svg)))
    if not ids:
        return svg
    mapping = {old: f"eh{i + 1}" for i, old in enumerate(ids)}
    pattern = re.compile(
        r'(\bid="|url\(#|href="#)('
        + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
        + r')(?=["\)])'
    )
    return pattern.sub(lambda m: m.group(1) + mapping[m.group(2)], svg)


def _text_of(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return ""


def _add_title_desc(svg: str, spec: Mapping[str, Any]) -> str:
    """Give the SVG a ``<title>`` and ``<desc>`` (read by screen readers, shown as a tooltip)."""
    title = spec.get("title")
    text = _text_of(title.get("text") if isinstance(title, Mapping) else title)
    subtitle = _text_of(title.get("subtitle")) if isinstance(title, Mapping) else ""
    desc = _text_of(spec.get("description")) or " ".join(t for t in (text, subtitle) if t)
    head = svg.find(">", svg.find("<svg")) + 1
    if not head or not (text or desc):
        return svg
    extra = f"<title>{html.escape(text)}</title>" if text else ""
    extra += f"<desc>{html.escape(desc)}</desc>" if desc else ""
    return svg[:head] + extra + svg[head:]


def to_svg(chart: TopLevelChart) -> str:
    """Render ``chart`` to a self-contained SVG string, offline and deterministically.

    The SVG gets a ``<title>`` (the chart title) and a ``<desc>`` (the chart
    description: by default title and subtitle) for screen readers.
    """
    spec = chart_spec(chart)
    svg = vlc.vegalite_to_svg(
        json.dumps(spec, sort_keys=True), vl_version=_vl_version(), allowed_base_urls=[]
    )
    return _add_title_desc(_normalise_ids(svg), spec)


def to_png(chart: TopLevelChart, scale: float = 2.0) -> bytes:
    """Render ``chart`` to PNG bytes, offline; ``scale`` multiplies the pixel size."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    spec = chart_spec(chart)
    png = vlc.vegalite_to_png(
        json.dumps(spec, sort_keys=True),
        vl_version=_vl_version(),
        scale=scale,
        allowed_base_urls=[],
    )
    return bytes(png)
