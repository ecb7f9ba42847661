r"""Box-constrained Newton minimisation with implicit differentiation of the minimum.

The minimiser solves :math:`\hat x(\theta) = \arg\min_{l \le x \le u} f(x, \theta)` with some
components held fixed. Each iteration takes a damped Newton step (Levenberg-Marquardt on the
exact Hessian) in the *free* subspace, the components that are not fixed and not pressed
against a bound by the gradient, and projects it onto the box, so an estimate at a bound lands
exactly on it. A step is accepted when it does not raise :math:`f` (beyond rounding);
otherwise the damping grows. Iteration stops when the free gradient vanishes or an accepted
step no longer moves the parameters.

Gradients of :math:`\hat x` follow from the optimality (KKT) conditions rather than from
unrolling the iterations: on the free components :math:`\nabla_x f(\hat x, \theta) = 0`, so

.. math::

    \frac{\partial \hat x_F}{\partial \theta} = -H_{FF}^{-1}\,\partial_\theta \nabla_{x_F} f,
    \qquad
    \frac{\partial \hat x_F}{\partial x_K} = -H_{FF}^{-1} H_{FK},

where :math:`K` are the fixed components (their values come from the starting point) and the
components held at an active bound do not move. This is the idiom of ``jax.lax.custom_root``
written as a ``jax.custom_vjp``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

__all__ = ["minimize", "NewtonSettings", "free_mask"]


class NewtonSettings(NamedTuple):
    """Static settings of the minimiser.

    Attributes:
        lower, upper: box bounds, one per component (tuples: part of the compile key).
        fixed: components held at their starting value.
        maxiter: iteration limit.
        gtol: converged when the largest free gradient component is below this (in units of
            the objective), or
        xtol: when an accepted step moved no component by more than ``xtol * (1 + |x|)``.

    Example:
        >>> settings = NewtonSettings(lower=(0.0, 0.0), upper=(10.0, 10.0), fixed=(False, True))
        >>> settings.maxiter, settings.gtol
        (200, 1e-10)
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    fixed: tuple[bool, ...]
    maxiter: int = 200
    gtol: float = 1e-10
    xtol: float = 1e-11


def free_mask(x: Array, grad: Array, settings: NewtonSettings) -> Array:
    r"""Components that may move: not fixed, and not at a bound that the gradient pushes into
    (:math:`x_i = l_i` with :math:`\partial_i f \ge 0`, or :math:`x_i = u_i` with
    :math:`\partial_i f \le 0`, for minimising :math:`f`).

    Example:
        >>> import jax.numpy as jnp
        >>> s = NewtonSettings(lower=(0.0, 0.0, 0.0), upper=(1.0, 1.0, 1.0),
        ...                    fixed=(False, False, True))
        >>> free_mask(jnp.array([0.0, 0.5, 0.5]), jnp.array([1.0, 1.0, 1.0]), s).tolist()
        [False, True, False]
    """
    lower = jnp.asarray(settings.lower, dtype=x.dtype)
    upper = jnp.asarray(settings.upper, dtype=x.dtype)
    fixed = jnp.asarray(settings.fixed)
    at_lower = (x <= lower) & (grad >= 0)
    at_upper = (x >= upper) & (grad <= 0)
    return ~fixed & ~at_lower & ~at_upper


def _masked_system(hess: Array, free: Array, damping: Array) -> Array:
    """H restricted to the free block, identity on the others, plus Marquardt damping."""
    both = free[:, None] & free[None, :]
    diag = jnp.abs(jnp.diagonal(hess)) + 1e-12
    h = jnp.where(both, hess, 0.0)
    return h + jnp.diag(jnp.where(free, damping * diag, 1.0))


class _State(NamedTuple):
    x: Array
    f: Array
    damping: Array
    step_change: Array
    iteration: Array
    done: Array


def _solve(fun: Callable[[Array, Any], Array], theta: Any, x0: Array, settings: NewtonSettings):
    lower = jnp.asarray(settings.lower, dtype=x0.dtype)
    upper = jnp.asarray(settings.upper, dtype=x0.dtype)
    fixed = jnp.asarray(settings.fixed)
    x0 = jnp.where(fixed, x0, jnp.clip(x0, lower, upper))
    f_of = lambda x: fun(x, theta)  # noqa: E731
    value_grad = jax.value_and_grad(f_of)
    hess_of = jax.hessian(f_of)

    def cond(state: _State) -> Array:
        return ~state.done & (state.iteration < settings.maxiter)

    def body(state: _State) -> _State:
        f, g = value_grad(state.x)
        h = hess_of(state.x)
        free = free_mask(state.x, g, settings)
        gfree = jnp.where(free, g, 0.0)
        step = jnp.linalg.solve(_masked_system(h, free, state.damping), -gfree)
        x_new = jnp.where(free, jnp.clip(state.x + step, lower, upper), state.x)
        f_new = f_of(x_new)
        # near the minimum a Newton step changes f by less than its rounding error: accept
        # steps that do not increase f beyond that, or they are rejected at random
        accept = jnp.isfinite(f_new) & (f_new <= f + 1e-12 * (1.0 + jnp.abs(f)))
        moved = jnp.max(jnp.abs(x_new - state.x) / (1.0 + jnp.abs(state.x)))
        converged = (jnp.max(jnp.abs(gfree)) < settings.gtol) | (accept & (moved <= settings.xtol))
        return _State(
            x=jnp.where(accept, x_new, state.x),
            f=jnp.where(accept, f_new, f),
            damping=jnp.where(accept, state.damping * 0.2, state.damping * 10.0),
            step_change=jnp.where(accept, f - f_new, state.step_change),
            iteration=state.iteration + 1,
            done=converged | (state.damping > 1e12),
        )

    init = _State(
        x=x0,
        f=f_of(x0),
        damping=jnp.asarray(1e-3, dtype=x0.dtype),
        step_change=jnp.asarray(jnp.inf, dtype=x0.dtype),
        iteration=jnp.asarray(0),
        done=jnp.asarray(False),
    )
    final = jax.lax.while_loop(cond, body, init)
    return final.x, final.iteration


@partial(jax.custom_vjp, nondiff_argnums=(0, 3))
def minimize(
    fun: Callable[[Array, Any], Array], theta: Any, x0: Array, settings: NewtonSettings
) -> Array:
    """:math:`\\arg\\min_x f(x, \\theta)` in the box, fixed components taken from ``x0``.

    Differentiable in ``theta`` (any pytree of arrays: data, a model) and in the fixed
    components of ``x0`` by implicit differentiation.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x, t: jnp.sum((x - t) ** 2)
        >>> s = NewtonSettings(lower=(0.0, 0.0), upper=(10.0, 10.0), fixed=(False, False))
        >>> minimize(f, jnp.array([2.0, -1.0]), jnp.ones(2), s).tolist()
        [2.0, 0.0]
        >>> jax.jacobian(lambda t: minimize(f, t, jnp.ones(2), s))(jnp.array([2.0, -1.0])).tolist()
        [[1.0, 0.0], [0.0, 0.0]]
    """
    return _solve(fun, theta, x0, settings)[0]


def _minimize_fwd(fun, theta, x0, settings):
    x = _solve(fun, theta, x0, settings)[0]
    return x, (x, theta)


def _minimize_bwd(fun, settings, residuals, ct):
    x, theta = residuals
    grad_x = jax.grad(fun, argnums=0)
    g = grad_x(x, theta)
    h = jax.hessian(fun, argnums=0)(x, theta)
    free = free_mask(x, g, settings)
    fixed = jnp.asarray(settings.fixed)
    u = jnp.linalg.solve(_masked_system(h, free, jnp.zeros((), x.dtype)), jnp.where(free, ct, 0.0))
    u = jnp.where(free, u, 0.0)
    _, vjp_theta = jax.vjp(lambda t: grad_x(x, t), theta)
    (theta_ct,) = vjp_theta(-u)
    x0_ct = jnp.where(fixed, ct - h @ u, 0.0)
    return theta_ct, x0_ct


minimize.defvjp(_minimize_fwd, _minimize_bwd)
