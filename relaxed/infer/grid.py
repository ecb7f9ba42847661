r"""Signal grids: a hypothesis test (and optionally upper limits) for every patch of a patch set.

A published likelihood is a background-only workspace plus a patch set with one JSON Patch per
signal point. For each patch :math:`k` the grid computes the observed and expected
:math:`\mathrm{CL}_s(\mu)` at ``poi_test`` (asymptotics, as :func:`relaxed.infer.hypotest`)
and, with ``upper_limits``, the observed and expected upper limits (as
:func:`relaxed.infer.upper_limit` without a scan).

Patches whose models share a structure (channels, binning, modifier layout: the usual case,
where every signal point adds the same samples with other yields, under other names) share one
compiled test: each model is re-wrapped with its group's first layout (:func:`structure_key`
ignores names), so the group compiles once and every point is one asynchronous call of that
compiled function. (Mapping the test with ``jax.vmap`` over stacked models was tried: on CPU
it compiled for ~1 minute, far longer than the whole grid takes this way.) Patches of other
structures form their own groups.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from relaxed import cache
from relaxed.exceptions import InvalidArgument, PatchSetVerificationError, RelaxedError
from relaxed.histfactory.model import Model
from relaxed.histfactory.patchset import PatchSet
from relaxed.histfactory.workspace import Workspace
from relaxed.infer import calculators, intervals
from relaxed.infer.hypotest import pop_solver_options

__all__ = ["hypotest_grid", "structure_key"]


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


def _stack(models: Sequence[Model]) -> Model:
    """One batched model; every model takes the first one's (name-only different) layout."""
    treedef = jax.tree_util.tree_structure(models[0])
    leaves = [jax.tree_util.tree_leaves(m) for m in models]
    stacked = [jnp.stack(column) for column in zip(*leaves, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, stacked)


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
        solver_kwargs: ``method``, ``maxiter``, ``tolerance``, ``nstarts``
            (:class:`relaxed.infer.mle.SolverOptions`).

    Returns:
        One dict per patch, in the patch set's order: ``name``, ``values``, ``labels``,
        ``CLs_obs``, ``CLs_exp`` (five values, :math:`-2\sigma \dots +2\sigma`),
        ``converged`` (every fit of the test converged), and with ``upper_limits``
        ``upper_limit_obs`` and ``upper_limit_exp`` (NaN where no limit is bracketed).

    Raises:
        relaxed.exceptions.InvalidPatch: a patch does not apply (before any fit runs).
        relaxed.exceptions.InvalidArgument: a bad option.

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
    """
    if not isinstance(workspace, Workspace):
        workspace = Workspace(workspace)
    if not isinstance(patchset, PatchSet):
        patchset = PatchSet(patchset)
    if test_stat not in ("q", "qtilde"):
        raise InvalidArgument(f"test_stat must be 'q' or 'qtilde' for a grid, got {test_stat!r}")
    if not 0.0 < float(level) < 1.0:
        raise InvalidArgument(f"level must be between 0 and 1, got {level!r}")
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

    # build every model first: a patch that does not apply fails before any fit
    entries = []
    for patch in patchset.patches:
        model = workspace.model(measurement_name=measurement_name, patches=[patch])
        if model.config.poi_index is None:
            raise RelaxedError(
                f"patch '{patch.name}': the measurement has no parameter of interest"
            )
        init, config = calculators._resolve(model, None, None, None, solver)
        entries.append((patch, model, workspace.data(model), init, config))

    groups: dict[Any, list[int]] = {}
    for i, (_, model, _, init, config) in enumerate(entries):
        key = (structure_key(model), tuple(np.asarray(init).tolist()), config)
        groups.setdefault(key, []).append(i)

    results: list[dict[str, Any]] = [{} for _ in entries]
    bar = _progress(len(entries), progress)
    poi = jnp.asarray(poi_test, dtype=jnp.float64)
    try:
        for indices in groups.values():
            _run_group(
                entries,
                indices,
                results,
                poi,
                test_stat,
                upper_limits,
                level,
                bar.update if bar is not None else None,
            )
    finally:
        if bar is not None:
            bar.close()
    labels = list(patchset.labels)
    for (patch, *_), record in zip(entries, results, strict=True):
        record.update(name=patch.name, values=[_number(v) for v in patch.values], labels=labels)
    return [{k: r[k] for k in ("name", "values", "labels", *_ORDER) if k in r} for r in results]


_ORDER = ("CLs_obs", "CLs_exp", "upper_limit_obs", "upper_limit_exp", "converged")


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _run_group(
    entries: list[tuple[Any, ...]],
    indices: list[int],
    results: list[dict[str, Any]],
    poi: Array,
    test_stat: str,
    upper_limits: bool,
    level: float,
    update: Callable[[int], Any] | None,
) -> None:
    """Every member of a structure group through one compiled test (and root finder): each
    model is re-wrapped with the group's first layout, so the compiled call is reused. The
    calls are dispatched asynchronously and collected at the end."""
    _, model0, _, init, config = entries[indices[0]]
    treedef = jax.tree_util.tree_structure(model0)
    cache.release_if_needed()
    if upper_limits:
        low, up = model0.config.suggested_bounds()[model0.config.poi_index]
        setup = intervals._Setup(config, test_stat, "asymptotics", (("calc_base_dist", "normal"),))
        level_arr = jnp.asarray(level, dtype=jnp.float64)
        rtol = jnp.asarray(1e-6, dtype=jnp.float64)
        key = calculators._key(None)
    pending = []
    for i in indices:
        model = jax.tree_util.tree_unflatten(treedef, jax.tree_util.tree_leaves(entries[i][1]))
        data = entries[i][2]
        test = calculators._asymptotic_result_jit(
            model, data, poi, init, config, test_stat, "normal"
        )
        roots = None
        if upper_limits:
            roots = intervals._roots_jit(
                model, data, init, key, level_arr, rtol, setup, (float(low), float(up)), 100
            )
        pending.append((i, test, roots))
    for i, test, roots in pending:
        record = {
            "CLs_obs": float(test.CLs),
            "CLs_exp": [float(v) for v in np.asarray(test.CLs_exp)],
            "converged": bool(test.converged),
        }
        if roots is not None:
            values = np.asarray(roots)
            record["upper_limit_obs"] = float(values[0])
            record["upper_limit_exp"] = [float(v) for v in values[1:]]
        results[i] = record
        if update is not None:
            update(1)
