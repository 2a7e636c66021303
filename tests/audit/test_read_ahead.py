"""The runner's read-ahead (registry.LOADERS on a second cursor) and the shared answer cache."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from audit_fixture import build

from evenhand.audit import registry
from evenhand.audit.result import FrameCache
from evenhand.engine import Evenhand


def test_an_answer_is_computed_once_however_many_threads_ask() -> None:
    cache = FrameCache()
    calls: list[int] = []

    def compute() -> pl.DataFrame:
        calls.append(1)
        time.sleep(0.05)
        return pl.DataFrame({"x": [1]})

    got: list[pl.DataFrame] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("SELECT 1", None, compute))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert cache.get("SELECT 1", [], compute) is got[0]  # no parameters: the same question
    assert cache.get("SELECT 1", [1], compute) is not got[0] and len(calls) == 2


def test_a_failed_answer_is_not_kept_and_each_asker_sees_its_own_error() -> None:
    cache = FrameCache()
    started, release = threading.Event(), threading.Event()

    def failing() -> pl.DataFrame:
        started.set()
        release.wait(5)
        raise ValueError("first")

    errors: list[str] = []

    def first() -> None:
        try:
            cache.get("q", None, failing)
        except ValueError as e:
            errors.append(str(e))

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)

    def second() -> pl.DataFrame:
        raise KeyError("second")

    waiter_errors: list[str] = []

    def waiter() -> None:
        try:
            cache.get("q", None, second)  # waits for the first, then asks again itself
        except KeyError as e:
            waiter_errors.append(str(e))

    w = threading.Thread(target=waiter)
    w.start()
    release.set()
    t.join()
    w.join()
    assert errors == ["first"] and waiter_errors == ["'second'"]
    assert cache.get("q", None, lambda: pl.DataFrame({"y": [2]}))["y"].to_list() == [2]


def test_every_loader_exists_and_belongs_to_an_audit() -> None:
    assert set(registry.LOADERS) <= set(registry.AUDITS)
    for paths in registry.LOADERS.values():
        for path in paths:
            assert callable(registry.loader(path)), path


def _results(wh: Path) -> dict[str, Any]:
    with Evenhand(wh) as eh:
        run = eh.run_audits(None, None, keep_going=True)
    out: dict[str, Any] = {}
    for slot in run.slots:
        r = slot.result
        out[slot.name] = None if r is None else (
            [(f.key, f.estimate.value, f.estimate.low, f.estimate.high, f.estimate.n) for f in r.figures],
            {k: t for k, t in r.tables.items()},
            r.findings,
        )
    return out


def test_reading_ahead_changes_no_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wh = build(tmp_path)
    ahead = _results(wh)
    monkeypatch.setattr(registry, "LOADERS", {})
    plain = _results(wh)
    assert ahead.keys() == plain.keys()
    for name in ahead:
        if ahead[name] is None or plain[name] is None:
            assert ahead[name] is None and plain[name] is None, name
            continue
        (fa, ta, na), (fp, tp, np_) = ahead[name], plain[name]
        assert fa == fp, name
        assert na == np_, name
        assert ta.keys() == tp.keys(), name
        for key in ta:
            assert ta[key].equals(tp[key]), (name, key)
