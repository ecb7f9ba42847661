r"""Checkpoints, and the output folder of a training run kept consistent with itself.

A training run (:func:`neos.train.train`) writes into one folder:

- ``checkpoint.npz``: the source of truth. One file, written atomically
  (:func:`relaxed.io.write_text_atomic`), holding the arrays of the
  training state (``leaf_0``, ``leaf_1``, ...: network parameters, histogram parameters,
  optimizer state) and ``meta``, a JSON document (as bytes) with

  - ``format`` (``"neos-checkpoint"``) and ``version`` (:data:`VERSION`),
  - ``step``, the number of completed optimisation steps, and ``finished``, whether the
    run's final outputs (``workspace.json`` and the figures) were written for that step,
  - ``config``, the run's settings (:class:`neos.train.TrainConfig` as a dict),
  - ``leaves``, the shape and dtype of every array,
  - ``metrics``, the complete content of ``metrics.json`` at that step,
  - ``timing``, the wall time of every step and the steps at which a session started.

- ``metrics.json``: a copy of the checkpoint's ``metrics``, written right after every
  checkpoint (never on its own), so both always name the same step.
- ``workspace.json``, ``workspace_hs3.json``, ``summary.png``, ``training.gif``
  (:data:`FINAL_OUTPUTS`): written once
  the run finishes, before the finished checkpoint, and removed as soon as a later,
  unfinished checkpoint is saved (when a finished run is continued).

A process killed at any moment leaves the previous complete files in place (and at most a
temporary file, which the next run in the folder removes); :func:`sync_metrics` rewrites a
``metrics.json`` that lags behind its checkpoint. Every problem with a checkpoint is an
:class:`InvalidCheckpoint` naming the file and what is wrong.

The NumPy ``.npz`` format (a zip of ``.npy`` arrays, read with ``allow_pickle=False``) keeps a
checkpoint one file that a single rename replaces; orbax writes a folder of files, which
cannot be swapped in one atomic step.

For the tests only, the environment variable ``NEOS_TEST_DELAY_CHECKPOINT`` (seconds) makes
every checkpoint write pause between writing its temporary file and renaming it, so that a test
can interrupt a process inside that window.

Example:
    >>> import pathlib, tempfile, numpy as np
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> state = {"w": np.ones((2, 3), np.float32)}
    >>> save(folder / "checkpoint.npz", step=1, finished=False, config={"hidden": [3]},
    ...      metrics={"steps": [1], "loss": [0.5], "cls_soft": [0.5]},
    ...      timing={"time_s": [0.1], "session_starts": [0]}, state=state)
    >>> ckpt = load(folder / "checkpoint.npz")
    >>> ckpt.step, restore(ckpt, state)["w"].shape
    (1, (2, 3))
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from relaxed.exceptions import InvalidArgument
from relaxed.io import temporary_pattern, write_text_atomic

__all__ = [
    "CHECKPOINT",
    "METRICS",
    "FINAL_OUTPUTS",
    "OUTPUTS",
    "FORMAT",
    "VERSION",
    "Checkpoint",
    "InvalidCheckpoint",
    "save",
    "load",
    "restore",
    "check_config",
    "output_folder",
    "present_outputs",
    "remove_outputs",
    "remove_temporaries",
    "metrics_text",
    "write_metrics",
    "sync_metrics",
]

#: The checkpoint's file name in a run's folder.
CHECKPOINT = "checkpoint.npz"
#: The metrics' file name in a run's folder.
METRICS = "metrics.json"
#: What a finished run adds: the trained workspace and the figures.
FINAL_OUTPUTS = ("workspace.json", "workspace_hs3.json", "summary.png", "training.gif")
#: Every file a training run writes.
OUTPUTS = (CHECKPOINT, METRICS, *FINAL_OUTPUTS)
#: The ``format`` entry of a checkpoint's metadata.
FORMAT = "neos-checkpoint"
#: The version of the checkpoint layout this module writes and reads.
VERSION = 1

_HISTORY = ("steps", "loss", "cls_soft")
_PROBE_PREFIX = ".neos-write-test."
_DELAY_VARIABLE = "NEOS_TEST_DELAY_CHECKPOINT"
#: What reading a damaged archive can raise (a zip member that is encrypted, compressed by an
#: unknown method or corrupt raises RuntimeError, NotImplementedError or zlib.error).
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


class InvalidCheckpoint(InvalidArgument):
    """A checkpoint that cannot be used: damaged, not a neos checkpoint, or written for another
    configuration. The message names the file and what is wrong.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.npz"
        >>> _ = path.write_bytes(b"")
        >>> load(path)
        Traceback (most recent call last):
        ...
        neos.checkpoint.InvalidCheckpoint: .../checkpoint.npz: the file is empty; ...
    """


class Checkpoint(NamedTuple):
    """A checkpoint as read by :func:`load` (the arrays are NumPy arrays, not yet a pytree).

    Attributes:
        path: the file it was read from.
        step: completed optimisation steps.
        finished: whether the run's final outputs were written for ``step``.
        config: the run's settings.
        metrics: the content of ``metrics.json`` at ``step``.
        timing: ``{"time_s": [...], "session_starts": [...]}``.
        leaves: the arrays of the training state, in pytree order.

    Example:
        >>> Checkpoint._fields[:3]
        ('path', 'step', 'finished')
    """

    path: Path
    step: int
    finished: bool
    config: dict[str, Any]
    metrics: dict[str, Any]
    timing: dict[str, list[Any]]
    leaves: list[np.ndarray]


# -- writing and reading ----------------------------------------------------------------------
def save(
    path: str | os.PathLike[str],
    *,
    step: int,
    finished: bool,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    timing: Mapping[str, Sequence[Any]],
    state: Any,
) -> None:
    """Write the training ``state`` (a pytree of arrays) after ``step`` steps, with its
    metadata, atomically to ``path``; the file is read back and checked before it replaces
    the previous checkpoint.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.npz"
        >>> save(path, step=0, finished=False, config={}, timing={"time_s": [],
        ...      "session_starts": []}, metrics={"steps": [], "loss": [], "cls_soft": []},
        ...      state=[np.zeros(2)])
        >>> load(path).leaves[0].tolist()
        [0.0, 0.0]
    """
    path = Path(path)
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "finished": finished,
        "config": dict(config),
        "leaves": [{"shape": list(x.shape), "dtype": x.dtype.name} for x in leaves],
        "metrics": dict(metrics),
        "timing": {k: list(v) for k, v in timing.items()},
    }
    text = json.dumps(meta)
    # fails here, not in a reader, if the metadata does not survive JSON (NaN excepted)
    meta = json.loads(text)
    _check_meta(path, meta, leaves)
    buffer = io.BytesIO()
    arrays = {f"leaf_{i}": x for i, x in enumerate(leaves)}
    np.savez(buffer, meta=np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **arrays)
    delay = _test_delay()

    def verify(tmp: Path) -> None:
        if load(tmp).step != step:  # pragma: no cover - a disk returning other bytes
            raise InvalidCheckpoint(f"{path}: the checkpoint written does not read back")
        if delay:
            time.sleep(delay)

    write_text_atomic(path, buffer.getvalue(), check=verify)


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and check the checkpoint at ``path``.

    Raises:
        InvalidCheckpoint: the file is missing, empty, truncated, damaged, not a neos
            checkpoint, of another format version, or inconsistent with itself.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.npz"
        >>> np.savez(path, step=3)
        >>> load(path)
        Traceback (most recent call last):
        ...
        neos.checkpoint.InvalidCheckpoint: ...checkpoint.npz: not a neos checkpoint (it has no ...
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InvalidCheckpoint(f"{path}: cannot read the checkpoint ({_reason(err)})") from err
    if size == 0:
        raise InvalidCheckpoint(f"{path}: the file is empty; it is not a checkpoint")
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"PK":
                raise InvalidCheckpoint(
                    f"{path}: not a neos checkpoint (not an .npz archive: no zip header)"
                )
            f.seek(0)
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):  # pragma: no cover
                raise InvalidCheckpoint(f"{path}: not a neos checkpoint (not an .npz archive)")
            with archive:
                meta, leaves = _read_archive(path, archive)
    except InvalidCheckpoint:
        raise
    except _READ_ERRORS as err:
        raise InvalidCheckpoint(
            f"{path}: the file is damaged or not a neos checkpoint ({_reason(err)})"
        ) from err
    _check_meta(path, meta, leaves)
    return Checkpoint(
        path=path,
        step=meta["step"],
        finished=meta["finished"],
        config=meta["config"],
        metrics=meta["metrics"],
        timing=meta["timing"],
        leaves=leaves,
    )


def _read_archive(path: Path, archive: Any) -> tuple[Any, list[np.ndarray]]:
    """The metadata and the arrays of an open ``.npz`` archive (every member is read, so a
    damaged one raises here)."""
    names = set(archive.files)
    if "meta" not in names:
        raise InvalidCheckpoint(
            f"{path}: not a neos checkpoint (it has no metadata; checkpoints written "
            "before neos recorded their configuration cannot be resumed)"
        )
    meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
    specs = meta.get("leaves") if isinstance(meta, dict) else None
    count = len(specs) if isinstance(specs, list) else 0
    expected = {"meta", *(f"leaf_{i}" for i in range(count))}
    if names != expected:
        raise InvalidCheckpoint(
            f"{path}: the arrays {sorted(names ^ expected)} are missing or unexpected"
        )
    leaves = [archive[f"leaf_{i}"] for i in range(count)]
    return meta, leaves


def restore(checkpoint: Checkpoint, like: Any) -> Any:
    """The checkpoint's arrays as a pytree of the structure of ``like``, whose leaves must have
    the same shapes and dtypes.

    Raises:
        InvalidCheckpoint: the number, shape or dtype of the arrays differ from ``like``'s.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.npz"
        >>> save(path, step=0, finished=False, config={}, timing={"time_s": [],
        ...      "session_starts": []}, metrics={"steps": [], "loss": [], "cls_soft": []},
        ...      state={"b": np.zeros(2, np.float32)})
        >>> restore(load(path), {"b": np.zeros(3, np.float32)})
        Traceback (most recent call last):
        ...
        neos.checkpoint.InvalidCheckpoint: ...: array 0 has shape (2,) and dtype float32, this configuration needs (3,) and float32
    """  # noqa: E501
    template, treedef = jax.tree_util.tree_flatten(like)
    path, stored = checkpoint.path, checkpoint.leaves
    if len(template) != len(stored):
        raise InvalidCheckpoint(
            f"{path}: the checkpoint holds {len(stored)} arrays, this configuration needs "
            f"{len(template)} (written for another network or optimizer)"
        )
    leaves = []
    for i, (have, want) in enumerate(zip(stored, template, strict=True)):
        want_shape, want_dtype = tuple(np.shape(want)), np.dtype(jnp.result_type(want))
        if have.shape != want_shape or have.dtype != want_dtype:
            raise InvalidCheckpoint(
                f"{path}: array {i} has shape {have.shape} and dtype {have.dtype}, this "
                f"configuration needs {want_shape} and {want_dtype}"
            )
        leaves.append(jnp.asarray(have))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def check_config(checkpoint: Checkpoint, config: Mapping[str, Any]) -> None:
    """Check that the checkpoint was written for the same settings as ``config`` (compared
    as JSON values, for the keys of ``config``).

    Raises:
        InvalidCheckpoint: naming the first setting that differs, with both values.

    Example:
        >>> ckpt = Checkpoint(Path("c.npz"), 1, False, {"hidden": [8]}, {}, {}, [])
        >>> check_config(ckpt, {"hidden": (16,)})
        Traceback (most recent call last):
        ...
        neos.checkpoint.InvalidCheckpoint: c.npz: the checkpoint was written with hidden = [8], this run has hidden = [16]; ...
    """  # noqa: E501
    wanted = json.loads(json.dumps(dict(config)))
    for key, value in wanted.items():
        stored = checkpoint.config.get(key, "(absent)")
        if stored != value:
            raise InvalidCheckpoint(
                f"{checkpoint.path}: the checkpoint was written with {key} = "
                f"{json.dumps(stored)}, this run has {key} = {json.dumps(value)}; resume with "
                "the checkpoint's settings, or start afresh with --force (force=True)"
            )


# -- the output folder ------------------------------------------------------------------------
def output_folder(out: str | os.PathLike[str]) -> Path:
    """Check that ``out`` is, or can be created as, a writable folder (creating it), before
    any work is done.

    Raises:
        InvalidArgument: ``out`` is a file, cannot be created, or is not writable.

    Example:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "f"
        >>> _ = file.write_text("")
        >>> output_folder(file)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: .../f: exists and is not a folder; the output ...
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InvalidArgument(
            f"{folder}: exists and is not a folder; the output of a training run is a folder"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidArgument(
            f"{folder}: cannot create the output folder ({_reason(err)})"
        ) from err
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=_PROBE_PREFIX, suffix=".tmp")
    except OSError as err:
        raise InvalidArgument(
            f"{folder}: cannot write into the output folder ({_reason(err)})"
        ) from err
    os.close(fd)
    os.unlink(probe)
    return folder


def present_outputs(folder: Path) -> list[str]:
    """The names of :data:`OUTPUTS` that exist in ``folder``.

    Example:
        >>> import pathlib, tempfile
        >>> present_outputs(pathlib.Path(tempfile.mkdtemp()))
        []
    """
    return [name for name in OUTPUTS if (folder / name).exists()]


def remove_outputs(folder: Path, names: Sequence[str] = OUTPUTS) -> None:
    """Remove the files ``names`` (default: all of :data:`OUTPUTS`) from ``folder``.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "metrics.json").write_text("{}")
        >>> remove_outputs(folder); present_outputs(folder)
        []
    """
    for name in names:
        (folder / name).unlink(missing_ok=True)


def remove_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files that a killed run's atomic writes left in ``folder``;
    return them. (Nothing may be writing into the folder meanwhile.)

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".checkpoint.npz.x1y2.tmp.npz").write_text("")
        >>> [p.name for p in remove_temporaries(folder)], list(folder.iterdir())
        (['.checkpoint.npz.x1y2.tmp.npz'], [])
    """
    patterns = [temporary_pattern(name) for name in OUTPUTS] + [f"{_PROBE_PREFIX}*.tmp"]
    removed = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    for stale in removed:
        stale.unlink(missing_ok=True)
    return removed


def metrics_text(metrics: Mapping[str, Any]) -> str:
    """The text of ``metrics.json`` for ``metrics``.

    Example:
        >>> metrics_text({"steps": [1]})
        '{\\n  "steps": [\\n    1\\n  ]\\n}\\n'
    """
    return json.dumps(metrics, indent=2) + "\n"


def write_metrics(folder: Path, metrics: Mapping[str, Any]) -> None:
    """Write ``metrics.json`` into ``folder`` atomically.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_metrics(folder, {"steps": []}); (folder / "metrics.json").read_text()
        '{\\n  "steps": []\\n}\\n'
    """
    write_text_atomic(folder / METRICS, metrics_text(metrics))


def sync_metrics(folder: Path, checkpoint: Checkpoint) -> bool:
    """Rewrite ``metrics.json`` from the checkpoint's metrics if it differs from them
    (missing, damaged, or lagging behind after a kill between the two writes); return
    whether it was rewritten.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> ckpt = Checkpoint(folder / "c.npz", 0, False, {}, {"steps": []}, {}, [])
        >>> sync_metrics(folder, ckpt), sync_metrics(folder, ckpt)
        (True, False)
    """
    text = metrics_text(checkpoint.metrics)
    try:
        current = (folder / METRICS).read_text()
    except (OSError, UnicodeDecodeError):
        current = None
    if current == text:
        return False
    write_text_atomic(folder / METRICS, text)
    return True


# -- helpers ----------------------------------------------------------------------------------
def _check_meta(path: Path, meta: Any, leaves: Sequence[np.ndarray]) -> None:
    """Check a checkpoint's metadata against itself and its arrays."""

    def bad(what: str) -> InvalidCheckpoint:
        return InvalidCheckpoint(f"{path}: {what}")

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise bad("not a neos checkpoint (its metadata has no format 'neos-checkpoint')")
    if meta.get("version") != VERSION:
        raise bad(
            f"checkpoint format version {meta.get('version')!r}; this neos reads version "
            f"{VERSION} only"
        )
    step = meta.get("step")
    if not _is_int(step) or step < 0:
        raise bad(f"the step must be an integer >= 0, got {step!r}")
    if not isinstance(meta.get("finished"), bool):
        raise bad("the metadata has no 'finished' flag")
    for key in ("config", "metrics", "timing"):
        if not isinstance(meta.get(key), dict):
            raise bad(f"the metadata has no '{key}' table")
    metrics, timing = meta["metrics"], meta["timing"]
    for key in _HISTORY:
        values = metrics.get(key)
        if not isinstance(values, list) or len(values) != step:
            raise bad(f"metrics '{key}' must list {step} values, one per step")
    if metrics["steps"] != list(range(1, step + 1)):
        raise bad(f"metrics 'steps' must be 1, ..., {step}")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in metrics["loss"]):
        raise bad("metrics 'loss' must be numbers")
    times, starts = timing.get("time_s"), timing.get("session_starts")
    if not isinstance(times, list) or len(times) != step or not isinstance(starts, list):
        raise bad(f"timing must list {step} step times and the sessions' first steps")
    specs = meta.get("leaves")
    if not isinstance(specs, list) or len(specs) != len(leaves):
        raise bad("the metadata does not describe the arrays")
    for i, (spec, leaf) in enumerate(zip(specs, leaves, strict=True)):
        if not isinstance(spec, dict) or (
            spec.get("shape") != list(leaf.shape) or spec.get("dtype") != leaf.dtype.name
        ):
            raise bad(
                f"array {i} has shape {leaf.shape} and dtype {leaf.dtype}, its metadata says "
                f"{spec!r}"
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _test_delay() -> float:
    """Seconds to pause inside a checkpoint write (``$NEOS_TEST_DELAY_CHECKPOINT``; tests
    only)."""
    try:
        delay = float(os.environ.get(_DELAY_VARIABLE, "0") or 0)
    except ValueError:
        return 0.0
    return delay if math.isfinite(delay) and delay > 0 else 0.0
