"""Tests of ``neos.analysis`` (``neos train --analysis FILE``): parsing, event sets, readers,
histograms, the HistFactory model and its pyhf export, training, resuming and the CLI.

A tiny analysis is built once per module (two features, a signal and two backgrounds in
``.npz`` files, one systematic of each kind, two channels); it is trained once
(:func:`trained`) and every training test reuses that run or its compiled step.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from neos import analysis as na
from neos.checkpoint import InvalidCheckpoint
from relaxed.exceptions import InvalidArgument

SAMPLES = ("signal", "bkg_a", "bkg_b")
BACKGROUNDS = ("bkg_a", "bkg_b")
SHIFT_SCALE = 0.05  # x0 -> x0 (1 +- 0.05)
SHIFT_OFFSET = 0.2  # x1 -> x1 +- 0.2
X0_CUT = 0.5  # low: x0 < 0.5; high: x0 >= 0.5 and x1 >= -1.5
X1_MIN_HIGH = -1.5

TINY_TOML = f"""
name = "tiny"
features = ["x0", "x1"]
steps = 2
hidden = [8]
bins = [0.0, 0.5, 0.6, 1.0]
seed = 0
test_fraction = 0.4

[[samples]]
name = "signal"
kind = "signal"
source = "signal.npz"
weight = "weight"

[[samples]]
name = "bkg_a"
kind = "background"
source = "bkg_a.npz"
weight = "weight"
norm_factor = "k_a"

[[samples]]
name = "bkg_b"
kind = "background"
source = "bkg_b.npz"
weight = "weight"

[[systematics]]
name = "scale_sys"
kind = "shift"
scale = {{ x0 = {SHIFT_SCALE} }}
offset = {{ x1 = {SHIFT_OFFSET} }}

[[systematics]]
name = "wsys"
kind = "weight"
up = "w_up"
down = "w_down"
modifier = "normsys"

[[systematics]]
name = "alt_gen"
kind = "alternative"
samples = ["bkg_a"]
up = {{ source = "bkg_a_alt.npz", weight = "weight" }}

[[systematics]]
name = "xsec"
kind = "norm"
hi = 1.1
lo = 0.9
samples = ["bkg_b"]

[[channels]]
name = "low"
cuts = [{{ feature = "x0", max = {X0_CUT} }}]

[[channels]]
name = "high"
cuts = [{{ feature = "x0", min = {X0_CUT} }}, {{ feature = "x1", min = {X1_MIN_HIGH} }}]
"""


def _columns(
    rng: np.random.Generator, n: int, loc: float, spread: float, weight: float
) -> dict[str, np.ndarray]:
    x0 = rng.normal(loc, spread, n)
    x1 = rng.normal(loc, spread, n)
    w = weight * rng.uniform(0.5, 1.5, n)
    return {
        "x0": x0,
        "x1": x1,
        "weight": w,
        "w_up": w * rng.uniform(1.0, 1.2, n),
        "w_down": w * rng.uniform(0.8, 1.0, n),
    }


def _tiny_data() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(20240611)
    return {
        "signal": _columns(rng, 200, 0.8, 1.0, 0.1),
        "bkg_a": _columns(rng, 300, -1.0, 1.0, 1.0),
        "bkg_b": _columns(rng, 300, 0.0, 1.5, 1.0),
        "bkg_a_alt": _columns(rng, 250, -0.8, 1.1, 1.0),
    }


def _channel_masks(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """(channels, events) of the tiny analysis's cuts, written out by hand."""
    low = x0 < X0_CUT
    high = (x0 >= X0_CUT) & (x1 >= X1_MIN_HIGH)
    return np.stack([low, high]).astype(float)


def _rows(raw: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The indices in ``raw`` of the rows of ``x`` (features are continuous: rows are unique)."""
    where = {(a, b): i for i, (a, b) in enumerate(zip(raw["x0"], raw["x1"], strict=True))}
    assert len(where) == len(raw["x0"])
    return np.array([where[(a, b)] for a, b in x])


def _by_key(sets: na.EventSets) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """``{(sample, variation): (features, weights)}`` of an event set."""
    return {
        key: (sets.inputs[k], w)
        for key, k, w in zip(sets.keys, sets.which, sets.weights, strict=True)
    }


@dataclasses.dataclass
class Tiny:
    folder: Path
    toml: Path
    data: dict[str, dict[str, np.ndarray]]
    analysis: na.Analysis


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    folder = tmp_path_factory.mktemp("tiny")
    data = _tiny_data()
    for name, columns in data.items():
        np.savez(folder / f"{name}.npz", **columns)
    toml = folder / "tiny.toml"
    toml.write_text(TINY_TOML)
    return Tiny(folder, toml, data, na.load_analysis(toml))


@pytest.fixture(scope="module")
def sets(tiny: Tiny) -> tuple[na.EventSets, na.EventSets, np.ndarray, np.ndarray]:
    return na.event_sets(tiny.analysis)


# -- parsing ---------------------------------------------------------------------------------
def _doc() -> dict[str, Any]:
    """A valid description (as parsed TOML) to break one place at a time."""
    return {
        "features": ["x0", "x1"],
        "steps": 2,
        "samples": [
            {"name": "signal", "kind": "signal", "source": "s.npz", "weight": "w"},
            {"name": "bkg", "kind": "background", "source": "b.npz", "weight": "w"},
        ],
        "systematics": [
            {"name": "jes", "kind": "shift", "scale": {"x0": 0.1}},
            {"name": "btag", "kind": "weight", "up": "w_up", "modifier": "normsys"},
            {"name": "gen", "kind": "alternative", "samples": ["bkg"], "up": {"source": "a.npz"}},
            {"name": "xs", "kind": "norm", "hi": 1.1, "lo": 0.9, "samples": ["bkg"]},
        ],
        "channels": [
            {"name": "SR", "cuts": [{"feature": "x0", "min": 0.0}]},
            {"name": "CR", "cuts": [{"feature": "x0", "max": 0.0}]},
        ],
    }


def test_the_base_description_parses() -> None:
    analysis = na.parse_analysis(_doc(), origin="a.toml")
    assert analysis.config.steps == 2
    assert analysis.signal.name == "signal"
    assert [s.kind for s in analysis.systematics] == ["shift", "weight", "alternative", "norm"]
    assert analysis.systematics[0].samples == ("signal", "bkg")  # default: every sample
    assert analysis.systematics[0].scale == (("x0", 0.1),)
    assert analysis.systematics[1].down is None
    assert analysis.systematics[3].modifier == "normsys"
    assert analysis.channels[1].cuts == (("x0", None, 0.0),)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


def _duplicate(table: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc[table].append(copy.deepcopy(doc[table][-1]))

    return change


PARSE_ERRORS = {
    "unknown top-level key": (_set(("colour",), "red"), "a.toml: colour: unknown key"),
    "blob-only key": (_set(("nmc",), 10), "a.toml: nmc: applies to the built-in blobs only"),
    "bad sample kind": (_set(("samples", 1, "kind"), "bkg"), "a.toml: samples[1].kind: must be"),
    "two signals": (
        _set(("samples", 1, "kind"), "signal"),
        "a.toml: samples: need exactly one signal and at least one background",
    ),
    "no background": (
        _set(("samples",), [{"name": "signal", "kind": "signal", "source": "s.npz"}]),
        "a.toml: samples: need exactly one signal and at least one background",
    ),
    "systematic of an unknown sample": (
        _set(("systematics", 3, "samples"), ["bkg", "nope"]),
        "a.toml: systematics[3].samples[1]: no such sample",
    ),
    "unknown feature in a cut": (
        _set(("channels", 1, "cuts", 0, "feature"), "x9"),
        "a.toml: channels[1].cuts[0].feature: no such feature",
    ),
    "unknown feature in a shift's scale": (
        _set(("systematics", 0, "scale"), {"x9": 0.1}),
        "a.toml: systematics[0].scale.x9: no such feature",
    ),
    "duplicate sample names": (
        _set(("samples", 1, "name"), "signal"),
        "a.toml: samples: sample names must be unique",
    ),
    "duplicate systematic names": (
        _duplicate("systematics"),
        "a.toml: systematics: systematic names must be unique",
    ),
    "duplicate channel names": (
        _set(("channels", 1, "name"), "SR"),
        "a.toml: channels: channel names must be unique",
    ),
    "table without [generator]": (
        lambda doc: doc["samples"][0].update(table="s", source=None),
        "a.toml: samples[0].table: names a generator table, but there is no [generator]",
    ),
    ".root source without tree": (
        _set(("samples", 1, "source"), "b.root"),
        "a.toml: samples[1].tree: a .root source needs the name of its TTree",
    ),
    "alternative with two samples": (
        _set(("systematics", 2, "samples"), ["signal", "bkg"]),
        "a.toml: systematics[2].samples: an 'alternative' systematic varies exactly one sample",
    ),
    "norm without hi": (
        _delete(("systematics", 3, "hi")),
        "a.toml: systematics[3].hi: must be a finite number, got None",
    ),
    "steps = 0": (
        _set(("steps",), 0),
        "a.toml: config key 'steps': must be a positive integer, got 0",
    ),
    "test_fraction = 1": (
        _set(("test_fraction",), 1),
        "a.toml: test_fraction: must be between 0 and 1 (exclusive)",
    ),
}


@pytest.mark.parametrize("case", list(PARSE_ERRORS))
def test_parse_errors_name_the_place(case: str) -> None:
    change, message = PARSE_ERRORS[case]
    doc = _doc()
    change(doc)
    with pytest.raises(InvalidArgument) as caught:
        na.parse_analysis(doc, origin="a.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_load_analysis_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(InvalidArgument, match="absent.toml: cannot read the analysis"):
        na.load_analysis(path)


def test_load_analysis_malformed_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\nfeatures = [\n')
    with pytest.raises(InvalidArgument, match="bad.toml: cannot read the analysis"):
        na.load_analysis(path)


def test_load_analysis_overrides_and_base_dir(tiny: Tiny) -> None:
    analysis = na.load_analysis(tiny.toml, steps=7, seed=None)
    assert analysis.config.steps == 7
    assert analysis.config.seed == 0  # None does not override
    assert Path(analysis.base_dir) == tiny.folder
    assert analysis.config.hidden == (8,)
    assert analysis.config.animate is False


def test_the_example_parses_and_builds_its_event_sets() -> None:
    import neos

    path = Path(neos.__file__).parent / "examples" / "dilepton.toml"
    analysis = na.load_analysis(path)
    assert len(analysis.systematics) == 25
    train, test, mean, std = na.event_sets(analysis)
    assert train.keys == test.keys
    assert train.which == test.which
    assert mean.shape == std.shape == (len(analysis.features),)
    n_channels = len(analysis.channels)
    for w in train.weights:
        assert w.shape[0] == n_channels and np.all(np.isfinite(w))


# -- event sets ------------------------------------------------------------------------------
def test_event_sets_keys_and_shapes(tiny: Tiny, sets: Any) -> None:
    train, test, _, _ = sets
    expected = []
    for sample in SAMPLES:
        expected.append((sample, "nominal"))
        expected += [(sample, "scale_sys_up"), (sample, "scale_sys_down")]
        expected += [(sample, "wsys_up"), (sample, "wsys_down")]
        if sample == "bkg_a":
            expected.append((sample, "alt_gen_up"))  # no down: mirrored in the model
    assert list(train.keys) == expected == list(test.keys)
    n_test = {s: int(round(len(tiny.data[s]["x0"]) * 0.4)) for s in tiny.data}
    for part, sizes in (
        (test, n_test),
        (train, {s: len(tiny.data[s]["x0"]) - n_test[s] for s in n_test}),
    ):
        for (sample, variation), (x, w) in _by_key(part).items():
            source = "bkg_a_alt" if variation == "alt_gen_up" else sample
            assert x.shape == (sizes[source], 2)
            assert w.shape == (2, sizes[source])


def test_event_sets_split_is_disjoint_and_complete(tiny: Tiny, sets: Any) -> None:
    train, test, _, _ = sets
    for sample, variation, source in [(s, "nominal", s) for s in SAMPLES] + [
        ("bkg_a", "alt_gen_up", "bkg_a_alt")
    ]:
        raw = tiny.data[source]
        a = _rows(raw, _by_key(train)[(sample, variation)][0])
        b = _rows(raw, _by_key(test)[(sample, variation)][0])
        assert len(np.intersect1d(a, b)) == 0
        assert np.array_equal(np.sort(np.concatenate([a, b])), np.arange(len(raw["x0"])))
        # the alternative's events are those of its own file
        np.testing.assert_array_equal(_by_key(train)[(sample, variation)][0][:, 0], raw["x0"][a])


def test_event_set_weights_are_the_scaled_masked_columns(tiny: Tiny, sets: Any) -> None:
    """Weights: the column times n / n_part, times the channel masks written out by hand;
    the weight systematic's from its own columns, the alternative's from its file."""
    train, test, _, _ = sets
    for part in (train, test):
        by_key = _by_key(part)
        for sample in SAMPLES:
            raw = tiny.data[sample]
            x, w = by_key[(sample, "nominal")]
            idx = _rows(raw, x)
            scale = len(raw["x0"]) / len(idx)
            masks = _channel_masks(raw["x0"][idx], raw["x1"][idx])
            assert masks[0].sum() > 0 and masks[1].sum() > 0
            assert np.all(masks.sum(axis=0) <= 1)  # non-overlapping channels
            np.testing.assert_array_equal(w, masks * (raw["weight"][idx] * scale))
            for label, column in (("up", "w_up"), ("down", "w_down")):
                xv, wv = by_key[(sample, f"wsys_{label}")]
                assert xv is x  # the same events, histogrammed with other weights
                np.testing.assert_array_equal(wv, masks * (raw[column][idx] * scale))
        alt = tiny.data["bkg_a_alt"]
        x, w = by_key[("bkg_a", "alt_gen_up")]
        idx = _rows(alt, x)
        expected = _channel_masks(alt["x0"][idx], alt["x1"][idx]) * (
            alt["weight"][idx] * (len(alt["x0"]) / len(idx))
        )
        np.testing.assert_array_equal(w, expected)


def test_event_sets_shift_variation(tiny: Tiny, sets: Any) -> None:
    train, test, _, _ = sets
    for part in (train, test):
        by_key = _by_key(part)
        for sample in SAMPLES:
            x, _ = by_key[(sample, "nominal")]
            idx = _rows(tiny.data[sample], x)
            scale = len(tiny.data[sample]["x0"]) / len(idx)
            weight = tiny.data[sample]["weight"][idx] * scale
            for sign, label in ((1.0, "up"), (-1.0, "down")):
                xs, ws = by_key[(sample, f"scale_sys_{label}")]
                np.testing.assert_allclose(
                    xs[:, 0], x[:, 0] * (1.0 + sign * SHIFT_SCALE), rtol=1e-15
                )
                np.testing.assert_allclose(xs[:, 1], x[:, 1] + sign * SHIFT_OFFSET, rtol=1e-15)
                # events move between channels: the masks are those of the shifted features
                np.testing.assert_array_equal(ws, _channel_masks(xs[:, 0], xs[:, 1]) * weight)
            # some events change channel
            assert not np.array_equal(
                by_key[(sample, "scale_sys_up")][1] > 0, by_key[(sample, "nominal")][1] > 0
            )


def test_each_part_stands_for_the_sample_yield(tiny: Tiny, sets: Any) -> None:
    """Each part's weights are the events' weights divided by the part's fraction
    n_part / n (unbiased: either part's expected yield is the sample's), so the two parts,
    weighted by their fractions, add up to the sample's yield in the channels exactly."""
    train, test, _, _ = sets
    for sample in SAMPLES:
        raw = tiny.data[sample]
        n = len(raw["weight"])
        in_channels = _channel_masks(raw["x0"], raw["x1"]).sum(axis=0) * raw["weight"]
        parts = [_by_key(part)[(sample, "nominal")] for part in (train, test)]
        combined = 0.0
        for x, w in parts:
            idx = _rows(raw, x)
            scale = n / len(idx)
            np.testing.assert_allclose(w.sum(axis=0), in_channels[idx] * scale, rtol=1e-14)
            combined += w.sum() / scale
        assert math.isclose(combined, in_channels.sum(), rel_tol=1e-12)


def test_event_sets_mean_and_std_of_the_nominal_training_features(tiny: Tiny, sets: Any) -> None:
    train, _, mean, std = sets
    by_key = _by_key(train)
    rows = []
    for sample in SAMPLES:
        raw = tiny.data[sample]
        idx = _rows(raw, by_key[(sample, "nominal")][0])
        rows.append(np.stack([raw["x0"][idx], raw["x1"][idx]], axis=1))
    x = np.concatenate(rows)
    assert x.shape == (
        sum(len(tiny.data[s]["x0"]) - round(0.4 * len(tiny.data[s]["x0"])) for s in SAMPLES),
        2,
    )
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=0), rtol=1e-12)


def test_event_sets_depend_on_the_seed(tiny: Tiny, sets: Any) -> None:
    config = dataclasses.replace(tiny.analysis.config, seed=4)
    other = na.event_sets(dataclasses.replace(tiny.analysis, config=config))[0]
    assert other.keys == sets[0].keys
    assert not np.array_equal(other.inputs[0], sets[0].inputs[0])


def _write_variant(
    tiny: Tiny, folder: Path, change: Callable[[dict[str, dict[str, np.ndarray]]], None]
) -> na.Analysis:
    data = copy.deepcopy(tiny.data)
    change(data)
    for name, columns in data.items():
        np.savez(folder / f"{name}.npz", **columns)
    (folder / "tiny.toml").write_text(TINY_TOML)
    return na.load_analysis(folder / "tiny.toml")


def test_event_sets_missing_column(tiny: Tiny, tmp_path: Path) -> None:
    analysis = _write_variant(tiny, tmp_path, lambda d: d["bkg_b"].pop("w_down"))
    with pytest.raises(InvalidArgument, match=r"bkg_b\.npz: no columns \['w_down'\]"):
        na.event_sets(analysis)


def test_event_sets_missing_file(tiny: Tiny, tmp_path: Path) -> None:
    analysis = _write_variant(tiny, tmp_path, lambda d: None)
    (tmp_path / "bkg_a_alt.npz").unlink()
    with pytest.raises(InvalidArgument, match=r"bkg_a_alt\.npz: no such file"):
        na.event_sets(analysis)


def test_event_sets_non_finite_values(tiny: Tiny, tmp_path: Path) -> None:
    def change(data: dict[str, dict[str, np.ndarray]]) -> None:
        data["bkg_a"]["weight"][17] = np.nan

    analysis = _write_variant(tiny, tmp_path, change)
    with pytest.raises(InvalidArgument, match=r"samples\[1\]: column\(s\) 'weight' hold values"):
        na.event_sets(analysis)


def test_event_sets_sample_outside_every_channel(tiny: Tiny, tmp_path: Path) -> None:
    def change(data: dict[str, dict[str, np.ndarray]]) -> None:
        data["bkg_b"]["x0"] = np.abs(data["bkg_b"]["x0"]) + X0_CUT
        data["bkg_b"]["x1"] = -np.abs(data["bkg_b"]["x1"]) - 3.0

    analysis = _write_variant(tiny, tmp_path, change)
    with pytest.raises(InvalidArgument, match=r"samples\[2\]: sample 'bkg_b' has no weighted"):
        na.event_sets(analysis)


# -- readers ---------------------------------------------------------------------------------
def test_npz_parquet_and_root_give_identical_event_sets(tiny: Tiny, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    uproot = pytest.importorskip("uproot")
    for name, columns in tiny.data.items():
        np.savez(tmp_path / f"{name}.npz", **columns)
    signal = tiny.data["signal"]
    pq.write_table(pa.table(dict(signal)), tmp_path / "signal.parquet")
    with uproot.recreate(tmp_path / "signal.root") as file:
        file["events"] = dict(signal)
    results = []
    for source in ('"signal.npz"', '"signal.parquet"', '"signal.root"\ntree = "events"'):
        text = TINY_TOML.replace('"signal.npz"', source, 1)
        path = tmp_path / f"tiny_{len(results)}.toml"
        path.write_text(text)
        analysis = na.load_analysis(path)
        assert analysis.signal.source == source.split("\n")[0].strip('"')
        results.append(na.event_sets(analysis))
    reference = results[0]
    for other in results[1:]:
        for part in (0, 1):
            assert other[part].keys == reference[part].keys
            assert other[part].which == reference[part].which
            for a, b in zip(other[part].inputs, reference[part].inputs, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
            for a, b in zip(other[part].weights, reference[part].weights, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
        assert np.array_equal(other[2], reference[2]) and np.array_equal(other[3], reference[3])


def test_root_reader_names_a_missing_tree_and_branch(tiny: Tiny, tmp_path: Path) -> None:
    uproot = pytest.importorskip("uproot")
    for name, columns in tiny.data.items():
        np.savez(tmp_path / f"{name}.npz", **columns)
    partial = {k: v for k, v in tiny.data["signal"].items() if k != "w_up"}
    with uproot.recreate(tmp_path / "signal.root") as file:
        file["events"] = partial
    for tree, message in (("other", "no TTree 'other'"), ("events", r"no branches \['w_up'\]")):
        text = TINY_TOML.replace('"signal.npz"', f'"signal.root"\ntree = "{tree}"', 1)
        (tmp_path / "t.toml").write_text(text)
        with pytest.raises(InvalidArgument, match=message):
            na.event_sets(na.load_analysis(tmp_path / "t.toml"))


# -- histograms ------------------------------------------------------------------------------
def _outputs(sets: na.EventSets, edges: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Synthetic network outputs, some beyond the outer edges, none within 1e-3 of an edge."""
    rng = np.random.default_rng(seed)
    out = []
    for x in sets.inputs:
        f = rng.uniform(-0.2, 1.2, x.shape[0])
        near = np.min(np.abs(f[:, None] - edges[None, :]), axis=1) < 1e-3
        out.append(np.where(near, f + 2e-3, f))
    return out


def test_hard_histograms_are_weighted_numpy_histograms(tiny: Tiny, sets: Any) -> None:
    _, test, _, _ = sets
    edges = np.asarray(tiny.analysis.config.bins)
    outputs = _outputs(test, edges)
    hists = na.hard_histograms(test, outputs, edges, mcstat=True)
    assert set(hists) == set(test.keys)
    for key, k, w in zip(test.keys, test.which, test.weights, strict=True):
        f = np.clip(outputs[k], edges[0], edges[-1])
        for c in range(2):
            h, _ = np.histogram(f, edges, weights=w[c])
            s2, _ = np.histogram(f, edges, weights=w[c] ** 2)
            np.testing.assert_allclose(hists[key][0][c], h + 1e-13 * w.sum(), rtol=1e-12)
            if key[1] == "nominal":
                np.testing.assert_allclose(hists[key][1][c], s2, rtol=1e-12)
            else:
                assert hists[key][1] is None
    assert na.hard_histograms(test, outputs, edges, mcstat=False)[("signal", "nominal")][1] is None


def test_soft_histograms_at_a_tiny_bandwidth_are_the_hard_ones(tiny: Tiny, sets: Any) -> None:
    train, _, _, _ = sets
    edges = np.asarray(tiny.analysis.config.bins)
    outputs = _outputs(train, edges, seed=1)
    hard = na.hard_histograms(train, outputs, edges, mcstat=True)
    soft = na.soft_histograms(
        train, [jnp.asarray(f) for f in outputs], jnp.asarray(edges), 1e-6, True, True
    )
    assert set(soft) == set(hard) == set(train.keys)
    for key in hard:
        for a, b in zip(soft[key], hard[key], strict=True):
            if b is None:  # sums of squared weights: of the nominal histograms only
                assert a is None and key[1] != "nominal"
                continue
            assert np.asarray(a).shape == (2, len(edges) - 1)
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-9, atol=0)
        assert (hard[key][1] is None) == (key[1] != "nominal")
    no_mcstat = na.soft_histograms(train, outputs, edges, 1e-6, False, True)
    assert no_mcstat[("bkg_b", "nominal")][1] is None


# -- the model -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hard_hists(tiny: Tiny, sets: Any) -> dict[tuple[str, str], tuple[np.ndarray, Any]]:
    _, test, _, _ = sets
    edges = np.asarray(tiny.analysis.config.bins)
    return na.hard_histograms(test, _outputs(test, edges, seed=2), edges, mcstat=True)


def test_analysis_spec_modifiers(tiny: Tiny, hard_hists: Any) -> None:
    spec = na.analysis_spec(tiny.analysis, hard_hists, xp=np)
    assert [c["name"] for c in spec["channels"]] == ["low", "high"]
    expected_modifiers = {
        "signal": [("mu", "normfactor"), ("scale_sys", "histosys"), ("wsys", "normsys")],
        "bkg_a": [
            ("k_a", "normfactor"),
            ("scale_sys", "histosys"),
            ("wsys", "normsys"),
            ("alt_gen", "histosys"),
        ],
        "bkg_b": [("scale_sys", "histosys"), ("wsys", "normsys"), ("xsec", "normsys")],
    }
    for c, channel in enumerate(spec["channels"]):
        stat = (f"staterror_{channel['name']}", "staterror")
        assert [s["name"] for s in channel["samples"]] == list(SAMPLES)
        for sample in channel["samples"]:
            name = sample["name"]
            h = lambda variation: hard_hists[(name, variation)][0][c]  # noqa: B023
            mods = {m["name"]: m for m in sample["modifiers"]}
            kinds = [(m["name"], m["type"]) for m in sample["modifiers"]]
            assert kinds == expected_modifiers[name] + ([stat] if name in BACKGROUNDS else [])
            np.testing.assert_array_equal(sample["data"], h("nominal"))
            for normfactor in ("mu", "k_a"):
                if normfactor in mods:
                    assert mods[normfactor]["data"] is None
            shift = mods["scale_sys"]["data"]
            np.testing.assert_array_equal(shift["hi_data"], h("scale_sys_up"))
            np.testing.assert_array_equal(shift["lo_data"], h("scale_sys_down"))
            weight = mods["wsys"]["data"]
            # kappa = (sum up + d) / (sum nominal + d), d = 1e-3 of the sample's whole yield
            d = na.NORMSYS_DAMPING * sum(
                hard_hists[(name, "nominal")][0][k].sum() for k in range(len(spec["channels"]))
            )
            total = h("nominal").sum() + d
            assert weight["hi"] == pytest.approx((h("wsys_up").sum() + d) / total, 1e-14)
            assert weight["lo"] == pytest.approx((h("wsys_down").sum() + d) / total, 1e-14)
            assert weight["hi"] > 1.0 > weight["lo"]  # the columns were drawn so
            if name == "bkg_a":
                alt = mods["alt_gen"]["data"]
                mirrored = np.maximum(2 * h("nominal") - h("alt_gen_up"), 1e-13 * h("nominal"))
                np.testing.assert_array_equal(alt["hi_data"], h("alt_gen_up"))
                np.testing.assert_allclose(alt["lo_data"], mirrored, rtol=1e-15)
            if name == "bkg_b":
                assert mods["xsec"]["data"] == {"hi": 1.1, "lo": 0.9}
            if name in BACKGROUNDS:
                sigma = np.sqrt(hard_hists[(name, "nominal")][1][c])
                assert np.all(sigma < h("nominal"))  # not capped at the nominal here
                np.testing.assert_allclose(mods[stat[0]]["data"], sigma, rtol=1e-15)


def test_mirrored_down_variation_is_floored(tiny: Tiny) -> None:
    analysis = dataclasses.replace(
        tiny.analysis,
        systematics=tuple(s for s in tiny.analysis.systematics if s.name == "alt_gen"),
        channels=tiny.analysis.channels[:1],
    )
    one = lambda *v: (np.array([list(v)]), np.array([[0.25] * len(v)]))
    hists = {
        ("signal", "nominal"): one(1.0, 1.0, 1.0),
        ("bkg_a", "nominal"): one(10.0, 4.0, 2.0),
        ("bkg_a", "alt_gen_up"): one(12.0, 9.0, 2.0),
        ("bkg_b", "nominal"): one(3.0, 3.0, 3.0),
    }
    spec = na.analysis_spec(analysis, hists, xp=np)
    alt = spec["channels"][0]["samples"][1]["modifiers"][1]
    assert alt["name"] == "alt_gen"
    np.testing.assert_array_equal(alt["data"]["lo_data"], [8.0, 4e-13, 2.0])
    # the staterror is capped at the nominal and is absent from the signal
    hists[("bkg_b", "nominal")] = (np.array([[3.0, 0.1, 3.0]]), np.array([[4.0, 0.25, 0.0]]))
    spec = na.analysis_spec(analysis, hists, xp=np)
    stat = spec["channels"][0]["samples"][2]["modifiers"][-1]
    assert stat["type"] == "staterror"
    np.testing.assert_allclose(stat["data"], [2.0, 0.1, 0.0], rtol=1e-15)
    assert all(m["type"] != "staterror" for m in spec["channels"][0]["samples"][0]["modifiers"])


def test_explicit_alternative_down_and_mirrored_weight_normsys(tiny: Tiny, tmp_path: Path) -> None:
    """An alternative with its own down sample uses it; a weight systematic without a down
    column gets the mirrored down, kappa- = (sum(max(2h - h+, floor)) + d) / (sum(h) + d)."""
    for name, columns in tiny.data.items():
        np.savez(tmp_path / f"{name}.npz", **columns)
    rng = np.random.default_rng(8)
    np.savez(tmp_path / "bkg_a_alt2.npz", **_columns(rng, 150, -1.2, 0.9, 1.0))
    alt_up = 'up = { source = "bkg_a_alt.npz", weight = "weight" }'
    text = TINY_TOML.replace('down = "w_down"\n', "").replace(
        alt_up, alt_up + '\ndown = { source = "bkg_a_alt2.npz", weight = "weight" }'
    )
    assert text.count("bkg_a_alt2") == 1 and "w_down" not in text
    (tmp_path / "t.toml").write_text(text)
    analysis = na.load_analysis(tmp_path / "t.toml")
    _, test, _, _ = na.event_sets(analysis)
    assert ("bkg_a", "alt_gen_down") in test.keys
    assert not any(variation == "wsys_down" for _, variation in test.keys)
    assert _by_key(test)[("bkg_a", "alt_gen_down")][0].shape == (60, 2)
    edges = np.asarray(analysis.config.bins)
    hists = na.hard_histograms(test, _outputs(test, edges, seed=3), edges, mcstat=True)
    spec = na.analysis_spec(analysis, hists, xp=np)
    for c, channel in enumerate(spec["channels"]):
        for sample in channel["samples"]:
            name = sample["name"]
            mods = {m["name"]: m["data"] for m in sample["modifiers"]}
            nominal = hists[(name, "nominal")][0][c]
            up = hists[(name, "wsys_up")][0][c]
            down = np.maximum(2 * nominal - up, 1e-13 * nominal)
            d = na.NORMSYS_DAMPING * hists[(name, "nominal")][0].sum()
            total = nominal.sum() + d
            assert mods["wsys"]["lo"] == pytest.approx((down.sum() + d) / total, rel=1e-14)
            assert mods["wsys"]["hi"] == pytest.approx((up.sum() + d) / total, rel=1e-14)
            if name == "bkg_a":
                low = hists[("bkg_a", "alt_gen_down")][0][c]
                np.testing.assert_array_equal(mods["alt_gen"]["lo_data"], low)


def test_analysis_workspace_loads_in_pyhf_and_agrees_with_relaxed(
    tiny: Tiny, hard_hists: Any
) -> None:
    pyhf = pytest.importorskip("pyhf")
    ws = na.analysis_workspace(tiny.analysis, hard_hists)
    json.dumps(ws, allow_nan=False)  # plain JSON values
    for c, observation in enumerate(ws["observations"]):
        assert observation["name"] == ["low", "high"][c]
        expected = sum(hard_hists[(b, "nominal")][0][c] for b in BACKGROUNDS)
        np.testing.assert_allclose(observation["data"], expected, rtol=1e-15)
    assert ws["measurements"][0]["config"]["poi"] == "mu"
    pyhf.set_backend("numpy")
    pyhf_model = pyhf.Workspace(ws).model()
    model = relaxed.Workspace(ws).model()
    assert set(pyhf_model.config.par_order) == set(model.config.par_order)
    assert set(model.config.par_order) == {
        "mu",
        "k_a",
        "scale_sys",
        "wsys",
        "alt_gen",
        "xsec",
        "staterror_low",
        "staterror_high",
    }
    init = np.asarray(model.config.suggested_init(), dtype=float)
    np.testing.assert_allclose(
        np.asarray(model.expected_data(jnp.asarray(init))),
        pyhf_model.expected_data(np.asarray(pyhf_model.config.suggested_init())),
        rtol=1e-10,
    )
    # away from the suggested init too, each parameter set by name in both
    rng = np.random.default_rng(5)
    pars = np.asarray(pyhf_model.config.suggested_init(), dtype=float)
    ours = init.copy()
    for name in model.config.par_order:
        size = len(np.atleast_1d(init[model.config.par_slice(name)]))
        value = (1.0 if name in ("mu", "k_a") or name.startswith("stat") else 0.0) + rng.uniform(
            -0.3, 0.3, size
        )
        ours[model.config.par_slice(name)] = value
        pars[pyhf_model.config.par_slice(name)] = value
    np.testing.assert_allclose(
        np.asarray(model.expected_data(jnp.asarray(ours))),
        pyhf_model.expected_data(pars),
        rtol=1e-10,
    )


# -- training --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tiny: Tiny, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The one training run of the module (compiles the step, for training and test shapes)."""
    from neos.train import train

    out = tmp_path_factory.mktemp("run")
    result = train(analysis=tiny.analysis, out=out, progress=False)
    return out, result


def test_training_result(tiny: Tiny, trained: Any) -> None:
    _, result = trained
    steps = tiny.analysis.config.steps
    assert result["steps"] == list(range(1, steps + 1))
    assert len(result["loss"]) == len(result["cls_soft"]) == steps
    assert all(math.isfinite(v) for v in result["loss"] + result["cls_soft"])
    assert result["loss"] == result["cls_soft"]  # loss "cls"
    for key in ("cls_hard_test", "cls_hard_train", "cls_soft_train", "cls_soft_test"):
        assert 0.0 < result[key] < 1.0, key
    assert result["cls_hard_test_converged"] and result["cls_hard_train_converged"]
    assert result["finished"] and not result["already_finished"]
    names = {f"{c}/{s}" for c in ("low", "high") for s in SAMPLES}
    assert set(result["hard_histograms_test"]) == names
    assert set(result["hard_mcstat_test"]) == {n for n in names if not n.endswith("signal")}
    assert all(len(h) == 3 for h in result["hard_histograms_test"].values())
    # every nominal test event is in a channel and in a bin
    train_sets, test_sets, _, _ = na.event_sets(tiny.analysis)
    for sample in SAMPLES:
        total = _by_key(test_sets)[(sample, "nominal")][1].sum()
        hist = sum(np.sum(result["hard_histograms_test"][f"{c}/{sample}"]) for c in ("low", "high"))
        assert hist == pytest.approx(total, rel=1e-9)
    assert result["events_per_step"] == sum(x.shape[0] for x in train_sets.inputs)


def test_training_outputs_and_hard_cls(tiny: Tiny, trained: Any) -> None:
    out, result = trained
    assert (out / "checkpoint.npz").is_file()
    assert (out / "summary.png").is_file()
    assert not (out / "training.gif").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["analysis"] == tiny.analysis.description()
    assert metrics["cls_hard_test"] == result["cls_hard_test"]
    assert metrics["loss"] == result["loss"]
    ws = json.loads((out / "workspace.json").read_text())
    for c, channel in enumerate(ws["channels"]):
        for sample in channel["samples"]:
            key = f"{channel['name']}/{sample['name']}"
            np.testing.assert_allclose(
                sample["data"], result["hard_histograms_test"][key], rtol=1e-15
            )
        expected = sum(np.asarray(s["data"]) for s in channel["samples"][1:])
        np.testing.assert_allclose(ws["observations"][c]["data"], expected, rtol=1e-15)
    model = relaxed.Workspace(ws).model()
    cls = float(relaxed.metrics.expected_cls(model, tiny.analysis.config.test_mu))
    assert cls == pytest.approx(result["cls_hard_test"], rel=1e-9)


def test_resume_continues_the_run(tiny: Tiny, trained: Any, tmp_path: Path) -> None:
    from neos.train import train

    out, result = trained
    copy_of = tmp_path / "run"
    shutil.copytree(out, copy_of)
    more = dataclasses.replace(
        tiny.analysis, config=dataclasses.replace(tiny.analysis.config, steps=3)
    )
    resumed = train(analysis=more, out=copy_of, resume=True, progress=False)
    assert resumed["steps"] == [1, 2, 3]
    assert resumed["loss"][:2] == result["loss"]
    assert math.isfinite(resumed["loss"][2])
    assert json.loads((copy_of / "metrics.json").read_text())["steps"] == [1, 2, 3]
    # a finished run asked for fewer steps is left as it is
    again = train(analysis=tiny.analysis, out=copy_of, resume=True, progress=False)
    assert again["already_finished"] and again["steps"] == [1, 2, 3]


def test_resume_with_a_changed_analysis_is_refused(tiny: Tiny, trained: Any) -> None:
    from neos.train import train

    out, _ = trained
    changed_toml = tiny.folder / "changed.toml"
    changed_toml.write_text(TINY_TOML.replace(f"min = {X1_MIN_HIGH}", "min = -2.0"))
    changed = na.load_analysis(changed_toml)
    assert changed.digest() != tiny.analysis.digest()
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.iterdir())}
    with pytest.raises(InvalidCheckpoint, match="analysis"):
        train(analysis=changed, out=out, resume=True, progress=False)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.iterdir())}
    assert after == before


def test_train_refuses_config_and_analysis_together(tiny: Tiny) -> None:
    from neos.train import train

    with pytest.raises(InvalidArgument, match="either in the analysis description or as config"):
        train(tiny.analysis.config, analysis=tiny.analysis, progress=False)


# -- the command line ------------------------------------------------------------------------
def test_cli_train_analysis(
    tiny: Tiny, trained: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from neos.cli import main

    _, result = trained
    out = tmp_path / "cli-run"
    argv = ["train", "--analysis", str(tiny.toml), "--steps", "2", "--out", str(out)]
    code = main([*argv, "--quiet", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["steps"] == 2
    assert summary["out"] == str(out)
    # the same analysis and seed: the run of the fixture, number for number
    assert summary["cls_soft_first"] == result["cls_soft"][0]
    assert summary["cls_soft_last"] == result["cls_soft"][-1]
    assert summary["cls_hard_test"] == result["cls_hard_test"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["analysis"] == tiny.analysis.description()
    assert (out / "workspace.json").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--nmc", "5"], "--nmc applies to the built-in blobs only"),
        (["--method", "softmax"], "--method applies to the built-in blobs only"),
        (["--config", "c.toml"], "--analysis and --config exclude each other"),
    ],
)
def test_cli_analysis_refuses_blob_options(
    tiny: Tiny, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    from neos.cli import main

    out = tmp_path / "never"
    code = main(["train", "--analysis", str(tiny.toml), "--out", str(out), "--quiet", *extra])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err
    assert not out.exists()


def test_cli_analysis_bad_description(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from neos.cli import main

    path = tmp_path / "bad.toml"
    path.write_text(TINY_TOML.replace('kind = "norm"', 'kind = "flat"'))
    code = main(["train", "--analysis", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "systematics[3].kind: must be one of" in capsys.readouterr().err


# -- the bce loss ----------------------------------------------------------------------------
def _numpy_bce(
    tiny: Tiny, train: na.EventSets, mean: np.ndarray, std: np.ndarray, a: float
) -> float:
    """The class-balanced weighted BCE of the nominal training events of the tiny analysis for
    the "network" sigmoid(a z0), z the standardised features, from the raw columns."""
    by_key = _by_key(train)
    terms = {}
    for sample in SAMPLES:
        raw = tiny.data[sample]
        idx = _rows(raw, by_key[(sample, "nominal")][0])
        in_channel = _channel_masks(raw["x0"][idx], raw["x1"][idx]).sum(axis=0)
        event_w = in_channel * raw["weight"][idx] * (len(raw["x0"]) / len(idx))
        z = (raw["x0"][idx] - mean[0]) / std[0]
        f = np.clip(1.0 / (1.0 + np.exp(-a * z)), 1e-7, 1 - 1e-7)
        log_p = np.log(f) if sample == "signal" else np.log1p(-f)
        terms[sample] = (-np.sum(event_w * log_p), np.sum(event_w))
    background = [sum(terms[b][i] for b in BACKGROUNDS) for i in (0, 1)]
    return 0.5 * (terms["signal"][0] / terms["signal"][1] + background[0] / background[1])


def test_bce_loss_is_the_class_balanced_weighted_cross_entropy(tiny: Tiny, sets: Any) -> None:
    train, _, mean, std = sets
    analysis = dataclasses.replace(
        tiny.analysis, config=dataclasses.replace(tiny.analysis.config, loss="bce")
    )

    def apply(params: Any, z: Any) -> Any:  # a fixed "network": a sigmoid of x0
        return jax.nn.sigmoid(params["a"] * z[:, :1])

    compute = jax.jit(na.loss_and_cls(analysis, apply, train.keys, train.which))
    samples = na.step_samples(train, mean, std)
    hpars = {"bins": jnp.asarray(analysis.config.bins), "bandwidth": jnp.asarray(0.27)}
    values = []
    for a in (1.5, -0.5):
        loss, cls = compute(({"a": jnp.float32(a)}, hpars), samples, 1.0)
        # the network runs in float32
        assert float(loss) == pytest.approx(_numpy_bce(tiny, train, mean, std, a), rel=1e-5)
        assert 0.0 < float(cls) < 1.0
        values.append(float(loss))
    assert values[1] > values[0] + 0.1  # the anti-correlated network is worse


def test_a_normsys_of_a_sample_absent_from_a_channel_is_one(tiny: Tiny) -> None:
    """Where a channel holds none of a sample, a few migrating events in the up variation
    would make sum(up) / sum(nominal) ~ 1e8 (the nominal is the yield floor); the damped
    kappa stays near 1 there and is undamped where the sample lives."""
    hists = {
        (s, v): (np.array([[2.0, 3.0], [1e-12, 1e-12]]) * (1.0 if s != "bkg_a" else 10.0), None)
        for s in SAMPLES
        for v in ("nominal", "scale_sys_up", "scale_sys_down", "wsys_up", "wsys_down")
    }
    hists[("bkg_a", "alt_gen_up")] = (np.array([[20.0, 30.0], [1e-12, 1e-12]]), None)
    hists[("signal", "wsys_up")] = (np.array([[2.2, 3.3], [1e-4, 1e-4]]), None)
    analysis = dataclasses.replace(
        tiny.analysis, config=dataclasses.replace(tiny.analysis.config, mcstat=False)
    )
    spec = na.analysis_spec(analysis, hists, xp=np)
    kappa = [
        {m["name"]: m["data"] for m in channel["samples"][0]["modifiers"]}["wsys"]["hi"]
        for channel in spec["channels"]
    ]
    d = na.NORMSYS_DAMPING * 5.0
    assert kappa[0] == pytest.approx((5.5 + d) / (5.0 + d), rel=1e-14)  # ~1.1
    assert kappa[1] == pytest.approx((2e-4 + d) / (2e-12 + d), rel=1e-12)  # 1.04, not 1e8
