"""Unbinned models of several observables (relaxed.unbinned.ExtendedModel with Factors):
densities against scipy, fits against iminuit, derivatives, Asimov data, sampling, hypothesis
tests (alone and combined with a binned part), HS3 documents and errors."""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import iminuit
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import relaxed
from relaxed.combined import CombinedModel
from relaxed.exceptions import InvalidData, InvalidModel
from relaxed.hs3 import HS3NotSupported, InvalidHS3, load
from relaxed.unbinned import (
    Component,
    ExtendedModel,
    Factor,
    Parameter,
    default_capacity,
    events,
    fit,
)
from relaxed.unbinned.derivatives import value_grad_hessian, value_grad_outer

M_LO, M_HI = 100.0, 160.0
T_LO, T_HI = 0.0, 10.0
SIGMA_M = 3.0
# par_order: mass, n_bkg, n_sig, slope, tau
TRUE = np.array([125.0, 400.0, 80.0, 0.04, 0.5])


def _parameters() -> dict[str, Parameter]:
    return {
        "mass": Parameter(124.0, (110.0, 140.0)),
        "n_sig": Parameter(70.0, (0.0, 1e3)),
        "n_bkg": Parameter(380.0, (0.0, 1e4)),
        "slope": Parameter(0.035, (-0.5, 0.5)),
        "tau": Parameter(0.45, (0.01, 5.0)),
    }


def _model(capacity: int | None = None, **kwargs: Any) -> ExtendedModel:
    """Signal: Gaussian(m) x exponential(t); background: exponential(m) x uniform(t)."""
    sig = (
        Factor("m", "gaussian_dist", {"mean": "mass", "sigma": SIGMA_M}),
        Factor("t", "exponential_dist", {"c": "tau"}),
    )
    bkg = (Factor("t", "uniform_dist", {}), Factor("m", "exponential_dist", {"c": "slope"}))
    return ExtendedModel(
        ("m", "t"),
        ((M_LO, M_HI), (T_LO, T_HI)),
        [Component("sig", sig, {}, "n_sig"), Component("bkg", bkg, {}, "n_bkg")],
        _parameters(),
        poi="n_sig",
        capacity=capacity,
        **kwargs,
    )


@functools.cache
def _cached(capacity: int | None = None) -> ExtendedModel:
    return _model(capacity)


def _scipy_density(pars: np.ndarray, x: np.ndarray) -> np.ndarray:
    r""":math:`\sum_p \nu_p f_p(m, t)`, written out with scipy."""
    mass, n_bkg, n_sig, slope, tau = pars
    m, t = x[..., 0], x[..., 1]
    gauss = stats.truncnorm((M_LO - mass) / SIGMA_M, (M_HI - mass) / SIGMA_M, mass, SIGMA_M)
    expo_t = stats.truncexpon(b=tau * (T_HI - T_LO), loc=T_LO, scale=1.0 / tau)
    if slope > 0:
        expo_m = stats.truncexpon(b=slope * (M_HI - M_LO), loc=M_LO, scale=1.0 / slope)
        f_m = expo_m.pdf(m)
    else:  # exp(-c m) normalised on the domain
        norm = (np.exp(-slope * M_HI) - np.exp(-slope * M_LO)) / -slope
        f_m = np.exp(-slope * m) / norm
    sig = n_sig * gauss.pdf(m) * expo_t.pdf(t)
    bkg = n_bkg * f_m / (T_HI - T_LO)
    return sig + bkg


def _scipy_nll(pars: np.ndarray, x: np.ndarray) -> float:
    return float(-np.sum(np.log(_scipy_density(pars, x))) + pars[1] + pars[2])


def _draw(seed: int = 7) -> np.ndarray:
    """Events from TRUE, drawn with numpy (independent of the model's sampler)."""
    rng = np.random.default_rng(seed)
    mass, n_bkg, n_sig, slope, tau = TRUE
    ns, nb = rng.poisson(n_sig), rng.poisson(n_bkg)
    gauss = stats.truncnorm((M_LO - mass) / SIGMA_M, (M_HI - mass) / SIGMA_M, mass, SIGMA_M)
    expo_t = stats.truncexpon(b=tau * (T_HI - T_LO), loc=T_LO, scale=1.0 / tau)
    u = rng.uniform(size=nb)  # exp(-slope m) on [M_LO, M_HI] by inversion
    a, b = np.exp(-slope * M_LO), np.exp(-slope * M_HI)
    m_bkg = -np.log(a + u * (b - a)) / slope
    sig = np.stack([gauss.rvs(ns, random_state=rng), expo_t.rvs(ns, random_state=rng)], -1)
    bkg = np.stack([m_bkg, rng.uniform(T_LO, T_HI, nb)], -1)
    return np.concatenate([sig, bkg])


def test_log_density_and_nll_equal_scipy() -> None:
    model = _cached()
    assert model.observables == ("m", "t") and model.ndim == 2
    assert model.config.par_order == ("mass", "n_bkg", "n_sig", "slope", "tau")
    x = _draw()
    for pars in (TRUE, np.array([121.0, 300.0, 20.0, -0.02, 1.3])):
        got = np.asarray(model.log_density(jnp.asarray(pars), jnp.asarray(x)))
        want = np.log(_scipy_density(pars, x))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        nll = float(model.nll(pars, events(model, x)))
        assert nll == pytest.approx(_scipy_nll(pars, x), rel=1e-12)
    # batches: the same sum in any layout
    batched = _model(batch_size=64)
    assert float(batched.nll(TRUE, events(batched, x))) == pytest.approx(
        _scipy_nll(TRUE, x), rel=1e-12
    )
    # any leading shape of x
    grid = jnp.asarray(x[:12].reshape(3, 4, 2))
    assert model.log_density(jnp.asarray(TRUE), grid).shape == (3, 4)


def test_fit_agrees_with_iminuit() -> None:
    model = _cached()
    x = _draw()
    result = fit(model, events(model, x))
    assert bool(result.converged)
    init = np.asarray(model.config.suggested_init())
    minuit = iminuit.Minuit(lambda p: _scipy_nll(np.asarray(p), x), init)
    minuit.errordef = iminuit.Minuit.LIKELIHOOD
    minuit.limits = model.config.suggested_bounds()
    minuit.strategy = 2
    minuit.tol = 1e-8
    minuit.migrad()
    assert minuit.valid
    best = np.asarray(result.bestfit)
    errors = np.asarray(minuit.errors)
    # same minimum: parameters to 1e-6 of their uncertainties and the NLL to 1e-9
    np.testing.assert_allclose(best, np.asarray(minuit.values), atol=0, rtol=1e-6)
    assert np.all(np.abs(best - np.asarray(minuit.values)) < 1e-3 * errors)
    assert _scipy_nll(best, x) <= minuit.fval + 1e-9
    np.testing.assert_allclose(np.asarray(result.uncertainties), errors, rtol=1e-3)


def test_derivatives_match_jax_hessian() -> None:
    model = _cached()
    x = _draw()
    data = events(model, x)
    pars = jnp.asarray([124.0, 390.0, 75.0, 0.03, 0.6])
    want_h = jax.hessian(model.nll)(pars, data)
    want_g = jax.grad(model.nll)(pars, data)
    for chunk in (1024, 64):  # one chunk; several (padded, keeping the trailing axis)
        v, g, h = value_grad_hessian(model, pars, data, chunk)
        assert float(v) == pytest.approx(float(model.nll(pars, data)), rel=1e-12)
        np.testing.assert_allclose(np.asarray(g), np.asarray(want_g), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.asarray(h), np.asarray(want_h), rtol=1e-10, atol=1e-10)
        v, g, f = value_grad_outer(model, pars, data, chunk)
        scores = jax.jacfwd(lambda p: model.log_density(p, jnp.asarray(x)))(pars)
        np.testing.assert_allclose(np.asarray(f), np.asarray(scores.T @ scores), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(g), np.asarray(want_g), rtol=1e-10, atol=1e-10)
    # the NLL through the flat data of relaxed.infer: the same Hessian
    capacity = default_capacity(len(x), ndim=2)
    cmodel = _cached(capacity)
    flat = cmodel.data(x)
    h_flat = jax.hessian(lambda p: -cmodel.logpdf(p, flat)[0])(pars)
    np.testing.assert_allclose(np.asarray(h_flat), np.asarray(want_h), rtol=1e-10, atol=1e-10)


def test_data_layout() -> None:
    model = _model(capacity=5)
    x = [[120.0, 1.0], [130.0, 2.0]]
    data = np.asarray(model.data(x, weights=[1.0, 0.5]))
    assert data.tolist() == [120.0, 1.0, 130.0, 2.0] + [M_LO, T_LO] * 3 + [1.0, 0.5, 0, 0, 0]
    lower, upper = model.data_limits()
    assert lower.tolist() == [M_LO, T_LO] * 5 + [0.0] * 5
    assert upper[:4].tolist() == [M_HI, T_HI, M_HI, T_HI]
    assert "event 1 of 't'" in model.describe_datum(3)
    assert "weight of event 2" in model.describe_datum(12)
    ev, aux = model._split(jnp.asarray(data))
    assert ev.x.shape == (1, 5, 2) and ev.w.shape == (1, 5) and aux.shape == (0,)
    with pytest.raises(InvalidData, match="event 0 of 'm'"):
        relaxed.infer.checks.check_data(np.where(np.arange(data.size) == 0, 99.0, data), model)


def test_asimov_data_fit_back() -> None:
    model = _model(capacity=default_capacity(500, ndim=2))
    assert model.asimov_nodes == 64 and model.capacity == 4096
    pars = jnp.asarray(TRUE)
    asimov = model.expected_data(pars)
    assert asimov.shape == (4096 * 3,)
    w = asimov[2 * 4096 : 3 * 4096]
    assert float(jnp.sum(w)) == pytest.approx(TRUE[1] + TRUE[2], rel=1e-10)
    best = relaxed.infer.mle.fit(asimov, model)
    np.testing.assert_allclose(np.asarray(best), TRUE, rtol=1e-8)
    with pytest.raises(InvalidModel, match=r"64\^2 = 4096 Asimov nodes do not fit 1000"):
        _model(capacity=1000).expected_data(pars)
    small = _model(capacity=300, asimov_nodes=16)  # 16^2 = 256 nodes
    best = relaxed.infer.mle.fit(small.expected_data(pars), small)
    np.testing.assert_allclose(np.asarray(best), TRUE, rtol=1e-2)  # a coarse grid


def test_sample_statistics() -> None:
    capacity = default_capacity(480, ndim=2)
    model = _cached(capacity)
    pars = jnp.asarray(TRUE)
    keys = jax.random.split(jax.random.PRNGKey(11), 200)
    toys = np.asarray(jax.jit(jax.vmap(lambda k: model.sample(pars, k)))(keys))
    x = toys[:, : 2 * capacity].reshape(200, capacity, 2)
    w = toys[:, 2 * capacity : 3 * capacity]
    n = w.sum(axis=1)
    total = TRUE[1] + TRUE[2]
    assert abs(n.mean() - total) < 4 * np.sqrt(total / 200)
    assert n.var() == pytest.approx(total, rel=0.3)
    events_ = x[w > 0]
    assert np.all((events_[:, 0] >= M_LO) & (events_[:, 0] <= M_HI))
    assert np.all((events_[:, 1] >= T_LO) & (events_[:, 1] <= T_HI))
    rng = np.random.default_rng(3)
    pick = events_[rng.choice(len(events_), 4000, replace=False)]
    frac = TRUE[2] / total
    mass, _, _, slope, tau = TRUE
    gauss = stats.truncnorm((M_LO - mass) / SIGMA_M, (M_HI - mass) / SIGMA_M, mass, SIGMA_M)
    expo_m = stats.truncexpon(b=slope * (M_HI - M_LO), loc=M_LO, scale=1.0 / slope)
    expo_t = stats.truncexpon(b=tau * (T_HI - T_LO), loc=T_LO, scale=1.0 / tau)
    cdf_m = lambda m: frac * gauss.cdf(m) + (1 - frac) * expo_m.cdf(m)
    cdf_t = lambda t: frac * expo_t.cdf(t) + (1 - frac) * (t - T_LO) / (T_HI - T_LO)
    assert stats.kstest(pick[:, 0], cdf_m).pvalue > 1e-3
    assert stats.kstest(pick[:, 1], cdf_t).pvalue > 1e-3
    # independence of the factors within a component: in the signal region m ~ mass the
    # t distribution is the mixture weighted by the local densities, not the marginal
    near = pick[np.abs(pick[:, 0] - mass) < 1.0]
    assert near[:, 1].mean() < pick[:, 1].mean()


def _binned() -> relaxed.Model:
    spec = {
        "channels": [
            {
                "name": "CR",
                "samples": [
                    {
                        "name": "sig",
                        "data": [2.0, 1.0],
                        "modifiers": [{"name": "n_sig", "type": "normfactor", "data": None}],
                    },
                    {"name": "bkg", "data": [50.0, 40.0], "modifiers": []},
                ],
            }
        ],
        "parameters": [{"name": "n_sig", "bounds": [[0.0, 1e3]], "inits": [70.0]}],
    }
    return relaxed.Model(spec, poi_name="n_sig")


def test_hypotest_alone_and_combined() -> None:
    x = _draw()
    model = _cached(default_capacity(len(x), ndim=2))
    data = model.data(x)
    cls = float(relaxed.infer.hypotest(150.0, data, model))
    assert 0.0 < cls < 0.05
    assert float(relaxed.infer.hypotest(80.0, data, model)) > 0.05
    combined = CombinedModel({"SR": model, "CR": _binned()}, poi_name="n_sig")
    binned_data = jnp.asarray([52.0, 41.0])
    cdata = combined.data({"SR": data, "CR": binned_data})
    cls_c = float(relaxed.infer.hypotest(150.0, cdata, combined))
    assert 0.0 < cls_c < 0.05
    # the combined NLL is the sum of the parts'
    pars = jnp.asarray(TRUE)
    order = combined.config.par_order
    assert set(order) == set(model.config.par_order)
    part = jnp.asarray([TRUE[model.config.par_order.index(n)] for n in order])
    total = float(combined.logpdf(part, cdata)[0])
    binned = _binned()
    bpars = jnp.asarray([TRUE[2]])
    want = float(model.logpdf(pars, data)[0]) + float(binned.logpdf(bpars, binned_data)[0])
    assert total == pytest.approx(want, rel=1e-12)


def test_model_errors() -> None:
    sig = Factor("m", "gaussian_dist", {"mean": "mass", "sigma": SIGMA_M})
    tfac = Factor("t", "exponential_dist", {"c": "tau"})

    def build(*factors: Factor, **kwargs: Any) -> ExtendedModel:
        return ExtendedModel(
            ("m", "t"),
            ((M_LO, M_HI), (T_LO, T_HI)),
            [Component("sig", tuple(factors), kwargs.pop("parameters", {}), "n_sig")],
            _parameters(),
            **kwargs,
        )

    with pytest.raises(InvalidModel, match=r"no factor of the observables \['t'\]"):
        build(sig)
    with pytest.raises(InvalidModel, match="two factors of the observable 'm'"):
        build(sig, tfac, sig)
    with pytest.raises(InvalidModel, match="'z', which is not an observable"):
        build(sig, Factor("z", "uniform_dist", {}))
    with pytest.raises(InvalidModel, match="takes its fields in each Factor"):
        build(sig, tfac, parameters={"mean": 1.0})
    with pytest.raises(InvalidModel, match=r"components\['sig'\]\['t'\]: exponential_dist"):
        build(sig, Factor("t", "exponential_dist", {}))
    with pytest.raises(InvalidModel, match="needs a component of Factor terms"):
        ExtendedModel(
            ("m", "t"),
            ((M_LO, M_HI), (T_LO, T_HI)),
            [Component("u", "uniform_dist", {}, "n_sig")],
            _parameters(),
        )
    with pytest.raises(InvalidModel, match="1 domains for 2 observables"):
        ExtendedModel(("m", "t"), ((M_LO, M_HI),), [], _parameters())
    with pytest.raises(InvalidModel, match="t: domain needs lo < hi"):
        ExtendedModel(("m", "t"), ((M_LO, M_HI), (1.0, 0.0)), [], _parameters())
    with pytest.raises(InvalidModel, match="name one observable twice"):
        ExtendedModel(("m", "m"), ((M_LO, M_HI), (0.0, 1.0)), [], _parameters())
    model = _cached()
    with pytest.raises(InvalidData, match=r"^t: 1 of 2 events lie outside"):
        events(model, [[120.0, 1.0], [130.0, 11.0]])
    with pytest.raises(InvalidData, match=r"^m: 1 of 2 events lie outside"):
        events(model, [[99.0, 1.0], [130.0, 1.0]])
    with pytest.raises(InvalidData, match=r"must have shape \(N, 2\)"):
        events(model, [120.0, 130.0])
    with pytest.raises(InvalidData, match=r"\(m, t\): 1 weights for 2 events"):
        events(model, [[120.0, 1.0], [130.0, 1.0]], weights=[1.0])
    with pytest.raises(InvalidData, match="do not fit the model's 5 event slots"):
        _model(capacity=5).data(np.full((6, 2), [120.0, 1.0]))


def test_one_observable_tuple_is_the_one_observable_model() -> None:
    model = ExtendedModel(
        ("x",),
        ((0.0, 1.0),),
        [Component("u", (Factor("x", "uniform_dist", {}),), {}, "n")],
        {"n": Parameter(2.0, (0.0, 10.0))},
        capacity=4,
    )
    assert model.observable == "x" and model.domain == (0.0, 1.0) and model.ndim == 1
    assert model.asimov_nodes == 512
    assert round(float(model.logpdf([2.0], model.data([0.5, 0.5]))[0]), 6) == -1.306853


# -- HS3 ----------------------------------------------------------------------------------

#: Parameter values exact in float32 (pyhs3 rounds some parameters to float32).
HS3_POINT = {"mass": 125.0, "n_sig": 80.0, "n_bkg": 400.0, "slope": 0.0390625, "tau": 0.5}


def _hs3_doc(n: int = 60) -> dict[str, Any]:
    """An extended mixture of two products over the axes m and t, in a product with a Gaussian
    constraint on ``slope`` (ROOT's model-times-constraints)."""
    x = _draw()[:n]
    return {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {"name": "sig_m", "type": "gaussian_dist", "x": "m", "mean": "mass", "sigma": 3.0},
            {"name": "sig_t", "type": "exponential_dist", "x": "t", "c": "tau"},
            {"name": "sig", "type": "product_dist", "factors": ["sig_m", "sig_t"]},
            {"name": "bkg_m", "type": "exponential_dist", "x": "m", "c": "slope"},
            {"name": "bkg_t", "type": "uniform_dist", "x": ["t"]},
            {"name": "bkg", "type": "product_dist", "factors": ["bkg_t", "bkg_m"]},
            {
                "name": "mix",
                "type": "mixture_dist",
                "summands": ["sig", "bkg"],
                "coefficients": ["n_sig", "n_bkg"],
                "extended": True,
            },
            {
                "name": "slope_c",
                "type": "gaussian_dist",
                "x": "slope",
                "mean": 0.04,
                "sigma": 0.005,
            },
            {"name": "model", "type": "product_dist", "factors": ["mix", "slope_c"]},
        ],  # fmt: skip
        "data": [
            {
                "name": "obs",
                "type": "unbinned",
                "entries": x.tolist(),
                "axes": [
                    {"name": "m", "min": M_LO, "max": M_HI},
                    {"name": "t", "min": T_LO, "max": T_HI},
                ],
            }
        ],
        "likelihoods": [{"name": "L", "distributions": ["model"], "data": ["obs"]}],
        "domains": [
            {
                "name": "D",
                "type": "product_domain",
                "axes": [
                    {"name": "mass", "min": 110.0, "max": 140.0},
                    {"name": "n_sig", "min": 0.0, "max": 1000.0},
                    {"name": "n_bkg", "min": 0.0, "max": 10000.0},
                    {"name": "slope", "min": -0.5, "max": 0.5},
                    {"name": "tau", "min": 0.01, "max": 5.0},
                ],
            }
        ],
        "parameter_points": [
            {
                "name": "start",
                "parameters": [{"name": k, "value": v} for k, v in HS3_POINT.items()],
            }
        ],
        "analyses": [
            {
                "name": "A",
                "likelihood": "L",
                "domains": ["D"],
                "init": "start",
                "parameters_of_interest": ["n_sig"],
            }
        ],
    }


def _hs3_nll(pars: dict[str, float], x: np.ndarray) -> float:
    """The document's NLL with scipy (without the constants log n! and the Gaussian's)."""
    vec = np.asarray([pars[n] for n in ("mass", "n_bkg", "n_sig", "slope", "tau")])
    return _scipy_nll(vec, x) + 0.5 * ((pars["slope"] - 0.04) / 0.005) ** 2


def test_hs3_product_over_two_axes_against_scipy_and_pyhs3() -> None:
    doc = _hs3_doc()
    ws = load(doc)
    part = ws.unbinned().parts[0]
    model = part.model
    assert model.observable == ("m", "t") and model.domain == ((M_LO, M_HI), (T_LO, T_HI))
    assert part.x.shape == (60, 2)
    assert [c.name for c in model.components] == ["sig", "bkg"]
    assert [f.observable for f in model.components[1].distribution] == ["m", "t"]  # axis order
    assert model.parameters["slope"].constraint == (0.04, 0.005)
    points = [HS3_POINT, {**HS3_POINT, "mass": 127.5, "tau": 0.75, "slope": 0.03125}]
    ours = []
    for p in points:
        pars = jnp.asarray([p[n] for n in model.config.par_order])
        ours.append(float(model.nll(pars, part.events())))
        assert ours[-1] == pytest.approx(_hs3_nll(p, part.x), rel=1e-12)
    import pyhs3  # a test requirement

    theirs = _pyhs3_log_prob(pyhs3, doc, points)
    const = -math.log(0.005) - 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(-np.asarray(ours) + const, theirs, rtol=1e-12)


def _pyhs3_log_prob(pyhs3: Any, doc: dict[str, Any], points: list[dict[str, float]]) -> Any:
    import warnings

    from pytensor.graph.traversal import explicit_graph_inputs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws = pyhs3.Workspace(**copy.deepcopy(doc))
        model = ws.model(ws.analyses[0])
        log_prob = model.log_prob
        names = {v.name for v in explicit_graph_inputs([log_prob]) if v.name}
        function = pyhs3.jaxify(log_prob)
        out = []
        for point in points:
            args = {**model.data, **model.free_params, **point}
            value = function(**{k: v for k, v in args.items() if k in names})
            out.append(float(np.asarray(value[0]).reshape(-1)[0]))
    return out


def test_hs3_model_for_relaxed_infer() -> None:
    """``load(doc).model()`` with its data: a fit that matches relaxed.unbinned.fit, and a
    hypothesis test."""
    doc = _hs3_doc(n=len(_draw()))
    ws = load(doc)
    model = ws.model()
    data = ws.data(model)
    assert model.config.poi_name == "n_sig"
    part = ws.unbinned().parts[0]
    best = relaxed.infer.mle.fit(data, model)
    want = fit(part.model, part.events()).bestfit
    order = list(model.config.par_order)
    got = [float(best[order.index(n)]) for n in part.model.config.par_order]
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-7)
    cls = float(relaxed.infer.hypotest(150.0, data, model))
    assert 0.0 < cls < 0.05


def _raises(doc: dict[str, Any], kind: type, path: str, *words: str) -> None:
    with pytest.raises(kind) as info:
        load(doc).model()
    text = str(info.value)
    assert path in text, text
    for word in words:
        assert word in text, text


def test_hs3_errors() -> None:
    doc = _hs3_doc()
    doc["distributions"][5]["factors"] = ["bkg_m"]  # no density of t
    _raises(doc, HS3NotSupported, "distributions[5]", "without a density of ['t']")
    doc = _hs3_doc()
    doc["distributions"][5]["factors"] = ["bkg_t", "bkg_m", "sig_m"]  # m twice
    _raises(doc, HS3NotSupported, "distributions[5].factors[2]", "several densities of 'm'")
    doc = _hs3_doc()
    doc["data"][0]["entries"][3][1] = 12.0
    _raises(doc, InvalidHS3, "data[0].entries[3][1]", "outside the range [0.0, 10.0] of 't'")
    doc = _hs3_doc()
    doc["data"][0]["entries"][4] = [120.0]
    _raises(doc, InvalidHS3, "data[0].entries[4]", "with 2 axes needs 2 coordinates, got 1")
    doc = _hs3_doc()
    doc["likelihoods"][0]["distributions"] = ["sig_m"]  # one observable's density, two axes
    _raises(doc, HS3NotSupported, "distributions[0].type", "axes ['m', 't']")
    doc = _hs3_doc()
    doc["distributions"][0]["sigma"] = "t"  # a conditional density
    _raises(doc, HS3NotSupported, "distributions[0].sigma", "observables ['t'] as well as 'm'")
    doc = _hs3_doc()
    doc["data"][0]["axes"][1]["name"] = "m"
    _raises(doc, InvalidHS3, "data[0].axes[1].name", "a second axis named 'm'")
