"""The modifier units (relaxed.histfactory.modifiers): the registry, each unit's parameter
facts against pyhf 0.7.6, their pyhf and HS3 encodings, and the model's declared pytree."""

from __future__ import annotations

import ast
import copy
import dataclasses
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pyhf
import pytest

import relaxed
from relaxed.histfactory import schema
from relaxed.histfactory.config import ModelConfig
from relaxed.histfactory.interpolation import PRECOMPUTED_CODES, histosys_weight
from relaxed.histfactory.model import _LEAVES, Model
from relaxed.histfactory.modifiers import (
    DEFAULT_MODIFIER_SETTINGS,
    INTERPOLATED,
    MODIFIER_TYPES,
    SLOTS,
    UNITS,
)
from relaxed.hs3 import vocabulary
from relaxed.pytree import leaf_fields

#: Every modifier type, a name shared by a histosys and a normsys, a staterror spanning two
#: channels and two samples, bins without yield or uncertainty (fixed by pyhf), and a
#: configured lumi.
SPEC: dict[str, Any] = {
    "channels": [
        {
            "name": "CR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [100.0, 0.0],
                    "modifiers": [
                        {"name": "lumi", "type": "lumi", "data": None},
                        {"name": "norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.85}},
                        {
                            "name": "shape",
                            "type": "histosys",
                            "data": {"hi_data": [105.0, 1.0], "lo_data": [96.0, 0.0]},
                        },
                        {"name": "stat", "type": "staterror", "data": [5.0, 0.0]},
                        {"name": "sf", "type": "shapefactor", "data": None},
                    ],
                },
                {
                    "name": "fake",
                    "data": [20.0, 0.0],
                    "modifiers": [{"name": "stat", "type": "staterror", "data": [2.0, 0.0]}],
                },
            ],
        },
        {
            "name": "SR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [50.0, 60.0],
                    "modifiers": [
                        {"name": "lumi", "type": "lumi", "data": None},
                        {"name": "norm", "type": "normsys", "data": {"hi": 1.2, "lo": 0.9}},
                        {"name": "unc", "type": "shapesys", "data": [5.0, 0.0]},
                        {"name": "stat", "type": "staterror", "data": [3.0, 4.0]},
                        {"name": "sf", "type": "shapefactor", "data": None},
                    ],
                },
                {
                    "name": "sig",
                    "data": [5.0, 8.0],
                    "modifiers": [
                        {"name": "mu", "type": "normfactor", "data": None},
                        {"name": "lumi", "type": "lumi", "data": None},
                        {
                            "name": "shape",
                            "type": "histosys",
                            "data": {"hi_data": [6.0, 9.0], "lo_data": [4.5, 7.0]},
                        },
                        {"name": "shape", "type": "normsys", "data": {"hi": 1.05, "lo": 0.97}},
                    ],
                },
                {
                    "name": "fake",
                    "data": [10.0, 8.0],
                    "modifiers": [{"name": "stat", "type": "staterror", "data": [1.0, 2.0]}],
                },
            ],
        },
    ],
    "parameters": [
        {
            "name": "lumi",
            "auxdata": [1.0],
            "sigmas": [0.017],
            "inits": [1.0],
            "bounds": [[0.915, 1.085]],
        }
    ],
}

#: the parameter set of SPEC made by each unit
SET_OF = {
    "histosys": "shape",
    "lumi": "lumi",
    "normfactor": "mu",
    "normsys": "norm",
    "shapefactor": "sf",
    "shapesys": "unc",
    "staterror": "stat",
}


@pytest.fixture(scope="module")
def models() -> tuple[relaxed.Model, Any]:
    return relaxed.Model(copy.deepcopy(SPEC)), pyhf.Model(copy.deepcopy(SPEC), poi_name="mu")


def test_registry_covers_exactly_the_schema_types() -> None:
    enum = schema.load_schema()["$defs"]["modifier"]["properties"]["type"]["enum"]
    assert MODIFIER_TYPES == tuple(UNITS) == tuple(sorted(enum)) == schema.MODIFIER_TYPES
    assert all(UNITS[name].name == name for name in UNITS)
    assert {u.slot for u in UNITS.values()} == set(SLOTS)
    # every HS3 modifier type of the standard is some unit's spelling
    assert {u.hs3_type for u in UNITS.values()} == set(vocabulary.MODIFIER_TYPES)
    assert vocabulary.SCALAR_MODIFIERS == {"normfactor", "normsys", "histosys"}


def test_registration_order_is_pyhfs(models: tuple[relaxed.Model, Any]) -> None:
    model, pmodel = models
    assert model.config.par_order == pmodel.config.par_order
    assert model.config.par_order == ["shape", "lumi", "mu", "norm", "sf", "unc", "stat"]


@pytest.mark.parametrize("mtype", MODIFIER_TYPES)
def test_unit_parameter_facts_match_pyhf(mtype: str, models: tuple[relaxed.Model, Any]) -> None:
    model, pmodel = models
    unit, name = UNITS[mtype], SET_OF[mtype]
    ours, theirs = model.config.param_set(name), pmodel.config.param_set(name)
    assert mtype in ours.modifier_types
    assert ours.n_parameters == theirs.n_parameters
    assert ours.is_scalar == unit.is_scalar == theirs.is_scalar
    assert ours.suggested_init == pytest.approx(theirs.suggested_init, rel=0, abs=0)
    assert ours.suggested_bounds == [tuple(b) for b in theirs.suggested_bounds]
    assert ours.suggested_fixed == list(theirs.suggested_fixed)
    constrained = getattr(theirs, "pdf_type", None) if theirs.constrained else None
    assert ours.pdf_type == unit.pdf_type == constrained
    if unit.pdf_type is None:
        assert name not in model.config.auxdata_order
        return
    where = model.config.auxdata_order.index(name)
    start = sum(model.config.param_set(n).n_parameters for n in model.config.auxdata_order[:where])
    part = slice(start, start + ours.n_parameters)
    np.testing.assert_allclose(model.config.auxdata[part], theirs.auxdata, rtol=1e-15)
    if unit.pdf_type == "normal":
        np.testing.assert_allclose(model._aux_sigma[part], theirs.width(), rtol=1e-15)
    else:
        np.testing.assert_allclose(model._aux_factor[part], theirs.factors, rtol=1e-15)


def test_unit_numbers(models: tuple[relaxed.Model, Any]) -> None:
    model, _ = models
    cfg = model.config
    # shapesys: tau = (nu / sigma)^2, a bin without uncertainty fixed with tau = 1
    unc = cfg.auxdata_order.index("unc")
    start = sum(cfg.param_set(n).n_parameters for n in cfg.auxdata_order[:unc])
    assert np.asarray(model._aux_factor)[start : start + 2].tolist() == [100.0, 1.0]
    assert np.asarray(model.auxdata)[start : start + 2].tolist() == [100.0, 1.0]
    assert cfg.param_set("unc").suggested_fixed == [False, True]
    # staterror spans CR then SR: sigma_b = sqrt(sum sigma_sb^2) / sum nu_sb, zero -> fixed
    st = cfg.auxdata_order.index("stat")
    start = sum(cfg.param_set(n).n_parameters for n in cfg.auxdata_order[:st])
    sigma = np.asarray(model._aux_sigma)[start : start + 4]
    expected = [
        np.hypot(5.0, 2.0) / 120.0,
        1.0,
        np.hypot(3.0, 1.0) / 60.0,
        np.hypot(4.0, 2.0) / 68.0,
    ]
    np.testing.assert_allclose(sigma, expected, rtol=1e-15)
    assert cfg.param_set("stat").suggested_fixed == [False, True, False, False]


def test_slots_feed_the_model_arrays(models: tuple[relaxed.Model, Any]) -> None:
    model, _ = models
    layout = model._layout
    factor = set(np.unique(layout.factor_index).tolist()) - {layout.npars}
    used = (np.asarray(model._normsys_log_hi) != 0) | (np.asarray(model._normsys_log_lo) != 0)
    normsys = set(layout.normsys_index[used].tolist())  # unused entries: index 0, factor 1
    histosys = set(layout.histosys_index.tolist())
    for p in layout.paramsets:
        indices = set(range(layout.slices[p.name].start, layout.slices[p.name].stop))
        slots = {UNITS[t].slot for t in p.modifier_types}
        assert (indices <= factor) == ("factor" in slots), p.name
        assert (indices <= histosys) == ("histosys" in slots), p.name
        assert (indices <= normsys) == ("normsys" in slots), p.name
    assert model._histosys_up.shape == (1, 3, 4)  # one histosys set, 3 samples, 4 bins
    assert model._normsys_log_hi.shape[1:] == (3, 2)  # per (sample, channel)


def test_pyhf_encoding_round_trip() -> None:
    channels = []
    for channel in SPEC["channels"]:
        samples = []
        for sample in channel["samples"]:
            mods = []
            for mod in sample["modifiers"]:
                unit = UNITS[mod["type"]]
                where = f"{mod['type']} on {sample['name']}"
                unit.check(mod["data"], "here", len(sample["data"]), where)
                mods.append(unit.pyhf_entry(mod["name"], copy.deepcopy(mod["data"])))
            samples.append({**sample, "modifiers": mods})
        channels.append({"name": channel["name"], "samples": samples})
    assert channels == SPEC["channels"]


def test_hs3_encoding_round_trip() -> None:
    for channel in SPEC["channels"]:
        for sample in channel["samples"]:
            hs3_sample: dict[str, Any] = {"data": {"contents": sample["data"]}}
            for mod in sample["modifiers"]:
                unit = UNITS[mod["type"]]
                params = [mod["name"]] if unit.is_scalar else [f"{mod['name']}_{i}" for i in (0, 1)]
                code = unit.interpolation.pyhf_default if unit.interpolation else None
                name = vocabulary.hs3_interpolation(mod["type"], code) if code else None
                hs3 = unit.to_hs3(mod["name"], mod["data"], params, name)
                assert hs3["type"] == unit.hs3_type
                assert hs3.get("constraint") == unit.hs3_constraint
                assert vocabulary.modifier_parameters(hs3, 2, channel["name"]) == tuple(params)
                if unit.interpolation is not None:
                    assert vocabulary.pyhf_code(mod["type"], hs3["interpolation"]) == code
                if unit.hs3_sample_field is not None:
                    hs3_sample["data"][unit.hs3_sample_field] = list(mod["data"])
                assert unit.from_hs3(hs3, hs3_sample) == mod["data"]


def test_hs3_round_trip_of_the_spec() -> None:
    spec = copy.deepcopy(SPEC)
    workspace = {
        "channels": spec["channels"],
        "observations": [{"name": "CR", "data": [98.0, 1.0]}, {"name": "SR", "data": [56.0, 70.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": spec["parameters"]}}],
        "version": "1.0.0",
    }
    doc = relaxed.hs3.from_pyhf(workspace)
    mods = {
        m["name"]: m for d in doc["distributions"][:2] for s in d["samples"] for m in s["modifiers"]
    }
    assert mods["lumi"]["constraint_name"] == UNITS["lumi"].hs3_constraint_name
    assert mods["unc"]["data"] == {"vals": [5.0, 0.0]}
    back = relaxed.hs3.to_pyhf(relaxed.hs3.load(doc))
    original, again = relaxed.Workspace(workspace), relaxed.Workspace(back)
    m1, m2 = original.model(), again.model()
    assert m1.config.par_order == m2.config.par_order
    pars = np.asarray(m1.config.suggested_init()) * 1.01
    np.testing.assert_array_equal(
        m1.logpdf(pars, original.data(m1)), m2.logpdf(pars, again.data(m2))
    )


@pytest.mark.parametrize("mtype", [t for t in MODIFIER_TYPES if UNITS[t].has_neutral])
def test_neutral_forms_change_no_rate(mtype: str) -> None:
    spec = copy.deepcopy(SPEC)
    sample = spec["channels"][1]["samples"][0]
    neutral = UNITS[mtype].pyhf_entry("extra", UNITS[mtype].neutral(sample["data"]))
    with_neutral = copy.deepcopy(spec)
    with_neutral["channels"][1]["samples"][0]["modifiers"].append(neutral)
    m1, m2 = relaxed.Model(spec), relaxed.Model(with_neutral)
    pars1 = np.linspace(0.9, 1.1, m1.config.npars)
    before = m1.expected_actualdata(pars1)
    for alpha in (-1.7, 0.4, 1.3):  # both sides of the nominal, inside and outside |alpha| < 1
        pars2 = np.insert(pars1, m2.config.par_slice("extra").start, alpha)
        np.testing.assert_allclose(m2.expected_actualdata(pars2), before, rtol=1e-15)


def test_interpolation_facts() -> None:
    assert set(INTERPOLATED) == {t for t, u in UNITS.items() if u.interpolation is not None}
    spec = copy.deepcopy(SPEC)
    assert DEFAULT_MODIFIER_SETTINGS == pyhf.Model(spec, poi_name="mu").config.modifier_settings
    assert set(UNITS["normsys"].interpolation.codes) == set(PRECOMPUTED_CODES)
    alpha = np.asarray([-1.5, 0.5])
    for code in UNITS["histosys"].interpolation.codes:
        assert np.asarray(histosys_weight(alpha, code)).shape == (2,)
    # the applier defaults when settings omit a type, as pyhf
    model = relaxed.Model(spec, modifier_settings={"normsys": {"interpcode": "code4"}})
    assert model.config.modifier_settings["histosys"] == {"interpcode": "code0"}


def test_model_declares_its_leaves_and_static_layout(models: tuple[relaxed.Model, Any]) -> None:
    model, _ = models
    fields = {f.name: f for f in dataclasses.fields(Model)}
    assert fields["_layout"].metadata["static"] is True
    assert leaf_fields(Model) == tuple(f"_{name}" for name in _LEAVES)
    paths, treedef = jax.tree_util.tree_flatten_with_path(model)
    assert [p[0][0].name for p in paths] == list(leaf_fields(Model))
    assert treedef.num_leaves == len(_LEAVES) == 9
    with pytest.raises(dataclasses.FrozenInstanceError):
        model._nominal = model._nominal  # type: ignore[misc]
    rebuilt = jax.tree_util.tree_unflatten(treedef, [leaf for _, leaf in paths])
    pars = np.asarray(model.config.suggested_init())
    data = model.expected_data(pars)
    np.testing.assert_array_equal(rebuilt.logpdf(pars, data), model.logpdf(pars, data))


def test_config_does_not_hold_the_model(models: tuple[relaxed.Model, Any]) -> None:
    model, _ = models
    config = model.config
    assert not any(isinstance(v, Model) for v in vars(config).values())
    standalone = ModelConfig(model._layout, model.auxdata)
    assert standalone.par_names == config.par_names
    np.testing.assert_array_equal(standalone.auxdata, config.auxdata)


def test_no_import_cycle_between_the_model_modules() -> None:
    root = Path(relaxed.__file__).parent / "histfactory"
    names = ["builder", "config", "model", "summary", "modifiers", "slots"]
    graph: dict[str, set[str]] = {}
    for name in names:
        files = (
            sorted((root / name).glob("*.py")) if (root / name).is_dir() else [root / f"{name}.py"]
        )
        deps: set[str] = set()
        for path in files:
            for node in ast.walk(
                ast.parse(path.read_text())
            ):  # imports anywhere, TYPE_CHECKING too
                if isinstance(node, ast.ImportFrom) and node.module:
                    parts = node.module.split(".")
                    if parts[:2] == ["relaxed", "histfactory"] and len(parts) > 2:
                        deps.add(parts[2])
        graph[name] = (deps & set(names)) - {name}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    assert not [n for n in names if reaches(n, n, set())], graph
    assert graph["config"] == {"modifiers"} and graph["summary"] == {"config"}
