"""Property tests of input validation on random workspaces (``random_workspaces.workspaces``).

Valid workspaces load, build and evaluate without raising; every random corruption of one
(a missing required key, a value of the wrong type, a bad observation, mismatched bin counts,
an unknown modifier type or POI, duplicate names, histosys data of the wrong length,
non-finite yields or modifier data) raises a :class:`relaxed.exceptions.RelaxedError`
subclass, never a ``KeyError``, ``TypeError``, ``IndexError``, a jsonschema or a JAX error.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from random_workspaces import workspaces

import relaxed
from relaxed.exceptions import RelaxedError

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _evaluate(spec: dict[str, Any]) -> Any:
    """Load, build the model and the data, evaluate the log-likelihood at the suggested
    parameters."""
    ws = relaxed.Workspace(spec)
    model = ws.model()
    data = ws.data(model)
    return model.logpdf(model.config.suggested_init(), data)


@SETTINGS
@given(spec=workspaces())
def test_valid_workspaces_never_raise(spec):
    logpdf = _evaluate(copy.deepcopy(spec))
    assert logpdf.shape == (1,) and np.isfinite(np.asarray(logpdf)).all()


# -- corruptions: each mutates a valid workspace in place and returns a description ----------
Corruption = Callable[[st.DrawFn, dict[str, Any]], str]


def _pick(draw: st.DrawFn, items: list[Any]) -> Any:
    return items[draw(st.integers(0, len(items) - 1))]


def _samples(spec: dict[str, Any]) -> list[tuple[int, int, dict[str, Any]]]:
    return [
        (c, s, sample)
        for c, channel in enumerate(spec["channels"])
        for s, sample in enumerate(channel["samples"])
    ]


def _modifiers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"channels[{c}].samples[{s}].modifiers[{m}]", modifier)
        for c, s, sample in _samples(spec)
        for m, modifier in enumerate(sample["modifiers"])
    ]


def _required_places(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(where, the mapping, a required key) for every required key of the schema."""
    places = [("workspace", spec, key) for key in ("channels", "observations", "measurements")]
    places.append(("workspace", spec, "version"))
    for c, channel in enumerate(spec["channels"]):
        places += [(f"channels[{c}]", channel, key) for key in ("name", "samples")]
    for c, s, sample in _samples(spec):
        places += [
            (f"channels[{c}].samples[{s}]", sample, k) for k in ("name", "data", "modifiers")
        ]
    for where, modifier in _modifiers(spec):
        places += [(where, modifier, key) for key in ("name", "type", "data")]
        if modifier["type"] in ("histosys", "normsys"):
            keys = ("hi_data", "lo_data") if modifier["type"] == "histosys" else ("hi", "lo")
            places += [(f"{where}.data", modifier["data"], key) for key in keys]
    for o, observation in enumerate(spec["observations"]):
        places += [(f"observations[{o}]", observation, key) for key in ("name", "data")]
    for m, measurement in enumerate(spec["measurements"]):
        places += [(f"measurements[{m}]", measurement, key) for key in ("name", "config")]
        config = measurement["config"]
        places += [(f"measurements[{m}].config", config, k) for k in ("poi", "parameters")]
    return places


def drop_required_key(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    where, mapping, key = _pick(draw, _required_places(spec))
    del mapping[key]
    return f"drop {where}.{key}"


WRONG_TYPES = ["x", 3, None, {"a": 1}, [[1.0]], True, -1.5]


def wrong_type(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    where, mapping, key = _pick(draw, _required_places(spec))
    value = mapping[key]
    candidates = [
        v
        for v in WRONG_TYPES
        if type(v) is not type(value) and not (isinstance(value, float) and type(v) is int)
    ]
    bad = copy.deepcopy(_pick(draw, candidates))
    if key == "data" and isinstance(value, list) and isinstance(bad, int | float):
        bad = [bad]  # a number list of the wrong length is another corruption; keep a type error
        if len(value) == 1:
            bad = ["x"]
    mapping[key] = bad
    return f"{where}.{key} = {bad!r}"


def bad_observation(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    o = draw(st.integers(0, len(spec["observations"]) - 1))
    data = spec["observations"][o]["data"]
    b = draw(st.integers(0, len(data) - 1))
    data[b] = draw(st.sampled_from([-1.0, -1e-9, -50.0, float("nan"), float("inf"), -float("inf")]))
    return f"observations[{o}].data[{b}] = {data[b]}"


def mismatched_bins(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    kind = draw(st.sampled_from(["sample", "observation", "shapesys or staterror"]))
    if kind == "observation":
        o = draw(st.integers(0, len(spec["observations"]) - 1))
        spec["observations"][o]["data"].append(1.0)
        return f"observations[{o}].data one bin too long"
    targets: list[tuple[str, list[float]]] = []
    if kind == "shapesys or staterror":
        targets = [
            (f"{where}.data", m["data"])
            for where, m in _modifiers(spec)
            if m["type"] in ("shapesys", "staterror")
        ]
    if not targets:
        targets = [(f"channels[{c}].samples[{s}].data", x["data"]) for c, s, x in _samples(spec)]
    where, data = _pick(draw, targets)
    if len(data) > 1 and draw(st.booleans()):
        data.pop()
        return f"{where} one bin too short"
    data.append(data[-1])
    return f"{where} one bin too long"


def unknown_modifier_type(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    where, modifier = _pick(draw, _modifiers(spec))
    modifier["type"] = draw(st.sampled_from(["shapesyss", "normsys2", "NormFactor", "gamma"]))
    return f"{where}.type = {modifier['type']!r}"


def unknown_poi(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    config = spec["measurements"][0]["config"]
    config["poi"] = draw(st.sampled_from(["xsec", "MU", "mu ", "lumi_"]))  # "" is no POI (pyhf)
    return f"measurements[0].config.poi = {config['poi']!r}"


def duplicate_name(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    kind = draw(st.sampled_from(["channel", "sample", "measurement", "observation"]))
    if kind == "channel":
        c = draw(st.integers(0, len(spec["channels"]) - 1))
        spec["channels"].append(copy.deepcopy(spec["channels"][c]))
        return f"channel '{spec['channels'][c]['name']}' twice"
    if kind == "sample":
        c, s, sample = _pick(draw, _samples(spec))
        spec["channels"][c]["samples"].append(copy.deepcopy(sample))
        return f"sample '{sample['name']}' twice in channels[{c}]"
    key = f"{kind}s"
    spec[key].append(copy.deepcopy(spec[key][0]))
    return f"{kind} '{spec[key][0]['name']}' twice"


def histosys_wrong_length(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    found = [(w, m) for w, m in _modifiers(spec) if m["type"] == "histosys"]
    if not found:
        c, s, sample = _pick(draw, _samples(spec))
        modifier = {
            "name": "hs_new",
            "type": "histosys",
            "data": {"hi_data": list(sample["data"]), "lo_data": list(sample["data"])},
        }
        sample["modifiers"].append(modifier)
        found = [(f"channels[{c}].samples[{s}].modifiers[-1]", modifier)]
    where, modifier = _pick(draw, found)
    key = draw(st.sampled_from(["hi_data", "lo_data"]))
    data = modifier["data"][key]
    if len(data) > 1 and draw(st.booleans()):
        data.pop()
    else:
        data.append(1.0)
    return f"{where}.data.{key} has {len(data)} bins"


def non_finite_number(draw: st.DrawFn, spec: dict[str, Any]) -> str:
    value = draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
    places: list[tuple[str, Any, Any]] = []
    for c, s, sample in _samples(spec):
        places.append((f"channels[{c}].samples[{s}].data", sample["data"], 0))
    for where, m in _modifiers(spec):
        if m["type"] in ("shapesys", "staterror"):
            places.append((f"{where}.data", m["data"], 0))
        elif m["type"] == "normsys":
            places.append((f"{where}.data", m["data"], draw(st.sampled_from(["hi", "lo"]))))
        elif m["type"] == "histosys":
            places.append((f"{where}.data.hi_data", m["data"]["hi_data"], 0))
    where, container, key = _pick(draw, places)
    container[key] = value
    return f"{where}[{key!r}] = {value}"


CORRUPTIONS: dict[str, Corruption] = {
    f.__name__: f
    for f in (
        drop_required_key,
        wrong_type,
        bad_observation,
        mismatched_bins,
        unknown_modifier_type,
        unknown_poi,
        duplicate_name,
        histosys_wrong_length,
        non_finite_number,
    )
}


@st.composite
def corrupted(draw: st.DrawFn, kind: str) -> tuple[str, dict[str, Any]]:
    spec = copy.deepcopy(draw(workspaces()))
    return CORRUPTIONS[kind](draw, spec), spec


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupted_workspaces_raise_relaxed_errors(kind):
    @SETTINGS
    @given(case=corrupted(kind))
    def check(case: tuple[str, dict[str, Any]]) -> None:
        description, spec = case
        note(description)
        with pytest.raises(RelaxedError):
            _evaluate(spec)

    check()
