r"""Maximum-likelihood fits with pyhf's signatures, differentiable by implicit differentiation.

The objective is :math:`-2\log L(\theta)` (``twice_nll``). :func:`fit` minimises it over all
free parameters; :func:`fixed_poi_fit` holds the parameter of interest at a value. Both are
jit-compiled (one compilation per model structure and fixed/bound configuration), map with
``vmap`` over data sets, and their results are differentiable with respect to the data and to
the model (yields, modifier data) through :func:`relaxed.infer.newton.minimize`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import FailedMinimization, InvalidArgument, InvalidParameters
from relaxed.histfactory.model import Model
from relaxed.infer import checks, newton
from relaxed.infer.linalg import inv_spd
from relaxed.infer.newton import NewtonSettings, minimize

__all__ = [
    "twice_nll",
    "fit",
    "fixed_poi_fit",
    "hessian_uncertainties",
    "FitResult",
    "SolverOptions",
    "solver_options",
    "check_converged",
    "settings_from",
    "fit_batch",
]


def twice_nll(pars: ArrayLike, data: ArrayLike, model: Model) -> Array:
    r""":math:`-2\log L(\theta \mid \text{data})`, a scalar.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [10.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> round(float(twice_nll([1.0], [10.0], model)), 6)  # -2 ln Pois(10 | 10)
        4.157123
    """
    return -2.0 * model.logpdf(pars, data)[0]


def _objective(pars: Array, theta: tuple[Model, Array]) -> Array:
    model, data = theta
    return twice_nll(pars, data, model)


def _fisher_curvature(pars: Array, theta: tuple[Any, Array]) -> Array:
    """The model's expected curvature of ``twice_nll`` (:mod:`relaxed.infer.protocol`),
    which starts the BFGS method."""
    model, data = theta
    return model.expected_curvature(pars, data)


#: Fit methods: "auto" picks "newton" up to this many parameters, "bfgs" above.
AUTO_NEWTON_MAX_PARS = 40
METHODS = ("auto", *newton.METHODS)


class SolverOptions(NamedTuple):
    """How fits are run (static: part of the compile key).

    Attributes:
        method: ``"auto"`` (Newton up to :data:`AUTO_NEWTON_MAX_PARS` parameters, BFGS above),
            ``"newton"`` or ``"bfgs"`` (:mod:`relaxed.infer.newton`).
        maxiter: iteration limit per start (default 200 for Newton, 1000 for BFGS).
        tolerance: the convergence tolerance ``gtol`` of :mod:`relaxed.infer.newton` (default
            1e-10).
        nstarts: starting points: 1 (``init_pars``), or 3 (also all histosys/normsys
            parameters shifted by -1 and +1 sigma, when there are any), keeping the lowest
            minimum. Default: 3 with Newton, 1 with BFGS (on the 217-parameter ATLAS
            likelihood the shifted starts give the same minimum and cost 70x more: one of
            them starts where rates are negative).

    Example:
        >>> SolverOptions().method, SolverOptions(nstarts=1).nstarts
        ('auto', 1)
    """

    method: str = "auto"
    maxiter: int | None = None
    tolerance: float | None = None
    nstarts: int | None = None


#: The default solver options.
DEFAULT_SOLVER = SolverOptions()


def solver_options(
    method: str | None = None,
    maxiter: int | None = None,
    tolerance: float | None = None,
    nstarts: int | None = None,
) -> SolverOptions:
    """Checked :class:`SolverOptions` (``None`` keeps a default).

    Raises:
        relaxed.exceptions.InvalidArgument: an unknown method, or a limit that is not positive.

    Example:
        >>> solver_options(method="bfgs", nstarts=1)
        SolverOptions(method='bfgs', maxiter=None, tolerance=None, nstarts=1)
    """
    method = "auto" if method is None else method
    if method not in METHODS:
        raise InvalidArgument(f"method: unknown fit method {method!r}; choose one of {METHODS}")
    if maxiter is not None and (
        isinstance(maxiter, bool) or not isinstance(maxiter, int | np.integer) or maxiter < 1
    ):
        raise InvalidArgument(f"maxiter must be a positive integer, got {maxiter!r}")
    if tolerance is not None:
        try:
            tol = float(tolerance)
        except (TypeError, ValueError) as err:
            raise InvalidArgument(f"tolerance must be a number, got {tolerance!r}") from err
        if not (tol > 0 and np.isfinite(tol)):
            raise InvalidArgument(f"tolerance must be positive and finite, got {tolerance!r}")
        tolerance = tol
    if nstarts is not None and nstarts not in (1, 3):
        raise InvalidArgument(f"nstarts must be 1 or 3, got {nstarts!r}")
    return SolverOptions(method, None if maxiter is None else int(maxiter), tolerance, nstarts)


def _settings(
    model: Model,
    par_bounds: Sequence[Sequence[float]] | None,
    fixed_params: Sequence[bool] | None,
    options: SolverOptions = DEFAULT_SOLVER,
) -> NewtonSettings:
    """Checked solver settings (:func:`relaxed.infer.checks.check_bounds`, ``check_fixed``)."""
    bounds = checks.check_bounds(par_bounds, model)
    return settings_from(bounds, checks.check_fixed(fixed_params, model), options)


@functools.lru_cache(maxsize=256)
def settings_from(
    bounds: tuple[tuple[float, float], ...],
    fixed: tuple[bool, ...],
    options: SolverOptions = DEFAULT_SOLVER,
) -> NewtonSettings:
    """The solver settings for checked bounds and fixed flags (cached: a hypothesis test or
    a grid asks for the same ones many times).

    Example:
        >>> settings_from(((0.0, 10.0),), (False,)).method
        'newton'
    """
    method = options.method
    if method == "auto":
        method = "newton" if len(bounds) <= AUTO_NEWTON_MAX_PARS else "bfgs"
    maxiter = options.maxiter or (200 if method == "newton" else 1000)
    return NewtonSettings(
        lower=tuple(lo for lo, _ in bounds),
        upper=tuple(hi for _, hi in bounds),
        fixed=fixed,
        maxiter=maxiter,
        gtol=1e-10 if options.tolerance is None else options.tolerance,
        method=method,
    )


def _init(
    model: Model, init_pars: ArrayLike | None, settings: NewtonSettings | None = None
) -> Array:
    """``init_pars`` (default: suggested), checked: length, finite, inside the bounds."""
    init = model.config.suggested_init() if init_pars is None else init_pars
    bounds = None if settings is None else tuple(zip(settings.lower, settings.upper, strict=True))
    checks.check_pars(init, model, "suggested_init()" if init_pars is None else "init_pars", bounds)
    return jnp.asarray(init, dtype=jnp.float64)


def hessian_uncertainties(
    pars: ArrayLike, data: ArrayLike, model: Model, fixed_params: Sequence[bool]
) -> tuple[Array, Array]:
    r"""Uncertainties and correlations from the exact Hessian of ``twice_nll``.

    :math:`V = 2 H^{-1}` with :math:`H = \partial^2(-2\log L)/\partial\theta^2` over the
    non-fixed parameters; fixed parameters get zero uncertainty and zero correlations (as in
    pyhf). ``pars`` must have the model's length and be finite, ``data`` valid
    (:func:`relaxed.infer.checks.check_data`) and ``fixed_params`` have ``npars`` entries;
    concrete inputs that are not raise a ``relaxed.exceptions`` error, traced ones give NaN.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> pars = fit(data, model)
        >>> sigma, corr = hessian_uncertainties(pars, data, model, model.config.suggested_fixed())
        >>> [round(float(s), 4) for s in sigma], round(float(corr[0, 1]), 4)
        ([0.5194, 0.0586, 0.1077], -0.33)
    """
    checks.check_pars(pars, model, "pars")
    checks.check_data(data, model)
    return _hessian(pars, data, model, checks.check_fixed(fixed_params, model))


def _hessian(
    pars: ArrayLike, data: ArrayLike, model: Model, fixed_params: tuple[bool, ...]
) -> tuple[Array, Array]:
    """:func:`hessian_uncertainties` without the input checks (inside the compiled fits)."""
    fixed = jnp.asarray(fixed_params)
    pars = jnp.asarray(pars, dtype=jnp.float64)
    h = jax.hessian(twice_nll)(pars, data, model)
    both = ~fixed[:, None] & ~fixed[None, :]
    h = jnp.where(both, h, 0.0) + jnp.diag(jnp.where(fixed, 1.0, 0.0))
    cov = 2.0 * inv_spd(h)
    cov = jnp.where(both, cov, 0.0)
    sigma = jnp.sqrt(jnp.clip(jnp.diagonal(cov), 0.0))
    safe = jnp.where(sigma > 0, sigma, 1.0)
    corr = cov / (safe[:, None] * safe[None, :])
    return sigma, corr


#: Shifts (in units of the constraint width) applied together to every free histosys and
#: normsys parameter to make the extra starting points of a fit.
START_SHIFTS = (-1.0, 1.0)


def _start_shift(model: Any, settings: NewtonSettings) -> np.ndarray:
    shift = np.asarray(model.start_shift(), dtype=np.float64)
    return np.where(np.asarray(settings.fixed), 0.0, shift)


def _starts(model: Model, init: Array, settings: NewtonSettings, nstarts: int | None) -> Array:
    """The starting point, plus ones with all interpolated nuisance parameters shifted.

    Histosys/normsys likelihoods can be multimodal (a histosys with a non-monotonic effect);
    Newton's method finds the minimum of the basin it starts in, so by default the fit runs
    from three starts and keeps the lowest minimum.
    """
    shift = _start_shift(model, settings)
    if nstarts is None:  # default: three starts for Newton, one for BFGS (many parameters)
        nstarts = 3 if settings.method == "newton" else 1
    if nstarts == 1 or not shift.any():
        return init[None]
    return jnp.stack([init] + [init + k * jnp.asarray(shift) for k in START_SHIFTS])


class FitResult(NamedTuple):
    r"""A fit's result (``return_result=True``).

    Attributes:
        bestfit: the parameters at the minimum, shape (npars,).
        twice_nll: :math:`-2\log L` there.
        nit: iterations of the start that gave the minimum.
        converged: whether that start met a convergence criterion
            (:mod:`relaxed.infer.newton`).
        uncertainties: from the exact Hessian (``return_uncertainties``), else ``None``.
        corr: correlation matrix (``return_correlations``), else ``None``.

    Example:
        >>> FitResult._fields[:4]
        ('bestfit', 'twice_nll', 'nit', 'converged')
    """

    bestfit: Array
    twice_nll: Array
    nit: Array
    converged: Array
    uncertainties: Array | None = None
    corr: Array | None = None


def _best_minimum(
    model: Model,
    data: Array,
    init: Array,
    settings: NewtonSettings,
    nstarts: int | None,
    fixed: Array | None = None,
) -> FitResult:
    starts = _starts(model, init, settings, nstarts)
    curvature = _fisher_curvature if settings.method == "bfgs" else None
    solve = lambda x0: minimize(_objective, (model, data), x0, settings, curvature, fixed)  # noqa: E731
    if starts.shape[0] == 1:
        result = solve(starts[0])
        return FitResult(result.x, result.fun, result.nit, result.converged)
    results = jax.vmap(solve)(starts)
    # the choice of the start is not differentiated: derivatives flow through the best
    # minimum only (a losing start may sit where the objective is not finite)
    values = jnp.where(jnp.isfinite(results.fun), results.fun, jnp.inf)
    best = jnp.argmin(values)
    x = results.x[best]
    return FitResult(x, results.fun[best], results.nit[best], results.converged[best])


def fit_batch(
    model: Model,
    data: Array,
    init: Array,
    fix_poi: Array,
    settings: NewtonSettings,
    nstarts: int | None = None,
) -> FitResult:
    """Several fits of one model in one vmapped solver: ``data`` (n, ndata), ``init``
    (n, npars) and ``fix_poi`` (n,) booleans, True for a conditional fit (the POI held at its
    value in ``init``). Free and conditional fits share the compiled code. Traceable; the
    building block of the hypothesis tests.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}]}
        >>> model = relaxed.Model(spec)
        >>> settings = settings_from(((0.0, 10.0),), (False,))
        >>> r = fit_batch(model, jnp.array([[70.0], [70.0]]), jnp.array([[1.0], [1.0]]),
        ...               jnp.array([False, True]), settings)
        >>> [round(float(v), 6) for v in r.bestfit[:, 0]], r.converged.tolist()
        ([2.0, 1.0], [True, True])
    """
    poi = model.config.poi_index
    npars = init.shape[-1]
    base = jnp.zeros(npars, dtype=bool)
    masks = jax.vmap(lambda f: base if poi is None else base.at[poi].set(f))(fix_poi)
    return jax.vmap(lambda d, x0, m: _best_minimum(model, d, x0, settings, nstarts, m))(
        data, init, masks
    )


def _fit_result(
    model: Model,
    data: Array,
    init: Array,
    settings: NewtonSettings,
    nstarts: int | None,
    return_uncertainties: bool,
    return_correlations: bool,
) -> FitResult:
    """The traceable core of :func:`fit` and :func:`fixed_poi_fit`."""
    result = _best_minimum(model, data, init, settings, nstarts)
    if return_uncertainties or return_correlations:
        sigma, corr = _hessian(jax.lax.stop_gradient(result.bestfit), data, model, settings.fixed)
        result = result._replace(
            uncertainties=sigma if return_uncertainties else None,
            corr=corr if return_correlations else None,
        )
    return result


_fit_result_jit = jax.jit(_fit_result, static_argnums=(3, 4, 5, 6))


def _outputs(
    result: FitResult,
    return_fitted_val: bool,
    return_uncertainties: bool,
    return_correlations: bool,
) -> Any:
    """pyhf's return structure from a :class:`FitResult`."""
    if return_uncertainties:
        outputs: list[Array] = [jnp.stack([result.bestfit, result.uncertainties], axis=-1)]
    else:
        outputs = [result.bestfit]
    if return_correlations:
        outputs.append(result.corr)
    if return_fitted_val:
        outputs.append(result.twice_nll)
    return tuple(outputs) if len(outputs) > 1 else outputs[0]


def check_converged(result: Any, what: str = "fit") -> None:
    """Raise :class:`~relaxed.exceptions.FailedMinimization` if a concrete result (anything
    with ``converged``, and ``nit``/``twice_nll`` if present) did not converge; traced results
    (inside ``jit``/``vmap``/``grad``) pass: there the flag is part of the result.

    Example:
        >>> check_converged(FitResult(jnp.zeros(1), jnp.asarray(1.0), jnp.asarray(200),
        ...                           jnp.asarray(False)))
        Traceback (most recent call last):
        ...
        relaxed.exceptions.FailedMinimization: fit did not converge after 200 iterations ...
    """
    flag = result.converged
    if isinstance(flag, jax.core.Tracer) or bool(np.all(np.asarray(flag))):
        return
    nit = getattr(result, "nit", None)
    detail = "" if nit is None else f" after {int(np.max(np.asarray(nit)))} iterations"
    value = getattr(result, "twice_nll", None)
    if value is not None and np.ndim(value) == 0:
        detail += f" (twice_nll {float(value):.10g})"
    raise FailedMinimization(
        f"{what} did not converge{detail}; raise maxiter, loosen tolerance, change init_pars "
        "or use return_result=True to inspect it",
        result=result,
    )


def _run(
    model: Model,
    data: ArrayLike,
    init: Array,
    settings: NewtonSettings,
    options: SolverOptions,
    return_fitted_val: bool,
    return_uncertainties: bool,
    return_correlations: bool,
    return_result: bool,
    what: str,
) -> Any:
    data = model.data_array(data)
    result = _fit_result_jit(
        model, data, init, settings, options.nstarts, return_uncertainties, return_correlations
    )
    if return_result:
        return result
    check_converged(result, what)
    return _outputs(result, return_fitted_val, return_uncertainties, return_correlations)


def fit(
    data: ArrayLike,
    model: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    return_fitted_val: bool = False,
    return_uncertainties: bool = False,
    return_correlations: bool = False,
    return_result: bool = False,
    method: str | None = None,
    maxiter: int | None = None,
    tolerance: float | None = None,
    nstarts: int | None = None,
) -> Any:
    r"""Unconditional maximum-likelihood fit :math:`\hat\theta = \arg\min -2\log L(\theta)`.

    Same signature and return structure as ``pyhf.infer.mle.fit``: the best-fit parameters
    (shape ``(npars, 2)`` with uncertainties), then the correlation matrix if asked for, then
    ``twice_nll`` at the minimum if asked for. With ``return_result`` a :class:`FitResult`
    instead (best fit, objective, iterations, converged flag). Box bounds are respected
    exactly; fixed parameters stay at their initial value. Results are differentiable in
    ``data`` and in the model's arrays (implicit differentiation), and the call maps with
    ``jax.vmap``. ``method``, ``maxiter``, ``tolerance`` and ``nstarts`` configure the solver
    (:class:`SolverOptions`).

    Raises:
        relaxed.exceptions.InvalidData: ``data`` of the wrong shape, or with a main count that
            is negative or not finite, or an auxiliary datum that is not finite (negative for
            a Poisson constraint) (:func:`relaxed.infer.checks.check_data`).
        relaxed.exceptions.InvalidParameters: ``init_pars`` of the wrong length, not finite or
            outside ``par_bounds`` (as pyhf); ``par_bounds`` or ``fixed_params`` of the wrong
            shape, NaN or inverted bounds.
        relaxed.exceptions.FailedMinimization: the fit did not converge (not raised with
            ``return_result``, nor inside ``jit``/``vmap``/``grad``, where the flag is in
            the result).

    Inside ``jit``/``vmap``/``grad`` the input checks cannot raise: invalid data or initial
    values give a NaN or meaningless best fit (non-finite inputs also give ``converged``
    false). Wrap the function with :func:`relaxed.infer.checked` to get the errors above from
    a compiled call.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0, 5.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 60.0], "modifiers": []}]}]}
        >>> model = relaxed.Model(spec)
        >>> pars, nll = fit([65.0, 66.0], model, return_fitted_val=True)
        >>> round(float(pars[0]), 6)
        1.442009
        >>> result = fit([65.0, 66.0], model, return_result=True)
        >>> bool(result.converged), int(result.nit) < 20
        (True, True)
    """
    options = solver_options(method, maxiter, tolerance, nstarts)
    settings = _settings(model, par_bounds, fixed_params, options)
    init = _init(model, init_pars, settings)
    checks.check_data(data, model)
    return _run(
        model,
        data,
        init,
        settings,
        options,
        return_fitted_val,
        return_uncertainties,
        return_correlations,
        return_result,
        "fit",
    )


def fixed_poi_fit(
    poi_val: ArrayLike,
    data: ArrayLike,
    model: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    return_fitted_val: bool = False,
    return_uncertainties: bool = False,
    return_correlations: bool = False,
    return_result: bool = False,
    method: str | None = None,
    maxiter: int | None = None,
    tolerance: float | None = None,
    nstarts: int | None = None,
) -> Any:
    r"""Conditional fit :math:`\hat{\hat\theta}(\mu) = \arg\min_{\theta \mid \mu} -2\log L`.

    The parameter of interest is fixed at ``poi_val`` (a number or traced array: the result
    is differentiable in it), which must be finite and inside the POI's bounds
    (:class:`~relaxed.exceptions.InvalidParameters` otherwise, as pyhf). Returns and raises
    as :func:`fit`; inside a transformation a ``poi_val`` outside the bounds is used as given
    and a NaN one gives NaN (use :func:`relaxed.infer.checked`).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0],
        ...      "modifiers": [{"name": "b", "type": "normfactor", "data": None}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> pars = fixed_poi_fit(1.0, [70.0], model)
        >>> model.config.par_order, [round(float(v), 6) for v in pars]
        (['b', 'mu'], [1.2, 1.0])
    """
    poi_index = model.config.poi_index
    if poi_index is None:
        raise InvalidParameters("fixed_poi_fit needs a model with a parameter of interest")
    options = solver_options(method, maxiter, tolerance, nstarts)
    bounds = checks.check_bounds(par_bounds, model)
    fixed = list(checks.check_fixed(fixed_params, model))
    fixed[poi_index] = True
    settings = settings_from(bounds, tuple(fixed), options)
    checks.check_poi(poi_val, model, bounds, name="poi_val")
    init = model.config.suggested_init() if init_pars is None else init_pars
    checks.check_pars(init, model, "suggested_init()" if init_pars is None else "init_pars")
    init = (
        jnp.asarray(init, dtype=jnp.float64)
        .at[poi_index]
        .set(jnp.asarray(poi_val, dtype=jnp.float64))
    )
    checks.check_pars(init, model, "init_pars (with the POI set to poi_val)", bounds)
    checks.check_data(data, model)
    return _run(
        model,
        data,
        init,
        settings,
        options,
        return_fitted_val,
        return_uncertainties,
        return_correlations,
        return_result,
        "fixed-POI fit",
    )
