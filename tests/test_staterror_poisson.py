"""Poisson-constrained staterror (ROOT's HistFactory, HS3 ``"constraint": "Poisson"``):
relaxed's ``modifier_settings={"staterror": {"constraint": "poisson"}}``.

With :math:`\\delta_b = \\sqrt{\\sum_s \\sigma_{sb}^2} / \\sum_s \\nu_{sb}` and
:math:`\\tau_b = 1/\\delta_b^2`, the constraint is :math:`\\log\\mathrm{Pois}(\\tau_b \\mid
\\gamma_b\\tau_b)`: for one sample it is pyhf's shapesys of the same uncertainties.
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import mpmath
import numpy as np
import pyhf
import pytest

import relaxed
from relaxed.exceptions import InvalidMeasurement, InvalidModifier
from relaxed.hs3 import HS3NotSupported, from_pyhf, load, to_pyhf
from relaxed.infer.calculators import sample_data

POISSON = {"staterror": {"constraint": "poisson"}}
DATA = [51.0, 48.0, 30.0, 2.0]


def _spec(kind: str = "staterror", two_samples: bool = False) -> dict[str, Any]:
    """A channel of four bins: a signal with mu, a background with a staterror (or, for
    ``kind="shapesys"``, a shapesys of the same uncertainties); the last bin has none."""
    bkg_mods: list[dict[str, Any]] = [
        {"name": "st", "type": kind, "data": [3.0, 7.0, 2.5, 0.0]},
        {"name": "norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
    ]
    samples: list[dict[str, Any]] = [
        {
            "name": "sig",
            "data": [12.0, 11.0, 4.0, 1.0],
            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
        },
        {"name": "bkg", "data": [50.0, 52.0, 25.0, 1.5], "modifiers": bkg_mods},
    ]
    if two_samples:
        samples.append(
            {
                "name": "other",
                "data": [20.0, 10.0, 5.0, 0.5],
                "modifiers": [{"name": "st", "type": "staterror", "data": [4.0, 1.0, 2.0, 0.0]}],
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


def _points(model: relaxed.Model) -> list[dict[str, list[float]]]:
    """Parameter points by name (scalar and per-bin sets as lists)."""
    return [
        {"mu": [1.0], "norm": [0.0], "st": [1.0, 1.0, 1.0, 1.0]},
        {"mu": [0.4], "norm": [0.7], "st": [1.1, 0.9, 1.2, 1.0]},
        {"mu": [2.3], "norm": [-1.4], "st": [0.8, 1.3, 0.7, 1.0]},
    ]


def _aux_st(model: relaxed.Model) -> slice:
    """Where the staterror's auxiliary data are in ``config.auxdata``."""
    start = 0
    for name in model.config.auxdata_order:
        n = model.config.param_set(name).n_parameters
        if name == "st":
            return slice(start, start + n)
        start += n
    raise AssertionError("no staterror")


def _vector(config: Any, point: dict[str, list[float]]) -> list[float]:
    pars = [0.0] * config.npars
    for name, values in point.items():
        pars[config.par_slice(name)] = values
    return pars


def test_single_sample_equals_pyhf_shapesys() -> None:
    ours = relaxed.Model(_spec(), modifier_settings=POISSON)
    theirs = pyhf.Model(_spec("shapesys"))
    np.testing.assert_allclose(ours.config.auxdata, theirs.config.auxdata, rtol=1e-12)
    assert ours.config.auxdata[-1] == 1.0 and ours.config.suggested_fixed()[-1]
    assert ours.config.suggested_fixed() == [
        theirs.config.suggested_fixed()[theirs.config.par_names.index(n)]
        for n in ours.config.par_names
    ]
    for point in _points(ours):
        mine = float(
            ours.logpdf(_vector(ours.config, point), DATA + ours.config.auxdata.tolist())[0]
        )
        ref = float(theirs.logpdf(_vector(theirs.config, point), DATA + theirs.config.auxdata)[0])
        assert mine == pytest.approx(ref, rel=1e-12)
    assert ours.config.param_set("st").pdf_type == "poisson"
    assert ours.config.modifier_settings["staterror"] == {"constraint": "poisson"}


def test_two_samples_tau_and_constraint_value() -> None:
    spec = _spec(two_samples=True)
    model = relaxed.Model(spec, modifier_settings=POISSON)
    gauss = relaxed.Model(spec)
    errors = np.array([[3.0, 7.0, 2.5, 0.0], [4.0, 1.0, 2.0, 0.0]])
    totals = np.array([50.0 + 20.0, 52.0 + 10.0, 25.0 + 5.0, 1.5 + 0.5])
    delta = np.sqrt((errors**2).sum(0)) / totals
    tau = 1.0 / delta[:3] ** 2
    st = _aux_st(model)
    np.testing.assert_allclose(model.config.auxdata[st][:3], tau, rtol=1e-13)
    assert float(model.config.auxdata[st][3]) == 1.0
    # the Gaussian widths are the same delta_b
    pars = np.array(model.config.suggested_init())
    gammas = np.array([1.1, 0.85, 1.3, 1.0])
    pars[model.config.par_slice("st")] = gammas
    aux = model.config.auxdata
    value = float(model.constraint_logpdf(aux, pars))
    expected = 0.0
    for t, g in zip(aux[st].tolist(), gammas.tolist(), strict=True):
        t, g = mpmath.mpf(t), mpmath.mpf(g)
        expected += t * mpmath.log(g * t) - g * t - mpmath.loggamma(t + 1)
    # the normsys constraint, log N(0 | alpha = 0, 1)
    expected += -0.5 * mpmath.log(2 * mpmath.pi)
    assert value == pytest.approx(float(expected), rel=1e-12)
    assert value != pytest.approx(float(gauss.constraint_logpdf(gauss.config.auxdata, pars)))
    np.testing.assert_allclose(model.expected_auxdata(pars)[st], gammas * np.asarray(aux[st]))


def test_gradient_matches_finite_differences() -> None:
    model = relaxed.Model(_spec(two_samples=True), modifier_settings=POISSON)
    data = np.array(DATA + model.config.auxdata.tolist())
    pars = np.array(_vector(model.config, _points(model)[1]))

    def f(p: Any) -> Any:
        return model.logpdf(p, data)[0]

    grad = np.asarray(jax.grad(f)(pars))
    h = 1e-6
    for k in range(pars.size):
        up, dn = pars.copy(), pars.copy()
        up[k] += h
        dn[k] -= h
        fd = (float(f(up)) - float(f(dn))) / (2 * h)
        assert grad[k] == pytest.approx(fd, rel=1e-6, abs=1e-6)


def test_hypotest_and_toys() -> None:
    spec = _spec(two_samples=True)
    poisson = relaxed.Model(spec, modifier_settings=POISSON)
    gauss = relaxed.Model(spec)
    cls_p = float(relaxed.infer.hypotest(1.0, DATA + poisson.config.auxdata.tolist(), poisson))
    cls_g = float(relaxed.infer.hypotest(1.0, DATA + gauss.config.auxdata.tolist(), gauss))
    assert np.isfinite(cls_p) and 0.0 < cls_p < 1.0
    assert cls_p != pytest.approx(cls_g, rel=1e-6)
    # toys draw the staterror auxiliary data from Pois(tau * gamma), as shapesys's
    layout = poisson._layout
    st = poisson.config.par_slice("st")
    assert set(range(st.start, st.stop)) <= set(layout.aux_par_index[layout.poisson_aux].tolist())
    toys = sample_data(poisson, poisson.config.suggested_init(), jax.random.PRNGKey(1), 4000)
    aux = np.asarray(toys[:, len(DATA) :][:, _aux_st(poisson)][:, :3])
    assert np.all(aux == np.round(aux))  # integer draws
    tau = poisson.config.auxdata[_aux_st(poisson)][:3]
    np.testing.assert_allclose(aux.mean(0), tau, rtol=0.02)


def test_default_and_gauss_setting_unchanged() -> None:
    spec = _spec(two_samples=True)
    default = relaxed.Model(spec)
    gauss = relaxed.Model(spec, modifier_settings={"staterror": {"constraint": "gauss"}})
    pars = _vector(default.config, _points(default)[2])
    data = DATA + default.config.auxdata.tolist()
    assert str(jax.make_jaxpr(default.logpdf)(pars, data)) == str(
        jax.make_jaxpr(gauss.logpdf)(pars, data)
    )
    assert float(default.logpdf(pars, data)[0]) == float(gauss.logpdf(pars, data)[0])
    assert default._layout.structure_key == gauss._layout.structure_key
    assert "staterror" not in default.config.modifier_settings
    assert default.config.modifier_settings == gauss.config.modifier_settings
    # interpolation codes stay pyhf's Model(spec) defaults with a staterror entry alone
    assert gauss.config.modifier_settings["histosys"] == {"interpcode": "code4p"}
    # the per-name form picks sets; a gauss default with a Poisson set is the Poisson model
    named = relaxed.Model(spec, modifier_settings={"staterror": {"per_name": {"st": "poisson"}}})
    poisson = relaxed.Model(spec, modifier_settings=POISSON)
    assert float(named.logpdf(pars, data)[0]) == float(poisson.logpdf(pars, data)[0])
    assert named.config.modifier_settings["staterror"] == {
        "constraint": "gauss",
        "per_name": {"st": "poisson"},
    }


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"staterror": {"constraint": "Poisson"}}, "staterror.constraint: staterror constraint"),
        ({"staterror": {"constrant": "poisson"}}, "unknown keys ['constrant']"),
        ({"staterror": "poisson"}, "expected a mapping"),
        ({"staterror": {"per_name": {"nope": "poisson"}}}, "no staterror modifier 'nope'"),
        ({"staterror": {"per_name": {"st": "lognormal"}}}, "per_name['st']"),
        ({"staterror": {"per_name": ["st"]}}, "per_name: expected a mapping"),
    ],
)
def test_bad_settings(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidModifier) as info:
        relaxed.Model(_spec(), modifier_settings=settings)
    assert words in str(info.value), str(info.value)


def test_measurement_config() -> None:
    """A Poisson staterror takes ``factors`` (its tau), not ``sigmas``."""
    spec = _spec()
    spec["parameters"] = [{"name": "st", "sigmas": [0.1, 0.1, 0.1, 0.1]}]
    with pytest.raises(InvalidMeasurement, match="has no sigmas"):
        relaxed.Model(spec, modifier_settings=POISSON)
    spec["parameters"] = [{"name": "st", "factors": [4.0, 5.0, 6.0, 1.0]}]
    with pytest.raises(InvalidMeasurement, match="has no factors"):
        relaxed.Model(spec)
    model = relaxed.Model(spec, modifier_settings=POISSON)
    pars = np.array(model.config.suggested_init())
    pars[model.config.par_slice("st")] = 2.0
    np.testing.assert_allclose(model.expected_auxdata(pars)[_aux_st(model)], [8, 10, 12, 2.0])


def _poisson_doc(where: str = "modifier") -> dict[str, Any]:
    doc = from_pyhf(_workspace(_spec()))
    dist = doc["distributions"][0]
    if where == "modifier":
        for mod in dist["samples"][1]["modifiers"]:
            if mod["type"] == "staterror":
                mod["constraint"] = "Poisson"
    else:
        dist["staterror"] = {"constraint": "Poisson", "relThreshold": 0.0}
        for mod in dist["samples"][1]["modifiers"]:
            if mod["type"] == "staterror":
                del mod["constraint"]
    return doc


@pytest.mark.parametrize("where", ["modifier", "distribution"])
def test_hs3_poisson_staterror_equals_pyhf_shapesys(where: str) -> None:
    ws = load(_poisson_doc(where))
    model = ws.model()
    data = ws.data(model)
    theirs = pyhf.Model(_spec("shapesys"))
    assert sorted(model.config.par_order) == ["mu", "norm", "st"]
    np.testing.assert_allclose(model.config.auxdata, theirs.config.auxdata, rtol=1e-12)
    for point in _points(model):
        mine = float(model.logpdf(_vector(model.config, point), data)[0])
        ref = float(theirs.logpdf(_vector(theirs.config, point), DATA + theirs.config.auxdata)[0])
        assert mine == pytest.approx(ref, rel=1e-12)
    path = (
        "distributions[0].samples[1].modifiers[0].constraint"
        if where == "modifier"
        else "distributions[0].staterror.constraint"
    )
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(ws)
    assert str(info.value).startswith(path + ":"), str(info.value)


def test_hs3_relthreshold_fixes_bins_and_other_constraints_stay_unsupported() -> None:
    doc = _poisson_doc("distribution")
    doc["distributions"][0]["staterror"]["relThreshold"] = 0.07  # delta_0 = 3 / 50 = 0.06
    ws = load(doc)
    model = ws.model()
    assert model.config.modifier_settings["staterror"] == {
        "constraint": "poisson",
        "rel_threshold": 0.07,
    }
    assert model.config.suggested_fixed()[model.config.par_slice("st")] == [
        True,
        False,
        False,
        True,
    ]
    zeroed = _spec("shapesys")
    zeroed["channels"][0]["samples"][1]["modifiers"][0]["data"][0] = 0.0
    theirs = pyhf.Model(zeroed)
    data = ws.data(model)
    for point in _points(model):
        point = {**point, "st": [1.0, *point["st"][1:]]}
        mine = float(model.logpdf(_vector(model.config, point), data)[0])
        ref = float(theirs.logpdf(_vector(theirs.config, point), DATA + theirs.config.auxdata)[0])
        assert mine == pytest.approx(ref, rel=1e-12)
    doc["distributions"][0]["staterror"]["constraint"] = "Gauss"
    with pytest.raises(HS3NotSupported, match=r"^distributions\[0\]\.staterror\.relThreshold"):
        to_pyhf(load(doc))
    doc = _poisson_doc("distribution")
    doc["distributions"][0]["staterror"]["constraint"] = "LogNormal"
    with pytest.raises(HS3NotSupported, match=r"^distributions\[0\]\.staterror\.constraint"):
        load(doc).model()


def test_from_pyhf_writes_poisson_and_round_trips() -> None:
    ws = _workspace(_spec(two_samples=True))
    doc = from_pyhf(ws, modifier_settings=POISSON)
    mods = [m for s in doc["distributions"][0]["samples"] for m in s["modifiers"]]
    staterrors = [m for m in mods if m["type"] == "staterror"]
    assert len(staterrors) == 2 and all(m["constraint"] == "Poisson" for m in staterrors)
    plain = from_pyhf(ws)
    assert all(
        m.get("constraint") == "Gauss"
        for s in plain["distributions"][0]["samples"]
        for m in s["modifiers"]
        if m["type"] == "staterror"
    )
    model = load(doc).model()
    direct = relaxed.Workspace(copy.deepcopy(ws)).model(modifier_settings=POISSON)
    np.testing.assert_allclose(model.config.auxdata, direct.config.auxdata, rtol=1e-13)
    pars = direct.config.suggested_init()
    assert float(model.logpdf(pars, load(doc).data(model))[0]) == pytest.approx(
        float(direct.logpdf(pars, DATA + direct.config.auxdata.tolist())[0]), rel=1e-12
    )
