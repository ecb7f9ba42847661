"""``histosys``: a shape systematic, the additive shift :math:`\\Delta(\\alpha)` of a sample's
yields interpolated between the templates ``lo_data`` and ``hi_data``.

Parameter: one :math:`\\alpha` (shared with a ``normsys`` of the same name), init 0, bounds
(-5, 5), unit Gaussian constraint :math:`\\mathcal{N}(0 \\mid \\alpha, 1)`; or, with
``modifier_settings["histosys"]["constraint"] = "poisson"`` (or ``"per_name"``), HS3's unit
Poisson :math:`\\mathrm{Pois}(1 \\mid \\alpha)`, init 1, bounds (1e-10, 5) (see
``_Alpha`` in :mod:`relaxed.histfactory.modifiers.base`: the standard's literal reading, which
pyhs3 shares; ROOT builds a Gaussian whatever the ``constraint``). The model keeps the
shifts :math:`\\delta^+ = I^+ - I^0` and :math:`\\delta^- = I^0 - I^-` of every histosys as
dense rows (two contractions, see :func:`relaxed.histfactory.interpolation.histosys_weight`).
Interpolation codes 0, 2 and 4p (pyhf's default: 4p). HS3: ``alpha_<name>``, ``Gauss`` (or
``Poisson``, ``LogNormal``), ``data: {"hi": {"contents": ...}, "lo": {"contents": ...}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from relaxed.exceptions import InvalidModifier
from relaxed.histfactory.interpolation import ADDITIVE_CODES
from relaxed.histfactory.modifiers.base import (
    Context,
    Interpolation,
    Occurrence,
    _Alpha,
    _floats,
    _is_concrete,
    _length,
)

__all__ = ["Histosys"]


class Histosys(_Alpha):
    """The ``histosys`` unit.

    Example:
        >>> import numpy as np
        >>> from relaxed.histfactory.modifiers import UNITS, Context, Occurrence
        >>> mod = {"name": "s", "type": "histosys",
        ...        "data": {"hi_data": [12.0, 21.0], "lo_data": [9.0, 18.0]}}
        >>> ctx = Context({"c": 2}, {("c", "b"): np.array([10.0, 20.0])}, {}, True)
        >>> up, dn = UNITS["histosys"].slot_data(Occurrence("c", "b", mod, "", ""), ctx)
        >>> up.tolist(), dn.tolist()
        ([2.0, 1.0], [1.0, 2.0])
    """

    name = "histosys"
    slot = "histosys"
    shares_with = frozenset({"normsys"})
    interpolation = Interpolation(
        codes=tuple(ADDITIVE_CODES),
        default="code0",
        pyhf_default="code4p",
        hs3_names={"code0": "lin", "code2": "parabolic", "code4p": "poly6"},
        root_codes={0: "code0", 2: "code2", 4: "code4p"},
    )
    hs3_type = "histosys"
    hs3_constraint_note = "pyhf constrains histosys with a unit Gaussian"

    def check(self, data: Any, path: str, nbins: int, where: str) -> None:
        for key in ("hi_data", "lo_data"):
            m = _length(data[key], f"{path}.data.{key}")
            if m != nbins:
                raise InvalidModifier(
                    f"{path}.data.{key}: {where} has {m} bins but the sample has {nbins}"
                )
        if not _is_concrete(data):
            return
        for key in ("hi_data", "lo_data"):
            values = np.asarray(data[key], dtype=np.float64)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise InvalidModifier(f"{path}.data.{key}[{bad[0]}]: {where} is not finite")

    def neutral(self, nominal: Sequence[float]) -> Any:
        return {"hi_data": list(nominal), "lo_data": list(nominal)}

    def slot_data(self, occurrence: Occurrence, ctx: Context) -> tuple[Any, Any]:
        nominal = ctx.nominal[(occurrence.channel, occurrence.sample)]
        data = occurrence.modifier["data"]
        return ctx.array(data["hi_data"]) - nominal, nominal - ctx.array(data["lo_data"])

    def hs3_data(self, data: Any) -> Any:
        return {
            "hi": {"contents": _floats(data["hi_data"])},
            "lo": {"contents": _floats(data["lo_data"])},
        }

    def from_hs3(self, modifier: Mapping[str, Any], sample: Mapping[str, Any]) -> Any:
        return {
            "hi_data": _floats(modifier["data"]["hi"]["contents"]),
            "lo_data": _floats(modifier["data"]["lo"]["contents"]),
        }
