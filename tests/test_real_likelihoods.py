"""Published ATLAS likelihoods (shared/reference/atlas_real, see its SOURCES.md): every one loads
and gives pyhf 0.7.6's (numpy backend) expected data and log-likelihood.

Cases: the five background-only workspaces (models with ``poi_name=None``) and the signal
points of the two analyses that ship patches (plain JSON Patch files applied with
``jsonpatch``; POI from the measurement). Each model is built once per module and compared at
``suggested_init`` and at one reproducible random point inside the bounds (every free
parameter drawn uniformly within 0.5 of its init, clipped to its bounds); no fits.

What is asserted:

- parameter order, inits, bounds and fixed flags and the main data equal pyhf's, the auxiliary
  data to 1e-15 relative;
- ``expected_data``: relative difference <= 1e-9;
- ``logpdf``: ``|relaxed - pyhf| <= 1e-9 |pyhf| + 1e-15 S``, where S is the sum over all
  Poisson terms (main bins and Poisson constraints) of ``|n log lam| + |lam| +
  |lgamma(n + 1)|``: pyhf sums those terms naively, so its own rounding error is of order
  1e-16 S. Where no large terms cancel the first part dominates (1e-9 relative); in the 3L
  eRJR likelihood, whose shapesys constraint has tau = 1.9e11 (terms ~5e12 cancelling to
  ~ -14), S ~ 1e13 and the allowance is ~1e-2;
- 3L eRJR: relaxed's constraint term equals the exact (mpmath, 50 digits) constraint sum of
  the same inputs to 1e-12 + 1e-15 |exact| (measured: 1e-14 at gamma = 1, where the sum is
  -105.9); pyhf's differs from it by 1.5e-4 to 1.2e-3. ``mu_BG``, fixed in the measurement
  but used by no sample, is not a model parameter (as in pyhf).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonpatch
import mpmath
import numpy as np
import pyhf
import pytest
from scipy.special import gammaln

import relaxed

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
ATLAS = REFERENCE / "atlas_real"

pytestmark = pytest.mark.skipif(
    not (ATLAS / "SOURCES.md").is_file(),
    reason=f"the shared ATLAS likelihoods are not available ({ATLAS} is missing)",
)

ERJR = "ATLAS-SUSY-2018-06_3L-eRJR"
ONE_LBB = "ATLAS-SUSY-2019-08_1Lbb-simplified"
BACKGROUND_ONLY = {
    "3L-eRJR": f"{ERJR}/BkgOnly.json",
    "1Lbb-simplified": f"{ONE_LBB}/simplified_BkgOnly.json",
    "compressed": "ATLAS-SUSY-2018-16_compressed-bkgonly/BkgOnly.json",
    "staus-highMass": "ATLAS-SUSY-2018-04_staus-bkgonly/highMass_BkgOnly.json",
    "staus-lowMass": "ATLAS-SUSY-2018-04_staus-bkgonly/lowMass_BkgOnly.json",
    "sbottom-A": "ATLAS-SUSY-2018-31_sbottom-bkgonly/RegionA_BkgOnly.json",
    "sbottom-B": "ATLAS-SUSY-2018-31_sbottom-bkgonly/RegionB_BkgOnly.json",
}
SIGNAL = {  # name: (background-only key, patch file)
    "3L-eRJR-150_1": ("3L-eRJR", f"{ERJR}/patch.ERJR_150p0_1p0.json"),
    "3L-eRJR-350_0": ("3L-eRJR", f"{ERJR}/patch.ERJR_350p0_0p0.json"),
    "3L-eRJR-400_0": ("3L-eRJR", f"{ERJR}/patch.ERJR_400p0_0p0.json"),
    "1Lbb-500_0": ("1Lbb-simplified", f"{ONE_LBB}/patch_C1N2_Wh_hbb_500_0.json"),
    "1Lbb-750_150": ("1Lbb-simplified", f"{ONE_LBB}/patch_C1N2_Wh_hbb_750_150.json"),
    "1Lbb-800_0": ("1Lbb-simplified", f"{ONE_LBB}/patch_C1N2_Wh_hbb_800_0.json"),
}
CASES = list(BACKGROUND_ONLY) + list(SIGNAL)
EXPECTED_RTOL = 1e-9
LOGPDF_RTOL = 1e-9
ROUNDING = 1e-15  # per unit of the summed Poisson term magnitudes (pyhf's naive sum)
SEED = 20240601


class Case(NamedTuple):
    model: relaxed.Model
    data: np.ndarray
    pyhf_model: Any
    pyhf_data: np.ndarray
    points: dict[str, np.ndarray]


@cache
def read_json(relative: str) -> Any:
    return json.loads((ATLAS / relative).read_text())


def workspace_spec(name: str) -> tuple[dict[str, Any], bool]:
    """(workspace document, whether it has a signal)."""
    if name in BACKGROUND_ONLY:
        return read_json(BACKGROUND_ONLY[name]), False
    background, patch = SIGNAL[name]
    return jsonpatch.apply_patch(read_json(BACKGROUND_ONLY[background]), read_json(patch)), True


def random_point(model: relaxed.Model, seed: int) -> np.ndarray:
    """Free parameters uniform in [init - 0.5, init + 0.5] clipped to their bounds."""
    rng = np.random.default_rng(seed)
    init = np.asarray(model.config.suggested_init())
    bounds = np.asarray(model.config.suggested_bounds())
    fixed = np.asarray(model.config.suggested_fixed())
    lo = np.maximum(bounds[:, 0], init - 0.5)
    hi = np.minimum(bounds[:, 1], init + 0.5)
    return np.where(fixed, init, rng.uniform(lo, hi))


@pytest.fixture(scope="module", params=CASES)
def case(request) -> Case:
    pyhf.set_backend("numpy")
    spec, signal = workspace_spec(request.param)
    poi = {} if signal else {"poi_name": None}
    workspace = relaxed.Workspace(spec)
    model = workspace.model(**poi)
    pyhf_workspace = pyhf.Workspace(spec)
    pyhf_model = pyhf_workspace.model(**poi)
    points = {
        "init": np.asarray(model.config.suggested_init()),
        "random": random_point(model, SEED + CASES.index(request.param)),
    }
    return Case(
        model,
        np.asarray(workspace.data(model)),
        pyhf_model,
        np.asarray(pyhf_workspace.data(pyhf_model)),
        points,
    )


def poisson_magnitude(model: Any, pars: np.ndarray, data: np.ndarray) -> float:
    """S = sum of |n log lam| + |lam| + |lgamma(n+1)| over the Poisson terms of pyhf's model."""
    config = model.config
    lam = np.asarray(model.expected_data(pars))
    poisson = np.zeros(lam.shape, dtype=bool)
    poisson[: config.nmaindata] = True
    offset = config.nmaindata
    for name in config.auxdata_order:
        paramset = config.param_set(name)
        if paramset.pdf_type == "poisson":
            poisson[offset : offset + paramset.n_parameters] = True
        offset += paramset.n_parameters
    n, lam = data[poisson], lam[poisson]
    xlogy = np.where(n > 0, n * np.log(np.where(n > 0, lam, 1.0)), 0.0)
    return float(np.sum(np.abs(xlogy) + np.abs(lam) + np.abs(gammaln(n + 1.0))))


def test_configuration_and_data(case):
    config, pyhf_config = case.model.config, case.pyhf_model.config
    assert config.par_order == pyhf_config.par_order
    assert config.poi_name == pyhf_config.poi_name
    assert config.suggested_init() == list(pyhf_config.suggested_init())
    assert config.suggested_bounds() == [tuple(b) for b in pyhf_config.suggested_bounds()]
    assert config.suggested_fixed() == list(pyhf_config.suggested_fixed())
    nmain = config.nmaindata
    np.testing.assert_array_equal(case.data[:nmain], case.pyhf_data[:nmain])
    # shapesys auxdata tau = (nominal / sigma)**2 may differ by an ulp (JAX's and numpy's pow)
    np.testing.assert_allclose(case.data[nmain:], case.pyhf_data[nmain:], rtol=1e-15, atol=0)


@pytest.mark.parametrize("point", ["init", "random"])
def test_expected_data(case, point):
    pars = case.points[point]
    ours = np.asarray(case.model.expected_data(pars))
    theirs = np.asarray(case.pyhf_model.expected_data(pars))
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=EXPECTED_RTOL, atol=0)


@pytest.mark.parametrize("point", ["init", "random"])
def test_logpdf(case, point):
    pars = case.points[point]
    ours = float(case.model.logpdf(pars, case.data)[0])
    theirs = float(case.pyhf_model.logpdf(pars, case.pyhf_data)[0])
    assert math.isfinite(ours) and math.isfinite(theirs)
    magnitude = poisson_magnitude(case.pyhf_model, pars, case.pyhf_data)
    assert abs(ours - theirs) <= LOGPDF_RTOL * abs(theirs) + ROUNDING * magnitude


# -- 3L eRJR: the tau = 1.9e11 shapesys constraint --------------------------------------------
def exact_constraint(pyhf_model: Any, auxdata: np.ndarray, rates: np.ndarray) -> mpmath.mpf:
    """Exact sum of the constraint log-densities for the given float inputs: Gaussian
    log N(a | theta, sigma) or Poisson log Pois(a | tau theta), ``rates`` being relaxed's
    expected auxiliary data (theta or tau theta)."""
    with mpmath.workdps(50):
        return _exact_constraint(pyhf_model, auxdata, rates)


def _exact_constraint(pyhf_model: Any, auxdata: np.ndarray, rates: np.ndarray) -> mpmath.mpf:
    total = mpmath.mpf(0)
    offset = 0
    config = pyhf_model.config
    for name in config.auxdata_order:
        paramset = config.param_set(name)
        sigmas = getattr(paramset, "sigmas", None) or [1.0] * paramset.n_parameters
        for k in range(paramset.n_parameters):
            a = mpmath.mpf(float(auxdata[offset + k]))
            lam = mpmath.mpf(float(rates[offset + k]))
            if paramset.pdf_type == "poisson":
                total += a * mpmath.log(lam) - lam - mpmath.loggamma(a + 1)
            else:
                sigma = mpmath.mpf(float(sigmas[k]))
                total += -(((a - lam) / sigma) ** 2) / 2 - mpmath.log(
                    sigma * mpmath.sqrt(2 * mpmath.pi)
                )
        offset += paramset.n_parameters
    return total


@pytest.fixture(scope="module")
def erjr() -> tuple[relaxed.Model, Any, np.ndarray]:
    pyhf.set_backend("numpy")
    spec = read_json(BACKGROUND_ONLY["3L-eRJR"])
    model = relaxed.Workspace(spec).model(poi_name=None)
    pyhf_model = pyhf.Workspace(spec).model(poi_name=None)
    return model, pyhf_model, np.asarray(model.config.auxdata)


@pytest.mark.parametrize("gamma", [1.0, 1.0 + 1e-6, 0.999])
def test_erjr_constraint_against_mpmath(erjr, gamma):
    model, pyhf_model, auxdata = erjr
    name = "shape_mcstat_diboson3LISR_CRISR_obs_cuts"
    pars = np.asarray(model.config.suggested_init())
    pars[model.config.par_slice(name)] = gamma
    tau = float(auxdata[model.config.auxdata_order.index(name)])
    assert tau == pytest.approx((435.07 / 0.001) ** 2, rel=1e-4)  # sigma 0.001 on 435 events
    rates = np.asarray(model.expected_auxdata(pars))
    exact = exact_constraint(pyhf_model, auxdata, rates)
    ours = float(model.constraint_logpdf(auxdata, pars))
    theirs = float(pyhf_model.constraint_logpdf(auxdata, pars))
    assert abs(ours - exact) <= 1e-12 + 1e-15 * abs(exact)
    assert abs(theirs - exact) > 1e-7  # what the naive sum loses here (~1e-4)


def test_erjr_unused_fixed_parameter(erjr):
    """``mu_BG`` is fixed in the measurement but scales no sample: like pyhf, relaxed makes no
    parameter of it (its configuration is ignored); the other fixed one, ``lumi``, is kept."""
    model, pyhf_model, _ = erjr
    measurement = read_json(BACKGROUND_ONLY["3L-eRJR"])["measurements"][0]["config"]
    assert {"name": "mu_BG", "fixed": True} in measurement["parameters"]
    assert "mu_BG" not in model.config.par_order
    assert "mu_BG" not in pyhf_model.config.par_order
    assert model.config.param_set("lumi").suggested_fixed == [True]
    assert model.config.npars == pyhf_model.config.npars == 62
