"""HS3 documents with unbinned data (relaxed.hs3.unbinned, relaxed.hs3.combine): the
likelihood of each construct against a direct numpy/scipy computation and against pyhs3
0.4.2, fits, the combined binned+unbinned model through relaxed.infer, and every error path
with its JSON path.

pyhs3 0.4.2 evaluates the documents here except: an inline number as a likelihood datum (it
wants a data set name), a ``mixture_dist`` with as many coefficients as summands and
``extended: false`` (it refuses the combination), and ``^`` in expressions (it hands them to
sympy, where ``^`` is XOR: those documents use ``**``). It writes ``uniform_dist``'s ``x`` as a
one-element list, which relaxed reads too. pyhs3's ``log_prob`` keeps the Gaussian
constraints' normalisation :math:`-\\log s - \\frac12\\log 2\\pi` and drops :math:`\\log n!`,
as relaxed's ``ExtendedModel.nll`` drops both: the comparisons add the former.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

import relaxed
from relaxed.combined import CombinedModel
from relaxed.hs3 import HS3NotSupported, InvalidHS3, load
from relaxed.unbinned import ExtendedModel, fit

LO, HI = 100.0, 160.0
SIG = {"name": "sig", "type": "gaussian_dist", "x": "m", "mean": "m0", "sigma": "width"}
BKG = {"name": "bkg", "type": "exponential_dist", "x": "m", "c": "slope"}
DOMAIN = {
    "m0": (110.0, 140.0),
    "width": (0.5, 10.0),
    "slope": (-1.0, 1.0),
    "n_sig": (0.0, 1000.0),
    "n_bkg": (0.0, 1000.0),
    "f": (0.0, 1.0),
}
#: Parameter values exact in float32 (pyhs3 0.4.2 rounds some parameters to float32: with a
#: slope of 0.03 it computes with 0.0299999993, 4e-7 off in the NLL of these events).
POINT = {"m0": 124.0, "width": 2.5, "slope": 0.03125, "n_sig": 50.0, "n_bkg": 250.0, "f": 0.25}


@functools.lru_cache(maxsize=1)
def _events() -> tuple[float, ...]:
    rng = np.random.default_rng(20261130)
    x = np.concatenate([rng.normal(125.0, 2.0, 60), LO + rng.exponential(1 / 0.04, 300)])
    return tuple(float(v) for v in np.round(x[(x >= LO) & (x <= HI)], 6))


def _doc(
    distributions: list[dict[str, Any]],
    pairs: list[str],
    data: list[Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A document with the events above (data set ``obs``, observable ``m``)."""
    doc: dict[str, Any] = {
        "metadata": {"hs3_version": "0.2"},
        "distributions": copy.deepcopy(distributions),
        "data": [
            {
                "name": "obs",
                "type": "unbinned",
                "entries": [[v] for v in _events()],
                "axes": [{"name": "m", "min": LO, "max": HI}],
            }
        ],
        "likelihoods": [
            {"name": "L", "distributions": pairs, "data": data or ["obs"] * len(pairs)}
        ],
        "domains": [
            {
                "name": "D",
                "type": "product_domain",
                "axes": [{"name": n, "min": lo, "max": hi} for n, (lo, hi) in DOMAIN.items()],
            }
        ],
        "parameter_points": [
            {"name": "start", "parameters": [{"name": n, "value": v} for n, v in POINT.items()]}
        ],
        "analyses": [{"name": "A", "likelihood": "L", "domains": ["D"], "init": "start"}],
    }
    for key, value in extra.items():
        doc[key] = value
    return doc


def _mentioned(doc: dict[str, Any]) -> set[str]:
    """Every name (and expression token) in the distributions and functions."""
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.update(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", value))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc.get("distributions", []))
    walk(doc.get("functions", []))
    return out


def _load(doc: dict[str, Any]) -> relaxed.hs3.HS3Workspace:
    """Load ``doc`` without the domain axes and point entries of parameters it does not
    mention (the loader refuses those as unknown)."""
    doc = copy.deepcopy(doc)
    names = _mentioned(doc)
    for domain in doc.get("domains", []):
        domain["axes"] = [a for a in domain["axes"] if a["name"] in names]
    for point in doc.get("parameter_points", []):
        point["parameters"] = [p for p in point["parameters"] if p["name"] in names]
    return load(doc)


def _mixture(coefficients: list[Any], extended: bool | None = True) -> list[dict[str, Any]]:
    node: dict[str, Any] = {
        "name": "model",
        "type": "mixture_dist",
        "summands": ["sig", "bkg"],
        "coefficients": coefficients,
    }
    if extended is not None:
        node["extended"] = extended
    return [SIG, BKG, node]


def _part(doc: dict[str, Any]) -> Any:
    return _load(doc).unbinned().parts[0]


def _nll(part: Any, values: dict[str, float]) -> float:
    model = part.model
    pars = [values.get(n, POINT.get(n, 0.0)) for n in model.config.par_order]
    return float(model.nll(jnp.asarray(pars), part.events()))


# -- direct computations ----------------------------------------------------------------


def _f_sig(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    norm = stats.norm.cdf(HI, p["m0"], p["width"]) - stats.norm.cdf(LO, p["m0"], p["width"])
    return stats.norm.pdf(x, p["m0"], p["width"]) / norm


def _f_bkg(x: np.ndarray, p: dict[str, float]) -> np.ndarray:
    c = p["slope"]
    return np.exp(-c * x) / ((np.exp(-c * LO) - np.exp(-c * HI)) / c)


def _scipy_extended(p: dict[str, float], n_sig: float, n_bkg: float) -> float:
    x = np.asarray(_events())
    density = n_sig * _f_sig(x, p) + n_bkg * _f_bkg(x, p)
    return float(-np.sum(np.log(density)) + n_sig + n_bkg)


# -- pyhs3 ------------------------------------------------------------------------------


def _pyhs3_log_prob(doc: dict[str, Any], points: list[dict[str, float]]) -> list[float]:
    """pyhs3's log_prob of the analysis at the parameter points (the others at the point's)."""
    pyhs3 = pytest.importorskip("pyhs3")
    from pytensor.graph.traversal import explicit_graph_inputs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws = pyhs3.Workspace(**copy.deepcopy(doc))
        model = ws.model(ws.analyses[0])
        log_prob = model.log_prob
        names = {v.name for v in explicit_graph_inputs([log_prob]) if v.name}
        function = pyhs3.jaxify(log_prob)
        out = []
        for point in points:
            args = {**model.data, **model.free_params, **point}
            value = function(**{k: v for k, v in args.items() if k in names})
            out.append(float(np.asarray(value[0]).reshape(-1)[0]))
    return out


POINTS = [{}, {"m0": 125.5, "width": 1.75, "slope": 0.046875, "n_sig": 70.0, "n_bkg": 280.0}]


# -- the constructs ---------------------------------------------------------------------


def test_extended_mixture_against_scipy_and_pyhs3() -> None:
    doc = _doc(_mixture(["n_sig", "n_bkg"]), ["model"])
    part = _part(doc)
    model = part.model
    assert isinstance(model, ExtendedModel) and model.extended
    assert model.observable == "m" and model.domain == (LO, HI)
    assert model.config.par_order == ("m0", "n_bkg", "n_sig", "slope", "width")
    assert [c.name for c in model.components] == ["sig", "bkg"]
    assert part.path == "likelihoods[0].distributions[0]" and part.data == "obs"
    ours = [_nll(part, p) for p in POINTS]
    for p, value in zip(POINTS, ours, strict=True):
        q = {**POINT, **p}
        assert value == pytest.approx(_scipy_extended(q, q["n_sig"], q["n_bkg"]), rel=1e-12)
    theirs = _pyhs3_log_prob(doc, POINTS)
    np.testing.assert_allclose(-np.asarray(ours), theirs, rtol=1e-12)


def test_non_extended_mixture_with_fractions() -> None:
    doc = _doc(_mixture(["f"], extended=None), ["model"])  # N-1: extended inferred false
    part = _part(doc)
    assert not part.model.extended
    x = np.asarray(_events())
    points = [{}, {"f": 0.375, "m0": 125.0}]
    ours = [_nll(part, p) for p in points]
    for p, value in zip(points, ours, strict=True):
        q = {**POINT, **p}
        direct = -np.sum(np.log(q["f"] * _f_sig(x, q) + (1 - q["f"]) * _f_bkg(x, q)))
        assert value == pytest.approx(direct, rel=1e-12)
    theirs = _pyhs3_log_prob(doc, points)
    np.testing.assert_allclose(-np.asarray(ours), theirs, rtol=1e-12)


def test_non_extended_mixture_with_all_coefficients() -> None:
    """N coefficients and extended false: fractions normalised by their sum (pyhs3 0.4.2
    refuses this combination)."""
    doc = _doc(_mixture([1.0, 4.0], extended=False), ["model"])
    part = _part(doc)
    assert not part.model.extended
    x = np.asarray(_events())
    direct = -np.sum(np.log(0.2 * _f_sig(x, POINT) + 0.8 * _f_bkg(x, POINT)))
    assert _nll(part, {}) == pytest.approx(direct, rel=1e-12)


def test_fundamental_distribution_alone_with_weights() -> None:
    weights = list(np.linspace(0.5, 1.5, len(_events())))
    doc = _doc([SIG], ["sig"])
    doc["data"][0]["weights"] = weights
    part = _part(doc)
    assert not part.model.extended and part.model.config.par_order == ("m0", "width")
    np.testing.assert_array_equal(part.weights, weights)
    x = np.asarray(_events())
    direct = -np.sum(np.asarray(weights) * np.log(_f_sig(x, POINT)))
    assert _nll(part, {}) == pytest.approx(direct, rel=1e-12)
    theirs = _pyhs3_log_prob(doc, [{}])
    assert -_nll(part, {}) == pytest.approx(theirs[0], rel=1e-12)


def test_generic_dist_against_a_closed_form_and_pyhs3() -> None:
    # exp(-c m) (1 + a (m - 100)^2): its integral in closed form
    shape = {"name": "g", "type": "generic_dist", "expression": "exp(-slope*m)*(1+f*(m-100)**2)"}
    doc = _doc([shape], ["g"])
    part = _part(doc)
    assert part.model.config.par_order == ("f", "slope")
    x = np.asarray(_events())

    def direct(c: float, a: float) -> float:
        def primitive(t: float) -> float:  # of exp(-c t) (1 + a (t - 100)^2)
            u = t - 100.0
            return -np.exp(-c * t) * (1 / c + a * (u**2 / c + 2 * u / c**2 + 2 / c**3))

        norm = primitive(HI) - primitive(LO)
        return float(-np.sum(np.log(np.exp(-c * x) * (1 + a * (x - 100) ** 2) / norm)))

    points = [{}, {"slope": 0.046875, "f": 0.0078125}]
    ours = [_nll(part, p) for p in points]
    for p, value in zip(points, ours, strict=True):
        q = {**POINT, **p}
        assert value == pytest.approx(direct(q["slope"], q["f"]), rel=1e-12)
    theirs = _pyhs3_log_prob(doc, points)
    np.testing.assert_allclose(-np.asarray(ours), theirs, rtol=1e-12)
    # ^ and ** are the same power
    caret = copy.deepcopy(doc)
    caret["distributions"][0]["expression"] = "exp(-slope*m)*(1+f*(m-100)^2)"
    assert _nll(_part(caret), {}) == ours[0]


def test_functions_as_yields_and_shape_parameters() -> None:
    functions = [
        {"name": "yield_sig", "type": "product", "factors": ["lumi", "xsec", 10.0]},
        {"name": "yield_bkg", "type": "sum", "summands": ["n_bkg", "extra"]},
        {"name": "extra", "type": "generic_function", "expression": "2 * n_sig**2 / 100"},
        {"name": "poly", "type": "polynomial", "x": "m0", "coefficients": [0.5, 0.01]},
    ]
    sig = {**SIG, "sigma": "poly"}
    doc = _doc([sig, BKG, *_mixture(["yield_sig", "yield_bkg"])[2:]], ["model"])
    doc["functions"] = functions
    doc["domains"][0]["axes"] += [
        {"name": "lumi", "min": 0.5, "max": 2.0},
        {"name": "xsec", "min": 0.0, "max": 50.0},
    ]
    doc["parameter_points"][0]["parameters"] += [
        {"name": "lumi", "value": 1.125, "const": True},
        {"name": "xsec", "value": 4.0},
    ]
    part = _part(doc)
    model = part.model
    assert model.config.par_order == ("lumi", "m0", "n_bkg", "n_sig", "slope", "xsec")
    assert model.parameters["lumi"].fixed and not model.parameters["xsec"].fixed
    values = {"lumi": 1.125, "xsec": 4.0}
    yields = (1.125 * 4.0 * 10.0, POINT["n_bkg"] + 2 * POINT["n_sig"] ** 2 / 100)
    q = {**POINT, "width": 0.5 + 0.01 * POINT["m0"]}
    assert _nll(part, values) == pytest.approx(_scipy_extended(q, *yields), rel=1e-12)
    # pyhs3 0.4.2 has no polynomial function: the same without it
    doc["distributions"][0]["sigma"] = "width"
    doc["functions"] = functions[:3]
    ours = _nll(_part(doc), values)
    assert ours == pytest.approx(_scipy_extended(POINT, *yields), rel=1e-12)
    assert -ours == pytest.approx(_pyhs3_log_prob(doc, [{}])[0], rel=1e-12)


def test_nested_mixtures_are_flattened() -> None:
    inner = {"name": "inner", "type": "mixture_dist", "summands": ["sig", "bkg"],
             "coefficients": ["f"]}  # fmt: skip
    flat = {"name": "flat", "type": "uniform_dist", "x": ["m"]}  # pyhs3's list spelling
    outer = {"name": "model", "type": "mixture_dist", "summands": ["inner", "flat"],
             "coefficients": ["n_sig", "n_bkg"], "extended": True}  # fmt: skip
    doc = _doc([SIG, BKG, inner, flat, outer], ["model"])
    part = _part(doc)
    assert [c.name for c in part.model.components] == ["sig", "bkg", "flat"]
    x = np.asarray(_events())
    p = POINT
    density = p["n_sig"] * (p["f"] * _f_sig(x, p) + (1 - p["f"]) * _f_bkg(x, p)) + p["n_bkg"] / (
        HI - LO
    )
    direct = -np.sum(np.log(density)) + p["n_sig"] + p["n_bkg"]
    assert _nll(part, {}) == pytest.approx(direct, rel=1e-12)
    theirs = _pyhs3_log_prob(doc, [{}])
    assert -_nll(part, {}) == pytest.approx(theirs[0], rel=1e-12)
    # an inner mixture with all its coefficients: its fractions c_k / sum(c)
    inner2 = {**inner, "coefficients": ["n_sig", 100.0], "extended": True}
    outer2 = {**outer, "coefficients": [0.7], "extended": False}
    part2 = _part(_doc([SIG, BKG, inner2, flat, outer2], ["model"]))
    frac = p["n_sig"] / (p["n_sig"] + 100.0)
    density2 = 0.7 * (frac * _f_sig(x, p) + (1 - frac) * _f_bkg(x, p)) + 0.3 / (HI - LO)
    assert _nll(part2, {}) == pytest.approx(-np.sum(np.log(density2)), rel=1e-12)


def _constraint_term(mean: float, sigma: float) -> float:
    return 0.5 * ((POINT["m0"] - mean) / sigma) ** 2


@pytest.mark.parametrize("form", ["aux", "product", "pair", "point", "symmetric", "global"])
def test_gaussian_constraints(form: str) -> None:
    constraint = {"name": "c", "type": "gaussian_dist", "x": 124.5, "mean": "m0", "sigma": 1.5}
    dists: list[dict[str, Any]] = [SIG, constraint]
    pairs, data, extra = ["sig"], ["obs"], {}
    if form == "aux":
        extra = {"aux_distributions": ["c"]}
    elif form == "product":
        dists.append({"name": "p", "type": "product_dist", "factors": ["sig", "c"]})
        pairs = ["p"]
    elif form == "pair":  # x a global observable, its datum inline
        dists[1] = {**constraint, "x": "g_m0"}
        pairs, data = ["sig", "c"], ["obs", 124.5]
    elif form == "point":  # x a global observable, its datum a point data set
        dists[1] = {**constraint, "x": "g_m0"}
        pairs, data = ["sig", "c"], ["obs", "g"]
    elif form == "symmetric":  # x the parameter, mean the constant
        dists[1] = {**constraint, "x": "m0", "mean": 124.5}
        extra = {"aux_distributions": ["c"]}
    else:  # a global observable: a const parameter of the point
        dists[1] = {**constraint, "x": "g_m0"}
        extra = {"aux_distributions": ["c"]}
    doc = _doc(dists, pairs, data)
    doc["likelihoods"][0].update(extra)
    doc["data"].append({"name": "g", "type": "point", "value": 124.5})
    doc["parameter_points"][0]["parameters"].append({"name": "g_m0", "value": 124.5, "const": True})
    ws = _load(doc)
    translation = ws.unbinned()
    part = translation.parts[0]
    assert part.model.parameters["m0"].constraint == (124.5, 1.5)
    assert translation.constraints["m0"][:2] == (124.5, 1.5)
    x = np.asarray(_events())
    direct = -np.sum(np.log(_f_sig(x, POINT))) + _constraint_term(124.5, 1.5)
    assert _nll(part, {}) == pytest.approx(direct, rel=1e-12)
    if form in ("aux", "product", "global"):
        theirs = _pyhs3_log_prob(doc, [{}])
        constants = math.log(1.5) + 0.5 * math.log(2 * math.pi)
        assert -_nll(part, {}) - constants == pytest.approx(theirs[0], rel=1e-12)


def test_parameters_from_point_and_domains() -> None:
    doc = _doc(_mixture(["n_sig", "n_bkg"]), ["model"])
    doc["analyses"][0]["parameters_of_interest"] = ["n_sig"]
    axes = doc["domains"][0]["axes"]
    doc["domains"][0]["axes"] = [a for a in axes if a["name"] != "slope"]  # no domain
    entries = doc["parameter_points"][0]["parameters"]
    for entry in entries:
        if entry["name"] == "m0":
            entry["const"] = True  # fixed
    doc["parameter_points"][0]["parameters"] = [e for e in entries if e["name"] != "width"]
    model = _part(doc).model
    params = model.parameters
    assert params["slope"].bounds == (-math.inf, math.inf) and params["slope"].init == 0.03125
    assert params["width"].init == pytest.approx(5.25) and params["width"].bounds == (0.5, 10.0)
    assert params["m0"].fixed and not params["n_sig"].fixed
    assert params["n_sig"].bounds == (0.0, 1000.0) and params["n_sig"].init == 50.0
    assert model.poi == "n_sig" and model.config.poi_index == 2


def test_fit_agrees_with_scipy() -> None:
    doc = _doc(_mixture(["n_sig", "n_bkg"]), ["model"])
    part = _part(doc)
    result = fit(part.model, part.events())
    names = part.model.config.par_order

    def objective(v: np.ndarray) -> float:
        q = dict(zip(names, v, strict=True))
        return _scipy_extended(q, q["n_sig"], q["n_bkg"])

    start = np.asarray(part.model.config.suggested_init())
    ref = optimize.minimize(objective, start, method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000,
                                     "maxfev": 40000})  # fmt: skip
    ref = optimize.minimize(objective, ref.x, method="BFGS", options={"gtol": 1e-8})
    np.testing.assert_allclose(np.asarray(result.bestfit), ref.x, rtol=1e-5)
    assert float(result.twice_nll) / 2 == pytest.approx(ref.fun, abs=1e-7)


# -- combined models through relaxed.infer --------------------------------------------------


def _combined_doc() -> dict[str, Any]:
    """A binned signal region (mu, a normsys, a shapesys of two bins) and an unbinned
    control region whose peak yield is 20 mu and whose background yield scales with the
    second shapesys bin."""
    sr = {
        "name": "SR",
        "type": "histfactory_dist",
        "axes": [{"name": "x", "min": 0.0, "max": 2.0, "nbins": 2}],
        "samples": [
            {"name": "s", "data": {"contents": [6.0, 9.0]},
             "modifiers": [{"type": "normfactor", "parameter": "mu"}]},
            {"name": "b", "data": {"contents": [40.0, 30.0]},
             "modifiers": [
                 {"type": "normsys", "name": "syst", "parameter": "alpha",
                  "data": {"hi": 1.1, "lo": 0.9}},
                 {"type": "shapesys", "name": "u", "parameters": ["u_0", "u_1"],
                  "constraint": "Poisson", "data": {"vals": [4.0, 3.0]}}]},
        ],
    }  # fmt: skip
    functions = [
        {"name": "yield_sig", "type": "product", "factors": ["mu", 20.0]},
        {"name": "yield_bkg", "type": "product", "factors": ["n_bkg", "u_1"]},
    ]
    cr = {"name": "CR", "type": "mixture_dist", "summands": ["sig", "bkg"],
          "coefficients": ["yield_sig", "yield_bkg"], "extended": True}  # fmt: skip
    doc = _doc([sr, SIG, BKG, cr], ["SR", "CR"], ["counts", "obs"], functions=functions)
    doc["data"].append(
        {
            "name": "counts",
            "type": "binned",
            "contents": [52.0, 41.0],
            "axes": [{"name": "x", "min": 0.0, "max": 2.0, "nbins": 2}],
        }  # fmt: skip
    )
    doc["domains"][0]["axes"] += [{"name": "mu", "min": 0.0, "max": 10.0}]
    doc["parameter_points"][0]["parameters"] += [{"name": "mu", "value": 1.0}]
    doc["analyses"][0]["parameters_of_interest"] = ["mu"]
    return doc


@functools.lru_cache(maxsize=1)
def _combined() -> tuple:
    ws = _load(_combined_doc())
    model = ws.model()
    return ws, model, ws.data(model)


def test_combined_model_is_the_sum_of_its_parts() -> None:
    ws, model, data = _combined()
    assert isinstance(model, CombinedModel)
    assert list(model.parts) == ["binned", "CR"]
    assert model.config.poi_name == "mu"
    cr = model.parts["CR"]
    assert set(cr.config.par_order) == {"m0", "mu", "n_bkg", "slope", "u[1]", "width"}
    assert set(model.config.par_order) == {
        "mu", "alpha", "u[0]", "u[1]", "m0", "n_bkg", "slope", "width",
    }  # fmt: skip
    assert ws.model() is model and ws.data(model) is data
    assert ws.parameter_map()["u_1"] == ("u[1]", 0) and ws.parameter_map()["m0"] == ("m0", 0)
    pars = np.asarray(model.config.suggested_init())
    pars[model.config.par_order.index("mu")] = 1.3
    pars[model.config.par_order.index("u[1]")] = 0.95
    total = float(model.logpdf(pars, data)[0])
    binned = model.parts["binned"]
    sl = model.part_slice("binned")
    binned_pars = [pars[model.config.par_order.index(n)] for n in binned.config.par_names]
    expected = float(binned.logpdf(jnp.asarray(binned_pars), data[sl])[0])
    q = {n: pars[model.config.par_order.index(n)] for n in cr.config.par_order}
    n_events = len(_events())
    unbinned = -_scipy_extended({**POINT, **q}, 20.0 * q["mu"], q["n_bkg"] * q["u[1]"])
    expected += unbinned - math.lgamma(n_events + 1.0)
    assert total == pytest.approx(expected, rel=1e-12)


def test_combined_fit_and_hypotest() -> None:
    _, model, data = _combined()
    bestfit = relaxed.infer.mle.fit(data, model)
    order = model.config.par_order
    nll = jax.jit(jax.value_and_grad(lambda v: -model.logpdf(v, data)[0]))

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = nll(jnp.asarray(v))
        return float(value), np.asarray(grad)

    ref = optimize.minimize(
        objective,
        np.asarray(model.config.suggested_init()),
        jac=True,
        bounds=model.config.suggested_bounds(),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000},
    )
    np.testing.assert_allclose(np.asarray(bestfit), ref.x, rtol=2e-5, atol=2e-5)
    assert objective(np.asarray(bestfit))[0] <= ref.fun + 1e-8
    mu_hat = float(bestfit[order.index("mu")])
    assert 2.0 < mu_hat < 3.5  # the SR alone favours 1.5, the CR peak 3
    assert float(relaxed.infer.hypotest(5.0, data, model)) < 1e-4  # mu = 5: excluded
    assert float(relaxed.infer.hypotest(2.5, data, model)) > 0.4  # mu = 2.5: not excluded


def test_unbinned_only_likelihood_is_a_combined_model() -> None:
    doc = _doc(_mixture(["n_sig", "n_bkg"]), ["model"])
    doc["analyses"][0]["parameters_of_interest"] = ["n_sig"]
    ws = _load(doc)
    model = ws.model()
    assert isinstance(model, CombinedModel) and list(model.parts) == ["model"]
    assert model.config.poi_name == "n_sig"
    bestfit = relaxed.infer.mle.fit(ws.data(model), model)
    part = ws.unbinned().parts[0]
    direct = fit(part.model, part.events())
    np.testing.assert_allclose(np.asarray(bestfit), np.asarray(direct.bestfit), rtol=1e-6)


def test_a_luminosity_constraint_stays_with_the_binned_part() -> None:
    doc = _combined_doc()
    sr = doc["distributions"][0]
    sr["samples"][0]["modifiers"].append(
        {"type": "normfactor", "parameter": "lumi", "constraint_name": "lumi_c"}
    )
    doc["distributions"].append(
        {"name": "lumi_c", "type": "gaussian_dist", "x": "nom_lumi", "mean": "lumi", "sigma": 0.02}
    )
    doc["likelihoods"][0]["aux_distributions"] = ["lumi_c"]
    doc["functions"][0]["factors"].append("lumi")  # the unbinned peak scales with it too
    doc["parameter_points"][0]["parameters"].append(
        {"name": "nom_lumi", "value": 1.0, "const": True}
    )
    ws = _load(doc)
    model = ws.model()
    assert "lumi" in model.parts["CR"].config.par_order
    assert model.parts["binned"].constrained_parameters().count("lumi") == 1
    assert "lumi" not in model.parts["CR"].constrained_parameters()
    assert np.isfinite(float(model.logpdf(model.config.suggested_init(), ws.data(model))[0]))


# -- error paths --------------------------------------------------------------------------


def _raises(doc: dict[str, Any], error: type, path: str, fragment: str, route: str = "unbinned"):  # noqa: ANN202
    with pytest.raises(error) as info:
        ws = _load(doc)
        ws.unbinned() if route == "unbinned" else ws.model()
    message = str(info.value)
    assert message.startswith(path + ":"), message
    assert fragment in message, message
    return info.value


def _base() -> dict[str, Any]:
    return _doc(_mixture(["n_sig", "n_bkg"]), ["model"])


def test_data_errors() -> None:
    doc = _base()
    doc["data"][0]["entries"][17] = [170.0]
    _raises(doc, InvalidHS3, "data[0].entries[17]", "170.0 lies outside the range [100.0, 160.0]")
    doc = _base()
    doc["data"][0]["entries"][3] = ["a"]
    _raises(doc, InvalidHS3, "data[0].entries[3]", "expected a finite number, got 'a'")
    doc = _base()
    doc["data"][0]["entries"][1] = [120.0, 1.0]
    _raises(doc, InvalidHS3, "data[0].entries[1]", "needs one coordinate, got 2")
    doc = _base()
    doc["data"][0]["weights"] = [1.0] * 5
    _raises(doc, InvalidHS3, "data[0].weights", f"5 weights for {len(_events())} entries")
    doc = _base()
    doc["data"][0]["weights"] = [1.0] * len(_events())
    doc["data"][0]["weights"][2] = "x"
    _raises(doc, InvalidHS3, "data[0].weights[2]", "expected a finite number")
    doc = _base()
    doc["data"][0]["axes"].append({"name": "y", "min": 0.0, "max": 1.0})
    # two axes are read (tests/test_unbinned_multid.py); one-coordinate entries are not
    _raises(doc, InvalidHS3, "data[0].entries[0]", "data with 2 axes needs 2 coordinates")
    doc = _base()
    doc["data"][0]["axes"][0] = {"name": "m", "categories": ["a", "b"]}
    _raises(doc, HS3NotSupported, "data[0].axes[0]", "categorical axis")
    doc = _base()
    del doc["data"][0]["axes"][0]["max"]
    _raises(doc, InvalidHS3, "data[0].axes[0]", "needs a finite 'max'")


def test_errors_are_raised_before_any_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import relaxed.hs3.unbinned as module

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was built")

    monkeypatch.setattr(module, "ExtendedModel", refuse)
    doc = _base()
    doc["data"][0]["entries"][17] = [170.0]
    _raises(doc, InvalidHS3, "data[0].entries[17]", "outside the range")
    doc = _base()
    doc["distributions"][0]["mean"] = "nowhere"
    _raises(doc, InvalidHS3, "distributions[0].mean", "unknown name 'nowhere'")


def test_reference_errors() -> None:
    doc = _base()
    doc["distributions"][0]["mean"] = "nowhere"
    _raises(doc, InvalidHS3, "distributions[0].mean", "unknown name 'nowhere'")
    doc = _base()
    doc["distributions"][0]["mean"] = "bkg"
    _raises(doc, InvalidHS3, "distributions[0].mean", "'bkg' is a distribution")
    doc = _base()
    doc["distributions"][0]["x"] = "t"
    _raises(doc, InvalidHS3, "distributions[0].x", "a density of 't' paired with data whose axis")
    doc = _base()
    del doc["distributions"][0]["sigma"]
    _raises(doc, InvalidHS3, "distributions[0]", "missing field 'sigma'")
    doc = _doc([{"name": "g", "type": "generic_dist", "expression": "exp(-k * m)"}], ["g"])
    doc["functions"] = [{"name": "dummy", "type": "generic_function", "expression": "k + 1"}]
    _raises(doc, InvalidHS3, "distributions[0].expression", "unknown name 'k'")
    doc = _doc([{"name": "g", "type": "generic_dist", "expression": "exp(-slope * m"}], ["g"])
    _raises(doc, InvalidHS3, "distributions[0].expression", "position 14 of 'exp(-slope * m'")
    doc = _doc([{"name": "g", "type": "generic_dist", "expression": "expo(m)"}], ["g"])
    _raises(doc, InvalidHS3, "distributions[0].expression", "unknown function 'expo'")
    doc = _base()
    doc["distributions"][2]["coefficients"] = ["a", "n_bkg"]
    doc["functions"] = [
        {"name": "a", "type": "sum", "summands": ["b", 1.0]},
        {"name": "b", "type": "generic_function", "expression": "2 * a"},
    ]
    _raises(doc, InvalidHS3, "functions[0]", "cycle: a -> b -> a")
    doc = _base()
    doc["distributions"][2]["coefficients"] = ["a", "n_bkg"]
    doc["functions"] = [{"name": "a", "type": "interpolation0d", "vars": ["n_sig"]}]
    _raises(doc, HS3NotSupported, "functions[0].type", "function of type 'interpolation0d'")
    doc = _base()
    doc["parameter_points"][0]["parameters"][0]["value"] = 150.0
    _raises(doc, InvalidHS3, "parameter_points[0].parameters[0].value", "outside its domain")
    doc = _base()
    doc["parameter_points"][0]["parameters"][1]["value"] = 0.6
    doc["domains"][0]["axes"][1]["min"] = 0.0
    doc["parameter_points"][0]["parameters"][1]["value"] = 0.0  # width 0 at the start
    _raises(doc, InvalidHS3, "likelihoods[0].distributions[0]", "cannot build the model")


def test_distribution_errors() -> None:
    doc = _doc([{"name": "p", "type": "poisson_dist", "x": "m", "mean": "n_sig"}], ["p"])
    _raises(doc, HS3NotSupported, "distributions[0].type", "distribution of a count")
    mvn = {"name": "g", "type": "multivariate_normal_dist", "x": ["m"], "mean": [1.0],
           "covariances": [[1.0]]}  # fmt: skip
    _raises(_doc([mvn], ["g"]), HS3NotSupported, "distributions[0].type", "multi-dimensional")
    doc = _doc([{"name": "g", "type": "gennormal_dist", "x": "m"}], ["g"])
    _raises(doc, HS3NotSupported, "distributions[0].type", "type 'gennormal_dist'")
    doc = _base()
    doc["distributions"][0]["mean"] = "m"
    _raises(doc, HS3NotSupported, "distributions[0].mean", "conditional density")
    doc = _base()
    doc["distributions"][2]["coefficients"] = ["n_sig"] * 3
    _raises(doc, InvalidHS3, "distributions[2].coefficients", "3 coefficients for 2 summands")
    doc = _base()
    doc["distributions"][2]["coefficients"] = ["f"]
    _raises(doc, InvalidHS3, "distributions[2].extended", "one coefficient per summand (2)")
    doc = _base()
    doc["distributions"][2]["ref_coef_norm"] = ["n_sig"]
    _raises(doc, HS3NotSupported, "distributions[2].ref_coef_norm", "ref_coef_norm")
    doc = _base()
    doc["distributions"][2]["summands"] = ["sig", "model"]
    _raises(doc, InvalidHS3, "distributions[2]", "cycle: model -> model")


def test_product_errors() -> None:
    other = {"name": "o", "type": "gaussian_dist", "x": "t", "mean": 0.0, "sigma": 1.0}
    product = {"name": "p", "type": "product_dist", "factors": ["sig", "o"]}
    doc = _doc([SIG, other, product], ["p"])
    doc["data"].append({"name": "t_data", "type": "unbinned", "entries": [[0.1]],
                        "axes": [{"name": "t", "min": -5.0, "max": 5.0}]})  # fmt: skip
    doc["likelihoods"][0]["distributions"].append("o")
    doc["likelihoods"][0]["data"].append("t_data")
    _raises(doc, HS3NotSupported, "distributions[2].factors[1]", "over the observables 'm'")
    doc = _doc([SIG, BKG, {"name": "p", "type": "product_dist", "factors": ["sig", "bkg"]}], ["p"])
    _raises(doc, HS3NotSupported, "distributions[2].factors[1]", "several densities of 'm'")
    constraint = {"name": "c", "type": "gaussian_dist", "x": 1.0, "mean": "m0", "sigma": 1.0}
    doc = _doc([constraint, {"name": "p", "type": "product_dist", "factors": ["c"]}], ["p"])
    _raises(doc, InvalidHS3, "distributions[1]", "no factor of this product depends on")


def test_a_density_of_two_observables_is_refused() -> None:
    shape = {"name": "g", "type": "generic_dist", "expression": "exp(-slope * m) * (1 + t^2)"}
    other = {"name": "o", "type": "uniform_dist", "x": "t"}
    doc = _doc([shape, other], ["g", "o"], ["obs", "t_data"])
    doc["data"].append({"name": "t_data", "type": "unbinned", "entries": [[0.1]],
                        "axes": [{"name": "t", "min": -5.0, "max": 5.0}]})  # fmt: skip
    _raises(doc, HS3NotSupported, "distributions[0].expression", "observables ['t'] as well")
    doc["distributions"][0] = {**SIG, "name": "g", "mean": "t"}
    _raises(doc, HS3NotSupported, "distributions[0].mean", "observables ['t'] as well")


def test_constraint_errors() -> None:
    def with_aux(constraint: dict[str, Any]) -> dict[str, Any]:
        doc = _doc([SIG, constraint], ["sig"])
        doc["likelihoods"][0]["aux_distributions"] = [constraint["name"]]
        return doc

    lognormal = {"name": "c", "type": "lognormal_dist", "x": 1.0, "mu": "m0", "sigma": 1.0}
    _raises(with_aux(lognormal), HS3NotSupported, "likelihoods[0].aux_distributions[0]",
            "constraint of type 'lognormal_dist'")  # fmt: skip
    free_sigma = {"name": "c", "type": "gaussian_dist", "x": 1.0, "mean": "m0", "sigma": "width"}
    _raises(with_aux(free_sigma), HS3NotSupported, "distributions[1].sigma", "constant sigma")
    both = {"name": "c", "type": "gaussian_dist", "x": "width", "mean": "m0", "sigma": 1.0}
    _raises(with_aux(both), HS3NotSupported, "distributions[1]", "without a constant value")
    unused = {"name": "c", "type": "gaussian_dist", "x": 1.0, "mean": "n_sig", "sigma": 1.0}
    _raises(with_aux(unused), HS3NotSupported, "likelihoods[0].aux_distributions[0]",
            "which no distribution of the likelihood uses")  # fmt: skip
    doc = with_aux({"name": "c", "type": "gaussian_dist", "x": 1.0, "mean": "m0", "sigma": 1.0})
    doc["distributions"].append(
        {"name": "c2", "type": "gaussian_dist", "x": 2.0, "mean": "m0", "sigma": 1.0}
    )
    doc["likelihoods"][0]["aux_distributions"].append("c2")
    _raises(doc, HS3NotSupported, "likelihoods[0].aux_distributions[1]", "a second constraint")
    doc = _doc([SIG, BKG], ["sig", "bkg"], ["obs", 3.0])
    _raises(doc, HS3NotSupported, "likelihoods[0].distributions[1]", "paired with the number 3.0")


def test_combined_errors() -> None:
    doc = _base()
    doc["data"][0]["weights"] = [1.0] * len(_events())
    doc["data"][0]["weights"][4] = -0.5
    assert _load(doc).unbinned().parts[0].weights[4] == -0.5  # sWeights fit with unbinned.fit
    _raises(doc, HS3NotSupported, "data[0].weights[4]", "negative event weight", "model")
    doc = _base()
    doc["analyses"][0]["parameters_of_interest"] = ["n_sig", "n_bkg"]
    _raises(doc, HS3NotSupported, "analyses[0].parameters_of_interest", "several", "model")
    doc = _combined_doc()  # alpha: constrained by its normsys and by a Gaussian here
    doc["functions"][1]["factors"].append("alpha")
    doc["distributions"].append(
        {"name": "c", "type": "gaussian_dist", "x": 0.0, "mean": "alpha", "sigma": 1.0}
    )
    doc["likelihoods"][0]["aux_distributions"] = ["c"]
    doc["domains"][0]["axes"].append({"name": "alpha", "min": -5.0, "max": 5.0})
    _raises(doc, HS3NotSupported, "likelihoods[0]", "constrained in part 'binned' and", "model")
    doc = _combined_doc()  # a histfactory_dist with unbinned data: the binned translation's
    doc["likelihoods"][0]["data"][0] = "obs"
    _raises(
        doc, HS3NotSupported, "data[0]", "unbinned data ('obs') for a histfactory_dist", "model"
    )


def test_cli_reads_a_combined_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`neos inspect` and `neos cls` on an HS3 likelihood with unbinned data: the CLS equal
    the library's on the same document."""
    from neos.cli import main

    doc = copy.deepcopy(_combined_doc())
    names = _mentioned(doc)
    for domain in doc["domains"]:
        domain["axes"] = [a for a in domain["axes"] if a["name"] in names]
    for point in doc["parameter_points"]:
        point["parameters"] = [p for p in point["parameters"] if p["name"] in names]
    path = tmp_path / "combined.json"
    path.write_text(json.dumps(doc))
    assert main(["inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["poi"] == "mu" and set(info["parts"]) == {"binned", "CR"}
    assert main(["cls", str(path), "--poi-value", "1.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    ws = load(doc)
    model = ws.model()
    cls_obs, band = relaxed.infer.hypotest(1.5, ws.data(model), model, return_expected_set=True)
    assert out["CLs_obs"] == pytest.approx(float(cls_obs), rel=1e-12)
    np.testing.assert_allclose(out["CLs_exp"], [float(b) for b in band], rtol=1e-12)
