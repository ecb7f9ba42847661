"""neos.nets: (init, apply) pure functions, float32 under x64, exact forward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from neos.nets import Network, mlp


def _forward(params, x, activation=lambda a: np.maximum(a, 0.0)):
    """The MLP in float64 NumPy: a_l = g(a_{l-1} W_l + b_l), last layer without g."""
    layers = [params["params"][f"Dense_{i}"] for i in range(len(params["params"]))]
    a = np.asarray(x, np.float64)
    for i, layer in enumerate(layers):
        a = a @ np.asarray(layer["kernel"], np.float64) + np.asarray(layer["bias"], np.float64)
        if i < len(layers) - 1:
            a = activation(a)
    return a


@pytest.fixture(scope="module")
def x():
    return jax.random.normal(jax.random.PRNGKey(1), (6, 2), dtype=jnp.float64)


def test_default_is_the_neos_network(x):
    assert jax.config.jax_enable_x64  # relaxed is imported: x64 is on
    net = mlp()
    assert isinstance(net, Network)
    params = net.init(jax.random.PRNGKey(0), x)
    shapes = [
        (
            params["params"][f"Dense_{i}"]["kernel"].shape,
            params["params"][f"Dense_{i}"]["bias"].shape,
        )
        for i in range(3)
    ]
    assert shapes == [((2, 1024), (1024,)), ((1024, 1024), (1024,)), ((1024, 1), (1,))]
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
    y = net.apply(params, x)  # float64 input
    assert y.shape == (6,) and y.dtype == jnp.float32
    assert bool(jnp.all((y > 0) & (y < 1)))
    logits = _forward(params, x)[:, 0]
    np.testing.assert_allclose(y, 1.0 / (1.0 + np.exp(-logits)), rtol=1e-4)


def test_float32_even_with_float64_params(x):
    net = mlp(hidden=(5, 3))
    params = net.init(jax.random.PRNGKey(0), x)
    params64 = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    y32, y64 = net.apply(params, x), net.apply(params64, x)
    assert y32.dtype == y64.dtype == jnp.float32
    np.testing.assert_array_equal(y32, y64)
    grads = jax.grad(lambda p: net.apply(p, x).sum())(params)
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


def test_final_transformations_agree_with_logits(x):
    key = jax.random.PRNGKey(2)
    logits_net = mlp(hidden=(7,), out=4, final=None, activation="tanh")
    soft_net = mlp(hidden=(7,), out=4, final="softmax", activation="tanh")
    params = logits_net.init(key, x)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, params, soft_net.init(key, x)))
    logits = logits_net.apply(params, x)
    np.testing.assert_allclose(logits, _forward(params, x, np.tanh), rtol=1e-5, atol=1e-6)
    probs = soft_net.apply(params, x)
    assert probs.shape == (6, 4) and probs.dtype == jnp.float32
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
    # the softmax histogram: expected counts per bin, summing to the number of events
    assert float(probs.sum()) == pytest.approx(6.0, rel=1e-6)

    one = mlp(hidden=(7,), final=None)
    p1 = one.init(key, x)
    np.testing.assert_allclose(
        jax.nn.sigmoid(one.apply(p1, x)), mlp(hidden=(7,)).apply(p1, x), rtol=1e-6
    )


def test_deterministic_jit_and_grad(x):
    net = mlp(hidden=(4,), activation=jax.nn.softplus)
    a = net.init(jax.random.PRNGKey(0), x)
    b = net.init(jax.random.PRNGKey(0), x)
    c = net.init(jax.random.PRNGKey(1), x)
    assert jax.tree.all(jax.tree.map(jnp.array_equal, a, b))
    assert not jnp.array_equal(a["params"]["Dense_0"]["kernel"], c["params"]["Dense_0"]["kernel"])
    np.testing.assert_allclose(jax.jit(net.apply)(a, x), net.apply(a, x), rtol=1e-6)
    # a network output into a relaxed histogram, differentiated end to end
    loss = lambda p: relaxed.hist(net.apply(p, x), jnp.linspace(0, 1, 4), 0.1)[0]
    grads = jax.jit(jax.grad(loss))(a)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert any(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden": (4, 0)}, "hidden must be a sequence of positive integers"),
        ({"hidden": (4.0,)}, "hidden must be a sequence of positive integers"),
        ({"out": 0}, "out must be a positive integer"),
        ({"activation": "sine"}, "activation must be one of"),
        ({"activation": 3}, "activation must be a name or a callable"),
        ({"final": "relu"}, "final must be 'sigmoid', 'softmax' or None"),
        ({"final": "softmax"}, "out must be >= 2 with final='softmax'"),
        ({"dtype": jnp.int32}, "dtype must be a floating dtype"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp(**kwargs)
