"""``normfactor``: a free factor :math:`\\mu` multiplying a sample's yields in every bin.

Parameter: one, init 1, bounds (0, 10), unconstrained. HS3: a ``normfactor`` whose
``parameter`` defaults to the modifier's name.
"""

from __future__ import annotations

from collections.abc import Sequence

from relaxed.histfactory.modifiers.base import Context, ModifierUnit, Occurrence, Parameters

__all__ = ["Normfactor"]


class Normfactor(ModifierUnit):
    """The ``normfactor`` unit.

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> p = UNITS["normfactor"].parameters("mu", [], None)
        >>> p.n, p.inits, p.bounds, UNITS["normfactor"].pdf_type
        (1, [1.0], [(0.0, 10.0)], None)
    """

    name = "normfactor"
    slot = "factor"
    is_scalar = True
    hs3_type = "normfactor"
    hs3_constraint_note = "pyhf's normfactor is unconstrained"

    def parameters(self, name: str, occurrences: Sequence[Occurrence], ctx: Context) -> Parameters:
        return Parameters(n=1, inits=[1.0], bounds=[(0.0, 10.0)], fixed=[False])
