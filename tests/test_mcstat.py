"""Monte Carlo statistics: a ``staterror`` from the sums of squared event weights, in the soft
(KDE) model used in training and in the exported pyhf workspace."""

from __future__ import annotations

import math

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest

import relaxed
from neos import losses, makers
from neos.data import event_weights, generate_blobs
from neos.nets import mlp
from neos.train import TrainConfig, _hard_hists, hard_workspace
from relaxed.exceptions import InvalidArgument

BINS = np.array([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0])
LUMI, SIG_SCALE, BKG_SCALE = 10.0, 2.0, 10.0
_cdf = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0)))


def _score(params, events):
    """A fixed 'network': a sigmoid of x2 - x1 that spreads every blob over all three bins."""
    return jax.nn.sigmoid(0.8 * (events[:, 1] - events[:, 0]))


@pytest.fixture(scope="module")
def samples():
    return generate_blobs(jax.random.PRNGKey(5), NMC=120, dtype=jnp.float64)()


@pytest.fixture(scope="module")
def hard(samples):
    cfg = TrainConfig(bins=tuple(BINS), mcstat=True).validate()
    return _hard_hists(None, _score, samples, cfg)


@pytest.fixture
def tight_pyhf():
    """pyhf with scipy converged tightly, so that its fits match ours to 1e-8."""
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-14))
    yield
    pyhf.set_backend("numpy", "scipy")


def _folded_kernel(x, bw):
    """K_b(x_i) of the yield-keeping KDE, by the normal CDF: (N, B)."""
    cdf = _cdf((BINS[None, :] - np.asarray(x)[:, None]) / bw)
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0  # first bin from -inf, last one to +inf
    return np.diff(cdf, axis=1)


def test_event_weights_give_the_yields():
    w = np.asarray(event_weights(120, BKG_SCALE, LUMI))
    assert w.dtype == np.float64 and w.shape == (120,)
    assert w.sum() == pytest.approx(BKG_SCALE * LUMI, rel=1e-14)
    np.testing.assert_array_equal(w, np.full(120, 100.0 / 120))
    with pytest.raises(ValueError, match="n_events must be a positive integer"):
        event_weights(0, 1.0, 1.0)


def test_hard_staterror_is_the_root_of_the_sum_of_squared_weights(samples, hard):
    for name, events, scale in [("signal", samples[0], SIG_SCALE), ("background", samples[1], 10)]:
        x = np.asarray(_score(None, events))
        w = scale * LUMI / len(x)
        sumw, sumw2 = np.zeros(3), np.zeros(3)
        for xi in x:  # event by event, bin by bin
            for b in range(3):
                if BINS[b] <= xi < BINS[b + 1]:
                    sumw[b] += w
                    sumw2[b] += w * w
        assert sumw.sum() == pytest.approx(scale * LUMI, rel=1e-12)
        np.testing.assert_allclose(hard[name], sumw, rtol=1e-12)
        np.testing.assert_allclose(hard[name + "_mcstat"], np.sqrt(sumw2), rtol=1e-12)
        assert np.all(sumw > 0)  # every bin is populated: no gamma is fixed below
    assert "background_up_mcstat" not in hard


def test_soft_staterror_is_the_kde_of_squared_weights(samples):
    bw = 0.2
    hist_maker = makers.hists_from_nn(
        lambda: samples,
        _score,
        {"bins": jnp.asarray(BINS), "bandwidth": bw},
        reflect_infinities=True,
        mcstat=True,
    )
    soft = hist_maker(None)
    for name, events, scale in [("signal", samples[0], SIG_SCALE), ("background", samples[1], 10)]:
        kernel = _folded_kernel(_score(None, events), bw)
        w = np.full(len(kernel), scale * LUMI / len(kernel))
        counts = w @ kernel + makers.YIELD_FLOOR * w.sum()
        np.testing.assert_allclose(soft[name], counts, rtol=1e-12)
        sigma = np.sqrt(w**2 @ kernel)
        assert np.all(sigma < counts)  # the bound sigma <= h is not reached here
        np.testing.assert_allclose(soft[name + "_mcstat"], sigma, rtol=1e-12)
    # a narrow kernel gives the hard uncertainties
    sharp = makers.hists_from_nn(
        lambda: samples, _score, {"bins": jnp.asarray(BINS), "bandwidth": 1e-7}, mcstat=True
    )(None)
    cfg = TrainConfig(bins=tuple(BINS), mcstat=True).validate()
    hard = _hard_hists(None, _score, samples, cfg)
    for name in ("signal_mcstat", "background_mcstat"):
        np.testing.assert_allclose(sharp[name], hard[name], rtol=1e-9)


def test_three_blobs_average_the_variances():
    blobs = generate_blobs(jax.random.PRNGKey(1), blobs=3, NMC=50, dtype=jnp.float64)
    hpars = {"bins": jnp.asarray(BINS), "bandwidth": 0.3}
    h = makers.hists_from_nn(blobs, _score, hpars, mcstat=True)(None)
    up, down = blobs()[1:]
    var = [
        makers.hists_from_nn(lambda e=e: (e, e, e), _score, hpars, mcstat=True)(None)[
            "signal_mcstat"
        ]
        ** 2
        * (BKG_SCALE / SIG_SCALE) ** 2
        for e in (up, down)
    ]
    # background = (up + down) / 2, so sigma^2 = (sigma_up^2 + sigma_down^2) / 4
    np.testing.assert_allclose(h["background_mcstat"] ** 2, (var[0] + var[1]) / 4, rtol=1e-12)


def test_exported_workspace_validates_and_matches_pyhf(hard, tight_pyhf):
    spec = hard_workspace(hard, mcstat=True)
    background = spec["channels"][0]["samples"][1]
    assert background["modifiers"][1] == {
        "name": "staterror_singlechannel",
        "type": "staterror",
        "data": [float(x) for x in hard["background_mcstat"]],
    }
    assert [m["type"] for m in spec["channels"][0]["samples"][0]["modifiers"]] == ["normfactor"]
    ws = pyhf.Workspace(spec)  # validates against pyhf 0.7.6's schema
    pmodel = ws.model()
    model = relaxed.Workspace(spec).model()
    assert model.config.par_order == pmodel.config.par_order
    assert "staterror_singlechannel" in pmodel.config.par_order
    # pyhf's relative width of each gamma: sigma_b / b_b
    rel = pmodel.config.param_set("staterror_singlechannel").sigmas
    np.testing.assert_allclose(rel, hard["background_mcstat"] / hard["background"], rtol=1e-12)
    data = ws.data(pmodel)
    np.testing.assert_allclose(model.config.auxdata, pmodel.config.auxdata, rtol=1e-14)
    rng = np.random.default_rng(0)
    for _ in range(3):
        pars = np.asarray(pmodel.config.suggested_init()) + rng.uniform(-0.2, 0.2, size=5)
        np.testing.assert_allclose(model.logpdf(pars, data), pmodel.logpdf(pars, data), rtol=1e-12)
    expected = pyhf.infer.hypotest(1.0, data, pmodel, return_expected=True)
    ours = relaxed.infer.hypotest(1.0, data, model, return_expected=True)
    np.testing.assert_allclose(np.ravel(ours), np.ravel(expected), rtol=1e-8)
    # the staterror matters: without it the CLs is another number
    plain = pyhf.Workspace(hard_workspace(hard, mcstat=False))
    cls_plain = float(pyhf.infer.hypotest(1.0, plain.data(plain.model()), plain.model()))
    assert abs(cls_plain / float(expected[0]) - 1) > 1e-3


def test_empty_background_bin_fixes_its_gamma_as_pyhf():
    hists = {
        "signal": [4.0, 6.0, 12.0],
        "background": [60.0, 0.0, 10.0],
        "background_up": [63.0, 1.0, 12.0],
        "background_down": [58.0, 0.0, 9.0],
        "background_mcstat": [2.0, 0.0, 1.5],
    }
    spec = hard_workspace(hists, mcstat=True)
    pmodel = pyhf.Workspace(spec).model()
    model = relaxed.Workspace(spec).model()
    assert model.config.suggested_fixed() == pmodel.config.suggested_fixed()
    assert model.config.suggested_fixed()[3] is True  # the gamma of the empty bin
    data = pyhf.Workspace(spec).data(pmodel)
    pars = [0.3, 1.2, 0.9, 1.0, 1.1]  # with mu > 0 the empty bin has a positive expectation
    np.testing.assert_allclose(model.logpdf(pars, data), pmodel.logpdf(pars, data), rtol=1e-12)


def test_mcstat_is_an_option():
    hists = {
        "signal": jnp.array([5.0, 2.0]),
        "background": jnp.array([50.0, 20.0]),
        "background_up": jnp.array([55.0, 21.0]),
        "background_down": jnp.array([45.0, 19.0]),
    }
    plain, _ = makers.histosys_model_from_hists(lambda p, h=None: hists)(None)
    assert plain.config.par_order == ["correlated_bkg_uncertainty", "mu"]
    assert "staterror" not in str(hard_workspace(hists))
    with pytest.raises(
        InvalidArgument, match="mcstat=True needs the histogram 'background_mcstat'"
    ):
        makers.histosys_model_from_hists(lambda p, h=None: hists, mcstat=True)(None)
    with_stat = {**hists, "background_mcstat": jnp.array([5.0, 4.0])}
    model, pars = makers.hepdata_like_from_hists(lambda p, h=None: with_stat, mcstat=True)(None)
    assert model.config.par_order == ["mu", "uncorr_bkguncrt", "staterror_singlechannel"]
    assert pars.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert TrainConfig().mcstat is True
    assert TrainConfig(mcstat=False).validate().mcstat is False


def test_soft_model_gradients_with_staterror_match_finite_differences():
    data = generate_blobs(jax.random.PRNGKey(2), NMC=30, dtype=jnp.float64)
    net = mlp(hidden=(4,), dtype=jnp.float64)
    params = net.init(jax.random.PRNGKey(3), jnp.zeros((1, 2)))
    hpars = {"bins": jnp.asarray(BINS), "bandwidth": jnp.asarray(0.2)}

    hist_maker = makers.hists_from_nn(data, net.apply, hpars, reflect_infinities=True, mcstat=True)
    model_maker = makers.histosys_model_from_hists(hist_maker, mcstat=True)
    assert "staterror_singlechannel" in model_maker(params)[0].config.par_order
    get_cls = losses.expected_CLs(model_maker)
    # one compilation: the finite differences use the values of the same function
    value_and_grad = jax.jit(jax.value_and_grad(lambda p, h: get_cls(p, 1.0, h), argnums=(0, 1)))

    def loss(p, h):
        return value_and_grad(p, h)[0]

    value, (grad_p, grad_h) = value_and_grad(params, hpars)
    assert 0.0 < float(value) < 1.0
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    assert np.all(np.isfinite(jax.flatten_util.ravel_pytree((grad_p, grad_h))[0]))
    direction = jax.random.normal(jax.random.PRNGKey(4), flat.shape)
    direction = direction / jnp.linalg.norm(direction)
    eps = 1e-5
    fd = (
        loss(unravel(flat + eps * direction), hpars) - loss(unravel(flat - eps * direction), hpars)
    ) / (2 * eps)
    analytic = jnp.dot(jax.flatten_util.ravel_pytree(grad_p)[0], direction)
    assert float(fd) != 0.0
    np.testing.assert_allclose(analytic, fd, rtol=1e-5)
    eps = 1e-6
    bw = hpars["bandwidth"]
    fd_bw = (
        loss(params, {**hpars, "bandwidth": bw + eps})
        - loss(params, {**hpars, "bandwidth": bw - eps})
    ) / (2 * eps)
    np.testing.assert_allclose(grad_h["bandwidth"], fd_bw, rtol=1e-5)


def test_mcstat_gradient_is_finite_in_empty_bins():
    """A bin no kernel reaches has sigma = 0 exactly; its derivative must be 0, not inf/nan."""
    events = jnp.array([[0.1, 0.0], [0.2, 0.0], [0.25, 0.0]])
    gen = lambda: (events, events, events, events)  # noqa: E731
    predict = lambda p, x: p * x[:, 0]  # noqa: E731
    hpars = {"bins": jnp.asarray(BINS), "bandwidth": 1e-3}
    maker = makers.hists_from_nn(gen, predict, hpars, reflect_infinities=True, mcstat=True)

    def total(p):
        return jnp.sum(maker(p)["background_mcstat"] * jnp.array([1.0, 2.0, 3.0]))

    sigma = maker(1.0)["background_mcstat"]
    assert float(sigma[1]) == 0.0 and float(sigma[2]) == 0.0
    np.testing.assert_allclose(sigma[0], math.sqrt(3) * 100 / 3, rtol=1e-12)
    grad = jax.grad(total)(1.0)
    assert np.isfinite(float(grad))
    # moving the events within the first bin leaves every sigma unchanged
    assert float(grad) == pytest.approx(0.0, abs=1e-12)


def _cls_and_gradient(gen, predict, bw, mcstat):
    """The soft expected CLs of a one-parameter 'network', its derivative and a central
    finite difference of it."""
    hpars = {"bins": jnp.asarray(BINS), "bandwidth": bw}
    hist_maker = makers.hists_from_nn(gen, predict, hpars, reflect_infinities=True, mcstat=mcstat)
    get_cls = losses.expected_CLs(makers.histosys_model_from_hists(hist_maker, mcstat))
    value_and_grad = jax.jit(jax.value_and_grad(lambda p: get_cls(p, 1.0)))
    value, grad = value_and_grad(1.0)
    eps = 1e-6
    fd = (value_and_grad(1.0 + eps)[0] - value_and_grad(1.0 - eps)[0]) / (2 * eps)
    return hist_maker(1.0), float(value), float(grad), float(fd)


def test_staterror_of_a_barely_reached_bin_is_bounded_by_its_yield():
    """No background event is within 8 bandwidths of the first bin: its kernel mass there is
    ~1e-17 of an event, and sqrt(sum w^2 K) would be a relative uncertainty of ~1e8 that
    leaves gamma_1 unconstrained (the CLs derivative was nan). Bounded by h_b, as in any
    histogram of non-negative weights, it stays differentiable."""
    rng = np.random.default_rng(0)
    sig, bkg, up, down = (
        jnp.asarray(rng.uniform(lo, hi, 100))[:, None]
        for lo, hi in [(0.36, 0.7), (0.5, 0.95), (0.37, 0.9), (0.5, 0.95)]
    )
    hists, value, grad, fd = _cls_and_gradient(
        lambda: (sig, bkg, up, down), lambda p, x: jnp.clip(p * x[:, 0], 0, 1), 0.02, True
    )
    h, sigma = np.asarray(hists["background"]), np.asarray(hists["background_mcstat"])
    assert h[0] < 1e-10 and sigma[0] == h[0]  # the bound holds in the first bin
    np.testing.assert_array_less(sigma[1:], h[1:])  # and nowhere else
    assert 0.0 < value < 1.0 and np.isfinite(grad)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)
