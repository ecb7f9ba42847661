"""HS3 document -> pyhf workspace (:func:`to_pyhf`, :func:`pyhf_modifier_settings`)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from relaxed.hs3.errors import HS3NotSupported
from relaxed.hs3.vocabulary import PYHF_DEFAULT_CODES
from relaxed.hs3.workspace import HS3Workspace, load

__all__ = ["to_pyhf", "pyhf_modifier_settings"]

Document = Mapping[str, Any] | str | os.PathLike[str] | HS3Workspace


def to_pyhf(
    doc_or_workspace: Document,
    analysis: str | None = None,
    parameter_point: str | None = None,
    strict_interpolation: bool = True,
) -> dict[str, Any]:
    """A pyhf workspace (JSON schema 1.0.0) for an analysis of an HS3 document.

    One channel per ``histfactory_dist`` of the analysis's likelihood, its observations, and
    one measurement named after the analysis: its POI, bounds from its domains, inits and
    ``fixed`` (``const``) from the parameter point (as :meth:`HS3Workspace.model`).

    pyhf's JSON has no field for interpolation codes (they are ``modifier_settings`` of
    ``Workspace.model``, one code per modifier type). With ``strict_interpolation`` (default)
    a document whose codes are not pyhf's defaults (normsys code4, histosys code4p), or whose
    modifiers of one type use different codes, raises instead of losing them; with
    ``strict_interpolation=False`` pass :func:`pyhf_modifier_settings` to the model (relaxed's
    ``Workspace.model`` takes its per-modifier codes; pyhf takes only one code per type).

    Raises:
        relaxed.hs3.HS3NotSupported: what pyhf's format cannot express (a ``LogNormal`` or
            other non-pyhf constraint, a distribution other than ``histfactory_dist`` and a
            luminosity Gaussian, unbinned data, an interpolation pyhf cannot use for that
            modifier type, several POIs, ...), with its JSON path.
        relaxed.hs3.InvalidHS3: an unknown analysis, or several and none chosen.

    Example:
        >>> import relaxed
        >>> doc = {"metadata": {"hs3_version": "0.2"}, "distributions": [
        ...     {"name": "model_SR", "type": "histfactory_dist", "samples": [
        ...         {"name": "s", "data": {"contents": [5.0]},
        ...          "modifiers": [{"type": "normfactor", "parameter": "mu"},
        ...                        {"type": "normsys", "parameter": "a", "constraint": "LogNormal",
        ...                         "data": {"hi": 1.1, "lo": 0.9}}]}]}],
        ...     "data": [{"name": "obs", "type": "binned", "contents": [6.0],
        ...               "axes": [{"name": "x", "min": 0, "max": 1, "nbins": 1}]}],
        ...     "likelihoods": [{"name": "L", "distributions": ["model_SR"], "data": ["obs"]}]}
        >>> relaxed.hs3.to_pyhf(doc)
        Traceback (most recent call last):
        ...
        relaxed.hs3.errors.HS3NotSupported: distributions[0].samples[0].modifiers[1].constraint: ...
        >>> doc["distributions"][0]["samples"][0]["modifiers"][1]["constraint"] = "Gauss"
        >>> spec = relaxed.hs3.to_pyhf(doc)
        >>> spec["channels"][0]["name"], relaxed.Workspace(spec).model().config.par_order
        ('SR', ['mu', 'a'])
    """
    ws = load(doc_or_workspace)
    tr = ws.translation(analysis, parameter_point, purpose="pyhf")
    if strict_interpolation:
        for mtype, setting in tr.modifier_settings.items():
            if "per_modifier" in setting:
                overridden = sorted(set(setting["per_modifier"].values()))
                raise HS3NotSupported(
                    f"{mtype} interpolation {', '.join(overridden)} here but "
                    f"{setting['interpcode']} on other {mtype} modifiers: cannot be expressed "
                    "in pyhf's JSON format (pyhf applies one interpolation per modifier type); "
                    "call to_pyhf(..., strict_interpolation=False) and give "
                    "pyhf_modifier_settings(...) to relaxed's Workspace.model",
                    tr.override_paths[mtype],
                )
            code = setting["interpcode"]
            if code != PYHF_DEFAULT_CODES[mtype]:
                raise HS3NotSupported(
                    f"{mtype} interpolation {code}: cannot be expressed in pyhf's JSON format "
                    f"(it has no field for interpolation codes, and pyhf's default is "
                    f"{PYHF_DEFAULT_CODES[mtype]}); call to_pyhf(..., strict_interpolation="
                    "False) and give pyhf_modifier_settings(...) to Workspace.model",
                    tr.interpolation_paths.get(mtype) or "distributions",
                )
    return copy.deepcopy(dict(tr.spec))


def pyhf_modifier_settings(
    doc_or_workspace: Document, analysis: str | None = None
) -> dict[str, dict[str, Any]]:
    """pyhf's ``modifier_settings`` for the interpolations of an analysis (always both
    types, pyhf's defaults where the document gives none).

    Where modifiers of one type use different interpolations, the type's ``interpcode`` is
    the most common one and the others are listed under ``"per_modifier"``
    (``{"<channel>/<sample>/<modifier>": code}``, pyhf's names): relaxed's ``Model`` and
    ``Workspace.model`` take them; pyhf does not (it has one code per type).

    Example:
        >>> import relaxed
        >>> doc = {"metadata": {"hs3_version": "0.2"}, "distributions": [
        ...     {"name": "SR", "type": "histfactory_dist", "samples": [
        ...         {"name": "s", "data": {"contents": [5.0]}, "modifiers": [
        ...             {"type": "histosys", "parameter": "a", "interpolation": "lin",
        ...              "data": {"hi": {"contents": [6.0]}, "lo": {"contents": [4.0]}}}]}]}],
        ...     "data": [{"name": "obs", "type": "binned", "contents": [6.0],
        ...               "axes": [{"name": "x", "min": 0, "max": 1, "nbins": 1}]}],
        ...     "likelihoods": [{"name": "L", "distributions": ["SR"], "data": ["obs"]}]}
        >>> relaxed.hs3.pyhf_modifier_settings(doc)
        {'normsys': {'interpcode': 'code4'}, 'histosys': {'interpcode': 'code0'}}
    """
    tr = load(doc_or_workspace).translation(analysis, purpose="pyhf")
    return copy.deepcopy({t: dict(v) for t, v in tr.modifier_settings.items()})
