"""The audit suite gives the same answers run after run, on the warehouse of ../shared/data.

Two fresh processes (each its own hash seed, thread timing and read-ahead order) run every
audit and write each figure and table; the two must agree: every string, count and label
exactly, tables row for row in the same order, and floating-point values to 1e-9 (relative,
or absolute near zero: sums over threads may add in another order). The sixth session found
two results that changed from run to run (a transition matrix's label for a tied code, the
order of a table's rows); a faster route that made the answer depend on timing would show here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pytestmark = pytest.mark.integration

CHILD = """
import json, sys
from pathlib import Path
from evenhand.engine import Evenhand
wh, out = Path(sys.argv[1]), Path(sys.argv[2])
with Evenhand(wh) as eh:
    run = eh.run_audits(None, None)
results = {}
for slot in run.slots:
    results[slot.name] = slot.result.to_dict()  # figures, findings, caveats, frames, chart, ...
    for key, table in slot.result.tables.items():
        table.write_parquet(out / f"{slot.name}.{key}.parquet")
(out / "results.json").write_text(json.dumps(results, default=str), encoding="utf-8")
"""

RELATIVE = 1e-9


def _run(warehouse: Path, out: Path, seed: str) -> None:
    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-c", CHILD, str(warehouse), str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


def _differences(path: str, a: Any, b: Any) -> list[str]:
    """Where two JSON values differ: dicts key by key, lists item by item, numbers as _same."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())} in one run only"]
        return [d for k in a for d in _differences(f"{path}.{k}", a[k], b[k])]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(f"{path}[{i}]", x, y)]
    return [] if _same(a, b) else [f"{path}: {a!r} vs {b!r}"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= RELATIVE * max(1.0, abs(a), abs(b))
    return type(a) is type(b) and bool(a == b)


def _table_differences(name: str, a: pl.DataFrame, b: pl.DataFrame) -> list[str]:
    if a.schema != b.schema or a.height != b.height:
        return [f"{name}: schema or height {a.schema}/{a.height} vs {b.schema}/{b.height}"]
    out = []
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype.is_float():
            xs, ys = x.to_list(), y.to_list()
            bad = [i for i, (p, q) in enumerate(zip(xs, ys, strict=True))
                   if not (p is None and q is None) and (p is None or q is None or not _same(p, q))]
        else:
            bad = [i for i, same in enumerate((x == y) | (x.is_null() & y.is_null())) if not same]
        if bad:
            out.append(f"{name}.{col}: {len(bad)} rows differ, first row {bad[0]}: {x[bad[0]]!r} vs {y[bad[0]]!r}")
    return out


def test_two_runs_of_the_audits_agree(shared_warehouse: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _run(shared_warehouse, first, "1")
    _run(shared_warehouse, second, "2")
    ra = json.loads((first / "results.json").read_text(encoding="utf-8"))
    rb = json.loads((second / "results.json").read_text(encoding="utf-8"))
    assert len(ra) >= 8 and all(len(r["figures"]) for r in ra.values())
    differences = _differences("results", ra, rb)
    tables = sorted(p.name for p in first.glob("*.parquet"))
    assert tables == sorted(p.name for p in second.glob("*.parquet"))
    assert len(tables) > 20  # every audit's tables were written, not none
    for name in tables:
        differences += _table_differences(name, pl.read_parquet(first / name), pl.read_parquet(second / name))
    assert differences == []
