"""The audits, in the order the evidence pack presents them. Each name is a module in this
package exposing ``run(ctx: AuditContext) -> AuditResult``."""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Sequence

from evenhand.audit.result import AuditContext, AuditResult

AUDITS: tuple[str, ...] = (
    "headline",
    "intake",
    "consistency",
    "safeguarding",
    "resources",
    "timing",
    "consequences",
    "frameworks",
)


def audit_function(name: str) -> Callable[[AuditContext], AuditResult]:
    if name not in AUDITS:
        raise KeyError(f"no audit {name!r}; the audits are: {', '.join(AUDITS)}")
    module = importlib.import_module(f"evenhand.audit.{name}")
    fn: Callable[[AuditContext], AuditResult] = module.run
    return fn


#: The warehouse reads of each audit that depend on the context only ("module.function"), in
#: the order the audit asks them: the runner reads them ahead on a second cursor while earlier
#: audits compute (:func:`prefetch`). An audit's answer is the same whether a read was made
#: ahead or not: the reads go through the context's cache of answers by (SQL, parameters).
LOADERS: dict[str, tuple[str, ...]] = {
    "consistency": ("consistency.transitions", "safeguarding.graded_events", "frames.event_sources",
                    "consistency.region_progress"),
    "safeguarding": ("safeguarding.graded_events", "frames.event_sources"),
    "resources": ("resources.warehouse_events", "resources.warehouse_context", "clusters.school_clusters"),
    "timing": ("timing._delays",),
    "consequences": ("consequences.inadequate_events",),
    "frameworks": ("safeguarding.graded_events", "consistency.transitions", "frames.snapshot_rows"),
}


def loader(path: str) -> Callable[[AuditContext], object]:
    module, name = path.rsplit(".", 1)
    fn: Callable[[AuditContext], object] = getattr(importlib.import_module(f"evenhand.audit.{module}"), name)
    return fn


def prefetch(ctx: AuditContext, names: Sequence[str], stop: threading.Event) -> None:
    """Run the :data:`LOADERS` of ``names`` on ``ctx`` (a context on its own cursor sharing the
    runner's answers) until ``stop`` is set. A read that fails is left to its audit, which asks
    again and sees the error itself."""
    done: set[str] = set()
    for name in names:
        for path in LOADERS.get(name, ()):
            if stop.is_set():
                return
            if path in done:
                continue
            done.add(path)
            with contextlib.suppress(Exception):  # the audit reads it again and sees the error
                loader(path)(ctx)
