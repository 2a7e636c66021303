"""Charts for the dashboard, rendered on the server as SVG (no JavaScript charting).

Audit charts are the Vega-Lite specs the audits return, rendered offline by vl-convert; the
region chart is built here with the Evenhand theme (evenhand.audit.charts). The school timeline
is the school report's own (evenhand.present.school.timeline_svg): one chart for the CLI report
and the dashboard.
"""

from __future__ import annotations

import json
from typing import Any

import altair as alt
import polars as pl
import vl_convert as vlc

from evenhand.audit import charts


def spec_svg(spec: dict[str, Any]) -> str:
    """A Vega-Lite spec (from an audit result) as SVG, offline: remote data is refused.

    Rendered as the evidence pack renders it (evenhand.present.report.chart_svg, through
    charts.to_svg) when that exists, else straight through vl-convert.
    """
    try:
        from evenhand.present.report import chart_svg
    except ImportError:
        return str(vlc.vegalite_to_svg(json.dumps(spec, sort_keys=True), allowed_base_urls=[]))
    return chart_svg(spec)


def region_chart(frame: pl.DataFrame) -> charts.TopLevelChart | None:
    """Each Ofsted region's odds of a good-or-better judgement against an average region, after
    the audit's controls (the consistency audit's ``regions`` table: effect, low, high in log-odds),
    as a point with its 95% interval, on a log axis with a line at 1 (an average region)."""
    import math

    need = {"ofsted_region", "effect", "low", "high", "n"}
    if not need <= set(frame.columns) or frame.height == 0:
        return None
    df = frame.drop_nulls(["effect", "low", "high"]).with_columns(
        pl.col("effect").exp().alias("odds"), pl.col("low").exp().alias("odds_low"), pl.col("high").exp().alias("odds_high"),
        pl.col("ofsted_region").cast(pl.String),
    ).sort("odds", descending=True)
    if df.height == 0:
        return None
    order = df["ofsted_region"].to_list()
    lo = min(float(df["odds_low"].min() or 1.0), 1.0)  # type: ignore[arg-type]
    hi = max(float(df["odds_high"].max() or 1.0), 1.0)  # type: ignore[arg-type]
    pad = math.exp((math.log(float(hi)) - math.log(float(lo))) * 0.08)
    domain = [float(lo) / pad, float(hi) * pad]
    data = alt.Data(values=df.select("ofsted_region", "odds", "odds_low", "odds_high", "n").to_dicts())
    x = alt.X("odds:Q", title="Odds of good or better against an average region (log scale)", scale=alt.Scale(type="log", domain=domain))
    y = alt.Y("ofsted_region:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    base = alt.Chart(data)
    whiskers = base.mark_rule(strokeWidth=2, color=charts.OKABE_ITO[0]).encode(x=alt.X("odds_low:Q", scale=alt.Scale(type="log", domain=domain)), x2="odds_high:Q", y=y)
    points = base.mark_point(filled=True, size=70, color=charts.OKABE_ITO[0]).encode(
        x=x, y=y,
        tooltip=[alt.Tooltip("ofsted_region:N", title="Region"), alt.Tooltip("odds:Q", format=".2f", title="Odds"),
                 alt.Tooltip("odds_low:Q", format=".2f", title="Lower 95%"), alt.Tooltip("odds_high:Q", format=".2f", title="Upper 95%"),
                 alt.Tooltip("n:Q", format=",", title="n")],
    )
    one = alt.Chart(alt.Data(values=[{"x": 1.0}])).mark_rule(strokeDash=[4, 3], color="#555555").encode(x=alt.X("x:Q", scale=alt.Scale(type="log", domain=domain)))
    chart = alt.layer(one, whiskers, points).properties(
        width=460, height=max(160, 26 * df.height),
        title=alt.TitleParams("Ofsted regions after controls", subtitle=["Point: odds of good or better against an average region (dashed line);", "bar: its 95% interval."]),
    )
    return charts.apply_theme(chart)


def region_svg(frame: pl.DataFrame) -> str | None:
    chart = region_chart(frame)
    return None if chart is None else charts.to_svg(chart)
