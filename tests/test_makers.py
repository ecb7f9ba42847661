"""neos.makers and neos.losses: histograms, models and losses from a network, end to end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest

import relaxed
from neos import losses, makers
from neos.data import generate_blobs
from neos.nets import mlp
from relaxed.exceptions import InvalidArgument

BINS = jnp.linspace(0.0, 1.0, 4)
HPARS = {"bins": BINS, "bandwidth": 0.27}


@pytest.fixture(scope="module")
def setup():
    data = generate_blobs(jax.random.PRNGKey(0), NMC=60)
    net = mlp(hidden=(6,), dtype=jnp.float64)
    params = net.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
    return data, net, params


def _to_list(hists):
    return {k: [float(x) for x in v] for k, v in hists.items()}


def test_kde_histograms_hold_the_scaled_yields(setup):
    data, net, params = setup
    hist_maker = makers.hists_from_nn(data, net.apply, HPARS, reflect_infinities=True)
    hists = hist_maker(params)
    assert set(hists) == set(makers.HISTOGRAM_NAMES)
    np.testing.assert_allclose(jnp.sum(hists["signal"]), 2 * 10, rtol=1e-12)
    for name in ("background", "background_up", "background_down"):
        np.testing.assert_allclose(jnp.sum(hists[name]), 10 * 10, rtol=1e-12)
    # a tiny bandwidth gives the ordinary histogram of the network output
    sharp = makers.hists_from_nn(data, net.apply, {"bins": BINS, "bandwidth": 1e-6})(params)
    out = np.asarray(net.apply(params, data()[0]))
    counts, _ = np.histogram(out, np.asarray(BINS))
    np.testing.assert_allclose(sharp["signal"], counts * 20 / 60, atol=1e-6)


def test_softmax_histograms_and_three_blobs():
    data = generate_blobs(jax.random.PRNGKey(2), blobs=3, NMC=40)
    net = mlp(hidden=(5,), out=3, final="softmax", dtype=jnp.float64)
    params = net.init(jax.random.PRNGKey(3), jnp.zeros((1, 2)))
    hists = makers.hists_from_nn(data, net.apply, method="softmax")(params)
    np.testing.assert_allclose(jnp.sum(hists["signal"]), 20.0, rtol=1e-12)
    np.testing.assert_allclose(
        hists["background"], (hists["background_up"] + hists["background_down"]) / 2
    )
    with pytest.raises(InvalidArgument, match="method must be"):
        makers.hists_from_nn(data, net.apply, method="histogram")


def _pyhf_histosys(h):
    h = _to_list(h)
    return pyhf.Model(
        {
            "channels": [
                {
                    "name": "singlechannel",
                    "samples": [
                        {
                            "name": "signal",
                            "data": h["signal"],
                            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                        },
                        {
                            "name": "background",
                            "data": h["background"],
                            "modifiers": [
                                {
                                    "name": "correlated_bkg_uncertainty",
                                    "type": "histosys",
                                    "data": {
                                        "hi_data": h["background_up"],
                                        "lo_data": h["background_down"],
                                    },
                                }
                            ],
                        },
                    ],
                }
            ]
        }
    )


def test_histosys_model_and_expected_cls_match_pyhf(setup):
    data, net, params = setup
    hist_maker = makers.hists_from_nn(data, net.apply, HPARS)
    model_maker = makers.histosys_model_from_hists(hist_maker)
    model, bkg_pars = model_maker(params)
    pmodel = _pyhf_histosys(hist_maker(params))
    pars = [0.3, 1.2]
    asimov = pmodel.expected_data(np.asarray(bkg_pars))
    np.testing.assert_allclose(model.logpdf(pars, asimov), pmodel.logpdf(pars, asimov), rtol=1e-10)
    expected = float(pyhf.infer.hypotest(1.0, asimov, pmodel))
    np.testing.assert_allclose(losses.expected_CLs(model_maker)(params, 1.0), expected, rtol=1e-6)


def test_hepdata_like_uses_half_the_up_down_difference(setup):
    data, net, params = setup
    hist_maker = makers.hists_from_nn(data, net.apply, HPARS)
    model, _ = makers.hepdata_like_from_hists(hist_maker)(params)
    h = hist_maker(params)
    sigma = np.abs(np.asarray(h["background_up"] - h["background_down"])) / 2
    pmodel = pyhf.simplemodels.uncorrelated_background(
        [float(x) for x in h["signal"]], [float(x) for x in h["background"]], sigma.tolist()
    )
    np.testing.assert_allclose(model.config.auxdata, pmodel.config.auxdata, rtol=1e-12)


def test_model_from_workspace_template(setup):
    data, net, params = setup
    hist_maker = makers.hists_from_nn(data, net.apply, HPARS)
    template = {
        "channels": [
            {
                "name": "CR",
                "samples": [
                    {
                        "name": "background",
                        "data": [200.0],
                        "modifiers": [{"name": "k_bkg", "type": "normfactor", "data": None}],
                    }
                ],
            },
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "signal",
                        "data": "signal",
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                    {
                        "name": "background",
                        "data": "background",
                        "modifiers": [
                            {"name": "k_bkg", "type": "normfactor", "data": None},
                            {
                                "name": "shape",
                                "type": "histosys",
                                "data": {"hi_data": "background_up", "lo_data": "background_down"},
                            },
                        ],
                    },
                ],
            },
        ],
        "observations": [{"name": "CR", "data": [200.0]}, {"name": "SR", "data": [0.0] * 3}],
        "measurements": [
            {
                "name": "m",
                "config": {
                    "poi": "mu",
                    "parameters": [
                        {
                            "name": "lumi",
                            "auxdata": [1.0],
                            "sigmas": [0.02],
                            "inits": [1.0],
                            "bounds": [[0.9, 1.1]],
                        }
                    ],
                },
            }
        ],
        "version": "1.0.0",
    }
    model, bkg_pars = makers.model_from_hists(template, hist_maker)(params)
    h = _to_list(hist_maker(params))
    filled = jax.tree_util.tree_map(lambda x: x, template)
    sr = filled["channels"][1]["samples"]
    sr[0]["data"] = h["signal"]
    sr[1]["data"] = h["background"]
    sr[1]["modifiers"][1]["data"] = {"hi_data": h["background_up"], "lo_data": h["background_down"]}
    pws = pyhf.Workspace(filled)
    pmodel = pws.model()
    assert model.config.par_order == pmodel.config.par_order
    pars = np.asarray(pmodel.config.suggested_init()) * 1.05
    d = pws.data(pmodel)
    np.testing.assert_allclose(model.logpdf(pars, d), pmodel.logpdf(pars, d), rtol=1e-10)
    assert float(bkg_pars[model.config.poi_index]) == 0.0
    bad = dict(template)
    bad["channels"] = [dict(template["channels"][0], samples=[{**sr[0], "data": "sgnal"}])]
    with pytest.raises(InvalidArgument, match=r"channels\[0\]\.samples\[0\]\.data.*'sgnal'"):
        makers.model_from_hists(bad, hist_maker)(params)


def _directional_check(loss, params, rtol, seed=0, eps=1e-5):
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    direction = jax.random.normal(jax.random.PRNGKey(seed), flat.shape)
    direction = direction / jnp.linalg.norm(direction)
    value, grad = jax.value_and_grad(loss)(params)
    analytic = jnp.dot(jax.flatten_util.ravel_pytree(grad)[0], direction)
    up = loss(unravel(flat + eps * direction))
    dn = loss(unravel(flat - eps * direction))
    np.testing.assert_allclose(analytic, (up - dn) / (2 * eps), rtol=rtol)
    assert np.isfinite(value)
    return value


@pytest.mark.parametrize("name", ["cls", "discovery", "poi_uncert", "bce"])
def test_loss_gradients_through_the_whole_chain(setup, name):
    import jax.flatten_util  # noqa: F401

    data, net, params = setup
    hist_maker = makers.hists_from_nn(data, net.apply, HPARS)
    model_maker = makers.histosys_model_from_hists(hist_maker)
    loss = {
        "cls": lambda p: losses.expected_CLs(model_maker)(p, 1.0),
        "discovery": lambda p: losses.discovery_significance(model_maker)(p),
        "poi_uncert": lambda p: losses.poi_uncertainty(model_maker)(p),
        "bce": lambda p: losses.bce(data, net.apply)(p),
    }[name]
    _directional_check(loss, params, rtol=1e-5)


def test_hyperparameter_gradients(setup):
    data, net, params = setup
    model_maker = makers.histosys_model_from_hists(makers.hists_from_nn(data, net.apply))
    get_cls = losses.expected_CLs(model_maker)

    def loss(h):
        return get_cls(params, 1.0, {"bins": h["bins"], "bandwidth": h["bandwidth"]})

    hp = {"bins": BINS, "bandwidth": jnp.asarray(0.27)}
    grad = jax.grad(loss)(hp)
    eps = 1e-6
    fd = (
        loss({**hp, "bandwidth": hp["bandwidth"] + eps})
        - loss({**hp, "bandwidth": hp["bandwidth"] - eps})
    ) / (2 * eps)
    np.testing.assert_allclose(grad["bandwidth"], fd, rtol=1e-5)
    step = jnp.zeros(4).at[1].set(eps)
    fd_edge = (loss({**hp, "bins": BINS + step}) - loss({**hp, "bins": BINS - step})) / (2 * eps)
    np.testing.assert_allclose(grad["bins"][1], fd_edge, rtol=1e-5)


def test_bce_and_discovery_values(setup):
    data, net, params = setup
    sig, bkg = data()[:2]
    p_sig, p_bkg = np.asarray(net.apply(params, sig)), np.asarray(net.apply(params, bkg))
    expected = -(np.log(p_sig).sum() + np.log1p(-p_bkg).sum()) / (p_sig.size + p_bkg.size)
    np.testing.assert_allclose(losses.bce(data, net.apply)(params), expected, rtol=1e-10)
    hist_maker = makers.hists_from_nn(data, net.apply, HPARS)
    model_maker = makers.histosys_model_from_hists(hist_maker)
    pmodel = _pyhf_histosys(hist_maker(params))
    init = pmodel.config.suggested_init()
    asimov = pmodel.expected_data(init)  # mu = 1, alpha = 0
    q0 = pyhf.infer.test_statistics.q0(
        0.0, asimov, pmodel, init, pmodel.config.suggested_bounds(), pmodel.config.suggested_fixed()
    )
    z0 = losses.discovery_significance(model_maker)(params)
    np.testing.assert_allclose(z0, np.sqrt(float(q0)), rtol=1e-5)
    with pytest.raises(InvalidArgument, match="unknown loss 'nll'"):
        losses.check_loss_name("nll")
    assert isinstance(model_maker(params)[0], relaxed.Model)
