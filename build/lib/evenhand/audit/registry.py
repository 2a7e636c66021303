"""The audits, in the order the evidence pack presents them. Each name is a module in this
package exposing ``run(ctx: AuditContext) -> AuditResult``."""

from __future__ import annotations

import importlib
from collections.abc import Callable

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
