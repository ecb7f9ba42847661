"""Combined likelihoods (relaxed.combined) and unbinned models through relaxed.infer: the
model protocol, equivalences with binned models, Asimov data, toys, gradients, errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import iminuit
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import relaxed
from relaxed.combined import CombinedModel
from relaxed.exceptions import InvalidData, InvalidModel
from relaxed.unbinned import Component, ExtendedModel, Parameter

LO, HI = 0.0, 10.0
MU_TEST = 3.0


class _Scaled:
    """A test Expression: ``base * name``."""

    def __init__(self, base: float, name: str) -> None:
        self.base, self.parameters = base, (name,)

    def __call__(self, values: Mapping[str, jax.Array]) -> jax.Array:
        return self.base * values[self.parameters[0]]


def _flat_counting(s: float, b: float, capacity: int = 512) -> ExtendedModel:
    """Signal and background both uniform: the unbinned likelihood of a counting experiment,
    with the background scaled by a Gaussian-constrained theta (mean 1, width 0.1)."""
    return ExtendedModel(
        "x",
        (LO, HI),
        [
            Component("sig", "uniform_dist", {}, _Scaled(s, "mu")),
            Component("bkg", "uniform_dist", {}, _Scaled(b, "lumi")),
        ],
        {
            "mu": Parameter(1.0, (0.0, 10.0)),
            "lumi": Parameter(1.0, (0.5, 1.5), constraint=(1.0, 0.1)),
        },
        poi="mu",
        capacity=capacity,
    )


def _binned_counting(s: float, b: float) -> relaxed.Model:
    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "sig",
                        "data": [s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [b],
                        "modifiers": [{"name": "lumi", "type": "lumi", "data": None}],
                    },
                ],
            }
        ],
        "parameters": [
            {
                "name": "lumi",
                "auxdata": [1.0],
                "sigmas": [0.1],
                "bounds": [[0.5, 1.5]],
                "inits": [1.0],
            }
        ],
    }
    return relaxed.Model(spec)


@functools.lru_cache(maxsize=1)
def _peak() -> ExtendedModel:
    return ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": 5.0, "sigma": 0.5}, _Scaled(10.0, "mu")),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_b"),
        ],
        {
            "mu": Parameter(1.0, (0.0, 10.0)),
            "n_b": Parameter(50.0, (0.0, 500.0)),
            "slope": Parameter(0.2, (-1.0, 1.0)),
        },
        poi="mu",
        capacity=512,
    )


@functools.lru_cache(maxsize=1)
def _control() -> relaxed.Model:
    # the background's normalisation n_b is measured in a control region too (as a factor)
    spec = {
        "channels": [
            {
                "name": "CR",
                "samples": [
                    {
                        "name": "bkg",
                        "data": [2.0, 1.0],
                        "modifiers": [{"name": "n_b", "type": "normfactor", "data": None}],
                    }
                ],
            }
        ],
        "parameters": [{"name": "n_b", "bounds": [[0.0, 500.0]], "inits": [50.0]}],
    }
    return relaxed.Model(spec, poi_name=None)


@functools.lru_cache(maxsize=1)
def _events() -> np.ndarray:
    rng = np.random.default_rng(11)
    sig = rng.normal(5.0, 0.5, 14)
    bkg = rng.exponential(1 / 0.2, 200)
    x = np.concatenate([sig, bkg])
    return x[(x >= LO) & (x <= HI)]


@functools.lru_cache(maxsize=1)
def _combined() -> CombinedModel:
    return CombinedModel({"CR": _control(), "SR": _peak()}, poi_name="mu")


def _combined_data() -> jax.Array:
    return _combined().data({"CR": [401.0, 197.0], "SR": _peak().data(_events())})


def _numpy_nll(p: np.ndarray, x: np.ndarray) -> float:
    """-log L of the combination, written independently (scipy), without constants."""
    mu, n_b, slope = p
    f_s = stats.norm.pdf(x, 5.0, 0.5) / (
        stats.norm.cdf(HI, 5.0, 0.5) - stats.norm.cdf(LO, 5.0, 0.5)
    )
    f_b = slope * np.exp(-slope * x) / (np.exp(-slope * LO) - np.exp(-slope * HI))
    unbinned = -np.sum(np.log(10.0 * mu * f_s + n_b * f_b)) + 10.0 * mu + n_b
    lam = n_b * np.array([2.0, 1.0])
    binned = -np.sum(stats.poisson.logpmf([401, 197], lam))  # counts are integers here
    return float(unbinned + binned)


def test_logpdf_is_the_sum_of_the_parts() -> None:
    model, data = _combined(), _combined_data()
    assert model.config.par_order == ("n_b", "mu", "slope")
    pars = jnp.array([48.0, 1.3, 0.21])
    parts = (
        _control().logpdf([48.0], [401.0, 197.0])[0]
        + _peak().logpdf([1.3, 48.0, 0.21], _peak().data(_events()))[0]
    )
    assert float(model.logpdf(pars, data)[0]) == pytest.approx(float(parts), rel=1e-14)


def test_fit_matches_iminuit_on_the_same_nll() -> None:
    model, data = _combined(), _combined_data()
    bestfit, twice_nll = relaxed.infer.mle.fit(data, model, return_fitted_val=True)
    x = _events()
    m = iminuit.Minuit(
        lambda mu, n_b, slope: _numpy_nll(np.array([mu, n_b, slope]), x),
        mu=1.0,
        n_b=50.0,
        slope=0.2,
    )
    m.errordef = iminuit.Minuit.LIKELIHOOD
    m.limits = [(0.0, 10.0), (0.0, 500.0), (-1.0, 1.0)]
    m.tol = 1e-8
    m.migrad()
    assert m.valid
    ours = np.asarray(bestfit)[[1, 0, 2]]
    np.testing.assert_allclose(ours, np.asarray(m.values), rtol=1e-5)
    # relaxed's minimum is at least as low as MINUIT's
    ref = _numpy_nll(ours, x)
    assert ref <= m.fval + 1e-9


def test_unbinned_counting_equals_binned_counting() -> None:
    """Identical shapes make the extended unbinned likelihood a Poisson count: fits,
    asymptotic CLs (with the quadrature Asimov data) and the expected band equal the binned
    one-bin model's."""
    s, b = 8.0, 40.0
    unbinned, binned = _flat_counting(s, b), _binned_counting(s, b)
    x = np.linspace(0.5, 9.5, 45)
    data_u = unbinned.data(x)
    data_b = jnp.array([45.0, 1.0])
    assert unbinned.config.par_order == ("lumi", "mu") and binned.config.par_order == ["lumi", "mu"]
    fit_u = relaxed.infer.mle.fit(data_u, unbinned)
    fit_b = relaxed.infer.mle.fit(data_b, binned)
    np.testing.assert_allclose(np.asarray(fit_u), np.asarray(fit_b), rtol=1e-8)
    for mu in (0.5, 1.5):
        cls_u = relaxed.infer.hypotest(mu, data_u, unbinned, return_expected_set=True)
        cls_b = relaxed.infer.hypotest(mu, data_b, binned, return_expected_set=True)
        np.testing.assert_allclose(float(cls_u[0]), float(cls_b[0]), rtol=1e-8)
        np.testing.assert_allclose(np.asarray(cls_u[1]), np.asarray(cls_b[1]), rtol=1e-8)


def test_asimov_data_fit_back_to_the_point_that_made_them() -> None:
    """The quadrature Asimov data of a peaked model: the free fit returns the parameters."""
    model = _peak()
    made_at = jnp.array([1.7, 60.0, 0.15])
    asimov = model.expected_data(made_at)
    assert float(jnp.sum(asimov[512:1024])) == pytest.approx(77.0, rel=1e-12)
    bestfit = relaxed.infer.mle.fit(asimov, model)
    np.testing.assert_allclose(np.asarray(bestfit), np.asarray(made_at), rtol=1e-9)


def test_combined_hypotest_and_upper_limit() -> None:
    """CLs of the combination against the asymptotic formulas (Cowan et al., q~_mu) applied to
    fits run here one by one, and the upper limit where CLs = 0.05."""
    model, data = _combined(), _combined_data()
    mle = relaxed.infer.mle
    cls_obs = relaxed.infer.hypotest(MU_TEST, data, model)
    free = float(mle.fit(data, model, return_fitted_val=True)[1])
    cond = float(mle.fixed_poi_fit(MU_TEST, data, model, return_fitted_val=True)[1])
    bkg = mle.fixed_poi_fit(0.0, data, model)
    asimov = model.expected_data(bkg)
    q_a = float(mle.fixed_poi_fit(MU_TEST, asimov, model, return_fitted_val=True)[1]) - float(
        mle.fit(asimov, model, return_fitted_val=True)[1]
    )
    q = cond - free
    assert 0 < q < q_a
    clsb = stats.norm.sf(np.sqrt(q))
    clb = stats.norm.sf(np.sqrt(q) - np.sqrt(q_a))
    assert float(cls_obs) == pytest.approx(clsb / clb, rel=1e-7)
    limit = relaxed.infer.upper_limit(data, model, scan=None)
    at_limit = relaxed.infer.hypotest(float(limit[0]), data, model)
    assert float(at_limit) == pytest.approx(0.05, abs=1e-6)


def test_combined_sampling_and_toys() -> None:
    model = _combined()
    pars = jnp.array([50.0, 1.0, 0.2])
    toys = relaxed.infer.calculators.sample_data(model, pars, jax.random.PRNGKey(0), 400)
    assert toys.shape == (400, 2 + 1024)
    cr = np.asarray(toys[:, :2])
    np.testing.assert_allclose(cr.mean(0), [100.0, 50.0], rtol=0.05)
    w = np.asarray(toys[:, 2 + 512 : 2 + 1024])
    n = w.sum(1)
    assert set(np.unique(w)) <= {0.0, 1.0}
    assert n.mean() == pytest.approx(60.0, rel=0.03) and n.var() == pytest.approx(60.0, rel=0.2)
    # the events follow the mixture: KS test against its CDF
    x = np.asarray(toys[:, 2 : 2 + 512])[w > 0]
    f_s = 10.0 / 60.0
    g = stats.norm(5.0, 0.5)
    cdf = lambda v: (
        f_s * (g.cdf(v) - g.cdf(LO)) / (g.cdf(HI) - g.cdf(LO))
        + (1 - f_s)
        * (  # noqa: E731
            1 - np.exp(-0.2 * v)
        )
        / (1 - np.exp(-0.2 * HI))
    )
    assert stats.kstest(x, cdf).pvalue > 1e-3
    # a split of the toys draws the same toys
    again = relaxed.infer.calculators.sample_data(
        model, pars, jax.random.PRNGKey(0), 100, first=300
    )
    np.testing.assert_array_equal(np.asarray(again), np.asarray(toys[300:]))
    # toy-based CLs on the combination agrees with the asymptotic one at this size
    data = _combined_data()
    toy = relaxed.infer.hypotest(MU_TEST, data, model, calctype="toybased", ntoys=300)
    asym = relaxed.infer.hypotest(MU_TEST, data, model)
    assert abs(float(toy) - float(asym)) < 0.05


def test_overflowing_toy_is_flagged() -> None:
    model = _flat_counting(8.0, 40.0)  # 512 slots; at mu = 100 a toy holds ~840 events
    toy = model.sample(jnp.array([1.0, 100.0]), jax.random.PRNGKey(0))
    assert np.isnan(np.asarray(toy[512:1024])).all()
    with pytest.raises(InvalidData, match="the weight of event 0 must be finite"):
        relaxed.infer.mle.fit(toy, model)
    traced = jax.jit(lambda d: relaxed.infer.mle.fit(d, model, return_result=True).converged)
    assert not bool(traced(toy))
    small = _flat_counting(8.0, 40.0, capacity=8)
    with pytest.raises(InvalidModel, match="Asimov nodes do not fit"):
        small.sample(jnp.array([1.0, 1.0]), jax.random.PRNGKey(0))


def test_gradients_in_the_events_and_the_binned_yields() -> None:
    model = _combined()
    x0 = _events()

    def cls(x: jax.Array, cr: jax.Array) -> jax.Array:
        slots = 512
        xs = jnp.concatenate([x, jnp.full(slots - x.shape[0], LO)])
        ws = jnp.concatenate([jnp.ones(x.shape[0]), jnp.zeros(slots - x.shape[0])])
        data = jnp.concatenate([cr, xs, ws])
        return relaxed.infer.hypotest(1.0, data, model)

    x = jnp.asarray(x0)
    cr = jnp.array([101.0, 47.0])
    gx, gcr = jax.grad(cls, argnums=(0, 1))(x, cr)
    eps = 1e-5
    for i in (0, 3, 20):
        up = cls(x.at[i].add(eps), cr)
        dn = cls(x.at[i].add(-eps), cr)
        assert float(gx[i]) == pytest.approx(float(up - dn) / (2 * eps), rel=1e-4, abs=1e-9)
    up = cls(x, cr.at[0].add(1e-4))
    dn = cls(x, cr.at[0].add(-1e-4))
    assert float(gcr[0]) == pytest.approx(float(up - dn) / 2e-4, rel=1e-4)


def test_errors_name_the_part() -> None:
    peak = _peak()
    with pytest.raises(InvalidModel, match="shared parameters must agree"):
        other = ExtendedModel(
            "y",
            (0.0, 1.0),
            [Component("u", "uniform_dist", {}, "n_b")],
            {"n_b": Parameter(10.0, (0.0, 500.0))},
            capacity=512,
        )
        CombinedModel({"SR": peak, "other": other})
    constrained = _flat_counting(8.0, 40.0)
    with pytest.raises(InvalidModel, match="'lumi' is constrained in part 'A' and in part 'B'"):
        CombinedModel({"A": constrained, "B": _binned_counting(8.0, 40.0)})
    with pytest.raises(InvalidModel, match="poi_name 'nope'"):
        CombinedModel({"SR": peak}, poi_name="nope")
    model = _combined()
    with pytest.raises(InvalidData, match="missing \\['SR'\\]"):
        model.data({"CR": [1.0, 2.0]})
    with pytest.raises(InvalidData, match="part 'CR'"):
        model.data({"CR": [1.0], "SR": peak.data([1.0])})
    bad = _combined_data().at[2 + 3].set(11.0)  # an event outside [0, 10]
    with pytest.raises(InvalidData, match=r"part 'SR': event 3 of 'm' must lie in the domain"):
        relaxed.infer.mle.fit(bad, model)
    with pytest.raises(InvalidData, match="do not fit the model's 512 event slots"):
        peak.data(np.full(600, 5.0))
    with pytest.raises(InvalidModel, match="capacity=N"):
        ExtendedModel(
            "x",
            (0.0, 1.0),
            [Component("u", "uniform_dist", {}, "n")],
            {"n": Parameter(1.0, (0.0, 5.0))},
        ).data([0.5])


def test_gradient_in_a_fixed_shape_parameter() -> None:
    """d CLs / d(width of the signal peak), the width a fixed parameter set through
    init_pars, against finite differences."""
    model = ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": 5.0, "sigma": "width"}, "mu"),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_b"),
        ],
        {
            "mu": Parameter(1.0, (0.0, 50.0)),
            "n_b": Parameter(50.0, (0.0, 500.0)),
            "slope": Parameter(0.2, (-1.0, 1.0)),
            "width": Parameter(0.5, (0.1, 2.0), fixed=True),
        },
        poi="mu",
        capacity=512,
    )
    data = model.data(_events()[:60])

    def cls(width: jax.Array) -> jax.Array:
        init = jnp.stack([1.0, 50.0, 0.2, width])
        return relaxed.infer.hypotest(10.0, data, model, init_pars=init)

    grad = float(jax.grad(cls)(jnp.asarray(0.5)))
    fd = float(cls(0.5 + 1e-5) - cls(0.5 - 1e-5)) / 2e-5
    assert grad == pytest.approx(fd, rel=1e-6)
    assert abs(grad) > 1e-3
