"""Two builds of ../shared/data give the same warehouse: every table and view of core, out, meta
and raw, with the same columns, row counts and contents (scripts/compare_warehouses.py: an
order-independent hash of each row; build times left out). The build runs its derivations side
by side in threads and lets go of its frames as it goes (decisions 1330, 1780); a result that
depended on which thread finished first, or on the hash seed, would show here (the second build
runs in a fresh process with another seed). Row order is not compared: the warehouse's readers
order what they read."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import need_shared_data

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_warehouses.py"


def test_a_second_build_gives_the_same_warehouse(shared_warehouse: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.duckdb"
    code = "import sys; from pathlib import Path; from evenhand.core.pipeline import build_warehouse; build_warehouse(Path(sys.argv[1]), Path(sys.argv[2]))"
    done = subprocess.run([sys.executable, "-c", code, str(need_shared_data()), str(again)],
                          env={**os.environ, "PYTHONHASHSEED": "7"}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    spec = importlib.util.spec_from_file_location("compare_warehouses", SCRIPT)
    assert spec is not None and spec.loader is not None
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = compare.main(str(shared_warehouse), str(again))
    report = printed.getvalue()
    assert "same" in report and int(report.strip().splitlines()[-1].split()[0]) > 40, report
    assert status == 0, "\n".join(line for line in report.splitlines() if not line.startswith("same"))
