"""Maximum-likelihood fits: global minima against pyhf+scipy, exact bounds, implicit gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest
from conftest import load_json, reference_case_names, reference_cases

import relaxed
from relaxed.infer import mle

pyhf.set_backend("numpy")
CODE1_CODE0 = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}


def validation_data(case: str, model) -> np.ndarray:
    """Observed data of a pyhf validation case: bindata.data per channel (sorted) + auxdata."""
    source = reference_cases()[case]["source_file"]
    raw = load_json(f"pyhf/{source}")
    raw = raw.get("channels", {model.config.channels[0]: raw})  # one-channel files: bindata
    main = [v for c in model.config.channels for v in raw[c]["bindata"]["data"]]
    return np.asarray(main + list(np.asarray(model.config.auxdata)), dtype=float)


ASYMPTOTIC_CASES = reference_case_names(
    lambda name, case: "spec" in case and case.get("calctype") == "asymptotics"
)


@pytest.mark.parametrize("case", ASYMPTOTIC_CASES)
def test_fits_reach_pyhf_minimum_or_lower(case):
    spec = reference_cases()[case]["spec"]
    rmodel = relaxed.Model(spec, modifier_settings=CODE1_CODE0)
    pmodel = pyhf.Model(spec, modifier_settings=CODE1_CODE0)
    data = validation_data(case, rmodel)
    pars, nll = mle.fit(data, rmodel, return_fitted_val=True)
    ppars, pnll = pyhf.infer.mle.fit(data, pmodel, return_fitted_val=True)
    assert float(nll) <= float(pnll) + 1e-7
    assert float(nll) == pytest.approx(float(mle.twice_nll(pars, data, rmodel)), rel=1e-14)
    np.testing.assert_allclose(pars, ppars, atol=2e-3)  # scipy stops at ~1e-4 precision
    cpars, cnll = mle.fixed_poi_fit(1.0, data, rmodel, return_fitted_val=True)
    _, pcnll = pyhf.infer.mle.fixed_poi_fit(1.0, data, pmodel, return_fitted_val=True)
    assert float(cnll) <= float(pcnll) + 1e-7
    assert float(cpars[rmodel.config.poi_index]) == 1.0


def test_bimodal_histosys_finds_the_global_minimum():
    case = "2bin_2channel_coupledhistosys_mu1"
    spec = reference_cases()[case]["spec"]
    model = relaxed.Model(spec, modifier_settings=CODE1_CODE0)
    data = validation_data(case, model)
    pars, nll = mle.fixed_poi_fit(1.0, data, model, return_fitted_val=True)
    # pyhf+scipy stops in the local minimum at alpha = +0.48 with 2NLL = 31.3751
    assert float(nll) == pytest.approx(30.8717, abs=1e-4)
    assert float(pars[0]) < 0
    scan = jnp.linspace(-3.0, 3.0, 6001)
    grid = jax.vmap(lambda a: mle.twice_nll(jnp.stack([a, 1.0]), data, model))(scan)
    assert float(nll) <= float(jnp.nanmin(grid)) + 1e-6


def _counting_model(signal=10.0, background=50.0):
    return relaxed.Model(
        {
            "channels": [
                {
                    "name": "SR",
                    "samples": [
                        {
                            "name": "sig",
                            "data": [signal],
                            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                        },
                        {"name": "bkg", "data": [background], "modifiers": []},
                    ],
                }
            ]
        }
    )


def test_counting_experiment_analytic_estimate_and_uncertainty():
    """mu-hat = (n - b) / s, sigma = sqrt(n) / s for a Poisson count."""
    model = _counting_model(10.0, 50.0)
    result, corr, nll = mle.fit(
        [73.0], model, return_uncertainties=True, return_correlations=True, return_fitted_val=True
    )
    assert result.shape == (1, 2)
    assert float(result[0, 0]) == pytest.approx(2.3, rel=1e-10)
    assert float(result[0, 1]) == pytest.approx(np.sqrt(73.0) / 10.0, rel=1e-10)
    assert float(corr[0, 0]) == pytest.approx(1.0)
    assert float(nll) == pytest.approx(-2 * (73 * np.log(73) - 73 - pyhf_lgamma(74)), rel=1e-12)


def pyhf_lgamma(x):
    from scipy.special import gammaln

    return gammaln(x)


def test_estimate_at_bound_lands_exactly_on_it():
    model = _counting_model(10.0, 50.0)
    pars = mle.fit([40.0], model)  # n < b: mu-hat would be -1 without the bound at 0
    assert float(pars[0]) == 0.0
    # a staterror gamma pushed to its lower bound, and an upper bound
    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "bkg",
                        "data": [50.0],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                        ],
                    }
                ],
            }
        ]
    }
    model = relaxed.Model(spec)
    pars = mle.fit([80.0], model, par_bounds=[(0.0, 1.2)])
    assert float(pars[0]) == 1.2


def test_uncertainties_and_correlations_from_the_exact_hessian():
    spec = reference_cases()["2bin_2channel_couplednorm_mu1"]["spec"]
    model = relaxed.Model(spec, modifier_settings=CODE1_CODE0)
    pmodel = pyhf.Model(spec, modifier_settings=CODE1_CODE0)
    data = validation_data("2bin_2channel_couplednorm_mu1", model)
    result, corr = mle.fit(data, model, return_uncertainties=True, return_correlations=True)
    best = np.asarray(result[:, 0])
    # finite-difference Hessian of pyhf's own twice_nll at our minimum
    n = best.size
    eps = 1e-4
    hess = np.zeros((n, n))
    f = lambda p: float(-2 * pmodel.logpdf(p, data)[0])  # noqa: E731
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * eps, np.eye(n)[j] * eps
            hess[i, j] = (
                f(best + ei + ej) - f(best + ei - ej) - f(best - ei + ej) + f(best - ei - ej)
            ) / (4 * eps**2)
    cov = 2 * np.linalg.inv(hess)
    np.testing.assert_allclose(result[:, 1], np.sqrt(np.diag(cov)), rtol=1e-5)
    expected_corr = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    np.testing.assert_allclose(corr, expected_corr, rtol=1e-5, atol=1e-8)


def test_fixed_parameters_have_zero_uncertainty():
    spec = reference_cases()["2bin_2channel_couplednorm_mu1"]["spec"]
    model = relaxed.Model(spec)
    data = validation_data("2bin_2channel_couplednorm_mu1", model)
    result, corr = mle.fixed_poi_fit(
        1.0, data, model, return_uncertainties=True, return_correlations=True
    )
    poi = model.config.poi_index
    assert float(result[poi, 0]) == 1.0 and float(result[poi, 1]) == 0.0
    assert np.all(np.asarray(corr[poi]) == 0.0)


def _finite_difference(f, x, eps=1e-5):
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = eps * max(1.0, abs(x[i]))
        cols.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * step[i]))
    return np.stack(cols, axis=-1)


def _with_signal(signal):
    spec = reference_cases()["2bin_2channel_couplednorm_mu1"]["spec"]
    spec["channels"][0]["samples"][0]["data"] = signal
    return relaxed.Model(spec)


def test_implicit_gradients_of_fit_match_finite_differences():
    data = validation_data("2bin_2channel_couplednorm_mu1", _with_signal([10.0, 35.0]))
    signal0 = np.array([10.0, 35.0])

    def best(signal):
        return mle.fit(data, _with_signal(signal))

    def best_cond(signal):
        return mle.fixed_poi_fit(1.0, data, _with_signal(signal), return_fitted_val=True)[1]

    jac = jax.jacobian(best)(jnp.asarray(signal0))
    np.testing.assert_allclose(jac, _finite_difference(best, signal0), rtol=1e-6, atol=1e-10)
    grad = jax.grad(best_cond)(jnp.asarray(signal0))
    np.testing.assert_allclose(grad, _finite_difference(best_cond, signal0), rtol=1e-6)
    # with respect to the data
    model = _with_signal(signal0)
    jac_data = jax.jacobian(lambda d: mle.fit(d, model))(jnp.asarray(data))
    fd = _finite_difference(lambda d: mle.fit(d, model), data)
    np.testing.assert_allclose(jac_data, fd, rtol=1e-6, atol=1e-10)


def test_implicit_gradient_with_active_bound():
    """mu-hat = 0 at its bound: it does not move; the other parameters do."""
    data = np.array([90.0, 140.0, 95.0, 98.0, 0.0])
    signal0 = np.array([10.0, 35.0])
    model = _with_signal(signal0)
    pars = mle.fit(data, model)
    assert float(pars[model.config.poi_index]) == 0.0
    best = lambda s: mle.fit(data, _with_signal(s))  # noqa: E731
    jac = jax.jacobian(best)(jnp.asarray(signal0))
    np.testing.assert_allclose(jac, _finite_difference(best, signal0), rtol=1e-6, atol=1e-9)
    assert np.all(np.asarray(jac[model.config.poi_index]) == 0.0)
    nll = lambda d: mle.fit(d, model, return_fitted_val=True)[1]  # noqa: E731
    np.testing.assert_allclose(
        jax.grad(nll)(jnp.asarray(data)), _finite_difference(nll, data), rtol=1e-6
    )


def test_gradient_with_respect_to_fixed_poi_value():
    model = _with_signal(np.array([10.0, 35.0]))
    data = validation_data("2bin_2channel_couplednorm_mu1", model)
    f = lambda mu: mle.fixed_poi_fit(mu, data, model, return_fitted_val=True)[1]  # noqa: E731
    g = float(jax.grad(f)(0.7))
    eps = 1e-5
    assert g == pytest.approx((float(f(0.7 + eps)) - float(f(0.7 - eps))) / (2 * eps), rel=1e-6)


def test_vmap_over_datasets_and_poi_values():
    model = _with_signal(np.array([10.0, 35.0]))
    base = validation_data("2bin_2channel_couplednorm_mu1", model)
    datasets = jnp.stack([base, base * 1.05, base * 0.95]).at[:, 4].set(0.0)
    batched = jax.vmap(lambda d: mle.fit(d, model))(datasets)
    for row, d in zip(batched, datasets, strict=True):
        np.testing.assert_allclose(row, mle.fit(d, model), rtol=1e-10, atol=1e-12)
    mus = jnp.asarray([0.0, 0.5, 1.0, 2.0])
    nlls = jax.vmap(lambda mu: mle.fixed_poi_fit(mu, base, model, return_fitted_val=True)[1])(mus)
    loop = [
        float(mle.fixed_poi_fit(float(mu), base, model, return_fitted_val=True)[1]) for mu in mus
    ]
    np.testing.assert_allclose(nlls, loop, rtol=1e-10)


def test_bad_fit_inputs_raise_clear_errors():
    model = _counting_model()
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="init_pars must have shape"):
        mle.fit([60.0], model, init_pars=[1.0, 2.0])
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="par_bounds must have shape"):
        mle.fit([60.0], model, par_bounds=[(0, 1), (0, 2)])
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="lower bound must not exceed"):
        mle.fit([60.0], model, par_bounds=[(2.0, 1.0)])
    with pytest.raises(relaxed.exceptions.InvalidData, match="expected data of length 1"):
        mle.fit([60.0, 1.0], model)
    poiless = relaxed.Model(
        {
            "channels": [
                {
                    "name": "c",
                    "samples": [
                        {
                            "name": "s",
                            "data": [1.0],
                            "modifiers": [{"name": "k", "type": "normfactor", "data": None}],
                        }
                    ],
                }
            ]
        },
        poi_name=None,
    )
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="parameter of interest"):
        mle.fixed_poi_fit(1.0, [1.0], poiless)
