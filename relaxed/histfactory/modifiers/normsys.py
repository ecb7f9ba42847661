"""``normsys``: a normalisation systematic, the factor :math:`\\eta(\\alpha)` interpolated
between :math:`\\eta^- = \\mathrm{lo}` and :math:`\\eta^+ = \\mathrm{hi}`.

Parameter: one :math:`\\alpha` (shared with a ``histosys`` of the same name), init 0, bounds
(-5, 5), unit Gaussian constraint :math:`\\mathcal{N}(0 \\mid \\alpha, 1)`; or, with
``modifier_settings["normsys"]["constraint"] = "poisson"`` (or ``"per_name"``), HS3's unit
Poisson :math:`\\mathrm{Pois}(1 \\mid \\alpha)`, init 1, bounds (1e-10, 5) (see
``_Alpha`` in :mod:`relaxed.histfactory.modifiers.base`: the standard's literal reading, which
pyhs3 shares; ROOT builds a Gaussian whatever the ``constraint``). The model keeps one
factor per (sample, channel) with precomputed logarithms
(:func:`relaxed.histfactory.interpolation.normsys_precompute`). Interpolation codes 1 and 4
(pyhf's default: 4). HS3: ``alpha_<name>``, ``Gauss`` (or ``Poisson``, ``LogNormal``),
``data: {"hi": ..., "lo": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from relaxed.exceptions import InvalidModifier
from relaxed.histfactory.interpolation import MULTIPLICATIVE_CODES
from relaxed.histfactory.modifiers.base import (
    Context,
    Interpolation,
    Occurrence,
    _Alpha,
    _is_concrete,
)

__all__ = ["Normsys", "POLY6_EXP"]

#: The structured HS3 interpolation for pyhf's normsys code 4 (poly6 inside, exponential out).
POLY6_EXP = {"type": "mult", "in": "poly6", "out": "exp"}


class Normsys(_Alpha):
    """The ``normsys`` unit.

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> unit = UNITS["normsys"]
        >>> unit.slot, unit.interpolation.codes, unit.interpolation.pyhf_default
        ('normsys', ('code1', 'code4'), 'code4')
        >>> unit.hs3_parameters("jes", 2, "SR"), unit.neutral([5.0])
        (('alpha_jes',), {'hi': 1.0, 'lo': 1.0})
    """

    name = "normsys"
    slot = "normsys"
    shares_with = frozenset({"histosys"})
    interpolation = Interpolation(
        codes=tuple(MULTIPLICATIVE_CODES),
        default="code1",
        pyhf_default="code4",
        hs3_names={
            "code0": "lin",
            "code1": "log",
            "code2": "parabolic",
            "code4p": "poly6",
            "code4": POLY6_EXP,
        },
        root_codes={0: "code0", 1: "code1", 2: "code2", 4: "code4"},
    )
    hs3_type = "normsys"
    hs3_constraint_note = "pyhf constrains normsys with a unit Gaussian"

    def check(self, data: Any, path: str, nbins: int, where: str) -> None:
        if not _is_concrete(data):
            return
        for key in ("hi", "lo"):
            value = float(np.asarray(data[key]))
            if not (np.isfinite(value) and value > 0):
                raise InvalidModifier(
                    f"{path}.data.{key}: {where} has {key}={value}; normsys factors must be "
                    "finite and > 0"
                )

    def neutral(self, nominal: Sequence[float]) -> Any:
        return {"hi": 1.0, "lo": 1.0}

    def slot_data(self, occurrence: Occurrence, ctx: Context) -> tuple[Any, Any]:
        data = occurrence.modifier["data"]
        return ctx.array(data["hi"]), ctx.array(data["lo"])

    def hs3_data(self, data: Any) -> Any:
        return {"hi": float(data["hi"]), "lo": float(data["lo"])}

    def from_hs3(self, modifier: Mapping[str, Any], sample: Mapping[str, Any]) -> Any:
        return {"hi": float(modifier["data"]["hi"]), "lo": float(modifier["data"]["lo"])}
