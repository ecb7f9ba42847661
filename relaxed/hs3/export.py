"""pyhf workspace -> HS3 document (:func:`from_pyhf`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaxed.histfactory import Workspace
from relaxed.histfactory.modifiers import UNITS
from relaxed.histfactory.modifiers.constraints import (
    CONSTRAINT,
    CONSTRAINT_OF_PDF,
    HS3_NAMES,
    PER_NAME,
)
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.validate import validate
from relaxed.hs3.vocabulary import PYHF_DEFAULT_CODES, hs3_interpolation

__all__ = ["from_pyhf", "LUMI_CONSTRAINT", "PARAMETER_POINT"]

#: Name of the Gaussian distribution written for pyhf's ``lumi`` constraint.
LUMI_CONSTRAINT: str = UNITS["lumi"].hs3_constraint_name  # type: ignore[assignment]
#: Name of the parameter point written (ROOT's name for the starting values).
PARAMETER_POINT = "default_values"


def _codes(
    modifier_settings: Mapping[str, Any] | None,
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The code of each type, and its per-modifier overrides (``<channel>/<sample>/<name>``)."""
    codes = dict(PYHF_DEFAULT_CODES)
    overrides: dict[str, dict[str, str]] = {t: {} for t in codes}
    for mtype, setting in (modifier_settings or {}).items():
        if mtype in _CONSTRAINED_ONLY:
            continue  # the constraint of staterror/shapesys sets: the model checks and applies it
        if mtype not in codes:
            raise HS3NotSupported(
                f"interpolation codes can be set for normsys and histosys only (and "
                f"constraints for normsys, histosys, shapesys and staterror), got '{mtype}'",
                "modifier_settings",
            )
        codes[mtype] = setting.get("interpcode", PYHF_DEFAULT_CODES[mtype])
        overrides[mtype] = dict(setting.get("per_modifier", {}))
    return codes, overrides


#: Types whose ``modifier_settings`` entry holds no interpolation code (only constraints).
_CONSTRAINED_ONLY = ("shapesys", "staterror")
#: The keys of an interpolated type's entry that choose constraints (passed to the model).
_CONSTRAINT_KEYS = (CONSTRAINT, PER_NAME)


def _thresholds(setting: Mapping[str, Any]) -> tuple[float, dict[str, float]]:
    """The staterror threshold of every set and the per-name ones of a model's checked
    ``modifier_settings["staterror"]``."""
    return float(setting.get("rel_threshold", 0.0)), dict(setting.get("rel_threshold_per_name", {}))


def _channel_threshold(
    channel: Mapping[str, Any], thresholds: tuple[float, dict[str, float]]
) -> float:
    """The ``relThreshold`` of a channel's distribution: the threshold of its staterror
    sets (HS3 has one per distribution, so they must agree)."""
    default, per_name = thresholds
    names = sorted(
        {m["name"] for s in channel["samples"] for m in s["modifiers"] if m["type"] == "staterror"}
    )
    values = {per_name.get(name, default) for name in names}
    if len(values) > 1:
        raise HS3NotSupported(
            f"staterror sets {names} of channel '{channel['name']}' with different thresholds "
            f"{sorted(values)}: HS3 has one relThreshold per histfactory_dist",
            "modifier_settings.staterror",
        )
    return values.pop() if values else 0.0


def _hs3_interpolation(mtype: str, code: str, where: str) -> Any:
    value = hs3_interpolation(mtype, code)
    if value is None:
        raise HS3NotSupported(f"{mtype} interpolation {code} has no HS3 name", where)
    return value


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


def _bin_names(model_config: Any, per_bin: set[str]) -> dict[str, list[str]]:
    """HS3 names of each pyhf parameter set's components: the set's name for scalars,
    ``<set>_<i>`` per bin (``<set>[<i>]`` if that would collide with another name)."""
    taken = set(model_config.par_order)
    out: dict[str, list[str]] = {}
    for name in model_config.par_order:
        sl = model_config.par_slice(name)
        n = sl.stop - sl.start
        if name not in per_bin:
            out[name] = [name]
            continue
        names = [f"{name}_{i}" for i in range(n)]
        if any(x in taken for x in names):
            names = [f"{name}[{i}]" for i in range(n)]
        if any(x in taken for x in names):
            raise HS3NotSupported(
                f"cannot name the bins of parameter set '{name}' without a collision",
                "measurements",
            )
        taken.update(names)
        out[name] = names
    return out


def from_pyhf(
    spec: Mapping[str, Any] | Workspace,
    measurement: str | None = None,
    modifier_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An HS3 document (``hs3_version`` 0.2) equivalent to a pyhf workspace.

    One ``histfactory_dist`` per channel (named ``model_<channel>``, one axis
    ``obs_x_<channel>`` with one unit-width bin per bin) and one ``binned`` data set each
    (``obsData_<channel>``); one likelihood pairing them; one analysis (named after the
    measurement, default the first) with its parameter of interest, one ``product_domain``
    from the model's bounds and one parameter point ``default_values`` from its inits, with
    ``const`` for fixed parameters. Per-bin parameters are named ``<set>_<i>``; staterror
    spanning several channels gets its indices in pyhf's order (channels sorted).

    Every modifier carries its constraint and, for normsys and histosys, its
    ``interpolation`` explicitly (``modifier_settings`` in pyhf's format, default pyhf's
    code4/code4p, with relaxed's optional ``per_modifier`` overrides, see
    :class:`relaxed.Model`); a set whose constraint relaxed's settings change (a
    ``"constraint"``/``"per_name"`` of normsys, histosys, shapesys or staterror) is written
    with that constraint (``"Poisson"`` on a normsys, histosys or staterror, ``"Gauss"`` on a
    shapesys; the domain and point then hold the model's bounds and inits, e.g. (1e-10, 5)
    and 1 for a Poisson normsys), and a staterror's threshold
    (``"rel_threshold"``) as the distribution's ``"staterror": {"relThreshold": r}``. pyhf's
    ``lumi`` becomes a ``normfactor`` named ``lumi`` with ``constraint_name`` pointing to a
    ``gaussian_dist`` (mean ``lumi``, the measurement's sigma), paired in the likelihood with
    the auxiliary datum as an inline number.

    Raises:
        relaxed.exceptions.RelaxedError: the pyhf workspace is invalid (relaxed's errors).
        relaxed.hs3.HS3NotSupported: what HS3's histfactory_dist cannot express: measurement
            ``auxdata``/``sigmas``/``factors`` overrides on parameters other than lumi, an
            interpolation code with no HS3 name, or staterror sets of one channel with
            different thresholds.

    Example:
        >>> from relaxed.hs3 import from_pyhf
        >>> doc = from_pyhf({"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "unc", "type": "shapesys", "data": [3.0, 7.0]}]}]}],
        ...     "observations": [{"name": "SR", "data": [51.0, 48.0]}], "version": "1.0.0",
        ...     "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}]})
        >>> doc["metadata"]["hs3_version"], doc["distributions"][0]["name"]
        ('0.2', 'model_SR')
        >>> doc["distributions"][0]["samples"][1]["modifiers"][0]["parameters"]
        ['unc_0', 'unc_1']
    """
    ws = spec if isinstance(spec, Workspace) else Workspace(spec)
    source = ws.spec
    meas = ws.get_measurement(measurement)
    meas_index = [m["name"] for m in source["measurements"]].index(meas["name"])
    codes, overrides = _codes(modifier_settings)
    interpolation = {
        mtype: _hs3_interpolation(mtype, code, f"modifier_settings.{mtype}")
        for mtype, code in codes.items()
    }
    given = modifier_settings or {}
    model = ws.model(
        measurement_name=meas["name"],
        modifier_settings={
            **{
                t: {
                    "interpcode": c,
                    **({"per_modifier": overrides[t]} if overrides[t] else {}),
                    **{k: v for k, v in given.get(t, {}).items() if k in _CONSTRAINT_KEYS},
                }
                for t, c in codes.items()
            },
            **{t: given[t] for t in _CONSTRAINED_ONLY if t in given},
        },
    )
    config = model.config
    types: dict[str, str] = {}
    for channel in source["channels"]:
        for sample in channel["samples"]:
            for mod in sample["modifiers"]:
                types.setdefault(mod["name"], mod["type"])
    lumi_cfg: Mapping[str, Any] = {}
    for i, par in enumerate(meas["config"].get("parameters", [])):
        if par["name"] not in types:
            continue  # pyhf ignores the configuration of parameters the model lacks
        if types[par["name"]] == "lumi":
            lumi_cfg = par
            continue
        for key in ("auxdata", "sigmas", "factors"):
            if key in par:
                raise HS3NotSupported(
                    f"a measurement '{key}' for parameter '{par['name']}': HS3's "
                    "histfactory_dist has no field for it",
                    f"measurements[{meas_index}].config.parameters[{i}].{key}",
                )
    per_bin = {name for name, t in types.items() if not UNITS[t].is_scalar}
    hs3_names = _bin_names(config, per_bin)
    nbins = {c["name"]: len(c["samples"][0]["data"]) for c in source["channels"]}
    channel_offset: dict[tuple[str, str], int] = {}  # sets spanning channels: where each starts
    for name in per_bin:
        if not UNITS[types[name]].spans_channels:
            continue
        chans = sorted(
            c["name"]
            for c in source["channels"]
            if any(m["name"] == name for s in c["samples"] for m in s["modifiers"])
        )
        offset = 0
        for c in chans:
            channel_offset[(name, c)] = offset
            offset += nbins[c]

    thresholds = _thresholds(config.modifier_settings.get("staterror", {}))
    observed = ws.observations()
    distributions: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for channel in source["channels"]:
        c = channel["name"]
        if c not in observed:
            raise InvalidHS3(f"no observed data for channel '{c}'", "observations")
        axis = {"name": f"obs_x_{c}", "min": 0.0, "max": float(nbins[c]), "nbins": nbins[c]}
        samples = []
        for sample in channel["samples"]:
            mods = []
            contents: dict[str, Any] = {"contents": _floats(sample["data"])}
            for mod in sample["modifiers"]:
                name, unit = mod["name"], UNITS[mod["type"]]
                parameters = hs3_names[name]
                if (name, c) in channel_offset:  # this channel's part of the set
                    start = channel_offset[(name, c)]
                    parameters = parameters[start : start + nbins[c]]
                value = interpolation.get(unit.name)
                override = overrides.get(unit.name, {}).get(f"{c}/{sample['name']}/{name}")
                if override is not None:
                    value = _hs3_interpolation(
                        unit.name, override, f"modifier_settings.{unit.name}.per_modifier"
                    )
                entry = unit.to_hs3(name, mod["data"], parameters, value)
                pdf_type = config.param_set(name).pdf_type
                if unit.constraints and pdf_type != unit.pdf_type and pdf_type is not None:
                    entry["constraint"] = HS3_NAMES[CONSTRAINT_OF_PDF[pdf_type]]
                mods.append(entry)
                if unit.hs3_sample_field is not None:
                    contents[unit.hs3_sample_field] = _floats(mod["data"])
            samples.append({"name": sample["name"], "data": contents, "modifiers": mods})
        dist: dict[str, Any] = {
            "name": f"model_{c}",
            "type": "histfactory_dist",
            "axes": [axis],
            "samples": samples,
        }
        threshold = _channel_threshold(channel, thresholds)
        if threshold > 0:
            dist["staterror"] = {"relThreshold": threshold}
        distributions.append(dist)
        data.append(
            {
                "name": f"obsData_{c}",
                "type": "binned",
                "axes": [axis],
                "contents": _floats(observed[c]),
            }
        )

    meas_name = meas["name"] or "measurement"
    likelihood: dict[str, Any] = {
        "name": f"{meas_name}_likelihood",
        "distributions": [d["name"] for d in distributions],
        "data": [d["name"] for d in data],
    }
    if "lumi" in types and types["lumi"] == "lumi":
        distributions.append(
            {
                "name": LUMI_CONSTRAINT,
                "type": "gaussian_dist",
                "x": "nom_lumi",
                "mean": "lumi",
                "sigma": float(lumi_cfg["sigmas"][0]),
            }
        )
        likelihood["distributions"].append(LUMI_CONSTRAINT)
        likelihood["data"].append(float(lumi_cfg["auxdata"][0]))

    inits, bounds, fixed = (
        config.suggested_init(),
        config.suggested_bounds(),
        config.suggested_fixed(),
    )
    axes, values = [], []
    for name in config.par_order:
        sl = config.par_slice(name)
        for i, hs3 in enumerate(hs3_names[name]):
            k = sl.start + i
            axes.append({"name": hs3, "min": float(bounds[k][0]), "max": float(bounds[k][1])})
            value: dict[str, Any] = {"name": hs3, "value": float(inits[k])}
            if fixed[k]:
                value["const"] = True
            values.append(value)
    analysis: dict[str, Any] = {
        "name": meas_name,
        "likelihood": likelihood["name"],
        "domains": [f"{meas_name}_domain"],
        "init": PARAMETER_POINT,
    }
    if config.poi_name is not None:
        analysis["parameters_of_interest"] = [hs3_names[config.poi_name][0]]
    import relaxed  # here: relaxed imports this package while it initialises

    doc = {
        "distributions": distributions,
        "data": data,
        "likelihoods": [likelihood],
        "domains": [{"name": f"{meas_name}_domain", "type": "product_domain", "axes": axes}],
        "parameter_points": [{"name": PARAMETER_POINT, "parameters": values}],
        "analyses": [analysis],
        "metadata": {
            "hs3_version": "0.2",
            "packages": [{"name": "relaxed", "version": relaxed.__version__}],
        },
    }
    validate(doc)
    return doc
