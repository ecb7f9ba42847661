"""HS3 generic_dist (relaxed.distributions.generic): the quadrature normalisation, CDF and
sampling against the closed forms of gaussian_dist, exponential_dist and polynomial_dist,
the checks, and its use in an unbinned fit."""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from relaxed.distributions import (
    exponential_dist,
    gaussian_dist,
    generic_dist,
    polynomial_dist,
)
from relaxed.distributions.base import _uniform
from relaxed.exceptions import InvalidArgument, InvalidDistribution, InvalidExpression
from relaxed.unbinned import Component, ExtendedModel, Parameter, events, fit

LO, HI = 0.0, 10.0


@functools.lru_cache(maxsize=1)
def _gauss():  # noqa: ANN202
    return generic_dist("exp(-0.5 * ((x - m) / s)^2)", "x")


@functools.lru_cache(maxsize=1)
def _expo():  # noqa: ANN202
    return generic_dist("exp(-c * x)", "x")


@functools.lru_cache(maxsize=4)
def _both(generic: str, closed: str):  # noqa: ANN202
    """logpdf, cdf and log M of a generic distribution and its closed form, one compiled
    function for all parameters."""
    dists = {"gauss": _gauss, "expo": _expo}
    closed_dist = {"gaussian_dist": gaussian_dist, "exponential_dist": exponential_dist}[closed]

    def evaluate(x: jax.Array, params: dict, closed_params: dict) -> tuple:
        return tuple(
            (d.logpdf(x, p, LO, HI), d.cdf(x, p, LO, HI), d.log_normalisation(p, LO, HI))
            for d, p in ((dists[generic](), params), (closed_dist, closed_params))
        )

    return jax.jit(evaluate)


def _compare(generic: str, closed: str, params: dict, closed_params: dict) -> None:
    """logpdf (far into the tails: log space), cdf and log M against the closed form."""
    x = jnp.linspace(LO, HI, 41)
    (logpdf, cdf, norm), (logpdf_c, cdf_c, norm_c) = _both(generic, closed)(
        x, params, closed_params
    )
    assert abs(float(norm) - float(norm_c)) < 1e-13
    np.testing.assert_allclose(np.asarray(logpdf), np.asarray(logpdf_c), rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(np.asarray(cdf), np.asarray(cdf_c), atol=1e-13)


def test_fields() -> None:
    dist = _gauss()
    assert dist.hs3_type == "generic_dist"
    assert dist.observable == "x" and dist.parameters == ("m", "s")
    assert dist.normalised and dist.cdf is not None


@pytest.mark.parametrize("sigma", [8.0, 1.0, 0.3, 0.1, 0.025])
def test_gaussian_against_gaussian_dist(sigma: float) -> None:
    _compare("gauss", "gaussian_dist", {"m": 3.3, "s": sigma}, {"mean": 3.3, "sigma": sigma})


@pytest.mark.parametrize("c", [-0.3, 1e-4, 0.5, 5.0, 70.0])
def test_exponential_against_exponential_dist(c: float) -> None:
    _compare("expo", "exponential_dist", {"c": c}, {"c": c})


def test_polynomial_against_polynomial_dist() -> None:
    dist = generic_dist("a0 + a1 * x + a3 * x^3 - 0.01 * x^5", "x")
    params = {"a0": 1.0, "a1": 2.0, "a3": 0.5}
    closed = {"coefficients": jnp.array([1.0, 2.0, 0.0, 0.5, 0.0, -0.01])}
    x = jnp.linspace(0.0, 3.0, 13)
    np.testing.assert_allclose(
        np.asarray(dist.logpdf(x, params, 0.0, 3.0)),
        np.asarray(polynomial_dist.logpdf(x, closed, 0.0, 3.0)),
        atol=1e-14,
    )
    # broadcasting in the bounds: the integral up to each point
    np.testing.assert_allclose(
        np.asarray(dist.log_normalisation(params, 0.0, x[1:])),
        np.asarray(polynomial_dist.log_normalisation(closed, 0.0, x[1:])),
        atol=1e-14,
    )


def test_gradients_against_the_closed_form() -> None:
    x = jnp.asarray([2.0, 3.1, 4.5])

    def generic(p: jax.Array) -> jax.Array:
        return jnp.sum(_gauss().logpdf(x, {"m": p[0], "s": p[1]}, LO, HI))

    def closed(p: jax.Array) -> jax.Array:
        return jnp.sum(gaussian_dist.logpdf(x, {"mean": p[0], "sigma": p[1]}, LO, HI))

    p = jnp.asarray([3.3, 0.9])
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.grad(generic))(p)),
        np.asarray(jax.jit(jax.grad(closed))(p)),
        atol=1e-11,
    )
    np.testing.assert_allclose(
        np.asarray(jax.jit(jax.hessian(generic))(p)),
        np.asarray(jax.jit(jax.hessian(closed))(p)),
        atol=1e-9,
    )
    # vmap over parameter points
    batch = jax.jit(jax.vmap(generic))(jnp.asarray([[3.0, 1.0], [4.0, 2.0]]))
    assert batch.shape == (2,) and np.all(np.isfinite(np.asarray(batch)))


def test_sampling_inverts_the_cdf() -> None:
    params = {"m": 3.3, "s": 0.7}
    key = jax.random.PRNGKey(7)
    x = jax.jit(_gauss().sample, static_argnums=4)(key, params, LO, HI, 4000)
    u = _uniform(key, 4000)
    assert float(jnp.max(jnp.abs(_gauss().cdf(x, params, LO, HI) - u))) < 1e-12
    assert float(jnp.min(x)) >= LO and float(jnp.max(x)) <= HI
    truncated = stats.truncnorm((LO - 3.3) / 0.7, (HI - 3.3) / 0.7, loc=3.3, scale=0.7)
    assert stats.kstest(np.asarray(x), truncated.cdf).pvalue > 1e-3


def test_outside_the_domain_and_zero_shape() -> None:
    dist = generic_dist("max(x - 1, 0)", "x")
    logp = np.asarray(dist.logpdf(jnp.asarray([-1.0, 0.5, 2.0, 11.0]), {}, LO, HI))
    assert logp[0] == -np.inf and logp[1] == -np.inf and logp[3] == -np.inf
    assert logp[2] == pytest.approx(np.log(1.0 / 40.5), abs=1e-6)  # a kink: O(h^2)
    uniform = generic_dist("2.5", "x")  # no observable: uniform
    assert uniform.parameters == ()
    assert float(uniform.logpdf(3.0, {}, LO, HI)) == pytest.approx(-np.log(10.0), abs=1e-14)


def test_check() -> None:
    _gauss().check({"m": 3.0, "s": 1.0}, LO, HI)
    with pytest.raises(InvalidDistribution, match="integral diverges over an infinite domain"):
        _gauss().check({"m": 3.0, "s": 1.0}, LO, np.inf)
    with pytest.raises(InvalidDistribution, match="needs lo < hi"):
        _gauss().check({"m": 3.0, "s": 1.0}, HI, LO)
    with pytest.raises(InvalidDistribution, match=r"generic_dist\.s: must be finite"):
        _gauss().check({"m": 3.0, "s": np.nan}, LO, HI)
    with pytest.raises(InvalidDistribution, match=r"generic_dist\.m: missing parameter"):
        _gauss().check({"s": 1.0}, LO, HI)
    with pytest.raises(InvalidDistribution, match="must be >= 0 .* it is -"):
        generic_dist("x - 5", "x").check({}, LO, HI)
    with pytest.raises(InvalidDistribution, match="is zero everywhere"):
        generic_dist("0 * x", "x").check({}, LO, HI)
    with pytest.raises(InvalidDistribution, match=r"generic_dist\.expression: the shape .* is"):
        generic_dist("log(x)", "x").check({}, LO, HI)  # -inf at x = 0
    steep = generic_dist("exp(-x * k)", "x")  # e^-1000x underflows, its log does not
    steep.check({"k": 1000.0}, 1.0, 2.0)
    exact = -1000.0 + np.log((1 - np.exp(-1000.0)) / 1000.0)
    assert float(steep.log_normalisation({"k": 1000.0}, 1.0, 2.0)) == pytest.approx(exact)
    assert float(steep.logpdf(2.0, {"k": 1000.0}, 1.0, 2.0)) == pytest.approx(
        -2000.0 - exact, rel=1e-13
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        generic_dist("ifelse(x < 3.3, 1, 2)", "x", panels=4).check({}, LO, HI)
    assert any("doubled" in str(w.message) for w in caught)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidExpression, match="position 4"):
        generic_dist("x + ", "x")
    with pytest.raises(InvalidArgument, match="panels must be a positive integer"):
        generic_dist("x", "x", panels=0)
    with pytest.raises(InvalidArgument, match="expected an expression"):
        generic_dist(3.0, "x")  # type: ignore[arg-type]


def test_fit_with_a_generic_shape_equals_the_closed_form() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(4.0, 0.5, 150), rng.exponential(1 / 0.3, 600)])
    x = x[(x >= LO) & (x <= HI)]
    pars = {
        "m": Parameter(3.8, (2.0, 6.0)),
        "s": Parameter(0.6, (0.1, 2.0)),
        "c": Parameter(0.2, (-1.0, 1.0)),
        "n_s": Parameter(100.0, (0.0, 1e4)),
        "n_b": Parameter(500.0, (0.0, 1e4)),
    }
    generic = ExtendedModel(
        "x",
        (LO, HI),
        [
            Component("sig", _gauss(), {"m": "m", "s": "s"}, "n_s"),
            Component("bkg", _expo(), {"c": "c"}, "n_b"),
        ],
        pars,
    )
    closed = ExtendedModel(
        "x",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": "m", "sigma": "s"}, "n_s"),
            Component("bkg", "exponential_dist", {"c": "c"}, "n_b"),
        ],
        pars,
    )
    a = fit(generic, events(generic, x))
    b = fit(closed, events(closed, x))
    np.testing.assert_allclose(np.asarray(a.bestfit), np.asarray(b.bestfit), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(a.uncertainties), np.asarray(b.uncertainties), rtol=1e-6)
    assert float(a.twice_nll) == pytest.approx(float(b.twice_nll), abs=1e-8)
