"""Bench: the whole audit suite, before and after, side by side in one run, with the results compared.

    .venv/bin/python bench/audit.py [--warehouse PATH] [--as-at 2025-08-31] [--repeat 2]
                                    [--baseline fd5f019] [--no-statsmodels]

Three variants of the suite run on the same warehouse, each in a fresh process (imports not
timed), interleaved so that all see the same load on a shared machine, best of --repeat:

1. "before": the code of git commit --baseline (default: main just before issue 13's work),
   exported with `git archive` into a temporary folder;
2. "statsmodels": this tree with the proportional-odds fits on the statsmodels route
   (`fit_ordinal(engine="statsmodels")`, the estimator used before), everything else as now;
3. "after": this tree as it is.

For each it prints every audit's time, the total wall and CPU time and the time inside the
model fits (fit_ordinal, gradient_share_explained, fit_region_variation; outermost call per
thread). Target (issue 13): "after" at most a third of "before" in wall time. Every table and
figure of every audit is then compared between the variants: strings equal, numbers within
1e-6 (relative, or absolute near zero), so a faster route that changed a result shows here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BASELINE = "fd5f019"  # main before issue 13 (fast audits) started
FITS = ("fit_ordinal", "gradient_share_explained", "fit_region_variation")
TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- child process


def child(warehouse: Path, as_at: dt.date, out: Path, engine: str | None) -> None:
    """Run the suite once in this process and write timings, figures and tables under ``out``."""
    spent = {name: 0.0 for name in FITS}
    lock = threading.Lock()
    local = threading.local()

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(local, "depth", 0):
                return fn(*args, **kwargs)
            local.depth = 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                local.depth = 0
                with lock:
                    spent[name] += time.perf_counter() - t

        return wrapper

    from evenhand.audit.registry import AUDITS

    def run_audits(wh: Path, date: dt.date) -> tuple[list[Any], dict[str, float]]:
        try:
            from evenhand.engine import Evenhand
        except ImportError:  # code from before the engine (the baseline)
            from evenhand.audit.runner import run_audits as old_runner

            results, timings = old_runner(wh, date)
            return list(results), dict(timings)
        with Evenhand(wh) as eh:
            run = eh.run_audits(None, date)
            return run.results, run.timings

    modules = ["evenhand.stats.ordinal", "evenhand.stats.multilevel", *(f"evenhand.audit.{a}" for a in AUDITS)]
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in FITS:
            if hasattr(module, name):
                fn = getattr(module, name)
                if name == "fit_ordinal" and engine:
                    fn = functools.partial(fn, engine=engine)
                setattr(module, name, timed(name, fn))
    t, cpu = time.perf_counter(), time.process_time()
    results, timings = run_audits(warehouse, as_at)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    figures: dict[str, dict[str, Any]] = {}
    for r in results:
        for f in r.figures:
            e = f.estimate
            figures[f"{r.name}.{f.key}"] = {"value": e.value, "low": e.low, "high": e.high, "n": e.n}
        for key, table in r.tables.items():
            table.write_parquet(out / f"{r.name}.{key}.parquet")
    (out / "run.json").write_text(
        json.dumps({"wall": wall, "cpu": cpu, "timings": timings, "fits": spent, "figures": figures}), encoding="utf-8"
    )


# ----------------------------------------------------------------------------- parent


def export_baseline(ref: str, into: Path) -> Path | None:
    """The ``src`` folder of git commit ``ref``, exported into ``into`` (None without git)."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline {ref} not available ({exc}); only this tree is timed")
        return None
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def run_variant(src: Path, warehouse: Path, as_at: str, out: Path, engine: str | None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--warehouse", str(warehouse), "--as-at", as_at]
    if engine:
        cmd += ["--engine", engine]
    subprocess.run(cmd, env=env, check=True)
    result: dict[str, Any] = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return result


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return abs(fa - fb) <= TOLERANCE * max(1.0, abs(fa), abs(fb))
    return bool(a == b)


def compare(a_dir: Path, b_dir: Path, a_fig: dict[str, Any], b_fig: dict[str, Any]) -> list[str]:
    """Differences between two runs' figures and tables (empty when they agree)."""
    import polars as pl

    diffs: list[str] = []
    for key in sorted(set(a_fig) | set(b_fig)):
        if key not in a_fig or key not in b_fig:
            diffs.append(f"figure {key}: only in one run")
            continue
        for part in ("value", "low", "high", "n"):
            if not _close(a_fig[key][part], b_fig[key][part]):
                diffs.append(f"figure {key}.{part}: {a_fig[key][part]!r} vs {b_fig[key][part]!r}")
    names = sorted({p.name for p in a_dir.glob("*.parquet")} | {p.name for p in b_dir.glob("*.parquet")})
    for name in names:
        if not (a_dir / name).exists() or not (b_dir / name).exists():
            diffs.append(f"table {name}: only in one run")
            continue
        ta, tb = pl.read_parquet(a_dir / name), pl.read_parquet(b_dir / name)
        if ta.columns != tb.columns or ta.height != tb.height:
            diffs.append(f"table {name}: shape {ta.shape} {ta.columns} vs {tb.shape} {tb.columns}")
            continue
        for col in ta.columns:
            if ta[col].dtype.is_float():
                x, y = ta[col].to_numpy(), tb[col].to_numpy()
                bad = [i for i, (u, v) in enumerate(zip(x, y, strict=True)) if not _close(float(u), float(v))]
                if bad:
                    i = bad[0]
                    diffs.append(f"table {name}.{col}: {len(bad)} rows differ, e.g. row {i}: {x[i]!r} vs {y[i]!r}")
            elif not ta[col].equals(tb[col], check_names=True):
                diffs.append(f"table {name}.{col}: values differ")
    return diffs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path)
    ap.add_argument("--as-at", default="2025-08-31")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--baseline", default=BASELINE, help="git commit of the 'before' code (default: %(default)s)")
    ap.add_argument("--no-statsmodels", action="store_true", help="skip the variant with the statsmodels fits")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.warehouse, dt.date.fromisoformat(args.as_at), args.child, args.engine)
        return 0

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        wh = args.warehouse
        if wh is None:
            if not DATA.exists():
                print(f"skipped: {DATA} not found (the bench needs ../shared/data)")
                return 0
            sys.path.insert(0, str(ROOT / "src"))
            from evenhand.core.pipeline import build_warehouse

            wh = tmp / "evenhand.duckdb"
            t = time.perf_counter()
            build_warehouse(DATA, wh)
            print(f"built the warehouse from {DATA} in {time.perf_counter() - t:.1f} s (not counted below)")
        variants: dict[str, tuple[Path, str | None]] = {}
        base_src = export_baseline(args.baseline, tmp / "baseline")
        if base_src is not None:
            variants[f"before ({args.baseline})"] = (base_src, None)
        if not args.no_statsmodels:
            variants["statsmodels fits"] = (ROOT / "src", "statsmodels")
        variants["after (this tree)"] = (ROOT / "src", None)
        best: dict[str, dict[str, Any]] = {}
        best_dir: dict[str, Path] = {}
        for i in range(args.repeat):
            for name, (src, engine) in variants.items():
                out = tmp / f"run-{len(best_dir)}-{i}-{abs(hash(name))}"
                r = run_variant(src, wh, args.as_at, out, engine)
                print(f"  run {i + 1}/{args.repeat} {name:<22} {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU", flush=True)
                if name not in best or r["wall"] < best[name]["wall"]:
                    best[name], best_dir[name] = r, out

        names = list(variants)
        print(f"\naudit suite on {wh} as at {args.as_at}, best of {args.repeat} (wall), {os.cpu_count()} cores")
        print(f"{'audit':<16}" + "".join(f"{n:>24}" for n in names))
        for audit in best[names[-1]]["timings"]:
            print(f"{audit:<16}" + "".join(f"{best[n]['timings'].get(audit, math.nan):>22.2f} s" for n in names))
        print(f"{'total wall':<16}" + "".join(f"{best[n]['wall']:>22.1f} s" for n in names))
        print(f"{'total CPU':<16}" + "".join(f"{best[n]['cpu']:>22.1f} s" for n in names))
        for fit in FITS:
            print(f"{fit[:16]:<16}" + "".join(f"{best[n]['fits'][fit]:>22.1f} s" for n in names))
        after = best[names[-1]]
        first = best[names[0]]
        if len(names) > 1:
            ratio = after["wall"] / first["wall"]
            verdict = "MET" if ratio <= 1 / 3 else "NOT MET"
            print(
                f"\nratio after / {names[0]}: {ratio:.2f} wall (target <= 0.33: {verdict}), "
                f"{after['cpu'] / first['cpu']:.2f} CPU; speed-up {1 / ratio:.1f}x wall"
            )
            for n in names[:-1]:
                diffs = compare(best_dir[n], best_dir[names[-1]], best[n]["figures"], after["figures"])
                status = "identical (within 1e-6)" if not diffs else f"{len(diffs)} differences"
                print(f"results, {n} vs after: {status}")
                for line in diffs[:40]:
                    print(f"  {line}")
        if hasattr(os, "getloadavg"):
            why = (" (fd5f019 fits on multi-threaded BLAS, so its time grows with the load: compare ratios measured "
                   "at like loads)") if args.baseline == BASELINE else ""
            print(f"load average at the start: {load_start:.1f}, at the end: {os.getloadavg()[0]:.1f}{why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
