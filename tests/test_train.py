"""neos.train and `neos train`: outputs, determinism, resume, bad input, NaN handling."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest

from neos.cli import main
from neos.train import TrainConfig, TrainingError, train

# 200 events per blob, 16x16 units: with fewer, the hard histograms can leave a background
# bin empty but not its histosys variation, an ill-defined model (negative rates) whose
# fits fail (pyhf fails on it too)
SMALL = {"nmc": 200, "hidden": (16, 16), "steps": 3}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train(TrainConfig(**SMALL, checkpoint_every=2), out=out, progress=False)
    return out, result


def test_outputs_and_metrics(run):
    out, result = run
    names = ("metrics.json", "workspace.json", "workspace_hs3.json", "checkpoint.npz")
    for name in (*names, "summary.png", "training.gif"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == [1, 2, 3]
    assert len(metrics["loss"]) == len(metrics["cls_soft"]) == 3
    assert metrics["loss"] == metrics["cls_soft"]  # loss "cls" is the soft CLs
    assert metrics["events_per_step"] == 4 * SMALL["nmc"]
    assert metrics["step_time_s"] > 0
    # the soft and hard expected CLs of the trained network on both samples
    for key in ("cls_soft_train", "cls_hard_train", "cls_soft_test", "cls_hard_test"):
        assert 0.0 < metrics[key] <= 1.0 and metrics[key] == result[key]
    # 3 steps of the 10-step annealing: the bandwidth of the last step is 0.27 (0.01/0.27)^(2/9)
    assert metrics["bandwidth_last"] == pytest.approx(0.27 * (0.01 / 0.27) ** (2 / 9), rel=1e-12)
    spec = json.loads((out / "workspace.json").read_text())
    background = spec["channels"][0]["samples"][1]
    assert [m["type"] for m in background["modifiers"]] == ["histosys", "staterror"]
    assert background["modifiers"][1]["data"] == metrics["hard_mcstat_test"]["background"]


@pytest.fixture
def tight_pyhf():
    """pyhf with scipy converged tightly (its default tolerance can fail on empty bins)."""
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-14))
    yield
    pyhf.set_backend("numpy", "scipy")


def test_hard_cls_is_reproduced_from_the_file(run):
    out, result = run
    import relaxed

    spec = json.loads((out / "workspace.json").read_text())
    model = relaxed.Workspace(spec).model()
    data = relaxed.Workspace(spec).data(model)
    cls = relaxed.infer.hypotest(1.0, data, model)
    np.testing.assert_allclose(cls, result["cls_hard_test"], rtol=1e-10)
    # the HS3 export is the same analysis
    hs3 = relaxed.hs3.load(out / "workspace_hs3.json")
    hs3_model = hs3.model()
    assert hs3_model.config.par_order == model.config.par_order
    cls_hs3 = relaxed.infer.hypotest(1.0, hs3.data(hs3_model), hs3_model)
    np.testing.assert_allclose(cls_hs3, result["cls_hard_test"], rtol=1e-10)


def test_hard_workspace_cls_matches_pyhf(tight_pyhf):
    import relaxed
    from neos.train import hard_workspace

    hists = {
        "signal": [1.0, 6.0, 12.0],
        "background": [60.0, 30.0, 10.0],
        "background_up": [63.0, 33.0, 12.0],
        "background_down": [58.0, 28.0, 9.0],
    }
    spec = hard_workspace(hists)
    ws = pyhf.Workspace(spec)
    model = ws.model()
    expected = float(pyhf.infer.hypotest(1.0, ws.data(model), model))
    ours = relaxed.metrics.expected_cls(relaxed.Workspace(spec).model(), 1.0)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_deterministic_and_resumable(run, tmp_path):
    out, result = run
    again = train(TrainConfig(**SMALL), progress=False)
    np.testing.assert_array_equal(again["loss"], result["loss"])
    # resume from the step-2 checkpoint written by a 2-step run, to step 3
    partial = tmp_path / "partial"
    train(TrainConfig(**{**SMALL, "steps": 2}, animate=False), out=partial, progress=False)
    resumed = train(TrainConfig(**SMALL, animate=False), out=partial, resume=True, progress=False)
    assert resumed["steps"] == [1, 2, 3]
    np.testing.assert_allclose(resumed["loss"], result["loss"], rtol=1e-6)


def test_nan_loss_stops_and_keeps_the_checkpoint(tmp_path):
    cfg = TrainConfig(**{**SMALL, "steps": 30}, learning_rate=1e30, animate=False)
    with pytest.raises(TrainingError, match=r"at step \d+"):
        train(cfg, out=tmp_path, progress=False)
    assert (tmp_path / "checkpoint.npz").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--loss", "nll"], "config key 'loss': must be one of 'cls'"),
        (["--method", "hist"], "config key 'method': must be one of 'kde', 'softmax'"),
        (["--steps", "0"], "config key 'steps': must be a positive integer, got 0 (int)"),
    ],
)
def test_bad_options_exit_2_and_keep_outputs(tmp_path, capsys, argv, message):
    (tmp_path / "metrics.json").write_text("previous")
    assert main(["train", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
    assert (tmp_path / "metrics.json").read_text() == "previous"


def test_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("bandwith = 0.2\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path)]) == 2
    assert "unknown keys ['bandwith']" in capsys.readouterr().err
    negative = tmp_path / "neg.toml"
    negative.write_text("bandwidth = -1.0\n")
    assert main(["train", "--config", str(negative), "--out", str(tmp_path)]) == 2
    assert "config key 'bandwidth': must be a finite number > 0" in capsys.readouterr().err
    unordered = tmp_path / "bins.toml"
    unordered.write_text("bins = [0.0, 0.7, 0.3, 1.0]\n")
    assert main(["train", "--config", str(unordered), "--out", str(tmp_path)]) == 2
    assert "strictly increasing" in capsys.readouterr().err


def test_cli_train_runs(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text("nmc = 40\nhidden = [8]\nanimate = false\n")
    out = tmp_path / "out"
    assert main(["train", "--config", str(good), "--steps", "2", "--out", str(out), "--quiet"]) == 0
    assert "expected CLs" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["steps"] == [1, 2]
