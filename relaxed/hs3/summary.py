"""Printable summary and dependency graph of an HS3 document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaxed.hs3.validate import Index, referenced_names
from relaxed.hs3.vocabulary import modifier_parameters, strip_channel_prefix

__all__ = ["graph", "summary"]


def graph(doc: Mapping[str, Any], index: Index) -> dict[str, dict[str, tuple[str, ...]]]:
    """What each distribution depends on: ``{distribution: {dependency: parameters}}``.

    For a ``histfactory_dist`` the dependencies are its modifiers, labelled
    ``"<sample>/<type>:<name>"``, each with the parameters that control it; for other
    distributions they are their fields (``"mean"``, ``"sigma"``, ...) with the names they
    refer to.

    Example:
        >>> from relaxed.hs3 import load
        >>> ws = load({"metadata": {"hs3_version": "0.2"}, "distributions": [
        ...     {"name": "c", "type": "histfactory_dist", "samples": [{"name": "s",
        ...      "data": {"contents": [1.0]},
        ...      "modifiers": [{"type": "normfactor", "name": "mu", "parameter": "mu"}]}]}]})
        >>> ws.graph()
        {'c': {'s/normfactor:mu': ('mu',)}}
    """
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for dist in doc.get("distributions", []):
        deps: dict[str, tuple[str, ...]] = {}
        if dist["type"] == "histfactory_dist":
            name = dist["name"]
            for j, sample in enumerate(dist["samples"]):
                sname = index.sample_names[name][j]
                for mod in sample.get("modifiers", []):
                    params = modifier_parameters(mod, index.nbins[name], strip_channel_prefix(name))
                    label = mod.get("name") or params[0]
                    deps[f"{sname}/{mod['type']}:{label}"] = params
        else:
            for key, value in dist.items():
                if key in ("name", "type"):
                    continue
                names = tuple(referenced_names({key: value}))
                if names:
                    deps[key] = names
        out[dist["name"]] = deps
    return out


def _number(value: float) -> str:
    return f"{value:.6g}"


def summary(doc: Mapping[str, Any], index: Index) -> str:
    """A printable overview: distributions (type, bins, samples and their modifiers),
    functions, parameters (domains and parameter-point values), data, likelihoods, analyses.

    Example:
        >>> from relaxed.hs3 import load
        >>> ws = load({"metadata": {"hs3_version": "0.2"}, "distributions": [
        ...     {"name": "c", "type": "histfactory_dist", "samples": [{"name": "s",
        ...      "data": {"contents": [1.0]},
        ...      "modifiers": [{"type": "normfactor", "name": "mu", "parameter": "mu"}]}]}],
        ...     "parameter_points": [{"name": "start", "parameters": [
        ...         {"name": "mu", "value": 1.0}]}]})
        >>> print(ws.summary())  # doctest: +NORMALIZE_WHITESPACE
        HS3 document, hs3_version 0.2
        Distributions (1)
          c: histfactory_dist, 1 bin, 1 sample
            s: normfactor mu
        Functions (0)
        Parameters (1)
          mu: start=1
        Data (0)
        Likelihoods (0)
        Analyses (0)
    """
    lines = [f"HS3 document, hs3_version {doc['metadata']['hs3_version']}"]
    dists = doc.get("distributions", [])
    lines.append(f"Distributions ({len(dists)})")
    for dist in dists:
        name = dist["name"]
        if dist["type"] == "histfactory_dist":
            n, samples = index.nbins[name], dist["samples"]
            lines.append(
                f"  {name}: histfactory_dist, {n} bin{'s' * (n != 1)}, {len(samples)} "
                f"sample{'s' * (len(samples) != 1)}"
            )
            for j, sample in enumerate(samples):
                mods = []
                for mod in sample.get("modifiers", []):
                    params = modifier_parameters(mod, n, strip_channel_prefix(name))
                    label = mod.get("name") or params[0]
                    extra = (
                        f" [{', '.join(params)}]" if len(params) > 1 or label != params[0] else ""
                    )
                    mods.append(f"{mod['type']} {label}{extra}")
                sname = index.sample_names[name][j]
                lines.append(f"    {sname}: {', '.join(mods) if mods else '(no modifiers)'}")
        else:
            fields = ", ".join(f"{k}={v}" for k, v in dist.items() if k not in ("name", "type"))
            lines.append(f"  {name}: {dist['type']}" + (f" ({fields})" if fields else ""))
    functions = doc.get("functions", [])
    lines.append(f"Functions ({len(functions)})")
    lines.extend(f"  {f['name']}: {f['type']}" for f in functions)

    ranges: dict[str, list[str]] = {}
    for domain in doc.get("domains", []):
        for axis in domain["axes"]:
            ranges.setdefault(axis["name"], []).append(
                f"[{_number(axis['min'])}, {_number(axis['max'])}] ({domain['name']})"
            )
    values: dict[str, list[str]] = {}
    for point in doc.get("parameter_points", []):
        for par in point["parameters"]:
            const = " const" if par.get("const") else ""
            values.setdefault(par["name"], []).append(
                f"{point['name']}={_number(par['value'])}{const}"
            )
    names = list(index.parameters) + sorted((set(ranges) | set(values)) - set(index.parameters))
    lines.append(f"Parameters ({len(names)})")
    for p in names:
        parts = [", ".join(ranges.get(p, [])), ", ".join(values.get(p, []))]
        text = "; ".join(x for x in parts if x)
        lines.append(f"  {p}: {text}" if text else f"  {p}")

    data = doc.get("data", [])
    lines.append(f"Data ({len(data)})")
    for d in data:
        size = f", {len(d['contents'])} bins" if d["type"] == "binned" else ""
        lines.append(f"  {d['name']}: {d['type']}{size}")
    likelihoods = doc.get("likelihoods", [])
    lines.append(f"Likelihoods ({len(likelihoods)})")
    for lh in likelihoods:
        pairs = ", ".join(
            f"{dist} <- {ref}" for dist, ref in zip(lh["distributions"], lh["data"], strict=True)
        )
        lines.append(f"  {lh['name']}: {pairs}")
    analyses = doc.get("analyses", [])
    lines.append(f"Analyses ({len(analyses)})")
    for a in analyses:
        domains = [a["domain"]] if "domain" in a else list(a.get("domains", []))
        pois = list(a.get("parameters_of_interest", []))
        text = f"  {a['name']}: likelihood {a['likelihood']}, POI {', '.join(pois) or '-'}"
        if domains:
            text += f", domains {', '.join(domains)}"
        if "init" in a:
            text += f", init {a['init']}"
        lines.append(text)
    return "\n".join(lines)
