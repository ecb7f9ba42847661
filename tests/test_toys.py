"""neos.toys: the dilepton toy model, its systematics and the example analysis description."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neos import toys
from relaxed.exceptions import InvalidArgument

EXAMPLE = Path(toys.__file__).parent / "examples" / "dilepton.toml"
EVENTS = 4000
NOMINAL_OF = {"ttbar_alt": "ttbar", "drell_yan_alt": "drell_yan"}


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, np.ndarray]]:
    return toys.dilepton(events=EVENTS, seed=11)


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def _weight_systematics() -> list[dict[str, Any]]:
    return [s for s in toys.SYSTEMATICS if s["kind"] == "weight"]


def _as_toml(value: Any) -> Any:
    """The value as tomllib returns it: tuples become lists, recursively."""
    if isinstance(value, tuple | list):
        return [_as_toml(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_toml(v) for k, v in value.items()}
    return value


# -- generation ---------------------------------------------------------------------------------
def test_reproducible_for_a_seed_and_different_across_seeds(tables):
    again = toys.dilepton(events=EVENTS, seed=11)
    other = toys.dilepton(events=EVENTS, seed=12)
    for name, table in tables.items():
        assert list(again[name]) == list(table)
        for column, values in table.items():
            np.testing.assert_array_equal(again[name][column], values)
        for feature in ("m_ll", "pt_ll", "met", "dphi_ll"):
            assert not np.array_equal(other[name][feature], table[feature]), (name, feature)


def test_tables_draw_from_independent_streams(tables):
    # the same process in two tables (nominal and alternative) gives different events
    assert not np.array_equal(tables["ttbar"]["m_ll"], tables["ttbar_alt"]["m_ll"])
    assert not np.array_equal(tables["drell_yan"]["pt_ll"], tables["drell_yan_alt"]["pt_ll"])
    # each table has its own stream: its first draws (m_ll) do not depend on how many
    # events the tables before it consumed, as they would with one shared stream
    small = toys.dilepton(events=10, seed=11)
    for name in ("signal", "fakes", "drell_yan_alt"):
        np.testing.assert_array_equal(small[name]["m_ll"], tables[name]["m_ll"][:10])


def test_tables_columns_and_lengths(tables):
    assert toys.FEATURES == ("m_ll", "pt_ll", "met", "n_jets", "dphi_ll")
    assert set(tables) == set(toys.SAMPLES) | set(toys.ALTERNATIVES)
    assert toys.SAMPLES == ("signal", "drell_yan", "ttbar", "diboson", "fakes")
    assert toys.ALTERNATIVES == ("ttbar_alt", "drell_yan_alt")
    for name, table in tables.items():
        nominal = NOMINAL_OF.get(name, name)
        expected = list(toys.FEATURES) + ["weight"]
        for syst in _weight_systematics():
            if nominal in syst["samples"]:
                expected += [syst["up"], syst["down"]]
        assert list(table) == expected, name
        for column, values in table.items():
            assert isinstance(values, np.ndarray) and values.dtype == np.float64, (name, column)
            assert values.shape == (EVENTS,), (name, column)
            assert np.isfinite(values).all(), (name, column)
    assert len(toys.dilepton(events=1, seed=0)["fakes"]["met"]) == 1


def test_weights_are_positive_and_sum_to_the_yields(tables):
    assert toys.YIELDS == {
        "signal": 50.0,
        "drell_yan": 2400.0,
        "ttbar": 900.0,
        "diboson": 250.0,
        "fakes": 150.0,
        "ttbar_alt": 900.0,
        "drell_yan_alt": 2400.0,
    }
    for name, table in tables.items():
        weight = table["weight"]
        assert (weight > 0).all(), name
        assert math.isclose(weight.sum(), toys.YIELDS[name], rel_tol=1e-12), name
        assert weight.std() > 0, name  # per-event corrections, not a constant weight
        for column, values in table.items():
            if column.startswith("weight_"):
                assert (values > 0).all(), (name, column)


def test_physical_properties(tables):
    sig = tables["signal"]
    n = len(sig["m_ll"])
    assert abs(sig["m_ll"].mean() - toys.MASS) < 5.0 * 6.0 / math.sqrt(n)
    assert 5.0 < sig["m_ll"].std() < 7.0  # the 2% resolution
    for name, table in tables.items():
        jets = table["n_jets"]
        assert (jets >= 0).all() and (jets == np.round(jets)).all(), name
        assert ((table["dphi_ll"] >= 0.0) & (table["dphi_ll"] <= np.pi)).all(), name
        assert (table["met"] >= 0.0).all() and (table["pt_ll"] > 0.0).all(), name
        assert (table["m_ll"] >= 120.0).all() or name == "signal", name  # the preselection
    mean = {name: {f: t[f].mean() for f in toys.FEATURES} for name, t in tables.items()}
    # two neutrinos and b-jets in ttbar; no genuine met in Drell-Yan or the signal
    assert mean["ttbar"]["met"] > 3.0 * mean["drell_yan"]["met"]
    assert mean["ttbar"]["met"] > mean["diboson"]["met"] > mean["signal"]["met"]
    assert mean["ttbar"]["n_jets"] > 2.0 > 1.0 > mean["drell_yan"]["n_jets"]
    assert np.mean(tables["ttbar"]["n_jets"] >= 2) > 0.6
    # a resonance decays back to back; leptons of different decays are spread out
    assert mean["signal"]["dphi_ll"] > 2.7 and mean["ttbar"]["dphi_ll"] < 2.0
    # the Drell-Yan mass falls steeply: a power law m^-4.5 has mean 120 * 3.5 / 2.5 = 168 GeV
    assert 160.0 < mean["drell_yan"]["m_ll"] < 176.0
    # pt_ll recoils against the jets
    dy = tables["drell_yan"]
    assert dy["pt_ll"][dy["n_jets"] >= 2].mean() > dy["pt_ll"][dy["n_jets"] == 0].mean() + 20.0
    # the alternative generators: harder ttbar spectra, a harder Drell-Yan mass slope
    assert mean["ttbar_alt"]["pt_ll"] > 1.02 * mean["ttbar"]["pt_ll"]
    assert mean["ttbar_alt"]["met"] > 1.02 * mean["ttbar"]["met"]
    assert mean["drell_yan_alt"]["m_ll"] > mean["drell_yan"]["m_ll"]


def test_yields_in_the_example_channels(tables):
    def channel(t: dict[str, np.ndarray], name: str) -> float:
        m, met = t["m_ll"], t["met"]
        mask = {
            "SR": (m >= 250.0) & (m < 350.0) & (met < 80.0),
            "CR_ttbar": met >= 80.0,
            "CR_dy": (m < 250.0) & (met < 80.0),
        }[name]
        return float(t["weight"][mask].sum())

    assert channel(tables["signal"], "SR") > 45.0
    background = sum(channel(tables[s], "SR") for s in toys.SAMPLES[1:])
    assert 150.0 < background < 450.0  # a search: S / sqrt(B) of a few
    cr_ttbar = {s: channel(tables[s], "CR_ttbar") for s in toys.SAMPLES}
    assert cr_ttbar["ttbar"] > 0.8 * sum(cr_ttbar.values())
    cr_dy = {s: channel(tables[s], "CR_dy") for s in toys.SAMPLES}
    assert cr_dy["drell_yan"] > 0.7 * sum(cr_dy.values())


def test_weight_systematics_vary_per_event_with_the_expected_sign(tables):
    assert _weight_systematics()
    for syst in _weight_systematics():
        assert syst["up"] == f"weight_{syst['name']}_up"
        assert syst["down"] == f"weight_{syst['name']}_down"
        for name, table in tables.items():
            if NOMINAL_OF.get(name, name) not in syst["samples"]:
                assert syst["up"] not in table and syst["down"] not in table
                continue
            w, up, down = table["weight"], table[syst["up"]], table[syst["down"]]
            assert up.sum() > w.sum() > down.sum(), (syst["name"], name)
            assert (up >= w).all() and (down <= w).all(), (syst["name"], name)
            r_up, r_down = up / w, down / w
            assert 0.0 < r_up.mean() - 1.0 < 0.3 and 0.0 < 1.0 - r_down.mean() < 0.3
            assert r_up.std() > 1e-4 and r_down.std() > 1e-4, (syst["name"], name)


@pytest.mark.parametrize(
    ("name", "feature", "sign"),
    [
        ("lepton_id_eff", "m_ll", +1),  # grows with the lepton momentum
        ("trigger_eff", "m_ll", -1),  # largest near the trigger threshold
        ("pileup", "n_jets", +1),
        ("pdf", "m_ll", +1),  # high-x partons
        ("qcd_scale_drell_yan", "pt_ll", +1),
        ("fake_rate_shape", "m_ll", -1),  # soft fakes are the least known
    ],
)
def test_weight_systematics_depend_on_the_event(tables, name, feature, sign):
    syst = next(s for s in toys.SYSTEMATICS if s["name"] == name)
    table = tables[syst["samples"][0] if len(syst["samples"]) == 1 else "drell_yan"]
    relative = table[syst["up"]] / table["weight"] - 1.0
    correlation = np.corrcoef(table[feature], relative)[0, 1]
    assert sign * correlation > 0.5, (name, correlation)


def test_there_are_enough_systematics_of_every_kind():
    kinds = [s["kind"] for s in toys.SYSTEMATICS]
    assert len(kinds) >= 20
    assert set(kinds) == {"shift", "weight", "alternative", "norm"}
    names = [s["name"] for s in toys.SYSTEMATICS]
    assert len(set(names)) == len(names)
    for syst in toys.SYSTEMATICS:
        assert syst["samples"] and set(syst["samples"]) <= set(toys.SAMPLES), syst["name"]
        assert syst["description"], syst["name"]
        if syst["kind"] == "shift":
            moved = {**syst.get("scale", {}), **syst.get("offset", {})}
            assert moved and set(moved) <= set(toys.FEATURES) and min(moved.values()) > 0
            assert "n_jets" not in moved
        elif syst["kind"] == "alternative":
            assert len(syst["samples"]) == 1 and syst["up"]["table"] in toys.ALTERNATIVES
        elif syst["kind"] == "norm":
            assert syst["lo"] < 1.0 < syst["hi"]
    lumi = next(s for s in toys.SYSTEMATICS if s["name"] == "luminosity")
    assert (lumi["hi"], lumi["lo"]) == (1.017, 0.983) and "fakes" not in lumi["samples"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"events": 0}, "events"),
        ({"events": -5}, "events"),
        ({"events": 10.0}, "events"),
        ({"events": True}, "events"),
        ({"events": "100"}, "events"),
        ({"events": None}, "events"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": False}, "seed"),
        ({"seed": None}, "seed"),
    ],
)
def test_bad_arguments_raise_invalid_argument(kwargs, argument):
    with pytest.raises(InvalidArgument, match=rf"^{argument} must be an integer >= [01], got"):
        toys.dilepton(**{"events": 10, **kwargs})


def test_numpy_integers_are_accepted():
    a = toys.dilepton(events=np.int64(5), seed=np.uint8(3))
    b = toys.dilepton(events=5, seed=3)
    np.testing.assert_array_equal(a["diboson"]["met"], b["diboson"]["met"])


# -- the example analysis description -----------------------------------------------------------
def test_example_systematics_are_SYSTEMATICS(example):  # noqa: N802
    expected = [
        _as_toml({k: v for k, v in s.items() if k != "description"}) for s in toys.SYSTEMATICS
    ]
    assert example["systematics"] == expected


def test_example_settings_samples_and_channels(example):
    assert example["name"] == "dilepton"
    assert example["features"] == list(toys.FEATURES)
    assert example["generator"] == {"function": "neos.toys:dilepton", "events": 20000, "seed": 7}
    settings = {
        "steps": 200,
        "learning_rate": 1e-3,
        "seed": 0,
        "hidden": [32, 32],
        "bins": [0.0, 0.25, 0.5, 0.75, 1.0],
        "bandwidth": 0.27,
        "bandwidth_final": 0.01,
        "anneal_steps": 10,
        "loss": "cls",
        "mcstat": True,
        "test_mu": 1.0,
        "test_fraction": 0.5,
    }
    assert {k: example[k] for k in settings} == settings
    samples = example["samples"]
    assert [s["name"] for s in samples] == list(toys.SAMPLES)
    assert [s["kind"] for s in samples] == ["signal"] + ["background"] * 4
    assert all(s["table"] == s["name"] and s["weight"] == "weight" for s in samples)
    assert [c["name"] for c in example["channels"]] == ["SR", "CR_ttbar", "CR_dy"]
    for channel in example["channels"]:
        for cut in channel["cuts"]:
            assert cut["feature"] in toys.FEATURES
            assert "min" in cut or "max" in cut


def test_example_channels_do_not_overlap(example, tables):
    table = tables["ttbar"]
    passes = []
    for channel in example["channels"]:
        mask = np.ones(EVENTS, dtype=bool)
        for cut in channel["cuts"]:
            x = table[cut["feature"]]
            mask &= (x >= cut.get("min", -np.inf)) & (x < cut.get("max", np.inf))
        passes.append(mask)
    assert (np.sum(passes, axis=0) <= 1).all()
    assert all(p.any() for p in passes)


def test_example_columns_exist_in_the_generated_tables(example):
    generated = toys.dilepton(events=50, seed=example["generator"]["seed"])
    tables = {s["name"]: s["table"] for s in example["samples"]}
    for sample in example["samples"]:
        table = generated[sample["table"]]
        assert set(example["features"]) <= set(table) and sample["weight"] in table
    for syst in example["systematics"]:
        for sample in syst.get("samples", list(tables)):
            table = generated[tables[sample]]
            if syst["kind"] == "weight":
                assert syst["up"] in table and syst.get("down", syst["up"]) in table
            elif syst["kind"] == "shift":
                moved = {**syst.get("scale", {}), **syst.get("offset", {})}
                assert set(moved) <= set(example["features"])
            elif syst["kind"] == "alternative":
                alternative = generated[syst["up"]["table"]]
                assert set(example["features"]) <= set(alternative)
                assert syst["up"]["weight"] in alternative
