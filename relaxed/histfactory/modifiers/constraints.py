r"""The constraint a model gives the parameter sets of a modifier type, as its
``modifier_settings`` entry chooses it.

relaxed's engine has two constraint forms (see :mod:`relaxed.histfactory.model`): a Gaussian
:math:`\mathcal{N}(a \mid \theta, \sigma)` (``"gauss"``) and a continuous Poisson
:math:`\mathrm{Pois}(a \mid \tau\theta)` (``"poisson"``). The types whose constraint can be
chosen (a unit's ``constraints``: normsys, histosys, shapesys, staterror) read it from their
entry of ``modifier_settings``, with the same two keys:

- ``"constraint"``: the constraint of every set of the type (default: the type's pyhf
  constraint, its unit's ``pdf_type``);
- ``"per_name"``: ``{"<parameter name>": constraint}``, the constraint of single sets.

This module parses and checks those keys (:func:`constraint_setting`, :func:`check_names`),
resolves the constraint of a parameter shared by several types (:func:`resolve`: a normsys
and a histosys of one name) and says which measurement-configuration keys a set takes under
each constraint (:func:`config_keys`). What a constraint means for a type's parameters
(:math:`\tau`, :math:`\sigma`, inits, bounds) is its unit's business
(``ModifierUnit.constrained_parameters``).

Example:
    >>> s = constraint_setting("normsys", {"constraint": "poisson", "per_name": {"a": "gauss"}})
    >>> s.choice("a")
    ('gauss', "modifier_settings.normsys.per_name['a']")
    >>> s.choice("b")
    ('poisson', 'modifier_settings.normsys.constraint')
    >>> resolve("b", {"normsys": s}, "gauss")
    'poisson'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relaxed.exceptions import InvalidModifier

__all__ = [
    "CONSTRAINT",
    "CONSTRAINTS",
    "CONSTRAINT_OF_PDF",
    "ConstraintSetting",
    "HS3_NAMES",
    "PDF_TYPES",
    "PER_NAME",
    "WIDTH_KEYS",
    "check_names",
    "config_keys",
    "constraint_setting",
    "resolve",
]

#: The constraints a ``modifier_settings`` entry can choose.
CONSTRAINTS: tuple[str, ...] = ("gauss", "poisson")
#: The key of an entry choosing the constraint of every set of the type.
CONSTRAINT = "constraint"
#: The key of an entry choosing the constraint of single parameter sets, by name.
PER_NAME = "per_name"
#: Constraint -> the ``pdf_type`` of the parameter set (pyhf's words).
PDF_TYPES: Mapping[str, str] = {"gauss": "normal", "poisson": "poisson"}
#: ``pdf_type`` -> constraint.
CONSTRAINT_OF_PDF: Mapping[str, str] = {"normal": "gauss", "poisson": "poisson"}
#: Constraint -> its name in HS3's ``constraint`` field.
HS3_NAMES: Mapping[str, str] = {"gauss": "Gauss", "poisson": "Poisson"}
#: Constraint -> the measurement-configuration key giving its width (:math:`\sigma` or
#: :math:`\tau`).
WIDTH_KEYS: Mapping[str, str] = {"gauss": "sigmas", "poisson": "factors"}


@dataclass(frozen=True)
class ConstraintSetting:
    """The checked constraint keys of a type's ``modifier_settings`` entry: the constraint
    of every set (``None``: not given, the type's default) and those of single sets.

    Example:
        >>> s = ConstraintSetting("shapesys", None, {"u": "gauss"})
        >>> s.choice("u"), s.choice("v")
        (('gauss', "modifier_settings.shapesys.per_name['u']"), None)
        >>> s.report("poisson")
        {'constraint': 'poisson', 'per_name': {'u': 'gauss'}}
    """

    mtype: str
    constraint: str | None = None
    per_name: Mapping[str, str] = field(default_factory=dict)

    def choice(self, name: str) -> tuple[str, str] | None:
        """The constraint this setting gives the set ``name`` and where it says so
        (``None``: it says nothing, the type's default applies)."""
        if name in self.per_name:
            return self.per_name[name], f"modifier_settings.{self.mtype}.{PER_NAME}[{name!r}]"
        if self.constraint is not None:
            return self.constraint, f"modifier_settings.{self.mtype}.{CONSTRAINT}"
        return None

    def names(self) -> dict[str, Iterable[str]]:
        """The names this setting gives per key (to check against the specification)."""
        return {PER_NAME: self.per_name}

    def report(self, default: str) -> dict[str, Any]:
        """The entry a model reports in ``config.modifier_settings``: empty where the
        setting keeps the type's ``default`` everywhere, else ``"constraint"`` (and
        ``"per_name"`` where given)."""
        constraint = self.constraint or default
        if constraint == default and not self.per_name:
            return {}
        out: dict[str, Any] = {CONSTRAINT: constraint}
        if self.per_name:
            out[PER_NAME] = dict(sorted(self.per_name.items()))
        return out


def constraint_setting(mtype: str, entry: Mapping[str, Any]) -> ConstraintSetting:
    """The ``"constraint"`` and ``"per_name"`` keys of the ``modifier_settings`` entry of
    ``mtype`` (a mapping; its other keys are its caller's), checked.

    Raises:
        relaxed.exceptions.InvalidModifier: a value other than ``"gauss"`` or
            ``"poisson"``, or a ``per_name`` that is not a mapping, naming where.

    Example:
        >>> constraint_setting("staterror", {"constraint": "Poisson"})
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidModifier: modifier_settings.staterror.constraint: staterror ...
    """

    def checked(value: Any, where: str) -> str:
        if value not in CONSTRAINTS:
            raise InvalidModifier(
                f"{where}: {mtype} constraint {value!r} is not supported; use one of "
                f"{list(CONSTRAINTS)}"
            )
        return str(value)

    constraint = None
    if CONSTRAINT in entry:
        constraint = checked(entry[CONSTRAINT], f"modifier_settings.{mtype}.{CONSTRAINT}")
    per_name = entry.get(PER_NAME, {})
    if not isinstance(per_name, Mapping):
        raise InvalidModifier(
            f"modifier_settings.{mtype}.{PER_NAME}: expected a mapping "
            f"{{'<{mtype} name>': constraint}}, got {per_name!r}"
        )
    overrides = {
        str(name): checked(value, f"modifier_settings.{mtype}.{PER_NAME}[{name!r}]")
        for name, value in per_name.items()
    }
    return ConstraintSetting(mtype, constraint, overrides)


def check_names(mtype: str, given: Iterable[str], names: list[str], key: str = PER_NAME) -> None:
    """Every name of a per-name setting (``modifier_settings[mtype][key]``) must be a
    modifier of that type in the specification (``names``, sorted).

    Example:
        >>> check_names("shapesys", ["v"], ["u"])
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidModifier: modifier_settings.shapesys.per_name['v']: no ...
    """
    for name in given:
        if name not in names:
            raise InvalidModifier(
                f"modifier_settings.{mtype}.{key}[{name!r}]: no {mtype} modifier "
                f"'{name}'; the {mtype} modifiers are {names}"
            )


def resolve(name: str, settings: Mapping[str, ConstraintSetting], default: str) -> str:
    """The constraint of parameter ``name`` from the settings of the types that use it
    (one type, or a normsys and a histosys sharing it): a per-name choice before a
    type-wide one, else ``default``. Two types choosing differently at the same level raise.

    Example:
        >>> normsys = ConstraintSetting("normsys", "poisson")
        >>> resolve("a", {"normsys": normsys, "histosys": ConstraintSetting("histosys")}, "gauss")
        'poisson'
        >>> resolve("a", {"normsys": normsys, "histosys": ConstraintSetting("histosys", "gauss")},
        ...         "gauss")
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidModifier: parameter 'a' is shared by histosys and normsys ...
    """
    for by_name in (True, False):
        chosen = [
            c
            for _, s in sorted(settings.items())
            if (c := s.choice(name)) is not None and (name in s.per_name) == by_name
        ]
        values = sorted({value for value, _ in chosen})
        if len(values) > 1:
            said = " and ".join(f"{where} gives '{value}'" for value, where in chosen)
            raise InvalidModifier(
                f"parameter '{name}' is shared by {' and '.join(sorted(settings))} modifiers, "
                f"which need one constraint, but {said}; choose one constraint for it, e.g. "
                f"with the same per_name entry under both types"
            )
        if values:
            return values[0]
    return default


def config_keys(keys: frozenset[str], default: str | None, chosen: str | None) -> frozenset[str]:
    """The measurement-configuration keys a set takes under the constraint ``chosen``, from
    those of its type (``keys``, under its ``default`` constraint): the width key of the
    default (``sigmas`` of a Gaussian, ``factors`` of a Poisson) becomes the chosen one's.

    Example:
        >>> sorted(config_keys(frozenset({"inits", "sigmas"}), "gauss", "poisson"))
        ['factors', 'inits']
    """
    if default is None or chosen is None or chosen == default:
        return keys
    if WIDTH_KEYS[default] not in keys:
        return keys
    return (keys - {WIDTH_KEYS[default]}) | {WIDTH_KEYS[chosen]}
