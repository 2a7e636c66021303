"""Stage 4, audit: one module per public claim, each returning one AuditResult.

Modules are listed in :data:`evenhand.audit.registry.AUDITS`; each exposes
``run(ctx: AuditContext) -> AuditResult``.
"""
