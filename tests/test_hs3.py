"""HS3 support (relaxed.hs3): reading, validation, models, and conversion to and from pyhf.

The HS3/pyhf pairs and the pyhf workspaces are public reference files in
``<checkout>/../shared/reference``; the tests that need them are skipped (with the reason)
when that folder is absent.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import relaxed
from relaxed.exceptions import RelaxedError
from relaxed.hs3 import HS3NotSupported, InvalidHS3, from_pyhf, load, to_pyhf

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
HS3_DIR = REFERENCE / "hs3"
PYHF_DIR = REFERENCE / "pyhf"
EXAMPLE = Path(__file__).resolve().parents[1] / "neos" / "examples" / "example_workspace.json"

needs_hs3 = pytest.mark.skipif(
    not HS3_DIR.is_dir(), reason=f"the shared HS3 reference files are absent ({HS3_DIR})"
)
needs_pyhf = pytest.mark.skipif(
    not PYHF_DIR.is_dir(), reason=f"the shared pyhf reference files are absent ({PYHF_DIR})"
)

#: pyhf workspaces for the round trips; together with neos's example they carry every
#: modifier type (histosys, normsys, shapesys, staterror, lumi, normfactor, shapefactor).
PYHF_FILES = [
    "validation_xmlimport_input_bkg.json",  # normsys, lumi, staterror, fixed parameters
    "shapesys_nuisparfilter_ws.json",  # shapesys with a bin without uncertainty
    "tests_test_patchset_example_bkgonly.json",  # several measurements, fixed lumi
    "tests_test_modifiers_issue1720_greedy_staterror.json",  # POI = a one-bin shapesys
]

#: Two channels sharing a staterror name and a shapefactor (one set each in pyhf).
SHARED_SETS = {
    "channels": [
        {
            "name": "CR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [40.0, 30.0],
                    "modifiers": [
                        {"name": "stat", "type": "staterror", "data": [2.0, 3.0]},
                        {"name": "shape", "type": "shapefactor", "data": None},
                        {"name": "mu", "type": "normfactor", "data": None},
                    ],
                },
                {
                    "name": "sig",
                    "data": [1.0, 2.0],
                    "modifiers": [
                        {"name": "stat", "type": "staterror", "data": [0.2, 0.3]},
                        {"name": "mu", "type": "normfactor", "data": None},
                    ],
                },
            ],
        },
        {
            "name": "SR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [20.0, 10.0],
                    "modifiers": [
                        {"name": "stat", "type": "staterror", "data": [1.0, 2.0]},
                        {"name": "shape", "type": "shapefactor", "data": None},
                    ],
                },
                {
                    "name": "sig",
                    "data": [5.0, 8.0],
                    "modifiers": [
                        {"name": "stat", "type": "staterror", "data": [0.5, 0.4]},
                        {"name": "mu", "type": "normfactor", "data": None},
                    ],
                },
            ],
        },
    ],
    "observations": [{"name": "CR", "data": [42.0, 33.0]}, {"name": "SR", "data": [24.0, 21.0]}],
    "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


def _points(model: Any, n: int = 4, seed: int = 0) -> list[np.ndarray]:
    """The suggested initial values and ``n - 1`` points around them (inside the bounds)."""
    rng = np.random.default_rng(seed)
    init = np.asarray(model.config.suggested_init(), dtype=np.float64)
    bounds = np.asarray(model.config.suggested_bounds(), dtype=np.float64)
    points = [init]
    for _ in range(n - 1):
        p = init + rng.uniform(-0.3, 0.3, init.shape)
        points.append(np.clip(p, bounds[:, 0] + 1e-3, bounds[:, 1] - 1e-3))
    return points


def _logpdf(model: Any, pars: np.ndarray, data: Any) -> float:
    return float(model.logpdf(pars, data)[0])


def _assert_same_model(m1: Any, d1: Any, m2: Any, d2: Any, rtol: float) -> float:
    """Same parameters (names, sizes, inits, bounds, fixed, POI) and the same logpdf at
    several points; returns the largest relative difference."""
    assert m1.config.par_order == m2.config.par_order
    for name in m1.config.par_order:
        assert m1.config.par_slice(name) == m2.config.par_slice(name)
    assert m1.config.suggested_init() == m2.config.suggested_init()
    assert m1.config.suggested_bounds() == m2.config.suggested_bounds()
    assert m1.config.suggested_fixed() == m2.config.suggested_fixed()
    assert m1.config.poi_name == m2.config.poi_name
    np.testing.assert_array_equal(np.asarray(d1), np.asarray(d2))
    worst = 0.0
    for pars in _points(m1):
        a, b = _logpdf(m1, pars, d1), _logpdf(m2, pars, d2)
        assert np.isfinite(a)
        worst = max(worst, abs(a - b) / abs(b))
    assert worst <= rtol
    return worst


# -- a small valid document, mutated by the error tests -----------------------------------
def _base() -> dict[str, Any]:
    axes = [{"name": "x", "min": 0.0, "max": 2.0, "nbins": 2}]
    return {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {
                "name": "model_SR",
                "type": "histfactory_dist",
                "axes": axes,
                "samples": [
                    {
                        "name": "signal",
                        "data": {"contents": [5.0, 8.0]},
                        "modifiers": [{"type": "normfactor", "name": "mu", "parameter": "mu"}],
                    },
                    {
                        "name": "background",
                        "data": {"contents": [50.0, 52.0], "errors": [2.0, 3.0]},
                        "modifiers": [
                            {
                                "type": "normsys",
                                "name": "norm",
                                "parameter": "alpha_norm",
                                "constraint": "Gauss",
                                "data": {"hi": 1.1, "lo": 0.9},
                            },
                            {
                                "type": "histosys",
                                "name": "shape",
                                "parameter": "alpha_shape",
                                "constraint": "Gauss",
                                "data": {
                                    "hi": {"contents": [52.0, 55.0]},
                                    "lo": {"contents": [48.0, 50.0]},
                                },
                            },
                            {
                                "type": "shapesys",
                                "name": "unc",
                                "parameters": ["unc_0", "unc_1"],
                                "constraint": "Poisson",
                                "data": {"vals": [3.0, 7.0]},
                            },
                            {
                                "type": "staterror",
                                "name": "stat",
                                "parameters": ["stat_0", "stat_1"],
                                "constraint": "Gauss",
                            },
                        ],
                    },
                ],
            }
        ],
        "data": [{"name": "obs", "type": "binned", "axes": axes, "contents": [56.0, 61.0]}],
        "likelihoods": [{"name": "L", "distributions": ["model_SR"], "data": ["obs"]}],
        "domains": [
            {
                "name": "D",
                "type": "product_domain",
                "axes": [{"name": "mu", "min": 0.0, "max": 5.0}],
            }
        ],
        "parameter_points": [{"name": "start", "parameters": [{"name": "mu", "value": 0.5}]}],
        "analyses": [
            {"name": "A", "likelihood": "L", "parameters_of_interest": ["mu"], "domains": ["D"]}
        ],
    }


def _raises(error: type[Exception], doc: Any, path: str, *words: str) -> str:
    with pytest.raises(error) as info:
        load(doc)
    message = str(info.value)
    assert message.startswith(path + ":"), message
    for word in words:
        assert word in message, message
    return message


# -- the shared HS3/pyhf pairs --------------------------------------------------------------
@pytest.fixture(scope="module", params=["uncorrelated", "correlated"])
def pair(request: pytest.FixtureRequest) -> dict[str, Any]:
    if not HS3_DIR.is_dir():
        pytest.skip(f"the shared HS3 reference files are absent ({HS3_DIR})")
    stem = HS3_DIR / f"simplemodel_{request.param}-background"
    ws = load(f"{stem}_hs3.json")
    model = ws.model(analysis="simPdf_obsData")
    twin_ws = relaxed.Workspace(json.loads(Path(f"{stem}_hifa.json").read_text()))
    twin = twin_ws.model()
    return {
        "ws": ws,
        "model": model,
        "data": ws.data(model),
        "twin": twin,
        "twin_data": twin_ws.data(twin),
    }


def _twin_vector(pair: dict[str, Any], twin_pars: np.ndarray) -> np.ndarray:
    """The HS3 model's vector for a twin vector, matching parameter sets by name (the HS3
    histosys parameter is ``alpha_<name>``); the extra fixed ``Lumi`` stays at 1."""
    model, twin = pair["model"], pair["twin"]
    pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
    for name in twin.config.par_order:
        hs3 = name if name in model.config.par_order else f"alpha_{name}"
        pars[model.config.par_slice(hs3)] = twin_pars[twin.config.par_slice(name)]
    return pars


@needs_hs3
def test_pair_structure(pair: dict[str, Any]) -> None:
    model, twin = pair["model"], pair["twin"]
    extra = set(model.config.par_order) - set(twin.config.par_order)
    assert "Lumi" in extra
    lumi = model.config.par_slice("Lumi").start
    assert model.config.suggested_fixed()[lumi] is True
    assert model.config.suggested_init()[lumi] == 1.0
    assert model.config.npars == twin.config.npars + 1
    assert model.config.poi_name == "mu"
    np.testing.assert_array_equal(np.asarray(pair["data"]), np.asarray(pair["twin_data"]))


@needs_hs3
def test_pair_logpdf(pair: dict[str, Any]) -> None:
    worst = 0.0
    for twin_pars in _points(pair["twin"], n=5, seed=3):
        a = _logpdf(pair["model"], _twin_vector(pair, twin_pars), pair["data"])
        b = _logpdf(pair["twin"], twin_pars, pair["twin_data"])
        worst = max(worst, abs(a - b) / abs(b))
    assert worst <= 1e-10


@needs_hs3
def test_pair_hypotest(pair: dict[str, Any]) -> None:
    kw = {"return_expected_set": True}
    cls, expected = relaxed.infer.hypotest(1.0, pair["data"], pair["model"], **kw)
    twin_cls, twin_expected = relaxed.infer.hypotest(1.0, pair["twin_data"], pair["twin"], **kw)
    assert 0.0 < float(twin_cls) < 1.0
    np.testing.assert_allclose(float(cls), float(twin_cls), rtol=1e-8, atol=0)
    np.testing.assert_allclose(np.asarray(expected), np.asarray(twin_expected), rtol=1e-8, atol=0)


@needs_hs3
def test_pair_hs3_roundtrip(pair: dict[str, Any]) -> None:
    """HS3 -> pyhf -> HS3 reproduces the HS3 model (names, bounds, fixed Lumi, logpdf)."""
    spec = to_pyhf(pair["ws"], analysis="simPdf_obsData")
    relaxed.Workspace(spec)  # valid pyhf
    again = load(from_pyhf(spec))
    model = again.model()
    _assert_same_model(pair["model"], pair["data"], model, again.data(model), rtol=1e-12)


@needs_hs3
def test_pair_parameter_map_and_graph(pair: dict[str, Any]) -> None:
    ws = pair["ws"]
    names = ws.parameter_map("simPdf_obsData")
    assert names["Lumi"] == ("Lumi", 0)
    graph = ws.graph()["model_singlechannel"]
    if "uncorr_bkguncrt_1" in names:
        assert names["uncorr_bkguncrt_1"] == ("uncorr_bkguncrt", 1)
        assert graph["background/shapesys:uncorr_bkguncrt"] == (
            "uncorr_bkguncrt_0",
            "uncorr_bkguncrt_1",
        )
        vector = ws.parameter_vector({"uncorr_bkguncrt_1": 0.9}, analysis="simPdf_obsData")
        assert vector[pair["model"].config.par_slice("uncorr_bkguncrt").start + 1] == 0.9
    else:
        assert graph["background/histosys:correlated_bkg_uncertainty"] == (
            "alpha_correlated_bkg_uncertainty",
        )
    assert graph["signal/normfactor:mu"] == ("mu",)


@needs_hs3
def test_pair_summary(pair: dict[str, Any]) -> None:
    text = pair["ws"].summary()
    assert text.splitlines()[0] == "HS3 document, hs3_version 0.2"
    assert "model_singlechannel: histfactory_dist, 2 bins, 2 samples" in text
    assert "Lumi: [0, 10] (default_domain); default_values=1 const" in text
    assert "simPdf_obsData: model_singlechannel <- obsData_singlechannel" in text
    assert "simPdf_obsData: likelihood simPdf_obsData, POI mu" in text


@needs_hs3
def test_pair_distribution_logpdf(pair: dict[str, Any]) -> None:
    """One distribution at named parameters equals the whole model (one channel, no other
    constraint terms) at the same point."""
    ws, model = pair["ws"], pair["model"]
    values = {"mu": 1.3, "Lumi": 1.0}
    names = ws.parameter_map("simPdf_obsData")
    values.update({p: 0.2 if p.startswith("alpha") else 1.05 for p in names if p not in values})
    pars = ws.parameter_vector(values, analysis="simPdf_obsData")
    one = ws.logpdf("model_singlechannel", values, data="obsData_singlechannel")
    assert abs(one - _logpdf(model, pars, pair["data"])) <= 1e-12 * abs(one)
    with pytest.raises(InvalidHS3, match="several data sets"):
        ws.logpdf("model_singlechannel", values)


@needs_hs3
def test_pair_several_analyses() -> None:
    ws = load(HS3_DIR / "simplemodel_correlated-background_hs3.json")
    with pytest.raises(InvalidHS3, match=r"2 analyses, \['simPdf_asimovData', 'simPdf_obsData'\]"):
        ws.model()
    asimov = ws.model(analysis="simPdf_asimovData")
    np.testing.assert_array_equal(np.asarray(ws.data(asimov))[:2], [62.0, 63.0])


# -- round trips ----------------------------------------------------------------------------
def _pyhf_roundtrip(spec: dict[str, Any], measurement: str | None = None) -> float:
    """pyhf -> HS3 -> pyhf, and HS3 -> pyhf -> HS3; returns the largest logpdf difference."""
    original = relaxed.Workspace(spec)
    doc = from_pyhf(spec, measurement)
    back = to_pyhf(doc)
    again = relaxed.Workspace(back)
    m1 = original.model(measurement_name=measurement)
    m2 = again.model()
    worst = _assert_same_model(m1, original.data(m1), m2, again.data(m2), rtol=1e-12)
    ws = load(doc)
    model = ws.model()
    worst = max(worst, _assert_same_model(m1, original.data(m1), model, ws.data(model), 1e-12))
    doc2 = from_pyhf(back)
    assert doc2 == doc  # HS3 -> pyhf -> HS3 is the identity on relaxed's own output
    return worst


def test_roundtrip_neos_example() -> None:
    spec = json.loads(EXAMPLE.read_text())
    assert _pyhf_roundtrip(spec) <= 1e-12
    doc = from_pyhf(spec)
    types = {
        m["type"]
        for d in doc["distributions"]
        if d["type"] == "histfactory_dist"
        for s in d["samples"]
        for m in s["modifiers"]
    }
    assert types == {"normfactor", "normsys", "histosys", "shapesys", "shapefactor", "staterror"}
    lumi = next(d for d in doc["distributions"] if d["type"] == "gaussian_dist")
    assert (lumi["mean"], lumi["sigma"]) == ("lumi", 0.017)
    assert doc["likelihoods"][0]["data"][-1] == 1.0


def test_roundtrip_shared_sets() -> None:
    assert _pyhf_roundtrip(SHARED_SETS) <= 1e-12
    ws = load(from_pyhf(SHARED_SETS))
    names = ws.parameter_map()
    assert [names[f"stat_{i}"] for i in range(4)] == [("stat", i) for i in range(4)]
    assert names["shape_1"] == ("shape", 1)


def test_staterror_split_per_channel() -> None:
    """A staterror name in two channels whose samples differ cannot be one pyhf set: one set
    per channel, the same likelihood."""
    doc = from_pyhf(SHARED_SETS)
    reference = load(doc)
    ref_model = reference.model()
    del doc["distributions"][0]["samples"][1]  # 'sig' now carries 'stat' in SR only
    ws = load(doc)
    names = ws.parameter_map()
    assert names["stat_1"] == ("stat_CR", 1) and names["stat_3"] == ("stat_SR", 1)
    model = ws.model()
    values = {"mu": 1.2, "stat_0": 0.97, "stat_1": 1.02, "stat_2": 1.01, "stat_3": 0.99}
    assert abs(ws.logpdf("model_SR", values) - reference.logpdf("model_SR", values)) <= 1e-12
    total = ws.logpdf("model_CR", values) + ws.logpdf("model_SR", values)
    full = _logpdf(model, ws.parameter_vector(values), ws.data(model))
    assert abs(total - full) <= 1e-12 * abs(full)
    assert ref_model.config.par_order != model.config.par_order


@needs_pyhf
@pytest.mark.parametrize("name", PYHF_FILES)
def test_roundtrip_pyhf_reference(name: str) -> None:
    spec = json.loads((PYHF_DIR / name).read_text())
    assert _pyhf_roundtrip(spec) <= 1e-12


@needs_pyhf
def test_roundtrip_other_measurement() -> None:
    spec = json.loads((PYHF_DIR / "tests_test_patchset_example_bkgonly.json").read_text())
    assert _pyhf_roundtrip(spec, measurement="ConstExample") <= 1e-12


def test_from_pyhf_writes_interpolations() -> None:
    spec = json.loads(EXAMPLE.read_text())
    doc = from_pyhf(spec)
    mods = [
        m
        for d in doc["distributions"]
        if d["type"] == "histfactory_dist"
        for s in d["samples"]
        for m in s["modifiers"]
    ]
    normsys = [m["interpolation"] for m in mods if m["type"] == "normsys"]
    histosys = [m["interpolation"] for m in mods if m["type"] == "histosys"]
    assert normsys and all(i == {"type": "mult", "in": "poly6", "out": "exp"} for i in normsys)
    assert histosys and all(i == "poly6" for i in histosys)
    settings = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}
    doc = from_pyhf(spec, modifier_settings=settings)
    ws = load(doc)
    assert relaxed.hs3.pyhf_modifier_settings(ws) == settings
    with pytest.raises(HS3NotSupported, match="normsys interpolation code1") as info:
        to_pyhf(ws)
    assert "strict_interpolation=False" in str(info.value)
    back = to_pyhf(ws, strict_interpolation=False)
    original = relaxed.Workspace(spec).model(modifier_settings=settings)
    again = relaxed.Workspace(back).model(modifier_settings=settings)
    model = ws.model()
    data = relaxed.Workspace(spec).data(original)
    for pars in _points(original):
        a = _logpdf(original, pars, data)
        assert abs(_logpdf(again, pars, data) - a) <= 1e-12 * abs(a)
        assert abs(_logpdf(model, pars, data) - a) <= 1e-12 * abs(a)


def test_distribution_logpdfs_add_up() -> None:
    """Channels (each with the constraints of its parameters) plus the lumi Gaussian give the
    full model, once the constraints of parameters shared by two channels are counted once."""
    ws = load(from_pyhf(json.loads(EXAMPLE.read_text())))
    model = ws.model()
    names = ws.parameter_map()
    rng = np.random.default_rng(5)
    values = {p: 1.0 + float(rng.uniform(-0.1, 0.1)) for p in names}
    values.update({p: 0.3 for p in names if p in ("jes", "xsec", "fake_rate")})
    total = sum(ws.logpdf(f"model_{c}", values) for c in ("CR", "FR", "SR"))
    total += ws.logpdf("lumi_constraint", values)
    # jes and xsec act in CR and SR, fake_rate in FR and SR: one unit Gaussian too many each
    total -= 3 * (-0.5 * 0.3**2 - 0.5 * np.log(2 * np.pi))
    full = _logpdf(model, ws.parameter_vector(values), ws.data(model))
    assert abs(total - full) <= 1e-12 * abs(full)
    expected = -0.5 * ((1.0 - values["lumi"]) / 0.017) ** 2 - np.log(0.017 * np.sqrt(2 * np.pi))
    assert abs(ws.logpdf("lumi_constraint", values) - expected) <= 1e-12 * abs(expected)


# -- a workspace is read-only, built once -----------------------------------------------------
def test_workspace_is_frozen_and_cached() -> None:
    doc = _base()
    ws = load(doc)
    doc["distributions"][0]["name"] = "changed"  # the workspace keeps its own copy
    assert ws.distributions[0]["name"] == "model_SR"
    with pytest.raises(TypeError):
        ws.distributions[0]["name"] = "x"  # type: ignore[index]
    with pytest.raises(AttributeError, match="read-only"):
        ws.distributions = ()  # type: ignore[misc]
    assert isinstance(ws.data, tuple) and ws.data[0]["contents"] == (56.0, 61.0)
    assert ws.metadata["hs3_version"] == "0.2"
    assert ws.model() is ws.model()
    assert ws.to_dict() == _base()
    assert json.loads(ws.to_json()) == _base()


def test_base_model() -> None:
    ws = load(_base())
    model = ws.model()
    assert model.config.poi_name == "mu"
    assert sorted(model.config.par_order) == ["alpha_norm", "alpha_shape", "mu", "stat", "unc"]
    mu = model.config.par_slice("mu").start
    assert model.config.suggested_init()[mu] == 0.5  # from the parameter point
    assert model.config.suggested_bounds()[mu] == (0.0, 5.0)  # from the domain
    fit = relaxed.infer.mle.fit(ws.data(model), model)
    assert np.all(np.isfinite(np.asarray(fit)))
    spec = to_pyhf(ws)
    assert [m["type"] for m in spec["channels"][0]["samples"][1]["modifiers"]] == [
        "normsys",
        "histosys",
        "shapesys",
        "staterror",
    ]
    assert spec["channels"][0]["samples"][1]["modifiers"][3]["data"] == [2.0, 3.0]


# -- bad input: InvalidHS3 with the JSON path -------------------------------------------------
def test_error_classes() -> None:
    assert issubclass(InvalidHS3, RelaxedError)
    assert issubclass(HS3NotSupported, InvalidHS3)


def test_error_not_a_document() -> None:
    with pytest.raises(InvalidHS3, match="expected an HS3 document"):
        load(42)  # type: ignore[arg-type]


def test_error_missing_metadata() -> None:
    doc = _base()
    del doc["metadata"]
    _raises(InvalidHS3, doc, "(document)", "missing required field 'metadata'")


def test_error_unknown_top_level() -> None:
    doc = _base()
    doc["channels"] = []
    _raises(InvalidHS3, doc, "channels", "unknown top-level component")


def test_error_unknown_distribution_type() -> None:
    doc = _base()
    doc["distributions"].append({"name": "d", "type": "no_such_dist"})
    _raises(InvalidHS3, doc, "distributions[1].type", "unknown distribution type 'no_such_dist'")


def test_error_unknown_modifier_type() -> None:
    doc = _base()
    doc["distributions"][0]["samples"][1]["modifiers"][0]["type"] = "lumi"
    path = "distributions[0].samples[1].modifiers[0].type"
    _raises(InvalidHS3, doc, path, "unknown modifier type 'lumi'")


def test_error_missing_modifier_type() -> None:
    doc = _base()
    del doc["distributions"][0]["samples"][1]["modifiers"][0]["type"]
    path = "distributions[0].samples[1].modifiers[0]"
    _raises(InvalidHS3, doc, path, "missing required field 'type'")


def test_error_missing_sample_data() -> None:
    doc = _base()
    del doc["distributions"][0]["samples"][0]["data"]
    _raises(InvalidHS3, doc, "distributions[0].samples[0]", "missing required field 'data'")


def test_error_missing_staterror_errors() -> None:
    doc = _base()
    del doc["distributions"][0]["samples"][1]["data"]["errors"]
    _raises(InvalidHS3, doc, "distributions[0].samples[1].data", "'errors'", "staterror")


def test_error_missing_histosys_data() -> None:
    doc = _base()
    del doc["distributions"][0]["samples"][1]["modifiers"][1]["data"]["lo"]
    path = "distributions[0].samples[1].modifiers[1].data"
    _raises(InvalidHS3, doc, path, "missing required field 'lo'")


def test_error_likelihood_missing_distribution() -> None:
    doc = _base()
    doc["likelihoods"][0]["distributions"] = ["model_CR"]
    _raises(InvalidHS3, doc, "likelihoods[0].distributions[0]", "unknown distribution 'model_CR'")


def test_error_likelihood_missing_data() -> None:
    doc = _base()
    doc["likelihoods"][0]["data"] = ["obs_CR"]
    _raises(InvalidHS3, doc, "likelihoods[0].data[0]", "unknown data set 'obs_CR'")


def test_error_likelihood_lengths() -> None:
    doc = _base()
    doc["likelihoods"][0]["data"] = ["obs", "obs"]
    _raises(InvalidHS3, doc, "likelihoods[0].data", "2 data entries for 1 distributions")


def test_error_analysis_missing_likelihood() -> None:
    doc = _base()
    doc["analyses"][0]["likelihood"] = "L2"
    _raises(InvalidHS3, doc, "analyses[0].likelihood", "unknown likelihood 'L2'")


def test_error_sample_bins_vs_axes() -> None:
    doc = _base()
    doc["distributions"][0]["samples"][1]["data"]["contents"] = [50.0, 52.0, 1.0]
    path = "distributions[0].samples[1].data.contents"
    _raises(InvalidHS3, doc, path, "3 bins but the axes give 2 bins")


def test_error_sample_bins_vs_first_sample() -> None:
    doc = _base()
    del doc["distributions"][0]["axes"]
    doc["distributions"][0]["samples"][1]["data"]["contents"] = [50.0]
    path = "distributions[0].samples[1].data.contents"
    _raises(InvalidHS3, doc, path, "1 bins but the first sample has 2 bins")


def test_error_sample_errors_length() -> None:
    doc = _base()
    doc["distributions"][0]["samples"][1]["data"]["errors"] = [1.0]
    _raises(InvalidHS3, doc, "distributions[0].samples[1].data.errors", "1 errors for 2 bins")


def test_error_modifier_bins() -> None:
    doc = _base()
    doc["distributions"][0]["samples"][1]["modifiers"][2]["data"]["vals"] = [1.0]
    path = "distributions[0].samples[1].modifiers[2].data.vals"
    _raises(InvalidHS3, doc, path, "1 bins but the distribution has 2")


def test_error_data_bins_vs_axes() -> None:
    doc = _base()
    doc["data"][0]["contents"] = [1.0, 2.0, 3.0]
    _raises(InvalidHS3, doc, "data[0].contents", "3 contents for 2 bins of the axes")


def test_error_data_bins_vs_distribution() -> None:
    doc = _base()
    doc["data"][0]["contents"] = [1.0, 2.0, 3.0]
    doc["data"][0]["axes"] = [{"name": "x", "min": 0.0, "max": 3.0, "nbins": 3}]
    _raises(
        InvalidHS3, doc, "likelihoods[0].data[0]", "has 3 bins but distribution 'model_SR' has 2"
    )


def test_error_parameter_point_unknown_parameter() -> None:
    doc = _base()
    doc["parameter_points"][0]["parameters"].append({"name": "nu", "value": 1.0})
    _raises(InvalidHS3, doc, "parameter_points[0].parameters[1].name", "unknown parameter 'nu'")


def test_error_domain_unknown_parameter() -> None:
    doc = _base()
    doc["domains"][0]["axes"].append({"name": "alpha_nrom", "min": -5.0, "max": 5.0})
    _raises(InvalidHS3, doc, "domains[0].axes[1].name", "unknown parameter 'alpha_nrom'")


def test_error_duplicate_name() -> None:
    doc = _base()
    doc["data"].append(copy.deepcopy(doc["data"][0]))
    _raises(InvalidHS3, doc, "data[1].name", "'obs' is defined twice")


def test_error_bad_interpolation_name() -> None:
    doc = _base()
    doc["distributions"][0]["samples"][1]["modifiers"][0]["interpolation"] = "cubic"
    path = "distributions[0].samples[1].modifiers[0].interpolation"
    _raises(InvalidHS3, doc, path, "unknown interpolation 'cubic'")


def test_error_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(InvalidHS3, match="is not valid JSON"):
        load(path)


def test_load_path_and_write(tmp_path: Path) -> None:
    ws = load(_base())
    ws.to_json(tmp_path / "doc.json")
    again = load(str(tmp_path / "doc.json"))
    assert again.to_dict() == _base()
    assert load(again) is again


def test_error_hs3_version() -> None:
    doc = _base()
    doc["metadata"]["hs3_version"] = "1.0"
    _raises(HS3NotSupported, doc, "metadata.hs3_version", "not supported yet")
    doc["metadata"]["hs3_version"] = 0.2
    _raises(InvalidHS3, doc, "metadata.hs3_version", "expected a string")


def test_error_unknown_analysis_name() -> None:
    ws = load(_base())
    with pytest.raises(InvalidHS3, match=r"^analyses: unknown analysis 'B'"):
        ws.model(analysis="B")


# -- what pyhf's format cannot express ---------------------------------------------------------
def _unsupported(doc: dict[str, Any], path: str, *words: str) -> None:
    """to_pyhf says "cannot be expressed in pyhf's JSON format", model() "not supported yet",
    both with the JSON path."""
    ws = load(doc)
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(ws)
    message = str(info.value)
    assert message.startswith(path + ":") and "cannot be expressed in pyhf's JSON format" in message
    for word in words:
        assert word in message, message
    with pytest.raises(HS3NotSupported) as info:
        ws.model()
    message = str(info.value)
    assert message.startswith(path + ":") and "not supported yet" in message, message


def test_lognormal_normsys_builds_the_gaussian_model_and_is_refused_by_to_pyhf() -> None:
    """A unit LogNormal on a normsys/histosys (pyhs3's reading: lognormal_dist of x = 1 with
    log-location alpha, log-scale 1) is the unit Gaussian constraint at x = 1: the model's
    logpdf equals the Gauss document's everywhere; pyhf's JSON cannot declare it."""
    gauss = _base()
    lognormal = _base()
    lognormal["distributions"][0]["samples"][1]["modifiers"][0]["constraint"] = "LogNormal"
    path = "distributions[0].samples[1].modifiers[0].constraint"
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(lognormal)
    message = str(info.value)
    assert message.startswith(path + ":"), message
    assert "LogNormal constraint on a normsys" in message
    assert "cannot be expressed in pyhf's JSON format" in message
    ours, reference = load(lognormal), load(gauss)
    model, same = ours.model(), reference.model()
    assert model.config.par_order == same.config.par_order
    data = np.asarray(ours.data(model))
    rng = np.random.default_rng(3)
    for _ in range(5):
        pars = np.asarray(same.config.suggested_init()) + rng.normal(0.0, 0.3, same.config.npars)
        assert float(model.logpdf(pars, data)[0]) == float(same.logpdf(pars, data)[0])
    # the reading itself, by scipy: log LogNormal(x=1 | log-location a, log-scale 1) equals
    # log N(0 | a, 1) for every a
    from scipy import stats

    for a in (-2.0, -0.3, 0.0, 0.7, 3.1):
        lognormal_term = stats.lognorm.logpdf(1.0, s=1.0, scale=np.exp(a))
        assert lognormal_term == pytest.approx(stats.norm.logpdf(0.0, a, 1.0), rel=1e-14)


def test_lognormal_on_a_shapesys_is_not_supported() -> None:
    doc = _base()
    mods = doc["distributions"][0]["samples"][1]["modifiers"]
    (k,) = [i for i, m in enumerate(mods) if m["type"] == "shapesys"]
    mods[k]["constraint"] = "LogNormal"
    # neither pyhs3 nor ROOT defines it: refused by models and by to_pyhf alike
    path = f"distributions[0].samples[1].modifiers[{k}].constraint"
    ws = load(doc)
    for build in (to_pyhf, lambda w: w.model()):
        with pytest.raises(HS3NotSupported) as info:
            build(ws)
        message = str(info.value)
        assert message.startswith(path + ": a LogNormal constraint on a shapesys"), message
        assert "no implementation defines it" in message


@needs_hs3
def test_lognormal_constraints_equal_pyhs3() -> None:
    """pyhs3 builds LogNormal-constrained normsys and histosys as lognormal_dist terms."""
    import pyhs3

    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "sig",
                        "data": [4.0, 6.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [30.0, 20.0],
                        "modifiers": [
                            {"name": "n", "type": "normsys", "data": {"hi": 1.2, "lo": 0.85}},
                            {
                                "name": "h",
                                "type": "histosys",
                                "data": {"hi_data": [33.0, 21.0], "lo_data": [28.0, 18.5]},
                            },
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "SR", "data": [36.0, 25.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    doc = from_pyhf(spec)
    for mod in doc["distributions"][0]["samples"][1]["modifiers"]:
        mod["constraint"] = "LogNormal"
    ours = load(doc)
    gauss = load(from_pyhf(spec))
    analysis = doc["analyses"][0]["name"]
    reference = pyhs3.Workspace(**doc).model(analysis, progress=False)
    dist = doc["distributions"][0]["name"]
    names = [p["name"] for p in doc["parameter_points"][0]["parameters"]]
    rng = np.random.default_rng(11)
    for _ in range(4):
        values = {n: float(rng.uniform(-0.9, 1.3)) for n in names}
        values["mu"] = float(rng.uniform(0.2, 2.0))
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        theirs = float(reference.logpdf(dist, **arrays))
        mine = ours.logpdf(dist, values)
        assert mine == pytest.approx(theirs, rel=1e-10, abs=1e-12)
        assert mine == gauss.logpdf(dist, values)


def test_poisson_staterror_builds_but_does_not_convert() -> None:
    """A Poisson staterror builds (relaxed's modifier_settings["staterror"]; more in
    tests/test_staterror_poisson.py); pyhf's format cannot express it."""
    doc = _base()
    doc["distributions"][0]["samples"][1]["modifiers"][3]["constraint"] = "Poisson"
    ws = load(doc)
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(ws)
    message = str(info.value)
    assert message.startswith("distributions[0].samples[1].modifiers[3].constraint:")
    assert "staterror" in message and "cannot be expressed in pyhf's JSON format" in message
    model = ws.model()
    assert model.config.modifier_settings["staterror"] == {"constraint": "poisson"}
    name = ws.translation().spec["channels"][0]["samples"][1]["modifiers"][3]["name"]
    assert model.config.param_set(name).pdf_type == "poisson"


def test_unsupported_histosys_log_interpolation() -> None:
    doc = _base()
    doc["distributions"][0]["samples"][1]["modifiers"][1]["interpolation"] = "log"
    path = "distributions[0].samples[1].modifiers[1].interpolation"
    _unsupported(doc, path, "interpolation 'log' on a histosys")


def test_mixed_interpolations_build_but_do_not_convert() -> None:
    """Modifiers of one type with different interpolations: models take per-modifier codes
    (more in tests/test_interp_per_modifier.py), pyhf's format cannot express them."""
    doc = _base()
    extra = copy.deepcopy(doc["distributions"][0]["samples"][1]["modifiers"][1])
    extra.update(parameter="alpha_other", interpolation="lin")
    doc["distributions"][0]["samples"][0]["modifiers"].append(extra)
    ws = load(doc)
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(ws)
    message = str(info.value)
    assert message.startswith("distributions[0].samples[0].modifiers[1].interpolation: ")
    assert "histosys interpolation code0 here but code4p on other histosys modifiers" in message
    assert "cannot be expressed in pyhf's JSON format" in message
    histosys = ws.model().config.modifier_settings["histosys"]
    assert histosys["interpcode"] == "code4p"  # the default, the other's code, among equals
    assert list(histosys["per_modifier"].values()) == ["code0"]
    assert list(histosys["per_modifier"])[0].endswith("/alpha_other")


def test_unsupported_engine_interpolation() -> None:
    """normsys 'lin' is pyhf's code0: pyhf's format can carry it, relaxed's engine not yet."""
    doc = _base()
    doc["distributions"][0]["samples"][1]["modifiers"][0]["interpolation"] = "lin"
    ws = load(doc)
    path = "distributions[0].samples[1].modifiers[0].interpolation"
    with pytest.raises(HS3NotSupported) as info:
        ws.model()
    assert str(info.value).startswith(path + ":") and "not supported yet" in str(info.value)
    assert relaxed.hs3.pyhf_modifier_settings(ws)["normsys"] == {"interpcode": "code0"}
    with pytest.raises(HS3NotSupported, match="strict_interpolation"):
        to_pyhf(ws)
    assert to_pyhf(ws, strict_interpolation=False)["channels"][0]["name"] == "SR"


def test_unsupported_distribution_type() -> None:
    doc = _base()
    doc["distributions"].append({"name": "p", "type": "poisson_dist", "x": "n", "mean": "mu"})
    doc["likelihoods"][0]["distributions"].append("p")
    doc["likelihoods"][0]["data"].append(3.0)
    _unsupported(doc, "likelihoods[0].distributions[1]", "type 'poisson_dist'")


def test_unsupported_unbinned_data() -> None:
    doc = _base()
    doc["data"][0] = {
        "name": "obs",
        "type": "unbinned",
        "entries": [[0.5], [1.5]],
        "axes": [{"name": "x", "min": 0.0, "max": 2.0}],
    }
    _unsupported(doc, "data[0]", "unbinned data")


def test_unsupported_partially_fixed_set() -> None:
    doc = _base()
    doc["parameter_points"][0]["parameters"].append({"name": "unc_0", "value": 1.0, "const": True})
    _unsupported(doc, "parameter_points[0].parameters[1].const", "pyhf fixes whole sets")


def test_unsupported_several_pois() -> None:
    doc = _base()
    doc["analyses"][0]["parameters_of_interest"] = ["mu", "alpha_norm"]
    _unsupported(doc, "analyses[0].parameters_of_interest", "several parameters of interest")


def test_unsupported_function_parameter() -> None:
    doc = _base()
    doc["functions"] = [{"name": "mu", "type": "generic_function", "expression": "2*k"}]
    doc["distributions"][0]["name"] = "model_SR"
    doc["functions"][0]["name"] = "scale"
    doc["distributions"][0]["samples"][0]["modifiers"][0]["parameter"] = "scale"
    doc["analyses"][0]["parameters_of_interest"] = []
    doc["domains"][0]["axes"] = []
    doc["parameter_points"][0]["parameters"] = []
    _unsupported(doc, "distributions[0].samples[0].modifiers[0]", "'scale', which is a function")


def test_unsupported_lumi_constraint_shape() -> None:
    doc = from_pyhf(json.loads(EXAMPLE.read_text()))
    lumi = next(d for d in doc["distributions"] if d["name"] == "lumi_constraint")
    position = doc["distributions"].index(lumi)
    lumi["type"], lumi["mu"], lumi["sigma"] = "lognormal_dist", lumi.pop("mean"), 0.017
    _unsupported(doc, "likelihoods[0].distributions[3]", "type 'lognormal_dist'")
    for key in ("distributions", "data"):  # the constraint only through constraint_name
        doc["likelihoods"][0][key].pop()
    _unsupported(doc, f"distributions[{position}].type", "lognormal_dist constraint")


def test_lumi_constraint_outside_the_likelihood() -> None:
    """A lumi Gaussian reached only through constraint_name takes its observed value from x
    (a number, or the parameter point's value of x)."""
    spec = json.loads(EXAMPLE.read_text())
    doc = from_pyhf(spec)
    reference = load(doc)
    for key in ("distributions", "data"):
        doc["likelihoods"][0][key].pop()
    lumi = next(d for d in doc["distributions"] if d["name"] == "lumi_constraint")
    lumi["x"] = 1.0
    ws = load(doc)
    model, ref_model = ws.model(), reference.model()
    _assert_same_model(ref_model, reference.data(ref_model), model, ws.data(model), 1e-12)
    lumi["x"] = "nom_lumi"
    doc["parameter_points"][0]["parameters"].append({"name": "nom_lumi", "value": 1.0})
    model = load(doc).model()
    _assert_same_model(ref_model, reference.data(ref_model), model, ws.data(model), 1e-12)
    doc["parameter_points"][0]["parameters"].pop()
    with pytest.raises(InvalidHS3, match=r"\.x: no observed value"):
        load(doc).model()


# -- pyhs3 (PyTensor-based, an independent implementation) as the reference -------------
@needs_hs3
@pytest.mark.parametrize("name", ["correlated", "uncorrelated"])
def test_distribution_logpdf_equals_pyhs3(name: str) -> None:
    """Each ``histfactory_dist`` of the shared HS3 files, evaluated by relaxed and by pyhs3
    at the same parameter values (by name), with the observed data of the analysis."""
    import pyhs3

    path = HS3_DIR / f"simplemodel_{name}-background_hs3.json"
    doc = json.loads(path.read_text())
    analysis = next(a for a in doc["analyses"] if "obsData" in a["name"])
    likelihood = next(lh for lh in doc["likelihoods"] if lh["name"] == analysis["likelihood"])
    reference = pyhs3.Workspace(**doc).model(analysis["name"], progress=False)
    ours = load(doc)
    rng = np.random.default_rng(7)
    names = [p["name"] for p in doc["parameter_points"][0]["parameters"]]
    compared = 0
    for dist, data in zip(likelihood["distributions"], likelihood["data"], strict=True):
        for _ in range(4):
            # inside every domain of these files (the smallest upper bound is 1.3): outside
            # it pyhs3 clips a parameter to its domain, pyhf and relaxed do not
            values = {n: float(rng.uniform(0.6, 1.25)) for n in names}
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
            theirs = float(reference.logpdf(dist, **arrays))
            mine = float(ours.logpdf(dist, values, data=data))
            assert mine == pytest.approx(theirs, rel=1e-10, abs=1e-12)
            compared += 1
    assert compared >= 4
