"""A synthetic nation of schools with planted, known effects.

Every school has a latent, standardised ``effectiveness`` that is correlated
with its deprivation (IDACI quintile). Each graded inspection draws a latent
judgement propensity

    y* = -beta_eff * effectiveness + log(OR_q) + u_region + e,    e ~ Logistic(0, 1),

and cuts it at three thresholds into grades 1 (Outstanding) .. 4 (Inadequate),
so higher y* means a worse grade. This is exactly a proportional-odds model:
an ordinal logit of the overall grade on quintile dummies, effectiveness and
region dummies estimates log(OR_q), -beta_eff and the thresholds. Region
intercepts u_region are drawn from N(0, region_sd^2), so the latent-scale
intraclass correlation is region_sd^2 / (region_sd^2 + pi^2/3).

Everything is deterministic for a seed, vectorised, and labelled synthetic:
URNs start at 900000, inspection numbers at 90000000 (and, as in the
warehouse, an event's ``event_id`` is its inspection number), postcodes use
the non-existent area "ZZ", and names come from made-up word lists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.special import expit

from evenhand import maps
from evenhand.simulate._plim import po_plim

__all__ = [
    "AREAS",
    "GRADE_LABELS",
    "REGIONS",
    "SCHOOL_TYPES",
    "NationParams",
    "NationTruth",
    "PublicationDelayTruth",
    "SyntheticNation",
    "analysis_frame",
    "simulate_nation",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Ofsted's regions, in the order of REGION_WEIGHTS (maps/ofsted_regions.csv)
REGIONS: tuple[str, ...] = maps.ofsted_regions()
#: Shares of state-funded schools by Ofsted region, from the official statistics
#: file as at 31 August 2025 (rounded counts).
REGION_WEIGHTS: tuple[float, ...] = (2570, 3386, 2374, 2566, 2085, 2430, 3193, 3386)
SCHOOL_TYPES: tuple[str, ...] = (
    "Community School",
    "Academy Converter",
    "Academy Sponsor Led",
    "Voluntary Aided School",
    "Free School",
)
TYPE_WEIGHTS: tuple[float, ...] = (0.30, 0.37, 0.15, 0.13, 0.05)
AREAS: tuple[str, ...] = (
    "overall_effectiveness",
    "quality_of_education",
    "behaviour_and_attitudes",
    "personal_development",
    "leadership_and_management",
    "safeguarding_effective",
)
GRADE_LABELS: dict[str, str] = maps.grade_labels("four_point")  # maps/codes.csv
GRADED_TYPE = "S5 Inspection"
UNGRADED_TYPE = "S8 Ungraded Inspection"
URN_BASE = 900000
URN_MAX = 999_999  # a URN has at most six digits (the build refuses larger ones)


def urn_base(n_schools: int) -> int:
    """The first synthetic URN: 900000 (clear of real URNs) while the nation fits below
    1,000,000; a larger nation (bench/scale.py's 16x England) starts lower so that every URN
    still has six digits."""
    if n_schools > URN_MAX - 100_000 + 1:
        raise ValueError(f"a nation of {n_schools:,} schools does not fit in six-digit URNs")
    return min(URN_BASE, URN_MAX + 1 - n_schools)

INSPECTION_NUMBER_BASE = 90000000

_PLACES = (
    "Ashcombe",
    "Barrowfield",
    "Brackenford",
    "Calderby",
    "Carnwick",
    "Dunmere",
    "Elmstead",
    "Fallowmoor",
    "Glenholt",
    "Harrowden",
    "Hollinsby",
    "Ivystone",
    "Kettleby",
    "Larkhaven",
    "Lowmoor",
    "Marlowe Vale",
    "Netherwick",
    "Oakhurst",
    "Pendlebrook",
    "Quarrington",
    "Redmarsh",
    "Saltcote",
    "Shirebrook Vale",
    "Thornley",
    "Upwater",
    "Valebridge",
    "Westcombe",
    "Whinfield",
    "Yarrowby",
    "Ambleford",
    "Bramcote Hill",
    "Coldwater",
    "Dovecote",
    "Eastmere",
    "Foxholme",
    "Greystone",
    "Hartwell",
    "Kingsmere",
    "Lindenholt",
    "Millbeck",
)
_SCHOOL_WORDS = (
    "Oakfield",
    "Hillside",
    "Riverside",
    "Meadow Vale",
    "St Aidan's",
    "St Mary's",
    "Holy Trinity",
    "Greenway",
    "Beechwood",
    "Castle View",
    "Brookside",
    "Fernhill",
    "Kingfisher",
    "Larchwood",
    "Moorland",
    "Northgate",
    "Orchard",
    "Parkland",
    "Queen's Road",
    "Rosewood",
    "Southfields",
    "Thornbury",
    "Valley",
    "Westfield",
    "Willowbank",
    "Ashgrove",
    "Birchwood",
    "Chestnut",
    "Elm Tree",
    "Hawthorn",
)
_PRIMARY_SUFFIX = (
    "Primary School",
    "Primary Academy",
    "Infant and Junior School",
    "CofE Primary School",
)
_SECONDARY_SUFFIX = ("High School", "Academy", "Secondary School", "School")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class NationParams:
    """What is planted. Defaults give roughly the national grade mix of the EIF era.

    ``quintile_odds_ratios``: odds ratio of a WORSE grade for IDACI quintiles
    1..5 (1 = least deprived, the reference, so its value must be 1),
    conditional on effectiveness and region.
    ``beta_effectiveness``: the latent propensity for a worse grade falls by
    this much per SD of effectiveness (its log odds ratio is ``-beta``).
    ``effectiveness_deprivation_corr``: correlation of effectiveness with the
    standardised quintile (negative: deprived schools are, on average, less
    effective), which is what makes the odds ratios without effectiveness
    larger than those with it.
    ``safeguarding_limited_given_inadequate``: the chance that an EIF graded
    inspection whose overall grade came out Inadequate is
    safeguarding-limited (safeguarding not effective, leadership Inadequate,
    every education judgement Good or better).
    Publication delays are ``delay_min_weekdays`` plus a Poisson number of
    extra weekdays with mean ``delay_extra_mean[grade - 1]`` (graded) or
    ``delay_extra_mean_ungraded``.
    """

    quintile_odds_ratios: tuple[float, float, float, float, float] = (1.0, 1.15, 1.3, 1.5, 1.75)
    beta_effectiveness: float = 1.0
    effectiveness_deprivation_corr: float = -0.35
    region_sd: float = 0.3
    thresholds: tuple[float, float, float] = (-2.0, 1.9, 3.9)
    progress_noise_sd: float = 0.5
    share_secondary: float = 0.17
    quintile_weights: tuple[float, float, float, float, float] = (0.2, 0.2, 0.2, 0.2, 0.2)
    region_weights: tuple[float, ...] = REGION_WEIGHTS
    type_weights: tuple[float, ...] = TYPE_WEIGHTS
    las_per_region: int = 5
    p_cif_graded: float = 0.7
    p_eif_graded: float = 0.85
    ungraded_rate: float = 0.7
    safeguarding_limited_given_inadequate: float = 0.25
    safeguarding_no_given_other_inadequate: float = 0.35
    special_measures_given_inadequate: float = 0.55
    delay_min_weekdays: int = 10
    delay_extra_mean: tuple[float, float, float, float] = (12.0, 11.0, 13.0, 30.0)
    delay_extra_mean_ungraded: float = 9.0
    p_one_day_ungraded: float = 0.5

    def __post_init__(self) -> None:
        if len(self.quintile_odds_ratios) != 5 or self.quintile_odds_ratios[0] != 1.0:
            raise ValueError("quintile_odds_ratios needs 5 values with quintile 1 = 1.0")
        if any(v <= 0 for v in self.quintile_odds_ratios):
            raise ValueError("odds ratios must be positive")
        if not all(a < b for a, b in zip(self.thresholds, self.thresholds[1:], strict=False)):
            raise ValueError("thresholds must increase")
        if not -1.0 < self.effectiveness_deprivation_corr < 1.0:
            raise ValueError("effectiveness_deprivation_corr must be inside (-1, 1)")
        if len(self.region_weights) != len(REGIONS) or len(self.type_weights) != len(SCHOOL_TYPES):
            raise ValueError("region_weights / type_weights do not match the region / type lists")
        if self.region_sd < 0 or self.progress_noise_sd < 0:
            raise ValueError("standard deviations must be non-negative")
        for name in (
            "share_secondary",
            "p_cif_graded",
            "p_eif_graded",
            "safeguarding_limited_given_inadequate",
            "safeguarding_no_given_other_inadequate",
            "special_measures_given_inadequate",
            "p_one_day_ungraded",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability")
        if self.las_per_region < 1 or self.delay_min_weekdays < 0:
            raise ValueError("las_per_region must be >= 1 and delay_min_weekdays >= 0")


@dataclass(frozen=True)
class PublicationDelayTruth:
    """The planted end-to-publication delay, in weekdays (Monday to Friday).

    Delay = ``min_weekdays`` + Poisson(extra mean). England's bank holidays are
    NOT modelled: a delay counted in England working days is shorter by the
    bank holidays it spans.
    """

    min_weekdays: int
    extra_mean_by_grade: dict[str, float]
    extra_mean_ungraded: float

    def expected_mean(self, grade: str | None = None) -> float:
        """Expected delay in weekdays for a grade code '1'..'4', or an ungraded event (None)."""
        extra = self.extra_mean_ungraded if grade is None else self.extra_mean_by_grade[grade]
        return self.min_weekdays + extra


@dataclass(frozen=True)
class NationTruth:
    """The planted values, and the values that follow from them.

    Odds ratios are for a WORSE grade, quintile q against quintile 1.

    - ``quintile_odds_ratios``: planted, conditional on effectiveness and
      region: what an ordinal logit with quintile dummies + effectiveness +
      region dummies estimates.
    - ``quintile_odds_ratios_without_effectiveness``: what the same model
      WITHOUT effectiveness (quintile + region dummies) converges to, and
      ``share_explained[q] = 1 - log OR_q(with) / log OR_q(without)``.
    - ``quintile_odds_ratios_given_progress`` / ``share_explained_by_progress``:
      the same when the noisy measured ``progress`` replaces effectiveness.
      These three are probability limits computed by numerical integration
      (Gauss-Hermite over effectiveness given quintile, and over progress),
      weighting quintiles and regions by their population shares and using the
      realised region intercepts; see ``share_explained_method``.
    - ``region_sd`` / ``latent_icc``: the SD the region intercepts were drawn
      from and the implied latent-scale ICC; ``region_effects`` the realised
      draws (positive = harsher).
    - ``safeguarding_limited_share``: expected share of EIF graded events that
      are safeguarding-limited, given this nation's schools (analytic:
      ``safeguarding_limited_given_inadequate`` times the mean model
      probability of an Inadequate overall grade over the EIF graded events);
      ``safeguarding_limited_count`` the realised count.
    - Income per pupil, school type, phase and size have NO planted effect.
    """

    quintile_odds_ratios: dict[int, float]
    log_or_effectiveness: float
    thresholds: tuple[float, float, float]
    region_sd: float
    latent_icc: float
    region_effects: dict[str, float]
    quintile_odds_ratios_without_effectiveness: dict[int, float]
    share_explained: dict[int, float]
    quintile_odds_ratios_given_progress: dict[int, float]
    share_explained_by_progress: dict[int, float]
    share_explained_method: str
    effectiveness_deprivation_corr: float
    safeguarding_limited_given_inadequate: float
    safeguarding_limited_share: float
    safeguarding_limited_count: int
    eif_graded_events: int
    publication_delay: PublicationDelayTruth
    inspection_days: str
    notes: tuple[str, ...] = ()

    @property
    def odds_ratio_effectiveness(self) -> float:
        """Odds ratio of a worse grade per SD of effectiveness."""
        return math.exp(self.log_or_effectiveness)


@dataclass(frozen=True)
class SyntheticNation:
    """Synthetic schools, inspection events, long-form judgements and the truth."""

    schools: pl.DataFrame
    events: pl.DataFrame
    judgements: pl.DataFrame
    truth: NationTruth
    params: NationParams = field(repr=False)
    seed: int = 0


# ----------------------------------------------------------------------------- dates


@lru_cache(maxsize=4)
def _start_dates(first: str, last: str) -> npt.NDArray[np.datetime64]:
    """Plausible inspection start days: Monday-Wednesday in term time.

    Excludes August, 20 December - 4 January and the COVID pause of routine
    inspection (17 March 2020 - 5 September 2021).
    """
    days = np.arange(np.datetime64(first), np.datetime64(last), dtype="datetime64[D]")
    keep = np.is_busday(days, weekmask="1110000")
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    keep &= months != 8
    keep &= ~((months == 12) & (day_of_month >= 20))
    keep &= ~((months == 1) & (day_of_month <= 4))
    keep &= ~((days >= np.datetime64("2020-03-17")) & (days <= np.datetime64("2021-09-05")))
    return days[keep]


CIF_WINDOW = ("2015-09-01", "2019-08-01")
EIF_WINDOW = ("2019-09-01", "2024-08-01")
ALL_WINDOW = ("2015-09-01", "2024-08-01")
EIF_START = np.datetime64("2019-09-01")


# ----------------------------------------------------------------------------- truth


def _gh(n: int) -> tuple[FloatArray, FloatArray]:
    """Gauss-Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    return x * math.sqrt(2.0), w / math.sqrt(math.pi)


def _cell_probs(eta: FloatArray, cuts: FloatArray) -> FloatArray:
    """Category probabilities for linear predictors ``eta`` (any shape) -> (..., K)."""
    cum = expit(cuts[None, :] - eta.reshape(-1, 1))
    full = np.column_stack([np.zeros(len(cum)), cum, np.ones(len(cum))])
    return np.diff(full, axis=1).reshape(*eta.shape, len(cuts) + 1)


def _truth_plims(
    p: NationParams, u: FloatArray, q_mean: FloatArray
) -> tuple[dict[int, float], dict[int, float]]:
    """Probability limits of the quintile ORs without effectiveness and given progress."""
    cuts = np.asarray(p.thresholds)
    lor = np.log(np.asarray(p.quintile_odds_ratios))
    qw = np.asarray(p.quintile_weights) / sum(p.quintile_weights)
    rw = np.asarray(p.region_weights) / sum(p.region_weights)
    n_q, n_r = 5, len(REGIONS)
    tau2 = 1.0 - p.effectiveness_deprivation_corr**2
    nodes, weights = _gh(40)

    def design(q: IntArray, r: IntArray, extra: FloatArray | None) -> FloatArray:
        cols = [(q == k).astype(float) for k in range(1, n_q)]
        if extra is not None:
            cols.append(extra)
        cols += [(r == k).astype(float) for k in range(1, n_r)]
        return np.column_stack(cols)

    # Without effectiveness: cells (q, r), integrate over effectiveness | q.
    grid_q, grid_r = np.meshgrid(np.arange(n_q), np.arange(n_r), indexing="ij")
    qq, rr = grid_q.ravel(), grid_r.ravel()
    eff = q_mean[qq][:, None] + math.sqrt(tau2) * nodes[None, :]
    eta = -p.beta_effectiveness * eff + lor[qq][:, None] + u[rr][:, None]
    probs = np.einsum("cnk,n->ck", _cell_probs(eta, cuts), weights)
    coef, _ = po_plim(design(qq, rr, None), probs, qw[qq] * rw[rr])
    without = {q + 1: float(math.exp(coef[q - 1])) if q else 1.0 for q in range(n_q)}

    # Given progress: cells (q, r, progress node), integrate over effectiveness | progress, q.
    s2 = p.progress_noise_sd**2
    m = 24
    pn, pw = _gh(m)
    qq3 = np.repeat(qq, m)
    rr3 = np.repeat(rr, m)
    prog = q_mean[qq3] + math.sqrt(tau2 + s2) * np.tile(pn, len(qq))
    w3 = qw[qq3] * rw[rr3] * np.tile(pw, len(qq))
    shrink = tau2 / (tau2 + s2) if tau2 + s2 > 0 else 0.0
    cond_mean = q_mean[qq3] + shrink * (prog - q_mean[qq3])
    cond_sd = math.sqrt(tau2 * s2 / (tau2 + s2)) if tau2 + s2 > 0 else 0.0
    eff3 = cond_mean[:, None] + cond_sd * nodes[None, :]
    eta3 = -p.beta_effectiveness * eff3 + lor[qq3][:, None] + u[rr3][:, None]
    probs3 = np.einsum("cnk,n->ck", _cell_probs(eta3, cuts), weights)
    coef3, _ = po_plim(design(qq3, rr3, prog), probs3, w3)
    given_progress = {q + 1: float(math.exp(coef3[q - 1])) if q else 1.0 for q in range(n_q)}
    return without, given_progress


def _share(with_or: dict[int, float], without_or: dict[int, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for q in range(2, 6):
        b0 = math.log(without_or[q])
        out[q] = 1.0 - math.log(with_or[q]) / b0 if b0 != 0 else math.nan
    return out


# ----------------------------------------------------------------------------- simulate


def _grade_labels(codes: pl.Expr) -> pl.Expr:
    return codes.replace_strict({**GRADE_LABELS, "Yes": "Yes", "No": "No"}, return_dtype=pl.Utf8)


def _clip_step(
    rng: np.random.Generator, base: IntArray, probs: tuple[float, float, float]
) -> IntArray:
    step = rng.choice(np.array([-1, 0, 1]), size=len(base), p=np.asarray(probs))
    return np.clip(base + step, 1, 4).astype(np.int64)


def simulate_nation(
    n_schools: int = 20_000, seed: int = 0, params: NationParams | None = None
) -> SyntheticNation:
    """Simulate a synthetic nation: schools, inspection events, judgements, truth.

    Deterministic for ``seed``. See :class:`NationParams` for what is planted
    and :class:`NationTruth` for what can be checked.
    """
    if n_schools < 1:
        raise ValueError("n_schools must be at least 1")
    p = params or NationParams()
    rng = np.random.default_rng(seed)
    n = n_schools

    # --- schools
    qw = np.asarray(p.quintile_weights, dtype=float) / sum(p.quintile_weights)
    quintile = rng.choice(5, size=n, p=qw).astype(np.int64) + 1
    q_mu = float(np.sum(qw * np.arange(1, 6)))
    q_sd = math.sqrt(float(np.sum(qw * (np.arange(1, 6) - q_mu) ** 2)))
    a = p.effectiveness_deprivation_corr
    q_mean_eff = np.asarray(a * (np.arange(1, 6) - q_mu) / q_sd, dtype=np.float64)
    # q_mean_eff is E[effectiveness | quintile]
    effectiveness = q_mean_eff[quintile - 1] + math.sqrt(1.0 - a * a) * rng.standard_normal(n)
    progress = effectiveness + p.progress_noise_sd * rng.standard_normal(n)
    secondary = rng.random(n) < p.share_secondary
    rw = np.asarray(p.region_weights, dtype=float) / sum(p.region_weights)
    region = rng.choice(len(REGIONS), size=n, p=rw).astype(np.int64)
    la = region * p.las_per_region + rng.integers(0, p.las_per_region, size=n)
    tw = np.asarray(p.type_weights, dtype=float) / sum(p.type_weights)
    school_type = rng.choice(len(SCHOOL_TYPES), size=n, p=tw)
    fsm_mean = np.array([0.07, 0.12, 0.18, 0.26, 0.37])[quintile - 1]
    fsm_pct = 100.0 * rng.beta(fsm_mean * 25.0, (1.0 - fsm_mean) * 25.0)
    pupils = np.where(
        secondary,
        np.round(rng.lognormal(math.log(950.0), 0.35, size=n)),
        np.round(rng.lognormal(math.log(240.0), 0.45, size=n)),
    ).astype(np.int64)
    pupils = np.maximum(pupils, 15)
    income_raw = 5400.0 + 45.0 * fsm_pct + 900.0 * secondary + rng.normal(0.0, 450.0, size=n)
    income = np.round(np.maximum(income_raw, 3000.0), 2)
    u = rng.normal(0.0, p.region_sd, size=len(REGIONS))
    lor = np.log(np.asarray(p.quintile_odds_ratios))
    eta = -p.beta_effectiveness * effectiveness + lor[quintile - 1] + u[region]
    word = rng.integers(0, len(_SCHOOL_WORDS), size=n)
    suffix = rng.integers(0, 4, size=n)
    postcode_digit = rng.integers(1, 10, size=n)
    postcode_letters = rng.integers(0, len(_INWARD_LETTERS), size=(n, 2))

    n_las = len(REGIONS) * p.las_per_region
    la_names = [
        _PLACES[i] if i < len(_PLACES) else f"{_PLACES[i % len(_PLACES)]} {i // len(_PLACES) + 1}"
        for i in range(n_las)
    ]
    la_codes = 801 + np.arange(n_las)
    order_in_la = np.empty(n, dtype=np.int64)
    sort_la = np.argsort(la, kind="stable")
    counts = np.bincount(la, minlength=n_las)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    order_in_la[sort_la] = np.arange(n) - np.repeat(starts, counts)
    laestab = la_codes[la] * 10000 + 1000 + order_in_la

    names_tbl = pl.DataFrame(
        {
            "la": pl.Series(la_names)[la],
            "w": pl.Series(_SCHOOL_WORDS)[word],
            "s": np.where(
                secondary,
                np.array(_SECONDARY_SUFFIX, dtype=object)[suffix],
                np.array(_PRIMARY_SUFFIX, dtype=object)[suffix],
            ).tolist(),
            "pd": postcode_digit,
            "l1": pl.Series(list(_INWARD_LETTERS))[postcode_letters[:, 0]],
            "l2": pl.Series(list(_INWARD_LETTERS))[postcode_letters[:, 1]],
            "dist": la + 1,
        }
    )
    texts = names_tbl.select(
        pl.concat_str([pl.col("la"), pl.col("w"), pl.col("s")], separator=" ").alias("name"),
        pl.concat_str(
            [
                pl.lit("ZZ"),
                pl.col("dist").cast(pl.Utf8),
                pl.lit(" "),
                pl.col("pd").cast(pl.Utf8),
                pl.col("l1"),
                pl.col("l2"),
            ]
        ).alias("postcode"),
    )
    schools = pl.DataFrame(
        {
            "urn": np.arange(urn_base(n), urn_base(n) + n, dtype=np.int64),
            "laestab": laestab.astype(np.int64),
            "school_name": texts["name"],
            "phase": np.where(secondary, "Secondary", "Primary").tolist(),
            "school_type": np.array(SCHOOL_TYPES, dtype=object)[school_type].tolist(),
            "ofsted_region": np.array(REGIONS, dtype=object)[region].tolist(),
            "local_authority": pl.Series(la_names)[la],
            "idaci_quintile": quintile.astype(np.int8),
            "fsm_pct": np.round(fsm_pct, 1),
            "pupils": pupils,
            "effectiveness": effectiveness,
            "progress": progress,
            "income_per_pupil_gbp": income,
            "postcode": texts["postcode"],
        },
        schema={
            "urn": pl.Int64,
            "laestab": pl.Int64,
            "school_name": pl.Utf8,
            "phase": pl.Utf8,
            "school_type": pl.Utf8,
            "ofsted_region": pl.Utf8,
            "local_authority": pl.Utf8,
            "idaci_quintile": pl.Int8,
            "fsm_pct": pl.Float64,
            "pupils": pl.Int64,
            "effectiveness": pl.Float64,
            "progress": pl.Float64,
            "income_per_pupil_gbp": pl.Float64,
            "postcode": pl.Utf8,
        },
    )

    # --- events: graded CIF, graded EIF, ungraded anywhere
    cif_days = _start_dates(*CIF_WINDOW)
    eif_days = _start_dates(*EIF_WINDOW)
    all_days = _start_dates(*ALL_WINDOW)
    has_cif = rng.random(n) < p.p_cif_graded
    has_eif = rng.random(n) < p.p_eif_graded
    n_ungraded = rng.poisson(p.ungraded_rate, size=n)
    school_of = np.concatenate(
        [np.flatnonzero(has_cif), np.flatnonzero(has_eif), np.repeat(np.arange(n), n_ungraded)]
    )
    graded = np.concatenate(
        [np.ones(has_cif.sum() + has_eif.sum(), dtype=bool), np.zeros(n_ungraded.sum(), dtype=bool)]
    )
    start = np.concatenate(
        [
            cif_days[rng.integers(0, len(cif_days), size=int(has_cif.sum()))],
            eif_days[rng.integers(0, len(eif_days), size=int(has_eif.sum()))],
            all_days[rng.integers(0, len(all_days), size=int(n_ungraded.sum()))],
        ]
    )
    order = np.lexsort((start, school_of))
    school_of, graded, start = school_of[order], graded[order], start[order]
    m = len(school_of)
    eif = start >= EIF_START
    # A graded and an ungraded visit to one school on one day: keep both, they are distinct events.

    # grades for graded events (latent proportional-odds process)
    cuts = np.asarray(p.thresholds)
    latent = eta[school_of] + rng.logistic(size=m)
    grade = (np.searchsorted(cuts, latent) + 1).astype(np.int64)
    grade = np.where(graded, grade, 0)

    one_day = rng.random(m) < p.p_one_day_ungraded
    end = np.where(graded | ~one_day, np.busday_offset(start, 1, roll="forward"), start)
    extra_means = np.concatenate([[p.delay_extra_mean_ungraded], np.asarray(p.delay_extra_mean)])
    delay = p.delay_min_weekdays + rng.poisson(extra_means[grade])
    publication = np.busday_offset(end, delay, roll="forward")

    inadequate = graded & (grade == 4)
    limited = inadequate & eif & (rng.random(m) < p.safeguarding_limited_given_inadequate)
    sg_no = limited | (inadequate & (rng.random(m) < p.safeguarding_no_given_other_inadequate))
    concern_code = np.where(rng.random(m) < p.special_measures_given_inadequate, "SM", "SWK")
    concern = [
        c if bad else None
        for c, bad in zip(concern_code.tolist(), inadequate.tolist(), strict=True)
    ]

    numbers = (INSPECTION_NUMBER_BASE + np.arange(m)).astype(str)
    events = pl.DataFrame(
        {
            "event_id": numbers.tolist(),
            "inspection_number": numbers.tolist(),
            "urn": (urn_base(n) + school_of).astype(np.int64),
            "kind": np.where(graded, "graded", "ungraded").tolist(),
            "era": np.where(eif, "eif_2019", "cif_2015").tolist(),
            "inspection_type": np.where(graded, GRADED_TYPE, UNGRADED_TYPE).tolist(),
            "start_date": start,
            "end_date": end,
            "publication_date": publication,
            "category_of_concern": concern,
        },
        schema={
            "event_id": pl.Utf8,
            "inspection_number": pl.Utf8,
            "urn": pl.Int64,
            "kind": pl.Utf8,
            "era": pl.Utf8,
            "inspection_type": pl.Utf8,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "publication_date": pl.Date,
            "category_of_concern": pl.Utf8,
        },
    )

    # --- judgements (long)
    g_idx = np.flatnonzero(graded)
    g_eif = g_idx[eif[g_idx]]
    g_cif = g_idx[~eif[g_idx]]
    oe = grade
    qoe = _clip_step(rng, oe, (0.1, 0.8, 0.1))
    beh = _clip_step(rng, oe, (0.2, 0.6, 0.2))
    pdv = _clip_step(rng, oe, (0.2, 0.6, 0.2))
    lam = _clip_step(rng, oe, (0.15, 0.7, 0.15))
    good_draw = np.where(rng.random((m, 3)) < 0.15, 1, 2)
    # Inadequate but not safeguarding-limited: education judged RI or worse, leadership mostly 4.
    other_inad = inadequate & ~limited
    qoe = np.where(other_inad, np.maximum(qoe, 3), qoe)
    lam = np.where(inadequate, np.where(rng.random(m) < 0.8, 4, 3), lam)
    lam = np.where(limited, 4, lam)
    qoe = np.where(limited, good_draw[:, 0], qoe)
    beh = np.where(limited, good_draw[:, 1], beh)
    pdv = np.where(limited, good_draw[:, 2], pdv)
    sg = np.where(sg_no, "No", "Yes")

    def block(idx: IntArray, area: str, codes: npt.NDArray[np.str_]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "event_id": numbers[idx].tolist(),
                "area": [area] * len(idx),
                "scale": [
                    "safeguarding_effective" if area == "safeguarding_effective" else "four_point"
                ]
                * len(idx),
                "code": codes[idx].tolist(),
            },
            schema={"event_id": pl.Utf8, "area": pl.Utf8, "scale": pl.Utf8, "code": pl.Utf8},
        )

    as_code = lambda v: v.astype(str)  # noqa: E731
    parts = [
        block(g_eif, "overall_effectiveness", as_code(oe)),
        block(g_eif, "quality_of_education", as_code(qoe)),
        block(g_eif, "behaviour_and_attitudes", as_code(beh)),
        block(g_eif, "personal_development", as_code(pdv)),
        block(g_eif, "leadership_and_management", as_code(lam)),
        block(g_eif, "safeguarding_effective", sg),
        block(g_cif, "overall_effectiveness", as_code(oe)),
        block(g_cif, "leadership_and_management", as_code(lam)),
        block(g_cif, "safeguarding_effective", sg),
    ]
    area_rank = {a: i for i, a in enumerate(AREAS)}
    judgements = (
        pl.concat(parts)
        .with_columns(_grade_labels(pl.col("code")).alias("label"))
        .sort(
            pl.col("event_id"),
            pl.col("area").replace_strict(area_rank, return_dtype=pl.Int64),
        )
    )

    # --- truth
    without, given_progress = _truth_plims(p, u, q_mean_eff)
    planted = {q: float(p.quintile_odds_ratios[q - 1]) for q in range(1, 6)}
    p_inadequate = 1.0 - expit(cuts[2] - eta[school_of[g_eif]])
    expected_limited = (
        p.safeguarding_limited_given_inadequate * float(p_inadequate.mean())
        if len(g_eif)
        else math.nan
    )
    truth = NationTruth(
        quintile_odds_ratios=planted,
        log_or_effectiveness=-p.beta_effectiveness,
        thresholds=(float(cuts[0]), float(cuts[1]), float(cuts[2])),
        region_sd=p.region_sd,
        latent_icc=p.region_sd**2 / (p.region_sd**2 + math.pi**2 / 3.0),
        region_effects={REGIONS[i]: float(u[i]) for i in range(len(REGIONS))},
        quintile_odds_ratios_without_effectiveness=without,
        share_explained=_share(planted, without),
        quintile_odds_ratios_given_progress=given_progress,
        share_explained_by_progress=_share(given_progress, without),
        share_explained_method=(
            "probability limits by numerical integration (Gauss-Hermite, 40 nodes over "
            "effectiveness given quintile; 24 over progress), for the models "
            "quintile + region dummies without / with the effectiveness term; quintiles and "
            "regions weighted by their population shares; realised region intercepts"
        ),
        effectiveness_deprivation_corr=a,
        safeguarding_limited_given_inadequate=p.safeguarding_limited_given_inadequate,
        safeguarding_limited_share=expected_limited,
        safeguarding_limited_count=int(limited.sum()),
        eif_graded_events=len(g_eif),
        publication_delay=PublicationDelayTruth(
            min_weekdays=p.delay_min_weekdays,
            extra_mean_by_grade={str(g): float(p.delay_extra_mean[g - 1]) for g in range(1, 5)},
            extra_mean_ungraded=p.delay_extra_mean_ungraded,
        ),
        inspection_days=(
            "graded: two consecutive weekdays; ungraded: one day (probability "
            f"{p.p_one_day_ungraded}) or two; starts Monday-Wednesday in term time"
        ),
        notes=(
            "every graded inspection of a school draws fresh logistic noise around the same "
            "school propensity (no school-level random effect beyond effectiveness)",
            "CIF 2015 events carry overall effectiveness, leadership and safeguarding only",
            "outstanding-school exemption, re-inspection rules, academisation and new URNs "
            "are not simulated",
        ),
    )
    return SyntheticNation(
        schools=schools, events=events, judgements=judgements, truth=truth, params=p, seed=seed
    )


def analysis_frame(
    nation: SyntheticNation, era: str = "eif_2019", first_only: bool = True
) -> pl.DataFrame:
    """One row per graded event of ``era``: every judgement as a column, the
    safeguarding-limited flag, the publication delay in weekdays and the
    school's columns. With ``first_only`` (default) only each school's first
    graded event of the era is kept, so rows are independent given the school.
    """
    events = nation.events.filter((pl.col("kind") == "graded") & (pl.col("era") == era))
    wide = nation.judgements.pivot(on="area", index="event_id", values="code")
    frame = events.join(wide, on="event_id", how="left")
    for area in AREAS:
        if area not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(area))
    good = ["quality_of_education", "behaviour_and_attitudes", "personal_development"]
    frame = frame.with_columns(
        (
            (pl.col("safeguarding_effective") == "No")
            & (
                (pl.col("overall_effectiveness") == "4")
                | (pl.col("leadership_and_management") == "4")
            )
            & pl.all_horizontal([pl.col(c).is_in(["1", "2"]) for c in good])
        )
        .fill_null(False)
        .alias("safeguarding_limited"),
        pl.Series(
            "publication_delay_weekdays",
            np.busday_count(
                frame["end_date"].to_numpy().astype("datetime64[D]"),
                frame["publication_date"].to_numpy().astype("datetime64[D]"),
            ),
            dtype=pl.Int64,
        ),
    )
    if first_only:
        frame = frame.sort("urn", "start_date").unique(
            subset="urn", keep="first", maintain_order=True
        )
    return frame.join(nation.schools, on="urn", how="left").sort("urn", "start_date")
