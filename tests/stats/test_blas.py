"""One BLAS thread inside the estimators and the audit runner, lifted afterwards."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from evenhand.stats.blas import blas_one_thread, one_blas_thread


def _threads() -> list[int]:
    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def test_limit_held_while_any_block_runs_and_lifted_after() -> None:
    before = _threads()

    @one_blas_thread
    def inner() -> list[int]:
        return _threads()

    with blas_one_thread():
        assert all(n == 1 for n in _threads())
        assert all(n == 1 for n in inner())  # nested: still limited after it returns
        assert all(n == 1 for n in _threads())
    assert _threads() == before
