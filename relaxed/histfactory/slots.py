"""The slots of a model's vectorised computation, and how parameter sets are packed into them.

:class:`relaxed.Model` evaluates every modifier through one of three slots (a unit's
``ModifierUnit.slot``), and every constraint through one vector:

- ``factor``: ``factor_index`` (K, S, B), the parameter multiplying each (sample, bin) in
  each of K rows (index ``npars``: a constant 1). Sets whose footprints do not overlap share
  a row, so K is small.
- ``normsys``: ``normsys_index`` (N, S, C), the :math:`\\alpha` of each (sample, channel) in
  each of N packed rows, and the precomputed logarithms and coefficients of the factors
  (:func:`relaxed.histfactory.interpolation.normsys_precompute`; 1 where unused).
- ``histosys``: ``histosys_index`` (H,) and the shifts ``histosys_up``/``histosys_dn``
  (H, S, B), one dense row per set (zero where it does not apply): two contractions.
- both interpolated slots also give the interpolation code of each entry, (N, S, C) and
  (H, S, C) int8 positions in the type's ``Interpolation.codes`` (:func:`entry_codes`).
- constraints: the constrained parameters (``aux_par_index``), the positions of the Gaussian
  and Poisson terms, and the auxiliary data, widths and Poisson factors.

Each function packs one slot from the sets that feed it and the data their units give; the
model builder (:func:`relaxed.histfactory.builder.build`) calls them in this order. NumPy
arithmetic for a concrete specification, ``jax.numpy`` when some numbers are traced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from relaxed.histfactory.config import ParamSet
from relaxed.histfactory.interpolation import normsys_precompute
from relaxed.histfactory.modifiers import UNITS, Context, ModifierUnit, Occurrence, Parameters

__all__ = [
    "CodeOf",
    "Grid",
    "Member",
    "constraint_slot",
    "entry_codes",
    "factor_slot",
    "histosys_slot",
    "members",
    "normsys_slot",
]


class Grid(NamedTuple):
    """The axes of the model's arrays: samples (S) and channels (C), sorted, and bins (B).

    Example:
        >>> grid = Grid(["bkg", "sig"], ["CR", "SR"], {"CR": 1, "SR": 2})
        >>> grid.shape, grid.bins["SR"], grid.bin_channel().tolist()
        ((2, 3), slice(1, 3, None), [0, 1, 1])
    """

    samples: Sequence[str]
    channels: Sequence[str]
    nbins: Mapping[str, int]

    @property
    def shape(self) -> tuple[int, int]:
        """(S, B)."""
        return len(self.samples), sum(self.nbins[c] for c in self.channels)

    @property
    def bins(self) -> dict[str, slice]:
        """The slice of each channel's bins."""
        edges = np.cumsum([0] + [self.nbins[c] for c in self.channels]).tolist()
        return {
            c: slice(a, b) for c, a, b in zip(self.channels, edges[:-1], edges[1:], strict=True)
        }

    def bin_channel(self) -> np.ndarray:
        """The channel index of each bin, (B,) int32."""
        return np.concatenate(
            [np.full(self.nbins[c], i, dtype=np.int32) for i, c in enumerate(self.channels)]
        )


class Member(NamedTuple):
    """A parameter set feeding a slot: its first index in the parameter vector, its set, and
    the unit and occurrences of the type that feeds the slot."""

    start: int
    params: Parameters
    unit: ModifierUnit
    occurrences: list[Occurrence]


def members(
    paramsets: Sequence[ParamSet],
    occurrences: Mapping[str, Mapping[str, list[Occurrence]]],
    sets: Mapping[str, Parameters],
    starts: Mapping[str, int],
    slot: str,
) -> list[Member]:
    """The parameter sets feeding ``slot``, in parameter order."""
    return [
        Member(starts[p.name], sets[p.name], UNITS[t], occurrences[p.name][t])
        for p in paramsets
        for t in p.modifier_types
        if UNITS[t].slot == slot
    ]


#: The interpolation code (a position in the type's ``Interpolation.codes``) of an entry.
CodeOf = Callable[[Occurrence], int]


def entry_codes(shape: tuple[int, ...], entries: Mapping[tuple[int, ...], int]) -> np.ndarray:
    """The code of every entry of an interpolated slot, int8 of ``shape``: the given codes
    of the entries a modifier applies to; the padding gets the code they all share (or 0
    for none, or the first where they differ), so a slot whose modifiers use one code is
    uniform.

    Example:
        >>> entry_codes((2, 2), {(0, 0): 1, (1, 1): 1}).tolist()
        [[1, 1], [1, 1]]
        >>> entry_codes((1, 3), {(0, 0): 2, (0, 2): 0}).tolist()
        [[2, 2, 0]]
    """
    used = list(entries.values())
    codes = np.full(shape, used[0] if used else 0, dtype=np.int8)
    for position, code in entries.items():
        codes[position] = code
    return codes


def _pack(footprints: list[np.ndarray]) -> list[int]:
    """Greedy assignment of footprints to rows so that no two in a row overlap."""
    rows: list[np.ndarray] = []
    assignment = []
    for fp in footprints:
        for r, used in enumerate(rows):
            if not (used & fp).any():
                used |= fp
                assignment.append(r)
                break
        else:
            rows.append(fp.copy())
            assignment.append(len(rows) - 1)
    return assignment


def factor_slot(group: Sequence[Member], grid: Grid, npars: int) -> np.ndarray:
    """``factor_index`` (K, S, B): per (sample, bin) the parameter of each packed row."""
    S, B = grid.shape
    sidx = {s: i for i, s in enumerate(grid.samples)}
    bins = grid.bins
    footprints, index_maps = [], []
    for m in group:
        fp = np.zeros((S, B), dtype=bool)
        im = np.full((S, B), npars, dtype=np.int32)
        for o in m.occurrences:
            base = m.start + m.params.offsets.get(o.channel, 0)
            idx = base + (0 if m.unit.is_scalar else np.arange(grid.nbins[o.channel]))
            fp[sidx[o.sample], bins[o.channel]] = True
            im[sidx[o.sample], bins[o.channel]] = idx
        footprints.append(fp)
        index_maps.append(im)
    rows = _pack(footprints)
    factor_index = np.full((max(rows, default=-1) + 1, S, B), npars, dtype=np.int32)
    for r, fp, im in zip(rows, footprints, index_maps, strict=True):
        factor_index[r][fp] = im[fp]
    return factor_index


def histosys_slot(
    group: Sequence[Member], grid: Grid, ctx: Context, code_of: CodeOf
) -> tuple[np.ndarray, Any, Any, np.ndarray]:
    """``histosys_index`` (H,), the shifts :math:`\\delta^+`, :math:`\\delta^-` (H, S, B)
    and the code of each entry (H, S, C) (:func:`entry_codes`).

    Dense rows make the shift a contraction over modifiers (see ``Model``), which is far
    cheaper to evaluate and differentiate than per-slot interpolation."""
    xp = ctx.xp
    S, B = grid.shape
    sidx = {s: i for i, s in enumerate(grid.samples)}
    cidx = {c: i for i, c in enumerate(grid.channels)}
    index = np.asarray([m.start for m in group], dtype=np.int32)
    blocks: dict[tuple[int, str, str], tuple[Any, Any]] = {}
    codes: dict[tuple[int, ...], int] = {}
    for r, m in enumerate(group):
        for o in m.occurrences:
            blocks[(r, o.sample, o.channel)] = m.unit.slot_data(o, ctx)
            codes[(r, sidx[o.sample], cidx[o.channel])] = code_of(o)

    def shifts(which: int) -> Any:
        if not group:
            return xp.zeros((0, S, B))
        rows = []
        for r in range(len(group)):
            per_sample = []
            for s in grid.samples:
                parts = [
                    blocks[(r, s, c)][which] if (r, s, c) in blocks else xp.zeros(grid.nbins[c])
                    for c in grid.channels
                ]
                per_sample.append(xp.concatenate(parts))
            rows.append(xp.stack(per_sample))
        return xp.stack(rows)

    return index, shifts(0), shifts(1), entry_codes((len(group), S, len(grid.channels)), codes)


def normsys_slot(
    group: Sequence[Member], grid: Grid, ctx: Context, code_of: CodeOf
) -> tuple[np.ndarray, Any, Any, Any, np.ndarray]:
    """``normsys_index`` (N, S, C), the precomputed ``log_hi``, ``log_lo`` (N, S, C) and
    ``coeffs`` (6, N, S, C) of the factors, one per (sample, channel), and the code of each
    entry (N, S, C) (:func:`entry_codes`)."""
    xp = ctx.xp
    S, C = len(grid.samples), len(grid.channels)
    sidx = {s: i for i, s in enumerate(grid.samples)}
    cidx = {c: i for i, c in enumerate(grid.channels)}
    footprints = []
    for m in group:
        fp = np.zeros((S, C), dtype=bool)
        for o in m.occurrences:
            fp[sidx[o.sample], cidx[o.channel]] = True
        footprints.append(fp)
    rows = _pack(footprints)
    n = max(rows, default=-1) + 1
    index = np.zeros((n, S, C), dtype=np.int32)
    values: dict[tuple[int, int, int], tuple[Any, Any]] = {}
    codes: dict[tuple[int, ...], int] = {}
    for r, m, fp in zip(rows, group, footprints, strict=True):
        index[r][fp] = m.start
        for o in m.occurrences:
            values[(r, sidx[o.sample], cidx[o.channel])] = m.unit.slot_data(o, ctx)
            codes[(r, sidx[o.sample], cidx[o.channel])] = code_of(o)

    def factors(which: int) -> Any:
        if not values:
            return xp.ones((n, S, C))
        flat = [
            values[(r, si, ci)][which] if (r, si, ci) in values else ctx.array(1.0)
            for r in range(n)
            for si in range(S)
            for ci in range(C)
        ]
        return xp.reshape(xp.stack(flat), (n, S, C))

    return (
        index,
        *normsys_precompute(factors(0), factors(1), xp=xp),
        entry_codes(index.shape, codes),
    )


def constraint_slot(
    paramsets: Sequence[ParamSet],
    sets: Mapping[str, Parameters],
    starts: Mapping[str, int],
    xp: Any,
) -> dict[str, Any]:
    """The constraint terms, in parameter order: ``aux_order`` (the constrained sets),
    ``aux_par_index``, ``normal_aux`` and ``poisson_aux`` (positions), and the arrays
    ``auxdata``, ``aux_sigma`` (1 for Poisson terms) and ``aux_factor`` (1 for Gaussian)."""
    aux_order, aux_par, normal_pos, poisson_pos = [], [], [], []
    aux_blocks, sigma_blocks, factor_blocks = [], [], []
    for p in paramsets:
        if p.pdf_type is None:
            continue
        params = sets[p.name]
        aux_order.append(p.name)
        first = len(aux_par)
        aux_par.extend(range(starts[p.name], starts[p.name] + p.n_parameters))
        positions = list(range(first, len(aux_par)))
        ones = xp.ones(p.n_parameters)
        aux_blocks.append(params.aux * ones)
        if p.pdf_type == "normal":
            normal_pos.extend(positions)
            sigma_blocks.append(params.sigma * ones)
            factor_blocks.append(ones)
        else:
            poisson_pos.extend(positions)
            sigma_blocks.append(ones)
            factor_blocks.append(params.factor * ones)

    def cat(blocks: list[Any]) -> Any:
        return xp.concatenate(blocks) if blocks else xp.zeros(0)

    return {
        "aux_order": tuple(aux_order),
        "aux_par_index": np.asarray(aux_par, dtype=np.int32),
        "normal_aux": np.asarray(normal_pos, dtype=np.int32),
        "poisson_aux": np.asarray(poisson_pos, dtype=np.int32),
        "auxdata": cat(aux_blocks),
        "aux_sigma": cat(sigma_blocks),
        "aux_factor": cat(factor_blocks),
    }
