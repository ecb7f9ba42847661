r"""The model of an HS3 likelihood with unbinned pairs: a :class:`relaxed.combined.CombinedModel`
of its binned HistFactory part and one :class:`~relaxed.unbinned.ExtendedModel` per unbinned
pair.

:meth:`relaxed.hs3.HS3Workspace.model` returns it for every likelihood with at least one
distribution paired with ``unbinned`` data (also when there is no ``histfactory_dist``: the
model is then a combination of unbinned parts only, so that every such likelihood has the
same kind of model and ``ws.data(model)`` the same flat layout). Its parts, in order:

- ``"binned"``: the ``histfactory_dist`` pairs and the Gaussian constraints they use (a
  luminosity), translated as for a binned-only likelihood (:mod:`relaxed.hs3.translate`): one
  :class:`relaxed.Model` with pyhf's parameter names;
- one part per unbinned pair, named after its distribution (``"<distribution>:<data>"`` when
  one distribution is paired with several data sets), built by
  :func:`relaxed.hs3.unbinned.translate_unbinned` with ``capacity="auto"``.

Parameters are shared by name. An unbinned part that uses a parameter of the binned part
refers to it by its pyhf name (a per-bin HS3 parameter ``gamma_1`` of the set ``gamma``
becomes ``gamma[1]``, a constrained normfactor ``lumi``) and takes its init, bounds and fixed
flag from the binned part. A constraint belongs to one part: a Gaussian on a parameter the
binned part already constrains (a modifier's own constraint) is refused.

The data, ``ws.data(model)``, are the binned part's observed counts and auxiliary data, then
each unbinned part's events (padded to its capacity), weights and auxiliary data
(:meth:`relaxed.unbinned.ExtendedModel.data`). :mod:`relaxed.infer` checks weights to be
:math:`\ge 0`, so negative event weights (sWeights) are refused here (they can be fitted with
:func:`relaxed.unbinned.fit` through :meth:`relaxed.hs3.HS3Workspace.unbinned`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jax import Array

from relaxed.combined import CombinedModel
from relaxed.exceptions import RelaxedError
from relaxed.histfactory import Model, Workspace
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.selection import find, select_analysis
from relaxed.hs3.translate import Translation, translate
from relaxed.hs3.unbinned import UnbinnedTranslation, build_unbinned, read_unbinned
from relaxed.hs3.validate import Index

__all__ = ["Combination", "combine", "has_unbinned", "BINNED_PART"]

#: The name of the binned HistFactory part of a combined model.
BINNED_PART = "binned"


@dataclass(frozen=True)
class Combination:
    """A combined model built from an HS3 likelihood, with what it was built from.

    Attributes:
        model: the :class:`~relaxed.combined.CombinedModel`.
        data: its observed flat data vector.
        unbinned: the translation of the unbinned pairs.
        translation: the binned part's :class:`~relaxed.hs3.translate.Translation` (``None``
            without ``histfactory_dist``).
        parameters: HS3 parameter name -> (name in ``model.config.par_order``, 0).
    """

    model: CombinedModel
    data: Array
    unbinned: UnbinnedTranslation
    translation: Translation | None = None
    parameters: Mapping[str, tuple[str, int]] = field(default_factory=dict)


def has_unbinned(doc: Mapping[str, Any], index: Index, analysis: str | None) -> bool:
    """Whether the analysis's likelihood pairs a distribution other than ``histfactory_dist``
    with ``unbinned`` data.

    Example:
        >>> from relaxed.hs3.validate import validate
        >>> doc = {"metadata": {"hs3_version": "0.2"},
        ...     "distributions": [{"name": "g", "type": "uniform_dist", "x": "x"}],
        ...     "data": [{"name": "d", "type": "unbinned", "entries": [[0.5]],
        ...               "axes": [{"name": "x", "min": 0, "max": 1}]}],
        ...     "likelihoods": [{"name": "L", "distributions": ["g"], "data": ["d"]}]}
        >>> has_unbinned(doc, validate(doc), None)
        True
    """
    _, _, lh, _ = select_analysis(doc, index, analysis)
    for name, ref in zip(lh["distributions"], lh["data"], strict=True):
        dist, _ = find(doc, index, "distributions", name)
        if dist["type"] == "histfactory_dist" or not isinstance(ref, str):
            continue
        data, _ = find(doc, index, "data", ref)
        if data["type"] == "unbinned":
            return True
    return False


def _scalar_names(model: Model, tr: Translation) -> dict[str, str]:
    """HS3 parameter -> its scalar name in the binned model (``set`` or ``set[i]``)."""
    cfg = model.config
    out = {}
    for hs3, (pyhf, i) in tr.parameters.items():
        sl = cfg.par_slice(pyhf)
        out[hs3] = pyhf if sl.stop - sl.start == 1 else cfg.par_names[sl.start + i]
    return out


def combine(
    doc: Mapping[str, Any],
    index: Index,
    analysis: str | None = None,
    parameter_point: str | None = None,
) -> Combination:
    """The :class:`Combination` of an analysis's likelihood (module docstring).

    Raises:
        relaxed.hs3.InvalidHS3: what is wrong in the document, with its JSON path.
        relaxed.hs3.HS3NotSupported: what relaxed cannot build yet, with its JSON path.

    Example:
        >>> import relaxed
        >>> from relaxed.hs3.validate import validate
        >>> doc = {"metadata": {"hs3_version": "0.2"},
        ...     "distributions": [
        ...         {"name": "SR", "type": "histfactory_dist", "samples": [
        ...             {"name": "s", "data": {"contents": [5.0]},
        ...              "modifiers": [{"type": "normfactor", "parameter": "mu"}]},
        ...             {"name": "b", "data": {"contents": [10.0]}, "modifiers": []}]},
        ...         {"name": "peak", "type": "gaussian_dist", "x": "m", "mean": 1.0,
        ...          "sigma": 0.1},
        ...         {"name": "flat", "type": "uniform_dist", "x": "m"},
        ...         {"name": "CR", "type": "mixture_dist", "summands": ["peak", "flat"],
        ...          "coefficients": ["mu", "n_b"]}],
        ...     "data": [
        ...         {"name": "counts", "type": "binned", "contents": [17.0],
        ...          "axes": [{"name": "x", "min": 0, "max": 1, "nbins": 1}]},
        ...         {"name": "events", "type": "unbinned", "entries": [[0.9], [1.05], [1.7]],
        ...          "axes": [{"name": "m", "min": 0.0, "max": 2.0}]}],
        ...     "likelihoods": [{"name": "L", "distributions": ["SR", "CR"],
        ...                      "data": ["counts", "events"]}],
        ...     "domains": [{"name": "D", "type": "product_domain", "axes": [
        ...         {"name": "mu", "min": 0.0, "max": 10.0},
        ...         {"name": "n_b", "min": 0.0, "max": 100.0}]}],
        ...     "parameter_points": [{"name": "init", "parameters": [
        ...         {"name": "mu", "value": 1.0}, {"name": "n_b", "value": 1.0}]}],
        ...     "analyses": [{"name": "A", "likelihood": "L", "domains": ["D"],
        ...                   "parameters_of_interest": ["mu"]}]}
        >>> combination = combine(doc, validate(doc))
        >>> model = combination.model
        >>> list(model.parts), model.config.par_order, model.config.poi_name
        (['binned', 'CR'], ('mu', 'n_b'), 'mu')
        >>> bestfit = relaxed.infer.mle.fit(combination.data, model)
        >>> [round(float(v), 3) for v in bestfit]
        [1.511, 1.251]
    """
    chosen, apath, lh, lpath = select_analysis(doc, index, analysis)
    reading = read_unbinned(doc, index, analysis, parameter_point)  # checks everything
    for _, _, data_name, *_, weights in reading.pairs:
        if weights is not None and np.any(weights < 0):
            i = int(np.flatnonzero(weights < 0)[0])
            _, dpath = find(doc, index, "data", data_name)
            raise HS3NotSupported(
                f"a negative event weight ({weights[i]}) in a model for relaxed.infer, "
                "whose data checks need weights >= 0 (fit sWeighted data with "
                "relaxed.unbinned.fit on HS3Workspace.unbinned())",
                f"{dpath}.weights[{i}]",
            )
    pois = list(chosen.get("parameters_of_interest", [])) if chosen is not None else []
    if len(pois) > 1:
        raise HS3NotSupported(
            f"several parameters of interest {pois}: not supported yet",
            f"{apath}.parameters_of_interest",
        )

    parts: dict[str, Any] = {}
    parts_data: dict[str, Any] = {}
    tr = None
    rename: dict[str, str] = {}
    shared: dict[str, tuple[float, tuple[float, float], bool]] = {}
    if reading.binned:
        only = {("distributions", k) for k in reading.binned} | set(reading.left)
        tr = translate(doc, index, analysis, parameter_point, "model", only=only)
        try:
            binned = Workspace(tr.spec).model(modifier_settings=tr.modifier_settings)
        except RelaxedError as err:
            raise InvalidHS3(
                f"cannot build the binned part of likelihood '{lh['name']}': {err}", lpath
            ) from err
        rename = {p: n for p, n in _scalar_names(binned, tr).items() if p != n}
        cfg = binned.config
        shared = {
            name: (float(init), (float(lo), float(hi)), bool(fixed))
            for name, init, (lo, hi), fixed in zip(
                cfg.par_names,
                cfg.suggested_init(),
                cfg.suggested_bounds(),
                cfg.suggested_fixed(),
                strict=True,
            )
        }
        parts[BINNED_PART] = binned
        parts_data[BINNED_PART] = Workspace(tr.spec).data(binned)
    ut = build_unbinned(reading, capacity="auto", rename=rename, shared=shared)
    names = [p.distribution for p in ut.parts]
    for part in ut.parts:
        name = (
            part.distribution
            if names.count(part.distribution) == 1
            else (f"{part.distribution}:{part.data}")
        )
        if name == BINNED_PART and reading.binned:
            name = f"{name}:{part.data}"
        parts[name] = part.model
        parts_data[name] = part.model.data(part.x, part.weights)
    poi = rename.get(pois[0], pois[0]) if pois else None
    try:
        model = CombinedModel(parts, poi_name=poi)
    except RelaxedError as err:
        raise HS3NotSupported(
            f"the parts of likelihood '{lh['name']}' cannot be combined: {err}", lpath
        ) from err
    parameters: dict[str, tuple[str, int]] = {}
    if tr is not None:
        parameters.update({p: (rename.get(p, p), 0) for p in tr.parameters})
    binned_names = set(rename.values())
    for part in ut.parts:
        for name in part.model.config.par_order:
            if name not in binned_names:  # not a renamed binned parameter
                parameters.setdefault(name, (name, 0))
    return Combination(model, model.data(parts_data), ut, tr, parameters)
