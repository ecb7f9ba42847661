r"""The exponential distribution, HS3 ``exponential_dist``.

.. math::

    f(x\mid c) = e^{-c x},\qquad
    M = \int_{\mathrm{lo}}^{\mathrm{hi}} e^{-cx}\,dx
      = w\, e^{-c m}\, \frac{\sinh(c w / 2)}{c w / 2},\quad
    w = \mathrm{hi} - \mathrm{lo},\; m = \tfrac12(\mathrm{lo} + \mathrm{hi}),

(note the sign: :math:`e^{-cx}`, a falling slope for :math:`c > 0`). The symmetric form is
exact as :math:`c \to 0` (:math:`c = 0` is the uniform distribution, :math:`M = w`), does not
overflow for large :math:`|c|` (:func:`~relaxed.distributions._math.log_sinhc` in log space),
and the density is evaluated as :math:`-c(x - m) - \log(M e^{cm})`, so that nothing cancels
when :math:`c x` is large. A half-infinite domain needs a slope that falls towards the infinite
side: :math:`[\mathrm{lo}, \infty)` with :math:`c > 0` (:math:`M = e^{-c\,\mathrm{lo}}/c`), or
:math:`(-\infty, \mathrm{hi}]` with :math:`c < 0`. Sampling is the exact inverse CDF.

Example:
    >>> import jax.numpy as jnp
    >>> round(float(exponential_dist.logpdf(1.0, {"c": 2.0}, 0.0, jnp.inf)), 6)  # log 2 - 2
    -1.306853
    >>> float(exponential_dist.logpdf(0.3, {"c": 0.0}, 0.0, 2.0))  # c = 0: uniform, log(1/2)
    -0.6931471805599453
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions._math import log_exprel, log_sinhc, trunc_exp_ppf
from relaxed.distributions.base import (
    Distribution,
    Params,
    _bound,
    _domain,
    _finite_normalisation,
    _inside,
    _param,
    _scalar,
    _uniform,
)
from relaxed.exceptions import InvalidDistribution

__all__ = ["exponential_dist"]


def _log_mass(c: Array, lo: Array, hi: Array) -> tuple[Array, Array]:
    r"""``(log M + c * ref, ref)``: the log-integral of :math:`e^{-cx}` over the domain,
    shifted by :math:`c \cdot \mathrm{ref}` for a reference point inside it (the midpoint of a
    finite domain, the finite end of a half-infinite one), so that the density is
    :math:`-c(x - \mathrm{ref}) - (\log M + c\,\mathrm{ref})` without cancellation."""
    lo_finite, hi_finite = jnp.isfinite(lo), jnp.isfinite(hi)
    both = lo_finite & hi_finite
    los = jnp.where(lo_finite, lo, 0.0)
    his = jnp.where(hi_finite, hi, 0.0)
    width = jnp.where(both, his - los, 1.0)
    mid = 0.5 * (los + his)
    finite_mass = jnp.log(width) + log_sinhc(0.5 * c * width)
    # [lo, inf): e^{-c lo}/c (c > 0); (-inf, hi]: e^{-c hi}/(-c) (c < 0); otherwise diverges
    rate = jnp.where(lo_finite, c, -c)
    rate_safe = jnp.where(rate > 0, rate, 1.0)
    half_mass = jnp.where(rate > 0, -jnp.log(rate_safe), jnp.inf)
    ref = jnp.where(both, mid, jnp.where(lo_finite, los, his))
    shifted = jnp.where(both, finite_mass, jnp.where(lo_finite | hi_finite, half_mass, jnp.inf))
    return shifted, ref


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M = -c\,m + \log w + \log(\sinh(cw/2)/(cw/2))` (half-infinite domains:
    :math:`-c\,\mathrm{lo} - \log c` or :math:`-c\,\mathrm{hi} - \log(-c)`)."""
    c = _param(params, "c")
    shifted, ref = _log_mass(c, _bound(lo), _bound(hi))
    return shifted - c * ref


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`-c(x - m) - (\log M + c m)`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    c = _param(params, "c")
    shifted, ref = _log_mass(c, lo, hi)
    return _inside(x, lo, hi, -c * (x - ref) - shifted)


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`F(x) = \int_{\mathrm{lo}}^{x} e^{-ct}dt / M`: with :math:`d = x - \mathrm{lo}`,
    the ratio :math:`d\,\mathrm{exprel}(-cd) / (w\,\mathrm{exprel}(-cw))` in log space (it
    tends to :math:`d/w` as :math:`c \to 0`); for :math:`\mathrm{lo} = -\infty`,
    :math:`1 - e^{c(\mathrm{hi} - x)}` from the upper end."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    c = _param(params, "c")
    from_lo = jnp.isfinite(lo)
    rate = jnp.where(from_lo, c, -c)
    width = hi - lo
    d = jnp.clip(jnp.where(from_lo, x - lo, hi - x), 0.0, width)
    positive = d > 0
    ds = jnp.where(positive, d, 1.0)
    finite = jnp.isfinite(width)
    ws = jnp.where(finite, width, 1.0)
    rs = jnp.where(rate > 0, rate, 1.0)
    log_part = jnp.log(ds) + log_exprel(-rate * ds)
    log_total = jnp.where(finite, jnp.log(ws) + log_exprel(-rate * ws), -jnp.log(rs))
    frac = jnp.clip(jnp.where(positive, jnp.exp(log_part - log_total), 0.0), 0.0, 1.0)
    return jnp.where(from_lo, frac, 1.0 - frac)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Exact inverse-CDF sampling, from the end where the density is largest."""
    lo, hi = _bound(lo), _bound(hi)
    c = _param(params, "c")
    u = _uniform(key, n)
    width = hi - lo
    from_lo = jnp.isfinite(lo) & ((c >= 0) | ~jnp.isfinite(hi))
    s_lo = trunc_exp_ppf(u, c, width)
    s_hi = trunc_exp_ppf(1.0 - u, -c, width)
    return jnp.where(from_lo, lo + s_lo, hi - s_hi)


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "exponential_dist"
    c = _scalar(params, name, "c")
    lo_, hi_ = _domain(name, lo, hi)
    if (lo_ == -float("inf") and c >= 0) or (hi_ == float("inf") and c <= 0):
        raise InvalidDistribution(
            f"exp(-c x) with c = {c} does not integrate over [{lo_}, {hi_}]: an infinite upper "
            "bound needs c > 0 and an infinite lower bound c < 0",
            name,
            "c",
            c,
        )
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


exponential_dist = Distribution(
    hs3_type="exponential_dist",
    observable="x",
    parameters=("c",),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""The exponential truncated to the domain: :math:`e^{-cx}/M`."""
