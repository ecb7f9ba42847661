r"""The polynomial distribution, HS3 ``polynomial_dist`` (ROOT's ``RooPolynomial`` with all
coefficients given).

.. math::

    f(x\mid a) = \sum_{i=0}^{N} a_i x^i,\qquad
    M = \sum_{i=0}^{N} a_i\,\frac{\mathrm{hi}^{i+1} - \mathrm{lo}^{i+1}}{i+1}
      = (\mathrm{hi} - \mathrm{lo}) \sum_{i=0}^{N} \frac{a_i}{i+1}
        \sum_{j=0}^{i} \mathrm{hi}^{j}\,\mathrm{lo}^{i-j},

on a finite domain, the difference of powers factored so that it does not cancel. The
density is evaluated by Horner's rule; where it is not positive the log-density is
:math:`-\infty` (``check`` rejects coefficients that make it negative on the domain).
Sampling inverts the CDF numerically (:func:`relaxed.distributions._math.invert_cdf`:
safeguarded Newton from a 1025-point table, to the rounding of the CDF).

Example:
    >>> import jax.numpy as jnp
    >>> params = {"coefficients": jnp.array([1.0, 2.0])}  # 1 + 2x on [0, 1]: M = 2
    >>> logp = polynomial_dist.logpdf(jnp.array([0.0, 1.0]), params, 0.0, 1.0)
    >>> [round(v, 12) for v in jnp.exp(logp).tolist()]
    [0.5, 1.5]
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions._math import invert_cdf
from relaxed.distributions.base import (
    Distribution,
    Params,
    _bound,
    _check_nonnegative,
    _coefficients,
    _domain,
    _finite_normalisation,
    _inside,
    _param,
    _uniform,
)

__all__ = ["polynomial_dist"]


def _horner(coeffs: Array, x: Array) -> Array:
    r""":math:`\sum_i a_i x^i`."""
    out = jnp.zeros_like(x) + coeffs[-1]
    for i in range(coeffs.shape[0] - 2, -1, -1):
        out = out * x + coeffs[i]
    return out


def _integral(coeffs: Array, lo: Array, hi: Array) -> Array:
    r""":math:`\int_{\mathrm{lo}}^{\mathrm{hi}} \sum_i a_i x^i dx` with
    :math:`(\mathrm{hi}^{k} - \mathrm{lo}^{k})/(\mathrm{hi} - \mathrm{lo}) = s_k`,
    :math:`s_1 = 1`, :math:`s_{k+1} = \mathrm{hi}\,s_k + \mathrm{lo}^{k}`."""
    s = jnp.ones_like(lo + hi)
    lo_power = jnp.ones_like(s)
    total = coeffs[0] * s
    for i in range(1, coeffs.shape[0]):
        lo_power = lo_power * lo
        s = hi * s + lo_power
        total = total + coeffs[i] * s / (i + 1)
    return (hi - lo) * total


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M` (analytic; it broadcasts in ``lo`` and ``hi``)."""
    return jnp.log(_integral(_param(params, "coefficients"), _bound(lo), _bound(hi)))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log\sum_i a_i x^i - \log M` (:math:`-\infty` where the sum is not positive)."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    value = _horner(_param(params, "coefficients"), x)
    positive = value > 0
    log_value = jnp.where(positive, jnp.log(jnp.where(positive, value, 1.0)), -jnp.inf)
    return _inside(x, lo, hi, log_value - _log_normalisation(params, lo, hi))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r"""The analytic :math:`\int_{\mathrm{lo}}^{x} f / M`, clipped to :math:`[0, 1]`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    coeffs = _param(params, "coefficients")
    part = _integral(coeffs, lo, jnp.clip(x, lo, hi))
    return jnp.clip(part / _integral(coeffs, lo, hi), 0.0, 1.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Numerical inverse CDF (see the module docstring)."""
    lo, hi = _bound(lo), _bound(hi)
    return invert_cdf(
        _uniform(key, n),
        lambda x: _cdf(x, params, lo, hi),
        lambda x: _logpdf(x, params, lo, hi),
        lo,
        hi,
    )


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "polynomial_dist"
    coeffs = _coefficients(params, name)
    lo_, hi_ = _domain(name, lo, hi, finite=True)
    _check_nonnegative(np.polynomial.Polynomial(coeffs), lo_, hi_, name, coeffs, "x")
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


polynomial_dist = Distribution(
    hs3_type="polynomial_dist",
    observable="x",
    parameters=("coefficients",),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""The polynomial :math:`\\sum_i a_i x^i / M` on a finite domain."""
