"""Translation of one HS3 likelihood (or one distribution) into a pyhf workspace.

The result, a :class:`Translation`, holds the pyhf specification, the interpolation codes,
and the map from HS3 parameter names to pyhf parameter sets: HS3 names every bin's parameter
of a ``shapesys``, ``shapefactor`` or ``staterror`` (``uncorr_bkguncrt_0``, ...) while pyhf
names the set (``uncorr_bkguncrt``, a parameter of length 2).

What pyhf's format cannot express raises :class:`~relaxed.hs3.HS3NotSupported` with the JSON
path; ``purpose="pyhf"`` words the message for :func:`relaxed.hs3.to_pyhf` ("cannot be
expressed in pyhf's JSON format"), ``purpose="model"`` for the model builder ("not supported
yet"). Constraints that models build beyond pyhf's (:meth:`_Translator.check_constraint`: a
Poisson or LogNormal normsys/histosys, a Gauss shapesys, a Poisson staterror) become
``modifier_settings`` entries of the translation; a LogNormal shapesys or staterror, which no
implementation defines, is refused for both purposes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relaxed.exceptions import RelaxedError
from relaxed.histfactory import Workspace
from relaxed.histfactory.modifiers import INTERPOLATED, UNITS
from relaxed.histfactory.modifiers.constraints import CONSTRAINT_OF_PDF, HS3_NAMES
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.measurement import domain_bounds, measurement_config
from relaxed.hs3.selection import find, select_analysis, select_parameter_point
from relaxed.hs3.validate import Index
from relaxed.hs3.vocabulary import (
    PER_BIN_MODIFIERS,
    PYHF_DEFAULT_CODES,
    modifier_parameters,
    pyhf_code,
    strip_channel_prefix,
)

__all__ = ["Translation", "translate", "ENGINE_CODES"]

#: Interpolation codes relaxed's engine implements, per modifier type.
ENGINE_CODES = {
    t: UNITS[t].interpolation.codes  # type: ignore[union-attr]
    for t in INTERPOLATED
}
_GAUSSIANS = ("gaussian_dist", "normal_dist")

#: The standard's unit log-normal constraint of a ``normsys``/``histosys`` parameter
#: :math:`\alpha`, read as pyhs3 reads it: ``lognormal_dist`` of the auxiliary datum
#: :math:`x = 1` with log-location :math:`\alpha` and log-scale 1,
#: :math:`\log f = -\log x - \tfrac12\log 2\pi - \tfrac12(\log x - \alpha)^2`, which at
#: :math:`x = 1` is the unit Gaussian constraint's :math:`\log\mathcal{N}(0 \mid \alpha, 1)`
#: exactly (and pseudo-experiments that draw :math:`x` draw :math:`\log x` from that
#: Gaussian). Models therefore build it as pyhf's Gaussian constraint; :func:`to_pyhf`
#: refuses it, since the written document would declare another constraint.
LOGNORMAL_NAMES = frozenset({"LogNormal", "Lognormal"})

#: HS3 ``constraint`` -> the constraint relaxed's engine builds (``modifier_settings``): a
#: unit LogNormal is the Gaussian (:data:`LOGNORMAL_NAMES`).
ENGINE_CONSTRAINTS = {
    **{hs3: engine for engine, hs3 in HS3_NAMES.items()},
    **dict.fromkeys(LOGNORMAL_NAMES, "gauss"),
}

#: What defines a constraint on the per-bin types, for the message refusing a LogNormal one.
_DEFINED = {
    "shapesys": "pyhs3 0.4.2 allows only Poisson on a shapesys and ROOT Poisson or Gauss",
    "staterror": "pyhs3 0.4.2 and ROOT allow only Gauss or Poisson on a staterror",
}


def _no_lognormal(constraint: str, mtype: str, path: str) -> HS3NotSupported:
    """A LogNormal constraint on a shapesys or staterror, which no implementation defines."""
    return HS3NotSupported(
        f"a {constraint} constraint on a {mtype}: no implementation defines it ({_DEFINED[mtype]}; "
        "ROOT's HS3 exporter supports only RooPoisson and RooGaussian constraints), so "
        "neither relaxed's models nor pyhf's format have it",
        path,
    )


@dataclass(frozen=True)
class Translation:
    """A pyhf workspace for one HS3 likelihood, and how its names relate to the HS3 ones.

    Attributes:
        spec: the pyhf workspace (``channels``, ``observations``, one measurement).
        measurement: the name of that measurement.
        modifier_settings: the interpolation codes in the format of ``relaxed.Model``'s
            ``modifier_settings``: ``{"normsys": {"interpcode": ...}, "histosys": {...}}``
            (pyhf's), and where modifiers of one type use different codes, the most common
            one as ``interpcode`` and the others under ``"per_modifier"``
            (``{"<channel>/<sample>/<modifier>": code}``, pyhf names); where constraints
            differ from pyhf's (models only: a Poisson normsys, histosys or staterror, a
            Gauss shapesys), the type's ``"constraint"`` when every set of the type has it,
            else those sets by pyhf name under ``"per_name"`` (in the ``"normsys"`` and
            ``"histosys"`` entries, and in ``"shapesys"`` and ``"staterror"`` entries);
            where a staterror has a threshold (``relThreshold``; models only),
            ``"rel_threshold": r`` (every set) or the thresholds by pyhf name under
            ``"rel_threshold_per_name"``.
        parameters: HS3 parameter name -> (pyhf parameter set, component).
        channels: pyhf channel name -> HS3 distribution name.
        interpolation_paths: modifier type -> JSON path of a modifier that set its code
            explicitly (``None`` where every one uses the default).
        override_paths: modifier type -> JSON path of the first modifier whose code is a
            per-modifier override (only types with mixed codes).
        analysis, likelihood, parameter_point: the names that were used (or ``None``).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
        ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
        ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
        >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
        >>> tr = ws.translation()
        >>> tr.parameters["u_1"], tr.analysis, tr.likelihood, tr.parameter_point
        (('u', 1), 'm', 'm_likelihood', 'default_values')
    """

    spec: Mapping[str, Any]
    measurement: str
    modifier_settings: Mapping[str, Mapping[str, Any]]
    parameters: Mapping[str, tuple[str, int]]
    channels: Mapping[str, str]
    interpolation_paths: Mapping[str, str | None] = field(default_factory=dict)
    override_paths: Mapping[str, str] = field(default_factory=dict)
    analysis: str | None = None
    likelihood: str | None = None
    parameter_point: str | None = None


@dataclass
class _Occurrence:
    channel: str
    sample: str
    path: str
    modifier: Mapping[str, Any]
    mtype: str
    params: tuple[str, ...]
    code: str | None = None  # pyhf's interpolation code (normsys, histosys)
    code_path: str = ""  # where the code was given ("" for the default)
    constraint: str = ""  # a constrained type's HS3 constraint ("Gauss", "Poisson", ...)
    constraint_path: str = ""  # where that constraint was given ("" for the default)
    threshold: float = 0.0  # a staterror's relThreshold (its distribution's)
    threshold_path: str = ""  # where that threshold was given ("" for none)


class _Translator:
    def __init__(self, doc: Mapping[str, Any], index: Index, purpose: str) -> None:
        self.doc = doc
        self.index = index
        self.purpose = purpose

    def unsupported(self, path: str, what: str) -> HS3NotSupported:
        if self.purpose == "pyhf":
            return HS3NotSupported(f"{what}: cannot be expressed in pyhf's JSON format", path)
        return HS3NotSupported(
            f"{what}: not supported yet (relaxed builds HS3 models through pyhf's format, "
            "which cannot express it)",
            path,
        )

    # -- the distributions and data of the likelihood --------------------------------------
    def pairs(
        self,
        lh: Mapping[str, Any],
        lpath: str,
        only: Collection[tuple[str, int]] | None = None,
    ) -> tuple[list[tuple[str, str, Any, str]], list[tuple[str, Any, str]]]:
        """(distribution, its path, data reference, path of the reference) of the HistFactory
        channels, and (name, observed reference, path) of the Gaussian constraint terms;
        ``only``: the entries to read (``("distributions", k)``, ``("aux_distributions",
        k)``), the others being another translation's (the unbinned pairs)."""
        channels: list[tuple[str, str, Any, str]] = []
        gaussians: list[tuple[str, Any, str]] = []
        for k, (name, ref) in enumerate(zip(lh["distributions"], lh["data"], strict=True)):
            if only is not None and ("distributions", k) not in only:
                continue
            dist, dpath = find(self.doc, self.index, "distributions", name)
            where = f"{lpath}.distributions[{k}]"
            if dist["type"] == "histfactory_dist":
                channels.append((name, dpath, ref, f"{lpath}.data[{k}]"))
            elif dist["type"] in _GAUSSIANS:
                gaussians.append((name, ref, where))
            else:
                raise self.unsupported(where, f"a distribution of type '{dist['type']}' ('{name}')")
        for k, name in enumerate(lh.get("aux_distributions", [])):
            if only is not None and ("aux_distributions", k) not in only:
                continue
            dist, _ = find(self.doc, self.index, "distributions", name)
            where = f"{lpath}.aux_distributions[{k}]"
            if dist["type"] not in _GAUSSIANS:
                raise self.unsupported(where, f"an auxiliary distribution of type '{dist['type']}'")
            gaussians.append((name, None, where))
        if not channels:
            raise self.unsupported(
                f"{lpath}.distributions", "a likelihood without histfactory_dist"
            )
        seen: dict[str, str] = {}
        for name, _, _, where in channels:
            if name in seen:
                raise self.unsupported(where, f"distribution '{name}' used twice in one likelihood")
            seen[name] = where
        return channels, gaussians

    def observed(self, ref: Any, where: str) -> list[float]:
        """Observed main counts of a channel from a data reference."""
        if not isinstance(ref, str):
            raise InvalidHS3(
                f"a histfactory_dist needs a binned data set, got the number {ref!r}", where
            )
        data, dpath = find(self.doc, self.index, "data", ref)
        if data["type"] != "binned":
            raise self.unsupported(dpath, f"{data['type']} data ('{ref}') for a histfactory_dist")
        return _counts(data["contents"], f"{dpath}.contents")

    # -- modifiers -------------------------------------------------------------------------
    def occurrences(
        self, channels: Sequence[tuple[str, str, str]], lumi_allowed: bool
    ) -> tuple[list[_Occurrence], dict[str, str]]:
        """Every modifier of the channels (pyhf channel, distribution, path), checked, with
        its interpolation code; and the constrained normfactors (parameter -> constraint
        distribution)."""
        occs: list[_Occurrence] = []
        lumi: dict[str, str] = {}
        lumi_paths: dict[str, str] = {}
        for channel, name, dpath in channels:
            dist, _ = find(self.doc, self.index, "distributions", name)
            nbins = self.index.nbins[name]
            dist_constraint = self.check_staterror_config(dist, dpath)
            threshold = self.check_threshold(dist, dpath)
            for j, sample in enumerate(dist["samples"]):
                sname = self.index.sample_names[name][j]
                for k, mod in enumerate(sample.get("modifiers", [])):
                    mpath = f"{dpath}.samples[{j}].modifiers[{k}]"
                    mtype = mod["type"]
                    params = modifier_parameters(mod, nbins, strip_channel_prefix(name))
                    for p in params:
                        if p in self.index.positions["functions"]:
                            raise self.unsupported(mpath, f"parameter '{p}', which is a function")
                    self.check_constraint(mod, mtype, mpath)
                    code, code_path = None, ""
                    if UNITS[mtype].interpolation is not None:
                        code, code_path = self.check_code(mod, mtype, mpath)
                    if mtype == "normsys":
                        for key in ("hi", "lo"):
                            if not mod["data"][key] > 0:
                                raise InvalidHS3(
                                    f"normsys factors must be > 0, got {mod['data'][key]!r}",
                                    f"{mpath}.data.{key}",
                                )
                    if "constraint_name" in mod:
                        if mtype != "normfactor":
                            raise self.unsupported(
                                f"{mpath}.constraint_name", f"a constraint_name on a {mtype}"
                            )
                        if lumi_allowed:
                            p = params[0]
                            if lumi.setdefault(p, mod["constraint_name"]) != mod["constraint_name"]:
                                raise self.unsupported(
                                    f"{mpath}.constraint_name",
                                    f"normfactor parameter '{p}' with two constraints",
                                )
                            lumi_paths.setdefault(p, mpath)
                    occ = _Occurrence(channel, sname, mpath, mod, mtype, params, code, code_path)
                    if mod.get("constraint") is not None:
                        occ.constraint = mod["constraint"]
                        occ.constraint_path = f"{mpath}.constraint"
                    elif mtype == "staterror":
                        occ.constraint, occ.constraint_path = dist_constraint
                    else:
                        occ.constraint = UNITS[mtype].hs3_constraint or ""
                    if mtype == "staterror":
                        occ.threshold, occ.threshold_path = threshold
                    occs.append(occ)
        if lumi_allowed:
            for occ in occs:
                p = occ.params[0]
                if (
                    occ.mtype == "normfactor"
                    and p in lumi
                    and "constraint_name" not in occ.modifier
                ):
                    raise self.unsupported(
                        occ.path,
                        f"normfactor parameter '{p}' constrained at {lumi_paths[p]} but not here",
                    )
        return occs, lumi

    def check_staterror_config(self, dist: Mapping[str, Any], dpath: str) -> tuple[str, str]:
        """The distribution's staterror constraint (``Gauss`` or, for models, ``Poisson``)
        and the path giving it ("" for the default)."""
        cfg = dist.get("staterror")
        if not isinstance(cfg, Mapping):
            return "Gauss", ""
        constraint = cfg.get("constraint", "Gauss")
        if constraint == "Gauss" or (constraint == "Poisson" and self.purpose == "model"):
            return constraint, f"{dpath}.staterror.constraint" if "constraint" in cfg else ""
        if constraint in LOGNORMAL_NAMES:
            raise _no_lognormal(constraint, "staterror", f"{dpath}.staterror.constraint")
        raise self.unsupported(
            f"{dpath}.staterror.constraint",
            f"a {constraint} staterror constraint (pyhf's staterror is Gaussian)",
        )

    def check_threshold(self, dist: Mapping[str, Any], dpath: str) -> tuple[float, str]:
        """The distribution's staterror threshold ``relThreshold`` (0 for none) and the path
        giving it ("" for none); pyhf's JSON cannot express one above 0."""
        cfg = dist.get("staterror")
        if not isinstance(cfg, Mapping) or not cfg.get("relThreshold", 0) > 0:
            return 0.0, ""
        path = f"{dpath}.staterror.relThreshold"
        if self.purpose == "pyhf":
            raise self.unsupported(path, "a staterror threshold (relThreshold > 0)")
        return float(cfg["relThreshold"]), path

    def check_constraint(self, mod: Mapping[str, Any], mtype: str, mpath: str) -> None:
        """A modifier's ``constraint``: its type's own, or, for models, one the engine builds
        for the type (``ModifierUnit.constraints``: Poisson on a normsys/histosys/staterror,
        Gauss on a shapesys) or a unit LogNormal on a normsys/histosys (the Gaussian's
        likelihood, :data:`LOGNORMAL_NAMES`). A LogNormal on a shapesys or staterror is
        defined nowhere; anything else pyhf's format (or the engine) lacks is unsupported."""
        constraint = mod.get("constraint")
        unit = UNITS[mtype]
        if constraint is None or constraint == unit.hs3_constraint:
            return
        path = f"{mpath}.constraint"
        if constraint in LOGNORMAL_NAMES and mtype in _DEFINED:
            raise _no_lognormal(constraint, mtype, path)
        engine = ENGINE_CONSTRAINTS.get(constraint)
        if self.purpose == "model" and engine is not None and engine in unit.constraints:
            return  # relaxed's modifier_settings[mtype] (see _constraint_settings)
        raise self.unsupported(
            path, f"a {constraint} constraint on a {mtype} modifier ({unit.hs3_constraint_note})"
        )

    def check_code(self, mod: Mapping[str, Any], mtype: str, mpath: str) -> tuple[str, str]:
        """pyhf's code of a modifier's ``interpolation``, and its path ("" for the default)."""
        value = mod.get("interpolation")
        where = f"{mpath}.interpolation" if value is not None else mpath
        code = pyhf_code(mtype, value)
        if code is None:
            raise self.unsupported(where, f"interpolation {value!r} on a {mtype} modifier")
        if self.purpose == "model" and code not in ENGINE_CODES[mtype]:
            raise self.unsupported(
                where, f"interpolation {value!r} on a {mtype} modifier (pyhf's {code})"
            )
        return code, where if value is not None else ""

    # -- parameter sets --------------------------------------------------------------------
    def parameter_sets(
        self, occs: list[_Occurrence], lumi_param: str | None
    ) -> tuple[dict[str, tuple[str, int]], dict[str, str]]:
        """HS3 parameter -> (pyhf set, component), and the pyhf set of each modifier (by
        path)."""
        owner: dict[str, tuple[Any, str]] = {}
        scalar_types: dict[str, dict[str, str]] = {}
        groups: dict[Any, list[_Occurrence]] = {}
        staterror_tuple: dict[str, tuple[tuple[str, ...], str]] = {}
        for occ in occs:
            if occ.mtype in PER_BIN_MODIFIERS:
                label = occ.modifier.get("name") or f"{occ.mtype}_{occ.channel}"
                if occ.mtype == "shapesys":
                    key: Any = ("shapesys", occ.path)
                elif occ.mtype == "shapefactor":
                    key = ("shapefactor", occ.params)
                else:
                    first = staterror_tuple.setdefault(occ.channel, (occ.params, occ.path))
                    if first[0] != occ.params:
                        raise self.unsupported(
                            occ.path,
                            f"two staterror parameter lists in channel '{occ.channel}' (also "
                            f"at {first[1]}); pyhf's staterror has one per channel",
                        )
                    key = ("staterror", label)
                groups.setdefault(key, []).append(occ)
            else:
                p = occ.params[0]
                types = scalar_types.setdefault(p, {})
                types.setdefault(occ.mtype, occ.path)
                if not all(set(types) - {t} <= UNITS[t].shares_with for t in types):
                    (t1, p1), (t2, p2) = list(types.items())[:2]
                    raise self.unsupported(
                        occ.path,
                        f"parameter '{p}' used by a {t1} (at {p1}) and a {t2} (at {p2}); pyhf "
                        "needs separate parameters",
                    )
                key = ("scalar", p)
            for p in occ.params:
                previous = owner.setdefault(p, (key, occ.path))
                if previous[0] != key:
                    raise self.unsupported(
                        occ.path,
                        f"parameter '{p}' shared with the {previous[0][0]} at {previous[1]} "
                        "(pyhf cannot share a parameter between these parameter sets)",
                    )
        names: dict[str, tuple[str, int]] = {}
        taken: set[str] = set()
        for p in scalar_types:
            pyhf_name = "lumi" if p == lumi_param else p
            if pyhf_name == "lumi" and p != lumi_param and lumi_param is not None:
                raise self.unsupported(
                    scalar_types[p][next(iter(scalar_types[p]))],
                    f"parameter 'lumi' and the constrained normfactor '{lumi_param}' (pyhf "
                    "names its luminosity parameter 'lumi')",
                )
            names[p] = (pyhf_name, 0)
            taken.add(pyhf_name)
        by_path: dict[str, str] = {}
        for key, members in _split_staterrors(groups).items():
            first = members[0]
            label = first.modifier.get("name") or f"{first.mtype}_{first.channel}"
            pyhf_name = label if len(key) == 2 else f"{label}_{key[2]}"
            if pyhf_name in taken:
                pyhf_name = f"{label}_{first.channel}"
                if first.mtype == "shapesys":
                    pyhf_name += f"_{first.sample}"
            candidate, n = pyhf_name, 2
            while candidate in taken:
                candidate, n = f"{pyhf_name}_{n}", n + 1
            taken.add(candidate)
            if key[0] == "staterror":
                chans = sorted({m.channel for m in members})
                offset = 0
                for c in chans:
                    params = staterror_tuple[c][0]
                    for i, p in enumerate(params):
                        names[p] = (candidate, offset + i)
                    offset += len(params)
            else:
                for i, p in enumerate(first.params):
                    names[p] = (candidate, i)
            for m in members:
                by_path[m.path] = candidate
        for occ in occs:
            by_path.setdefault(occ.path, names[occ.params[0]][0])
        return names, by_path


def _counts(values: Sequence[Any], path: str) -> list[float]:
    counts = [float(v) for v in values]
    for b, v in enumerate(counts):
        if v < 0:
            raise InvalidHS3(f"observed counts must be >= 0, got {v!r}", f"{path}[{b}]")
    return counts


def _split_staterrors(groups: dict[Any, list[_Occurrence]]) -> dict[Any, list[_Occurrence]]:
    """Staterror modifiers of one name in several channels form one pyhf set only if every
    sample carrying it does so in all those channels (pyhf's rule); otherwise one set per
    channel (the same likelihood: the constraints are per bin either way)."""
    out: dict[Any, list[_Occurrence]] = {}
    for key, members in groups.items():
        chans = {m.channel for m in members}
        per_sample: dict[str, set[str]] = {}
        for m in members:
            per_sample.setdefault(m.sample, set()).add(m.channel)
        if key[0] != "staterror" or all(c == chans for c in per_sample.values()):
            out[key] = members
            continue
        for m in members:
            out.setdefault((*key, m.channel), []).append(m)
    return out


def _modifier_settings(
    occs: Sequence[_Occurrence], by_path: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The models' ``modifier_settings`` of the modifiers' codes: per type the code of its
    modifiers (pyhf's default for a type without any); where they differ, the most common
    (pyhf's default, else the first seen, among equals) and the others as ``per_modifier``
    overrides keyed ``<channel>/<sample>/<pyhf modifier name>``. Also the path of each
    type's first override."""
    settings: dict[str, dict[str, Any]] = {}
    override_paths: dict[str, str] = {}
    for mtype, default in PYHF_DEFAULT_CODES.items():
        typed = [o for o in occs if o.mtype == mtype and o.code is not None]
        counts: dict[str, int] = {}
        for c in (o.code for o in typed if o.code is not None):
            counts[c] = counts.get(c, 0) + 1
        # the most common code; among equals pyhf's default, else the first seen
        code = max(counts, key=lambda c: (counts[c], c == default)) if counts else default
        settings[mtype] = {"interpcode": code}
        others = [o for o in typed if o.code != code]
        if others:
            settings[mtype]["per_modifier"] = {
                f"{o.channel}/{o.sample}/{by_path[o.path]}": o.code for o in others
            }
            override_paths[mtype] = others[0].code_path or others[0].path
    return settings, override_paths


def _per_set(
    tr: _Translator,
    occs: Sequence[_Occurrence],
    by_path: Mapping[str, str],
    types: Sequence[str],
    what: Callable[[Any], str],
    value: Callable[[_Occurrence], Any],
    where: Callable[[_Occurrence], str],
    noun: str,
    key: Callable[[Any], Any] = lambda v: v,
) -> dict[str, Any]:
    """One value of each parameter set of the modifiers of ``types`` (pyhf name -> value),
    the same (by ``key``) on every occurrence of the set; two values on one set are an error
    naming both paths (``noun`` names the set in the message)."""
    chosen: dict[str, tuple[Any, str]] = {}
    for o in occs:
        if o.mtype not in types:
            continue
        name = by_path[o.path]
        first = chosen.setdefault(name, (value(o), where(o)))
        if key(first[0]) != key(value(o)):
            raise tr.unsupported(
                where(o),
                f"{what(value(o))} here but {first[0]} at {first[1]} on the same {noun} ('{name}')",
            )
    return {name: v for name, (v, _) in sorted(chosen.items())}


def _per_staterror_set(
    tr: _Translator,
    occs: Sequence[_Occurrence],
    by_path: Mapping[str, str],
    what: Callable[[Any], str],
    value: Callable[[_Occurrence], Any],
    where: Callable[[_Occurrence], str],
) -> dict[str, Any]:
    """One value of each staterror set (pyhf name -> value), the same on every occurrence
    of the set; two values on one set are an error naming both paths."""
    return _per_set(tr, occs, by_path, ("staterror",), what, value, where, "staterror parameters")


def _constraint_settings(
    tr: _Translator, occs: Sequence[_Occurrence], by_path: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The models' ``modifier_settings`` of the normsys, histosys and shapesys constraints
    other than pyhf's (type -> ``{"constraint": ...}`` when every set of the type has that
    one, else the sets that do by pyhf name under ``"per_name"``); empty when all are
    pyhf's. A parameter shared by several modifiers (a normsys and a histosys, or one type
    on several samples) has one constraint: two different ones are an error naming both
    paths (a unit LogNormal counts as the Gauss it equals)."""
    out: dict[str, dict[str, Any]] = {}
    groups = (("normsys", "histosys"), ("shapesys",))
    for types in groups:
        declared = _per_set(
            tr,
            occs,
            by_path,
            types,
            lambda c: f"a {c} constraint",
            lambda o: o.constraint,
            lambda o: o.constraint_path or o.path,
            "parameter, which has one constraint term,",
            ENGINE_CONSTRAINTS.get,
        )
        engine = {name: ENGINE_CONSTRAINTS[c] for name, c in declared.items()}
        for mtype in types:
            names = sorted({by_path[o.path] for o in occs if o.mtype == mtype})
            default = CONSTRAINT_OF_PDF[UNITS[mtype].pdf_type or ""]
            other = [n for n in names if engine[n] != default]
            if other and len(other) == len(names):
                out[mtype] = {"constraint": engine[other[0]]}
            elif other:
                out[mtype] = {"per_name": {n: engine[n] for n in other}}
    return out


def _staterror_settings(
    tr: _Translator, occs: Sequence[_Occurrence], by_path: Mapping[str, str]
) -> dict[str, Any] | None:
    """The models' ``modifier_settings["staterror"]`` of the staterror constraints and
    thresholds (``None`` when every one is Gaussian without threshold): ``{"constraint":
    "poisson"}`` when all are Poisson, else the Poisson sets by pyhf name under
    ``"per_name"``; ``"rel_threshold"`` when every set has the same threshold above 0, else
    ``"rel_threshold_per_name"`` for the sets with one (a set spanning distributions takes
    one threshold)."""
    constraints = _per_staterror_set(
        tr,
        occs,
        by_path,
        lambda c: f"a {c} staterror constraint",
        lambda o: o.constraint,
        lambda o: o.constraint_path or o.path,
    )
    poisson = sorted(name for name, c in constraints.items() if c == "Poisson")
    setting: dict[str, Any] = {}
    if poisson and len(poisson) == len(constraints):
        setting = {"constraint": "poisson"}
    elif poisson:
        setting = {"constraint": "gauss", "per_name": dict.fromkeys(poisson, "poisson")}
    thresholds = _per_staterror_set(
        tr,
        occs,
        by_path,
        lambda r: f"a staterror threshold {r}",
        lambda o: o.threshold,
        lambda o: o.threshold_path or o.path,
    )
    thresholds = {name: r for name, r in thresholds.items() if r > 0}
    if thresholds:
        values = set(thresholds.values())
        if len(values) == 1 and len(thresholds) == len(constraints):
            setting["rel_threshold"] = values.pop()
        else:
            setting["rel_threshold_per_name"] = thresholds
    return setting or None


def _check_positive(
    occs: Sequence[_Occurrence],
    bounds: Mapping[str, tuple[float, float, str]],
    values: Mapping[str, Mapping[str, Any]],
    ppath: str | None,
    point: Mapping[str, Any] | None,
) -> None:
    """A Poisson-constrained normsys/histosys parameter :math:`\\alpha` has the constraint
    term :math:`\\log\\mathrm{Pois}(1 \\mid \\alpha) = \\log\\alpha - \\alpha`, defined for
    :math:`\\alpha > 0` only: its domain (``bounds``) and its value in the parameter point
    must be positive (relaxed's defaults: bounds (1e-10, 5), init 1)."""
    seen: set[str] = set()
    for o in occs:
        if o.mtype not in ("normsys", "histosys") or o.constraint != "Poisson":
            continue
        p = o.params[0]
        if p in seen:
            continue
        seen.add(p)
        why = (
            f"parameter '{p}' has a Poisson constraint (at {o.constraint_path}), "
            f"log Pois(1 | {p}) = log({p}) - {p}, defined for {p} > 0 only"
        )
        if p in bounds and not bounds[p][0] > 0:
            raise InvalidHS3(
                f"{why}, but its domain starts at {bounds[p][0]}; give it a positive lower "
                "bound (relaxed's default is 1e-10)",
                f"{bounds[p][2]}.min",
            )
        if p in values and not float(values[p]["value"]) > 0:
            k = [par["name"] for par in (point or {}).get("parameters", [])].index(p)
            raise InvalidHS3(
                f"{why}, but the parameter point gives it {values[p]['value']}; give it a "
                "positive value (relaxed's default is 1)",
                f"{ppath}.parameters[{k}].value",
            )


def _pyhf_modifier(
    occ: _Occurrence, name: str, sample: Mapping[str, Any], is_lumi: bool
) -> dict[str, Any]:
    unit = UNITS["lumi" if is_lumi else occ.mtype]
    return unit.pyhf_entry(name, unit.from_hs3(occ.modifier, sample))


def translate(
    doc: Mapping[str, Any],
    index: Index,
    analysis: str | None = None,
    parameter_point: str | None = None,
    purpose: str = "model",
    distribution: str | None = None,
    data: Any = None,
    only: Collection[tuple[str, int]] | None = None,
) -> Translation:
    """Translate an analysis's likelihood (or, with ``distribution``, that one
    ``histfactory_dist`` alone, paired with ``data``: a data set name or a list of counts)
    into a pyhf workspace. See the module docstring of :mod:`relaxed.hs3` for the readings.
    ``only``: the likelihood's entries to translate (:meth:`_Translator.pairs`; the binned
    part of a combined likelihood).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
        ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
        ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
        >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
        >>> from relaxed.hs3.validate import validate
        >>> doc = ws.to_dict()
        >>> tr = translate(doc, validate(doc), distribution="model_SR", data=[6.0, 7.0])
        >>> tr.spec["observations"], tr.spec["measurements"][0]["config"]["poi"]
        ([{'name': 'SR', 'data': [6.0, 7.0]}], '')
    """
    tr = _Translator(doc, index, purpose)
    if distribution is None:
        chosen, apath, lh, lpath = select_analysis(doc, index, analysis)
        channels, gaussians = tr.pairs(lh, lpath, only)
        lumi_allowed = True
    else:
        chosen, apath, lh, lpath = None, None, {"name": distribution}, "(distribution)"
        _, dpath = find(doc, index, "distributions", distribution)
        channels, gaussians = [(distribution, dpath, data, "data")], []
        lumi_allowed = False
    point, ppath = select_parameter_point(
        doc, index, chosen, parameter_point, ambiguous_ok=distribution is not None
    )

    stripped = [strip_channel_prefix(name) for name, _, _, _ in channels]
    if len(set(stripped)) != len(stripped):
        stripped = [name for name, _, _, _ in channels]
    channel_of = dict(zip(stripped, (name for name, _, _, _ in channels), strict=True))
    occs, lumi = tr.occurrences(
        [(c, name, dpath) for c, (name, dpath, _, _) in zip(stripped, channels, strict=True)],
        lumi_allowed,
    )
    values = {p["name"]: p for p in point["parameters"]} if point is not None else {}

    # -- the luminosity: a normfactor whose constraint_name names a Gaussian -----------------
    lumi_param: str | None = None
    lumi_cfg: dict[str, Any] = {}
    used_gaussians: set[str] = set()
    if len(lumi) > 1:
        raise tr.unsupported(
            lpath, f"several constrained normfactors {sorted(lumi)} (pyhf has one lumi parameter)"
        )
    if lumi:
        lumi_param, cname = next(iter(lumi.items()))
        constraint, cpath = find(doc, index, "distributions", cname)
        if constraint["type"] not in _GAUSSIANS:
            raise tr.unsupported(
                f"{cpath}.type",
                f"a {constraint['type']} constraint on normfactor '{lumi_param}' (pyhf's lumi "
                "constraint is Gaussian)",
            )
        if constraint.get("mean") != lumi_param:
            raise tr.unsupported(
                f"{cpath}.mean",
                f"a Gaussian constraint of normfactor '{lumi_param}' whose mean is "
                f"{constraint.get('mean')!r}",
            )
        sigma = constraint.get("sigma")
        if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or not sigma > 0:
            raise tr.unsupported(f"{cpath}.sigma", f"a lumi constraint with sigma {sigma!r}")
        aux = _gaussian_observed(tr, constraint, cpath, gaussians, values)
        used_gaussians.add(cname)
        lumi_cfg = {"name": "lumi", "auxdata": [aux], "sigmas": [float(sigma)]}
    for name, _, where in gaussians:
        if name not in used_gaussians:
            raise tr.unsupported(
                where, f"Gaussian distribution '{name}', which constrains no normfactor"
            )

    names, by_path = tr.parameter_sets(occs, lumi_param)

    # -- channels and observations -----------------------------------------------------------
    spec_channels = []
    observations = []
    by_sample: dict[tuple[str, str], list[_Occurrence]] = {}
    for occ in occs:
        by_sample.setdefault((occ.channel, occ.sample), []).append(occ)
    for c, (name, _, ref, rpath) in zip(stripped, channels, strict=True):
        dist, _ = find(doc, index, "distributions", name)
        samples = []
        for j, sample in enumerate(dist["samples"]):
            sname = index.sample_names[name][j]
            mods: list[dict[str, Any]] = []
            seen: dict[tuple[str, str], str] = {}
            for occ in by_sample.get((c, sname), []):
                is_lumi = occ.mtype == "normfactor" and occ.params[0] == lumi_param
                mod = _pyhf_modifier(occ, by_path[occ.path], sample, is_lumi)
                key = (mod["name"], mod["type"])
                if key in seen:
                    raise tr.unsupported(
                        occ.path,
                        f"the {key[1]} '{key[0]}' twice on one sample (also at {seen[key]})",
                    )
                seen[key] = occ.path
                mods.append(mod)
            contents = [float(v) for v in sample["data"]["contents"]]
            samples.append({"name": sname, "data": contents, "modifiers": mods})
        spec_channels.append({"name": c, "samples": samples})
        if distribution is not None and not isinstance(ref, str):
            counts = _counts(list(ref), "data")
            if len(counts) != index.nbins[name]:
                raise InvalidHS3(
                    f"{len(counts)} observed counts for the {index.nbins[name]} bins of "
                    f"distribution '{name}'",
                    "data",
                )
        else:
            counts = tr.observed(ref, rpath)
        observations.append({"name": c, "data": counts})

    # -- measurement: POI, bounds from the domains, inits and fixed from the point -------------
    poi = ""
    if chosen is not None:
        pois = list(chosen.get("parameters_of_interest", []))
        if len(pois) > 1:
            raise tr.unsupported(
                f"{apath}.parameters_of_interest", f"several parameters of interest {pois}"
            )
        if pois:
            if pois[0] not in names:
                raise InvalidHS3(
                    f"the parameter of interest '{pois[0]}' is not a parameter of likelihood "
                    f"'{lh['name']}'",
                    f"{apath}.parameters_of_interest[0]",
                )
            poi = names[pois[0]][0]
            if sum(1 for name, _ in names.values() if name == poi) > 1:
                raise tr.unsupported(
                    f"{apath}.parameters_of_interest[0]",
                    f"parameter of interest '{pois[0]}', one bin of the parameter set '{poi}'",
                )
    bounds = domain_bounds(doc, index, chosen, apath)
    staterror = _staterror_settings(tr, occs, by_path)
    constraints = _constraint_settings(tr, occs, by_path)
    if staterror is not None:
        constraints["staterror"] = staterror
    _check_positive(occs, bounds, values, ppath, point)
    config = measurement_config(
        tr.unsupported,
        spec_channels,
        names,
        bounds,
        values,
        ppath,
        lumi_cfg,
        point,
        constraints or None,
    )
    measurement = (chosen or lh)["name"]
    spec = {
        "channels": spec_channels,
        "observations": observations,
        "measurements": [{"name": measurement, "config": {"poi": poi, "parameters": config}}],
        "version": "1.0.0",
    }
    try:
        Workspace(spec)
    except RelaxedError as err:
        raise InvalidHS3(
            f"the pyhf translation of '{lh['name']}' is invalid: {err} (pyhf channels are "
            f"distributions {channel_of})",
            lpath,
        ) from err
    settings, override_paths = _modifier_settings(occs, by_path)
    for mtype, setting in constraints.items():
        settings.setdefault(mtype, {}).update(setting)
    explicit = {
        t: next((o.code_path for o in occs if o.mtype == t and o.code_path), None)
        for t in PYHF_DEFAULT_CODES
    }
    return Translation(
        spec=spec,
        measurement=measurement,
        modifier_settings=settings,
        parameters=names,
        channels=channel_of,
        interpolation_paths=explicit,
        override_paths=override_paths,
        analysis=None if chosen is None else chosen["name"],
        likelihood=lh["name"] if distribution is None else None,
        parameter_point=None if point is None else point["name"],
    )


def _gaussian_observed(
    tr: _Translator,
    constraint: Mapping[str, Any],
    cpath: str,
    gaussians: Sequence[tuple[str, Any, str]],
    values: Mapping[str, Mapping[str, Any]],
) -> float:
    """The observed value (auxiliary datum) of a Gaussian constraint: its data in the
    likelihood, else its ``x`` when a number, else the parameter point's value of ``x``."""
    for name, ref, where in gaussians:
        if name != constraint["name"] or ref is None:
            continue
        if isinstance(ref, (int, float)) and not isinstance(ref, bool):
            return float(ref)
        data, dpath = find(tr.doc, tr.index, "data", ref)
        if data["type"] == "point":
            return float(data["value"])
        if data["type"] == "binned" and len(data["contents"]) == 1:
            return float(data["contents"][0])
        raise tr.unsupported(where, f"{data['type']} data for a Gaussian constraint")
    x = constraint.get("x")
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, str) and x in values:
        return float(values[x]["value"])
    raise InvalidHS3(
        f"no observed value for the constraint's x {x!r}: pair the distribution with data in "
        "the likelihood, or give x a value in the parameter point",
        f"{cpath}.x",
    )
