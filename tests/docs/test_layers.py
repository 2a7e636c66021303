"""Layers import only downward (docs/architecture.md): read -> core -> derive -> audit -> present
-> engine -> (commands, web, run, api). This test reads every module's imports and fails on an
import from a higher layer, so a new upward import is caught where it is written."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "evenhand"

#: rank of each top-level module or package of evenhand; a module may import equal or lower ranks
RANK: dict[str, int] = {
    "errors": 0, "__version__": 0, "maps": 0,
    "read": 1, "stats": 1, "metadata": 1,
    "core": 2, "fetch": 2,
    "derive": 3, "query": 3, "simulate": 3,
    "audit": 4,
    "present": 5,
    "engine": 6,
    "api": 7, "run": 7, "demo": 8, "web": 8, "commands": 9, "cli": 9, "cli_docs": 10,  # cli.py and commands/ are one layer: the CLI
    "__main__": 10, "__init__": 10,
}

#: upward imports that are known, each with its reason (keep this list short)
ALLOWED: dict[tuple[str, str], str] = {
    ("core/pipeline.py", "derive"): "the build derives out.* inside the same atomic build",
    ("metadata/tables.py", "core"): "the DfE context field list is read from its builder's code table",
    ("simulate/histories.py", "audit"): "a simulated history is cut to the audits' frame to test it",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "evenhand":
                continue
            found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("evenhand."))
    return found


def test_every_module_has_a_rank() -> None:
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
            if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert tops <= set(RANK), f"give these a layer in RANK: {sorted(tops - set(RANK))}"


def test_layers_import_only_downward() -> None:
    upward: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        here = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for target in _imports(path) - {here}:
            if RANK.get(target, 0) > RANK[here] and (rel.as_posix(), target) not in ALLOWED:
                upward.append(f"{rel.as_posix()} imports evenhand.{target} (layer {RANK[here]} -> {RANK[target]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_allowed_exceptions_are_still_needed() -> None:
    for (module, target), _reason in ALLOWED.items():
        assert target in _imports(SRC / module), f"{module} no longer imports {target}: drop it from ALLOWED"
