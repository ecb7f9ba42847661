r"""Training a network for the sensitivity of the full analysis.

:func:`train` runs a jit-compiled optax step in which the whole chain (network, soft
histograms, HistFactory model, profile-likelihood fits, metric) is one XLA computation.

The defaults are the neos paper's example: four Gaussian blobs of 500 events, an MLP
2-1024-1024-1 (ReLU, sigmoid output, float32), bins ``linspace(0, 1, 4)``, KDE bandwidth
0.27, Adam with learning rate 1e-3, a histosys background model, the expected
:math:`\mathrm{CL}_s` at :math:`\mu = 1`, LUMI 10, sig_scale 2, bkg_scale 10; in addition
the soft histograms keep their whole yield, the bandwidth is annealed to 0.01 over the first
10 steps, and the background carries a ``staterror`` for its Monte Carlo statistics
(:class:`TrainConfig`), so that at the end of training the soft expected CLs (the objective)
and the expected CLs of ordinary histograms (``workspace.json``) of the same sample agree
(``cls_soft_train`` and ``cls_hard_train``). Every setting of :class:`TrainConfig` is checked
for its type and range, and a bad one is named (``config key 'steps': must be a positive
integer, got '5' (str)``).

Outputs. Given a folder ``out``, :func:`train` checks that it can write there before
anything is computed, and writes (see :mod:`neos.checkpoint` for the layout):

- ``checkpoint.npz`` every ``checkpoint_every`` steps, after the last step, and when
  interrupted, each time followed by ``metrics.json`` for the same step: the checkpoint
  carries the metrics history and is the source of truth;
- when the run finishes: ``workspace.json`` (the trained analysis as a pyhf workspace built
  from ordinary histograms of an independent test sample), ``workspace_hs3.json`` (the same
  analysis as an HS3 document, :func:`relaxed.hs3.from_pyhf`), ``summary.png``, ``training.gif``
  (the steps of the last session), then the finished checkpoint and the final
  ``metrics.json``.

Every file is written atomically, so a run killed at any moment leaves files that parse.

A folder that already holds a run:

- is refused (:class:`relaxed.exceptions.InvalidArgument`) unless ``resume`` or ``force``
  is given, and nothing in it changes;
- ``resume=True`` continues from the checkpoint (its settings, except ``steps``,
  ``checkpoint_every`` and ``animate``, must be those of the run, else
  :class:`neos.checkpoint.InvalidCheckpoint`) up to ``steps``; a run that finished at
  ``steps`` or more is left as it is and its stored result is returned, with
  ``already_finished`` true. Continuing a finished run removes its final outputs when the
  first later checkpoint is written, so the folder always describes one step;
- ``force=True`` removes the previous run's files first and starts afresh.

An interrupt (SIGINT, Ctrl-C) is handled between steps: the current step completes, the
checkpoint and ``metrics.json`` are written for it, and :class:`TrainingInterrupted` (a
``KeyboardInterrupt``) is raised; a second interrupt stops at once. Temporary files left by a
killed process are removed by the next run in the folder. Training is deterministic: a run
resumed from any checkpoint gives the losses of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import relaxed
from neos import checkpoint as run_files
from neos import losses, makers
from neos.config import TrainConfig, load_config
from neos.data import event_weights, make_train_test
from neos.nets import mlp
from relaxed.exceptions import InvalidArgument
from relaxed.io import write_text_atomic

__all__ = [
    "TrainConfig",
    "TrainingError",
    "TrainingInterrupted",
    "train",
    "hard_workspace",
    "load_config",
]

#: Settings that may differ between a checkpoint and the run that resumes it.
_RESUMABLE_CHANGES = ("steps", "checkpoint_every", "animate")
_STEP_DELAY_VARIABLE = "NEOS_TEST_DELAY_STEP"


class TrainingError(RuntimeError):
    """Training stopped (a non-finite loss); the last good checkpoint is kept.

    Example:
        >>> issubclass(TrainingError, RuntimeError)
        True
    """


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (SIGINT, Ctrl-C); the checkpoint and ``metrics.json`` hold the
    last completed step, and ``resume=True`` continues from there.

    Attributes:
        step: the last completed step (the one saved, when there is an output folder).
        out: the output folder, or ``None``.

    Example:
        >>> err = TrainingInterrupted("stopped", step=3, out=None)
        >>> isinstance(err, KeyboardInterrupt), err.step
        (True, 3)
    """

    def __init__(self, message: str, step: int, out: Path | None) -> None:
        super().__init__(message)
        self.step = step
        self.out = out


class _DeferredInterrupt:
    """While active (in the main thread), the first SIGINT only sets :attr:`requested`, which
    the training loop checks between steps and output writes; a second one raises
    ``KeyboardInterrupt`` at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            previous = self._previous
            signal.signal(
                signal.SIGINT, signal.default_int_handler if previous is None else previous
            )
            self._installed = False


def _hard_hists(
    params: Any, apply: Callable[..., Any], samples: tuple[Any, ...], cfg: TrainConfig
) -> dict[str, np.ndarray]:
    r"""Ordinary (hard) histograms of the network output, :math:`h_b = \sum_i w_i [x_i \in b]`
    with the weights of the soft ones (:func:`neos.data.event_weights`), and with
    ``cfg.mcstat`` the uncertainties :math:`\sigma_b = \sqrt{\sum_i w_i^2 [x_i \in b]}` of the
    signal and the background (``*_mcstat``). Outputs beyond the outer edges count in the
    outer bins."""
    names = makers.HISTOGRAM_NAMES
    scales = (cfg.sig_scale, cfg.bkg_scale, cfg.bkg_scale, cfg.bkg_scale)
    out = {}
    edges = np.asarray(cfg.bins, dtype=float)
    for name, events, scale in zip(names, samples, scales, strict=True):
        weights = np.asarray(event_weights(events.shape[0], scale, cfg.lumi, jnp.float64))
        output = np.asarray(apply(params, events), dtype=np.float64)
        if cfg.method == "kde":
            index = np.searchsorted(edges, np.clip(output, edges[0], edges[-1]), side="right") - 1
            index = np.minimum(index, len(edges) - 2)  # the last edge closes the last bin
        else:  # hard assignment to the most probable bin
            index = np.argmax(output, axis=1)
        n_bins = len(edges) - 1 if cfg.method == "kde" else output.shape[1]
        out[name] = np.bincount(index, weights=weights, minlength=n_bins)
        if cfg.mcstat and name in ("signal", "background"):
            sumw2 = np.bincount(index, weights=weights**2, minlength=n_bins)
            out[name + makers.MCSTAT_SUFFIX] = np.sqrt(sumw2)
    return out


def hard_workspace(hists: Mapping[str, np.ndarray], mcstat: bool = False) -> dict[str, Any]:
    """A pyhf-format workspace of the histosys model (:func:`neos.makers.histosys_spec`) from
    hard histograms, observations set to the background-only expectation; with ``mcstat``
    the background carries a ``staterror`` from ``hists["background_mcstat"]``.

    Example:
        >>> ws = hard_workspace({"signal": [1.0, 2.0], "background": [5.0, 4.0],
        ...     "background_up": [6.0, 4.0], "background_down": [4.0, 4.0],
        ...     "background_mcstat": [1.0, 0.5]}, mcstat=True)
        >>> ws["observations"]
        [{'name': 'singlechannel', 'data': [5.0, 4.0]}]
        >>> ws["channels"][0]["samples"][1]["modifiers"][1]
        {'name': 'staterror_singlechannel', 'type': 'staterror', 'data': [1.0, 0.5]}
    """
    h = {k: [float(v) for v in np.asarray(x)] for k, x in hists.items()}
    return {
        **makers.histosys_spec(h, mcstat),
        "observations": [{"name": "singlechannel", "data": h["background"]}],
        "measurements": [{"name": "neos", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _step_key(cfg: TrainConfig) -> TrainConfig:
    """The settings that define the compiled step (not the seed, length, outputs or the
    bandwidth schedule, whose factor is an argument of the step)."""
    return dataclasses.replace(
        cfg,
        seed=0,
        steps=1,
        checkpoint_every=1,
        animate=False,
        bandwidth_final=cfg.bandwidth,
        anneal_steps=1,
        hidden=tuple(cfg.hidden),
        bins=tuple(float(b) for b in np.asarray(cfg.bins, dtype=float)),
    )


class _Step(NamedTuple):
    net: Any
    optimizer: Any
    step: Callable[..., Any]


def _update_step(
    loss_and_cls: Callable[..., tuple[Any, Any]], optimizer: Any, cfg: TrainConfig
) -> Callable[..., Any]:
    """The jit-compiled training step ``step(trainable, opt_state, samples, bw_scale) ->
    (trainable, opt_state, loss, soft CLs)`` of ``loss_and_cls(trainable, samples, bw_scale)
    -> (loss, soft CLs)``: one optax update of the network (and, if trained, of the bin edges
    and the bandwidth; the inner edges are kept sorted and the bandwidth at least 1e-3), with
    the loss NaN when an updated parameter is not finite."""
    mask = {"bins": cfg.train_bins, "bandwidth": cfg.train_bandwidth}

    @jax.jit
    def step(trainable: Any, opt_state: Any, samples: Any, bw_scale: Any) -> Any:
        (value, cls), grads = jax.value_and_grad(loss_and_cls, has_aux=True)(
            trainable, samples, bw_scale
        )
        grads = (grads[0], {k: g if mask[k] else jnp.zeros_like(g) for k, g in grads[1].items()})
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        new_params, new_h = optax.apply_updates(trainable, updates)
        inner = jnp.sort(new_h["bins"][1:-1])
        new_h = {
            "bins": jnp.concatenate([new_h["bins"][:1], inner, new_h["bins"][-1:]]),
            "bandwidth": jnp.maximum(new_h["bandwidth"], 1e-3),
        }
        finite = jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(new_params)])
        )
        return (new_params, new_h), opt_state, jnp.where(finite, value, jnp.nan), cls

    return step


@functools.lru_cache(maxsize=8)
def _compiled_step(cfg: TrainConfig) -> _Step:
    """The network, the optimizer and the compiled training step (:func:`_update_step`) of
    the built-in blobs, in which the KDE uses the bandwidth ``hpars["bandwidth"] * bw_scale``
    (the annealing of :meth:`TrainConfig.bandwidth_at`).

    The training samples and ``bw_scale`` are arguments, not constants of the computation, so
    runs that differ only in the seed (or the number of steps) share one compiled step.
    """
    if cfg.method == "kde":
        net = mlp(hidden=cfg.hidden)
    else:
        net = mlp(hidden=cfg.hidden, out=len(cfg.bins) - 1, final="softmax")
    optimizer = optax.adam(cfg.learning_rate)

    def loss_and_cls(trainable: Any, samples: tuple[Any, ...], bw_scale: Any) -> tuple[Any, Any]:
        p, h = trainable
        h = {**h, "bandwidth": h["bandwidth"] * bw_scale}
        hist_maker = makers.hists_from_nn(
            lambda: samples,
            net.apply,
            method=cfg.method,
            LUMI=cfg.lumi,
            sig_scale=cfg.sig_scale,
            bkg_scale=cfg.bkg_scale,
            reflect_infinities=cfg.reflect_infinities,
            mcstat=cfg.mcstat,
        )
        model_maker = makers.histosys_model_from_hists(hist_maker, mcstat=cfg.mcstat)
        get_cls = losses.expected_CLs(model_maker)
        objective = {
            "cls": lambda p, h: get_cls(p, cfg.test_mu, h),
            "discovery": losses.neg_discovery_significance(model_maker),
            "poi_uncert": losses.poi_uncertainty(model_maker),
            "inferno": losses.inferno(model_maker),
            "bce": losses.bce(lambda: samples, net.apply),
        }[cfg.loss]
        value = objective(p, h)
        cls = value if cfg.loss == "cls" else get_cls(p, cfg.test_mu, h)
        return value, cls

    return _Step(net, optimizer, _update_step(loss_and_cls, optimizer, cfg))


def _hard_cls(model: relaxed.Model, poi_test: float) -> tuple[float, bool]:
    """The expected CLs of the hard-histogram workspace (as ``relaxed.metrics.expected_cls``)
    and whether its fits converged: a finished training run reports a non-converged fit
    instead of losing its result to the exception."""
    from relaxed.infer.hypotest import hypotest_result

    theta_0 = model.config.suggested_init()
    theta_0[model.config.poi_index] = 0.0
    result = hypotest_result(poi_test, model.expected_data(theta_0), model)
    return float(result.CLs), bool(result.converged)


def _hard_result(
    params: Any, apply: Callable[..., Any], samples: tuple[Any, ...], cfg: TrainConfig
) -> tuple[dict[str, np.ndarray], dict[str, Any], float, bool]:
    """The hard histograms of ``samples``, their workspace, its expected CLs at
    ``cfg.test_mu`` and whether the fits converged."""
    hists = _hard_hists(params, apply, samples, cfg)
    spec = hard_workspace(hists, mcstat=cfg.mcstat)
    cls, converged = _hard_cls(relaxed.Workspace(spec).model(), cfg.test_mu)
    return hists, spec, cls, converged


def _soft_cls(
    step: Callable[..., Any], trainable: Any, opt_state: Any, samples: Any, bw_scale: float
) -> float:
    """The soft expected CLs of ``trainable`` on ``samples``: the one the compiled training
    step reports for its input (its update is discarded), so nothing new is compiled."""
    return float(step(trainable, opt_state, samples, bw_scale)[3])


def _bandwidth_scale(cfg: TrainConfig, step: int) -> float:
    """The factor of the bandwidth at the step with index ``step`` (the annealing)."""
    return cfg.bandwidth_at(step) / cfg.bandwidth


def _config_dict(cfg: TrainConfig, analysis: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings as JSON values (tuples become lists), with the analysis description of
    an ``--analysis`` run."""
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    if analysis is not None:
        out["analysis"] = dict(analysis)
    return out


def _problem(cfg: TrainConfig, analysis: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings that a checkpoint must share with the run that resumes it: those that
    fix the arrays' shapes and the training problem."""
    return {k: v for k, v in _config_dict(cfg, analysis).items() if k not in _RESUMABLE_CHANGES}


class _Problem(NamedTuple):
    """What the training loop needs from a problem (the built-in blobs or an analysis)."""

    step: Callable[..., Any]
    optimizer: Any
    params: Any
    samples: Any
    test_samples: Any
    #: ``hard(params, bins, samples) -> (histograms, mcstat or None, workspace, CLs,
    #: converged)``: ordinary histograms (JSON lists by name) and their workspace's CLs
    hard: Callable[..., tuple[Any, ...]]
    #: the animation's ``outputs(params, hpars)``, or ``None`` (no animation)
    frames: Callable[..., Any] | None
    events_per_step: int
    analysis: dict[str, Any] | None


def _lists(values: Any) -> list[float]:
    return [float(x) for x in np.asarray(values).ravel()]


def _blob_problem(cfg: TrainConfig) -> _Problem:
    """The built-in four-blob problem of the neos paper (module docstring)."""
    key = jax.random.PRNGKey(cfg.seed)
    data_key, init_key = jax.random.split(key)
    train_gen, test_gen = make_train_test(data_key, NMC=cfg.nmc)
    net, optimizer, step = _compiled_step(_step_key(cfg))
    params = net.init(init_key, jnp.zeros((1, 2), jnp.float32))
    hist_maker = makers.hists_from_nn(
        train_gen,
        net.apply,
        method=cfg.method,
        LUMI=cfg.lumi,
        sig_scale=cfg.sig_scale,
        bkg_scale=cfg.bkg_scale,
        reflect_infinities=cfg.reflect_infinities,
    )
    grid_points = jnp.asarray(_GRID.reshape(-1, 2), jnp.float32)
    # one compiled call per animation frame (eagerly, every operation would compile on its own)
    frame_outputs = jax.jit(lambda p, h: (net.apply(p, grid_points), hist_maker(p, h)))

    def hard(params: Any, bins: np.ndarray, samples: Any) -> tuple[Any, ...]:
        hard_cfg = dataclasses.replace(cfg, bins=tuple(float(b) for b in bins))
        hists, spec, cls, converged = _hard_result(params, net.apply, samples, hard_cfg)
        names = makers.HISTOGRAM_NAMES
        mcstat = None
        if cfg.mcstat:
            mcstat = {k: _lists(hists[k + makers.MCSTAT_SUFFIX]) for k in ("signal", "background")}
        return {k: _lists(hists[k]) for k in names}, mcstat, spec, cls, converged

    return _Problem(
        step, optimizer, params, train_gen(), test_gen(), hard, frame_outputs, 4 * cfg.nmc, None
    )


_ANALYSIS_STEPS: dict[Any, tuple[Any, Any, Callable[..., Any]]] = {}


def _analysis_problem(analysis: Any) -> _Problem:
    """The problem of an analysis description (:mod:`neos.analysis`)."""
    from neos import analysis as described

    cfg = analysis.config
    train_sets, test_sets, mean, std = described.event_sets(analysis)
    keys, which = train_sets.keys, train_sets.which
    compiled_key = (analysis.digest(), _step_key(cfg))
    if compiled_key not in _ANALYSIS_STEPS:
        net = described.network(analysis)
        optimizer = optax.adam(cfg.learning_rate)
        compute = described.loss_and_cls(analysis, net.apply, keys, which)
        if len(_ANALYSIS_STEPS) >= 8:
            _ANALYSIS_STEPS.pop(next(iter(_ANALYSIS_STEPS)))
        _ANALYSIS_STEPS[compiled_key] = (net, optimizer, _update_step(compute, optimizer, cfg))
    net, optimizer, step = _ANALYSIS_STEPS[compiled_key]
    init_key = jax.random.split(jax.random.PRNGKey(cfg.seed))[1]
    params = net.init(init_key, jnp.zeros((1, len(analysis.features)), jnp.float32))
    samples = described.step_samples(train_sets, mean, std)
    test_samples = described.step_samples(test_sets, mean, std)

    def hard(params: Any, bins: np.ndarray, samples: Any) -> tuple[Any, ...]:
        hists, spec = described.hard_result(analysis, net.apply, params, bins, samples, keys, which)
        cls, converged = _hard_cls(relaxed.Workspace(spec).model(), cfg.test_mu)
        nominal = {
            f"{region}/{sample.name}": _lists(hists[(sample.name, "nominal")][0][c])
            for c, region in enumerate(analysis.regions)
            for sample in analysis.samples
        }
        mcstat = None
        if cfg.mcstat:
            mcstat = {
                f"{region}/{sample.name}": _lists(np.sqrt(hists[(sample.name, "nominal")][1][c]))
                for c, region in enumerate(analysis.regions)
                for sample in analysis.samples
                if sample.kind == "background"
            }
        return nominal, mcstat, spec, cls, converged

    events = sum(int(x.shape[0]) for x in train_sets.inputs)
    return _Problem(
        step, optimizer, params, samples, test_samples, hard, None, events, analysis.description()
    )


def _describe_run(path: Path) -> str:
    """A few words on the checkpoint at ``path``, for an error message."""
    try:
        ckpt = run_files.load(path)
    except InvalidArgument:
        return f"{path.name}, which cannot be read"
    state = "finished" if ckpt.finished else "not finished"
    return f"{path.name} at step {ckpt.step} of {ckpt.config.get('steps')}, {state}"


def _open_run(
    folder: Path,
    cfg: TrainConfig,
    resume: bool,
    force: bool,
    analysis: Mapping[str, Any] | None = None,
) -> run_files.Checkpoint | None:
    """The checkpoint to continue from, ``None`` to start afresh, or an error (before
    anything is written) when the folder holds a run that may not be touched."""
    present = run_files.present_outputs(folder)
    if force or not present:
        return None
    path = folder / run_files.CHECKPOINT
    if not resume:
        what = _describe_run(path) if path.exists() else ", ".join(present)
        raise InvalidArgument(
            f"{folder} already holds a run ({what}); continue it with --resume "
            "(resume=True) or replace it with --force (force=True)"
        )
    if not path.exists():
        raise InvalidArgument(
            f"{folder} holds {', '.join(present)} but no {run_files.CHECKPOINT} to resume "
            "from; replace them with --force (force=True)"
        )
    ckpt = run_files.load(path)
    run_files.check_config(ckpt, _problem(cfg, analysis))
    return ckpt


def _metrics(
    cfg: TrainConfig,
    history: Mapping[str, list[Any]],
    timing: Mapping[str, list[Any]],
    hpars: Mapping[str, Any],
    final: Mapping[str, Any] | None = None,
    events_per_step: int | None = None,
    analysis: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``metrics.json``: the history so far, the step times (the median
    leaves out each session's first step, which compiles), and with ``final`` the result of
    the finished run."""
    times = timing["time_s"]
    starts = set(timing["session_starts"])
    compiled = [t for k, t in enumerate(times) if k not in starts] or times
    return {
        **{k: list(v) for k, v in history.items()},
        "step_time_s": statistics.median(compiled) if compiled else None,
        "first_step_time_s": times[0] if times else None,
        "events_per_step": 4 * cfg.nmc if events_per_step is None else events_per_step,
        **(final or {}),
        "bins": [float(b) for b in np.asarray(hpars["bins"])],
        "bandwidth": float(hpars["bandwidth"]),
        "finished": final is not None,
        "config": _config_dict(cfg, analysis),
    }


def _step_delay() -> float:
    """Seconds to pause inside every step (``$NEOS_TEST_DELAY_STEP``; tests only)."""
    try:
        delay = float(os.environ.get(_STEP_DELAY_VARIABLE, "0") or 0)
    except ValueError:
        return 0.0
    return delay if math.isfinite(delay) and delay > 0 else 0.0


def train(
    config: TrainConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    force: bool = False,
    analysis: Any = None,
) -> dict[str, Any]:
    r"""Train the network; return the metrics (and write the outputs to ``out`` if given).

    Returns a dict with the keys of ``metrics.json`` (``steps``, ``loss``, ``cls_soft``,
    ``step_time_s``, ``first_step_time_s``, ``events_per_step``, ``cls_hard_test``,
    ``cls_hard_test_converged``, ``hard_histograms_test``, ``cls_soft_train``,
    ``cls_hard_train``, ``cls_hard_train_converged``, ``cls_soft_test``, with ``mcstat``
    ``hard_mcstat_test``, ``bandwidth_last`` (the bandwidth of the last step), ``bins``,
    ``bandwidth`` (the trainable one, before annealing), ``finished``, ``config``) plus ``params``
    (the trained network parameters), ``hpars``, ``workspace`` (the pyhf workspace of the test
    sample, that of ``workspace.json``; absent when ``resume`` found the run finished) and
    ``already_finished`` (``resume`` found the run finished: nothing was done).

    The expected :math:`\mathrm{CL}_s` of the trained network is reported four ways, soft
    (the training objective, on the soft histograms) and hard (on ordinary histograms, the
    model of ``workspace.json``), each on the training and on the test sample:
    ``cls_soft_train``, ``cls_hard_train``, ``cls_soft_test``, ``cls_hard_test``. The
    history ``cls_soft`` holds the soft CLs at the start of each step, so its last value
    is one update behind ``cls_soft_train``.

    Args:
        config: the settings (default :class:`TrainConfig`).
        out: the output folder; checked for writability before anything is computed.
        resume: continue the run in ``out`` from its checkpoint (module docstring).
        progress: show a progress bar.
        force: remove the run in ``out``, if any, and start afresh.
        analysis: a :class:`neos.analysis.Analysis` (``neos train --analysis FILE``): train
            on its samples, systematics and channels with its settings (``config`` must then
            be ``None``). The histograms in the results are keyed ``channel/sample``, and
            ``config.analysis`` records the description.

    Raises:
        InvalidArgument: a bad setting, an unusable ``out``, a run in ``out`` without
            ``resume`` or ``force``, or both of them given.
        neos.checkpoint.InvalidCheckpoint: ``resume`` with a damaged checkpoint, or one
            written for other settings; the folder is left as it was.
        TrainingError: a non-finite loss (the last good step is saved).
        TrainingInterrupted: SIGINT (the last completed step is saved).

    Example:
        >>> result = train(TrainConfig(steps=2, nmc=50, hidden=(8,), animate=False),
        ...                progress=False)
        >>> len(result["loss"]), 0.0 <= result["cls_hard_test"] <= 1.0
        (2, True)
    """
    if analysis is not None and config is not None:
        raise InvalidArgument(
            "give the settings either in the analysis description or as config, not both"
        )
    cfg = (analysis.config if analysis is not None else config or TrainConfig()).validate()
    if resume and force:
        raise InvalidArgument(
            "resume and force exclude each other: resume continues the run in the output "
            "folder, force replaces it"
        )
    described = None if analysis is None else analysis.description()
    folder = None if out is None else run_files.output_folder(out)
    previous = None if folder is None else _open_run(folder, cfg, resume, force, described)

    problem = _blob_problem(cfg) if analysis is None else _analysis_problem(analysis)
    step, optimizer, samples = problem.step, problem.optimizer, problem.samples
    hpars = {
        "bins": jnp.asarray(cfg.bins, jnp.float64),
        "bandwidth": jnp.asarray(cfg.bandwidth, jnp.float64),
    }
    trainable = (problem.params, hpars)
    opt_state = optimizer.init(trainable)
    history: dict[str, list[Any]] = {"steps": [], "loss": [], "cls_soft": []}
    timing: dict[str, list[Any]] = {"time_s": [], "session_starts": []}

    def metrics_of(final: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return _metrics(
            cfg, history, timing, trainable[1], final, problem.events_per_step, described
        )

    if previous is not None:
        assert folder is not None
        trainable, opt_state = run_files.restore(previous, (trainable, opt_state))
        history = {k: list(previous.metrics[k]) for k in history}
        timing = {k: list(previous.timing[k]) for k in timing}
        if previous.finished and previous.step >= cfg.steps:
            run_files.remove_temporaries(folder)
            run_files.sync_metrics(folder, previous)
            params, hpars = trainable
            return {**previous.metrics, "params": params, "hpars": hpars, "already_finished": True}
        cfg = dataclasses.replace(cfg, steps=max(cfg.steps, previous.step))
    if folder is not None:
        run_files.remove_temporaries(folder)
        if force:
            run_files.remove_outputs(folder)
        if previous is not None:
            run_files.sync_metrics(folder, previous)
            if not previous.finished:
                run_files.remove_outputs(folder, run_files.FINAL_OUTPUTS)
    start = len(history["steps"])
    saved = start if previous is not None else -1  # the step of the checkpoint on disk

    def save(final: Mapping[str, Any] | None = None) -> None:
        """Write the checkpoint, then metrics.json, for the steps done so far."""
        nonlocal saved
        assert folder is not None
        done = len(history["steps"])
        metrics = metrics_of(final)
        run_files.save(
            folder / run_files.CHECKPOINT,
            step=done,
            finished=final is not None,
            config=_config_dict(cfg, described),
            metrics=metrics,
            timing=timing,
            state=(trainable, opt_state),
        )
        run_files.write_metrics(folder, metrics)
        if final is None:  # outputs of an earlier finished step no longer describe the run
            run_files.remove_outputs(folder, run_files.FINAL_OUTPUTS)
        saved = done

    def interrupted() -> TrainingInterrupted:
        done = len(history["steps"])
        if folder is None:
            where = " (no output folder: nothing was saved)"
        else:
            if saved != done:
                save()
            where = (
                f"; {run_files.CHECKPOINT} and {run_files.METRICS} in {folder} hold step "
                f"{done}: continue with --resume (resume=True)"
            )
        return TrainingInterrupted(
            f"training interrupted after step {done} of {cfg.steps}{where}", step=done, out=folder
        )

    frames: list[dict[str, Any]] = []
    animate = cfg.animate and folder is not None and problem.frames is not None
    delay = _step_delay()
    with _DeferredInterrupt() as interrupt:
        bar = _progress(range(start, cfg.steps), progress)
        try:
            for i in bar:
                bw_scale = _bandwidth_scale(cfg, i)
                begin = time.perf_counter()
                new_trainable, new_opt_state, value, cls = step(
                    trainable, opt_state, samples, bw_scale
                )
                value = float(value)
                elapsed = time.perf_counter() - begin
                if delay:
                    time.sleep(delay)
                if not math.isfinite(value):
                    if folder is not None and saved != i:
                        save()
                    raise TrainingError(
                        f"loss is {value} at step {i + 1}; stopped, the last good parameters "
                        f"(after step {i}) are kept"
                        + (f" in {folder / run_files.CHECKPOINT}" if folder else "")
                    )
                if animate:
                    assert problem.frames is not None
                    frames.append(_frame(problem.frames, trainable, bw_scale, _GRID, i, value))
                trainable, opt_state = new_trainable, new_opt_state
                if i == start:
                    timing["session_starts"].append(i)
                timing["time_s"].append(elapsed)
                history["steps"].append(i + 1)
                history["loss"].append(value)
                history["cls_soft"].append(float(cls))
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix({"loss": f"{value:.4g}", "CLs": f"{float(cls):.4g}"})
                if folder is not None and (
                    (i + 1) % cfg.checkpoint_every == 0 or i + 1 == cfg.steps
                ):
                    save()
                if interrupt.requested:
                    raise interrupted()
        finally:
            if hasattr(bar, "close"):
                bar.close()

        if interrupt.requested:
            raise interrupted()
        params, hpars = trainable
        bins = np.asarray(hpars["bins"], dtype=float)
        test_samples = problem.test_samples
        hard, hard_mcstat, ws_spec, cls_hard, hard_converged = problem.hard(
            params, bins, test_samples
        )
        _, _, _, cls_hard_train, train_converged = problem.hard(params, bins, samples)
        last_scale = _bandwidth_scale(cfg, cfg.steps - 1)  # that of the last step
        final = {
            "cls_hard_test": cls_hard,
            "cls_hard_test_converged": hard_converged,
            "hard_histograms_test": hard,
            "cls_soft_train": _soft_cls(step, trainable, opt_state, samples, last_scale),
            "cls_hard_train": cls_hard_train,
            "cls_hard_train_converged": train_converged,
            "cls_soft_test": _soft_cls(step, trainable, opt_state, test_samples, last_scale),
            "bandwidth_last": float(hpars["bandwidth"]) * last_scale,
        }
        if hard_mcstat is not None:
            final["hard_mcstat_test"] = hard_mcstat
        result = metrics_of(final)
        if folder is not None:
            from neos import plot

            writes: list[Callable[[], None]] = [
                lambda: write_text_atomic(
                    folder / "workspace.json", json.dumps(ws_spec, indent=2) + "\n"
                ),
                lambda: write_text_atomic(
                    folder / "workspace_hs3.json",
                    json.dumps(relaxed.hs3.from_pyhf(ws_spec), indent=2) + "\n",
                ),
                lambda: plot.save_summary(folder / "summary.png", result),
            ]
            if animate and frames:
                writes.append(lambda: plot.save_animation(folder / "training.gif", frames, _GRID))
            for write in writes:
                if interrupt.requested:
                    raise interrupted()
                write()
            save(final)
    return {
        **result,
        "params": params,
        "hpars": hpars,
        "workspace": ws_spec,
        "already_finished": False,
    }


#: The plane of the blobs' animation: the network output is drawn on these points.
_GRID = np.stack(np.meshgrid(np.linspace(-4, 4, 40), np.linspace(-4, 4, 40)), -1)


def _progress(steps: range, enabled: bool) -> Any:
    if not enabled:
        return steps
    from tqdm.auto import tqdm

    return tqdm(steps, desc="neos train", unit="step")


def _frame(
    outputs: Callable[..., Any],
    trainable: Any,
    bw_scale: float,
    grid: np.ndarray,
    i: int,
    value: float,
) -> dict[str, Any]:
    """One animation frame: the network output on ``grid`` and the soft histograms (with the
    bandwidth of the step, ``hpars["bandwidth"] * bw_scale``), from ``outputs(params, hpars)
    -> (network output on the grid points, histograms)``."""
    params, hpars = trainable
    surface, hists = outputs(params, {**hpars, "bandwidth": hpars["bandwidth"] * bw_scale})
    surface = np.asarray(surface)
    if surface.ndim == 2:
        surface = np.argmax(surface, axis=1).astype(float)
    return {
        "step": i + 1,
        "loss": value,
        "surface": surface.reshape(grid.shape[:2]),
        # in the makers' order (signal first); a compiled call returns the keys sorted
        "hists": {k: np.asarray(hists[k]) for k in makers.HISTOGRAM_NAMES if k in hists},
        "bins": np.asarray(hpars["bins"]),
    }
