"""neos.compare: the neos vs BCE comparison is the two plain training runs, scored the same way."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import relaxed
from neos.compare import bce_plateau, compare_bce, summarize_comparison
from neos.train import TrainConfig, train
from relaxed.exceptions import InvalidArgument

# the same settings as neos.train's doctest, so the compiled steps are shared
SMALL = TrainConfig(nmc=50, hidden=(8,), animate=False)
SEED = 3


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compare")
    out = compare_bce(
        seeds=[SEED], steps=3, bce_steps=[4, 2], config=SMALL, workdir=workdir, curves=True
    )
    return workdir, out


def test_neos_arm_is_a_plain_cls_run(comparison):
    _, out = comparison
    direct = train(dataclasses.replace(SMALL, seed=SEED, steps=3, loss="cls"), progress=False)
    neos = out["runs"][0]["neos"]
    assert neos["steps"] == 3
    np.testing.assert_allclose(neos["loss"], direct["loss"], rtol=1e-12)
    np.testing.assert_allclose(neos["cls_hard_test"], direct["cls_hard_test"], rtol=1e-12)
    assert neos["loss"] == neos["cls_soft"]  # neos trains on the soft CLs itself


def test_bce_stages_equal_straight_runs(comparison):
    _, out = comparison
    assert out["bce_steps"] == [2, 4]  # sorted
    direct = train(dataclasses.replace(SMALL, seed=SEED, steps=4, loss="bce"), progress=False)
    short, long = out["runs"][0]["bce"]
    assert (short["steps"], long["steps"]) == (2, 4)
    # the 4-step stage continued the 2-step one from its checkpoint: same as one 4-step run
    np.testing.assert_allclose(long["loss"], direct["loss"], rtol=1e-6)
    np.testing.assert_allclose(short["loss"], direct["loss"][:2], rtol=1e-6)
    np.testing.assert_allclose(long["cls_hard_test"], direct["cls_hard_test"], rtol=1e-6)
    assert long["loss_plateau"] == pytest.approx(bce_plateau(direct["loss"]), rel=1e-6)
    # BCE and neos start from the same network and data: same soft CLs before the first update
    assert short["cls_soft_first"] == pytest.approx(out["runs"][0]["neos"]["cls_soft_first"])
    assert short["loss_first"] != pytest.approx(short["cls_soft_first"])  # its loss is the BCE


def test_summary_and_outputs(comparison):
    workdir, out = comparison
    summary = out["summary"]
    neos = out["runs"][0]["neos"]["cls_hard_test"]
    for stage in out["runs"][0]["bce"]:
        key = f"bce@{stage['steps']}"
        assert summary["neos_wins"][key] == int(neos < stage["cls_hard_test"])
        assert summary["cls_hard_test"][key]["median"] == stage["cls_hard_test"]
        ratio = math.log10(neos / stage["cls_hard_test"])
        assert summary["median_log10_ratio_neos_over_bce"][key] == pytest.approx(ratio)
    assert "same initial parameters" in out["fairness"]
    assert "seed" not in out["config"] and out["config"]["hidden"] == [8]
    bce_metrics = json.loads((workdir / f"seed{SEED}" / "bce" / "metrics.json").read_text())
    assert bce_metrics["steps"] == [1, 2, 3, 4]
    assert (workdir / f"seed{SEED}" / "neos" / "workspace.json").exists()
    with pytest.raises(InvalidArgument, match="already holds a run"):
        compare_bce(seeds=[SEED], steps=1, bce_steps=[1], config=SMALL, workdir=workdir)


def test_summarize_by_hand():
    runs = [
        {
            "seed": s,
            "neos": {"steps": 5, "cls_hard_test": n},
            "bce": [{"steps": 5, "cls_hard_test": b}, {"steps": 20, "cls_hard_test": b2}],
        }
        for s, (n, b, b2) in enumerate([(1e-4, 1e-3, 1e-5), (1e-2, 1e-3, 1e-3), (1e-3, 1e-2, 1e-4)])
    ]
    s = summarize_comparison(runs)
    assert s["n_seeds"] == 3
    assert s["neos_wins"] == {"bce@5": 2, "bce@20": 0}
    assert s["cls_hard_test"]["neos@5"] == pytest.approx(
        {"median": 1e-3, "min": 1e-4, "max": 1e-2, "geometric_mean": 1e-3}
    )
    # log10 ratios (-1, 1, -1) and (1, 1, 1)
    assert s["median_log10_ratio_neos_over_bce"] == pytest.approx({"bce@5": -1.0, "bce@20": 1.0})


def test_plateau():
    assert bce_plateau([2.0] * 75 + [1.0] * 25) == pytest.approx(1.0)
    assert bce_plateau(np.linspace(1.0, 0.5, 100)) == pytest.approx(
        (np.mean(np.linspace(1.0, 0.5, 100)[70:75]) - np.mean(np.linspace(1.0, 0.5, 100)[95:]))
        / np.mean(np.linspace(1.0, 0.5, 100)[95:])
    )
    with pytest.raises(InvalidArgument):
        bce_plateau([1.0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": []}, "seeds must be a non-empty list"),
        ({"seeds": [-1]}, "integers >= 0"),
        ({"seeds": [0, 0]}, "must not repeat"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": 2.5}, "steps must be a positive integer"),
        ({"bce_steps": [0]}, "bce_steps must be a non-empty list of integers >= 1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        compare_bce(**kwargs)


def test_a_failed_run_counts_as_a_loss_not_silently() -> None:
    from neos.compare import sign_test, summarize_comparison

    def run(seed: int, neos: float | None, bce: float | None) -> dict:
        return {
            "seed": seed,
            "neos": {"steps": 10, "cls_hard_test": neos},
            "bce": [{"steps": 10, "cls_hard_test": bce}],
        }

    runs = [run(0, 1e-4, 1e-3), run(1, None, 1e-3), run(2, 2e-3, None), run(3, 5e-3, 1e-3)]
    s = summarize_comparison(runs)
    assert s["failed_runs"] == {"neos@10": 1, "bce@10": 1}
    assert s["neos_wins"] == {"bce@10": 2}  # seeds 0 and 2
    assert s["sign_test_p"]["bce@10"] == sign_test(2, 4) == 1.0
    assert s["cls_hard_test"]["neos@10"]["median"] == 2e-3
    # the ratio over the seeds where both finished: log10(0.1) and log10(5)
    expected = (math.log10(0.1) + math.log10(5.0)) / 2
    assert math.isclose(s["median_log10_ratio_neos_over_bce"]["bce@10"], expected)


# -- on an analysis: the POI uncertainty and the best cut-based binning ----------------------
@pytest.fixture(scope="module")
def tiny_analysis(tmp_path_factory):
    from test_analysis import TINY_TOML, _tiny_data

    from neos.analysis import load_analysis

    folder = tmp_path_factory.mktemp("tiny_compare")
    for name, columns in _tiny_data().items():
        np.savez(folder / f"{name}.npz", **columns)
    (folder / "tiny.toml").write_text(TINY_TOML)
    return load_analysis(folder / "tiny.toml")


@pytest.fixture(scope="module")
def analysis_comparison(tiny_analysis):
    return compare_bce(seeds=[1], steps=2, bce_steps=[2], analysis=tiny_analysis)


def test_poi_uncertainty_of_a_workspace_is_the_inverse_fisher_element(analysis_comparison):
    from neos.compare import poi_uncertainty_of

    run = analysis_comparison["runs"][0]
    sigma = run["neos"]["poi_uncert_hard_test"]
    assert 0.0 < sigma < 100.0
    # by hand on a two-bin histosys workspace: sqrt of (I^-1)_mu,mu at mu = 1
    ws = {
        "channels": [
            {
                "name": "c",
                "samples": [
                    {
                        "name": "s",
                        "data": [5.0, 10.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "b",
                        "data": [50.0, 50.0],
                        "modifiers": [
                            {
                                "name": "u",
                                "type": "histosys",
                                "data": {"hi_data": [55.0, 52.0], "lo_data": [45.0, 48.0]},
                            }
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "c", "data": [50.0, 50.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    model = relaxed.Workspace(ws).model()
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 1.0
    # the Fisher information by hand: sum_b grad(lam_b) grad(lam_b)^T / lam_b + constraint
    poi, u = model.config.poi_index, 1 - model.config.poi_index
    jac = np.zeros((2, 2))
    jac[:, poi] = [5.0, 10.0]
    jac[:, u] = [5.0, 2.0]  # d lambda / d alpha at alpha = 0: (hi - lo) / 2
    lam = np.array([55.0, 60.0])
    info = jac.T @ np.diag(1.0 / lam) @ jac
    info[u, u] += 1.0  # the unit Gaussian constraint
    assert poi_uncertainty_of(ws) == pytest.approx(np.sqrt(np.linalg.inv(info)[poi, poi]), 1e-10)


def test_the_cut_arm_picks_the_best_training_binning(tiny_analysis, analysis_comparison):
    from neos import analysis as na
    from neos.compare import _candidate_edges, best_cut_binning
    from neos.train import _hard_cls

    out = analysis_comparison
    cuts = out["runs"][0]["bce_cuts"]
    assert cuts["steps"] == 2 and cuts["candidates"] == len(_candidate_edges(3)) == 171
    edges = np.asarray(cuts["bins"])
    assert edges[0] == 0.0 and edges[-1] == 1.0 and np.all(np.diff(edges) > 0)
    # a few other candidates are not better on the training events
    seeded = dataclasses.replace(
        tiny_analysis, config=dataclasses.replace(tiny_analysis.config, seed=1)
    )
    bce = train(
        analysis=dataclasses.replace(
            seeded, config=dataclasses.replace(seeded.config, loss="bce", steps=2)
        ),
        progress=False,
    )
    again = best_cut_binning(seeded, bce["params"])
    assert again["bins"] == cuts["bins"]
    assert again["cls_hard_test"] == pytest.approx(cuts["cls_hard_test"], rel=1e-9)
    train_sets, _, mean, std = na.event_sets(seeded)
    predict = na.predictor(na.network(seeded).apply, mean, std)
    outputs = [np.asarray(predict(bce["params"], x), dtype=np.float64) for x in train_sets.inputs]
    for other in (_candidate_edges(3)[0], _candidate_edges(3)[-1], np.array([0, 0.5, 0.6, 1])):
        hists = na.hard_histograms(train_sets, outputs, other, seeded.config.mcstat)
        spec = na.analysis_workspace(seeded, hists)
        cls, _ = _hard_cls(relaxed.Workspace(spec).model(), 1.0)
        assert cls >= cuts["cls_hard_train"] * (1 - 1e-9)
    summary = out["summary"]
    assert set(summary["neos_wins"]) == {"bce@2", "bce+cuts@2"}
    assert set(summary["neos_wins_poi_uncert"]) == {"bce@2", "bce+cuts@2"}
    assert summary["cls_hard_test"]["bce+cuts@2"]["median"] == cuts["cls_hard_test"]
    assert summary["poi_uncert_hard_test"]["bce+cuts@2"]["median"] == cuts["poi_uncert_hard_test"]
