"""One-pass derivatives of the extended unbinned NLL (relaxed.unbinned.derivatives): equal to
autodiff of ``model.nll``, weighted events, the chunk layout, derivatives in the events, and
fits with the outer-product curvature (Fisher scoring) against the exact Hessian."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relaxed.exceptions import InvalidArgument
from relaxed.unbinned import Component, Events, ExtendedModel, Parameter, events, fit
from relaxed.unbinned.derivatives import (
    chunks,
    nll_objective,
    value_grad_hessian,
    value_grad_outer,
)
from relaxed.unbinned.fit import SCORING_MAXITER

LO, HI = 100.0, 160.0


@functools.lru_cache(maxsize=1)
def _model() -> ExtendedModel:
    """Gaussian + exponential, with a Gaussian constraint on the width (par_order: mass,
    n_bkg, n_sig, slope, width); one model, so that compiled functions are reused."""
    return ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": "mass", "sigma": "width"}, "n_sig"),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_bkg"),
        ],
        {
            "n_sig": Parameter(60.0, (0.0, 1e4)),
            "n_bkg": Parameter(400.0, (0.0, 1e5)),
            "mass": Parameter(124.0, (110.0, 140.0)),
            "width": Parameter(2.5, (0.5, 10.0), constraint=(2.2, 0.5)),
            "slope": Parameter(0.03, (-0.5, 0.5)),
        },
        poi="n_sig",
    )


@functools.lru_cache(maxsize=1)
def _sample() -> tuple[np.ndarray, np.ndarray]:
    """About 500 events and positive, unequal weights."""
    rng = np.random.default_rng(7)
    sig = rng.normal(125.0, 2.0, 60)
    bkg = LO + rng.exponential(1 / 0.04, 500)
    x = np.concatenate([sig, bkg])
    x = x[(x >= LO) & (x <= HI)]
    return x, rng.uniform(0.5, 1.5, x.size)


PARS = jnp.asarray([125.3, 420.0, 55.0, 0.035, 2.1])


def _rel(a: jax.Array, b: jax.Array) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@functools.lru_cache(maxsize=1)
def _data() -> Events:
    """The weighted events, in one batch."""
    x, w = _sample()
    return events(_model(), x, weights=w)


@functools.lru_cache(maxsize=1)
def _autodiff():
    """Value, gradient and Hessian of model.nll by autodiff (one compiled function)."""
    nll = _model().nll
    return jax.jit(lambda p, d: (nll(p, d), jax.grad(nll)(p, d), jax.hessian(nll)(p, d)))


def test_one_pass_equals_autodiff_of_nll() -> None:
    """In chunks of 64 events (the last one padded) and in one batch (the fits' layout here)."""
    data = _data()
    ref_value, ref_grad, ref_hess = _autodiff()(PARS, data)
    for chunk_size in (64, 1024):
        value, grad, hess = value_grad_hessian(_model(), PARS, data, chunk_size)
        assert float(value) == pytest.approx(float(ref_value), rel=1e-12)
        assert _rel(grad, ref_grad) < 1e-10
        assert _rel(hess, ref_hess) < 1e-10
        np.testing.assert_allclose(np.asarray(hess), np.asarray(hess).T, rtol=1e-12)


def test_outer_product_curvature() -> None:
    """F = sum_i w_i grad l_i grad l_i^T + the constraint's Hessian (1 / 0.5^2 on width)."""
    model, data = _model(), _data()
    x, w = _sample()
    value, grad, outer = value_grad_outer(model, PARS, data, 128)
    per_event = jax.jit(jax.vmap(jax.grad(model.log_density), in_axes=(None, 0)))
    scores = np.asarray(per_event(PARS, jnp.asarray(x)))
    expected = np.einsum("i,ij,ik->jk", w, scores, scores)
    expected[4, 4] += 1 / 0.5**2
    assert _rel(outer, expected) < 1e-10
    ref_value, ref_grad, ref_hess = _autodiff()(PARS, data)
    assert float(value) == pytest.approx(float(ref_value), rel=1e-12)
    assert _rel(grad, ref_grad) < 1e-10
    # positive definite here, and not the Hessian (it is its expectation)
    assert np.all(np.linalg.eigvalsh(np.asarray(outer)) > 0)
    assert _rel(outer, ref_hess) > 1e-3


def test_weighted_events_equal_repeated_events() -> None:
    """Weight 2 (and weight-zero events) against each event twice, in the layout of the
    other tests (the same number of events, so the same compiled pass)."""
    model = _model()
    x = _sample()[0]
    half = x.size // 2
    twice = np.concatenate([x[:half], x[:half], x[2 * half :]])
    doubled = value_grad_hessian(model, PARS, events(model, twice), 64)
    weights = np.concatenate([np.full(half, 2.0), np.zeros(half), np.ones(x.size - 2 * half)])
    weighted = value_grad_hessian(model, PARS, events(model, twice, weights=weights), 64)
    for a, b in zip(weighted, doubled, strict=True):
        assert _rel(a, b) < 1e-12


def test_chunks_layout() -> None:
    model, data = _model(), _data()
    w = _sample()[1]
    laid_out = chunks(data, 50)
    assert laid_out.x.shape == (-(-w.size // 50), 50)
    # the padding: weight zero, events inside the domain
    assert float(jnp.sum(laid_out.w)) == pytest.approx(float(np.sum(w)), rel=1e-14)
    assert bool(jnp.all((laid_out.x >= LO) & (laid_out.x <= HI)))
    assert chunks(laid_out, 50) is laid_out  # already small enough
    assert float(model.nll(PARS, laid_out)) == pytest.approx(
        float(model.nll(PARS, data)), rel=1e-13
    )
    with pytest.raises(InvalidArgument, match="chunk_size"):
        chunks(data, 0)


def _derivatives(fn, data: Events, direction: jax.Array, u: jax.Array) -> tuple:
    """The value and the derivatives of ``fn(pars, data)`` that fits use: gradient and
    Hessian in the parameters, the mixed derivatives of the gradient in the events (forward
    along ``direction``) and in the events and weights (reverse, cotangent ``u``: the
    implicit function theorem's), and the gradient in the weights."""

    def grad_in(v: jax.Array, field: str) -> jax.Array:
        return jax.grad(fn)(PARS, data._replace(**{field: v}))

    return (
        fn(PARS, data),
        jax.grad(fn)(PARS, data),
        jax.hessian(fn)(PARS, data),
        jax.jvp(lambda v: grad_in(v, "x"), (data.x,), (direction,))[1],
        jax.vjp(lambda v: grad_in(v, "x"), data.x)[1](u)[0],
        jax.vjp(lambda v: grad_in(v, "w"), data.w)[1](u)[0],
        jax.grad(lambda v: fn(PARS, data._replace(w=v)))(data.w),
    )


def test_objective_derivatives_in_parameters_and_events() -> None:
    """nll_objective: the value and every derivative equal those of model.nll, in the
    parameters (one pass each) and in the events and weights (ordinary autodiff)."""
    model = _model()
    x, w = _sample()
    data = chunks(events(model, x[:150], weights=w[:150]), 64)
    rng = np.random.default_rng(1)
    direction, u = jnp.asarray(rng.normal(size=data.x.shape)), jnp.asarray(rng.normal(size=5))
    f = nll_objective(model)
    got = jax.jit(functools.partial(_derivatives, f))(data, direction, u)
    ref = jax.jit(functools.partial(_derivatives, model.nll))(data, direction, u)
    assert float(got[0]) == pytest.approx(float(ref[0]), rel=1e-13)
    for a, b in zip(got[1:], ref[1:], strict=True):
        assert _rel(a, b) < 1e-10
    # the outer objective: the same value and gradient, its second derivative is F
    g = nll_objective(model, "outer")
    assert _rel(jax.grad(g)(PARS, data), ref[1]) < 1e-10
    assert _rel(jax.hessian(g)(PARS, data), value_grad_outer(model, PARS, data)[2]) < 1e-12
    with pytest.raises(InvalidArgument, match="curvature"):
        nll_objective(model, "fisher")


def test_fit_scoring_then_exact_newton() -> None:
    """Fisher-scoring steps reach the minimum of the exact Newton steps that follow them in a
    traced (differentiable) fit; the uncertainties are those of the exact Hessian at the
    minimum, and the derivatives in the weights the implicit ones of the exact Hessian."""
    model, data = _model(), _data()
    scored = fit(model, data)
    assert bool(scored.converged)
    traced, pullback = jax.vjp(lambda v: fit(model, data._replace(w=v)).bestfit, data.w)
    np.testing.assert_allclose(np.asarray(scored.bestfit), np.asarray(traced), rtol=1e-8)
    best = traced
    assert float(scored.twice_nll) == pytest.approx(
        float(model.twice_nll(best, data)), rel=1e-13, abs=1e-9
    )
    h = np.asarray(_autodiff()(best, data)[2])
    sigma = np.sqrt(np.diag(np.linalg.inv(h)))
    np.testing.assert_allclose(np.asarray(scored.uncertainties), sigma, rtol=1e-7)
    # d n_sig / d w = -(H^-1 e_2)^T d_w grad(-log L) (no parameter at a bound)
    (d_n_sig,) = pullback(jnp.eye(5)[2])
    v = jnp.asarray(np.linalg.solve(h, np.eye(5)[2]))
    mixed = jax.jit(lambda v, u: jax.vjp(lambda t: jax.grad(model.nll)(best, t), u)[1](v)[0])
    expected = -np.asarray(mixed(v, data).w)
    np.testing.assert_allclose(np.asarray(d_n_sig), expected, rtol=1e-7, atol=1e-12)
    with pytest.raises(InvalidArgument, match="curvature"):
        fit(model, data, curvature="hessian")


def test_scoring_that_does_not_converge_is_finished_by_newton() -> None:
    """Six events of one Gaussian: the outer product of six scores is a poor Hessian, the
    scoring steps stop unconverged and exact Newton steps finish the fit (the sample mean
    and biased standard deviation, n = 6)."""
    model = ExtendedModel(
        "x",
        (-20.0, 30.0),
        [Component("sig", "gaussian_dist", {"mean": "mu", "sigma": "s"}, "n")],
        {
            "mu": Parameter(5.0, (0.0, 10.0)),
            "s": Parameter(1.0, (0.1, 5.0)),
            "n": Parameter(5.0, (0.0, 100.0)),
        },
    )
    xs = np.asarray([3.1, 4.2, 4.9, 5.3, 6.0, 6.8])
    result = fit(model, Events(x=jnp.asarray(xs)[None], w=jnp.ones((1, xs.size))))
    assert bool(result.converged)
    assert int(result.nit) > SCORING_MAXITER  # every scoring step, then Newton's
    assert np.asarray(result.bestfit).tolist() == pytest.approx(
        [xs.mean(), xs.size, xs.std()], rel=1e-9
    )
