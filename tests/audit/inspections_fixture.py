"""Shared fixtures of the consistency, safeguarding and frameworks audit tests.

- ``tiny_raw(dir)``: five invented schools in the official-statistics layout (latest and previous
  graded blocks), built into a warehouse by the real pipeline; the expected figures are worked
  out by hand in the comments and in EXPECTED.
- ``nation_frame(nation)``: a synthetic nation in the shape of the graded-events frame the
  audits read (evenhand.audit.safeguarding.graded_events).
- ``national_warehouse()``: the warehouse of ../shared/data, built once per test session.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import polars as pl

from evenhand.audit.result import AuditContext
from evenhand.core.pipeline import build_warehouse
from evenhand.core.warehouse import connect
from evenhand.simulate.nation import SyntheticNation
from helpers import csv_text, graded, need_shared_data, os_headers, previous, school, write

AS_AT = dt.date(2025, 8, 31)


def _prev_eif(number: str, start: str, published: str, oe: str, qoe: str, beh: str, pd: str, lam: str, sg: str) -> dict[str, str]:
    return previous(number, start, published, oe, **{
        "Previous quality of education": qoe, "Previous behaviour and attitudes": beh,
        "Previous personal development": pd, "Previous effectiveness of leadership and management": lam,
        "Previous safeguarding is effective?": sg,
    })


def tiny_rows() -> list[dict[str, str]]:
    """Five schools, ten graded inspections.

    A 109778 (IDACI 1): 2022-11-15 OE 4, QoE/B&A/PD 2, L&M 4, safeguarding No  -> safeguarding-limited
                        2023-06-21 OE 2                                        (4 -> 2, improved)
    B 100001 (IDACI 5): 2019-10-01 OE 1 (all 1)
                        2023-01-10 OE 4, QoE/B&A/PD 3, L&M 4, safeguarding No  -> not limited (QoE 3)
                                                                               (1 -> 4, cliff edge, O -> I)
    C 100002 (IDACI 5): 2020-01-15 OE 2 -> 2022-03-01 OE 2                     (unchanged)
    D 100003 (IDACI 1): 2019-11-05 OE 3 -> 2023-05-01 OE 2                     (improved)
    E 100004 (IDACI 5): 2021-11-01 OE 2 -> 2024-10-01 OE Not judged, QoE 2, B&A 1, PD 2,
                        L&M 4, safeguarding No                                  -> safeguarding-limited (eif_2024)
                                                                               (not comparable: Not judged)
    """
    a = {**school(109778, "Caversham Primary School"),
         **graded("10299286", "21/06/2023", "17/07/2023", "2"),
         **_prev_eif("10242325", "15/11/2022", "20/03/2023", "4", "2", "2", "2", "4", "No")}
    b = {**school(100001, "Bravo School", **{"The income deprivation affecting children index (IDACI) quintile": "5"}),
         **graded("10300001", "10/01/2023", "12/02/2023", "4", **{
             "Quality of education": "3", "Behaviour and attitudes": "3", "Personal development": "3",
             "Effectiveness of leadership and management": "4", "Safeguarding is effective?": "No"}),
         **_prev_eif("10200001", "01/10/2019", "01/11/2019", "1", "1", "1", "1", "1", "Yes")}
    c = {**school(100002, "Charlie School", **{"The income deprivation affecting children index (IDACI) quintile": "5"}),
         **graded("10300002", "01/03/2022", "01/04/2022", "2"),
         **_prev_eif("10200002", "15/01/2020", "15/02/2020", "2", "2", "2", "2", "2", "Yes")}
    d = {**school(100003, "Delta School"),
         **graded("10300003", "01/05/2023", "01/06/2023", "2"),
         **_prev_eif("10200003", "05/11/2019", "05/12/2019", "3", "3", "3", "3", "3", "Yes")}
    e = {**school(100004, "Echo School", **{"The income deprivation affecting children index (IDACI) quintile": "5"}),
         **graded("10300004", "01/10/2024", "01/11/2024", "Not judged", **{
             "Quality of education": "2", "Behaviour and attitudes": "1", "Personal development": "2",
             "Effectiveness of leadership and management": "4", "Safeguarding is effective?": "No"}),
         **_prev_eif("10200004", "01/11/2021", "01/12/2021", "2", "2", "2", "2", "2", "Yes")}
    return [a, b, c, d, e]


def tiny_warehouse(directory: Path) -> Path:
    write(directory / "raw" / "official-stats_schools_as-at-2025-08-31_england.csv", csv_text(os_headers(), tiny_rows()))
    target = directory / "evenhand.duckdb"
    build_warehouse(directory / "raw", target)
    return target


def context(warehouse: Path, as_at: dt.date = AS_AT) -> AuditContext:
    return AuditContext(con=connect(warehouse, read_only=True), as_at=as_at)


GRADED_COLUMNS = (
    "overall_effectiveness", "quality_of_education", "behaviour_and_attitudes", "personal_development",
    "leadership_and_management", "safeguarding_effective", "safeguarding_standards",
)


def nation_frame(nation: SyntheticNation) -> pl.DataFrame:
    """The synthetic nation's graded events in the graded-events frame shape (plus the
    school's latent ``effectiveness``)."""
    wide = nation.judgements.pivot(on="area", index="event_id", values="code")
    ev = nation.events.filter(pl.col("kind") == "graded").join(wide, on="event_id", how="left")
    for c in GRADED_COLUMNS:
        if c not in ev.columns:
            ev = ev.with_columns(pl.lit(None, dtype=pl.Utf8).alias(c))
    schools = nation.schools.select(
        "urn", "school_name", "ofsted_region", "phase", "school_type", "pupils", "idaci_quintile", "effectiveness"
    )
    return ev.join(schools, on="urn", how="left").with_columns(
        pl.concat_str([pl.lit("L"), pl.col("urn").cast(pl.Utf8)]).alias("lineage_id"),
        pl.lit(["graded"]).alias("blocks"),
    )


_NATIONAL: dict[str, Path] = {}


def national_warehouse() -> Path:
    """../shared/data built once per session (skips when the data are absent)."""
    if "path" not in _NATIONAL:
        raw = need_shared_data()
        target = Path(tempfile.mkdtemp(prefix="evenhand-audit-")) / "evenhand.duckdb"
        build_warehouse(raw, target)
        _NATIONAL["path"] = target
    return _NATIONAL["path"]
