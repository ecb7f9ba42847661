"""relaxed.metrics against analytic values and pyhf 0.7.6."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest

import relaxed
from relaxed import metrics
from relaxed.exceptions import InvalidParameters


def _hello(signal=(12.0, 11.0)):
    signal = list(signal) if isinstance(signal, tuple) else signal
    return {
        "channels": [
            {
                "name": "singlechannel",
                "samples": [
                    {
                        "name": "signal",
                        "data": signal,
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": [50.0, 52.0],
                        "modifiers": [
                            {"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}
                        ],
                    },
                ],
            }
        ]
    }


def _two_free(s=(5.0, 15.0), b=(40.0, 20.0)):
    return {
        "channels": [
            {
                "name": "c",
                "samples": [
                    {
                        "name": "sig",
                        "data": list(s),
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": list(b),
                        "modifiers": [{"name": "norm_b", "type": "normfactor", "data": None}],
                    },
                ],
            }
        ]
    }


def _pyhf_q0(spec, pars):
    model = pyhf.Model(spec)
    data = model.expected_data(pars)
    cfg = model.config
    return float(
        pyhf.infer.test_statistics.q0(
            0.0, data, model, cfg.suggested_init(), cfg.suggested_bounds(), cfg.suggested_fixed()
        )
    )


@pytest.mark.parametrize("uncertainty", [None, (3.0, 7.0)])
def test_asimov_significance_is_pyhf_q0(uncertainty):
    s, b = np.array([12.0, 11.0]), np.array([50.0, 52.0])
    if uncertainty is None:
        spec = _hello()
        spec["channels"][0]["samples"][1]["modifiers"] = []
        pars = [1.0]
    else:
        spec, pars = _hello(), [1.0, 1.0, 1.0]
    z = metrics.asimov_significance(s, b, None if uncertainty is None else np.array(uncertainty))
    np.testing.assert_allclose(float(z) ** 2, _pyhf_q0(spec, pars), rtol=1e-6)


def test_asimov_significance_limits_and_gradient():
    s, b = 10.0, 100.0
    np.testing.assert_allclose(
        metrics.asimov_significance(s, b, 1e-6), metrics.asimov_significance(s, b), rtol=1e-9
    )
    np.testing.assert_allclose(
        metrics.asimov_significance(s, b, 0.0), np.sqrt(2 * (110 * np.log(1.1) - 10)), rtol=1e-12
    )
    # s << b: Z -> s / sqrt(b + sigma^2)
    np.testing.assert_allclose(
        metrics.asimov_significance(0.01, 100.0, 5.0), 0.01 / np.sqrt(125.0), rtol=1e-3
    )
    grad = jax.grad(metrics.asimov_significance, argnums=(0, 1, 2))(10.0, 100.0, 10.0)
    eps = 1e-6
    for i, g in enumerate(grad):
        args_up, args_dn = [10.0, 100.0, 10.0], [10.0, 100.0, 10.0]
        args_up[i] += eps
        args_dn[i] -= eps
        fd = (metrics.asimov_significance(*args_up) - metrics.asimov_significance(*args_dn)) / (
            2 * eps
        )
        np.testing.assert_allclose(g, fd, rtol=1e-6)
    assert np.all(np.isfinite(jax.grad(metrics.asimov_significance)(0.0, 100.0, 0.0)))


@pytest.fixture(scope="module")
def hello():
    return relaxed.Model(_hello())


def test_expected_discovery_matches_pyhf(hello):
    q0 = metrics.expected_discovery_q0(hello)
    np.testing.assert_allclose(q0, _pyhf_q0(_hello(), [1.0, 1.0, 1.0]), rtol=1e-6)
    z0 = metrics.expected_discovery_significance(hello)
    p0 = metrics.expected_discovery_pvalue(hello)
    np.testing.assert_allclose(z0, np.sqrt(q0), rtol=1e-12)
    from scipy.stats import norm

    np.testing.assert_allclose(p0, norm.sf(np.sqrt(float(q0))), rtol=1e-10)


def test_expected_cls_matches_pyhf_hypotest(hello):
    pmodel = pyhf.Model(_hello())
    init = pmodel.config.suggested_init()
    init[pmodel.config.poi_index] = 0.0
    expected = float(pyhf.infer.hypotest(1.0, pmodel.expected_data(init), pmodel))
    np.testing.assert_allclose(metrics.expected_cls(hello, 1.0), expected, rtol=1e-6)


def test_expected_cls_gradient_through_model_construction():
    def cls(signal):
        return metrics.expected_cls(relaxed.Model(_hello(signal)), 1.0)

    signal = jnp.array([12.0, 11.0])
    grad = jax.grad(cls)(signal)
    eps = 1e-5
    for i in range(2):
        step = jnp.zeros(2).at[i].set(eps)
        fd = (cls(signal + step) - cls(signal - step)) / (2 * eps)
        np.testing.assert_allclose(grad[i], fd, rtol=1e-5)
    assert np.all(grad < 0)  # more signal, smaller CLs


def _analytic_information(s, b, mu=1.0, nb=1.0):
    s, b = np.asarray(s), np.asarray(b)
    lam = mu * s + nb * b
    jac = np.stack([b, s], axis=1)  # parameter order: norm_b, mu
    return (jac / lam[:, None]).T @ jac


def test_fisher_information_cramer_rao_generalised_variance():
    model = relaxed.Model(_two_free())
    assert model.config.par_order == ["mu", "norm_b"] or model.config.par_order == [
        "norm_b",
        "mu",
    ]
    info = _analytic_information((5.0, 15.0), (40.0, 20.0))
    if model.config.par_order[0] == "mu":
        info = info[::-1, ::-1]
    np.testing.assert_allclose(metrics.fisher_information(model, [1.0, 1.0]), info, rtol=1e-12)
    cov = np.linalg.inv(info)
    poi = model.config.poi_index
    np.testing.assert_allclose(
        metrics.cramer_rao_uncertainty(model, [1.0, 1.0]), np.sqrt(cov[poi, poi]), rtol=1e-12
    )
    np.testing.assert_allclose(
        metrics.cramer_rao_uncertainty(model, [1.0, 1.0], "norm_b"),
        np.sqrt(cov[1 - poi, 1 - poi]),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        metrics.generalised_variance(model, [1.0, 1.0]), np.linalg.det(cov), rtol=1e-12
    )
    fixed = [False, False]
    fixed[1 - poi] = True
    np.testing.assert_allclose(
        metrics.cramer_rao_uncertainty(model, [1.0, 1.0], fixed_params=fixed),
        1.0 / np.sqrt(info[poi, poi]),
        rtol=1e-12,
    )


def test_fisher_information_matches_pyhf_hessian(hello):
    pmodel = pyhf.Model(_hello())
    pars = np.array([1.1, 0.95, 1.05])
    data = pmodel.expected_data(pars)
    eps = 1e-4
    n = len(pars)
    fd = np.zeros((n, n))
    for i in range(n):
        for j in range(n):

            def f(di, dj, i=i, j=j):
                p = pars.copy()
                p[i] += di
                p[j] += dj
                return pmodel.logpdf(p, data)[0]

            fd[i, j] = -(f(eps, eps) - f(eps, -eps) - f(-eps, eps) + f(-eps, -eps)) / (4 * eps**2)
    np.testing.assert_allclose(metrics.fisher_information(hello, pars), fd, rtol=1e-5)


def test_bad_parameters(hello):
    with pytest.raises(InvalidParameters, match="unknown parameter 'nope'"):
        metrics.cramer_rao_uncertainty(hello, [1.0, 1.0, 1.0], "nope")
    with pytest.raises(InvalidParameters, match="2 components"):
        metrics.cramer_rao_uncertainty(hello, [1.0, 1.0, 1.0], "uncorr_bkguncrt")
    with pytest.raises(InvalidParameters, match="expected 3 parameters"):
        metrics.fisher_information(hello, [1.0])
