r"""The Bernstein-polynomial distribution, HS3 ``bernstein_poly_dist`` (ROOT's
``RooBernstein``).

.. math::

    f(x\mid c) = \sum_{i=0}^{n} c_i B_{i,n}(t),\qquad B_{i,n}(t) = \binom{n}{i} t^i (1-t)^{n-i},
    \qquad t = \frac{x - \mathrm{lo}}{\mathrm{hi} - \mathrm{lo}},

    M = (\mathrm{hi} - \mathrm{lo}) \frac{1}{n+1}\sum_{i=0}^{n} c_i,

on a finite domain mapped to :math:`t \in [0, 1]` (as ROOT maps the variable's range;
pyhs3 0.4.2 instead uses :math:`x` itself as :math:`t`, the same only on :math:`[0, 1]`). The
density is evaluated by de Casteljau's algorithm (convex combinations: stable for any degree);
where it is not positive the log-density is :math:`-\infty` (non-negative coefficients give a
non-negative density; ``check`` rejects any that make it negative on the domain). The CDF is
analytic, :math:`\int_0^\tau B_{i,n} = \frac{1}{n+1}\sum_{j>i} B_{j,n+1}(\tau)`; sampling
inverts it numerically (:func:`relaxed.distributions._math.invert_cdf`).

Example:
    >>> import jax.numpy as jnp
    >>> params = {"coefficients": jnp.array([1.0, 3.0])}  # 1 + 2t on [0, 1]: M = 2
    >>> [round(v, 6) for v in bernstein_poly_dist.logpdf(jnp.array([0.0, 1.0]), params, 0.0,
    ...     1.0).tolist()]
    [-0.693147, 0.405465]
"""

from __future__ import annotations

from math import comb

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
from relaxed.exceptions import InvalidDistribution

__all__ = ["bernstein_poly_dist"]


def _de_casteljau(coeffs: Array, t: Array) -> Array:
    r""":math:`\sum_i c_i B_{i,n}(t)` by repeated linear interpolation."""
    points = [coeffs[i] + jnp.zeros_like(t) for i in range(coeffs.shape[0])]
    s = 1.0 - t
    while len(points) > 1:
        points = [s * a + t * b for a, b in zip(points[:-1], points[1:], strict=True)]
    return points[0]


def _mapped(x: Array, lo: Array, hi: Array) -> Array:
    return (x - lo) / (hi - lo)


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M = \log(\mathrm{hi} - \mathrm{lo}) + \log\big(\sum_i c_i/(n+1)\big)`."""
    coeffs = jnp.atleast_1d(_param(params, "coefficients"))
    return jnp.log(_bound(hi) - _bound(lo)) + jnp.log(jnp.mean(coeffs))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log\sum_i c_i B_{i,n}(t) - \log M`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    coeffs = jnp.atleast_1d(_param(params, "coefficients"))
    value = _de_casteljau(coeffs, _mapped(x, lo, hi))
    positive = value > 0
    log_value = jnp.where(positive, jnp.log(jnp.where(positive, value, 1.0)), -jnp.inf)
    return _inside(x, lo, hi, log_value - _log_normalisation(params, lo, hi))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r"""The analytic CDF: the degree-:math:`n+1` Bernstein polynomial with coefficients
    :math:`d_j = \sum_{i<j} c_i / \sum_i c_i`, at :math:`\tau` (clipped to :math:`[0, 1]`)."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    coeffs = jnp.atleast_1d(_param(params, "coefficients"))
    cumulative = jnp.concatenate([jnp.zeros(1, dtype=coeffs.dtype), jnp.cumsum(coeffs)])
    tau = jnp.clip(_mapped(x, lo, hi), 0.0, 1.0)
    return jnp.clip(_de_casteljau(cumulative / cumulative[-1], tau), 0.0, 1.0)


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


def _power_basis(coeffs: np.ndarray) -> np.polynomial.Polynomial:
    """:math:`\\sum_i c_i B_{i,n}(t)` as a polynomial in :math:`t`."""
    n = coeffs.size - 1
    t = np.polynomial.Polynomial([0.0, 1.0])
    one_minus_t = np.polynomial.Polynomial([1.0, -1.0])
    total = np.polynomial.Polynomial([0.0])
    for i, c in enumerate(coeffs):
        total = total + c * comb(n, i) * t**i * one_minus_t ** (n - i)
    return total


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "bernstein_poly_dist"
    coeffs = _coefficients(params, name)
    _domain(name, lo, hi, finite=True)
    if np.any(coeffs < 0):  # non-negative coefficients are enough; otherwise look closer
        _check_nonnegative(_power_basis(coeffs), 0.0, 1.0, name, coeffs, "t")
    if not coeffs.sum() > 0:
        raise InvalidDistribution(
            f"the coefficients must have a positive sum (the integral), got {coeffs.tolist()}",
            name,
            "coefficients",
            coeffs,
        )
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


bernstein_poly_dist = Distribution(
    hs3_type="bernstein_poly_dist",
    observable="x",
    parameters=("coefficients",),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""ROOT's Bernstein-polynomial density :math:`\\sum_i c_i B_{i,n}(t)/M`."""
