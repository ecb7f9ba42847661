"""The staterror threshold (ROOT's and HS3's ``relThreshold``): relaxed's
``modifier_settings={"staterror": {"rel_threshold": r}}``.

A bin whose relative MC uncertainty :math:`\\delta_b = \\sqrt{\\sum_s \\sigma_{sb}^2} /
\\sum_s \\nu_{sb}` is below :math:`r` gets no staterror effect: its :math:`\\gamma_b` is fixed
at 1, exactly as pyhf fixes a bin whose uncertainties are all 0. So a thresholded model equals
pyhf's model of the same spec with that bin's staterror data set to 0.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import jax
import numpy as np
import pyhf
import pytest

import relaxed
from relaxed.exceptions import InvalidModifier
from relaxed.hs3 import HS3NotSupported, from_pyhf, load, to_pyhf

THRESHOLD = {"staterror": {"rel_threshold": 0.05}}
POISSON_THRESHOLD = {"staterror": {"constraint": "poisson", "rel_threshold": 0.05}}
DATA = [103.0, 61.0, 27.0]


def _spec(zero_first: bool = False, kind: str = "staterror", two: bool = True) -> dict[str, Any]:
    """Three bins with :math:`\\delta_b` = 0.02, 0.10, 0.30 over the staterror samples (two,
    or with ``two=False`` one: ``bkg`` alone); ``zero_first``: bin 0's staterror data are 0;
    ``kind``: the modifier type of ``bkg``'s uncertainty (``"shapesys"`` for pyhf's Poisson
    equivalent, one sample only)."""
    bkg_sigma = [1.2, 3.0, 4.8] if two else [2.0, 5.0, 6.0]
    other_sigma = [1.6, 4.0, 3.6]
    bkg_yield = [80.0, 40.0, 15.0] if two else [100.0, 50.0, 20.0]
    if zero_first:
        bkg_sigma[0] = other_sigma[0] = 0.0
    samples: list[dict[str, Any]] = [
        {
            "name": "sig",
            "data": [5.0, 8.0, 4.0],
            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
        },
        {
            "name": "bkg",
            "data": bkg_yield,
            "modifiers": [
                {"name": "st", "type": kind, "data": bkg_sigma},
                {"name": "norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
            ],
        },
    ]
    if two:
        samples.append(
            {
                "name": "other",
                "data": [20.0, 10.0, 5.0],
                "modifiers": [{"name": "st", "type": "staterror", "data": other_sigma}],
            }
        )
    return {"channels": [{"name": "SR", "samples": samples}]}


def _workspace(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **spec,
        "observations": [{"name": "SR", "data": DATA}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


POINTS = [
    {"mu": [1.0], "norm": [0.0], "st": [1.0, 1.0, 1.0]},
    {"mu": [0.4], "norm": [0.7], "st": [1.0, 0.9, 1.2]},
    {"mu": [2.3], "norm": [-1.4], "st": [1.0, 1.3, 0.7]},
]


def _vector(config: Any, point: dict[str, list[float]]) -> np.ndarray:
    pars = np.zeros(config.npars)
    for name, values in point.items():
        pars[config.par_slice(name)] = values
    return pars


def _assert_equals_pyhf(model: relaxed.Model, theirs: Any) -> None:
    np.testing.assert_allclose(model.config.auxdata, theirs.config.auxdata, rtol=1e-12)
    assert model.config.par_order == theirs.config.par_order
    assert model.config.suggested_fixed() == theirs.config.suggested_fixed()
    data = np.array(DATA + list(model.config.auxdata))
    ref_data = np.array(DATA + list(theirs.config.auxdata))
    for point in POINTS:
        mine = float(model.logpdf(_vector(model.config, point), data)[0])
        ref = float(theirs.logpdf(_vector(theirs.config, point), ref_data)[0])
        assert mine == pytest.approx(ref, rel=1e-12)


def test_deltas_are_as_designed() -> None:
    plain = relaxed.Model(_spec())
    assert plain.config.auxdata_order == ["norm", "st"]
    np.testing.assert_allclose(plain._aux_sigma[1:], [0.02, 0.10, 0.30], rtol=1e-12)
    assert plain.config.suggested_fixed() == [False] * 5


def test_gaussian_threshold_equals_pyhf_with_zeroed_bin() -> None:
    model = relaxed.Model(_spec(), modifier_settings=THRESHOLD)
    theirs = pyhf.Model(_spec(zero_first=True))
    st = model.config.par_slice("st")
    assert model.config.suggested_fixed()[st] == [True, False, False]
    assert model.config.modifier_settings["staterror"] == {"rel_threshold": 0.05}
    _assert_equals_pyhf(model, theirs)


def test_poisson_threshold_equals_pyhf_shapesys_with_zeroed_bin() -> None:
    model = relaxed.Model(_spec(two=False), modifier_settings=POISSON_THRESHOLD)
    theirs = pyhf.Model(_spec(zero_first=True, kind="shapesys", two=False))
    st = model.config.par_slice("st")
    assert model.config.suggested_fixed()[st] == [True, False, False]
    assert model.config.modifier_settings["staterror"] == {
        "constraint": "poisson",
        "rel_threshold": 0.05,
    }
    _assert_equals_pyhf(model, theirs)


def test_per_name_threshold() -> None:
    per_name = {"staterror": {"rel_threshold_per_name": {"st": 0.2}}}
    model = relaxed.Model(_spec(), modifier_settings=per_name)
    assert model.config.suggested_fixed()[model.config.par_slice("st")] == [True, True, False]
    assert model.config.modifier_settings["staterror"] == {"rel_threshold_per_name": {"st": 0.2}}
    with pytest.raises(InvalidModifier, match=r"rel_threshold_per_name\['nope'\]"):
        relaxed.Model(
            _spec(), modifier_settings={"staterror": {"rel_threshold_per_name": {"nope": 0.1}}}
        )


def test_fit_and_hypotest_run_and_differ() -> None:
    model = relaxed.Model(_spec(), modifier_settings=THRESHOLD)
    plain = relaxed.Model(_spec())
    data = DATA + model.config.auxdata.tolist()
    cls_t = float(relaxed.infer.hypotest(1.0, data, model))
    cls_p = float(relaxed.infer.hypotest(1.0, data, plain))
    assert math.isfinite(cls_t) and 0.0 < cls_t <= 1.0
    assert cls_t != pytest.approx(cls_p, rel=1e-9)
    best = np.asarray(relaxed.infer.mle.fit(data, model))
    assert np.all(np.isfinite(best))
    assert best[model.config.par_slice("st")][0] == 1.0  # fixed at its init
    pars = np.array(model.config.suggested_init())
    pars[model.config.par_slice("st")] = [1.0, 1.1, 0.9]
    assert float(model.logpdf(pars, data)[0]) != pytest.approx(
        float(plain.logpdf(pars, data)[0]), rel=1e-9
    )


def test_default_zero_is_todays_model() -> None:
    plain = relaxed.Model(_spec())
    zero = relaxed.Model(_spec(), modifier_settings={"staterror": {"rel_threshold": 0}})
    pars = np.array(plain.config.suggested_init())
    pars[plain.config.par_slice("st")] = [1.05, 0.9, 1.2]
    data = np.array(DATA + plain.config.auxdata.tolist())
    assert str(jax.make_jaxpr(plain.logpdf)(pars, data)) == str(
        jax.make_jaxpr(zero.logpdf)(pars, data)
    )
    assert float(plain.logpdf(pars, data)[0]) == float(zero.logpdf(pars, data)[0])
    assert plain.config.suggested_fixed() == zero.config.suggested_fixed()
    assert "staterror" not in zero.config.modifier_settings
    assert plain._layout == zero._layout


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.05", True, None])
def test_bad_threshold_raises(bad: Any) -> None:
    with pytest.raises(InvalidModifier, match=r"^modifier_settings\.staterror\.rel_threshold"):
        relaxed.Model(_spec(), modifier_settings={"staterror": {"rel_threshold": bad}})


def test_traced_yields_with_threshold_raise() -> None:
    def logpdf(scale: Any) -> Any:
        spec = copy.deepcopy(_spec())
        spec["channels"][0]["samples"][1]["data"] = scale * np.array([80.0, 40.0, 15.0])
        model = relaxed.Model(spec, modifier_settings=THRESHOLD)
        return model.logpdf(np.array(model.config.suggested_init()), np.array(DATA + [1.0] * 3))

    with pytest.raises(InvalidModifier, match="concrete"):
        jax.grad(lambda s: logpdf(s)[0])(1.0)


def test_hs3_threshold_loads_and_equals_pyhf() -> None:
    doc = from_pyhf(_workspace(_spec()), modifier_settings=THRESHOLD)
    assert doc["distributions"][0]["staterror"] == {"relThreshold": 0.05}
    assert "staterror" not in from_pyhf(_workspace(_spec()))["distributions"][0]
    ws = load(doc)
    model = ws.model()
    assert model.config.modifier_settings["staterror"] == {"rel_threshold": 0.05}
    theirs = pyhf.Model(_spec(zero_first=True))
    _assert_equals_pyhf(model, theirs)
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(ws)
    assert str(info.value).startswith("distributions[0].staterror.relThreshold:"), str(info.value)


def test_hs3_thresholds_per_distribution() -> None:
    spec = _spec()
    second = copy.deepcopy(spec["channels"][0])
    second["name"] = "CR"
    for sample in second["samples"]:
        for mod in sample["modifiers"]:
            if mod["type"] == "staterror":
                mod["name"] = "st_CR"
    spec["channels"].append(second)
    ws = {
        **_workspace(spec),
        "observations": [{"name": "SR", "data": DATA}, {"name": "CR", "data": DATA}],
    }
    setting = {"staterror": {"rel_threshold_per_name": {"st": 0.05, "st_CR": 0.2}}}
    doc = from_pyhf(ws, modifier_settings=setting)
    assert [d.get("staterror") for d in doc["distributions"]] == [
        {"relThreshold": 0.05},
        {"relThreshold": 0.2},
    ]  # the spec's channel order: SR, CR
    model = load(doc).model()
    assert model.config.modifier_settings["staterror"] == setting["staterror"]
    assert model.config.suggested_fixed()[model.config.par_slice("st_CR")] == [True, True, False]
    assert model.config.suggested_fixed()[model.config.par_slice("st")] == [True, False, False]


def test_from_pyhf_refuses_two_thresholds_in_one_distribution() -> None:
    spec = _spec()
    spec["channels"][0]["samples"][2]["modifiers"][0]["name"] = "st2"
    setting = {"staterror": {"rel_threshold_per_name": {"st": 0.05}}}
    with pytest.raises(HS3NotSupported, match="one relThreshold per histfactory_dist"):
        from_pyhf(_workspace(spec), modifier_settings=setting)


def test_hs3_one_staterror_set_with_two_constraints_or_thresholds_is_refused() -> None:
    """A staterror set spanning two distributions (one name in SR and CR) takes one
    constraint and one threshold; two are refused, naming both paths."""
    spec = _spec()
    second = copy.deepcopy(spec["channels"][0])
    second["name"] = "CR"
    spec["channels"].append(second)
    ws = {
        **_workspace(spec),
        "observations": [{"name": "SR", "data": DATA}, {"name": "CR", "data": DATA}],
    }
    base = from_pyhf(ws)
    assert load(base).model().config.param_set("st").n_parameters == 6  # one set, both
    doc = copy.deepcopy(base)
    doc["distributions"][1]["staterror"] = {"relThreshold": 0.2}
    doc["distributions"][0]["staterror"] = {"relThreshold": 0.05}
    with pytest.raises(HS3NotSupported) as info:
        load(doc).model()
    message = str(info.value)
    assert message.startswith("distributions[1].staterror.relThreshold:"), message
    assert "a staterror threshold 0.2 here but 0.05 at distributions[0].staterror" in message
    doc = copy.deepcopy(base)
    for k, sample in enumerate(doc["distributions"][1]["samples"]):
        for j, mod in enumerate(sample["modifiers"]):
            if mod["type"] == "staterror":
                mod["constraint"] = "Poisson"  # a modifier's constraint wins over the default
                path = f"distributions[1].samples[{k}].modifiers[{j}].constraint"
                break
        else:
            continue
        break
    with pytest.raises(HS3NotSupported) as info:
        load(doc).model()
    message = str(info.value)
    assert message.startswith(path + ":"), message
    assert "a Poisson staterror constraint here but Gauss at" in message
    assert "on the same staterror parameters ('st')" in message
