"""The examples in docs/api.md, run as doctests against a small warehouse.

A block preceded by ``<!-- needs: module, ... -->`` is skipped (saying why) when one of those
modules is not in this version.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any

import pytest

import evenhand
from evenhand.core.pipeline import build_warehouse
from helpers import caversham_like, csv_text, graded, os_headers, school, write

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
BLOCK = re.compile(r"(?:<!--\s*needs:\s*(?P<needs>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[int, list[str], str]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in BLOCK.finditer(text):
        needs = [n.strip() for n in (m.group("needs") or "").split(",") if n.strip()]
        out.append((text[: m.start("code")].count("\n") + 1, needs, m.group("code")))
    return out


@pytest.fixture(scope="module")
def globs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("api")
    rows = [caversham_like(), {**school(100001, "Another School"), **graded("10300001", "10/01/2024", "12/02/2024", "3")}]
    write(d / "raw" / "official-stats_as-at-2025-08-31.csv", csv_text(os_headers(), rows))
    build_warehouse(d / "raw", d / "warehouse" / "evenhand.duckdb")
    return {"__dir__": d, "evenhand": evenhand}


def test_there_are_examples() -> None:
    assert len(blocks()) >= 8


@pytest.mark.parametrize(("line", "needs", "code"), blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_example(line: int, needs: list[str], code: str, globs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert not needs, f"docs/api.md line {line}: every module ships; drop the 'needs' comment"
    monkeypatch.chdir(globs["__dir__"])
    if "eh" not in globs or "eh = evenhand.open" in code:
        globs["eh"] = evenhand.open("warehouse/evenhand.duckdb")
    test = doctest.DocTestParser().get_doctest(code, globs, f"docs/api.md:{line}", str(DOC), line)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []

    runner.run(test, out=failures.append, clear_globs=False)
    assert runner.failures == 0, "".join(failures)
