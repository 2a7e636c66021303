"""The package as a user installs it: every file of maps/ is read through evenhand.maps (the
one way a map is read) and ships in the wheel; `evenhand demo` runs from that wheel."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from evenhand import maps

ROOT = Path(__file__).resolve().parents[2]
MAP_FILES = sorted(p.name for p in resources.files("evenhand.maps").iterdir()  # type: ignore[attr-defined]
                   if p.is_file() and not p.name.endswith((".py", ".pyc")))


def _readers(module: Any) -> list[Callable[[], Any]]:
    """The module's own public functions (cached or not) that take no argument."""
    out = []
    for name, fn in inspect.getmembers(module, callable):
        plain = getattr(fn, "__wrapped__", fn)
        if name.startswith("_") or not inspect.isfunction(plain) or plain.__module__ != module.__name__:
            continue
        if not [p for p in inspect.signature(plain).parameters.values() if p.default is inspect.Parameter.empty]:
            out.append(fn)
    return out


def _clear_caches(module: Any) -> None:
    for _, fn in inspect.getmembers(module):
        if isinstance(fn, functools._lru_cache_wrapper):
            fn.cache_clear()


def test_every_map_file_is_read_through_evenhand_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    from evenhand.core import dfe_context
    from evenhand.demo import official_headers
    from evenhand.derive.lineage import link_types
    from evenhand.derive.transitions import scale_mappings
    from evenhand.fetch.sources import load_sources

    opened: set[str] = set()
    real = maps._open

    def recording(name: str) -> str:
        opened.add(name)
        return real(name)

    for module in (maps, dfe_context):
        _clear_caches(module)
    monkeypatch.setattr(maps, "_open", recording)
    try:
        for fn in _readers(maps) + _readers(dfe_context):
            fn()
        for layout in maps.layouts().values():
            maps.column_map(layout.map)
        dfe_context._bands()  # private reader of dfe_bands.csv
        link_types.cache_clear()
        link_types()
        scale_mappings()
        load_sources()
        official_headers(2025)
    finally:
        monkeypatch.undo()
        for module in (maps, dfe_context):
            _clear_caches(module)
    assert sorted(set(MAP_FILES) - opened) == [], "map files no code reads (or reads around evenhand.maps)"


@pytest.mark.slow
def test_the_wheel_ships_every_map_and_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: setuptools writes build/ into the tree it builds
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("evenhand-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [m for m in MAP_FILES if f"evenhand/maps/{m}" not in names]
    assert missing == [], f"not in the wheel: {missing}"
    assert any(n.startswith("evenhand/templates/") for n in names) and "evenhand/static/report.css" in names
    # a fresh virtual environment with only the wheel installed (its dependencies are taken from
    # the test's own environment through a .pth file, so the test needs no network)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    site = Path(subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    deps = [p for p in sys.path if p.endswith("site-packages")] or [sysconfig.get_paths()["purelib"]]
    (site / "zz_test_dependencies.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got = subprocess.run([str(vpy), "-c", "import evenhand, sys; print(evenhand.__file__)"], cwd=work, env=env,
                         check=True, capture_output=True, text=True).stdout
    assert str(site) in got, f"the test would not exercise the wheel: {got}"
    r = subprocess.run([str(vpy), "-m", "evenhand", "demo", "--out", "demo", "--schools", "120", "--no-pdf"],
                       cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (work / "demo" / "report" / "evidence-pack.html").is_file()
