r"""The uniform distribution, HS3 ``uniform_dist``.

.. math::

    f(x) = 1,\qquad M = \mathrm{hi} - \mathrm{lo},

on a finite domain (over an infinite one the integral diverges). Sampling is exact.

Example:
    >>> uniform_dist.logpdf(0.5, {}, 0.0, 4.0).item() == -float(jnp.log(4.0))
    True
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions.base import Distribution, Params, _bound, _domain, _inside, _uniform

__all__ = ["uniform_dist"]


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log(\mathrm{hi} - \mathrm{lo})`."""
    del params
    return jnp.log(_bound(hi) - _bound(lo))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`-\log(\mathrm{hi} - \mathrm{lo})` inside the domain."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    return _inside(x, lo, hi, jnp.broadcast_to(-jnp.log(hi - lo), x.shape))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`(x - \mathrm{lo})/(\mathrm{hi} - \mathrm{lo})`, clipped to :math:`[0, 1]`."""
    del params
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    return jnp.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Exact: :math:`\\mathrm{lo} + u(\\mathrm{hi} - \\mathrm{lo})`."""
    del params
    lo, hi = _bound(lo), _bound(hi)
    return lo + _uniform(key, n) * (hi - lo)


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    del params
    _domain("uniform_dist", lo, hi, finite=True)


uniform_dist = Distribution(
    hs3_type="uniform_dist",
    observable="x",
    parameters=(),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""The uniform density :math:`1/(\\mathrm{hi} - \\mathrm{lo})`."""
