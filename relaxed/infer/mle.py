r"""Maximum-likelihood fits with pyhf's signatures, differentiable by implicit differentiation.

The objective is :math:`-2\log L(\theta)` (``twice_nll``). :func:`fit` minimises it over all
free parameters; :func:`fixed_poi_fit` holds the parameter of interest at a value. Both are
jit-compiled (one compilation per model structure and fixed/bound configuration), map with
``vmap`` over data sets, and their results are differentiable with respect to the data and to
the model (yields, modifier data) through :func:`relaxed.infer.newton.minimize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidParameters
from relaxed.histfactory.model import Model
from relaxed.infer.newton import NewtonSettings, minimize

__all__ = ["twice_nll", "fit", "fixed_poi_fit", "hessian_uncertainties"]


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


def _settings(
    model: Model,
    par_bounds: Sequence[Sequence[float]] | None,
    fixed_params: Sequence[bool] | None,
) -> NewtonSettings:
    cfg = model.config
    bounds = cfg.suggested_bounds() if par_bounds is None else par_bounds
    fixed = cfg.suggested_fixed() if fixed_params is None else fixed_params
    try:
        bounds_arr = np.asarray(bounds, dtype=np.float64)
    except Exception as err:
        raise InvalidParameters(f"par_bounds must be concrete (low, high) pairs: {err}") from err
    if bounds_arr.shape != (cfg.npars, 2):
        raise InvalidParameters(
            f"par_bounds must have shape ({cfg.npars}, 2) for parameters {cfg.par_names}, "
            f"got {bounds_arr.shape}"
        )
    bad = np.flatnonzero(~(bounds_arr[:, 0] <= bounds_arr[:, 1]))
    if bad.size:
        raise InvalidParameters(
            f"par_bounds for '{cfg.par_names[bad[0]]}' are {tuple(bounds_arr[bad[0]])}: "
            "the lower bound must not exceed the upper bound"
        )
    if len(fixed) != cfg.npars:
        raise InvalidParameters(
            f"fixed_params must have {cfg.npars} entries ({cfg.par_names}), got {len(fixed)}"
        )
    return NewtonSettings(
        lower=tuple(float(v) for v in bounds_arr[:, 0]),
        upper=tuple(float(v) for v in bounds_arr[:, 1]),
        fixed=tuple(bool(v) for v in fixed),
    )


def _init(model: Model, init_pars: ArrayLike | None) -> Array:
    init = model.config.suggested_init() if init_pars is None else init_pars
    init = jnp.asarray(init, dtype=jnp.float64)
    if init.shape != (model.config.npars,):
        raise InvalidParameters(
            f"init_pars must have shape ({model.config.npars},) for parameters "
            f"{model.config.par_names}, got {init.shape}"
        )
    return init


def hessian_uncertainties(
    pars: ArrayLike, data: ArrayLike, model: Model, fixed_params: Sequence[bool]
) -> tuple[Array, Array]:
    r"""Uncertainties and correlations from the exact Hessian of ``twice_nll``.

    :math:`V = 2 H^{-1}` with :math:`H = \partial^2(-2\log L)/\partial\theta^2` over the
    non-fixed parameters; fixed parameters get zero uncertainty and zero correlations (as in
    pyhf).

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
    pars = jnp.asarray(pars, dtype=jnp.float64)
    fixed = jnp.asarray(fixed_params)
    h = jax.hessian(twice_nll)(pars, data, model)
    both = ~fixed[:, None] & ~fixed[None, :]
    h = jnp.where(both, h, 0.0) + jnp.diag(jnp.where(fixed, 1.0, 0.0))
    cov = 2.0 * jnp.linalg.inv(h)
    cov = jnp.where(both, cov, 0.0)
    sigma = jnp.sqrt(jnp.clip(jnp.diagonal(cov), 0.0))
    safe = jnp.where(sigma > 0, sigma, 1.0)
    corr = cov / (safe[:, None] * safe[None, :])
    return sigma, corr


#: Shifts (in units of the constraint width) applied together to every free histosys and
#: normsys parameter to make the extra starting points of a fit.
START_SHIFTS = (-1.0, 1.0)


def _starts(model: Model, init: Array, settings: NewtonSettings) -> Array:
    """The starting point, plus ones with all interpolated nuisance parameters shifted.

    Histosys/normsys likelihoods can be multimodal (a histosys with a non-monotonic effect);
    Newton's method finds the minimum of the basin it starts in, so the fit runs from a few
    starts and keeps the lowest minimum.
    """
    shift = np.zeros(model.config.npars)
    for name in model.config.par_order:
        ps = model.config.param_set(name)
        if set(ps.modifier_types) & {"histosys", "normsys"}:
            shift[model.config.par_slice(name)] = 1.0
    shift = np.where(np.asarray(settings.fixed), 0.0, shift)
    if not shift.any():
        return init[None]
    return jnp.stack([init] + [init + k * jnp.asarray(shift) for k in START_SHIFTS])


def _best_minimum(model: Model, data: Array, init: Array, settings: NewtonSettings) -> Array:
    starts = _starts(model, init, settings)
    solve = lambda x0: minimize(_objective, (model, data), x0, settings)  # noqa: E731
    if starts.shape[0] == 1:
        return solve(starts[0])
    candidates = jax.vmap(solve)(starts)
    values = jax.vmap(lambda x: twice_nll(x, data, model))(candidates)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    return candidates[jnp.argmin(values)]


@partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _fit(
    model: Model,
    data: Array,
    init: Array,
    settings: NewtonSettings,
    return_fitted_val: bool,
    return_uncertainties: bool,
    return_correlations: bool,
) -> Any:
    bestfit = _best_minimum(model, data, init, settings)
    outputs: list[Array] = []
    if return_uncertainties or return_correlations:
        sigma, corr = hessian_uncertainties(
            jax.lax.stop_gradient(bestfit), data, model, settings.fixed
        )
    if return_uncertainties:
        outputs.append(jnp.stack([bestfit, sigma], axis=1))
    else:
        outputs.append(bestfit)
    if return_correlations:
        outputs.append(corr)
    if return_fitted_val:
        outputs.append(twice_nll(bestfit, data, model))
    return tuple(outputs) if len(outputs) > 1 else outputs[0]


def fit(
    data: ArrayLike,
    model: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    return_fitted_val: bool = False,
    return_uncertainties: bool = False,
    return_correlations: bool = False,
) -> Any:
    r"""Unconditional maximum-likelihood fit :math:`\hat\theta = \arg\min -2\log L(\theta)`.

    Same signature and return structure as ``pyhf.infer.mle.fit``: the best-fit parameters
    (shape ``(npars, 2)`` with uncertainties), then the correlation matrix if asked for, then
    ``twice_nll`` at the minimum if asked for. Box bounds are respected exactly; fixed
    parameters stay at their initial value. Results are differentiable in ``data`` and in the
    model's arrays (implicit differentiation), and the call maps with ``jax.vmap``.

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
    """
    settings = _settings(model, par_bounds, fixed_params)
    init = _init(model, init_pars)
    data = model._data(data)
    return _fit(
        model,
        data,
        init,
        settings,
        return_fitted_val,
        return_uncertainties,
        return_correlations,
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
) -> Any:
    r"""Conditional fit :math:`\hat{\hat\theta}(\mu) = \arg\min_{\theta \mid \mu} -2\log L`.

    The parameter of interest is fixed at ``poi_val`` (a number or traced array: the result
    is differentiable in it). Returns as :func:`fit`.

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
    init = _init(model, init_pars).at[poi_index].set(jnp.asarray(poi_val, dtype=jnp.float64))
    fixed = list(model.config.suggested_fixed() if fixed_params is None else fixed_params)
    if len(fixed) != model.config.npars:
        raise InvalidParameters(
            f"fixed_params must have {model.config.npars} entries, got {len(fixed)}"
        )
    fixed[poi_index] = True
    settings = _settings(model, par_bounds, fixed)
    data = model._data(data)
    return _fit(
        model,
        data,
        init,
        settings,
        return_fitted_val,
        return_uncertainties,
        return_correlations,
    )
