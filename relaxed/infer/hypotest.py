r"""Frequentist hypothesis test of one value of the parameter of interest (pyhf 0.7.6's API).

.. math::

    \mathrm{CL}_s = \frac{\mathrm{CL}_{s+b}}{\mathrm{CL}_b}
        = \frac{p(q \ge q_\text{obs} \mid \mu)}{p(q \ge q_\text{obs} \mid 0)}

with the test statistic :math:`q \in \{q_0, q_\mu, \tilde q_\mu\}` and its distributions from
:mod:`relaxed.infer.calculators` (asymptotic or toys). The whole test is one jit-compiled call;
it maps with ``jax.vmap`` over ``poi_test`` and ``data`` and is differentiable with respect to
both and to the model's arrays (asymptotics).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed import cache
from relaxed.exceptions import InvalidParameters
from relaxed.histfactory.model import Model
from relaxed.infer import calculators, checks
from relaxed.infer.calculators import HypoTestResult
from relaxed.infer.mle import SolverOptions, check_converged, solver_options

__all__ = ["hypotest", "CALCTYPES", "SOLVER_KWARGS", "hypotest_result", "pop_solver_options"]

#: Calculator names, pyhf's.
CALCTYPES = ("asymptotics", "toybased")
#: Solver keywords accepted by every calculator (:class:`relaxed.infer.mle.SolverOptions`).
SOLVER_KWARGS = ("method", "maxiter", "tolerance", "nstarts")
_CALCULATOR_KWARGS = {
    "asymptotics": ("calc_base_dist", *SOLVER_KWARGS),
    "toybased": ("ntoys", "track_progress", "key", *SOLVER_KWARGS),
}


def pop_solver_options(kwargs: dict[str, Any]) -> SolverOptions:
    """Remove the solver keywords from ``kwargs`` and return them as checked options.

    Example:
        >>> kwargs = {"maxiter": 50, "ntoys": 10}
        >>> pop_solver_options(kwargs).maxiter, kwargs
        (50, {'ntoys': 10})
    """
    return solver_options(**{k: kwargs.pop(k) for k in SOLVER_KWARGS if k in kwargs})


def _check(
    poi_test: ArrayLike | None,
    data: ArrayLike,
    model: Model,
    init_pars: ArrayLike | None,
    par_bounds: Sequence[Sequence[float]] | None,
    fixed_params: Sequence[bool] | None,
    test_stat: str,
    calctype: str,
    kwargs: dict[str, Any],
) -> None:
    """Every check of a hypothesis test's (or a limit's) inputs, before anything is compiled:
    the option names, then :func:`relaxed.infer.checks.check_test_inputs`."""
    if not isinstance(calctype, str) or calctype not in CALCTYPES:
        raise InvalidParameters(f"unknown calctype {calctype!r}; choose one of {list(CALCTYPES)}")
    calculators.get_test_stat(test_stat)
    unknown = sorted(set(kwargs) - set(_CALCULATOR_KWARGS[calctype]))
    if unknown:
        raise InvalidParameters(
            f"unknown keyword argument(s) {unknown} for calctype={calctype!r}; "
            f"valid ones are {list(_CALCULATOR_KWARGS[calctype])}"
        )
    if calctype == "asymptotics":
        calculators._check_base_dist(kwargs.get("calc_base_dist", "normal"))
    else:
        calculators._check_ntoys(kwargs.get("ntoys", 2000))
    checks.check_test_inputs(poi_test, data, model, init_pars, par_bounds, fixed_params)


def hypotest_result(
    poi_test: ArrayLike,
    data: ArrayLike,
    model: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    test_stat: str = "qtilde",
    calctype: str = "asymptotics",
    **kwargs: Any,
) -> HypoTestResult:
    r"""All the outputs of a hypothesis test as one :class:`~calculators.HypoTestResult`
    (observed and expected :math:`\mathrm{CL}_{s+b}, \mathrm{CL}_b, \mathrm{CL}_s`, test
    statistics). Same arguments, checks and errors as :func:`hypotest`; inside
    ``jit``/``vmap``/``grad`` invalid inputs give meaningless numbers (see :func:`hypotest`).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> round(float(hypotest_result(1.0, data, model).CLb), 6)
        0.444154
    """
    _check(poi_test, data, model, init_pars, par_bounds, fixed_params, test_stat, calctype, kwargs)
    kwargs = dict(kwargs)
    solver = pop_solver_options(kwargs)
    args = (poi_test, data, model, init_pars, par_bounds, fixed_params, test_stat)
    if calctype == "asymptotics":
        return calculators.asymptotic_result(*args, **kwargs, solver=solver)
    kwargs.pop("track_progress", None)
    return calculators.toy_result(*args, **kwargs, solver=solver)


def _assembled(
    calctype: str,
    test_stat: str,
    flags: tuple[bool, bool, bool, bool],
    opts: tuple[tuple[str, Any], ...],
    pdf: Model,
    data: Array,
    poi: Array,
    init: Array,
    key: Array,
    config: calculators._Config,
) -> tuple[Any, Array, Array]:
    """One compiled call: the test, pyhf's return tuple, the converged flag and the numbers
    of toys (s+b, b-only) left out because their fits did not converge."""
    kw = dict(opts)
    if calctype == "asymptotics":
        result = calculators._asymptotic_result(
            pdf, data, poi, init, config, test_stat, kw.get("calc_base_dist", "normal")
        )
    else:
        result = calculators._toy_result(
            pdf, data, poi, init, key, config, test_stat, kw.get("ntoys", 2000)
        )
    dropped = jnp.stack([result.nonconverged_sb, result.nonconverged_b])
    return _assemble(result, test_stat == "q0", *flags), result.converged, dropped


_assembled_jit = jax.jit(_assembled, static_argnums=(0, 1, 2, 3, 9))


def hypotest(
    poi_test: ArrayLike,
    data: ArrayLike,
    model: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    test_stat: str = "qtilde",
    calctype: str = "asymptotics",
    return_tail_probs: bool = False,
    return_expected: bool = False,
    return_expected_set: bool = False,
    return_test_statistics: bool = False,
    **kwargs: Any,
) -> Any:
    r""":math:`p`-values of a test of :math:`\mu` = ``poi_test``, pyhf 0.7.6's return structure.

    .. math::

        \mathrm{CL}_s = \frac{\mathrm{CL}_{s+b}}{\mathrm{CL}_b},\qquad
        \mathrm{CL}_{s+b} = p(q \ge q_\text{obs} \mid \mu),\qquad
        \mathrm{CL}_b = p(q \ge q_\text{obs} \mid \mu'),

    with :math:`\mu' = 0` (:math:`\mu' = 1` for ``test_stat="q0"``, where the returned
    "observed" value is :math:`\mathrm{CL}_{s+b}`, the discovery :math:`p_0`, as in pyhf).

    Args:
        poi_test: the tested value of the parameter of interest (may be traced).
        data: main bins followed by auxdata.
        model: a :class:`relaxed.Model`.
        init_pars, par_bounds, fixed_params: fit configuration (default: ``suggested_*``).
        test_stat: ``"qtilde"`` (default), ``"q"`` or ``"q0"``.
        calctype: ``"asymptotics"`` (keyword ``calc_base_dist``: ``"normal"`` or
            ``"clipped_normal"``) or ``"toybased"`` (keywords ``ntoys=2000``, ``key``: a
            ``jax.random`` key, default ``PRNGKey(0)``; ``track_progress`` is accepted and
            ignored). Both take the solver keywords ``method``, ``maxiter``, ``tolerance``
            and ``nstarts`` (:class:`relaxed.infer.mle.SolverOptions`).
        return_tail_probs: append ``[CLsb, CLb]`` (``[CLb]`` for q0).
        return_expected: append the median expected value.
        return_expected_set: append the 5 expected values from :math:`-2\sigma` to
            :math:`+2\sigma` (a list of scalars; after the median if both are asked for).
        return_test_statistics: append ``[q_obs, q_A]``, the test statistic on the observed
            data and on the Asimov data (an extension; pyhf 0.7.6 has no such flag).

    Returns:
        ``CLs`` alone, or a tuple in the order above, values as JAX arrays.

    Raises:
        relaxed.exceptions.InvalidParameters: unknown ``test_stat``/``calctype``/keyword,
            ``ntoys`` < 1, a fixed or missing parameter of interest; ``poi_test`` that is not a
            finite scalar inside the POI's bounds (``par_bounds``, default the suggested ones:
            pyhf raises for the same values; with the default bounds ``[0, 10]`` a negative
            value is refused, for ``qtilde`` as for ``q``); ``init_pars`` of the wrong length,
            not finite or outside the bounds; malformed ``par_bounds``/``fixed_params``.
        relaxed.exceptions.InvalidData: data of the wrong shape, a main count negative or not
            finite, an auxiliary datum not finite (or negative for a Poisson constraint).
            Non-integer counts are valid.
        relaxed.exceptions.FailedMinimization: a fit did not converge (on concrete values;
            inside ``jit``/``vmap`` use :func:`hypotest_result` and its ``converged`` flag).
            With toys: a fit to the observed or the Asimov data, or one that makes the toys;
            a toy whose own fits do not converge is left out of the :math:`p`-values instead
            (a ``RuntimeWarning`` says how many; :func:`hypotest_result` has the counts).

    Inside ``jit``/``vmap``/``grad`` nothing can be raised and the numbers returned for
    invalid inputs are meaningless, not NaN: a ``poi_test`` outside the bounds is tested as
    given (the conditional fits hold the POI there), a NaN ``poi_test`` gives CLs = 1, and
    negative or non-finite counts give arbitrary p-values. Wrap the call with
    :func:`relaxed.infer.checked` to turn these cases into the errors above.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> cls_obs, cls_exp = hypotest(1.0, data, model, return_expected_set=True)
        >>> round(float(cls_obs), 6), [round(float(v), 6) for v in cls_exp]
        (0.052516, [0.002606, 0.013821, 0.064455, 0.235261, 0.573042])
    """
    _check(poi_test, data, model, init_pars, par_bounds, fixed_params, test_stat, calctype, kwargs)
    kwargs = dict(kwargs)
    solver = pop_solver_options(kwargs)
    key = kwargs.pop("key", None)
    kwargs.pop("track_progress", None)
    if calctype == "asymptotics":
        calculators._check_base_dist(kwargs.get("calc_base_dist", "normal"))
        key = _NO_KEY  # unused by the asymptotic formulae
    else:
        key = calculators._key(key)
        kwargs["ntoys"] = calculators._check_ntoys(kwargs.get("ntoys", 2000))
    calculators._check_test_stat(test_stat)
    init, config = calculators._resolve(model, init_pars, par_bounds, fixed_params, solver)
    flags = (return_tail_probs, return_expected, return_expected_set, return_test_statistics)
    static = (calctype, test_stat, flags, tuple(sorted(kwargs.items())))
    data = model.data_array(data)
    poi = poi_test if isinstance(poi_test, float) else jnp.asarray(poi_test, dtype=jnp.float64)
    leaves, treedef = jax.tree_util.tree_flatten(model)
    traced = any(isinstance(x, jax.core.Tracer) for x in (*leaves, data, poi, init))
    if traced:
        returns, converged, dropped = _assembled_jit(*static, model, data, poi, init, key, config)
    else:  # through the program stored on disk: a new process does not trace again

        def flat(leaves: list[Array], data: Array, poi: Array, init: Array, key: Array) -> Any:
            m = jax.tree_util.tree_unflatten(treedef, leaves)
            return _assembled(*static, m, data, poi, init, key, config)

        returns, converged, dropped = cache.compiled_call(
            "hypotest",
            flat,
            (static, config, model.structure_key),
            leaves,
            data,
            poi,
            init,
            key,
        )
    check_converged(_Converged(converged), "a fit of the hypothesis test")
    _warn_dropped(dropped, kwargs.get("ntoys"))
    return returns


_NO_KEY = np.zeros(2, dtype=np.uint32)


def _warn_dropped(dropped: Array, ntoys: int | None) -> None:
    """Say how many toys were dropped because their fits did not converge (concrete values;
    :func:`hypotest_result` has the counts)."""
    if isinstance(dropped, jax.core.Tracer):
        return
    sb, b = (int(n) for n in np.asarray(dropped))
    if sb or b:
        warnings.warn(
            f"hypotest: the fits of {sb} of {ntoys} signal-plus-background toys and {b} of "
            f"{ntoys} background-only toys did not converge; they are left out of the "
            "p-values (hypotest_result gives the counts)",
            RuntimeWarning,
            stacklevel=3,
        )


class _Converged(NamedTuple):
    converged: Array


def _assemble(
    result: HypoTestResult,
    is_q0: bool,
    return_tail_probs: bool,
    return_expected: bool,
    return_expected_set: bool,
    return_test_statistics: bool,
) -> Any:
    """pyhf's tuple from a :class:`HypoTestResult` (also used on vmapped results)."""
    returns: list[Any] = [result.CLsb if is_q0 else result.CLs]
    if return_tail_probs:
        returns.append([result.CLb] if is_q0 else [result.CLsb, result.CLb])
    band: Array = result.CLsb_exp if is_q0 else result.CLs_exp
    if return_expected:
        returns.append(band[..., 2])
    if return_expected_set:
        returns.append([band[..., i] for i in range(5)])
    if return_test_statistics:
        returns.append([result.q, result.q_A])
    return tuple(returns) if len(returns) > 1 else returns[0]
