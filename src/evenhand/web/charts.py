"""Charts for the dashboard, rendered on the server as SVG (no JavaScript charting).

The school timeline is built with Altair and the Evenhand theme (evenhand.audit.charts) and
rendered offline by vl-convert; audit charts are the Vega-Lite specs the audits return.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import altair as alt
import polars as pl
import vl_convert as vlc

from evenhand import maps
from evenhand.audit import charts


def timeline_rows(history: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per graded inspection with a dated overall judgement (what the timeline draws)."""
    rows = []
    for ev in history.get("events", []):
        start = ev.get("start_date")
        if not start:
            continue
        for j in ev.get("judgements", []):
            if j.get("area") == "overall_effectiveness" and j.get("graded"):
                rows.append(
                    {
                        "date": dt.date.fromisoformat(start),
                        "judgement": str(j.get("label")),
                        "scale": maps.scale_label(str(j.get("scale"))),
                        "rank": int(j.get("rank") or 0),
                        "kind": str(ev.get("kind")),
                    }
                )
    return rows


def timeline_chart(history: dict[str, Any]) -> charts.TopLevelChart | None:
    """Overall judgements of every graded inspection over time, one mark each, on their own scale."""
    rows = timeline_rows(history)
    if not rows:
        return None
    df = pl.DataFrame(rows).sort("date")
    dates: list[dt.date] = df["date"].to_list()
    span_years = (dates[-1] - dates[0]).days / 365.25
    levels = sorted({(r["rank"], r["judgement"]) for r in rows})
    order: list[str] = list(dict.fromkeys(str(label) for _, label in levels))
    try:
        colours = charts.scale_colours(order)
    except ValueError:
        colours = list(charts.OKABE_ITO[: len(order)]) if len(order) <= len(charts.OKABE_ITO) else []
    data = df.with_columns(pl.col("date").map_elements(lambda d: dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp() * 1000, return_dtype=pl.Float64).alias("ms"))
    colour = alt.Color("judgement:N", sort=order, title="Overall judgement")
    if colours:
        colour = alt.Color("judgement:N", sort=order, title="Overall judgement", scale=alt.Scale(domain=order, range=colours))
    base = alt.Chart(alt.Data(values=data.select("ms", "judgement", "scale", "kind").to_dicts()))
    enc_x = alt.X("ms:T", title="Inspection start date", scale=alt.Scale(type="utc"), axis=alt.Axis(format="%Y", tickCount=alt.TimeIntervalStep(interval="year", step=1 if span_years <= 12 else 2)))
    enc_y = alt.Y("judgement:N", sort=order, title=None)
    line = base.mark_line(color="#BDBDBD").encode(x=enc_x, y=enc_y)
    pts = base.mark_point(filled=True, size=160, opacity=1).encode(x=enc_x, y=enc_y, color=colour, shape=alt.Shape("scale:N", title="Scale"))
    chart = alt.layer(line, pts).properties(
        width=560,
        height=max(90, 36 * len(order)),
        title=alt.TitleParams(
            "Overall judgement at each graded inspection",
            subtitle=[f"n = {len(rows)} graded inspections with an overall judgement; each on its own grading scale"],
        ),
        description="Timeline of overall inspection judgements",
    )
    return charts.apply_theme(chart)


def timeline_svg(history: dict[str, Any]) -> str | None:
    chart = timeline_chart(history)
    return None if chart is None else charts.to_svg(chart)


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
