r"""Differentiable replacements for two non-differentiable steps of an analysis.

* :func:`hist` -- a histogram whose counts are smooth functions of the events, the bin edges and a
  bandwidth: each event is smeared into a Gaussian and its probability mass is counted in each bin
  (a binned kernel density estimate). As the bandwidth goes to zero it becomes ``np.histogram``.
* :func:`cut` -- a selection whose keep/reject decision is replaced by a sigmoid weight. As the
  slope goes to infinity it becomes a step function.

Both are pure functions of JAX arrays: they pass through ``jit``, ``vmap`` and ``grad``. Arguments
are checked for validity when they are concrete (a Python number, a NumPy or a committed JAX
array); under a transformation, where they are tracers, the checks are skipped.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidArgument

__all__ = ["hist", "cut"]


def _concrete(x: ArrayLike) -> np.ndarray | None:
    """``x`` as a NumPy array when its value is known at trace time, else ``None``."""
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_positive(x: ArrayLike, name: str) -> None:
    value = _concrete(x)
    if value is None:
        return
    if value.ndim != 0:
        raise InvalidArgument(f"{name} must be a scalar, got shape {value.shape}")
    if not np.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name} must be finite and > 0, got {value.item()!r}")


def _check_edges(bins: ArrayLike) -> None:
    edges = _concrete(bins)
    if edges is None:
        return
    if not np.all(np.isfinite(edges)):
        raise InvalidArgument(f"bins must be finite, got {edges.tolist()}")
    if np.any(np.diff(edges) <= 0):
        raise InvalidArgument(f"bins must be strictly increasing, got {edges.tolist()}")


_SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)


@partial(jax.jit, static_argnums=(4, 5))
def _hist(
    data: Array,
    bins: Array,
    bandwidth: ArrayLike,
    weights: Array | None,
    density: bool,
    reflect_infinities: bool,
) -> Array:
    """The computation of :func:`hist` on validated arguments, one compilation per shape."""
    dtype = jnp.result_type(data, bins, bandwidth, float)
    # the kernels in the precision of the events (float32 network outputs: float32 kernels,
    # twice as fast; the masses are then as precise as the outputs themselves), the counts
    # summed in the promoted dtype
    kernel = data.dtype if jnp.issubdtype(data.dtype, jnp.floating) else dtype
    data = data.astype(kernel)
    bins = bins.astype(kernel)
    bandwidth = jnp.asarray(bandwidth, kernel)

    # z[i, j] = (e_j - x_i) / sigma: standardised edges seen from each event, shape (N, B + 1).
    z = (bins[None, :] - data[:, None]) / bandwidth
    # One special function per entry: the smaller tail Phi(-|z|) = erfc(|z| / sqrt 2) / 2,
    # accurate however small; the larger side is 1 minus it (exact to rounding there).
    below = z < 0
    tail = 0.5 * jax.lax.erfc(jnp.where(below, -z, z) * _SQRT_HALF)
    cdf = jnp.where(below, tail, 1.0 - tail)  # Phi(z): mass below each edge
    sf = jnp.where(below, 1.0 - tail, tail)  # 1 - Phi(z): mass above each edge

    lo_cdf, hi_cdf = cdf[:, :-1], cdf[:, 1:]
    lo_sf, hi_sf = sf[:, :-1], sf[:, 1:]
    upper = (z[:, :-1] + z[:, 1:]) > 0  # bin centre above the event: use the upper tail
    if reflect_infinities:
        # First bin from -inf: mass = Phi(z_1) (lower-tail form); last bin to +inf:
        # mass = 1 - Phi(z_B) (upper-tail form).
        lo_cdf = lo_cdf.at[:, 0].set(0.0)
        hi_sf = hi_sf.at[:, -1].set(0.0)
        upper = upper.at[:, 0].set(False).at[:, -1].set(True)
        if bins.shape[0] == 2:  # a single bin from -inf to +inf holds all the mass
            upper = jnp.ones_like(upper)
            lo_sf = jnp.ones_like(lo_sf)
    mass = jnp.where(upper, lo_sf - hi_sf, hi_cdf - lo_cdf).astype(dtype)  # (N, B)

    counts = mass.sum(axis=0) if weights is None else weights.astype(dtype) @ mass
    if density:
        counts = counts / (jnp.diff(bins) * counts.sum(axis=-1, keepdims=True))
    return counts


def hist(
    data: ArrayLike,
    bins: ArrayLike,
    bandwidth: ArrayLike,
    density: bool = False,
    reflect_infinities: bool = False,
    weights: ArrayLike | None = None,
) -> Array:
    r"""Histogram of ``data`` made differentiable by a Gaussian kernel (a binned KDE).

    Each event :math:`x_i` (weight :math:`w_i`) is replaced by a normal density
    :math:`\mathcal{N}(x_i, \sigma^2)` with :math:`\sigma` the bandwidth, and bin :math:`j`,
    :math:`[e_j, e_{j+1}]`, counts the probability mass inside it:

    .. math::

        h_j = \sum_i w_i \left[\Phi\!\left(\frac{e_{j+1} - x_i}{\sigma}\right)
              - \Phi\!\left(\frac{e_j - x_i}{\sigma}\right)\right],

    with :math:`\Phi` the standard normal CDF. The derivatives are those of the formula, e.g.
    :math:`\partial h_j / \partial x_i = w_i [\phi(z_{j}) - \phi(z_{j+1})] / \sigma` with
    :math:`z_j = (e_j - x_i)/\sigma` and :math:`\phi` the standard normal density. As
    :math:`\sigma \to 0` the counts tend to those of ``np.histogram`` (for events not on an edge).

    The difference of CDFs is taken in the tail where it is accurate: for a bin above the event
    (:math:`z_j + z_{j+1} > 0`) as :math:`\Phi(-z_j) - \Phi(-z_{j+1})`, which avoids the
    cancellation of :math:`1 - 1` far in the upper tail.

    The mass of the kernels outside :math:`[e_1, e_{B+1}]` is lost from the histogram: an
    event on an outer edge keeps only half of its weight. ``reflect_infinities=True`` keeps
    the whole yield by folding that mass into the outer bins, i.e. by integrating the first
    bin from :math:`-\infty` and the last one to :math:`+\infty`:

    .. math::

        h_1 = \sum_i w_i\, \Phi\!\left(\frac{e_2 - x_i}{\sigma}\right), \qquad
        h_B = \sum_i w_i \left[1 - \Phi\!\left(\frac{e_B - x_i}{\sigma}\right)\right],
        \qquad \sum_{j=1}^{B} h_j = \sum_i w_i,

    the inner bins unchanged. As :math:`\sigma \to 0` this is the histogram of the events
    clipped to the range, ``np.histogram(np.clip(x, e[0], e[-1]), e)``. (Mirroring the kernel
    at the outer edges, the reflection method of density estimation, keeps the yield too,
    but spreads an event that sits on an outer edge into the neighbouring bin twice as much
    as folding does: for bandwidths of the order of the bin width its histograms lie
    further from the ordinary ones.)

    Args:
        data: events, shape ``(N,)``.
        bins: bin edges, shape ``(B + 1,)``, finite and strictly increasing.
        bandwidth: :math:`\sigma > 0`, a scalar.
        density: divide by the bin widths and by the total of the histogram, so that the
            histogram integrates to one over the binned range, as ``np.histogram(density=True)``
            does. With ``reflect_infinities=True`` the total is :math:`\sum_i w_i`.
        reflect_infinities: count the mass below the first edge in the first bin and the mass
            above the last edge in the last bin (integrate the first bin from :math:`-\infty`
            and the last one to :math:`+\infty`), so that :math:`\sum_j h_j = \sum_i w_i`.
        weights: event weights :math:`w_i`, shape ``(N,)``; ones when ``None``. Shape
            ``(K, N)`` gives ``K`` histograms of the same events (for example the weights of
            several selections or systematic variations) from one evaluation of the kernels.

    Returns:
        The counts :math:`h_j`, shape ``(B,)`` (``(K, B)`` for ``(K, N)`` weights), in the
        promoted dtype of the inputs. The kernel masses are computed in the dtype of ``data``
        (float32 events, e.g. a network's outputs, give float32 masses, as precise as the
        events themselves, summed in float64 when the bins or weights are float64).

    Raises:
        InvalidArgument: for arrays of the wrong shape, or, when they are concrete, for a
            bandwidth that is not > 0 or bin edges that are not finite and strictly increasing.

    Example:
        >>> import jax.numpy as jnp
        >>> data = jnp.array([0.2, 0.4, 1.5])
        >>> bins = jnp.array([0.0, 1.0, 2.0])
        >>> hist(data, bins, bandwidth=1e-3).tolist()
        [2.0, 1.0]
        >>> [round(h, 4) for h in hist(data, bins, bandwidth=0.5).tolist()]
        [1.431, 0.8517]
        >>> float(hist(data, bins, bandwidth=0.5, reflect_infinities=True).sum())
        3.0
        >>> hist(data, bins, 1e-3, weights=jnp.array([[1.0, 1.0, 1.0], [0.5, 0.0, 2.0]])).tolist()
        [[2.0, 1.0], [0.5, 2.0]]
    """
    data = jnp.asarray(data)
    bins = jnp.asarray(bins)
    if data.ndim != 1:
        raise InvalidArgument(f"data must be one-dimensional, got shape {data.shape}")
    if bins.ndim != 1 or bins.shape[0] < 2:
        raise InvalidArgument(f"bins must be a 1-D array of at least 2 edges, got {bins.shape}")
    if weights is not None:
        weights = jnp.asarray(weights)
        if weights.ndim not in (1, 2) or weights.shape[-1:] != data.shape:
            raise InvalidArgument(
                f"weights must have the shape of data {data.shape} (or (K, {data.shape[0]}) "
                f"for K histograms), got {weights.shape}"
            )
    _check_positive(bandwidth, "bandwidth")
    _check_edges(bins)

    return _hist(data, bins, bandwidth, weights, bool(density), bool(reflect_infinities))


def cut(
    data: ArrayLike,
    cut_val: ArrayLike,
    slope: ArrayLike = 1.0,
    keep: Literal["above", "below"] = "above",
) -> Array:
    r"""Soft selection weights: a sigmoid in place of the step function of a cut.

    .. math::

        w_i = \sigma\big(k\,(x_i - c)\big) \quad (\text{keep="above"}), \qquad
        w_i = \sigma\big(k\,(c - x_i)\big) \quad (\text{keep="below"}),

    with :math:`\sigma(t) = 1/(1 + e^{-t})`, :math:`c` the cut value and :math:`k > 0` the slope.
    As :math:`k \to \infty` the weights tend to the indicator of the kept region (and 1/2 on the
    cut). The weights are typically passed to :func:`hist` as ``weights``.

    Args:
        data: values :math:`x_i`, any shape.
        cut_val: the cut :math:`c`, broadcastable against ``data``.
        slope: :math:`k > 0`; the transition has a width of about :math:`4/k`.
        keep: ``"above"`` keeps :math:`x > c`, ``"below"`` keeps :math:`x < c`.

    Returns:
        Weights in :math:`(0, 1)`, of the broadcast shape of ``data`` and ``cut_val``.

    Raises:
        InvalidArgument: ``keep`` is neither ``"above"`` nor ``"below"``, or a concrete slope is
            not > 0.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([-1.0, 0.0, 1.0])
        >>> [round(w, 6) for w in cut(x, 0.0, slope=2.0).tolist()]
        [0.119203, 0.5, 0.880797]
        >>> [round(w, 6) for w in cut(x, 0.0, slope=2.0, keep="below").tolist()]
        [0.880797, 0.5, 0.119203]
    """
    if keep not in ("above", "below"):
        raise InvalidArgument(f"keep must be 'above' or 'below', got {keep!r}")
    _check_positive(slope, "slope")
    data = jnp.asarray(data)
    data = data.astype(jnp.result_type(data, float))
    distance = data - cut_val if keep == "above" else cut_val - data
    return jax.nn.sigmoid(slope * distance)
