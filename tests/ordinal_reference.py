"""The reference a fast proportional-odds fit is checked against: statsmodels' own OrderedModel
(logit) on the same arrays, optimised to convergence (used by tests/stats on simulated data
and by tests/integration on the real files)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from evenhand.stats import OrdinalFit


def statsmodels_reference(fit: OrdinalFit) -> tuple[np.ndarray, np.ndarray, float]:
    """statsmodels' own OrderedModel (logit) on the fit's arrays, optimised to convergence:
    (params, standard errors from its numerical Hessian, log-likelihood)."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    model = OrderedModel(fit.endog_codes, fit.exog_internal, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels' own start values and Newton steps (its numerical derivatives)
        res = model.fit(method="newton", maxiter=100, disp=0)
    assert res.mle_retvals["converged"]
    params = np.asarray(res.params)
    return params, np.sqrt(np.diag(np.asarray(res.cov_params()))), float(model.loglike(params))


def assert_matches_statsmodels(fit: OrdinalFit) -> None:
    from statsmodels.tools.numdiff import approx_fprime

    from evenhand.stats.ordinal import _LogitOrderedModel

    params, se, loglike = statsmodels_reference(fit)
    assert np.max(np.abs(fit.params_internal - params)) < 1e-6
    assert fit.log_likelihood == pytest.approx(loglike, abs=1e-6)
    # statsmodels' standard errors come from a numerical Hessian (accurate to ~1e-5);
    # the numerical Jacobian of the analytic score at the same point is accurate to ~1e-8
    se_new = np.sqrt(np.diag(fit.cov_internal))
    assert np.max(np.abs(se_new / se - 1.0)) < 1e-4
    model = _LogitOrderedModel(fit.endog_codes, fit.exog_internal, distr="logit")
    h = approx_fprime(fit.params_internal, model.score, centered=True)
    se_num = np.sqrt(np.diag(np.linalg.inv(-(h + h.T) / 2.0)))
    assert np.max(np.abs(se_new / se_num - 1.0)) < 1e-6


def assert_at_statsmodels_maximum(fit: OrdinalFit) -> None:
    """A cheaper check for large designs: statsmodels' own log-likelihood, at the fit, equals the
    fit's, its (numerical) gradient is zero to within a Newton step of 1e-6 in every parameter,
    and the standard errors equal those from the numerical Jacobian of the analytic score."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel
    from statsmodels.tools.numdiff import approx_fprime

    from evenhand.stats.ordinal import _LogitOrderedModel

    model = OrderedModel(fit.endog_codes, fit.exog_internal, distr="logit")
    assert float(model.loglike(fit.params_internal)) == pytest.approx(fit.log_likelihood, abs=1e-6)
    grad = approx_fprime(fit.params_internal, model.loglike, centered=True)
    step = fit.cov_internal @ grad  # the Newton step to statsmodels' maximum
    assert np.max(np.abs(step)) < 1e-6
    fast = _LogitOrderedModel(fit.endog_codes, fit.exog_internal, distr="logit")
    h = approx_fprime(fit.params_internal, fast.score, centered=True)
    se_num = np.sqrt(np.diag(np.linalg.inv(-(h + h.T) / 2.0)))
    assert np.max(np.abs(np.sqrt(np.diag(fit.cov_internal)) / se_num - 1.0)) < 1e-6
