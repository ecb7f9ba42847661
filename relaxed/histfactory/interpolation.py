r"""Interpolation of systematic variations between the -1 sigma, nominal and +1 sigma templates.

Notation of the HistFactory note (CERN-OPEN-2012-016) and of pyhf: a nuisance parameter
:math:`\alpha` interpolates between the down (:math:`\alpha=-1`), nominal (:math:`\alpha=0`)
and up (:math:`\alpha=+1`) variations.

Additive codes (histosys) return the shift :math:`\Delta(\alpha)` of the yield, written with
:math:`\delta^+ = I^+ - I^0` and :math:`\delta^- = I^0 - I^-` (both zero for "no variation"):

- code 0, piecewise linear: :math:`\Delta = \alpha\,\delta^+` for :math:`\alpha \ge 0`, else
  :math:`\alpha\,\delta^-`.
- code 2, quadratic inside :math:`|\alpha| \le 1` with linear extrapolation:
  :math:`a = (\delta^+ - \delta^-)/2`, :math:`b = (\delta^+ + \delta^-)/2`;
  :math:`\Delta = a\alpha^2 + b\alpha` for :math:`|\alpha|\le 1`,
  :math:`\Delta = \delta^+ + (b + 2a)(\alpha - 1)` for :math:`\alpha > 1`,
  :math:`\Delta = -\delta^- + (b - 2a)(\alpha + 1)` for :math:`\alpha < -1`.
  (pyhf 0.7.6 drops the constants of both linear branches, so it is discontinuous at
  :math:`|\alpha| = 1`; this is the published formula, continuous with a continuous slope.)
- code 4p, sixth-order polynomial inside, linear outside:
  :math:`S = (\delta^+ + \delta^-)/2`, :math:`A = (\delta^+ - \delta^-)/16`,
  :math:`\Delta = \alpha\,(S + \alpha A (15 + \alpha^2 (3\alpha^2 - 10)))`
  for :math:`|\alpha|\le 1`,
  :math:`\Delta = \alpha\,\delta^+` for :math:`\alpha > 1` and :math:`\alpha\,\delta^-` for
  :math:`\alpha < -1`.

Every additive code is linear in the variations: with :math:`S = (\delta^+ + \delta^-)/2`
and :math:`A = (\delta^+ - \delta^-)/16`,

.. math::

    \Delta(\alpha) = \alpha\,S + w(\alpha)\,A,

where the weight :math:`w` depends on :math:`\alpha` only (:func:`histosys_weight`): code 0
:math:`w = 8|\alpha|`; code 2 :math:`w = 8\alpha^2` inside, :math:`16|\alpha| - 8` outside;
code 4p :math:`w = \alpha^2(15 + \alpha^2(3\alpha^2 - 10))` inside, :math:`8|\alpha|`
outside. A model sums the shifts of all its histosys modifiers as two contractions over the
modifiers, instead of interpolating every (modifier, sample, bin) separately.

Multiplicative codes (normsys) return the factor :math:`\eta(\alpha)` from the relative
variations :math:`\eta^+ = \mathrm{hi}` and :math:`\eta^- = \mathrm{lo}` (both positive):

- code 1, exponential: :math:`\eta = (\eta^+)^{\alpha}` for :math:`\alpha \ge 0`, else
  :math:`(\eta^-)^{-\alpha}`.
- code 4, exponential outside :math:`|\alpha| \ge 1` and a sixth-order polynomial
  :math:`1 + \sum_{i=1}^{6} a_i \alpha^i` inside whose value, first and second derivative
  match the exponential at :math:`\alpha = \pm 1`.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "ADDITIVE_CODES",
    "MULTIPLICATIVE_CODES",
    "code0",
    "code1",
    "code1_precomputed",
    "code2",
    "code4",
    "code4_precomputed",
    "code4p",
    "histosys_weight",
    "normsys_precompute",
]

#: additive (histosys) interpolation codes
ADDITIVE = ("code0", "code2", "code4p")


def code0(alpha: ArrayLike, delta_up: ArrayLike, delta_dn: ArrayLike) -> Array:
    r"""Piecewise-linear shift (code 0).

    :math:`\alpha\delta^+` for :math:`\alpha\ge0`, else :math:`\alpha\delta^-`.

    Example:
        >>> float(code0(0.5, 4.0, 2.0)), float(code0(-0.5, 4.0, 2.0))
        (2.0, -1.0)
    """
    alpha = jnp.asarray(alpha)
    return jnp.where(alpha >= 0, alpha * delta_up, alpha * delta_dn)


def code2(alpha: ArrayLike, delta_up: ArrayLike, delta_dn: ArrayLike) -> Array:
    r"""Quadratic shift inside :math:`|\alpha|\le1`, linear extrapolation outside (see module doc).

    Example:
        >>> float(code2(1.0, 4.0, 2.0)), float(code2(-1.0, 4.0, 2.0)), float(code2(-2.0, 4.0, 2.0))
        (4.0, -2.0, -3.0)
    """
    alpha = jnp.asarray(alpha)
    a = 0.5 * (delta_up - delta_dn)
    b = 0.5 * (delta_up + delta_dn)
    inside = alpha * (a * alpha + b)
    above = delta_up + (b + 2.0 * a) * (alpha - 1.0)
    below = -delta_dn + (b - 2.0 * a) * (alpha + 1.0)
    return jnp.where(alpha > 1.0, above, jnp.where(alpha < -1.0, below, inside))


def code4p(alpha: ArrayLike, delta_up: ArrayLike, delta_dn: ArrayLike) -> Array:
    r"""Polynomial shift inside :math:`|\alpha|\le1`, linear outside (see module doc).

    Example:
        >>> [float(code4p(a, 4.0, 2.0)) for a in (1.0, -1.0, 2.0)]
        [4.0, -2.0, 8.0]
    """
    alpha = jnp.asarray(alpha)
    s = 0.5 * (delta_up + delta_dn)
    a = 0.0625 * (delta_up - delta_dn)
    a2 = alpha * alpha
    inside = alpha * (s + alpha * a * (15.0 + a2 * (3.0 * a2 - 10.0)))
    return jnp.where(
        alpha > 1.0, alpha * delta_up, jnp.where(alpha < -1.0, alpha * delta_dn, inside)
    )


def histosys_weight(alpha: ArrayLike, code: str) -> Array:
    r"""The weight :math:`w(\alpha)` of :math:`A = (\delta^+ - \delta^-)/16` in
    :math:`\Delta(\alpha) = \alpha S + w(\alpha) A` for the additive ``code`` (module doc).

    Example:
        >>> alpha, up, dn = 0.5, 4.0, 2.0
        >>> s, a = (up + dn) / 2, (up - dn) / 16
        >>> float(alpha * s + histosys_weight(alpha, "code4p") * a) == float(code4p(alpha, up, dn))
        True
    """
    alpha = jnp.asarray(alpha)
    magnitude = jnp.abs(alpha)
    if code == "code0":
        return 8.0 * magnitude
    a2 = alpha * alpha
    if code == "code2":
        return jnp.where(magnitude > 1.0, 16.0 * magnitude - 8.0, 8.0 * a2)
    if code == "code4p":
        return jnp.where(magnitude > 1.0, 8.0 * magnitude, a2 * (15.0 + a2 * (3.0 * a2 - 10.0)))
    raise ValueError(f"unknown histosys interpolation code {code!r}; use one of {ADDITIVE}")


def code1(alpha: ArrayLike, hi: ArrayLike, lo: ArrayLike) -> Array:
    r"""Exponential factor (code 1).

    :math:`\mathrm{hi}^{\alpha}` for :math:`\alpha\ge0`, else :math:`\mathrm{lo}^{-\alpha}`.

    Example:
        >>> round(float(code1(2.0, 1.1, 0.9)), 12), round(float(code1(-1.0, 1.1, 0.9)), 12)
        (1.21, 0.9)
    """
    log_hi, log_lo, _ = normsys_precompute(hi, lo)
    return code1_precomputed(alpha, log_hi, log_lo)


def code4(alpha: ArrayLike, hi: ArrayLike, lo: ArrayLike) -> Array:
    r"""Exponential factor outside :math:`|\alpha|\ge1`, sixth-order polynomial inside.

    The polynomial :math:`1 + \sum_{i=1}^6 a_i\alpha^i` matches :math:`\mathrm{hi}^{\alpha}` and
    :math:`\mathrm{lo}^{-\alpha}` in value, first and second derivative at :math:`\alpha=\pm1`.

    Example:
        >>> round(float(code4(1.0, 1.1, 0.9)), 12), round(float(code4(0.0, 1.1, 0.9)), 12)
        (1.1, 1.0)
    """
    return code4_precomputed(alpha, *normsys_precompute(hi, lo))


def _code4_inverse_matrix() -> np.ndarray:
    # Rows: p(1)-1, p(-1)-1, p'(1), p'(-1), p''(1), p''(-1) for p(a) = 1 + sum_{i=1}^6 c_i a^i.
    i = np.arange(1, 7, dtype=np.float64)
    sign = (-1.0) ** i
    rows = np.stack([np.ones(6), sign, i, -i * sign, i * (i - 1), i * (i - 1) * sign])
    return np.linalg.inv(rows)


_CODE4_INV = _code4_inverse_matrix()


def normsys_precompute(hi: ArrayLike, lo: ArrayLike, xp: Any = jnp) -> tuple[Array, Array, Array]:
    """What the normsys codes need that does not depend on :math:`\alpha`: ``log(hi)``,
    ``log(lo)`` and the six code-4 polynomial coefficients (leading axis of size 6).

    A model computes these once when it is built, so an evaluation costs one ``exp`` and a
    polynomial per (sample, channel) and normsys. ``xp`` is the array module (``numpy`` for a
    model built from concrete numbers, ``jax.numpy`` for traced ones).

    Example:
        >>> log_hi, log_lo, coeffs = normsys_precompute(1.1, 0.9)
        >>> coeffs.shape, float(code4_precomputed(0.5, log_hi, log_lo, coeffs)) == float(
        ...     code4(0.5, 1.1, 0.9))
        ((6,), True)
    """
    hi = xp.asarray(hi)
    lo = xp.asarray(lo)
    log_hi = xp.log(hi)
    log_lo = xp.log(lo)
    rhs = xp.stack(
        [hi - 1.0, lo - 1.0, hi * log_hi, -lo * log_lo, hi * log_hi**2, lo * log_lo**2], axis=0
    )
    coeffs = xp.tensordot(xp.asarray(_CODE4_INV), rhs, axes=1)
    return log_hi, log_lo, coeffs


def code1_precomputed(alpha: ArrayLike, log_hi: ArrayLike, log_lo: ArrayLike) -> Array:
    r""":func:`code1` from ``log(hi)`` and ``log(lo)``:
    :math:`\exp(\alpha\log\mathrm{hi})` for :math:`\alpha\ge0`, else
    :math:`\exp(-\alpha\log\mathrm{lo})`.

    Example:
        >>> import math
        >>> round(float(code1_precomputed(2.0, math.log(1.1), math.log(0.9))), 12)
        1.21
    """
    alpha = jnp.asarray(alpha)
    return jnp.exp(jnp.where(alpha >= 0, alpha * log_hi, -alpha * log_lo))


def code4_precomputed(
    alpha: ArrayLike, log_hi: ArrayLike, log_lo: ArrayLike, coeffs: ArrayLike
) -> Array:
    """:func:`code4` from the output of :func:`normsys_precompute`.

    Example:
        >>> round(float(code4_precomputed(1.0, *normsys_precompute(1.1, 0.9))), 12)
        1.1
    """
    alpha = jnp.asarray(alpha)
    coeffs = jnp.asarray(coeffs)
    poly = coeffs[5]
    for k in range(4, -1, -1):  # Horner: ((c6 a + c5) a + ... + c1) a
        poly = poly * alpha + coeffs[k]
    inside = 1.0 + poly * alpha
    outside = jnp.exp(jnp.where(alpha >= 1.0, alpha * log_hi, -alpha * log_lo))
    return jnp.where(jnp.abs(alpha) >= 1.0, outside, inside)


ADDITIVE_CODES = {"code0": code0, "code2": code2, "code4p": code4p}
MULTIPLICATIVE_CODES = {"code1": code1, "code4": code4}
#: normsys codes evaluated from :func:`normsys_precompute` (what a model stores)
PRECOMPUTED_CODES = {
    "code1": lambda alpha, log_hi, log_lo, coeffs: code1_precomputed(alpha, log_hi, log_lo),
    "code4": code4_precomputed,
}
