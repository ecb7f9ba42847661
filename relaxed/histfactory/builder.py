"""From a HistFactory specification to a model's static layout and its arrays.

This runs once, when a :class:`relaxed.Model` is built (at trace time under ``jit``): Python
loops here are over the specification, never at evaluation time. When every number in the
specification is concrete the arrays are built with numpy; when some are JAX tracers (the
yields come from a network inside ``jax.grad``) the same code runs with ``jax.numpy``.

Semantics follow pyhf 0.7.6:

- parameter order: modifier types in the order histosys, lumi, normfactor, normsys,
  shapefactor, shapesys, staterror; within a type, first appearance walking the sorted
  channels, sorted samples and sorted (name, type) modifiers;
- a name may be shared by several samples and channels (one parameter set), and by a histosys
  and a normsys (they need the same parameter set); shapesys names are never shared;
- shapesys: one parameter per bin with a Poisson constraint,
  :math:`\\tau_b = (\\nu_b/\\sigma_b)^2`; bins with zero yield or zero uncertainty are fixed,
  with :math:`\\tau_b = 1`;
- staterror: one parameter per bin of the channels it appears in, Gaussian with relative width
  :math:`\\sigma_b = \\sqrt{\\sum_s \\sigma_{sb}^2} / \\sum_s \\nu_{sb}` over the samples that carry
  it; bins with :math:`\\sigma_b = 0` are fixed (width set to 1);
- lumi: auxdata, sigmas, inits and bounds come from the measurement's parameter configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from relaxed.exceptions import InvalidMeasurement, InvalidModel, InvalidModifier
from relaxed.histfactory.config import DEFAULT_MODIFIER_SETTINGS, Layout, ParamSet
from relaxed.histfactory.interpolation import (
    ADDITIVE_CODES,
    MULTIPLICATIVE_CODES,
    normsys_precompute,
)

__all__ = ["build", "MODIFIER_TYPES"]

MODIFIER_TYPES = (
    "histosys",
    "lumi",
    "normfactor",
    "normsys",
    "shapefactor",
    "shapesys",
    "staterror",
)
_FACTOR_TYPES = ("lumi", "normfactor", "shapefactor", "shapesys", "staterror")
_PER_BIN_TYPES = ("shapefactor", "shapesys", "staterror")
# measurement-config keys each modifier type accepts (pyhf raises for the others)
_ALLOWED_KEYS = {
    "normfactor": {"inits", "bounds", "fixed"},
    "shapefactor": {"inits", "bounds", "fixed"},
    "normsys": {"inits", "bounds", "fixed", "auxdata"},
    "histosys": {"inits", "bounds", "fixed", "auxdata"},
    "lumi": {"inits", "bounds", "fixed", "auxdata", "sigmas"},
    "staterror": {"inits", "bounds", "fixed", "auxdata", "sigmas"},
    "shapesys": {"inits", "bounds", "fixed", "auxdata", "factors"},
}


@dataclass(frozen=True)
class _Occurrence:
    channel: str
    sample: str
    modifier: Mapping[str, Any]
    path: str  # JSON path of the modifier
    sample_path: str


def _is_concrete(value: Any) -> bool:
    """True if ``value`` (a number, list, array) can be converted to numpy without tracing."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True
    if isinstance(value, Mapping):
        return all(_is_concrete(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_concrete(v) for v in value)
    try:
        np.asarray(value)
    except Exception:  # jax raises TracerArrayConversionError / ConcretizationTypeError
        return False
    return True


def _length(data: Any, path: str) -> int:
    if isinstance(data, (list, tuple)):
        return len(data)
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) != 1:
        raise InvalidModel(f"{path}: expected a list of numbers, got {type(data).__name__}")
    return int(shape[0])


def _settings(modifier_settings: Mapping[str, Any] | None) -> tuple[str, str]:
    settings = DEFAULT_MODIFIER_SETTINGS if modifier_settings is None else modifier_settings
    unknown = set(settings) - {"normsys", "histosys"}
    if unknown:
        raise InvalidModifier(
            f"modifier_settings: interpolation codes can be set for normsys and histosys only, "
            f"got {sorted(unknown)}"
        )
    # as in pyhf: a type left out of explicit settings gets its applier's default
    normsys = settings.get("normsys", {}).get("interpcode", "code1")
    histosys = settings.get("histosys", {}).get("interpcode", "code0")
    if normsys not in MULTIPLICATIVE_CODES:
        raise InvalidModifier(
            f"modifier_settings: normsys interpcode '{normsys}' is not supported; "
            f"use one of {sorted(MULTIPLICATIVE_CODES)}"
        )
    if histosys not in ADDITIVE_CODES:
        raise InvalidModifier(
            f"modifier_settings: histosys interpcode '{histosys}' is not supported; "
            f"use one of {sorted(ADDITIVE_CODES)}"
        )
    return normsys, histosys


class _Spec:
    """The specification parsed into lookups, with structural checks and JSON paths."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.nbins: dict[str, int] = {}
        self.samples: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = {}
        self.mods: dict[tuple[str, str], dict[tuple[str, str], _Occurrence]] = {}
        shapesys_seen: dict[str, str] = {}
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
                mods: dict[tuple[str, str], _Occurrence] = {}
                for k, mod in enumerate(sample["modifiers"]):
                    mpath = f"{spath}.modifiers[{k}]"
                    self._check_modifier(mod, mpath, n, cname, sname)
                    key = (mod["name"], mod["type"])
                    if key in mods:
                        raise InvalidModifier(
                            f"{mpath}: modifier '{key[0]}' of type {key[1]} is applied twice to "
                            f"sample '{sname}' in channel '{cname}'"
                        )
                    if mod["type"] == "shapesys":
                        if mod["name"] in shapesys_seen:
                            raise InvalidModifier(
                                f"{mpath}: shapesys '{mod['name']}' is already used at "
                                f"{shapesys_seen[mod['name']]}; shapesys parameters cannot be "
                                "shared, give each sample its own name"
                            )
                        shapesys_seen[mod["name"]] = mpath
                    mods[key] = _Occurrence(cname, sname, mod, mpath, spath)
                self.mods[(cname, sname)] = mods
        self.channels = sorted(self.nbins)
        self.sample_names = sorted({s for _, s in self.samples})
        self.modifiers = sorted({key for mods in self.mods.values() for key in mods})
        offsets = np.cumsum([0] + [self.nbins[c] for c in self.channels])
        self.bins = {
            c: slice(int(a), int(b))
            for c, a, b in zip(self.channels, offsets[:-1], offsets[1:], strict=True)
        }
        self.nmain = int(offsets[-1])

    @staticmethod
    def _check_modifier(mod: Mapping[str, Any], path: str, n: int, channel: str, sample: str):
        mtype = mod["type"]
        if mtype not in MODIFIER_TYPES:
            raise InvalidModifier(
                f"{path}.type: unknown modifier type '{mtype}'; expected one of "
                + ", ".join(MODIFIER_TYPES)
            )
        data = mod.get("data")
        where = f"{mtype} '{mod['name']}' on sample '{sample}' in channel '{channel}'"
        if mtype == "histosys":
            for key in ("hi_data", "lo_data"):
                m = _length(data[key], f"{path}.data.{key}")
                if m != n:
                    raise InvalidModifier(
                        f"{path}.data.{key}: {where} has {m} bins but the sample has {n}"
                    )
        elif mtype in ("shapesys", "staterror"):
            m = _length(data, f"{path}.data")
            if m != n:
                raise InvalidModifier(f"{path}.data: {where} has {m} bins but the sample has {n}")
        if not _is_concrete(data):
            return
        if mtype in ("shapesys", "staterror"):
            values = np.asarray(data, dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            if bad.size:
                raise InvalidModifier(
                    f"{path}.data[{bad[0]}]: {where} has uncertainty {values[bad[0]]}; "
                    "uncertainties must be finite and >= 0"
                )
        elif mtype == "normsys":
            for key in ("hi", "lo"):
                value = float(np.asarray(data[key]))
                if not (np.isfinite(value) and value > 0):
                    raise InvalidModifier(
                        f"{path}.data.{key}: {where} has {key}={value}; normsys factors must be "
                        "finite and > 0"
                    )
        elif mtype == "histosys":
            for key in ("hi_data", "lo_data"):
                values = np.asarray(data[key], dtype=np.float64)
                bad = np.flatnonzero(~np.isfinite(values))
                if bad.size:
                    raise InvalidModifier(f"{path}.data.{key}[{bad[0]}]: {where} is not finite")


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


def _pack(footprints: list[np.ndarray]) -> list[int]:
    """Greedy assignment of (S, B) footprints to rows so that no two in a row overlap."""
    rows: list[np.ndarray] = []
    assignment = []
    for fp in footprints:
        for r, used in enumerate(rows):
            if not (used & fp).any():
                used |= fp
                assignment.append(r)
                break
        else:
            rows.append(fp.copy())
            assignment.append(len(rows) - 1)
    return assignment


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
    normsys_code, histosys_code = _settings(modifier_settings)
    parsed = _Spec(spec)
    concrete = _is_concrete(spec["channels"]) and _is_concrete(spec.get("parameters", []))
    xp: Any = np if concrete else jnp

    def arr(x: Any) -> Any:
        return xp.asarray(x, dtype=xp.float64)

    channels, samples = parsed.channels, parsed.sample_names
    S, B = len(samples), parsed.nmain
    sidx = {s: i for i, s in enumerate(samples)}

    # -- nominal yields --------------------------------------------------------------------
    def sample_row(sample: str) -> Any:
        blocks = []
        for c in channels:
            entry = parsed.samples.get((c, sample))
            blocks.append(arr(entry[0]["data"]) if entry else xp.zeros(parsed.nbins[c]))
        return xp.concatenate(blocks)

    nominal = xp.stack([sample_row(s) for s in samples])
    nom_of = {key: arr(entry[0]["data"]) for key, entry in parsed.samples.items()}

    # -- occurrences of each parameter name, in pyhf's registration order ------------------
    order: list[str] = []
    occurrences: dict[str, dict[str, list[_Occurrence]]] = {}
    for mtype in MODIFIER_TYPES:
        for c in channels:
            for s in samples:
                mods = parsed.mods.get((c, s), {})
                for name, t in parsed.modifiers:
                    if t == mtype and (name, t) in mods:
                        if name not in occurrences:
                            order.append(name)
                        occurrences.setdefault(name, {}).setdefault(mtype, []).append(
                            mods[(name, t)]
                        )

    user = _user_configs(spec.get("parameters", []))

    # -- parameter sets --------------------------------------------------------------------
    paramsets: list[ParamSet] = []
    info: dict[str, dict[str, Any]] = {}  # per name: aux, sigma, factor arrays and bin maps
    for name in order:
        types = tuple(sorted(occurrences[name]))
        if len(types) > 1 and set(types) != {"histosys", "normsys"}:
            paths = [occurrences[name][t][0].path for t in types]
            raise InvalidModel(
                f"parameter '{name}' is used by modifiers of types {', '.join(types)} "
                f"(at {', '.join(paths)}), which need different parameter sets; "
                "use different names"
            )
        mtype = types[0]
        occ = [o for t in types for o in occurrences[name][t]]
        extra: dict[str, Any] = {}
        if mtype in ("normfactor", "lumi", "normsys", "histosys"):
            n = 1
        elif mtype == "shapefactor":
            sizes = {parsed.nbins[o.channel] for o in occ}
            if len(sizes) > 1:
                raise InvalidModel(
                    f"shapefactor '{name}' is shared by channels with different numbers of bins "
                    f"({', '.join(f'{o.channel}: {parsed.nbins[o.channel]}' for o in occ)})"
                )
            n = sizes.pop()
        elif mtype == "shapesys":
            n = parsed.nbins[occ[0].channel]
        else:  # staterror: one parameter per bin of the channels it appears in
            chans = sorted({o.channel for o in occ})
            for o in occ:
                have = sorted(
                    c for c in chans if (name, "staterror") in parsed.mods.get((c, o.sample), {})
                )
                if have != chans:
                    raise InvalidModel(
                        f"{o.path}: staterror '{name}' is in channels {chans} but sample "
                        f"'{o.sample}' carries it only in {have}; every sample with a staterror "
                        "must carry it in the same channels"
                    )
            offsets = np.cumsum([0] + [parsed.nbins[c] for c in chans])
            extra["chan_offset"] = dict(zip(chans, offsets[:-1].tolist(), strict=True))
            n = int(offsets[-1])

        inits: list[float]
        bounds: list[tuple[float, float]]
        fixed: list[bool] = [False] * n
        pdf_type: str | None = None
        aux = sigma = factor = None
        if mtype in ("normfactor", "shapefactor"):
            inits, bounds = [1.0] * n, [(0.0, 10.0)] * n
        elif mtype in ("normsys", "histosys"):
            inits, bounds, pdf_type = [0.0], [(-5.0, 5.0)], "normal"
            aux, sigma = arr([0.0]), arr([1.0])
        elif mtype == "lumi":
            inits, bounds, pdf_type = [], [], "normal"
        elif mtype == "shapesys":
            o = occ[0]
            nom = nom_of[(o.channel, o.sample)]
            unc = arr(o.modifier["data"])
            valid = (nom > 0) & (unc > 0)
            safe_unc = xp.where(valid, unc, 1.0)
            tau = xp.where(valid, (nom / safe_unc) ** 2, 1.0)
            inits, bounds, pdf_type = [1.0] * n, [(1e-10, 10.0)] * n, "poisson"
            aux, factor = tau, tau
            if concrete:
                fixed = [not bool(v) for v in valid]
        else:  # staterror
            blocks = []
            for c in sorted(extra["chan_offset"]):
                carriers = [o for o in occ if o.channel == c]
                total = sum(nom_of[(c, o.sample)] for o in carriers)
                positive = total > 0
                safe_total = xp.where(positive, total, 1.0)
                rel2 = sum((arr(o.modifier["data"]) / safe_total) ** 2 for o in carriers)
                blocks.append(xp.where(positive, rel2, 0.0))
            rel = xp.concatenate(blocks)
            zero = rel == 0
            sigma = xp.sqrt(xp.where(zero, 1.0, rel))
            inits, bounds, pdf_type = [1.0] * n, [(1e-10, 10.0)] * n, "normal"
            aux = arr([1.0] * n)
            if concrete:
                fixed = [bool(v) for v in zero]

        # measurement configuration overrides
        if name in user:
            cfg, cpath = user[name]
            allowed = set().union(*(_ALLOWED_KEYS[t] for t in types))
            for key in ("inits", "bounds", "auxdata", "sigmas", "factors"):
                if key not in cfg:
                    continue
                if key not in allowed:
                    raise InvalidMeasurement(
                        f"{cpath}.{key}: parameter '{name}' ({'/'.join(types)}) has no {key}"
                    )
                m = len(cfg[key])
                if m != n:
                    raise InvalidMeasurement(
                        f"{cpath}.{key}: parameter '{name}' has {n} component(s) but {m} "
                        f"{key} were given"
                    )
            if "inits" in cfg:
                inits = _static_floats(cfg["inits"], f"{cpath}.inits")
            if "bounds" in cfg:
                flat = _static_floats(cfg["bounds"], f"{cpath}.bounds")
                bounds = list(zip(flat[0::2], flat[1::2], strict=True))
                for k, (lo, hi) in enumerate(bounds):
                    if not lo <= hi:
                        raise InvalidMeasurement(
                            f"{cpath}.bounds[{k}]: lower bound {lo} is above upper bound {hi} "
                            f"for parameter '{name}'"
                        )
            if "fixed" in cfg:
                fixed = [bool(cfg["fixed"])] * n
            if "auxdata" in cfg:
                aux = arr(cfg["auxdata"])
            if "sigmas" in cfg:
                sigma = arr(cfg["sigmas"])
            if "factors" in cfg:
                factor = arr(cfg["factors"])
        if mtype == "lumi":
            missing = [
                k
                for k, v in (
                    ("inits", inits),
                    ("bounds", bounds),
                    ("auxdata", aux),
                    ("sigmas", sigma),
                )
                if v is None or (isinstance(v, list) and not v)
            ]
            if missing:
                raise InvalidMeasurement(
                    f"lumi parameter '{name}' needs {', '.join(missing)} in the measurement's "
                    f'parameter configuration, e.g. {{"name": "{name}", "auxdata": [1.0], '
                    '"sigmas": [0.02], "inits": [1.0], "bounds": [[0.9, 1.1]]}'
                )
        paramsets.append(
            ParamSet(
                name=name,
                n_parameters=n,
                is_scalar=mtype in ("normfactor", "lumi", "normsys", "histosys"),
                inits=tuple(inits),
                bounds=tuple((float(lo), float(hi)) for lo, hi in bounds),
                fixed=tuple(fixed),
                pdf_type=pdf_type,
                modifier_types=types,
            )
        )
        info[name] = {"occ": occurrences[name], "aux": aux, "sigma": sigma, "factor": factor}
        info[name].update(extra)

    if not paramsets:
        raise InvalidModel("the model has no parameters: no sample has a modifier")
    names = [p.name for p in paramsets]
    if poi_name == "":  # pyhf: an empty POI name means no POI
        poi_name = None
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

    starts = dict(
        zip(names, np.cumsum([0] + [p.n_parameters for p in paramsets])[:-1].tolist(), strict=True)
    )
    npars = int(sum(p.n_parameters for p in paramsets))

    # -- direct multiplicative factors (normfactor, lumi, shapefactor, shapesys, staterror)
    footprints, index_maps = [], []
    for p in paramsets:
        if p.modifier_types[0] not in _FACTOR_TYPES:
            continue
        mtype = p.modifier_types[0]
        fp = np.zeros((S, B), dtype=bool)
        im = np.full((S, B), npars, dtype=np.int32)
        for o in info[p.name]["occ"][mtype]:
            sl = parsed.bins[o.channel]
            nb = parsed.nbins[o.channel]
            base = starts[p.name]
            if mtype == "staterror":
                base += info[p.name]["chan_offset"][o.channel]
            idx = base + (np.arange(nb) if mtype in _PER_BIN_TYPES else 0)
            fp[sidx[o.sample], sl] = True
            im[sidx[o.sample], sl] = idx
        footprints.append(fp)
        index_maps.append(im)
    rows = _pack(footprints)
    factor_index = np.full((max(rows, default=-1) + 1, S, B), npars, dtype=np.int32)
    for r, fp, im in zip(rows, footprints, index_maps, strict=True):
        factor_index[r][fp] = im[fp]

    # -- histosys (shifts): one row per modifier, zero where it does not apply ---------------
    # Dense rows make the shift a contraction over modifiers (see ``Model``), which is far
    # cheaper to evaluate and differentiate than per-slot interpolation.
    hs_group = [p for p in paramsets if "histosys" in p.modifier_types]
    histosys_index = np.asarray([starts[p.name] for p in hs_group], dtype=np.int32)
    hs_blocks: dict[tuple[int, str, str], tuple[Any, Any]] = {}
    for r, p in enumerate(hs_group):
        for o in info[p.name]["occ"]["histosys"]:
            nom = nom_of[(o.channel, o.sample)]
            data = o.modifier["data"]
            hs_blocks[(r, o.sample, o.channel)] = (
                arr(data["hi_data"]) - nom,
                nom - arr(data["lo_data"]),
            )

    def histosys_array(which: int) -> Any:
        if not hs_group:
            return xp.zeros((0, S, B))
        rows = []
        for r in range(len(hs_group)):
            per_sample = []
            for s in samples:
                parts = [
                    hs_blocks[(r, s, c)][which]
                    if (r, s, c) in hs_blocks
                    else xp.zeros(parsed.nbins[c])
                    for c in channels
                ]
                per_sample.append(xp.concatenate(parts))
            rows.append(xp.stack(per_sample))
        return xp.stack(rows)

    histosys_up, histosys_dn = histosys_array(0), histosys_array(1)

    # normsys factors are one number per (sample, channel): keep them at that granularity
    C = len(channels)
    cidx = {c: i for i, c in enumerate(channels)}
    ns_group = [p for p in paramsets if "normsys" in p.modifier_types]
    ns_fps = []
    for p in ns_group:
        fp = np.zeros((S, C), dtype=bool)
        for o in info[p.name]["occ"]["normsys"]:
            fp[sidx[o.sample], cidx[o.channel]] = True
        ns_fps.append(fp)
    ns_rows = _pack(ns_fps)
    n_ns = max(ns_rows, default=-1) + 1
    normsys_index = np.zeros((n_ns, S, C), dtype=np.int32)
    ns_values: dict[tuple[int, int, int], Mapping[str, Any]] = {}
    for r, p, fp in zip(ns_rows, ns_group, ns_fps, strict=True):
        normsys_index[r][fp] = starts[p.name]
        for o in info[p.name]["occ"]["normsys"]:
            ns_values[(r, sidx[o.sample], cidx[o.channel])] = o.modifier["data"]

    def normsys_array(key: str) -> Any:
        if not ns_values:
            return xp.ones((n_ns, S, C))
        flat = [
            arr(ns_values[(r, si, ci)][key]) if (r, si, ci) in ns_values else arr(1.0)
            for r in range(n_ns)
            for si in range(S)
            for ci in range(C)
        ]
        return xp.reshape(xp.stack(flat), (n_ns, S, C))

    normsys_log_hi, normsys_log_lo, normsys_coeffs = normsys_precompute(
        normsys_array("hi"), normsys_array("lo"), xp=xp
    )
    bin_channel = np.concatenate(
        [np.full(parsed.nbins[c], cidx[c], dtype=np.int32) for c in channels]
    )

    # -- constraint terms ------------------------------------------------------------------
    aux_order, aux_par, normal_pos, poisson_pos = [], [], [], []
    aux_blocks, sigma_blocks, factor_blocks = [], [], []
    for p in paramsets:
        if p.pdf_type is None:
            continue
        aux_order.append(p.name)
        first = len(aux_par)
        aux_par.extend(range(starts[p.name], starts[p.name] + p.n_parameters))
        positions = list(range(first, len(aux_par)))
        ones = xp.ones(p.n_parameters)
        aux_blocks.append(info[p.name]["aux"] * ones)
        if p.pdf_type == "normal":
            normal_pos.extend(positions)
            sigma_blocks.append(info[p.name]["sigma"] * ones)
            factor_blocks.append(ones)
        else:
            poisson_pos.extend(positions)
            sigma_blocks.append(ones)
            factor_blocks.append(info[p.name]["factor"] * ones)

    def cat(blocks: list[Any]) -> Any:
        return xp.concatenate(blocks) if blocks else xp.zeros(0)

    settings = (("histosys", histosys_code), ("normsys", normsys_code))
    layout = Layout(
        channels=tuple(channels),
        channel_nbins=tuple(parsed.nbins[c] for c in channels),
        samples=tuple(samples),
        modifiers=tuple(parsed.modifiers),
        paramsets=tuple(paramsets),
        poi_name=poi_name,
        modifier_settings=settings,
        normsys_code=normsys_code,
        histosys_code=histosys_code,
        factor_index=factor_index,
        normsys_index=normsys_index,
        bin_channel=bin_channel,
        histosys_index=histosys_index,
        aux_par_index=np.asarray(aux_par, dtype=np.int32),
        normal_aux=np.asarray(normal_pos, dtype=np.int32),
        poisson_aux=np.asarray(poisson_pos, dtype=np.int32),
        aux_order=tuple(aux_order),
    )
    arrays = {
        "nominal": nominal,
        "normsys_log_hi": normsys_log_hi,
        "normsys_log_lo": normsys_log_lo,
        "normsys_coeffs": normsys_coeffs,
        "histosys_up": histosys_up,
        "histosys_dn": histosys_dn,
        "auxdata": cat(aux_blocks),
        "aux_sigma": cat(sigma_blocks),
        "aux_factor": cat(factor_blocks),
    }
    if as_numpy and concrete:
        return layout, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    arrays = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in arrays.items()}
    return layout, arrays
