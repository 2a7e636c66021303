"""`evenhand demo`: the whole pipeline on a synthetic nation, offline.

The demo generates a synthetic nation with :func:`evenhand.simulate.simulate_nation`, writes
it out as official-statistics files (the published 2025 header list, one file per year as at
31 August, each with a title row saying it is synthetic), and then runs exactly what a user
runs on real files (evenhand.run): build, audits, the national evidence pack and the open-data
export. The warehouse is marked synthetic (``meta.build`` key ``synthetic`` = ``true``) and every output
says SYNTHETIC DATA — not real schools.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import polars as pl

from evenhand import maps
from evenhand.audit.result import STAMP
from evenhand.errors import EvenhandError
from evenhand.run import PipelineResult, Progress, analyse

HEADERS_FILE = "ofsted_official_stats_2025_headers.txt"
DEMO_YEARS = tuple(range(2016, 2026))  # files as at 31 August of each year
DEMO_SCHOOLS = 3000
DEMO_SEED = 20250831


def official_headers(as_at_year: int) -> list[str]:
    """The 2025 official statistics header list (shipped in maps/), with the year-specific
    warning-notice header for ``as_at_year`` and the inspection end-date columns that some
    years' files carry."""
    text = maps.read_text(HEADERS_FILE)
    out = []
    for h in text.splitlines():
        if h.startswith("Number of warning notices issued in"):
            h = f"Number of warning notices issued in {as_at_year - 1}/{str(as_at_year)[2:]} academic year"
        out.append(h)
        if h == "Inspection start date":
            out.append("Inspection end date")
        if h == "Previous inspection start date":
            out.append("Previous inspection end date")
    return out


def _d(v: dt.date | None) -> str:
    return v.strftime("%d/%m/%Y") if v else ""


_UNGRADED_OUTCOME = {"1": "School remains Outstanding", "2": "School remains Good"}
_AREA_HEADERS = {
    "overall_effectiveness": ("Overall effectiveness", "Previous graded inspection overall effectiveness"),
    "quality_of_education": ("Quality of education", "Previous quality of education"),
    "behaviour_and_attitudes": ("Behaviour and attitudes", "Previous behaviour and attitudes"),
    "personal_development": ("Personal development", "Previous personal development"),
    "leadership_and_management": ("Effectiveness of leadership and management", "Previous effectiveness of leadership and management"),
    "safeguarding_effective": ("Safeguarding is effective?", "Previous safeguarding is effective?"),
}


def official_rows(schools: pl.DataFrame, events: pl.DataFrame, judgements: pl.DataFrame, as_at: dt.date) -> list[dict[str, str]]:
    """One row per school, as the official statistics file as at ``as_at`` would show it:
    the latest and previous graded inspections published by then, and the latest ungraded
    inspection since the latest graded one."""
    codes: dict[str, dict[str, str]] = {}
    for ev, area, code in judgements.select("event_id", "area", "code").iter_rows():
        codes.setdefault(ev, {})[area] = code
    published = events.filter(pl.col("publication_date") <= as_at).sort("urn", "start_date")
    by_urn: dict[int, list[dict[str, Any]]] = {}
    for e in published.iter_rows(named=True):
        by_urn.setdefault(e["urn"], []).append(e)
    rows = []
    for s in schools.sort("urn").iter_rows(named=True):
        row = {
            "URN": str(s["urn"]), "LAESTAB": str(s["laestab"]), "School name": s["school_name"], "Ofsted phase": s["phase"],
            "Type of education": s["school_type"], "Ofsted region": s["ofsted_region"], "Region": s["ofsted_region"],
            "Local authority": s["local_authority"], "Postcode": s["postcode"],
            "The income deprivation affecting children index (IDACI) quintile": str(s["idaci_quintile"]),
            "Total number of pupils": str(s["pupils"]),
        }
        evs = by_urn.get(s["urn"], [])
        graded = [e for e in evs if e["kind"] == "graded"]
        if graded:
            g = graded[-1]
            row.update({
                "Inspection number of latest graded inspection": g["inspection_number"], "Inspection type": g["inspection_type"] or "S5 Inspection",
                "Inspection type grouping": "S5 Inspection", "Event type grouping": "Schools - S5",
                "Inspection start date": _d(g["start_date"]), "Inspection end date": _d(g["end_date"]), "Publication date": _d(g["publication_date"]),
                "Does the latest graded inspection relate to the URN of the current school?": "Yes",
                "URN at time of latest graded inspection": str(s["urn"]), "Category of concern": g["category_of_concern"] or "",
            })
            for area, (latest, _) in _AREA_HEADERS.items():
                row[latest] = codes.get(g["event_id"], {}).get(area, "")
        if len(graded) > 1:
            p = graded[-2]
            row.update({
                "Previous inspection number": p["inspection_number"], "Previous inspection start date": _d(p["start_date"]),
                "Previous inspection end date": _d(p["end_date"]), "Previous publication date": _d(p["publication_date"]),
                "Does the previous graded inspection relate to the URN of the current school?": "Yes",
                "URN at time of previous graded inspection": str(s["urn"]), "Previous category of concern": p["category_of_concern"] or "",
            })
            for area, (_, prev) in _AREA_HEADERS.items():
                row[prev] = codes.get(p["event_id"], {}).get(area, "")
        since = graded[-1]["start_date"] if graded else dt.date.min
        ungraded = [e for e in evs if e["kind"] == "ungraded" and e["start_date"] > since]
        if ungraded:
            u = ungraded[-1]
            oe = codes.get(graded[-1]["event_id"], {}).get("overall_effectiveness", "") if graded else ""
            row.update({
                "Latest ungraded inspection number since last graded inspection": u["inspection_number"],
                "Does the ungraded inspection relate to the URN of the current school?": "Yes",
                "URN at time of the ungraded inspection": str(s["urn"]),
                "Number of ungraded inspections since the last graded inspection": str(len(ungraded)),
                "Date of latest ungraded inspection": _d(u["start_date"]), "Ungraded inspection publication date": _d(u["publication_date"]),
                "Did the latest ungraded inspection convert to a graded inspection?": "No",
                "Ungraded inspection overall outcome": _UNGRADED_OUTCOME.get(oe, "Standards maintained"),
            })
        rows.append(row)
    return rows


def write_official_files(nation: Any, raw: Path, years: tuple[int, ...] = DEMO_YEARS) -> list[Path]:
    """Write ``nation`` as official statistics CSV files, one per year as at 31 August."""
    raw.mkdir(parents=True, exist_ok=True)
    paths = []
    for year in years:
        as_at = dt.date(year, 8, 31)
        header = official_headers(year)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow([f"{STAMP}: state-funded schools inspections and outcomes as at 31 August {year}"])
        w.writerow(header)
        for r in official_rows(nation.schools, nation.events, nation.judgements, as_at):
            unknown = set(r) - set(header)
            if unknown:
                raise AssertionError(f"demo rows use headers not in the layout: {sorted(unknown)}")
            w.writerow([r.get(h, "") for h in header])
        p = raw / f"synthetic_official-stats_as-at-{as_at.isoformat()}.csv"
        p.write_text(buf.getvalue(), encoding="utf-8")
        paths.append(p)
    return paths


def mark_synthetic(warehouse: Path) -> None:
    """Add meta.build key 'synthetic' = 'true' (the audits and reports read it)."""
    from evenhand.core.warehouse import connect

    con = connect(warehouse)
    try:
        con.execute("DELETE FROM meta.build WHERE key = 'synthetic'")
        con.execute("INSERT INTO meta.build (key, value) VALUES ('synthetic', 'true')")
    finally:
        con.close()


def run_demo(out: Path, n_schools: int = DEMO_SCHOOLS, seed: int = DEMO_SEED, pdf: bool = True, progress: Progress | None = None) -> PipelineResult:
    """Synthetic nation -> official files -> warehouse (marked synthetic) -> audits -> report -> export."""
    from evenhand.core.pipeline import build_warehouse
    from evenhand.simulate import simulate_nation

    if n_schools < 50:
        raise EvenhandError("--schools: use at least 50 schools so that the audits have something to estimate")
    steps = 6
    out.mkdir(parents=True, exist_ok=True)
    warehouse = out / "warehouse" / "evenhand.duckdb"
    result = PipelineResult(out, warehouse)
    if progress:
        progress(f"simulating {n_schools:,} synthetic schools", 0, steps)
    nation = simulate_nation(n_schools, seed)
    if progress:
        progress("writing them as official statistics files", 1, steps)
    raw = out / "raw"
    result.outputs["synthetic raw files"] = raw
    write_official_files(nation, raw)
    if progress:
        progress("building the warehouse", 2, steps)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    build_warehouse(raw, warehouse)
    mark_synthetic(warehouse)
    result.outputs["warehouse"] = warehouse
    analyse(warehouse, out, result, progress, 3, steps, pdf=pdf, raw=raw)
    (out / "README.md").write_text(
        f"{STAMP}\n\nWritten by `evenhand demo` ({n_schools:,} synthetic schools, seed {seed}).\n\n"
        + "".join(f"  {k}: {v}\n" for k, v in result.outputs.items())
        + "".join(f"  note: {n}\n" for n in result.notes),
        encoding="utf-8",
    )
    if progress:
        progress("done", steps, steps)
    return result
