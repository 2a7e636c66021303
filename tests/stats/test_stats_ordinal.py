"""Proportional-odds fits: recovery of planted odds ratios, edge cases, share explained."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats
from stats_support import GRADES, REFERENCE, LargeFits

from evenhand.simulate import analysis_frame, simulate_nation
from evenhand.stats import OrdinalFit, fit_ordinal, gradient_share_explained
from ordinal_reference import assert_matches_statsmodels


def _covers_jointly(fit: OrdinalFit, truths: dict[str, float], level: float = 0.95) -> list[str]:
    """Terms whose Bonferroni-adjusted interval (joint level ``level``) misses the truth."""
    z = float(stats.norm.ppf(1 - (1 - level) / (2 * len(truths))))
    missed = []
    for term, odds in truths.items():
        b, se = fit.coefficients[term], fit.std_errors[term]
        if not (b - z * se <= math.log(odds) <= b + z * se):
            missed.append(term)
    return missed


def test_planted_quintile_5_odds_ratio_recovered(large: LargeFits) -> None:
    truth = large.nation.truth
    fit = large.with_eff
    assert fit.ok, fit.notes
    assert fit.n == large.frame.height > 15_000
    est = fit.odds_ratio("idaci_quintile[5]")
    assert est.covers(truth.quintile_odds_ratios[5]), est
    assert est.n == fit.n
    # The gradient itself is found, not just "not excluded": quintile 5 is clearly above 1.
    assert est.low > 1.2
    eff = fit.odds_ratio("effectiveness")
    assert eff.covers(truth.odds_ratio_effectiveness), eff


def test_all_planted_odds_ratios_recovered_jointly(large: LargeFits) -> None:
    # Twelve terms: each checked with a Bonferroni-adjusted interval so that the
    # family of checks holds with 95% confidence (single 95% intervals would miss
    # one of twelve true values about half the time).
    truth = large.nation.truth
    london = truth.region_effects["London"]
    planted = {f"idaci_quintile[{q}]": truth.quintile_odds_ratios[q] for q in range(2, 6)}
    planted["effectiveness"] = truth.odds_ratio_effectiveness
    planted |= {
        f"ofsted_region[{r}]": math.exp(u - london)
        for r, u in truth.region_effects.items()
        if r != "London"
    }
    assert set(planted) == set(large.with_eff.terms)
    assert _covers_jointly(large.with_eff, planted) == []


def test_thresholds_match_planted_cut_points(large: LargeFits) -> None:
    # The reference region (London) is absorbed into the cut-points: t_j = c_j - u_London.
    truth = large.nation.truth
    shift = truth.region_effects["London"]
    fitted = list(large.with_eff.thresholds.values())
    assert list(large.with_eff.thresholds) == ["1|2", "2|3", "3|4"]
    for est, planted in zip(fitted, truth.thresholds, strict=True):
        assert est == pytest.approx(planted - shift, abs=0.15)


def test_odds_ratios_without_effectiveness_match_their_probability_limit(large: LargeFits) -> None:
    truth = large.nation.truth
    without = {
        f"idaci_quintile[{q}]": truth.quintile_odds_ratios_without_effectiveness[q]
        for q in range(2, 6)
    }
    assert _covers_jointly(large.without_eff, without) == []
    assert large.without_eff.odds_ratio("idaci_quintile[5]").covers(without["idaci_quintile[5]"])
    for q in range(2, 6):
        # Controlling for effectiveness shrinks every deprivation odds ratio.
        term = f"idaci_quintile[{q}]"
        assert large.without_eff.odds_ratios[term].value > large.with_eff.odds_ratios[term].value
    given_progress = {
        f"idaci_quintile[{q}]": truth.quintile_odds_ratios_given_progress[q] for q in range(2, 6)
    }
    assert _covers_jointly(large.with_progress, given_progress) == []


def test_share_explained_covers_truth(large: LargeFits) -> None:
    truth = large.nation.truth
    share = gradient_share_explained(large.without_eff, large.with_eff, "idaci_quintile[5]")
    assert share.covers(truth.share_explained[5]), (share, truth.share_explained[5])
    assert 0.3 < share.low < share.value < share.high < 0.9
    assert "delta" in share.method
    by_progress = gradient_share_explained(
        large.without_eff, large.with_progress, "idaci_quintile[5]"
    )
    assert by_progress.covers(truth.share_explained_by_progress[5])
    # Measured progress is a noisy proxy for effectiveness: it explains less of the gradient.
    assert by_progress.value < share.value


def _small_pair(seed: int, n: int) -> tuple[OrdinalFit, OrdinalFit]:
    frame = analysis_frame(simulate_nation(n, seed=seed))
    cats = ["idaci_quintile"]
    ref = {"idaci_quintile": 1}
    with_eff = fit_ordinal(
        frame, "overall_effectiveness", GRADES, ["idaci_quintile", "effectiveness"], cats, ref
    )
    without = fit_ordinal(frame, "overall_effectiveness", GRADES, ["idaci_quintile"], cats, ref)
    return without, with_eff


def test_share_explained_bootstrap_is_seeded() -> None:
    without, with_eff = _small_pair(7, 1_500)
    term = "idaci_quintile[5]"
    a = gradient_share_explained(without, with_eff, term, method="bootstrap", n_boot=20, seed=3)
    b = gradient_share_explained(without, with_eff, term, method="bootstrap", n_boot=20, seed=3)
    c = gradient_share_explained(without, with_eff, term, method="bootstrap", n_boot=20, seed=4)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.value == gradient_share_explained(without, with_eff, term).value
    assert a.low < a.value < a.high
    assert "bootstrap" in a.method and "seed 3" in a.method


@pytest.mark.slow
def test_share_explained_bootstrap_agrees_with_delta() -> None:
    without, with_eff = _small_pair(11, 4_000)
    term = "idaci_quintile[5]"
    boot = gradient_share_explained(without, with_eff, term, method="bootstrap", n_boot=400)
    delta = gradient_share_explained(without, with_eff, term)
    assert boot.low == pytest.approx(delta.low, abs=0.06)
    assert boot.high == pytest.approx(delta.high, abs=0.06)


def test_share_explained_refuses_fits_on_different_rows(large: LargeFits) -> None:
    smaller = large.frame.head(5_000)
    other = fit_ordinal(
        smaller, "overall_effectiveness", GRADES, ["idaci_quintile"], ["idaci_quintile"], REFERENCE
    )
    with pytest.raises(ValueError, match="different rows"):
        gradient_share_explained(other, large.with_eff, "idaci_quintile[5]")
    with pytest.raises(KeyError):
        gradient_share_explained(large.without_eff, large.with_eff, "effectiveness")


def test_predict_distribution(large: LargeFits) -> None:
    fit = large.with_eff
    frame = large.frame.head(200)
    pred = fit.predict_distribution(frame)
    assert pred.columns == ["p_1", "p_2", "p_3", "p_4"]
    assert pred.height == 200
    assert np.allclose(pred.sum_horizontal().to_numpy(), 1.0)
    # Average predicted distribution over the fitting rows matches the observed mix.
    full = fit.predict_distribution(large.frame).mean()
    observed = (
        large.frame["overall_effectiveness"]
        .value_counts(normalize=True)
        .sort("overall_effectiveness")["proportion"]
    )
    assert full.row(0) == pytest.approx(tuple(observed.to_list()), abs=0.005)
    # Worse effectiveness -> more mass on worse grades.
    base = frame.head(1)
    worse = base.with_columns(pl.col("effectiveness") - 2.0)
    assert fit.predict_distribution(worse)["p_4"][0] > fit.predict_distribution(base)["p_4"][0]
    # Missing predictor -> a null row, not an error; unseen level -> error.
    holed = frame.head(3).with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(None)
        .otherwise(pl.col("effectiveness"))
        .alias("effectiveness")
    )
    out = fit.predict_distribution(holed)
    assert out["p_1"].null_count() == 1 and out["p_1"][1] is None
    with pytest.raises(ValueError, match="not seen"):
        fit.predict_distribution(
            frame.head(2).with_columns(pl.lit("Atlantis").alias("ofsted_region"))
        )


def _toy(n: int = 1_500, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    group = rng.choice(["a", "b", "c"], size=n)
    latent = 0.8 * x + np.where(group == "b", 0.5, 0.0) + rng.logistic(size=n)
    grade = np.searchsorted([-1.5, 0.5, 2.0], latent) + 1
    return pl.DataFrame({"grade": grade.astype(str), "x": x, "group": group})


def test_missing_rows_are_dropped_and_counted_and_pandas_gives_the_same_fit() -> None:
    frame = _toy()
    holed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 0)
        .then(float("nan"))
        .otherwise(pl.col("x"))
        .alias("x"),
        pl.when(pl.int_range(pl.len()) % 75 == 1)
        .then(None)
        .otherwise(pl.col("grade"))
        .alias("grade"),
    )
    fit = fit_ordinal(holed, "grade", GRADES, ["x", "group"], ["group"], {"group": "a"})
    dropped = 30 + 20
    assert fit.n_dropped_missing == dropped
    assert fit.n == frame.height - dropped
    assert any("dropped for missing" in note for note in fit.notes)
    from_pandas = fit_ordinal(
        holed.to_pandas(), "grade", GRADES, ["x", "group"], ["group"], {"group": "a"}
    )
    assert from_pandas.n == fit.n
    assert from_pandas.coefficients == pytest.approx(fit.coefficients)
    assert fit.odds_ratio("x").covers(math.exp(0.8))
    assert fit.odds_ratio("group[b]").covers(math.exp(0.5))


def test_numeric_scale_does_not_change_the_model() -> None:
    frame = _toy()
    a = fit_ordinal(frame, "grade", GRADES, ["x"])
    b = fit_ordinal(frame.with_columns(pl.col("x") * 1000 + 5e4), "grade", GRADES, ["x"])
    assert b.coefficients["x"] * 1000 == pytest.approx(a.coefficients["x"], rel=1e-5)
    assert b.log_likelihood == pytest.approx(a.log_likelihood, rel=1e-8)
    assert a.predict_distribution(frame.head(5)).to_numpy() == pytest.approx(
        b.predict_distribution(frame.head(5).with_columns(pl.col("x") * 1000 + 5e4)).to_numpy(),
        abs=1e-6,
    )


def test_sparse_levels_are_merged_into_other_with_a_note() -> None:
    frame = _toy()
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 6)
        .then(pl.lit("tiny1"))
        .when(pl.int_range(pl.len()) < 40)
        .then(pl.lit("tiny2"))
        .otherwise(pl.col("group"))
        .alias("group")
    )
    fit = fit_ordinal(
        frame, "grade", GRADES, ["x", "group"], ["group"], {"group": "a"}, min_level_rows=50
    )
    assert "group[other]" in fit.terms
    assert "group[tiny1]" not in fit.terms
    assert any("merged into 'other'" in note and "tiny1" in note for note in fit.notes)
    # Predictions for a merged level use the "other" coefficient.
    pred = fit.predict_distribution(pl.DataFrame({"x": [0.0, 0.0], "group": ["tiny1", "tiny2"]}))
    assert pred.row(0) == pytest.approx(pred.row(1))


def test_reference_levels_and_outcome_values_are_checked() -> None:
    frame = _toy()
    fit = fit_ordinal(frame, "grade", GRADES, ["x", "group"], ["group"])
    assert any("no reference level given" in note for note in fit.notes)
    assert len([t for t in fit.terms if t.startswith("group[")]) == 2
    with pytest.raises(ValueError, match="reference level"):
        fit_ordinal(frame, "grade", GRADES, ["x", "group"], ["group"], {"group": "zzz"})
    with pytest.raises(ValueError, match="outside categories_in_order"):
        fit_ordinal(frame, "grade", ["1", "2", "3"], ["x"])
    with pytest.raises(KeyError):
        fit_ordinal(frame, "grade", GRADES, ["nope"])
    with pytest.raises(TypeError, match="categorical"):
        fit_ordinal(frame, "grade", GRADES, ["group"])


def test_quintile_codes_as_numbers_and_as_text_give_the_same_terms() -> None:
    frame = _toy().with_columns((pl.int_range(pl.len()) % 3 + 1).alias("q"))
    as_int = fit_ordinal(frame, "grade", GRADES, ["q", "x"], ["q"], {"q": 1})
    as_float = fit_ordinal(
        frame.with_columns(pl.col("q").cast(pl.Float64)),
        "grade",
        GRADES,
        ["q", "x"],
        ["q"],
        {"q": "1"},
    )
    assert as_int.terms == as_float.terms == ("q[2]", "q[3]", "x")
    assert as_int.coefficients == pytest.approx(as_float.coefficients)


def test_separation_is_reported_not_raised() -> None:
    frame = _toy()
    # Every school in group "b" is judged "1": no finite odds ratio exists for b.
    frame = frame.with_columns(
        pl.when(pl.col("group") == "b").then(pl.lit("1")).otherwise(pl.col("grade")).alias("grade")
    )
    fit = fit_ordinal(frame, "grade", GRADES, ["x", "group"], ["group"], {"group": "a"})
    assert "group[b]" in fit.separated_terms
    assert not fit.ok
    assert any("separation" in note for note in fit.notes)
    assert fit.odds_ratio("x").value > 1.0  # the rest of the model is still estimated


def test_collinear_predictors_are_reported_as_not_converged() -> None:
    frame = _toy().with_columns((pl.col("x") * 2.0).alias("x2"))
    fit = fit_ordinal(frame, "grade", GRADES, ["x", "x2"])
    assert not fit.converged
    assert any("Hessian" in note for note in fit.notes)
    assert math.isnan(fit.odds_ratio("x").low)


def test_absent_category_is_noted_and_predicted_as_zero() -> None:
    frame = _toy().with_columns(
        pl.when(pl.col("grade") == "4").then(pl.lit("3")).otherwise(pl.col("grade")).alias("grade")
    )
    fit = fit_ordinal(frame, "grade", GRADES, ["x"])
    assert fit.fitted_categories == ("1", "2", "3")
    assert any("no rows" in note for note in fit.notes)
    pred = fit.predict_distribution(frame.head(4))
    assert pred["p_4"].to_list() == [0.0] * 4
    assert np.allclose(pred.sum_horizontal().to_numpy(), 1.0)


def test_summary_frame(large: LargeFits) -> None:
    summary = large.with_eff.summary()
    assert summary.columns == [
        "term",
        "odds_ratio",
        "low",
        "high",
        "log_odds",
        "std_error",
        "p_value",
        "n",
    ]
    assert summary.height == len(large.with_eff.terms)
    row = summary.filter(pl.col("term") == "effectiveness").row(0, named=True)
    assert row["p_value"] < 1e-10
    assert row["odds_ratio"] == pytest.approx(math.exp(row["log_odds"]))


# --- the Newton route against statsmodels -------------------------------------------------


def test_newton_route_matches_statsmodels_on_simulated_data(large: LargeFits) -> None:
    assert not any("statsmodels" in n for n in large.with_eff.notes)
    for fit in (large.with_eff, large.without_eff):
        assert_matches_statsmodels(fit)


def test_newton_route_against_the_statsmodels_route_of_fit_ordinal(large: LargeFits) -> None:
    cats = ["idaci_quintile", "ofsted_region"]
    old = fit_ordinal(
        large.frame,
        "overall_effectiveness",
        GRADES,
        ["idaci_quintile", "effectiveness", "ofsted_region"],
        cats,
        REFERENCE,
        engine="statsmodels",
    )
    new = large.with_eff
    assert old.terms == new.terms and old.n == new.n
    # the statsmodels route stops at a mean score of 1e-5 (BFGS gtol): within that of the
    # maximum, which the Newton route reaches (its likelihood is never lower)
    assert new.log_likelihood >= old.log_likelihood - 1e-9
    assert new.log_likelihood - old.log_likelihood < 1e-3
    for t in new.terms:
        assert new.coefficients[t] == pytest.approx(old.coefficients[t], abs=2e-3)
        assert new.std_errors[t] == pytest.approx(old.std_errors[t], rel=1e-3)
    assert new.thresholds == pytest.approx(old.thresholds, abs=2e-3)
    with pytest.raises(ValueError, match="engine"):
        fit_ordinal(large.frame, "overall_effectiveness", GRADES, ["effectiveness"], engine="lbfgs")  # type: ignore[arg-type]


def test_newton_route_falls_back_to_statsmodels_where_it_does_not_settle() -> None:
    frame = _toy().with_columns(
        pl.when(pl.col("group") == "b").then(pl.lit("1")).otherwise(pl.col("grade")).alias("grade")
    )
    args = (frame, "grade", GRADES, ["x", "group"], ["group"], {"group": "a"})
    new = fit_ordinal(*args)
    old = fit_ordinal(*args, engine="statsmodels")
    # separated: the same (statsmodels) answer and the same notes on both routes
    assert new.separated_terms == old.separated_terms == ("group[b]",)
    assert new.coefficients == old.coefficients
    assert new.notes == old.notes


def test_score_contributions_sum_to_the_score(large: LargeFits) -> None:
    from evenhand.stats.ordinal import _LogitOrderedModel

    fit = large.without_eff
    model = _LogitOrderedModel(fit.endog_codes, fit.exog_internal, distr="logit")
    at = fit.params_internal + 0.01
    assert fit._score_obs().shape == (fit.n, len(fit.params_internal))
    from evenhand.stats.ordinal import _score_obs_arrays

    obs = _score_obs_arrays(fit.endog_codes, fit.exog_internal, at)
    assert obs.sum(axis=0) == pytest.approx(model.score(at), rel=1e-9, abs=1e-9)


def test_predicted_probability_intervals_cover_the_truth() -> None:
    """On simulated data with known coefficients and cut-points, the delta-method intervals of
    predict_intervals cover the true probability of each grade at about the nominal 95%
    (200 repetitions x 3 school profiles x 4 grades)."""
    from scipy.special import expit

    beta_q, beta_x, cuts = 0.3, 0.5, np.array([-1.5, 1.0, 2.5])

    def truth(q: int, x: float) -> np.ndarray:
        c = expit(cuts - (beta_q * (q - 1) + beta_x * x))
        return np.diff(np.r_[0.0, c, 1.0])

    profiles = pl.DataFrame({"q": ["1", "3", "5"], "x": [0.0, 1.0, -2.0]})
    true = np.array([truth(1, 0.0), truth(3, 1.0), truth(5, -2.0)])
    rng = np.random.default_rng(20261201)
    reps, hits = 200, np.zeros((3, 4))
    for _ in range(reps):
        n = 500
        q = rng.integers(1, 6, n)
        x = rng.normal(size=n)
        y = 1 + ((beta_q * (q - 1) + beta_x * x + rng.logistic(size=n)) > cuts[:, None]).sum(axis=0)
        d = pl.DataFrame({"q": q.astype(str), "x": x, "y": y.astype(str)})
        fit = fit_ordinal(d, "y", ["1", "2", "3", "4"], ["q", "x"], ["q"], {"q": "1"})
        p = fit.predict_intervals(profiles)
        lo = np.column_stack([p[f"p_{c}_low"].to_numpy() for c in "1234"])
        hi = np.column_stack([p[f"p_{c}_high"].to_numpy() for c in "1234"])
        point = np.column_stack([p[f"p_{c}"].to_numpy() for c in "1234"])
        assert np.all((lo < point) & (point < hi))
        hits += (lo <= true) & (true <= hi)
    rate = hits / reps
    assert 0.93 <= rate.mean() <= 0.97, rate
    assert rate.min() >= 0.89, rate


def test_cluster_covariance_matches_statsmodels() -> None:
    """cluster_cov against statsmodels' own cluster-robust covariance on the same design."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rng = np.random.default_rng(3)
    n_groups, per = 150, 4
    g = np.repeat(np.arange(n_groups), per)
    u = rng.normal(scale=0.8, size=n_groups)[g]  # shared within a group
    x = rng.normal(size=n_groups * per)
    y = 1 + ((0.7 * x + u + rng.logistic(size=len(x))) > np.array([-1.0, 0.5, 2.0])[:, None]).sum(axis=0)
    d = pl.DataFrame({"x": x, "y": y.astype(str), "g": g})
    fit = fit_ordinal(d, "y", ["1", "2", "3", "4"], ["x"])
    ours = fit.cluster_cov(d["g"].to_numpy()[fit.row_ids])
    sm = OrderedModel(fit.endog_codes, fit.exog_internal, distr="logit").fit(
        method="bfgs", maxiter=5000, disp=0, cov_type="cluster", cov_kwds={"groups": g[fit.row_ids]}
    )
    assert np.allclose(ours, np.asarray(sm.cov_params()), rtol=2e-3, atol=1e-6)
    # clustering widens the coefficient's standard error here (groups share an effect)
    assert ours[0, 0] > fit.cov_internal[0, 0]
    with pytest.raises(ValueError, match="groups has"):
        fit.cluster_cov(g[:10])
