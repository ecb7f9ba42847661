r"""Maximum-likelihood fits of unbinned models, with implicit derivatives.

:func:`fit` minimises :math:`-2\log L` of an :class:`~relaxed.unbinned.model.ExtendedModel`
with the project's box-constrained solver (:func:`relaxed.infer.newton.minimize`), so the best
fit is differentiable in the events and their weights (implicit differentiation at the
minimum, :math:`\partial\hat\theta/\partial x = -H^{-1}\,\partial_x\nabla_\theta(-2\log L)`),
and reports the uncertainties :math:`\sigma_i = \sqrt{V_{ii}}` of the covariance
:math:`V = 2 H^{-1}`, :math:`H = \partial^2(-2\log L)/\partial\theta^2` (MINUIT's HESSE).

The derivatives come from one pass over the events each (:mod:`relaxed.unbinned.derivatives`).
The Newton steps use by default the outer product of the per-event gradients (Fisher scoring:
first derivatives only, positive semi-definite); the exact Hessian enters at the minimum, for
the uncertainties, and, when the fit is traced (``jit``/``grad``/``vmap``), in exact Newton
steps from the scoring's minimum (two more passes), which carry the implicit derivatives.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import FailedMinimization, InvalidArgument, InvalidParameters
from relaxed.infer.linalg import inv_spd
from relaxed.infer.newton import NewtonSettings, minimize
from relaxed.unbinned.derivatives import (
    CURVATURES,
    chunks,
    nll_objective,
    value_grad_hessian,
    value_grad_outer,
)
from relaxed.unbinned.model import Events, ExtendedModel

__all__ = ["UnbinnedFitResult", "fit", "covariance", "SCORING_MAXITER"]

#: At most this many Fisher-scoring steps (``curvature="outer"``) before the exact Newton steps.
SCORING_MAXITER = 25


class UnbinnedFitResult(NamedTuple):
    """A fit's result: best fit, :math:`-2\\log L` there, iterations, convergence, and the
    Hessian uncertainties and correlations (zero for fixed parameters)."""

    bestfit: Array
    twice_nll: Array
    nit: Array
    converged: Array
    uncertainties: Array
    corr: Array


def covariance(model: ExtendedModel, pars: ArrayLike, data: Events, fixed: Array) -> Array:
    r""":math:`V = 2H^{-1}` over the free parameters (zero rows and columns for fixed ones).

    Example:
        >>> import jax.numpy as jnp
        >>> from relaxed.unbinned import ExtendedModel, Component, Parameter, events
        >>> model = ExtendedModel("x", (0.0, 1.0), [Component("u", "uniform_dist", {}, "n")],
        ...                       {"n": Parameter(4.0, (0.0, 100.0))})
        >>> v = covariance(model, jnp.array([4.0]), events(model, [0.1, 0.2, 0.3, 0.4]),
        ...                jnp.array([False]))
        >>> round(float(v[0, 0]), 6)  # n / 1: the Poisson variance at the minimum
        4.0
    """
    pars = jnp.asarray(pars, dtype=jnp.float64)
    h = 2.0 * value_grad_hessian(model, pars, data)[2]
    both = ~fixed[:, None] & ~fixed[None, :]
    h = jnp.where(both, h, 0.0) + jnp.diag(jnp.where(fixed, 1.0, 0.0))
    return jnp.where(both, 2.0 * inv_spd(h), 0.0)


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _fit(
    model: ExtendedModel,
    data: Events,
    init: Array,
    settings: NewtonSettings,
    curvature: str,
    differentiable: bool,
) -> UnbinnedFitResult:
    data = chunks(data)
    # the solver's tolerances are absolute, in units of the objective; per event they mean
    # the same for 10 events and for 10^7 (the sum's rounding grows with the number)
    scale = jnp.maximum(jnp.sum(jnp.abs(data.w)), 1.0)
    theta = (data, scale)
    exact = nll_objective(model, "exact")
    per_event = lambda p, t: 2.0 * exact(p, t[0]) / t[1]  # noqa: E731
    fixed = jnp.asarray(settings.fixed)
    if curvature == "exact" and settings.method == "newton":
        result = minimize(per_event, theta, init, settings)
    elif settings.method == "bfgs":
        second = value_grad_hessian if curvature == "exact" else value_grad_outer
        start = lambda p, t: 2.0 * second(model, p, t[0])[2] / t[1]  # noqa: E731
        result = minimize(per_event, theta, init, settings, curvature=start)
    else:
        # Newton steps on the outer-product curvature (Fisher scoring: one forward pass, no
        # second derivatives, positive semi-definite) on data that carry no derivative
        outer = nll_objective(model, "outer")
        steps = lambda p, t: 2.0 * outer(p, t[0]) / t[1]  # noqa: E731
        scoring_settings = settings._replace(maxiter=min(settings.maxiter, SCORING_MAXITER))
        result = minimize(steps, jax.lax.stop_gradient(theta), init, scoring_settings)
        if differentiable:
            # then exact Newton steps from there (from a converged start: two passes), which
            # carry the implicit derivatives and finish a scoring that did not converge; a
            # result nobody differentiates (concrete events) needs them only when the
            # scoring did not converge (fit() then calls the exact fit from where it stopped)
            start = jnp.where(fixed, init, jax.lax.stop_gradient(result.x))
            exact_result = minimize(per_event, theta, start, settings)
            result = exact_result._replace(nit=exact_result.nit + result.nit)
    result = result._replace(fun=result.fun * scale)
    cov = covariance(model, result.x, data, fixed)
    sigma = jnp.sqrt(jnp.clip(jnp.diagonal(cov), 0.0))
    safe = jnp.where(sigma > 0, sigma, 1.0)
    corr = cov / (safe[:, None] * safe[None, :])
    return UnbinnedFitResult(result.x, result.fun, result.nit, result.converged, sigma, corr)


def fit(
    model: ExtendedModel,
    data: Events,
    init_pars: ArrayLike | None = None,
    fixed_params: Sequence[bool] | None = None,
    method: str = "newton",
    maxiter: int = 200,
    tolerance: float = 1e-10,
    curvature: str = "outer",
) -> UnbinnedFitResult:
    r"""The maximum-likelihood fit :math:`\hat\theta = \arg\min -2\log L(\theta)` in the
    parameters' bounds, with Hessian uncertainties.

    The solver (:func:`relaxed.infer.newton.minimize`, ``method`` "newton" or "bfgs") works
    on :math:`-2\log L / \sum_i |w_i|`, so that ``tolerance`` (its ``gtol``) means the same
    for any number of events. ``curvature`` is the matrix of the Newton steps (and the BFGS
    start): ``"outer"`` (default), the outer product of the per-event gradients
    :math:`\sum_i w_i \nabla l_i \nabla l_i^\top` (Fisher scoring,
    :func:`~relaxed.unbinned.derivatives.value_grad_outer`: one forward pass, positive
    semi-definite, fewer iterations from a far start), or ``"exact"``, the Hessian. The
    stopping rule (the gradient), the best fit, the uncertainties (the exact Hessian at the
    minimum) and the implicit derivatives (the exact Hessian) are the same for both.

    With ``"outer"``, at most ``min(maxiter, SCORING_MAXITER)`` scoring steps come first; then,
    when the fit is traced (``jit``, ``grad``, ``vmap``: the events may carry derivatives), or
    when the scoring did not converge, exact Newton steps from where it stopped (up to
    ``maxiter`` more); ``nit`` counts both.

    Differentiable in ``data`` (the events and weights) and in ``init_pars``' fixed components.
    Raises :class:`relaxed.exceptions.FailedMinimization` when the fit does not converge and
    :class:`relaxed.exceptions.InvalidParameters` for a start outside the bounds or outside a
    distribution's valid range (when called with concrete numbers; under ``jit``/``grad``
    the ``converged`` flag is returned instead).

    Example:
        >>> from relaxed.unbinned import ExtendedModel, Component, Parameter, events
        >>> model = ExtendedModel("x", (0.0, 1.0), [Component("u", "uniform_dist", {}, "n")],
        ...                       {"n": Parameter(1.0, (0.0, 100.0))})
        >>> result = fit(model, events(model, [0.1, 0.2, 0.3, 0.4]))
        >>> round(float(result.bestfit[0]), 8), round(float(result.uncertainties[0]), 6)
        (4.0, 2.0)
    """
    if curvature not in CURVATURES:
        raise InvalidArgument(f"curvature must be one of {CURVATURES}, got {curvature!r}")
    if not model.extended:  # the outer product is the extended likelihood's expectation
        curvature = "exact"
    cfg = model.config
    traced = any(
        isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves((init_pars, data))
    )
    raw = cfg.suggested_init() if init_pars is None else init_pars
    start = jnp.asarray(raw, dtype=jnp.float64)
    fixed = tuple(cfg.suggested_fixed() if fixed_params is None else map(bool, fixed_params))
    bounds = cfg.suggested_bounds()
    if start.shape != (cfg.npars,) or len(fixed) != cfg.npars:
        raise InvalidParameters(
            f"init_pars and fixed_params need {cfg.npars} entries ({list(cfg.par_order)})"
        )
    if not isinstance(start, jax.core.Tracer):
        init = np.asarray(start)
        for name, value, (lo, hi) in zip(cfg.par_order, init, bounds, strict=True):
            if not lo <= value <= hi:
                raise InvalidParameters(f"init_pars: {name} = {value} outside bounds ({lo}, {hi})")
        model.check(init)
    settings = NewtonSettings(
        lower=tuple(lo for lo, _ in bounds),
        upper=tuple(hi for _, hi in bounds),
        fixed=fixed,
        maxiter=int(maxiter),
        gtol=float(tolerance),
        method=method,
    )
    result = _fit(model, data, start, settings, curvature, traced)
    scored = curvature == "outer" and method != "bfgs"
    if not traced and scored and not bool(result.converged):
        # the scoring steps did not converge (few events, or a start far out): exact Newton
        # steps from where they stopped
        restart = jnp.where(jnp.asarray(fixed), start, result.bestfit)
        exact = _fit(model, data, restart, settings, "exact", traced)
        result = exact._replace(nit=exact.nit + result.nit)
    if not traced and not bool(result.converged):
        raise FailedMinimization(
            f"unbinned fit did not converge in {int(result.nit)} iterations "
            f"(-2 log L = {float(result.twice_nll)})",
            result,
        )
    return result
