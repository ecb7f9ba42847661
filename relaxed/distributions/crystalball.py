r"""Crystal Ball distributions: a Gaussian core with power-law tails.

The HS3 standard's ``crystalball_dist`` is the asymmetric double-sided Crystal Ball
(ROOT's ``RooCrystalBall``); with :math:`t_{L,R} = (m - m_0)/\sigma_{L,R}`,

.. math::

    f(m) = \begin{cases}
        A_L\,(B_L - t_L)^{-n_L}, & t_L < -\alpha_L \\
        \exp(-t_L^2/2), & -\alpha_L \le t_L \le 0 \\
        \exp(-t_R^2/2), & 0 < t_R \le \alpha_R \\
        A_R\,(B_R + t_R)^{-n_R}, & t_R > \alpha_R
    \end{cases}\qquad
    A_i = \Big(\frac{n_i}{\alpha_i}\Big)^{n_i} e^{-\alpha_i^2/2},\quad
    B_i = \frac{n_i}{\alpha_i} - \alpha_i,

and with its fields ``alpha``, ``n``, ``sigma`` "the same values apply on both sides". ROOT
and pyhs3 (0.4.2) read that same type name differently: their ``crystalball_dist`` with
``alpha``/``n``/``sigma`` is ROOT's single-sided ``RooCBShape`` (ROOT's HS3 factory table maps
``crystalball_dist`` to ``RooCBShape``; pyhs3's ``CrystalBallDist`` has one tail), and the
double-sided shape has its own type ``crystalball_doublesided_dist`` (``RooCrystalBall``,
pyhs3's ``AsymmetricCrystalBallDist``) with the ``_L``/``_R`` fields. Three distributions here:

- :data:`crystalball_dist`: ROOT's ``RooCBShape`` as ROOT and pyhs3 read ``crystalball_dist``:
  a tail on the left for :math:`\alpha > 0`, on the right for :math:`\alpha < 0` (ROOT's
  convention; pyhs3 has only the left one).
- :data:`crystalball_doublesided_dist`: the double-sided form above (the standard's
  ``crystalball_dist`` with ``_L``/``_R`` fields; ROOT's and pyhs3's
  ``crystalball_doublesided_dist``).
- :data:`crystalball_symmetric`: the standard's text for ``crystalball_dist`` with
  ``alpha``/``n``/``sigma``, i.e. the double-sided form with equal sides (not in the
  registry, which follows ROOT and pyhs3; :func:`relaxed.distributions.for_node` picks it when
  asked to follow the standard's text).

Numerics. A tail is written as :math:`\log f = -\alpha^2/2 - n\log(1 + \alpha s/n)` with
:math:`s = -t-\alpha \ge 0` the distance beyond the junction (continuous there, no overflow of
:math:`A`). Its integral over :math:`s \in [s_1, s_2]` is, with :math:`u_1 = \log(1+\alpha
s_1/n)` and :math:`\Delta = \log(1 + \alpha(s_2-s_1)/(n + \alpha s_1))`,

.. math::

    \int_{s_1}^{s_2} \Big(1 + \frac{\alpha s}{n}\Big)^{-n} ds
      = \frac{n}{\alpha}\, e^{-(n-1)u_1}\, \Delta\; \frac{1 - e^{-(n-1)\Delta}}{(n-1)\Delta},

whose last factor (:func:`~relaxed.distributions._math.log_exprel`) is exact for
:math:`n \to 1` (the logarithmic tail of :math:`n = 1`, with no cancellation near it) and
for an infinite side (:math:`1/((n-1)\Delta)`: it needs :math:`n > 1`). The core pieces are
Gaussian integrals (:func:`~relaxed.distributions._math.log_ndtr_diff`); the pieces are added
in log space, each clipped to the domain. Sampling is exact: a piece is drawn by its mass, then
the Gaussian piece by the truncated normal quantile and a tail by inverting the integral above
(a truncated exponential in :math:`\log(1 + \alpha s/n)`).

Example:
    >>> import jax.numpy as jnp
    >>> params = {"m0": 0.0, "sigma_L": 1.0, "sigma_R": 2.0, "alpha_L": 1.5, "alpha_R": 2.0,
    ...           "n_L": 3.0, "n_R": 5.0}
    >>> crystalball_doublesided_dist.check(params, -10.0, 20.0)
    >>> round(float(crystalball_doublesided_dist.logpdf(0.0, params, -10.0, 20.0)), 6)
    -1.376226

    >>> params = {"m0": 0.0, "sigma": 1.0, "alpha": 1.5, "n": 3.0}
    >>> v = crystalball_symmetric.logpdf(jnp.array([-4.0, 4.0]), params, -10.0, 10.0)
    >>> bool(v[0] == v[1])
    True

    >>> import jax.numpy as jnp
    >>> params = {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 2.0}
    >>> round(float(crystalball_dist.log_normalisation(params, -jnp.inf, jnp.inf)), 6)
    1.200567
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import logsumexp
from jax.typing import ArrayLike

from relaxed.distributions._math import (
    log_exprel,
    log_ndtr_diff,
    standardize,
    trunc_exp_ppf,
    truncnorm_ppf,
)
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

__all__ = ["crystalball_dist", "crystalball_doublesided_dist", "crystalball_symmetric"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class _Half(NamedTuple):
    r"""One side of a Crystal Ball in its own standardised coordinate :math:`t = \pm(m -
    m_0)/\sigma`, oriented so that the tail is on the left (:math:`t < -\alpha`) and the
    core runs from :math:`-\alpha` to ``core_end`` (0 for a double-sided shape, :math:`+\infty`
    for a single-sided one)."""

    sign: Array  # t = sign * (m - m0) / sigma
    sigma: Array
    alpha: Array
    n: Array
    core_end: float


def _log_shape(half: _Half, t: Array) -> Array:
    r""":math:`\log f`: :math:`-t^2/2` in the core, :math:`-\alpha^2/2 - n\log(1 + \alpha
    s/n)` in the tail (:math:`s = -t - \alpha`)."""
    tail = t < -half.alpha
    s = -jnp.where(tail, t, -half.alpha) - half.alpha
    tail_value = -0.5 * half.alpha**2 - half.n * jnp.log1p(half.alpha * s / half.n)
    core = jnp.where(tail, 0.0, t)
    return jnp.where(tail, tail_value, -0.5 * core * core)


def _domain_in(half: _Half, m0: Array, lo: Array, hi: Array) -> tuple[Array, Array]:
    """The domain in the half's coordinate, ordered."""
    a = standardize(lo, m0, half.sigma)
    b = standardize(hi, m0, half.sigma)
    flip = half.sign < 0
    return jnp.where(flip, -b, a), jnp.where(flip, -a, b)


def _tail_log_mass(half: _Half, t1: Array, t2: Array) -> Array:
    r"""log of the tail integral over :math:`t \in [t_1, t_2] \subset (-\infty, -\alpha]`
    (:math:`t_1 < t_2`; :math:`t_1 = -\infty` allowed), in units of :math:`m`."""
    alpha, n = half.alpha, half.n
    s1 = -t2 - alpha
    infinite = ~jnp.isfinite(t1)
    s2 = jnp.where(infinite, s1 + 1.0, -t1 - alpha)
    u1 = jnp.log1p(alpha * s1 / n)
    delta = jnp.log1p(alpha * (s2 - s1) / (n + alpha * s1))
    finite_part = jnp.log(delta) + log_exprel(-(n - 1.0) * delta)
    n_minus_1 = jnp.where(infinite, n - 1.0, 1.0)
    infinite_part = -jnp.log(n_minus_1)  # needs n > 1
    rest = jnp.where(infinite, infinite_part, finite_part)
    return jnp.log(half.sigma) - 0.5 * alpha**2 + jnp.log(n / alpha) - (n - 1.0) * u1 + rest


def _pieces(half: _Half, m0: Array, lo: Array, hi: Array) -> tuple[list[Array], list[tuple]]:
    """The log masses of the half's tail and core pieces inside the domain (:math:`-\\infty`
    for an empty piece), and the clipped intervals (for sampling)."""
    tl, th = _domain_in(half, m0, lo, hi)
    # tail: [tl, min(th, -alpha)]
    has_tail = tl < -half.alpha  # then min(th, -alpha) > tl too, as th > tl
    t1 = jnp.where(has_tail, tl, -half.alpha - 1.0)
    t2 = jnp.where(has_tail, jnp.minimum(th, -half.alpha), -half.alpha)
    tail = jnp.where(has_tail, _tail_log_mass(half, t1, t2), -jnp.inf)
    # core: [max(tl, -alpha), min(th, core_end)]
    c1 = jnp.maximum(tl, -half.alpha)
    c2 = jnp.minimum(th, half.core_end)
    has_core = c1 < c2
    c1s = jnp.where(has_core, c1, -1.0)
    c2s = jnp.where(has_core, c2, 0.0)
    core_mass = jnp.log(half.sigma) + _HALF_LOG_2PI + log_ndtr_diff(c1s, c2s)
    core = jnp.where(has_core, core_mass, -jnp.inf)
    return [tail, core], [(t1, t2), (c1s, c2s)]


def _halves_double(params: Params) -> tuple[Array, _Half, _Half]:
    m0 = _param(params, "m0")
    left = _Half(
        jnp.ones(()),
        _param(params, "sigma_L"),
        _param(params, "alpha_L"),
        _param(params, "n_L"),
        0.0,
    )
    right = _Half(
        -jnp.ones(()),
        _param(params, "sigma_R"),
        _param(params, "alpha_R"),
        _param(params, "n_R"),
        0.0,
    )
    return m0, left, right


def _halves_symmetric(params: Params) -> tuple[Array, _Half, _Half]:
    m0 = _param(params, "m0")
    sigma, alpha, n = _param(params, "sigma"), _param(params, "alpha"), _param(params, "n")
    return m0, _Half(jnp.ones(()), sigma, alpha, n, 0.0), _Half(-jnp.ones(()), sigma, alpha, n, 0.0)


def _half_single(params: Params) -> tuple[Array, _Half]:
    """ROOT's ``RooCBShape``: the tail on the left for alpha > 0, on the right for alpha < 0."""
    m0 = _param(params, "m0")
    alpha = _param(params, "alpha")
    sign = jnp.where(alpha < 0, -1.0, 1.0)
    return m0, _Half(sign, _param(params, "sigma"), jnp.abs(alpha), _param(params, "n"), jnp.inf)


# -- double-sided (and symmetric) -----------------------------------------------------------


def _make_double(halves: Callable[[Params], tuple[Array, _Half, _Half]]) -> tuple:
    """The functions of a double-sided shape whose halves come from ``halves(params)``."""

    def all_pieces(params: Params, lo: Array, hi: Array) -> tuple[list, list, list]:
        m0, left, right = halves(params)
        masses, intervals, owners = [], [], []
        for half in (left, right):
            mass, interval = _pieces(half, m0, lo, hi)
            masses += mass
            intervals += interval
            owners += [half, half]
        return masses, intervals, owners

    def log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
        masses, _, _ = all_pieces(params, _bound(lo), _bound(hi))
        return logsumexp(jnp.stack(jnp.broadcast_arrays(*masses)), axis=0)

    def logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
        x, lo, hi = _bound(x), _bound(lo), _bound(hi)
        m0, left, right = halves(params)
        t_left = (x - m0) / left.sigma
        t_right = -(x - m0) / right.sigma
        value = jnp.where(x <= m0, _log_shape(left, t_left), _log_shape(right, t_right))
        return _inside(x, lo, hi, value - log_normalisation(params, lo, hi))

    def cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
        x, lo, hi = _bound(x), _bound(lo), _bound(hi)
        upper = jnp.clip(x, lo, hi)
        above = upper > lo
        part = log_normalisation(params, lo, jnp.where(above, upper, hi))
        value = jnp.exp(part - log_normalisation(params, lo, hi))
        return jnp.where(above, jnp.clip(value, 0.0, 1.0), 0.0)

    def sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
        lo, hi = _bound(lo), _bound(hi)
        m0, _, _ = halves(params)
        masses, intervals, owners = all_pieces(params, lo, hi)
        return _sample_pieces(key, m0, masses, intervals, owners, n)

    return logpdf, log_normalisation, cdf, sample


def _sample_pieces(
    key: Array, m0: Array, masses: list, intervals: list, owners: list, n: int
) -> Array:
    """Draw a piece by its mass, then invert its CDF exactly (see the module docstring)."""
    choose, draw = jax.random.split(key)
    piece = jax.random.categorical(choose, jnp.stack(masses), shape=(n,))
    v = _uniform(draw, n)
    out = jnp.zeros(n)
    for k, ((t1, t2), half) in enumerate(zip(intervals, owners, strict=True)):
        if k % 2 == 0:  # a tail: s = -t - alpha in [s1, s2], log(1 + alpha s/n) exponential
            alpha, nn = half.alpha, half.n
            s1 = -t2 - alpha
            s2 = -t1 - alpha
            u1 = jnp.log1p(alpha * s1 / nn)
            delta = jnp.log1p(alpha * (s2 - s1) / (nn + alpha * s1))
            w = trunc_exp_ppf(v, nn - 1.0, delta)
            s = (nn / alpha) * jnp.expm1(u1 + w)
            # sample s from s1 upwards: the density falls away from the junction
            t = -s - alpha
        else:
            t = truncnorm_ppf(v, t1, t2)
        m = m0 + half.sign * half.sigma * t
        out = jnp.where(piece == k, m, out)
    return out


# -- single-sided (ROOT's RooCBShape) -------------------------------------------------------


def _single_log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    m0, half = _half_single(params)
    masses, _ = _pieces(half, m0, _bound(lo), _bound(hi))
    return logsumexp(jnp.stack(jnp.broadcast_arrays(*masses)), axis=0)


def _single_logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    m0, half = _half_single(params)
    value = _log_shape(half, half.sign * (x - m0) / half.sigma)
    return _inside(x, lo, hi, value - _single_log_normalisation(params, lo, hi))


def _single_cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    upper = jnp.clip(x, lo, hi)
    above = upper > lo
    part = _single_log_normalisation(params, lo, jnp.where(above, upper, hi))
    value = jnp.exp(part - _single_log_normalisation(params, lo, hi))
    return jnp.where(above, jnp.clip(value, 0.0, 1.0), 0.0)


def _single_sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    m0, half = _half_single(params)
    masses, intervals = _pieces(half, m0, _bound(lo), _bound(hi))
    return _sample_pieces(key, m0, masses, intervals, [half, half], n)


# -- checks --------------------------------------------------------------------------------


def _check_side(
    name: str, params: Params, sigma: str, alpha: str, n: str, infinite_tail: bool
) -> None:
    _positive(params, name, sigma)
    _positive(params, name, alpha)
    value = _positive(params, name, n)
    if infinite_tail and value <= 1:
        raise InvalidDistribution(
            f"must be > 1 for a tail that extends to infinity (the integral of t^-n diverges "
            f"for n <= 1), got {value}",
            name,
            n,
            value,
        )


def _check_double(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "crystalball_doublesided_dist"
    _scalar(params, name, "m0")
    lo_, hi_ = _domain(name, lo, hi)
    _check_side(name, params, "sigma_L", "alpha_L", "n_L", math.isinf(lo_))
    _check_side(name, params, "sigma_R", "alpha_R", "n_R", math.isinf(hi_))
    _finite_normalisation(_double[1], name, params, lo, hi)


def _check_symmetric(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "crystalball_dist"
    _scalar(params, name, "m0")
    lo_, hi_ = _domain(name, lo, hi)
    _check_side(name, params, "sigma", "alpha", "n", math.isinf(lo_) or math.isinf(hi_))
    _finite_normalisation(_symmetric[1], name, params, lo, hi)


def _check_single(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "crystalball_dist"
    _scalar(params, name, "m0")
    _positive(params, name, "sigma")
    alpha = _scalar(params, name, "alpha")
    if alpha == 0:
        raise InvalidDistribution(
            "must be non-zero (its sign picks the tail's side)", name, "alpha", alpha
        )
    n = _positive(params, name, "n")
    lo_, hi_ = _domain(name, lo, hi)
    infinite_tail = math.isinf(lo_) if alpha > 0 else math.isinf(hi_)
    if infinite_tail and n <= 1:
        raise InvalidDistribution(
            f"must be > 1 for a tail that extends to infinity (the integral of t^-n diverges "
            f"for n <= 1), got {n}",
            name,
            "n",
            n,
        )
    _finite_normalisation(_single_log_normalisation, name, params, lo, hi)


_double = _make_double(_halves_double)
_symmetric = _make_double(_halves_symmetric)

crystalball_doublesided_dist = Distribution(
    hs3_type="crystalball_doublesided_dist",
    observable="m",
    parameters=("m0", "sigma_L", "sigma_R", "alpha_L", "alpha_R", "n_L", "n_R"),
    logpdf=_double[0],
    log_normalisation=_double[1],
    check=_check_double,
    cdf=_double[2],
    sample=_double[3],
)
"""The asymmetric double-sided Crystal Ball (the HS3 standard's form; ``RooCrystalBall``)."""

crystalball_symmetric = Distribution(
    hs3_type="crystalball_dist",
    observable="m",
    parameters=("m0", "sigma", "alpha", "n"),
    logpdf=_symmetric[0],
    log_normalisation=_symmetric[1],
    check=_check_symmetric,
    cdf=_symmetric[2],
    sample=_symmetric[3],
)
"""The HS3 standard's text for ``crystalball_dist`` with ``alpha``, ``n``, ``sigma``: the
double-sided shape with the same values on both sides (tails left and right)."""

crystalball_dist = Distribution(
    hs3_type="crystalball_dist",
    observable="m",
    parameters=("m0", "sigma", "alpha", "n"),
    logpdf=_single_logpdf,
    log_normalisation=_single_log_normalisation,
    check=_check_single,
    cdf=_single_cdf,
    sample=_single_sample,
)
"""ROOT's single-sided ``RooCBShape``, as ROOT and pyhs3 read ``crystalball_dist``: one
power-law tail, on the left for :math:`\\alpha > 0` and on the right for :math:`\\alpha < 0`."""
