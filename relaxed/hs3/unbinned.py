r"""Translation of the unbinned pairs of an HS3 likelihood into
:class:`~relaxed.unbinned.ExtendedModel`\ s.

A likelihood pairs distributions with data. Each pair whose data set is ``unbinned`` becomes
one :class:`UnbinnedPart`: an :class:`~relaxed.unbinned.ExtendedModel` of the data's
observable and the events. The pairs of a ``histfactory_dist`` are left to the binned
translation (:mod:`relaxed.hs3.translate`); Gaussian constraint pairs become
:attr:`relaxed.unbinned.Parameter.constraint` of the parameter they constrain.

What is read, and how:

- **Data**: an ``unbinned`` data set with one axis or several (``name``, ``min``, ``max``: an
  observable and its domain, over which every density of it is normalised; binning fields
  are ignored), ``entries`` (one coordinate per axis each: ``[x]``, or a bare number for one
  axis; ``[x, y]`` for two), optional ``weights`` (one per entry, finite; negative weights,
  such as sWeights, are allowed). ``entries_uncertainties`` are ignored (the standard gives
  them no role in the likelihood).
- **Distributions** of the observable:

  - a fundamental distribution of :mod:`relaxed.distributions` (``for_node``: the type, and
    the Crystal Ball by its fields), whose observable field names the data's axis;
    ``histogram_dist`` with its ``data``. Alone, it is the non-extended likelihood
    :math:`-\sum_i w_i \log f(x_i)`;
  - ``generic_dist``: its ``expression`` (:mod:`relaxed.unbinned.expressions`) in the
    observable and the parameters, normalised by quadrature
    (:func:`relaxed.distributions.generic_dist`);
  - ``mixture_dist``: with as many ``coefficients`` as ``summands`` and ``extended`` true (or
    absent), the extended likelihood with the coefficients as yields; with ``extended``
    false, the mixture with the coefficients normalised by their sum; with one coefficient
    fewer, the non-extended mixture with :math:`c_n = 1 - \sum_{i<n} c_i`. A mixture inside
    a mixture is flattened into the outer one: its summands get the outer coefficient times
    its own normalised fractions (its own extension is not used, as in ROOT);
  - ``product_dist`` of exactly one factor depending on the observable and Gaussian
    constraint factors on parameters (ROOT's product of a model and its constraints): the
    factor's density, and the constraints as below, each counted once per likelihood.

  With data of several axes, a density is a ``product_dist`` with one factor per axis (a
  density of that observable alone, as above, normalised over its axis: a
  :class:`~relaxed.unbinned.Factor`; a factor that is a mixture of one observable's
  densities expands into one component per combination of summands), a ``mixture_dist`` of
  such products (as above), or a ``product_dist`` of one such density of all the axes; a
  product at the top may add Gaussian constraint factors. A fundamental distribution or a
  ``generic_dist`` is a density of one observable only.

  Parameters are referenced by name, as numbers, or through ``functions`` (``sum``,
  ``product``, ``polynomial``, ``generic_function``, which may refer to each other by name).
- **Constraints**: a ``gaussian_dist``/``normal_dist`` paired with an inline number, a
  ``point`` data set or a one-bin ``binned`` one, listed in ``aux_distributions``, or a
  constraint factor of a product: one of ``x``/``mean`` a parameter :math:`\theta`, the other
  a constant :math:`g` (a number, the paired datum, or a global observable: a parameter the
  parameter point marks ``const``), ``sigma`` :math:`s > 0` a number or a constant; it becomes
  ``Parameter(constraint=(g, s))``, the term :math:`(\theta - g)^2 / (2 s^2)`. A parameter
  used by several unbinned pairs gets it in the first one only (one term per likelihood).
- **Parameters**: initial values and ``const`` (fixed) from the parameter point (as for binned
  models: the one given, the analysis's ``init``, the only one, or ``default_values``),
  bounds from the analysis's domains; a parameter no domain mentions is unbounded, one the
  point does not mention starts at the middle of its domain (at 0, or its finite bound, when
  the domain is not finite). A HistFactory modifier's parameter is known without either (a
  combined model takes its settings from the binned part). The parameter of interest is the
  analysis's (when the part uses it).

Refused with :class:`~relaxed.hs3.HS3NotSupported` (naming the JSON path): a categorical
axis; a ``product_dist`` with several factors of one observable (a joint normalisation; write
one observable's product as a ``generic_dist``), one over observables that are not axes of
its data set, one that misses an axis of its data, or whose factor depends on some of the
axes jointly; a fundamental distribution or ``generic_dist`` paired with data of several
axes; an expression or field that reads another observable (a joint or conditional density
in one node), ``multivariate_normal_dist``, ``poisson_dist`` (a count, not a
density), other composite types, a mixture's ``ref_coef_norm``, a distribution's parameter
that depends on the observable (a conditional density), constraints other than the
Gaussians above, two constraints on one parameter. :class:`~relaxed.hs3.InvalidHS3` names
what is wrong in the document: unknown names, a cycle of functions, an event outside the
axis range (``data[2].entries[17]``; ``data[2].entries[17][1]`` for the second axis), an
entry with another number of coordinates than axes, a count of weights that differs from the
entries, a
distribution of another observable than its data's axis, a mixture with a wrong number of
coefficients. All of it is checked before any model is built.

Example:
    >>> import relaxed
    >>> from relaxed.hs3.validate import validate
    >>> doc = {"metadata": {"hs3_version": "0.2"},
    ...     "distributions": [
    ...         {"name": "sig", "type": "gaussian_dist", "x": "m", "mean": "m0", "sigma": 2.0},
    ...         {"name": "bkg", "type": "exponential_dist", "x": "m", "c": 0.05},
    ...         {"name": "model", "type": "mixture_dist", "summands": ["sig", "bkg"],
    ...          "coefficients": ["n_sig", "n_bkg"], "extended": True}],
    ...     "data": [{"name": "obs", "type": "unbinned", "entries": [[121.0], [125.5], [140.0]],
    ...               "axes": [{"name": "m", "min": 100.0, "max": 160.0}]}],
    ...     "likelihoods": [{"name": "L", "distributions": ["model"], "data": ["obs"]}],
    ...     "parameter_points": [{"name": "start", "parameters": [
    ...         {"name": "m0", "value": 125.0}, {"name": "n_sig", "value": 1.0},
    ...         {"name": "n_bkg", "value": 2.0}]}]}
    >>> tr = translate_unbinned(doc, validate(doc))
    >>> part = tr.parts[0]
    >>> part.model.config.par_order, part.model.extended, part.x.tolist()
    (('m0', 'n_bkg', 'n_sig'), True, [121.0, 125.5, 140.0])
    >>> round(float(part.model.nll(part.model.config.suggested_init(), part.events())), 6)
    11.504905
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relaxed.distributions import (
    Distribution,
    for_node,
    generic_dist,
    histogram_dist,
    histogram_params,
)
from relaxed.exceptions import InvalidExpression, RelaxedError
from relaxed.hs3.errors import HS3NotSupported, InvalidHS3
from relaxed.hs3.measurement import domain_bounds
from relaxed.hs3.selection import find, select_analysis, select_parameter_point
from relaxed.hs3.validate import Index
from relaxed.unbinned.expressions import (
    Expression,
    Num,
    Var,
    as_expression,
    parse_expression,
    polynomial_function,
    product_function,
    sum_function,
)
from relaxed.unbinned.model import (
    Component,
    Events,
    ExtendedModel,
    Factor,
    Parameter,
    default_capacity,
    events,
)

__all__ = [
    "GAUSSIANS",
    "UnbinnedPart",
    "UnbinnedReading",
    "UnbinnedTranslation",
    "build_unbinned",
    "read_unbinned",
    "translate_unbinned",
]

#: The Gaussian types read as constraints.
GAUSSIANS = ("gaussian_dist", "normal_dist")
#: Distribution types made of other distributions.
COMPOSITES = ("mixture_dist", "product_dist")
#: Function types with a translation (each to an :class:`Expression`).
FUNCTION_TYPES = ("sum", "product", "polynomial", "generic_function")

Ref = str | float | Expression | Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class UnbinnedPart:
    """One unbinned pair of a likelihood, translated.

    Attributes:
        distribution: the distribution's name.
        data: the data set's name.
        path: where the pair is, ``likelihoods[i].distributions[k]``.
        model: its :class:`~relaxed.unbinned.ExtendedModel` (extended or not).
        x: the events (a float64 array, shape ``(N,)``; ``(N, d)`` for data of ``d > 1``
            axes).
        weights: their weights, or ``None`` (all 1).
    """

    distribution: str
    data: str
    path: str
    model: ExtendedModel
    x: np.ndarray
    weights: np.ndarray | None

    def events(self) -> Events:
        """The events laid out for :attr:`model` (:func:`relaxed.unbinned.events`; negative
        weights allowed)."""
        return events(self.model, self.x, self.weights, allow_negative_weights=True)


@dataclass(frozen=True)
class UnbinnedTranslation:
    """The unbinned pairs of a likelihood, and what is left to the binned translation.

    Attributes:
        parts: one :class:`UnbinnedPart` per unbinned pair, in the likelihood's order.
        binned: positions ``k`` in the likelihood of the ``histfactory_dist`` pairs.
        constraints: parameter -> ``(g, s, path)`` of the Gaussian constraints given to the
            parts.
        left: positions (``("distributions", k)`` or ``("aux_distributions", k)``) of the
            Gaussian constraints on parameters no unbinned part uses (for the binned
            translation: a luminosity's).
        analysis, likelihood, parameter_point: the names used (or ``None``).
    """

    parts: tuple[UnbinnedPart, ...]
    binned: tuple[int, ...] = ()
    constraints: Mapping[str, tuple[float, float, str]] = field(default_factory=dict)
    left: tuple[tuple[str, int], ...] = ()
    analysis: str | None = None
    likelihood: str | None = None
    parameter_point: str | None = None


@dataclass
class _Term:
    """A summand of the flattened mixture: its distribution, its fields and its weight (for
    data of several axes: ``dist`` a tuple of :class:`~relaxed.unbinned.Factor`\\ s, one per
    axis, and ``params`` empty)."""

    name: str
    dist: Distribution | tuple[Factor, ...]
    params: dict[str, Ref]
    weight: Ref

    def names(self) -> set[str]:
        """The names its fields and weight use."""
        out = _names(self.weight)
        for value in self.params.values():
            out |= _names(value)
        if isinstance(self.dist, tuple) and not isinstance(self.dist, Distribution):
            for f in self.dist:
                for value in f.parameters.values():
                    out |= _names(value)
        return out


@dataclass
class _Density:
    """A density of the observable as weighted terms, :math:`\\sum_t w_t f_t / W`:
    ``unit`` when :math:`W \\equiv 1` (the weights are fractions); ``extended`` for a
    top-level extended mixture; ``constraints``: the constraint factors of a product."""

    terms: list[_Term]
    unit: bool
    extended: bool = False
    constraints: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Constraint:
    parameter: str
    mean: float
    sigma: float
    path: str


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _names(ref: Ref) -> set[str]:
    if isinstance(ref, str):
        return {ref}
    if isinstance(ref, Expression):
        return set(ref.parameters)
    if isinstance(ref, (list, tuple)):
        return set().union(*(_names(r) for r in ref))
    return set()


class _Reader:
    """Reads the distributions, functions and constraints of one likelihood."""

    def __init__(
        self,
        doc: Mapping[str, Any],
        index: Index,
        values: Mapping[str, tuple[Mapping[str, Any], int]],
        bounds: Mapping[str, tuple[float, float, str]],
        observables: set[str],
        histfactory: set[str],
    ) -> None:
        self.doc = doc
        self.index = index
        self.values = values  # parameter point: name -> (entry, position)
        self.bounds = bounds
        self.observables = observables
        self.histfactory = histfactory  # parameters of HistFactory modifiers
        self.functions: dict[str, Expression] = {}

    # -- names -------------------------------------------------------------------------
    def is_parameter(self, name: str) -> bool:
        """A name the parameter point or a domain gives, or a HistFactory modifier's
        parameter, and not an observable (ROOT lists observables in its parameter points
        too)."""
        known = name in self.values or name in self.bounds or name in self.histfactory
        return known and name not in self.observables

    def check_observables(
        self, ref: Ref, observable: str | tuple[str, ...], path: str, own: bool = False
    ) -> Ref:
        """Refuse a reference to another observable than ``observable`` (a density of several
        observables in one expression or field) and, unless ``own`` (a shape's expression),
        to this one (a parameter depending on it: a conditional density). ``observable``: the
        one of a density, or the axes of a multi-axis data set (a mixture's coefficients)."""
        names = _names(ref)
        own_names = {observable} if isinstance(observable, str) else set(observable)
        shown = observable if isinstance(observable, str) else ", ".join(observable)
        others = sorted(names & self.observables - own_names)
        if others:
            raise HS3NotSupported(
                f"a density of the observables {others} as well as '{shown}' (a joint or "
                "conditional density in one expression): not supported (write a product_dist "
                "of one-observable densities over the axes of one unbinned data set)",
                path,
            )
        mentioned = sorted(names & own_names)
        if not own and mentioned:
            raise HS3NotSupported(
                f"a parameter that depends on the observable '{mentioned[0]}' (a conditional "
                "density): not supported yet",
                path,
            )
        return ref

    def constant(self, value: Any) -> float | None:
        """A number, or a parameter the point marks ``const`` (a global observable)."""
        if _number(value):
            return float(value)
        if isinstance(value, str) and value in self.values:
            entry = self.values[value][0]
            if entry.get("const", False):
                return float(entry["value"])
        return None

    def ref(self, value: Any, path: str) -> Ref:
        """A field's value: a number, a parameter's or an observable's name, a function (an
        :class:`Expression`), or a list of those."""
        if _number(value):
            return float(value)
        if isinstance(value, (list, tuple)):
            return [self.ref(v, f"{path}[{k}]") for k, v in enumerate(value)]
        if not isinstance(value, str):
            raise InvalidHS3(f"expected a name or a number, got {value!r}", path)
        if value in self.index.positions["functions"]:
            return self.function(value, ())
        if value in self.index.positions["distributions"]:
            raise InvalidHS3(f"'{value}' is a distribution, not a parameter or function", path)
        if value in self.observables or self.is_parameter(value):
            return value
        raise InvalidHS3(
            f"unknown name '{value}': not a function, a parameter (no domain or parameter "
            "point gives it) or an observable",
            path,
        )

    def expression(self, text: Any, path: str, stack: tuple[str, ...]) -> Expression:
        """A ``generic_*`` expression with the functions it names substituted."""
        if not isinstance(text, str):
            raise InvalidHS3(f"expected a string, got {text!r}", path)
        try:
            expr = parse_expression(text)
        except InvalidExpression as err:
            raise InvalidHS3(str(err), path) from err
        definitions: dict[str, Expression] = {}
        for name in expr.parameters:
            if name in self.index.positions["functions"]:
                definitions[name] = self.function(name, stack)
            elif name in self.index.positions["distributions"]:
                raise InvalidHS3(f"the expression names the distribution '{name}'", path)
            elif not (name in self.observables or self.is_parameter(name)):
                raise InvalidHS3(
                    f"unknown name '{name}' in the expression {text!r}: not a function, a "
                    "parameter (no domain or parameter point gives it) or an observable",
                    path,
                )
        return expr.substitute(definitions) if definitions else expr

    def function(self, name: str, stack: tuple[str, ...]) -> Expression:
        """The :class:`Expression` of the function ``name`` (cached; cycles raise)."""
        if name in self.functions:
            return self.functions[name]
        node, fpath = find(self.doc, self.index, "functions", name)
        if name in stack:
            cycle = " -> ".join([*stack[stack.index(name) :], name])
            raise InvalidHS3(f"functions refer to each other in a cycle: {cycle}", fpath)
        inner = (*stack, name)
        kind = node["type"]

        def refs(key: str) -> list[Ref]:
            items = node.get(key)
            if not isinstance(items, (list, tuple)):
                raise InvalidHS3(f"missing field '{key}' (an array)", fpath)
            return [self.function_ref(v, f"{fpath}.{key}[{k}]", inner) for k, v in enumerate(items)]

        if kind == "sum":
            expr = sum_function(refs("summands"))  # type: ignore[arg-type]
        elif kind == "product":
            expr = product_function(refs("factors"))  # type: ignore[arg-type]
        elif kind == "polynomial":
            if "x" not in node:
                raise InvalidHS3("missing field 'x'", fpath)
            x = self.function_ref(node["x"], f"{fpath}.x", inner)
            expr = polynomial_function(x, refs("coefficients"))  # type: ignore[arg-type]
        elif kind == "generic_function":
            expr = self.expression(node.get("expression"), f"{fpath}.expression", inner)
        else:
            raise HS3NotSupported(
                f"a function of type '{kind}' in an unbinned likelihood: not supported yet "
                f"(relaxed reads {', '.join(FUNCTION_TYPES)})",
                f"{fpath}.type",
            )
        self.functions[name] = expr
        return expr

    def function_ref(self, value: Any, path: str, stack: tuple[str, ...]) -> Ref:
        if isinstance(value, str) and value in self.index.positions["functions"]:
            return self.function(value, stack)
        ref = self.ref(value, path)
        if isinstance(ref, list):
            raise InvalidHS3("expected a name or a number, got an array", path)
        return ref

    # -- distributions -----------------------------------------------------------------
    def density(
        self,
        name: str,
        where: str,
        observable: str | tuple[str, ...],
        stack: tuple[str, ...] = (),
        top: bool = True,
    ) -> _Density:
        """The distribution ``name`` as a density of ``observable`` (module docstring), or of
        the tuple of observables of a multi-axis data set (a mixture of products of
        one-observable densities; its terms' ``dist`` is then a tuple of
        :class:`~relaxed.unbinned.Factor`\\ s). ``top``: the distribution of a likelihood's
        pair (or a product there), where a mixture keeps its coefficients and its extension;
        inside a mixture its weights are normalised fractions."""
        node, dpath = find(self.doc, self.index, "distributions", name)
        if name in stack:
            cycle = " -> ".join([*stack[stack.index(name) :], name])
            raise InvalidHS3(f"distributions refer to each other in a cycle: {cycle}", dpath)
        inner = (*stack, name)
        kind = node["type"]
        if kind == "mixture_dist":
            return self.mixture(node, dpath, observable, inner, top)
        if kind == "product_dist":
            if not isinstance(observable, str):
                return self.product_nd(node, dpath, observable, inner, top)
            return self.product(node, dpath, observable, inner, top)
        if not isinstance(observable, str):
            raise HS3NotSupported(
                f"a {kind} ('{name}') paired with data of the axes {list(observable)}: "
                "relaxed reads a density of several observables as a product_dist with one "
                "density per axis (or a mixture of such products)",
                f"{dpath}.type",
            )
        if kind == "generic_dist":
            path = f"{dpath}.expression"
            expr = self.expression(node.get("expression"), path, inner)
            self.check_observables(expr, observable, path, own=True)
            dist = generic_dist(expr, observable)
            params: dict[str, Ref] = {p: p for p in dist.parameters}
            return _Density([_Term(name, dist, params, 1.0)], unit=True)
        return _Density([self.fundamental(node, dpath, observable)], unit=True)

    def fundamental(self, node: Mapping[str, Any], dpath: str, observable: str) -> _Term:
        kind = node["type"]
        if kind == "histogram_dist":
            try:
                params = histogram_params(node.get("data", {}))
            except RelaxedError as err:
                raise InvalidHS3(f"invalid histogram: {err}", f"{dpath}.data") from err
            axis = node["data"]["axes"][0].get("name")
            if axis != observable:
                raise InvalidHS3(
                    f"a histogram of '{axis}' paired with data of '{observable}'",
                    f"{dpath}.data.axes[0].name",
                )
            return _Term(node["name"], histogram_dist, dict(params), 1.0)
        if kind == "poisson_dist":
            raise HS3NotSupported(
                "a poisson_dist is a distribution of a count, not a density of the unbinned "
                f"observable '{observable}'",
                f"{dpath}.type",
            )
        if kind == "multivariate_normal_dist":
            raise HS3NotSupported(
                "a multivariate_normal_dist (a joint density of several observables): not "
                "supported yet (relaxed reads multi-dimensional events as products of "
                "one-observable densities)",
                f"{dpath}.type",
            )
        try:
            dist = for_node(node)
        except RelaxedError as err:
            raise HS3NotSupported(
                f"a distribution of type '{kind}' in an unbinned likelihood: not supported yet "
                f"({err})",
                f"{dpath}.type",
            ) from err
        obs_field = dist.observable
        if obs_field not in node:
            raise InvalidHS3(f"missing field '{obs_field}' (the observable)", dpath)
        named = node[obs_field]
        if isinstance(named, (list, tuple)) and len(named) == 1:
            named = named[0]  # pyhs3 writes uniform_dist's x as a list
        if named != observable:
            raise InvalidHS3(
                f"a density of {node[obs_field]!r} paired with data whose axis is '{observable}'",
                f"{dpath}.{obs_field}",
            )
        params: dict[str, Ref] = {}
        for key in dist.parameters:
            if key not in node:
                raise InvalidHS3(f"missing field '{key}'", dpath)
            path = f"{dpath}.{key}"
            params[key] = self.check_observables(self.ref(node[key], path), observable, path)
        return _Term(node["name"], dist, params, 1.0)

    def mixture(
        self,
        node: Mapping[str, Any],
        dpath: str,
        observable: str | tuple[str, ...],
        stack: tuple[str, ...],
        top: bool,
    ) -> _Density:
        summands = node.get("summands")
        coefficients = node.get("coefficients")
        for key, items in (("summands", summands), ("coefficients", coefficients)):
            if not isinstance(items, (list, tuple)) or not items:
                raise InvalidHS3(f"missing field '{key}' (a non-empty array)", dpath)
        assert isinstance(summands, (list, tuple)) and isinstance(coefficients, (list, tuple))
        if node.get("ref_coef_norm") is not None:
            raise HS3NotSupported(
                "a mixture normalised by ref_coef_norm: not supported yet", f"{dpath}.ref_coef_norm"
            )
        n, c = len(summands), len(coefficients)
        if c not in (n, n - 1):
            raise InvalidHS3(
                f"{c} coefficients for {n} summands (give {n}, or {n - 1} for fractions)",
                f"{dpath}.coefficients",
            )
        extended = node.get("extended", c == n)
        if not isinstance(extended, bool):
            raise InvalidHS3(f"expected true or false, got {extended!r}", f"{dpath}.extended")
        if extended and c == n - 1:
            raise InvalidHS3(
                f"an extended mixture needs one coefficient per summand ({n}), got {c}",
                f"{dpath}.extended",
            )
        coefs: list[Ref] = []
        for k, value in enumerate(coefficients):
            path = f"{dpath}.coefficients[{k}]"
            ref = self.check_observables(self.ref(value, path), observable, path)
            if isinstance(ref, list):
                raise InvalidHS3("expected a name or a number, got an array", path)
            coefs.append(ref)
        unit = c == n - 1
        if unit:
            coefs.append(1.0 - sum_function(coefs))  # type: ignore[arg-type]
        # inside another mixture: the fractions c_k / sum(c) (N-1 coefficients are fractions)
        total = None if unit or top else sum_function(coefs)  # type: ignore[arg-type]
        terms: list[_Term] = []
        for k, summand in enumerate(summands):
            where = f"{dpath}.summands[{k}]"
            if not isinstance(summand, str) or summand not in self.index.positions["distributions"]:
                raise InvalidHS3(f"unknown distribution {summand!r}", where)
            inner = self.density(summand, where, observable, stack, top=False)
            if inner.constraints:
                raise HS3NotSupported(
                    "a product with constraint factors inside a mixture: not supported yet "
                    "(put the constraints in a product around the mixture)",
                    where,
                )
            scale = as_expression(coefs[k])  # type: ignore[arg-type]
            if total is not None:
                scale = scale / total
            for term in inner.terms:  # inner weights are fractions (top=False)
                weight = scale * term.weight  # type: ignore[operator]
                terms.append(_Term(term.name, term.dist, term.params, _simplest(weight)))
        return _Density(terms, unit=unit or not top, extended=top and extended)

    def product(
        self,
        node: Mapping[str, Any],
        dpath: str,
        observable: str,
        stack: tuple[str, ...],
        top: bool,
    ) -> _Density:
        factors = node.get("factors")
        if not isinstance(factors, (list, tuple)) or not factors:
            raise InvalidHS3("missing field 'factors' (a non-empty array)", dpath)
        densities: list[tuple[str, str]] = []
        constraints: list[tuple[str, str]] = []
        for k, factor in enumerate(factors):
            where = f"{dpath}.factors[{k}]"
            if not isinstance(factor, str) or factor not in self.index.positions["distributions"]:
                raise InvalidHS3(f"unknown distribution {factor!r}", where)
            mentioned = self.mentions(factor, ())
            if observable in mentioned:
                densities.append((factor, where))
                continue
            others = sorted(mentioned & self.observables - {observable})
            if others:
                raise HS3NotSupported(
                    f"a product_dist over the observables '{observable}' and {others} needs "
                    "multi-dimensional events, which unbinned models do not have yet",
                    where,
                )
            constraints.append((factor, where))
        if not densities:
            raise InvalidHS3(
                f"no factor of this product depends on the observable '{observable}'", dpath
            )
        if len(densities) > 1:
            raise HS3NotSupported(
                f"a product of several densities of '{observable}' "
                f"({[d for d, _ in densities]}), normalised jointly: not supported yet (write "
                "the product as one generic_dist)",
                densities[1][1],
            )
        if constraints and not top:
            raise HS3NotSupported(
                "a product with constraint factors inside another distribution: not supported yet",
                dpath,
            )
        inner = self.density(densities[0][0], densities[0][1], observable, stack, top)
        inner.constraints = inner.constraints + constraints
        return inner

    def product_nd(
        self,
        node: Mapping[str, Any],
        dpath: str,
        observables: tuple[str, ...],
        stack: tuple[str, ...],
        top: bool,
    ) -> _Density:
        """A ``product_dist`` paired with data of several axes: one density factor per
        observable (each normalised over its own axis; a factor that is a mixture of one
        observable's densities expands into one term per combination of summands), plus
        Gaussian constraint factors at the top; or one factor of all the observables (a
        mixture of such products) with constraint factors."""
        factors = node.get("factors")
        if not isinstance(factors, (list, tuple)) or not factors:
            raise InvalidHS3("missing field 'factors' (a non-empty array)", dpath)
        by_observable: dict[str, tuple[str, str]] = {}
        joint: list[tuple[str, str]] = []
        constraints: list[tuple[str, str]] = []
        for k, factor in enumerate(factors):
            where = f"{dpath}.factors[{k}]"
            if not isinstance(factor, str) or factor not in self.index.positions["distributions"]:
                raise InvalidHS3(f"unknown distribution {factor!r}", where)
            mentioned = self.mentions(factor, ())
            others = sorted(mentioned & self.observables - set(observables))
            if others:
                raise HS3NotSupported(
                    f"a product_dist over the observables {list(observables)} and {others}, "
                    "which are not axes of its data set: not supported",
                    where,
                )
            hits = [o for o in observables if o in mentioned]
            if len(hits) > 1 and self.distributions_node(factor)["type"] not in COMPOSITES:
                # a one-observable density whose fields name another axis: read it as a
                # density of its own observable (which refuses the other, naming the field)
                hits = [self.own_observable(factor, hits)]
            if not hits:
                constraints.append((factor, where))
            elif len(hits) == len(observables) > 1:
                joint.append((factor, where))
            elif len(hits) > 1:
                raise HS3NotSupported(
                    f"a factor of the observables {hits} (a density of some of the axes "
                    f"{list(observables)} jointly): relaxed reads one density per axis, or one "
                    "of all the axes",
                    where,
                )
            elif hits[0] in by_observable:
                raise HS3NotSupported(
                    f"a product of several densities of '{hits[0]}' "
                    f"({[by_observable[hits[0]][0], factor]}), normalised jointly: not "
                    "supported yet (write the product as one generic_dist)",
                    where,
                )
            else:
                by_observable[hits[0]] = (factor, where)
        if constraints and not top:
            raise HS3NotSupported(
                "a product with constraint factors inside another distribution: not supported yet",
                dpath,
            )
        if joint:
            if len(joint) > 1 or by_observable:
                extra = joint[1] if len(joint) > 1 else next(iter(by_observable.values()))
                raise HS3NotSupported(
                    f"a product of a density of all the observables {list(observables)} "
                    f"('{joint[0][0]}') and further densities of them: not supported",
                    extra[1],
                )
            inner = self.density(joint[0][0], joint[0][1], observables, stack, top)
            inner.constraints = inner.constraints + constraints
            return inner
        if not by_observable:
            raise InvalidHS3(
                f"no factor of this product depends on the observables {list(observables)}",
                dpath,
            )
        missing = [o for o in observables if o not in by_observable]
        if missing:
            raise HS3NotSupported(
                f"a product_dist without a density of {missing}: with data of the axes "
                f"{list(observables)} each density needs one factor per axis",
                dpath,
            )
        per_axis = [self.density(*by_observable[o], o, stack, top=False) for o in observables]
        terms: list[_Term] = []
        combos = list(itertools.product(*[d.terms for d in per_axis]))
        for combo in combos:
            weight = as_expression(1.0)
            for term in combo:
                weight = weight * term.weight  # type: ignore[operator]
            label = node["name"] if len(combos) == 1 else "*".join(t.name for t in combo)
            dist = tuple(
                Factor(o, t.dist, t.params) for o, t in zip(observables, combo, strict=True)
            )
            terms.append(_Term(label, dist, {}, _simplest(weight)))  # type: ignore[arg-type]
        return _Density(terms, unit=True, constraints=constraints)

    def distributions_node(self, name: str) -> Mapping[str, Any]:
        return find(self.doc, self.index, "distributions", name)[0]

    def own_observable(self, name: str, candidates: list[str]) -> str:
        """The observable a fundamental distribution's observable field names (the first
        candidate when there is none)."""
        node = self.distributions_node(name)
        try:
            named = node.get(for_node(node).observable)
        except RelaxedError:
            return candidates[0]
        if isinstance(named, (list, tuple)) and len(named) == 1:
            named = named[0]
        return named if named in candidates else candidates[0]

    def mentions(self, name: str, stack: tuple[str, ...]) -> set[str]:
        """Every name a distribution or function refers to, through the distributions and
        functions it names (for telling a product's factors apart)."""
        key = "distributions" if name in self.index.positions["distributions"] else "functions"
        node, _ = find(self.doc, self.index, key, name)
        if name in stack:
            return set()
        out: set[str] = set()
        for field_name, value in node.items():
            if field_name in ("name", "type"):
                continue
            if field_name == "expression" and isinstance(value, str):
                try:
                    items: list[Any] = list(parse_expression(value).parameters)
                except InvalidExpression:
                    items = []
            elif isinstance(value, str):
                items = [value]
            elif isinstance(value, (list, tuple)):
                items = [v for v in value if isinstance(v, str)]
            else:
                continue
            for item in items:
                out.add(item)
                known = (
                    item in self.index.positions["distributions"]
                    or item in self.index.positions["functions"]
                )
                if known:
                    out |= self.mentions(item, (*stack, name))
        return out

    # -- constraints -------------------------------------------------------------------
    def constraint(self, name: str, where: str, observed: float | None) -> _Constraint:
        """A Gaussian constraint (module docstring): the parameter, its global observable
        and width."""
        node, dpath = find(self.doc, self.index, "distributions", name)
        if node["type"] not in GAUSSIANS:
            raise HS3NotSupported(
                f"a constraint of type '{node['type']}' ('{name}'): not supported yet (relaxed "
                "reads Gaussian constraints of a parameter)",
                where,
            )
        for key in ("x", "mean", "sigma"):
            if key not in node:
                raise InvalidHS3(f"missing field '{key}'", dpath)
        sigma = self.constant(node["sigma"])
        if sigma is None or not sigma > 0:
            raise HS3NotSupported(
                f"a Gaussian constraint whose width is {node['sigma']!r}: relaxed reads a "
                "constant sigma > 0",
                f"{dpath}.sigma",
            )
        x, mean = node["x"], node["mean"]
        if observed is not None:
            parameter, centre, ppath = mean, observed, f"{dpath}.mean"
        elif self.constant(x) is not None:
            parameter, centre, ppath = mean, self.constant(x), f"{dpath}.mean"
        elif self.constant(mean) is not None:
            parameter, centre, ppath = x, self.constant(mean), f"{dpath}.x"
        else:
            raise HS3NotSupported(
                f"a Gaussian constraint without a constant value: neither x ({x!r}) nor mean "
                f"({mean!r}) is a number or a const parameter of the parameter point (a "
                "global observable), and it has no datum in the likelihood",
                dpath,
            )
        if not isinstance(parameter, str) or parameter in self.index.positions["functions"]:
            raise HS3NotSupported(
                f"a Gaussian constraint of {parameter!r}: relaxed reads a constraint of one "
                "parameter",
                ppath,
            )
        if not self.is_parameter(parameter):
            raise InvalidHS3(
                f"unknown parameter '{parameter}' (no domain or parameter point gives it)", ppath
            )
        assert centre is not None
        return _Constraint(parameter, float(centre), float(sigma), dpath)

    def observed(self, ref: Any, where: str) -> float:
        """The datum of a constraint pair: an inline number, a ``point`` data set or a one-bin
        ``binned`` one."""
        if _number(ref):
            return float(ref)
        data, dpath = find(self.doc, self.index, "data", ref)
        if data["type"] == "point":
            return float(data["value"])
        if data["type"] == "binned" and len(data["contents"]) == 1:
            return float(data["contents"][0])
        raise HS3NotSupported(
            f"{data['type']} data ('{ref}') for a Gaussian constraint: relaxed reads one number",
            where,
        )


def _simplest(weight: Expression) -> Ref:
    """A weight as a number or a name where it is one."""
    if isinstance(weight.tree, Num):
        return weight.tree.value
    if isinstance(weight.tree, Var):
        return weight.tree.name
    return weight


def _data(
    data: Mapping[str, Any], dpath: str
) -> tuple[Any, Any, Any, np.ndarray, np.ndarray | None]:
    """Check an ``unbinned`` data set: (observable, lo, hi, entries, weights or None); for
    several axes (observables, per-axis lows, per-axis highs, entries of shape ``(N, d)``,
    weights)."""
    axes = data.get("axes")
    if not isinstance(axes, (list, tuple)) or not axes:
        raise InvalidHS3("missing field 'axes' (one per observable: name, min, max)", dpath)
    names: list[str] = []
    bounds: list[tuple[float, float]] = []
    for k, axis in enumerate(axes):
        apath = f"{dpath}.axes[{k}]"
        if not isinstance(axis, Mapping) or not isinstance(axis.get("name"), str):
            raise InvalidHS3("expected an axis with a name", apath)
        if "categories" in axis:
            raise HS3NotSupported("a categorical axis of unbinned data: not supported yet", apath)
        for key in ("min", "max"):
            if key not in axis or not _number(axis[key]):
                raise InvalidHS3(
                    f"the range of unbinned data needs a finite '{key}', got {axis.get(key)!r}",
                    f"{apath}.{key}" if key in axis else apath,
                )
        lo, hi = float(axis["min"]), float(axis["max"])
        if not lo < hi:
            raise InvalidHS3(f"min ({lo}) must be below max ({hi})", apath)
        if axis["name"] in names:
            raise InvalidHS3(f"a second axis named '{axis['name']}'", f"{apath}.name")
        names.append(axis["name"])
        bounds.append((lo, hi))
    entries = data.get("entries")
    if not isinstance(entries, (list, tuple)):
        raise InvalidHS3("missing field 'entries' (an array)", dpath)
    d = len(names)
    x = _entries(entries, f"{dpath}.entries") if d == 1 else _rows(entries, d, f"{dpath}.entries")
    columns = x[:, None] if d == 1 else x
    for k, (name, (lo, hi)) in enumerate(zip(names, bounds, strict=True)):
        outside = np.flatnonzero(~((columns[:, k] >= lo) & (columns[:, k] <= hi)))
        if outside.size:
            i = int(outside[0])
            raise InvalidHS3(
                f"{columns[i, k]} lies outside the range [{lo}, {hi}] of '{name}' "
                f"({outside.size} of {columns.shape[0]} entries do)",
                f"{dpath}.entries[{i}]" + (f"[{k}]" if d > 1 else ""),
            )
    weights = None
    count = x.shape[0]
    if data.get("weights") is not None:
        raw = data["weights"]
        if not isinstance(raw, (list, tuple)):
            raise InvalidHS3(f"expected an array of numbers, got {raw!r}", f"{dpath}.weights")
        if len(raw) != count:
            raise InvalidHS3(f"{len(raw)} weights for {count} entries", f"{dpath}.weights")
        for i, w in enumerate(raw):
            if not _number(w):
                raise InvalidHS3(f"expected a finite number, got {w!r}", f"{dpath}.weights[{i}]")
        weights = np.asarray(raw, dtype=np.float64)
    if d == 1:
        return names[0], bounds[0][0], bounds[0][1], x, weights
    los = tuple(lo for lo, _ in bounds)
    his = tuple(hi for _, hi in bounds)
    return tuple(names), los, his, x, weights


def _rows(entries: Sequence[Any], d: int, path: str) -> np.ndarray:
    """The events of ``entries`` of data with ``d > 1`` axes: ``[[x0, y0], [x1, y1], ...]``,
    shape ``(N, d)``."""
    try:
        array = np.asarray(entries, dtype=np.float64)
        if array.ndim == 2 and array.shape[1] == d:
            bad = np.argwhere(~np.isfinite(array))
            if bad.size:
                i, k = (int(v) for v in bad[0])
                raise InvalidHS3(
                    f"expected a finite number, got {array[i, k]}", f"{path}[{i}][{k}]"
                )
            return array
        if array.size == 0:
            return array.reshape(0, d)
    except (TypeError, ValueError):
        pass
    for i, entry in enumerate(entries):  # name the malformed entry
        if not isinstance(entry, (list, tuple)) or len(entry) != d:
            got = len(entry) if isinstance(entry, (list, tuple)) else f"{entry!r}"
            raise InvalidHS3(
                f"an entry of data with {d} axes needs {d} coordinates, got {got}", f"{path}[{i}]"
            )
        for k, value in enumerate(entry):
            if not _number(value):
                raise InvalidHS3(f"expected a finite number, got {value!r}", f"{path}[{i}][{k}]")
    raise InvalidHS3("expected an array of entries", path)  # pragma: no cover


def _entries(entries: Sequence[Any], path: str) -> np.ndarray:
    """The events of ``entries`` (``[[x0], [x1], ...]`` or ``[x0, x1, ...]``)."""
    try:
        array = np.asarray(entries, dtype=np.float64)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim == 1 or array.size == 0:
            bad = np.flatnonzero(~np.isfinite(array.reshape(-1)))
            if bad.size:
                i = int(bad[0])
                raise InvalidHS3(f"expected a finite number, got {array[i]}", f"{path}[{i}]")
            return array.reshape(-1)
    except (TypeError, ValueError):
        pass
    out = np.empty(len(entries))
    for i, entry in enumerate(entries):  # mixed forms, or a malformed entry to name
        if isinstance(entry, (list, tuple)):
            if len(entry) != 1:
                raise InvalidHS3(
                    f"an entry of one-axis data needs one coordinate, got {len(entry)}",
                    f"{path}[{i}]",
                )
            entry = entry[0]
        if not _number(entry):
            raise InvalidHS3(f"expected a finite number, got {entry!r}", f"{path}[{i}]")
        out[i] = float(entry)
    return out


def translate_unbinned(
    doc: Mapping[str, Any],
    index: Index,
    analysis: str | None = None,
    parameter_point: str | None = None,
    batch_size: int | None = None,
    capacity: int | str | None = None,
    rename: Mapping[str, str] | None = None,
    shared: Mapping[str, tuple[float, tuple[float, float], bool]] | None = None,
) -> UnbinnedTranslation:
    """Translate the unbinned pairs of an analysis's likelihood (the only likelihood when the
    document has no analysis) into :class:`UnbinnedPart`\\ s (module docstring):
    :func:`read_unbinned`, which checks everything, then :func:`build_unbinned`.

    Args:
        doc, index: a validated document and its index (:func:`relaxed.hs3.validate.validate`).
        analysis, parameter_point: which analysis and parameter point (as
            :meth:`relaxed.hs3.HS3Workspace.model`).
        batch_size, capacity, rename, shared: see :func:`build_unbinned`.

    Raises:
        relaxed.hs3.InvalidHS3: what is wrong in the document, with its JSON path.
        relaxed.hs3.HS3NotSupported: what relaxed cannot build yet, with its JSON path.
    """
    reading = read_unbinned(doc, index, analysis, parameter_point)
    return build_unbinned(reading, batch_size, capacity, rename, shared)


@dataclass(frozen=True)
class UnbinnedReading:
    """The checked unbinned pairs of a likelihood, before any model is built
    (:func:`read_unbinned`).

    Attributes:
        pairs: per unbinned pair ``(k, distribution, data set, path, observable, lo, hi, x,
            weights)``.
        densities: per pair, the density read from its distribution.
        constraints: parameter -> its Gaussian constraint.
        binned, left: as :class:`UnbinnedTranslation`'s.
        values: the parameter point's entries by name (with their positions).
        bounds: the analysis's domains (parameter -> min, max, path).
        point_path: the parameter point's JSON path.
        pois: the analysis's parameters of interest.
        analysis, likelihood, parameter_point: the names used (or ``None``).
    """

    pairs: tuple[tuple[Any, ...], ...]
    densities: tuple[_Density, ...]
    constraints: Mapping[str, _Constraint]
    binned: tuple[int, ...]
    left: tuple[tuple[str, int], ...]
    values: Mapping[str, tuple[Mapping[str, Any], int]]
    bounds: Mapping[str, tuple[float, float, str]]
    point_path: str | None
    pois: tuple[str, ...]
    analysis: str | None
    likelihood: str
    parameter_point: str | None


def read_unbinned(
    doc: Mapping[str, Any],
    index: Index,
    analysis: str | None = None,
    parameter_point: str | None = None,
) -> UnbinnedReading:
    """Check the unbinned pairs of an analysis's likelihood, their data, distributions,
    functions and constraints, and read them (nothing is built: every error of the module
    docstring is raised here).

    Raises:
        relaxed.hs3.InvalidHS3: what is wrong in the document, with its JSON path.
        relaxed.hs3.HS3NotSupported: what relaxed cannot build yet, with its JSON path.
    """
    chosen, apath, lh, lpath = select_analysis(doc, index, analysis)
    point, ppath = select_parameter_point(doc, index, chosen, parameter_point)
    values: dict[str, tuple[Mapping[str, Any], int]] = {}
    if point is not None:
        values = {p["name"]: (p, k) for k, p in enumerate(point["parameters"])}
    bounds = domain_bounds(doc, index, chosen, apath)

    # -- the pairs: binned, unbinned, constraints --------------------------------------------
    binned: list[int] = []
    unbinned: list[tuple[int, str, str, Mapping[str, Any], str]] = []
    candidates: list[tuple[str, str, Any, tuple[str, int]]] = []  # name, where, ref, position
    for k, (name, ref) in enumerate(zip(lh["distributions"], lh["data"], strict=True)):
        node, _ = find(doc, index, "distributions", name)
        where = f"{lpath}.distributions[{k}]"
        data = None
        if isinstance(ref, str):
            data, _ = find(doc, index, "data", ref)
        if node["type"] == "histfactory_dist":
            binned.append(k)
        elif data is not None and data["type"] == "unbinned":
            unbinned.append((k, name, ref, data, where))
        elif node["type"] in GAUSSIANS:
            candidates.append((name, where, ref, ("distributions", k)))
        else:
            what = f"the number {ref!r}" if data is None else f"{data['type']} data '{ref}'"
            raise HS3NotSupported(
                f"a {node['type']} ('{name}') paired with {what}: not supported yet (relaxed "
                "reads histfactory_dist with binned data, densities with unbinned data and "
                "Gaussian constraints with a number)",
                where,
            )
    for k, name in enumerate(lh.get("aux_distributions", [])):
        candidates.append((name, f"{lpath}.aux_distributions[{k}]", None, ("aux_distributions", k)))
    # Gaussians a HistFactory normfactor names as its constraint (a luminosity): the binned
    # translation's, also when unbinned parts use the parameter
    binned_constraints = {
        mod["constraint_name"]
        for k in binned
        for sample in find(doc, index, "distributions", lh["distributions"][k])[0]["samples"]
        for mod in sample.get("modifiers", [])
        if "constraint_name" in mod
    }

    # -- data first (cheap checks before any model) ----------------------------------------
    checked = []
    observables: set[str] = set()
    for k, name, ref, data, where in unbinned:
        _, dpath = find(doc, index, "data", ref)
        obs, lo, hi, x, w = _data(data, dpath)
        observables |= {obs} if isinstance(obs, str) else set(obs)
        checked.append((k, name, ref, where, obs, lo, hi, x, w))
    reader = _Reader(doc, index, values, bounds, observables, set(index.parameters))

    # -- densities, constraints ------------------------------------------------------------
    densities = [reader.density(name, where, obs) for _, name, _, where, obs, *_ in checked]
    found: dict[str, _Constraint] = {}
    seen_factors: set[str] = set()
    sources: list[tuple[str, str, float | None, tuple[str, int] | None]] = []
    left: list[tuple[str, int]] = []
    for name, where, ref, position in candidates:
        if name in binned_constraints:
            left.append(position)
            continue
        observed = None if ref is None else reader.observed(ref, where)
        sources.append((name, where, observed, position))
    for density in densities:
        for factor, where in density.constraints:
            if factor not in seen_factors:
                seen_factors.add(factor)
                sources.append((factor, where, None, None))
    used: set[str] = set()
    for density in densities:
        for term in density.terms:
            used |= term.names()
    for name, where, observed, position in sources:
        c = reader.constraint(name, where, observed)
        if c.parameter not in used:
            if binned and position is not None:
                left.append(position)
                continue
            raise HS3NotSupported(
                f"a constraint of '{c.parameter}', which no distribution of the likelihood "
                "uses: not supported",
                where,
            )
        if c.parameter in found:
            raise HS3NotSupported(
                f"a second constraint of '{c.parameter}' (also {found[c.parameter].path}): "
                "relaxed reads one Gaussian constraint per parameter",
                where,
            )
        found[c.parameter] = c

    pois = tuple(chosen.get("parameters_of_interest", [])) if chosen is not None else ()
    return UnbinnedReading(
        pairs=tuple(checked),
        densities=tuple(densities),
        constraints=found,
        binned=tuple(binned),
        left=tuple(left),
        values=values,
        bounds=bounds,
        point_path=ppath,
        pois=pois,
        analysis=None if chosen is None else chosen["name"],
        likelihood=lh["name"],
        parameter_point=None if point is None else point["name"],
    )


def build_unbinned(
    reading: UnbinnedReading,
    batch_size: int | None = None,
    capacity: int | str | None = None,
    rename: Mapping[str, str] | None = None,
    shared: Mapping[str, tuple[float, tuple[float, float], bool]] | None = None,
) -> UnbinnedTranslation:
    """The :class:`~relaxed.unbinned.ExtendedModel` of each pair read by
    :func:`read_unbinned`.

    Args:
        reading: the pairs, read.
        batch_size: the models' ``batch_size`` (events per batch of the sum over events).
        capacity: the models' ``capacity`` (event slots of their flat data, for
            :mod:`relaxed.infer`): a number, ``"auto"``
            (:func:`relaxed.unbinned.model.default_capacity` of the larger of the observed
            and the expected number of events) or ``None``.
        rename: HS3 parameter name -> the name in the models (the binned part's pyhf names
            of a combined likelihood, e.g. ``"gamma_1" -> "gamma[1]"``).
        shared: parameter (renamed) -> ``(init, bounds, fixed)`` to use instead of the
            parameter point's and the domains' (a parameter shared with the binned part
            takes its settings there).

    Raises:
        relaxed.hs3.InvalidHS3: a model that cannot be built at its initial parameters (a
            distribution's check fails), with the pair's path.
    """
    found = reading.constraints
    values, bounds, ppath = reading.values, reading.bounds, reading.point_path
    pois = list(reading.pois)
    checked, densities = reading.pairs, reading.densities
    renamed = dict(rename or {})
    parts = []
    assigned: set[str] = set()
    for (_, name, ref, where, obs, lo, hi, x, w), density in zip(checked, densities, strict=True):
        names: set[str] = set()
        components = []
        counts: dict[str, int] = {}
        for term in density.terms:
            names |= term.names()
            label = term.name
            counts[label] = counts.get(label, 0) + 1
            if counts[label] > 1:
                label = f"{label}#{counts[label]}"
            fields = {key: _rename(value, renamed) for key, value in term.params.items()}
            dist = term.dist
            if isinstance(dist, tuple) and not isinstance(dist, Distribution):
                dist = tuple(
                    Factor(
                        f.observable,
                        f.distribution,
                        {key: _rename(value, renamed) for key, value in f.parameters.items()},
                    )
                    for f in dist
                )
            components.append(Component(label, dist, fields, _rename(term.weight, renamed)))
        params = {}
        axes = {obs} if isinstance(obs, str) else set(obs)
        for p in sorted(names - axes):
            constraint = None
            if p in found and p not in assigned:
                constraint = (found[p].mean, found[p].sigma)
                assigned.add(p)
            target = renamed.get(p, p)
            par = _parameter(p, values, bounds, ppath, constraint)
            if shared and target in shared:
                init, (b_lo, b_hi), fixed = shared[target]
                par = Parameter(init, (b_lo, b_hi), fixed, constraint)
            params[target] = par
        poi = renamed.get(pois[0], pois[0]) if len(pois) == 1 else None
        try:
            model = ExtendedModel(
                obs,
                (lo, hi) if isinstance(obs, str) else tuple(zip(lo, hi, strict=True)),
                components,
                params,
                poi=poi if poi in params else None,
                batch_size=batch_size,
                extended=density.extended,
            )
            if capacity is not None:
                model = _with_capacity(model, capacity, x, w)
        except RelaxedError as err:
            raise InvalidHS3(f"cannot build the model of '{name}': {err}", where) from err
        parts.append(UnbinnedPart(name, ref, where, model, x, w))
    return UnbinnedTranslation(
        parts=tuple(parts),
        binned=reading.binned,
        constraints={p: (c.mean, c.sigma, c.path) for p, c in found.items()},
        left=reading.left,
        analysis=reading.analysis,
        likelihood=reading.likelihood,
        parameter_point=reading.parameter_point,
    )


def _rename(ref: Ref, renamed: Mapping[str, str]) -> Ref:
    """A reference with its parameter names replaced (``renamed``)."""
    if not renamed:
        return ref
    if isinstance(ref, str):
        return renamed.get(ref, ref)
    if isinstance(ref, Expression):
        hits = {n: renamed[n] for n in ref.parameters if n in renamed}
        return ref.substitute(hits) if hits else ref
    if isinstance(ref, list):
        return [_rename(r, renamed) for r in ref]
    return ref


def _with_capacity(
    model: ExtendedModel, capacity: int | str, x: np.ndarray, w: np.ndarray | None
) -> ExtendedModel:
    """``model`` with ``capacity`` event slots (``"auto"``: :func:`default_capacity` of the
    larger of the observed and, for an extended model, the expected number of events)."""
    if capacity == "auto":
        count = x.shape[0]
        n = float(count if w is None else max(count, float(np.sum(np.abs(w)))))
        if model.extended:
            n = max(n, float(model.expected_events(np.asarray(model.config.suggested_init()))))
        capacity = max(default_capacity(n, model.asimov_nodes, model.ndim), count)
    return dataclasses.replace(model, capacity=capacity)


def _parameter(
    name: str,
    values: Mapping[str, tuple[Mapping[str, Any], int]],
    bounds: Mapping[str, tuple[float, float, str]],
    ppath: str | None,
    constraint: tuple[float, float] | None,
) -> Parameter:
    """A parameter from the point (init, const) and the domains (bounds)."""
    lo, hi = bounds[name][:2] if name in bounds else (-math.inf, math.inf)
    if name in values:
        entry, k = values[name]
        init = float(entry["value"])
        if not lo <= init <= hi:
            raise InvalidHS3(
                f"'{name}' = {init} lies outside its domain [{lo}, {hi}] ({bounds[name][2]})",
                f"{ppath}.parameters[{k}].value",
            )
        return Parameter(init, (lo, hi), bool(entry.get("const", False)), constraint)
    if math.isfinite(lo) and math.isfinite(hi):
        return Parameter(0.5 * (lo + hi), (lo, hi), False, constraint)
    return Parameter(min(max(0.0, lo), hi), (lo, hi), False, constraint)
