r"""The Chebyshev-polynomial distribution, HS3 ``chebychev_dist`` (ROOT's ``RooChebychev``).

.. math::

    f(x\mid a) = 1 + \sum_{k=1}^{N} a_k T_k(t),\qquad
    t = \frac{2x - (\mathrm{lo} + \mathrm{hi})}{\mathrm{hi} - \mathrm{lo}} \in [-1, 1],

    M = \frac{\mathrm{hi} - \mathrm{lo}}{2}\int_{-1}^{1} f\,dt
      = (\mathrm{hi} - \mathrm{lo})\Big(1 + \sum_{k\ \mathrm{even}} \frac{a_k}{1 - k^2}\Big),

with :math:`T_k` the Chebyshev polynomials of the first kind, evaluated by Clenshaw's
recurrence (stable for any degree). The domain (finite) is the interval mapped to
:math:`[-1, 1]`. Where the sum is not positive the log-density is :math:`-\infty` (``check``
rejects coefficients that make it negative on the domain). The CDF is analytic (the
antiderivative in the Chebyshev basis); sampling inverts it numerically
(:func:`relaxed.distributions._math.invert_cdf`, to the rounding of the CDF).

Example:
    >>> import jax.numpy as jnp
    >>> params = {"coefficients": jnp.array([0.5])}  # 1 + t/2 on [0, 2]: M = 2
    >>> [round(v, 6) for v in chebychev_dist.logpdf(jnp.array([0.0, 2.0]), params, 0.0,
    ...     2.0).tolist()]
    [-1.386294, -0.287682]
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

__all__ = ["chebychev_dist"]


def _series(params: Params) -> Array:
    """The Chebyshev series :math:`(1, a_1, \\dots, a_N)`."""
    coeffs = jnp.atleast_1d(_param(params, "coefficients"))
    return jnp.concatenate([jnp.ones(1, dtype=coeffs.dtype), coeffs])


def _clenshaw(series: Array, t: Array) -> Array:
    r""":math:`\sum_k c_k T_k(t)` by Clenshaw's recurrence."""
    b1 = jnp.zeros_like(t)
    b2 = jnp.zeros_like(t)
    for k in range(series.shape[0] - 1, 0, -1):
        b1, b2 = 2.0 * t * b1 - b2 + series[k], b1
    return t * b1 - b2 + series[0]


def _mapped(x: Array, lo: Array, hi: Array) -> Array:
    return (2.0 * x - (lo + hi)) / (hi - lo)


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M = \log(\mathrm{hi}-\mathrm{lo}) + \log(1 + \sum_{k\ \mathrm{even}}
    a_k/(1-k^2))` (analytic)."""
    series = _series(params)
    weights = np.array([1.0 / (1.0 - k * k) if k % 2 == 0 else 0.0 for k in range(series.shape[0])])
    return jnp.log(_bound(hi) - _bound(lo)) + jnp.log(jnp.dot(series, weights))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log(1 + \sum_k a_k T_k(t)) - \log M`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    value = _clenshaw(_series(params), _mapped(x, lo, hi))
    positive = value > 0
    log_value = jnp.where(positive, jnp.log(jnp.where(positive, value, 1.0)), -jnp.inf)
    return _inside(x, lo, hi, log_value - _log_normalisation(params, lo, hi))


def _integration_matrix(size: int) -> np.ndarray:
    """The linear map from a Chebyshev series to its antiderivative vanishing at -1."""
    eye = np.eye(size)
    return np.stack([np.polynomial.chebyshev.chebint(row, lbnd=-1.0) for row in eye], axis=1)


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\int_{-1}^{t} f\,dt' / \int_{-1}^{1} f\,dt'` (analytic), clipped to
    :math:`[0, 1]`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    series = _series(params)
    antiderivative = jnp.asarray(_integration_matrix(series.shape[0])) @ series
    t = jnp.clip(_mapped(x, lo, hi), -1.0, 1.0)
    total = _clenshaw(antiderivative, jnp.ones(()))
    return jnp.clip(_clenshaw(antiderivative, t) / total, 0.0, 1.0)


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
    name = "chebychev_dist"
    coeffs = _coefficients(params, name, minimum=0)
    _domain(name, lo, hi, finite=True)
    series = np.polynomial.Chebyshev(np.concatenate([[1.0], coeffs]))
    power = series.convert(kind=np.polynomial.Polynomial)
    _check_nonnegative(power, -1.0, 1.0, name, coeffs, "t")
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


chebychev_dist = Distribution(
    hs3_type="chebychev_dist",
    observable="x",
    parameters=("coefficients",),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""ROOT's Chebyshev-polynomial density :math:`(1 + \\sum_k a_k T_k(t))/M`."""
