r"""Figures of merit to optimise an analysis for: each returns what its name says.

All are differentiable JAX functions of the model (its yields and modifier data are pytree
leaves), so ``jax.grad`` of any of them reaches the yields, and through them a neural network.

- :func:`asimov_significance`: the Asimov discovery significance of a counting experiment,
  with or without a background uncertainty (Cowan et al., arXiv:1007.1727, eq. 97; Cowan,
  "Discovery sensitivity for a counting experiment with background uncertainty", 2012).
- :func:`expected_discovery_q0`, :func:`expected_discovery_significance`,
  :func:`expected_discovery_pvalue`: :math:`q_0` on the Asimov data set of the
  signal-plus-background hypothesis, :math:`Z_0 = \sqrt{q_0}` and :math:`p_0 = 1 - \Phi(Z_0)`,
  with all nuisance parameters profiled.
- :func:`expected_cls`: the median expected :math:`\mathrm{CL}_s` of a POI value, from the
  Asimov background-only data set.
- :func:`fisher_information`, :func:`cramer_rao_uncertainty`, :func:`generalised_variance`:
  :math:`I = -\partial^2 \log L/\partial\theta\partial\theta^T`, the Cramér–Rao bound
  :math:`\sigma_i = \sqrt{(I^{-1})_{ii}}` and :math:`\det(I^{-1})`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array
from jax.scipy.special import ndtr
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidParameters
from relaxed.histfactory.model import Model
from relaxed.infer import mle

__all__ = [
    "asimov_significance",
    "expected_discovery_q0",
    "expected_discovery_significance",
    "expected_discovery_pvalue",
    "expected_cls",
    "fisher_information",
    "cramer_rao_uncertainty",
    "generalised_variance",
]


def _xlogy_ratio(n: Array, ratio: Array) -> Array:
    return jnp.where(n > 0, n * jnp.log(jnp.where(n > 0, ratio, 1.0)), 0.0)


def asimov_significance(
    s: ArrayLike, b: ArrayLike, b_uncertainty: ArrayLike | None = None
) -> Array:
    r"""Asimov discovery significance of counting experiments, combined over bins.

    Without a background uncertainty, per bin

    .. math:: Z_A^2 = 2\left[(s+b)\ln\left(1+\frac{s}{b}\right) - s\right];

    with an absolute background uncertainty :math:`\sigma` (the background constrained by an
    auxiliary measurement),

    .. math:: Z_A^2 = 2\left[(s+b)\ln\frac{(s+b)(b+\sigma^2)}{b^2+(s+b)\sigma^2}
        - \frac{b^2}{\sigma^2}\ln\left(1+\frac{\sigma^2 s}{b(b+\sigma^2)}\right)\right].

    Bins are independent: :math:`Z = \sqrt{\sum_\text{bins} Z_A^2}`.

    Example:
        >>> round(float(asimov_significance(10.0, 100.0)), 6)
        0.983992
        >>> round(float(asimov_significance(10.0, 100.0, 10.0)), 6)
        0.690196
    """
    s = jnp.asarray(s, dtype=jnp.float64)
    b = jnp.asarray(b, dtype=jnp.float64)
    if b_uncertainty is None:
        z2 = 2.0 * (_xlogy_ratio(s + b, 1.0 + s / b) - s)
    else:
        var = jnp.asarray(b_uncertainty, dtype=jnp.float64) ** 2
        n = s + b
        first = _xlogy_ratio(n, n * (b + var) / (b * b + n * var))
        safe_var = jnp.where(var > 0, var, 1.0)
        second = jnp.where(
            var > 0,
            b * b / safe_var * jnp.log1p(safe_var * s / (b * (b + safe_var))),
            s,  # the sigma -> 0 limit of the second term
        )
        z2 = 2.0 * (first - second)
    total = jnp.sum(jnp.clip(z2, 0.0))
    # sqrt with a finite (zero) derivative at Z = 0, where the one-sided slope is undefined
    return jnp.where(total > 0, jnp.sqrt(jnp.where(total > 0, total, 1.0)), 0.0)


def _pars(model: Model, pars: ArrayLike | None, poi_value: float | None) -> Array:
    out = jnp.asarray(model.config.suggested_init() if pars is None else pars, jnp.float64)
    if out.shape != (model.config.npars,):
        raise InvalidParameters(
            f"expected {model.config.npars} parameters ({model.config.par_names}), "
            f"got shape {out.shape}"
        )
    if poi_value is not None:
        if model.config.poi_index is None:
            raise InvalidParameters("this model has no parameter of interest")
        out = out.at[model.config.poi_index].set(poi_value)
    return out


def expected_discovery_q0(
    model: Model,
    pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
) -> Array:
    r"""Median discovery test statistic :math:`q_0` under signal plus background.

    The Asimov data set is :math:`\nu(\theta_A)`, the expected main and auxiliary data at
    ``pars`` (default: the suggested initial values with the POI at 1). Then

    .. math:: q_0 = -2\ln\frac{L(\mu=0, \hat{\hat\theta}(0))}{L(\hat\mu, \hat\theta)}

    on that data set (0 if :math:`\hat\mu < 0`), both fits profiling every nuisance parameter.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [100.0], "modifiers": []}]}]}
        >>> q0 = expected_discovery_q0(relaxed.Model(spec))
        >>> round(float(q0), 6) == round(float(asimov_significance(10.0, 100.0)) ** 2, 6)
        True
    """
    theta_a = _pars(model, pars, 1.0 if pars is None else None)
    asimov = model.expected_data(theta_a)
    poi = model.config.poi_index
    if poi is None:
        raise InvalidParameters("discovery needs a model with a parameter of interest")
    free, nll_free = mle.fit(
        asimov, model, theta_a, par_bounds, fixed_params, return_fitted_val=True
    )
    _, nll_bkg = mle.fixed_poi_fit(
        0.0, asimov, model, theta_a, par_bounds, fixed_params, return_fitted_val=True
    )
    q0 = jnp.clip(nll_bkg - nll_free, 0.0)
    return jnp.where(free[poi] >= 0.0, q0, 0.0)


def expected_discovery_significance(
    model: Model,
    pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
) -> Array:
    r"""Median discovery significance :math:`Z_0 = \sqrt{q_0}` (in standard deviations).

    See :func:`expected_discovery_q0`. The derivative of :math:`\sqrt{q_0}` is taken safely
    at :math:`q_0 = 0`.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [100.0], "modifiers": []}]}]}
        >>> round(float(expected_discovery_significance(relaxed.Model(spec))), 6)
        0.983992
    """
    q0 = expected_discovery_q0(model, pars, par_bounds, fixed_params)
    safe = jnp.where(q0 > 0, q0, 1.0)
    return jnp.where(q0 > 0, jnp.sqrt(safe), 0.0)


def expected_discovery_pvalue(
    model: Model,
    pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
) -> Array:
    r"""Median discovery p-value :math:`p_0 = 1 - \Phi(\sqrt{q_0})`.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [100.0], "modifiers": []}]}]}
        >>> round(float(expected_discovery_pvalue(relaxed.Model(spec))), 6)
        0.16256
    """
    return ndtr(-expected_discovery_significance(model, pars, par_bounds, fixed_params))


def expected_cls(
    model: Model,
    poi_test: ArrayLike = 1.0,
    bkg_pars: ArrayLike | None = None,
    test_stat: str = "qtilde",
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    **solver: Any,
) -> Array:
    r"""Median expected :math:`\mathrm{CL}_s` of ``poi_test`` under the background-only
    hypothesis (``solver``: the fits' ``method``, ``maxiter``, ``tolerance``, ``nstarts``,
    as for :func:`relaxed.infer.hypotest`).

    The observed :math:`\mathrm{CL}_s = \mathrm{CL}_{s+b}/\mathrm{CL}_b` (asymptotic formulae)
    evaluated on the Asimov background-only data set :math:`\nu(\theta_0)`, with
    :math:`\theta_0` = ``bkg_pars`` (default: the suggested initial values with the POI at 0).
    This equals pyhf's median expected :math:`\mathrm{CL}_s` of ``hypotest`` on that data.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [100.0], "modifiers": []}]}]}
        >>> round(float(expected_cls(relaxed.Model(spec), 1.0)), 6)
        0.332802
    """
    from relaxed.infer.hypotest import hypotest

    theta_0 = _pars(model, bkg_pars, 0.0 if bkg_pars is None else None)
    asimov = model.expected_data(theta_0)
    return hypotest(
        poi_test,
        asimov,
        model,
        par_bounds=par_bounds,
        fixed_params=fixed_params,
        test_stat=test_stat,
        **solver,
    )


def fisher_information(model: Model, pars: ArrayLike, data: ArrayLike | None = None) -> Array:
    r"""Observed Fisher information :math:`I_{ij} = -\partial_i\partial_j \log L(\theta)`.

    With ``data=None`` the data are the Asimov data :math:`\nu(\theta)` at ``pars``, and
    :math:`I` is the expected (Fisher) information matrix of the model at ``pars``.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [25.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> float(fisher_information(relaxed.Model(spec), [1.0])[0, 0])  # s^2 / (mu s)
        25.0
    """
    pars = _pars(model, pars, None)
    if data is None:
        data = model.expected_data(pars)
    return -jax.hessian(lambda p: model.logpdf(p, data)[0])(pars)


def _free_information(
    model: Model, pars: ArrayLike, data: ArrayLike | None, fixed_params: Sequence[bool] | None
) -> tuple[Array, Array]:
    """Fisher information with fixed parameters decoupled (unit diagonal), and the free mask."""
    info = fisher_information(model, pars, data)
    fixed = model.config.suggested_fixed() if fixed_params is None else fixed_params
    free = jnp.asarray([not f for f in fixed])
    both = free[:, None] & free[None, :]
    return jnp.where(both, info, 0.0) + jnp.diag(jnp.where(free, 0.0, 1.0)), both


def _free_covariance(
    model: Model, pars: ArrayLike, data: ArrayLike | None, fixed_params: Sequence[bool] | None
) -> Array:
    info, both = _free_information(model, pars, data, fixed_params)
    return jnp.where(both, jnp.linalg.inv(info), 0.0)


def cramer_rao_uncertainty(
    model: Model,
    pars: ArrayLike,
    parameter: str | int | None = None,
    data: ArrayLike | None = None,
    fixed_params: Sequence[bool] | None = None,
) -> Array:
    r"""Cramér–Rao bound on a parameter's uncertainty, :math:`\sigma_i = \sqrt{(I^{-1})_{ii}}`.

    :math:`I` is :func:`fisher_information` over the free (not fixed) parameters.
    ``parameter`` is a name (scalar parameter), an index into the parameter vector, or None
    for the parameter of interest.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [25.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> float(cramer_rao_uncertainty(relaxed.Model(spec), [1.0]))  # 1/sqrt(25)
        0.2
    """
    cfg = model.config
    if parameter is None:
        if cfg.poi_index is None:
            raise InvalidParameters("no parameter given and the model has no POI")
        index = cfg.poi_index
    elif isinstance(parameter, str):
        if parameter not in cfg.par_order:
            raise InvalidParameters(f"unknown parameter {parameter!r}; known: {cfg.par_order}")
        sl = cfg.par_slice(parameter)
        if sl.stop - sl.start != 1:
            raise InvalidParameters(
                f"parameter {parameter!r} has {sl.stop - sl.start} components: pass an index"
            )
        index = sl.start
    else:
        index = int(parameter)
        if not 0 <= index < cfg.npars:
            raise InvalidParameters(f"parameter index {index} outside 0..{cfg.npars - 1}")
    cov = _free_covariance(model, pars, data, fixed_params)
    return jnp.sqrt(jnp.clip(cov[index, index], 0.0))


def generalised_variance(
    model: Model,
    pars: ArrayLike,
    data: ArrayLike | None = None,
    fixed_params: Sequence[bool] | None = None,
) -> Array:
    r"""Generalised variance :math:`\det V` with :math:`V = I^{-1}` over the free parameters.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [25.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> round(float(generalised_variance(relaxed.Model(spec), [1.0])), 12)
        0.04
    """
    info, _ = _free_information(model, pars, data, fixed_params)
    return 1.0 / jnp.linalg.det(info)
