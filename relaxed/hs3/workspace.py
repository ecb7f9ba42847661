"""An HS3 document, validated and read-only, and the relaxed models it describes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from jax import Array

from relaxed.combined import CombinedModel
from relaxed.exceptions import RelaxedError
from relaxed.histfactory import Model, Workspace
from relaxed.hs3.combine import combine, has_unbinned
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.frozen import freeze, thaw
from relaxed.hs3.selection import select_parameter_point
from relaxed.hs3.summary import graph, summary
from relaxed.hs3.translate import Translation, translate
from relaxed.hs3.unbinned import UnbinnedTranslation, translate_unbinned
from relaxed.hs3.validate import validate
from relaxed.io import write_text_atomic

__all__ = ["HS3Workspace", "DataSets", "load"]

_COMPONENTS = (
    "distributions",
    "functions",
    "data",
    "likelihoods",
    "analyses",
    "parameter_points",
    "domains",
)


class HS3Workspace:
    """An HS3 document (HEP Statistics Serialization Standard, ``hs3_version`` 0.x), checked
    when it is created and read-only afterwards.

    The top-level components are attributes, as read: ``distributions``, ``functions``,
    ``data``, ``likelihoods``, ``analyses``, ``parameter_points``, ``domains`` (tuples of
    read-only mappings) and ``metadata``, ``misc`` (read-only mappings).

    :meth:`model` builds the :class:`relaxed.Model` of an analysis by translating its
    likelihood to pyhf's format (see :mod:`relaxed.hs3` for the readings); its parameters
    have pyhf's names, and :meth:`parameter_map` relates them to the HS3 names.

    Args:
        doc: the document (a mapping, e.g. from ``json.load``).

    Raises:
        relaxed.hs3.InvalidHS3: the document is malformed; the message starts with the JSON
            path of the problem.

    Example:
        >>> import relaxed
        >>> ws = relaxed.hs3.load({"metadata": {"hs3_version": "0.2"},
        ...     "distributions": [{"name": "model_SR", "type": "histfactory_dist",
        ...         "axes": [{"name": "x", "min": 0, "max": 2, "nbins": 2}], "samples": [
        ...         {"name": "sig", "data": {"contents": [12.0, 11.0]},
        ...          "modifiers": [{"type": "normfactor", "name": "mu", "parameter": "mu"}]},
        ...         {"name": "bkg", "data": {"contents": [50.0, 52.0]},
        ...          "modifiers": [{"type": "shapesys", "name": "unc", "constraint": "Poisson",
        ...                         "parameters": ["unc_0", "unc_1"],
        ...                         "data": {"vals": [3.0, 7.0]}}]}]}],
        ...     "data": [{"name": "obs", "type": "binned", "contents": [51, 48],
        ...               "axes": [{"name": "x", "min": 0, "max": 2, "nbins": 2}]}],
        ...     "likelihoods": [{"name": "L", "distributions": ["model_SR"], "data": ["obs"]}],
        ...     "analyses": [{"name": "A", "likelihood": "L", "parameters_of_interest": ["mu"]}]})
        >>> model = ws.model()
        >>> model.config.par_order, ws.parameter_map()["unc_1"]
        (['mu', 'unc'], ('unc', 1))
        >>> round(float(model.logpdf(model.config.suggested_init(), ws.data(model))[0]), 6)
        -15.387627
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        index = validate(doc)
        frozen = freeze(doc)
        object.__setattr__(self, "_doc", frozen)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_translations", {})
        object.__setattr__(self, "_models", {})
        object.__setattr__(self, "_combined", {})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"HS3Workspace is read-only (cannot set '{name}')")

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(getattr(self, c))} {c}" for c in _COMPONENTS[:5])
        return f"relaxed.hs3.HS3Workspace({counts})"

    # -- the document ----------------------------------------------------------------------
    @property
    def distributions(self) -> tuple[Mapping[str, Any], ...]:
        """The ``distributions`` as read."""
        return self._doc.get("distributions", ())

    @property
    def functions(self) -> tuple[Mapping[str, Any], ...]:
        """The ``functions`` as read."""
        return self._doc.get("functions", ())

    @property
    def data(self) -> DataSets:
        """The ``data`` component as read (a tuple), also callable: ``ws.data(model)`` gives
        the observed and auxiliary data of a model (see :meth:`observed_data`)."""
        return DataSets(self._doc.get("data", ()), self)

    @property
    def likelihoods(self) -> tuple[Mapping[str, Any], ...]:
        """The ``likelihoods`` as read."""
        return self._doc.get("likelihoods", ())

    @property
    def analyses(self) -> tuple[Mapping[str, Any], ...]:
        """The ``analyses`` as read."""
        return self._doc.get("analyses", ())

    @property
    def parameter_points(self) -> tuple[Mapping[str, Any], ...]:
        """The ``parameter_points`` as read."""
        return self._doc.get("parameter_points", ())

    @property
    def domains(self) -> tuple[Mapping[str, Any], ...]:
        """The ``domains`` as read."""
        return self._doc.get("domains", ())

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The ``metadata`` as read."""
        return self._doc["metadata"]

    @property
    def misc(self) -> Mapping[str, Any]:
        """The ``misc`` component as read (empty if absent)."""
        return self._doc.get("misc", MappingProxyType({}))

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names of the HistFactory parameters, in document order."""
        return self._index.parameters

    def to_dict(self) -> dict[str, Any]:
        """A plain, mutable copy of the document."""
        return thaw(self._doc)

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int = 2) -> str:
        """The document as JSON text; written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            write_text_atomic(Path(path), text)
        return text

    def summary(self) -> str:
        """Printable overview (see :func:`relaxed.hs3.summary.summary`)."""
        return summary(self._doc, self._index)

    def graph(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Which distribution depends on which modifier and parameter (see
        :func:`relaxed.hs3.summary.graph`)."""
        return graph(self._doc, self._index)

    # -- models ----------------------------------------------------------------------------
    def translation(
        self,
        analysis: str | None = None,
        parameter_point: str | None = None,
        purpose: str = "model",
    ) -> Translation:
        """The pyhf translation of an analysis (cached): see
        :class:`relaxed.hs3.translate.Translation`. ``purpose`` is ``"model"`` or ``"pyhf"``
        (it only changes how unsupported features are worded).

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
            ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
            ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
            >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
            >>> tr = ws.translation()
            >>> tr.measurement, tr.channels, tr.modifier_settings["histosys"]
            ('m', {'SR': 'model_SR'}, {'interpcode': 'code4p'})
        """
        key = (analysis, parameter_point, purpose)
        if key not in self._translations:
            self._translations[key] = translate(
                self._doc, self._index, analysis, parameter_point, purpose
            )
        return self._translations[key]

    def model(
        self, analysis: str | None = None, parameter_point: str | None = None
    ) -> Model | CombinedModel:
        """The :class:`relaxed.Model` of an analysis (default: the only one); for a likelihood
        with unbinned data, a :class:`relaxed.combined.CombinedModel` of its binned part and
        one :class:`relaxed.unbinned.ExtendedModel` per unbinned pair (also when it has no
        binned part; see :mod:`relaxed.hs3.combine`), whose flat data ``ws.data(model)``
        gives.

        The analysis's likelihood is translated to pyhf's format: one channel per
        ``histfactory_dist`` (named without ROOT's ``model_`` prefix), the POI from
        ``parameters_of_interest``, bounds from the analysis's domains, initial values and
        ``const`` (fixed) from the parameter point (the one given, the analysis's ``init``,
        the only one, or ``default_values``). Parameter sets have pyhf's names: per-bin
        modifiers are one set named after the modifier, a constrained normfactor is pyhf's
        ``lumi``; :meth:`parameter_map` gives the HS3 name of every component. The same
        arguments return the same model object.

        Constraints beyond pyhf's (a ``Poisson`` or ``LogNormal`` normsys/histosys, a ``Gauss``
        shapesys, a ``Poisson`` staterror) become the model's ``modifier_settings``; see
        :mod:`relaxed.hs3` for how each is read.

        Raises:
            relaxed.hs3.InvalidHS3: several analyses and none chosen, unknown names, a domain or
                parameter point allowing :math:`\\alpha \\le 0` for a Poisson-constrained
                normsys/histosys parameter.
            relaxed.hs3.HS3NotSupported: what the engine cannot build yet (the message says
                "not supported yet" and gives the JSON path); a ``LogNormal`` on a shapesys or
                staterror (no implementation defines it); one parameter declared with two
                different constraints (both paths named).

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
            ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
            ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
            >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
            >>> model = ws.model()
            >>> model.config.par_order, model.config.poi_name, ws.model() is model
            (['mu', 'u'], 'mu', True)
        """
        key = (analysis, parameter_point)
        if key in self._combined:
            return self._combined[key].model
        if key not in self._models and has_unbinned(self._doc, self._index, analysis):
            self._combined[key] = combine(self._doc, self._index, analysis, parameter_point)
            return self._combined[key].model
        if key not in self._models:
            tr = self.translation(analysis, parameter_point, "model")
            try:
                model = Workspace(tr.spec).model(modifier_settings=tr.modifier_settings)
            except RelaxedError as err:
                raise InvalidHS3(
                    f"cannot build the model of analysis {tr.analysis!r}: {err}", "analyses"
                ) from err
            self._models[key] = (model, tr)
        return self._models[key][0]

    def unbinned(
        self,
        analysis: str | None = None,
        parameter_point: str | None = None,
        batch_size: int | None = None,
    ) -> UnbinnedTranslation:
        """The unbinned pairs of an analysis's likelihood as
        :class:`~relaxed.unbinned.ExtendedModel`\\ s with their events (cached; see
        :mod:`relaxed.hs3.unbinned` for what is read and what is refused).

        Each :class:`~relaxed.hs3.unbinned.UnbinnedPart` has the ``model``, the events ``x``
        and ``weights``, and ``events()`` laid out for the model, ready for
        :func:`relaxed.unbinned.fit`.

        Raises:
            relaxed.hs3.InvalidHS3: what is wrong in the document, with its JSON path.
            relaxed.hs3.HS3NotSupported: what relaxed cannot build yet, with its JSON path.

        Example:
            >>> import relaxed
            >>> ws = relaxed.hs3.load({"metadata": {"hs3_version": "0.2"},
            ...     "distributions": [{"name": "shape", "type": "generic_dist",
            ...                        "expression": "exp(-k * t)"}],
            ...     "data": [{"name": "obs", "type": "unbinned", "entries": [[0.5], [1.0], [2.5]],
            ...               "axes": [{"name": "t", "min": 0.0, "max": 10.0}]}],
            ...     "likelihoods": [{"name": "L", "distributions": ["shape"], "data": ["obs"]}],
            ...     "domains": [{"name": "D", "type": "product_domain",
            ...                  "axes": [{"name": "k", "min": 0.01, "max": 10.0}]}],
            ...     "parameter_points": [{"name": "p",
            ...                           "parameters": [{"name": "k", "value": 1.0}]}],
            ...     "analyses": [{"name": "A", "likelihood": "L", "domains": ["D"]}]})
            >>> part = ws.unbinned().parts[0]
            >>> part.model.config.par_order, part.model.extended
            (('k',), False)
            >>> result = relaxed.unbinned.fit(part.model, part.events())
            >>> round(float(result.bestfit[0]), 3)  # mean 4/3: k ~ 3/4, a bit less (cut at 10)
            0.747
        """
        key = ("unbinned", analysis, parameter_point, batch_size)
        if key not in self._translations:
            self._translations[key] = translate_unbinned(
                self._doc, self._index, analysis, parameter_point, batch_size
            )
        return self._translations[key]

    def _translation_of(self, model: Model, analysis: str | None) -> Translation:
        for built, tr in self._models.values():
            if built is model:
                return tr
        return self.translation(analysis)

    def observed_data(
        self,
        model: Model | CombinedModel,
        analysis: str | None = None,
        include_auxdata: bool = True,
    ) -> Array:
        """Observed main data of the model's channels (in ``model.config.channels`` order),
        then its auxiliary data, as ``relaxed.Workspace.data``; also ``ws.data(model)``. For a
        model built by :meth:`model` the data of its analysis are used; otherwise those of
        ``analysis``. For a combined model (a likelihood with unbinned data) the flat data of
        :meth:`relaxed.combined.CombinedModel.data` (``include_auxdata`` does not apply: the
        auxiliary data are part of each part's data).

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
            ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
            ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
            >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
            >>> model = ws.model()
            >>> ws.data(model).tolist()  # observed counts, then the shapesys taus
            [6.0, 7.0, 25.0, 9.0]
        """
        for combination in self._combined.values():
            if combination.model is model:
                return combination.data
        if isinstance(model, CombinedModel):
            raise InvalidHS3(
                "this combined model was not built by this workspace's model(); its data are "
                "model.data({part: data})",
                "data",
            )
        tr = self._translation_of(model, analysis)
        return Workspace(tr.spec).data(model, include_auxdata=include_auxdata)

    def parameter_map(
        self, analysis: str | None = None, parameter_point: str | None = None
    ) -> dict[str, tuple[str, int]]:
        """HS3 parameter name -> (pyhf parameter set, component) in the model of
        :meth:`model` with the same arguments.

        A shapesys with ``parameters`` ``["u_0", "u_1"]`` maps ``u_1`` to ``("u", 1)``:
        component 1 of the set ``u``, at ``model.config.par_slice("u").start + 1``. For a
        combined model (a likelihood with unbinned data) every parameter is a scalar of
        ``model.config.par_order``: ``u_1`` maps to ``("u[1]", 0)``.

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
            ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
            ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
            >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
            >>> ws.parameter_map()
            {'mu': ('mu', 0), 'u_0': ('u', 0), 'u_1': ('u', 1)}
        """
        if has_unbinned(self._doc, self._index, analysis):
            self.model(analysis, parameter_point)
            return dict(self._combined[(analysis, parameter_point)].parameters)
        return dict(self.translation(analysis, parameter_point).parameters)

    def parameter_vector(
        self,
        values: Mapping[str, float] | None = None,
        analysis: str | None = None,
        parameter_point: str | None = None,
    ) -> np.ndarray:
        """A parameter vector of :meth:`model`'s model: its initial values (the parameter
        point's), with ``values`` (HS3 names) replacing some of them.

        Raises:
            relaxed.hs3.InvalidHS3: a name that is not a parameter of that model.

        Example:
            >>> import relaxed
            >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "s", "data": [5.0, 6.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None},
            ...                   {"name": "u", "type": "shapesys", "data": [1.0, 2.0]}]}]}],
            ...     "observations": [{"name": "SR", "data": [6.0, 7.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
            >>> ws = relaxed.hs3.load(relaxed.hs3.from_pyhf(spec))
            >>> ws.parameter_vector({"mu": 2.0, "u_1": 0.9}).tolist()
            [2.0, 1.0, 0.9]
        """
        model = self.model(analysis, parameter_point)
        names = self.parameter_map(analysis, parameter_point)
        return _vector(model, names, values or {})

    # -- one distribution ------------------------------------------------------------------
    def logpdf(
        self,
        distribution_name: str,
        parameters: Mapping[str, float] | None = None,
        data: str | float | Sequence[float] | None = None,
    ) -> float:
        """Log-density of one distribution at parameter values given by HS3 name.

        - ``histfactory_dist``: the Poisson terms of its bins plus the constraint terms of
          the parameters of its modifiers (unit Gaussians for normsys/histosys, the
          staterror Gaussians, the shapesys Poissons, with their nominal auxiliary data; a
          parameter shared with another channel has its constraint in both). Constraints
          that are separate distributions (a ``constraint_name``, e.g. a luminosity
          Gaussian) are not included: evaluate them by their own name. ``data``: a data set
          name or a list of counts; default the data set the likelihoods pair it with (if
          only one).
        - ``gaussian_dist``/``normal_dist``: :math:`\\log\\mathcal{N}(x\\mid\\mu,\\sigma)`;
          ``data`` is ``x`` (default: its data in a likelihood, else the value of ``x``).

        Parameters that are not given take the default parameter point's values (else pyhf's
        initial values). Parameters of other distributions are ignored.

        Raises:
            relaxed.hs3.InvalidHS3: unknown distribution, data set or parameter name.
            relaxed.hs3.HS3NotSupported: another distribution type (not supported yet).

        Example:
            >>> import relaxed
            >>> ws = relaxed.hs3.load({"metadata": {"hs3_version": "0.2"}, "distributions": [
            ...     {"name": "SR", "type": "histfactory_dist", "samples": [
            ...         {"name": "s", "data": {"contents": [10.0]},
            ...          "modifiers": [{"type": "normfactor", "parameter": "mu"}]}]},
            ...     {"name": "c", "type": "gaussian_dist", "x": 0.5, "mean": "m", "sigma": 1.0}]})
            >>> round(ws.logpdf("SR", {"mu": 1.0}, data=[10.0]), 6)
            -2.078562
            >>> round(ws.logpdf("c", {"m": 0.0}), 6)
            -1.043939
        """
        parameters = dict(parameters or {})
        positions = self._index.positions["distributions"]
        if distribution_name not in positions:
            raise InvalidHS3(
                f"unknown distribution '{distribution_name}'; the document has {list(positions)}",
                "distributions",
            )
        for name in parameters:
            if name not in self._index.known:
                raise InvalidHS3(f"unknown parameter '{name}'", "parameters")
        pos = positions[distribution_name]
        dist = self._doc["distributions"][pos]
        if dist["type"] in ("gaussian_dist", "normal_dist"):
            return self._gaussian_logpdf(dist, pos, parameters, data)
        if dist["type"] != "histfactory_dist":
            raise HS3NotSupported(
                f"logpdf of a distribution of type '{dist['type']}' is not supported yet",
                f"distributions[{pos}].type",
            )
        ref = self._paired_data(distribution_name) if data is None else data
        if isinstance(ref, str):
            if ref not in self._index.positions["data"]:
                raise InvalidHS3(f"unknown data set '{ref}'", "data")
            key: Any = ref
        else:
            key = tuple(float(v) for v in np.atleast_1d(np.asarray(ref, dtype=np.float64)))
            ref = list(key)
        cache_key = ("logpdf", distribution_name, key)
        if cache_key not in self._models:
            tr = translate(
                self._doc, self._index, purpose="model", distribution=distribution_name, data=ref
            )
            ws = Workspace(tr.spec)
            model = ws.model(modifier_settings=tr.modifier_settings)
            self._models[cache_key] = (model, tr)
        model, tr = self._models[cache_key]
        names = {p: v for p, v in parameters.items() if p in tr.parameters}
        pars = _vector(model, tr.parameters, names)
        full = Workspace(tr.spec).data(model)
        return float(model.logpdf(pars, full)[0])

    def _paired_data(self, distribution_name: str) -> str | float:
        refs: dict[Any, None] = {}
        for lh in self.likelihoods:
            for name, ref in zip(lh["distributions"], lh["data"], strict=True):
                if name == distribution_name:
                    refs[ref] = None
        if len(refs) != 1:
            found = f"several data sets {list(refs)}" if refs else "no data set"
            raise InvalidHS3(
                f"distribution '{distribution_name}' is paired with {found} in the likelihoods; "
                "pass data=...",
                "likelihoods",
            )
        return next(iter(refs))

    def _gaussian_logpdf(
        self,
        dist: Mapping[str, Any],
        pos: int,
        parameters: Mapping[str, float],
        data: str | float | Sequence[float] | None,
    ) -> float:
        point, _ = select_parameter_point(self._doc, self._index, None, None, ambiguous_ok=True)
        defaults = {p["name"]: float(p["value"]) for p in point["parameters"]} if point else {}

        def value(key: str) -> float:
            v = dist.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
            if isinstance(v, str) and v in parameters:
                return float(parameters[v])
            if isinstance(v, str) and v in defaults:
                return defaults[v]
            raise InvalidHS3(f"no value for {key}={v!r}", f"distributions[{pos}].{key}")

        if data is None:
            try:
                data = self._paired_data(dist["name"])
            except InvalidHS3:
                data = value("x")
        if isinstance(data, str):
            if data not in self._index.positions["data"]:
                raise InvalidHS3(f"unknown data set '{data}'", "data")
            d = self._doc["data"][self._index.positions["data"][data]]
            if d["type"] == "point":
                data = float(d["value"])
            elif d["type"] == "binned" and len(d["contents"]) == 1:
                data = float(d["contents"][0])
            else:
                raise HS3NotSupported(
                    f"{d['type']} data for a Gaussian is not supported yet", "data"
                )
        x = float(np.asarray(data, dtype=np.float64).reshape(-1)[0])
        mean, sigma = value("mean"), value("sigma")
        z = (x - mean) / sigma
        return -0.5 * z * z - math.log(sigma) - 0.5 * math.log(2.0 * math.pi)


class DataSets(tuple):
    """The ``data`` component of an :class:`HS3Workspace` (a tuple of read-only data sets),
    callable as ``ws.data(model)`` like ``relaxed.Workspace.data`` (see
    :meth:`HS3Workspace.observed_data`).

    Example:
        >>> import relaxed
        >>> ws = relaxed.hs3.load({"metadata": {"hs3_version": "0.2"}, "data": [
        ...     {"name": "p", "type": "point", "value": 1.5}]})
        >>> ws.data[0]["value"], len(ws.data)
        (1.5, 1)
    """

    _workspace: HS3Workspace

    def __new__(cls, items: Sequence[Mapping[str, Any]], workspace: HS3Workspace) -> DataSets:
        obj = super().__new__(cls, items)
        obj._workspace = workspace
        return obj

    def __call__(
        self, model: Model, analysis: str | None = None, include_auxdata: bool = True
    ) -> Array:
        return self._workspace.observed_data(model, analysis, include_auxdata)


def _vector(
    model: Model, names: Mapping[str, tuple[str, int]], values: Mapping[str, float]
) -> np.ndarray:
    config = model.config
    pars = np.asarray(config.suggested_init(), dtype=np.float64)
    for name, v in values.items():
        if name not in names:
            raise InvalidHS3(
                f"'{name}' is not a parameter of this model; its parameters are {list(names)}",
                "parameters",
            )
        pyhf_name, i = names[name]
        pars[config.par_slice(pyhf_name).start + i] = float(v)
    return pars


def load(doc_or_path: Mapping[str, Any] | str | os.PathLike[str] | HS3Workspace) -> HS3Workspace:
    """Read and validate an HS3 document: a mapping, or the path of a JSON file.

    Raises:
        relaxed.hs3.InvalidHS3: the text is not JSON, or the document is malformed (the
            message starts with the JSON path).
        FileNotFoundError: no file at that path.

    Example:
        >>> import relaxed
        >>> ws = relaxed.hs3.load({"metadata": {"hs3_version": "0.2"}})
        >>> ws.metadata["hs3_version"], ws.distributions
        ('0.2', ())
    """
    if isinstance(doc_or_path, HS3Workspace):
        return doc_or_path
    if isinstance(doc_or_path, (str, os.PathLike)):
        path = Path(doc_or_path)
        text = path.read_text(encoding="utf-8")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidHS3(f"{path} is not valid JSON: {err}") from err
        return HS3Workspace(doc)
    if isinstance(doc_or_path, Mapping):
        return HS3Workspace(doc_or_path)
    raise InvalidHS3(
        f"expected an HS3 document (a mapping) or a path, got {type(doc_or_path).__name__}"
    )
