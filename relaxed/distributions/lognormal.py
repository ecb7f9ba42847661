r"""The log-normal distribution, HS3 ``lognormal_dist``.

.. math::

    f(x\mid\mu,\sigma) = \frac{1}{x}\exp\!\left(-\frac{(\ln x-\mu)^2}{2\sigma^2}\right),\qquad
    M = \sigma\sqrt{2\pi}\,\big[\Phi(b) - \Phi(a)\big],\quad
    a = \frac{\ln\mathrm{lo}-\mu}{\sigma},\; b = \frac{\ln\mathrm{hi}-\mu}{\sigma},

for a domain inside :math:`x > 0` (``lo = 0`` gives :math:`a = -\infty`): the Gaussian of
:math:`\ln x` truncated to :math:`[\ln\mathrm{lo}, \ln\mathrm{hi}]`, with the same careful
tail differences as :mod:`relaxed.distributions.gaussian`. Sampling is the exact inverse CDF.

Example:
    >>> import jax.numpy as jnp
    >>> round(float(lognormal_dist.logpdf(1.0, {"mu": 0.0, "sigma": 1.0}, 0.0, jnp.inf)), 6)
    -0.918939
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
from relaxed.exceptions import InvalidDistribution

__all__ = ["lognormal_dist"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_bound(bound: Array) -> Array:
    """:math:`\\ln` of a domain bound (``-inf`` for 0), with a zero derivative at 0."""
    bound = _bound(bound)
    positive = bound > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, bound, 1.0)), -jnp.inf)


def _standard_bounds(params: Params, lo: ArrayLike, hi: ArrayLike) -> tuple[Array, Array]:
    mu, sigma = _param(params, "mu"), _param(params, "sigma")
    return standardize(_log_bound(lo), mu, sigma), standardize(_log_bound(hi), mu, sigma)


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M = \log\sigma + \tfrac12\log 2\pi + \log(\Phi(b) - \Phi(a))`."""
    a, b = _standard_bounds(params, lo, hi)
    return jnp.log(_param(params, "sigma")) + _HALF_LOG_2PI + log_ndtr_diff(a, b)


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`-\ln x - \tfrac12 z^2 - \log M`, :math:`z = (\ln x - \mu)/\sigma`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    mu, sigma = _param(params, "mu"), _param(params, "sigma")
    positive = x > 0
    log_x = jnp.log(jnp.where(positive, x, 1.0))
    z = (log_x - mu) / sigma
    value = jnp.where(positive, -log_x - 0.5 * z * z, -jnp.inf)
    return _inside(x, lo, hi, value - _log_normalisation(params, lo, hi))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`(\Phi(z) - \Phi(a))/(\Phi(b) - \Phi(a))`, :math:`z = (\ln x - \mu)/\sigma`."""
    mu, sigma = _param(params, "mu"), _param(params, "sigma")
    a, b = _standard_bounds(params, lo, hi)
    z = jnp.clip(standardize(_log_bound(x), mu, sigma), a, b)
    above = z > a
    zs = jnp.where(above, z, b)
    value = jnp.exp(log_ndtr_diff(a, zs) - log_ndtr_diff(a, b))
    return jnp.where(above, jnp.clip(value, 0.0, 1.0), 0.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    r"""Exact: :math:`\exp(\mu + \sigma z)` with :math:`z` the truncated normal quantile."""
    mu, sigma = _param(params, "mu"), _param(params, "sigma")
    a, b = _standard_bounds(params, lo, hi)
    return jnp.exp(mu + sigma * truncnorm_ppf(_uniform(key, n), a, b))


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "lognormal_dist"
    _scalar(params, name, "mu")
    _positive(params, name, "sigma")
    lo_, _ = _domain(name, lo, hi)
    if lo_ < 0:
        raise InvalidDistribution(f"the domain must lie in x >= 0, got lo = {lo_}", name, "domain")
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


lognormal_dist = Distribution(
    hs3_type="lognormal_dist",
    observable="x",
    parameters=("mu", "sigma"),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""The log-normal truncated to the domain."""
