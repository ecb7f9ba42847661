"""The HS3 constraint types of ``histfactory_dist`` modifiers beyond pyhf's, and relaxed's
``modifier_settings`` that build them.

- ``"Poisson"`` on a normsys/histosys: HS3's unit Poisson, read as pyhs3 0.4.2 reads it,
  :math:`\\log\\mathrm{Pois}(1 \\mid \\alpha) = \\log\\alpha - \\alpha - \\log\\Gamma(2)`
  (``modifier_settings[type]["constraint"] = "poisson"``: init 1, bounds (1e-10, 5)).
- ``"Gauss"`` on a shapesys: :math:`\\mathcal{N}(1 \\mid \\gamma_b, u_b/\\nu_b)` with the
  absolute uncertainties :math:`u_b` (``vals``): pyhf's staterror of that sample alone.
- ``"LogNormal"`` on a shapesys or staterror: defined by no implementation, refused.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pyhf
import pytest
from scipy import stats

import relaxed
from relaxed.exceptions import InvalidMeasurement, InvalidModifier
from relaxed.hs3 import HS3NotSupported, InvalidHS3, from_pyhf, load, to_pyhf
from relaxed.infer.calculators import sample_data

POISSON_ALPHA = {"normsys": {"constraint": "poisson"}, "histosys": {"constraint": "poisson"}}
GAUSS_SHAPESYS = {"shapesys": {"constraint": "gauss"}}
DATA = [36.0, 25.0, 12.0]
#: shapesys uncertainties for the comparisons with pyhs3 (see test_poisson_alpha_equals_pyhs3)
PYHS3_U = (3.3, 4.1, 1.7)


def _spec(uncertainty: str = "shapesys", u: tuple[float, ...] = (3.0, 4.0, 0.0)) -> dict[str, Any]:
    """Three bins: a signal with mu; a background with a normsys ``n``, a histosys ``h``
    and a per-bin uncertainty ``u`` (a shapesys, or with ``uncertainty="staterror"`` pyhf's
    staterror of the same absolute uncertainties ``u``; by default the last bin has none)."""
    return {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "sig",
                        "data": [4.0, 6.0, 2.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [30.0, 20.0, 9.0],
                        "modifiers": [
                            {"name": "n", "type": "normsys", "data": {"hi": 1.2, "lo": 0.85}},
                            {
                                "name": "h",
                                "type": "histosys",
                                "data": {
                                    "hi_data": [33.0, 21.0, 9.5],
                                    "lo_data": [28.0, 18.5, 8.0],
                                },
                            },
                            {"name": "u", "type": uncertainty, "data": list(u)},
                        ],
                    },
                ],
            }
        ]
    }


def _workspace(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **spec,
        "observations": [{"name": "SR", "data": DATA}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _vector(config: Any, point: dict[str, list[float]]) -> np.ndarray:
    pars = np.asarray(config.suggested_init(), dtype=np.float64)
    for name, values in point.items():
        pars[config.par_slice(name)] = values
    return pars


#: Parameter points (alpha > 0 for the Poisson-constrained ones).
POINTS = [
    {"mu": [1.0], "n": [1.0], "h": [1.0], "u": [1.0, 1.0, 1.0]},
    {"mu": [0.4], "n": [0.3], "h": [2.2], "u": [1.1, 0.9, 1.0]},
    {"mu": [1.7], "n": [3.1], "h": [0.05], "u": [0.8, 1.2, 1.0]},
]


@pytest.fixture(scope="module")
def models() -> dict[str, relaxed.Model]:
    spec = _spec()
    return {
        "default": relaxed.Model(spec),
        "poisson": relaxed.Model(spec, modifier_settings=POISSON_ALPHA),
        "gauss_shapesys": relaxed.Model(spec, modifier_settings=GAUSS_SHAPESYS),
    }


# -- Poisson normsys / histosys -------------------------------------------------------------
def test_poisson_alpha_parameters_and_constraint_term(models: dict[str, relaxed.Model]) -> None:
    model, gauss = models["poisson"], models["default"]
    cfg = model.config
    for name in ("n", "h"):
        ps = cfg.param_set(name)
        assert (ps.pdf_type, ps.inits, ps.bounds) == ("poisson", (1.0,), ((1e-10, 5.0),))
    assert cfg.modifier_settings["normsys"] == {"interpcode": "code4", "constraint": "poisson"}
    assert cfg.modifier_settings["histosys"] == {"interpcode": "code4p", "constraint": "poisson"}
    # the auxiliary data of n and h are 1 (tau = 1), the shapesys's tau_b = (nu_b / u_b)^2
    order = cfg.auxdata_order
    assert order == ["h", "n", "u"]
    np.testing.assert_allclose(cfg.auxdata, [1.0, 1.0, 100.0, 25.0, 1.0], rtol=1e-14)
    # the constraint term alone is log Pois(1 | alpha) = log(alpha) - alpha per parameter
    for point in POINTS:
        pars = _vector(cfg, point)
        value = float(model.constraint_logpdf(cfg.auxdata, pars))
        shapesys = float(
            gauss.constraint_logpdf(gauss.config.auxdata, _vector(gauss.config, point))
        )
        shapesys -= sum(stats.norm.logpdf(0.0, point[k][0], 1.0) for k in ("n", "h"))
        expected = sum(
            stats.poisson.logpmf(1, point[k][0]) for k in ("n", "h")
        )  # log(alpha) - alpha - log(1!)
        assert value - shapesys == pytest.approx(expected, rel=1e-13)
        closed = sum(math.log(point[k][0]) - point[k][0] for k in ("n", "h"))
        assert value - shapesys == pytest.approx(closed, rel=1e-13)
    # the main term is unchanged: the same rates at the same parameters
    pars = _vector(cfg, POINTS[1])
    np.testing.assert_array_equal(
        model.expected_actualdata(pars), gauss.expected_actualdata(_vector(gauss.config, POINTS[1]))
    )


def _poisson_doc(types: tuple[str, ...], u: tuple[float, ...] = (3.0, 4.0, 0.0)) -> dict[str, Any]:
    """The HS3 document of :func:`_spec` whose normsys/histosys of ``types`` are
    Poisson-constrained, written by from_pyhf (domain (1e-10, 5) and value 1 for them)."""
    settings = {t: {"constraint": "poisson"} for t in types}
    return from_pyhf(_workspace(_spec(u=u)), modifier_settings=settings)


@pytest.mark.parametrize("types", [("normsys",), ("histosys",), ("normsys", "histosys")])
def test_poisson_alpha_equals_pyhs3(types: tuple[str, ...]) -> None:
    """pyhs3 0.4.2 builds poisson_dist(x=1 | mean=alpha) for a Poisson normsys/histosys.
    (pyhs3 reads interpolation codes from a modifier's ``data.interpolation``, not from the
    modifier's ``interpolation``; its defaults, code4 and code4p, are this document's. Its
    shapesys divides by the uncertainties, so every bin has one here, and it reads a whole
    number tau_b of a Poisson term as an int8 constant whose log-gamma is float32, 5e-6 off
    for tau = 100, 25, 36, so the uncertainties make tau_b fractional.)"""
    import pyhs3

    doc = _poisson_doc(types, u=PYHS3_U)
    mods = {m["type"]: m for m in doc["distributions"][0]["samples"][1]["modifiers"]}
    for t in ("normsys", "histosys"):
        assert mods[t]["constraint"] == ("Poisson" if t in types else "Gauss")
    assert mods["normsys"]["interpolation"] == {"type": "mult", "in": "poly6", "out": "exp"}
    assert mods["histosys"]["interpolation"] == "poly6"
    ours = load(doc)
    reference = pyhs3.Workspace(**copy.deepcopy(doc)).model(
        doc["analyses"][0]["name"], progress=False
    )
    dist = doc["distributions"][0]["name"]
    gauss = load(from_pyhf(_workspace(_spec(u=PYHS3_U))))
    for point in POINTS:
        values = {"mu": point["mu"][0], "n": point["n"][0], "h": point["h"][0]}
        values.update({f"u_{i}": v for i, v in enumerate(point["u"])})
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        theirs = float(reference.logpdf(dist, **arrays))
        mine = ours.logpdf(dist, values)
        assert mine == pytest.approx(theirs, rel=1e-10)
        # not the Gaussian model's (except where log(a) - a = log N(0 | a, 1) by chance)
        assert abs(mine - gauss.logpdf(dist, values)) > 1e-3
    model = ours.model()
    for t in ("normsys", "histosys"):
        name = "n" if t == "normsys" else "h"
        expected = "poisson" if t in types else "normal"
        assert model.config.param_set(name).pdf_type == expected


def test_poisson_alpha_hypotest_and_toys(models: dict[str, relaxed.Model]) -> None:
    poisson, gauss = models["poisson"], models["default"]
    cls_p = float(relaxed.infer.hypotest(1.0, DATA + poisson.config.auxdata.tolist(), poisson))
    cls_g = float(relaxed.infer.hypotest(1.0, DATA + gauss.config.auxdata.tolist(), gauss))
    assert np.isfinite(cls_p) and 0.0 < cls_p < 1.0
    assert abs(cls_p - cls_g) > 1e-3
    # toys draw the auxiliary data of n and h from Pois(alpha): integers, mean alpha
    layout = poisson._layout
    poisson_pars = set(layout.aux_par_index[layout.poisson_aux].tolist())
    for name in ("n", "h"):
        assert poisson.config.par_slice(name).start in poisson_pars
    pars = _vector(poisson.config, POINTS[2])  # n = 3.1, h = 0.05
    toys = np.asarray(sample_data(poisson, pars, jax.random.PRNGKey(3), 4000))
    aux = toys[:, len(DATA) : len(DATA) + 2]  # auxdata order: h, n
    assert np.all(aux == np.round(aux)) and np.all(aux >= 0)
    np.testing.assert_allclose(aux.mean(0), [0.05, 3.1], rtol=0.1)
    assert aux[:, 1].var() == pytest.approx(3.1, rel=0.1)


# -- Gauss shapesys -------------------------------------------------------------------------
def test_gauss_shapesys_equals_pyhf_staterror(models: dict[str, relaxed.Model]) -> None:
    ours = models["gauss_shapesys"]
    theirs = pyhf.Model(_spec("staterror"))
    assert ours.config.par_order == theirs.config.par_order
    np.testing.assert_allclose(ours.config.auxdata, theirs.config.auxdata, rtol=1e-14)
    assert ours.config.suggested_fixed() == theirs.config.suggested_fixed()
    assert ours.config.suggested_fixed()[ours.config.par_slice("u")] == [False, False, True]
    assert ours.config.param_set("u").pdf_type == "normal"
    np.testing.assert_allclose(ours._aux_sigma[2:], [0.1, 0.2, 1.0], rtol=1e-14)
    data = DATA + ours.config.auxdata.tolist()
    for point in POINTS:
        point = {**point, "n": [point["n"][0] - 1.0]}  # any alpha for the Gaussian ones
        mine = float(ours.logpdf(_vector(ours.config, point), data)[0])
        ref = float(theirs.logpdf(_vector(theirs.config, point), DATA + theirs.config.auxdata)[0])
        assert mine == pytest.approx(ref, rel=1e-12)
    assert ours.config.modifier_settings["shapesys"] == {"constraint": "gauss"}


def test_gauss_shapesys_hs3_document() -> None:
    ws = _workspace(_spec())
    written = from_pyhf(ws, modifier_settings=GAUSS_SHAPESYS)
    mod = written["distributions"][0]["samples"][1]["modifiers"][2]
    assert (mod["type"], mod["constraint"], mod["data"]) == (
        "shapesys",
        "Gauss",
        {"vals": [3.0, 4.0, 0.0]},
    )
    # the same document by hand: the plain one with "Gauss" on its shapesys
    edited = from_pyhf(ws)
    edited["distributions"][0]["samples"][1]["modifiers"][2]["constraint"] = "Gauss"
    theirs = pyhf.Model(_spec("staterror"))
    for doc in (written, edited):
        hs3 = load(doc)
        model = hs3.model()
        assert model.config.modifier_settings["shapesys"] == {"constraint": "gauss"}
        data = hs3.data(model)
        np.testing.assert_allclose(data, DATA + theirs.config.auxdata, rtol=1e-14)
        for point in POINTS:
            point = {**point, "n": [point["n"][0] - 1.0], "h": [point["h"][0] - 1.0]}
            mine = float(model.logpdf(_vector(model.config, point), data)[0])
            ref = float(
                theirs.logpdf(_vector(theirs.config, point), DATA + theirs.config.auxdata)[0]
            )
            assert mine == pytest.approx(ref, rel=1e-12)
        with pytest.raises(HS3NotSupported) as info:
            to_pyhf(hs3)
        message = str(info.value)
        assert message.startswith("distributions[0].samples[1].modifiers[2].constraint: ")
        assert "Gauss constraint on a shapesys" in message
        assert "cannot be expressed in pyhf's JSON format" in message


def test_gauss_shapesys_gradient_of_traced_yields() -> None:
    """neos differentiates through the model's construction: the Gaussian width
    sigma_b = u_b / nu_b is traced, and the gradient of the logpdf with respect to the
    yields and the uncertainties matches finite differences."""
    point = {"mu": [1.3], "n": [0.4], "h": [-0.7], "u": [0.85, 1.3, 1.0]}
    pars = _vector(relaxed.Model(_spec()).config, point)

    def logpdf(x: Any) -> Any:
        spec = _spec()
        bkg = spec["channels"][0]["samples"][1]
        bkg["data"] = x[:3]
        bkg["modifiers"][2]["data"] = x[3:]
        bkg["modifiers"][1]["data"] = {"hi_data": x[:3] * 1.1, "lo_data": x[:3] * 0.9}
        model = relaxed.Model(spec, modifier_settings=GAUSS_SHAPESYS, validate=False)
        return model.logpdf(pars, jnp.concatenate([jnp.asarray(DATA), model.config.auxdata]))[0]

    x = np.array([30.0, 20.0, 9.0, 3.0, 4.0, 1.5])
    grad = np.asarray(jax.jit(jax.grad(logpdf))(x))
    f = jax.jit(logpdf)
    h = 1e-6
    fd = [
        (float(f(x + h * np.eye(6)[k])) - float(f(x - h * np.eye(6)[k]))) / (2 * h)
        for k in range(6)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.all(np.abs(grad[3:]) > 1e-3)  # the widths are traced, not constants


# -- the engine's settings ------------------------------------------------------------------
def test_default_settings_trace_the_same_program(models: dict[str, relaxed.Model]) -> None:
    spec = _spec()
    explicit = relaxed.Model(
        spec,
        modifier_settings={
            "normsys": {"constraint": "gauss"},
            "histosys": {"constraint": "gauss", "per_name": {"h": "gauss"}},
            "shapesys": {"constraint": "poisson"},
            "staterror": {"constraint": "gauss"},
        },
    )
    default = models["default"]
    pars = _vector(default.config, POINTS[1])
    data = DATA + default.config.auxdata.tolist()
    assert str(jax.make_jaxpr(default.logpdf)(pars, data)) == str(
        jax.make_jaxpr(explicit.logpdf)(pars, data)
    )
    assert float(default.logpdf(pars, data)[0]) == float(explicit.logpdf(pars, data)[0])
    assert default._layout.structure_key == explicit._layout.structure_key
    # constraint-only entries keep pyhf's Model(spec) codes; only per_name is reported
    assert explicit.config.modifier_settings == {
        "normsys": {"interpcode": "code4"},
        "histosys": {"interpcode": "code4p", "constraint": "gauss", "per_name": {"h": "gauss"}},
    }
    assert default.config.modifier_settings == {
        "normsys": {"interpcode": "code4"},
        "histosys": {"interpcode": "code4p"},
    }
    # the HS3 document of the default model is unchanged by the explicit defaults
    ws = _workspace(spec)
    assert from_pyhf(ws) == from_pyhf(ws, modifier_settings={"shapesys": {"constraint": "poisson"}})


def _shared_spec() -> dict[str, Any]:
    """One parameter ``a`` shared by a normsys (on bkg) and a histosys (on other)."""
    spec = _spec()
    samples = spec["channels"][0]["samples"]
    samples[1]["modifiers"][0]["name"] = "a"
    samples.append(
        {
            "name": "other",
            "data": [5.0, 5.0, 5.0],
            "modifiers": [
                {
                    "name": "a",
                    "type": "histosys",
                    "data": {"hi_data": [6.0, 5.5, 5.0], "lo_data": [4.5, 4.0, 5.0]},
                }
            ],
        }
    )
    return spec


@pytest.mark.parametrize(
    "settings",
    [
        {"normsys": {"constraint": "poisson"}},
        {"histosys": {"per_name": {"a": "poisson"}}},
        {"normsys": {"per_name": {"a": "poisson"}}, "histosys": {"constraint": "gauss"}},
    ],
)
def test_shared_normsys_histosys_parameter(settings: dict[str, Any]) -> None:
    spec = _shared_spec()
    model = relaxed.Model(spec, modifier_settings=settings)
    gauss = relaxed.Model(spec)
    ps = model.config.param_set("a")
    assert ps.modifier_types == ("histosys", "normsys") and ps.pdf_type == "poisson"
    point = {"a": [0.6], "h": [0.3], "mu": [1.2], "u": [1.0, 1.0, 1.0]}
    pars, gpars = _vector(model.config, point), _vector(gauss.config, point)
    value = float(model.logpdf(pars, DATA + model.config.auxdata.tolist())[0])
    ref = float(gauss.logpdf(gpars, DATA + gauss.config.auxdata.tolist())[0])
    # one constraint term for a: log Pois(1 | 0.6) instead of log N(0 | 0.6, 1)
    expected = stats.poisson.logpmf(1, 0.6) - stats.norm.logpdf(0.0, 0.6, 1.0)
    assert value - ref == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (
            {"normsys": {"constraint": "poisson"}, "histosys": {"constraint": "gauss"}},
            "parameter 'a' is shared by histosys and normsys modifiers, which need one "
            "constraint, but modifier_settings.histosys.constraint gives 'gauss' and "
            "modifier_settings.normsys.constraint gives 'poisson'",
        ),
        (
            {"normsys": {"per_name": {"a": "gauss"}}, "histosys": {"per_name": {"a": "poisson"}}},
            "parameter 'a' is shared",
        ),
        (
            {"shapesys": {"constrant": "gauss"}},
            "modifier_settings.shapesys: unknown keys ['constrant']; use 'constraint' and "
            "'per_name'",
        ),
        (
            {"normsys": {"interpcode": "code4", "per_nam": {}}},
            "modifier_settings.normsys: unknown keys ['per_nam']; use 'interpcode', "
            "'per_modifier', 'constraint' and 'per_name'",
        ),
        (
            {"histosys": {"constraint": "lognormal"}},
            "modifier_settings.histosys.constraint: histosys constraint 'lognormal' is not "
            "supported; use one of ['gauss', 'poisson']",
        ),
        (
            {"shapesys": {"per_name": {"nope": "gauss"}}},
            "modifier_settings.shapesys.per_name['nope']: no shapesys modifier 'nope'; the "
            "shapesys modifiers are ['u']",
        ),
        ({"shapesys": "gauss"}, "modifier_settings.shapesys: expected a mapping such as"),
        (
            {"lumi": {"constraint": "gauss"}},
            "modifier_settings: interpolation codes can be set for normsys and histosys only "
            "(and constraints for histosys, normsys, shapesys, staterror), got ['lumi']",
        ),
    ],
)
def test_bad_settings(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidModifier) as info:
        relaxed.Model(_shared_spec(), modifier_settings=settings)
    assert words in str(info.value), str(info.value)


def test_measurement_config_width_keys() -> None:
    """A Gaussian shapesys takes ``sigmas`` (not ``factors``); a Poisson normsys neither."""
    spec = _spec()
    spec["parameters"] = [{"name": "u", "sigmas": [0.2, 0.3, 1.0]}]
    with pytest.raises(InvalidMeasurement, match="has no sigmas"):
        relaxed.Model(spec)
    model = relaxed.Model(spec, modifier_settings=GAUSS_SHAPESYS)
    np.testing.assert_allclose(model._aux_sigma[2:], [0.2, 0.3, 1.0])
    spec["parameters"] = [{"name": "u", "factors": [4.0, 5.0, 1.0]}]
    with pytest.raises(InvalidMeasurement, match="has no factors"):
        relaxed.Model(spec, modifier_settings=GAUSS_SHAPESYS)
    spec["parameters"] = [{"name": "n", "factors": [2.0]}]
    with pytest.raises(InvalidMeasurement, match="has no factors"):
        relaxed.Model(spec, modifier_settings=POISSON_ALPHA)


# -- errors of HS3 documents ----------------------------------------------------------------
def test_poisson_alpha_refused_by_to_pyhf() -> None:
    ws = load(_poisson_doc(("normsys",)))
    with pytest.raises(HS3NotSupported) as info:
        to_pyhf(ws)
    message = str(info.value)
    assert message.startswith("distributions[0].samples[1].modifiers[0].constraint: ")
    assert "Poisson constraint on a normsys" in message
    assert "cannot be expressed in pyhf's JSON format" in message


@pytest.mark.parametrize("where", ["shapesys", "staterror", "staterror_distribution"])
def test_lognormal_on_per_bin_types_is_refused(where: str) -> None:
    doc = from_pyhf(_workspace(_spec("staterror" if "staterror" in where else "shapesys")))
    dist = doc["distributions"][0]
    if where == "staterror_distribution":
        dist["staterror"] = {"constraint": "LogNormal"}
        del dist["samples"][1]["modifiers"][2]["constraint"]
        path = "distributions[0].staterror.constraint"
    else:
        dist["samples"][1]["modifiers"][2]["constraint"] = "LogNormal"
        path = "distributions[0].samples[1].modifiers[2].constraint"
    mtype = "shapesys" if where == "shapesys" else "staterror"
    ws = load(doc)
    for build in (lambda w: w.model(), to_pyhf):
        with pytest.raises(HS3NotSupported) as info:
            build(ws)
        message = str(info.value)
        assert message.startswith(f"{path}: a LogNormal constraint on a {mtype}: "), message
        assert "no implementation defines it" in message


def test_one_parameter_two_constraints_names_both_paths() -> None:
    """A normsys parameter on two samples, Poisson on one and Gauss on the other."""
    spec = _spec()
    spec["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "n", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}
    )
    doc = from_pyhf(_workspace(spec), modifier_settings={"normsys": {"constraint": "poisson"}})
    first = "distributions[0].samples[0].modifiers[1].constraint"
    second = "distributions[0].samples[1].modifiers[0].constraint"
    assert doc["distributions"][0]["samples"][0]["modifiers"][1]["constraint"] == "Poisson"
    load(doc).model()  # both Poisson: one term
    doc["distributions"][0]["samples"][1]["modifiers"][0]["constraint"] = "Gauss"
    with pytest.raises(HS3NotSupported) as info:
        load(doc).model()
    message = str(info.value)
    assert message.startswith(f"{second}: a Gauss constraint here but Poisson at {first} "), message
    assert "same parameter" in message and "('n')" in message
    # a LogNormal is the Gauss it equals: no conflict with a Gauss, one with a Poisson
    doc["distributions"][0]["samples"][0]["modifiers"][1]["constraint"] = "LogNormal"
    assert load(doc).model().config.param_set("n").pdf_type == "normal"
    doc["distributions"][0]["samples"][1]["modifiers"][0]["constraint"] = "Poisson"
    with pytest.raises(HS3NotSupported, match=r"a Poisson constraint here but LogNormal at"):
        load(doc).model()


def test_poisson_alpha_needs_a_positive_domain_and_value() -> None:
    doc = _poisson_doc(("normsys",))
    axes = doc["domains"][0]["axes"]
    k = [a["name"] for a in axes].index("n")
    axes[k]["min"] = -5.0
    with pytest.raises(InvalidHS3) as info:
        load(doc).model()
    message = str(info.value)
    assert message.startswith(f"domains[0].axes[{k}].min: parameter 'n' has a Poisson constraint")
    assert "defined for n > 0 only" in message
    axes[k]["min"] = 1e-10
    values = doc["parameter_points"][0]["parameters"]
    j = [v["name"] for v in values].index("n")
    values[j]["value"] = 0.0
    with pytest.raises(InvalidHS3, match=rf"^parameter_points\[0\]\.parameters\[{j}\]\.value: "):
        load(doc).model()
