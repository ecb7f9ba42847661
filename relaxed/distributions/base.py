r"""The interface every distribution offers, and the checks they share.

A :class:`Distribution` is a NamedTuple of pure functions (the optax pattern): it fixes the
HS3 vocabulary of one distribution type (its ``type`` name, the field naming its observable and
the fields of its parameters) and carries the functions that evaluate, normalise, check and
sample it. Every function takes the events (or nothing), a mapping of HS3 field names to
parameter values, and the observable's domain :math:`[\mathrm{lo}, \mathrm{hi}]`.

The density of a distribution normalised over its domain is

.. math::

    p(x\mid\theta) = \frac{f(x\mid\theta)}{M(\theta)},\qquad
    M(\theta) = \int_{\mathrm{lo}}^{\mathrm{hi}} f(x\mid\theta)\,dx,

with :math:`f` the unnormalised shape of the HS3 standard; ``logpdf`` returns
:math:`\log p` (:math:`-\infty` outside the domain, where a truncated density is zero) and
``log_normalisation`` returns :math:`\log M`, computed once per call and never per event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidData, InvalidDistribution

__all__ = ["Distribution", "Params", "check_events"]

#: Parameter values by HS3 field name: scalars, or arrays for ``coefficients``, ``mean`` and
#: ``covariances`` (and the ``contents``/``edges`` of a histogram).
Params = Mapping[str, ArrayLike]


class Distribution(NamedTuple):
    """One HS3 distribution type as pure JAX functions.

    Attributes:
        hs3_type: the HS3 ``type`` name, e.g. ``"gaussian_dist"``.
        observable: the HS3 field naming the observable (``"x"``; ``"m"`` for the Crystal
            Ball, ``"mass"`` for ARGUS).
        parameters: the HS3 fields of its parameters, in order (the keys of ``params``).
        logpdf: ``logpdf(x, params, lo, hi)``, the log-density at the events ``x``
            normalised over the domain :math:`[\\mathrm{lo}, \\mathrm{hi}]`; :math:`-\\infty`
            outside it. Elementwise in ``x`` (shape ``(N,)``; ``(N, k)`` for a multivariate
            distribution); jit-, vmap- and grad-able in ``x`` and in ``params``.
        log_normalisation: ``log_normalisation(params, lo, hi)``, the log of the integral of
            the unnormalised shape over the domain. It broadcasts in ``lo`` and ``hi``, so that
            ``log_normalisation(params, lo, x)`` is the log of the integral up to each event.
        check: ``check(params, lo, hi)``, for concrete numbers: raises
            :class:`~relaxed.exceptions.InvalidDistribution` (naming the distribution, the field
            and the value) when a parameter or the domain is outside its valid range; returns
            ``None`` otherwise. It is not traceable: call it before ``jit``.
        cdf: ``cdf(x, params, lo, hi)``, the cumulative distribution over the domain, or
            ``None`` where there is none (the multivariate normal).
        sample: ``sample(key, params, lo, hi, n)``, ``n`` events drawn from the normalised
            density (shape ``(n,)``, or ``(n, k)``).
        normalised: ``False`` for the Poisson distribution, a distribution of a count that
            is not normalised over a domain (its ``logpdf`` is the log of the probability mass).
    """

    hs3_type: str
    observable: str
    parameters: tuple[str, ...]
    logpdf: Callable[..., Array]
    log_normalisation: Callable[..., Array]
    check: Callable[..., None]
    cdf: Callable[..., Array] | None
    sample: Callable[..., Array]
    normalised: bool = True


def check_events(x: ArrayLike, lo: float, hi: float, name: str) -> None:
    """Raise :class:`~relaxed.exceptions.InvalidData` when events lie outside the domain.

    For concrete numbers (the data loader's check): every event must be a number in
    :math:`[\\mathrm{lo}, \\mathrm{hi}]`, where the density of a distribution normalised over
    the domain is defined.

    Args:
        x: the events, any shape.
        lo, hi: the domain of the observable (may be infinite).
        name: what the events are, for the message (the observable or the data set's name).

    Example:
        >>> check_events([0.5, 1.5], 0.0, 1.0, "x")
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidData: x: 1 of 2 events lie outside the domain [0.0, 1.0] ...
    """
    values = np.asarray(x, dtype=np.float64)
    lo, hi = float(lo), float(hi)
    nan = np.isnan(values)
    if nan.any():
        raise InvalidData(f"{name}: {int(nan.sum())} of {values.size} events are NaN")
    outside = (values < lo) | (values > hi)
    if outside.any():
        first = values[outside].flat[0]
        raise InvalidData(
            f"{name}: {int(outside.sum())} of {values.size} events lie outside the domain "
            f"[{lo}, {hi}] (e.g. {first})"
        )


# -- helpers shared by the distributions ---------------------------------------------------


def _param(params: Params, field: str) -> Array:
    """``params[field]`` as a float64 array."""
    return jnp.asarray(params[field], dtype=jnp.float64)


def _bound(value: ArrayLike) -> Array:
    """A domain bound as a float64 array."""
    return jnp.asarray(value, dtype=jnp.float64)


def _inside(x: Array, lo: Array, hi: Array, logp: Array) -> Array:
    """``logp`` inside the domain, :math:`-\\infty` outside (the truncated density is zero)."""
    return jnp.where((x >= lo) & (x <= hi), logp, -jnp.inf)


def _concrete(params: Params, name: str, field: str) -> np.ndarray:
    """``params[field]`` as a NumPy float64 array, or a clear error if it is missing."""
    if field not in params:
        raise InvalidDistribution(f"missing parameter (fields: {sorted(params)})", name, field)
    try:
        return np.asarray(params[field], dtype=np.float64)
    except (TypeError, ValueError) as exc:  # a tracer, a string
        raise InvalidDistribution(f"not a number: {params[field]!r}", name, field) from exc


def _scalar(params: Params, name: str, field: str) -> float:
    """A concrete, finite scalar parameter."""
    value = _concrete(params, name, field)
    if value.shape != ():
        raise InvalidDistribution(f"must be a scalar, got shape {value.shape}", name, field)
    if not np.isfinite(value):
        raise InvalidDistribution(f"must be finite, got {float(value)}", name, field, value)
    return float(value)


def _positive(params: Params, name: str, field: str) -> float:
    """A concrete, finite scalar parameter > 0."""
    value = _concrete(params, name, field)
    if value.shape != () or not np.isfinite(value) or value <= 0:
        raise InvalidDistribution(f"must be finite and > 0, got {value}", name, field, value)
    return float(value)


def _domain(name: str, lo: ArrayLike, hi: ArrayLike, finite: bool = False) -> tuple[float, float]:
    """A concrete domain with ``lo < hi`` (both finite when ``finite``)."""
    lo_, hi_ = float(np.asarray(lo)), float(np.asarray(hi))
    if np.isnan(lo_) or np.isnan(hi_) or not lo_ < hi_:
        raise InvalidDistribution(f"needs lo < hi, got [{lo_}, {hi_}]", name, "domain", (lo_, hi_))
    if finite and not (np.isfinite(lo_) and np.isfinite(hi_)):
        raise InvalidDistribution(
            f"the integral diverges over an infinite domain; give finite bounds, got "
            f"[{lo_}, {hi_}]",
            name,
            "domain",
            (lo_, hi_),
        )
    return lo_, hi_


def _finite_normalisation(
    log_normalisation: Callable[..., Array], name: str, params: Params, lo: Any, hi: Any
) -> None:
    """Raise when the normalisation of a checked distribution is not a finite number (an
    integral that underflows or overflows float64, a parameter combination out of reach)."""
    value = float(log_normalisation(params, lo, hi))
    if not np.isfinite(value):
        raise InvalidDistribution(
            f"the normalisation integral over [{float(lo)}, {float(hi)}] is not a finite "
            f"positive float64 number (log M = {value}) for these parameters",
            name,
            "domain",
            value,
        )


def _uniform(key: Array, n: int) -> Array:
    """``n`` uniform numbers in :math:`(0, 1)` (never 0, so that logs stay finite)."""
    tiny = float(np.finfo(np.float64).tiny)
    return jax.random.uniform(key, (n,), dtype=jnp.float64, minval=tiny, maxval=1.0)


def _coefficients(params: Params, name: str, minimum: int = 1) -> np.ndarray:
    """The concrete, finite 1-D ``coefficients`` of a polynomial-type distribution."""
    coeffs = _concrete(params, name, "coefficients")
    if coeffs.ndim != 1 or coeffs.size < minimum:
        raise InvalidDistribution(
            f"must be a list of at least {minimum} numbers, got shape {coeffs.shape}",
            name,
            "coefficients",
            coeffs,
        )
    if not np.all(np.isfinite(coeffs)):
        raise InvalidDistribution(f"must be finite, got {coeffs.tolist()}", name, "coefficients")
    return coeffs


def _check_nonnegative(
    poly: np.polynomial.Polynomial, lo: float, hi: float, name: str, value: object, where: str
) -> None:
    """Raise when the polynomial ``poly`` (in the variable of ``where``) is negative somewhere
    on ``[lo, hi]`` (its minimum, at an end point or at a real root of its derivative, below
    :math:`-10^{-12}` of its largest magnitude there) or zero everywhere."""
    points = [lo, hi]
    if poly.degree() >= 2:
        roots = poly.deriv().roots()
        points += [r.real for r in roots if abs(r.imag) < 1e-9 and lo <= r.real <= hi]
    values = poly(np.asarray(points))
    scale = float(np.max(np.abs(values)))
    low = int(np.argmin(values))
    if scale == 0 or values[low] < -1e-12 * scale:
        raise InvalidDistribution(
            f"the density must be >= 0 and not zero everywhere on the domain; with "
            f"coefficients {np.asarray(value).tolist()} it is {values[low]:.6g} at "
            f"{where} = {points[low]:.6g}",
            name,
            "coefficients",
            value,
        )
