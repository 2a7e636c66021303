"""One school's inspection in context: everything the school report shows, as plain data.

:func:`school_report_data` returns a JSON-ready dict (dates as ISO text) that the HTML/PDF
report (``templates/school.html`` with ``_school_body.html``) and the dashboard both render.
Its data come from the school's precomputed page (``out.school_pages``, written by the build:
:mod:`evenhand.derive.school_pages`), read with one lookup; this module only labels and
formats them.
Nothing here converts one grading scale into another: each judgement keeps its own scale
and label. Numbers carry their n (and, for shares, a Wilson interval).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from evenhand import maps
from evenhand.core.warehouse import frame
from evenhand.derive.school_pages import SchoolPage, has_pages, read_pages
from evenhand.errors import EvenhandError, UnknownInspectionError, UnknownSchoolError
from evenhand.metadata.definitions import LATE_PUBLICATION, SAFEGUARDING_LIMITED
from evenhand.present.pack_tables import grade_label
from evenhand.present.synthetic import is_synthetic
from evenhand.stats.intervals import wilson

#: Below this many similar schools the comparison is shown with a small-numbers warning.
SMALL_N = 30
#: Below this many other report-card schools no comparison is made (too few to say anything).
REPORT_CARD_MIN_SCHOOLS = 10
#: A latest graded judgement older than this many years is flagged as old.
OLD_JUDGEMENT_YEARS = 5

#: How a safeguarding judgement reads in a sentence ("Safeguarding: not effective").
SAFEGUARDING_WORDS = {"Yes": "effective", "No": "not effective"}

#: Context measures shown over the years, with how to show them.
CONTEXT_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("pupils", "Pupils on roll", "count"),
    ("fsm_pct", "Free school meals (%)", "pct"),
    ("fsm6_pct", "Disadvantaged, FSM in last 6 years (%)", "pct"),
    ("eal_pct", "English as an additional language (%)", "pct"),
    ("sen_ehcp_pct", "SEN with an EHC plan (%)", "pct"),
    ("sen_support_pct", "SEN support (%)", "pct"),
    ("absence_overall_pct", "Overall absence (%)", "pct"),
    ("persistent_absence_pct", "Persistent absence (%)", "pct"),
    ("ks2_rwm_expected_pct", "KS2 reading, writing and maths at expected standard (%)", "pct"),
    ("ks2_reading_progress", "KS2 reading progress", "score"),
    ("ks2_maths_progress", "KS2 maths progress", "score"),
    ("progress8", "Progress 8", "score"),
    ("attainment8", "Attainment 8", "number"),
    ("income_per_pupil_gbp", "Income per pupil (£)", "gbp"),
    ("expenditure_per_pupil_gbp", "Spending per pupil (£)", "gbp"),
)


# --- looking a school up ----------------------------------------------------------------


def suggest_schools(con: duckdb.DuckDBPyConnection, text: str, limit: int = 5) -> list[tuple[int, str]]:
    """Schools whose names are closest to ``text`` (difflib), as (urn, name)."""
    rows = con.execute(
        "SELECT urn, school_name FROM out.school_latest ORDER BY urn"
    ).fetchall()
    by_name: dict[str, list[int]] = {}
    for urn, name in rows:
        by_name.setdefault(str(name), []).append(int(urn))
    lower = {n.lower(): n for n in by_name}
    hits = difflib.get_close_matches(text.lower(), list(lower), n=limit, cutoff=0.5)
    return [(by_name[lower[h]][0], lower[h]) for h in hits]


def unknown_school(con: duckdb.DuckDBPyConnection, query: str) -> UnknownSchoolError:
    """The error for a URN (or name) not in the warehouse, with close matches by name."""
    n = con.execute("SELECT count(DISTINCT urn) FROM core.schools").fetchall()[0][0]
    near: list[tuple[int, str]] = []
    if not query.strip().isdigit():
        near = suggest_schools(con, query)
    else:
        # A mistyped URN: suggest URNs that differ by one digit and exist.
        urns = [int(r[0]) for r in con.execute("SELECT DISTINCT urn FROM core.schools").fetchall()]
        text = query.strip()
        close = difflib.get_close_matches(text, [str(u) for u in urns], n=5, cutoff=0.8)
        if close:
            names = dict(con.execute(
                "SELECT urn, school_name FROM out.school_latest WHERE urn IN (SELECT unnest(?))",
                [[int(c) for c in close]],
            ).fetchall())
            near = [(int(c), str(names.get(int(c), ""))) for c in close]
    hint = (
        "Did you mean: " + "; ".join(f"{name} (URN {urn})" for urn, name in near) + ". "
        if near else ""
    )
    return UnknownSchoolError(
        f"URN {query} is not in the warehouse ({n:,} schools are). {hint}"
        "Find a school's URN by name with:  evenhand school --find \"part of the name\"  "
        "(or look it up on https://get-information-schools.service.gov.uk)."
    )


def find_schools(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Schools whose name contains ``text`` (case-insensitive), else the closest names."""
    df = frame(
        con,
        """SELECT urn, school_name, local_authority, phase FROM out.school_latest
           WHERE contains(lower(school_name), lower(?))
           ORDER BY school_name, urn LIMIT ?""",
        [text, limit],
    )
    if df.height:
        return [dict(r) for r in df.iter_rows(named=True)]
    return [{"urn": u, "school_name": n, "local_authority": None, "phase": None} for u, n in suggest_schools(con, text)]


# --- flags --------------------------------------------------------------------------------


def _area_key(area: str, kind: str) -> tuple[int, int]:
    """Ofsted's order: a report card's areas in its own order (safeguarding standards first)."""
    a = maps.areas().get(area)
    if kind == "report_card" and a is not None and a.report_card_order is not None:
        return (0, a.report_card_order)
    return (1, maps.area_order(area))


def _length(t: dict[str, Any] | None) -> dict[str, int] | None:
    """Inspection length from out.timing: calendar days (start to end, both included) and the
    working days among them; None where the files give no end date."""
    if not t or t.get("inspection_length_days") is None or t.get("inspection_length_working_days") is None:
        return None
    return {"days": int(t["inspection_length_days"]), "working_days": int(t["inspection_length_working_days"])}


def _delay(f: dict[str, Any] | None, t: dict[str, Any] | None) -> dict[str, Any] | None:
    """Publication delay in working days as out.event_flags counts it (from the end date where
    known, else from the start), with the calendar days from out.timing."""
    if not f or f.get("publication_delay_working_days") is None:
        return None
    frm = f["publication_delay_from"]
    cal = (t or {}).get("end_to_publication_days" if frm == "end" else "start_to_publication_days")
    return {"working_days": int(f["publication_delay_working_days"]), "from": frm, "calendar_days": cal}


# --- similar schools --------------------------------------------------------------------


def similar_schools(page: SchoolPage, school: dict[str, Any]) -> dict[str, Any]:
    """How open schools of the same phase, IDACI quintile and size band (quintile of pupils
    within the phase) are judged at their latest graded inspection, on the 4-point overall
    scale only (report-card and 'Not judged' latest inspections are counted, not graded): the
    counts precomputed in out.school_pages, labelled here."""
    phase, quint, pupils = school.get("phase"), school.get("idaci_quintile"), school.get("pupils")
    base: dict[str, Any] = {"available": False, "phase": phase, "idaci_quintile": quint, "pupils": pupils}
    if phase is None or quint is None or pupils is None:
        missing = [k for k, v in (("phase", phase), ("IDACI quintile", quint), ("number of pupils", pupils)) if v is None]
        base["reason"] = f"the school's {', '.join(missing)} is not in the files, so no comparison group can be formed"
        return base
    sim = page.similar
    if sim is None:
        base["reason"] = f"no open {phase} schools with a number of pupils in out.latest_as_at"
        return base
    as_at, band, edges = dt.date.fromisoformat(sim["as_at"]), int(sim["band"]), [float(e) for e in sim["edges"]]
    cells = [c for c in sim["cells"] if int(c["k"]) > 0]
    n_group = sum(int(c["k"]) for c in cells)
    graded: dict[str, tuple[str, int]] = {}
    for c in cells:
        if not c["graded"]:
            continue
        code = str(c["code"])
        labels, k = graded.get(code, ("", 0))
        graded[code] = (" / ".join(sorted({*labels.split(" / "), str(c["label"])} - {""})), k + int(c["k"]))
    n = sum(k for _, k in graded.values())
    dist = []
    for code, label in maps.grade_labels("four_point").items():
        lbl, k = graded.get(code, (label, 0))
        e = wilson(k, n) if n else None
        dist.append({
            "code": code, "label": lbl, "k": k, "n": n,
            "share": e.value if e else None, "low": e.low if e else None, "high": e.high if e else None,
        })
    lo, hi = int(edges[band - 1]) + 1 if band > 1 else 0, edges[band]
    band_text = f"{lo:,} pupils and over" if math.isinf(hi) else f"{lo:,} to {int(hi):,} pupils"
    return {
        **base,
        "available": n > 0,
        "reason": None if n > 0 else "no similar school has a graded overall judgement on the 4-point scale",
        "as_at": as_at.isoformat(),
        "size_band": band,
        "size_band_text": band_text,
        "n_group": n_group,
        "n_graded": n,
        "n_no_overall": n_group - n,
        "small_n": 0 < n < SMALL_N,
        "distribution": dist,
        "method": (
            f"Open {phase.lower()} schools (excluding this one) in IDACI quintile {quint} and the same size band "
            f"(a fifth of {phase.lower()} schools by number of pupils), by the overall effectiveness of their latest "
            "graded inspection on the 4-point scale as at the latest school-level file. Shares with 95% Wilson intervals. "
            "Schools whose latest graded inspection gave no overall grade (from September 2024) or a report card are "
            "counted but not graded."
        ),
    }


def report_card_comparison(rc: dict[str, Any]) -> dict[str, Any]:
    """A report-card school compared with report-card schools only: for each area, in Ofsted's
    order of report-card areas, how the other report-card schools were graded on the
    five-point scale (counts precomputed in out.school_pages; Wilson intervals), never with
    four-point grades. Fewer than REPORT_CARD_MIN_SCHOOLS others: no comparison, said so."""
    n_schools = int(rc["n_schools"])
    base: dict[str, Any] = {"available": False, "report_card": True, "n_schools": n_schools, "n_others": n_schools - 1}
    if n_schools - 1 < REPORT_CARD_MIN_SCHOOLS:
        base["reason"] = (f"too few report-card schools to compare (n = {n_schools}, this school included; "
                          f"a comparison needs at least {REPORT_CARD_MIN_SCHOOLS} others)")
        return base
    levels = maps.grade_labels("report_card_5")
    by_area: dict[str, dict[str, int]] = {}
    for c in rc["cells"]:
        by_area.setdefault(str(c["area"]), {})[str(c["code"])] = by_area.get(str(c["area"]), {}).get(str(c["code"]), 0) + int(c["k"])
    areas = []
    for area in sorted(by_area, key=lambda a: _area_key(a, "report_card")):
        counts = by_area[area]
        n = sum(counts.values())
        if n == 0:
            continue
        dist = []
        for code, label in levels.items():
            e = wilson(counts.get(code, 0), n)
            dist.append({"code": code, "label": label, "k": counts.get(code, 0), "n": n, "share": e.value, "low": e.low, "high": e.high})
        areas.append({"area": area, "area_label": maps.area_label(area), "n": n, "small_n": n < SMALL_N, "distribution": dist})
    return {
        **base,
        "available": bool(areas),
        "reason": None if areas else "no other report-card school has a five-point grade",
        "areas": areas,
        "method": (
            f"The {n_schools - 1:,} other schools whose latest graded inspection in the files is a report card (from November 2025), "
            "by the grade of each report-card area on its five-point scale, in Ofsted's order of areas. Report-card grades are "
            "compared only with report-card grades, never with the four-point scale. Shares with 95% Wilson intervals."
        ),
    }


EXPECTED_CAVEAT = (
    "The model is fitted to how schools like this one were judged, and it builds in the very gradient "
    "under test: schools with more deprived intakes were judged worse, so the model expects worse grades "
    "for them. \"As expected\" for a school with this intake does not mean fair: an expected grade says how "
    "unusual this judgement was for such a school, not whether the judgement, or the gradient, was fair."
)
EXPECTED_BASIS = (
    "The model reads the school's deprivation (IDACI quintile), phase, size, type and region as in the "
    "latest school-level file{as_at}, the same for every inspection, and the academic year of the "
    "inspection; nothing measured at the time (no progress or results) is in it. For an earlier "
    "inspection it is therefore today's intake and context, not the school's at the time: not a "
    "prediction made then. It is fitted to every graded inspection with an overall grade of the schools "
    "open in that file, one model per inspection framework, with 95% intervals (delta method, covariance "
    "clustered by school). An interval is "
    "the model's uncertainty about a probability (narrow where many schools are like this one), not a range "
    "of grades the school should have had."
)


def _pct(p: float | None, decimals: int | None = None) -> str:
    """A probability in words: '61%', '0.4%' (under 1%), '<0.1%'; ``decimals`` forces the places."""
    if p is None:
        return "not known"
    v = 100 * float(p)
    if v < 0.05:
        return "<0.1%"
    if decimals is None:
        decimals = 1 if v < 1 else 0
    return f"{v:.{decimals}f}%"


def _with_interval(p: float | None, lo: float | None, hi: float | None) -> str:
    """'61% (57–65%)'; one decimal where whole percentages would hide the interval ('1.8%
    (1.6–1.9%)'); the point alone when there is no interval."""
    if lo is None or hi is None:
        return _pct(p)
    first = 1 if min(float(x) for x in (p or 0.0, lo, hi)) < 0.01 else 0
    for d in (first, first + 1, first + 2):
        a, b = _pct(lo, d), _pct(hi, d)
        if a != b:
            break
    return f"{_pct(p, d)} ({a.rstrip('%')}–{b})"


def _as_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str) and v:
        try:
            return dt.date.fromisoformat(v[:10])
        except ValueError:
            return None
    return None


def expected_judgement(urn: int, expected: pl.DataFrame | None, timeline: list[dict[str, Any]] | None = None,
                       reason: str | None = None, inspection: str | None = None,
                       as_at: str | None = None) -> dict[str, Any]:
    """The intake model's expected overall judgement for each of the school's graded inspections in
    the intake audit's 'expected' table (probabilities ``p_1`` .. ``p_4`` of grades 1-4 on the
    four-point scale with ``p_k_low`` / ``p_k_high``, the chance of the grade given or worse):
    in words, as bars, the contested inspection first (``inspection``: an event id or a start
    date, YYYY-MM-DD; default: the latest graded one)."""
    if expected is None or "urn" not in expected.columns:
        return {"available": False, "reason": reason or (
            "the intake audit's results were not found beside the warehouse: run "
            "`evenhand audit --warehouse WAREHOUSE --out FOLDER` and pass --audits FOLDER"
        )}
    mine = pl.col("urn") == urn
    if "event_urn" in expected.columns:
        mine = mine | (pl.col("event_urn") == urn)
    rows = expected.filter(mine).unique("event_id", keep="first", maintain_order=True)
    if rows.height == 0:
        return {"available": False, "not_covered": [], "reason": "the intake model gives no expected judgement for this school "
                                               "(it was not in the model's data: not open in the latest school-level file, or "
                                               "missing its deprivation, phase, size, type or region)"}
    events = {t["event_id"]: t for t in (timeline or [])}
    grades = [c[2:] for c in rows.columns if re.fullmatch(r"p_\d+", c)]
    items = []
    for r in rows.iter_rows(named=True):
        ev = events.get(r["event_id"], {})
        when = _as_date(ev.get("start_date")) or _as_date(r.get("start_date"))
        probs: list[dict[str, Any]] = []
        for g in grades:
            p = r.get(f"p_{g}")
            lo, hi = r.get(f"p_{g}_low"), r.get(f"p_{g}_high")
            probs.append({"code": g, "label": grade_label(g, when), "p": p, "low": lo, "high": hi,
                          "observed": str(r.get("observed")) == g, "text": _with_interval(p, lo, hi)})
        obs = str(r.get("observed") or "")
        if r.get("p_observed_or_worse") is not None:
            worse: float | None = float(r["p_observed_or_worse"])
            worse_lo, worse_hi = r.get("p_observed_or_worse_low"), r.get("p_observed_or_worse_high")
        else:
            worse = sum(float(x["p"] or 0.0) for x in probs if str(x["code"]) >= obs) if obs in grades else None
            worse_lo = worse_hi = None
        likeliest = max(probs, key=lambda x: float(x["p"] or 0.0))
        obs_label = grade_label(obs, when) if obs else None
        others = ", ".join(f"{str(x['label']).lower()} {x['text']}" for x in probs if x is not likeliest)
        sentence = (
            f"For a school with this intake the model expected {str(likeliest['label']).lower()} most often: "
            f"{likeliest['text']}; {others}."
        )
        if obs_label and worse is not None:
            if obs == (grades[0] if grades else ""):
                sentence += f" It was judged {obs_label.lower()}, the best grade."
            else:
                sentence += (
                    f" It was judged {obs_label.lower()}: the model gives a grade this low or lower a "
                    f"{_with_interval(worse, worse_lo, worse_hi)} chance."
                )
        items.append({
            "event_id": r["event_id"], "area": r["area"], "area_label": maps.area_label(str(r["area"])),
            "start_text": ev.get("start_text") or (_fmt_date(when) if when else "date not in the files"),
            "start_date": when.isoformat() if when else None,
            "latest": bool(r.get("latest")) if "latest" in rows.columns else None,
            "contested": False, "named": False, "observed_label": obs_label, "probabilities": probs,
            "as_bad_or_worse": worse, "as_bad_or_worse_low": worse_lo, "as_bad_or_worse_high": worse_hi,
            "sentence": sentence,
            "flagged": bool(ev.get("safeguarding_limited") or ev.get("cliff_edge")),
        })
    has_interval = any(x["low"] is not None for i in items for x in i["probabilities"])
    out: dict[str, Any] = {
        "available": True, "items": items, "caveat": EXPECTED_CAVEAT,
        "basis": EXPECTED_BASIS.format(as_at=f" (as at {_fmt_date(as_at)})" if as_at else "") if "latest" in rows.columns else (
            "The model reads the school's deprivation (IDACI quintile), phase, size, type and region as in the "
            "latest school-level file and the academic year of its latest graded inspection, the only one it models."),
        "one_row_per_school": "latest" not in rows.columns,
        "not_covered": [],
        "interval_note": "" if has_interval else (
            "The intake audit's table gives these probabilities without an interval (it was written by an "
            "older version: run `evenhand audit` again); they are model estimates and carry the model's uncertainty."
        ),
    }
    return contest(out, timeline, inspection)


def resolve_inspection(timeline: list[dict[str, Any]], inspection: str) -> dict[str, Any] | None:
    """The school's inspection named by its event id or its start date (YYYY-MM-DD); of several
    on one date, the graded one."""
    text = inspection.strip()
    hits = [t for t in timeline if t["event_id"] == text or t.get("start_date") == text]
    hits.sort(key=lambda t: t["kind"] != "graded")
    return hits[0] if hits else None


def contest(exp: dict[str, Any], timeline: list[dict[str, Any]] | None, inspection: str | None) -> dict[str, Any]:
    """``exp`` (from :func:`expected_judgement`) with the contested inspection marked and first:
    the one named by ``inspection`` (event id or start date), else the latest graded one; the
    others newest first. A named inspection the model has no row for is said in ``not_covered``."""
    if not exp.get("available"):
        return exp
    items = [dict(i, contested=False, named=False) for i in exp["items"]]
    tl = timeline or []
    notes: list[str] = []
    chosen: str | None = None
    if inspection:
        t = resolve_inspection(tl, inspection)
        target = t["event_id"] if t else inspection.strip()
        hit = next((i for i in items if i["event_id"] == target or i["start_date"] == inspection.strip()), None)
        if hit is not None:
            chosen = hit["event_id"]
            hit["named"] = True
        else:
            when = t["start_text"] if t else inspection
            notes.append(
                f"The inspection you named ({when}) is not in the model's table: the model covers graded "
                "inspections with an overall grade on the four-point scale (to August 2024) of schools open in "
                "the latest school-level file; the latest graded inspection is shown first instead."
            )
    if chosen is None and items:
        dated = [i for i in items if i["start_date"]]
        flagged_latest = [i for i in items if i.get("latest")]
        pick = flagged_latest[0] if flagged_latest else (max(dated, key=lambda i: i["start_date"]) if dated else items[0])
        chosen = pick["event_id"]
    for i in items:
        i["contested"] = i["event_id"] == chosen
    items.sort(key=lambda i: (not i["contested"], -(dt.date.fromisoformat(i["start_date"]).toordinal() if i["start_date"] else 0),
                              maps.area_order(str(i["area"]))))
    if exp.get("one_row_per_school") and not inspection:
        missing = [t for t in tl if (t.get("safeguarding_limited") or t.get("cliff_edge"))
                   and t["event_id"] not in {i["event_id"] for i in items}]
        notes += [f"The flagged inspection of {t['start_text']} is not in the model's table: this table was written by an "
                  "older version that modelled each school's latest graded inspection only (run `evenhand audit` again)."
                  for t in missing]
    return dict(exp, items=items, not_covered=notes, inspection=inspection)


# --- context ------------------------------------------------------------------------------


def _fmt_measure(value: float | None, kind: str, text: str | None, suppression: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if text:
            return str(text)
        return f"({suppression})" if suppression else ""
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "gbp":
        return f"£{value:,.0f}"
    if kind == "number":
        return f"{value:,.1f}"
    return f"{value:+.2f}" if kind == "score" else f"{value:,.2f}"


def context_over_years(page: SchoolPage) -> dict[str, Any]:
    """DfE measures of the school's lineage and predecessors by academic year (out.school_pages), formatted."""
    rows = page.context.get("rows", [])
    years = sorted({r["academic_year"] for r in rows})
    out_rows = []
    for measure, label, kind in CONTEXT_MEASURES:
        cells = {
            r["academic_year"]: _fmt_measure(r["value"], kind, r["value_text"], r["suppression"])
            for r in rows if r["measure"] == measure
        }
        if cells:
            out_rows.append({"measure": measure, "label": label, "cells": [cells.get(y, "") for y in years]})
    return {"years": years, "rows": out_rows, "files": list(page.context.get("files", []))}


# --- the report data ------------------------------------------------------------------------


def _month(d: dt.date) -> str:
    return f"{d.strftime('%B')} {d.year}"


def scale_key(scale: str, numbered: bool = True) -> str:
    """How a scale reads, from maps/codes.csv: '1 Outstanding, 2 Good, 3 Satisfactory (to August
    2012) or Requires improvement (from September 2012), 4 Inadequate'."""
    parts = []
    for code in maps.grade_labels(scale):
        labels = sorted((c for c in maps.codes() if c.scale == scale and c.code == code), key=lambda c: c.valid_from or dt.date.min)
        if len(labels) > 1:
            text = " or ".join(
                c.label + (f" (to {_month(c.valid_to)})" if c.valid_to else f" (from {_month(c.valid_from)})" if c.valid_from else "")
                for c in labels
            )
        else:
            text = labels[0].label
        parts.append(f"{code} {text}" if numbered else text)
    return ", ".join(parts)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


def _fmt_date(iso: str | dt.date | None) -> str:
    if not iso:
        return "not known"
    d = iso if isinstance(iso, dt.date) else dt.date.fromisoformat(iso)
    return f"{d.day} {d.strftime('%B %Y')}"


def school_report_data(
    con: duckdb.DuckDBPyConnection,
    urn: int,
    expected: pl.DataFrame | None = None,
    warehouse: Path | None = None,
    history: dict[str, Any] | None = None,
    expected_reason: str | None = None,
    inspection: str | None = None,
    page: SchoolPage | None = None,
    synthetic: bool | None = None,
) -> dict[str, Any]:
    """Everything the school report shows for ``urn`` (see the module docstring), as at the
    warehouse's latest as-at date (out.latest_as_at), from the school's precomputed page.

    ``expected``: the intake audit's 'expected' table, if available;
    ``history``: evenhand.query's history JSON for ``urn`` when the caller already has it;
    ``inspection``: the contested inspection (event id or start date, YYYY-MM-DD) whose expected
    judgement comes first (default: the latest graded one; see :func:`contest`);
    ``page``: the school's out.school_pages row when the caller has read it (the dashboard);
    ``synthetic``: whether the warehouse is synthetic, when the caller knows (Evenhand.synthetic).
    Raises :class:`UnknownSchoolError` (with close matches) for an unknown URN.
    """
    if page is None:
        if not has_pages(con):
            raise EvenhandError("the warehouse was built by an older Evenhand (no out.school_pages): build it again")
        page = read_pages(con, [urn]).get(int(urn))
    if page is None:
        raise unknown_school(con, str(urn))
    hist: dict[str, Any] = history if history is not None else {"urn": page.urn, "school": page.school, "events": page.events, "lineage": page.lineage}
    raw_school = hist["school"] or {}
    if not raw_school:
        fb = page.fallback or {}
        raw_school = {"school_name": fb.get("school_name") or unnamed(urn), "school_type": fb.get("school_type")}
    lineage = hist.get("lineage") or {}
    lineage_urns = [int(u["urn"]) for u in lineage.get("urns", [])] or [urn]
    pred_urns = {int(p["urn"]) for p in lineage.get("predecessors", [])}

    # Events: own and reported-as-this-school's, plus predecessors' events from the lineage.
    events: list[dict[str, Any]] = list(hist["events"])
    seen = {e["event_id"] for e in events}
    extra_ids = [e["event_id"] for p in lineage.get("predecessors", []) for e in p.get("events", []) if e["event_id"] not in seen]
    if extra_ids:
        others = read_pages(con, sorted(pred_urns))
        for other in sorted(pred_urns):
            for e in others[other].events if other in others else []:
                if e["event_id"] not in seen and e["event_id"] in extra_ids:
                    events.append(e)
                    seen.add(e["event_id"])
    events.sort(key=lambda e: (e.get("start_date") or "", e["event_id"]))
    facts = page.facts  # per event: out.timing, out.event_flags and out.transitions, decided at build time
    latest = page.latest

    flags: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    for ev in events:
        js = sorted(
            [j for j in ev["judgements"] if j["graded"] or j["area"] == "overall_effectiveness"],
            key=lambda j: _area_key(j["area"], ev["kind"]),
        )
        # every flag is read from out.event_flags (decided once, at build time); nothing is decided here
        fl = facts.get(ev["event_id"], {})
        delay = _delay(fl, fl)
        sg_lim = bool(fl.get("safeguarding_limited"))
        not_met = bool(fl.get("safeguarding_not_met"))
        t = fl.get("transition")
        cliff = bool(fl.get("cliff_edge"))
        target = fl.get("publication_target_working_days")
        late = bool(fl.get("beyond_target"))
        row = {
            "event_id": ev["event_id"],
            "urn": ev["urn"],
            "other_urn": ev["urn"] != urn,
            "predecessor": ev["urn"] in pred_urns,
            "school_name": ev.get("school_name"),
            "kind": ev["kind"],
            "kind_label": maps.kind_label(ev["kind"]),
            "era": ev.get("era"),
            "era_label": maps.era_label(ev.get("era")),
            "inspection_type": ev.get("inspection_type"),
            "start_date": ev.get("start_date"),
            "start_text": _fmt_date(ev.get("start_date")),
            "end_date": ev.get("end_date"),
            "end_text": _fmt_date(ev.get("end_date")) if ev.get("end_date") else None,
            "length": _length(fl),
            "publication_date": ev.get("publication_date"),
            "publication_text": _fmt_date(ev.get("publication_date")) if ev.get("publication_date") else "not in the files",
            "category_of_concern": ev.get("category_of_concern"),
            "category_label": maps.code_label("category_of_concern", ev["category_of_concern"]) if ev.get("category_of_concern") else None,
            "judgements": [
                {
                    "area": j["area"],
                    "area_label": "Safeguarding" if j["scale"] == "safeguarding_effective" else maps.area_label(j["area"]),
                    "label": SAFEGUARDING_WORDS.get(j["label"], j["label"]) if j["scale"] == "safeguarding_effective" else j["label"],
                    "code": j["code"], "scale": j["scale"],
                    "scale_label": "" if j["scale"] == "safeguarding_effective" else maps.scale_label(j["scale"]),
                    "graded": j["graded"],
                }
                for j in js
            ],
            "delay": delay,
            "target_working_days": target,
            "target_source": fl.get("publication_target_source"),
            "late": late,
            "safeguarding_limited": sg_lim,
            "safeguarding_not_met": not_met,
            "cliff_edge": cliff,
            "transition": ({"from_label": t["from_label"], "to_label": t["to_label"], "from_start_date": _iso(t.get("from_start_date"))} if t else None),
            "sources": [s["file"] for s in ev.get("sources", [])],
        }
        timeline.append(row)
        when = row["start_text"]
        if sg_lim:
            flags.append({"key": "safeguarding_limited", "event_id": ev["event_id"], "title": "Safeguarding-limited judgement",
                          "detail": f"The inspection of {when} found safeguarding not effective and judged the school "
                                    "inadequate overall or in leadership, while quality of education, behaviour and attitudes "
                                    "and personal development were each judged good or better."})
        if not_met:
            flags.append({"key": "safeguarding_not_met", "event_id": ev["event_id"], "title": "Safeguarding standards not met",
                          "detail": f"The report card of the inspection of {when} records safeguarding standards as not met."})
        if cliff and t:
            flags.append({"key": "cliff_edge", "event_id": ev["event_id"], "title": "Cliff-edge drop",
                          "detail": f"The overall judgement fell from {t['from_label']} ({_fmt_date(t.get('from_start_date'))}) "
                                    f"to {t['to_label']} ({when}): {int(fl['overall_change'])} steps on the "
                                    f"{maps.scale_label(t.get('to_scale'))} scale."})
        if late and delay:
            frm = "end" if delay["from"] == "end" else "start (the end date is not in the published files)"
            level = " (reports needing further quality assurance)" if fl.get("publication_target_level") == maps.FURTHER_QUALITY_ASSURANCE else ""
            flags.append({"key": "publication_delay", "event_id": ev["event_id"], "title": "Publication delay beyond the target",
                          "detail": f"The report of the inspection of {when} was published {delay['working_days']} working days after its {frm}, "
                                    f"against Ofsted's target of {target} working days{level} for inspections under its framework."})

    latest_info: dict[str, Any] | None = None
    if latest:
        age = latest.get("age_of_latest_graded_days")
        latest_info = {
            "as_at": latest["as_at"].isoformat() if isinstance(latest["as_at"], dt.date) else latest["as_at"],
            "event_id": latest.get("graded_event_id"),
            "urn": latest.get("graded_urn"),
            "label": latest.get("overall_label"),
            "scale": latest.get("overall_scale"),
            "start_date": _iso(latest["graded_start_date"]) if latest.get("graded_start_date") else None,
            "carried": bool(latest.get("graded_carried")),
            "age_days": age,
            "age_years": round(age / 365.25, 1) if age is not None else None,
            "ungraded_label": latest.get("ungraded_outcome_label"),
            "file_as_at": latest.get("file_as_at"),
        }
        if age is not None and age > OLD_JUDGEMENT_YEARS * 365.25:
            flags.append({"key": "old_judgement", "event_id": latest.get("graded_event_id"), "title": "Old judgement",
                          "detail": f"As at {_fmt_date(latest_info['as_at'])} the latest graded inspection started "
                                    f"{latest_info['age_years']} years earlier ({_fmt_date(latest_info['start_date'])}), more than {OLD_JUDGEMENT_YEARS} years."})
        if latest_info["carried"]:
            flags.append({"key": "carried", "event_id": latest.get("graded_event_id"), "title": "Predecessor's judgement carried over",
                          "detail": f"The school has not had a graded inspection under URN {urn}; its latest graded judgement "
                                    f"({latest_info['label'] or 'an inspection with no overall grade'}, {_fmt_date(latest_info['start_date'])}) is that of "
                                    f"its predecessor, URN {latest_info['urn']}, as Ofsted's official statistics carry it over."})

    school = {
        "urn": urn,
        "name": raw_school.get("school_name") or unnamed(urn),
        "phase": raw_school.get("phase"),
        "type": raw_school.get("school_type"),
        "local_authority": raw_school.get("local_authority"),
        "region": raw_school.get("region"),
        "trust": raw_school.get("trust_name"),
        "pupils": raw_school.get("pupils"),
        "idaci_quintile": raw_school.get("idaci_quintile"),
        "postcode": raw_school.get("postcode"),
        "as_at": raw_school.get("as_at"),
        "lineage_urns": lineage_urns,
        "predecessors": [{"urn": p["urn"], "name": p.get("school_name"), "link": _link_words(p)} for p in lineage.get("predecessors", [])],
        "successors": [{"urn": p["urn"], "name": p.get("school_name"), "link": _link_words(p)} for p in lineage.get("successors", [])],
    }
    # a report-card school is compared with report-card schools only, on their own scale
    similar = report_card_comparison(page.report_card) if page.report_card is not None else similar_schools(page, raw_school)
    if inspection is not None and resolve_inspection(timeline, inspection) is None:
        graded = [t for t in timeline if t["kind"] == "graded" and t.get("start_date")]
        listed = "; ".join(f"{t['start_date']} (event {t['event_id']})" for t in graded) or "none"
        raise UnknownInspectionError(
            f"URN {urn} has no inspection {inspection.strip()!r}: name one by its start date (YYYY-MM-DD) or its "
            f"event id. Its graded inspections: {listed}."
        )
    exp = expected_judgement(urn, expected, timeline, expected_reason, inspection,
                             as_at=latest_info["as_at"] if latest_info else None)
    context = context_over_years(page)
    data: dict[str, Any] = {
        "school": school,
        "timeline": timeline,
        "flags": flags,
        "latest": latest_info,
        "similar": similar,
        "expected": exp,
        "context": context,
        "targets": {"old_years": OLD_JUDGEMENT_YEARS},
        "scale_key": {scale: (maps.scale_label(scale), scale_key(scale, numbered=scale == "four_point"))
                      for scale in ("four_point", "report_card_5")},
        "caveats": _caveats(timeline, similar),
        "sources": _sources(page, timeline, context),
    }
    data["summary"] = summary_sentences(data)
    data["synthetic"] = is_synthetic(con) if synthetic is None else synthetic
    return data


def _sources(page: SchoolPage, timeline: list[dict[str, Any]], context: dict[str, Any]) -> list[dict[str, str]]:
    """Every file the report draws on: inspections, the school's details, DfE context."""
    out: dict[str, str] = {}
    for row in timeline:
        for f in row["sources"]:
            out.setdefault(f, "inspections")
    for path in page.school_files:
        out.setdefault(str(path), "school details")
    for f in context.get("files", []):
        out.setdefault(f, "context (Department for Education)")
    return [{"file": f, "used_for": u} for f, u in sorted(out.items())]


def _link_words(p: dict[str, Any]) -> str | None:
    """How GIAS links two URNs, in words (maps/value_labels.csv), never a code like 'one_to_one'."""
    v = p.get("link_relation") or p.get("link_kind")
    if not v:
        return None
    return maps.value_labels().get(str(v), str(v).replace("_", " "))


def _caveats(timeline: list[dict[str, Any]], similar: dict[str, Any]) -> list[str]:
    c = [
        "Judgements are shown on the scale they were given on. Grades from different frameworks "
        "(e.g. 'Satisfactory' before September 2012 and 'Requires improvement' after, or report-card grades) are not the same measure and are never converted.",
        "Inspection dates, judgements and publication dates are as published in Ofsted's files; where two files disagree the warehouse keeps one and records the conflict (evenhand history --json).",
        "Publication delays are counted in working days (Monday to Friday, England and Wales bank holidays excluded); the same targets and rule as the national evidence pack: " + LATE_PUBLICATION,
        "Where a file gives the end date (the monthly management information, e.g. the 31 August 2020 release for inspections back to 2005) the delay runs from the end, as the targets do, and the inspection's length (days on site) is shown: calendar days from the start to the end, both included, and the working days among them.",
        "The scraped 2005-2020 history gives no publication or end dates, so an older inspection that no Ofsted file lists shows no delay.",
        "Safeguarding-limited is Evenhand's definition, the same in the national evidence pack: " + SAFEGUARDING_LIMITED,
    ]
    if similar.get("available") and similar.get("report_card"):
        c.append("Report-card grades (from November 2025) are compared only with other report-card schools, on the five-point scale; the first report-card schools are not a sample of all schools, and the comparison does not adjust for how they differ.")
    elif similar.get("available"):
        c.append("The comparison with similar schools describes how they were judged; it does not adjust for everything that differs between schools, and each school's latest inspection may be years old.")
    if any(r["other_urn"] for r in timeline):
        c.append("Inspections under another URN (a predecessor school, or the same school before it became an academy) are shown because Ofsted's files or GIAS links attach them to this school's lineage.")
    return c


def unnamed(urn: object) -> str:
    """What a school is called when no file gives its name."""
    return f"URN {urn}"


def summary_sentences(data: dict[str, Any]) -> list[str]:
    """A plain-English summary generated from the data."""
    s = data["school"]
    tl = data["timeline"]
    out: list[str] = []
    desc = ", ".join(x for x in (s.get("phase") and s["phase"].lower() + " school", s.get("type"), s.get("local_authority") and "in " + s["local_authority"]) if x)
    if desc:
        out.append(f"{s['name']} (URN {s['urn']}) is a {desc}.")
    elif s["name"] != unnamed(s["urn"]):
        out.append(f"{s['name']} has URN {s['urn']}.")
    else:  # a closed school that only its inspections name, and they give no name
        out.append(f"No file Evenhand holds gives the name, phase, type or local authority of URN {s['urn']}.")
    graded = [r for r in tl if r["kind"] in ("graded", "report_card")]
    if tl:
        first = tl[0]["start_text"]
        out.append(
            f"The files hold {len(tl)} inspection{'s' if len(tl) != 1 else ''} of the school"
            f"{' and its predecessors' if any(r['other_urn'] for r in tl) else ''} since {first}, {len(graded)} of them graded."
        )
    else:
        out.append("The files hold no inspection of this school.")
    lat = data.get("latest")
    if lat and lat.get("start_date"):
        graded_text = (
            f"its latest graded inspection ({_fmt_date(lat['start_date'])}) judged it {lat['label']}" if lat.get("label")
            else f"its latest graded inspection ({_fmt_date(lat['start_date'])}) gave no overall grade"
        )
        out.append(
            f"As at {_fmt_date(lat['as_at'])} {graded_text}"
            f"{' (carried over from its predecessor)' if lat.get('carried') else ''}"
            + (f"; the newest file covering the school is dated {_fmt_date(lat['file_as_at'])}, so later inspections are not in it."
               if lat.get("file_as_at") and lat["file_as_at"] != lat["as_at"] else ".")
        )
    for f in data["flags"]:
        if f["key"] in ("safeguarding_limited", "cliff_edge", "publication_delay"):
            out.append(f["detail"])
    sim = data.get("similar") or {}
    if sim.get("report_card"):
        out.append(
            f"Its latest graded inspection is a report card, compared with the {sim['n_others']:,} other report-card schools on their own five-point scale."
            if sim.get("available") else f"Its latest graded inspection is a report card: {sim['reason']}."
        )
    elif sim.get("available"):
        dist = sim["distribution"]
        parts = ", ".join(f"{r['k']:,} {r['label'].lower()}" for r in dist)
        n = sim["n_graded"]
        out.append(
            f"Of the {n:,} similar school{'s' if n != 1 else ''} (same phase, IDACI quintile {sim['idaci_quintile']}, "
            f"{sim['size_band_text']}) with an overall grade, {parts}"
            + (" (too few to read much into)." if sim.get("small_n") else ".")
        )
    if not data["flags"]:
        out.append("None of Evenhand's flags applies to this school.")
    return out


# --- the timeline chart -------------------------------------------------------------------

#: Consecutive graded inspections further apart than this are not joined by a line: the gap
#: shows as a gap (routine inspection is every four to five years; outstanding schools were
#: exempt from 2012 to 2020, so a line across such a gap would invent judgements in between).
TIMELINE_JOIN_YEARS = 6


def timeline_points(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the timeline draws: the dated four-point overall judgements (with the line segment
    each belongs to: a new one after a gap of more than TIMELINE_JOIN_YEARS years, and its level
    on the axis), and the report-card areas on the five-point scale."""
    four: list[dict[str, Any]] = []
    five: list[dict[str, Any]] = []
    five_levels = maps.grade_labels("report_card_5")  # code -> level on the axis, best first
    for ev in data["timeline"]:
        if not ev.get("start_date"):
            continue
        d = dt.date.fromisoformat(ev["start_date"])
        ms = dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp() * 1000
        for j in ev["judgements"]:
            if not j.get("graded"):
                continue
            if j["area"] == "overall_effectiveness" and j["scale"] == "four_point" and j["code"] in ("1", "2", "3", "4"):
                four.append({"ms": ms, "date": d, "rank": int(j["code"]), "grade": j["label"], "when": ev["start_text"]})
            elif j["scale"] == "report_card_5" and ev["kind"] == "report_card" and j["code"] in five_levels:
                five.append({"ms": ms, "date": d, "rank": int(j["code"]), "grade": j["label"], "area": j["area_label"], "when": ev["start_text"],
                             "level": five_levels[j["code"]], "tooltip": f"{j['area_label']}: {j['label']}"})
    four.sort(key=lambda r: r["ms"])
    satisfactory = any(r["rank"] == 3 and r["grade"] == "Satisfactory" for r in four)
    names = {1: "Outstanding", 2: "Good", 3: "Requires improvement" + (" / Satisfactory" if satisfactory else ""), 4: "Inadequate"}
    seg = 0
    for i, r in enumerate(four):
        if i and (r["date"] - four[i - 1]["date"]).days > TIMELINE_JOIN_YEARS * 365.25:
            seg += 1
        r["segment"] = seg
        r["level"] = names[r["rank"]]
        r["tooltip"] = f"Overall effectiveness: {r['grade']}"
    return four, five


def has_timeline(data: dict[str, Any]) -> bool:
    """Whether :func:`timeline_chart` has anything to draw (without drawing it)."""
    four, five = timeline_points(data)
    return bool(four or five)


def timeline_chart(data: dict[str, Any]) -> Any | None:
    """The overall judgement at each graded inspection over time, on its own scale, as a
    Vega-Lite chart (the same points as :func:`timeline_svg`, which reports and pages use:
    drawn directly, it costs milliseconds where this chart's rendering costs most of a second):
    the four-point scale with every level on the axis (best at the top), report-card areas on
    the five-point scale in a panel of their own; no line across a gap of more than
    TIMELINE_JOIN_YEARS years. None when there is nothing to draw."""
    import altair as alt

    from evenhand.audit import charts

    four, five = timeline_points(data)
    four = [{k: v for k, v in r.items() if k not in ("level", "tooltip")} for r in four]
    five = [{k: v for k, v in r.items() if k not in ("date", "level", "tooltip")} for r in five]
    if not four and not five:
        return None
    panels = []
    axis_x = alt.Axis(format="%Y", labelAngle=0, tickCount={"interval": "year", "step": 2})
    if four:
        satisfactory = any(r["rank"] == 3 and r["grade"] == "Satisfactory" for r in four)
        three = "Requires improvement" + (" / Satisfactory" if satisfactory else "")
        names = {1: "Outstanding", 2: "Good", 3: three, 4: "Inadequate"}
        colours = charts.FOUR_POINT_COLOURS
        rows = [{k: v for k, v in r.items() if k != "date"} | {"level": names[r["rank"]]} for r in four]
        base = alt.Chart(alt.Data(values=rows))
        y = alt.Y("level:N", title=None, sort=[names[k] for k in (1, 2, 3, 4)],
                  scale=alt.Scale(domain=[names[k] for k in (1, 2, 3, 4)]))
        x = alt.X("ms:T", title="Inspection started", scale=alt.Scale(type="utc"), axis=axis_x)
        line = base.mark_line(color="#9E9E9E", strokeWidth=1.5).encode(x=x, y=y, detail="segment:N")
        pts = base.mark_point(filled=True, size=140, opacity=1, stroke="#1A1A1A", strokeWidth=0.8).encode(
            x=x, y=y,
            color=alt.Color("level:N", legend=None, scale=alt.Scale(
                domain=[names[k] for k in (1, 2, 3, 4)],
                range=[colours["Outstanding"], colours["Good"], colours["Requires improvement"], colours["Inadequate"]])),
            tooltip=[alt.Tooltip("when:N", title="Inspection started"), alt.Tooltip("grade:N", title="Overall effectiveness")],
        )
        panels.append(alt.layer(line, pts).properties(
            width=520, height=150,
            title=alt.TitleParams("Overall effectiveness (4-point scale)", fontSize=13,
                                  subtitle=f"Lines join inspections at most {TIMELINE_JOIN_YEARS} years apart; a longer gap is left open")))
    if five:
        levels = list(charts.FIVE_POINT_SCALE)
        base = alt.Chart(alt.Data(values=five))
        panels.append(base.mark_point(filled=True, size=110, opacity=1, stroke="#1A1A1A", strokeWidth=0.8).encode(
            x=alt.X("ms:T", title="Inspection started", scale=alt.Scale(type="utc"), axis=axis_x),
            y=alt.Y("grade:N", title=None, sort=levels, scale=alt.Scale(domain=levels)),
            color=alt.Color("grade:N", legend=None, scale=alt.Scale(domain=levels, range=[charts.FIVE_POINT_COLOURS[v] for v in levels])),
            tooltip=[alt.Tooltip("when:N", title="Inspection started"), alt.Tooltip("area:N", title="Area"), alt.Tooltip("grade:N", title="Grade")],
        ).properties(width=520, height=170, title=alt.TitleParams("Report-card areas (5-point scale)", fontSize=13)))
    n = len({r["ms"] for r in four}) + len({r["ms"] for r in five})
    chart = alt.vconcat(*panels, spacing=24).properties(
        title=alt.TitleParams("Graded inspections over time, each on its own scale",
                              subtitle=f"n = {n} graded inspection{'s' if n != 1 else ''}; grades of different scales are never converted"),
        description="Timeline of the school's graded inspection judgements",
    )
    return charts.apply_theme(chart)


def timeline_svg(data: dict[str, Any]) -> str | None:
    """The timeline as SVG (evenhand.present.timeline draws it directly); None when empty."""
    from evenhand.present import timeline

    four, five = timeline_points(data)
    return timeline.timeline_svg(four, five, TIMELINE_JOIN_YEARS)


# --- the expected-judgement chart ---------------------------------------------------------------


def expected_chart(item: dict[str, Any]) -> Any | None:
    """One inspection's expected judgement as bars (the probability of each grade) with 95%
    interval whiskers, the grade given marked in its label; None without probabilities."""
    from evenhand.audit import charts

    probs = [p for p in item.get("probabilities", []) if p.get("p") is not None]
    if not probs:
        return None
    rows = pl.DataFrame({
        "grade": [f"{p['label']} (given)" if p["observed"] else str(p["label"]) for p in probs],
        "p": [float(p["p"]) for p in probs],
        "low": [float(p["low"]) if p["low"] is not None else float(p["p"]) for p in probs],
        "high": [float(p["high"]) if p["high"] is not None else float(p["p"]) for p in probs],
    })
    has_interval = all(p["low"] is not None for p in probs)
    return charts.bar_with_intervals(
        rows, "grade", "p", "low", "high",
        title=f"Expected overall judgement, inspection of {item['start_text']}",
        subtitle=("Probability of each grade for a school with this intake under the intake model; "
                  + ("whiskers are 95% intervals" if has_interval else "no interval in the audit's table")),
        x_title="Grade", y_title="Probability", x_order=rows["grade"].to_list(), y_format=".0%",
        y_domain=(0.0, 1.0), horizontal=True, width=360,
        description=f"Bars: the model's probability of each grade for the inspection of {item['start_text']}. {item['sentence']}",
    )


def has_expected_chart(data: dict[str, Any]) -> bool:
    """Whether :func:`expected_svg` has a chart to draw (without drawing it)."""
    exp = data.get("expected") or {}
    items = exp.get("items") or []
    return bool(exp.get("available") and items and any(p.get("p") is not None for p in items[0]["probabilities"]))


def expected_svg(data: dict[str, Any]) -> str | None:
    """The chart of the contested inspection's expected judgement (the first item), as SVG."""
    from evenhand.audit import charts

    exp = data.get("expected") or {}
    if not exp.get("available") or not exp.get("items"):
        return None
    chart = expected_chart(exp["items"][0])
    return None if chart is None else charts.to_svg(chart)
