r"""What :mod:`relaxed.infer` asks of a binned HistFactory model (:mod:`relaxed.infer.protocol`):
pseudo-experiments, the data's layout and rules, the starts of multimodal fits, and the
expected curvature that starts the BFGS method. :class:`relaxed.Model`'s methods of the same
names call these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from relaxed.histfactory.modifiers import INTERPOLATED

if TYPE_CHECKING:
    from relaxed.histfactory.model import Model

__all__ = [
    "sample",
    "data_limits",
    "describe_data",
    "describe_datum",
    "data_rules",
    "start_shift",
    "expected_curvature",
    "prefit_constraints",
]

#: pyhf's constraint types in words.
_KINDS = {"normal": "Gaussian", "poisson": "Poisson", None: "none (free)"}


def sample(model: Model, pars: Array, key: Array) -> Array:
    r"""One pseudo-experiment at ``pars``: main bins :math:`n_b \sim \mathrm{Pois}(\lambda_b)`,
    auxiliary data :math:`a_j \sim \mathcal{N}(\theta_j, \sigma_j)` for Gaussian constraints
    and :math:`a_j \sim \mathrm{Pois}(\tau_j\theta_j)` for Poisson ones; shape
    ``(nmaindata + nauxdata,)``.

    Example:
        >>> import jax, relaxed
        >>> shapesys = {"name": "u", "type": "shapesys", "data": [5.0]}
        >>> model = relaxed.Model({"channels": [{"name": "c", "samples": [
        ...     {"name": "b", "data": [50.0], "modifiers": [shapesys]}]}]}, poi_name=None)
        >>> toy = sample(model, jax.numpy.array([1.0]), jax.random.PRNGKey(0))
        >>> toy.shape, bool((toy >= 0).all())
        ((2,), True)
    """
    layout = model._layout
    pars = jnp.asarray(pars, dtype=jnp.float64)
    kmain, knormal, kpois = jax.random.split(key, 3)
    lam = model.expected_actualdata(pars)
    main = jax.random.poisson(kmain, lam).astype(jnp.float64)
    aux = model.expected_auxdata(pars)
    if layout.normal_aux.shape[0]:
        pos = layout.normal_aux
        noise = jax.random.normal(knormal, pos.shape, dtype=jnp.float64)
        aux = aux.at[pos].set(aux[pos] + model._aux_sigma[pos] * noise)
    if layout.poisson_aux.shape[0]:
        pos = layout.poisson_aux
        aux = aux.at[pos].set(jax.random.poisson(kpois, aux[pos]).astype(jnp.float64))
    return jnp.concatenate([main, aux])


def data_limits(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Main counts :math:`\\ge 0`; auxiliary data of Poisson constraints :math:`\\ge 0`, of
    Gaussian ones any finite number."""
    layout = model._layout
    lower = np.full(layout.nmaindata + layout.nauxdata, -np.inf)
    lower[: layout.nmaindata] = 0.0
    lower[layout.nmaindata + np.asarray(layout.poisson_aux, dtype=int)] = 0.0
    return lower, np.full(lower.shape, np.inf)


def describe_data(model: Model) -> str:
    layout = model._layout
    return (
        f"{layout.nmaindata} main bins in channels {list(layout.channels)} + "
        f"{layout.nauxdata} auxiliary data"
    )


def describe_datum(model: Model, index: int) -> str:
    layout = model._layout
    if index < layout.nmaindata:
        for channel, part in model.config.channel_slices.items():
            if part.start <= index < part.stop:
                return (
                    f"observation bin {index - part.start} of channel '{channel}' must be a "
                    "finite count >= 0 (non-integer counts are fine)"
                )
    aux = index - layout.nmaindata
    par = int(layout.aux_par_index[aux])
    poisson = bool(np.isin(aux, layout.poisson_aux))
    kind = "Poisson" if poisson else "Gaussian"
    name = model.config.par_names[par]
    rule = "finite and >= 0" if poisson else "finite"
    return f"auxiliary datum {aux} (of parameter '{name}', {kind} constraint) must be {rule}"


def data_rules(model: Model, name: str) -> str:
    layout = model._layout
    return (
        f"counts must be finite and >= 0 (main bins: the first {layout.nmaindata} of {name}, "
        f"channels {list(layout.channels)}; auxiliary data: finite, >= 0 for Poisson "
        "constraints)"
    )


def start_shift(model: Model) -> np.ndarray:
    """1 for every histosys/normsys parameter (a possibly multimodal likelihood), else 0."""
    cfg = model.config
    shift = np.zeros(cfg.npars)
    for name in cfg.par_order:
        if set(cfg.param_set(name).modifier_types) & set(INTERPOLATED):
            shift[cfg.par_slice(name)] = 1.0
    return shift


def expected_curvature(model: Model, pars: Array, data: Array) -> Array:
    r"""The expected curvature of :math:`-2\log L`:

    .. math::

        2 J^\top \operatorname{diag}(1/\lambda) J + \operatorname{diag}(c''),
        \qquad J_{bi} = \partial\lambda_b/\partial\theta_i,

    the Fisher information of the main Poisson terms plus the exact (diagonal) second
    derivatives :math:`c''` of the constraint terms, each of which depends on one parameter.
    The Jacobian is taken in reverse mode (one pass per bin) or forward mode (one per
    parameter), whichever is fewer.
    """
    from relaxed.histfactory.model import _constraint_logpdf, _expected_main

    nmain = model._layout.nmaindata
    rates = lambda p: _expected_main(model, p)  # noqa: E731
    jac = jax.jacrev(rates) if nmain <= pars.shape[0] else jax.jacfwd(rates)
    j = jac(pars)
    lam = rates(pars)
    weight = 1.0 / jnp.where(lam > 1e-300, lam, 1e-300)
    main = 2.0 * (j.T * weight) @ j
    constraint = lambda p: -2.0 * _constraint_logpdf(model, p, data[nmain:])  # noqa: E731
    ones = jnp.ones_like(pars)
    _, diag = jax.jvp(jax.grad(constraint), (pars,), (ones,))
    return main + jnp.diag(diag)


def prefit_constraints(model: Model) -> tuple[np.ndarray, np.ndarray, list[str]]:
    r"""Per parameter: the nominal value :math:`\theta_0` (the auxiliary datum over
    :math:`\tau`), the pre-fit width (:math:`\sigma` of a Gaussian constraint,
    :math:`1/\sqrt{\tau}` of a Poisson one; NaN where unconstrained) and the constraint's
    kind ("Gaussian", "Poisson", "none (free)")."""
    layout = model._layout
    cfg = model.config
    centre = np.full(layout.npars, np.nan)
    width = np.full(layout.npars, np.nan)
    kinds = [
        _KINDS[cfg.param_set(name).pdf_type]
        for name in cfg.par_order
        for _ in range(cfg.param_set(name).n_parameters)
    ]
    index = np.asarray(layout.aux_par_index)
    if index.size == 0:
        return centre, width, kinds
    aux = np.asarray(model.auxdata, dtype=np.float64)
    sigma = np.asarray(model._aux_sigma, dtype=np.float64)
    factor = np.asarray(model._aux_factor, dtype=np.float64)
    normal = np.asarray(layout.aux_is_normal)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre[index] = aux / factor
        width[index] = np.where(normal, sigma, 1.0 / np.sqrt(factor))
    return centre, width, kinds
