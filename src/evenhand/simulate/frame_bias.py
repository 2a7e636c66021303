"""Selections and mismeasurements planted in a synthetic nation, so that tests can show an
audit's frame recovers the truth and a wrong frame does not (shared/REFEREE.md, "plant the
bias, not just the effect").

Each function takes a :class:`~evenhand.simulate.nation.SyntheticNation` and returns a new one
(or extra tables) with one bias planted; the planted grades themselves are not changed, so the
nation's ``truth`` still holds for the right frame.

- :func:`add_lineages`: schools judged inadequate convert (a new URN, an academy) and the
  predecessor URN closes; the predecessor's inspections stay on its URN (as in Ofsted's files,
  where the predecessor's grade is carried). One row per URN counts the lineage twice and adds
  rows selected on their outcome; one row per open lineage does not.
- :func:`biased_progress`: the measured progress is from an earlier year (it lags the
  effectiveness at the inspection) and is shifted by deprivation (progress measures are not
  contextualised), with a sign the caller chooses.
- :func:`finance_context`: finance for several years in nominal pounds (growing each year),
  a pupil census for one year only and an Ofsted pupil count at the snapshot that has fallen
  where the school was judged badly; converted schools' finance is their predecessor's.
  Income per pupil has NO effect on grades.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl

from evenhand.simulate.nation import SyntheticNation

__all__ = [
    "CONVERSION_CUTOFF",
    "FINANCE_YEARS",
    "SNAPSHOT",
    "add_lineages",
    "biased_progress",
    "finance_context",
    "has_lineages",
    "lineage_columns",
]

#: The synthetic nation's snapshot (its events end on 1 August 2024).
SNAPSHOT = dt.date(2024, 8, 31)
#: Schools judged inadequate before this date may convert (after it, no time is left).
CONVERSION_CUTOFF = dt.date(2023, 9, 1)
#: Academic years of the synthetic finance files (first year of each: 2013 = 2013/14).
FINANCE_YEARS: tuple[int, ...] = (2013, 2014, 2015, 2016, 2017)
#: The one census year with pupils and FSM (2018 = 2018/19, January 2019).
CENSUS_YEAR = 2018


def has_lineages(nation: SyntheticNation) -> bool:
    return "lineage_id" in nation.schools.columns


def lineage_columns(schools: pl.DataFrame) -> pl.DataFrame:
    """``urn, lineage_id, predecessor_urn, open`` for any nation (one lineage per URN and every
    school open when no lineages were planted)."""
    if "lineage_id" in schools.columns:
        return schools.select("urn", "lineage_id", "predecessor_urn", "open")
    return schools.select(
        "urn",
        pl.format("L{}", pl.col("urn")).alias("lineage_id"),
        pl.lit(None, dtype=pl.Int64).alias("predecessor_urn"),
        pl.lit(True).alias("open"),
    )


def add_lineages(
    nation: SyntheticNation,
    p_convert: float = 0.8,
    seed: int = 0,
    months_to_convert: int = 6,
    p_convert_requires_improvement: float = 0.0,
) -> SyntheticNation:
    """Conversion after inadequate: each school whose graded inspection before
    :data:`CONVERSION_CUTOFF` judged it Inadequate overall converts with probability
    ``p_convert`` (Requires improvement: ``p_convert_requires_improvement``),
    ``months_to_convert`` months after that inspection (the first that triggers it).

    The successor gets a new URN (after the last one), type "Academy Sponsor Led", the same
    pupils, intake and effectiveness; every inspection after the conversion date moves to it.
    The predecessor closes (``open`` false) and keeps its earlier inspections. Columns added to
    ``schools``: ``lineage_id``, ``predecessor_urn``, ``open`` and ``converted_on`` (the day
    the predecessor closed and its successor opened; null for a school that did not convert).
    """
    if not (0.0 <= p_convert <= 1.0 and 0.0 <= p_convert_requires_improvement <= 1.0):
        raise ValueError("p_convert and p_convert_requires_improvement must be probabilities")
    rng = np.random.default_rng(seed)
    oe = nation.judgements.filter(pl.col("area") == "overall_effectiveness").select(
        "event_id", pl.col("code").alias("oe")
    )
    graded = (
        nation.events.filter(pl.col("kind") == "graded")
        .join(oe, on="event_id")
        .filter(pl.col("oe").is_in(["3", "4"]) & (pl.col("start_date") < CONVERSION_CUTOFF))
        .sort("urn", "start_date")
    )
    p_event = np.where(
        graded["oe"].to_numpy() == "4", p_convert, p_convert_requires_improvement
    )
    graded = (
        graded.filter(pl.Series(rng.random(graded.height) < p_event))
        .unique("urn", keep="first", maintain_order=True)
        .select("urn", "start_date")
    )
    conv = graded.with_columns(
        pl.col("start_date").dt.offset_by(f"{months_to_convert}mo").alias("converted_on")
    )
    schools = nation.schools
    next_urn = int(schools["urn"].max()) + 1  # type: ignore[arg-type]
    conv = conv.with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + next_urn).alias("successor_urn")
    )
    base = (
        schools.join(conv.select("urn", "converted_on"), on="urn", how="left")
        .with_columns(
            pl.format("L{}", pl.col("urn")).alias("lineage_id"),
            pl.lit(None, dtype=pl.Int64).alias("predecessor_urn"),
            pl.col("converted_on").is_null().alias("open"),
        )
    )
    successors = (
        schools.join(conv.select("urn", "successor_urn", "converted_on"), on="urn")
        .with_columns(
            pl.format("L{}", pl.col("urn")).alias("lineage_id"),
            pl.col("urn").alias("predecessor_urn"),
            pl.lit(True).alias("open"),
            pl.lit("Academy Sponsor Led").alias("school_type"),
            pl.col("school_name").str.replace(r" School$| Academy$", "") + pl.lit(" Academy"),
        )
        .with_columns(pl.col("successor_urn").alias("urn"))
        .drop("successor_urn")
        .select(base.columns)
    )
    events = (
        nation.events.join(conv.select("urn", "converted_on", "successor_urn"), on="urn", how="left")
        .with_columns(
            pl.when(pl.col("converted_on").is_not_null() & (pl.col("start_date") > pl.col("converted_on")))
            .then(pl.col("successor_urn"))
            .otherwise(pl.col("urn"))
            .alias("urn")
        )
        .drop("converted_on", "successor_urn")
    )
    truth = dataclasses.replace(
        nation.truth,
        notes=(
            *nation.truth.notes,
            f"lineages planted: {conv.height:,} schools judged inadequate (or requires "
            f"improvement) before {CONVERSION_CUTOFF.isoformat()} converted (probability "
            f"{p_convert}, {p_convert_requires_improvement}) "
            f"{months_to_convert} months later; their later inspections are under the new URN",
        ),
    )
    return dataclasses.replace(
        nation, schools=pl.concat([base, successors]), events=events, truth=truth
    )


def biased_progress(
    nation: SyntheticNation,
    *,
    lag_corr: float = 1.0,
    deprivation_bias: float = 0.0,
    noise_sd: float | None = None,
    seed: int = 0,
) -> SyntheticNation:
    """Replace measured ``progress`` by a lagged, deprivation-biased measure.

    progress = lag_corr * effectiveness + sqrt(1 - lag_corr^2) * drift
               + deprivation_bias * (quintile - 3) / sqrt(2) + noise_sd * noise,

    with ``drift`` and ``noise`` standard normal: the measure describes the school some years
    before the inspection (correlation ``lag_corr`` with the effectiveness the inspection saw)
    and is shifted by deprivation (negative: deprived schools look less effective than they
    are, as uncontextualised progress measures can). The planted grades are unchanged.
    """
    if not -1.0 <= lag_corr <= 1.0:
        raise ValueError("lag_corr must be a correlation")
    rng = np.random.default_rng(seed)
    s = nation.schools
    n = s.height
    eff = s["effectiveness"].to_numpy()
    q = s["idaci_quintile"].cast(pl.Float64).to_numpy()
    sd = nation.params.progress_noise_sd if noise_sd is None else noise_sd
    progress = (
        lag_corr * eff
        + math.sqrt(max(0.0, 1.0 - lag_corr**2)) * rng.standard_normal(n)
        + deprivation_bias * (q - 3.0) / math.sqrt(2.0)
        + sd * rng.standard_normal(n)
    )
    return dataclasses.replace(nation, schools=s.with_columns(pl.Series("progress", progress)))


def finance_context(
    nation: SyntheticNation,
    *,
    nominal_growth: float = 0.03,
    pupil_loss_if_weak: float = 0.3,
    seed: int = 0,
) -> pl.DataFrame:
    """Long context rows ``urn, measure, academic_year, value`` like core.context.

    - ``income_gbp`` / ``expenditure_gbp`` for each year of :data:`FINANCE_YEARS`, for the
      maintained schools that existed then (type Community School or Voluntary Aided School,
      and the predecessors of converted schools before they converted), in nominal pounds: the
      real per-pupil income (the nation's ``income_per_pupil_gbp``, which has no effect on
      grades) grown by ``nominal_growth`` a year, times the pupils of that year;
    - ``pupils`` and ``fsm_pct`` for :data:`CENSUS_YEAR` only (January 2019), for the URNs that
      existed then;
    - ``ofsted_pupils`` (2023/24): the pupil count in Ofsted's row at the snapshot, for open
      schools, which has fallen by ``pupil_loss_if_weak`` where the lineage's latest graded
      inspection judged it requires improvement or inadequate (parents leave weak schools).
    """
    rng = np.random.default_rng(seed)
    s = nation.schools
    if "converted_on" not in s.columns:
        s = s.with_columns(pl.lit(None, dtype=pl.Date).alias("converted_on"))
    lin = lineage_columns(nation.schools)
    s = s.join(lin.select("urn", pl.col("predecessor_urn").alias("_pred"), pl.col("open").alias("_open")), on="urn")
    is_successor = pl.col("_pred").is_not_null()
    census_day = dt.date(CENSUS_YEAR + 1, 1, 17)
    rows = []
    for y in FINANCE_YEARS:
        year_end = dt.date(y + 1, 3, 31)
        maintained = s.filter(
            ~is_successor
            & (
                pl.col("school_type").is_in(["Community School", "Voluntary Aided School"])
                | pl.col("converted_on").is_not_null()
            )
            & (pl.col("converted_on").is_null() | (pl.col("converted_on") > year_end))
        )
        drift = np.exp(rng.normal(0.0, 0.05, maintained.height))
        pupils_y = maintained["pupils"].to_numpy() * drift
        pp = maintained["income_per_pupil_gbp"].to_numpy() * (1 + nominal_growth) ** (y - CENSUS_YEAR)
        income = pp * pupils_y
        label = f"{y}/{(y + 1) % 100:02d}"
        spend = income * rng.normal(1.0, 0.02, len(income))
        for measure, value in (("income_gbp", income), ("expenditure_gbp", spend)):
            rows.append(
                pl.DataFrame(
                    {"urn": maintained["urn"], "measure": measure, "academic_year": label, "value": value}
                )
            )
    existed = s.filter(
        (~is_successor & (pl.col("converted_on").is_null() | (pl.col("converted_on") > census_day)))
        | (is_successor & (pl.col("converted_on") <= census_day))
    )
    label = f"{CENSUS_YEAR}/{(CENSUS_YEAR + 1) % 100:02d}"
    for measure, col in (("pupils", "pupils"), ("fsm_pct", "fsm_pct")):
        rows.append(
            existed.select(
                "urn",
                pl.lit(measure).alias("measure"),
                pl.lit(label).alias("academic_year"),
                pl.col(col).cast(pl.Float64).alias("value"),
            )
        )
    oe = nation.judgements.filter(pl.col("area") == "overall_effectiveness").select(
        "event_id", pl.col("code").alias("oe")
    )
    latest = (
        nation.events.filter(pl.col("kind") == "graded")
        .join(oe, on="event_id")
        .join(lin.select("urn", "lineage_id"), on="urn")
        .sort("lineage_id", "start_date")
        .unique("lineage_id", keep="last", maintain_order=True)
        .select("lineage_id", (pl.col("oe").is_in(["3", "4"])).alias("weak"))
    )
    ofsted = (
        s.filter(pl.col("_open"))
        .join(lin.select("urn", "lineage_id"), on="urn")
        .join(latest, on="lineage_id", how="left")
        .select(
            "urn",
            pl.lit("ofsted_pupils").alias("measure"),
            pl.lit("2023/24").alias("academic_year"),
            (
                pl.col("pupils").cast(pl.Float64)
                * pl.when(pl.col("weak").fill_null(False)).then(1.0 - pupil_loss_if_weak).otherwise(1.0)
            ).alias("value"),
        )
    )
    rows.append(ofsted)
    return pl.concat([r.with_columns(pl.col("value").cast(pl.Float64)) for r in rows]).sort(
        "urn", "measure", "academic_year"
    )


def expected_good_share(nation: SyntheticNation, urns: pl.Series) -> dict[int, float]:
    """Expected share good or outstanding (overall, one fresh graded inspection each) of the
    schools ``urns``, by IDACI quintile: the mean over those schools of the planted model's
    probability expit(t_2 - eta), eta = -beta * effectiveness + log OR_q + u_region."""
    from scipy.special import expit

    p = nation.params
    s = nation.schools.filter(pl.col("urn").is_in(urns.implode()))
    u = s["ofsted_region"].replace_strict(nation.truth.region_effects, return_dtype=pl.Float64)
    lor = np.log(np.asarray(p.quintile_odds_ratios))
    q = s["idaci_quintile"].cast(pl.Int64).to_numpy()
    eta = -p.beta_effectiveness * s["effectiveness"].to_numpy() + lor[q - 1] + u.to_numpy()
    prob = expit(p.thresholds[1] - eta)
    return {k: float(prob[q == k].mean()) for k in range(1, 6) if (q == k).any()}


def khb_truth(nation: SyntheticNation) -> float:
    """The planted share of the quintile 5 vs 1 gradient that runs through effectiveness, on
    the latent scale of the model with effectiveness: indirect / (direct + indirect), with
    direct = log OR_5 (planted) and indirect = -beta * (E[eff | q5] - E[eff | q1]). This is what
    the KHB decomposition estimates when effectiveness is measured exactly."""
    p = nation.params
    qw = np.asarray(p.quintile_weights, dtype=float) / sum(p.quintile_weights)
    levels = np.arange(1, 6)
    q_mu = float(np.sum(qw * levels))
    q_sd = math.sqrt(float(np.sum(qw * (levels - q_mu) ** 2)))
    gap = p.effectiveness_deprivation_corr * (5 - 1) / q_sd
    indirect = -p.beta_effectiveness * gap
    direct = math.log(p.quintile_odds_ratios[4])
    return indirect / (direct + indirect)
