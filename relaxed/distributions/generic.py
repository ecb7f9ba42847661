r"""The generic distribution, HS3 ``generic_dist``: a density given by an expression.

The shape :math:`f(x \mid \theta)` is an :class:`~relaxed.unbinned.expressions.Expression`
(or its text) in the observable :math:`x` and the parameters :math:`\theta`, normalised over
a finite domain by quadrature:

.. math::

    p(x \mid \theta) = \frac{f(x \mid \theta)}{M(\theta)},\qquad
    M(\theta) \approx \sum_{k=0}^{K-1} \frac{h}{2} \sum_{j=1}^{m} w_j\,
        f\Big(\mathrm{lo} + h\big(k + \tfrac{1 + t_j}{2}\big) \Bigm| \theta\Big),\quad
    h = \frac{\mathrm{hi} - \mathrm{lo}}{K},

composite Gauss-Legendre quadrature: the domain cut into :math:`K` equal panels (``panels``,
default 128), each integrated with the :math:`m`-point rule (``order``, default 16; nodes
:math:`t_j`, weights :math:`w_j`), :math:`K m = 2048` evaluations of the shape per
normalisation, fixed, so that :math:`M` is a smooth function of :math:`\theta` (exact
gradients, no adaptive branching under ``jit``). The sum is a log-sum-exp of
:math:`\log f` at the nodes, and :math:`\log f` is evaluated in log space through ``exp``
factors (:meth:`relaxed.unbinned.expressions.Expression.log_value`: :math:`\log e^{-a}`
is :math:`-a`), so that neither the log-density far in a tail nor the normalisation of a
steep shape (:math:`e^{-1000x}` on :math:`[1, 2]`) underflows.

The rule integrates polynomials of degree :math:`2m - 1` exactly on each panel; for smooth
shapes the error is at the rounding of float64 (measured against the closed forms of
:mod:`relaxed.distributions`: :math:`\log M` of a Gaussian of width down to :math:`1/400` of
the domain, of :math:`e^{-cx}` with :math:`c\,(\mathrm{hi}-\mathrm{lo})` from
:math:`10^{-3}` to 700, and of a quintic polynomial agree to :math:`3 \times 10^{-14}`;
a Gaussian of width :math:`1/1000` of the domain to :math:`10^{-10}`). Kinks (``abs``,
``min``, ``max``) and steps (``ifelse``, comparisons) are integrated to :math:`O(h^2)` and
:math:`O(h)` only: ``check`` warns when doubling the panels changes :math:`\log M` by more
than :math:`10^{-9}`; give more ``panels`` then.

The CDF is the same quadrature: the cumulative sum of the panel integrals up to the panel of
:math:`x`, plus the :math:`m`-point rule on the part of that panel below :math:`x`, over
:math:`M` (so :math:`F(\mathrm{hi}) = 1` exactly). Sampling inverts it numerically
(:func:`relaxed.distributions._math.invert_cdf`: safeguarded Newton from a 1025-point table),
solving :math:`F(x) = u` to the rounding of :math:`F`, i.e. to the quadrature's accuracy.

``check`` (for concrete numbers) raises :class:`~relaxed.exceptions.InvalidDistribution` for
an infinite or empty domain, a parameter that is not a finite scalar, and a shape that is
negative (below :math:`-10^{-12}` of its largest value) or not finite at the quadrature nodes
or the domain's ends, or zero at all of them. ``logpdf`` is :math:`-\infty` where the shape
is not positive.

Example:
    >>> import jax.numpy as jnp
    >>> dist = generic_dist("exp(-c * x)", "x")
    >>> dist.parameters
    ('c',)
    >>> dist.check({"c": 0.5}, 0.0, 4.0)
    >>> logp = dist.logpdf(jnp.array([1.0]), {"c": 0.5}, 0.0, 4.0)
    >>> exact = -0.5 * 1.0 - jnp.log((1 - jnp.exp(-2.0)) / 0.5)
    >>> abs(float(logp[0] - exact)) < 1e-13
    True
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import logsumexp
from jax.typing import ArrayLike

from relaxed.distributions._math import invert_cdf
from relaxed.distributions.base import (
    Distribution,
    Params,
    _bound,
    _domain,
    _scalar,
    _uniform,
)
from relaxed.exceptions import InvalidArgument, InvalidDistribution

if TYPE_CHECKING:
    from relaxed.unbinned.expressions import Expression

__all__ = ["generic_dist", "quadrature_rule"]

#: Relative change of the normalisation, when the panels are doubled, above which ``check``
#: warns that the quadrature does not resolve the shape.
RESOLUTION_WARNING = 1e-9


@functools.lru_cache(maxsize=16)
def quadrature_rule(panels: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    r"""The composite Gauss-Legendre rule on :math:`[0, 1]`: nodes ``u`` (shape
    ``(panels, order)``, panel by panel) and weights ``w`` (summing to 1), so that
    :math:`\int_{\mathrm{lo}}^{\mathrm{hi}} f \approx (\mathrm{hi} - \mathrm{lo})
    \sum w f(\mathrm{lo} + (\mathrm{hi} - \mathrm{lo}) u)`.

    Example:
        >>> u, w = quadrature_rule(2, 3)
        >>> u.shape, round(float(w.sum()), 15), round(float((w * u**5).sum()), 15)  # 1/6
        ((2, 3), 1.0, 0.166666666666667)
    """
    t, weights = np.polynomial.legendre.leggauss(order)
    k = np.arange(panels)[:, None]
    nodes = (k + 0.5 * (1.0 + t[None, :])) / panels
    return nodes, np.broadcast_to(0.5 * weights / panels, nodes.shape).copy()


def generic_dist(
    expression: Expression | str, observable: str, panels: int = 128, order: int = 16
) -> Distribution:
    r"""The distribution of the shape ``expression`` in ``observable``, normalised over a
    finite domain by composite Gauss-Legendre quadrature (module docstring).

    The returned :class:`Distribution` has ``hs3_type`` ``"generic_dist"``, ``observable``
    the observable's *name* (it is a name in the expression, not a field of the node) and
    ``parameters`` the expression's other names, sorted; ``params`` maps each to a scalar.

    Args:
        expression: the shape :math:`f(x \mid \theta) \ge 0`, an expression or its text.
        observable: the name of the observable in it (it may be absent: a constant shape is
            the uniform distribution).
        panels, order: the quadrature, :math:`K` panels of the :math:`m`-point rule.

    Example:
        >>> dist = generic_dist("a + x^2", "x")  # on [0, 3]: M = 3a + 9
        >>> round(float(dist.log_normalisation({"a": 1.0}, 0.0, 3.0)), 14) == round(
        ...     float(np.log(12.0)), 14)
        True
        >>> round(float(dist.cdf(1.5, {"a": 1.0}, 0.0, 3.0)), 14)  # (1.5 + 1.125) / 12
        0.21875
    """
    # imported here: relaxed.unbinned builds on relaxed.distributions
    from relaxed.unbinned.expressions import Expression, parse_expression

    expr = parse_expression(expression) if isinstance(expression, str) else expression
    if not isinstance(expr, Expression):
        raise InvalidArgument(f"expected an expression or its text, got {expression!r}")
    for name, value in (("panels", panels), ("order", order)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
    fields = tuple(p for p in expr.parameters if p != observable)
    nodes_np, weights_np = quadrature_rule(panels, order)
    t_np, w_np = np.polynomial.legendre.leggauss(order)
    hs3 = "generic_dist"

    def values_at(x: Array, params: Params) -> dict[str, Array]:
        values = {p: jnp.asarray(params[p], dtype=jnp.float64) for p in fields}
        values[observable] = x
        return values

    def shape(x: Array, params: Params) -> Array:
        """:math:`f(x \\mid \\theta)`, broadcast to the shape of ``x``."""
        return jnp.broadcast_to(expr(values_at(x, params)), jnp.shape(x))

    def log_shape(x: Array, params: Params) -> Array:
        """:math:`\\log f(x \\mid \\theta)` (:meth:`Expression.log_value`: in log space
        through ``exp`` factors; :math:`-\\infty` where :math:`f \\le 0`)."""
        return jnp.broadcast_to(expr.log_value(values_at(x, params)), jnp.shape(x))

    def log_integral(params: Params, lo: Array, hi: Array) -> Array:
        """:math:`\\log\\int_{lo}^{hi} f` by the composite rule, as a log-sum-exp of
        :math:`\\log f` at the nodes (no underflow in the tails); broadcast in ``lo``,
        ``hi``."""
        lo_, hi_ = lo[..., None, None], hi[..., None, None]
        width = hi_ - lo_
        logs = log_shape(lo_ + width * jnp.asarray(nodes_np), params)
        return jnp.log(width[..., 0, 0]) + logsumexp(logs, axis=(-2, -1), b=jnp.asarray(weights_np))

    def log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
        r""":math:`\log M`, broadcast in ``lo`` and ``hi``."""
        lo_, hi_ = jnp.broadcast_arrays(_bound(lo), _bound(hi))
        return log_integral(params, lo_, hi_)

    def logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
        r""":math:`\log f(x) - \log M` (:math:`-\infty` outside the domain or where
        :math:`f \le 0`)."""
        x, lo, hi = _bound(x), _bound(lo), _bound(hi)
        inside = (x >= lo) & (x <= hi)
        value = log_shape(x, params) - log_normalisation(params, lo, hi)
        return jnp.where(inside, value, -jnp.inf)

    def panel_table(params: Params, lo: Array, hi: Array) -> tuple[Array, Array]:
        """The log-integrals of the shape up to each panel's left edge (``K + 1`` values,
        :math:`-\\infty` first and :math:`\\log M` last), and the panel width."""
        width = hi - lo
        logs = log_shape(lo + width * jnp.asarray(nodes_np), params)
        per_panel = jnp.log(width) + logsumexp(logs, axis=-1, b=jnp.asarray(weights_np))
        cumulative = jax.lax.cumlogsumexp(per_panel)
        return jnp.concatenate([jnp.full(1, -jnp.inf), cumulative]), width / panels

    def cdf_from(table: Array, h: Array, x: Array, params: Params, lo: Array) -> Array:
        k = jnp.clip(jnp.floor((x - lo) / h), 0, panels - 1)
        left = lo + k * h
        part = x - left
        pts = left[..., None] + part[..., None] * (0.5 * (1.0 + jnp.asarray(t_np)))
        positive = part > 0
        log_part = jnp.log(jnp.where(positive, part, 1.0)) + logsumexp(
            log_shape(pts, params), axis=-1, b=0.5 * jnp.asarray(w_np)
        )
        below = jnp.logaddexp(table[k.astype(jnp.int32)], jnp.where(positive, log_part, -jnp.inf))
        return jnp.clip(jnp.exp(below - table[-1]), 0.0, 1.0)

    def cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
        r""":math:`F(x) = \int_{lo}^{x} f / M` by the same panels (``lo``, ``hi`` scalars)."""
        x, lo, hi = _bound(x), _bound(lo), _bound(hi)
        table, h = panel_table(params, lo, hi)
        return cdf_from(table, h, jnp.clip(x, lo, hi), params, lo)

    def sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
        """``n`` events by numerical inversion of the quadrature CDF."""
        lo, hi = _bound(lo), _bound(hi)
        table, h = panel_table(params, lo, hi)
        return invert_cdf(
            _uniform(key, n),
            lambda x: cdf_from(table, h, jnp.clip(x, lo, hi), params, lo),
            lambda x: logpdf(x, params, lo, hi),
            lo,
            hi,
        )

    def check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
        lo_, hi_ = _domain(hs3, lo, hi, finite=True)
        concrete = {p: _scalar(params, hs3, p) for p in fields}
        xs = np.concatenate([[lo_, hi_], (lo_ + (hi_ - lo_) * nodes_np).ravel()])
        values = np.asarray(shape(jnp.asarray(xs), concrete))
        logs = np.asarray(log_shape(jnp.asarray(xs), concrete))
        bad = ~np.isfinite(values) | np.isnan(logs) | (logs == np.inf)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidDistribution(
                f"the shape {str(expr)!r} is {values[i]} at {observable} = {xs[i]:.6g} "
                f"with {concrete}",
                hs3,
                "expression",
                values[i],
            )
        scale = float(np.max(np.abs(values)))
        low = int(np.argmin(values))
        if values[low] < -1e-12 * scale:
            raise InvalidDistribution(
                f"the shape {str(expr)!r} must be >= 0 on [{lo_}, {hi_}]; it is "
                f"{values[low]:.6g} at {observable} = {xs[low]:.6g} with {concrete}",
                hs3,
                "expression",
                values[low],
            )
        coarse = float(log_integral(concrete, _bound(lo_), _bound(hi_)))
        if not np.isfinite(coarse):
            raise InvalidDistribution(
                f"the shape {str(expr)!r} is zero everywhere on [{lo_}, {hi_}] (its "
                f"log-integral is {coarse}) with {concrete}",
                hs3,
                "expression",
                coarse,
            )
        fine_nodes, fine_weights = quadrature_rule(2 * panels, order)
        fine_logs = log_shape(jnp.asarray(lo_ + (hi_ - lo_) * fine_nodes), concrete)
        fine = float(
            np.log(hi_ - lo_) + logsumexp(fine_logs, axis=(-2, -1), b=jnp.asarray(fine_weights))
        )
        if abs(fine - coarse) > RESOLUTION_WARNING:
            warnings.warn(
                f"generic_dist {str(expr)!r}: the normalisation over [{lo_}, {hi_}] changes by "
                f"{abs(fine - coarse):.2g} (relative) when the {panels} quadrature panels are "
                "doubled; the shape is not smooth or too narrow for them: give generic_dist "
                "more panels",
                stacklevel=2,
            )

    return Distribution(
        hs3_type=hs3,
        observable=observable,
        parameters=fields,
        logpdf=logpdf,
        log_normalisation=log_normalisation,
        check=check,
        cdf=cdf,
        sample=sample,
    )
