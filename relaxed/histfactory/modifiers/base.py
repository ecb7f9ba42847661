"""The interface every modifier unit implements, and what a unit sees of a specification.

A *unit* (:class:`ModifierUnit`) holds everything relaxed knows about one HistFactory
modifier type: how it validates and reads its pyhf entry, the parameter set it makes (count,
inits, bounds, constraint and auxiliary data), which slot of the model's vectorised
computation it feeds (see :class:`ModifierUnit`), its neutral form, and its HS3 spelling. The
model builder (:func:`relaxed.histfactory.builder.build`) is a driver over the units; the HS3
package reads and writes modifiers through them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from relaxed.exceptions import InvalidModel, InvalidModifier
from relaxed.histfactory.modifiers.constraints import (
    CONSTRAINT_OF_PDF,
    PDF_TYPES,
    ConstraintSetting,
    check_names,
    config_keys,
    constraint_setting,
)

__all__ = ["Context", "Interpolation", "ModifierUnit", "Occurrence", "Parameters"]


def _is_concrete(value: Any) -> bool:
    """True if ``value`` (a number, list, array) can be converted to numpy without tracing."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return True
    if isinstance(value, Mapping):
        return all(_is_concrete(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_concrete(v) for v in value)
    try:
        np.asarray(value)
    except Exception:  # jax raises TracerArrayConversionError / ConcretizationTypeError
        return False
    return True


def _length(data: Any, path: str) -> int:
    """The number of entries of a 1-d list or array (an :class:`InvalidModel` otherwise)."""
    if isinstance(data, (list, tuple)):
        return len(data)
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) != 1:
        raise InvalidModel(f"{path}: expected a list of numbers, got {type(data).__name__}")
    return int(shape[0])


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


class Interpolation(NamedTuple):
    """The interpolation codes of a modifier type (normsys, histosys).

    Attributes:
        codes: the codes relaxed's engine implements.
        default: the code used when ``modifier_settings`` are given but omit this type (the
            default of pyhf's applier).
        pyhf_default: the code of pyhf's ``Model(spec)`` without ``modifier_settings``.
        hs3_names: code -> HS3 ``interpolation`` value (names of the standard, or the
            structured form of later revisions).
        root_codes: ROOT's integer code -> pyhf's code.

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> known = UNITS["histosys"].interpolation
        >>> known.codes, known.default, known.hs3_names["code4p"], known.root_codes[4]
        (('code0', 'code2', 'code4p'), 'code0', 'poly6', 'code4p')
    """

    codes: tuple[str, ...]
    default: str
    pyhf_default: str
    hs3_names: Mapping[str, Any]
    root_codes: Mapping[int, str]


@dataclass(frozen=True)
class Occurrence:
    """One modifier entry of the specification: where it is, and the entry itself.

    Example:
        >>> mod = {"name": "mu", "type": "normfactor", "data": None}
        >>> Occurrence("SR", "sig", mod, "channels[0].samples[0].modifiers[0]", "").path
        'channels[0].samples[0].modifiers[0]'
    """

    channel: str
    sample: str
    modifier: Mapping[str, Any]
    path: str  # JSON path of the modifier
    sample_path: str


@dataclass(frozen=True)
class Context:
    """What a unit sees of the specification while a model is built.

    Attributes:
        nbins: number of bins of each channel.
        nominal: nominal yields of each (channel, sample) as arrays.
        modifiers: per (channel, sample), its modifiers by (name, type).
        concrete: whether every number of the specification is concrete (NumPy arithmetic);
            otherwise some are JAX tracers (``jax.numpy`` arithmetic).

    Example:
        >>> ctx = Context({"SR": 2}, {}, {}, concrete=True)
        >>> ctx.xp.__name__, ctx.array([1, 2]).dtype.name
        ('numpy', 'float64')
    """

    nbins: Mapping[str, int]
    nominal: Mapping[tuple[str, str], Any]
    modifiers: Mapping[tuple[str, str], Mapping[tuple[str, str], Occurrence]]
    concrete: bool

    @property
    def xp(self) -> Any:
        """``numpy`` for a concrete specification, else ``jax.numpy``."""
        return np if self.concrete else jnp

    def array(self, values: Any) -> Any:
        """``values`` as a float64 array of :attr:`xp`."""
        return self.xp.asarray(values, dtype=self.xp.float64)


@dataclass
class Parameters:
    """The parameter set a unit makes of the occurrences of one name, before the
    measurement's parameter configuration overrides it.

    ``aux``, ``sigma`` (Gaussian constraints) and ``factor`` (Poisson constraints: the
    :math:`\\tau` of :math:`\\mathrm{Pois}(a\\mid\\tau\\theta)`) are arrays or ``None``;
    ``offsets`` gives the first component used in each channel (a set spanning channels).

    Example:
        >>> p = Parameters(n=2, inits=[1.0, 1.0], bounds=[(0.0, 10.0)] * 2, fixed=[False] * 2)
        >>> p.aux is None, p.offsets
        (True, {})
    """

    n: int
    inits: list[float]
    bounds: list[tuple[float, float]]
    fixed: list[bool]
    aux: Any = None
    sigma: Any = None
    factor: Any = None
    offsets: dict[str, int] = field(default_factory=dict)


class ModifierUnit:
    """Everything about one modifier type. Subclasses set the class attributes and override
    the methods that apply to them.

    Attributes:
        name: the pyhf type name.
        slot: which part of the model's vectorised rate computation the type feeds:
            ``"factor"`` (the parameter multiplies the yields bin by bin: one gathered
            parameter per (sample, bin), packed into rows), ``"normsys"`` (a factor
            :math:`\\eta(\\alpha)` per (sample, channel), from precomputed logarithms) or
            ``"histosys"`` (an additive shift, two contractions over the modifiers).
        is_scalar: one parameter (else one per bin).
        pdf_type: the constraint, ``"normal"``, ``"poisson"`` or ``None``.
        config_keys: the keys of the measurement's parameter configuration it accepts.
        shares_with: other types that may use the same parameter set (by name).
        shareable: whether several samples may use one name (shapesys: no).
        spans_channels: one set covers the bins of every channel it appears in (staterror).
        has_neutral: :meth:`neutral` gives a form that changes no rate.
        interpolation: its interpolation codes (``None``: not interpolated).
        hs3_type: its type name in HS3 (pyhf's ``lumi`` is a constrained ``normfactor``).
        hs3_constraint: the ``constraint`` written in HS3 (``None``: none).
        hs3_constraint_note: how pyhf constrains it, for messages.
        hs3_sample_field: the field of the sample's HS3 ``data`` holding its data (staterror:
            ``errors``), else ``None`` (its data are in the modifier's ``data``).
        hs3_constraint_name: the Gaussian distribution that constrains it in HS3 (lumi).
        constraints: the constraints a model can give its sets instead of the default
            (``modifier_settings[name]["constraint"]``, see
            :mod:`~relaxed.histfactory.modifiers.constraints`); empty: its own only.
        setting_keys: the keys its ``modifier_settings`` entry accepts (empty: it has none).

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> unit = UNITS["shapesys"]
        >>> unit.slot, unit.is_scalar, unit.pdf_type, unit.hs3_constraint
        ('factor', False, 'poisson', 'Poisson')
    """

    name: str = ""
    slot: str = "factor"
    is_scalar: bool = True
    pdf_type: str | None = None
    config_keys: frozenset[str] = frozenset({"inits", "bounds", "fixed"})
    shares_with: frozenset[str] = frozenset()
    shareable: bool = True
    spans_channels: bool = False
    has_neutral: bool = False
    interpolation: Interpolation | None = None
    hs3_type: str = ""
    hs3_constraint: str | None = None
    hs3_constraint_note: str = ""
    hs3_sample_field: str | None = None
    hs3_constraint_name: str | None = None
    constraints: tuple[str, ...] = ()
    setting_keys: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<modifier unit '{self.name}'>"

    # -- pyhf ------------------------------------------------------------------------------
    def check(self, data: Any, path: str, nbins: int, where: str) -> None:
        """Check the ``data`` of a pyhf entry (at JSON ``path``, of a sample of ``nbins``
        bins; ``where`` names it in messages): bin counts always, values when concrete.

        Raises:
            relaxed.exceptions.InvalidModifier: naming the JSON path.
        """

    def pyhf_entry(self, name: str, data: Any) -> dict[str, Any]:
        """The pyhf modifier entry of this type called ``name`` with ``data``.

        Example:
            >>> from relaxed.histfactory.modifiers import UNITS
            >>> UNITS["normsys"].pyhf_entry("jes", {"hi": 1.1, "lo": 0.9})
            {'name': 'jes', 'type': 'normsys', 'data': {'hi': 1.1, 'lo': 0.9}}
        """
        return {"name": name, "type": self.name, "data": data}

    def neutral(self, nominal: Sequence[float]) -> Any:
        """pyhf ``data`` of a modifier of this type that changes no rate of a sample with
        yields ``nominal`` (only where :attr:`has_neutral`)."""
        raise NotImplementedError(f"a {self.name} modifier has no neutral form")

    # -- the model -------------------------------------------------------------------------
    def parameters(self, name: str, occurrences: Sequence[Occurrence], ctx: Context) -> Parameters:
        """The parameter set of the modifiers of this type called ``name``."""
        raise NotImplementedError

    @property
    def default_constraint(self) -> str | None:
        """The constraint of its sets without a setting (pyhf's): ``"gauss"``,
        ``"poisson"`` or ``None``."""
        return CONSTRAINT_OF_PDF.get(self.pdf_type or "")

    def read_setting(self, entry: Mapping[str, Any]) -> ConstraintSetting:
        """Its ``modifier_settings`` entry (a mapping whose keys are checked), read: the
        constraint keys (the interpolation keys are the builder's)."""
        return constraint_setting(self.name, entry)

    def setting_example(self) -> str:
        """An example of its ``modifier_settings`` entry, for messages."""
        if self.interpolation is not None:
            return f"{{'interpcode': '{self.interpolation.pyhf_default}'}}"
        other = [c for c in self.constraints if c != self.default_constraint]
        return f"{{'constraint': '{other[0]}'}}" if other else "{}"

    def check_setting(self, setting: ConstraintSetting, names: list[str]) -> None:
        """Every name the setting gives must be a modifier of this type (``names``)."""
        for key, given in setting.names().items():
            check_names(self.name, given, names, key)

    def report_setting(self, setting: ConstraintSetting) -> dict[str, Any]:
        """What a model reports of the setting in ``config.modifier_settings`` (empty: the
        defaults)."""
        return setting.report(self.default_constraint or "")

    def config_keys_for(self, constraint: str | None) -> frozenset[str]:
        """The measurement-configuration keys of a set with ``constraint``."""
        return config_keys(self.config_keys, self.default_constraint, constraint)

    def pdf_type_for(self, constraint: str | None) -> str | None:
        """The ``pdf_type`` of a set with ``constraint`` (``None``: unconstrained)."""
        return self.pdf_type if constraint is None else PDF_TYPES[constraint]

    def constrained_parameters(
        self,
        name: str,
        occurrences: Sequence[Occurrence],
        ctx: Context,
        constraint: str | None,
        setting: ConstraintSetting | None = None,
    ) -> Parameters:
        """The parameter set of ``name`` with ``constraint`` (one of :attr:`constraints`,
        or the default) under the type's checked ``setting``; the default constraint is
        :meth:`parameters`."""
        if constraint == self.default_constraint:
            return self.parameters(name, occurrences, ctx)
        raise NotImplementedError(f"a {self.name} has no {constraint} constraint")

    def check_parameters(self, name: str, params: Parameters) -> None:
        """Check the set once the measurement's configuration is applied (lumi needs it)."""

    def slot_data(self, occurrence: Occurrence, ctx: Context) -> tuple[Any, Any]:
        """The pair of arrays an occurrence puts in its slot: ``(hi, lo)`` factors for the
        ``normsys`` slot, the shifts :math:`(\\delta^+, \\delta^-)` for ``histosys``."""
        raise NotImplementedError(f"{self.name} feeds the {self.slot} slot by index only")

    # -- HS3 -------------------------------------------------------------------------------
    def hs3_parameters(self, name: str | None, nbins: int, channel: str) -> tuple[str, ...]:
        """ROOT's default parameter names of an HS3 modifier that names none: the name for a
        scalar, ``gamma_<name>_bin_<i>`` per bin."""
        if self.is_scalar:
            return (str(name),)
        return tuple(f"gamma_{name}_bin_{i}" for i in range(nbins))

    def hs3_data(self, data: Any) -> Any:
        """The HS3 ``data`` of the modifier (``None``: it has none) from the pyhf ``data``."""
        return None

    def to_hs3(
        self, name: str, data: Any, parameters: Sequence[str], interpolation: Any = None
    ) -> dict[str, Any]:
        """The HS3 modifier of the pyhf entry (``name``, ``data``) with HS3 ``parameters``
        (one for a scalar) and, for an interpolated type, its HS3 ``interpolation``.

        Example:
            >>> from relaxed.histfactory.modifiers import UNITS
            >>> out = UNITS["shapesys"].to_hs3("u", [3.0, 7.0], ["u_0", "u_1"])
            >>> out["parameters"], out["constraint"], out["data"]
            (['u_0', 'u_1'], 'Poisson', {'vals': [3.0, 7.0]})
        """
        out: dict[str, Any] = {"name": name, "type": self.hs3_type}
        if self.is_scalar:
            out["parameter"] = parameters[0]
        else:
            out["parameters"] = list(parameters)
        if self.hs3_constraint_name is not None:
            out["constraint_name"] = self.hs3_constraint_name
        if self.hs3_constraint is not None:
            out["constraint"] = self.hs3_constraint
        if self.interpolation is not None:
            out["interpolation"] = interpolation
        hs3 = self.hs3_data(data)
        if hs3 is not None:
            out["data"] = hs3
        return out

    def from_hs3(self, modifier: Mapping[str, Any], sample: Mapping[str, Any]) -> Any:
        """The pyhf ``data`` of a (validated) HS3 modifier of a (validated) HS3 sample."""
        return None


# -- pieces shared by several units ---------------------------------------------------------
def _check_uncertainties(data: Any, path: str, nbins: int, where: str) -> None:
    """Per-bin absolute uncertainties (shapesys, staterror): one per bin, finite, >= 0."""
    m = _length(data, path)
    if m != nbins:
        raise InvalidModifier(f"{path}: {where} has {m} bins but the sample has {nbins}")
    if not _is_concrete(data):
        return
    values = np.asarray(data, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise InvalidModifier(
            f"{path}[{bad[0]}]: {where} has uncertainty {values[bad[0]]}; "
            "uncertainties must be finite and >= 0"
        )


class _Alpha(ModifierUnit):
    r"""A systematic with one parameter :math:`\alpha` (normsys, histosys), constrained
    by a unit Gaussian (pyhf's and ROOT's) or, where ``modifier_settings`` asks for
    ``"poisson"``, by HS3's unit Poisson.

    - ``"gauss"``: :math:`\mathcal{N}(a \mid \alpha, 1)`, init 0, bounds (-5, 5),
      auxiliary datum :math:`a = 0`.
    - ``"poisson"``: :math:`\mathrm{Pois}(a \mid \tau\alpha)` with :math:`\tau = 1` and
      auxiliary datum :math:`a = 1`, so the term is :math:`\log\mathrm{Pois}(1 \mid
      \alpha) = \log\alpha - \alpha - \log\Gamma(2)`, the continuous Poisson of
      central value 1 the HS3 standard calls "a unit Poissonian" (pyhs3 0.4.2 builds
      ``poisson_dist(x=1 | mean=alpha)``). It needs :math:`\alpha > 0`: init 1, bounds
      (1e-10, 5) (the lower bound of shapesys' :math:`\gamma`); pseudo-experiments draw
      :math:`a \sim \mathrm{Pois}(\alpha)`. Its nominal point :math:`\alpha = 1` is the
      ``hi`` variation of the interpolation (:math:`\alpha = 0`, the nominal yields, is
      the edge of its domain): that is the standard's literal reading, which pyhs3 shares;
      ROOT's HS3 importer ignores ``constraint`` on normsys/histosys and always builds a
      Gaussian (``getConstraint`` in ``roofit/hs3/src/JSONFactories_HistFactory.cxx``).

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS, Context
        >>> ctx = Context({}, {}, {}, concrete=True)
        >>> p = UNITS["normsys"].constrained_parameters("a", [], ctx, "poisson")
        >>> p.inits, p.bounds, p.aux.tolist(), p.factor.tolist(), p.sigma
        ([1.0], [(1e-10, 5.0)], [1.0], [1.0], None)
    """

    is_scalar = True
    pdf_type = "normal"
    config_keys = frozenset({"inits", "bounds", "fixed", "auxdata"})
    has_neutral = True
    hs3_constraint = "Gauss"
    constraints = ("gauss", "poisson")
    # the interpolation keys (read by the builder), then the constraint keys
    setting_keys = ("interpcode", "per_modifier", "constraint", "per_name")

    def parameters(self, name: str, occurrences: Sequence[Occurrence], ctx: Context) -> Parameters:
        return Parameters(
            n=1,
            inits=[0.0],
            bounds=[(-5.0, 5.0)],
            fixed=[False],
            aux=ctx.array([0.0]),
            sigma=ctx.array([1.0]),
        )

    def constrained_parameters(
        self,
        name: str,
        occurrences: Sequence[Occurrence],
        ctx: Context,
        constraint: str | None,
        setting: ConstraintSetting | None = None,
    ) -> Parameters:
        if constraint != "poisson":
            return self.parameters(name, occurrences, ctx)
        return Parameters(
            n=1,
            inits=[1.0],
            bounds=[(1e-10, 5.0)],
            fixed=[False],
            aux=ctx.array([1.0]),
            factor=ctx.array([1.0]),
        )

    def hs3_parameters(self, name: str | None, nbins: int, channel: str) -> tuple[str, ...]:
        return (f"alpha_{name}",)
