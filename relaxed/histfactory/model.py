r"""The HistFactory probability model as a JAX pytree.

For parameters :math:`\theta` the expected yield of sample :math:`s` in bin :math:`b` is

.. math::

    \nu_{sb}(\theta) = \Big(\nu^0_{sb} + \sum_{h\in\text{histosys}} \Delta_h(\alpha_h)\Big)
        \prod_{n\in\text{normsys}} \eta_n(\alpha_n)
        \prod_{k\in\text{normfactor, lumi, shapefactor, shapesys, staterror}} \theta_{k(s,b)},

and the main measurement is :math:`\lambda_b = \sum_s \nu_{sb}`. The log-likelihood is

.. math::

    \log L(\theta) = \sum_b \log \mathrm{Pois}(n_b \mid \lambda_b)
        + \sum_{j\in\text{Gaussian}} \log \mathcal{N}(a_j \mid \theta_j, \sigma_j)
        + \sum_{j\in\text{Poisson}} \log \mathrm{Pois}(a_j \mid \tau_j \theta_j),

with the continuous Poisson :math:`\log\mathrm{Pois}(n\mid\lambda) = n\log\lambda - \lambda -
\log\Gamma(n+1)` as pyhf, evaluated without its cancellation for large counts
(:func:`relaxed.histfactory.poisson.poisson_logpdf`: on a shapesys constraint with
:math:`\tau \sim 10^{11}` pyhf's sum is off by :math:`10^{-4}` to :math:`10^{-3}`, this one by
:math:`\sim 10^{-16}`). Evaluation is vectorised: one gather, one product and one sum per modifier
group; no Python loop runs at evaluation time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidData, InvalidMeasurement, InvalidModel, InvalidParameters
from relaxed.histfactory import protocol, schema
from relaxed.histfactory.builder import build
from relaxed.histfactory.config import Layout, ModelConfig
from relaxed.histfactory.interpolation import PRECOMPUTED_CODES, histosys_weight
from relaxed.histfactory.poisson import poisson_logpdf
from relaxed.histfactory.summary import describe, format_summary
from relaxed.pytree import leaf_fields, pytree_dataclass, static_field

__all__ = ["Model", "poisson_logpdf", "normal_logpdf"]


def normal_logpdf(x: ArrayLike, mu: ArrayLike, sigma: ArrayLike) -> Array:
    r"""Gaussian log-density :math:`-\tfrac12((x-\mu)/\sigma)^2 - \log\sigma - \tfrac12\log 2\pi`.

    Example:
        >>> round(float(normal_logpdf(1.0, 0.0, 1.0)), 10)
        -1.4189385332
    """
    z = (jnp.asarray(x) - mu) / sigma
    return -0.5 * z * z - jnp.log(sigma) - 0.5 * jnp.log(2.0 * jnp.pi)


def _finite(values: Any, path: str, what: str, error: type[Exception]) -> None:
    if any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values)):
        return
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return  # not numbers: the builder names the problem
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        k = int(bad[0])
        raise error(f"{path}[{k}]: {what} {float(array[k])!r}: it must be finite")


def _check_finite(spec: Mapping[str, Any]) -> None:
    """Sample yields and the measurement's inits, auxdata and sigmas must be finite (pyhf
    accepts NaN there and returns NaN likelihoods). Modifier data are checked by the
    builder, and malformed structures are left to it."""
    channels = spec.get("channels") if isinstance(spec, Mapping) else None
    for c, channel in enumerate(channels if isinstance(channels, list) else []):
        samples = channel.get("samples") if isinstance(channel, Mapping) else None
        for s, sample in enumerate(samples if isinstance(samples, list) else []):
            if isinstance(sample, Mapping) and "data" in sample:
                what = f"sample '{sample.get('name')}' in channel '{channel.get('name')}' has yield"
                _finite(sample["data"], f"channels[{c}].samples[{s}].data", what, InvalidModel)
    parameters = spec.get("parameters") if isinstance(spec, Mapping) else None
    for p, par in enumerate(parameters if isinstance(parameters, list) else []):
        for key in ("inits", "auxdata", "sigmas") if isinstance(par, Mapping) else ():
            if key in par:
                what = f"parameter '{par.get('name')}' has {key[:-1]}"
                _finite(par[key], f"parameters[{p}].{key}", what, InvalidMeasurement)


@pytree_dataclass
@dataclasses.dataclass(frozen=True, init=False, eq=False, repr=False)
class Model:
    """A HistFactory model built from a pyhf-format specification.

    Args:
        spec: ``{"channels": [...], "parameters": [...]}`` (the ``parameters`` list, the
            measurement configuration, is optional). Numbers may be Python floats, numpy or JAX
            arrays, or JAX tracers: the model can be built inside ``jax.jit``, ``jax.grad`` and
            ``jax.vmap``.
        poi_name: parameter of interest (``None`` for none).
        modifier_settings: interpolation codes, pyhf's format; default
            ``{"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}``
            as in pyhf 0.7.6. A type's entry may also hold ``"per_modifier"``:
            ``{"<channel>/<sample>/<modifier name>": code}``, the code of single modifiers
            (pyhf shares a modifier name between samples, so the path names all three; HS3
            gives every modifier its own interpolation). Unknown keys, paths that name no
            modifier of that type, and codes the engine lacks raise
            :class:`~relaxed.exceptions.InvalidModifier`. A relaxed extension chooses
            constraints (:mod:`relaxed.histfactory.modifiers.constraints`): the entries of
            ``"normsys"``, ``"histosys"``, ``"shapesys"`` and ``"staterror"`` take
            ``"constraint"`` (every set of the type) and ``"per_name"``
            (``{"<name>": constraint}``, single sets, before the type-wide choice), values
            ``"gauss"`` or ``"poisson"``; the defaults are pyhf's. ``"poisson"`` on a
            normsys/histosys is HS3's unit Poisson :math:`\\mathrm{Pois}(1 \\mid \\alpha)`
            (init 1, bounds (1e-10, 5)); ``"gauss"`` on a shapesys is
            :math:`\\mathcal{N}(1 \\mid \\gamma_b, \\sigma_b/\\nu_b)` (a staterror of that
            sample alone); ``"poisson"`` on a staterror is ROOT's
            :math:`\\mathrm{Pois}(\\tau_b \\mid \\tau_b\\gamma_b)` with
            :math:`\\tau_b = 1/\\sigma_b^2`, as pyhf's shapesys. A parameter shared by a
            normsys and a histosys takes the constraint either entry gives it (two different
            ones raise). The staterror entry also takes ``"rel_threshold": r``
            (ROOT's and HS3's ``relThreshold``; a finite number >= 0, default 0: none) and
            ``"rel_threshold_per_name": {"<name>": r}``, which fix the :math:`\\gamma_b` of the
            bins whose relative uncertainty :math:`\\sigma_b` is below :math:`r` at 1, as bins
            without uncertainty are (this needs concrete yields). Entries (keys) that only
            choose constraints or thresholds leave the interpolation codes at pyhf's
            ``Model(spec)`` defaults.
        validate: check the spec against the HistFactory JSON schema.

    A model is a frozen dataclass registered as a pytree (:mod:`relaxed.pytree`): its array
    fields (yields, modifier data, auxiliary data) are the leaves; its static field, the
    :class:`~relaxed.histfactory.config.Layout` (names, binning, parameter layout, index
    arrays, interpolation codes), is the tree's auxiliary data. Under tracing,
    whether a shapesys or staterror bin has zero yield or uncertainty cannot be known, so such
    bins are reported as free by ``config.suggested_fixed()``; the likelihood is the same.

    Raises:
        relaxed.exceptions.InvalidSpecification: the spec does not follow the schema.
        relaxed.exceptions.InvalidModel: an inconsistent spec (bin counts, shared names, POI)
            or a sample yield that is not finite (NaN, inf); its subclass
            ``InvalidModifier`` for bad modifier data or ``modifier_settings``.
        relaxed.exceptions.InvalidMeasurement: a parameter configuration that is inconsistent
            or has non-finite inits, auxdata or sigmas.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "unc", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> model.expected_data(model.config.suggested_init(), include_auxdata=False).tolist()
        [62.0, 63.0]
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> round(float(model.logpdf(model.config.suggested_init(), data)[0]), 6)
        -15.387627
    """

    #: static: names, binning, parameter layout, index arrays (the pytree's auxiliary data)
    _layout: Layout = static_field()
    # leaves, in this order (see ``builder.build`` for their shapes)
    _nominal: Array
    _normsys_log_hi: Array
    _normsys_log_lo: Array
    _normsys_coeffs: Array
    _histosys_up: Array
    _histosys_dn: Array
    _auxdata: Array
    _aux_sigma: Array
    _aux_factor: Array

    def __init__(
        self,
        spec: Mapping[str, Any],
        poi_name: str | None = "mu",
        modifier_settings: Mapping[str, Any] | None = None,
        validate: bool = True,
    ) -> None:
        if validate:
            schema.validate(spec, kind="model")
        _check_finite(spec)
        layout, arrays = build(spec, poi_name, modifier_settings)
        object.__setattr__(self, "_layout", layout)
        for name in _LEAVES:
            object.__setattr__(self, f"_{name}", arrays[name])

    # -- configuration ---------------------------------------------------------------------
    @property
    def config(self) -> ModelConfig:
        """pyhf-style configuration: ``par_order``, ``par_slice``, ``suggested_init``, ..."""
        return ModelConfig(self._layout, self._auxdata)

    @property
    def auxdata(self) -> Array:
        """Auxiliary data of the constraint terms (order: ``config.auxdata_order``)."""
        return self._auxdata

    @property
    def nominal_rates(self) -> Array:
        """Nominal yields, shape (samples, bins), samples and channels in sorted order."""
        return self._nominal

    def summary(self, data: ArrayLike | None = None) -> str:
        """A printable table of channels, samples, bins and parameters (inits, bounds,
        constraint types); with ``data``, the observed totals too. See
        :func:`relaxed.histfactory.summary.describe`."""
        return format_summary(describe(self, data))

    def __str__(self) -> str:
        """``print(model)`` shows :meth:`summary` (channels, samples, bins and parameters);
        ``repr(model)`` stays one line.

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "sig",
            ...     "data": [5.0, 2.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
            >>> model = relaxed.Model(spec)
            >>> print(model)  # doctest: +ELLIPSIS
            Channels (1), 2 bins in total
              SR: 2 bins
                sig                  nominal 7
            <BLANKLINE>
            Parameters (1; POI: mu)
            ...
            >>> str(model) == model.summary(), repr(model)[:29]
            (True, "relaxed.Model(channels=['SR']")
        """
        return self.summary()

    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"relaxed.Model(channels={cfg.channels}, samples={cfg.samples}, "
            f"npars={cfg.npars}, poi={cfg.poi_name!r})"
        )

    # -- evaluation ------------------------------------------------------------------------
    def _pars(self, pars: ArrayLike) -> Array:
        pars = jnp.asarray(pars, dtype=jnp.float64)
        if pars.ndim not in (1, 2) or pars.shape[-1] != self._layout.npars:
            raise InvalidParameters(
                f"expected a parameter vector of length {self._layout.npars} (or a batch of "
                f"shape (n, {self._layout.npars})) for parameters {self.config.par_order}, "
                f"got shape {pars.shape}"
            )
        return pars

    def _data(self, data: ArrayLike, with_aux: bool = True) -> Array:
        data = jnp.asarray(data, dtype=jnp.float64)
        n = self._layout.nmaindata + (self._layout.nauxdata if with_aux else 0)
        if data.ndim not in (1, 2) or data.shape[-1] != n:
            what = "main bins + auxiliary data" if with_aux else "main bins"
            raise InvalidData(
                f"expected data of length {n} ({what}: {self._layout.nmaindata} bins in "
                f"channels {list(self._layout.channels)}"
                + (f" + {self._layout.nauxdata} auxdata" if with_aux else "")
                + f"), got shape {data.shape}"
            )
        return data

    def expected_actualdata(self, pars: ArrayLike, return_by_sample: bool = False) -> Array:
        """Expected main-measurement yields :math:`\\lambda_b(\\theta) = \\sum_s \\nu_{sb}`,
        channels sorted; with ``return_by_sample`` the yields :math:`\\nu_{sb}` of each sample,
        shape (samples, bins) in ``config.samples`` order (pyhf's
        ``main_model.expected_data(pars, return_by_sample=True)``).

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [
            ...     {"name": "sig", "data": [5.0, 2.0],
            ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            ...     {"name": "bkg", "data": [10.0, 20.0], "modifiers": []}]}]}
            >>> model = relaxed.Model(spec)
            >>> model.expected_actualdata([2.0]).tolist()
            [20.0, 24.0]
            >>> by_sample = model.expected_actualdata([2.0], return_by_sample=True)
            >>> model.config.samples, by_sample.tolist()
            (['bkg', 'sig'], [[10.0, 20.0], [10.0, 4.0]])
        """
        fn = _expected_by_sample if return_by_sample else _expected_main
        return _batched(fn, self, self._pars(pars))

    def expected_auxdata(self, pars: ArrayLike) -> Array:
        """Expected auxiliary data: :math:`\\theta_j` (Gaussian) or :math:`\\tau_j\\theta_j`
        (Poisson), in ``config.auxdata_order``."""
        return _batched(_expected_aux, self, self._pars(pars))

    def expected_data(self, pars: ArrayLike, include_auxdata: bool = True) -> Array:
        """Expected main data, followed by the expected auxiliary data if requested."""
        pars = self._pars(pars)
        if not include_auxdata:
            return _batched(_expected_main, self, pars)
        return _batched(_expected_all, self, pars)

    def mainlogpdf(self, maindata: ArrayLike, pars: ArrayLike) -> Array:
        """:math:`\\sum_b \\log\\mathrm{Pois}(n_b\\mid\\lambda_b)`, a scalar like pyhf."""
        return _logpdf_call(_main_logpdf, self, pars, self._data(maindata, with_aux=False), False)

    def constraint_logpdf(self, auxdata: ArrayLike, pars: ArrayLike) -> Array:
        """Sum of the Gaussian and Poisson constraint terms, a scalar like pyhf."""
        auxdata = jnp.asarray(auxdata, dtype=jnp.float64)
        if auxdata.shape[-1:] != (self._layout.nauxdata,):
            raise InvalidData(
                f"expected {self._layout.nauxdata} auxiliary data "
                f"({self.config.auxdata_order}), got shape {auxdata.shape}"
            )
        return _logpdf_call(_constraint_logpdf, self, pars, auxdata, False)

    def logpdf(self, pars: ArrayLike, data: ArrayLike) -> Array:
        """Full log-likelihood :math:`\\log L(\\theta)` for main + auxiliary data.

        Returns shape ``(1,)`` for one parameter vector (as pyhf) and ``(n,)`` for a batch of
        shape ``(n, npars)``. Jit-compiled; differentiable in ``pars``, ``data`` and the model.

        Concrete ``data`` are checked (:func:`relaxed.infer.checks.check_data`): main counts
        finite and :math:`\\ge 0`, auxiliary data finite (:math:`\\ge 0` for Poisson
        constraints), else :class:`~relaxed.exceptions.InvalidData` naming the bin. Parameters
        are only checked for their length: non-finite parameters give NaN, as in pyhf. Inside
        ``jit``/``vmap``/``grad`` invalid data are not detected (the value is meaningless).

        Example:
            >>> import relaxed
            >>> model = relaxed.Model({"channels": [{"name": "SR", "samples": [
            ...     {"name": "s", "data": [10.0],
            ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]})
            >>> round(float(model.logpdf([1.0], [10.0])[0]), 6)
            -2.078562
            >>> model.logpdf([1.0], [-3.0])
            Traceback (most recent call last):
            ...
            relaxed.exceptions.InvalidData: data[0] is -3.0: observation bin 0 of channel 'SR' ...
        """
        data = self._data(data)
        if not isinstance(data, jax.core.Tracer):
            from relaxed.infer.checks import check_data  # relaxed.infer builds on this module

            check_data(data, self, batch=True)
        return _logpdf_call(_logpdf, self, pars, data, True)

    # -- what relaxed.infer asks of a model (relaxed.infer.protocol) -----------------------
    @property
    def structure_key(self) -> Hashable:
        """A hashable key of the model's static structure (names, binning, layout)."""
        return self._layout.structure_key

    def data_array(self, data: ArrayLike) -> Array:
        """``data`` (main bins, then auxiliary data) as float64, its length checked."""
        return self._data(data)

    def sample(self, pars: ArrayLike, key: Array) -> Array:
        """One pseudo-experiment (:func:`relaxed.histfactory.protocol.sample`)."""
        return protocol.sample(self, jnp.asarray(pars, dtype=jnp.float64), key)

    def data_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """The valid range of each datum (:mod:`relaxed.infer.protocol`)."""
        return protocol.data_limits(self)

    def describe_data(self) -> str:
        """The data vector's layout in words."""
        return protocol.describe_data(self)

    def describe_datum(self, index: int) -> str:
        """What datum ``index`` is, and its rule."""
        return protocol.describe_datum(self, index)

    def data_rules(self, name: str) -> str:
        """The rules of the data in words."""
        return protocol.data_rules(self, name)

    def constrained_parameters(self) -> list[str]:
        """The parameters with a constraint term (one per auxiliary datum, in order)."""
        names = self.config.par_names
        return [names[int(i)] for i in self._layout.aux_par_index]

    def prefit_constraints(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per parameter: constraint centre, pre-fit width (NaN if free) and kind."""
        return protocol.prefit_constraints(self)

    def start_shift(self) -> np.ndarray:
        """Per parameter, the shift of the extra starts of a fit (histosys/normsys: 1)."""
        return protocol.start_shift(self)

    def expected_curvature(self, pars: Array, data: Array) -> Array:
        """The expected curvature of :math:`-2\\log L`
        (:func:`relaxed.histfactory.protocol.expected_curvature`)."""
        return protocol.expected_curvature(self, pars, data)


#: The names of the model's leaves (without the underscore), in pytree order: the keys of the
#: arrays :func:`relaxed.histfactory.builder.build` returns.
_LEAVES: tuple[str, ...] = tuple(name[1:] for name in leaf_fields(Model))


# -- pure functions of (model, pars): compiled once per model structure --------------------
def _gather(model: Model, pars: Array) -> tuple[Array, ...]:
    """The parameters each modifier slot and constraint uses, from one gather: histosys
    alphas (H,), normsys alphas (N, S, C), direct factors (K, S, B) and the constrained
    parameters (auxdata order). Index ``npars`` points at a constant 1 (an empty factor
    slot)."""
    layout = model._layout
    ext = jnp.concatenate([pars, jnp.ones(1, dtype=pars.dtype)])
    hs, ns, fac, constrained = jnp.split(ext[layout.gather_index], layout.gather_splits)
    return (
        hs,
        ns.reshape(layout.normsys_index.shape),
        fac.reshape(layout.factor_index.shape),
        constrained,
    )


def _product(factors: Array) -> Array:
    """Product over the (few, packed) leading rows, as a pairwise tree: the rows (padded with
    a row of ones to an even number) are folded in two and the halves multiplied, until one
    row is left. The program has ``log2(rows)`` multiplications whatever the number of rows,
    and its gradient as many. Written out row by row, the 22 normsys rows of the eRJR
    likelihood made its value-and-gradient program 2.6 times as large (3.5k XLA instructions
    against 1.4k) and twice as slow to compile, for the same run time; ``jnp.prod``'s gradient
    needs padded cumulative products."""
    while factors.shape[0] > 1:
        if factors.shape[0] % 2:
            factors = jnp.concatenate([factors, jnp.ones_like(factors[:1])])
        halves = factors.reshape(2, factors.shape[0] // 2, *factors.shape[1:])
        factors = halves[0] * halves[1]
    return factors[0]


def _per_bin(model: Model, per_channel: Array) -> Array:
    """(S, C) -> (S, B): each channel's value repeated over its bins."""
    nbins = model._layout.channel_nbins
    if len(set(nbins)) == 1:  # a broadcast, whose gradient is a sum (no scatter)
        shape = (per_channel.shape[0], len(nbins), nbins[0])
        return jnp.broadcast_to(per_channel[:, :, None], shape).reshape(shape[0], -1)
    return per_channel[:, model._layout.bin_channel]


def _mixed_histosys_shift(model: Model, alpha_hs: Array, asym: Array) -> Array:
    """:math:`\\sum_h w_h(\\alpha_h) A_h` (samples, bins) when entries use several codes: one
    contraction per code used, over the entries using it (a static mask; :math:`A` is zero
    where a histosys does not apply, so those entries get no shift whatever their code)."""
    layout = model._layout
    terms = [
        jnp.tensordot(
            histosys_weight(alpha_hs, code),
            jnp.where(mask[:, :, layout.bin_channel], asym, 0.0),
            axes=1,
        )
        for code, mask in layout.slot_codes("histosys")
    ]
    return sum(terms[1:], terms[0])


def _normsys_factors(model: Model, alpha_ns: Array) -> Array:
    """:math:`\\eta(\\alpha)` of every normsys slot (N, S, C): the code every slot uses, else
    each code used, selected per slot by a static mask (padding slots, hi = lo = 1, are 1 for
    every code)."""
    args = (alpha_ns, model._normsys_log_hi, model._normsys_log_lo, model._normsys_coeffs)
    codes = model._layout.slot_codes("normsys")
    factor = PRECOMPUTED_CODES[codes[0][0]](*args)
    for code, mask in codes[1:]:
        factor = jnp.where(mask, PRECOMPUTED_CODES[code](*args), factor)
    return factor


def _sample_rates(model: Model, alpha_hs: Array, alpha_ns: Array, factors: Array) -> Array:
    """Expected yields of each sample, shape (samples, bins)."""
    rates = model._nominal
    if alpha_hs.shape[0]:  # sum_h alpha_h S_h + w(alpha_h) A_h: two contractions
        up, dn = model._histosys_up, model._histosys_dn
        codes = model._layout.slot_codes("histosys")
        if len(codes) == 1:
            weight = histosys_weight(alpha_hs, codes[0][0])
            rates = (
                rates
                + jnp.tensordot(alpha_hs, 0.5 * (up + dn), axes=1)
                + jnp.tensordot(weight, 0.0625 * (up - dn), axes=1)
            )
        else:
            rates = (
                rates
                + jnp.tensordot(alpha_hs, 0.5 * (up + dn), axes=1)
                + _mixed_histosys_shift(model, alpha_hs, 0.0625 * (up - dn))
            )
    if alpha_ns.shape[0]:
        rates = rates * _per_bin(model, _product(_normsys_factors(model, alpha_ns)))
    if factors.shape[0]:
        rates = rates * _product(factors)
    return rates


def _rates(model: Model, alpha_hs: Array, alpha_ns: Array, factors: Array) -> Array:
    return jnp.sum(_sample_rates(model, alpha_hs, alpha_ns, factors), axis=0)


def _expected_by_sample(model: Model, pars: Array) -> Array:
    alpha_hs, alpha_ns, factors, _ = _gather(model, pars)
    return _sample_rates(model, alpha_hs, alpha_ns, factors)


def _expected_main(model: Model, pars: Array) -> Array:
    alpha_hs, alpha_ns, factors, _ = _gather(model, pars)
    return _rates(model, alpha_hs, alpha_ns, factors)


def _expected_aux(model: Model, pars: Array) -> Array:
    return pars[model._layout.aux_par_index] * model._aux_factor


def _expected_all(model: Model, pars: Array) -> Array:
    return jnp.concatenate([_expected_main(model, pars), _expected_aux(model, pars)])


def _main_logpdf(model: Model, pars: Array, maindata: Array) -> Array:
    return jnp.sum(poisson_logpdf(maindata, _expected_main(model, pars)))


def _constraint_terms(model: Model, constrained: Array, auxdata: Array) -> Array:
    """Sum of the constraint log-densities, :math:`\\log\\mathcal{N}(a_j\\mid\\theta_j,
    \\sigma_j)` or :math:`\\log\\mathrm{Pois}(a_j\\mid\\tau_j\\theta_j)`, elementwise with a
    mask (no gathers: the gradient fuses). The other type's entries are evaluated at safe
    values so that neither branch can produce a NaN."""
    layout = model._layout
    if not layout.aux_par_index.shape[0]:
        return jnp.zeros((), dtype=auxdata.dtype)
    is_normal = layout.aux_is_normal
    gauss = normal_logpdf(auxdata, constrained, model._aux_sigma)
    if is_normal.all():
        return jnp.sum(gauss)
    rate = jnp.where(is_normal, 1.0, constrained * model._aux_factor)
    pois = poisson_logpdf(jnp.where(is_normal, 1.0, auxdata), rate)
    return jnp.sum(jnp.where(is_normal, gauss, pois))


def _constraint_logpdf(model: Model, pars: Array, auxdata: Array) -> Array:
    return _constraint_terms(model, pars[model._layout.aux_par_index], auxdata)


def _logpdf(model: Model, pars: Array, data: Array) -> Array:
    nmain = model._layout.nmaindata
    alpha_hs, alpha_ns, factors, constrained = _gather(model, pars)
    lam = _rates(model, alpha_hs, alpha_ns, factors)
    main = jnp.sum(poisson_logpdf(data[:nmain], lam))
    return main + _constraint_terms(model, constrained, data[nmain:])


@partial(jax.jit, static_argnums=0)
def _batched(fn, model: Model, pars: Array) -> Array:
    if pars.ndim == 2:
        return jax.vmap(fn, in_axes=(None, 0))(model, pars)
    return fn(model, pars)


@partial(jax.jit, static_argnums=(0, 4))
def _logpdf_batched(fn, model: Model, pars: Array, data: Array, keepdim: bool) -> Array:
    if pars.ndim == 2 or data.ndim == 2:
        pars_axis = 0 if pars.ndim == 2 else None
        data_axis = 0 if data.ndim == 2 else None
        return jax.vmap(fn, in_axes=(None, pars_axis, data_axis))(model, pars, data)
    value = fn(model, pars, data)
    return value[None] if keepdim else value


def _logpdf_call(fn, model: Model, pars: ArrayLike, data: Array, keepdim: bool) -> Array:
    return _logpdf_batched(fn, model, model._pars(pars), data, keepdim)
