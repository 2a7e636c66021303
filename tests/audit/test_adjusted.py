"""Adjusted risk differences and trust / local-authority clustered intervals in the intake and
resources audits (issue 15): the wiring on a synthetic warehouse, the cluster rule on a tiny
one, and on the real data the headline difference recomputed by the plain route."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from audit_nation_support import write_nation_warehouse

from evenhand.audit import clusters, intake
from evenhand.audit.result import AuditContext
from evenhand.simulate.nation import simulate_nation

AS_AT = dt.date(2025, 8, 31)


def _plain_ame(fit, df: pl.DataFrame, column: str) -> float:  # type: ignore[no-untyped-def]
    """The plain route: the fit's predicted distributions with every fitted row set to 5, then 1."""
    from evenhand.stats.margins import fitted_rows

    rows = fitted_rows(fit, df)
    p5 = fit.predict_distribution(rows.with_columns(pl.lit("5").alias(column)))
    p1 = fit.predict_distribution(rows.with_columns(pl.lit("1").alias(column)))
    return float((p5["p_1"] + p5["p_2"]).mean() - (p1["p_1"] + p1["p_2"]).mean())


def test_intake_risk_differences_on_a_synthetic_warehouse(tmp_path: Path) -> None:
    path = write_nation_warehouse(simulate_nation(3000, seed=11), tmp_path / "wh.duckdb")
    con = duckdb.connect(str(path), read_only=True)
    try:
        ctx = AuditContext(con=con, as_at=AS_AT, seed=3, synthetic=True)
        r = intake.run(ctx)
        frame = clusters.attach_clusters(intake.prepare(intake.warehouse_frame(ctx)), clusters.school_clusters(ctx))
    finally:
        con.close()
    t = r.tables["risk_differences"]
    assert set(t["model"].to_list()) >= {"all rows, without effectiveness", "effectiveness rows, with effectiveness"}
    row = t.filter((pl.col("area") == "overall_effectiveness") & (pl.col("model") == "all rows, without effectiveness")).row(0, named=True)
    # the same number by the plain route, on the rows the audit fitted
    analysis = intake.analyse(frame, seed=3)
    oe = frame.filter(pl.col("area") == "overall_effectiveness").drop_nulls(
        ["idaci_quintile", "phase", "log_pupils", "type_group", "region", "year"])
    assert row["risk_difference"] == pytest.approx(_plain_ame(analysis.models["overall_effectiveness"].fit_all, oe, "idaci_quintile"), abs=1e-12)
    assert row["low"] < row["risk_difference"] < row["high"] and row["low_clustered"] < row["risk_difference"] < row["high_clustered"]
    assert row["odds_ratio"] == pytest.approx(r.figure("overall_effectiveness.or_q5_all").estimate.value)
    assert row["n_clusters"] == frame.filter(pl.col("area") == "overall_effectiveness")["cluster_id"].n_unique()
    # the finding and the figure are in the result, before the claim's verdict
    assert any("percentage points less often" in f or "percentage points more often" in f for f in r.findings[1:])
    assert "claim that grades reflect intake" in r.findings[0]
    assert any(f.key.endswith(".risk_difference") for f in r.figures)
    assert "Adjusted risk differences" in r.method


def test_cluster_rule_trust_then_group_link_then_local_authority(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("CREATE SCHEMA core")
    con.execute("""CREATE TABLE core.schools AS SELECT * FROM (VALUES
        (1, 1, DATE '2020-08-31', 100, 5001, 'Leeds'),
        (2, 1, DATE '2025-08-31', 100, NULL, 'Leeds'),
        (2, 2, DATE '2025-08-31', 200, NULL, 'Kent'),
        (2, 3, DATE '2025-08-31', 300, NULL, 'Kent'),
        (2, 4, DATE '2025-08-31', 400, NULL, NULL))
        AS t(file_id, row_number, as_at, urn, trust_uid, local_authority)""")
    con.execute("""CREATE TABLE core.gias_group_links AS SELECT * FROM (VALUES
        (300, 7001, 'Multi-academy trust'), (200, 9, 'Federation'))
        AS t(urn, group_uid, group_type)""")
    ctx = AuditContext(con=con, as_at=AS_AT)
    c = {r["urn"]: (r["cluster_id"], r["cluster_kind"]) for r in clusters.school_clusters(ctx).iter_rows(named=True)}
    assert c[100] == ("trust:5001", "trust")  # the trust a file names, even an older file
    assert c[200] == ("la:Kent", "local authority")  # a federation is not a trust
    assert c[300] == ("trust:7001", "trust")  # a trust-type GIAS group link
    assert 400 not in c
    out = clusters.attach_clusters(pl.DataFrame({"urn": [100, 400]}), clusters.school_clusters(ctx))
    assert out["cluster_id"].to_list() == ["trust:5001", "school:400"] and out["cluster_kind"].to_list() == ["trust", "school alone"]
    con.close()


@pytest.mark.integration
def test_real_data_headline_risk_differences() -> None:
    from inspections_fixture import context, national_warehouse

    from evenhand.audit import resources

    ctx = context(national_warehouse(), AS_AT)
    r = intake.run(ctx)
    row = r.tables["risk_differences"].filter(
        (pl.col("area") == "overall_effectiveness") & (pl.col("model") == "all rows, without effectiveness")).row(0, named=True)
    # most deprived judged good or outstanding less often, clustered interval wider than the model's
    assert row["high_clustered"] < 0 and (row["high_clustered"] - row["low_clustered"]) >= (row["high"] - row["low"])
    assert row["n_trusts"] > 1000 and row["n_local_authorities"] > 100
    rr = resources.run(ctx)
    inc = rr.tables["risk_differences"].filter(
        (pl.col("area") == "overall_effectiveness") & (pl.col("model") == "income per pupil")).row(0, named=True)
    assert inc["low_clustered"] < 0 < inc["high_clustered"]  # no evidence either way, as the odds ratio
