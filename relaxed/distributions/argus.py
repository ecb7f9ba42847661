r"""The ARGUS distribution, HS3 ``argus_dist`` (ROOT's ``RooArgusBG``).

.. math::

    f(m\mid m_0, c, p) = m\,u^{p}\,e^{c u},\quad u = 1 - \Big(\frac{m}{m_0}\Big)^2
    = \frac{(m_0 - m)(m_0 + m)}{m_0^2}\quad (0 \le m < m_0),\qquad f = 0\ (m \ge m_0),

with the HS3 fields ``mass`` (:math:`m`), ``resonance`` (:math:`m_0 > 0`), ``slope``
(:math:`c`) and ``power`` (:math:`p > -1`). With :math:`m\,dm = -\tfrac12 m_0^2\,du`,

.. math::

    M = \frac{m_0^2}{2} \int_{u_1}^{u_2} u^{p} e^{cu}\,du,\qquad
    u_1 = u(\min(\mathrm{hi}, m_0)),\; u_2 = u(\mathrm{lo}),

computed analytically:

- :math:`c \le -1`: with :math:`k = -c` and :math:`a = p + 1`, :math:`\int_{u_1}^{u_2} u^p
  e^{-ku} du = k^{-a}\,[\gamma(a, k u_2) - \gamma(a, k u_1)]`, or the difference of the upper
  functions :math:`\Gamma(a, \cdot)` when :math:`k u_1 \ge a + 1` (so that it does not cancel
  in the tail), all in log space
  (:func:`~relaxed.distributions._math.log_incomplete_gamma`: series and continued fraction in
  pure ``jnp``, so that Hessians in :math:`p` exist; nothing underflows for large :math:`k`).
- :math:`c > -1`: the series :math:`\sum_{j\ge0} \frac{c^j}{j!}\,
  \frac{u_2^{p+1+j} - u_1^{p+1+j}}{p+1+j}` (256 terms, positive for :math:`c > 0`; exact to
  rounding for :math:`c \le 100`, the limit ``check`` enforces), each difference of powers as
  :math:`-u_2^{a}\,\mathrm{expm1}(a\log(u_1/u_2))`; :math:`c = 0` is a polynomial in :math:`c`,
  so gradients and Hessians at :math:`c = 0` are exact.

The log-density is :math:`\log m + p\log u + cu - \log M` (:math:`-\infty` for :math:`m \ge
m_0`, :math:`m \le 0` or outside the domain). Sampling inverts the analytic CDF numerically
(:func:`relaxed.distributions._math.invert_cdf` on :math:`[\mathrm{lo}, \min(\mathrm{hi},
m_0)]`).

Example:
    >>> import jax.numpy as jnp
    >>> params = {"resonance": 5.29, "slope": -20.0, "power": 0.5}
    >>> argus_dist.check(params, 5.0, 5.3)
    >>> [round(v, 4) for v in argus_dist.logpdf(jnp.array([5.2, 5.29]), params, 5.0,
    ...     5.3).tolist()]
    [1.5221, -inf]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions._math import invert_cdf, log1mexp, log_incomplete_gamma
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

__all__ = ["argus_dist"]

#: Terms of the series for c > -1; enough for c <= MAX_SLOPE (first omitted term < 1e-30).
_SERIES_TERMS = 256
#: Terms of the Horner sum for |c| <= 1/2 (the first omitted one is below 2^-40/40!).
_HORNER_TERMS = 40
_MAX_SLOPE = 100.0


def _u(m: Array, m0: Array) -> Array:
    r""":math:`1 - (m/m_0)^2` as :math:`(m_0-m)(m_0+m)/m_0^2` (no cancellation near
    :math:`m_0`)."""
    return (m0 - m) * (m0 + m) / (m0 * m0)


def _log_integral_gamma(p: Array, c: Array, u1: Array, u2: Array) -> Array:
    r""":math:`\log\int_{u_1}^{u_2} u^p e^{cu} du` for :math:`c \le -1`: with :math:`k = -c`,
    :math:`a = p + 1`, :math:`k^{-a}(\gamma(a, ku_2) - \gamma(a, ku_1))`, or
    :math:`k^{-a}(\Gamma(a, ku_1) - \Gamma(a, ku_2))` when :math:`ku_1 \ge a + 1` (both in
    the tail, where the lower functions would cancel), differences taken in log space."""
    k = -c
    a = p + 1.0
    # both ends in one call (one continued-fraction loop to compile)
    low, up = log_incomplete_gamma(a[..., None], jnp.stack([k * u1, k * u2], axis=-1))
    low1, low2, up1, up2 = low[..., 0], low[..., 1], up[..., 0], up[..., 1]
    tail = k * u1 >= a + 1.0
    # the branch not taken gets a harmless difference (its log1mexp(0) would poison gradients)
    from_upper = up1 + log1mexp(jnp.where(tail, jnp.minimum(up2 - up1, 0.0), -1.0))
    from_lower = low2 + log1mexp(jnp.where(tail, -1.0, jnp.minimum(low1 - low2, 0.0)))
    return -a * jnp.log(k) + jnp.where(tail, from_upper, from_lower)


def _log_series_weights(p: Array, u1: Array, u2: Array, width: Array) -> Array:
    r""":math:`\log w_j = \log\big((u_2^{a_j} - u_1^{a_j})/(a_j\, j!)\big)`, :math:`a_j = p + 1 +
    j`, the differences of powers as :math:`-u_2^{a}\,\mathrm{expm1}(a\,\mathrm{log1p}(-w/u_2))`
    with the width :math:`w = u_2 - u_1` computed from the masses (exact for narrow domains)."""
    j = jnp.arange(_SERIES_TERMS, dtype=jnp.float64)
    a = p[..., None] + 1.0 + j
    u1_, u2_, w_ = u1[..., None], u2[..., None], width[..., None]
    zero = u1_ <= 0
    log_ratio = jnp.log1p(-jnp.where(zero, 0.5, w_ / u2_))  # log(u1/u2)
    log_diff = a * jnp.log(u2_) + jnp.log(jnp.where(zero, 1.0, -jnp.expm1(a * log_ratio)))
    return log_diff - jnp.log(a) - jax.scipy.special.gammaln(j + 1.0)


def _log_integral_series(p: Array, c: Array, u1: Array, u2: Array, width: Array) -> Array:
    r""":math:`\log\int_{u_1}^{u_2} u^p e^{cu} du` for :math:`c > -1`: the power series
    :math:`\sum_j c^j w_j`. For :math:`-1 < c \le 1/2` by Horner's rule over its first
    :data:`_HORNER_TERMS` terms (a polynomial in :math:`c`: exact derivatives at :math:`c = 0`),
    above as a log-sum-exp of :math:`j\log c + \log w_j` (positive terms; no overflow of
    :math:`c^j` in the gradients)."""
    log_w = _log_series_weights(p, u1, u2, width)
    small = c <= 0.5  # with c > -1: |c| < 1, so c^j never overflows
    cs = jnp.where(small, c, 0.0)
    weights = jnp.exp(log_w[..., :_HORNER_TERMS])
    weights = jnp.moveaxis(weights, -1, 0)[::-1]  # highest order first

    def step(acc: Array, w: Array) -> tuple[Array, None]:
        return acc * cs + w, None

    horner, _ = jax.lax.scan(step, jnp.zeros_like(cs), weights)
    cl = jnp.where(small, 1.0, c)
    j = jnp.arange(_SERIES_TERMS, dtype=jnp.float64)
    large = jax.scipy.special.logsumexp(j * jnp.log(cl)[..., None] + log_w, axis=-1)
    return jnp.where(small, jnp.log(horner), large)


def _log_integral(p: Array, c: Array, u1: Array, u2: Array, width: Array) -> Array:
    r""":math:`\log\int_{u_1}^{u_2} u^p e^{cu}\,du` for :math:`0 \le u_1 < u_2 \le 1`
    (``width`` :math:`= u_2 - u_1`). For scalar :math:`p, c` (the usual case: one parameter point,
    many bounds, as in the CDF) only the branch needed runs (``lax.cond``); batched parameters
    (``vmap``) evaluate both and select."""
    shape = jnp.broadcast_shapes(p.shape, c.shape, u1.shape, u2.shape, width.shape)
    u1, u2, width = (jnp.broadcast_to(v, shape) for v in (u1, u2, width))

    def gamma(p: Array, c: Array) -> Array:
        c = jnp.where(c <= -1.0, c, -2.0)  # the branch not taken sees a harmless slope
        return _log_integral_gamma(*jnp.broadcast_arrays(p, c, u1, u2))

    def series(p: Array, c: Array) -> Array:
        c = jnp.where(c > -1.0, c, 0.0)
        return _log_integral_series(*jnp.broadcast_arrays(p, c, u1, u2, width))

    if p.ndim == 0 and c.ndim == 0:
        return jax.lax.cond(c <= -1.0, gamma, series, p, c)
    return jnp.where(c <= -1.0, gamma(p, c), series(p, c))


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log M = 2\log m_0 - \log 2 + \log\int_{u_1}^{u_2} u^p e^{cu} du` (analytic;
    it broadcasts in ``lo`` and ``hi``)."""
    m0 = _param(params, "resonance")
    c, p = _param(params, "slope"), _param(params, "power")
    lo, hi = _bound(lo), _bound(hi)
    top, bottom = jnp.minimum(hi, m0), jnp.maximum(lo, 0.0)
    width = (top - bottom) * (top + bottom) / (m0 * m0)  # u(bottom) - u(top)
    return (
        2.0 * jnp.log(m0) - jnp.log(2.0) + _log_integral(p, c, _u(top, m0), _u(bottom, m0), width)
    )


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log m + p\log u + cu - \log M` (:math:`-\infty` where :math:`f = 0`)."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    m0 = _param(params, "resonance")
    c, p = _param(params, "slope"), _param(params, "power")
    support = (x > 0) & (x < m0)
    xs = jnp.where(support, x, 0.5 * m0)
    u = _u(xs, m0)
    value = jnp.where(support, jnp.log(xs) + p * jnp.log(u) + c * u, -jnp.inf)
    return _inside(x, lo, hi, value - _log_normalisation(params, lo, hi))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\int_{\mathrm{lo}}^{x} f / M` (analytic), clipped to :math:`[0, 1]`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    upper = jnp.clip(x, lo, hi)
    above = upper > lo
    part = _log_normalisation(params, lo, jnp.where(above, upper, hi))
    value = jnp.exp(part - _log_normalisation(params, lo, hi))
    return jnp.where(above, jnp.clip(value, 0.0, 1.0), 0.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Numerical inverse CDF on :math:`[\\mathrm{lo}, \\min(\\mathrm{hi}, m_0)]`."""
    lo, hi = _bound(lo), _bound(hi)
    top = jnp.minimum(hi, _param(params, "resonance"))
    return invert_cdf(
        _uniform(key, n),
        lambda x: _cdf(x, params, lo, hi),
        lambda x: _logpdf(x, params, lo, hi),
        lo,
        top,
    )


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "argus_dist"
    m0 = _positive(params, name, "resonance")
    c = _scalar(params, name, "slope")
    p = _scalar(params, name, "power")
    if p <= -1:
        raise InvalidDistribution(
            f"must be > -1 (u^p is not integrable at m = m0 otherwise), got {p}", name, "power", p
        )
    if c > _MAX_SLOPE:
        raise InvalidDistribution(
            f"slopes above {_MAX_SLOPE} are not supported (the normalisation's series), got {c}",
            name,
            "slope",
            c,
        )
    lo_, _ = _domain(name, lo, hi)
    if lo_ < 0 or lo_ >= m0:
        raise InvalidDistribution(
            f"the domain must start in [0, resonance) = [0, {m0}), got lo = {lo_}",
            name,
            "domain",
            lo_,
        )
    _finite_normalisation(_log_normalisation, name, params, lo, hi)


argus_dist = Distribution(
    hs3_type="argus_dist",
    observable="mass",
    parameters=("resonance", "slope", "power"),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""ROOT's ARGUS background :math:`m\\,u^p e^{cu}/M`, zero from :math:`m_0` on."""
