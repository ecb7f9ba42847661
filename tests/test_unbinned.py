"""Extended unbinned fits (relaxed.unbinned): against iminuit on the same NLL, batching,
implicit derivatives in the events, and the input checks."""

from __future__ import annotations

import functools

import iminuit
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from relaxed.exceptions import FailedMinimization, InvalidData, InvalidModel, InvalidParameters
from relaxed.unbinned import Component, Events, ExtendedModel, Parameter, events, fit

LO, HI = 100.0, 160.0


def _model(batch_size: int | None = None) -> ExtendedModel:
    return ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": "mass", "sigma": "width"}, "n_sig"),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_bkg"),
        ],
        {
            "n_sig": Parameter(150.0, (0.0, 1e4)),
            "n_bkg": Parameter(900.0, (0.0, 1e5)),
            "mass": Parameter(124.0, (110.0, 140.0)),
            "width": Parameter(2.5, (0.5, 10.0)),
            "slope": Parameter(0.03, (-0.5, 0.5)),
        },
        poi="n_sig",
        batch_size=batch_size,
    )


@functools.lru_cache(maxsize=1)
def _events() -> np.ndarray:
    rng = np.random.default_rng(20261130)
    sig = rng.normal(125.0, 2.0, rng.poisson(200))
    bkg = LO + rng.exponential(1 / 0.04, rng.poisson(3000))
    x = np.concatenate([sig, bkg])
    return x[(x >= LO) & (x <= HI)]


def _numpy_nll(p: np.ndarray, x: np.ndarray) -> float:
    """The same extended NLL in numpy/scipy (par_order: mass, n_bkg, n_sig, slope, width)."""
    mass, n_bkg, n_sig, slope, width = p
    norm_s = stats.norm.cdf(HI, mass, width) - stats.norm.cdf(LO, mass, width)
    f_s = stats.norm.pdf(x, mass, width) / norm_s
    norm_b = (np.exp(-slope * LO) - np.exp(-slope * HI)) / slope
    f_b = np.exp(-slope * x) / norm_b
    return float(-np.sum(np.log(n_sig * f_s + n_bkg * f_b)) + n_sig + n_bkg)


@functools.lru_cache(maxsize=1)
def _fitted() -> tuple:
    model = _model()
    return model, fit(model, events(model, _events()))


def test_gauss_plus_exponential_agrees_with_iminuit() -> None:
    model, result = _fitted()
    x = _events()
    assert model.config.par_order == ("mass", "n_bkg", "n_sig", "slope", "width")
    # the same NLL in numpy, at the start and at relaxed's minimum
    init = np.asarray(model.config.suggested_init())
    e = events(model, x)
    assert float(model.nll(init, e)) == pytest.approx(_numpy_nll(init, x), rel=1e-12)
    m = iminuit.Minuit(lambda p: _numpy_nll(np.asarray(p), x), init, name=model.config.par_order)
    m.errordef = iminuit.Minuit.LIKELIHOOD
    m.limits = model.config.suggested_bounds()
    m.strategy = 2
    m.tol = 1e-6
    m.migrad()
    m.hesse()
    assert m.valid
    best = np.asarray(result.bestfit)
    np.testing.assert_allclose(best, np.asarray(m.values), rtol=1e-6, atol=1e-6)
    assert 0.5 * float(result.twice_nll) <= m.fval + 1e-9
    assert bool(result.converged)
    # the uncertainties: the inverse Hessian of the same NLL by central differences of the
    # numpy code (exact to ~1e-7 here), and MINUIT's HESSE without the limits (its numerical
    # second derivatives: ~1e-3)
    h = _fd_hessian(lambda p: _numpy_nll(p, x), np.asarray(m.values), 1e-3 * np.asarray(m.errors))
    sigma = np.sqrt(np.diag(np.linalg.inv(h)))
    np.testing.assert_allclose(np.asarray(result.uncertainties), sigma, rtol=1e-5)
    m.limits = (-np.inf, np.inf)
    m.hesse()
    np.testing.assert_allclose(np.asarray(result.uncertainties), np.asarray(m.errors), rtol=2e-3)


def _fd_hessian(f, x: np.ndarray, step: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * step[i], np.eye(n)[j] * step[j]
            v = f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
            h[i, j] = h[j, i] = v / (4 * step[i] * step[j])
    return h


def test_batches_give_the_same_likelihood_and_gradient() -> None:
    x = _events()
    whole, batched = _model(), _model(batch_size=256)
    e1, e2 = events(whole, x), events(batched, x)
    assert e2.x.shape[1] == 256 and e2.x.shape[0] == -(-x.size // 256)
    pars = jnp.asarray(whole.config.suggested_init()) * 1.01
    v1, g1 = whole.nll_and_grad(pars, e1)
    v2, g2 = batched.nll_and_grad(pars, e2)
    assert float(v2) == pytest.approx(float(v1), rel=1e-13)
    np.testing.assert_allclose(np.asarray(g2), np.asarray(g1), rtol=1e-11)
    _, _, h = batched.nll_grad_hessian(pars, e2)
    np.testing.assert_allclose(
        np.asarray(h), np.asarray(jax.hessian(whole.nll)(pars, e1)), rtol=1e-10
    )
    # vmapped over parameter points
    points = jnp.stack([pars, pars * 0.99, pars * 1.02])
    many = jax.vmap(batched.nll, in_axes=(0, None))(points, e2)
    assert [float(v) for v in many] == pytest.approx(
        [float(batched.nll(p, e2)) for p in points], rel=1e-13
    )


def test_weighted_events_equal_repeated_events() -> None:
    model = _model()
    x = _events()[:300]
    doubled = events(model, np.concatenate([x, x]))
    weighted = events(model, x, weights=np.full(x.size, 2.0))
    pars = jnp.asarray(model.config.suggested_init())
    assert float(model.nll(pars, weighted)) == pytest.approx(
        float(model.nll(pars, doubled)), rel=1e-13
    )


def test_fit_is_differentiable_in_the_events() -> None:
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
    x = jnp.asarray([3.1, 4.2, 4.9, 5.3, 6.0, 6.8])

    def best(xs: jnp.ndarray) -> jnp.ndarray:
        return fit(model, Events(x=xs[None, :], w=jnp.ones((1, xs.size)))).bestfit

    jac = jax.jacobian(best)(x)
    eps = 1e-6
    fd = np.stack(
        [
            (np.asarray(best(x.at[i].add(eps))) - np.asarray(best(x.at[i].add(-eps)))) / (2 * eps)
            for i in range(x.size)
        ],
        axis=1,
    )
    np.testing.assert_allclose(np.asarray(jac), fd, rtol=1e-6, atol=1e-8)
    # the Gaussian MLE (the domain cuts nothing): mean and biased standard deviation of
    # the events, and n = N; d mu / d x_i = 1/N
    b, xs = np.asarray(best(x)), np.asarray(x)
    assert b.tolist() == pytest.approx([xs.mean(), xs.size, xs.std()], rel=1e-8)
    assert np.asarray(jac)[0].tolist() == pytest.approx([1 / xs.size] * xs.size, rel=1e-8)


def test_bad_input_raises() -> None:
    model = _model()
    with pytest.raises(InvalidData, match="outside the domain"):
        events(model, [99.0, 120.0])
    with pytest.raises(InvalidData, match="negative weights"):
        events(model, [120.0, 121.0], weights=[1.0, -1.0])
    assert events(model, [120.0, 121.0], [1.0, -0.5], allow_negative_weights=True).w.shape == (1, 2)
    with pytest.raises(InvalidData, match="weights for 2 events"):
        events(model, [120.0, 121.0], weights=[1.0])
    with pytest.raises(InvalidModel, match="unknown distribution"):
        ExtendedModel("m", (0.0, 1.0), [Component("a", "gauss", {}, 1.0)], {})
    with pytest.raises(InvalidModel, match="missing \\['sigma'\\]"):
        ExtendedModel("m", (0.0, 1.0), [Component("a", "gaussian_dist", {"mean": 0.5}, 1.0)], {})
    with pytest.raises(InvalidModel, match="not declared"):
        ExtendedModel("m", (0.0, 1.0), [Component("a", "uniform_dist", {}, "n")], {})
    with pytest.raises(InvalidParameters, match="sigma"):  # a width <= 0 at the start
        ExtendedModel(
            "m",
            (0.0, 1.0),
            [Component("a", "gaussian_dist", {"mean": 0.5, "sigma": "s"}, 1.0)],
            {"s": Parameter(0.0, (-1.0, 1.0))},
        )
    with pytest.raises(InvalidParameters, match="outside bounds"):
        fit(model, events(model, _events()), init_pars=[124.0, 900.0, 150.0, 0.03, 20.0])
    with pytest.raises(FailedMinimization, match="did not converge"):
        fit(model, events(model, _events()), maxiter=1)


def test_a_far_start_reaches_the_global_minimum() -> None:
    """From a start 25 sigma away in the slope, the full Newton step projected onto the box
    lowers -log L but lands where n_sig = 0 (a different basin); the solver's sufficient
    decrease rule refuses it and the fit reaches iminuit's minimum."""
    rng = np.random.default_rng(3)
    n = 100_000
    n_sig = rng.binomial(n, 0.05)
    sig = rng.normal(125.0, 2.0, 4 * n_sig)
    sig = sig[(sig >= LO) & (sig <= HI)][:n_sig]
    u = rng.uniform(size=n - n_sig)
    bkg = LO - np.log1p(-u * (1 - np.exp(-0.04 * (HI - LO)))) / 0.04
    x = np.concatenate([sig, bkg])
    model = ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": "mass", "sigma": "width"}, "n_sig"),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_bkg"),
        ],
        {
            "n_sig": Parameter(0.04 * n, (0.0, 10.0 * n)),
            "n_bkg": Parameter(0.9 * n, (0.0, 10.0 * n)),
            "mass": Parameter(124.0, (110.0, 140.0)),
            "width": Parameter(2.5, (0.5, 10.0)),
            "slope": Parameter(0.03, (-0.5, 0.5)),
        },
    )
    result = fit(model, events(model, x))
    m = iminuit.Minuit(
        lambda p: _numpy_nll(np.asarray(p), x),
        model.config.suggested_init(),
        name=model.config.par_order,
    )
    m.errordef = iminuit.Minuit.LIKELIHOOD
    m.limits = model.config.suggested_bounds()
    m.strategy = 2
    m.tol = 1e-6
    m.migrad()
    assert m.valid and m.values["n_sig"] > 1000  # the signal is there
    best = np.asarray(result.bestfit)
    np.testing.assert_allclose(best, np.asarray(m.values), rtol=1e-5)
    assert 0.5 * float(result.twice_nll) <= m.fval + 1e-6
    assert float(result.twice_nll) == pytest.approx(2 * _numpy_nll(best, x), rel=1e-12)


def test_gaussian_constraint_term() -> None:
    """A constrained parameter adds (theta - m)^2 / (2 s^2) to -log L, and pulls the fit."""
    comps = [Component("sig", "gaussian_dist", {"mean": "mu", "sigma": 1.0}, "n")]
    bounds = {"n": Parameter(3.0, (0.0, 100.0))}
    free = ExtendedModel("x", (-10.0, 10.0), comps, {**bounds, "mu": Parameter(0.0, (-5.0, 5.0))})
    pulled = ExtendedModel(
        "x",
        (-10.0, 10.0),
        comps,
        {**bounds, "mu": Parameter(0.0, (-5.0, 5.0), constraint=(0.5, 0.2))},
    )
    x = [1.2, 0.8, 1.9]
    pars = jnp.asarray([0.3, 3.0])  # (mu, n)
    diff = float(pulled.nll(pars, events(pulled, x)) - free.nll(pars, events(free, x)))
    assert diff == pytest.approx(0.5 * ((0.3 - 0.5) / 0.2) ** 2, rel=1e-12)
    # the constrained Gaussian mean: (sum x / 1 + 0.5 / 0.2^2) / (3 + 1 / 0.2^2)
    mu_hat = float(fit(pulled, events(pulled, x)).bestfit[0])
    assert mu_hat == pytest.approx((sum(x) + 0.5 / 0.04) / (3 + 1 / 0.04), rel=1e-8)


def test_non_extended_mixture_fit_against_scipy() -> None:
    """extended=False: -sum_i log(sum_p c_p f_p(x_i) / sum_p c_p), no Poisson term; the fit
    (which then takes exact Newton steps) against Nelder-Mead on the same NLL."""
    from scipy import optimize

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(5.0, 0.5, 100), rng.uniform(0.0, 10.0, 300)])
    model = ExtendedModel(
        "x",
        (0.0, 10.0),
        [
            Component("s", "gaussian_dist", {"mean": "mu", "sigma": 0.5}, "f"),
            Component("b", "uniform_dist", {}, 1.0),
        ],
        {"mu": Parameter(5.2, (3.0, 7.0)), "f": Parameter(0.5, (0.0, 5.0))},
        extended=False,
    )
    result = fit(model, events(model, x))

    def nll(p: np.ndarray) -> float:
        mu, f = p
        g = stats.norm(mu, 0.5)
        f_s = g.pdf(x) / (g.cdf(10.0) - g.cdf(0.0))
        return float(-np.sum(np.log((f * f_s + 0.1) / (f + 1.0))))

    ref = optimize.minimize(
        nll, [5.2, 0.5], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13}
    )
    np.testing.assert_allclose(np.asarray(result.bestfit)[::-1], ref.x, rtol=1e-7)
    assert float(model.nll(result.bestfit, events(model, x))) == pytest.approx(ref.fun, rel=1e-13)
