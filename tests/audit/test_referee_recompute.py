"""Each corrected headline of the consequences, safeguarding, consistency and timing audits,
recomputed by a second, plain route: Polars over the raw official CSV, or a short SQL over the
core and out tables (shared/REFEREE.md, "recompute independently"). On ../shared/data.

The ``check_*`` functions take an audit context so they can be run on any warehouse built from
the shared data (e.g. ``AuditContext(con=duckdb.connect(path, read_only=True), as_at=...)``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from audit_fixture import context, national_warehouse

from evenhand.audit import consequences, consistency, safeguarding, timing
from evenhand.audit.result import AuditContext
from helpers import need_shared_data

AS_AT = dt.date(2025, 8, 31)
OFFICIAL = "ofsted/official-stats_schools_as-at-2025-08-31_england.csv"
MI_2020 = "ofsted/mi_latest-inspections_as-at-2020-08-31_england.csv"
EIF = (dt.date(2019, 9, 1), dt.date(2024, 8, 31))


def _raw_blocks(data: Path) -> dict[str, pl.DataFrame]:
    """The latest and previous graded blocks of the official file, straight from the CSV."""
    d = pl.read_csv(data / OFFICIAL, infer_schema_length=0)
    latest = d.select(
        pl.col("Inspection number of latest graded inspection").alias("no"), pl.col("Inspection start date").alias("start"),
        pl.col("Overall effectiveness").alias("oe"), pl.col("Safeguarding is effective?").alias("sg"))
    prev = d.select(
        pl.col("Previous inspection number").alias("no"), pl.col("Previous inspection start date").alias("start"),
        pl.col("Previous graded inspection overall effectiveness").alias("oe"), pl.col("Previous safeguarding is effective?").alias("sg"))
    out = {}
    for name, b in (("latest", latest), ("previous", prev)):
        out[name] = b.filter(pl.col("no").is_not_null()).unique("no").with_columns(
            pl.col("start").str.to_date("%d/%m/%Y", strict=False).alias("start"),
            pl.col("oe").str.replace(r"\.0$", ""))
    return out


def check_safeguarding(ctx: AuditContext, data: Path) -> None:
    r = safeguarding.run(ctx)
    raw = _raw_blocks(data)
    for name, key in (("latest", "not_effective_eif_2019_latest"), ("previous", "not_effective_eif_2019_previous")):
        b = raw[name].filter(pl.col("start").is_between(*EIF) & pl.col("sg").is_in(["Yes", "No"]))
        e = r.figure(key).estimate
        assert (e.n, round(e.value * e.n)) == (b.height, b.filter(pl.col("sg") == "No").height), name
    # the caveat's count of the latest block: every era, safeguarding recorded (not the history's rows)
    n_latest = raw["latest"].filter(pl.col("sg").is_in(["Yes", "No"])).height
    assert any(f"{n_latest:,} are in the latest graded block" in c for c in r.caveats)
    # inadequate EIF judgements with a safeguarding judgement, either block, each inspection once
    both = pl.concat([raw["latest"], raw["previous"]]).unique("no")
    inad = both.filter(pl.col("start").is_between(*EIF) & (pl.col("oe") == "4") & pl.col("sg").is_in(["Yes", "No"]))
    e = r.figure("eif_inadequate_safeguarding_not_effective").estimate
    assert (e.n, round(e.value * e.n)) == (inad.height, inad.filter(pl.col("sg") == "No").height)
    # ... and on the frame of the safeguarding-limited counts the key finding quotes beside it: every loaded file
    # (the 2025 file's and the 2020 MI's latest and previous blocks), each inspection once (referee: 250 of 515)
    mi = pl.read_csv(data / MI_2020, infer_schema_length=0)
    mi_blocks = [mi.select(pl.col(no).alias("no"), pl.col(st).alias("start"), pl.col(oe).alias("oe"), pl.col(sg).alias("sg"))
                 for no, st, oe, sg in (
                     ("Inspection.number.of.latest.full.inspection", "Inspection.start.date", "Overall.effectiveness",
                      "Safeguarding.is.effective?"),
                     ("Previous.full.inspection.number", "Previous.inspection.start.date",
                      "Previous.full.inspection.overall.effectiveness", "Previous.safeguarding.is.effective?"))]
    mi_all = pl.concat(mi_blocks).filter(pl.col("no").is_not_null()).with_columns(
        pl.col("start").str.to_date(strict=False), pl.col("oe").str.replace(r"\.0$", ""))
    every = pl.concat([both, mi_all]).filter(pl.col("sg").is_in(["Yes", "No"])).unique("no", keep="first")
    inad_all = every.filter(pl.col("start").is_between(*EIF) & (pl.col("oe") == "4"))
    e_all = r.figure("eif_inadequate_safeguarding_not_effective_all_files").estimate
    k_all = inad_all.filter(pl.col("sg") == "No").height
    assert (e_all.n, round(e_all.value * e_all.n)) == (inad_all.height, k_all)
    head = r.findings[0]
    cls, lim = r.figure("limited_among_classifiable").estimate, int(r.figure("limited_count").estimate.value)
    assert f"of the {cls.n:,} graded inspections that found safeguarding not effective and carry all three" in head
    assert f"{lim:,} were inadequate overall" in head and f"{k_all:,} of {inad_all.height:,} inadequate judgements" in head


def check_consistency(ctx: AuditContext) -> None:
    r = consistency.run(ctx)
    n, k = ctx.con.execute(
        """SELECT count(*), count(*) FILTER (WHERE to_code = '4') FROM out.transitions
           WHERE comparable AND from_scale = 'four_point' AND to_scale = 'four_point' AND from_code = '1'
             AND to_code IN ('1', '2', '3', '4') AND to_start_date <= ?""", [ctx.as_at]).fetchall()[0]
    e = r.figure("outstanding_to_inadequate_from_outstanding").estimate
    assert (e.n, round(e.value * e.n)) == (n, k)
    med = ctx.con.execute(
        """SELECT median(days_apart / 365.25) FROM out.transitions WHERE comparable AND from_scale = 'four_point'
           AND to_scale = 'four_point' AND from_code = '1' AND to_code IN ('1', '2', '3', '4') AND to_start_date <= ?""",
        [ctx.as_at]).fetchall()[0]
    assert med is not None and abs(r.figure("years_apart_from_outstanding").estimate.value - med[0]) < 1e-9


#: a URN some state-funded school-level file or GIAS link list knows (the headline cohort's condition)
KNOWN = """
             AND e.urn IN (SELECT urn FROM core.schools UNION SELECT urn FROM core.gias_links
                           UNION SELECT link_urn FROM core.gias_links UNION SELECT urn FROM core.gias_group_links)"""
CLOSED_SQL = """WITH c AS (SELECT DISTINCT e.event_id, e.urn FROM core.events e JOIN core.judgements j USING (event_id)
                      JOIN core.event_sources s USING (event_id) JOIN meta.files f ON f.file_id = s.file_id
                      WHERE j.area = 'overall_effectiveness' AND j.scale = 'four_point' AND j.code = '4'
                        AND e.kind IN ('graded', 'report_card') AND f.layout = 'history_scraped'
                        AND e.start_date BETWEEN DATE '2018-09-01' AND DATE '2020-02-29'{known})
           SELECT count(*) FROM c JOIN out.event_lineage el USING (event_id)
           WHERE c.urn NOT IN (SELECT urn FROM out.latest_as_at WHERE as_at = ?)
             AND NOT EXISTS (SELECT 1 FROM out.event_lineage l2 JOIN core.events e2 USING (event_id)
                             WHERE l2.lineage_id = el.lineage_id AND e2.kind IN ('graded', 'report_card')
                               AND e2.start_date > (SELECT start_date FROM core.events WHERE event_id = c.event_id)
                               AND e2.start_date <= ?)
             AND c.urn NOT IN (SELECT predecessor_urn FROM out.lineage_links WHERE direct
                               AND (link_established_date IS NULL OR link_established_date <= ?))"""


def check_consequences(ctx: AuditContext) -> None:
    r = consequences.run(ctx)
    row = ctx.con.execute(
        """SELECT count(DISTINCT e.event_id) FROM core.events e JOIN core.judgements j USING (event_id)
           JOIN core.event_sources s USING (event_id) JOIN meta.files f ON f.file_id = s.file_id
           WHERE j.area = 'overall_effectiveness' AND j.scale = 'four_point' AND j.code = '4'
             AND e.kind IN ('graded', 'report_card') AND f.layout = 'history_scraped'
             AND e.start_date BETWEEN DATE '2018-09-01' AND DATE '2020-02-29'""" + KNOWN).fetchall()[0]
    assert row is not None and int(r.figure("complete_cohort_events").estimate.value) == row[0]
    # closed by the as-at date: not re-inspected in the lineage, not open in the newest national snapshot, no successor link
    closed_sql = CLOSED_SQL
    for key, known in (("complete_closed_by_as_at", KNOWN), ("complete_closed_by_as_at_old_frame", "")):
        closed = ctx.con.execute(closed_sql.replace("{known}", known), [ctx.as_at, ctx.as_at, ctx.as_at]).fetchall()[0]
        e = r.figure(key).estimate
        assert closed is not None and round(e.value * e.n) == closed[0], key


def check_timing(ctx: AuditContext) -> None:
    r = timing.run(ctx)
    row = ctx.con.execute(
        """SELECT median(t.start_to_publication_working_days), median(t.start_to_publication_term_working_days), count(*)
           FROM out.timing t JOIN core.events e USING (event_id)
           WHERE e.era = 'eif_2019' AND e.kind = 'graded' AND month(t.start_date) = 7 AND t.start_date <= ?
             AND t.start_to_publication_term_working_days IS NOT NULL AND NOT coalesce(t.published_before_start, false)""",
        [ctx.as_at]).fetchall()[0]
    assert row is not None
    assert (r.figure("eif_july_delay").estimate.value, r.figure("eif_july_delay_term_time").estimate.value) == (row[0], row[1])
    old = ctx.con.execute(
        """SELECT count(*) FILTER (WHERE age_of_latest_graded_days > 6 * 365.25 AND ungraded_start_date >= DATE '2019-09-01'),
                  count(*) FILTER (WHERE age_of_latest_graded_days > 6 * 365.25)
           FROM out.latest_as_at WHERE as_at = ?""", [ctx.as_at]).fetchall()[0]
    e = r.figure("old_graded_ungraded_since_2019").estimate
    assert old is not None and (round(e.value * e.n), e.n) == (old[0], old[1])


@pytest.mark.integration
@pytest.mark.slow
def test_headlines_recomputed_by_a_second_route(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = need_shared_data()
    ctx = context(national_warehouse(tmp_path_factory.mktemp("national")), AS_AT)
    check_safeguarding(ctx, data)
    check_consistency(ctx)
    check_consequences(ctx)
    check_timing(ctx)
