"""``staterror``: the statistical uncertainty of the simulation, a factor :math:`\\gamma_b`
per bin shared by the samples that carry it, with a Gaussian constraint.

Parameters: one per bin of the channels it appears in (channels sorted), init 1, bounds
(1e-10, 10), Gaussian constraint around 1 of relative width
:math:`\\sigma_b = \\sqrt{\\sum_s \\sigma_{sb}^2} / \\sum_s \\nu_{sb}` over the samples that
carry it; bins with :math:`\\sigma_b = 0` are fixed (width set to 1), and so are bins below a
threshold :math:`\\sigma_b < r` when one is set (ROOT's and HS3's ``relThreshold``, relaxed's
``modifier_settings["staterror"]["rel_threshold"]``: ROOT makes no parameter for them, relaxed
fixes :math:`\\gamma_b = 1` with a constant constraint term). Every sample carrying it
must do so in the same channels. HS3: ``Gauss``, the uncertainties in the sample's
``data.errors``, one parameter per bin (default ``gamma_stat_<channel>_bin_<i>``).

ROOT's HistFactory (and HS3's ``"constraint": "Poisson"``) may instead constrain
:math:`\\gamma_b` with a Poisson term, :math:`\\mathrm{Pois}(a_b \\mid \\tau_b\\gamma_b)` with
:math:`\\tau_b = 1/\\sigma_b^2` (also the auxiliary datum), the form pyhf uses for shapesys;
relaxed builds it when ``modifier_settings`` asks for it (see :class:`relaxed.Model`) through
:meth:`Staterror.poisson_parameters`. pyhf's JSON cannot express it.

The staterror entry of ``modifier_settings`` (:class:`StaterrorSetting`, read by
:meth:`Staterror.read_setting`) holds the constraint keys every constrained type shares
(``"constraint"``, ``"per_name"``: :mod:`~relaxed.histfactory.modifiers.constraints`) and the
thresholds (``"rel_threshold"``, ``"rel_threshold_per_name"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relaxed.exceptions import InvalidModel, InvalidModifier
from relaxed.histfactory.modifiers.base import (
    Context,
    ModifierUnit,
    Occurrence,
    Parameters,
    _check_uncertainties,
    _floats,
)
from relaxed.histfactory.modifiers.constraints import (
    CONSTRAINT,
    PER_NAME,
    ConstraintSetting,
    constraint_setting,
)

__all__ = [
    "REL_THRESHOLD",
    "REL_THRESHOLD_PER_NAME",
    "STATERROR_CONSTRAINTS",
    "Staterror",
    "StaterrorSetting",
]

#: The staterror constraints a model can use (``modifier_settings["staterror"]``).
STATERROR_CONSTRAINTS = ("gauss", "poisson")
#: The key of the staterror entry giving the threshold of every set (ROOT's ``relThreshold``).
REL_THRESHOLD = "rel_threshold"
#: The key of the staterror entry giving the threshold of single parameter sets.
REL_THRESHOLD_PER_NAME = "rel_threshold_per_name"


@dataclass(frozen=True)
class StaterrorSetting(ConstraintSetting):
    """A checked ``modifier_settings["staterror"]`` entry: the constraint of every set and
    the per-name overrides (:class:`~relaxed.histfactory.modifiers.constraints.ConstraintSetting`),
    the threshold :math:`r` of every set (bins with :math:`0 < \\sigma_b < r` are fixed, 0
    for none) and the per-name thresholds.

    Example:
        >>> from relaxed.histfactory.modifiers import UNITS
        >>> setting = UNITS["staterror"].read_setting({"rel_threshold": 0.05})
        >>> setting.rel_threshold, setting.threshold("st"), setting.report("gauss")
        (0.05, 0.05, {'rel_threshold': 0.05})
    """

    rel_threshold: float = 0.0
    rel_threshold_per_name: Mapping[str, float] = field(default_factory=dict)

    def threshold(self, name: str) -> float:
        """The threshold of the set ``name``."""
        return self.rel_threshold_per_name.get(name, self.rel_threshold)

    def names(self) -> dict[str, Iterable[str]]:
        return {PER_NAME: self.per_name, REL_THRESHOLD_PER_NAME: self.rel_threshold_per_name}

    def report(self, default: str) -> dict[str, Any]:
        out = super().report(default)
        if self.rel_threshold > 0:
            out[REL_THRESHOLD] = self.rel_threshold
        if self.rel_threshold_per_name:
            out[REL_THRESHOLD_PER_NAME] = dict(sorted(self.rel_threshold_per_name.items()))
        return out


def _threshold(value: Any, where: str) -> float:
    """A staterror threshold: a finite number >= 0."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0:
        raise InvalidModifier(
            f"{where}: a staterror threshold must be a finite number >= 0 (the relative "
            f"uncertainty below which a bin's gamma is fixed), got {value!r}"
        )
    return float(value)


class Staterror(ModifierUnit):
    """The ``staterror`` unit.

    Example:
        >>> import numpy as np
        >>> from relaxed.histfactory.modifiers import UNITS, Context, Occurrence
        >>> mods = [{"name": "st", "type": "staterror", "data": [3.0, 0.0]},
        ...         {"name": "st", "type": "staterror", "data": [4.0, 0.0]}]
        >>> occs = [Occurrence("c", s, m, "", "") for s, m in zip("ab", mods)]
        >>> nominal = {("c", "a"): np.array([10.0, 5.0]), ("c", "b"): np.array([15.0, 5.0])}
        >>> carried = {("c", s): {("st", "staterror"): o} for s, o in zip("ab", occs)}
        >>> ctx = Context({"c": 2}, nominal, carried, True)
        >>> p = UNITS["staterror"].parameters("st", occs, ctx)
        >>> p.sigma.tolist(), p.fixed, UNITS["staterror"].hs3_parameters("st", 2, "SR")[1]
        ([0.2, 1.0], [False, True], 'gamma_stat_SR_bin_1')
    """

    name = "staterror"
    slot = "factor"
    is_scalar = False
    pdf_type = "normal"
    config_keys = frozenset({"inits", "bounds", "fixed", "auxdata", "sigmas"})
    spans_channels = True
    hs3_type = "staterror"
    hs3_constraint = "Gauss"
    hs3_constraint_note = "pyhf's staterror constraint is Gaussian"
    hs3_sample_field = "errors"

    constraints = STATERROR_CONSTRAINTS
    setting_keys = (CONSTRAINT, PER_NAME, REL_THRESHOLD, REL_THRESHOLD_PER_NAME)

    def check(self, data: Any, path: str, nbins: int, where: str) -> None:
        _check_uncertainties(data, f"{path}.data", nbins, where)

    def setting_example(self) -> str:
        return (
            "{'constraint': 'poisson', 'per_name': {'<staterror name>': 'gauss'}, "
            "'rel_threshold': 0.05}"
        )

    def read_setting(self, entry: Mapping[str, Any]) -> StaterrorSetting:
        """The constraint of every staterror set and the per-name overrides, and the
        thresholds, of a ``modifier_settings["staterror"]`` entry, checked.

        Example:
            >>> from relaxed.histfactory.modifiers import UNITS
            >>> UNITS["staterror"].read_setting({"rel_threshold": -1})
            Traceback (most recent call last):
            ...
            relaxed.exceptions.InvalidModifier: modifier_settings.staterror.rel_threshold: ...
        """
        constraints = constraint_setting(self.name, entry)
        threshold = _threshold(
            entry.get(REL_THRESHOLD, 0.0), f"modifier_settings.staterror.{REL_THRESHOLD}"
        )
        per_threshold = entry.get(REL_THRESHOLD_PER_NAME, {})
        if not isinstance(per_threshold, Mapping):
            raise InvalidModifier(
                f"modifier_settings.staterror.{REL_THRESHOLD_PER_NAME}: expected a mapping "
                f"{{'<staterror name>': threshold}}, got {per_threshold!r}"
            )
        thresholds = {
            str(name): _threshold(
                value, f"modifier_settings.staterror.{REL_THRESHOLD_PER_NAME}[{name!r}]"
            )
            for name, value in per_threshold.items()
        }
        return StaterrorSetting(
            self.name, constraints.constraint, constraints.per_name, threshold, thresholds
        )

    def constrained_parameters(
        self,
        name: str,
        occurrences: Sequence[Occurrence],
        ctx: Context,
        constraint: str | None,
        setting: ConstraintSetting | None = None,
    ) -> Parameters:
        """The set with ``constraint`` (:meth:`parameters` or :meth:`poisson_parameters`)
        and the threshold the :class:`StaterrorSetting` gives it."""
        r = setting.threshold(name) if isinstance(setting, StaterrorSetting) else 0.0
        if constraint == "poisson":
            return self.poisson_parameters(name, occurrences, ctx, r)
        return self.parameters(name, occurrences, ctx, r)

    def _channels(
        self, name: str, occurrences: Sequence[Occurrence], ctx: Context
    ) -> tuple[list[str], np.ndarray]:
        """The channels of the set (sorted, each carrier in all of them) and their offsets."""
        chans = sorted({o.channel for o in occurrences})
        for o in occurrences:
            have = sorted(
                c for c in chans if (name, "staterror") in ctx.modifiers.get((c, o.sample), {})
            )
            if have != chans:
                raise InvalidModel(
                    f"{o.path}: staterror '{name}' is in channels {chans} but sample "
                    f"'{o.sample}' carries it only in {have}; every sample with a staterror "
                    "must carry it in the same channels"
                )
        return chans, np.cumsum([0] + [ctx.nbins[c] for c in chans])

    def parameters(
        self,
        name: str,
        occurrences: Sequence[Occurrence],
        ctx: Context,
        rel_threshold: float = 0.0,
    ) -> Parameters:
        """The set with the Gaussian constraint; bins with :math:`\\sigma_b = 0` or
        :math:`\\sigma_b < r` (``rel_threshold``, 0 for none) are fixed, width 1.

        Example:
            >>> import numpy as np
            >>> from relaxed.histfactory.modifiers import UNITS, Context, Occurrence
            >>> mod = {"name": "st", "type": "staterror", "data": [0.2, 1.0, 3.0]}
            >>> occs = [Occurrence("c", "a", mod, "", "")]
            >>> nominal = {("c", "a"): np.array([10.0, 10.0, 10.0])}
            >>> ctx = Context({"c": 3}, nominal, {("c", "a"): {("st", "staterror"): occs[0]}}, True)
            >>> p = UNITS["staterror"].parameters("st", occs, ctx, rel_threshold=0.05)
            >>> p.sigma.tolist(), p.fixed  # sigma_b = 0.02, 0.1, 0.3
            ([1.0, 0.1, 0.3], [True, False, False])
        """
        xp = ctx.xp
        chans, offsets = self._channels(name, occurrences, ctx)
        n = int(offsets[-1])
        blocks = []
        for c in chans:
            carriers = [o for o in occurrences if o.channel == c]
            total = sum(ctx.nominal[(c, o.sample)] for o in carriers)
            positive = total > 0
            safe_total = xp.where(positive, total, 1.0)
            rel2 = sum((ctx.array(o.modifier["data"]) / safe_total) ** 2 for o in carriers)
            blocks.append(xp.where(positive, rel2, 0.0))
        rel = _below_threshold(xp.concatenate(blocks), rel_threshold, ctx)
        zero = rel == 0
        sigma = xp.sqrt(xp.where(zero, 1.0, rel))
        return Parameters(
            n=n,
            inits=[1.0] * n,
            bounds=[(1e-10, 10.0)] * n,
            fixed=[bool(v) for v in zero] if ctx.concrete else [False] * n,
            aux=ctx.array([1.0] * n),
            sigma=sigma,
            offsets=dict(zip(chans, offsets[:-1].tolist(), strict=True)),
        )

    def poisson_parameters(
        self,
        name: str,
        occurrences: Sequence[Occurrence],
        ctx: Context,
        rel_threshold: float = 0.0,
    ) -> Parameters:
        """The set with ROOT's Poisson constraint :math:`\\mathrm{Pois}(a_b \\mid
        \\tau_b\\gamma_b)` instead of the Gaussian one of :meth:`parameters`:
        :math:`\\tau_b = 1/\\sigma_b^2 = (\\sum_s \\nu_{sb})^2 / \\sum_s \\sigma_{sb}^2`, also
        the auxiliary datum. Bins without yield or uncertainty, or below the threshold
        :math:`\\sigma_b < r` (``rel_threshold``, 0 for none), stay fixed, with
        :math:`\\tau_b = 1`.

        Example:
            >>> import numpy as np
            >>> from relaxed.histfactory.modifiers import UNITS, Context, Occurrence
            >>> mods = [{"name": "st", "type": "staterror", "data": [3.0, 0.0]},
            ...         {"name": "st", "type": "staterror", "data": [4.0, 0.0]}]
            >>> occs = [Occurrence("c", s, m, "", "") for s, m in zip("ab", mods)]
            >>> nominal = {("c", "a"): np.array([10.0, 5.0]), ("c", "b"): np.array([15.0, 5.0])}
            >>> carried = {("c", s): {("st", "staterror"): o} for s, o in zip("ab", occs)}
            >>> ctx = Context({"c": 2}, nominal, carried, True)
            >>> p = UNITS["staterror"].poisson_parameters("st", occs, ctx)
            >>> p.factor.tolist(), p.aux.tolist(), p.sigma, p.fixed  # (10 + 15)^2 / (3^2 + 4^2)
            ([25.0, 1.0], [25.0, 1.0], None, [False, True])
        """
        xp = ctx.xp
        chans, offsets = self._channels(name, occurrences, ctx)
        n = int(offsets[-1])
        blocks = []
        for c in chans:
            carriers = [o for o in occurrences if o.channel == c]
            total = sum(ctx.nominal[(c, o.sample)] for o in carriers)
            var = sum(ctx.array(o.modifier["data"]) ** 2 for o in carriers)
            valid = (total > 0) & (var > 0)
            blocks.append(xp.where(valid, total**2 / xp.where(valid, var, 1.0), 0.0))
        tau = xp.concatenate(blocks)
        if rel_threshold > 0:  # sigma_b^2 = 1 / tau_b
            rel2 = xp.where(tau > 0, 1.0 / xp.where(tau > 0, tau, 1.0), 0.0)
            tau = xp.where(_below_threshold(rel2, rel_threshold, ctx) == 0, 0.0, tau)
        zero = tau == 0
        tau = xp.where(zero, 1.0, tau)
        return Parameters(
            n=n,
            inits=[1.0] * n,
            bounds=[(1e-10, 10.0)] * n,
            fixed=[bool(v) for v in zero] if ctx.concrete else [False] * n,
            aux=tau,
            factor=tau,
            offsets=dict(zip(chans, offsets[:-1].tolist(), strict=True)),
        )

    def hs3_parameters(self, name: str | None, nbins: int, channel: str) -> tuple[str, ...]:
        return tuple(f"gamma_stat_{channel}_bin_{i}" for i in range(nbins))

    def from_hs3(self, modifier: Mapping[str, Any], sample: Mapping[str, Any]) -> Any:
        return _floats(sample["data"]["errors"])


def _below_threshold(rel2: Any, rel_threshold: float, ctx: Context) -> Any:
    """The squared relative uncertainties :math:`\\sigma_b^2` with those of the bins below
    the threshold, :math:`\\sigma_b < r`, set to 0 (unchanged for :math:`r = 0`). The
    threshold decides which parameters are fixed, so it needs concrete yields."""
    if rel_threshold <= 0:
        return rel2
    if not ctx.concrete:
        raise InvalidModifier(
            "modifier_settings.staterror.rel_threshold: a staterror threshold decides which "
            "parameters are fixed, so it needs concrete yields and uncertainties, not traced "
            "values"
        )
    return ctx.xp.where(ctx.xp.sqrt(rel2) < rel_threshold, 0.0, rel2)
