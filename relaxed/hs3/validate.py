"""Structural checks of an HS3 document, run once when it is loaded.

:func:`validate` checks every top-level component (required fields, types, references between
components, bin counts) and returns an :class:`Index` of names and bin counts that the rest of
the package relies on. Nothing numerical is built here: every error is raised before any model
exists, with the JSON path of the offending place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from relaxed.exceptions import InvalidExpression
from relaxed.histfactory.modifiers import UNITS
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.vocabulary import (
    CONSTRAINTS,
    DATA_TYPES,
    DISTRIBUTION_TYPES,
    DOMAIN_TYPES,
    INTERPOLATION_NAMES,
    MODIFIER_TYPES,
    SCALAR_MODIFIERS,
    modifier_parameters,
    strip_channel_prefix,
)
from relaxed.unbinned.expressions import parse_expression

__all__ = ["Index", "validate", "referenced_names", "TOP_LEVEL"]

#: The standard's top-level components.
TOP_LEVEL = (
    "distributions",
    "functions",
    "data",
    "likelihoods",
    "domains",
    "parameter_points",
    "analyses",
    "metadata",
    "misc",
)
_ARRAYS = TOP_LEVEL[:7]


@dataclass(frozen=True)
class Index:
    """Names and sizes of a validated document.

    Attributes:
        positions: per array component, ``{name: position}``.
        nbins: bins of each ``histfactory_dist`` and each ``binned`` data set, by name.
        sample_names: sample names of each ``histfactory_dist`` (defaults filled in).
        parameters: parameters of the HistFactory modifiers, in document order.
        known: every name a domain or parameter point may mention: those parameters, names
            referenced by other distributions and functions, function names, observables.
    """

    positions: Mapping[str, Mapping[str, int]]
    nbins: Mapping[str, int]
    sample_names: Mapping[str, tuple[str, ...]]
    parameters: tuple[str, ...]
    known: frozenset[str]


def _fail(path: str, message: str) -> InvalidHS3:
    return InvalidHS3(message, path)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _mapping(value: Any, path: str, what: str = "an object") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected {what}, got {type(value).__name__}")
    return value


def _list(value: Any, path: str, what: str = "an array") -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _fail(path, f"expected {what}, got {type(value).__name__}")
    return value


def _required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise _fail(path, f"missing required field '{key}'")
    return obj[key]


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"expected a non-empty string, got {value!r}")
    return value


def _numbers(value: Any, path: str, nonnegative: bool = False) -> list[float]:
    items = _list(value, path, "an array of numbers")
    for k, v in enumerate(items):
        if not _is_number(v):
            raise _fail(f"{path}[{k}]", f"expected a finite number, got {v!r}")
        if nonnegative and v < 0:
            raise _fail(f"{path}[{k}]", f"expected a number >= 0, got {v!r}")
    return [float(v) for v in items]


def _axis_bins(axis: Any, path: str, binning_required: bool) -> int | None:
    """Number of bins of one axis (``nbins`` or ``edges``), ``None`` when it has neither
    and binning is optional."""
    axis = _mapping(axis, path)
    _string(_required(axis, "name", path), f"{path}.name")
    for key in ("min", "max"):
        if key in axis and not _is_number(axis[key]):
            raise _fail(f"{path}.{key}", f"expected a finite number, got {axis[key]!r}")
    if "min" in axis and "max" in axis and not axis["min"] < axis["max"]:
        raise _fail(path, f"min ({axis['min']}) must be below max ({axis['max']})")
    if "nbins" in axis and "edges" in axis:
        raise _fail(path, "give either 'nbins' or 'edges', not both")
    if "nbins" in axis:
        n = axis["nbins"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise _fail(f"{path}.nbins", f"expected a positive integer, got {n!r}")
        return n
    if "edges" in axis:
        edges = _numbers(axis["edges"], f"{path}.edges")
        if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise _fail(f"{path}.edges", "expected at least two strictly increasing edges")
        return len(edges) - 1
    if binning_required:
        raise _fail(path, "missing required field 'nbins' (or 'edges')")
    return None


def _axes_bins(axes: Any, path: str, binning_required: bool) -> int | None:
    """Total bins of an ``axes`` array (product over axes), ``None`` if not all are binned."""
    items = _list(axes, path)
    if not items:
        raise _fail(path, "expected at least one axis")
    counts = [_axis_bins(a, f"{path}[{k}]", binning_required) for k, a in enumerate(items)]
    if any(c is None for c in counts):
        return None
    return math.prod(c for c in counts if c is not None)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def referenced_names(obj: Mapping[str, Any]) -> Iterator[str]:
    """Names a non-HistFactory distribution or a function may refer to (``a.b`` -> ``a``).

    Example:
        >>> list(referenced_names({"name": "g", "type": "gaussian_dist", "x": "obs",
        ...                        "mean": "f.value", "sigma": 1.0}))
        ['obs', 'f']
    """
    for key, value in obj.items():
        if key in ("name", "type"):
            continue
        for s in _strings(value):
            yield s.split(".")[0] if "." in s and not s.replace(".", "").isdigit() else s


def _expression_names(obj: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """The names in the ``expression`` of a ``generic_function``/``generic_dist`` (parsed:
    a syntax error is an invalid document), or none for other types."""
    if obj.get("type") not in ("generic_function", "generic_dist"):
        return ()
    text = _required(obj, "expression", path)
    if not isinstance(text, str):
        raise _fail(f"{path}.expression", f"expected a string, got {text!r}")
    try:
        return parse_expression(text).parameters
    except InvalidExpression as err:
        raise _fail(f"{path}.expression", str(err)) from err


def _check_interpolation(value: Any, path: str) -> None:
    if isinstance(value, str):
        if value not in INTERPOLATION_NAMES:
            raise _fail(
                path,
                f"unknown interpolation '{value}'; the standard's are "
                + ", ".join(INTERPOLATION_NAMES),
            )
    elif isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 6:
            raise _fail(path, f"unknown interpolation code {value} (ROOT's codes are 0 to 6)")
    elif isinstance(value, Mapping):
        for key in ("type", "in"):
            if not isinstance(value.get(key), str):
                raise _fail(f"{path}.{key}", "missing required field (a string)")
        if value.get("out") is not None and not isinstance(value["out"], str):
            raise _fail(f"{path}.out", f"expected a string or null, got {value['out']!r}")
    else:
        raise _fail(path, f"expected an interpolation name, got {value!r}")


def _check_modifier(mod: Any, path: str, nbins: int, sample: Mapping[str, Any], spath: str) -> None:
    mod = _mapping(mod, path)
    mtype = _string(_required(mod, "type", path), f"{path}.type")
    if mtype not in MODIFIER_TYPES:
        raise _fail(
            f"{path}.type",
            f"unknown modifier type '{mtype}'; the standard's are " + ", ".join(MODIFIER_TYPES),
        )
    if "name" in mod:
        _string(mod["name"], f"{path}.name")
    if mtype in SCALAR_MODIFIERS:
        if "parameters" in mod:
            raise _fail(
                f"{path}.parameters", f"a {mtype} modifier has one 'parameter', not 'parameters'"
            )
        if "parameter" in mod:
            _string(mod["parameter"], f"{path}.parameter")
        elif "name" not in mod:
            raise _fail(path, "missing required field 'parameter' (or 'name')")
    else:
        if "parameter" in mod:
            raise _fail(
                f"{path}.parameter",
                f"a {mtype} modifier has one parameter per bin: give 'parameters'",
            )
        if "parameters" in mod:
            names = _list(mod["parameters"], f"{path}.parameters")
            for k, n in enumerate(names):
                _string(n, f"{path}.parameters[{k}]")
            if len(names) != nbins:
                raise _fail(
                    f"{path}.parameters",
                    f"{len(names)} parameters for a distribution of {nbins} bins",
                )
            if len(set(names)) != len(names):
                raise _fail(f"{path}.parameters", "a parameter name appears twice")
        elif "name" not in mod:
            raise _fail(path, "missing required field 'parameters' (or 'name')")
    if "constraint" in mod and mod["constraint"] is not None:
        if mod["constraint"] not in CONSTRAINTS:
            raise _fail(
                f"{path}.constraint",
                f"unknown constraint {mod['constraint']!r}; the standard's are Gauss, Poisson "
                "and LogNormal",
            )
    if "constraint_name" in mod:
        _string(mod["constraint_name"], f"{path}.constraint_name")
    if "interpolation" in mod:
        if UNITS[mtype].interpolation is None:
            raise _fail(f"{path}.interpolation", f"a {mtype} modifier has no interpolation")
        _check_interpolation(mod["interpolation"], f"{path}.interpolation")
    dpath = f"{path}.data"
    if mtype == "normsys":
        data = _mapping(_required(mod, "data", path), dpath)
        for key in ("hi", "lo"):
            value = _required(data, key, dpath)
            if not _is_number(value):
                raise _fail(f"{dpath}.{key}", f"expected a finite number, got {value!r}")
    elif mtype == "histosys":
        data = _mapping(_required(mod, "data", path), dpath)
        for key in ("hi", "lo"):
            side = _mapping(_required(data, key, dpath), f"{dpath}.{key}")
            cpath = f"{dpath}.{key}.contents"
            values = _numbers(_required(side, "contents", f"{dpath}.{key}"), cpath)
            if len(values) != nbins:
                raise _fail(cpath, f"{len(values)} bins but the distribution has {nbins}")
    elif mtype == "shapesys":
        data = _mapping(_required(mod, "data", path), dpath)
        vals = _numbers(_required(data, "vals", dpath), f"{dpath}.vals", nonnegative=True)
        if len(vals) != nbins:
            raise _fail(f"{dpath}.vals", f"{len(vals)} bins but the distribution has {nbins}")
    elif mtype == "staterror" and "errors" not in sample["data"]:
        raise _fail(
            f"{spath}.data",
            f"missing required field 'errors' (the staterror modifier at {path} needs them)",
        )


def _check_histfactory(dist: Mapping[str, Any], path: str) -> tuple[int, tuple[str, ...]]:
    """Check a ``histfactory_dist``; returns its number of bins and its sample names."""
    axes_bins = _axes_bins(dist["axes"], f"{path}.axes", False) if "axes" in dist else None
    samples = _list(_required(dist, "samples", path), f"{path}.samples")
    if not samples:
        raise _fail(f"{path}.samples", "a histfactory_dist needs at least one sample")
    nbins = axes_bins
    names: list[str] = []
    for j, sample in enumerate(samples):
        spath = f"{path}.samples[{j}]"
        sample = _mapping(sample, spath)
        name = _string(sample["name"], f"{spath}.name") if "name" in sample else f"sample_{j}"
        if name in names:
            raise _fail(f"{spath}.name", f"sample '{name}' appears twice in this distribution")
        names.append(name)
        data = _mapping(_required(sample, "data", spath), f"{spath}.data")
        contents = _numbers(_required(data, "contents", f"{spath}.data"), f"{spath}.data.contents")
        if nbins is None:
            nbins = len(contents)
            if nbins == 0:
                raise _fail(f"{spath}.data.contents", "a sample needs at least one bin")
        if len(contents) != nbins:
            where = "the axes give" if axes_bins is not None else "the first sample has"
            raise _fail(f"{spath}.data.contents", f"{len(contents)} bins but {where} {nbins} bins")
        if "errors" in data:
            errors = _numbers(data["errors"], f"{spath}.data.errors", nonnegative=True)
            if len(errors) != nbins:
                raise _fail(
                    f"{spath}.data.errors", f"{len(errors)} errors for {nbins} bins of contents"
                )
        mods = _list(sample.get("modifiers", []), f"{spath}.modifiers")
        for k, mod in enumerate(mods):
            _check_modifier(mod, f"{spath}.modifiers[{k}]", nbins, sample, spath)
    if "staterror" in dist:
        cfg = _mapping(dist["staterror"], f"{path}.staterror")
        if "relThreshold" in cfg and not _is_number(cfg["relThreshold"]):
            raise _fail(f"{path}.staterror.relThreshold", "expected a finite number")
        if "constraint" in cfg and cfg["constraint"] not in CONSTRAINTS:
            raise _fail(f"{path}.staterror.constraint", f"unknown constraint {cfg['constraint']!r}")
    return (nbins or 0), tuple(names)


def _check_names(doc: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    positions: dict[str, dict[str, int]] = {}
    shared: dict[str, str] = {}  # distributions and functions share one namespace
    for key in _ARRAYS:
        items = _list(doc.get(key, []), key)
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            item = _mapping(item, f"{key}[{i}]")
            name = _string(_required(item, "name", f"{key}[{i}]"), f"{key}[{i}].name")
            if name in seen:
                raise _fail(
                    f"{key}[{i}].name", f"'{name}' is defined twice (also {key}[{seen[name]}])"
                )
            if key in ("distributions", "functions"):
                if name in shared:
                    raise _fail(f"{key}[{i}].name", f"'{name}' is also defined at {shared[name]}")
                shared[name] = f"{key}[{i}]"
            seen[name] = i
        positions[key] = seen
    return positions


def validate(doc: Any) -> Index:
    """Check an HS3 document's structure and references; return its :class:`Index`.

    Raises:
        relaxed.hs3.InvalidHS3: the first problem found, with its JSON path.
        relaxed.hs3.HS3NotSupported: an ``hs3_version`` other than 0.x.

    Example:
        >>> doc = {"metadata": {"hs3_version": "0.2"}, "data": [
        ...     {"name": "obs", "type": "binned", "contents": [1, 2],
        ...      "axes": [{"name": "x", "min": 0, "max": 1, "nbins": 3}]}]}
        >>> validate(doc)
        Traceback (most recent call last):
        ...
        relaxed.hs3.errors.InvalidHS3: data[0].contents: 2 contents for 3 bins of the axes
    """
    doc = _mapping(doc, "", "an HS3 document (a JSON object)")
    for key in doc:
        if key not in TOP_LEVEL:
            raise _fail(
                str(key), "unknown top-level component; the standard's are " + ", ".join(TOP_LEVEL)
            )
    metadata = _mapping(_required(doc, "metadata", "(document)"), "metadata")
    version = _required(metadata, "hs3_version", "metadata")
    if not isinstance(version, str):
        raise _fail("metadata.hs3_version", f"expected a string, got {version!r}")
    if not version.startswith("0."):
        raise HS3NotSupported(
            f"HS3 version {version!r} is not supported yet (relaxed reads version 0.x)",
            "metadata.hs3_version",
        )
    if "misc" in doc:
        _mapping(doc["misc"], "misc")
    positions = _check_names(doc)

    nbins: dict[str, int] = {}
    sample_names: dict[str, tuple[str, ...]] = {}
    parameters: dict[str, None] = {}
    known: set[str] = set(positions["functions"])
    dists = doc.get("distributions", [])
    for i, dist in enumerate(dists):
        path = f"distributions[{i}]"
        dtype = _string(_required(dist, "type", path), f"{path}.type")
        if dtype not in DISTRIBUTION_TYPES:
            raise _fail(
                f"{path}.type",
                f"unknown distribution type '{dtype}'; the standard's types are "
                + ", ".join(sorted(DISTRIBUTION_TYPES)),
            )
        if dtype == "histfactory_dist":
            n, names = _check_histfactory(dist, path)
            nbins[dist["name"]] = n
            sample_names[dist["name"]] = names
            channel = strip_channel_prefix(dist["name"])
            for axis in dist.get("axes", []):
                known.add(axis["name"])
            for j, sample in enumerate(dist["samples"]):
                for k, mod in enumerate(sample.get("modifiers", [])):
                    for p in modifier_parameters(mod, n, channel):
                        parameters[p] = None
                    if (
                        "constraint_name" in mod
                        and mod["constraint_name"] not in positions["distributions"]
                    ):
                        raise _fail(
                            f"{path}.samples[{j}].modifiers[{k}].constraint_name",
                            f"unknown distribution '{mod['constraint_name']}'",
                        )
        else:
            known.update(referenced_names(dist))
            known.update(_expression_names(dist, path))
    for i, function in enumerate(doc.get("functions", [])):
        _string(_required(function, "type", f"functions[{i}]"), f"functions[{i}].type")
        known.update(referenced_names(function))
        known.update(_expression_names(function, f"functions[{i}]"))
    known.update(parameters)

    for i, data in enumerate(doc.get("data", [])):
        path = f"data[{i}]"
        dtype = _string(_required(data, "type", path), f"{path}.type")
        if dtype not in DATA_TYPES:
            raise _fail(
                f"{path}.type",
                f"unknown data type '{dtype}'; the standard's are " + ", ".join(sorted(DATA_TYPES)),
            )
        if dtype == "binned":
            n = _axes_bins(_required(data, "axes", path), f"{path}.axes", True)
            contents = _numbers(_required(data, "contents", path), f"{path}.contents")
            if len(contents) != n:
                raise _fail(
                    f"{path}.contents", f"{len(contents)} contents for {n} bins of the axes"
                )
            nbins[data["name"]] = int(n or 0)
        elif dtype == "point":
            if not _is_number(_required(data, "value", path)):
                raise _fail(f"{path}.value", f"expected a finite number, got {data['value']!r}")
        elif dtype == "unbinned":
            _list(_required(data, "entries", path), f"{path}.entries")
        for axis in data.get("axes", []) if isinstance(data.get("axes"), (list, tuple)) else []:
            if isinstance(axis, Mapping) and isinstance(axis.get("name"), str):
                known.add(axis["name"])

    _check_likelihoods(doc, positions, nbins)
    _check_domains(doc, known)
    _check_parameter_points(doc, known)
    _check_analyses(doc, positions, known)
    return Index(
        positions=positions,
        nbins=nbins,
        sample_names=sample_names,
        parameters=tuple(parameters),
        known=frozenset(known),
    )


def _check_likelihoods(
    doc: Mapping[str, Any], positions: Mapping[str, Mapping[str, int]], nbins: Mapping[str, int]
) -> None:
    dists = positions["distributions"]
    data_sets = positions["data"]
    for i, lh in enumerate(doc.get("likelihoods", [])):
        path = f"likelihoods[{i}]"
        names = _list(_required(lh, "distributions", path), f"{path}.distributions")
        refs = _list(_required(lh, "data", path), f"{path}.data")
        if len(names) != len(refs):
            raise _fail(
                f"{path}.data",
                f"{len(refs)} data entries for {len(names)} distributions (one each is needed)",
            )
        for k, (name, ref) in enumerate(zip(names, refs, strict=True)):
            _string(name, f"{path}.distributions[{k}]")
            if name not in dists:
                raise _fail(
                    f"{path}.distributions[{k}]",
                    f"unknown distribution '{name}'; the document has {sorted(dists)}",
                )
            if _is_number(ref):
                continue
            if not isinstance(ref, str) or ref not in data_sets:
                raise _fail(
                    f"{path}.data[{k}]",
                    f"unknown data set {ref!r}; the document has {sorted(data_sets)}",
                )
            if name in nbins and ref in nbins and nbins[name] != nbins[ref]:
                raise _fail(
                    f"{path}.data[{k}]",
                    f"data set '{ref}' has {nbins[ref]} bins but distribution '{name}' has "
                    f"{nbins[name]}",
                )
        for k, name in enumerate(
            _list(lh.get("aux_distributions", []), f"{path}.aux_distributions")
        ):
            if name not in dists:
                raise _fail(f"{path}.aux_distributions[{k}]", f"unknown distribution {name!r}")


def _check_domains(doc: Mapping[str, Any], known: frozenset[str] | set[str]) -> None:
    for i, domain in enumerate(doc.get("domains", [])):
        path = f"domains[{i}]"
        dtype = _required(domain, "type", path)
        if dtype not in DOMAIN_TYPES:
            raise _fail(f"{path}.type", f"unknown domain type {dtype!r}; expected product_domain")
        for k, axis in enumerate(_list(_required(domain, "axes", path), f"{path}.axes")):
            apath = f"{path}.axes[{k}]"
            axis = _mapping(axis, apath)
            name = _string(_required(axis, "name", apath), f"{apath}.name")
            if name not in known:
                raise _fail(f"{apath}.name", f"unknown parameter '{name}'")
            for key in ("min", "max"):
                if not _is_number(_required(axis, key, apath)):
                    raise _fail(f"{apath}.{key}", f"expected a finite number, got {axis[key]!r}")
            if axis["min"] > axis["max"]:
                raise _fail(apath, f"min ({axis['min']}) is above max ({axis['max']})")


def _check_parameter_points(doc: Mapping[str, Any], known: frozenset[str] | set[str]) -> None:
    for i, point in enumerate(doc.get("parameter_points", [])):
        path = f"parameter_points[{i}]"
        seen: set[str] = set()
        for k, par in enumerate(_list(_required(point, "parameters", path), f"{path}.parameters")):
            ppath = f"{path}.parameters[{k}]"
            par = _mapping(par, ppath)
            name = _string(_required(par, "name", ppath), f"{ppath}.name")
            if name not in known:
                raise _fail(f"{ppath}.name", f"unknown parameter '{name}'")
            if name in seen:
                raise _fail(f"{ppath}.name", f"parameter '{name}' appears twice in this point")
            seen.add(name)
            if not _is_number(_required(par, "value", ppath)):
                raise _fail(f"{ppath}.value", f"expected a finite number, got {par['value']!r}")
            if "const" in par and not isinstance(par["const"], bool):
                raise _fail(f"{ppath}.const", f"expected true or false, got {par['const']!r}")


def _check_analyses(
    doc: Mapping[str, Any],
    positions: Mapping[str, Mapping[str, int]],
    known: frozenset[str] | set[str],
) -> None:
    for i, analysis in enumerate(doc.get("analyses", [])):
        path = f"analyses[{i}]"
        lh = _required(analysis, "likelihood", path)
        if lh not in positions["likelihoods"]:
            raise _fail(f"{path}.likelihood", f"unknown likelihood {lh!r}")
        pois = _list(analysis.get("parameters_of_interest", []), f"{path}.parameters_of_interest")
        for k, poi in enumerate(pois):
            if poi not in known:
                raise _fail(f"{path}.parameters_of_interest[{k}]", f"unknown parameter {poi!r}")
        domains = analysis.get("domains", [])
        if "domain" in analysis:
            domains = [analysis["domain"]]
            key = "domain"
        else:
            key = "domains"
        for k, name in enumerate(_list(domains, f"{path}.{key}")):
            where = f"{path}.domains[{k}]" if key == "domains" else f"{path}.domain"
            if name not in positions["domains"]:
                raise _fail(where, f"unknown domain {name!r}")
        if "init" in analysis and analysis["init"] not in positions["parameter_points"]:
            raise _fail(f"{path}.init", f"unknown parameter point {analysis['init']!r}")
        if "prior" in analysis and analysis["prior"] not in positions["distributions"]:
            raise _fail(f"{path}.prior", f"unknown distribution {analysis['prior']!r}")
