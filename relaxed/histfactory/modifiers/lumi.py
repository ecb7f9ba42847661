"""``lumi``: the luminosity factor :math:`\\lambda`, multiplying a sample's yields in every bin.

Parameter: one, with a Gaussian constraint whose auxiliary datum, width, init and bounds come
from the measurement's parameter configuration (there is no default). HS3: a ``normfactor``
whose ``constraint_name`` names a ``gaussian_dist`` (``lumi_constraint``).
"""

from __future__ import annotations

from collections.abc import Sequence

from relaxed.exceptions import InvalidMeasurement
from relaxed.histfactory.modifiers.base import Context, ModifierUnit, Occurrence, Parameters

__all__ = ["Lumi"]


class Lumi(ModifierUnit):
    """The ``lumi`` unit.

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> unit = UNITS["lumi"]
        >>> out = unit.to_hs3("lumi", None, ["lumi"])
        >>> out["type"], out["parameter"], out["constraint_name"]
        ('normfactor', 'lumi', 'lumi_constraint')
    """

    name = "lumi"
    slot = "factor"
    is_scalar = True
    pdf_type = "normal"
    config_keys = frozenset({"inits", "bounds", "fixed", "auxdata", "sigmas"})
    hs3_type = "normfactor"
    hs3_constraint_name = "lumi_constraint"
    hs3_constraint_note = "pyhf's lumi constraint is Gaussian"

    def parameters(self, name: str, occurrences: Sequence[Occurrence], ctx: Context) -> Parameters:
        return Parameters(n=1, inits=[], bounds=[], fixed=[False])

    def check_parameters(self, name: str, params: Parameters) -> None:
        missing = [
            key
            for key, value in (
                ("inits", params.inits),
                ("bounds", params.bounds),
                ("auxdata", params.aux),
                ("sigmas", params.sigma),
            )
            if value is None or (isinstance(value, list) and not value)
        ]
        if missing:
            raise InvalidMeasurement(
                f"lumi parameter '{name}' needs {', '.join(missing)} in the measurement's "
                f'parameter configuration, e.g. {{"name": "{name}", "auxdata": [1.0], '
                '"sigmas": [0.02], "inits": [1.0], "bounds": [[0.9, 1.1]]}'
            )
