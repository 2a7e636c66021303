"""Bench: the whole audit suite on the national data, with the share spent fitting models.

    .venv/bin/python bench/audit.py [--warehouse PATH] [--as-at 2025-08-31]

Builds a warehouse from ../shared/data when none is given, runs every audit once, and prints
each audit's time, the total, and the time inside the model fits (fit_ordinal,
gradient_share_explained, fit_region_variation), measured by wrapping those functions.
Target: the whole suite in at most 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FITS = ("fit_ordinal", "gradient_share_explained", "fit_region_variation")
spent: dict[str, float] = {name: 0.0 for name in FITS}
_lock = threading.Lock()


_local = threading.local()  # only the outermost fit per thread is timed (no double counting)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_local, "depth", 0):
            return fn(*args, **kwargs)
        _local.depth = 1
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _local.depth = 0
            with _lock:
                spent[name] += time.perf_counter() - t

    return wrapper


def instrument() -> None:
    from evenhand.audit.registry import AUDITS

    for module_name in ("evenhand.stats.ordinal", "evenhand.stats.multilevel", *(f"evenhand.audit.{a}" for a in AUDITS)):
        module = importlib.import_module(module_name)
        for name in FITS:
            if hasattr(module, name):
                setattr(module, name, timed(name, getattr(module, name)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", type=Path)
    ap.add_argument("--as-at", default="2025-08-31")
    args = ap.parse_args()
    from evenhand.core.pipeline import build_warehouse

    with tempfile.TemporaryDirectory() as d:
        wh = args.warehouse
        if wh is None:
            if not DATA.exists():
                print(f"skipped: {DATA} not found (the bench needs ../shared/data)")
                return 0
            wh = Path(d) / "evenhand.duckdb"
            t = time.perf_counter()
            build_warehouse(DATA, wh)
            print(f"built the warehouse from {DATA} in {time.perf_counter() - t:.1f} s (not counted below)")
        instrument()
        t = time.perf_counter()
        cpu = time.process_time()
        from evenhand.engine import Evenhand

        with Evenhand(wh) as eh:
            timings = eh.run_audits(None, args.as_at).timings
        total, total_cpu = time.perf_counter() - t, time.process_time() - cpu
    for name, secs in timings.items():
        print(f"  {name:<14} {secs:6.2f} s")
    fitting = sum(spent.values())
    print(f"total: {total:.1f} s wall, {total_cpu:.1f} s CPU, on {os.cpu_count()} cores (target <= 60 s)")
    print(
        f"model fitting: {fitting:.1f} s summed over threads = {100 * fitting / total:.0f}% of the wall time "
        "(audits may fit models in parallel, so this can exceed 100%): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
    )
    if hasattr(os, "getloadavg"):
        print(f"load average while measuring: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
