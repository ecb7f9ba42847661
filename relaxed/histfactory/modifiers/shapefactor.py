"""``shapefactor``: a free factor :math:`\\gamma_b` per bin multiplying a sample's yields.

Parameters: one per bin, init 1, bounds (0, 10), unconstrained; a name shared by several
channels needs the same number of bins in each. HS3: a ``shapefactor`` with one parameter per
bin (default ``gamma_<name>_bin_<i>``).
"""

from __future__ import annotations

from collections.abc import Sequence

from relaxed.exceptions import InvalidModel
from relaxed.histfactory.modifiers.base import Context, ModifierUnit, Occurrence, Parameters

__all__ = ["Shapefactor"]


class Shapefactor(ModifierUnit):
    """The ``shapefactor`` unit.

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> UNITS["shapefactor"].hs3_parameters("sf", 2, "SR")
        ('gamma_sf_bin_0', 'gamma_sf_bin_1')
    """

    name = "shapefactor"
    slot = "factor"
    is_scalar = False
    hs3_type = "shapefactor"
    hs3_constraint_note = "pyhf's shapefactor is unconstrained"

    def parameters(self, name: str, occurrences: Sequence[Occurrence], ctx: Context) -> Parameters:
        sizes = {ctx.nbins[o.channel] for o in occurrences}
        if len(sizes) > 1:
            raise InvalidModel(
                f"shapefactor '{name}' is shared by channels with different numbers of bins "
                f"({', '.join(f'{o.channel}: {ctx.nbins[o.channel]}' for o in occurrences)})"
            )
        n = sizes.pop()
        return Parameters(n=n, inits=[1.0] * n, bounds=[(0.0, 10.0)] * n, fixed=[False] * n)
