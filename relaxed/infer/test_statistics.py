r"""Profile-likelihood-ratio test statistics (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727).

With the profile likelihood ratio

.. math::

    \lambda(\mu) = \frac{L(\mu, \hat{\hat\theta}(\mu))}{L(\hat\mu, \hat\theta)},
    \qquad t_\mu = -2\ln\lambda(\mu) \ge 0,

the statistics are

.. math::

    q_\mu = \begin{cases} t_\mu & \hat\mu \le \mu \\ 0 & \hat\mu > \mu \end{cases},
    \qquad
    q_0 = \begin{cases} t_0 & \hat\mu \ge 0 \\ 0 & \hat\mu < 0 \end{cases}.

The "tilde" variants :math:`\tilde t_\mu, \tilde q_\mu` are the same formulas evaluated with
:math:`\hat\mu` restricted to :math:`\hat\mu \ge 0` (the POI's lower bound at zero). As in
pyhf 0.7.6 the fits use ``par_bounds`` as given: the functions differ only in the warning that
is logged when the POI bound does not suit the statistic. Signatures and return values are
pyhf's; results are JAX arrays, jit-able, vmap-able over ``mu`` and ``data``, and
differentiable (the fits are differentiated implicitly). :math:`t_\mu` is clipped at zero
against rounding, as pyhf does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
from jax import Array
from jax.core import Tracer
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidParameters
from relaxed.histfactory.model import Model
from relaxed.infer import checks
from relaxed.infer.mle import fit, fixed_poi_fit

__all__ = [
    "q0",
    "qmu",
    "qmu_tilde",
    "tmu",
    "tmu_tilde",
    "get_test_stat",
    "from_fits",
    "TEST_STATISTICS",
]

log = logging.getLogger(__name__)

Bounds = Sequence[Sequence[float]] | None
Fixed = Sequence[bool] | None


def _poi_index(pdf: Model) -> int:
    index = pdf.config.poi_index
    if index is None:
        raise InvalidParameters(
            "no parameter of interest is defined: profile-likelihood test statistics need one "
            "(build the model with poi_name=...)"
        )
    return index


def _poi_lower(pdf: Model, par_bounds: Bounds) -> float:
    return checks.check_bounds(par_bounds, pdf)[_poi_index(pdf)][0]


def _tmu_like(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None,
    par_bounds: Bounds,
    fixed_params: Fixed,
) -> tuple[Array, tuple[Array, Array]]:
    """:math:`t_\\mu` with the conditional and unconditional best fits."""
    mubhathat, cond_nll = fixed_poi_fit(
        mu, data, pdf, init_pars, par_bounds, fixed_params, return_fitted_val=True
    )
    muhatbhat, free_nll = fit(
        data, pdf, init_pars, par_bounds, fixed_params, return_fitted_val=True
    )
    return jnp.clip(cond_nll - free_nll, 0.0, None), (mubhathat, muhatbhat)


def _qmu_like(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None,
    par_bounds: Bounds,
    fixed_params: Fixed,
) -> tuple[Array, tuple[Array, Array]]:
    """:math:`q_\\mu`: :math:`t_\\mu`, set to zero where :math:`\\hat\\mu > \\mu`."""
    tmu_v, (mubhathat, muhatbhat) = _tmu_like(mu, data, pdf, init_pars, par_bounds, fixed_params)
    muhat = muhatbhat[_poi_index(pdf)]
    qmu_v = jnp.where(muhat > jnp.asarray(mu, dtype=tmu_v.dtype), 0.0, tmu_v)
    return qmu_v, (mubhathat, muhatbhat)


def _returns(result: tuple[Array, tuple[Array, Array]], return_fitted_pars: bool) -> Any:
    return result if return_fitted_pars else result[0]


def _warn_bound(pdf: Model, par_bounds: Bounds, name: str, want_zero: bool, other: str) -> None:
    at_zero = _poi_lower(pdf, par_bounds) == 0.0
    if at_zero != want_zero:
        log.warning(
            "%s test statistic used for a fit configuration with the POI %sbounded at zero; "
            "use %s instead",
            name,
            "" if at_zero else "not ",
            other,
        )


def qmu(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Bounds = None,
    fixed_params: Fixed = None,
    return_fitted_pars: bool = False,
) -> Any:
    r"""The upper-limit test statistic :math:`q_\mu` (arXiv:1007.1727, Eq. 14).

    .. math::

        q_\mu = \begin{cases} -2\ln\lambda(\mu) & \hat\mu \le \mu \\
                              0 & \hat\mu > \mu \end{cases}

    Returns :math:`q_\mu`, and with ``return_fitted_pars`` also the fitted parameters
    :math:`(\hat{\hat\theta}(\mu), \hat\theta)`. Logs a warning when the POI is bounded at zero
    (use :func:`qmu_tilde` then), as pyhf.

    Example:
        >>> import relaxed
        >>> from relaxed.infer import test_statistics
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> bounds = [(-10.0, 10.0), (1e-10, 10.0), (1e-10, 10.0)]
        >>> round(float(test_statistics.qmu(1.0, data, model, None, bounds, None)), 6)
        3.954989
    """
    _warn_bound(pdf, par_bounds, "qmu", False, "qmu_tilde (test_stat='qtilde')")
    return _returns(
        _qmu_like(mu, data, pdf, init_pars, par_bounds, fixed_params), return_fitted_pars
    )


def qmu_tilde(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Bounds = None,
    fixed_params: Fixed = None,
    return_fitted_pars: bool = False,
) -> Any:
    r"""The alternative upper-limit test statistic :math:`\tilde q_\mu` (arXiv:1007.1727, Eq. 16).

    .. math::

        \tilde q_\mu = \begin{cases}
            -2\ln\dfrac{L(\mu,\hat{\hat\theta}(\mu))}{L(0,\hat{\hat\theta}(0))} & \hat\mu < 0 \\
            -2\ln\dfrac{L(\mu,\hat{\hat\theta}(\mu))}{L(\hat\mu,\hat\theta)} & 0\le\hat\mu\le\mu \\
            0 & \hat\mu > \mu \end{cases}

    which is :math:`q_\mu` with :math:`\hat\mu` fitted within a POI lower bound of zero (a
    warning is logged when ``par_bounds`` does not start the POI at zero, as pyhf).

    Example:
        >>> import relaxed
        >>> from relaxed.infer import test_statistics
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> round(float(test_statistics.qmu_tilde(1.0, data, model)), 6)
        3.938245
    """
    _warn_bound(pdf, par_bounds, "qmu_tilde", True, "qmu (test_stat='q')")
    return _returns(
        _qmu_like(mu, data, pdf, init_pars, par_bounds, fixed_params), return_fitted_pars
    )


def tmu(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Bounds = None,
    fixed_params: Fixed = None,
    return_fitted_pars: bool = False,
) -> Any:
    r"""The two-sided test statistic :math:`t_\mu = -2\ln\lambda(\mu)` (arXiv:1007.1727, Eq. 8).

    .. math::

        t_\mu = -2\ln\frac{L(\mu,\hat{\hat\theta}(\mu))}{L(\hat\mu,\hat\theta)}

    Logs a warning when the POI is bounded at zero (use :func:`tmu_tilde` then).

    Example:
        >>> import relaxed
        >>> from relaxed.infer import test_statistics
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}]}
        >>> model = relaxed.Model(spec)
        >>> t = test_statistics.tmu(2.0, [60.0], model, None, [(-10.0, 10.0)], None)
        >>> round(float(t), 6)  # 2 (n ln(n/70) + 70 - n)
        1.501918
    """
    _warn_bound(pdf, par_bounds, "tmu", False, "tmu_tilde")
    return _returns(
        _tmu_like(mu, data, pdf, init_pars, par_bounds, fixed_params), return_fitted_pars
    )


def tmu_tilde(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Bounds = None,
    fixed_params: Fixed = None,
    return_fitted_pars: bool = False,
) -> Any:
    r"""The two-sided test statistic for :math:`\mu \ge 0` (arXiv:1007.1727, Eq. 11).

    .. math::

        \tilde t_\mu = \begin{cases}
            -2\ln\dfrac{L(\mu,\hat{\hat\theta}(\mu))}{L(0,\hat{\hat\theta}(0))} & \hat\mu < 0 \\
            -2\ln\dfrac{L(\mu,\hat{\hat\theta}(\mu))}{L(\hat\mu,\hat\theta)} & \hat\mu \ge 0
        \end{cases}

    i.e. :math:`t_\mu` with the POI's lower bound at zero (a warning is logged otherwise).

    Example:
        >>> import relaxed
        >>> from relaxed.infer import test_statistics
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}]}
        >>> model = relaxed.Model(spec)
        >>> round(float(test_statistics.tmu_tilde(1.0, [40.0], model)), 6)  # mu-hat at 0
        5.414275
    """
    _warn_bound(pdf, par_bounds, "tmu_tilde", True, "tmu")
    return _returns(
        _tmu_like(mu, data, pdf, init_pars, par_bounds, fixed_params), return_fitted_pars
    )


def q0(
    mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Bounds = None,
    fixed_params: Fixed = None,
    return_fitted_pars: bool = False,
) -> Any:
    r"""The discovery test statistic :math:`q_0` (arXiv:1007.1727, Eq. 12).

    .. math::

        q_0 = \begin{cases} -2\ln\lambda(0) & \hat\mu \ge 0 \\ 0 & \hat\mu < 0 \end{cases}

    ``mu`` is ignored: the statistic is evaluated at :math:`\mu = 0` (a warning is logged for a
    concrete non-zero ``mu``, as pyhf).

    Example:
        >>> import relaxed
        >>> from relaxed.infer import test_statistics
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [10.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}]}
        >>> model = relaxed.Model(spec)
        >>> round(float(test_statistics.q0(0.0, [65.0], model)), 6)  # 2 (n ln(n/50) + 50 - n)
        4.107354
    """
    _poi_index(pdf)
    if not isinstance(mu, Tracer) and jnp.ndim(mu) == 0 and float(mu) != 0.0:
        log.warning("q0 test statistic is only defined at mu = 0: using mu = 0")
    zero = jnp.zeros((), dtype=jnp.float64)
    tmu_v, (mubhathat, muhatbhat) = _tmu_like(zero, data, pdf, init_pars, par_bounds, fixed_params)
    q0_v = jnp.where(muhatbhat[_poi_index(pdf)] < 0.0, 0.0, tmu_v)
    return _returns((q0_v, (mubhathat, muhatbhat)), return_fitted_pars)


def from_fits(
    test_stat: str, mu: ArrayLike, cond_nll: Array, free_nll: Array, muhat: Array
) -> Array:
    r"""A test statistic from the conditional and free fits' ``twice_nll`` and :math:`\hat\mu`:
    :math:`t = \max(0, -2\ln L(\mu,\hat{\hat\theta}) + 2\ln L(\hat\mu,\hat\theta))`,
    zero where :math:`\hat\mu > \mu` (``"q"``, ``"qtilde"``; the POI's bounds make the
    difference) or :math:`\hat\mu < 0` (``"q0"``, with ``mu`` = 0).

    Example:
        >>> float(from_fits("q", 1.0, jnp.asarray(5.0), jnp.asarray(1.0), jnp.asarray(0.2)))
        4.0
        >>> float(from_fits("q", 1.0, jnp.asarray(5.0), jnp.asarray(1.0), jnp.asarray(1.5)))
        0.0
    """
    get_test_stat(test_stat)
    t = jnp.clip(cond_nll - free_nll, 0.0, None)
    if test_stat == "q0":
        return jnp.where(muhat < 0.0, 0.0, t)
    return jnp.where(muhat > jnp.asarray(mu, dtype=t.dtype), 0.0, t)


#: Test statistics by the names hypotest and the calculators accept (pyhf's names).
TEST_STATISTICS: dict[str, Callable[..., Any]] = {"q0": q0, "q": qmu, "qtilde": qmu_tilde}


def get_test_stat(name: str) -> Callable[..., Any]:
    """The test-statistic function called ``name``: ``"q0"``, ``"q"`` or ``"qtilde"``.

    Raises:
        relaxed.exceptions.InvalidParameters: an unknown name (the message lists the valid ones).

    Example:
        >>> get_test_stat("qtilde") is qmu_tilde
        True
    """
    if not isinstance(name, str) or name not in TEST_STATISTICS:
        raise InvalidParameters(
            f"unknown test statistic {name!r}; choose one of {sorted(TEST_STATISTICS)}"
        )
    return TEST_STATISTICS[name]
