"""pyhf's measurement configuration (bounds, inits, fixed) of a translated HS3 likelihood."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from relaxed.exceptions import RelaxedError
from relaxed.histfactory import Model
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.selection import find
from relaxed.hs3.validate import Index

__all__ = ["domain_bounds", "measurement_config", "LUMI_DEFAULT_BOUNDS"]

#: Bounds of a lumi parameter that no domain mentions.
LUMI_DEFAULT_BOUNDS = (0.0, 10.0)


def domain_bounds(
    doc: Mapping[str, Any], index: Index, analysis: Mapping[str, Any] | None, apath: str | None
) -> dict[str, tuple[float, float, str]]:
    """Parameter -> (min, max, path) over the analysis's domains (``domains`` or ``domain``);
    a parameter with two different ranges is an error.

    Example:
        >>> from relaxed.hs3.validate import validate
        >>> doc = {"metadata": {"hs3_version": "0.2"}, "domains": [{"name": "D",
        ...     "type": "product_domain", "axes": [{"name": "x", "min": 0, "max": 2}]}],
        ...     "functions": [{"name": "f", "type": "generic_function", "expression": "x"}]}
        >>> domain_bounds(doc, validate(doc), {"domain": "D"}, "analyses[0]")
        {'x': (0.0, 2.0, 'domains[0].axes[0]')}
    """
    if analysis is None:
        return {}
    names = [analysis["domain"]] if "domain" in analysis else list(analysis.get("domains", []))
    bounds: dict[str, tuple[float, float, str]] = {}
    for name in names:
        domain, dpath = find(doc, index, "domains", name)
        for k, axis in enumerate(domain["axes"]):
            here = (float(axis["min"]), float(axis["max"]), f"{dpath}.axes[{k}]")
            previous = bounds.setdefault(axis["name"], here)
            if previous[:2] != here[:2]:
                raise InvalidHS3(
                    f"parameter '{axis['name']}' has range [{here[0]}, {here[1]}] here but "
                    f"[{previous[0]}, {previous[1]}] at {previous[2]} (domains of {apath})",
                    here[2],
                )
    return bounds


def measurement_config(
    unsupported: Callable[[str, str], HS3NotSupported],
    spec_channels: list[dict[str, Any]],
    names: Mapping[str, tuple[str, int]],
    bounds: Mapping[str, tuple[float, float, str]],
    values: Mapping[str, Mapping[str, Any]],
    ppath: str | None,
    lumi_cfg: Mapping[str, Any],
    point: Mapping[str, Any] | None,
    modifier_settings: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """pyhf's parameter configuration: the engine's defaults (from a first model) overridden
    by the domains (``bounds``: parameter -> (min, max, path)) and the parameter point
    (``values``: parameter -> its entry; inits, ``const`` -> fixed). ``names`` maps HS3
    parameters to (pyhf set, component); a point fixing only some components of a set that
    the engine does not fix anyway raises ``unsupported(path, what)``. ``modifier_settings``:
    the models' (their staterror thresholds fix bins).

    Example:
        >>> from relaxed.hs3.errors import HS3NotSupported
        >>> channels = [{"name": "SR", "samples": [{"name": "s", "data": [5.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]
        >>> measurement_config(HS3NotSupported, channels, {"mu": ("mu", 0)},
        ...     {"mu": (0.0, 3.0, "domains[0].axes[0]")},
        ...     {"mu": {"name": "mu", "value": 2.0, "const": True}}, "parameter_points[0]", {},
        ...     None)
        [{'name': 'mu', 'bounds': [[0.0, 3.0]], 'inits': [2.0], 'fixed': True}]
    """
    prelim_cfg = []
    if lumi_cfg:
        aux = lumi_cfg["auxdata"][0]
        prelim_cfg.append({**lumi_cfg, "inits": [aux], "bounds": [list(LUMI_DEFAULT_BOUNDS)]})
    try:
        prelim = Model(
            {"channels": spec_channels, "parameters": prelim_cfg},
            poi_name=None,
            modifier_settings=modifier_settings,
        )
    except RelaxedError as err:
        raise InvalidHS3(f"the pyhf translation is invalid: {err}", "likelihoods") from err
    cfg = prelim.config
    init, bnds, fixed = cfg.suggested_init(), cfg.suggested_bounds(), cfg.suggested_fixed()
    components: dict[str, list[str | None]] = {
        name: [None] * (cfg.par_slice(name).stop - cfg.par_slice(name).start)
        for name in cfg.par_order
    }
    for p, (name, i) in names.items():
        components[name][i] = p
    point_index = {}
    if point is not None:
        point_index = {par["name"]: k for k, par in enumerate(point["parameters"])}
    out = []
    for name in cfg.par_order:
        sl = cfg.par_slice(name)
        comps = components[name]
        entry: dict[str, Any] = {"name": name}
        if name == "lumi" and lumi_cfg:
            entry.update(lumi_cfg)
            entry["inits"] = [lumi_cfg["auxdata"][0]]
            entry["bounds"] = [list(LUMI_DEFAULT_BOUNDS)]
        if any(p in bounds for p in comps):
            entry["bounds"] = [
                list(bounds[p][:2]) if p in bounds else list(bnds[sl.start + i])
                for i, p in enumerate(comps)
            ]
        if any(p in values for p in comps):
            entry["inits"] = [
                float(values[p]["value"]) if p in values else init[sl.start + i]
                for i, p in enumerate(comps)
            ]
        const = [bool(values[p].get("const", False)) if p in values else False for p in comps]
        if all(const):
            entry["fixed"] = True
        elif any(const):
            for i, p in enumerate(comps):
                if const[i] and not fixed[sl.start + i]:
                    raise unsupported(
                        f"{ppath}.parameters[{point_index[p]}].const",
                        f"parameter point '{point['name'] if point else ''}' fixes '{p}' but not "
                        f"the other parameters of the pyhf parameter set '{name}' (pyhf fixes "
                        "whole sets)",
                    )
        if len(entry) > 1:
            out.append(entry)
    return out
