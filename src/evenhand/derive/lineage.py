"""URN lineage: follow a school across changes of URN.

Inputs: ``core.gias_links`` (the union of every GIAS links file, newest kept) and Ofsted's
own evidence in ``core.event_sources`` (a file row about school B reporting an inspection made
under URN A, i.e. Ofsted's "does not relate to the current URN": A is B's predecessor).

Method (docs/decisions/0400-lineage.md):

1. Each GIAS row is a claim about a pair of URNs; the link type (maps/gias_link_types.csv)
   says which side is the predecessor and what kind of link it is. Sixth-form-centre links
   are not changes of URN and are ignored. The two rows GIAS publishes for a pair (one from
   each side) become one link. Direction: GIAS when its claims agree; else Ofsted's evidence;
   else the higher URN is the successor (URNs are issued in sequence).
2. Ofsted's links join a GIAS link of the same pair, or, when GIAS already connects the two
   URNs through other URNs, are kept as *indirect* (carry-only) links; otherwise they are
   direct links of their own.
3. Over direct links: a successor with several predecessors is a MERGE; a predecessor with
   several successors is a SPLIT; GIAS types saying merged / amalgamated / split count too.
4. Only one-to-one succession links (GIAS 'Predecessor' / 'Successor', or Ofsted-only
   evidence) are CHAINED: the URNs they join (transitively) share a lineage_id, 'L' + the
   smallest URN of the group. Merges, splits, closures and other links are never chained:
   each side keeps its own lineage and the link is flagged (out.lineage columns) and listed
   (out.lineage_links).
5. Judgements and context measures are carried over chained links and over any link across
   which Ofsted's own files carry an inspection (out.predecessors), the latter flagged.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import duckdb
import polars as pl

from evenhand import maps
from evenhand.core.warehouse import create, frame, has_table, insert
from evenhand.metadata import out_tables as O
from evenhand.metadata.schema import Table

MAX_STEPS = 100  # guard for the iterative graph walks (real chains are a handful of links)


@cache
def link_types() -> pl.DataFrame:
    """maps/gias_link_types.csv: link_type -> direction, kind, chains."""
    rows = maps.read_rows("gias_link_types.csv")
    return pl.DataFrame(
        {
            "link_type": [r["link_type"] for r in rows],
            "direction": [r["direction"] for r in rows],
            "kind": [r["kind"] for r in rows],
            "chains": [r["chains"] == "true" for r in rows],
        }
    )


def replace_table(con: duckdb.DuckDBPyConnection, table: Table, df: pl.DataFrame | None) -> None:
    """(Re)create an out table from its declaration and insert ``df`` (validated)."""
    con.execute(f"DROP TABLE IF EXISTS {table.qualified}")
    create(con, table)
    if df is not None and df.height:
        insert(con, table, df)


def register(con: duckdb.DuckDBPyConnection, name: str, df: pl.DataFrame) -> None:
    con.register(name, df.to_arrow())


def components(nodes: pl.Series, edges: pl.DataFrame, a: str = "a", b: str = "b") -> pl.DataFrame:
    """Weakly connected components: ``node -> comp`` (the smallest node of its component),
    one row per distinct node of ``nodes``, sorted by node.

    Only edges with both ends among ``nodes`` connect (a null node is its own component, comp
    null). Union-find with the smaller root kept, so each root is its component's smallest
    node: the graphs are tens of thousands of edges, where a plain loop costs a few
    milliseconds (min-label propagation in Polars took rounds of joins and sorts: 0.17 s CPU
    against 0.07 on the Ofsted set).
    """
    uniq = nodes.unique().sort()
    if edges.height == 0:
        return pl.DataFrame({"node": uniq}).with_columns(comp=pl.col("node"))
    known = set(uniq.drop_nulls().to_list())
    parent: dict[Any, Any] = {}  # only the nodes an edge touches; any other node is its own root

    def find(x: Any) -> Any:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for x, y in zip(edges[a].to_list(), edges[b].to_list(), strict=True):
        if x not in known or y not in known:  # a null end is never known
            continue
        rx, ry = find(x), find(y)
        if rx != ry:
            lo, hi = (rx, ry) if rx < ry else (ry, rx)
            parent[hi] = lo
    touched = list(parent)
    comp = uniq.replace(touched, [find(n) for n in touched]) if touched else uniq
    return pl.DataFrame({"node": uniq, "comp": comp.alias("comp")})


def closure(edges: pl.DataFrame) -> pl.DataFrame:
    """Ancestors over directed ``pred -> succ`` edges: ``urn, predecessor_urn, steps`` (fewest)."""
    base = edges.select(pl.col("succ").alias("urn"), pl.col("pred").alias("predecessor_urn"), pl.lit(1, pl.Int64).alias("steps")).unique(["urn", "predecessor_urn"])
    found = base
    frontier = base
    for _ in range(MAX_STEPS):
        nxt = (
            frontier.join(edges, left_on="predecessor_urn", right_on="succ")
            .select("urn", pl.col("pred").alias("predecessor_urn"), (pl.col("steps") + 1).alias("steps"))
            .filter(pl.col("urn") != pl.col("predecessor_urn"))
            .unique(["urn", "predecessor_urn"])
            .join(found, on=["urn", "predecessor_urn"], how="anti")
        )
        if nxt.height == 0:
            return found.sort(["urn", "predecessor_urn"])
        found = pl.concat([found, nxt])
        frontier = nxt
    raise RuntimeError("predecessor closure did not converge")  # pragma: no cover


_KIND_PRIORITY = ["split", "amalgamation", "merge", "closure", "reorganisation", "other", "succession"]


def derive_lineage(con: duckdb.DuckDBPyConnection) -> None:
    """Write out.lineage, out.lineage_links, out.predecessors and out.event_lineage."""
    register(con, "_link_types", link_types())
    register(con, "_kind_priority", pl.DataFrame({"kind": _KIND_PRIORITY, "prio": list(range(len(_KIND_PRIORITY)))}))
    has_links = has_table(con, "core.gias_links")
    gias_sql = (
        "SELECT urn, link_urn, link_name, link_type, link_established_date, n_files FROM core.gias_links"
        if has_links else
        "SELECT NULL::BIGINT urn, NULL::BIGINT link_urn, NULL::VARCHAR link_name, NULL::VARCHAR link_type, "
        "NULL::DATE link_established_date, NULL::BIGINT n_files WHERE false"
    )
    # 1. GIAS claims -> one row per unordered pair
    pairs = frame(
        con,
        f"""
        WITH claims AS (
            SELECT g.urn, g.link_urn, g.link_type, g.link_established_date, g.n_files,
                   coalesce(t.direction, 'undirected') AS direction,
                   coalesce(t.kind, 'other') AS kind,
                   coalesce(t.chains, false) AS chains,
                   least(g.urn, g.link_urn) AS lo, greatest(g.urn, g.link_urn) AS hi
            FROM ({gias_sql}) g LEFT JOIN _link_types t USING (link_type)
            WHERE coalesce(t.direction, '') <> 'ignore' AND g.urn <> g.link_urn
        )
        SELECT lo, hi,
               count(*) FILTER (WHERE (direction = 'predecessor' AND link_urn = lo)
                                   OR (direction = 'successor' AND urn = lo)) AS lo_first,
               count(*) FILTER (WHERE (direction = 'predecessor' AND link_urn = hi)
                                   OR (direction = 'successor' AND urn = hi)) AS hi_first,
               list(DISTINCT link_type ORDER BY link_type) AS link_types,
               arg_min(c.kind, p.prio) AS kind,
               bool_and(chains) AS chains,
               max(link_established_date) AS link_established_date,
               max(n_files) AS n_files
        FROM claims c JOIN _kind_priority p USING (kind)
        GROUP BY lo, hi
        """,
    )
    ofsted = frame(
        con,
        """
        SELECT e.urn AS pred, s.reported_urn AS succ, count(DISTINCT s.event_id) AS n_events
        FROM core.event_sources s JOIN core.events e USING (event_id)
        WHERE s.reported_urn <> e.urn
        GROUP BY ALL
        """,
    )
    unknown = frame(
        con,
        f"SELECT DISTINCT link_type FROM ({gias_sql}) WHERE link_type NOT IN (SELECT link_type FROM _link_types) ORDER BY 1",
    )["link_type"].to_list()

    # 2. orient GIAS pairs; attach Ofsted evidence
    ofs_lohi = ofsted.select(
        pl.min_horizontal("pred", "succ").alias("lo"), pl.max_horizontal("pred", "succ").alias("hi"),
        (pl.col("pred") < pl.col("succ")).alias("lo_is_pred"), "n_events",
    )
    ofs_pair = ofs_lohi.group_by("lo", "hi").agg(
        pl.col("n_events").filter(pl.col("lo_is_pred")).sum().alias("ofs_lo_first"),
        pl.col("n_events").filter(~pl.col("lo_is_pred")).sum().alias("ofs_hi_first"),
    )
    g = pairs.join(ofs_pair, on=["lo", "hi"], how="left").with_columns(
        pl.col("ofs_lo_first").fill_null(0), pl.col("ofs_hi_first").fill_null(0)
    )
    lo_pred = (
        pl.when((pl.col("lo_first") > 0) & (pl.col("hi_first") == 0)).then(True)
        .when((pl.col("hi_first") > 0) & (pl.col("lo_first") == 0)).then(False)
        .when((pl.col("ofs_lo_first") > 0) & (pl.col("ofs_hi_first") == 0)).then(True)
        .when((pl.col("ofs_hi_first") > 0) & (pl.col("ofs_lo_first") == 0)).then(False)
        .otherwise(True)
    )
    basis = (
        pl.when((pl.col("lo_first") > 0) != (pl.col("hi_first") > 0)).then(pl.lit("gias"))
        .when((pl.col("ofs_lo_first") > 0) != (pl.col("ofs_hi_first") > 0)).then(pl.lit("ofsted"))
        .otherwise(pl.lit("urn_order"))
    )
    g = g.with_columns(lo_pred.alias("_lo_pred"), basis.alias("direction_basis"))
    gias_edges = g.select(
        pl.when(pl.col("_lo_pred")).then(pl.col("lo")).otherwise(pl.col("hi")).alias("pred"),
        pl.when(pl.col("_lo_pred")).then(pl.col("hi")).otherwise(pl.col("lo")).alias("succ"),
        pl.when((pl.col("ofs_lo_first") + pl.col("ofs_hi_first")) > 0).then(pl.lit("gias+ofsted")).otherwise(pl.lit("gias")).alias("source"),
        "link_types", "kind", "chains", "direction_basis", "link_established_date", "n_files",
        pl.when(pl.col("_lo_pred")).then(pl.col("ofs_lo_first")).otherwise(pl.col("ofs_hi_first")).cast(pl.Int64).alias("ofsted_events"),
        pl.when(pl.col("_lo_pred")).then(pl.col("ofs_hi_first")).otherwise(pl.col("ofs_lo_first")).cast(pl.Int64).alias("_ofs_against"),
        pl.lit(True).alias("direct"),
    )

    # 3. Ofsted-only links: direct, or indirect when GIAS already connects the two URNs
    gnodes = pl.concat([pairs["lo"], pairs["hi"]]) if pairs.height else pl.Series("lo", [], pl.Int64)
    gcomp = components(gnodes, pairs, "lo", "hi")
    only = ofsted.with_columns(
        pl.min_horizontal("pred", "succ").alias("lo"), pl.max_horizontal("pred", "succ").alias("hi")
    ).join(pairs.select("lo", "hi"), on=["lo", "hi"], how="anti")
    only = (
        only.join(gcomp.rename({"node": "pred", "comp": "cp"}), on="pred", how="left")
        .join(gcomp.rename({"node": "succ", "comp": "cs"}), on="succ", how="left")
        .with_columns(direct=~(pl.col("cp").is_not_null() & (pl.col("cp") == pl.col("cs"))))
    )
    ofs_edges = only.select(
        "pred", "succ", pl.lit("ofsted").alias("source"),
        pl.lit(None, pl.List(pl.String)).alias("link_types"), pl.lit("ofsted_evidence").alias("kind"),
        pl.lit(True).alias("chains"), pl.lit("ofsted").alias("direction_basis"),
        pl.lit(None, pl.Date).alias("link_established_date"), pl.lit(None, pl.Int64).alias("n_files"),
        pl.col("n_events").cast(pl.Int64).alias("ofsted_events"), pl.lit(0, pl.Int64).alias("_ofs_against"), "direct",
    )
    edges = pl.concat([gias_edges, ofs_edges], how="vertical_relaxed")

    # a link A -> C that GIAS also makes through A -> B -> C is a shortcut, not a second predecessor
    d = edges.filter(pl.col("direct")).select("pred", "succ")
    shortcut = (
        d.rename({"succ": "mid"}).join(d.rename({"pred": "mid"}), on="mid")
        .select("pred", "succ").unique().with_columns(pl.lit(True).alias("_shortcut"))
    )
    edges = edges.join(shortcut, on=["pred", "succ"], how="left").with_columns(
        direct=pl.col("direct") & pl.col("_shortcut").is_null()
    ).drop("_shortcut")

    # 4. shape over direct links; chain only one-to-one successions
    direct = edges.filter(pl.col("direct"))
    n_succ = direct.group_by("pred").len("predecessor_n_successors")
    n_pred = direct.group_by("succ").len("successor_n_predecessors")
    edges = (
        edges.join(n_succ, on="pred", how="left").join(n_pred, on="succ", how="left")
        .with_columns(
            is_merge=(pl.col("successor_n_predecessors") > 1) | pl.col("kind").is_in(["merge", "amalgamation"]),
            is_split=(pl.col("predecessor_n_successors") > 1) | (pl.col("kind") == "split"),
        )
        .with_columns(
            relation=pl.when(~pl.col("direct")).then(pl.lit("indirect"))
            .when(pl.col("is_merge") & pl.col("is_split")).then(pl.lit("merge_and_split"))
            .when(pl.col("is_merge")).then(pl.lit("merge"))
            .when(pl.col("is_split")).then(pl.lit("split"))
            .otherwise(pl.lit("one_to_one")),
        )
        .with_columns(chained=(pl.col("relation") == "one_to_one") & pl.col("chains"))
        .with_columns(carries=pl.col("chained") | (pl.col("ofsted_events") > 0))
        .with_columns(note=_link_note())
    )

    # nodes: every URN the warehouse knows
    nodes = frame(
        con,
        f"""
        SELECT urn FROM core.events UNION SELECT urn FROM core.schools
        UNION SELECT reported_urn FROM core.event_sources
        UNION SELECT urn FROM ({gias_sql}) UNION SELECT link_urn FROM ({gias_sql})
        """,
    )["urn"]
    chained = edges.filter(pl.col("chained"))
    lcomp = components(nodes, chained, "pred", "succ")

    # positions along each chain (roots first); nodes in a cycle stay null
    cpred = chained.select("pred", "succ")
    roots = lcomp.select("node").join(cpred, left_on="node", right_on="succ", how="anti")
    pos = roots.with_columns(pl.lit(1, pl.Int64).alias("position"))
    frontier = pos
    for _ in range(MAX_STEPS):
        nxt = frontier.join(cpred, left_on="node", right_on="pred").select(
            pl.col("succ").alias("node"), (pl.col("position") + 1).alias("position")
        ).join(pos, on="node", how="anti")
        if nxt.height == 0:
            break
        pos = pl.concat([pos, nxt])
        frontier = nxt

    lineage = (
        lcomp.join(pos, on="node", how="left")
        .with_columns(
            lineage_id=pl.format("L{}", pl.col("comp")),
            n_urns=pl.len().over("comp").cast(pl.Int64),
            cycle=pl.col("position").is_null().any().over("comp"),
        )
        .rename({"node": "urn"})
    )
    lineage = lineage.with_columns(
        role=pl.when(pl.col("cycle")).then(pl.lit("cycle"))
        .when(pl.col("n_urns") == 1).then(pl.lit("single"))
        .when(pl.col("position") == 1).then(pl.lit("earliest"))
        .when(pl.col("position") == pl.col("position").max().over("comp")).then(pl.lit("latest"))
        .otherwise(pl.lit("intermediate")),
        position=pl.when(pl.col("cycle")).then(None).otherwise(pl.col("position")),
    )

    # flags and lists
    def listed(mask: pl.Expr, key: str, other: str, name: str) -> pl.DataFrame:
        return (
            edges.filter(mask & ~pl.col("chained") & pl.col("direct"))
            .group_by(key)
            .agg(pl.col(other).cast(pl.String).unique().sort().alias(name))
            .rename({key: "urn"})
        )

    is_m = pl.col("relation").is_in(["merge", "merge_and_split"])
    is_s = pl.col("relation").is_in(["split", "merge_and_split"])
    other_kind = (pl.col("relation") == "one_to_one")
    lists = [
        listed(is_m, "succ", "pred", "merged_from"),
        listed(is_m, "pred", "succ", "merged_into"),
        listed(is_s, "succ", "pred", "split_from"),
        listed(is_s, "pred", "succ", "split_into"),
    ]
    others = pl.concat(
        [
            edges.filter(other_kind & ~pl.col("chained")).select(pl.col("pred").alias("urn"), pl.format("{}:{}", "kind", "succ").alias("x")),
            edges.filter(other_kind & ~pl.col("chained")).select(pl.col("succ").alias("urn"), pl.format("{}:{}", "kind", "pred").alias("x")),
        ]
    ).group_by("urn").agg(pl.col("x").unique().sort().alias("other_links"))
    chained_pred = chained.select(pl.col("succ").alias("urn"), pl.col("pred").alias("predecessor_urn"))
    chained_succ = chained.select(pl.col("pred").alias("urn"), pl.col("succ").alias("successor_urn"))
    names = frame(
        con,
        f"""
        WITH n AS (
            SELECT urn, school_name, as_at AS d, 3 AS src FROM core.schools
            UNION ALL SELECT urn, school_name, start_date, 2 FROM core.events WHERE school_name IS NOT NULL
            UNION ALL SELECT link_urn, link_name, link_established_date, 1 FROM ({gias_sql})
                WHERE link_name IS NOT NULL
        )
        SELECT urn, arg_max(school_name, (src, coalesce(d, DATE '1900-01-01'))) AS school_name FROM n GROUP BY urn
        """,
    )
    n_events = frame(con, "SELECT urn, count(*) AS n_events FROM core.events GROUP BY urn")
    out = lineage.select("urn", "lineage_id", "position", "n_urns", "role")
    for extra in [chained_pred, chained_succ, *lists, others, names, n_events]:
        out = out.join(extra, on="urn", how="left")
    out = out.with_columns(
        pl.col("n_events").fill_null(0),
        merge=pl.col("merged_from").is_not_null() | pl.col("merged_into").is_not_null(),
        split=pl.col("split_from").is_not_null() | pl.col("split_into").is_not_null(),
    ).with_columns(notes=_urn_note()).sort("urn")
    replace_table(con, O.LINEAGE, out)

    links_out = edges.rename({"pred": "predecessor_urn", "succ": "successor_urn"}).sort("predecessor_urn", "successor_urn")
    replace_table(con, O.LINEAGE_LINKS, links_out)

    # 5. carry-over closure
    carry = edges.filter(pl.col("carries")).select("pred", "succ")
    preds = closure(carry)
    lid = out.select("urn", "lineage_id")
    preds = (
        preds.join(lid, on="urn", how="left")
        .join(lid.rename({"urn": "predecessor_urn", "lineage_id": "plid"}), on="predecessor_urn", how="left")
        .with_columns(same_lineage=pl.col("lineage_id") == pl.col("plid"))
    )
    replace_table(con, O.PREDECESSORS, preds)

    register(con, "_lineage", out.select("urn", "lineage_id", "position", "n_urns"))
    ev = frame(
        con,
        """
        WITH heads AS (
            SELECT lineage_id, arg_max(urn, (coalesce(position, 0), urn)) AS latest_urn
            FROM _lineage GROUP BY lineage_id
        )
        SELECT e.event_id, e.urn, l.lineage_id, l.n_urns AS lineage_n_urns, l.position AS urn_position,
               h.latest_urn, l.n_urns > 1 AS spans_urns
        FROM core.events e JOIN _lineage l USING (urn) JOIN heads h USING (lineage_id)
        ORDER BY e.event_id
        """,
    )
    replace_table(con, O.EVENT_LINEAGE, ev)
    if unknown:
        _warn_unknown(con, unknown)
    for name in ("_link_types", "_kind_priority", "_lineage"):
        con.unregister(name)


def _link_note() -> pl.Expr:
    return (
        pl.when(pl.col("relation") == "indirect")
        .then(pl.lit("a shortcut: GIAS also links the two through other URNs; not counted as a second predecessor or successor"))
        .when(pl.col("chained"))
        .then(pl.lit("one-to-one succession: chained into one lineage"))
        .when(pl.col("relation") == "one_to_one")
        .then(pl.format("{} link: not a continuation of the same school, not chained", "kind"))
        .otherwise(
            pl.concat_str(
                [
                    pl.col("relation").str.replace_all("_", " "),
                    pl.lit(": "),
                    pl.concat_str(
                        [
                            pl.when(pl.col("successor_n_predecessors") > 1).then(
                                pl.format("the successor has {} direct predecessors", "successor_n_predecessors")),
                            pl.when(pl.col("predecessor_n_successors") > 1).then(
                                pl.format("the predecessor has {} direct successors", "predecessor_n_successors")),
                            pl.when(pl.col("kind").is_in(["merge", "amalgamation", "split"])).then(
                                pl.format("GIAS calls it a {} ({})", "kind", pl.col("link_types").list.join(", "))),
                        ],
                        separator="; ", ignore_nulls=True,
                    ),
                    pl.lit("; not chained"),
                ]
            )
        )
        + pl.when(pl.col("_ofs_against") > 0).then(pl.lit("; Ofsted's files suggest the opposite direction")).otherwise(pl.lit(""))
        + pl.when(~pl.col("chained") & (pl.col("ofsted_events") > 0) & (pl.col("relation") != "indirect"))
        .then(pl.lit("; Ofsted's files carry the predecessor's inspections across it (flagged in out.predecessors)"))
        .otherwise(pl.lit(""))
    )


def _urn_note() -> pl.Expr:
    parts = [
        pl.when(pl.col("merged_from").is_not_null()).then(pl.format("formed by merger or amalgamation of URNs {} (separate lineages)", pl.col("merged_from").list.join(", "))),
        pl.when(pl.col("merged_into").is_not_null()).then(pl.format("merged or amalgamated into URN(s) {} (separate lineages)", pl.col("merged_into").list.join(", "))),
        pl.when(pl.col("split_from").is_not_null()).then(pl.format("split from URN(s) {} (separate lineages)", pl.col("split_from").list.join(", "))),
        pl.when(pl.col("split_into").is_not_null()).then(pl.format("split into URNs {} (separate lineages)", pl.col("split_into").list.join(", "))),
        pl.when(pl.col("other_links").is_not_null()).then(pl.format("other links, not chained: {}", pl.col("other_links").list.join(", "))),
        pl.when(pl.col("role") == "cycle").then(pl.lit("contradictory links form a cycle: no position")),
    ]
    joined = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined)


def _warn_unknown(con: duckdb.DuckDBPyConnection, unknown: list[str]) -> None:
    from evenhand.metadata import tables as T

    msg = "GIAS link type(s) not in maps/gias_link_types.csv, treated as 'other' (never chained): " + ", ".join(repr(u) for u in unknown)
    insert(con, T.WARNINGS, pl.DataFrame({"message": [msg], "count": [len(unknown)]}))
