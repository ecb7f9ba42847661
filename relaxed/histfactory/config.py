"""Parameter bookkeeping of a HistFactory model: names, order, slices, inits, bounds, fixed.

Everything in :class:`Layout` is static (Python values, numpy index arrays): it is the part of
a :class:`relaxed.Model` that does not change when yields change, so it is the pytree's
auxiliary data and part of the jit cache key. The auxiliary data themselves depend on the
yields (shapesys) and are arrays held by the model; :class:`ModelConfig` is a view of a layout
and those auxiliary data, with pyhf's vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from relaxed.exceptions import InvalidModel
from relaxed.histfactory.modifiers import DEFAULT_MODIFIER_SETTINGS, UNITS

if TYPE_CHECKING:
    from jax import Array

__all__ = ["ParamSet", "Layout", "ModelConfig", "DEFAULT_MODIFIER_SETTINGS"]


@dataclass(frozen=True)
class ParamSet:
    """A named group of model parameters (one per scalar modifier, one per bin otherwise).

    Attributes mirror pyhf's ``paramset``: ``n_parameters``, ``is_scalar``,
    ``suggested_init``, ``suggested_bounds``, ``suggested_fixed`` (lists, one entry per
    component), ``constrained``, ``pdf_type`` (``"normal"``, ``"poisson"`` or ``None``) and
    ``modifier_types``, the modifier types that use this parameter (``("histosys", "normsys")``
    when a name is shared by both).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> ps = relaxed.Model(spec).config.param_set("u")
        >>> ps.n_parameters, ps.pdf_type, ps.suggested_bounds[0]
        (2, 'poisson', (1e-10, 10.0))
    """

    name: str
    n_parameters: int
    is_scalar: bool
    inits: tuple[float, ...]
    bounds: tuple[tuple[float, float], ...]
    fixed: tuple[bool, ...]
    pdf_type: str | None
    modifier_types: tuple[str, ...]

    @property
    def suggested_init(self) -> list[float]:
        return list(self.inits)

    @property
    def suggested_bounds(self) -> list[tuple[float, float]]:
        return list(self.bounds)

    @property
    def suggested_fixed(self) -> list[bool]:
        return list(self.fixed)

    @property
    def constrained(self) -> bool:
        return self.pdf_type is not None


@dataclass(frozen=True, eq=False)
class Layout:
    """Static structure of a model: names, parameter layout and the index arrays used to
    evaluate it. Equality and hashing go through :attr:`key` so that two models built from
    the same structure share compiled code."""

    channels: tuple[str, ...]
    channel_nbins: tuple[int, ...]
    samples: tuple[str, ...]
    modifiers: tuple[tuple[str, str], ...]
    paramsets: tuple[ParamSet, ...]
    poi_name: str | None
    modifier_settings: tuple[tuple[str, str], ...]
    normsys_code: str
    histosys_code: str
    # per-modifier codes: (type, channel, sample, modifier name, code), sorted
    interpolation_overrides: tuple[tuple[str, str, str, str, str], ...]
    # constraint settings other than the defaults (and staterror thresholds), as the model
    # reports them: (type, ((key, value), ...)), mappings as sorted (name, value) pairs
    constraint_settings: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    # index arrays (numpy, int32); "one" index == npars points at a constant 1.0
    factor_index: np.ndarray  # (K, S, B) parameters multiplying the yields directly
    normsys_index: np.ndarray  # (N, S, C) alpha of the normsys in that slot, per channel
    normsys_codes: np.ndarray  # (N, S, C) int8 code of each slot (in normsys's codes)
    bin_channel: np.ndarray  # (B,) channel index of each bin
    histosys_index: np.ndarray  # (H,) parameter of each histosys modifier
    histosys_codes: np.ndarray  # (H, S, C) int8 code of each entry (in histosys's codes)
    aux_par_index: np.ndarray  # (naux,) parameter constrained by each auxiliary datum
    normal_aux: np.ndarray  # positions in the auxdata vector with a Gaussian constraint
    poisson_aux: np.ndarray  # positions with a Poisson constraint
    aux_order: tuple[str, ...] = field(default=())

    def _index_arrays(self) -> tuple[np.ndarray, ...]:
        return (
            self.factor_index,
            self.normsys_index,
            self.normsys_codes,
            self.bin_channel,
            self.histosys_index,
            self.histosys_codes,
            self.aux_par_index,
            self.normal_aux,
            self.poisson_aux,
        )

    def __post_init__(self) -> None:
        arrays = self._index_arrays()
        key = (
            self.channels,
            self.channel_nbins,
            self.samples,
            self.modifiers,
            self.paramsets,
            self.poi_name,
            self.modifier_settings,
            self.normsys_code,
            self.histosys_code,
            self.interpolation_overrides,
            self.constraint_settings,
            tuple((a.shape, a.tobytes()) for a in arrays),
        )
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "_hash", hash(key))
        offsets = np.cumsum([0] + [p.n_parameters for p in self.paramsets])
        slices = {
            p.name: slice(int(a), int(b))
            for p, a, b in zip(self.paramsets, offsets[:-1], offsets[1:], strict=True)
        }
        object.__setattr__(self, "slices", slices)
        object.__setattr__(self, "npars", int(offsets[-1]))
        # One gather feeds every modifier group and the constraints: its transpose in the
        # gradient is then one scatter-add instead of one per group.
        groups = (self.histosys_index, self.normsys_index, self.factor_index, self.aux_par_index)
        is_normal = np.zeros(self.aux_par_index.shape[0], dtype=bool)
        is_normal[self.normal_aux] = True
        object.__setattr__(self, "aux_is_normal", is_normal)
        object.__setattr__(
            self, "gather_index", np.concatenate([g.ravel() for g in groups]).astype(np.int32)
        )
        object.__setattr__(
            self, "gather_splits", tuple(np.cumsum([g.size for g in groups])[:-1].tolist())
        )

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and (
            self is other or self.key == other.key  # type: ignore[attr-defined]
        )

    @property
    def nmaindata(self) -> int:
        return int(sum(self.channel_nbins))

    def slot_codes(self, mtype: str) -> tuple[tuple[str, np.ndarray], ...]:
        """The interpolation codes the entries of ``mtype``'s slot use (``"normsys"``:
        (N, S, C), ``"histosys"``: (H, S, C)), each with the boolean mask of its entries;
        one code (mask all true) when every entry uses it, none for an empty slot.

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [5.0],
            ...     "modifiers": [{"name": "a", "type": "normsys",
            ...                    "data": {"hi": 1.1, "lo": 0.9}}]}]}]}
            >>> layout = relaxed.Model(spec, poi_name=None)._layout
            >>> [(code, mask.tolist()) for code, mask in layout.slot_codes("normsys")]
            [('code4', [[[True]]])]
        """
        known = UNITS[mtype].interpolation
        assert known is not None, f"{mtype} is not interpolated"
        codes = self.normsys_codes if mtype == "normsys" else self.histosys_codes
        return tuple((known.codes[int(k)], codes == k) for k in np.unique(codes))

    @property
    def nauxdata(self) -> int:
        return int(self.aux_par_index.shape[0])

    @property
    def poi_index(self) -> int | None:
        return None if self.poi_name is None else self.slices[self.poi_name].start

    @property
    def structure_key(self) -> tuple[Any, ...]:
        """What compiled code depends on: bin counts, modifier types and codes, parameter
        inits, bounds and constraints, the index arrays (with the interpolation code of each
        normsys and histosys entry); not the names (the samples and
        systematics of signal patches are named after their signal point)."""
        arrays = self._index_arrays()
        paramsets = tuple(
            (p.n_parameters, p.is_scalar, p.inits, p.bounds, p.fixed, p.pdf_type, p.modifier_types)
            for p in self.paramsets
        )
        return (
            self.channel_nbins,
            len(self.samples),
            tuple(kind for _, kind in self.modifiers),
            paramsets,
            self.poi_index,
            self.modifier_settings,
            self.normsys_code,
            self.histosys_code,
            tuple((a.shape, a.tobytes()) for a in arrays),
        )


class ModelConfig:
    """pyhf-style view of a model's configuration (``model.config``): its static ``layout``
    and its auxiliary data ``auxdata`` (an array, possibly traced); it holds no model.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [5.0, 2.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 60.0],
        ...      "modifiers": [{"name": "unc", "type": "shapesys", "data": [5.0, 6.0]}]}]}]}
        >>> cfg = relaxed.Model(spec).config
        >>> cfg.par_order, cfg.par_names, cfg.par_slice("unc")
        (['mu', 'unc'], ['mu', 'unc[0]', 'unc[1]'], slice(1, 3, None))
        >>> cfg.suggested_init(), cfg.suggested_bounds()[0]
        ([1.0, 1.0, 1.0], (0.0, 10.0))
    """

    def __init__(self, layout: Layout, auxdata: Array) -> None:
        self._layout = layout
        self._auxdata = auxdata
        self._by_name = {p.name: p for p in layout.paramsets}

    # -- structure -------------------------------------------------------------------------
    @property
    def channels(self) -> list[str]:
        """Channel names, sorted (the order of the main data)."""
        return list(self._layout.channels)

    @property
    def samples(self) -> list[str]:
        """Sample names, sorted."""
        return list(self._layout.samples)

    @property
    def channel_nbins(self) -> dict[str, int]:
        """Number of bins of each channel."""
        return dict(zip(self._layout.channels, self._layout.channel_nbins, strict=True))

    @property
    def channel_slices(self) -> dict[str, slice]:
        """Slice of each channel in the main data."""
        edges = np.cumsum([0, *self._layout.channel_nbins])
        return {
            c: slice(int(a), int(b))
            for c, a, b in zip(self._layout.channels, edges[:-1], edges[1:], strict=True)
        }

    @property
    def modifiers(self) -> list[tuple[str, str]]:
        """Sorted (name, type) pairs of the modifiers in the model."""
        return list(self._layout.modifiers)

    @property
    def modifier_settings(self) -> dict[str, dict[str, Any]]:
        """Interpolation codes in use, in pyhf's format, with the per-modifier overrides of a
        type (``"per_modifier": {"<channel>/<sample>/<modifier>": code}``) where it has any,
        and, where constraints other than pyhf's were asked for, the type's ``"constraint"``
        (and ``"per_name"``; for ``shapesys`` and ``staterror`` in an entry of their own),
        with a staterror threshold (``"rel_threshold"``, ``"rel_threshold_per_name"``) where
        one was asked for; see :class:`relaxed.Model`.

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "b", "data": [5.0],
            ...     "modifiers": [{"name": "a", "type": "normsys",
            ...                    "data": {"hi": 1.1, "lo": 0.9}}]}]}]}
            >>> settings = {"normsys": {"interpcode": "code4",
            ...                         "per_modifier": {"SR/b/a": "code1"}}}
            >>> relaxed.Model(spec, None, settings).config.modifier_settings["normsys"]
            {'interpcode': 'code4', 'per_modifier': {'SR/b/a': 'code1'}}
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "b", "data": [5.0],
            ...     "modifiers": [{"name": "st", "type": "staterror", "data": [1.0]}]}]}]}
            >>> cfg = relaxed.Model(spec, None, {"staterror": {"constraint": "poisson"}}).config
            >>> cfg.modifier_settings["staterror"], cfg.auxdata.tolist()  # tau = (5 / 1)^2
            ({'constraint': 'poisson'}, [25.0])
            >>> cfg = relaxed.Model(spec, None, {"staterror": {"rel_threshold": 0.5}}).config
            >>> cfg.modifier_settings["staterror"], cfg.suggested_fixed()  # sigma_b = 0.2
            ({'rel_threshold': 0.5}, [True])
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "b", "data": [5.0],
            ...     "modifiers": [{"name": "a", "type": "normsys",
            ...                    "data": {"hi": 1.1, "lo": 0.9}}]}]}]}
            >>> cfg = relaxed.Model(spec, None, {"normsys": {"constraint": "poisson"}}).config
            >>> cfg.modifier_settings["normsys"], cfg.suggested_init(), cfg.auxdata.tolist()
            ({'interpcode': 'code4', 'constraint': 'poisson'}, [1.0], [1.0])
        """
        settings: dict[str, dict[str, Any]] = {
            "normsys": {"interpcode": self._layout.normsys_code},
            "histosys": {"interpcode": self._layout.histosys_code},
        }
        for mtype, channel, sample, name, code in self._layout.interpolation_overrides:
            settings[mtype].setdefault("per_modifier", {})[f"{channel}/{sample}/{name}"] = code
        for mtype, entry in self._layout.constraint_settings:
            settings.setdefault(mtype, {}).update(
                (key, dict(value) if isinstance(value, tuple) else value) for key, value in entry
            )
        return settings

    # -- parameters ------------------------------------------------------------------------
    @property
    def par_order(self) -> list[str]:
        """Parameter set names in the order they appear in the parameter vector."""
        return [p.name for p in self._layout.paramsets]

    @property
    def parameters(self) -> list[str]:
        """Parameter set names, sorted."""
        return sorted(self.par_order)

    @property
    def par_map(self) -> dict[str, dict[str, Any]]:
        """``{name: {"slice": slice, "paramset": ParamSet}}`` as in pyhf."""
        return {
            p.name: {"slice": self._layout.slices[p.name], "paramset": p}
            for p in self._layout.paramsets
        }

    @property
    def npars(self) -> int:
        """Length of the parameter vector."""
        return self._layout.npars

    @property
    def par_names(self) -> list[str]:
        """One name per component: ``name`` for scalars, ``name[i]`` for per-bin parameters."""
        names: list[str] = []
        for p in self._layout.paramsets:
            if p.is_scalar:
                names.append(p.name)
            else:
                names.extend(f"{p.name}[{i}]" for i in range(p.n_parameters))
        return names

    def par_slice(self, name: str) -> slice:
        """Slice of parameter set ``name`` in the parameter vector."""
        self._check_name(name)
        return self._layout.slices[name]

    def param_set(self, name: str) -> ParamSet:
        """The :class:`ParamSet` called ``name``."""
        self._check_name(name)
        return self._by_name[name]

    def _check_name(self, name: str) -> None:
        if name not in self._by_name:
            raise InvalidModel(
                f"unknown parameter '{name}'; the model's parameters are {self.par_order}"
            )

    @property
    def poi_name(self) -> str | None:
        """Name of the parameter of interest (``None`` for a model without one)."""
        return self._layout.poi_name

    @property
    def poi_index(self) -> int | None:
        """Index of the parameter of interest in the parameter vector."""
        if self._layout.poi_name is None:
            return None
        return self._layout.slices[self._layout.poi_name].start

    def suggested_init(self) -> list[float]:
        """Initial values, one per component, in parameter-vector order."""
        return [v for p in self._layout.paramsets for v in p.inits]

    def suggested_bounds(self) -> list[tuple[float, float]]:
        """(low, high) bounds, one per component."""
        return [b for p in self._layout.paramsets for b in p.bounds]

    def suggested_fixed(self) -> list[bool]:
        """Whether each component is fixed (measurement config, or bins without yield or
        uncertainty for shapesys/staterror, exactly as pyhf fixes them)."""
        return [f for p in self._layout.paramsets for f in p.fixed]

    # -- auxiliary data --------------------------------------------------------------------
    @property
    def auxdata(self) -> Array:
        """Auxiliary data of the constraint terms (an array: it may depend on traced yields)."""
        return self._auxdata

    @property
    def auxdata_order(self) -> list[str]:
        """Constrained parameter sets in the order of :attr:`auxdata`."""
        return list(self._layout.aux_order)

    @property
    def nmaindata(self) -> int:
        """Number of bins of the main measurement (all channels)."""
        return self._layout.nmaindata

    @property
    def nauxdata(self) -> int:
        """Number of auxiliary data."""
        return self._layout.nauxdata

    def __repr__(self) -> str:
        return (
            f"ModelConfig(channels={self.channels}, samples={self.samples}, "
            f"npars={self.npars}, poi_name={self.poi_name!r})"
        )
