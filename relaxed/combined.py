r"""A likelihood of several parts that share parameters by name: binned HistFactory channels
(:class:`relaxed.Model`) and unbinned data sets (:class:`relaxed.unbinned.ExtendedModel`).

For parts :math:`k` with data :math:`D_k`, the combined log-likelihood is the sum

.. math::

    \log L(\theta) = \sum_k \log L_k(\theta_{[k]} \mid D_k),

where :math:`\theta_{[k]}` are the parameters of part :math:`k`, picked from the combined
vector by name: a parameter called ``mu`` in two parts is one parameter (HS3's likelihood of
several distribution/data pairs; RooFit's ``RooSimultaneous``; TF-PWA's ``CombineFCN``). The
data are the parts' flat data vectors one after the other. The combination offers the model
protocol of :mod:`relaxed.infer.protocol`, so fits, hypothesis tests, limits, Hessian
uncertainties and toys work on it unchanged; it is a pytree whose leaves are its parts'
leaves, so fit results and CLs are differentiable in the binned yields and in the events.

A parameter's initial value, bounds and fixed flag must agree between the parts that share it,
and a parameter may be constrained (carry auxiliary data) in one part only: the constraint of
a shared nuisance parameter belongs to one part, else it would count twice.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidData, InvalidModel

__all__ = ["CombinedModel", "CombinedConfig"]


@dataclass(frozen=True)
class CombinedConfig:
    """The parameters of a :class:`CombinedModel`, in pyhf's vocabulary: one entry per scalar
    parameter (the parts' ``par_names``, first part first, new names in order of appearance).
    """

    par_order: tuple[str, ...]
    inits: tuple[float, ...]
    bounds: tuple[tuple[float, float], ...]
    fixed: tuple[bool, ...]
    poi_name: str | None

    @property
    def npars(self) -> int:
        return len(self.par_order)

    @property
    def par_names(self) -> list[str]:
        return list(self.par_order)

    @property
    def poi_index(self) -> int | None:
        return None if self.poi_name is None else self.par_order.index(self.poi_name)

    def par_slice(self, name: str) -> slice:
        i = self.par_order.index(name)
        return slice(i, i + 1)

    def suggested_init(self) -> list[float]:
        return list(self.inits)

    def suggested_bounds(self) -> list[tuple[float, float]]:
        return list(self.bounds)

    def suggested_fixed(self) -> list[bool]:
        return list(self.fixed)


def _constrained(part: Any) -> list[str]:
    """Names of the parameters a part constrains (those its auxiliary data belong to)."""
    return list(part.constrained_parameters())


class CombinedModel:
    r"""Parts sharing parameters by name (module docstring).

    Args:
        parts: ``{name: model}``, each a :class:`relaxed.Model` or an
            :class:`relaxed.unbinned.ExtendedModel` (built with a ``capacity``), in the order
            their data follow each other.
        poi_name: the parameter of interest (a name of any part), or ``None``.

    Raises:
        relaxed.exceptions.InvalidModel: no parts, a shared parameter whose init, bounds or
            fixed flag differ between parts, one constrained in two parts, or an unknown POI.

    Example:
        >>> import relaxed
        >>> from relaxed.unbinned import Component, ExtendedModel, Parameter
        >>> binned = relaxed.Model({"channels": [{"name": "CR", "samples": [
        ...     {"name": "bkg", "data": [100.0],
        ...      "modifiers": [{"name": "mu_b", "type": "normfactor", "data": None}]}]}]},
        ...     poi_name=None)
        >>> peak = ExtendedModel("m", (0.0, 10.0), [
        ...     Component("sig", "gaussian_dist", {"mean": 5.0, "sigma": 0.5}, "mu"),
        ...     Component("bkg", "uniform_dist", {}, "n_b")],
        ...     {"mu": Parameter(1.0, (0.0, 10.0)), "n_b": Parameter(20.0, (0.0, 100.0))},
        ...     capacity=512)
        >>> model = CombinedModel({"CR": binned, "SR": peak}, poi_name="mu")
        >>> model.config.par_order, model.config.poi_index
        (('mu_b', 'mu', 'n_b'), 1)
        >>> data = model.data({"CR": [104.0], "SR": peak.data([4.8, 5.1, 2.0, 7.5])})
        >>> data.shape
        (1025,)
        >>> bestfit = relaxed.infer.mle.fit(data, model)
        >>> [round(float(v), 4) for v in bestfit]
        [1.04, 1.6964, 2.3036]
    """

    def __init__(self, parts: Mapping[str, Any], poi_name: str | None = None) -> None:
        if not parts:
            raise InvalidModel("a combined model needs at least one part")
        self._names = tuple(str(n) for n in parts)
        self._parts = tuple(parts.values())
        order: list[str] = []
        info: dict[str, tuple[float, tuple[float, float], bool, str]] = {}
        constrained: dict[str, str] = {}
        index = []
        for name, part in zip(self._names, self._parts, strict=True):
            cfg = part.config
            inits = cfg.suggested_init()
            bounds = cfg.suggested_bounds()
            fixed = cfg.suggested_fixed()
            for k, par in enumerate(cfg.par_names):
                this = (float(inits[k]), tuple(map(float, bounds[k])), bool(fixed[k]), name)
                if par in info:
                    first = info[par]
                    if first[:3] != this[:3]:
                        raise InvalidModel(
                            f"parameter {par!r}: part {first[3]!r} has init {first[0]}, bounds "
                            f"{first[1]}, fixed {first[2]}, but part {name!r} has init "
                            f"{this[0]}, bounds {this[1]}, fixed {this[2]}; shared parameters "
                            "must agree"
                        )
                else:
                    info[par] = this  # type: ignore[assignment]
                    order.append(par)
            for par in _constrained(part):
                if par in constrained:
                    raise InvalidModel(
                        f"parameter {par!r} is constrained in part {constrained[par]!r} and in "
                        f"part {name!r}; its constraint term would count twice"
                    )
                constrained[par] = name
            index.append(np.asarray([order.index(p) for p in cfg.par_names], dtype=int))
        if poi_name is not None and poi_name not in info:
            raise InvalidModel(f"poi_name {poi_name!r} is not a parameter of any part ({order})")
        self._index = tuple(index)
        self._config = CombinedConfig(
            tuple(order),
            tuple(info[p][0] for p in order),
            tuple(info[p][1] for p in order),
            tuple(info[p][2] for p in order),
            poi_name,
        )
        sizes = [part.data_limits()[0].shape[0] for part in self._parts]
        stops = np.cumsum(sizes)
        self._slices = tuple(slice(int(b - s), int(b)) for b, s in zip(stops, sizes, strict=True))

    # -- structure -------------------------------------------------------------------------
    @property
    def config(self) -> CombinedConfig:
        """pyhf-style configuration of the combined parameters."""
        return self._config

    @property
    def parts(self) -> dict[str, Any]:
        """The parts by name."""
        return dict(zip(self._names, self._parts, strict=True))

    def part_slice(self, name: str) -> slice:
        """Where part ``name``'s data lie in the combined data vector."""
        return self._slices[self._names.index(name)]

    @property
    def structure_key(self) -> Hashable:
        return ("CombinedModel", self._names, tuple(p.structure_key for p in self._parts))

    def __repr__(self) -> str:
        return (
            f"relaxed.CombinedModel(parts={list(self._names)}, npars={self._config.npars}, "
            f"poi={self._config.poi_name!r})"
        )

    # -- data ------------------------------------------------------------------------------
    def data(self, parts_data: Mapping[str, ArrayLike]) -> Array:
        """The combined data vector from each part's data (a binned part: main bins then
        auxiliary data; an unbinned part: ``ExtendedModel.data(events)``).

        Raises :class:`~relaxed.exceptions.InvalidData` for a missing or unknown part or a
        part's data of the wrong length (naming the part).
        """
        missing = [n for n in self._names if n not in parts_data]
        extra = [n for n in parts_data if n not in self._names]
        if missing or extra:
            raise InvalidData(
                f"combined data need one entry per part {list(self._names)}; missing "
                f"{missing}, unknown {extra}"
            )
        arrays = []
        for name, part in zip(self._names, self._parts, strict=True):
            try:
                arrays.append(part.data_array(parts_data[name]))
            except InvalidData as err:
                raise InvalidData(f"part {name!r}: {err}") from err
            if arrays[-1].ndim != 1:
                raise InvalidData(f"part {name!r}: expected one data set, got {arrays[-1].shape}")
        return jnp.concatenate(arrays)

    def data_array(self, data: ArrayLike) -> Array:
        data = jnp.asarray(data, dtype=jnp.float64)
        n = self._slices[-1].stop
        if data.ndim not in (1, 2) or data.shape[-1] != n:
            raise InvalidData(
                f"expected data of length {n} ({self.describe_data()}), got shape "
                f"{data.shape}; make it with model.data({{part: data}})"
            )
        return data

    def data_limits(self) -> tuple[np.ndarray, np.ndarray]:
        limits = [part.data_limits() for part in self._parts]
        return np.concatenate([lo for lo, _ in limits]), np.concatenate([hi for _, hi in limits])

    def describe_data(self) -> str:
        return "; ".join(
            f"part {n!r}: {p.describe_data()}"
            for n, p in zip(self._names, self._parts, strict=True)
        )

    def describe_datum(self, index: int) -> str:
        for name, part, where in zip(self._names, self._parts, self._slices, strict=True):
            if where.start <= index < where.stop:
                return f"part {name!r}: {part.describe_datum(index - where.start)}"
        return f"datum {index}"  # pragma: no cover - every index is in a part

    def data_rules(self, name: str) -> str:
        return "; ".join(
            f"part {n!r} (entries {s.start}-{s.stop - 1}): {p.data_rules(name)}"
            for n, p, s in zip(self._names, self._parts, self._slices, strict=True)
        )

    def prefit_constraints(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per parameter: constraint centre, pre-fit width (NaN if free) and kind, from the
        part that constrains it."""
        n = self._config.npars
        centre, width = np.full(n, np.nan), np.full(n, np.nan)
        kinds = ["none (free)"] * n
        for k, part in enumerate(self._parts):
            c, w, kind = part.prefit_constraints()
            for j, i in enumerate(self._index[k]):
                if np.isfinite(w[j]):
                    centre[i], width[i], kinds[i] = c[j], w[j], kind[j]
        return centre, width, kinds

    def constrained_parameters(self) -> list[str]:
        return [par for part in self._parts for par in _constrained(part)]

    # -- the likelihood --------------------------------------------------------------------
    def _part_pars(self, k: int, pars: Array) -> Array:
        return pars[..., self._index[k]]

    def _logpdf(self, pars: Array, data: Array) -> Array:
        total = jnp.zeros((), dtype=jnp.float64)
        for k, (part, where) in enumerate(zip(self._parts, self._slices, strict=True)):
            total = total + part.logpdf(self._part_pars(k, pars), data[where])[0]
        return total

    def logpdf(self, pars: ArrayLike, data: ArrayLike) -> Array:
        r""":math:`\log L = \sum_k \log L_k`, shape ``(1,)`` (``(n,)`` for batches).

        Concrete data are checked (:func:`relaxed.infer.checks.check_data`), naming the part.
        """
        pars = jnp.asarray(pars, dtype=jnp.float64)
        data = self.data_array(data)
        if not isinstance(data, jax.core.Tracer):
            from relaxed.infer.checks import check_data

            check_data(data, self, batch=True)
        if pars.ndim == 2 or data.ndim == 2:
            axes = (0 if pars.ndim == 2 else None, 0 if data.ndim == 2 else None)
            return jax.vmap(self._logpdf, in_axes=axes)(pars, data)
        return self._logpdf(pars, data)[None]

    def expected_data(self, pars: ArrayLike) -> Array:
        """The parts' Asimov data, one after the other."""
        pars = jnp.asarray(pars, dtype=jnp.float64)
        if pars.ndim == 2:
            return jax.vmap(self.expected_data)(pars)
        return jnp.concatenate(
            [part.expected_data(self._part_pars(k, pars)) for k, part in enumerate(self._parts)]
        )

    def sample(self, pars: ArrayLike, key: Array) -> Array:
        """One pseudo-experiment: each part draws with ``fold_in(key, part index)``."""
        pars = jnp.asarray(pars, dtype=jnp.float64)
        return jnp.concatenate(
            [
                part.sample(self._part_pars(k, pars), jax.random.fold_in(key, k))
                for k, part in enumerate(self._parts)
            ]
        )

    def start_shift(self) -> np.ndarray:
        shift = np.zeros(self._config.npars)
        for k, part in enumerate(self._parts):
            shift[self._index[k]] = np.maximum(shift[self._index[k]], part.start_shift())
        return shift

    def expected_curvature(self, pars: Array, data: Array) -> Array:
        """The sum of the parts' expected curvatures, each in its parameters' rows/columns."""
        n = self._config.npars
        curv = jnp.zeros((n, n), dtype=jnp.float64)
        for k, (part, where) in enumerate(zip(self._parts, self._slices, strict=True)):
            idx = self._index[k]
            part_curv = part.expected_curvature(self._part_pars(k, pars), data[where])
            curv = curv.at[np.ix_(idx, idx)].add(part_curv)
        return curv


def _flatten(model: CombinedModel) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    static = (
        model._names,
        model._config,
        tuple(tuple(int(i) for i in idx) for idx in model._index),
        tuple((s.start, s.stop) for s in model._slices),
    )
    return model._parts, static


def _unflatten(static: tuple[Any, ...], parts: Sequence[Any]) -> CombinedModel:
    names, config, index, slices = static
    new = object.__new__(CombinedModel)
    new._names = names
    new._parts = tuple(parts)
    new._config = config
    new._index = tuple(np.asarray(idx, dtype=int) for idx in index)
    new._slices = tuple(slice(a, b) for a, b in slices)
    return new


jax.tree_util.register_pytree_node(CombinedModel, _flatten, _unflatten)
