r"""The (continued) Poisson distribution, HS3 ``poisson_dist``.

.. math::

    \log P(x\mid\lambda) = x\ln\lambda - \lambda - \ln\Gamma(x+1),

the standard's continued Poisson, defined for real :math:`x \ge 0` (for integer :math:`x` the
Poisson probability mass). It is a distribution of a count and is **not** normalised over a
domain: ``logpdf`` is the log of the probability mass (:math:`-\infty` for :math:`x < 0`) and
``log_normalisation`` is 0; the domain is only checked to lie in :math:`x \ge 0`. The value
comes from :func:`relaxed.histfactory.poisson.poisson_logpdf` (the saddle-point form, accurate
to float64 rounding for any count, with analytic derivatives). ``cdf`` is the integer Poisson
CDF :math:`P(X \le \lfloor x\rfloor) = Q(\lfloor x\rfloor + 1, \lambda)` and ``sample`` draws
integer counts (``jax.random.poisson``), ignoring the domain.

Example:
    >>> round(float(poisson_dist.logpdf(3.0, {"mean": 2.0}, 0.0, jnp.inf)), 10)
    -1.7123179275
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import gammaincc
from jax.typing import ArrayLike

from relaxed.distributions.base import Distribution, Params, _bound, _domain, _param
from relaxed.exceptions import InvalidDistribution
from relaxed.histfactory.poisson import poisson_logpdf

__all__ = ["poisson_dist"]


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    """0: the Poisson mass is not normalised over a domain."""
    del lo, hi
    return jnp.zeros_like(_param(params, "mean"))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`x\ln\lambda - \lambda - \ln\Gamma(x+1)`, :math:`-\infty` for :math:`x < 0`."""
    del lo, hi
    x = _bound(x)
    nonnegative = x >= 0
    value = poisson_logpdf(jnp.where(nonnegative, x, 0.0), _param(params, "mean"))
    return jnp.where(nonnegative, value, -jnp.inf)


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`P(X \le \lfloor x \rfloor) = Q(\lfloor x\rfloor + 1, \lambda)` (0 below 0)."""
    del lo, hi
    x = _bound(x)
    k = jnp.floor(jnp.maximum(x, 0.0))
    return jnp.where(x >= 0, gammaincc(k + 1.0, _param(params, "mean")), 0.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Integer counts from ``jax.random.poisson`` (as float64); the domain is not used."""
    del lo, hi
    mean = _param(params, "mean")
    return jax.random.poisson(key, mean, (n,)).astype(jnp.float64)


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "poisson_dist"
    if "mean" not in params:
        raise InvalidDistribution(f"missing parameter (fields: {sorted(params)})", name, "mean")
    mean = np.asarray(params["mean"], dtype=np.float64)
    if mean.shape != () or not np.isfinite(mean) or mean < 0:
        raise InvalidDistribution(f"must be finite and >= 0, got {mean}", name, "mean", mean)
    lo_, _ = _domain(name, lo, hi)
    if lo_ < 0:
        raise InvalidDistribution(
            f"a count's domain must lie in x >= 0, got lo = {lo_}", name, "domain", lo_
        )


poisson_dist = Distribution(
    hs3_type="poisson_dist",
    observable="x",
    parameters=("mean",),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
    normalised=False,
)
"""The continued Poisson :math:`\\lambda^x e^{-\\lambda}/\\Gamma(x+1)` (not domain-normalised)."""
