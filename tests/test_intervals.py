"""Upper limits against pyhf 0.7.6 (grid scan and root finding) and their implicit gradients.

pyhf runs live with ``scipy_optimizer(tolerance=1e-12)`` so that its fits reach the minima
(see tests/test_hypotest.py); its stored numbers carry the default optimizer's ~1e-5 errors.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest
from conftest import hello_world_reference

import relaxed
from relaxed.infer import intervals, upper_limit


@pytest.fixture(scope="module", autouse=True)
def tight_pyhf():
    old = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    logging.getLogger("pyhf").setLevel(logging.ERROR)
    yield
    pyhf.set_backend(*old)


def _spec(signal):
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


@pytest.fixture(scope="module")
def hello():
    model = relaxed.Model(_spec([12.0, 11.0]))
    pmodel = pyhf.simplemodels.uncorrelated_background([12.0, 11.0], [50.0, 52.0], [3.0, 7.0])
    data = np.asarray([51.0, 48.0] + pmodel.config.auxdata)
    return model, pmodel, data


def _flat(obs, exp):
    return np.asarray([obs, *exp], dtype=float)


def test_grid_scan_matches_pyhf(hello):
    model, pmodel, data = hello
    scan = np.linspace(0, 5, 21)
    obs, exp, (grid, results) = upper_limit(data, model, scan=scan, return_results=True)
    pobs, pexp, (_, presults) = pyhf.infer.intervals.upper_limits.upper_limit(
        data, pmodel, scan, return_results=True
    )
    np.testing.assert_allclose(_flat(obs, exp), _flat(pobs, pexp), rtol=1e-6)
    assert len(exp) == 5 and isinstance(obs, jax.Array)
    np.testing.assert_array_equal(grid, scan)
    assert len(results) == len(presults) == 21
    for mu, (cls, band), (pcls, pband) in zip(scan, results, presults, strict=True):
        ours, theirs = np.asarray([cls, *band]), np.asarray([pcls, *pband], dtype=float)
        if mu == 0.0:
            # At mu = 0 the tested and the background-only hypotheses coincide: CLs = 1.
            # pyhf evaluates it as 0/0 when its Asimov fit lands exactly on mu_hat = 0
            # (NaN, depending on the numpy/scipy release), so compare with the definition.
            np.testing.assert_allclose(ours, 1.0, rtol=1e-12)
            theirs = np.where(np.isnan(theirs), 1.0, theirs)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)
    # the stored (default-optimizer) numbers of pyhf's test_infer on an 11-point grid
    stored = hello_world_reference()["upper_limit_scan_linspace_0_5_11_test_infer"]
    values = np.asarray([[cls, *band] for cls, band in results])[::2]  # np.linspace(0, 5, 11)
    limits11 = [np.interp(0.05, values[::-1, i], scan[::2][::-1]) for i in range(6)]
    np.testing.assert_allclose(limits11, [stored["obs"], *stored["exp"]], rtol=1e-4)


def _limits(signal, level, rtol, data):
    model = relaxed.Model(_spec(signal))
    observed = jnp.concatenate([jnp.asarray(data[:2]), model.config.auxdata])
    obs, exp = upper_limit(observed, model, level=level, rtol=rtol)
    return jnp.stack([obs, *exp])


@pytest.fixture(scope="module")
def limits_and_jacobian(hello):
    """One compiled function: the six root-found limits and their jacobian with respect to the
    signal yields and the level, built through relaxed.Model (shared by the tests below)."""
    data = hello[2]

    def both(signal, level, rtol):
        def with_aux(s, lvl):
            value = _limits(s, lvl, rtol, data)
            return value, value

        jac, value = jax.jacrev(with_aux, argnums=(0, 1), has_aux=True)(signal, level)
        return value, jac

    return jax.jit(both)


SIGNAL = jnp.asarray([12.0, 11.0])


def test_root_finding_matches_pyhf_toms748(hello, limits_and_jacobian):
    model, pmodel, data = hello
    limits, _ = limits_and_jacobian(SIGNAL, 0.05, 1e-6)
    # bracket from 0.1, not 0: pyhf's CLs at mu = 0 can be 0/0 (see test_grid_scan_matches_pyhf)
    pobs, pexp = pyhf.infer.intervals.upper_limits.toms748_scan(
        data, pmodel, 0.1, 10.0, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(limits, _flat(pobs, pexp), rtol=1e-5)
    stored = hello_world_reference()["upper_limit_toms748_rtol1e-6_test_infer"]
    np.testing.assert_allclose(limits, [stored["obs"], *stored["exp"]], rtol=1e-4)
    # at each limit its CLs equals the level
    values = intervals._scan_values(
        limits,
        model,
        jnp.asarray(data),
        jnp.asarray(model.config.suggested_init()),
        jax.random.PRNGKey(0),
        intervals._setup(data, model, {})[3],
    )
    np.testing.assert_allclose(np.diagonal(np.asarray(values)), 0.05, rtol=1e-6)


def test_upper_limit_gradient_matches_finite_differences(limits_and_jacobian):
    _, (jac, dlevel) = limits_and_jacobian(SIGNAL, 0.05, 1e-6)
    eps = 1e-5

    def limits(signal, level=0.05):
        return np.asarray(limits_and_jacobian(signal, level, 1e-12)[0])

    fd = np.stack(
        [
            (limits(SIGNAL.at[i].add(eps)) - limits(SIGNAL.at[i].add(-eps))) / (2 * eps)
            for i in range(2)
        ],
        axis=1,
    )
    np.testing.assert_allclose(jac, fd, rtol=1e-5)
    assert np.all(np.asarray(jac) < 0)  # more signal, lower limits
    # d mu* / d level = 1 / (dCLs/dmu) at the root
    eps = 1e-6
    fd_level = (limits(SIGNAL, 0.05 + eps) - limits(SIGNAL, 0.05 - eps)) / (2 * eps)
    np.testing.assert_allclose(dlevel, fd_level, rtol=1e-5)


def test_grid_limit_gradient(hello):
    _, _, data = hello
    scan = jnp.linspace(0.0, 5.0, 21)

    def grid_obs(signal):
        m = relaxed.Model(_spec(signal))
        observed = jnp.concatenate([jnp.asarray(data[:2]), m.config.auxdata])
        return upper_limit(observed, m, scan=scan)[0]

    value_and_grad = jax.jit(jax.value_and_grad(grid_obs))
    _, g = value_and_grad(SIGNAL)
    eps = 1e-5
    fd = [
        (
            float(value_and_grad(SIGNAL.at[i].add(eps))[0])
            - float(value_and_grad(SIGNAL.at[i].add(-eps))[0])
        )
        / (2 * eps)
        for i in range(2)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-5)


def test_bad_scan_raises(hello):
    model, _, data = hello
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="scan must be a 1-d"):
        upper_limit(data, model, scan=[1.0])
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="unknown test statistic"):
        upper_limit(data, model, test_stat="bad")
