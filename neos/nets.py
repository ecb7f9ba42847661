r"""Neural networks for neos, exposed as pairs of pure functions ``(init, apply)``.

A network is a :class:`Network`: ``init(rng, example_input) -> params`` builds the parameters, a
pytree of arrays, and ``apply(params, x) -> outputs`` evaluates the network. Both are pure, so
``jax.grad(lambda p: loss(apply(p, x)))`` and optax work on ``params`` directly. The modules are
built with ``flax.linen``; callers never see a module.

The networks run in float32 even when ``jax_enable_x64`` is on (as it is once :mod:`relaxed` is
imported): ``apply`` casts the inputs and the parameters to the network's dtype. Histograms and
statistics downstream can then promote the outputs to float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["Network", "ACTIVATIONS", "mlp"]

#: Activations that :func:`mlp` accepts by name.
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "leaky_relu": jax.nn.leaky_relu,
}

_FINALS = ("sigmoid", "softmax", None)


class Network(NamedTuple):
    """A network as two pure functions.

    Attributes:
        init: ``init(rng, example_input) -> params``; ``example_input`` has shape ``(N, d)``
            (only its last dimension matters).
        apply: ``apply(params, x) -> outputs`` for ``x`` of shape ``(..., d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> net = mlp(hidden=(4,))
        >>> params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
        >>> net.apply(params, jnp.zeros((3, 2))).shape
        (3,)
    """

    init: Callable[[Array, ArrayLike], Any]
    apply: Callable[[Any, ArrayLike], Array]


class _MLP(nn.Module):
    hidden: tuple[int, ...]
    out: int
    activation: Callable[[Array], Array]
    dtype: Any

    @nn.compact
    def __call__(self, x: Array) -> Array:
        for width in self.hidden:
            x = nn.Dense(width, dtype=self.dtype, param_dtype=self.dtype)(x)
            x = self.activation(x)
        return nn.Dense(self.out, dtype=self.dtype, param_dtype=self.dtype)(x)


def mlp(
    hidden: Sequence[int] = (1024, 1024),
    out: int = 1,
    activation: str | Callable[[Array], Array] = "relu",
    final: str | None = "sigmoid",
    dtype: Any = jnp.float32,
) -> Network:
    r"""A fully connected network: dense layers with an activation, then a final transformation.

    .. math::

        a_0 = x, \qquad a_{l} = g(W_l a_{l-1} + b_l) \ (l = 1..L), \qquad
        f(x) = s(W_{L+1} a_L + b_{L+1}),

    with :math:`g` the activation and :math:`s` the final transformation: the logistic sigmoid
    (outputs in :math:`(0, 1)`, one per event, to be histogrammed with
    :func:`relaxed.hist`), the softmax over ``out`` outputs (soft bin assignments: a histogram is
    the sum over events), or the identity (logits). Weights start from flax's defaults (LeCun
    normal kernels, zero biases). The default is the network of the neos paper,
    2-1024-1024-1 with ReLU and a sigmoid output.

    Args:
        hidden: widths of the hidden layers (may be empty: a linear model).
        out: number of outputs; with ``final="softmax"`` the number of bins, at least 2.
        activation: a name in :data:`ACTIVATIONS` or a function applied elementwise.
        final: ``"sigmoid"``, ``"softmax"`` or ``None`` (raw outputs).
        dtype: dtype of the parameters, of the computation and of the outputs.

    Returns:
        A :class:`Network`. ``apply(params, x)`` returns shape ``x.shape[:-1]`` when ``out == 1``
        and ``final`` is not ``"softmax"``, and ``x.shape[:-1] + (out,)`` otherwise.

    Raises:
        ValueError: naming the argument, for a bad width, ``out``, activation or ``final``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> net = mlp(hidden=(8,))
        >>> x = jnp.ones((5, 2))
        >>> params = net.init(jax.random.PRNGKey(0), x)
        >>> y = net.apply(params, x)
        >>> y.shape, y.dtype, bool(((y > 0) & (y < 1)).all())
        ((5,), dtype('float32'), True)
        >>> soft = mlp(hidden=(8,), out=4, final="softmax")
        >>> p = soft.apply(soft.init(jax.random.PRNGKey(0), x), x)
        >>> p.shape, bool(jnp.allclose(p.sum(axis=-1), 1.0))
        ((5, 4), True)
    """
    widths = tuple(hidden)
    if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValueError(f"hidden must be a sequence of positive integers, got {hidden!r}")
    if isinstance(out, bool) or not isinstance(out, int) or out <= 0:
        raise ValueError(f"out must be a positive integer, got {out!r}")
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or a callable, got {activation!r}"
            )
        act = ACTIVATIONS[activation]
    elif callable(activation):
        act = activation
    else:
        raise ValueError(f"activation must be a name or a callable, got {activation!r}")
    if final not in _FINALS:
        raise ValueError(f"final must be 'sigmoid', 'softmax' or None, got {final!r}")
    if final == "softmax" and out < 2:
        raise ValueError(f"out must be >= 2 with final='softmax' (one output per bin), got {out}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")

    module = _MLP(hidden=widths, out=out, activation=act, dtype=dtype)

    def _cast(tree: Any) -> Any:
        return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)

    def init(rng: Array, example_input: ArrayLike) -> Any:
        return module.init(rng, jnp.asarray(example_input, dtype))

    def apply(params: Any, x: ArrayLike) -> Array:
        y = module.apply(_cast(params), jnp.asarray(x, dtype))
        if final == "sigmoid":
            y = jax.nn.sigmoid(y)
        elif final == "softmax":
            y = jax.nn.softmax(y, axis=-1)
        return y[..., 0] if out == 1 and final != "softmax" else y

    # jit-compiled here so that eager calls compile once per shape; nests inside outer jit/grad.
    return Network(init=jax.jit(init), apply=jax.jit(apply))
