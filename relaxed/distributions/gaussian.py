r"""The Gaussian (normal) distribution, HS3 ``gaussian_dist`` (alias ``normal_dist``).

.. math::

    f(x\mid\mu,\sigma) = \exp\!\left(-\frac{(x-\mu)^2}{2\sigma^2}\right),\qquad
    M = \sigma\sqrt{2\pi}\,\big[\Phi(b) - \Phi(a)\big],\quad
    a = \frac{\mathrm{lo}-\mu}{\sigma},\; b = \frac{\mathrm{hi}-\mu}{\sigma},

a Gaussian truncated to the domain (the ordinary one for :math:`[-\infty, \infty]`).
:math:`\log(\Phi(b) - \Phi(a))` is computed in the tail where it is accurate
(:func:`relaxed.distributions._math.log_ndtr_diff`), so a domain 40 standard deviations from
the mean still gives finite, correct densities. Sampling is the exact inverse CDF.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"mean": 0.0, "sigma": 1.0}
    >>> [round(v, 6) for v in gaussian_dist.logpdf(jnp.array([0.0, 1.0]), params,
    ...     -jnp.inf, jnp.inf).tolist()]
    [-0.918939, -1.418939]
    >>> round(float(gaussian_dist.logpdf(40.0, params, 40.0, 41.0)), 6)  # 40 sigma out
    3.689503
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions._math import log_ndtr_diff, standardize, truncnorm_ppf
from relaxed.distributions.base import (
    Distribution,
    Params,
    _bound,
    _domain,
    _finite_normalisation,
    _inside,
    _param,
    _positive,
    _scalar,
    _uniform,
)

__all__ = ["gaussian_dist", "normal_dist"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M = \log\sigma + \tfrac12\log 2\pi + \log(\Phi(b) - \Phi(a))`."""
    mean, sigma = _param(params, "mean"), _param(params, "sigma")
    a = standardize(_bound(lo), mean, sigma)
    b = standardize(_bound(hi), mean, sigma)
    return jnp.log(sigma) + _HALF_LOG_2PI + log_ndtr_diff(a, b)


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`-\tfrac12 z^2 - \log M`, :math:`z = (x-\mu)/\sigma`."""
    x = _bound(x)
    mean, sigma = _param(params, "mean"), _param(params, "sigma")
    z = (x - mean) / sigma
    return _inside(x, _bound(lo), _bound(hi), -0.5 * z * z - _log_normalisation(params, lo, hi))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`(\Phi(z) - \Phi(a))/(\Phi(b) - \Phi(a))`, clipped to :math:`[0, 1]`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    mean, sigma = _param(params, "mean"), _param(params, "sigma")
    a, b = standardize(lo, mean, sigma), standardize(hi, mean, sigma)
    z = jnp.clip(standardize(x, mean, sigma), a, b)
    above = z > a
    zs = jnp.where(above, z, b)
    value = jnp.exp(log_ndtr_diff(a, zs) - log_ndtr_diff(a, b))
    return jnp.where(above, jnp.clip(value, 0.0, 1.0), 0.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Exact inverse-CDF sampling (the truncated normal quantile in log space)."""
    mean, sigma = _param(params, "mean"), _param(params, "sigma")
    a = standardize(_bound(lo), mean, sigma)
    b = standardize(_bound(hi), mean, sigma)
    return mean + sigma * truncnorm_ppf(_uniform(key, n), a, b)


def _check(params: Params, lo: ArrayLike, hi: ArrayLike, name: str = "gaussian_dist") -> None:
    _scalar(params, name, "mean")
    _positive(params, name, "sigma")
    _domain(name, lo, hi)
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


gaussian_dist = Distribution(
    hs3_type="gaussian_dist",
    observable="x",
    parameters=("mean", "sigma"),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""The Gaussian truncated to the domain: :math:`\\exp(-(x-\\mu)^2/2\\sigma^2)/M`."""

#: The HS3 alias ``normal_dist`` of :data:`gaussian_dist` (the same functions).
normal_dist = gaussian_dist._replace(
    hs3_type="normal_dist", check=lambda p, lo, hi: _check(p, lo, hi, "normal_dist")
)
