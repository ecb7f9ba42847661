r"""The multivariate normal distribution, HS3 ``multivariate_normal_dist``.

.. math::

    f(\mathbf{x}) = \exp\!\Big(-\tfrac12 (\mathbf{x}-\boldsymbol\mu)^{\mathsf T}
        \Sigma^{-1} (\mathbf{x}-\boldsymbol\mu)\Big),\qquad
    M = (2\pi)^{k/2} \det(\Sigma)^{1/2},

normalised over :math:`\mathbb{R}^k`: a box domain of the :math:`k` observables does **not**
truncate it (``lo`` and ``hi`` are accepted for the common interface and ignored). Evaluated
through the Cholesky factor :math:`\Sigma = LL^{\mathsf T}`: :math:`\log f = -\tfrac12
\|L^{-1}(\mathbf{x}-\boldsymbol\mu)\|^2` and :math:`\log M = \tfrac{k}{2}\log 2\pi +
\sum_i \log L_{ii}`. The parameters are ``mean`` (shape ``(k,)``) and ``covariances``
(``(k, k)``, symmetric positive definite: ``check`` says which one fails); events have shape
``(N, k)``. There is no ``cdf``; sampling is exact (:math:`\boldsymbol\mu + L\mathbf{z}`).

Example:
    >>> import jax.numpy as jnp
    >>> params = {"mean": jnp.zeros(2), "covariances": jnp.eye(2)}
    >>> round(float(multivariate_normal_dist.logpdf(jnp.zeros((1, 2)), params)[0]), 6)
    -1.837877
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.linalg import solve_triangular
from jax.typing import ArrayLike

from relaxed.distributions.base import Distribution, Params, _concrete, _param
from relaxed.exceptions import InvalidDistribution

__all__ = ["multivariate_normal_dist"]

_LOG_2PI = math.log(2.0 * math.pi)


def _log_normalisation(params: Params, lo: ArrayLike = None, hi: ArrayLike = None) -> Array:
    r""":math:`\tfrac{k}{2}\log 2\pi + \sum_i \log L_{ii}` (the domain is not used)."""
    del lo, hi
    chol = jnp.linalg.cholesky(_param(params, "covariances"))
    return 0.5 * chol.shape[-1] * _LOG_2PI + jnp.sum(jnp.log(jnp.diagonal(chol)))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike = None, hi: ArrayLike = None) -> Array:
    r""":math:`-\tfrac12\|L^{-1}(\mathbf{x}-\boldsymbol\mu)\|^2 - \log M`, one value per event
    (the last axis of ``x`` holds the :math:`k` observables)."""
    del lo, hi
    x = jnp.asarray(x, dtype=jnp.float64)
    mean = _param(params, "mean")
    chol = jnp.linalg.cholesky(_param(params, "covariances"))
    d = (x - mean).reshape(-1, mean.shape[0])
    z = solve_triangular(chol, d.T, lower=True)
    log_norm = 0.5 * chol.shape[-1] * _LOG_2PI + jnp.sum(jnp.log(jnp.diagonal(chol)))
    return (-0.5 * jnp.sum(z * z, axis=0) - log_norm).reshape(x.shape[:-1])


def _sample(
    key: Array, params: Params, lo: ArrayLike = None, hi: ArrayLike = None, n: int = 1
) -> Array:
    r"""Exact: :math:`\boldsymbol\mu + L\mathbf{z}`, shape ``(n, k)``."""
    del lo, hi
    mean = _param(params, "mean")
    chol = jnp.linalg.cholesky(_param(params, "covariances"))
    z = jax.random.normal(key, (n, mean.shape[0]), dtype=jnp.float64)
    return mean + z @ chol.T


def _check(params: Params, lo: ArrayLike = None, hi: ArrayLike = None) -> None:
    del lo, hi
    name = "multivariate_normal_dist"
    mean = _concrete(params, name, "mean")
    cov = _concrete(params, name, "covariances")
    if mean.ndim != 1 or mean.size == 0 or not np.all(np.isfinite(mean)):
        raise InvalidDistribution(f"must be a list of k finite numbers, got {mean}", name, "mean")
    k = mean.size
    if cov.shape != (k, k) or not np.all(np.isfinite(cov)):
        raise InvalidDistribution(
            f"must be a finite {k} x {k} matrix (k = len(mean)), got shape {cov.shape}",
            name,
            "covariances",
        )
    scale = float(np.max(np.abs(cov)))
    if not np.allclose(cov, cov.T, rtol=0.0, atol=1e-12 * scale):
        raise InvalidDistribution("must be symmetric", name, "covariances", cov)
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(cov).min())
        raise InvalidDistribution(
            f"must be positive definite; its smallest eigenvalue is {smallest:.6g}",
            name,
            "covariances",
            cov,
        ) from None


multivariate_normal_dist = Distribution(
    hs3_type="multivariate_normal_dist",
    observable="x",
    parameters=("mean", "covariances"),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=None,
    sample=_sample,
)
"""The multivariate normal, normalised over :math:`\\mathbb{R}^k` (no truncation)."""
