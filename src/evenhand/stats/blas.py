"""One BLAS thread inside the estimators.

The model fits multiply tall, narrow matrices (tens of thousands of rows by a few dozen
columns). OpenBLAS splits each product over its threads, which on a busy machine wait for
one another: on the project's 2-core machine under load a 17,000 x 14 ``X'WX`` took ~40 ms
with two threads and ~2-4 ms with one. The estimators therefore run with one BLAS thread
(``threadpoolctl``); the thread count changes only the order of floating-point sums (results
agree to ~1e-15). Decision: ``docs/decisions/0800-audit-performance.md``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_controller: ThreadpoolController | None = None
_active = 0  # estimator calls running (in any thread): the limit is process-wide
_limiter: Any = None


@contextlib.contextmanager
def blas_one_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block; the limit is lifted when the last block or
    estimator call running in the process (in any thread, nested or not) ends."""
    global _controller, _active, _limiter
    with _lock:
        if _active == 0:
            if _controller is None:
                # created on first use, once numpy and scipy have loaded their BLAS (each wheel
                # brings its own OpenBLAS; a controller sees only the libraries already loaded)
                import numpy  # noqa: F401
                import scipy.linalg  # noqa: F401

                _controller = ThreadpoolController()
            _limiter = _controller.limit(limits=1, user_api="blas")
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def one_blas_thread(fn: F) -> F:
    """Run ``fn`` with BLAS limited to one thread (:func:`blas_one_thread`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with blas_one_thread():
            return fn(*args, **kwargs)

    return cast(F, wrapper)
