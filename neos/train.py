r"""Training a network for the sensitivity of the full analysis.

:func:`train` runs a jit-compiled optax step in which the whole chain (network, soft
histograms, HistFactory model, profile-likelihood fits, metric) is one XLA computation, and
writes its outputs atomically: ``metrics.json``, ``workspace.json`` (the trained analysis as a
pyhf workspace built from ordinary histograms of an independent test sample),
``checkpoint.npz``, ``summary.png`` and ``training.gif``.

The defaults are the neos paper's example: four Gaussian blobs of 500 events, an MLP
2-1024-1024-1 (ReLU, sigmoid output, float32), bins ``linspace(0, 1, 4)``, KDE bandwidth
0.27, Adam with learning rate 1e-3, a histosys background model, the expected
:math:`\mathrm{CL}_s` at :math:`\mu = 1`, LUMI 10, sig_scale 2, bkg_scale 10.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import relaxed
from neos import losses, makers
from neos.data import make_train_test
from neos.nets import mlp
from relaxed.exceptions import InvalidArgument
from relaxed.histfactory.workspace import write_text_atomic

__all__ = ["TrainConfig", "TrainingError", "train", "hard_workspace", "load_config"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (the keys of ``neos train --config FILE.toml``).

    The defaults are the neos paper's example (module docstring); :meth:`validate` checks them.

    Example:
        >>> TrainConfig(steps=5, loss="bce").validate().bins
        (0.0, 0.3333333333333333, 0.6666666666666666, 1.0)
        >>> TrainConfig(method="histogram").validate()
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: method must be 'kde' or 'softmax', got 'histogram'
    """

    steps: int = 20
    seed: int = 0
    loss: str = "cls"
    method: str = "kde"
    nmc: int = 500
    hidden: tuple[int, ...] = (1024, 1024)
    bins: tuple[float, ...] = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
    bandwidth: float = 0.27
    learning_rate: float = 1e-3
    test_mu: float = 1.0
    lumi: float = 10.0
    sig_scale: float = 2.0
    bkg_scale: float = 10.0
    train_bins: bool = False
    train_bandwidth: bool = False
    checkpoint_every: int = 10
    animate: bool = True

    def validate(self) -> TrainConfig:
        """Check every setting; raise :class:`InvalidArgument` naming the bad one."""
        losses.check_loss_name(self.loss)
        if self.method not in ("kde", "softmax"):
            raise InvalidArgument(f"method must be 'kde' or 'softmax', got {self.method!r}")
        for name in ("steps", "nmc", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
        bins = np.asarray(self.bins, dtype=float)
        if bins.ndim != 1 or bins.size < 2 or not np.all(np.isfinite(bins)):
            raise InvalidArgument(f"bins must be at least two finite edges, got {self.bins}")
        if not np.all(np.diff(bins) > 0):
            raise InvalidArgument(f"bins must be strictly increasing, got {self.bins}")
        if not (math.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise InvalidArgument(f"bandwidth must be > 0, got {self.bandwidth}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise InvalidArgument(f"learning_rate must be > 0, got {self.learning_rate}")
        if not all(isinstance(h, int) and h > 0 for h in self.hidden):
            raise InvalidArgument(f"hidden must be positive layer sizes, got {self.hidden}")
        return self


def load_config(path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
    """Read a TOML file whose keys are :class:`TrainConfig` fields; unknown keys are errors.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = path.write_text("steps = 5\\nbins = [0.0, 0.5, 1.0]\\n")
        >>> load_config(path).bins
        (0.0, 0.5, 1.0)
    """
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InvalidArgument(f"{path}: cannot read the config file ({err})") from err
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise InvalidArgument(f"{path}: unknown keys {unknown}; the keys are {sorted(fields)}")
    for key in ("hidden", "bins"):
        if key in data:
            data[key] = tuple(data[key])
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**data).validate()


class TrainingError(RuntimeError):
    """Training stopped (a non-finite loss); the last good checkpoint is kept.

    Example:
        >>> issubclass(TrainingError, RuntimeError)
        True
    """


def _hard_hists(
    params: Any, apply: Callable[..., Any], samples: tuple[Any, ...], cfg: TrainConfig
) -> dict[str, np.ndarray]:
    """Ordinary (hard) histograms of the network output, scaled like the soft ones."""
    names = makers.HISTOGRAM_NAMES
    scales = (cfg.sig_scale, cfg.bkg_scale, cfg.bkg_scale, cfg.bkg_scale)
    out = {}
    edges = np.asarray(cfg.bins, dtype=float)
    for name, events, scale in zip(names, samples, scales, strict=True):
        output = np.asarray(apply(params, events), dtype=np.float64)
        if cfg.method == "kde":
            counts, _ = np.histogram(np.clip(output, edges[0], edges[-1]), edges)
        else:  # hard assignment to the most probable bin
            counts = np.bincount(np.argmax(output, axis=1), minlength=output.shape[1])
        out[name] = counts * (scale * cfg.lumi / events.shape[0])
    return out


def hard_workspace(hists: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """A pyhf-format workspace of the histosys model from hard histograms, observations set
    to the background-only expectation.

    Example:
        >>> ws = hard_workspace({"signal": [1.0, 2.0], "background": [5.0, 4.0],
        ...     "background_up": [6.0, 4.0], "background_down": [4.0, 4.0]})
        >>> ws["observations"]
        [{'name': 'singlechannel', 'data': [5.0, 4.0]}]
    """
    h = {k: [float(v) for v in np.asarray(x)] for k, x in hists.items()}
    return {
        "channels": [
            {
                "name": "singlechannel",
                "samples": [
                    {
                        "name": "signal",
                        "data": h["signal"],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": h["background"],
                        "modifiers": [
                            {
                                "name": "correlated_bkg_uncertainty",
                                "type": "histosys",
                                "data": {
                                    "hi_data": h["background_up"],
                                    "lo_data": h["background_down"],
                                },
                            }
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "singlechannel", "data": h["background"]}],
        "measurements": [{"name": "neos", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _save_checkpoint(path: Path, step: int, state: Any) -> None:
    leaves = jax.tree_util.tree_leaves(state)
    buffer = io.BytesIO()
    np.savez(buffer, step=step, **{f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves)})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_checkpoint(path: Path, like: Any) -> tuple[int, Any]:
    with np.load(path) as f:
        leaves = [jnp.asarray(f[f"leaf_{i}"]) for i in range(len(f.files) - 1)]
        step = int(f["step"])
    treedef = jax.tree_util.tree_structure(like)
    if treedef.num_leaves != len(leaves):
        raise InvalidArgument(f"{path}: checkpoint does not match this configuration")
    return step, jax.tree_util.tree_unflatten(treedef, leaves)


def _step_key(cfg: TrainConfig) -> TrainConfig:
    """The settings that define the compiled step (not the seed, length or outputs)."""
    return dataclasses.replace(
        cfg,
        seed=0,
        steps=1,
        checkpoint_every=1,
        animate=False,
        hidden=tuple(cfg.hidden),
        bins=tuple(float(b) for b in np.asarray(cfg.bins, dtype=float)),
    )


class _Step(NamedTuple):
    net: Any
    optimizer: Any
    step: Callable[..., Any]


@functools.lru_cache(maxsize=8)
def _compiled_step(cfg: TrainConfig) -> _Step:
    """The network, the optimizer and the jit-compiled training step
    ``step(trainable, opt_state, samples) -> (trainable, opt_state, loss, soft CLs)``.

    The training samples are an argument, not a constant of the computation, so runs that
    differ only in the seed (or the number of steps) share one compiled step.
    """
    if cfg.method == "kde":
        net = mlp(hidden=cfg.hidden)
    else:
        net = mlp(hidden=cfg.hidden, out=len(cfg.bins) - 1, final="softmax")
    optimizer = optax.adam(cfg.learning_rate)
    mask = (True, {"bins": cfg.train_bins, "bandwidth": cfg.train_bandwidth})

    def loss_and_cls(trainable: Any, samples: tuple[Any, ...]) -> tuple[Any, Any]:
        p, h = trainable
        hist_maker = makers.hists_from_nn(
            lambda: samples,
            net.apply,
            method=cfg.method,
            LUMI=cfg.lumi,
            sig_scale=cfg.sig_scale,
            bkg_scale=cfg.bkg_scale,
        )
        model_maker = makers.histosys_model_from_hists(hist_maker)
        get_cls = losses.expected_CLs(model_maker)
        objective = {
            "cls": lambda p, h: get_cls(p, cfg.test_mu, h),
            "discovery": losses.neg_discovery_significance(model_maker),
            "poi_uncert": losses.poi_uncertainty(model_maker),
            "bce": losses.bce(lambda: samples, net.apply),
        }[cfg.loss]
        value = objective(p, h)
        cls = value if cfg.loss == "cls" else get_cls(p, cfg.test_mu, h)
        return value, cls

    @jax.jit
    def step(trainable: Any, opt_state: Any, samples: tuple[Any, ...]) -> Any:
        (value, cls), grads = jax.value_and_grad(loss_and_cls, has_aux=True)(trainable, samples)
        grads = (grads[0], {k: g if mask[1][k] else jnp.zeros_like(g) for k, g in grads[1].items()})
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

    return _Step(net, optimizer, step)


def _hard_cls(model: relaxed.Model, poi_test: float) -> tuple[float, bool]:
    """The expected CLs of the hard-histogram workspace (as ``relaxed.metrics.expected_cls``)
    and whether its fits converged: a finished training run reports a non-converged fit
    instead of losing its result to the exception."""
    from relaxed.infer.hypotest import hypotest_result

    theta_0 = model.config.suggested_init()
    theta_0[model.config.poi_index] = 0.0
    result = hypotest_result(poi_test, model.expected_data(theta_0), model)
    return float(result.CLs), bool(result.converged)


def train(
    config: TrainConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the network; return the metrics (and write the outputs to ``out`` if given).

    Returns a dict with the keys of ``metrics.json`` (``steps``, ``loss``, ``cls_soft``,
    ``step_time_s``, ``events_per_step``, ``cls_hard_test``, ``config``) plus ``params``
    (the trained network parameters) and ``hpars``.

    Example:
        >>> result = train(TrainConfig(steps=2, nmc=50, hidden=(8,), animate=False),
        ...                progress=False)
        >>> len(result["loss"]), 0.0 <= result["cls_hard_test"] <= 1.0
        (2, True)
    """
    cfg = (config or TrainConfig()).validate()
    out_dir = None if out is None else Path(out)
    key = jax.random.PRNGKey(cfg.seed)
    data_key, init_key = jax.random.split(key)
    train_gen, test_gen = make_train_test(data_key, NMC=cfg.nmc)
    samples = train_gen()
    net, optimizer, step = _compiled_step(_step_key(cfg))
    params = net.init(init_key, jnp.zeros((1, 2), jnp.float32))
    hpars = {
        "bins": jnp.asarray(cfg.bins, jnp.float64),
        "bandwidth": jnp.asarray(cfg.bandwidth, jnp.float64),
    }
    hist_maker = makers.hists_from_nn(
        train_gen,
        net.apply,
        method=cfg.method,
        LUMI=cfg.lumi,
        sig_scale=cfg.sig_scale,
        bkg_scale=cfg.bkg_scale,
    )
    trainable = (params, hpars)
    opt_state = optimizer.init(trainable)

    history: dict[str, list[float]] = {"steps": [], "loss": [], "cls_soft": []}
    start_step = 0
    checkpoint = None if out_dir is None else out_dir / "checkpoint.npz"
    if resume and checkpoint is not None and checkpoint.exists():
        start_step, (trainable, opt_state) = _load_checkpoint(checkpoint, (trainable, opt_state))
        previous = out_dir / "metrics.json"
        if previous.exists():
            old = json.loads(previous.read_text())
            history = {k: list(old[k])[:start_step] for k in history}
    grid = np.stack(np.meshgrid(np.linspace(-4, 4, 40), np.linspace(-4, 4, 40)), -1)
    grid_points = jnp.asarray(grid.reshape(-1, 2), jnp.float32)
    # one compiled call per animation frame (eagerly, every operation would compile on its own)
    frame_outputs = jax.jit(lambda p, h: (net.apply(p, grid_points), hist_maker(p, h)))
    frames: list[dict[str, Any]] = []
    times: list[float] = []
    bar = _progress(range(start_step, cfg.steps), progress)
    good = (trainable, opt_state)
    for i in bar:
        begin = time.perf_counter()
        new_trainable, new_opt_state, value, cls = step(trainable, opt_state, samples)
        value = float(value)
        times.append(time.perf_counter() - begin)
        if not math.isfinite(value):
            if checkpoint is not None:
                _save_checkpoint(checkpoint, i, good)
            raise TrainingError(
                f"loss is {value} at step {i + 1}; stopped, the last good parameters (after "
                f"step {i}) are kept" + (f" in {checkpoint}" if checkpoint else "")
            )
        if cfg.animate and out_dir is not None:
            frames.append(_frame(frame_outputs, trainable, grid, i, value))
        trainable, opt_state = new_trainable, new_opt_state
        good = (trainable, opt_state)
        history["steps"].append(i + 1)
        history["loss"].append(value)
        history["cls_soft"].append(float(cls))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix({"loss": f"{value:.4g}", "CLs": f"{float(cls):.4g}"})
        if checkpoint is not None and (i + 1) % cfg.checkpoint_every == 0:
            _save_checkpoint(checkpoint, i + 1, good)

    params, hpars = trainable
    hard_cfg = dataclasses.replace(cfg, bins=tuple(float(b) for b in np.asarray(hpars["bins"])))
    hard = _hard_hists(params, net.apply, test_gen(), hard_cfg)
    ws_spec = hard_workspace(hard)
    ws_model = relaxed.Workspace(ws_spec).model()
    cls_hard, hard_converged = _hard_cls(ws_model, cfg.test_mu)
    compiled = times[1:] if len(times) > 1 else times
    result = {
        **history,
        "step_time_s": statistics.median(compiled) if compiled else None,
        "first_step_time_s": times[0] if times else None,
        "events_per_step": 4 * cfg.nmc,
        "cls_hard_test": cls_hard,
        "cls_hard_test_converged": hard_converged,
        "hard_histograms_test": {k: [float(x) for x in v] for k, v in hard.items()},
        "bins": [float(b) for b in np.asarray(hpars["bins"])],
        "bandwidth": float(hpars["bandwidth"]),
        "config": {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()
        },
    }
    if out_dir is not None:
        write_text_atomic(out_dir / "workspace.json", json.dumps(ws_spec, indent=2) + "\n")
        write_text_atomic(out_dir / "metrics.json", json.dumps(result, indent=2) + "\n")
        _save_checkpoint(out_dir / "checkpoint.npz", cfg.steps, good)
        from neos import plot

        plot.save_summary(out_dir / "summary.png", result)
        if cfg.animate and frames:
            plot.save_animation(out_dir / "training.gif", frames, grid)
    return {**result, "params": params, "hpars": hpars}


def _progress(steps: range, enabled: bool) -> Any:
    if not enabled:
        return steps
    from tqdm.auto import tqdm

    return tqdm(steps, desc="neos train", unit="step")


def _frame(
    outputs: Callable[..., Any],
    trainable: Any,
    grid: np.ndarray,
    i: int,
    value: float,
) -> dict[str, Any]:
    """One animation frame: the network output on ``grid`` and the soft histograms, from
    ``outputs(params, hpars) -> (network output on the grid points, histograms)``."""
    params, hpars = trainable
    surface, hists = outputs(params, hpars)
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
