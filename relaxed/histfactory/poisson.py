r"""The continuous Poisson log-density, accurate to float64 rounding for any count.

HistFactory uses the Poisson density for the main measurement and for the shapesys
constraints, with real-valued counts :math:`n \ge 0` (pyhf's continuous Poisson):

.. math::

    \log\mathrm{Pois}(n\mid\lambda) = n\log\lambda - \lambda - \log\Gamma(n+1).

Written this way, the three terms grow like :math:`n\log n` while their sum near the mode is
only :math:`-\tfrac12\log(2\pi n)`. A shapesys constraint with :math:`\tau = 1.9\times10^{11}`
(a 0.001 uncertainty on 435 events, as in published ATLAS likelihoods) has terms of
:math:`5\times10^{12}` that cancel to :math:`-14`, so the naive sum (pyhf's) loses
:math:`10^{-4}` to :math:`10^{-3}` absolute. Here the density is evaluated in the saddle-point
form of Loader (2000), *Fast and accurate computation of binomial probabilities* (also used by
R's ``dpois``), rearranged into two non-positive terms:

.. math::

    \log\mathrm{Pois}(n\mid\lambda) = c(n) - \mathrm{bd0}(n, \lambda),\qquad
    c(n) = \log\mathrm{Pois}(n\mid n) = -\mathrm{stirlerr}(n) - \tfrac12\log(2\pi n) \le 0,

    \mathrm{bd0}(n, \lambda) = n\log\frac{n}{\lambda} + \lambda - n \;\ge 0,\qquad
    \mathrm{stirlerr}(n) = \log\Gamma(n+1) - (n+\tfrac12)\log n + n - \tfrac12\log 2\pi,

with :math:`c(0) = 0` and :math:`\mathrm{bd0}(0, \lambda) = \lambda`. The sum of two terms of
one sign cannot cancel, so the result is as accurate as each term, and each term is computed
without cancellation (see :func:`_log_mode_density` and :func:`_bd0`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import Array
from jax.custom_derivatives import SymbolicZero
from jax.scipy.special import digamma, gammaln
from jax.typing import ArrayLike

__all__ = ["poisson_logpdf"]

#: Bernoulli numbers :math:`B_2, B_4, \dots, B_{16}` of the Stirling and digamma series.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
#: :math:`\mathrm{stirlerr}(n) = \sum_k B_{2k} / (2k(2k-1)\,n^{2k-1})`, in powers of
#: :math:`1/n^2` after one factor :math:`1/n`.
_STIRLERR = tuple(b / (2 * k * (2 * k - 1)) for k, b in enumerate(_BERNOULLI, start=1))
#: :math:`\psi(n+1) - \log n = 1/(2n) - \sum_k B_{2k} / (2k\,n^{2k})`.
_PSI_TAIL = tuple(b / (2 * k) for k, b in enumerate(_BERNOULLI, start=1))
#: Counts from which the asymptotic series are used. At :math:`n = 10` the first omitted
#: terms are :math:`2\times10^{-18}` (stirlerr) and :math:`3\times10^{-18}` (digamma).
_STIRLING_MIN_N = 10.0
#: :math:`\operatorname{atanh}(v) - v = v^3 \sum_{j\ge1} v^{2j-2}/(2j+1)`, eight terms: for
#: :math:`|v| < 0.1` the remainder is below :math:`10^{-18}` of bd0.
_ATANH_TAIL = tuple(1.0 / (2 * j + 1) for j in range(1, 9))
#: :math:`|v| = |n-\lambda|/(n+\lambda)` below which bd0 is summed as a series.
_BD0_SERIES_MAX_V = 0.1
#: Counts below which :math:`\log\Gamma(1+n)` is summed from its Taylor series.
_TAYLOR_MAX_N = 0.1
#: :math:`\zeta(2), \dots, \zeta(17)` (Riemann zeta; the tests check them against mpmath).
_ZETA = (
    1.6449340668482264,
    1.2020569031595942,
    1.0823232337111381,
    1.03692775514337,
    1.0173430619844492,
    1.008349277381923,
    1.0040773561979444,
    1.0020083928260821,
    1.000994575127818,
    1.0004941886041194,
    1.000246086553308,
    1.0001227133475785,
    1.0000612481350588,
    1.000030588236307,
    1.0000152822594086,
    1.0000076371976379,
)
_EULER_GAMMA = 0.5772156649015329  # -digamma(1)
#: :math:`\log\Gamma(1+n)/n = -\gamma + \sum_{k\ge2} (-1)^k \zeta(k) n^{k-1}/k`: for
#: :math:`n < 0.1` the first omitted term is below :math:`10^{-19}` of the sum.
_LGAMMA1P = (-_EULER_GAMMA,) + tuple((-1) ** k * z / k for k, z in enumerate(_ZETA, start=2))


def _polyval(coeffs: Sequence[float], x: Array) -> Array:
    """:math:`\\sum_k c_k x^k` by Horner's rule (unrolled at trace time)."""
    out = jnp.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        out = out * x + c
    return out


def _log_mode_density(n: Array) -> Array:
    r""":math:`c(n) = n\log n - n - \log\Gamma(n+1) \le 0` (:math:`c(0) = 0`), the log-density
    at :math:`\lambda = n`.

    Three ranges, each without cancellation beyond a few roundings:

    - :math:`n \ge 10`: :math:`-\mathrm{stirlerr}(n) - \tfrac12\log(2\pi n)`, stirlerr
      from its asymptotic (Stirling) series; both terms are negative.
    - :math:`0.1 \le n < 10`: the direct formula; its terms are at most :math:`n\log n < 24`
      and :math:`|c(n)| > 0.28`, so ``gammaln``'s absolute error (:math:`\sim 10^{-15}`)
      stays below :math:`10^{-14}` relative.
    - :math:`0 < n < 0.1`: :math:`c(n) \to 0`, where that absolute error would be large
      relative to :math:`c`; instead :math:`c(n) = n\,(\log n - 1 - \log\Gamma(1+n)/n)` with
      the Taylor series :math:`\log\Gamma(1+n)/n = -\gamma + \sum_{k\ge2}(-1)^k\zeta(k)
      n^{k-1}/k`; the bracket is below :math:`-2.7`.
    """
    big = n >= _STIRLING_MIN_N
    nb = jnp.where(big, n, _STIRLING_MIN_N)
    inv = 1.0 / nb
    stirlerr = inv * _polyval(_STIRLERR, inv * inv)
    large = -stirlerr - 0.5 * jnp.log(2.0 * math.pi * nb)
    tiny = n < _TAYLOR_MAX_N
    nm = jnp.where(big | tiny, 1.0, n)
    medium = nm * jnp.log(nm) - nm - gammaln(nm + 1.0)
    pos = tiny & (n > 0)
    nt = jnp.where(pos, n, 0.5 * _TAYLOR_MAX_N)
    taylor = jnp.where(pos, nt * (jnp.log(nt) - 1.0 - _polyval(_LGAMMA1P, nt)), 0.0)
    return jnp.where(big, large, jnp.where(tiny, taylor, medium))


def _bd0(n: Array, lam: Array) -> Array:
    r""":math:`\mathrm{bd0}(n,\lambda) = n\log(n/\lambda) + \lambda - n \ge 0`
    (:math:`\mathrm{bd0}(0,\lambda) = \lambda`), the deviance term, without cancellation.

    With :math:`v = (n-\lambda)/(n+\lambda)`, :math:`n/\lambda = (1+v)/(1-v)` and
    :math:`\log(n/\lambda) = 2\operatorname{atanh} v`, so

    .. math::

        \mathrm{bd0} = (n-\lambda)\,v + 2n\,(\operatorname{atanh} v - v)
                     = (n-\lambda)\,v + 2n \sum_{j\ge1} \frac{v^{2j+1}}{2j+1}.

    For :math:`|v| < 0.1` this series is used: :math:`n-\lambda` is exact (Sterbenz),
    :math:`(n-\lambda)v \ge 0`, and the series part is at most :math:`|v|/3` of it, so the
    result carries a few roundings of relative error. Elsewhere the direct
    :math:`(\lambda-n) - n\log(\lambda/n)` cancels by at most a factor 10 (at the
    switch), i.e. about :math:`10^{-15}` relative, and it covers :math:`\lambda \ll n` and
    :math:`\lambda \gg n` without overflow of :math:`\lambda/n` in the float64 range of counts.
    """
    pos = n > 0
    ns = jnp.where(pos, n, 1.0)
    ls = jnp.where(pos, lam, 1.0)
    diff = ns - ls
    v = diff / (ns + ls)
    x = v * v
    series = diff * v + 2.0 * ns * v * x * _polyval(_ATANH_TAIL, x)
    direct = -diff - ns * jnp.log(ls / ns)
    near = jnp.abs(v) < _BD0_SERIES_MAX_V
    return jnp.where(pos, jnp.where(near, series, direct), lam)


@jax.custom_jvp
def _dlogpdf_dlam(n: Array, lam: Array) -> Array:
    r""":math:`\partial_\lambda \log\mathrm{Pois} = (n-\lambda)/\lambda`, :math:`-1` at
    :math:`n = \lambda = 0` (the limit along :math:`n = 0`). Written with :math:`n-\lambda`,
    which is exact when :math:`n \approx \lambda`, rather than :math:`n/\lambda - 1`; its
    own derivatives (:func:`_dlogpdf_dlam_jvp`) are analytic too."""
    both_zero = (n == 0) & (lam == 0)
    return jnp.where(both_zero, -1.0, (n - lam) / jnp.where(both_zero, 1.0, lam))


def _dlogpdf_dlam_jvp(
    primals: tuple[Array, Array], tangents: tuple[Array, Array]
) -> tuple[Array, Array]:
    r""":math:`\partial_\lambda^2 = -n/\lambda^2` and :math:`\partial_n\partial_\lambda =
    1/\lambda` (0 at :math:`\lambda = 0`), exact where differentiating
    :math:`(n-\lambda)/\lambda` by the chain rule would cancel for :math:`n \ll \lambda`."""
    n, lam = primals
    n_dot, lam_dot = tangents
    safe = jnp.where(lam == 0, 1.0, lam)
    inv = jnp.where(lam == 0, 0.0, 1.0 / safe)
    parts = []
    if not isinstance(lam_dot, SymbolicZero):
        parts.append(-n * inv * inv * lam_dot)
    if not isinstance(n_dot, SymbolicZero):
        parts.append(inv * n_dot)
    return _dlogpdf_dlam(n, lam), _sum_tangents(parts, n)


_dlogpdf_dlam.defjvp(_dlogpdf_dlam_jvp, symbolic_zeros=True)


def _dlogpdf_dn(n: Array, lam: Array) -> Array:
    r""":math:`\partial_n \log\mathrm{Pois} = \log\lambda - \psi(n+1)`.

    For :math:`n \ge 10` it is :math:`\log(\lambda/n) - (\psi(n+1) - \log n)`, the first term
    by ``log1p`` when :math:`|v| < 0.1` and the second by its asymptotic series, so that
    nothing cancels when :math:`\lambda \approx n` (:math:`\log\lambda` and :math:`\psi(n+1)`
    would each be about 26 at :math:`n = 10^{11}`). At :math:`n = \lambda = 0`, where the
    derivative is :math:`-\infty`, it is :math:`-\psi(1) = \gamma` (finite, as before).
    """
    big = n >= _STIRLING_MIN_N
    nb = jnp.where(big, n, _STIRLING_MIN_N)
    lb = jnp.where(big, lam, _STIRLING_MIN_N)
    near = jnp.abs(nb - lb) < _BD0_SERIES_MAX_V * (nb + lb)
    log_ratio = jnp.where(
        near,
        jnp.log1p(jnp.where(near, (lb - nb) / nb, 0.0)),
        jnp.log(jnp.where(near, 1.0, lb / nb)),
    )
    inv = 1.0 / nb
    psi_tail = 0.5 * inv - inv * inv * _polyval(_PSI_TAIL, inv * inv)
    large = log_ratio - psi_tail
    ns = jnp.where(big, 0.0, n)
    ls = jnp.where(big | ((n == 0) & (lam == 0)), 1.0, lam)
    small = jnp.log(ls) - digamma(ns + 1.0)
    return jnp.where(big, large, small)


def _sum_tangents(parts: list[Array], like: Array) -> Array:
    """The sum of the non-zero tangent contributions (zeros shaped like ``like`` if none)."""
    if not parts:
        return jnp.zeros_like(like)
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out


@jax.custom_jvp
def _poisson_logpdf(n: Array, lam: Array) -> Array:
    return _log_mode_density(n) - _bd0(n, lam)


def _poisson_logpdf_jvp(
    primals: tuple[Array, Array], tangents: tuple[Array, Array]
) -> tuple[Array, Array]:
    """Analytic derivatives; a derivative whose tangent is a symbolic zero (data that are
    not differentiated) is not computed at all."""
    n, lam = primals
    n_dot, lam_dot = tangents
    out = _poisson_logpdf(n, lam)
    parts = []
    if not isinstance(lam_dot, SymbolicZero):
        parts.append(_dlogpdf_dlam(n, lam) * lam_dot)
    if not isinstance(n_dot, SymbolicZero):
        parts.append(_dlogpdf_dn(n, lam) * n_dot)
    return out, _sum_tangents(parts, out)


_poisson_logpdf.defjvp(_poisson_logpdf_jvp, symbolic_zeros=True)


def poisson_logpdf(n: ArrayLike, lam: ArrayLike) -> Array:
    r"""Continuous Poisson log-density :math:`n\log\lambda - \lambda - \log\Gamma(n+1)`,
    elementwise (``n`` and ``lam`` broadcast), for real :math:`n \ge 0` and :math:`\lambda
    \ge 0`.

    Evaluated as :math:`c(n) - \mathrm{bd0}(n,\lambda)` (see the module docstring): the
    relative error is below :math:`10^{-14}` (measured against mpmath over
    :math:`n \in \{0\} \cup [10^{-10}, 10^{13}]`, :math:`\lambda \in [10^{-10}, 10^{13}]`),
    including :math:`n \approx \lambda` where the three terms above cancel (the naive sum is
    off by :math:`\sim 10^{-16}\,n\log n`).
    :math:`\log\mathrm{Pois}(0\mid\lambda) = -\lambda` (:math:`0\log 0 = 0`). A negative
    rate (a model whose interpolated yields go below zero) gives :math:`-\infty`: no
    parameter point with an impossible rate can be a best fit.

    Differentiable in both arguments with the analytic derivatives
    :math:`\partial_\lambda = (n-\lambda)/\lambda` and :math:`\partial_n = \log\lambda -
    \psi(n+1)` (``jax.custom_jvp``; higher orders by differentiating those). At
    :math:`n = 0` they are :math:`-1` and :math:`\log\lambda + \gamma`, and at
    :math:`n = \lambda = 0` they stay finite (:math:`-1` and :math:`\gamma`).

    Example:
        >>> round(float(poisson_logpdf(3.0, 2.0)), 10)
        -1.7123179275
        >>> tau = (435.07 / 0.001) ** 2  # a shapesys constraint: sigma 0.001 on 435.07 events
        >>> round(float(poisson_logpdf(tau, tau * (1.0 + 1e-6))), 12)  # naive sum: -13.99707
        -13.996843639201
        >>> float(jax.grad(poisson_logpdf, argnums=1)(0.0, 2.0))
        -1.0
        >>> float(poisson_logpdf(0.0, -2.0))
        -inf
    """
    dtype = jnp.result_type(float, n, lam)
    n, lam = jnp.broadcast_arrays(jnp.asarray(n, dtype), jnp.asarray(lam, dtype))
    # a negative rate is impossible: -inf, so that fits never step there (for n = 0 the
    # formula would give -lambda > 0, a likelihood above any valid one)
    return jnp.where(lam < 0, -jnp.inf, _poisson_logpdf(n, lam))
