"""``shapesys``: an uncorrelated shape uncertainty, a factor :math:`\\gamma_b` per bin of one
sample with a Poisson constraint (Barlow-Beeston lite).

Parameters: one per bin, init 1, bounds (1e-10, 10), constraint
:math:`\\mathrm{Pois}(a_b \\mid \\tau_b\\gamma_b)` with :math:`\\tau_b = (\\nu_b/\\sigma_b)^2`
(also the auxiliary datum); bins with zero yield or zero uncertainty are fixed, with
:math:`\\tau_b = 1`. A name belongs to one sample (it is never shared). HS3: ``Poisson``,
``data: {"vals": ...}``, one parameter per bin (default ``gamma_<name>_bin_<i>``).

With ``modifier_settings["shapesys"]["constraint"] = "gauss"`` (or ``"per_name"``; HS3's
``"constraint": "Gauss"``, which ROOT supports) the constraint is instead the Gaussian
:math:`\\mathcal{N}(1 \\mid \\gamma_b, \\sigma_b/\\nu_b)`: the absolute uncertainties
``data`` (HS3's ``vals``, read as pyhf and pyhs3 read them) relative to the nominal yields,
auxiliary datum 1, exactly a staterror carried by this sample alone; the same bins are fixed
(width 1). See :meth:`Shapesys.gauss_parameters`. pyhf's JSON cannot express it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relaxed.histfactory.modifiers.base import (
    Context,
    ModifierUnit,
    Occurrence,
    Parameters,
    _check_uncertainties,
    _floats,
)
from relaxed.histfactory.modifiers.constraints import ConstraintSetting

__all__ = ["Shapesys"]


class Shapesys(ModifierUnit):
    """The ``shapesys`` unit.

    Example:
        >>> import numpy as np
        >>> from relaxed.histfactory.modifiers import UNITS, Context, Occurrence
        >>> mod = {"name": "u", "type": "shapesys", "data": [5.0, 0.0]}
        >>> ctx = Context({"c": 2}, {("c", "b"): np.array([50.0, 60.0])}, {}, True)
        >>> p = UNITS["shapesys"].parameters("u", [Occurrence("c", "b", mod, "", "")], ctx)
        >>> p.aux.tolist(), p.fixed, p.bounds[0]
        ([100.0, 1.0], [False, True], (1e-10, 10.0))
    """

    name = "shapesys"
    slot = "factor"
    is_scalar = False
    pdf_type = "poisson"
    config_keys = frozenset({"inits", "bounds", "fixed", "auxdata", "factors"})
    shareable = False
    hs3_type = "shapesys"
    hs3_constraint = "Poisson"
    hs3_constraint_note = "pyhf's shapesys constraint is Poisson"
    constraints = ("poisson", "gauss")
    setting_keys = ("constraint", "per_name")

    def check(self, data: Any, path: str, nbins: int, where: str) -> None:
        _check_uncertainties(data, f"{path}.data", nbins, where)

    def parameters(self, name: str, occurrences: Sequence[Occurrence], ctx: Context) -> Parameters:
        xp = ctx.xp
        o = occurrences[0]
        n = ctx.nbins[o.channel]
        nom = ctx.nominal[(o.channel, o.sample)]
        unc = ctx.array(o.modifier["data"])
        valid = (nom > 0) & (unc > 0)
        safe_unc = xp.where(valid, unc, 1.0)
        tau = xp.where(valid, (nom / safe_unc) ** 2, 1.0)
        fixed = [not bool(v) for v in valid] if ctx.concrete else [False] * n
        return Parameters(
            n=n, inits=[1.0] * n, bounds=[(1e-10, 10.0)] * n, fixed=fixed, aux=tau, factor=tau
        )

    def gauss_parameters(
        self, name: str, occurrences: Sequence[Occurrence], ctx: Context
    ) -> Parameters:
        """The set with a Gaussian constraint instead of the Poisson one of
        :meth:`parameters`: :math:`\\mathcal{N}(1 \\mid \\gamma_b, \\sigma_b)` with the relative
        width :math:`\\sigma_b = u_b/\\nu_b` (``u_b`` the absolute uncertainty, ``data``);
        bins with zero yield or zero uncertainty stay fixed, width 1. Traced yields give a
        traced width (``jax.numpy``), so gradients flow through it.

        Example:
            >>> import numpy as np
            >>> from relaxed.histfactory.modifiers import UNITS, Context, Occurrence
            >>> mod = {"name": "u", "type": "shapesys", "data": [5.0, 0.0]}
            >>> ctx = Context({"c": 2}, {("c", "b"): np.array([50.0, 60.0])}, {}, True)
            >>> occurrences = [Occurrence("c", "b", mod, "", "")]
            >>> p = UNITS["shapesys"].gauss_parameters("u", occurrences, ctx)
            >>> p.sigma.tolist(), p.aux.tolist(), p.factor, p.fixed
            ([0.1, 1.0], [1.0, 1.0], None, [False, True])
        """
        xp = ctx.xp
        o = occurrences[0]
        n = ctx.nbins[o.channel]
        nom = ctx.nominal[(o.channel, o.sample)]
        unc = ctx.array(o.modifier["data"])
        valid = (nom > 0) & (unc > 0)
        sigma = xp.where(valid, unc / xp.where(valid, nom, 1.0), 1.0)
        fixed = [not bool(v) for v in valid] if ctx.concrete else [False] * n
        return Parameters(
            n=n,
            inits=[1.0] * n,
            bounds=[(1e-10, 10.0)] * n,
            fixed=fixed,
            aux=ctx.array([1.0] * n),
            sigma=sigma,
        )

    def constrained_parameters(
        self,
        name: str,
        occurrences: Sequence[Occurrence],
        ctx: Context,
        constraint: str | None,
        setting: ConstraintSetting | None = None,
    ) -> Parameters:
        if constraint == "gauss":
            return self.gauss_parameters(name, occurrences, ctx)
        return self.parameters(name, occurrences, ctx)

    def hs3_data(self, data: Any) -> Any:
        return {"vals": _floats(data)}

    def from_hs3(self, modifier: Mapping[str, Any], sample: Mapping[str, Any]) -> Any:
        return _floats(modifier["data"]["vals"])
