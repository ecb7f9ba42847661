"""From a HistFactory specification to a model's static layout and its arrays.

This runs once, when a :class:`relaxed.Model` is built (at trace time under ``jit``): Python
loops here are over the specification, never at evaluation time. When every number in the
specification is concrete the arrays are built with numpy; when some are JAX tracers (the
yields come from a network inside ``jax.grad``) the same code runs with ``jax.numpy``.

The builder is a driver over the modifier units (:mod:`relaxed.histfactory.modifiers`): a unit
checks its entries, makes its parameter set and gives the data of its slot; the driver orders
the parameters, applies the measurement's configuration and has the slots packed
(:mod:`relaxed.histfactory.slots`). Semantics follow pyhf 0.7.6:

- parameter order: modifier types in the order histosys, lumi, normfactor, normsys,
  shapefactor, shapesys, staterror; within a type, first appearance walking the sorted
  channels, sorted samples and sorted (name, type) modifiers;
- a name may be shared by several samples and channels (one parameter set), and by types
  that declare it (``ModifierUnit.shares_with``: a histosys and a normsys); a unit that is
  not ``shareable`` (shapesys) belongs to one sample;
- each type's parameters and constraint: see its unit. relaxed's ``modifier_settings`` may
  choose another constraint for the sets of normsys, histosys, shapesys and staterror
  (``"constraint"``, ``"per_name"``: :mod:`relaxed.histfactory.modifiers.constraints`; the
  unit builds the set, ``ModifierUnit.constrained_parameters``), and a threshold for
  staterror sets (``"rel_threshold"``, ROOT's ``relThreshold``): their bins with
  :math:`\\sigma_b < r` are fixed as bins without uncertainty are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from relaxed.exceptions import InvalidMeasurement, InvalidModel, InvalidModifier
from relaxed.histfactory.config import Layout, ParamSet
from relaxed.histfactory.modifiers import (
    DEFAULT_MODIFIER_SETTINGS,
    INTERPOLATED,
    MODIFIER_TYPES,
    UNITS,
    Context,
    Occurrence,
    Parameters,
)
from relaxed.histfactory.modifiers.base import _is_concrete, _length
from relaxed.histfactory.modifiers.constraints import ConstraintSetting, resolve
from relaxed.histfactory.slots import (
    CodeOf,
    Grid,
    Member,
    constraint_slot,
    factor_slot,
    histosys_slot,
    members,
    normsys_slot,
)

__all__ = ["build", "MODIFIER_TYPES"]

#: Keys of a parameter's measurement configuration with one entry per component.
_SIZED_KEYS = ("inits", "bounds", "auxdata", "sigmas", "factors")


#: The key of a type's ``modifier_settings`` entry that overrides the code of single modifiers.
PER_MODIFIER = "per_modifier"
#: The keys of an interpolated type's entry that set interpolation codes.
_INTERPOLATION_KEYS = ("interpcode", PER_MODIFIER)
#: The types whose ``modifier_settings`` entry chooses constraints (a unit's ``constraints``).
CONSTRAINED: tuple[str, ...] = tuple(t for t, unit in UNITS.items() if unit.constraints)


def _listed(keys: Sequence[str]) -> str:
    quoted = [f"'{k}'" for k in keys]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _settings(
    modifier_settings: Mapping[str, Any] | None,
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, ConstraintSetting]]:
    """The interpolation code of each interpolated type, the per-modifier overrides
    (type -> ``{"<channel>/<sample>/<modifier>": code}``) and each constrained type's
    setting (its unit's ``read_setting``), checked before any array work. Entries (or keys)
    that only choose constraints are no interpolation setting: settings without any keep
    pyhf's ``Model(spec)`` codes."""
    given = dict(modifier_settings or {})
    unknown = set(given) - set(INTERPOLATED) - set(CONSTRAINED)
    if unknown:
        raise InvalidModifier(
            f"modifier_settings: interpolation codes can be set for {' and '.join(INTERPOLATED)} "
            f"only (and constraints for {', '.join(CONSTRAINED)}), got {sorted(unknown)}"
        )
    for mtype, setting in given.items():
        unit = UNITS[mtype]
        if not isinstance(setting, Mapping):
            raise InvalidModifier(
                f"modifier_settings.{mtype}: expected a mapping such as "
                f"{unit.setting_example()}, got {setting!r}"
            )
        extra = set(setting) - set(unit.setting_keys)
        if extra:
            raise InvalidModifier(
                f"modifier_settings.{mtype}: unknown keys {sorted(extra)}; use "
                f"{_listed(unit.setting_keys)}"
            )
    constraints = {t: UNITS[t].read_setting(given.get(t, {})) for t in CONSTRAINED}
    # the interpolation part: pyhf's semantics on the entries that hold interpolation keys
    # (or none at all), the Model(spec) defaults when there are none
    interpolation = {
        t: {k: v for k, v in given[t].items() if k in _INTERPOLATION_KEYS}
        for t in INTERPOLATED
        if t in given and (not given[t] or set(given[t]) & set(_INTERPOLATION_KEYS))
    }
    if modifier_settings is None or not interpolation:
        interpolation = dict(DEFAULT_MODIFIER_SETTINGS)
    codes: dict[str, str] = {}
    overrides: dict[str, dict[str, str]] = {}
    for mtype in INTERPOLATED:
        known = UNITS[mtype].interpolation
        assert known is not None
        setting = interpolation.get(mtype, {})
        # as in pyhf: a type left out of explicit settings gets its applier's default
        code = setting.get("interpcode", known.default)
        if code not in known.codes:
            raise InvalidModifier(
                f"modifier_settings: {mtype} interpcode '{code}' is not supported; "
                f"use one of {sorted(known.codes)}"
            )
        codes[mtype] = code
        per_modifier = setting.get(PER_MODIFIER, {})
        if not isinstance(per_modifier, Mapping):
            raise InvalidModifier(
                f"modifier_settings.{mtype}.{PER_MODIFIER}: expected a mapping "
                f"{{'<channel>/<sample>/<modifier>': code}}, got {per_modifier!r}"
            )
        for key, value in per_modifier.items():
            where = f"modifier_settings.{mtype}.{PER_MODIFIER}[{key!r}]"
            if not isinstance(key, str) or key.count("/") < 2:
                raise InvalidModifier(
                    f"{where}: keys are '<channel>/<sample>/<modifier>' paths, got {key!r}"
                )
            if value not in known.codes:
                raise InvalidModifier(
                    f"{where}: {mtype} interpcode {value!r} is not supported; "
                    f"use one of {sorted(known.codes)}"
                )
        overrides[mtype] = dict(per_modifier)
    return codes, overrides, constraints


def _resolve_overrides(
    overrides: Mapping[str, Mapping[str, str]],
    mods: Mapping[tuple[str, str], Mapping[tuple[str, str], Occurrence]],
) -> dict[str, dict[tuple[str, str, str], str]]:
    """The per-modifier codes keyed by (channel, sample, modifier name), each path checked
    against the modifiers of its type in the specification."""
    resolved: dict[str, dict[tuple[str, str, str], str]] = {}
    for mtype, per_modifier in overrides.items():
        if not per_modifier:
            continue
        paths: dict[str, list[tuple[str, str, str]]] = {}
        for (channel, sample), entries in mods.items():
            for name, t in entries:
                if t == mtype:
                    paths.setdefault(f"{channel}/{sample}/{name}", []).append(
                        (channel, sample, name)
                    )
        resolved[mtype] = {}
        for key, code in per_modifier.items():
            where = f"modifier_settings.{mtype}.{PER_MODIFIER}[{key!r}]"
            found = paths.get(key, [])
            if not found:
                known = sorted(paths)
                raise InvalidModifier(
                    f"{where}: no {mtype} modifier at '{key}' (channel/sample/modifier); the "
                    f"{mtype} modifiers are {known[:10]}{' ...' if len(known) > 10 else ''}"
                )
            if len(found) > 1:
                raise InvalidModifier(
                    f"{where}: '{key}' names several {mtype} modifiers {found} (names with '/')"
                )
            resolved[mtype][found[0]] = code
    return resolved


def _reported(settings: Mapping[str, ConstraintSetting]) -> tuple[tuple[str, Any], ...]:
    """The constraint settings a model reports (``config.modifier_settings``), per type
    whose setting is not the default, frozen for the layout: ``(type, ((key, value), ...))``
    with mappings as sorted pairs."""
    out = []
    for mtype, setting in sorted(settings.items()):
        report = UNITS[mtype].report_setting(setting)
        if report:
            out.append(
                (
                    mtype,
                    tuple(
                        (k, tuple(sorted(v.items())) if isinstance(v, Mapping) else v)
                        for k, v in report.items()
                    ),
                )
            )
    return tuple(out)


class _Spec:
    """The specification parsed into lookups, with structural checks and JSON paths."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.nbins: dict[str, int] = {}
        self.samples: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
        self.mods: dict[tuple[str, str], dict[tuple[str, str], Occurrence]] = {}
        unshared: dict[tuple[str, str], str] = {}
        channel_paths: dict[str, str] = {}
        for i, channel in enumerate(spec["channels"]):
            cpath = f"channels[{i}]"
            cname = channel["name"]
            if cname in channel_paths:
                raise InvalidModel(
                    f"{cpath}.name: channel '{cname}' is defined twice "
                    f"(also at {channel_paths[cname]})"
                )
            channel_paths[cname] = cpath
            samples = channel["samples"]
            if not samples:
                raise InvalidModel(f"{cpath}.samples: channel '{cname}' has no samples")
            first = samples[0]
            nbins = _length(first["data"], f"{cpath}.samples[0].data")
            if nbins == 0:
                raise InvalidModel(f"{cpath}.samples[0].data: channel '{cname}' has no bins")
            self.nbins[cname] = nbins
            for j, sample in enumerate(samples):
                spath = f"{cpath}.samples[{j}]"
                sname = sample["name"]
                n = _length(sample["data"], f"{spath}.data")
                if n != nbins:
                    raise InvalidModel(
                        f"{spath}.data: sample '{sname}' has {n} bins but channel '{cname}' "
                        f"has {nbins} (the length of its first sample '{first['name']}')"
                    )
                if (cname, sname) in self.samples:
                    raise InvalidModel(
                        f"{spath}.name: sample '{sname}' appears twice in channel '{cname}'"
                    )
                self.samples[(cname, sname)] = (sample, spath)
                mods: dict[tuple[str, str], Occurrence] = {}
                for k, mod in enumerate(sample["modifiers"]):
                    mpath = f"{spath}.modifiers[{k}]"
                    mtype = mod["type"]
                    if mtype not in UNITS:
                        raise InvalidModifier(
                            f"{mpath}.type: unknown modifier type '{mtype}'; expected one of "
                            + ", ".join(MODIFIER_TYPES)
                        )
                    where = f"{mtype} '{mod['name']}' on sample '{sname}' in channel '{cname}'"
                    UNITS[mtype].check(mod.get("data"), mpath, n, where)
                    key = (mod["name"], mtype)
                    if key in mods:
                        raise InvalidModifier(
                            f"{mpath}: modifier '{key[0]}' of type {key[1]} is applied twice to "
                            f"sample '{sname}' in channel '{cname}'"
                        )
                    if not UNITS[mtype].shareable:
                        if key in unshared:
                            raise InvalidModifier(
                                f"{mpath}: {mtype} '{key[0]}' is already used at "
                                f"{unshared[key]}; {mtype} parameters cannot be shared, give "
                                "each sample its own name"
                            )
                        unshared[key] = mpath
                    mods[key] = Occurrence(cname, sname, mod, mpath, spath)
                self.mods[(cname, sname)] = mods
        self.channels = sorted(self.nbins)
        self.sample_names = sorted({s for _, s in self.samples})
        self.modifiers = sorted({key for mods in self.mods.values() for key in mods})


def _user_configs(parameters: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Mapping, str]]:
    configs: dict[str, tuple[Mapping, str]] = {}
    for i, par in enumerate(parameters):
        path = f"parameters[{i}]"
        if par["name"] in configs:
            raise InvalidMeasurement(
                f"{path}.name: parameter '{par['name']}' is configured twice "
                f"(also at {configs[par['name']][1]})"
            )
        configs[par["name"]] = (par, path)
    return configs


def _static_floats(values: Any, path: str) -> list[float]:
    try:
        return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    except Exception as err:  # a tracer
        raise InvalidMeasurement(
            f"{path}: must be concrete numbers (they fix the model's structure), not traced values"
        ) from err


def _configure(
    params: Parameters,
    name: str,
    types: tuple[str, ...],
    config: tuple[Mapping[str, Any], str],
    ctx: Context,
    constraint: str | None = None,
) -> None:
    """Apply a parameter's measurement configuration to its set, in place (under a
    ``constraint`` other than its type's, the width key follows it: a Poisson staterror
    takes ``factors`` instead of ``sigmas``, a Gaussian shapesys ``sigmas`` instead of
    ``factors``)."""
    cfg, cpath = config
    allowed = set().union(*(UNITS[t].config_keys_for(constraint) for t in types))
    for key in _SIZED_KEYS:
        if key not in cfg:
            continue
        if key not in allowed:
            raise InvalidMeasurement(
                f"{cpath}.{key}: parameter '{name}' ({'/'.join(types)}) has no {key}"
            )
        m = len(cfg[key])
        if m != params.n:
            raise InvalidMeasurement(
                f"{cpath}.{key}: parameter '{name}' has {params.n} component(s) but {m} "
                f"{key} were given"
            )
    if "inits" in cfg:
        params.inits = _static_floats(cfg["inits"], f"{cpath}.inits")
    if "bounds" in cfg:
        flat = _static_floats(cfg["bounds"], f"{cpath}.bounds")
        params.bounds = list(zip(flat[0::2], flat[1::2], strict=True))
        for k, (lo, hi) in enumerate(params.bounds):
            if not lo <= hi:
                raise InvalidMeasurement(
                    f"{cpath}.bounds[{k}]: lower bound {lo} is above upper bound {hi} "
                    f"for parameter '{name}'"
                )
    if "fixed" in cfg:
        params.fixed = [bool(cfg["fixed"])] * params.n
    if "auxdata" in cfg:
        params.aux = ctx.array(cfg["auxdata"])
    if "sigmas" in cfg:
        params.sigma = ctx.array(cfg["sigmas"])
    if "factors" in cfg:
        params.factor = ctx.array(cfg["factors"])


def _parameter_set(
    name: str,
    by_type: Mapping[str, list[Occurrence]],
    ctx: Context,
    user: Mapping[str, tuple[Mapping[str, Any], str]],
    settings: Mapping[str, ConstraintSetting],
) -> tuple[ParamSet, Parameters]:
    """The parameter set of ``name`` from the unit of its (first) type, with the constraint
    the types' ``settings`` choose (:func:`~relaxed.histfactory.modifiers.constraints.resolve`),
    configured."""
    types = tuple(sorted(by_type))
    if not all(set(types) - {t} <= UNITS[t].shares_with for t in types):
        paths = [by_type[t][0].path for t in types]
        raise InvalidModel(
            f"parameter '{name}' is used by modifiers of types {', '.join(types)} "
            f"(at {', '.join(paths)}), which need different parameter sets; "
            "use different names"
        )
    unit = UNITS[types[0]]
    occurrences = [o for t in types for o in by_type[t]]
    constraint = unit.default_constraint
    if unit.constraints:
        chosen = {t: settings[t] for t in types if t in settings}
        constraint = resolve(name, chosen, constraint or "")
    params = unit.constrained_parameters(
        name, occurrences, ctx, constraint, settings.get(unit.name)
    )
    if name in user:
        _configure(params, name, types, user[name], ctx, constraint)
    unit.check_parameters(name, params)
    paramset = ParamSet(
        name=name,
        n_parameters=params.n,
        is_scalar=unit.is_scalar,
        inits=tuple(params.inits),
        bounds=tuple((float(lo), float(hi)) for lo, hi in params.bounds),
        fixed=tuple(params.fixed),
        pdf_type=unit.pdf_type_for(constraint),
        modifier_types=types,
    )
    return paramset, params


def _check_poi(poi_name: str | None, paramsets: Sequence[ParamSet]) -> str | None:
    if poi_name == "":  # pyhf: an empty POI name means no POI
        return None
    names = [p.name for p in paramsets]
    if poi_name is not None:
        if poi_name not in names:
            raise InvalidModel(
                f"the parameter of interest '{poi_name}' is not a parameter of the model; "
                f"its parameters are {names}"
            )
        if paramsets[names.index(poi_name)].n_parameters != 1:
            raise InvalidModel(
                f"the parameter of interest '{poi_name}' has several components; "
                "a POI must be a scalar parameter"
            )
    return poi_name


def build(
    spec: Mapping[str, Any],
    poi_name: str | None,
    modifier_settings: Mapping[str, Any] | None,
    as_numpy: bool = False,
) -> tuple[Layout, dict[str, Any]]:
    """Build the static :class:`Layout` and the dynamic arrays of a model from its spec.

    Returns the layout and a dict of float64 arrays: ``nominal`` (S, B); ``normsys_log_hi``,
    ``normsys_log_lo`` (N, S, C) and ``normsys_coeffs`` (6, N, S, C), per sample and channel;
    ``histosys_up`` and ``histosys_dn`` (H, S, B: the shifts :math:`\\delta^\\pm` of each
    histosys modifier, zero where it does not apply);
    ``auxdata``, ``aux_sigma`` and ``aux_factor`` (naux,). With ``as_numpy`` and a spec of
    concrete numbers, the arrays stay NumPy arrays (callers that stack many models transfer
    them to the device once).

    Example:
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> layout, arrays = build(spec, "mu", None)
        >>> layout.npars, arrays["nominal"].shape, arrays["auxdata"].shape
        (3, (2, 2), (2,))
    """
    codes, overrides, settings = _settings(modifier_settings)
    parsed = _Spec(spec)
    per_modifier = _resolve_overrides(overrides, parsed.mods)
    for mtype, setting in settings.items():
        names = sorted({name for name, t in parsed.modifiers if t == mtype})
        UNITS[mtype].check_setting(setting, names)
    concrete = _is_concrete(spec["channels"]) and _is_concrete(spec.get("parameters", []))
    xp: Any = np if concrete else jnp

    def arr(x: Any) -> Any:
        return xp.asarray(x, dtype=xp.float64)

    channels, samples = parsed.channels, parsed.sample_names

    # -- nominal yields --------------------------------------------------------------------
    def sample_row(sample: str) -> Any:
        blocks = []
        for c in channels:
            entry = parsed.samples.get((c, sample))
            blocks.append(arr(entry[0]["data"]) if entry else xp.zeros(parsed.nbins[c]))
        return xp.concatenate(blocks)

    nominal = xp.stack([sample_row(s) for s in samples])
    nom_of = {key: arr(entry[0]["data"]) for key, entry in parsed.samples.items()}
    ctx = Context(parsed.nbins, nom_of, parsed.mods, concrete)

    # -- occurrences of each parameter name, in pyhf's registration order ------------------
    occurrences: dict[str, dict[str, list[Occurrence]]] = {}
    for mtype in MODIFIER_TYPES:
        for c in channels:
            for s in samples:
                mods = parsed.mods.get((c, s), {})
                for name, t in parsed.modifiers:
                    if t == mtype and (name, t) in mods:
                        occurrences.setdefault(name, {}).setdefault(mtype, []).append(
                            mods[(name, t)]
                        )

    # -- parameter sets (dicts keep insertion order: the registration order) ---------------
    user = _user_configs(spec.get("parameters", []))
    built = [
        _parameter_set(name, by_type, ctx, user, settings) for name, by_type in occurrences.items()
    ]
    if not built:
        raise InvalidModel("the model has no parameters: no sample has a modifier")
    paramsets = [p for p, _ in built]
    sets = {p.name: params for p, params in built}
    poi_name = _check_poi(poi_name, paramsets)
    starts = dict(
        zip(
            sets,
            np.cumsum([0] + [p.n_parameters for p in paramsets])[:-1].tolist(),
            strict=True,
        )
    )
    npars = int(sum(p.n_parameters for p in paramsets))

    # -- the slots of the model's computation, then its constraint terms ------------------
    grid = Grid(samples, channels, parsed.nbins)

    def group(slot: str) -> list[Member]:
        return members(paramsets, occurrences, sets, starts, slot)

    def code_of(mtype: str) -> CodeOf:
        known = UNITS[mtype].interpolation
        assert known is not None
        chosen = per_modifier.get(mtype, {})
        return lambda o: known.codes.index(
            chosen.get((o.channel, o.sample, o.modifier["name"]), codes[mtype])
        )

    factor_index = factor_slot(group("factor"), grid, npars)
    histosys_index, histosys_up, histosys_dn, histosys_codes = histosys_slot(
        group("histosys"), grid, ctx, code_of("histosys")
    )
    normsys_index, log_hi, log_lo, coeffs, normsys_codes = normsys_slot(
        group("normsys"), grid, ctx, code_of("normsys")
    )
    constraints = constraint_slot(paramsets, sets, starts, xp)

    layout = Layout(
        channels=tuple(channels),
        channel_nbins=tuple(parsed.nbins[c] for c in channels),
        samples=tuple(samples),
        modifiers=tuple(parsed.modifiers),
        paramsets=tuple(paramsets),
        poi_name=poi_name,
        modifier_settings=tuple(sorted(codes.items())),
        normsys_code=codes["normsys"],
        histosys_code=codes["histosys"],
        interpolation_overrides=tuple(
            sorted(
                (mtype, *where, code)
                for mtype, chosen in per_modifier.items()
                for where, code in chosen.items()
            )
        ),
        constraint_settings=_reported(settings),
        factor_index=factor_index,
        normsys_index=normsys_index,
        normsys_codes=normsys_codes,
        bin_channel=grid.bin_channel(),
        histosys_index=histosys_index,
        histosys_codes=histosys_codes,
        aux_par_index=constraints["aux_par_index"],
        normal_aux=constraints["normal_aux"],
        poisson_aux=constraints["poisson_aux"],
        aux_order=constraints["aux_order"],
    )
    arrays = {
        "nominal": nominal,
        "normsys_log_hi": log_hi,
        "normsys_log_lo": log_lo,
        "normsys_coeffs": coeffs,
        "histosys_up": histosys_up,
        "histosys_dn": histosys_dn,
        "auxdata": constraints["auxdata"],
        "aux_sigma": constraints["aux_sigma"],
        "aux_factor": constraints["aux_factor"],
    }
    if as_numpy and concrete:
        return layout, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    arrays = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in arrays.items()}
    return layout, arrays
