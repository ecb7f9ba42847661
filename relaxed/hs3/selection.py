"""Which analysis, likelihood and parameter point of an HS3 document to use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaxed.hs3.errors import InvalidHS3
from relaxed.hs3.validate import Index

__all__ = ["find", "select_analysis", "select_parameter_point"]


def find(doc: Mapping[str, Any], index: Index, key: str, name: str) -> tuple[Any, str]:
    """The object called ``name`` in the top-level array ``key``, and its JSON path.

    Example:
        >>> from relaxed.hs3.validate import validate
        >>> doc = {"metadata": {"hs3_version": "0.2"},
        ...        "data": [{"name": "p", "type": "point", "value": 2.0}]}
        >>> find(doc, validate(doc), "data", "p")
        ({'name': 'p', 'type': 'point', 'value': 2.0}, 'data[0]')
    """
    pos = index.positions[key][name]
    return doc[key][pos], f"{key}[{pos}]"


def select_analysis(
    doc: Mapping[str, Any], index: Index, analysis: str | None
) -> tuple[Mapping[str, Any] | None, str | None, Mapping[str, Any], str]:
    """The analysis to use (given, or the only one) and its likelihood, with their paths.

    Without analyses, the only likelihood is used. Several analyses and none chosen is an
    error that lists their names.

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
        >>> analysis, apath, likelihood, lpath = select_analysis(doc, validate(doc), None)
        >>> analysis["name"], apath, likelihood["name"], lpath
        ('m', 'analyses[0]', 'm_likelihood', 'likelihoods[0]')
    """
    analyses = index.positions["analyses"]
    if analysis is not None:
        if analysis not in analyses:
            raise InvalidHS3(
                f"unknown analysis '{analysis}'; the document has {list(analyses)}", "analyses"
            )
        chosen, apath = find(doc, index, "analyses", analysis)
    elif len(analyses) == 1:
        chosen, apath = find(doc, index, "analyses", next(iter(analyses)))
    elif analyses:
        raise InvalidHS3(
            f"the document has {len(analyses)} analyses, {list(analyses)}; choose one with "
            "analysis=...",
            "analyses",
        )
    else:
        likelihoods = index.positions["likelihoods"]
        if len(likelihoods) != 1:
            raise InvalidHS3(
                f"the document has no analysis and {len(likelihoods)} likelihoods "
                f"{list(likelihoods)}; a model needs an analysis or a single likelihood",
                "likelihoods",
            )
        lh, lpath = find(doc, index, "likelihoods", next(iter(likelihoods)))
        return None, None, lh, lpath
    lh, lpath = find(doc, index, "likelihoods", chosen["likelihood"])
    return chosen, apath, lh, lpath


def select_parameter_point(
    doc: Mapping[str, Any],
    index: Index,
    analysis: Mapping[str, Any] | None,
    parameter_point: str | None,
    ambiguous_ok: bool = False,
) -> tuple[Mapping[str, Any] | None, str | None]:
    """The parameter point to use: the one given, else the analysis's ``init``, else the only
    one, else ``default_values`` (ROOT's name); no point at all gives pyhf's defaults (as does
    an ambiguous choice when ``ambiguous_ok``).

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
        >>> point, path = select_parameter_point(doc, validate(doc), None, None)
        >>> point["name"], path
        ('default_values', 'parameter_points[0]')
    """
    points = index.positions["parameter_points"]
    name = parameter_point
    if name is None and analysis is not None and "init" in analysis:
        name = analysis["init"]
    if name is None:
        if not points:
            return None, None
        if len(points) == 1:
            name = next(iter(points))
        elif "default_values" in points:
            name = "default_values"
        elif ambiguous_ok:
            return None, None
        else:
            raise InvalidHS3(
                f"the document has {len(points)} parameter points, {list(points)}; choose one "
                "with parameter_point=...",
                "parameter_points",
            )
    if name not in points:
        raise InvalidHS3(
            f"unknown parameter point '{name}'; the document has {list(points)}",
            "parameter_points",
        )
    return find(doc, index, "parameter_points", name)
