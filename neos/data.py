r"""Toy data for neos: two-dimensional Gaussian blobs for signal and background.

The toy problem of the neos paper: a signal blob, a nominal background blob, and two shifted
background blobs that play the role of the up and down variations of a systematic uncertainty
(a ``histosys``). Each blob is drawn from :math:`\mathcal{N}(\mu, I_2)` with its own mean
:math:`\mu` and the identity covariance.

:func:`generate_blobs` fixes the configuration and a key and returns a generator; calling the
generator returns the samples. :func:`make_train_test` returns two such generators built on
independent keys, one for training and one for testing.

The events are unweighted; a sample of :math:`N` events stands for an expected yield of
``scale * lumi`` events, so each event carries the weight :func:`event_weights` gives,
:math:`w_i = \text{scale}\cdot\text{lumi}/N`. The histograms and their Monte Carlo
statistical uncertainties (:mod:`neos.makers`) are sums of these weights and of their squares.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["BlobGenerator", "event_weights", "generate_blobs", "make_train_test"]

#: ``generate(rng=None) -> (signal, [background,] background_up, background_down)``.
BlobGenerator = Callable[..., tuple[Array, ...]]


def _check_mean(mean: Sequence[float], name: str) -> tuple[float, float]:
    try:
        values = tuple(float(m) for m in mean)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a sequence of 2 numbers, got {mean!r}") from err
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be a sequence of 2 finite numbers, got {mean!r}")
    return values


def generate_blobs(
    rng: Array,
    blobs: int = 4,
    NMC: int = 500,  # noqa: N803  (the name used by neos)
    sig_mean: Sequence[float] = (-1.0, 1.0),
    bup_mean: Sequence[float] = (2.5, 2.0),
    bdown_mean: Sequence[float] = (-2.5, -1.5),
    b_mean: Sequence[float] = (1.0, -1.0),
    dtype: jnp.dtype = jnp.float32,
) -> BlobGenerator:
    r"""A generator of Gaussian blobs in two dimensions, one blob per sample.

    Each blob :math:`k` is ``NMC`` points :math:`x = \mu_k + \epsilon`,
    :math:`\epsilon \sim \mathcal{N}(0, I_2)`, drawn with its own key from
    ``jax.random.split(rng, blobs)``, so the blobs are independent of each other.

    Args:
        rng: a JAX PRNG key; the same key gives the same samples.
        blobs: 4 for (signal, background, background up, background down); 3 for
            (signal, background up, background down).
        NMC: number of points per blob, > 0.
        sig_mean: mean of the signal blob.
        bup_mean: mean of the background "up" variation.
        bdown_mean: mean of the background "down" variation.
        b_mean: mean of the nominal background (used when ``blobs=4``).
        dtype: floating dtype of the samples (float32 by default, whatever ``jax_enable_x64``).

    Returns:
        ``generate(rng=None)``: returns the tuple of ``blobs`` arrays of shape ``(NMC, 2)``.
        Without an argument it draws from the key given here (the same samples every call);
        given a key it draws fresh samples from that key instead. It can be jit-compiled.

    Raises:
        ValueError: naming the argument, for ``blobs`` not in {3, 4}, a non-positive or
            non-integer ``NMC``, or a mean that is not 2 finite numbers.

    Example:
        >>> import jax
        >>> generate = generate_blobs(jax.random.PRNGKey(0), blobs=4, NMC=100)
        >>> sig, bkg, bup, bdown = generate()
        >>> sig.shape, sig.dtype
        ((100, 2), dtype('float32'))
        >>> bool((generate()[0] == sig).all())  # the same key gives the same samples
        True
    """
    if isinstance(blobs, bool) or blobs not in (3, 4):
        raise ValueError(f"blobs must be 3 or 4, got {blobs!r}")
    try:
        n = operator.index(NMC)
    except TypeError:
        n = 0
    if isinstance(NMC, bool) or n <= 0:
        raise ValueError(f"NMC must be a positive integer, got {NMC!r}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    means = [_check_mean(sig_mean, "sig_mean")]
    if blobs == 4:
        means.append(_check_mean(b_mean, "b_mean"))
    means += [_check_mean(bup_mean, "bup_mean"), _check_mean(bdown_mean, "bdown_mean")]
    mu = jnp.asarray(means, dtype=dtype)  # (blobs, 2)
    default_rng = rng

    def generate(rng: Array | None = None) -> tuple[Array, ...]:
        keys = jax.random.split(default_rng if rng is None else rng, blobs)
        noise = jax.vmap(lambda k: jax.random.normal(k, (n, 2), dtype=dtype))(keys)
        samples = mu[:, None, :] + noise  # (blobs, NMC, 2)
        return tuple(samples[k] for k in range(blobs))

    return generate


def make_train_test(rng: Array, **kwargs) -> tuple[BlobGenerator, BlobGenerator]:
    """Two blob generators on independent keys: one for training, one for testing.

    The key is split in two, ``train_key, test_key = jax.random.split(rng)``, and each half is
    passed to :func:`generate_blobs` with the same configuration ``kwargs``.

    Args:
        rng: a JAX PRNG key.
        **kwargs: arguments of :func:`generate_blobs` (``blobs``, ``NMC``, the means, ``dtype``).

    Returns:
        ``(train_generate, test_generate)``.

    Example:
        >>> import jax
        >>> train, test = make_train_test(jax.random.PRNGKey(1), blobs=3, NMC=50)
        >>> [x.shape for x in train()]
        [(50, 2), (50, 2), (50, 2)]
        >>> bool((train()[0] == test()[0]).any())  # independent samples
        False
    """
    train_key, test_key = jax.random.split(rng)
    return generate_blobs(train_key, **kwargs), generate_blobs(test_key, **kwargs)


def event_weights(
    n_events: int, scale: float, lumi: float, dtype: jnp.dtype | None = None
) -> Array:
    r"""Per-event weights of an unweighted sample that stands for ``scale * lumi`` events.

    .. math:: w_i = \frac{\text{scale}\cdot\text{lumi}}{N}, \qquad
        \sum_{i=1}^{N} w_i = \text{scale}\cdot\text{lumi},

    so that a histogram :math:`h_b = \sum_i w_i [x_i \in b]` holds the expected yield and
    :math:`\sigma_b = \sqrt{\sum_i w_i^2 [x_i \in b]} = w\sqrt{n_b}` is its Monte Carlo
    statistical uncertainty (:math:`n_b` events in bin :math:`b`).

    Args:
        n_events: :math:`N > 0`, the number of events of the sample.
        scale: the sample's yield per unit of luminosity (``sig_scale``, ``bkg_scale``).
        lumi: the luminosity.
        dtype: of the weights; the default floating dtype (float64 with ``jax_enable_x64``)
            when ``None``.

    Returns:
        The weights, shape ``(N,)``.

    Raises:
        ValueError: ``n_events`` is not a positive integer.

    Example:
        >>> w = event_weights(4, scale=2.0, lumi=10.0)
        >>> w.tolist(), float(w.sum())
        ([5.0, 5.0, 5.0, 5.0], 20.0)
    """
    try:
        n = operator.index(n_events)
    except TypeError:
        n = 0
    if isinstance(n_events, bool) or n <= 0:
        raise ValueError(f"n_events must be a positive integer, got {n_events!r}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    return jnp.full((n,), scale * lumi / n, dtype=dtype)
