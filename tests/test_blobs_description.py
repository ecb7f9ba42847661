"""The built-in blob demo as an analysis description: ``neos/examples/blobs.toml`` and its
generator :func:`neos.toys.blobs`.

The description must be the demo of ``neos train`` without options: the same training
settings (:class:`neos.config.TrainConfig`'s defaults), the same events
(:func:`neos.data.generate_blobs`) weighted to the same yields (the demo's histograms,
:func:`neos.makers.hists_from_nn`, bin for bin) and the same model (the parameters and
modifiers of :func:`neos.makers.histosys_spec`). Training runs on a copy with fewer events
and a small network, as ``tests/test_analysis.py`` does.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import tomllib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from neos import analysis as na
from neos import makers, toys
from neos.config import TrainConfig
from neos.data import generate_blobs
from relaxed.exceptions import InvalidArgument

EXAMPLE = Path(toys.__file__).parent / "examples" / "blobs.toml"
DEMO = TrainConfig()
TABLES = ("signal", "background", "background_up", "background_down")
EVENTS = 300  # events per table of the tests' own draws
SEED = 5


def _yield(table: str) -> float:
    """The demo's expected yield of a table: ``scale * lumi``."""
    return (DEMO.sig_scale if table == "signal" else DEMO.bkg_scale) * DEMO.lumi


def _edited(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the example in ``tmp_path`` with each ``old`` replaced by ``new`` (``old``
    must occur exactly once)."""
    text = EXAMPLE.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "blobs.toml"
    path.write_text(text)
    return path


# -- the description -------------------------------------------------------------------------
def test_the_description_is_the_demo_with_its_default_settings() -> None:
    analysis = na.load_analysis(EXAMPLE)
    assert analysis.name == "blobs"
    assert analysis.features == toys.BLOB_FEATURES == ("x1", "x2")
    # every training setting that applies to an analysis is the demo's default
    for field in dataclasses.fields(TrainConfig):
        if field.name not in na.BLOB_ONLY_KEYS:
            assert getattr(analysis.config, field.name) == getattr(DEMO, field.name), field.name
    assert analysis.config.bins == tuple(np.linspace(0.0, 1.0, 4))
    # the generator: the demo's yields, nmc training and nmc test events per table
    generator = dict(analysis.generator)
    assert generator["function"] == "neos.toys:blobs"
    assert generator["events"] * (1.0 - analysis.test_fraction) == DEMO.nmc
    assert generator["events"] * analysis.test_fraction == DEMO.nmc
    assert (generator["lumi"], generator["sig_scale"], generator["bkg_scale"]) == (
        DEMO.lumi,
        DEMO.sig_scale,
        DEMO.bkg_scale,
    )
    assert [(s.name, s.kind, s.table, s.weight) for s in analysis.samples] == [
        ("signal", "signal", "signal", "weight"),
        ("background", "background", "background", "weight"),
    ]
    (syst,) = analysis.systematics
    assert (syst.name, syst.kind, syst.modifier, syst.samples) == (
        "correlated_bkg_uncertainty",
        "alternative",
        "histosys",
        ("background",),
    )
    assert dict(syst.up) == {"table": "background_up", "weight": "weight"}
    assert dict(syst.down) == {"table": "background_down", "weight": "weight"}
    assert [(c.name, c.cuts) for c in analysis.channels] == [("singlechannel", ())]


def test_the_generator_defaults_are_those_of_the_description() -> None:
    defaults = {name: p.default for name, p in inspect.signature(toys.blobs).parameters.items()}
    generator = tomllib.loads(EXAMPLE.read_text())["generator"]
    assert {k: v for k, v in generator.items() if k != "function"} == defaults


# -- the generator ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, np.ndarray]]:
    return toys.blobs(events=EVENTS, seed=SEED)


def test_tables_columns_and_yields(tables: dict[str, dict[str, np.ndarray]]) -> None:
    assert tuple(tables) == TABLES == toys.BLOB_TABLES
    for name, table in tables.items():
        assert list(table) == ["x1", "x2", "weight"], name
        for column in table.values():
            assert column.shape == (EVENTS,) and column.dtype == np.float64
        np.testing.assert_array_equal(table["weight"], _yield(name) / EVENTS)
        assert table["weight"].sum() == pytest.approx(_yield(name), rel=1e-12)
    assert tables["signal"]["weight"].sum() == pytest.approx(20.0, rel=1e-12)
    assert tables["background"]["weight"].sum() == pytest.approx(100.0, rel=1e-12)


def test_tables_are_the_demo_events(tables: dict[str, dict[str, np.ndarray]]) -> None:
    points = generate_blobs(jax.random.PRNGKey(SEED), blobs=4, NMC=EVENTS)()
    for name, x in zip(TABLES, points, strict=True):
        x = np.asarray(x)
        np.testing.assert_array_equal(tables[name]["x1"], x[:, 0])
        np.testing.assert_array_equal(tables[name]["x2"], x[:, 1])
    again = toys.blobs(events=EVENTS, seed=SEED)
    other = toys.blobs(events=EVENTS, seed=SEED + 1)
    for name in TABLES:
        np.testing.assert_array_equal(again[name]["x1"], tables[name]["x1"])
        assert not np.array_equal(other[name]["x1"], tables[name]["x1"])


def test_blob_centres_and_widths() -> None:
    """The documented blobs, x = mu_k + N(0, I_2), with generate_blobs's centres."""
    n = 20000
    big = toys.blobs(events=n, seed=1)
    defaults = inspect.signature(generate_blobs).parameters
    means = {
        "signal": defaults["sig_mean"].default,
        "background": defaults["b_mean"].default,
        "background_up": defaults["bup_mean"].default,
        "background_down": defaults["bdown_mean"].default,
    }
    assert means["signal"] == (-1.0, 1.0) and means["background_down"] == (-2.5, -1.5)
    for name, mean in means.items():
        x = np.stack([big[name]["x1"], big[name]["x2"]], axis=1)
        np.testing.assert_allclose(x.mean(axis=0), mean, atol=5 / np.sqrt(n))  # 5 sigma
        np.testing.assert_allclose(np.cov(x.T), np.eye(2), atol=0.05)


def test_weighted_histograms_are_the_demo_histograms(
    tables: dict[str, dict[str, np.ndarray]],
) -> None:
    """Histograms of the tables with their weight column, and the demo's histograms of the
    same points with its own weights (LUMI, sig_scale, bkg_scale), agree bin for bin."""

    def predict(params: Any, x: Any) -> Any:
        return jax.nn.sigmoid(x[:, 0] - x[:, 1])

    hpars = {"bins": jnp.asarray(DEMO.bins), "bandwidth": DEMO.bandwidth}
    maker = makers.hists_from_nn(
        generate_blobs(jax.random.PRNGKey(SEED), blobs=4, NMC=EVENTS),
        predict,
        hpars,
        LUMI=DEMO.lumi,
        sig_scale=DEMO.sig_scale,
        bkg_scale=DEMO.bkg_scale,
        reflect_infinities=DEMO.reflect_infinities,
    )
    demo = maker(None)
    for name, table in tables.items():
        # float32, as the network sees them (neos.analysis.predictor)
        x = jnp.asarray(np.stack([table["x1"], table["x2"]], axis=1), jnp.float32)
        weights = jnp.asarray(table["weight"])
        ours = relaxed.hist(
            predict(None, x),
            hpars["bins"],
            hpars["bandwidth"],
            reflect_infinities=DEMO.reflect_infinities,
            weights=weights,
        ) + makers.YIELD_FLOOR * jnp.sum(weights)
        # float32 outputs get float32 kernel masses (relaxed.hist), the demo's float64 ones:
        # the same histograms to float32 precision
        np.testing.assert_allclose(ours, demo[name], rtol=1e-6)
        # the whole yield is kept: scale * lumi (1 + bins * floor)
        floor = makers.YIELD_FLOOR * (len(DEMO.bins) - 1)
        assert float(jnp.sum(demo[name])) == pytest.approx(_yield(name) * (1 + floor), rel=1e-12)


def test_event_sets_train_on_nmc_events_of_the_demo_yields() -> None:
    train, test, _, _ = na.event_sets(na.load_analysis(EXAMPLE))
    for sets in (train, test):
        by_key = {
            key: (sets.inputs[k], w)
            for key, k, w in zip(sets.keys, sets.which, sets.weights, strict=True)
        }
        assert set(by_key) == {
            ("signal", "nominal"),
            ("background", "nominal"),
            ("background", "correlated_bkg_uncertainty_up"),
            ("background", "correlated_bkg_uncertainty_down"),
        }
        for (sample, _), (x, w) in by_key.items():
            assert x.shape == (DEMO.nmc, 2)
            assert w.shape == (1, DEMO.nmc)
            assert w.sum() == pytest.approx(_yield(sample), rel=1e-12)


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("events", 0, "events must be an integer >= 1, got 0"),
        ("events", 2.5, "events must be an integer >= 1, got 2.5"),
        ("seed", -1, "seed must be an integer >= 0, got -1"),
        ("seed", 2**63, "seed must be an integer from 0 to 2**63 - 1"),
        ("lumi", 0.0, "lumi must be a finite number > 0, got 0.0"),
        ("sig_scale", float("nan"), "sig_scale must be a finite number > 0"),
        ("bkg_scale", True, "bkg_scale must be a finite number > 0, got True"),
    ],
)
def test_generator_refuses_bad_arguments(argument: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match="^" + message.replace("*", r"\*")):
        toys.blobs(**{argument: value})


# -- training through the command line ------------------------------------------------------
def test_cli_trains_the_description_and_exports_the_demo_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from neos.cli import main

    path = _edited(
        tmp_path,
        ("events = 1000 ", "events = 200  "),
        ("hidden = [1024, 1024]", "hidden = [8]"),
    )
    out = tmp_path / "run"
    code = main(["train", "--analysis", str(path), "--steps", "3", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == [1, 2, 3]
    assert metrics["config"]["analysis"] == na.load_analysis(path).description()

    ws = json.loads((out / "workspace.json").read_text())
    (channel,) = ws["channels"]
    assert channel["name"] == "singlechannel"
    signal, background = channel["samples"]
    assert signal["name"] == "signal"
    assert signal["modifiers"] == [{"name": "mu", "type": "normfactor", "data": None}]
    assert background["name"] == "background"
    assert [(m["name"], m["type"]) for m in background["modifiers"]] == [
        ("correlated_bkg_uncertainty", "histosys"),
        ("staterror_singlechannel", "staterror"),
    ]
    # the model of the built-in demo: the same channel, samples and modifiers
    demo = makers.histosys_spec(
        {k: [1.0] for k in (*TABLES, "background_mcstat")}, mcstat=DEMO.mcstat
    )
    assert [
        (s["name"], [(m["name"], m["type"]) for m in s["modifiers"]])
        for s in demo["channels"][0]["samples"]
    ] == [(s["name"], [(m["name"], m["type"]) for m in s["modifiers"]]) for s in channel["samples"]]
    # every test event counts in the single channel: the demo's yields
    floor = 1 + makers.YIELD_FLOOR * (len(DEMO.bins) - 1)
    histosys = background["modifiers"][0]["data"]
    assert sum(signal["data"]) == pytest.approx(20.0 * floor, rel=1e-9)
    for data in (background["data"], histosys["hi_data"], histosys["lo_data"]):
        assert len(data) == len(DEMO.bins) - 1
        assert sum(data) == pytest.approx(100.0 * floor, rel=1e-9)
    cls = float(relaxed.metrics.expected_cls(relaxed.Workspace(ws).model(), DEMO.test_mu))
    assert cls == pytest.approx(metrics["cls_hard_test"], rel=1e-9)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'up = { table = "background_up"',
            'up = { table = "background_sideways"',
            "systematics[0].up.table: the generator made no table 'background_sideways'; "
            "it made ['background', 'background_down', 'background_up', 'signal']",
        ),
        (
            'name = "blobs"',
            'name = "blobs"\nnmc = 500',
            "nmc: applies to the built-in blobs only; an analysis gives its own samples",
        ),
        (
            'table = "signal"\nweight = "weight"',
            'table = "signal"\nweight = "w"',
            "samples[0].table 'signal': no columns ['w']; it has ['weight', 'x1', 'x2']",
        ),
        ("events = 1000 ", "events = 0 ", "events must be an integer >= 1, got 0"),
    ],
)
def test_cli_bad_edit_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    from neos.cli import main

    path = _edited(tmp_path, (old, new))
    out = tmp_path / "run"
    code = main(["train", "--analysis", str(path), "--steps", "1", "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert not (out / "checkpoint.npz").exists()
