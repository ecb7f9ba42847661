"""Per-modifier interpolation codes (``modifier_settings[type]["per_modifier"]``): the engine
against pyhf 0.7.6 with uniform codes, the compiled program of models without overrides,
errors, and HS3 documents whose modifiers of one type use different interpolations."""

from __future__ import annotations

import copy
from typing import Any

import jax
import numpy as np
import pyhf
import pytest

import relaxed
from relaxed.exceptions import InvalidModifier
from relaxed.hs3 import HS3NotSupported, from_pyhf, load, pyhf_modifier_settings, to_pyhf

pyhf.set_backend("numpy")

#: Two channels with disjoint parameters (bin counts differ, so per-bin masks are exercised).
SPEC: dict[str, Any] = {
    "channels": [
        {
            "name": "A",
            "samples": [
                {
                    "name": "bkg",
                    "data": [50.0, 60.0],
                    "modifiers": [
                        {"name": "nA", "type": "normsys", "data": {"hi": 1.1, "lo": 0.85}},
                        {
                            "name": "hA",
                            "type": "histosys",
                            "data": {"hi_data": [53.0, 64.0], "lo_data": [48.0, 57.0]},
                        },
                        {"name": "statA", "type": "staterror", "data": [2.0, 3.0]},
                    ],
                },
                {
                    "name": "sig",
                    "data": [5.0, 6.0],
                    "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                },
            ],
        },
        {
            "name": "B",
            "samples": [
                {
                    "name": "bkg",
                    "data": [30.0, 20.0, 10.0],
                    "modifiers": [
                        {"name": "nB", "type": "normsys", "data": {"hi": 1.2, "lo": 0.9}},
                        {
                            "name": "hB",
                            "type": "histosys",
                            "data": {"hi_data": [33.0, 21.0, 12.0], "lo_data": [28.0, 19.0, 9.0]},
                        },
                        {"name": "uB", "type": "shapesys", "data": [2.0, 1.0, 1.0]},
                    ],
                }
            ],
        },
    ]
}
OBSERVED = {"A": [58.0, 63.0], "B": [31.0, 22.0, 9.0]}
CODES_A = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}
CODES_B = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
#: Type-wide codes of channel B, channel A's modifiers overridden to CODES_A.
MIXED = {
    "normsys": {"interpcode": "code4", "per_modifier": {"A/bkg/nA": "code1"}},
    "histosys": {"interpcode": "code4p", "per_modifier": {"A/bkg/hA": "code0"}},
}


def _points(names: list[str], sizes: dict[str, int], n: int, seed: int) -> list[dict]:
    """Parameter values by name: alphas on both sides of +-1, factors near 1."""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        point = {}
        for name in names:
            if name.startswith(("n", "h")):  # mostly inside |alpha| < 1, where codes differ
                point[name] = rng.uniform(-1.6, 1.6, sizes[name])
            else:
                point[name] = rng.uniform(0.7, 1.3, sizes[name])
        points.append(point)
    return points


def _vector(config: Any, point: dict[str, np.ndarray]) -> np.ndarray:
    pars = np.zeros(config.npars)
    for name in config.par_order:
        pars[config.par_slice(name)] = point[name]
    return pars


def _pyhf_channel_sum(point: dict[str, np.ndarray]) -> float:
    """Sum of the logpdfs of pyhf's one-channel models, each with its uniform codes."""
    total = 0.0
    for channel, codes in zip(SPEC["channels"], (CODES_A, CODES_B), strict=True):
        poi = "mu" if channel["name"] == "A" else None
        model = pyhf.Model({"channels": [channel]}, poi_name=poi, modifier_settings=codes)
        data = OBSERVED[channel["name"]] + model.config.auxdata
        total += float(model.logpdf(_vector(model.config, point), data)[0])
    return total


def _mixed_model() -> relaxed.Model:
    return relaxed.Model(copy.deepcopy(SPEC), poi_name="mu", modifier_settings=MIXED)


def _data(model: relaxed.Model) -> np.ndarray:
    return np.concatenate([OBSERVED["A"], OBSERVED["B"], np.asarray(model.config.auxdata)])


def test_mixed_codes_equal_pyhf_per_channel_sum() -> None:
    model = _mixed_model()
    sizes = {n: model.config.param_set(n).n_parameters for n in model.config.par_order}
    data = _data(model)
    values = []
    for point in _points(model.config.par_order, sizes, 6, seed=1):
        ours = float(model.logpdf(_vector(model.config, point), data)[0])
        theirs = _pyhf_channel_sum(point)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
        values.append(ours)
    assert len(set(values)) == 6
    # a batch of parameter vectors (vmap) gives the same numbers
    batch = np.stack(
        [_vector(model.config, p) for p in _points(model.config.par_order, sizes, 6, 1)]
    )
    np.testing.assert_allclose(model.logpdf(batch, data), values, rtol=1e-14)
    # the overrides matter: the type-wide codes alone give another likelihood (inside
    # |alpha| < 1; outside, code1 = code4 and code0 = code4p)
    uniform = relaxed.Model(copy.deepcopy(SPEC), modifier_settings=CODES_B)
    point = _points(model.config.par_order, sizes, 1, seed=2)[0]
    point.update(nA=np.array([0.4]), hA=np.array([-0.6]))
    pars = _vector(model.config, point)
    assert abs(float(uniform.logpdf(pars, data)[0]) - float(model.logpdf(pars, data)[0])) > 1e-3


def test_mixed_codes_gradient_matches_finite_differences() -> None:
    model = _mixed_model()
    sizes = {n: model.config.param_set(n).n_parameters for n in model.config.par_order}
    data = _data(model)
    # away from the kinks of code0/code1 at alpha = 0 and of the outer branches at |alpha| = 1
    pars = _vector(model.config, _points(model.config.par_order, sizes, 1, seed=3)[0])
    for name in ("nA", "hA", "nB", "hB"):
        pars[model.config.par_slice(name)] = {"nA": 0.6, "hA": -1.4, "nB": -0.3, "hB": 1.7}[name]

    def f(p: Any) -> Any:
        return model.logpdf(p, data)[0]

    grad = np.asarray(jax.grad(f)(pars))
    step = 1e-6
    numeric = np.array(
        [
            (float(f(pars + step * e)) - float(f(pars - step * e))) / (2 * step)
            for e in np.eye(len(pars))
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_one_modifier_name_on_two_samples_with_different_codes() -> None:
    """normsys 'n' and histosys 'h' shared by two samples of a channel, each sample with its
    own codes: every sample's yields are pyhf's with that sample's codes."""
    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": sample,
                        "data": nominal,
                        "modifiers": [
                            {"name": "n", "type": "normsys", "data": {"hi": hi, "lo": lo}},
                            {
                                "name": "h",
                                "type": "histosys",
                                "data": {
                                    "hi_data": [v * up for v in nominal],
                                    "lo_data": [v * dn for v in nominal],
                                },
                            },
                            {"name": "mu", "type": "normfactor", "data": None},
                        ],
                    }
                    for sample, nominal, hi, lo, up, dn in (
                        ("b1", [20.0, 10.0], 1.3, 0.8, 1.05, 0.9),
                        ("b2", [15.0, 25.0], 1.1, 0.95, 1.2, 0.97),
                    )
                ],
            }
        ]
    }
    settings = {
        "normsys": {"interpcode": "code4", "per_modifier": {"SR/b1/n": "code1"}},
        "histosys": {"interpcode": "code4p", "per_modifier": {"SR/b2/h": "code0"}},
    }
    ours = relaxed.Model(spec, modifier_settings=settings)
    b1 = pyhf.Model(
        spec,
        modifier_settings={"normsys": {"interpcode": "code1"}, "histosys": CODES_B["histosys"]},
    )
    b2 = pyhf.Model(
        spec,
        modifier_settings={"normsys": CODES_B["normsys"], "histosys": {"interpcode": "code0"}},
    )
    assert ours.config.samples == b1.config.samples == ["b1", "b2"]
    assert ours.config.par_order == b1.config.par_order
    for alpha_n, alpha_h in [(-1.7, 0.4), (0.5, -0.3), (2.1, -1.6)]:
        pars = np.zeros(ours.config.npars)
        pars[ours.config.par_slice("mu")] = 1.3
        pars[ours.config.par_slice("n")] = alpha_n
        pars[ours.config.par_slice("h")] = alpha_h
        by_sample = np.asarray(ours.expected_actualdata(pars, return_by_sample=True))
        want_b1 = b1.main_model.expected_data(pars, return_by_sample=True)[0]
        want_b2 = b2.main_model.expected_data(pars, return_by_sample=True)[1]
        np.testing.assert_allclose(by_sample[0], want_b1, rtol=1e-13)
        np.testing.assert_allclose(by_sample[1], want_b2, rtol=1e-13)
        uniform = np.asarray(
            relaxed.Model(spec, modifier_settings=CODES_B).expected_actualdata(
                pars, return_by_sample=True
            )
        )
        if abs(alpha_n) < 1:  # the codes differ inside |alpha| < 1 only
            assert not np.allclose(uniform[0], by_sample[0], rtol=1e-6)
        if abs(alpha_h) < 1:
            assert not np.allclose(uniform[1], by_sample[1], rtol=1e-6)
    assert ours.config.modifier_settings == settings


def _jaxpr(model: relaxed.Model) -> str:
    from relaxed.histfactory.model import _logpdf

    data = _data(model)
    pars = np.asarray(model.config.suggested_init())
    value = jax.make_jaxpr(lambda p: _logpdf(model, p, data))(pars)
    grad = jax.make_jaxpr(jax.grad(lambda p: model.logpdf(p, data)[0]))(pars)
    return f"{value}\n{grad}"


def test_models_without_overrides_compile_as_before() -> None:
    default = relaxed.Model(copy.deepcopy(SPEC))
    explicit = relaxed.Model(copy.deepcopy(SPEC), modifier_settings=CODES_B)
    assert default.config.modifier_settings == CODES_B  # no "per_modifier" key
    assert _jaxpr(default) == _jaxpr(explicit)
    assert default._layout.structure_key == explicit._layout.structure_key
    # overrides that give every modifier one code compile as that code type-wide
    all_a = relaxed.Model(
        copy.deepcopy(SPEC),
        modifier_settings={
            "normsys": {
                "interpcode": "code4",
                "per_modifier": {"A/bkg/nA": "code1", "B/bkg/nB": "code1"},
            },
            "histosys": {"interpcode": "code0"},
        },
    )
    assert _jaxpr(all_a) == _jaxpr(relaxed.Model(copy.deepcopy(SPEC), modifier_settings=CODES_A))
    # mixed codes are another program, and another structure
    mixed = _mixed_model()
    assert mixed._layout.structure_key != explicit._layout.structure_key
    assert _jaxpr(mixed) != _jaxpr(explicit)
    # the masks are static: no padding slot or entry changes with the codes
    for mtype in ("normsys", "histosys"):
        assert [c for c, _ in mixed._layout.slot_codes(mtype)] == sorted(
            {"normsys": ["code1", "code4"], "histosys": ["code0", "code4p"]}[mtype]
        )


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (
            {"normsys": {"interpcode": "code4", "per_modifier": {"A/bkg/nope": "code1"}}},
            r"modifier_settings\.normsys\.per_modifier\['A/bkg/nope'\]: no normsys modifier "
            r"at 'A/bkg/nope'",
        ),
        (  # a histosys path under normsys
            {"normsys": {"per_modifier": {"A/bkg/hA": "code1"}}},
            r"no normsys modifier at 'A/bkg/hA'.*\['A/bkg/nA', 'B/bkg/nB'\]",
        ),
        (
            {"histosys": {"per_modifier": {"A/bkg/hA": "code1"}}},
            r"histosys interpcode 'code1' is not supported; use one of \['code0', 'code2', "
            r"'code4p'\]",
        ),
        (
            {"normsys": {"per_modifier": {"nA": "code1"}}},
            r"keys are '<channel>/<sample>/<modifier>' paths, got 'nA'",
        ),
        (
            {"normsys": {"interpcode": "code4", "per_modifer": {}}},
            r"modifier_settings\.normsys: unknown keys \['per_modifer'\]",
        ),
        ({"normsys": {"per_modifier": ["A/bkg/nA"]}}, r"per_modifier: expected a mapping"),
    ],
)
def test_bad_overrides_raise(settings: dict, match: str) -> None:
    with pytest.raises(InvalidModifier, match=match):
        relaxed.Model(copy.deepcopy(SPEC), modifier_settings=settings)


# -- HS3: each modifier's own interpolation -------------------------------------------------
def _workspace_spec(spec: dict[str, Any] = SPEC) -> dict[str, Any]:
    return {
        **copy.deepcopy(spec),
        "observations": [{"name": c, "data": v} for c, v in OBSERVED.items()],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _mixed_document(spec: dict[str, Any] = SPEC) -> tuple[dict[str, Any], str, str]:
    """pyhf's default codes everywhere, then channel A's normsys and histosys edited to
    ``log`` (code1) and ``lin`` (code0); also the paths of the edited interpolations."""
    doc = from_pyhf(_workspace_spec(spec))
    (d,) = [k for k, dist in enumerate(doc["distributions"]) if dist["name"] == "model_A"]
    paths = {}
    for j, sample in enumerate(doc["distributions"][d]["samples"]):
        for k, mod in enumerate(sample["modifiers"]):
            if mod["type"] in ("normsys", "histosys"):
                mod["interpolation"] = "log" if mod["type"] == "normsys" else "lin"
                paths[mod["type"]] = f"distributions[{d}].samples[{j}].modifiers[{k}].interpolation"
    return doc, paths["normsys"], paths["histosys"]


def test_hs3_mixed_interpolations_load_and_equal_pyhf() -> None:
    doc, _, _ = _mixed_document()
    ws = load(doc)
    model = ws.model()
    assert model.config.modifier_settings == MIXED
    data = np.asarray(ws.data(model))
    sizes = {n: model.config.param_set(n).n_parameters for n in model.config.par_order}
    for point in _points(model.config.par_order, sizes, 4, seed=5):
        ours = float(model.logpdf(_vector(model.config, point), data)[0])
        np.testing.assert_allclose(ours, _pyhf_channel_sum(point), rtol=1e-12)
    # one distribution at a time, by HS3 parameter name: pyhf's one-channel model
    names = ws.parameter_map()
    point = _points(model.config.par_order, sizes, 1, seed=6)[0]
    values = {hs3: float(point[name][i]) for hs3, (name, i) in names.items()}
    channel_a = pyhf.Model({"channels": [SPEC["channels"][0]]}, modifier_settings=CODES_A)
    want = channel_a.logpdf(
        _vector(channel_a.config, point), OBSERVED["A"] + channel_a.config.auxdata
    )
    np.testing.assert_allclose(ws.logpdf("model_A", values), float(want[0]), rtol=1e-12)


def test_hs3_mixed_interpolations_to_pyhf() -> None:
    doc, normsys_path, _ = _mixed_document()
    with pytest.raises(HS3NotSupported, match="one interpolation per modifier type") as err:
        to_pyhf(doc)
    assert normsys_path in str(err.value)
    spec = to_pyhf(doc, strict_interpolation=False)
    settings = pyhf_modifier_settings(doc)
    assert settings == MIXED
    model = relaxed.Workspace(spec).model(modifier_settings=settings)
    hs3_model = load(doc).model()
    pars = np.linspace(-1.5, 1.2, model.config.npars) + 1.0
    data = np.asarray(load(doc).data(hs3_model))
    np.testing.assert_allclose(model.logpdf(pars, data), hs3_model.logpdf(pars, data), rtol=1e-14)


def test_from_pyhf_writes_per_modifier_interpolations() -> None:
    doc = from_pyhf(_workspace_spec(), modifier_settings=MIXED)
    written = {
        (dist["name"], sample["name"], mod["type"]): mod.get("interpolation")
        for dist in doc["distributions"]
        for sample in dist.get("samples", [])
        for mod in sample["modifiers"]
        if mod["type"] in ("normsys", "histosys")
    }
    assert written[("model_A", "bkg", "normsys")] == "log"
    assert written[("model_A", "bkg", "histosys")] == "lin"
    assert written[("model_B", "bkg", "histosys")] == "poly6"
    assert load(doc).model().config.modifier_settings == MIXED


def test_hs3_mixed_interpolations_equal_pyhs3() -> None:
    """pyhs3 (an independent implementation) on the mixed document. pyhs3 0.4 reads a
    modifier's code from ``data.interpolation`` in pyhf's names (default code4/code4p), not
    from the standard's ``interpolation``, so its copy carries the codes there too."""
    pyhs3 = pytest.importorskip("pyhs3")
    from relaxed.hs3.vocabulary import pyhf_code

    # without staterror and shapesys: pyhs3 0.4 needs ROOT's per-sample errors for the first,
    # and its shapesys constraint differs from pyhf's by a constant on this document
    spec = copy.deepcopy(SPEC)
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            sample["modifiers"] = [
                m for m in sample["modifiers"] if m["type"] not in ("staterror", "shapesys")
            ]
    doc, _, _ = _mixed_document(spec)
    ours = load(doc)
    for_pyhs3 = copy.deepcopy(doc)
    for dist in for_pyhs3["distributions"]:
        for sample in dist.get("samples", []):
            for mod in sample["modifiers"]:
                if mod["type"] in ("normsys", "histosys"):
                    mod["data"]["interpolation"] = pyhf_code(mod["type"], mod["interpolation"])
    analysis = doc["analyses"][0]
    reference = pyhs3.Workspace(**for_pyhs3).model(analysis["name"], progress=False)
    names = [p["name"] for p in doc["parameter_points"][0]["parameters"]]
    rng = np.random.default_rng(8)
    compared = 0
    for dist in ("model_A", "model_B"):
        for _ in range(3):
            values = {n: float(rng.uniform(0.6, 1.25)) for n in names}
            # alphas on both sides of 0, inside |alpha| < 1 where the codes differ
            values.update({n: float(rng.uniform(-0.9, 0.9)) for n in names if n[0] in "nh"})
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
            theirs = float(reference.logpdf(dist, **arrays))
            mine = ours.logpdf(dist, values)
            assert mine == pytest.approx(theirs, rel=1e-10, abs=1e-12)
            compared += 1
    assert compared == 6
