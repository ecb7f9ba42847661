"""Multi-class networks in analysis descriptions (``[[classes]]``) and the INFERNO loss.

A softmax over K classes splits each channel into K regions ``{channel}_{class}``: the soft
model weights every event by its soft class assignment softmax(z / tau) and histograms its
class score (K p_k - 1) / (K - 1); the exported workspace puts each event in the region of its
most probable class. The tiny analysis of ``test_analysis.py`` is reused with three classes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_analysis import TINY_TOML, _tiny_data

import relaxed
from neos import analysis as na
from neos import losses
from relaxed.exceptions import InvalidArgument

CLASSES = """
[[classes]]
name = "sig"
samples = ["signal"]

[[classes]]
name = "a"
samples = ["bkg_a"]

[[classes]]
name = "b"
samples = ["bkg_b"]
"""
REGIONS = [f"{c}_{k}" for c in ("low", "high") for k in ("sig", "a", "b")]
#: The tiny analysis with three classes (top-level keys before the first table).
TOML = "class_temperature = 0.2\n" + TINY_TOML + CLASSES


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> na.Analysis:
    folder = tmp_path_factory.mktemp("multiclass")
    for name, columns in _tiny_data().items():
        np.savez(folder / f"{name}.npz", **columns)
    toml = folder / "tiny.toml"
    toml.write_text(TOML)
    return na.load_analysis(toml)


@pytest.fixture(scope="module")
def sets(analysis: na.Analysis) -> Any:
    return na.event_sets(analysis)


def _logits(sets: na.EventSets, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [10.0 * rng.normal(size=(x.shape[0], 3)) for x in sets.inputs]


# -- parsing ---------------------------------------------------------------------------------
def test_classes_parse_into_regions(analysis: na.Analysis) -> None:
    assert [k.name for k in analysis.classes] == ["sig", "a", "b"]
    assert analysis.class_temperature == 0.2
    assert list(analysis.regions) == REGIONS
    assert analysis.description()["classes"][1] == {"name": "a", "samples": ["bkg_a"]}
    plain = dataclasses.replace(analysis, classes=())
    assert list(plain.regions) == ["low", "high"]
    assert "classes" not in plain.description()


def _doc() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(TOML)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["classes"].pop(), r"samples \['bkg_b'\] are in no class"),
        (lambda d: d["classes"][1]["samples"].append("signal"), "is already in class 'sig'"),
        (lambda d: d["classes"][0]["samples"].append("nope"), r"classes\[0\].samples\[1\]"),
        (lambda d: d.update(classes=d["classes"][:1]), "at least 2 classes"),
        (lambda d: d["classes"][2].update(name="a"), "class names must be unique"),
        (lambda d: d["classes"][0].update(label=1), r"classes\[0\]: unknown keys \['label'\]"),
        (lambda d: d.update(class_temperature=0.0), "class_temperature: must be > 0"),
        (lambda d: d.pop("classes"), "class_temperature: applies only with"),
    ],
)
def test_class_errors_name_the_place(change: Any, message: str) -> None:
    doc = copy.deepcopy(_doc())
    change(doc)
    with pytest.raises(InvalidArgument, match=message):
        na.parse_analysis(doc)


# -- scores, assignments, histograms ---------------------------------------------------------
def test_scores_and_assignments() -> None:
    z = np.random.default_rng(0).normal(scale=3.0, size=(400, 4))
    scores = na.class_scores(z, xp=np)
    np.testing.assert_allclose(scores, na.class_scores(jnp.asarray(z)), rtol=1e-12, atol=1e-15)
    assert scores.min() >= -1.0 / 3.0 - 1e-12 and scores.max() <= 1.0 + 1e-12
    best = np.argmax(z, axis=1)
    assert np.all(scores[np.arange(400), best] >= 0.0)
    for tau in (1.0, 0.1):
        a = np.asarray(na.soft_assignment(z, tau))
        np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-12)
    sharp = np.asarray(na.soft_assignment(z, 1e-6))
    np.testing.assert_array_equal(sharp.argmax(axis=1), best)
    assert np.all(sharp.max(axis=1) > 1.0 - 1e-9)


def test_multiclass_soft_histograms_become_the_hard_ones(analysis: na.Analysis, sets: Any) -> None:
    train, _, _, _ = sets
    edges = np.asarray(analysis.config.bins)
    logits = _logits(train, seed=3)
    hard = na.hard_histograms(train, logits, edges, mcstat=True)
    soft = na.soft_histograms(
        train, [jnp.asarray(z) for z in logits], jnp.asarray(edges), 1e-6, True, True, 1e-6
    )
    assert set(soft) == set(hard) == set(train.keys)
    for key in hard:
        assert hard[key][0].shape == (len(REGIONS), len(edges) - 1)
        for a, b in zip(soft[key], hard[key], strict=True):
            if b is None:
                assert a is None and key[1] != "nominal"
                continue
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=1e-12)
    # the hard histograms by hand: region (channel, class of the largest logit), max score
    for key, k, w in zip(train.keys, train.which, train.weights, strict=True):
        z = logits[k]
        best = np.argmax(z, axis=1)
        score = np.clip(na.class_scores(z, xp=np)[np.arange(len(z)), best], 0.0, 1.0)
        for c in range(2):
            for j in range(3):
                h, _ = np.histogram(score, edges, weights=w[c] * (best == j))
                np.testing.assert_allclose(
                    hard[key][0][3 * c + j], h + 1e-13 * w.sum(), rtol=1e-12, atol=1e-300
                )


def test_multiclass_soft_histograms_keep_each_channels_yield(
    analysis: na.Analysis, sets: Any
) -> None:
    """At any bandwidth and temperature the classes share each event's weight (assignments
    sum to 1) and the folded KDE keeps it in the bins: a channel's yield is its weight sum."""
    train, _, _, _ = sets
    logits = [jnp.asarray(z) for z in _logits(train, seed=4)]
    soft = na.soft_histograms(
        train, logits, jnp.asarray(analysis.config.bins), 0.3, True, True, 1.0
    )
    for key, w in zip(train.keys, train.weights, strict=True):
        h = np.asarray(soft[key][0]).reshape(2, 3, -1)
        floor = 1e-13 * w.sum() * h.shape[1] * h.shape[2]
        np.testing.assert_allclose(h.sum(axis=(1, 2)), w.sum(axis=1) + floor, rtol=1e-9)


# -- model, training, losses -----------------------------------------------------------------
def test_multiclass_workspace_agrees_with_pyhf(analysis: na.Analysis, sets: Any) -> None:
    pyhf = pytest.importorskip("pyhf")
    _, test, _, _ = sets
    hists = na.hard_histograms(test, _logits(test, seed=5), np.asarray(analysis.config.bins), True)
    ws = na.analysis_workspace(analysis, hists)
    assert [c["name"] for c in ws["channels"]] == REGIONS
    assert [o["name"] for o in ws["observations"]] == REGIONS
    pyhf.set_backend("numpy")
    pyhf_model = pyhf.Workspace(ws).model()
    model = relaxed.Workspace(ws).model()
    assert {f"staterror_{r}" for r in REGIONS} <= set(model.config.par_order)
    assert set(pyhf_model.config.par_order) == set(model.config.par_order)
    np.testing.assert_allclose(
        np.asarray(model.expected_data(model.config.suggested_init())),
        pyhf_model.expected_data(pyhf_model.config.suggested_init()),
        rtol=1e-10,
    )


def test_cross_entropy_and_inferno_losses(analysis: na.Analysis, sets: Any) -> None:
    train, _, mean, std = sets
    samples = na.step_samples(train, mean, std)
    hpars = {"bins": jnp.asarray(analysis.config.bins), "bandwidth": jnp.asarray(0.2)}
    weights = jnp.asarray([[1.0, -0.5], [-1.0, 0.3], [0.2, 0.8]], jnp.float32)

    def apply(params: Any, z: Any) -> Any:  # a fixed linear "network": one logit per class
        return params["a"] * z @ weights.T

    def loss(name: str, a: float) -> tuple[float, float]:
        cfg = dataclasses.replace(analysis.config, loss=name)
        compute = na.loss_and_cls(
            dataclasses.replace(analysis, config=cfg), apply, train.keys, train.which
        )
        value, cls = compute(({"a": jnp.float32(a)}, hpars), samples, 1.0)
        return float(value), float(cls)

    # the class-balanced weighted cross-entropy, by hand
    by_class: dict[int, list[float]] = {0: [0.0, 0.0], 1: [0.0, 0.0], 2: [0.0, 0.0]}
    label = {"signal": 0, "bkg_a": 1, "bkg_b": 2}
    for key, k, w in zip(train.keys, train.which, train.weights, strict=True):
        if key[1] != "nominal":
            continue
        z = ((train.inputs[k] - mean) / std).astype(np.float32) @ np.asarray(weights).T
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        event_w = w.sum(axis=0)
        by_class[label[key[0]]][0] -= float(np.sum(event_w * log_p[:, label[key[0]]]))
        by_class[label[key[0]]][1] += float(np.sum(event_w))
    expected = sum(a / b for a, b in by_class.values()) / 3.0
    ce, cls = loss("bce", 1.0)
    assert ce == pytest.approx(expected, rel=1e-5)  # the network runs in float32
    assert 0.0 < cls < 1.0
    assert loss("bce", -1.0)[0] > ce + 0.1  # the reversed network is worse
    # INFERNO's loss is the squared Cramer-Rao uncertainty of the POI
    sigma, _ = loss("poi_uncert", 1.0)
    variance, _ = loss("inferno", 1.0)
    assert variance == pytest.approx(sigma**2, rel=1e-10)
    assert 0.0 < sigma < 10.0


def test_inferno_is_the_inverse_fisher_element() -> None:
    from neos.makers import histosys_model_from_hists

    def hists(p: Any, h: Any = None) -> dict[str, Any]:
        return {
            "signal": p * jnp.array([5.0, 10.0]),
            "background": jnp.array([50.0, 50.0]),
            "background_up": jnp.array([55.0, 52.0]),
            "background_down": jnp.array([45.0, 48.0]),
        }

    maker = histosys_model_from_hists(hists)
    model, bkg = maker(1.0)
    pars = jnp.asarray(bkg).at[model.config.poi_index].set(1.0)
    info = np.asarray(relaxed.metrics.fisher_information(model, pars))
    poi = model.config.poi_index
    expected = np.linalg.inv(info)[poi, poi]
    assert float(losses.inferno(maker)(1.0)) == pytest.approx(expected, rel=1e-10)
    grad = jax.grad(losses.inferno(maker))(1.0)
    step = 1e-5
    fd = (losses.inferno(maker)(1.0 + step) - losses.inferno(maker)(1.0 - step)) / (2 * step)
    assert float(grad) == pytest.approx(float(fd), rel=1e-6)
    assert float(grad) < 0  # more signal, a smaller variance


def test_multiclass_training_exports_its_regions(analysis: na.Analysis, tmp_path: Path) -> None:
    from neos.train import train

    result = train(analysis=analysis, out=tmp_path, progress=False)
    assert len(result["loss"]) == analysis.config.steps
    assert all(math.isfinite(v) for v in result["loss"])
    names = {f"{r}/{s}" for r in REGIONS for s in ("signal", "bkg_a", "bkg_b")}
    assert set(result["hard_histograms_test"]) == names
    for key in ("cls_hard_test", "cls_soft_test"):
        assert 0.0 < result[key] < 1.0, key
    ws = json.loads((tmp_path / "workspace.json").read_text())
    assert [c["name"] for c in ws["channels"]] == REGIONS
    model = relaxed.Workspace(ws).model()
    cls = float(relaxed.metrics.expected_cls(model, analysis.config.test_mu))
    assert cls == pytest.approx(result["cls_hard_test"], rel=1e-9)
    # every nominal test event is in exactly one region and one bin
    _, test, _, _ = na.event_sets(analysis)
    for key, w in zip(test.keys, test.weights, strict=True):
        if key[1] != "nominal":
            continue
        total = sum(np.sum(result["hard_histograms_test"][f"{r}/{key[0]}"]) for r in REGIONS)
        assert total == pytest.approx(w.sum(), rel=1e-9)
