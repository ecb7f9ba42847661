r"""Box-constrained minimisation with implicit differentiation of the minimum.

The minimiser solves :math:`\hat x(\theta) = \arg\min_{l \le x \le u} f(x, \theta)` with some
components held fixed, by one of two methods, both working in the *free* subspace (the
components that are not fixed and not pressed against a bound by the gradient) and projecting
onto the box, so that an estimate at a bound lands exactly on it:

- ``"newton"``: damped Newton steps (Levenberg-Marquardt on the exact Hessian). A step
  :math:`s` is accepted when it does not raise :math:`f` (beyond rounding) and lowers it by at
  least :math:`10^{-4}` of the decrease :math:`-g^\top s - \tfrac12 s^\top H s` its quadratic
  model predicts (a step projected onto the box that the model predicts to go uphill is
  refused); otherwise the damping grows.
  Quadratic convergence; each iteration costs one Hessian, :math:`n` Hessian-vector products.
- ``"bfgs"``: quasi-Newton steps :math:`d = -B\,\nabla f` with the inverse-Hessian estimate
  :math:`B` started from a curvature matrix supplied by the caller (for a likelihood the Fisher
  information, which costs one Jacobian of the expected rates) and improved by the BFGS update
  :math:`B \leftarrow (I-\rho s y^\top) B (I-\rho y s^\top) + \rho s s^\top`,
  :math:`\rho = 1/y^\top s`, after a projected backtracking (Armijo) line search. Each
  iteration costs one gradient: this is the method for many parameters, where a dense
  Hessian stops paying.

Convergence (``converged`` in :class:`MinimizeResult`): Newton stops when the largest free
gradient component is below ``gtol`` or an accepted step moves no component by more than
``xtol * (1 + |x|)``; BFGS when the estimated distance to the minimum
:math:`\tfrac12 g^\top B g` is below ``gtol`` or an accepted step is that small. Both also
stop, converged, when no step lowers :math:`f` any more while the free gradient is below
``1e-4`` (rounding noise of large likelihoods); hitting ``maxiter`` or a non-finite objective
means not converged.

BFGS runs in segments, each started from the curvature matrix at its first point (not at the
start of the fit): a failed line search starts a new segment there, and so does a
convergence reached after a failed line search or a step cut short by the box, which is
confirmed only if :math:`\tfrac12 g^\top C^{-1} g` with the fresh curvature :math:`C` is
below ``max(gtol, VERIFY_EDM)`` too (or the segment that followed a failed check lowered
:math:`f` by less than that); a fit that had neither costs no second curvature matrix.
Both guard against an estimate :math:`B` gone stale where the curvature grew by orders of
magnitude: a Poisson-constrained :math:`\gamma` pushed near zero by a projected step, whose
gradient grows like :math:`1/\gamma`. On toys of a 218-parameter ATLAS likelihood the first
made failed line searches converge, and the second caught fits reported converged 11 units
of :math:`-2\log L` above the minimum they then reached. A fit whose :math:`f` falls by less
than that tolerance over 50 iterations stops, not converged (a vmapped batch runs as long as
its slowest lane).

Linear algebra uses :mod:`relaxed.infer.linalg` (no LAPACK call), so the solver can be mapped
with ``jax.vmap`` on CPU without the thread-pool deadlock of batched LAPACK kernels.

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

from relaxed.infer.linalg import inv_spd, solve_spd

__all__ = ["minimize", "NewtonSettings", "MinimizeResult", "free_mask", "METHODS"]

#: Minimisation methods.
METHODS = ("newton", "bfgs")
#: A stalled search (no step lowers f) counts as converged below this free gradient.
STALL_GTOL = 1e-4


class NewtonSettings(NamedTuple):
    """Static settings of the minimiser.

    Attributes:
        lower, upper: box bounds, one per component (tuples: part of the compile key).
        fixed: components held at their starting value.
        maxiter: iteration limit.
        gtol: Newton: converged when the largest free gradient component is below this (in
            units of the objective); BFGS: when :math:`\\tfrac12 g^\\top B g` is.
        xtol: or when an accepted step moved no component by more than ``xtol * (1 + |x|)``.
        method: ``"newton"`` or ``"bfgs"`` (see the module docstring).

    Example:
        >>> settings = NewtonSettings(lower=(0.0, 0.0), upper=(10.0, 10.0), fixed=(False, True))
        >>> settings.maxiter, settings.gtol, settings.method
        (200, 1e-10, 'newton')
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    fixed: tuple[bool, ...]
    maxiter: int = 200
    gtol: float = 1e-10
    xtol: float = 1e-11
    method: str = "newton"


class MinimizeResult(NamedTuple):
    """The minimum and how it was reached.

    Attributes:
        x: the minimum (differentiable, see :func:`minimize`).
        nit: iterations taken.
        converged: whether a convergence criterion was met (module docstring).
        fun: the objective at ``x``, differentiable: by the envelope theorem its derivative
            is the objective's partial derivative at ``x`` (in ``theta``, and in the fixed
            components of ``x0``), since the gradient vanishes on the components that move.

    Example:
        >>> MinimizeResult._fields
        ('x', 'nit', 'converged', 'fun')
    """

    x: Array
    nit: Array
    converged: Array
    fun: Array


def free_mask(x: Array, grad: Array, settings: NewtonSettings, fixed: Array | None = None) -> Array:
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
    fixed = _fixed(settings, fixed)
    at_lower = (x <= lower) & (grad >= 0)
    at_upper = (x >= upper) & (grad <= 0)
    return ~fixed & ~at_lower & ~at_upper


def _masked_system(hess: Array, free: Array, damping: Array) -> Array:
    """H restricted to the free block, identity on the others, plus Marquardt damping."""
    both = free[:, None] & free[None, :]
    diag = jnp.abs(jnp.diagonal(hess)) + 1e-12
    h = jnp.where(both, hess, 0.0)
    return h + jnp.diag(jnp.where(free, damping * diag, 1.0))


def _fixed(settings: NewtonSettings, fixed: Array | None) -> Array:
    """The static ``settings.fixed`` or-ed with a (possibly traced) mask."""
    base = jnp.asarray(settings.fixed)
    return base if fixed is None else base | fixed


def _box(
    settings: NewtonSettings, x0: Array, fixed: Array | None
) -> tuple[Array, Array, Array, Array]:
    lower = jnp.asarray(settings.lower, dtype=x0.dtype)
    upper = jnp.asarray(settings.upper, dtype=x0.dtype)
    fixed = _fixed(settings, fixed)
    return lower, upper, fixed, jnp.where(fixed, x0, jnp.clip(x0, lower, upper))


# -- Newton ---------------------------------------------------------------------------------
# Both methods evaluate the objective at one place only: each pass of their single loop
# evaluates one trial point, and what happens next (accept, reject, backtrack, start the next
# iteration) is decided from that evaluation. The starting point is the first trial. A
# program with one copy of the likelihood and its derivatives compiles in a fraction of the
# time of one with a copy for the start, one for the step and one for the line search (the
# eRJR hypothesis test: 2.5 s before), and runs the same sequence of points.
class _NewtonState(NamedTuple):
    x: Array  # the current point, and the value, gradient and Hessian there
    f: Array
    g: Array
    h: Array
    damping: Array
    trial: Array  # the point evaluated by the next pass
    gmax: Array  # the largest free gradient component at x
    iteration: Array
    started: Array  # whether x has been evaluated (the first pass evaluates the start)
    done: Array
    converged: Array


def _newton(
    fun: Callable[[Array, Any], Array],
    theta: Any,
    x0: Array,
    fixed: Array,
    settings: NewtonSettings,
):
    lower, upper, fixed, x0 = _box(settings, x0, fixed)
    f_of = lambda x: fun(x, theta)  # noqa: E731
    value_grad = jax.value_and_grad(f_of)

    def grad_with_value(x: Array) -> tuple[Array, tuple[Array, Array]]:
        f, g = value_grad(x)
        return g, (f, g)

    # value, gradient and Hessian from one forward-over-reverse pass
    derivatives = jax.jacfwd(grad_with_value, has_aux=True)

    def cond(state: _NewtonState) -> Array:
        return ~state.done

    def body(state: _NewtonState) -> _NewtonState:
        h_t, (f_t, g_t) = derivatives(state.trial)
        # the trial of a Newton step from x: near the minimum a step changes f by less than
        # its rounding error, so steps that do not increase f beyond that are accepted (or
        # they are rejected at random)
        f = state.f
        # sufficient decrease: a step is taken when f does not rise beyond its rounding and
        # it falls by at least 1e-4 of what the quadratic model predicts; a step that the
        # model says goes uphill (a projection onto the box can bend a Newton step so) is
        # refused, however much f happens to fall, since it can jump to another basin
        s = state.trial - state.x
        pred = -(jnp.dot(state.g, s) + 0.5 * jnp.dot(s, state.h @ s))
        noise = 1e-12 * (1.0 + jnp.abs(f))
        sufficient = ((pred > noise) & (f - f_t >= 1e-4 * pred)) | (jnp.abs(pred) <= noise)
        accept = jnp.isfinite(f_t) & (f_t <= f + noise) & (~state.started | sufficient)
        moved = jnp.max(jnp.abs(state.trial - state.x) / (1.0 + jnp.abs(state.x)))
        finite = jnp.isfinite(f)
        converged = finite & ((state.gmax < settings.gtol) | (accept & (moved <= settings.xtol)))
        stalled = state.damping > 1e12
        first = ~state.started  # the start: taken as it is
        take = first | accept
        x = jnp.where(take, state.trial, state.x)
        f = jnp.where(take, f_t, f)
        g = jnp.where(take, g_t, state.g)
        h = jnp.where(take, h_t, state.h)
        damping = jnp.where(
            first, state.damping, jnp.where(accept, state.damping * 0.2, state.damping * 10.0)
        )
        iteration = jnp.where(first, state.iteration, state.iteration + 1)
        done = jnp.where(first, ~jnp.isfinite(f_t), converged | stalled | ~finite)
        done = done | (iteration >= settings.maxiter)
        converged = ~first & (converged | (stalled & finite & (state.gmax < STALL_GTOL)))
        # the next trial: a damped Newton step in the free subspace
        free = free_mask(x, g, settings, fixed)
        gfree = jnp.where(free, g, 0.0)
        step = solve_spd(_masked_system(h, free, damping), -gfree)
        trial = jnp.where(free, jnp.clip(x + step, lower, upper), x)
        return _NewtonState(
            x=x,
            f=f,
            g=g,
            h=h,
            damping=damping,
            trial=trial,
            gmax=jnp.max(jnp.abs(gfree)),
            iteration=iteration,
            started=jnp.asarray(True),
            done=done,
            converged=converged,
        )

    n = x0.shape[0]
    init = _NewtonState(
        x=x0,
        f=jnp.zeros((), x0.dtype),
        g=jnp.zeros_like(x0),
        h=jnp.zeros((n, n), x0.dtype),
        damping=jnp.asarray(1e-3, dtype=x0.dtype),
        trial=x0,
        gmax=jnp.zeros((), x0.dtype),
        iteration=jnp.asarray(0),
        started=jnp.asarray(False),
        done=jnp.asarray(False),
        converged=jnp.asarray(False),
    )
    final = jax.lax.while_loop(cond, body, init)
    return MinimizeResult(final.x, final.iteration, final.converged, final.f)


# -- BFGS -----------------------------------------------------------------------------------
class _BfgsState(NamedTuple):
    x: Array  # the current point, the value and gradient there
    f: Array
    g: Array
    inv_hess: Array
    direction: Array  # the search direction from x (zero on components that do not move)
    free: Array
    edm: Array  # the estimated distance to the minimum, 1/2 g^T B g on the free block
    step: Array  # the step length of the next trial, x + step * direction
    trials: Array  # trials of the current line search so far
    trial: Array  # the point evaluated by the next pass
    iteration: Array
    started: Array
    done: Array
    converged: Array  # met a criterion (while ``restart`` is set: to be confirmed)
    restart: Array  # the next pass starts from the curvature matrix at x
    progressed: Array  # a step was accepted since the last restart
    irregular: Array  # a line search failed, or a step was cut by the box: confirm convergence
    trial_cut: Array  # the box cut the trial step
    f_check: Array  # f where a convergence was not confirmed
    f_window: Array  # f and the iteration where the current window of iterations began
    window_start: Array
    restarts: Array


#: Backtracking halvings of a line search before it counts as failed.
_MAX_TRIALS = 20
#: Restarts of the BFGS method from the curvature at the current point (after a failed line
#: search, or to confirm a convergence) before it stops.
_MAX_RESTARTS = 8
#: A BFGS convergence is confirmed when the distance to the minimum estimated with the
#: curvature at the point, 1/2 g^T C^{-1} g, is below this (or ``gtol`` if larger).
VERIFY_EDM = 1e-6
#: BFGS stops, not converged, when f falls by less than max(gtol, VERIFY_EDM) over this many
#: iterations.
_WINDOW = 50


def _tolerance(settings: NewtonSettings) -> float:
    """The objective change below which BFGS checks count as met (convergence checks,
    stagnation)."""
    return max(settings.gtol, VERIFY_EDM)


def _initial_inverse(curv: Array, fixed: Array) -> Array:
    """Inverse of the curvature matrix, with unit curvature for components that have none
    (unused or fixed parameters), made positive definite by a relative diagonal floor."""
    diag = jnp.diagonal(curv)
    scale = jnp.where(fixed | ~(diag > 0), 1.0, diag)
    both = ~fixed[:, None] & ~fixed[None, :]
    h = jnp.where(both, curv, 0.0)
    h = jnp.where(jnp.eye(h.shape[0], dtype=bool), scale * (1.0 + 1e-10), h)
    inverse = inv_spd(h)
    # a Fisher matrix is positive semi-definite; if rounding made it singular, fall back to
    # its diagonal
    return jnp.where(jnp.all(jnp.isfinite(inverse)), inverse, jnp.diag(1.0 / scale))


def _bfgs(
    fun: Callable[[Array, Any], Array],
    theta: Any,
    x0: Array,
    fixed: Array,
    settings: NewtonSettings,
    curvature: Callable[[Array, Any], Array] | None,
):
    lower, upper, fixed, x0 = _box(settings, x0, fixed)
    f_of = lambda x: fun(x, theta)  # noqa: E731
    value_grad = jax.value_and_grad(f_of)
    curv_of = jax.hessian(f_of) if curvature is None else (lambda x: curvature(x, theta))  # noqa: E731
    tol = _tolerance(settings)

    def restart(state: _BfgsState) -> _BfgsState:
        # the curvature matrix at x replaces the quasi-Newton estimate, which no longer
        # describes the objective there (a component pushed onto a bound where a Poisson
        # constraint's gradient grows like 1/x, say); a convergence is confirmed with it,
        # or (after a failed confirmation) when f fell by less than the tolerance since
        inv_hess = _initial_inverse(curv_of(state.x), fixed)
        gfree = jnp.where(state.free, state.g, 0.0)
        direction = -jnp.where(state.free, inv_hess @ gfree, 0.0)
        edm = -0.5 * jnp.dot(gfree, direction)
        confirmed = state.converged & ((edm < tol) | (state.f > state.f_check - tol))
        return state._replace(
            inv_hess=inv_hess,
            direction=direction,
            edm=edm,
            step=jnp.ones_like(state.step),
            trials=jnp.zeros_like(state.trials),
            trial=jnp.where(state.free, jnp.clip(state.x + direction, lower, upper), state.x),
            trial_cut=jnp.any(
                state.free & ((state.x + direction < lower) | (state.x + direction > upper))
            ),
            done=confirmed,
            converged=confirmed,
            restart=jnp.asarray(False),
            progressed=~state.started,  # the first restart only sets up the start
            f_check=jnp.where(state.converged, state.f, state.f_check),
            restarts=state.restarts + 1,
        )

    def segment_cond(state: _BfgsState) -> Array:
        return ~state.done

    def segment(state: _BfgsState) -> _BfgsState:
        # a restart, then iterations until the next restart or the end. Mapped over a batch
        # of fits (vmap) each segment runs as long as its slowest fit, and the curvature is
        # computed once per segment; inside a single loop's body (even in a loop run at most
        # once) the mapped solver paid for it in every pass: 65 times slower on 218
        # parameters (measured)
        state = jax.tree_util.tree_map(
            lambda new, old: jnp.where(state.restart, new, old), restart(state), state
        )
        return jax.lax.while_loop(lambda s: ~s.done & ~s.restart, iterate, state)

    def iterate(state: _BfgsState) -> _BfgsState:
        f_t, g_t = value_grad(state.trial)
        first = ~state.started  # the start: taken as it is
        # a trial of the projected backtracking line search from x, from the full step down
        # by halves; the gradient comes with each trial's value, so an accepted first trial
        # (the usual case) costs one value-and-gradient evaluation
        decrease = jnp.sum(state.g * (state.trial - state.x))
        f = state.f
        ok = jnp.isfinite(f_t) & (f_t <= f + 1e-4 * decrease + 1e-13 * (1.0 + jnp.abs(f)))
        searched = ~first & (ok | (state.trials + 1 >= _MAX_TRIALS))
        failed = searched & ~ok
        # the end of an iteration: the BFGS update from the line search's last trial
        s = jnp.where(state.free, state.trial - state.x, 0.0)
        y = jnp.where(state.free, g_t - state.g, 0.0)
        sy = jnp.dot(s, y)
        update = ok & (sy > 1e-12 * jnp.sqrt(jnp.dot(s, s) * jnp.dot(y, y)) + 1e-300)
        rho = jnp.where(update, 1.0 / jnp.where(update, sy, 1.0), 0.0)
        # (I - rho s y^T) B (I - rho y s^T) + rho s s^T, expanded for a symmetric B: O(n^2);
        # rho = 0 (no update) leaves B
        by = state.inv_hess @ y
        # outer products written as broadcasts (a transposed copy is a separate, slow kernel)
        sym = s[:, None] * by[None, :] + by[:, None] * s[None, :]
        ss = s[:, None] * s[None, :]
        updated = state.inv_hess - rho * sym + (rho * rho * jnp.dot(y, by) + rho) * ss
        moved = jnp.max(jnp.abs(s) / (1.0 + jnp.abs(state.x)))
        gmax = jnp.max(jnp.abs(jnp.where(state.free, state.g, 0.0)))
        finite = jnp.isfinite(f)
        met = finite & ((state.edm < settings.gtol) | (ok & (moved <= settings.xtol)))
        # a failed line search right after a restart: nothing lowers f from x
        stalled = failed & ~state.progressed
        take = first | (searched & ok)
        x = jnp.where(take, state.trial, state.x)
        f = jnp.where(take, f_t, f)
        g = jnp.where(take, g_t, state.g)
        inv_hess = jnp.where(searched, updated, state.inv_hess)
        iteration = jnp.where(searched, state.iteration + 1, state.iteration)
        # stagnation: f must fall by the tolerance over every window of iterations (a fit
        # creeping along a narrow valley at 1e-8 per step would otherwise run to maxiter,
        # and a vmapped batch runs as long as its slowest fit)
        window_end = searched & (iteration - state.window_start >= _WINDOW)
        stagnated = window_end & ~met & (state.f_window - f < tol)
        # a criterion met, or a failed line search after progress: restart from the
        # curvature at x (which confirms a convergence), while restarts are left
        more = state.restarts < _MAX_RESTARTS
        irregular = state.irregular | failed | (searched & ok & state.trial_cut)
        restart = searched & finite & ~stalled & ((met & irregular) | failed) & more
        done = jnp.where(
            first,
            ~jnp.isfinite(f_t),
            searched & ((met | failed) & ~restart | ~finite | stalled | stagnated),
        )
        done = done | (iteration >= settings.maxiter)
        converged = jnp.where(
            searched, met | (stalled & finite & (gmax < STALL_GTOL)), state.converged
        )
        # the next trial: the full quasi-Newton step from a new point, or half the last step
        new = first | searched
        free = jnp.where(new, free_mask(x, g, settings, fixed), state.free)
        gfree = jnp.where(free, g, 0.0)
        direction = jnp.where(new, -jnp.where(free, inv_hess @ gfree, 0.0), state.direction)
        step = jnp.where(new, 1.0, 0.5 * state.step)
        raw = x + step * direction
        trial = jnp.where(free, jnp.clip(raw, lower, upper), x)
        return state._replace(
            x=x,
            f=f,
            g=g,
            inv_hess=inv_hess,
            direction=direction,
            free=free,
            edm=jnp.where(new, -0.5 * jnp.dot(gfree, direction), state.edm),
            step=step,
            trials=jnp.where(new, 0, state.trials + 1),
            trial=trial,
            iteration=iteration,
            started=jnp.asarray(True),
            done=done,
            converged=converged,
            restart=restart & ~done,
            progressed=state.progressed | (searched & ok),
            irregular=irregular,
            trial_cut=jnp.any(free & ((raw < lower) | (raw > upper))),
            f_window=jnp.where(window_end, f, state.f_window),
            window_start=jnp.where(window_end, iteration, state.window_start),
        )

    init = _BfgsState(
        x=x0,
        f=jnp.zeros((), x0.dtype),
        g=jnp.zeros_like(x0),
        inv_hess=jnp.zeros((x0.shape[0], x0.shape[0]), x0.dtype),  # set by the first restart
        direction=jnp.zeros_like(x0),
        free=jnp.zeros(x0.shape, dtype=bool),
        edm=jnp.zeros((), x0.dtype),
        step=jnp.ones((), x0.dtype),
        trials=jnp.asarray(0),
        trial=x0,
        iteration=jnp.asarray(0),
        started=jnp.asarray(False),
        done=jnp.asarray(False),
        converged=jnp.asarray(False),
        restart=jnp.asarray(True),
        progressed=jnp.asarray(True),
        irregular=jnp.asarray(False),
        trial_cut=jnp.asarray(False),
        f_check=jnp.asarray(jnp.inf, x0.dtype),
        f_window=jnp.asarray(jnp.inf, x0.dtype),
        window_start=jnp.asarray(0),
        restarts=jnp.asarray(-1),  # the first restart sets up the start
    )
    final = jax.lax.while_loop(segment_cond, segment, init)
    return MinimizeResult(final.x, final.iteration, final.converged, final.f)


def _solve(fun, theta, x0, fixed, settings, curvature=None) -> MinimizeResult:
    if settings.method == "bfgs":
        return _bfgs(fun, theta, x0, fixed, settings, curvature)
    return _newton(fun, theta, x0, fixed, settings)


def minimize(
    fun: Callable[[Array, Any], Array],
    theta: Any,
    x0: Array,
    settings: NewtonSettings,
    curvature: Callable[[Array, Any], Array] | None = None,
    fixed: Array | None = None,
) -> MinimizeResult:
    """:math:`\\arg\\min_x f(x, \\theta)` in the box, fixed components taken from ``x0``.

    Returns a :class:`MinimizeResult`; its ``x`` is differentiable in ``theta`` (any pytree of
    arrays: data, a model) and in the fixed components of ``x0`` by implicit
    differentiation. ``curvature(x, theta)``, a positive semi-definite approximation of the
    Hessian, starts the BFGS method (default: the exact Hessian). ``fixed``, a boolean array
    that may be traced, holds more components fixed than ``settings.fixed`` (so that free and
    conditional fits share one compiled, vmapped solver).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda x, t: jnp.sum((x - t) ** 2)
        >>> s = NewtonSettings(lower=(0.0, 0.0), upper=(10.0, 10.0), fixed=(False, False))
        >>> result = minimize(f, jnp.array([2.0, -1.0]), jnp.ones(2), s)
        >>> result.x.tolist(), bool(result.converged)
        ([2.0, 0.0], True)
        >>> jax.jacobian(lambda t: minimize(f, t, jnp.ones(2), s).x)(jnp.array([2.0, -1.0]))
        Array([[1., 0.],
               [0., 0.]], dtype=float64)
        >>> minimize(f, jnp.array([2.0, 3.0]), jnp.ones(2), s, fixed=jnp.array([True, False])).x
        Array([1., 3.], dtype=float64)
    """
    if fixed is None:
        fixed = jnp.zeros(len(settings.fixed), dtype=bool)
    result = _minimize(fun, theta, x0, jnp.asarray(fixed, dtype=bool), settings, curvature)
    # the counters carry no derivative (symbolic zeros let flags be combined under grad)
    return result._replace(
        nit=jax.lax.stop_gradient(result.nit),
        converged=jax.lax.stop_gradient(result.converged),
    )


@partial(jax.custom_vjp, nondiff_argnums=(0, 4, 5))
def _minimize(fun, theta, x0, fixed, settings, curvature) -> MinimizeResult:
    return _solve(fun, theta, x0, fixed, settings, curvature)


def _minimize_fwd(fun, theta, x0, fixed, settings, curvature):
    result = _solve(fun, theta, x0, fixed, settings, curvature)
    return result, (result.x, theta, fixed)


def _minimize_bwd(fun, settings, curvature, residuals, ct):
    x, theta, fixed_extra = residuals
    ct_fun = ct.fun
    ct = ct.x
    grad_x = jax.grad(fun, argnums=0)
    g = grad_x(x, theta)
    h = jax.hessian(fun, argnums=0)(x, theta)
    free = free_mask(x, g, settings, fixed_extra)
    fixed = _fixed(settings, fixed_extra)
    system = _masked_system(h, free, jnp.zeros((), x.dtype))
    u = jnp.where(free, solve_spd(system, jnp.where(free, ct, 0.0)), 0.0)
    # the minimum's location through grad_x f (implicit function theorem) and its value
    # through f itself (envelope theorem), in one pullback
    _, vjp_theta = jax.vjp(lambda t: (grad_x(x, t), fun(x, t)), theta)
    (theta_ct,) = vjp_theta((-u, ct_fun))
    x0_ct = jnp.where(fixed, ct - h @ u + ct_fun * g, 0.0)
    # A result nobody uses (a start of a multi-start fit that lost, possibly at a point
    # where the objective is not finite) gets a zero cotangent: its contribution is exactly
    # zero, not 0 * NaN from derivatives taken there.
    unused = jnp.all(ct == 0) & (ct_fun == 0)
    theta_ct = jax.tree_util.tree_map(lambda v: jnp.where(unused, jnp.zeros_like(v), v), theta_ct)
    x0_ct = jnp.where(unused, jnp.zeros_like(x0_ct), x0_ct)
    return theta_ct, x0_ct, None


_minimize.defvjp(_minimize_fwd, _minimize_bwd)
