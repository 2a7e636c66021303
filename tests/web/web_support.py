"""A small warehouse and audit folder for the dashboard tests (built once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from evenhand.core.pipeline import build_warehouse
from helpers import caversham_like, csv_text, graded, os_headers, previous, school, ungraded, write

HOSTILE_NAME = "<script>alert(1)</script>"


def build_test_warehouse(root: Path) -> Path:
    """Caversham-like school 109778, a school whose name is a script tag, and a few others."""
    rows = [caversham_like()]
    rows[0].update(ungraded("10300001", "01/02/2024", "01/03/2024", "School remains Good"))
    hostile = school(123456, HOSTILE_NAME, Postcode="XS1 1SS")
    hostile.update(graded("10200001", "10/01/2022", "20/02/2022", "3"))
    rows.append(hostile)
    quote = school(123457, "St Mary's ' OR 1=1 -- Academy", Postcode="RG1 1AA")
    quote.update(graded("10200002", "11/01/2022", "21/02/2022", "1"))
    quote.update(previous("10100002", "11/01/2017", "21/02/2017", "2"))
    rows.append(quote)
    for i in range(60):  # enough schools for the 50-result bound to bite
        r = school(130000 + i, f"Readingtown School {i:02d}", Postcode=f"RG9 {i % 10}AB")
        r.update(graded(f"1050{i:04d}", "12/03/2021", "22/04/2021", str(1 + i % 4)))
        rows.append(r)
    write(root / "raw" / "official_as-at-2025-08-31.csv", csv_text(os_headers(), rows))
    wh = root / "evenhand.duckdb"
    build_warehouse(root / "raw", wh)
    return wh


def write_audit(folder: Path, name: str = "headline") -> Path:
    """An AuditResult JSON file and its main table CSV, as 'evenhand audit --out' writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": [{"grade": "Good", "share": 0.6}, {"grade": "Outstanding", "share": 0.4}]},
        "mark": "bar",
        "encoding": {"x": {"field": "grade", "type": "nominal"}, "y": {"field": "share", "type": "quantitative"}},
        "title": {"text": "Shares", "subtitle": "n = 10"},
    }
    data = {
        "schema_version": 1, "name": name, "title": "Headline <b>numbers</b>", "question": "How are schools judged?",
        "claim": "a claim", "method": "Wilson intervals.",
        "figures": [{"key": "good", "label": "Share good", "unit": "share", "value": 0.6, "low": 0.31, "high": 0.83, "n": 10, "level": 0.95, "method": "wilson"}],
        "findings": ["60.0% of schools were judged good (95% CI 31.3% to 83.2%; n = 10)."],
        "caveats": ["A caveat <script>alert(2)</script>"], "small_n": ["n = 10 is small"], "inputs": [],
        "parameters": {"as_at": "2025-08-31"}, "tables": {"main": {"columns": ["grade", "n"], "rows": 2}}, "chart": spec,
    }
    (folder / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    write_table(pl.DataFrame({"grade": ["Good", "<img src=x onerror=alert(3)>"], "n": [6, 4]}), folder / f"{name}__main")
    return folder


def write_table(df: pl.DataFrame, stem: Path) -> None:
    """An audit table as `evenhand audit --out` writes it: CSV and Parquet side by side."""
    df.write_csv(stem.with_name(stem.name + ".csv"))
    df.write_parquet(stem.with_name(stem.name + ".parquet"))
