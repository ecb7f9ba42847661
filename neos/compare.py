r"""neos against the binary cross-entropy baseline, seed by seed.

:func:`compare_bce` trains, for each seed, the same network twice with :func:`neos.train.train`:
once on the expected :math:`\mathrm{CL}_s` (``loss="cls"``, neos) and once on the binary
cross-entropy (``loss="bce"``, the conventional classifier). Each trained network is judged
the same way: the expected :math:`\mathrm{CL}_s` at :math:`\mu` = ``test_mu`` of the histosys
workspace built from *hard* histograms of an independent test sample, with the same bins
(``cls_hard_test`` of :func:`~neos.train.train`). Lower is better.

What is held equal (see :data:`FAIRNESS`): for a given seed both runs start from the same
initial parameters and see the same training and test events (both are functions of the seed
only); the network, the bins, the optimiser and its learning rate are the same, and both are
evaluated by the same code. BCE can also be given more steps than neos (by default 1x and 4x):
its steps are cheaper, and a baseline should be converged before it is beaten. The longer BCE
runs continue the shorter ones from their checkpoint (``resume``), so one BCE run per seed
gives the hard :math:`\mathrm{CL}_s` at every requested length.

On an analysis description a third arm is the conventional analysis done well: the longest
BCE network with the *best cut-based binning* of its output (:func:`best_cut_binning`: the
interior bin edges chosen on the training sample to minimise the hard expected
:math:`\mathrm{CL}_s`, then scored on the test sample). Every arm is also scored by the POI
uncertainty of its test workspace (:func:`poi_uncertainty_of`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

import relaxed
from neos.train import TrainConfig, TrainingError, train
from relaxed.exceptions import InvalidArgument

__all__ = [
    "FAIRNESS",
    "compare_bce",
    "summarize_comparison",
    "bce_plateau",
    "sign_test",
    "best_cut_binning",
    "poi_uncertainty_of",
    "MAX_CUT_CANDIDATES",
]

#: The most candidate binnings :func:`best_cut_binning` evaluates.
MAX_CUT_CANDIDATES = 300

#: How the comparison is made fair; :func:`compare_bce` copies it into its result.
FAIRNESS = (
    "Per seed, neos (loss=cls) and BCE (loss=bce) train the same network from the same initial "
    "parameters on the same training events, with the same optimiser and learning rate; both "
    "are scored by the same code: the expected CLs at mu=test_mu of the histosys workspace "
    "built from hard histograms of the same independent test sample, with the same bins "
    "(fixed, not trained). neos gets `steps` steps; BCE gets each of `bce_steps` (one run, "
    "continued from its checkpoint), so it is also compared after training longer. BCE learns "
    "signal vs nominal background only and never sees the systematic variations: that is the "
    "conventional analysis neos replaces, not a handicap added here. On an analysis, the third "
    "arm (bce+cuts) is the longest BCE network with its bin edges chosen on the training "
    "events to minimise the hard expected CLs (best_cut_binning), scored on the same test "
    "events; every arm is also scored by the POI uncertainty of its test workspace."
)


#: Settings that differ between the runs of a comparison (not reported as shared config).
_PER_RUN = ("seed", "loss", "steps", "checkpoint_every", "animate")


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_ints(name: str, values: Sequence[int], minimum: int) -> list[int]:
    out = list(values)
    if not out or not all(_is_int(v, minimum) for v in out):
        raise InvalidArgument(
            f"{name} must be a non-empty list of integers >= {minimum}, got {values!r}"
        )
    if len(set(out)) != len(out):
        raise InvalidArgument(f"{name} must not repeat a value, got {values!r}")
    return out


def bce_plateau(loss: Sequence[float], fraction: float = 0.25) -> float:
    r"""Relative decrease of a loss history over its last ``fraction`` of steps:
    :math:`(\bar L_a - \bar L_b) / \bar L_b`, with :math:`\bar L_b` the mean of the last
    :math:`w = \max(1, n/20)` values and :math:`\bar L_a` the mean of the :math:`w` values
    ending ``fraction * n`` steps earlier. Near 0: the loss has plateaued.

    Example:
        >>> bce_plateau([1.0] * 30 + [0.5] * 10)  # halved in the last quarter
        1.0
        >>> bce_plateau([0.3] * 40)
        0.0
    """
    values = [float(v) for v in loss]
    n = len(values)
    if n < 2 or not 0.0 < fraction < 1.0:
        raise InvalidArgument(f"need >= 2 values and 0 < fraction < 1, got {n} and {fraction}")
    w = max(1, n // 20)
    end = n - max(1, round(fraction * n))
    before = values[max(0, end - w) : max(1, end)]
    last = values[-w:]
    mean_last = statistics.fmean(last)
    return (statistics.fmean(before) - mean_last) / mean_last


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "geometric_mean": math.exp(statistics.fmean(math.log(max(v, 1e-300)) for v in values)),
    }


def _arm_values(runs: Sequence[Mapping[str, Any]], metric: str) -> dict[str, list[Any]]:
    """``{arm: [value per seed]}`` of ``metric`` (``None`` for a failed run)."""
    arms = {f"neos@{runs[0]['neos']['steps']}": [r["neos"].get(metric) for r in runs]}
    for k, stage in enumerate(runs[0]["bce"]):
        arms[f"bce@{stage['steps']}"] = [r["bce"][k].get(metric) for r in runs]
    if "bce_cuts" in runs[0]:
        steps = runs[0]["bce_cuts"]["steps"]
        arms[f"bce+cuts@{steps}"] = [r["bce_cuts"].get(metric) for r in runs]
    return arms


def _head_to_head(neos: Sequence[Any], other: Sequence[Any]) -> tuple[int, int, float | None]:
    """(seeds neos wins, seeds decided, median log10 ratio neos / other); a failed run loses
    to one that finished."""
    pairs = [(n, b) for n, b in zip(neos, other, strict=True) if n is not None or b is not None]
    wins = sum(b is None or (n is not None and n < b) for n, b in pairs)
    both = [(n, b) for n, b in pairs if n is not None and b is not None]
    ratio = (
        statistics.median(math.log10(max(n, 1e-300) / max(b, 1e-300)) for n, b in both)
        if both
        else None
    )
    return wins, len(pairs), ratio


def summarize_comparison(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summaries of the per-seed results of :func:`compare_bce`: median, min, max and geometric
    mean of the hard test CLs of each arm (``"neos@N"``, ``"bce@N"``, ``"bce+cuts@N"``), and
    against each other arm the number of seeds where neos is lower (wins), the sign test's
    p-value and the median of log10(CLs_neos / CLs_other) (negative: neos better). The same
    for the POI uncertainty (keys ending ``_poi_uncert``) where the runs report it.

    Example:
        >>> runs = [{"seed": 0, "neos": {"steps": 10, "cls_hard_test": 1e-4},
        ...          "bce": [{"steps": 10, "cls_hard_test": 1e-3}]},
        ...         {"seed": 1, "neos": {"steps": 10, "cls_hard_test": 2e-3},
        ...          "bce": [{"steps": 10, "cls_hard_test": 1e-3}]}]
        >>> s = summarize_comparison(runs)
        >>> s["neos_wins"], s["cls_hard_test"]["bce@10"]["median"]
        ({'bce@10': 1}, 0.001)
    """
    if not runs:
        raise InvalidArgument("no runs to summarise")
    out: dict[str, Any] = {"n_seeds": len(runs)}
    for metric, suffix in (("cls_hard_test", ""), ("poi_uncert_hard_test", "_poi_uncert")):
        arms = _arm_values(runs, metric)
        if suffix and all(v is None for values in arms.values() for v in values):
            continue  # runs without the POI uncertainty (older results)
        neos_key = next(iter(arms))
        wins, p, ratio = {}, {}, {}
        for key, values in list(arms.items())[1:]:
            wins[key], decided, ratio[key] = _head_to_head(arms[neos_key], values)
            if decided:
                p[key] = sign_test(wins[key], decided)
        out[metric] = {
            key: _stats([v for v in values if v is not None])
            if any(v is not None for v in values)
            else None
            for key, values in arms.items()
        }
        out["failed_runs" + suffix] = {k: sum(v is None for v in vs) for k, vs in arms.items()}
        out["neos_wins" + suffix] = wins
        out["sign_test_p" + suffix] = p
        out["median_log10_ratio_neos_over_bce" + suffix] = ratio
    return out


def sign_test(wins: int, n: int) -> float:
    r"""Two-sided exact sign test of ``wins`` out of ``n`` paired comparisons against the
    hypothesis that either side wins with probability 1/2:
    :math:`p = \min\left(1, 2\min(P[X \le k], P[X \ge k])\right)`,
    :math:`X \sim \mathrm{Binomial}(n, 1/2)`.

    Example:
        >>> sign_test(10, 10)  # 2 / 2**10
        0.001953125
        >>> sign_test(5, 10)
        1.0
    """
    if not (isinstance(n, int) and n >= 1 and isinstance(wins, int) and 0 <= wins <= n):
        raise InvalidArgument(f"need 0 <= wins <= n and n >= 1, got wins={wins!r}, n={n!r}")
    below = sum(math.comb(n, j) for j in range(wins + 1)) / 2**n
    above = sum(math.comb(n, j) for j in range(wins, n + 1)) / 2**n
    return min(1.0, 2.0 * min(below, above))


def poi_uncertainty_of(workspace: Mapping[str, Any]) -> float:
    r"""The POI uncertainty of a workspace's model, the Cramér–Rao bound
    :math:`\sigma_\mu = \sqrt{(I^{-1})_{\mu\mu}}` with the Fisher information at the
    signal-plus-background expectation (:math:`\mu = 1`, the other parameters at their
    suggested values; :func:`relaxed.metrics.cramer_rao_uncertainty`).

    Example:
        >>> ws = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [25.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}],
        ...     "observations": [{"name": "c", "data": [25.0]}],
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        ...     "version": "1.0.0"}
        >>> round(poi_uncertainty_of(ws), 12)  # 1 / sqrt(25)
        0.2
    """
    model = relaxed.Workspace(dict(workspace)).model()
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 1.0
    return float(relaxed.metrics.cramer_rao_uncertainty(model, pars))


def _candidate_edges(n_bins: int) -> list[np.ndarray]:
    """Bin edges 0 < e_1 < ... < e_{n-1} < 1 on the finest regular grid of step 1/m (m <= 20)
    that gives at most :data:`MAX_CUT_CANDIDATES` binnings."""
    interior = n_bins - 1
    m = 20
    while m > n_bins and math.comb(m - 1, interior) > MAX_CUT_CANDIDATES:
        m -= 1
    grid = np.arange(1, m) / m
    return [np.concatenate([[0.0], cuts, [1.0]]) for cuts in itertools.combinations(grid, interior)]


def best_cut_binning(analysis: Any, params: Any) -> dict[str, Any]:
    r"""The conventional analysis done well: with the network ``params`` fixed (a BCE
    classifier), the bin edges on its output that minimise the hard expected
    :math:`\mathrm{CL}_s` of the *training* events, scored on the *test* events.

    The outer edges stay at 0 and 1 and the number of bins is the analysis's; the interior
    edges run over a regular grid (:func:`_candidate_edges`, at most
    :data:`MAX_CUT_CANDIDATES` binnings, step 0.05 for three bins). Returns ``bins``, the
    hard expected CLs on the training and test events (``cls_hard_train``,
    ``cls_hard_test``), the POI uncertainty of the test workspace
    (``poi_uncert_hard_test``) and the number of ``candidates``.
    """
    from neos import analysis as described
    from neos.train import _hard_cls

    train_sets, test_sets, mean, std = described.event_sets(analysis)
    net = described.network(analysis)
    predict = jax.jit(described.predictor(net.apply, mean, std))

    def outputs(sets: Any) -> list[np.ndarray]:
        return [np.asarray(predict(params, x), dtype=np.float64) for x in sets.inputs]

    def scored(sets: Any, out: list[np.ndarray], edges: np.ndarray) -> tuple[float, dict[str, Any]]:
        hists = described.hard_histograms(sets, out, edges, analysis.config.mcstat)
        spec = described.analysis_workspace(analysis, hists)
        cls, _ = _hard_cls(relaxed.Workspace(spec).model(), analysis.config.test_mu)
        return cls, spec

    train_out = outputs(train_sets)
    candidates = _candidate_edges(len(analysis.config.bins) - 1)
    values = [scored(train_sets, train_out, edges)[0] for edges in candidates]
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        raise InvalidArgument("no binning of the network output gives a finite expected CLs")
    best = min(finite, key=lambda i: values[i])
    cls_test, spec = scored(test_sets, outputs(test_sets), candidates[best])
    return {
        "bins": [float(e) for e in candidates[best]],
        "cls_hard_train": values[best],
        "cls_hard_test": cls_test,
        "poi_uncert_hard_test": poi_uncertainty_of(spec),
        "candidates": len(candidates),
    }


def _record(result: Mapping[str, Any], wall_s: float, curves: bool) -> dict[str, Any]:
    record = {
        "steps": result["steps"][-1],
        "cls_hard_test": result["cls_hard_test"],
        "poi_uncert_hard_test": (
            poi_uncertainty_of(result["workspace"]) if "workspace" in result else None
        ),
        "cls_soft_first": result["cls_soft"][0],
        "cls_soft_last": result["cls_soft"][-1],
        "loss_first": result["loss"][0],
        "loss_last": result["loss"][-1],
        "wall_s": wall_s,
        "step_time_s": result["step_time_s"],
    }
    if curves:
        record["loss"] = list(result["loss"])
        record["cls_soft"] = list(result["cls_soft"])
    return record


def _median_or_none(values: Any) -> float | None:
    finite = [v for v in values if v is not None]
    return statistics.median(finite) if finite else None


def _failure(steps: int, err: Any, wall_s: float) -> dict[str, Any]:
    """The record of a run stopped by a non-finite loss: it counts, as a loss, not silently."""
    return {"steps": steps, "cls_hard_test": None, "failed": str(err), "wall_s": wall_s}


def _cut_arm(
    analysis: Any, base: TrainConfig, seed: int, steps: int, params: Any
) -> dict[str, Any]:
    """The bce+cuts arm of one seed (:func:`best_cut_binning`), or a failure record."""
    if params is None:
        return _failure(steps, "the BCE run did not finish", 0.0)
    start = time.perf_counter()
    seeded = dataclasses.replace(analysis, config=dataclasses.replace(base, seed=seed))
    try:
        record = best_cut_binning(seeded, params)
    except InvalidArgument as err:
        return _failure(steps, err, time.perf_counter() - start)
    return {"steps": steps, **record, "wall_s": time.perf_counter() - start}


def compare_bce(
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    steps: int = 100,
    bce_steps: Sequence[int] | None = None,
    config: TrainConfig | None = None,
    workdir: str | Path | None = None,
    curves: bool = False,
    log: Callable[[str], None] | None = None,
    analysis: Any = None,
) -> dict[str, Any]:
    """Train neos and the BCE baseline for each seed; return per-seed and summary results.

    Args:
        seeds: the seeds (each fixes the data and the initial parameters of both runs).
        steps: neos training steps.
        bce_steps: BCE lengths to report (default ``(steps, 4 * steps)``); one run per seed,
            continued from its checkpoint from each length to the next.
        config: the other settings (network, events, bins, bandwidth, learning rate...);
            its ``seed``, ``loss`` and ``steps`` are replaced. Default: :class:`TrainConfig`.
            ``animate`` applies to the neos runs only, and only with ``workdir``.
        workdir: keep each run's outputs in ``workdir/seed<S>/{neos,bce}`` (default: a
            temporary folder, removed afterwards).
        curves: include the loss and soft CLs of every step.
        log: called with a line of progress after each run (e.g. ``print``).
        analysis: a :class:`neos.analysis.Analysis` to compare on instead of the blobs (its
            settings take the place of ``config``, which must then be ``None``); the seed
            fixes the split into training and test events and the initial parameters, BCE
            learns the signal against the nominal backgrounds.

    Returns:
        ``{"fairness", "config", "steps", "bce_steps", "runs", "summary", "timing"}``:
        ``runs`` has, per seed, ``neos`` and a list ``bce`` (one entry per length) with the
        hard test CLs and POI uncertainty, the soft (train) CLs and loss at the first and
        last step, wall time and median step time; BCE entries add ``loss_plateau``
        (:func:`bce_plateau` of the loss so far); on an analysis ``bce_cuts`` is
        :func:`best_cut_binning` of the longest BCE network; ``summary`` is
        :func:`summarize_comparison` of the runs.

    Example:
        >>> small = TrainConfig(nmc=50, hidden=(8,), animate=False)
        >>> out = compare_bce(seeds=[0], steps=2, bce_steps=[2, 3], config=small)
        >>> [stage["steps"] for stage in out["runs"][0]["bce"]]
        [2, 3]
        >>> sorted(out["summary"]["neos_wins"])
        ['bce@2', 'bce@3']
    """
    seed_list = _check_ints("seeds", seeds, 0)
    if not _is_int(steps, 1):
        raise InvalidArgument(f"steps must be a positive integer, got {steps!r}")
    lengths = sorted(_check_ints("bce_steps", bce_steps or [steps, 4 * steps], 1))
    if analysis is not None and config is not None:
        raise InvalidArgument("give either an analysis or a config, not both")
    base = (analysis.config if analysis is not None else config or TrainConfig()).validate()
    say = log or (lambda line: None)

    def run(cfg: TrainConfig, **kwargs: Any) -> dict[str, Any]:
        if analysis is None:
            return train(cfg, **kwargs)
        return train(analysis=dataclasses.replace(analysis, config=cfg), **kwargs)

    runs = []
    with tempfile.TemporaryDirectory(prefix="neos-compare-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        begin = time.perf_counter()
        for seed in seed_list:
            folder = root / f"seed{seed}"
            cfg = dataclasses.replace(base, seed=seed, loss="cls", steps=steps)
            start = time.perf_counter()
            neos_out = folder / "neos" if workdir is not None else None
            try:
                neos = _record(
                    run(cfg, out=neos_out, progress=False), time.perf_counter() - start, curves
                )
                say(f"seed {seed}: neos@{steps} hard test CLs {neos['cls_hard_test']:.4g}")
            except TrainingError as err:
                neos = _failure(steps, err, time.perf_counter() - start)
                say(f"seed {seed}: neos@{steps} failed: {err}")
            if (folder / "bce" / "checkpoint.npz").exists():
                raise InvalidArgument(f"{folder / 'bce'} already holds a run; use a new workdir")
            stages: list[dict[str, Any]] = []
            last_params = None
            for n in lengths:
                if stages and stages[-1].get("failed"):  # nothing to continue from
                    stages.append(_failure(n, stages[-1]["failed"], 0.0))
                    continue
                cfg = dataclasses.replace(
                    base, seed=seed, loss="bce", steps=n, animate=False, checkpoint_every=n
                )
                start = time.perf_counter()
                try:
                    result = run(cfg, out=folder / "bce", resume=True, progress=False)
                except TrainingError as err:
                    stages.append(_failure(n, err, time.perf_counter() - start))
                    say(f"seed {seed}: bce@{n} failed: {err}")
                    continue
                stage = _record(result, time.perf_counter() - start, curves)
                stage["loss_plateau"] = bce_plateau(result["loss"])
                stages.append(stage)
                last_params = result["params"] if n == lengths[-1] else None
                say(f"seed {seed}: bce@{n} hard test CLs {stage['cls_hard_test']:.4g}")
            record = {"seed": seed, "neos": neos, "bce": stages}
            if analysis is not None:
                record["bce_cuts"] = _cut_arm(analysis, base, seed, lengths[-1], last_params)
                cuts = record["bce_cuts"].get("cls_hard_test")
                say(f"seed {seed}: bce+cuts@{lengths[-1]} hard test CLs {cuts}")
            runs.append(record)
        total = time.perf_counter() - begin
    shared = {k: v for k, v in dataclasses.asdict(base).items() if k not in _PER_RUN}
    if analysis is not None:
        shared["analysis"] = analysis.description()
    return {
        "fairness": FAIRNESS,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in shared.items()},
        "steps": steps,
        "bce_steps": lengths,
        "runs": runs,
        "summary": summarize_comparison(runs),
        "timing": {
            "total_s": total,
            "neos_wall_s": [r["neos"]["wall_s"] for r in runs],
            "bce_wall_s": [sum(s["wall_s"] for s in r["bce"]) for r in runs],
            "neos_step_s_median": _median_or_none(r["neos"].get("step_time_s") for r in runs),
            "bce_step_s_median": _median_or_none(
                s.get("step_time_s") for r in runs for s in r["bce"]
            ),
        },
    }
