"""Modifiers as units: one small unit per HistFactory modifier type, and their registry.

Each unit (:class:`~relaxed.histfactory.modifiers.base.ModifierUnit`) holds everything about
its type: its parameters (count, inits, bounds, constraint and auxiliary data), how it checks
and reads its pyhf entry, which slot of the model's vectorised computation it feeds, its
neutral form, and its HS3 spelling. :data:`UNITS` maps pyhf's type names to the units, in
pyhf's order of parameter registration (the type names sorted). The constraint a model gives
a type's sets is the unit's (``pdf_type``) unless ``modifier_settings`` choose another of its
``constraints``: :mod:`~relaxed.histfactory.modifiers.constraints` reads those settings, the
unit builds the set (``ModifierUnit.constrained_parameters``).

Example:
    >>> from relaxed.histfactory.modifiers import UNITS
    >>> list(UNITS)
    ['histosys', 'lumi', 'normfactor', 'normsys', 'shapefactor', 'shapesys', 'staterror']
    >>> [(u.name, u.pdf_type) for u in UNITS.values() if not u.is_scalar]
    [('shapefactor', None), ('shapesys', 'poisson'), ('staterror', 'normal')]
    >>> [(u.name, u.default_constraint) for u in UNITS.values() if u.constraints]
    [('histosys', 'gauss'), ('normsys', 'gauss'), ('shapesys', 'poisson'), ('staterror', 'gauss')]
"""

from __future__ import annotations

from types import MappingProxyType

from relaxed.histfactory.modifiers.base import (
    Context,
    Interpolation,
    ModifierUnit,
    Occurrence,
    Parameters,
)
from relaxed.histfactory.modifiers.histosys import Histosys
from relaxed.histfactory.modifiers.lumi import Lumi
from relaxed.histfactory.modifiers.normfactor import Normfactor
from relaxed.histfactory.modifiers.normsys import POLY6_EXP, Normsys
from relaxed.histfactory.modifiers.shapefactor import Shapefactor
from relaxed.histfactory.modifiers.shapesys import Shapesys
from relaxed.histfactory.modifiers.staterror import Staterror

__all__ = [
    "Context",
    "DEFAULT_MODIFIER_SETTINGS",
    "INTERPOLATED",
    "Interpolation",
    "MODIFIER_TYPES",
    "ModifierUnit",
    "Occurrence",
    "POLY6_EXP",
    "Parameters",
    "SLOTS",
    "UNITS",
]

#: pyhf type name -> unit, in pyhf's order of parameter registration (names sorted).
UNITS: MappingProxyType[str, ModifierUnit] = MappingProxyType(
    {
        unit.name: unit
        for unit in sorted(
            (Histosys(), Lumi(), Normfactor(), Normsys(), Shapefactor(), Shapesys(), Staterror()),
            key=lambda u: u.name,
        )
    }
)

#: The modifier types, in pyhf's order of parameter registration.
MODIFIER_TYPES: tuple[str, ...] = tuple(UNITS)

#: The slots of the model's rate computation a unit can feed (see ``ModifierUnit.slot``).
SLOTS = ("histosys", "normsys", "factor")

#: The types with interpolation codes, in the order of pyhf's ``modifier_settings``.
INTERPOLATED: tuple[str, ...] = ("normsys", "histosys")

#: pyhf 0.7.6 defaults for both ``pyhf.Model(spec)`` and ``Workspace.model()``.
DEFAULT_MODIFIER_SETTINGS: dict[str, dict[str, str]] = {
    mtype: {"interpcode": UNITS[mtype].interpolation.pyhf_default}  # type: ignore[union-attr]
    for mtype in INTERPOLATED
}
