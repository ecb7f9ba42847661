r"""A physical toy model of a collider analysis: a dilepton resonance search, made by code.

The example analysis of :mod:`neos.analysis` (``neos/examples/dilepton.toml``): a search for a
narrow resonance :math:`Z' \to \ell^+\ell^-` of mass :math:`m_{Z'} = 300` GeV in proton-proton
collisions, with an integrated luminosity of :math:`L = 140\ \mathrm{fb}^{-1}`, five samples,
two alternative samples and 25 systematic uncertainties of the four kinds an analysis
description knows (``shift``, ``weight``, ``alternative``, ``norm``). Every number is a
modelling choice of this toy, chosen to look like a real analysis at a small scale; nothing
is downloaded.

**Events.** Every table holds the events after a preselection of two isolated, central leptons
of the same flavour and opposite charge with :math:`m_{\ell\ell} \ge 120` GeV, and five
features (float64 columns, in the order of :data:`FEATURES`):

- ``m_ll``: the dilepton invariant mass [GeV];
- ``pt_ll``: the dilepton transverse momentum [GeV];
- ``met``: the missing transverse momentum :math:`E_T^{\mathrm{miss}}` [GeV];
- ``n_jets``: the number of jets (0, 1, 2, ... stored as floats);
- ``dphi_ll``: the azimuthal separation of the two leptons, in :math:`[0, \pi]`.

The distributions (:math:`\Gamma(k, \theta)` is the gamma distribution of shape :math:`k` and
scale :math:`\theta`, mean :math:`k\theta`; :math:`\mathcal{P}` Poisson; :math:`\mathcal{B}`
binomial; :math:`\mathrm{Beta}` the beta distribution on :math:`[0, 1]`), as
:math:`m_{\ell\ell}` [GeV]; base of :math:`p_T^{\ell\ell}` [GeV]; :math:`N_{\mathrm{jets}}`:

- ``signal``: :math:`\mathcal{N}(300, 6^2)`; :math:`\Gamma(1.6, 14)`;
  :math:`\mathcal{P}(0.5)`.
- ``drell_yan``: :math:`120\,(1 - u)^{-1/(k - 1)}` with :math:`k = 4.5`;
  :math:`\Gamma(1.4, 14)`; :math:`\mathcal{P}(0.45)`.
- ``ttbar``: :math:`120 + \Gamma(1.2, 85)`; :math:`\Gamma(2.5, 28)`;
  :math:`\mathcal{B}(2, 0.8) + \mathcal{P}(0.6)` (the two b-jets, in acceptance or not, and
  radiation).
- ``diboson``: :math:`120 + \Gamma(1, 100)`; :math:`\Gamma(2, 25)`; :math:`\mathcal{P}(0.6)`.
- ``fakes``: :math:`120 + \Gamma(1.5, 45)`; :math:`\Gamma(1.5, 20)`; :math:`\mathcal{P}(1)`.

In detail:

- ``m_ll``: the signal is the narrow resonance seen through a 2% mass resolution (its natural
  width, a few GeV, is neglected against the 6 GeV resolution); Drell-Yan falls as the power
  law :math:`d\sigma/dm \propto m^{-k}` above 120 GeV (:math:`u \sim U(0, 1)`, inverse CDF),
  top-pair and diboson production give broad, slowly falling spectra and misidentified
  ("fake") leptons a soft one.
- ``pt_ll``: the recoil of the pair against initial-state radiation,
  :math:`p_T^{\ell\ell} = p_T^{\mathrm{base}} + \Gamma(N_{\mathrm{jets}}, 15)`: a falling base
  spectrum plus about 15 GeV for each jet (a sum of :math:`N_{\mathrm{jets}}` exponentials).
- ``met``: a genuine :math:`E_T^{\mathrm{miss}}` from neutrinos, of magnitude
  :math:`\Gamma(3, 25)` for :math:`t\bar t` (two neutrinos), :math:`\Gamma(2, 20)` for
  dibosons, :math:`\Gamma(1.5, 20)` for fakes (:math:`W`\ +jets, one neutrino) and zero for the
  signal and Drell-Yan, in a uniform direction :math:`\phi`, added to a Gaussian resolution
  term in each transverse direction whose width grows with the jet activity:

  .. math::
      E_T^{\mathrm{miss}} = \bigl\|E_T^{\nu}(\cos\phi, \sin\phi) + \boldsymbol{r}\bigr\|,
      \qquad \boldsymbol{r} \sim \mathcal{N}\bigl(0, \sigma^2 I_2\bigr),
      \quad \sigma = 8 + 4 N_{\mathrm{jets}}\ \mathrm{GeV}.

- ``dphi_ll``: for a resonant pair (signal, Drell-Yan) each lepton carries about
  :math:`p_T^\ell = \sqrt{(m_{\ell\ell}/2)^2 \sin^2\theta^* + (p_T^{\ell\ell}/2)^2}` with
  :math:`\cos\theta^* \sim U(-0.9, 0.9)` (the acceptance), and two leptons of equal
  :math:`p_T^\ell` make a pair of :math:`p_T^{\ell\ell} = 2 p_T^\ell \cos(\Delta\phi/2)`, so
  :math:`\Delta\phi_{\ell\ell} = 2 \arccos\bigl(p_T^{\ell\ell} / (2 p_T^\ell)\bigr)`: close to
  :math:`\pi` (back to back) and smaller for a boosted pair. Leptons from different decays are
  broadly spread: :math:`\Delta\phi_{\ell\ell} = \pi\,\mathrm{Beta}(a, b)` with
  :math:`(a, b) = (1.5, 1.2)` for :math:`t\bar t`, :math:`(2.2, 1.4)` for dibosons and
  :math:`(1.2, 1.2)` for fakes.

The alternative samples are independent events of the same processes from "another
generator": ``ttbar_alt`` has :math:`p_T^{\ell\ell}` and :math:`E_T^{\nu}` spectra 4% harder
and more radiation (:math:`\mathcal{P}(0.7)` extra jets), ``drell_yan_alt`` a slightly
harder mass slope (:math:`k = 4.35`). They are normalised to the same yields as their nominal
samples, so they vary the shapes and the acceptances of the channels.

**Weights.** Each table has ``events`` unweighted events and a ``weight`` column,

.. math::
    w_i = Y \, \frac{c_i}{\sum_j c_j},

so that :math:`\sum_i w_i = Y`, the expected yield of :data:`YIELDS` (signal 50 events, a
total background of 3700: Drell-Yan 2400, :math:`t\bar t` 900, dibosons 250, fakes 150).
:math:`c_i` is a per-event correction: for simulated samples a lepton efficiency scale factor
times a pileup weight,
:math:`c_i = (0.97 + 0.03\,e^{-p_\ell/150})\,(1 + 0.01\,(N_{\mathrm{jets}} - 1))`; for the
fakes (estimated from data) a fake factor falling with the lepton momentum,
:math:`c_i = 0.5 + 0.5\,e^{-(p_\ell - 60)/80}`. Here
:math:`p_\ell = \tfrac12\sqrt{m_{\ell\ell}^2 + (p_T^{\ell\ell})^2}` (half the transverse mass
of the pair) stands for the transverse momentum of each lepton.

**Systematics** (:data:`SYSTEMATICS`, the single source of truth of the example description;
"MC" is signal, Drell-Yan, :math:`t\bar t` and dibosons, the simulated samples):

- ``shift`` (the analysis rescales features of the listed samples,
  :math:`x \to x(1 \pm s)`, or offsets them, :math:`x \to x \pm o`): the lepton energy
  scale (``m_ll`` and ``pt_ll``, 1%), the lepton momentum resolution taken as a scale of
  ``m_ll`` (0.5%), the jet energy scale (``met``, 3%; ``n_jets`` unchanged), the jet energy
  resolution (``met``, 2%, as a normalisation only: ``modifier = "normsys"``) and the soft
  term of :math:`E_T^{\mathrm{miss}}` (an offset of 5 GeV; a ``met`` below 5 GeV becomes
  negative in the down variation, which the analysis accepts as a feature value).
- ``weight``: columns ``weight_<name>_up`` and ``weight_<name>_down`` that hold the full
  varied weights :math:`w_i^{\pm} = w_i (1 \pm \delta_i^{\pm})`, with a per-event relative
  variation :math:`\delta_i^{\pm} > 0` (so "up" raises each weight and "down" lowers it),
  :math:`\delta^- = \delta^+` except for the QCD scales, where :math:`\delta^- = 0.8\,\delta^+`:

  - ``lepton_id_eff`` (MC):
    :math:`\delta^+ = 0.008 + 0.012\,p_\ell / 300`.
  - ``trigger_eff`` (MC):
    :math:`\delta^+ = 0.003 + 0.012\,e^{-(p_\ell - 60)/60}`.
  - ``pileup`` (MC):
    :math:`\delta^+ = 0.004 + 0.01\,N_{\mathrm{jets}}`.
  - ``btag_veto`` (ttbar, diboson):
    :math:`\delta^+ = 0.005 + 0.02\,N_{\mathrm{jets}}`.
  - ``pdf`` (MC):
    :math:`\delta^+ = 0.01 + 0.03\,(m_{\ell\ell} - 120)/500`.
  - ``qcd_scale_signal`` (signal):
    :math:`\delta^+ = 0.01 + 0.03\,p_T^{\ell\ell}/(p_T^{\ell\ell} + 40)`.
  - ``qcd_scale_drell_yan`` (drell_yan):
    :math:`\delta^+ = 0.01 + 0.04\,p_T^{\ell\ell}/(p_T^{\ell\ell} + 50)`.
  - ``qcd_scale_ttbar`` (ttbar):
    :math:`\delta^+ = 0.02 + 0.06\,p_T^{\ell\ell}/(p_T^{\ell\ell} + 100)`.
  - ``qcd_scale_diboson`` (diboson):
    :math:`\delta^+ = 0.02 + 0.04\,(m_{\ell\ell} - 120)/(m_{\ell\ell} + 100)`.
  - ``ew_correction_drell_yan`` (drell_yan):
    :math:`\delta^+ = 0.002 + 0.02 \ln(m_{\ell\ell}/120)`.
  - ``top_pt`` (ttbar):
    :math:`\delta^+ = 0.06\,p_T^{\ell\ell}/(p_T^{\ell\ell} + 150)`.
  - ``fake_rate_shape`` (fakes):
    :math:`\delta^+ = 0.05 + 0.15\,e^{-(p_\ell - 60)/40}`.
  - ``fake_prompt_subtraction`` (fakes):
    :math:`\delta^+ = 0.03 + 0.06\,E_T^{\mathrm{miss}}/(E_T^{\mathrm{miss}} + 50)`.

  The alternative tables carry the same columns as their nominal samples.
- ``alternative``: the :math:`t\bar t` generator (``ttbar_alt`` as the up variation of
  ``ttbar``, the down one mirrored) and the Drell-Yan modelling (``drell_yan_alt``).
- ``norm``: the luminosity (1.7%, MC), the cross sections of Drell-Yan (5%), :math:`t\bar t`
  (6%) and dibosons (10%), and the normalisation of the fakes (30%).

The module also holds :func:`blobs`, the built-in toy of ``neos train`` (four Gaussian blobs
in two features, a histosys on the background) as the tables of the analysis description
``neos/examples/blobs.toml``.

Example:
    >>> tables = dilepton(events=1000, seed=3)
    >>> sorted(tables) == sorted(SAMPLES + ALTERNATIVES)
    True
    >>> round(float(tables["ttbar"]["weight"].sum()), 6)
    900.0
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neos.config import TrainConfig
from neos.data import event_weights, generate_blobs
from relaxed.exceptions import InvalidArgument

__all__ = [
    "ALTERNATIVES",
    "BLOB_FEATURES",
    "BLOB_TABLES",
    "FEATURES",
    "LUMINOSITY",
    "MASS",
    "SAMPLES",
    "SYSTEMATICS",
    "YIELDS",
    "blobs",
    "dilepton",
]

#: The event features, in the order of the network's inputs.
FEATURES: tuple[str, ...] = ("m_ll", "pt_ll", "met", "n_jets", "dphi_ll")

#: The nominal samples (tables), the signal first.
SAMPLES: tuple[str, ...] = ("signal", "drell_yan", "ttbar", "diboson", "fakes")

#: The alternative samples of the ``alternative`` systematics.
ALTERNATIVES: tuple[str, ...] = ("ttbar_alt", "drell_yan_alt")

#: The integrated luminosity the yields stand for [fb^-1].
LUMINOSITY: float = 140.0

#: The mass of the resonance [GeV].
MASS: float = 300.0

#: The expected yield of each table after the preselection: ``sum(weight)``.
YIELDS: dict[str, float] = {
    "signal": 50.0,
    "drell_yan": 2400.0,
    "ttbar": 900.0,
    "diboson": 250.0,
    "fakes": 150.0,
    "ttbar_alt": 900.0,
    "drell_yan_alt": 2400.0,
}

_MC: tuple[str, ...] = ("signal", "drell_yan", "ttbar", "diboson")


def _weight_systematic(name: str, samples: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "weight",
        "up": f"weight_{name}_up",
        "down": f"weight_{name}_down",
        "samples": samples,
        "description": description,
    }


#: Every systematic of the example, as the ``[[systematics]]`` entries of
#: ``neos/examples/dilepton.toml`` (the same keys and values, with tuples for arrays) plus a
#: ``description`` that the description file keeps as a comment.
SYSTEMATICS: tuple[dict[str, Any], ...] = (
    # -- shift: features rescaled or offset ---------------------------------------------------
    {
        "name": "lepton_energy_scale",
        "kind": "shift",
        "scale": {"m_ll": 0.01, "pt_ll": 0.01},
        "samples": _MC,
        "modifier": "histosys",
        "description": "lepton energy scale: m_ll, pt_ll -> x (1 +- 0.01)",
    },
    {
        "name": "lepton_resolution",
        "kind": "shift",
        "scale": {"m_ll": 0.005},
        "samples": _MC,
        "modifier": "histosys",
        "description": "lepton momentum resolution, as a scale: m_ll -> m_ll (1 +- 0.005)",
    },
    {
        "name": "jet_energy_scale",
        "kind": "shift",
        "scale": {"met": 0.03},
        "samples": _MC,
        "modifier": "histosys",
        "description": "jet energy scale through the recoil: met -> met (1 +- 0.03), n_jets kept",
    },
    {
        "name": "jet_energy_resolution",
        "kind": "shift",
        "scale": {"met": 0.02},
        "samples": _MC,
        "modifier": "normsys",
        "description": "jet energy resolution: met -> met (1 +- 0.02), normalisation only",
    },
    {
        "name": "met_soft_term",
        "kind": "shift",
        "offset": {"met": 5.0},
        "samples": _MC,
        "modifier": "histosys",
        "description": "soft term of the missing transverse momentum: met -> met +- 5 GeV",
    },
    # -- weight: columns of varied event weights ----------------------------------------------
    _weight_systematic(
        "lepton_id_eff", _MC, "lepton identification: delta = 0.008 + 0.012 p_l / 300"
    ),
    _weight_systematic(
        "trigger_eff", _MC, "trigger efficiency: delta = 0.003 + 0.012 exp(-(p_l - 60) / 60)"
    ),
    _weight_systematic("pileup", _MC, "pileup reweighting: delta = 0.004 + 0.01 n_jets"),
    _weight_systematic(
        "btag_veto", ("ttbar", "diboson"), "b-jet veto efficiency: delta = 0.005 + 0.02 n_jets"
    ),
    _weight_systematic("pdf", _MC, "parton densities: delta = 0.01 + 0.03 (m_ll - 120) / 500"),
    _weight_systematic(
        "qcd_scale_signal",
        ("signal",),
        "signal QCD scales: delta+ = 0.01 + 0.03 pt_ll / (pt_ll + 40), delta- = 0.8 delta+",
    ),
    _weight_systematic(
        "qcd_scale_drell_yan",
        ("drell_yan",),
        "Drell-Yan QCD scales: delta+ = 0.01 + 0.04 pt_ll / (pt_ll + 50), delta- = 0.8 delta+",
    ),
    _weight_systematic(
        "qcd_scale_ttbar",
        ("ttbar",),
        "ttbar QCD scales: delta+ = 0.02 + 0.06 pt_ll / (pt_ll + 100), delta- = 0.8 delta+",
    ),
    _weight_systematic(
        "qcd_scale_diboson",
        ("diboson",),
        "diboson QCD scales: delta+ = 0.02 + 0.04 (m_ll - 120) / (m_ll + 100), delta- = 0.8 delta+",
    ),
    _weight_systematic(
        "ew_correction_drell_yan",
        ("drell_yan",),
        "Drell-Yan electroweak corrections: delta = 0.002 + 0.02 ln(m_ll / 120)",
    ),
    _weight_systematic(
        "top_pt", ("ttbar",), "top-quark pt reweighting: delta = 0.06 pt_ll / (pt_ll + 150)"
    ),
    _weight_systematic(
        "fake_rate_shape", ("fakes",), "fake factor: delta = 0.05 + 0.15 exp(-(p_l - 60) / 40)"
    ),
    _weight_systematic(
        "fake_prompt_subtraction",
        ("fakes",),
        "prompt-lepton subtraction of the fake estimate: delta = 0.03 + 0.06 met / (met + 50)",
    ),
    # -- alternative: another sample as the up variation --------------------------------------
    {
        "name": "ttbar_generator",
        "kind": "alternative",
        "samples": ("ttbar",),
        "up": {"table": "ttbar_alt", "weight": "weight"},
        "description": "ttbar generator: harder pt_ll and met by 4%, more radiation",
    },
    {
        "name": "drell_yan_modelling",
        "kind": "alternative",
        "samples": ("drell_yan",),
        "up": {"table": "drell_yan_alt", "weight": "weight"},
        "description": "Drell-Yan modelling: mass slope k = 4.35 instead of 4.5",
    },
    # -- norm: fixed normalisation uncertainties ----------------------------------------------
    {
        "name": "luminosity",
        "kind": "norm",
        "hi": 1.017,
        "lo": 0.983,
        "samples": _MC,
        "description": "integrated luminosity, 1.7%",
    },
    {
        "name": "drell_yan_xsec",
        "kind": "norm",
        "hi": 1.05,
        "lo": 0.95,
        "samples": ("drell_yan",),
        "description": "Drell-Yan cross section, 5%",
    },
    {
        "name": "ttbar_xsec",
        "kind": "norm",
        "hi": 1.06,
        "lo": 0.94,
        "samples": ("ttbar",),
        "description": "ttbar cross section, 6%",
    },
    {
        "name": "diboson_xsec",
        "kind": "norm",
        "hi": 1.10,
        "lo": 0.90,
        "samples": ("diboson",),
        "description": "diboson cross section, 10%",
    },
    {
        "name": "fakes_norm",
        "kind": "norm",
        "hi": 1.30,
        "lo": 0.70,
        "samples": ("fakes",),
        "description": "normalisation of the fake-lepton estimate, 30%",
    },
)


# -- per-event relative variations (delta+, delta-) of the weight systematics ------------------
_Columns = dict[str, np.ndarray]


def _lepton_pt(t: _Columns) -> np.ndarray:
    """p_l = sqrt(m_ll^2 + pt_ll^2) / 2: the transverse momentum scale of each lepton."""
    return 0.5 * np.hypot(t["m_ll"], t["pt_ll"])


def _symmetric(f: Callable[[_Columns], np.ndarray]) -> Callable[[_Columns], tuple]:
    return lambda t: (f(t), f(t))


def _scale_like(f: Callable[[_Columns], np.ndarray]) -> Callable[[_Columns], tuple]:
    return lambda t: (f(t), 0.8 * f(t))


_VARIATIONS: dict[str, Callable[[_Columns], tuple[np.ndarray, np.ndarray]]] = {
    "lepton_id_eff": _symmetric(lambda t: 0.008 + 0.012 * _lepton_pt(t) / 300.0),
    "trigger_eff": _symmetric(lambda t: 0.003 + 0.012 * np.exp(-(_lepton_pt(t) - 60.0) / 60.0)),
    "pileup": _symmetric(lambda t: 0.004 + 0.01 * t["n_jets"]),
    "btag_veto": _symmetric(lambda t: 0.005 + 0.02 * t["n_jets"]),
    "pdf": _symmetric(lambda t: 0.01 + 0.03 * (t["m_ll"] - 120.0) / 500.0),
    "qcd_scale_signal": _scale_like(lambda t: 0.01 + 0.03 * t["pt_ll"] / (t["pt_ll"] + 40.0)),
    "qcd_scale_drell_yan": _scale_like(lambda t: 0.01 + 0.04 * t["pt_ll"] / (t["pt_ll"] + 50.0)),
    "qcd_scale_ttbar": _scale_like(lambda t: 0.02 + 0.06 * t["pt_ll"] / (t["pt_ll"] + 100.0)),
    "qcd_scale_diboson": _scale_like(
        lambda t: 0.02 + 0.04 * (t["m_ll"] - 120.0) / (t["m_ll"] + 100.0)
    ),
    "ew_correction_drell_yan": _symmetric(lambda t: 0.002 + 0.02 * np.log(t["m_ll"] / 120.0)),
    "top_pt": _symmetric(lambda t: 0.06 * t["pt_ll"] / (t["pt_ll"] + 150.0)),
    "fake_rate_shape": _symmetric(lambda t: 0.05 + 0.15 * np.exp(-(_lepton_pt(t) - 60.0) / 40.0)),
    "fake_prompt_subtraction": _symmetric(lambda t: 0.03 + 0.06 * t["met"] / (t["met"] + 50.0)),
}


# -- the processes ------------------------------------------------------------------------------
class _Process(NamedTuple):
    """The generation settings of one table (see the module docstring)."""

    mass: tuple[Any, ...]  # ("gauss", mean, sigma) | ("power", m0, k) | ("gamma", m0, k, theta)
    pt: tuple[float, float]  # gamma (shape, scale) of the base pt_ll spectrum
    bjets: tuple[int, float]  # binomial (n, p) of the jets from the hard process
    extra_jets: float  # Poisson mean of the radiated jets
    neutrinos: tuple[float, float] | None  # gamma (shape, scale) of the genuine met, or None
    dphi: tuple[float, float] | None  # Beta (a, b) of dphi_ll / pi; None: resonant kinematics
    correction: str  # "mc" or "fakes": the nominal per-event correction c_i
    nominal: str  # the nominal sample whose weight systematics the table carries


_PROCESSES: dict[str, _Process] = {
    "signal": _Process(
        ("gauss", MASS, 6.0), (1.6, 14.0), (0, 0.0), 0.5, None, None, "mc", "signal"
    ),
    "drell_yan": _Process(
        ("power", 120.0, 4.5), (1.4, 14.0), (0, 0.0), 0.45, None, None, "mc", "drell_yan"
    ),
    "ttbar": _Process(
        ("gamma", 120.0, 1.2, 85.0),
        (2.5, 28.0),
        (2, 0.8),
        0.6,
        (3.0, 25.0),
        (1.5, 1.2),
        "mc",
        "ttbar",
    ),
    "diboson": _Process(
        ("gamma", 120.0, 1.0, 100.0),
        (2.0, 25.0),
        (0, 0.0),
        0.6,
        (2.0, 20.0),
        (2.2, 1.4),
        "mc",
        "diboson",
    ),
    "fakes": _Process(
        ("gamma", 120.0, 1.5, 45.0),
        (1.5, 20.0),
        (0, 0.0),
        1.0,
        (1.5, 20.0),
        (1.2, 1.2),
        "fakes",
        "fakes",
    ),
}
_PROCESSES["ttbar_alt"] = _PROCESSES["ttbar"]._replace(
    pt=(2.5, 28.0 * 1.04), extra_jets=0.7, neutrinos=(3.0, 25.0 * 1.04)
)
_PROCESSES["drell_yan_alt"] = _PROCESSES["drell_yan"]._replace(mass=("power", 120.0, 4.35))

_JET_RECOIL = 15.0  # GeV of pt_ll per jet
_MET_RESOLUTION = (8.0, 4.0)  # sigma = a + b n_jets [GeV]
_COS_THETA_MAX = 0.9  # the acceptance of the decay angle of a resonant pair


def _mass(rng: np.random.Generator, n: int, spec: tuple[Any, ...]) -> np.ndarray:
    if spec[0] == "gauss":
        return rng.normal(spec[1], spec[2], n)
    if spec[0] == "power":  # inverse CDF of m^-k above m0
        return spec[1] * (1.0 - rng.random(n)) ** (-1.0 / (spec[2] - 1.0))
    return spec[1] + rng.gamma(spec[2], spec[3], n)


def _events(rng: np.random.Generator, n: int, p: _Process) -> _Columns:
    """The features of ``n`` events of process ``p``, drawn in a fixed order from ``rng``."""
    m_ll = _mass(rng, n, p.mass)
    n_jets = (rng.binomial(p.bjets[0], p.bjets[1], n) + rng.poisson(p.extra_jets, n)).astype(
        np.float64
    )
    pt_ll = rng.gamma(p.pt[0], p.pt[1], n) + rng.gamma(n_jets, _JET_RECOIL)
    sigma = _MET_RESOLUTION[0] + _MET_RESOLUTION[1] * n_jets
    rx, ry = rng.normal(0.0, 1.0, (2, n)) * sigma
    if p.neutrinos is not None:
        true_met = rng.gamma(p.neutrinos[0], p.neutrinos[1], n)
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        rx += true_met * np.cos(phi)
        ry += true_met * np.sin(phi)
    met = np.hypot(rx, ry)
    if p.dphi is None:
        cos_theta = rng.uniform(-_COS_THETA_MAX, _COS_THETA_MAX, n)
        lepton_pt = np.sqrt((0.5 * m_ll) ** 2 * (1.0 - cos_theta**2) + (0.5 * pt_ll) ** 2)
        dphi_ll = 2.0 * np.arccos(np.clip(pt_ll / (2.0 * lepton_pt), 0.0, 1.0))
    else:
        dphi_ll = np.pi * rng.beta(p.dphi[0], p.dphi[1], n)
    return {"m_ll": m_ll, "pt_ll": pt_ll, "met": met, "n_jets": n_jets, "dphi_ll": dphi_ll}


def _correction(t: _Columns, kind: str) -> np.ndarray:
    """The nominal per-event correction c_i (module docstring)."""
    p_l = _lepton_pt(t)
    if kind == "fakes":
        return 0.5 + 0.5 * np.exp(-(p_l - 60.0) / 80.0)
    return (0.97 + 0.03 * np.exp(-p_l / 150.0)) * (1.0 + 0.01 * (t["n_jets"] - 1.0))


def _table(rng: np.random.Generator, n: int, name: str) -> _Columns:
    p = _PROCESSES[name]
    table = _events(rng, n, p)
    c = _correction(table, p.correction)
    weight = YIELDS[name] * c / c.sum()
    table["weight"] = weight
    for syst in SYSTEMATICS:
        if syst["kind"] == "weight" and p.nominal in syst["samples"]:
            up, down = _VARIATIONS[syst["name"]](table)
            table[syst["up"]] = weight * (1.0 + up)
            table[syst["down"]] = weight * (1.0 - down)
    return table


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidArgument(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})"
        ) from None
    if number < minimum:
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(number)


def dilepton(events: int = 20000, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    r"""The tables of the dilepton resonance search (module docstring): every sample of
    :data:`SAMPLES` and :data:`ALTERNATIVES`.

    Each table is ``{column: float64 array of length events}`` with the columns
    :data:`FEATURES`, ``weight`` (:math:`w_i = Y c_i / \sum_j c_j`, so
    :math:`\sum_i w_i = Y`, the yield of :data:`YIELDS`) and, for every ``weight`` systematic
    of :data:`SYSTEMATICS` that applies to the sample (or to the nominal sample of an
    alternative table), ``weight_<name>_up`` and ``weight_<name>_down``: the full varied
    weights :math:`w_i (1 + \delta_i^+)` and :math:`w_i (1 - \delta_i^-)`.

    The tables draw from independent streams, ``numpy.random.default_rng(seed).spawn(7)`` in
    the order ``SAMPLES + ALTERNATIVES``: the same ``seed`` gives the same tables.

    Args:
        events: the number of unweighted events of each table, a positive integer.
        seed: the seed of the random numbers, a non-negative integer.

    Returns:
        ``{table name: {column name: array}}``.

    Raises:
        InvalidArgument: naming the argument, for an ``events`` or ``seed`` that is not an
            integer in range (booleans are refused).

    Example:
        >>> tables = dilepton(events=500, seed=1)
        >>> list(tables["signal"])[:6]
        ['m_ll', 'pt_ll', 'met', 'n_jets', 'dphi_ll', 'weight']
        >>> tables["fakes"]["weight_fake_rate_shape_up"].shape
        (500,)
        >>> bool((tables["signal"]["m_ll"] == dilepton(500, seed=1)["signal"]["m_ll"]).all())
        True
        >>> dilepton(events=0)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: events must be an integer >= 1, got 0
    """
    n = _check_int(events, "events", 1)
    seed = _check_int(seed, "seed", 0)
    names = SAMPLES + ALTERNATIVES
    streams = np.random.default_rng(seed).spawn(len(names))
    return {name: _table(rng, n, name) for name, rng in zip(names, streams, strict=True)}


# -- the built-in blobs as an analysis description ---------------------------------------------
#: The tables of :func:`blobs`, in the order of :func:`neos.data.generate_blobs` with four blobs.
BLOB_TABLES: tuple[str, ...] = ("signal", "background", "background_up", "background_down")

#: The two features of :func:`blobs`, the columns of :func:`neos.data.generate_blobs`'s points.
BLOB_FEATURES: tuple[str, ...] = ("x1", "x2")


def _check_positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number > 0, got {value!r}")
    if value <= 0:
        raise InvalidArgument(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def blobs(
    events: int = 2 * TrainConfig.nmc,
    seed: int = 0,
    lumi: float = TrainConfig.lumi,
    sig_scale: float = TrainConfig.sig_scale,
    bkg_scale: float = TrainConfig.bkg_scale,
) -> dict[str, dict[str, np.ndarray]]:
    r"""The built-in toy of ``neos train`` (the neos paper's example) as the tables of an
    analysis description (``neos/examples/blobs.toml``).

    The toy stands for a search with two event features (think of two standardised
    kinematic variables) in which a signal process sits on top of a background whose shape is
    uncertain: the background is known as a nominal sample and two variations of a modelling
    uncertainty (say, another event generator) at :math:`\pm 1\sigma`, which make one
    ``histosys``. Each sample is a Gaussian blob of unit width,

    .. math::
        x = (x_1, x_2) = \mu_k + \epsilon, \qquad \epsilon \sim \mathcal{N}(0, I_2),

    with the centres :math:`\mu_k` of :func:`neos.data.generate_blobs`, which draws the
    events: :math:`(-1, 1)` for the signal, :math:`(1, -1)` for the nominal background,
    :math:`(2.5, 2)` for its up and :math:`(-2.5, -1.5)` for its down variation.

    Every table has ``events`` unweighted events standing for the expected yield of the
    built-in demo, :math:`Y = \text{scale}\cdot\text{lumi}`: each event carries the weight
    of :func:`neos.data.event_weights`,

    .. math:: w_i = \frac{\text{scale}\cdot\text{lumi}}{N}, \qquad \sum_i w_i = Y,

    with ``sig_scale`` for the signal and ``bkg_scale`` for the three background tables; the
    defaults are those of :class:`neos.config.TrainConfig` (20 signal and 100 background
    events). The demo trains on ``nmc`` events per blob and tests on ``nmc`` others; the
    default ``events = 2 * nmc`` with ``test_fraction = 0.5`` gives the analysis the same
    numbers of events.

    The points are ``generate_blobs(jax.random.PRNGKey(seed), blobs=4, NMC=events)()``
    (float32, stored as float64 without rounding): the same ``seed`` and ``events`` give the
    same tables, and a histogram of a table with its ``weight`` column is the demo's
    histogram (:func:`neos.makers.hists_from_nn`) of those points.

    Args:
        events: the number of unweighted events of each table, a positive integer.
        seed: the seed of the JAX key, an integer from 0 to 2**63 - 1.
        lumi: the luminosity, a finite number > 0.
        sig_scale: the signal yield per unit of luminosity, > 0.
        bkg_scale: the background yield per unit of luminosity, > 0 (each variation
            keeps the nominal yield: a shape uncertainty).

    Returns:
        ``{table: {column: float64 array of length events}}`` with the tables
        :data:`BLOB_TABLES` and the columns ``x1``, ``x2`` (:data:`BLOB_FEATURES`) and
        ``weight``.

    Raises:
        InvalidArgument: naming the argument, for an ``events`` or ``seed`` that is not an
            integer in range, or a ``lumi`` or scale that is not a finite number > 0
            (booleans are refused).

    Example:
        >>> tables = blobs(events=100, seed=0)
        >>> list(tables), list(tables["signal"])
        (['signal', 'background', 'background_up', 'background_down'], ['x1', 'x2', 'weight'])
        >>> [round(float(t["weight"].sum()), 9) for t in tables.values()]
        [20.0, 100.0, 100.0, 100.0]
        >>> tables["background_up"]["x1"].shape, tables["background_up"]["x1"].dtype
        ((100,), dtype('float64'))
        >>> blobs(events=0)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: events must be an integer >= 1, got 0
    """
    n = _check_int(events, "events", 1)
    seed = _check_int(seed, "seed", 0)
    if seed >= 2**63:
        raise InvalidArgument(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    lumi = _check_positive(lumi, "lumi")
    scales = {
        "signal": _check_positive(sig_scale, "sig_scale"),
        "background": _check_positive(bkg_scale, "bkg_scale"),
    }
    points = generate_blobs(jax.random.PRNGKey(seed), blobs=4, NMC=n)()
    tables = {}
    for name, x in zip(BLOB_TABLES, points, strict=True):
        scale = scales["signal" if name == "signal" else "background"]
        x = np.asarray(x, dtype=np.float64)
        columns = {f: x[:, i].copy() for i, f in enumerate(BLOB_FEATURES)}
        columns["weight"] = np.asarray(event_weights(n, scale, lumi, jnp.float64), np.float64)
        tables[name] = columns
    return tables
