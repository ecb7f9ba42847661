r"""Upper limits on the parameter of interest by inverting the :math:`\mathrm{CL}_s` test.

The upper limit at confidence level :math:`1-\alpha` is the root :math:`\mu^*` of

.. math::

    \mathrm{CL}_s(\mu^*) = \alpha,

for the observed :math:`\mathrm{CL}_s` and for each of the five expected values
(:math:`-2\sigma \dots +2\sigma`). With a ``scan`` the roots are interpolated linearly between
scan points (pyhf's ``linear_grid_scan``); without one they are found by bracketed regula
falsi (Illinois variant, no derivatives) on :math:`\log\mathrm{CL}_s(\mu) - \log\alpha`,
all six at once in one jit-compiled loop.

The root is differentiable with respect to the model's arrays, the data and :math:`\alpha`
by the implicit function theorem: with :math:`g(\mu, \theta) = \log\mathrm{CL}_s(\mu, \theta)
- \log\alpha`,

.. math::

    \frac{\partial\mu^*}{\partial\theta}
        = -\left.\frac{\partial g/\partial\theta}{\partial g/\partial\mu}\right|_{\mu=\mu^*},

implemented as a ``jax.custom_vjp`` (no differentiation through the iterations).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed import cache
from relaxed.exceptions import InvalidParameters, LimitNotBracketed
from relaxed.histfactory.model import Model
from relaxed.infer import calculators, checks
from relaxed.infer.hypotest import _check, pop_solver_options

__all__ = ["upper_limit", "linear_grid_scan", "root_scan", "cls_scan", "check_bracketed"]

_FIT_KWARGS = ("init_pars", "par_bounds", "fixed_params")
#: Where the root finder's first phase tests inside the bracket, as fractions of its width.
_INSIDE = (1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0, 1.0 / 2.0)
_TINY = 1e-300


class _Setup(NamedTuple):
    """Static configuration of the hypothesis tests behind a limit (a compile key)."""

    config: Any
    test_stat: str
    calctype: str
    calc_kwargs: tuple[tuple[str, Any], ...]


def _setup(
    data: ArrayLike, model: Model, hypotest_kwargs: dict[str, Any]
) -> tuple[Array, Array, Any, _Setup]:
    kwargs = dict(hypotest_kwargs)
    fit_kwargs = {k: kwargs.pop(k, None) for k in _FIT_KWARGS}
    test_stat = kwargs.pop("test_stat", "qtilde")
    calctype = kwargs.pop("calctype", "asymptotics")
    key = kwargs.pop("key", None)
    kwargs.pop("track_progress", None)
    _check(
        None,
        data,
        model,
        fit_kwargs["init_pars"],
        fit_kwargs["par_bounds"],
        fit_kwargs["fixed_params"],
        test_stat,
        calctype,
        kwargs,
    )
    solver = pop_solver_options(kwargs)
    init, config = calculators._resolve(
        model,
        fit_kwargs["init_pars"],
        fit_kwargs["par_bounds"],
        fit_kwargs["fixed_params"],
        solver,
    )
    if calctype == "asymptotics":
        calculators._check_base_dist(kwargs.get("calc_base_dist", "normal"))
        calc_kwargs = (("calc_base_dist", kwargs.get("calc_base_dist", "normal")),)
    else:
        calc_kwargs = (("ntoys", calculators._check_ntoys(kwargs.get("ntoys", 2000))),)
    key = calculators._key(key)
    return model.data_array(data), init, key, _Setup(config, test_stat, calctype, calc_kwargs)


def _cls_values(
    mu: Array, model: Model, data: Array, init: Array, key: Array, setup: _Setup
) -> Array:
    """Observed and the five expected CLs at ``mu``, shape (6,) (CLsb for q0, as hypotest)."""
    opts = dict(setup.calc_kwargs)
    if setup.calctype == "asymptotics":
        result = calculators._asymptotic_result(
            model, data, mu, init, setup.config, setup.test_stat, opts["calc_base_dist"]
        )
    else:
        result = calculators._toy_result(
            model, data, mu, init, key, setup.config, setup.test_stat, opts["ntoys"]
        )
    if setup.test_stat == "q0":
        return jnp.concatenate([result.CLsb[None], result.CLsb_exp])
    return jnp.concatenate([result.CLs[None], result.CLs_exp])


def _cls_values_many(
    mus: Array, model: Model, data: Array, init: Array, key: Array, setup: _Setup
) -> Array:
    """:func:`_cls_values` at each of ``mus``, shape (k, 6). Asymptotically the fits that do
    not depend on the POI value run once for all of them
    (:func:`relaxed.infer.calculators._asimov_stats_many`); toys are mapped."""
    if setup.calctype != "asymptotics":
        return jax.vmap(lambda mu: _cls_values(mu, model, data, init, key, setup))(mus)
    base = dict(setup.calc_kwargs)["calc_base_dist"]
    teststat, q, q_A, _, converged = calculators._asimov_stats_many(
        model, data, mus, init, setup.config, setup.test_stat
    )
    result = jax.vmap(lambda t, a, b, c: calculators._asymptotic_pvalues(t, a, b, base, c))(
        teststat, q, q_A, converged
    )
    if setup.test_stat == "q0":
        return jnp.concatenate([result.CLsb[:, None], result.CLsb_exp], axis=1)
    return jnp.concatenate([result.CLs[:, None], result.CLs_exp], axis=1)


@partial(jax.jit, static_argnums=(5,))
def _scan_values(
    scan: Array, model: Model, data: Array, init: Array, key: Array, setup: _Setup
) -> Array:
    return _cls_values_many(scan, model, data, init, key, setup)


def _interp_limits(scan: Array, values: Array, level: ArrayLike) -> Array:
    level = jnp.asarray(level, dtype=jnp.float64)
    return jnp.stack([jnp.interp(level, values[::-1, i], scan[::-1]) for i in range(6)])


def _results_list(scan: Array, values: Array) -> list[tuple[Array, list[Array]]]:
    """``[(CLs_obs, [CLs_exp -2 .. +2 sigma]) for each point]``; concrete values as numpy
    scalars (indexing a JAX array 6000 times for a 1000-point scan took 0.4 s)."""
    if not checks.is_traced(values):
        values = np.asarray(values)
    return [(values[k, 0], [values[k, j] for j in range(1, 6)]) for k in range(scan.shape[0])]


#: The six limits, in the order of the values (observed, then expected -2 .. +2 sigma).
LIMIT_NAMES = (
    "observed",
    "expected -2 sigma",
    "expected -1 sigma",
    "expected median",
    "expected +1 sigma",
    "expected +2 sigma",
)


def _which(names: list[str]) -> str:
    """``["observed", "expected +2 sigma"]`` -> "the observed and expected +2 sigma upper
    limits"."""
    if len(names) == 6:
        return "the observed and all 5 expected upper limits"
    if len(names) == 5 and "observed" not in names:
        return "all 5 expected upper limits"
    if len(names) == 1:
        return f"the {names[0]} upper limit"
    return f"the {', '.join(names[:-1])} and {names[-1]} upper limits"


def check_bracketed(
    low: float,
    high: float,
    cls_low: Any,
    cls_high: Any,
    level: float,
    model: Model | str,
    poi_bounds: tuple[float, float] | None = None,
) -> None:
    r"""Raise :class:`~relaxed.exceptions.LimitNotBracketed` unless each of the six limits
    (observed, expected :math:`-2\sigma \dots +2\sigma`) is inside ``[low, high]``: the
    CLs values ``cls_low`` (shape (6,)) at ``low`` must be :math:`\ge` ``level`` and
    ``cls_high`` at ``high`` :math:`\le` ``level`` (NaN counts as neither).

    ``[low, high]`` is a scan's range, or with ``poi_bounds`` (root finding) the bracket,
    which stops at the POI's bounds: the message then says that the limit lies beyond them.
    ``model`` names the POI in the message (a model, or the POI's name).

    Example:
        >>> import relaxed
        >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [{"name": "s",
        ...     "data": [1.0], "modifiers": [{"name": "mu", "type": "normfactor",
        ...     "data": None}]}]}]})
        >>> check_bracketed(0.0, 5.0, [1.0] * 6, [0.01] * 5 + [0.2], 0.05, model)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.LimitNotBracketed: the expected +2 sigma upper limit is above the ...
    """
    cls_low = np.asarray(cls_low, dtype=np.float64)
    cls_high = np.asarray(cls_high, dtype=np.float64)
    above = ~(cls_high <= level)  # NaN at the upper end: not excluded there
    below = ~above & ~(cls_low >= level)
    if not (above.any() or below.any()):
        return
    poi = model if isinstance(model, str) else model.config.poi_name
    messages = []
    for bad, values, side in ((above, cls_high, "above"), (below, cls_low, "below")):
        if not bad.any():
            continue
        names = [n for n, b in zip(LIMIT_NAMES, bad, strict=True) if b]
        at = high if side == "above" else low
        sign = ">" if side == "above" else "<"
        shown = ", ".join(_fmt(v) for v in values[bad])
        if poi_bounds is None:
            point = "last" if side == "above" else "first"
            where = f"{side} the {point} scan point {poi} = {at:g}"
            hint = "extend the scan to higher values" if side == "above" else "start it lower"
        elif at == poi_bounds[side == "above"]:
            bound = "upper" if side == "above" else "lower"
            where = f"{side} the {bound} bound {at:g} of POI '{poi}'"
            hint = (
                f"widen the POI's bounds (par_bounds, or the measurement's bounds for '{poi}')"
                + (" or scale the signal up so that the limit falls inside them")
                * (side == "above")
            )
        else:
            where = f"{side} {poi} = {at:g}, where the search for a bracket stopped"
            hint = "give the root finder other bounds or use a scan"
        verb = "is" if len(names) == 1 else "are"
        messages.append(
            f"{_which(names)} {verb} {where} (CLs there: {shown} {sign} level {level:g}); {hint}"
        )
    which = [n for n, bad in zip(LIMIT_NAMES, above | below, strict=True) if bad]
    raise LimitNotBracketed("; ".join(messages), which=which, low=low, high=high)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _debug_bracketed(values_low: Array, values_high: Array, level: Array, what: str) -> None:
    """The traced form of :func:`check_bracketed` (an error only under
    :func:`relaxed.infer.checked`)."""
    ok = (values_low >= level) & (values_high <= level)
    checks._traced_check(
        LimitNotBracketed,
        ok,
        f"a limit (observed, expected -2..+2 sigma: {{}}) is outside the {what}, where CLs "
        "must cross the level",
        ok,
    )


def cls_scan(data: ArrayLike, model: Model, scan: ArrayLike, **hypotest_kwargs: Any) -> Any:
    r"""Observed and expected :math:`\mathrm{CL}_s` at each point of ``scan``, in one vmapped
    compiled call: ``(scan, [(CLs_obs, [CLs_exp -2 .. +2 sigma]) for each point])``, the
    ``results`` of :func:`linear_grid_scan` (for a Brazil-band figure), without requiring the
    scan to bracket the limits. The scan is checked as in :func:`linear_grid_scan`.

    Example:
        >>> import numpy as np, relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> scan, results = cls_scan(data, model, [0.5, 1.0])
        >>> round(float(results[1][0]), 4), len(results[1][1])
        (0.0525, 5)
    """
    data, init, key, setup = _setup(data, model, hypotest_kwargs)
    checks.check_scan(scan, model, setup.config.bounds)
    scan = jnp.asarray(scan, dtype=jnp.float64)
    values = _scan_values(scan, model, data, init, key, setup)
    return scan, _results_list(scan, values)


def linear_grid_scan(
    data: ArrayLike,
    model: Model,
    scan: ArrayLike,
    level: ArrayLike = 0.05,
    return_results: bool = False,
    **hypotest_kwargs: Any,
) -> Any:
    r"""Upper limits interpolated on a grid of POI values (pyhf's ``linear_grid_scan``).

    All grid points are tested in one vmapped compiled call; each limit is
    ``interp(level, CLs[::-1], scan[::-1])`` (``CLs`` decreasing in :math:`\mu`), which is
    differentiable in the model through the :math:`\mathrm{CL}_s` values. The scan must be
    1-d, finite, strictly increasing and inside the POI's bounds, and must bracket every
    limit: CLs at its first point :math:`\ge` ``level`` and at its last :math:`\le`
    ``level``, else :class:`~relaxed.exceptions.LimitNotBracketed` (no clipped value is
    returned; inside ``jit`` the limit is the scan's end, see :func:`upper_limit`).

    Example:
        >>> import numpy as np, relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> obs, exp = linear_grid_scan(data, model, np.linspace(0, 5, 21))
        >>> round(float(obs), 5), [round(float(v), 5) for v in exp]
        (1.01764, [0.59577, 0.7617, 1.08506, 1.50172, 2.06657])
    """
    data, init, key, setup = _setup(data, model, hypotest_kwargs)
    checks.check_scan(scan, model, setup.config.bounds)
    checks.check_level(level)
    scan = jnp.asarray(scan, dtype=jnp.float64)
    values = _scan_values(scan, model, data, init, key, setup)
    if checks.is_traced(values, level, scan):
        _debug_bracketed(values[0], values[-1], jnp.asarray(level), "scan")
    else:
        check_bracketed(float(scan[0]), float(scan[-1]), values[0], values[-1], float(level), model)
    limits = _interp_limits(scan, values, level)
    out = (limits[0], [limits[i] for i in range(1, 6)])
    if return_results:
        return (*out, (scan, _results_list(scan, values)))
    return out


# -- root finding ---------------------------------------------------------------------------
def _g(mu: Array, index: Array, model, data, init, level, key, setup: _Setup) -> Array:
    """:math:`\\log\\mathrm{CL}_{s,i}(\\mu) - \\log\\alpha` (NaN counts as excluded)."""
    value = _cls_values(mu, model, data, init, key, setup)[index]
    g = jnp.log(jnp.maximum(value, _TINY)) - jnp.log(level)
    return jnp.where(jnp.isnan(g), -1e3, g)


@partial(jax.jit, static_argnums=(7,))
def _g_and_grads(mus, model, data, init, level, key, index, setup):
    """For each band ``i``: :math:`g_i(\\mu_i)` and its gradient with respect to
    :math:`(\\mu, \\text{model}, \\text{data}, \\text{init}, \\alpha)`.

    Used only by the implicit-function gradient (the root finder itself needs no
    derivatives).
    """
    grad = jax.value_and_grad(_g, argnums=(0, 2, 3, 4, 5))
    return jax.vmap(grad, in_axes=(0, 0, None, None, None, None, None, None))(
        mus, index, model, data, init, level, key, setup
    )


class _Search(NamedTuple):
    bracketing: Array  # still moving the bracket's ends (phase 1), else refining (phase 2)
    ends: Array  # the bracket, shape (2,)
    values: Array  # the six CLs values at its ends, shape (2, 6)
    expansions: Array
    lo: Array
    hi: Array
    g_lo: Array
    g_hi: Array
    x: Array
    side: Array
    done: Array
    iteration: Array


def _g_all(values: Array, level: Array) -> Array:
    g = jnp.log(jnp.maximum(values, _TINY)) - jnp.log(level)
    return jnp.where(jnp.isnan(g), -1e3, g)


def _search(
    model: Model,
    data: Array,
    init: Array,
    key: Array,
    level: Array,
    setup: _Setup,
    bounds: tuple[float, float],
    rtol: Array,
    maxiter: int,
) -> tuple[Array, Array, Array]:
    r"""The six roots, found together: bracket expansion as pyhf, then the Illinois variant of
    regula falsi on :math:`g = \log\mathrm{CL}_s - \log\alpha` (superlinear, derivative
    free: each iteration is one vmapped evaluation of six tests, no gradients).

    Both phases run in one loop around a single vmapped evaluation of six tests, so that the
    compiled program holds one copy of the hypothesis test: phase 1 tests the bracket's two
    ends and four points inside it (at 1/16, 1/8, 1/4 and 1/2 of its width) and moves the
    ends; once they bracket, each band starts from the narrowest of the five intervals in
    which its CLs crosses the level (the first crossing from below). Phase 2 tests each band's
    estimate at its own POI value.

    Returns the roots (NaN where not bracketed), the final bracket and the six CLs values
    at its two ends (shape (2, 6)). The bracket never leaves the POI's bounds
    (``setup.config``): a test outside them would hold the POI where the fits cannot go.
    """
    six = lambda mus: _cls_values_many(mus, model, data, init, key, setup)  # noqa: E731
    poi_lo, poi_hi = setup.config.bounds[model.config.poi_index]
    index = jnp.arange(6)

    # bracket: halve the lower end while some value is below the level, double the upper
    # end while some value is above it (pyhf's toms748_scan; an end at or below zero moves
    # by the bracket's width instead), both within the POI's bounds
    def moved(ends: Array) -> Array:
        lo, hi = ends[0], ends[1]
        lo_new = jnp.where(lo > 0, 0.5 * lo, lo - (hi - lo))
        hi_new = jnp.where(hi > 0, 2.0 * hi, hi + (hi - lo))
        return jnp.clip(jnp.stack([lo_new, hi_new]), poi_lo, poi_hi)

    def grow(ends: Array, v: Array) -> Array:
        wanted = jnp.stack([jnp.any(v[0] < level), jnp.any(v[1] > level)])
        return wanted & (moved(ends) != ends)

    def points(ends: Array) -> Array:
        """The six POI values of phase 1, increasing: the ends and four inside."""
        inside = ends[0] + (ends[1] - ends[0]) * jnp.asarray(_INSIDE)
        return jnp.concatenate([ends[:1], inside, ends[1:]])

    def bracket_step(state: _Search, tested: Array) -> _Search:
        v = jnp.stack([tested[0], tested[-1]])  # at the two ends
        more = grow(state.ends, v)
        expand = jnp.any(more) & (state.expansions < 64)
        # the bracket is final: each band starts from its first interval [x_i, x_i+1] with
        # g(x_i) >= 0 > g(x_i+1) (the outer ends where there is none: not bracketed)
        x = points(state.ends)
        g = _g_all(tested.T, level)  # (band, point)
        crossing = (g[:, :-1] >= 0) & (g[:, 1:] < 0)
        first = jnp.where(jnp.any(crossing, axis=1), jnp.argmax(crossing, axis=1), -1)
        found = first >= 0
        at = jnp.maximum(first, 0)
        lo6 = jnp.where(found, x[at], state.ends[0])
        hi6 = jnp.where(found, x[at + 1], state.ends[1])
        g_lo = jnp.where(found, g[index, at], g[:, 0])
        g_hi = jnp.where(found, g[index, at + 1], g[:, -1])
        start = hi6 - g_hi * (hi6 - lo6) / (g_hi - g_lo)
        interior = jnp.isfinite(start) & (start > lo6) & (start < hi6)
        return state._replace(
            bracketing=expand,
            ends=jnp.where(expand & more, moved(state.ends), state.ends),
            values=v,
            expansions=state.expansions + 1,
            lo=lo6,
            hi=hi6,
            g_lo=g_lo,
            g_hi=g_hi,
            x=jnp.where(interior, start, 0.5 * (lo6 + hi6)),
        )

    def refine_step(state: _Search, tested: Array) -> _Search:
        g = _g_all(tested[index, index], level)
        upper = g < 0  # the root is below x: x becomes the upper end
        lo = jnp.where(upper, state.lo, state.x)
        hi = jnp.where(upper, state.x, state.hi)
        g_lo = jnp.where(upper, state.g_lo, g)
        g_hi = jnp.where(upper, g, state.g_hi)
        # Illinois: an end kept twice in a row has its value halved
        side = jnp.where(upper, 1, -1).astype(jnp.int32)
        g_lo = jnp.where(upper & (state.side == 1), 0.5 * g_lo, g_lo)
        g_hi = jnp.where(~upper & (state.side == -1), 0.5 * g_hi, g_hi)
        x_new = hi - g_hi * (hi - lo) / (g_hi - g_lo)
        inside = jnp.isfinite(x_new) & (x_new > lo) & (x_new < hi)
        x_new = jnp.where(inside, x_new, 0.5 * (lo + hi))
        converged = (
            (g == 0)
            | (hi - lo <= rtol * jnp.abs(x_new))
            | (jnp.abs(x_new - state.x) <= 0.1 * rtol * jnp.abs(x_new))
        )
        keep = state.done | (g == 0)
        return state._replace(
            lo=jnp.where(state.done, state.lo, lo),
            hi=jnp.where(state.done, state.hi, hi),
            g_lo=jnp.where(state.done, state.g_lo, g_lo),
            g_hi=jnp.where(state.done, state.g_hi, g_hi),
            x=jnp.where(keep, state.x, x_new),
            side=side,
            done=state.done | converged,
            iteration=state.iteration + 1,
        )

    def cond(state: _Search) -> Array:
        return state.bracketing | (~jnp.all(state.done) & (state.iteration < maxiter))

    def body(state: _Search) -> _Search:
        tested = six(jnp.where(state.bracketing, points(state.ends), state.x))
        return jax.tree_util.tree_map(
            lambda a, b: jnp.where(state.bracketing, a, b),
            bracket_step(state, tested),
            refine_step(state, tested),
        )

    ends0 = jnp.asarray(bounds, dtype=jnp.float64)
    zeros6 = jnp.zeros(6, dtype=jnp.float64)
    init_state = _Search(
        bracketing=jnp.asarray(True),
        ends=ends0,
        values=jnp.zeros((2, 6), dtype=jnp.float64),
        expansions=jnp.asarray(0),
        lo=zeros6,
        hi=zeros6,
        g_lo=zeros6,
        g_hi=zeros6,
        x=zeros6,
        side=jnp.zeros(6, dtype=jnp.int32),
        done=jnp.zeros(6, dtype=bool),
        iteration=jnp.asarray(0),
    )
    final = jax.lax.while_loop(cond, body, init_state)
    # bracketed: CLs at the final ends on either side of the level (the refinement keeps
    # the signs of g_lo and g_hi, but not the values at the ends)
    bracketed = (_g_all(final.values[0], level) >= 0) & (_g_all(final.values[1], level) < 0)
    return jnp.where(bracketed, final.x, jnp.nan), final.ends, final.values


def _find_roots(
    model: Model,
    data: Array,
    init: Array,
    key: Array,
    level: Array,
    setup: _Setup,
    bounds: tuple[float, float],
    rtol: Array,
    maxiter: int,
) -> Array:
    """The six roots of :func:`_search` (NaN where not bracketed)."""
    return _search(model, data, init, key, level, setup, bounds, rtol, maxiter)[0]


@partial(jax.custom_vjp, nondiff_argnums=(6, 7, 8))
def _roots(model, data, init, key, level, rtol, setup, bounds, maxiter):
    return _find_roots(model, data, init, key, level, setup, bounds, rtol, maxiter)


def _roots_fwd(model, data, init, key, level, rtol, setup, bounds, maxiter):
    roots = _find_roots(model, data, init, key, level, setup, bounds, rtol, maxiter)
    return roots, (roots, model, data, init, key, level)


def _roots_bwd(setup, bounds, maxiter, residuals, ct):
    roots, model, data, init, key, level = residuals
    _, (slope, model_g, data_g, init_g, level_g) = _g_and_grads(
        roots, model, data, init, level, key, jnp.arange(6), setup
    )
    # d mu*_i / d theta = -(dg_i/dtheta) / (dg_i/dmu): weight each band's gradient
    weight = jnp.where(slope != 0, -ct / jnp.where(slope != 0, slope, 1.0), 0.0)
    weight = jnp.where(jnp.isfinite(roots), weight, 0.0)

    def combine(g):
        return jnp.tensordot(weight, g, axes=1)

    model_ct, data_ct, init_ct, level_ct = jax.tree_util.tree_map(
        combine, (model_g, data_g, init_g, level_g)
    )
    return model_ct, data_ct, init_ct, None, level_ct, None


_roots.defvjp(_roots_fwd, _roots_bwd)

_roots_jit = jax.jit(_roots, static_argnums=(6, 7, 8))


def root_scan(
    data: ArrayLike,
    model: Model,
    bounds_low: float,
    bounds_up: float,
    level: ArrayLike = 0.05,
    rtol: float = 1e-6,
    maxiter: int = 100,
    **hypotest_kwargs: Any,
) -> tuple[Array, list[Array]]:
    r"""Observed and expected upper limits :math:`\mathrm{CL}_s(\mu^*) = \alpha` by root finding.

    The bracket starts at ``[bounds_low, bounds_up]``, inside the POI's bounds
    (``par_bounds``, default the suggested ones); its lower end is halved while any
    :math:`\mathrm{CL}_s` there is below ``level`` and its upper end doubled while any is above
    (as pyhf's ``toms748_scan``), never beyond the POI's bounds: a test there would hold the
    POI where the fits cannot go. The six roots are then refined together by regula falsi
    (Illinois) to relative tolerance ``rtol``. Differentiable (implicit function theorem).

    Raises:
        relaxed.exceptions.LimitNotBracketed: a limit lies beyond the POI's bounds (CLs at
            the upper bound is still above ``level``): no clipped number is returned. pyhf
            raises here too (its fits refuse a POI outside the bounds). Widen the bounds or
            scale the signal.
        relaxed.exceptions.InvalidParameters: a start bracket that is not finite, not
            increasing or outside the POI's bounds; invalid data, parameters or options (as
            :func:`relaxed.infer.hypotest`).
        relaxed.exceptions.InvalidArgument: ``level`` outside (0, 1).

    Inside ``jit``/``vmap``/``grad`` a limit that cannot be bracketed is NaN, and invalid
    inputs give NaN or meaningless limits; :func:`relaxed.infer.checked` turns them into the
    errors above.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> obs, exp = root_scan(data, model, 0.0, 5.0)
        >>> round(float(obs), 5), [round(float(v), 5) for v in exp]
        (1.01157, [0.55988, 0.75703, 1.06236, 1.50118, 2.0508])
    """
    data, init, key, setup = _setup(data, model, hypotest_kwargs)
    if isinstance(rtol, float | int) and not (rtol > 0 and maxiter > 0):
        raise InvalidParameters(f"rtol and maxiter must be positive, got {rtol}, {maxiter}")
    checks.check_level(level)
    poi_bounds = setup.config.bounds[model.config.poi_index]
    bounds = _bracket_start(bounds_low, bounds_up, model, poi_bounds)
    level = jnp.asarray(level, dtype=jnp.float64)
    rtol_arr = jnp.asarray(rtol, dtype=jnp.float64)
    leaves, treedef = jax.tree_util.tree_flatten(model)
    args = (leaves, data, init, key, level, rtol_arr)
    if checks.is_traced(args):
        roots = _roots_jit(model, data, init, key, level, rtol_arr, setup, bounds, int(maxiter))
        checks._traced_check(
            LimitNotBracketed,
            jnp.isfinite(roots),
            f"a limit (observed, expected -2..+2 sigma: {{}}) is not inside the bounds "
            f"{list(poi_bounds)} of POI '{model.config.poi_name}'",
            roots,
        )
        return roots[0], [roots[i] for i in range(1, 6)]

    def flat(leaves, data, init, key, level, rtol):  # through the program stored on disk
        m = jax.tree_util.tree_unflatten(treedef, leaves)
        return _search(m, data, init, key, level, setup, bounds, rtol, int(maxiter))

    static = (setup, bounds, int(maxiter), model.structure_key)
    roots, ends, values = cache.compiled_call("upper_limit", flat, static, *args)
    if not bool(jnp.all(jnp.isfinite(roots))):
        ends, values = np.asarray(ends), np.asarray(values)
        check_bracketed(ends[0], ends[1], values[0], values[1], float(level), model, poi_bounds)
        missing = [n for n, r in zip(LIMIT_NAMES, np.asarray(roots), strict=True) if np.isnan(r)]
        raise LimitNotBracketed(
            f"{_which(missing)} cannot be computed: CLs does not cross level {float(level):g} "
            f"between {model.config.poi_name} = {ends[0]:g} and {ends[1]:g}",
            which=missing,
            low=float(ends[0]),
            high=float(ends[1]),
        )
    return roots[0], [roots[i] for i in range(1, 6)]


def _bracket_start(
    bounds_low: float, bounds_up: float, model: Model, poi_bounds: tuple[float, float]
) -> tuple[float, float]:
    """The root finder's first bracket, checked: finite, increasing, inside the POI's bounds."""
    poi = model.config.poi_name
    try:
        low, up = float(bounds_low), float(bounds_up)
    except (TypeError, ValueError) as err:
        raise InvalidParameters(
            f"bounds_low and bounds_up must be numbers, got {bounds_low!r}, {bounds_up!r}"
        ) from err
    if not (np.isfinite(low) and np.isfinite(up) and low < up):
        raise InvalidParameters(
            f"bounds_low={low!r} and bounds_up={up!r} must be finite with bounds_low < "
            "bounds_up (the first bracket of the root finder)"
        )
    if low < poi_bounds[0] or up > poi_bounds[1]:
        raise InvalidParameters(
            f"the bracket [{low:g}, {up:g}] is outside the bounds "
            f"[{poi_bounds[0]:g}, {poi_bounds[1]:g}] of POI '{poi}'; start inside them or "
            "widen the POI's bounds (par_bounds)"
        )
    return low, up


def upper_limit(
    data: ArrayLike,
    model: Model,
    scan: ArrayLike | None = None,
    level: ArrayLike = 0.05,
    return_results: bool = False,
    **hypotest_kwargs: Any,
) -> Any:
    r"""The upper limit :math:`\mu^*` with :math:`\mathrm{CL}_s(\mu^*) = \alpha` = ``level``,
    observed and expected (:math:`-2\sigma \dots +2\sigma`), as pyhf's
    ``pyhf.infer.intervals.upper_limits.upper_limit``.

    With ``scan`` (an array of POI values) the limits are interpolated on the grid
    (:func:`linear_grid_scan`); without, they are roots found to relative tolerance ``rtol``
    (keyword, default 1e-6) starting from the bracket of the POI's bounds (``par_bounds``,
    default the suggested ones; :func:`root_scan`). Both are differentiable with respect to
    the model's arrays and the data. ``hypotest_kwargs`` configure the tests (``test_stat``,
    ``calctype``, ``par_bounds``, ...).

    A limit is never clipped: if one lies outside the scan (CLs at the first point below
    ``level`` or at the last point above it) or, without a scan, above the POI's upper
    bound, :class:`~relaxed.exceptions.LimitNotBracketed` says which limits, where and the
    CLs there. (pyhf's ``linear_grid_scan`` returns the scan's end instead, and its root
    finder fails on a POI beyond the bounds.) Inside ``jit``/``vmap``/``grad`` such a limit
    is the scan's end (scan) or NaN (root finding); wrap the call with
    :func:`relaxed.infer.checked` to get the error there.

    Raises:
        relaxed.exceptions.LimitNotBracketed: see above.
        relaxed.exceptions.InvalidArgument: ``level`` is not between 0 and 1.
        relaxed.exceptions.InvalidParameters: a ``scan`` that is not 1-d with at least 2
            finite, strictly increasing values inside the POI's bounds; invalid parameters or
            options (as :func:`relaxed.infer.hypotest`).
        relaxed.exceptions.InvalidData: invalid data (as :func:`relaxed.infer.hypotest`).

    Returns:
        ``(observed, [5 expected])``, plus ``(scan, results)`` with ``return_results``:
        the grid and the per-point ``(CLs_obs, [CLs_exp])`` for a scan; for root finding,
        the six limits and the same values at each of them.

    Example:
        >>> import numpy as np, relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> obs, exp = upper_limit(data, model)
        >>> round(float(obs), 5), round(float(exp[2]), 5)
        (1.01157, 1.06236)
    """
    if scan is not None:
        return linear_grid_scan(data, model, scan, level, return_results, **hypotest_kwargs)
    kwargs = dict(hypotest_kwargs)
    root_opts = {k: kwargs.pop(k) for k in ("rtol", "maxiter") if k in kwargs}
    poi = model.config.poi_index
    if poi is None:
        raise InvalidParameters("the model has no parameter of interest: no upper limit")
    low, up = checks.check_bounds(kwargs.get("par_bounds"), model)[poi]
    obs, exp = root_scan(data, model, low, up, level, **root_opts, **kwargs)
    if not return_results:
        return obs, exp
    limits = jnp.stack([obs, *exp])
    d, init, key, setup = _setup(data, model, kwargs)
    values = _scan_values(limits, model, d, init, key, setup)
    return obs, exp, (limits, _results_list(limits, values))
