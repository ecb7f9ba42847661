"""A training run's output folder: writability, resume, --force, damaged checkpoints, config
types, and interruptions (SIGINT, SIGKILL) at any moment.

The runs are tiny (two hidden layers of 8, 50 events per blob) and share one compiled step;
only the interruption tests start processes (four in all).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neos import checkpoint as run_files
from neos.cli import main
from neos.train import TrainConfig, load_config, train
from relaxed.exceptions import InvalidArgument

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"nmc": 50, "hidden": (8, 8), "animate": False, "checkpoint_every": 2}
STEPS = 6  # the reference run's length


def _config(steps: int, **changes: Any) -> TrainConfig:
    return TrainConfig(**{**SMALL, "steps": steps, **changes})


def _toml(path: Path, **changes: Any) -> Path:
    """A config file with the small settings (``changes`` override them)."""
    settings = {**SMALL, **changes}
    lines = [
        f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in settings.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder`` (hidden ones included): its bytes and its mtime."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _assert_consistent(folder: Path) -> run_files.Checkpoint:
    """Every file parses, metrics.json is the checkpoint's, no temporary file is left, and the
    final outputs are there exactly when the run is finished."""
    ckpt = run_files.load(folder / "checkpoint.npz")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics == ckpt.metrics
    assert metrics["steps"] == list(range(1, ckpt.step + 1))
    assert len(metrics["loss"]) == len(metrics["cls_soft"]) == ckpt.step
    assert metrics["finished"] is ckpt.finished
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    if ckpt.finished:
        json.loads((folder / "workspace.json").read_text())
        assert (folder / "summary.png").stat().st_size > 0
    else:
        assert not (folder / "workspace.json").exists()
    return ckpt


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An uninterrupted run of STEPS steps."""
    out = tmp_path_factory.mktemp("reference")
    return out, train(_config(STEPS), out=out, progress=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of 3 steps (copy it before changing it)."""
    out = tmp_path_factory.mktemp("finished")
    train(_config(3), out=out, progress=False)
    return out


def _assert_equals_reference(folder: Path, reference: tuple[Path, dict[str, Any]]) -> None:
    ckpt = _assert_consistent(folder)
    assert ckpt.finished and ckpt.step == STEPS
    expected = reference[1]
    metrics = json.loads((folder / "metrics.json").read_text())
    np.testing.assert_allclose(metrics["loss"], expected["loss"], rtol=1e-6)
    np.testing.assert_allclose(metrics["cls_soft"], expected["cls_soft"], rtol=1e-6)
    np.testing.assert_allclose(metrics["cls_hard_test"], expected["cls_hard_test"], rtol=1e-6)


def test_training_is_deterministic(reference, finished):
    """What the comparisons with the reference run rely on: the shared steps agree."""
    shorter = json.loads((finished / "metrics.json").read_text())
    np.testing.assert_array_equal(shorter["loss"], reference[1]["loss"][:3])
    _assert_consistent(reference[0])
    _assert_consistent(finished)


# -- resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [3, 2])
def test_resume_of_a_finished_run_is_a_noop(finished, tmp_path, capsys, steps):
    out = _copy(finished, tmp_path / "run")
    before = _snapshot(out)
    result = train(_config(steps), out=out, resume=True, progress=False)
    assert result["already_finished"] is True and result["steps"] == [1, 2, 3]
    assert result["loss"] == json.loads((out / "metrics.json").read_text())["loss"]
    assert _snapshot(out) == before
    config = _toml(tmp_path / "c.toml")
    argv = ["train", "--config", str(config), "--steps", str(steps), "--out", str(out)]
    assert main([*argv, "--resume", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 3
    assert f"already holds a finished run of 3 steps ({steps} requested)" in captured.err
    assert _snapshot(out) == before


def test_resume_continues_to_more_steps(finished, reference, tmp_path, capsys):
    api = _copy(finished, tmp_path / "api")
    result = train(_config(STEPS), out=api, resume=True, progress=False)
    assert result["already_finished"] is False
    _assert_equals_reference(api, reference)
    cli = _copy(finished, tmp_path / "cli")
    config = _toml(tmp_path / "c.toml")
    argv = ["train", "--config", str(config), "--steps", str(STEPS), "--out", str(cli)]
    assert main([*argv, "--resume", "--quiet"]) == 0
    assert "expected CLs" in capsys.readouterr().out
    _assert_equals_reference(cli, reference)
    assert (cli / "workspace.json").read_text() == (api / "workspace.json").read_text()


def test_lagging_or_damaged_metrics_are_rewritten_from_the_checkpoint(finished, tmp_path):
    out = _copy(finished, tmp_path / "run")
    good = (out / "metrics.json").read_text()
    (out / "metrics.json").write_text('{"steps": [1]')  # a lost write, then a damaged one
    (out / ".metrics.json.x7.tmp.json").write_text("{")  # what a kill inside a write leaves
    train(_config(3), out=out, resume=True, progress=False)
    assert (out / "metrics.json").read_text() == good
    _assert_consistent(out)


# -- a folder that holds a run ----------------------------------------------------------------
def test_finished_run_is_not_replaced_without_force(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path / "run")
    before = _snapshot(out)
    with pytest.raises(InvalidArgument, match="already holds a run .*at step 3 of 3"):
        train(_config(5), out=out, progress=False)
    assert _snapshot(out) == before
    config = _toml(tmp_path / "c.toml")
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"neos: error: {out} already holds a run")
    assert err.count("\n") == 1 and "--resume" in err and "--force" in err
    assert _snapshot(out) == before
    assert main(["train", "--out", str(out), "--resume", "--force"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert _snapshot(out) == before


def test_force_removes_the_old_run_and_starts_afresh(finished, reference, tmp_path, capsys):
    out = _copy(finished, tmp_path / "run")
    (out / "training.gif").write_bytes(b"GIF89a")  # as if the old run drew one
    (out / ".checkpoint.npz.k2.tmp.npz").write_bytes(b"PK")
    (out / "notes.txt").write_text("mine")  # not a training output: kept
    result = train(_config(2), out=out, force=True, progress=False)
    assert result["steps"] == [1, 2]
    np.testing.assert_allclose(result["loss"], reference[1]["loss"][:2], rtol=1e-6)
    assert _assert_consistent(out).step == 2
    assert not (out / "training.gif").exists() and (out / "notes.txt").read_text() == "mine"
    config = _toml(tmp_path / "c.toml")
    argv = ["train", "--config", str(config), "--steps", "1", "--out", str(out), "--quiet"]
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()
    assert _assert_consistent(out).step == 1


# -- the output folder is checked before anything runs ------------------------------------------
@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if training starts (the data are generated first)."""
    import neos.train

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("training started")

    monkeypatch.setattr(neos.train, "make_train_test", refuse)


def _assert_refused(out: Path, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidArgument, match=message) as caught:
        train(_config(2), out=out, progress=False)
    assert str(out) in str(caught.value)
    assert main(["train", "--steps", "2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"neos: error: {out}") and err.count("\n") == 1 and message in err


def test_out_is_a_regular_file(tmp_path, capsys, nothing_runs):
    out = tmp_path / "result"
    out.write_text("keep me")
    _assert_refused(out, "exists and is not a folder", capsys)
    assert out.read_text() == "keep me"


def test_out_under_a_regular_file_cannot_be_created(tmp_path, capsys, nothing_runs):
    (tmp_path / "file").write_text("")
    _assert_refused(tmp_path / "file" / "run", "cannot create the output folder", capsys)


def test_out_is_not_writable(tmp_path, capsys, nothing_runs):
    if os.geteuid() == 0:  # root writes through a read-only mode: use what root cannot do
        (tmp_path / "file").write_text("")
        _assert_refused(tmp_path / "file" / "run", "cannot create the output folder", capsys)
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _assert_refused(locked, "cannot write into the output folder", capsys)
        _assert_refused(locked / "run", "cannot create the output folder", capsys)
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


# -- damaged and incompatible checkpoints -------------------------------------------------------
def _other_network(path: Path) -> None:
    """A valid checkpoint of a run with other hidden layers."""
    import jax
    import jax.numpy as jnp
    import optax

    from neos.nets import mlp

    other = _config(3, hidden=(4,))
    params = mlp(hidden=other.hidden).init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    hpars = {"bins": jnp.asarray(other.bins), "bandwidth": jnp.asarray(other.bandwidth)}
    state = ((params, hpars), optax.adam(1e-3).init((params, hpars)))
    ckpt = run_files.load(path)
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(other).items()}
    run_files.save(
        path,
        step=3,
        finished=True,
        config=config,
        metrics=ckpt.metrics,
        timing=ckpt.timing,
        state=state,
    )


def _other_shapes(path: Path) -> None:
    """The right settings, with arrays of other shapes (a checkpoint edited by hand)."""
    ckpt = run_files.load(path)
    leaves = [
        np.zeros((x.shape[0] + 1, *x.shape[1:]), x.dtype) if x.ndim else x for x in ckpt.leaves
    ]
    run_files.save(
        path,
        step=3,
        finished=True,
        config=ckpt.config,
        metrics=ckpt.metrics,
        timing=ckpt.timing,
        state=leaves,
    )


def _flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
        "damaged or not a neos checkpoint",
    ),
    "flipped bytes": (_flip_middle, "damaged or not a neos checkpoint"),
    "random bytes": (
        lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096)),
        "not a neos checkpoint",
    ),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "old format": (lambda p: np.savez(p, step=3, leaf_0=np.zeros(2)), "no metadata"),
    "json": (lambda p: p.write_text('{"step": 3}'), "not a neos checkpoint"),
    "other network": (_other_network, "written with hidden = [4], this run has hidden = [8, 8]"),
    "other shapes": (_other_shapes, "array 0 has shape"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_or_incompatible_checkpoint(finished, tmp_path, capsys, damage):
    out = _copy(finished, tmp_path / "run")
    make, message = DAMAGES[damage]
    make(out / "checkpoint.npz")
    before = _snapshot(out)
    with pytest.raises(run_files.InvalidCheckpoint, match=re.escape(message)) as caught:
        train(_config(5), out=out, resume=True, progress=False)
    assert isinstance(caught.value, InvalidArgument)
    assert str(out / "checkpoint.npz") in str(caught.value)
    config = _toml(tmp_path / "c.toml")
    argv = ["train", "--config", str(config), "--steps", "5", "--out", str(out), "--resume"]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"neos: error: {out / 'checkpoint.npz'}: ") and err.count("\n") == 1
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    ("key", "value"),
    [("bins", [0.0, 0.5, 1.0]), ("seed", 1), ("learning_rate", 0.01), ("loss", "bce")],
)
def test_resume_with_other_settings(finished, tmp_path, key, value):
    out = _copy(finished, tmp_path / "run")
    before = _snapshot(out)
    with pytest.raises(run_files.InvalidCheckpoint, match=f"written with {key} = "):
        train(_config(5, **{key: value}), out=out, resume=True, progress=False)
    assert _snapshot(out) == before


# -- config types -------------------------------------------------------------------------------
BAD_VALUES = [
    ("steps", '"5"', "must be a positive integer, got '5' (str)"),
    ("steps", "0", "must be a positive integer, got 0 (int)"),
    ("steps", "true", "must be a positive integer, got True (bool)"),
    ("steps", "2.5", "must be a positive integer"),
    ("seed", "-1", "must be an integer from 0"),
    ("seed", '"a"', "must be an integer from 0"),
    ("loss", "1", "must be one of 'cls'"),
    ("loss", '"nll"', "must be one of 'cls'"),
    ("method", '"hist"', "must be one of 'kde', 'softmax'"),
    ("nmc", "1.5", "must be a positive integer"),
    ("hidden", '[8, "a"]', "must be a list of positive integers"),
    ("hidden", "8", "must be a list of positive integers"),
    ("hidden", "[0]", "must be a list of positive integers"),
    ("hidden", "[true]", "must be a list of positive integers"),
    ("bins", "3", "must be a list of at least two finite, strictly increasing numbers"),
    ("bins", "[0.0]", "must be a list of at least two finite, strictly increasing numbers"),
    ("bins", "[0.0, 0.5, 0.4]", "must be a list of at least two finite, strictly increasing"),
    ("bins", '[0, "a"]', "must be a list of at least two finite, strictly increasing numbers"),
    ("bins", "[0.0, inf]", "must be a list of at least two finite, strictly increasing numbers"),
    ("bandwidth", '"x"', "must be a finite number > 0, got 'x' (str)"),
    ("bandwidth", "-1.0", "must be a finite number > 0"),
    ("bandwidth", "nan", "must be a finite number > 0"),
    ("learning_rate", "0", "must be a finite number > 0"),
    ("test_mu", "true", "must be a finite number > 0, got True (bool)"),
    ("lumi", "inf", "must be a finite number > 0"),
    ("sig_scale", '"2"', "must be a finite number > 0"),
    ("bkg_scale", "[1.0]", "must be a finite number > 0"),
    ("train_bins", '"yes"', "must be true or false, got 'yes' (str)"),
    ("train_bandwidth", "0", "must be true or false, got 0 (int)"),
    ("checkpoint_every", "0", "must be a positive integer"),
    ("animate", "1", "must be true or false, got 1 (int)"),
]


@pytest.mark.parametrize(("key", "toml", "message"), BAD_VALUES)
def test_config_types_are_checked(tmp_path, capsys, nothing_runs, key, toml, message):
    path = tmp_path / "c.toml"
    path.write_text(f"{key} = {toml}\n")
    expected = f"config key '{key}': {message}"
    with pytest.raises(InvalidArgument) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {expected}")
    value = tomllib.loads(path.read_text())[key]
    with pytest.raises(InvalidArgument) as caught:
        TrainConfig(**{key: value}).validate()
    assert expected in str(caught.value)
    out = tmp_path / "out"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"neos: error: {path}: {expected}") and err.count("\n") == 1
    assert not out.exists()


def test_config_values_are_normalised(tmp_path):
    path = _toml(tmp_path / "c.toml", bins=[0, 1], bandwidth=1, hidden=[8, 8])
    config = load_config(path, steps=3)
    assert (config.bins, config.bandwidth, config.hidden, config.steps) == (
        (0.0, 1.0),
        1.0,
        (8, 8),
        3,
    )
    assert isinstance(config.bandwidth, float) and TrainConfig(hidden=[4]).validate().hidden == (4,)


# -- interruptions ------------------------------------------------------------------------------
def _start(out: Path, config: Path, **delays: float) -> subprocess.Popen[str]:
    """``neos train`` in a new process, with the tests' delays (``step``, ``checkpoint``)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.update({f"NEOS_TEST_DELAY_{k.upper()}": str(v) for k, v in delays.items()})
    argv = ["train", "--config", str(config), "--steps", str(STEPS), "--out", str(out), "--quiet"]
    code = "import sys; from neos.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 180
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}:\n{out}{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _metrics_step(out: Path) -> int:
    try:
        return len(json.loads((out / "metrics.json").read_text())["steps"])
    except (OSError, ValueError, KeyError):
        return 0


def _writing_checkpoint(out: Path) -> bool:
    return (out / "checkpoint.npz").exists() and any(out.glob(".checkpoint.npz.*.tmp.npz"))


def _stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupt_during_a_step(tmp_path, reference, capsys, sig):
    """Interrupted inside step 3 (a checkpoint every 2 steps): SIGINT completes the step and
    saves it; SIGKILL leaves step 2. Resuming gives the uninterrupted run."""
    out = tmp_path / "run"
    proc = _start(out, _toml(tmp_path / "c.toml", checkpoint_every=2), step=0.6)
    _wait_for(proc, lambda: _metrics_step(out) == 2, "the step-2 checkpoint")
    time.sleep(0.2)  # inside step 3, which takes 0.6 s
    status, err = _stop(proc, sig)
    ckpt = _assert_consistent(out)
    if sig == signal.SIGINT:
        assert status == 130, err
        assert "neos: training interrupted after step 3 of 6" in err and "--resume" in err
        assert ckpt.step == 3
    else:
        assert status == -signal.SIGKILL and ckpt.step == 2
    config = _toml(tmp_path / "c.toml")
    argv = ["train", "--config", str(config), "--steps", str(STEPS), "--out", str(out)]
    before = _snapshot(out)
    assert main([*argv, "--quiet"]) == 2  # an interrupted run is not replaced either
    assert "already holds a run" in capsys.readouterr().err
    assert _snapshot(out) == before
    assert main([*argv, "--quiet", "--resume"]) == 0
    _assert_equals_reference(out, reference)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupt_during_a_checkpoint_write(tmp_path, reference, sig):
    """Interrupted while the step-2 checkpoint is being written (every step is saved): SIGINT
    lets the write finish and stops; SIGKILL leaves the step-1 files and a temporary file,
    which resuming removes."""
    out = tmp_path / "run"
    proc = _start(out, _toml(tmp_path / "c.toml", checkpoint_every=1), checkpoint=0.6)
    _wait_for(proc, lambda: _writing_checkpoint(out), "the step-2 checkpoint write")
    status, err = _stop(proc, sig)
    if sig == signal.SIGINT:
        assert status == 130, err
        assert _assert_consistent(out).step == 2
    else:
        assert status == -signal.SIGKILL
        assert [p.name for p in out.glob(".checkpoint.npz.*.tmp.npz")]  # the write was cut
        ckpt = run_files.load(out / "checkpoint.npz")
        assert ckpt.step == 1 and _metrics_step(out) == 1
        assert json.loads((out / "metrics.json").read_text()) == ckpt.metrics
    result = train(_config(STEPS), out=out, resume=True, progress=False)
    assert result["steps"] == list(range(1, STEPS + 1))
    _assert_equals_reference(out, reference)
