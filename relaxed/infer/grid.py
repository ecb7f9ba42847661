r"""Signal grids: a hypothesis test (and optionally upper limits) for every patch of a patch set.

A published likelihood is a background-only workspace plus a patch set with one JSON Patch per
signal point. For each patch :math:`k` the grid computes the observed and expected
:math:`\mathrm{CL}_s(\mu)` at ``poi_test`` (asymptotics, as :func:`relaxed.infer.hypotest`)
and, with ``upper_limits``, the observed and expected upper limits (as
:func:`relaxed.infer.upper_limit` without a scan).

How it stays fast:

1. The patched specifications are brought to one structure with
   :func:`relaxed.histfactory.align.align` (a signal sample absent from a channel is added
   with zero yields, a systematic a point lacks is added in neutral form: no rate changes), so
   patches that differ only in where their signal is zero share compiled code.
2. Models of one structure (:func:`structure_key`: channels, binning, modifier layout, not the
   names) are stacked, and the test runs over them with ``jax.lax.map`` inside one compiled
   program, in chunks of :data:`CHUNK` points (the last one padded), so a structure compiles
   once whatever the number of points. (``jax.vmap`` over the points was tried: the batched
   fits' while loops compiled for about a minute on CPU.) The program is stored on disk
   (:func:`relaxed.cache.compiled_call`), so a new process does not trace it again.
3. The patched and aligned models are kept with the :class:`relaxed.PatchSet` object: a second
   grid of the same ``Workspace`` and ``PatchSet`` objects (another ``poi_test``, limits)
   builds nothing again.
4. The chunks of all structures are dealt in turn round the local devices (``devices``),
   each running its structure's program compiled for that device
   (:func:`relaxed.infer.devices.run_chunks`), all dispatched before any is collected: the
   records are bit-identical whatever the number of devices.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from relaxed import cache
from relaxed.exceptions import (
    InvalidArgument,
    InvalidData,
    PatchSetVerificationError,
    RelaxedError,
)
from relaxed.histfactory.align import align
from relaxed.histfactory.builder import build
from relaxed.histfactory.config import Layout
from relaxed.histfactory.model import _LEAVES, Model
from relaxed.histfactory.patchset import PatchSet
from relaxed.histfactory.workspace import Workspace, _patched_model_spec
from relaxed.infer import calculators, checks, intervals
from relaxed.infer.devices import local_devices, run_chunks
from relaxed.infer.hypotest import pop_solver_options
from relaxed.infer.mle import SolverOptions

__all__ = ["CHUNK", "hypotest_grid", "structure_groups", "structure_key"]

#: Points per compiled call (the last chunk of a structure is padded by repeating a point).
CHUNK = 16


def structure_key(model: Model) -> tuple[Any, ...]:
    """What the compiled test depends on (``Layout.structure_key``): the structure without
    the names, so that patches whose signal samples are named after their point share code.

    Example:
        >>> import relaxed
        >>> def model(name):
        ...     return relaxed.Model({"channels": [{"name": "c", "samples": [{"name": name,
        ...         "data": [1.0], "modifiers": [
        ...             {"name": "mu", "type": "normfactor", "data": None}]}]}]})
        >>> structure_key(model("a")) == structure_key(model("b"))
        True
    """
    return model._layout.structure_key


class _Group(NamedTuple):
    """Points of one structure, stacked: ``leaves`` (one array per model leaf, leading axis
    the points), ``data`` (points, bins + auxdata), and the fit configuration."""

    members: list[int]
    layout: Layout
    leaves: list[np.ndarray]
    data: np.ndarray
    init: jax.Array
    config: Any


#: PatchSet -> {(id(workspace), measurement, solver): (weakref to the workspace, groups)}
_PREPARED: weakref.WeakKeyDictionary[PatchSet, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="signal points", unit="point")


def hypotest_grid(
    workspace: Workspace | Mapping[str, Any],
    patchset: PatchSet | Mapping[str, Any],
    poi_test: float = 1.0,
    measurement_name: str | None = None,
    test_stat: str = "qtilde",
    upper_limits: bool = False,
    level: float = 0.05,
    progress: bool = False,
    verify: bool = True,
    patches: Sequence[str] | None = None,
    devices: int | Sequence[Any] | None = None,
    **solver_kwargs: Any,
) -> list[dict[str, Any]]:
    r"""Observed and expected :math:`\mathrm{CL}_s` at :math:`\mu` = ``poi_test`` for every
    patch of ``patchset`` applied to ``workspace`` (and, with ``upper_limits``, the upper
    limits :math:`\mathrm{CL}_s(\mu^*) = \alpha` = ``level``).

    Args:
        workspace: the background-only workspace (a :class:`relaxed.Workspace` or its JSON).
        patchset: the signal points (a :class:`relaxed.PatchSet` or its JSON).
        poi_test: the tested value of the parameter of interest.
        measurement_name: the measurement (default: the first).
        test_stat: ``"qtilde"`` or ``"q"`` (asymptotic calculator).
        upper_limits: also find the observed and expected upper limits.
        level: :math:`\alpha` of the upper limits.
        progress: show a progress bar (tqdm).
        verify: check the patch set's digest against the workspace; a mismatch is a warning
            (published patch sets exist whose digest does not match their own workspace), not
            an error.
        patches: the names of the patches to compute (default: all). The models are still
            built and aligned over the whole patch set, and each compiled call is padded to
            the size the whole grid uses, so every record is bit-identical to the whole
            grid's (what shards and Dask chunks of a grid rely on).
        devices: the local devices the compiled calls are dealt round (None: all; a number:
            the first ones; or a list of ``jax.Device``). Each device runs the same program,
            so the records do not depend on it (:mod:`relaxed.infer.devices`).
        solver_kwargs: ``method``, ``maxiter``, ``tolerance``, ``nstarts``
            (:class:`relaxed.infer.mle.SolverOptions`).

    Returns:
        One dict per patch (per selected patch with ``patches``), in the patch set's order:
        ``name``, ``values``, ``labels``, ``CLs_obs``, ``CLs_exp`` (five values,
        :math:`-2\sigma \dots +2\sigma`), ``converged`` (every fit of the test converged),
        and with ``upper_limits`` ``upper_limit_obs`` and ``upper_limit_exp``. A limit that is
        not bracketed inside the POI's bounds is ``None`` (never a clipped number), and
        ``upper_limit_note`` says which limits and why; one such point does not stop the grid.

    Raises:
        relaxed.exceptions.InvalidPatch: a patch does not apply (before any fit runs).
        relaxed.exceptions.InvalidArgument: a bad option (``devices`` included), or a name
            in ``patches`` that is not a patch of the patch set.

    Example:
        >>> import relaxed
        >>> ws = relaxed.Workspace({"channels": [{"name": "SR", "samples": [
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}],
        ...     "observations": [{"name": "SR", "data": [51.0, 48.0]}],
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        ...     "version": "1.0.0"})
        >>> def point(name, s):
        ...     sample = {"name": "sig", "data": s,
        ...               "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}
        ...     return {"metadata": {"name": name, "values": [s[0]]},
        ...             "patch": [{"op": "add", "path": "/channels/0/samples/0", "value": sample}]}
        >>> patchset = relaxed.PatchSet({"metadata": {"description": "toy", "labels": ["s"],
        ...     "digests": {"sha256": relaxed.histfactory.patchset.digest(ws.spec)},
        ...     "references": {"hepdata": "ins0000000"}}, "version": "1.0.0",
        ...     "patches": [point("a", [12.0, 11.0]), point("b", [30.0, 25.0])]})
        >>> records = hypotest_grid(ws, patchset)
        >>> [(r["name"], round(r["CLs_obs"], 6)) for r in records]
        [('a', 0.052516), ('b', 1.3e-05)]
        >>> hypotest_grid(ws, patchset, patches=["b"])[0]["CLs_obs"] == records[1]["CLs_obs"]
        True
        >>> hypotest_grid(ws, patchset, devices=1) == records
        True
    """
    if not isinstance(workspace, Workspace):
        workspace = Workspace(workspace)
    if not isinstance(patchset, PatchSet):
        patchset = PatchSet(patchset)
    if test_stat not in ("q", "qtilde"):
        raise InvalidArgument(f"test_stat must be 'q' or 'qtilde' for a grid, got {test_stat!r}")
    checks.check_level(level)
    devs = local_devices(devices)
    kwargs = dict(solver_kwargs)
    solver = pop_solver_options(kwargs)
    if kwargs:
        raise InvalidArgument(
            f"unknown keyword argument(s) {sorted(kwargs)}; valid ones are "
            "method, maxiter, tolerance, nstarts"
        )
    if verify and patchset.digests:
        try:
            patchset.verify(workspace)
        except PatchSetVerificationError as err:
            warnings.warn(f"hypotest_grid: {err}; computing the grid anyway", stacklevel=2)

    selected = _selection(patchset, patches)
    # every model is built first: a patch that does not apply fails before any fit
    groups = _prepared(workspace, patchset, measurement_name, solver)
    for group in groups:  # every patch's model has its group's POI bounds
        model = Model.tree_unflatten(group.layout, tuple(leaf[0] for leaf in group.leaves))
        checks.check_poi(poi_test, model, group.config.bounds)
    npoints = len(patchset.patches)
    results: list[dict[str, Any]] = [{} for _ in range(npoints)]
    bar = _progress(len(selected), progress)
    try:
        pending: list[tuple[list[int], Any, tuple[float, float]]] = []
        for group in groups:  # every chunk is dispatched before any is collected
            rows = [j for j, i in enumerate(group.members) if i in selected]
            if rows:
                settings = (poi_test, test_stat, upper_limits, level)
                pending.extend(_dispatch(group, *settings, rows, devs, len(pending)))
        for members, outputs, bounds in pending:
            _collect(members, outputs, results, upper_limits, bounds)
            if bar is not None:
                bar.update(len(members))
    finally:
        if bar is not None:
            bar.close()
    labels = list(patchset.labels)
    chosen = []
    for i, (patch, record) in enumerate(zip(patchset.patches, results, strict=True)):
        if i in selected:
            record.update(name=patch.name, values=[_number(v) for v in patch.values])
            record.update(labels=labels)
            chosen.append(
                {k: record[k] for k in ("name", "values", "labels", *_ORDER) if k in record}
            )
    return chosen


def _selection(patchset: PatchSet, patches: Sequence[str] | None) -> set[int]:
    """The indices of the patches named in ``patches`` (all of them for None)."""
    if patches is None:
        return set(range(len(patchset.patches)))
    if isinstance(patches, str):
        raise InvalidArgument(f"patches must be a list of patch names, got the string {patches!r}")
    index = {patch.name: i for i, patch in enumerate(patchset.patches)}
    unknown = [name for name in patches if name not in index]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown[:5])
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise InvalidArgument(f"patches: no patch named {shown}{more} in the patch set")
    return {index[name] for name in patches}


def structure_groups(
    workspace: Workspace | Mapping[str, Any],
    patchset: PatchSet | Mapping[str, Any],
    measurement_name: str | None = None,
    **solver_kwargs: Any,
) -> list[list[str]]:
    """The names of the patches of ``patchset``, grouped as :func:`hypotest_grid` computes
    them: one list per model structure after alignment (in the patch set's order, groups in
    the order of their first patch). A group is computed in compiled calls of :data:`CHUNK`
    points (fewer points: the next power of two), so a subset of the patches (a shard, a Dask
    chunk) wastes no padded points when it takes them in runs of :data:`CHUNK` from one
    group. The models are built once per pair of objects, as for :func:`hypotest_grid`.

    Example:
        >>> import relaxed
        >>> ws = relaxed.Workspace({"channels": [{"name": "SR", "samples": [
        ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}],
        ...     "observations": [{"name": "SR", "data": [51.0]}],
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        ...     "version": "1.0.0"})
        >>> def point(name, data):
        ...     sample = {"name": "sig", "data": data, "modifiers": [
        ...         {"name": "mu", "type": "normfactor", "data": None}]}
        ...     return {"metadata": {"name": name, "values": [len(name)]}, "patch": [
        ...         {"op": "add", "path": "/channels/0/samples/0", "value": sample}]}
        >>> patchset = relaxed.PatchSet({"metadata": {"description": "", "labels": ["x"],
        ...     "digests": {"sha256": "0" * 64}, "references": {"hepdata": "ins0000000"}},
        ...     "version": "1.0.0",
        ...     "patches": [point("a", [5.0]), point("bb", [9.0]), point("ccc", [2.0])]})
        >>> structure_groups(ws, patchset)
        [['a', 'bb', 'ccc']]
    """
    if not isinstance(workspace, Workspace):
        workspace = Workspace(workspace)
    if not isinstance(patchset, PatchSet):
        patchset = PatchSet(patchset)
    kwargs = dict(solver_kwargs)
    solver = pop_solver_options(kwargs)
    if kwargs:
        raise InvalidArgument(
            f"unknown keyword argument(s) {sorted(kwargs)}; valid ones are "
            "method, maxiter, tolerance, nstarts"
        )
    names = [patch.name for patch in patchset.patches]
    groups = _prepared(workspace, patchset, measurement_name, solver)
    return [[names[i] for i in group.members] for group in groups]  # by their first patch


_ORDER = (
    "CLs_obs",
    "CLs_exp",
    "upper_limit_obs",
    "upper_limit_exp",
    "upper_limit_note",
    "converged",
)


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _prepared(
    workspace: Workspace,
    patchset: PatchSet,
    measurement_name: str | None,
    solver: SolverOptions,
) -> list[_Group]:
    """The stacked groups of ``patchset`` on ``workspace``, built once per pair of objects."""
    per_patchset = _PREPARED.setdefault(patchset, {})
    key = (id(workspace), measurement_name, solver)
    cached = per_patchset.get(key)
    if cached is not None and cached[0]() is workspace:
        return cached[1]
    groups = _prepare(workspace, patchset, measurement_name, solver)
    per_patchset[key] = (weakref.ref(workspace), groups)
    return groups


def _prepare(
    workspace: Workspace,
    patchset: PatchSet,
    measurement_name: str | None,
    solver: SolverOptions,
) -> list[_Group]:
    """Patch, align (one structure where possible), build and stack every model."""
    measurement = workspace.get_measurement(measurement_name)
    config = measurement["config"]
    poi = config["poi"]
    base = {"channels": workspace._spec["channels"], "parameters": config.get("parameters", [])}
    specs, labels = [], []
    for i, patch in enumerate(patchset.patches):
        spec, label = _patched_model_spec(base, [patch])
        specs.append(spec)
        labels.append(label[0] if label else f"patches[{i}]")
    observed = workspace.observations()
    by_key: dict[Any, list[int]] = {}
    built: list[tuple[Layout, dict[str, np.ndarray], np.ndarray]] = []
    for i, spec in enumerate(align(base, specs)):
        try:
            layout, arrays = build(spec, poi, None, as_numpy=True)
        except RelaxedError as err:
            err.add_note(f"(in the model specification patched by {labels[i]})")
            raise
        if layout.poi_index is None:
            raise RelaxedError(f"{labels[i]}: the measurement has no parameter of interest")
        data = np.concatenate([_observed(observed, layout), arrays["auxdata"]])
        built.append((layout, arrays, data))
        by_key.setdefault(layout.structure_key, []).append(i)
    groups = []
    for members in by_key.values():
        layout = built[members[0]][0]
        leaves = [np.stack([built[i][1][name] for i in members]) for name in _LEAVES]
        model = Model.tree_unflatten(layout, tuple(leaf[0] for leaf in leaves))
        init, fit_config = calculators._resolve(model, None, None, None, solver)
        data = np.stack([built[i][2] for i in members])
        groups.append(_Group(members, layout, leaves, data, init, fit_config))
    return groups


def _observed(observed: Mapping[str, Any], layout: Layout) -> np.ndarray:
    parts = []
    for channel, nbins in zip(layout.channels, layout.channel_nbins, strict=True):
        if channel not in observed:
            raise InvalidData(
                f"observations: no observed data for channel '{channel}'; observations "
                f"exist for {sorted(observed)}"
            )
        values = np.asarray(observed[channel], dtype=np.float64)
        if values.shape != (nbins,):
            raise InvalidData(
                f"observations: channel '{channel}' has {nbins} bins but its observation "
                f"has shape {values.shape}"
            )
        parts.append(values)
    return np.concatenate(parts)


def _chunk_size(n: int) -> int:
    """The padded size of the compiled calls of a group of ``n`` points: :data:`CHUNK`, or
    for fewer points the next power of two (few distinct shapes, so few compilations)."""
    return CHUNK if n >= CHUNK else 1 << (n - 1).bit_length()


def _dispatch(
    group: _Group,
    poi_test: float,
    test_stat: str,
    upper_limits: bool,
    level: float,
    rows: Sequence[int],
    devices: tuple[Any, ...],
    start: int,
) -> list[tuple[list[int], Any, tuple[float, float]]]:
    """Start the compiled calls of the points ``rows`` of one group (asynchronously), dealt
    round ``devices`` from the ``start``-th chunk of the deal; returns (members, outputs, the
    POI's bounds) per chunk. The calls have the padded size of the whole group whatever the
    rows, so a point's numbers do not depend on which others are computed with it."""
    treedef = jax.tree_util.tree_structure(Model.tree_unflatten(group.layout, tuple(_LEAVES)))
    low, up = group.config.bounds[group.layout.poi_index]
    setup = intervals._Setup(
        group.config, test_stat, "asymptotics", (("calc_base_dist", "normal"),)
    )
    bounds = (float(low), float(up))
    maxiter = 100

    def one(leaves: list[Any], data: Any, poi: Any, init: Any, key: Any, level: Any) -> Any:
        model = jax.tree_util.tree_unflatten(treedef, leaves)
        test = calculators._asymptotic_result(
            model, data, poi, init, group.config, test_stat, "normal"
        )
        out = (test.CLs, jnp.stack(test.CLs_exp), test.converged)
        if upper_limits:
            rtol = jnp.asarray(1e-6, dtype=jnp.float64)
            roots = intervals._find_roots(
                model, data, init, key, level, setup, bounds, rtol, maxiter
            )
            out = (*out, roots)
        return out

    def chunk(leaves: list[Any], data: Any, poi: Any, init: Any, key: Any, level: Any) -> Any:
        return jax.lax.map(lambda xs: one(xs[0], xs[1], poi, init, key, level), (leaves, data))

    static = (group.config, test_stat, upper_limits, setup, bounds, maxiter)
    static = (*static, group.layout.structure_key)
    poi = jnp.asarray(poi_test, dtype=jnp.float64)
    level_arr = jnp.asarray(level, dtype=jnp.float64)
    key = calculators._key(None)

    def program(poi: Any, init: Any, key: Any, level: Any, leaves: Any, data: Any) -> Any:
        # the program stored for the device the arguments are committed to
        return cache.compiled_call("grid", chunk, static, leaves, data, poi, init, key, level)

    size = _chunk_size(len(group.members))
    parts, chunks = [], []
    for a in range(0, len(rows), size):
        part = list(rows[a : a + size])
        take = np.asarray(part + part[-1:] * (size - len(part)))  # pad: repeat the last point
        parts.append([group.members[r] for r in part])
        chunks.append(([leaf[take] for leaf in group.leaves], group.data[take]))
    shared = (poi, group.init, key, level_arr)
    outputs = run_chunks(program, shared, chunks, devices, start)
    return [(members, out, bounds) for members, out in zip(parts, outputs, strict=True)]


def _collect(
    members: list[int],
    outputs: Any,
    results: list[dict[str, Any]],
    upper_limits: bool,
    bounds: tuple[float, float],
) -> None:
    cls_obs, cls_exp, converged = (np.asarray(x) for x in outputs[:3])
    roots = np.asarray(outputs[3]) if upper_limits else None
    for j, i in enumerate(members):
        record: dict[str, Any] = {
            "CLs_obs": float(cls_obs[j]),
            "CLs_exp": [float(v) for v in cls_exp[j]],
            "converged": bool(converged[j]),
        }
        if roots is not None:
            limits = [float(v) if np.isfinite(v) else None for v in roots[j]]
            record["upper_limit_obs"] = limits[0]
            record["upper_limit_exp"] = limits[1:]
            names = intervals.LIMIT_NAMES
            missing = [name for name, v in zip(names, limits, strict=True) if v is None]
            if missing:
                record["upper_limit_note"] = (
                    f"{', '.join(missing)}: not bracketed inside the POI bounds "
                    f"[{bounds[0]:g}, {bounds[1]:g}] (widen the bounds or scale the signal)"
                )
        results[i] = record
