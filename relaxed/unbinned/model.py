r"""An extended unbinned likelihood: a mixture of normalised distributions of one observable,
or of products of one-observable distributions over several observables.

The model has components :math:`p = 1 \dots P`, each a distribution :math:`f_p(x \mid \theta)`
normalised over the observable's domain (:mod:`relaxed.distributions`) with an expected
number of events :math:`\nu_p(\theta)` (a parameter, or a constant), plus Gaussian
constraints on some parameters. For events :math:`x_i` with weights :math:`w_i`

.. math::

    -\log L(\theta) = -\sum_i w_i \log\Big(\sum_p \nu_p f_p(x_i \mid \theta)\Big)
        + \sum_p \nu_p
        + \sum_{j \in C} \frac{(\theta_j - m_j)^2}{2 s_j^2},

the extended likelihood (HS3's ``mixture_dist`` with ``extended: true``: the sum of the
coefficients is the Poisson rate, the mixture uses the coefficients normalised by it), without
the constant terms :math:`\log n!` and :math:`\tfrac12\log 2\pi s_j^2`.

With several observables :math:`x = (x_1, \dots, x_d)` (``observable=("m", "t")``) each
component is a product of one-dimensional factors (:class:`Factor`), one per observable, each
normalised over its own axis, :math:`f_p(x) = \prod_k f_{pk}(x_k)`, so that :math:`f_p` is
normalised over the box of the domains; the events are then rows of :math:`d` numbers.

The sum over events runs in batches of ``batch_size`` events (``jax.lax.map``), so that the
intermediate arrays hold ``P * batch_size`` numbers, not ``P * N``: the memory of a
value-and-gradient stays a few arrays of ``N`` numbers for any number of events. The
parameters are a flat vector in the order of ``config.par_order``, as for
:class:`relaxed.Model`, and every function is pure: ``jit``, ``vmap`` over parameter points
and ``grad`` in the parameters and in the events themselves.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions import DISTRIBUTIONS, Distribution, check_events
from relaxed.exceptions import InvalidArgument, InvalidData, InvalidModel

__all__ = [
    "Component",
    "Factor",
    "Parameter",
    "UnbinnedConfig",
    "ExtendedModel",
    "Events",
    "events",
    "default_capacity",
    "default_asimov_nodes",
]


@runtime_checkable
class ParameterFunction(Protocol):
    """What a component needs of a function of named parameters (an HS3 ``sum``,
    ``product``, ``polynomial`` or ``generic_function``; e.g.
    :class:`relaxed.unbinned.expressions.Expression`): ``parameters``, the names it reads,
    and ``f(values)`` with ``values`` a mapping from those names to scalars."""

    parameters: tuple[str, ...]

    def __call__(self, values: Mapping[str, Array]) -> Array: ...


#: A parameter reference: a parameter's name, a constant, a function of parameters, or a
#: sequence of references (an array field such as a polynomial's coefficients).
Ref = str | float | ParameterFunction | Sequence["Ref"]


def _names(ref: Ref) -> set[str]:
    if isinstance(ref, str):
        return {ref}
    if isinstance(ref, ParameterFunction):
        return set(ref.parameters)
    if isinstance(ref, Sequence):
        return set().union(*(_names(r) for r in ref))
    return set()


@dataclass(frozen=True)
class Factor:
    """One factor of a component of several observables: the density ``distribution`` (an HS3
    type of :data:`relaxed.distributions.DISTRIBUTIONS`) of ``observable`` alone, normalised
    over that observable's domain, with its ``parameters`` (HS3 field -> parameter reference).

    Example:
        >>> Factor("t", "exponential_dist", {"c": 0.5}).observable
        't'
    """

    observable: str
    distribution: str | Distribution
    parameters: Mapping[str, Ref]


@dataclass(frozen=True)
class Component:
    """One term of the extended mixture: ``distribution`` (an HS3 type of
    :data:`relaxed.distributions.DISTRIBUTIONS`) with its ``parameters`` (HS3 field ->
    parameter name or constant) and its expected number of events ``rate``.

    For a model of several observables ``distribution`` is a tuple of :class:`Factor`\\ s, one
    per observable, and ``parameters`` is empty (each factor has its own): the component's
    density is the product of the factors.

    Example:
        >>> Component("signal", "gaussian_dist", {"mean": "m0", "sigma": 1.5}, "n_sig").rate
        'n_sig'
        >>> sig = Component("sig", (Factor("m", "gaussian_dist", {"mean": "m0", "sigma": 1.5}),
        ...                         Factor("t", "exponential_dist", {"c": 0.5})), {}, "n_sig")
        >>> [f.observable for f in sig.distribution]
        ['m', 't']
    """

    name: str
    distribution: str | Distribution | tuple[Factor, ...]
    parameters: Mapping[str, Ref]
    rate: Ref


@dataclass(frozen=True)
class Parameter:
    """A free parameter: its initial value, bounds, whether it is fixed, and an optional
    Gaussian constraint ``(mean, sigma)``.

    Example:
        >>> Parameter(100.0, (0.0, 1e4)).bounds
        (0.0, 10000.0)
    """

    init: float
    bounds: tuple[float, float]
    fixed: bool = False
    constraint: tuple[float, float] | None = None


@dataclass(frozen=True)
class UnbinnedConfig:
    """The parameters of an :class:`ExtendedModel`, in pyhf's vocabulary.

    Example:
        >>> cfg = UnbinnedConfig(("mu", "b"), {"mu": Parameter(1.0, (0.0, 10.0)),
        ...                                     "b": Parameter(50.0, (0.0, 1e3))}, "mu")
        >>> cfg.npars, cfg.poi_index, cfg.suggested_init()
        (2, 0, [1.0, 50.0])
    """

    par_order: tuple[str, ...]
    parameters: Mapping[str, Parameter]
    poi_name: str | None = None

    @property
    def npars(self) -> int:
        return len(self.par_order)

    @property
    def par_names(self) -> list[str]:
        return list(self.par_order)

    @property
    def poi_index(self) -> int | None:
        return None if self.poi_name is None else self.par_order.index(self.poi_name)

    def par_slice(self, name: str) -> slice:
        i = self.par_order.index(name)
        return slice(i, i + 1)

    def suggested_init(self) -> list[float]:
        return [float(self.parameters[n].init) for n in self.par_order]

    def suggested_bounds(self) -> list[tuple[float, float]]:
        return [tuple(map(float, self.parameters[n].bounds)) for n in self.par_order]  # type: ignore[misc]

    def suggested_fixed(self) -> list[bool]:
        return [bool(self.parameters[n].fixed) for n in self.par_order]


class Events(NamedTuple):
    """Events in the layout of a model: ``x`` (shape ``(B, batch_size)``; ``(B, batch_size,
    d)`` for a model of ``d > 1`` observables) and ``w`` (the weights, shape ``(B,
    batch_size)``, zero for the padding that fills the last batch); a JAX pytree, so a fit is
    differentiable in both.

    Example:
        >>> Events(x=jnp.ones((1, 3)), w=jnp.ones((1, 3))).x.shape
        (1, 3)
    """

    x: Array
    w: Array


def events(
    model: ExtendedModel,
    x: ArrayLike,
    weights: ArrayLike | None = None,
    allow_negative_weights: bool = False,
) -> Events:
    """Check events and lay them out in batches for ``model`` (padding with weight zero).

    Raises :class:`relaxed.exceptions.InvalidData` for events outside the observable's
    domain (naming the observable), NaN, non-finite weights, a length mismatch, or negative
    weights unless ``allow_negative_weights`` (sWeights). For a model of ``d > 1``
    observables ``x`` has shape ``(N, d)``, one row per event.

    Example:
        >>> model = ExtendedModel("x", (0.0, 10.0), [Component("b", "uniform_dist", {}, "n")],
        ...                       {"n": Parameter(3.0, (0.0, 100.0))}, batch_size=2)
        >>> e = events(model, [1.0, 2.0, 3.0])
        >>> e.x.shape, e.w.tolist()
        ((2, 2), [[1.0, 1.0], [1.0, 0.0]])
        >>> flat = [Factor("x", "uniform_dist", {}), Factor("y", "uniform_dist", {})]
        >>> model2 = ExtendedModel(("x", "y"), ((0.0, 1.0), (0.0, 2.0)),
        ...                        [Component("b", tuple(flat), {}, "n")],
        ...                        {"n": Parameter(3.0, (0.0, 100.0))})
        >>> events(model2, [[0.5, 1.5], [0.1, 0.2]]).x.shape
        (1, 2, 2)
    """
    xs = np.asarray(x, dtype=np.float64)
    d = model.ndim
    label = model.label
    if d == 1 and xs.ndim != 1:
        raise InvalidData(f"{model.observable}: events must be a 1-D array, got shape {xs.shape}")
    if d > 1:
        if xs.size == 0:
            xs = xs.reshape(0, d)
        if xs.ndim != 2 or xs.shape[1] != d:
            raise InvalidData(
                f"{label}: events of {d} observables must have shape (N, {d}), got shape {xs.shape}"
            )
        for k, (name, (lo_k, hi_k)) in enumerate(
            zip(model.observables, model.domains, strict=True)
        ):
            check_events(xs[:, k], lo_k, hi_k, name)
    else:
        check_events(xs, *model.domain, model.observable)
    n = xs.shape[0]
    ws = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if ws.shape != (n,):
        raise InvalidData(
            f"{label}: {ws.shape[0] if ws.ndim == 1 else ws.shape} weights for {n} events"
        )
    if not np.all(np.isfinite(ws)):
        raise InvalidData(f"{label}: weights must be finite")
    if not allow_negative_weights and np.any(ws < 0):
        raise InvalidData(
            f"{label}: {int(np.sum(ws < 0))} negative weights (pass "
            "allow_negative_weights=True for sWeights)"
        )
    size = model.batch_size or max(n, 1)
    nb = max(1, math.ceil(n / size))
    pad = nb * size - n
    fill = model._fill()
    trailing = (d,) if d > 1 else ()
    xp = np.concatenate([xs, np.broadcast_to(fill, (pad, *trailing))]).reshape(nb, size, *trailing)
    wp = np.concatenate([ws, np.zeros(pad)]).reshape(nb, size)
    return Events(x=jnp.asarray(xp), w=jnp.asarray(wp))


def _fill_value(lo: float, hi: float) -> float:
    """A point of the domain ``[lo, hi]`` for padding."""
    return lo if math.isfinite(lo) else (hi if math.isfinite(hi) else 0.0)


def _gauss_legendre(lo: float, hi: float, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on ``[lo, hi]``: panels of 8 nodes (``nodes``
    rounded up to a multiple of 8)."""
    panels = max(1, math.ceil(nodes / 8))
    t, q = np.polynomial.legendre.leggauss(8)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    x = (mid[:, None] + half[:, None] * t[None, :]).reshape(-1)
    w = (half[:, None] * q[None, :]).reshape(-1)
    return x, w


def default_asimov_nodes(ndim: int = 1) -> int:
    """The default Asimov nodes per axis for ``ndim`` observables: 512 for one, 64 for two
    (4096 in all), 16 for three (4096), 8 beyond (``8**ndim``).

    Example:
        >>> [default_asimov_nodes(d) for d in (1, 2, 3, 4)]
        [512, 64, 16, 8]
    """
    return {1: 512, 2: 64, 3: 16}.get(int(ndim), 8)


def _resolve(ref: Ref, index: Mapping[str, int], pars: Array) -> Array:
    if isinstance(ref, str):
        return pars[index[ref]]
    if isinstance(ref, ParameterFunction):
        return jnp.asarray(ref({n: pars[index[n]] for n in ref.parameters}), dtype=jnp.float64)
    if isinstance(ref, Sequence):
        return jnp.stack([_resolve(r, index, pars) for r in ref])
    return jnp.asarray(ref, dtype=jnp.float64)


@dataclass(frozen=True, eq=False)
class ExtendedModel:
    r"""An extended unbinned model of one observable, or of several (module docstring).

    Args:
        observable: the observable's name, or a tuple of the names of several observables
            (the events are then rows ``(x_1, ..., x_d)``, and each component a tuple of
            :class:`Factor`\ s, one per observable).
        domain: ``(lo, hi)``; every component is normalised over it. For several
            observables, one ``(lo, hi)`` per observable (the box over which the products
            are normalised).
        components: the :class:`Component` terms.
        parameters: every parameter the components name, as :class:`Parameter`.
        poi: the parameter of interest (optional).
        batch_size: events per batch of the sum over events (``None``: one batch).
        capacity: the number of event slots in the model's flat data vector (:meth:`data`),
            needed by :mod:`relaxed.infer` (fits, tests and toys of many data sets in one
            vmapped call need one length): at least the observed events, the
            ``asimov_nodes`` and the events of any pseudo-experiment (rounded up to a
            multiple of ``batch_size``). :func:`default_capacity` suggests one.
        asimov_nodes: quadrature nodes of the Asimov data set (:meth:`expected_data`) per
            axis, rounded up to panels of 8 (the grid of several observables is their
            tensor product: ``asimov_nodes**d`` nodes); ``None``:
            :func:`default_asimov_nodes` (512 for one observable, 64 per axis for two).
        extended: ``True`` (default) for the extended likelihood above; ``False`` for the
            plain mixture :math:`-\sum_i w_i \log(\sum_p \nu_p f_p(x_i) / \sum_p \nu_p)`
            (HS3's ``mixture_dist`` with ``extended: false``: the rates are the mixture's
            coefficients, and the number of events carries no information).

    Example:
        >>> import jax.numpy as jnp
        >>> model = ExtendedModel(
        ...     "m", (100.0, 150.0),
        ...     [Component("sig", "gaussian_dist", {"mean": "mass", "sigma": 2.0}, "n_sig"),
        ...      Component("bkg", "exponential_dist", {"c": "slope"}, "n_bkg")],
        ...     {"n_sig": Parameter(10.0, (0.0, 1e3)), "n_bkg": Parameter(100.0, (0.0, 1e4)),
        ...      "mass": Parameter(125.0, (110.0, 140.0)),
        ...      "slope": Parameter(0.03, (-1.0, 1.0))}, poi="n_sig")
        >>> model.config.par_order
        ('mass', 'n_bkg', 'n_sig', 'slope')
        >>> e = events(model, [124.0, 126.0, 130.0])
        >>> round(float(model.nll(jnp.asarray(model.config.suggested_init()), e)), 4)
        106.9412

        Two observables, a product of one-observable densities per component:

        >>> model2 = ExtendedModel(
        ...     ("m", "t"), ((100.0, 150.0), (0.0, 10.0)),
        ...     [Component("sig", (Factor("m", "gaussian_dist", {"mean": "mass", "sigma": 2.0}),
        ...                        Factor("t", "exponential_dist", {"c": 0.5})), {}, "n_sig"),
        ...      Component("bkg", (Factor("m", "exponential_dist", {"c": "slope"}),
        ...                        Factor("t", "uniform_dist", {})), {}, "n_bkg")],
        ...     dict(model.parameters), poi="n_sig")
        >>> e2 = events(model2, [[124.0, 1.0], [126.0, 0.5], [130.0, 7.0]])
        >>> round(float(model2.nll(jnp.asarray(model2.config.suggested_init()), e2)), 4)
        112.3066
    """

    observable: str | tuple[str, ...]
    domain: tuple[float, float] | tuple[tuple[float, float], ...]
    components: Sequence[Component]
    parameters: Mapping[str, Parameter]
    poi: str | None = None
    batch_size: int | None = None
    extended: bool = True
    capacity: int | None = None
    asimov_nodes: int | None = None
    config: UnbinnedConfig = field(init=False)
    _factors: tuple[tuple[tuple[int, Distribution, Mapping[str, Ref]], ...], ...] = field(
        init=False
    )

    @property
    def observables(self) -> tuple[str, ...]:
        """The observables' names (one for a one-observable model)."""
        obs = self.observable
        return (obs,) if isinstance(obs, str) else tuple(obs)

    @property
    def domains(self) -> tuple[tuple[float, float], ...]:
        """One ``(lo, hi)`` per observable."""
        return (self.domain,) if isinstance(self.observable, str) else self.domain  # type: ignore[return-value]

    @property
    def ndim(self) -> int:
        """The number of observables ``d``."""
        return len(self.observables)

    @property
    def label(self) -> str:
        """The observable's name, or ``(m, t)`` for several (for messages)."""
        obs = self.observable
        return obs if isinstance(obs, str) else f"({', '.join(obs)})"

    def _fill(self) -> np.ndarray | float:
        """A point of the domain, for padding (one number per observable for ``d > 1``)."""
        fills = [_fill_value(lo, hi) for lo, hi in self.domains]
        return fills[0] if self.ndim == 1 else np.asarray(fills)

    def _normalise_observables(self) -> None:
        obs = self.observable
        if not isinstance(obs, str):
            obs = tuple(obs)
            if not obs or not all(isinstance(o, str) for o in obs):
                raise InvalidModel(f"observable must be a name or a tuple of names, got {obs!r}")
            if len(set(obs)) != len(obs):
                raise InvalidModel(f"observables {list(obs)} name one observable twice")
            try:
                pairs = tuple((float(lo), float(hi)) for lo, hi in self.domain)  # type: ignore[misc]
            except (TypeError, ValueError) as err:
                raise InvalidModel(
                    f"({', '.join(obs)}): domain needs one (lo, hi) per observable, got "
                    f"{self.domain!r}"
                ) from err
            if len(pairs) != len(obs):
                raise InvalidModel(
                    f"({', '.join(obs)}): {len(pairs)} domains for {len(obs)} observables"
                )
            if len(obs) == 1:  # one observable: the one-observable form
                obs, pairs = obs[0], pairs[0]  # type: ignore[assignment]
            object.__setattr__(self, "observable", obs)
            object.__setattr__(self, "domain", pairs)
        else:
            lo, hi = (float(v) for v in self.domain)  # type: ignore[misc]
            object.__setattr__(self, "domain", (lo, hi))
        for name, (lo, hi) in zip(self.observables, self.domains, strict=True):
            if not lo < hi:
                raise InvalidModel(f"{name}: domain needs lo < hi, got {(lo, hi)}")

    def _factor(
        self, where: str, observable: str, distribution: Any, fields: Mapping[str, Ref]
    ) -> Distribution:
        if isinstance(distribution, Distribution):
            dist = distribution
        elif isinstance(distribution, str) and distribution in DISTRIBUTIONS:
            dist = DISTRIBUTIONS[distribution]
        else:
            raise InvalidModel(
                f"{where}: unknown distribution {distribution!r}; choose one of "
                f"{sorted(DISTRIBUTIONS)}"
            )
        if not dist.normalised:
            raise InvalidModel(f"{where}: {dist.hs3_type} is not a density of {observable}")
        missing = set(dist.parameters) - set(fields)
        extra = set(fields) - set(dist.parameters)
        if missing or extra:
            raise InvalidModel(
                f"{where}: {dist.hs3_type} takes the fields {list(dist.parameters)}; "
                f"missing {sorted(missing)}, unknown {sorted(extra)}"
            )
        return dist

    def _component_factors(
        self, c: Component
    ) -> tuple[tuple[int, Distribution, Mapping[str, Ref]], ...]:
        """A component as ``(axis, distribution, fields)`` per factor, in axis order."""
        where = f"components[{c.name!r}]"
        names = self.observables
        plain = isinstance(c.distribution, (str, Distribution))
        if plain:
            if self.ndim > 1:
                raise InvalidModel(
                    f"{where}: a model of the observables {list(names)} needs a component of "
                    "Factor terms, one per observable"
                )
            dist = self._factor(where, names[0], c.distribution, c.parameters)
            return ((0, dist, c.parameters),)
        factors = tuple(c.distribution)  # type: ignore[arg-type]
        if not factors or not all(isinstance(f, Factor) for f in factors):
            raise InvalidModel(
                f"{where}: distribution must be a distribution or a tuple of Factors, got "
                f"{c.distribution!r}"
            )
        if c.parameters:
            raise InvalidModel(
                f"{where}: a component of Factors takes its fields in each Factor; got "
                f"parameters {sorted(c.parameters)}"
            )
        out = []
        seen: set[str] = set()
        for f in factors:
            if f.observable not in names:
                raise InvalidModel(
                    f"{where}: a factor of '{f.observable}', which is not an observable of the "
                    f"model ({list(names)})"
                )
            if f.observable in seen:
                raise InvalidModel(
                    f"{where}: two factors of the observable '{f.observable}' (each observable "
                    "needs exactly one)"
                )
            seen.add(f.observable)
            at = f"{where}[{f.observable!r}]"
            dist = self._factor(at, f.observable, f.distribution, f.parameters)
            out.append((names.index(f.observable), dist, f.parameters))
        missing = [n for n in names if n not in seen]
        if missing:
            raise InvalidModel(
                f"{where}: no factor of the observables {missing} (each observable needs "
                "exactly one)"
            )
        return tuple(sorted(out, key=lambda item: item[0]))

    def __post_init__(self) -> None:
        self._normalise_observables()
        if self.asimov_nodes is None:
            object.__setattr__(self, "asimov_nodes", default_asimov_nodes(self.ndim))
        if not self.components:
            raise InvalidModel(f"{self.label}: a model needs at least one component")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise InvalidArgument(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.capacity is not None:
            if not isinstance(self.capacity, int) or self.capacity < 1:
                raise InvalidArgument(f"capacity must be a positive integer, got {self.capacity!r}")
            size = self.batch_size or self.capacity
            object.__setattr__(self, "capacity", math.ceil(self.capacity / size) * size)
        factors = []
        used: set[str] = set()
        for c in self.components:
            parts = self._component_factors(c)
            for _, _, fields in parts:
                for ref in fields.values():
                    used |= _names(ref)
            used |= _names(c.rate)
            factors.append(parts)
        unknown = used - set(self.parameters)
        if unknown:
            raise InvalidModel(f"parameters {sorted(unknown)} are used but not declared")
        for name, p in self.parameters.items():
            lo_b, hi_b = p.bounds
            if not lo_b <= p.init <= hi_b:
                raise InvalidModel(f"parameter {name!r}: init {p.init} outside bounds {p.bounds}")
            if p.constraint is not None and not p.constraint[1] > 0:
                raise InvalidModel(f"parameter {name!r}: constraint width must be > 0")
        if self.poi is not None and self.poi not in self.parameters:
            raise InvalidModel(f"poi {self.poi!r} is not a parameter")
        order = tuple(sorted(self.parameters))
        object.__setattr__(self, "config", UnbinnedConfig(order, dict(self.parameters), self.poi))
        object.__setattr__(self, "_factors", tuple(factors))
        self.check(jnp.asarray(self.config.suggested_init()))

    # -- pieces ----------------------------------------------------------------------------
    def _index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.config.par_order)}

    def _params(self, pars: Array) -> list[tuple[list[dict[str, Array]], Array]]:
        """Per component: the resolved fields of each factor (in axis order) and the rate."""
        index = self._index()
        out = []
        for c, parts in zip(self.components, self._factors, strict=True):
            fields = [{k: _resolve(v, index, pars) for k, v in f.items()} for _, _, f in parts]
            out.append((fields, _resolve(c.rate, index, pars)))
        return out

    def check(self, pars: ArrayLike) -> None:
        """For concrete parameters: raise when a component's (or a factor's) parameters leave
        its valid range (:attr:`relaxed.distributions.Distribution.check`) or a rate is
        negative."""
        domains = self.domains
        pars = jnp.asarray(pars, dtype=jnp.float64)
        for c, parts, (fields, rate) in zip(
            self.components, self._factors, self._params(pars), strict=True
        ):
            for (axis, dist, _), values in zip(parts, fields, strict=True):
                lo, hi = domains[axis]
                dist.check({k: np.asarray(v) for k, v in values.items()}, lo, hi)
            if not float(rate) >= 0:
                raise InvalidModel(f"components[{c.name!r}]: rate {float(rate)} is negative")

    def expected_events(self, pars: Array) -> Array:
        r""":math:`\sum_p \nu_p(\theta)`, the expected number of events."""
        return sum(rate for _, rate in self._params(pars))  # type: ignore[return-value]

    def log_density(self, pars: Array, x: Array) -> Array:
        r""":math:`\log \sum_p \nu_p f_p(x)` at the events ``x`` (any shape; for ``d > 1``
        observables shape ``(..., d)``, with :math:`f_p(x) = \prod_k f_{pk}(x_k)`)."""
        domains = self.domains
        d = self.ndim
        params = self._params(pars)

        def log_f(parts: tuple, fields: list[dict[str, Array]]) -> Array:
            total = None
            for (axis, dist, _), values in zip(parts, fields, strict=True):
                lo, hi = domains[axis]
                term = dist.logpdf(x if d == 1 else x[..., axis], values, lo, hi)
                total = term if total is None else total + term
            return total  # type: ignore[return-value]

        pairs = zip(self._factors, params, strict=True)
        logf = jnp.stack([log_f(parts, fields) for parts, (fields, _) in pairs])
        batch_ndim = x.ndim - (1 if d > 1 else 0)
        rates = jnp.stack([rate for _, rate in params]).reshape((-1,) + (1,) * batch_ndim)
        # the rates as logsumexp's weights: a vanishing yield has a finite derivative
        return jax.nn.logsumexp(logf, axis=0, b=rates)

    def constraint_nll(self, pars: Array) -> Array:
        r""":math:`\sum_j (\theta_j - m_j)^2 / (2 s_j^2)` over the constrained parameters."""
        total = jnp.zeros((), dtype=jnp.float64)
        for i, name in enumerate(self.config.par_order):
            c = self.parameters[name].constraint
            if c is not None:
                total = total + 0.5 * ((pars[i] - c[0]) / c[1]) ** 2
        return total

    # -- the likelihood --------------------------------------------------------------------
    def nll(self, pars: ArrayLike, data: Events) -> Array:
        """The extended negative log-likelihood (module docstring), summed in batches."""
        pars = jnp.asarray(pars, dtype=jnp.float64)

        def batch(xw: tuple[Array, Array]) -> Array:
            x, w = xw
            logd = self.log_density(pars, x)
            return -jnp.sum(jnp.where(w != 0, w * logd, 0.0))

        x, w = data.x, data.w
        per_batch = batch((x[0], w[0]))[None] if x.shape[0] == 1 else jax.lax.map(batch, (x, w))
        total = self.expected_events(pars)
        if self.extended:
            poisson = total
        else:  # the mixture's coefficients normalised by their sum; no Poisson term
            poisson = jnp.sum(w) * jnp.log(total)
        return jnp.sum(per_batch) + poisson + self.constraint_nll(pars)

    def twice_nll(self, pars: ArrayLike, data: Events) -> Array:
        r""":math:`-2\log L`, the objective of the fits (as for binned models)."""
        return 2.0 * self.nll(pars, data)

    def nll_and_grad(self, pars: ArrayLike, data: Events) -> tuple[Array, Array]:
        """The NLL and its gradient in the parameters, in one pass over chunks of events
        (:mod:`relaxed.unbinned.derivatives`)."""
        from relaxed.unbinned.derivatives import chunks, nll_objective

        pars = jnp.asarray(pars, dtype=jnp.float64)
        return jax.value_and_grad(nll_objective(self))(pars, chunks(data))

    def nll_grad_hessian(self, pars: ArrayLike, data: Events) -> tuple[Array, Array, Array]:
        """The NLL, its gradient and its exact Hessian in the parameters, in one pass
        (:func:`relaxed.unbinned.derivatives.value_grad_hessian`)."""
        from relaxed.unbinned.derivatives import value_grad_hessian

        return value_grad_hessian(self, pars, data)

    # -- the flat data of relaxed.infer (relaxed.infer.protocol) ---------------------------
    def _slots(self) -> int:
        if self.capacity is None:
            raise InvalidModel(
                f"{self.observable}: relaxed.infer needs the number of event slots; build the "
                "model with capacity=N (see default_capacity)"
            )
        return self.capacity

    def _constrained(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the constrained parameters (in ``par_order``) and their widths."""
        order = self.config.par_order
        index = [i for i, n in enumerate(order) if self.parameters[n].constraint is not None]
        sigma = [self.parameters[order[i]].constraint[1] for i in index]  # type: ignore[index]
        return np.asarray(index, dtype=int), np.asarray(sigma, dtype=np.float64)

    def auxdata(self) -> np.ndarray:
        """The observed global observables: the means of the Gaussian constraints."""
        index, _ = self._constrained()
        order = self.config.par_order
        return np.asarray(
            [self.parameters[order[i]].constraint[0] for i in index],  # type: ignore[index]
            dtype=np.float64,
        )

    def data(
        self,
        x: ArrayLike,
        weights: ArrayLike | None = None,
        allow_negative_weights: bool = False,
    ) -> Array:
        """The flat data vector of :mod:`relaxed.infer`: the events padded to ``capacity``
        slots (padding: weight zero; for ``d > 1`` observables ``capacity * d`` numbers, event
        by event), their weights, then the auxiliary data (the constraint means, in
        ``par_order``). Checked as :func:`events` checks; more events than slots raise
        :class:`~relaxed.exceptions.InvalidData`.

        Example:
            >>> model = ExtendedModel("x", (0.0, 1.0), [Component("u", "uniform_dist", {}, "n")],
            ...                       {"n": Parameter(2.0, (0.0, 10.0))}, capacity=3)
            >>> model.data([0.2, 0.7]).tolist()
            [0.2, 0.7, 0.0, 1.0, 1.0, 0.0]
        """
        slots = self._slots()
        flat = events(
            dataclasses.replace(self, batch_size=None, capacity=None),
            x,
            weights,
            allow_negative_weights,
        )
        d = self.ndim
        n = int(np.asarray(x, dtype=np.float64).reshape(-1).shape[0]) // d
        if n > slots:
            raise InvalidData(
                f"{self.label}: {n} events do not fit the model's {slots} event slots "
                "(build it with a larger capacity)"
            )
        xs = np.array(np.broadcast_to(self._fill(), (slots, d) if d > 1 else (slots,)))
        ws = np.zeros(slots)
        xs[:n] = np.asarray(flat.x).reshape(-1, *xs.shape[1:])[:n]
        ws[:n] = np.asarray(flat.w).reshape(-1)[:n]
        return jnp.asarray(np.concatenate([xs.reshape(-1), ws, self.auxdata()]))

    def _split(self, data: Array) -> tuple[Events, Array]:
        slots = self._slots()
        d = self.ndim
        size = self.batch_size or slots
        shape = (slots // size, size)
        x = data[: slots * d].reshape(shape + ((d,) if d > 1 else ()))
        w = data[slots * d : slots * (d + 1)].reshape(shape)
        return Events(x, w), data[slots * (d + 1) :]

    def _logpdf(self, pars: Array, data: Array) -> Array:
        ev, aux = self._split(data)
        index, sigma = self._constrained()
        n = jnp.sum(ev.w)
        # the event sums with derivatives in the parameters in one pass each (the solver's
        # Hessian), :mod:`relaxed.unbinned.derivatives`; its constraint term is replaced by
        # the one of the auxiliary data below
        from relaxed.unbinned.derivatives import chunks, nll_objective

        value = -(nll_objective(self)(pars, chunks(ev)) - self.constraint_nll(pars))
        if self.extended:
            value = value - jax.scipy.special.gammaln(n + 1.0)
        if index.size:
            z = (aux - pars[index]) / sigma
            value = value - jnp.sum(0.5 * z * z + np.log(sigma) + 0.5 * math.log(2 * math.pi))
        return value

    def data_array(self, data: ArrayLike) -> Array:
        """``data`` (:meth:`data`'s layout) as float64, its length checked."""
        data = jnp.asarray(data, dtype=jnp.float64)
        n = self.data_limits()[0].shape[0]
        if data.ndim not in (1, 2) or data.shape[-1] != n:
            raise InvalidData(
                f"expected data of length {n} ({self.describe_data()}), got shape {data.shape}; "
                "make it with model.data(events)"
            )
        return data

    def logpdf(self, pars: ArrayLike, data: ArrayLike) -> Array:
        r""":math:`\log L` of the flat data (:meth:`data`), shape ``(1,)`` (``(n,)`` for a
        batch of parameters or data sets), with the constants the module docstring drops:
        :math:`-\log\Gamma(\sum_i w_i + 1)` of the extended term and the Gaussian
        constraints' :math:`-\log s_j - \tfrac12\log 2\pi`, the auxiliary data (global
        observables) taken from the data.

        Example:
            >>> model = ExtendedModel("x", (0.0, 1.0), [Component("u", "uniform_dist", {}, "n")],
            ...                       {"n": Parameter(2.0, (0.0, 10.0))}, capacity=4)
            >>> round(float(model.logpdf([2.0], model.data([0.5, 0.5]))[0]), 6)  # log Pois(2|2)
            -1.306853
        """
        pars = jnp.asarray(pars, dtype=jnp.float64)
        data = self.data_array(data)
        if not isinstance(data, jax.core.Tracer):
            from relaxed.infer.checks import check_data

            check_data(data, self, batch=True)
        if pars.ndim == 2 or data.ndim == 2:
            axes = (0 if pars.ndim == 2 else None, 0 if data.ndim == 2 else None)
            return jax.vmap(self._logpdf, in_axes=axes)(pars, data)
        return self._logpdf(pars, data)[None]

    def expected_data(self, pars: ArrayLike) -> Array:
        r"""Asimov data: the events are fixed Gauss-Legendre nodes :math:`x_k` over the domain
        (``asimov_nodes`` of them, in panels of 8) with weights
        :math:`w_k = q_k \sum_p \nu_p f_p(x_k \mid \theta)` (:math:`q_k` the quadrature
        weights), so that :math:`-\sum_k w_k \log\lambda(x_k \mid \theta') + \sum_p \nu_p'`
        is the quadrature of the expected NLL :math:`-\int \lambda_\theta \log
        \lambda_{\theta'}\,dx + \int\lambda_{\theta'}` and has its minimum at
        :math:`\theta' = \theta` to the quadrature's accuracy (exactly where it integrates
        :math:`\partial\lambda` exactly). The auxiliary data are the constrained parameters.
        Needs a finite domain and an extended model.

        For ``d > 1`` observables the nodes are the tensor-product grid of the axes' nodes
        (``asimov_nodes`` per axis, ``asimov_nodes**d`` in all) and :math:`q_k` the products
        of the axes' weights.
        """
        pars = jnp.asarray(pars, dtype=jnp.float64)
        if pars.ndim == 2:
            return jax.vmap(self.expected_data)(pars)
        slots = self._slots()
        nodes, weights = self._asimov_grid()
        w = weights * jnp.exp(self.log_density(pars, jnp.asarray(nodes)))
        m = nodes.shape[0]
        lows = np.asarray([lo for lo, _ in self.domains])
        pad = np.broadcast_to(lows if self.ndim > 1 else lows[0], (slots - m, *nodes.shape[1:]))
        x = jnp.concatenate([jnp.asarray(nodes), jnp.asarray(pad)]).reshape(-1)
        w = jnp.concatenate([w, jnp.zeros(slots - m)])
        index, _ = self._constrained()
        return jnp.concatenate([x, w, pars[index]])

    def _asimov_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The Asimov nodes (shape ``(M,)``, or ``(M, d)``: the tensor-product grid) and
        their quadrature weights."""
        for name, (lo, hi) in zip(self.observables, self.domains, strict=True):
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise InvalidModel(f"{name}: Asimov data need a finite domain, got [{lo}, {hi}]")
        if not self.extended:
            raise InvalidModel(
                f"{self.label}: a non-extended mixture has no expected number of events, "
                "so no Asimov data or pseudo-experiments (use an extended model)"
            )
        per_axis = max(1, math.ceil(int(self.asimov_nodes) / 8)) * 8  # type: ignore[arg-type]
        total = per_axis**self.ndim
        if total > self._slots():
            grid = f"{per_axis}^{self.ndim} = {total}" if self.ndim > 1 else f"{total}"
            raise InvalidModel(
                f"{self.label}: {grid} Asimov nodes do not fit {self._slots()} event "
                "slots; raise capacity or lower asimov_nodes"
            )
        axes = [_gauss_legendre(lo, hi, per_axis) for lo, hi in self.domains]
        if self.ndim == 1:
            return axes[0]
        nodes = np.stack(np.meshgrid(*[a for a, _ in axes], indexing="ij"), axis=-1)
        weights = np.prod(np.stack(np.meshgrid(*[q for _, q in axes], indexing="ij")), axis=0)
        return nodes.reshape(-1, self.ndim), weights.reshape(-1)

    def sample(self, pars: ArrayLike, key: Array) -> Array:
        r"""One pseudo-experiment: :math:`N \sim \mathrm{Pois}(\sum_p \nu_p)` events, each
        from component :math:`p` with probability :math:`\nu_p / \sum_q \nu_q`, then from
        :math:`f_p` (for ``d > 1`` observables, each factor :math:`f_{pk}` independently on
        its axis); the auxiliary data :math:`a_j \sim \mathcal{N}(\theta_j, s_j)`. A draw of
        more events than ``capacity`` slots cannot be stored: its weights are NaN, so that its
        fits report non-convergence instead of a truncated data set.

        Example:
            >>> import jax
            >>> model = ExtendedModel("x", (0.0, 1.0), [Component("u", "uniform_dist", {}, "n")],
            ...                       {"n": Parameter(5.0, (0.0, 10.0))}, capacity=600)
            >>> toy = model.sample([5.0], jax.random.PRNGKey(3))
            >>> float(toy[600:].sum()) == float((toy[600:] > 0).sum())  # unit weights
            True
        """
        pars = jnp.asarray(pars, dtype=jnp.float64)
        self._asimov_grid()  # the same requirements (extended, finite domain)
        slots = self._slots()
        domains = self.domains
        params = self._params(pars)
        rates = jnp.stack([rate for _, rate in params])
        kn, kc, kx, ka = jax.random.split(key, 4)
        n = jax.random.poisson(kn, jnp.sum(rates))
        which = jax.random.categorical(kc, jnp.log(rates), shape=(slots,))

        def draw(parts: tuple, fields: list[dict[str, Array]], k: Array) -> Array:
            keys = [k] if len(parts) == 1 else list(jax.random.split(k, len(parts)))
            columns = [
                dist.sample(kf, values, *domains[axis], slots)
                for (axis, dist, _), values, kf in zip(parts, fields, keys, strict=True)
            ]
            return columns[0] if self.ndim == 1 else jnp.stack(columns, axis=-1)

        draws = jnp.stack(
            [
                draw(parts, fields, k)
                for parts, (fields, _), k in zip(
                    self._factors, params, jax.random.split(kx, len(params)), strict=True
                )
            ]
        )
        pick = which[None, :] if self.ndim == 1 else which[None, :, None]
        x = jnp.take_along_axis(draws, pick, axis=0)[0].reshape(-1)
        w = (jnp.arange(slots) < n).astype(jnp.float64)
        w = jnp.where(n > slots, jnp.nan, w)
        index, sigma = self._constrained()
        aux = pars[index] + sigma * jax.random.normal(ka, index.shape, dtype=jnp.float64)
        return jnp.concatenate([x, w, aux])

    def data_limits(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Events in the domain, weights :math:`\ge 0`, auxiliary data any finite number."""
        slots = self._slots()
        naux = self._constrained()[0].size
        los = np.asarray([lo for lo, _ in self.domains])
        his = np.asarray([hi for _, hi in self.domains])
        lower = np.concatenate([np.tile(los, slots), np.zeros(slots), np.full(naux, -np.inf)])
        upper = np.concatenate([np.tile(his, slots), np.full(slots + naux, np.inf)])
        return lower, upper

    def describe_data(self) -> str:
        slots = self._slots()
        naux = self._constrained()[0].size
        if self.ndim > 1:
            return (
                f"{slots} event slots of {self.label} ({slots * self.ndim} numbers, event by "
                f"event), then their {slots} weights, then {naux} auxiliary data"
            )
        return (
            f"{slots} event slots of '{self.observable}', then their {slots} weights, then "
            f"{naux} auxiliary data"
        )

    def describe_datum(self, index: int) -> str:
        slots = self._slots()
        d = self.ndim
        if index < slots * d:
            event, axis = divmod(index, d)
            lo, hi = self.domains[axis]
            name = self.observables[axis]
            return f"event {event} of '{name}' must lie in the domain [{lo}, {hi}]"
        if index < slots * (d + 1):
            return f"the weight of event {index - slots * d} must be finite and >= 0"
        k = self._constrained()[0][index - slots * (d + 1)]
        name = self.config.par_order[k]
        return f"auxiliary datum {index - slots * (d + 1)} (of parameter '{name}') must be finite"

    def data_rules(self, name: str) -> str:
        where = (
            list(self.domain)
            if self.ndim == 1
            else {n: list(b) for n, b in zip(self.observables, self.domains, strict=True)}
        )
        return (
            f"events must lie in {where}, weights must be finite and >= 0, "
            f"auxiliary data finite ({self.describe_data()})"
        )

    @property
    def structure_key(self) -> tuple[str, int]:
        """The model itself is static: its identity is the key."""
        return ("ExtendedModel", id(self))

    def constrained_parameters(self) -> list[str]:
        """The parameters with a Gaussian constraint (one auxiliary datum each)."""
        return [self.config.par_order[i] for i in self._constrained()[0]]

    def prefit_constraints(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per parameter: constraint mean, width (NaN if free) and kind."""
        order = self.config.par_order
        centre = np.full(len(order), np.nan)
        width = np.full(len(order), np.nan)
        kinds = []
        for i, name in enumerate(order):
            c = self.parameters[name].constraint
            if c is not None:
                centre[i], width[i] = c
            kinds.append("none (free)" if c is None else "Gaussian")
        return centre, width, kinds

    def start_shift(self) -> np.ndarray:
        """No extra starts (zeros)."""
        return np.zeros(self.config.npars)

    def expected_curvature(self, pars: Array, data: Array) -> Array:
        r"""Gauss-Newton curvature of :math:`-2\log L`:
        :math:`2\sum_i w_i\, g_i g_i^\top + 2\,\mathrm{diag}(1/s_j^2)`, with
        :math:`g_i = \nabla_\theta \log\lambda(x_i)` (the expected Fisher information of
        the events) and the Gaussian constraints."""
        ev, _ = self._split(data)

        def batch(xw: tuple[Array, Array]) -> Array:
            x, w = xw
            g = jax.jacfwd(lambda p: self.log_density(p, x))(pars)  # (size, npars)
            return (g.T * jnp.where(w != 0, w, 0.0)) @ g

        parts = jax.lax.map(batch, (ev.x, ev.w))
        curv = 2.0 * jnp.sum(parts, axis=0)
        index, sigma = self._constrained()
        if index.size:
            curv = curv.at[index, index].add(2.0 / sigma**2)
        return curv

    def __hash__(self) -> int:
        return id(self)


jax.tree_util.register_pytree_node(ExtendedModel, lambda model: ((), model), lambda model, _: model)


def default_capacity(n_events: float, asimov_nodes: int | None = None, ndim: int = 1) -> int:
    r"""Event slots for :class:`ExtendedModel`'s ``capacity``: room for ``n_events`` observed
    events, the Asimov nodes, and pseudo-experiments of up to
    :math:`\nu + 8\sqrt{\nu} + 20` events for an expected :math:`\nu` = ``n_events``
    (a Poisson draw above that has a probability below :math:`10^{-14}`).

    ``asimov_nodes`` is per axis (``None``: :func:`default_asimov_nodes` of ``ndim``); for
    ``ndim > 1`` observables the Asimov grid holds ``asimov_nodes**ndim`` nodes (per axis
    rounded up to panels of 8).

    Example:
        >>> default_capacity(100), default_capacity(10000), default_capacity(100, ndim=2)
        (512, 10820, 4096)
    """
    n = max(float(n_events), 0.0)
    per_axis = default_asimov_nodes(ndim) if asimov_nodes is None else int(asimov_nodes)
    nodes = per_axis if ndim == 1 else (max(1, math.ceil(per_axis / 8)) * 8) ** int(ndim)
    return max(nodes, math.ceil(n + 8.0 * math.sqrt(n) + 20.0))
