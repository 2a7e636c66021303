"""Which schools share a trust or a local authority: the clusters the intake and resources
intervals allow for (shared/REFEREE.md, "dependence").

One cluster per school URN: its academy trust where it is in one (the trust of the newest
school-level file row that names one; else a GIAS group link of trust type, 2022), else its
local authority (maintained schools share one), else the school alone. Trusts and local
authorities set policy, staff and support for their schools, so their schools' grades are not
independent; an interval that treats them as independent is too narrow.
"""

from __future__ import annotations

import polars as pl

from evenhand.audit.result import AuditContext

#: GIAS group types whose members are run by one trust.
TRUST_GROUP_TYPES = ("Multi-academy trust", "Single-academy trust", "Trust")
SCHEMA = {"urn": pl.Int64, "cluster_id": pl.String, "cluster_kind": pl.String}
KINDS = ("trust", "local authority", "school alone")


def school_clusters(ctx: AuditContext) -> pl.DataFrame:
    """urn, cluster_id ('trust:<uid>', 'la:<name>'), cluster_kind, for every URN of a
    school-level file (and every URN of a trust-type GIAS group link)."""
    if not ctx.has_table("core.schools"):
        return pl.DataFrame(schema=SCHEMA)
    have = set(ctx.frame(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'core' AND table_name = 'schools'"
    )["column_name"].to_list())
    trust = "CAST(trust_uid AS VARCHAR)" if "trust_uid" in have else "NULL::VARCHAR"
    la = "local_authority" if "local_authority" in have else "NULL::VARCHAR"
    order = ", ".join(c for c in ("as_at", "file_id", "row_number") if c in have) or "urn"
    links = ""
    if ctx.has_table("core.gias_group_links"):
        types = ", ".join(f"'{t}'" for t in TRUST_GROUP_TYPES)
        links = f"""
        , g AS (SELECT urn, min(group_uid) AS group_uid FROM core.gias_group_links
                WHERE group_type IN ({types}) GROUP BY urn)"""
    df = ctx.frame(
        f"""
        WITH s AS (
            SELECT urn,
                   arg_max({trust}, ({trust} IS NOT NULL, {order})) AS trust_text,
                   arg_max({la}, ({la} IS NOT NULL, {order})) AS la_text
            FROM core.schools GROUP BY urn
        ){links}
        SELECT urn,
               CASE WHEN s.trust_text IS NOT NULL THEN 'trust:' || s.trust_text
                    {"WHEN g.group_uid IS NOT NULL THEN 'trust:' || CAST(g.group_uid AS VARCHAR)" if links else ""}
                    WHEN s.la_text IS NOT NULL THEN 'la:' || s.la_text END AS cluster_id,
               CASE WHEN s.trust_text IS NOT NULL {"OR g.group_uid IS NOT NULL" if links else ""} THEN 'trust'
                    WHEN s.la_text IS NOT NULL THEN 'local authority' END AS cluster_kind
        FROM s {"FULL JOIN g USING (urn)" if links else ""}
        ORDER BY 1
        """
    )
    return df.select([pl.col(c).cast(t) for c, t in SCHEMA.items()]).drop_nulls("cluster_id")


def attach_clusters(frame: pl.DataFrame, clusters: pl.DataFrame | None, urn: str = "urn") -> pl.DataFrame:
    """``frame`` with cluster_id and cluster_kind for each row's ``urn`` (a school with no
    trust and no local authority on record is its own cluster). Pure."""
    base = frame.drop([c for c in ("cluster_id", "cluster_kind") if c in frame.columns])
    if clusters is None or clusters.height == 0:
        out = base.with_columns(pl.lit(None, dtype=pl.String).alias("cluster_id"), pl.lit(None, dtype=pl.String).alias("cluster_kind"))
    else:
        out = base.join(clusters.rename({"urn": urn}), on=urn, how="left")
    return out.with_columns(
        pl.coalesce("cluster_id", pl.format("school:{}", pl.col(urn))).alias("cluster_id"),
        pl.col("cluster_kind").fill_null("school alone"),
    )
