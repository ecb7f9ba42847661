"""relaxed.ops: the binned KDE histogram and the sigmoid cut, values and gradients."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from relaxed.exceptions import InvalidArgument, RelaxedError
from relaxed.ops import cut, hist

_cdf = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0)))
_sf = np.vectorize(lambda z: 0.5 * math.erfc(z / math.sqrt(2.0)))


def _pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)


def _reference(x, edges, bw, w=None):
    """h_j = sum_i w_i [Phi(z_{j+1}) - Phi(z_j)], with erfc in float64 (tail-accurate)."""
    x, edges = np.asarray(x, float), np.asarray(edges, float)
    w = np.ones_like(x) if w is None else np.asarray(w, float)
    z = (edges[None, :] - x[:, None]) / bw
    mass = np.where(z[:, :-1] > 0, _sf(z[:, :-1]) - _sf(z[:, 1:]), _cdf(z[:, 1:]) - _cdf(z[:, :-1]))
    return w @ mass


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(7)
    x = rng.normal(0.3, 1.2, size=40)
    w = rng.uniform(0.5, 2.0, size=40)
    edges = np.array([-2.0, -0.7, 0.1, 0.5, 1.6, 3.0])
    return x, w, edges


def test_exported_from_package():
    assert relaxed.hist is hist and relaxed.cut is cut
    assert {"hist", "cut"} <= set(relaxed.__all__)


def test_values_match_the_normal_cdf_formula(sample):
    x, w, edges = sample
    for bw in (0.05, 0.3, 2.0):
        np.testing.assert_allclose(hist(x, edges, bw), _reference(x, edges, bw), rtol=1e-12)
        np.testing.assert_allclose(
            hist(x, edges, bw, weights=w), _reference(x, edges, bw, w), rtol=1e-12
        )


def test_small_bandwidth_converges_to_numpy_histogram(sample):
    x, w, edges = sample
    # no event within 1e-3 of an edge, so a 1e-5 bandwidth leaves < Phi(-100) outside its bin
    assert np.min(np.abs(x[:, None] - edges[None, :])) > 1e-3
    counts, _ = np.histogram(x, edges)
    np.testing.assert_allclose(hist(x, edges, 1e-5), counts, atol=1e-12)
    wcounts, _ = np.histogram(x, edges, weights=w)
    np.testing.assert_allclose(hist(x, edges, 1e-5, weights=w), wcounts, atol=1e-12)
    dens, _ = np.histogram(x, edges, weights=w, density=True)
    np.testing.assert_allclose(hist(x, edges, 1e-5, density=True, weights=w), dens, rtol=1e-12)


def test_density_integrates_to_one(sample):
    x, w, edges = sample
    widths = np.diff(edges)
    for reflect in (False, True):
        d = hist(x, edges, 0.8, density=True, reflect_infinities=reflect, weights=w)
        assert float(jnp.sum(d * widths)) == pytest.approx(1.0, abs=1e-13)
    # with the tails folded in, the normalisation is sum(w)
    h = hist(x, edges, 0.8, reflect_infinities=True, weights=w)
    d = hist(x, edges, 0.8, density=True, reflect_infinities=True, weights=w)
    np.testing.assert_allclose(d, h / (w.sum() * widths), rtol=1e-13)


def test_reflect_infinities_folds_the_tails_into_the_outer_bins(sample):
    x, w, edges = sample
    bw = 0.7
    plain = np.asarray(hist(x, edges, bw, weights=w))
    folded = np.asarray(hist(x, edges, bw, reflect_infinities=True, weights=w))
    below = w @ _cdf((edges[0] - x) / bw)
    above = w @ _sf((edges[-1] - x) / bw)
    np.testing.assert_allclose(folded[0], plain[0] + below, rtol=1e-12)
    np.testing.assert_allclose(folded[-1], plain[-1] + above, rtol=1e-12)
    np.testing.assert_allclose(folded[1:-1], plain[1:-1], rtol=1e-14)
    assert folded.sum() == pytest.approx(w.sum(), rel=1e-14)
    # a single bin from -inf to +inf holds every event entirely
    np.testing.assert_allclose(hist(x, edges[:2], bw, reflect_infinities=True), [x.size])


def test_far_tails_keep_relative_precision():
    # mass of N(0, 1) in [10, 11] is ~7.6e-24: a plain CDF difference would return 0
    x = jnp.array([0.0])
    for edges in ([10.0, 11.0], [-11.0, -10.0]):
        got = float(hist(x, jnp.array(edges), 1.0)[0])
        ref = float(_reference([0.0], edges, 1.0)[0])
        assert ref > 0 and got == pytest.approx(ref, rel=1e-10)
    folded = hist(x, jnp.array([-30.0, 9.0, 10.0]), 1.0, reflect_infinities=True)
    assert float(folded[-1]) == pytest.approx(float(_sf(9.0)), rel=1e-10)


def _analytic_jacobians(x, w, edges, bw):
    z = (edges[None, :] - x[:, None]) / bw  # (N, B + 1)
    phi = _pdf(z)
    d_data = (w[:, None] * (phi[:, :-1] - phi[:, 1:]) / bw).T  # (B, N)
    d_edges = np.zeros((len(edges) - 1, len(edges)))
    per_edge = w @ phi / bw  # d/de_k of sum_i w_i Phi(z_ik)
    for j in range(len(edges) - 1):
        d_edges[j, j], d_edges[j, j + 1] = -per_edge[j], per_edge[j + 1]
    zphi = w @ (z * phi) / bw
    d_bw = -(zphi[1:] - zphi[:-1])
    return d_data, d_edges, d_bw


def test_gradients_match_analytic_derivatives(sample):
    x, w, edges = sample
    bw = 0.4
    jac = jax.jit(jax.jacrev(lambda a, e, b: hist(a, e, b, weights=w), argnums=(0, 1, 2)))
    j_data, j_edges, j_bw = jac(jnp.asarray(x), jnp.asarray(edges), jnp.asarray(bw))
    a_data, a_edges, a_bw = _analytic_jacobians(x, w, edges, bw)
    np.testing.assert_allclose(j_data, a_data, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(j_edges, a_edges, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(j_bw, a_bw, rtol=1e-10, atol=1e-14)
    # d h_j / d w_i is the mass of event i in bin j
    j_w = jax.jacrev(lambda v: hist(x, edges, bw, weights=v))(jnp.asarray(w))
    np.testing.assert_allclose(j_w, np.asarray(jax.vmap(lambda xi: hist(xi[None], edges, bw))(x)).T)


def test_gradients_match_finite_differences(sample):
    x, w, edges = sample
    x, edges = jnp.asarray(x[:8]), jnp.asarray(edges)

    @jax.jit
    def loss(a, e, b):
        h = hist(a, e, b, reflect_infinities=True, weights=w[:8])
        return jnp.sum(h * jnp.arange(1.0, h.size + 1.0) ** 2)

    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(x, edges, 0.6)
    eps = 1e-6
    for k, arg in enumerate((x, edges, jnp.asarray(0.6))):
        flat = arg.reshape(-1)
        for i in range(flat.size):
            up = [x, edges, jnp.asarray(0.6)]
            down = list(up)
            up[k] = flat.at[i].add(eps).reshape(arg.shape)
            down[k] = flat.at[i].add(-eps).reshape(arg.shape)
            fd = (loss(*up) - loss(*down)) / (2 * eps)
            assert float(grads[k].reshape(-1)[i]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)


def test_jit_vmap_with_traced_bins_and_bandwidth(sample):
    x, _, edges = sample
    f = jax.jit(hist, static_argnames=("density", "reflect_infinities"))
    np.testing.assert_allclose(f(x, edges, 0.3), _reference(x, edges, 0.3), rtol=1e-12)
    bws = jnp.array([0.1, 0.5, 1.5])
    batched = jax.vmap(lambda b: hist(x, edges, b))(bws)
    for row, b in zip(batched, bws.tolist(), strict=True):
        np.testing.assert_allclose(row, _reference(x, edges, b), rtol=1e-12)


def test_dtype_follows_the_inputs():
    x32 = jnp.array([0.1, 0.7], dtype=jnp.float32)
    e32 = jnp.array([0.0, 0.5, 1.0], dtype=jnp.float32)
    assert hist(x32, e32, 0.2).dtype == jnp.float32  # a Python float bandwidth is weakly typed
    assert hist(x32, jnp.array([0.0, 0.5, 1.0]), 0.2).dtype == jnp.float64  # x64 edges promote
    assert hist([0, 1], [-1.0, 0.5, 2.0], 0.2).dtype == jnp.float64


def test_float32_events_use_float32_kernels_summed_in_float64():
    """A network's float32 outputs get float32 kernel masses (as precise as the outputs),
    summed in float64: the counts and their gradient agree with the all-float64 histogram
    to float32 precision."""
    rng = np.random.default_rng(3)
    x64 = rng.uniform(-0.2, 1.2, size=2000)
    x32 = jnp.asarray(x64, jnp.float32)
    edges = jnp.array([0.0, 0.25, 0.5, 0.75, 1.0])
    w = jnp.asarray(rng.uniform(0.5, 1.5, size=(3, 2000)))
    h32 = hist(x32, edges, 0.1, reflect_infinities=True, weights=w)
    x = jnp.asarray(np.asarray(x32, np.float64))
    h64 = hist(x, edges, 0.1, reflect_infinities=True, weights=w)
    assert h32.dtype == jnp.float64
    np.testing.assert_allclose(h32, h64, rtol=1e-6)
    np.testing.assert_allclose(h32.sum(axis=1), w.sum(axis=1), rtol=1e-6)  # yield kept
    loss = lambda x: jnp.sum(hist(x, edges, 0.1, weights=w) ** 2)  # noqa: E731
    g32 = jax.grad(loss)(x32)
    g64 = jax.grad(loss)(x)
    assert g32.dtype == jnp.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(g64))))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bandwidth": 0.0}, "bandwidth must be finite and > 0"),
        ({"bandwidth": -0.1}, "bandwidth must be finite and > 0"),
        ({"bandwidth": float("nan")}, "bandwidth must be finite and > 0"),
        ({"bandwidth": jnp.array([0.1, 0.2])}, "bandwidth must be a scalar"),
        ({"bins": [0.0, 1.0, 0.5]}, "strictly increasing"),
        ({"bins": [0.0, 1.0, 1.0]}, "strictly increasing"),
        ({"bins": [0.0, np.inf]}, "bins must be finite"),
        ({"bins": [0.0, np.nan, 1.0]}, "bins must be finite"),
        ({"bins": [0.0]}, "at least 2 edges"),
        ({"data": np.zeros((2, 2))}, "data must be one-dimensional"),
        ({"weights": [1.0, 2.0]}, "weights must have the shape of data"),
    ],
)
def test_hist_rejects_bad_arguments(kwargs, match):
    args = {"data": [0.1, 0.2, 0.3], "bins": [0.0, 0.5, 1.0], "bandwidth": 0.1} | kwargs
    with pytest.raises(InvalidArgument, match=match) as info:
        hist(**args)
    assert isinstance(info.value, RelaxedError) and isinstance(info.value, ValueError)


def test_checks_are_skipped_under_jit():
    # unordered edges cannot be detected on tracers; the call must still trace and run
    out = jax.jit(hist)(jnp.array([0.5]), jnp.array([0.0, 1.0]), 0.1)
    assert out.shape == (1,)


def test_cut_values_and_gradients():
    x = jnp.array([-2.0, -0.3, 0.0, 0.4, 3.0])
    c, k = 0.2, 3.0
    s = 1.0 / (1.0 + np.exp(-k * (np.asarray(x) - c)))
    np.testing.assert_allclose(cut(x, c, k), s, rtol=1e-14)
    np.testing.assert_allclose(cut(x, c, k, keep="below"), 1.0 - s, rtol=1e-12)
    ds = s * (1.0 - s)
    gx, gc, gk = jax.grad(lambda a, b, m: cut(a, b, m).sum(), argnums=(0, 1, 2))(x, c, k)
    np.testing.assert_allclose(gx, k * ds, rtol=1e-12)
    assert float(gc) == pytest.approx(-k * ds.sum(), rel=1e-12)
    assert float(gk) == pytest.approx(((np.asarray(x) - c) * ds).sum(), rel=1e-12)
    gxb = jax.grad(lambda a: cut(a, c, k, keep="below").sum())(x)
    np.testing.assert_allclose(gxb, -k * ds, rtol=1e-12)
    # a steep slope is the step function
    np.testing.assert_allclose(cut(x, c, 1e4), (np.asarray(x) > c).astype(float), atol=1e-12)


def test_cut_weights_a_histogram():
    x = jnp.array([0.1, 0.3, 0.8, 0.9])
    w = cut(x, 0.5, slope=1e3)
    np.testing.assert_allclose(hist(x, [0.0, 0.5, 1.0], 1e-4, weights=w), [0.0, 2.0], atol=1e-12)


def test_cut_rejects_bad_arguments():
    with pytest.raises(InvalidArgument, match="keep must be 'above' or 'below'"):
        cut(jnp.zeros(2), 0.0, keep="left")
    with pytest.raises(InvalidArgument, match="slope must be finite and > 0"):
        cut(jnp.zeros(2), 0.0, slope=-1.0)
