"""The HS3 vocabulary relaxed knows: type names, HistFactory modifiers, constraints and
interpolations, and the default parameter names of modifiers that do not name them.

The interpolation names are those of the standard's HistFactory section (``lin``, ``log``,
``parabolic``, ``poly6``, formulas of the yield ``y`` between ``y_low``, ``y_nominal`` and
``y_high``). pyhf's default for ``normsys`` (code 4: a sixth-order polynomial inside
:math:`|\\alpha|<1` matched to an exponential outside) has no name in that list; it is written
as the structured form ``{"type": "mult", "in": "poly6", "out": "exp"}`` used by later HS3
revisions and ROOT. ROOT's integer codes are read too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "DISTRIBUTION_TYPES",
    "DATA_TYPES",
    "DOMAIN_TYPES",
    "MODIFIER_TYPES",
    "SCALAR_MODIFIERS",
    "PER_BIN_MODIFIERS",
    "CONSTRAINTS",
    "INTERPOLATION_NAMES",
    "PYHF_DEFAULT_CODES",
    "POLY6_EXP",
    "modifier_parameters",
    "pyhf_code",
    "hs3_interpolation",
    "strip_channel_prefix",
]

#: Distribution types defined by the standard (v0.2 and its parts); anything else is unknown.
DISTRIBUTION_TYPES = frozenset(
    {
        # univariate and multivariate fundamental distributions
        "argus_dist",
        "poisson_dist",
        "uniform_dist",
        "crystalball_dist",
        "exponential_dist",
        "gaussian_dist",
        "normal_dist",
        "gennormal_dist",
        "lognormal_dist",
        "polynomial_dist",
        "barlow_beeston_lite_poisson_constraint_dist",
        "multivariate_normal_dist",
        "generic_dist",
        "histfactory_dist",
        "relativistic_breit_wigner_dist",
        "diagonal_gauss_dist",
        "diagonal_poisson_dist",
        # composite distributions
        "mixture_dist",
        "mixture_model",
        "product_dist",
        "efficiency_product_pdf_dist",
        "density_function_dist",
        "log_density_function_dist",
        "rate_extended_dist",
        "rate_density_dist",
        "bincounts_extended_dist",
        "bincounts_density_dist",
        "analytic_convolution_dist",
        # resolution models (and the superseded names they replace)
        "gaussian_resolution_model",
        "delta_resolution_model",
        "mixture_resolution_model",
        "decay_dist",
        "gauss_model_function",
        "truth_model_function",
        # parts
        "hammer_template_dist",
    }
)

#: Data set types of the standard.
DATA_TYPES = frozenset({"binned", "unbinned", "point", "combined"})

#: Domain types of the standard.
DOMAIN_TYPES = frozenset({"product_domain"})

#: HistFactory modifier types of the standard.
MODIFIER_TYPES = ("normfactor", "normsys", "histosys", "shapesys", "shapefactor", "staterror")
#: Modifiers controlled by one parameter (``parameter``).
SCALAR_MODIFIERS = frozenset({"normfactor", "normsys", "histosys"})
#: Modifiers controlled by one parameter per bin (``parameters``).
PER_BIN_MODIFIERS = frozenset({"shapesys", "shapefactor", "staterror"})

#: Constraint names: the standard's three, and ROOT's spelling of the log-normal.
CONSTRAINTS = frozenset({"Gauss", "Poisson", "LogNormal", "Lognormal"})

#: The interpolation names of the standard's HistFactory section.
INTERPOLATION_NAMES = ("lin", "log", "parabolic", "poly6")

#: pyhf 0.7.6's interpolation codes when none are given (ROOT's implicit code 4 for both).
PYHF_DEFAULT_CODES = {"normsys": "code4", "histosys": "code4p"}

#: The structured interpolation for pyhf's normsys code 4 (poly6 inside, exponential outside).
POLY6_EXP = {"type": "mult", "in": "poly6", "out": "exp"}

# the standard's names: the same formula, applied to yields (histosys) or factors (normsys)
_FROM_NAME = {"lin": "code0", "log": "code1", "parabolic": "code2", "poly6": "code4p"}
# ROOT's integer codes (FlexibleInterpVar for normsys, PiecewiseInterpolation for histosys)
_FROM_ROOT = {
    "normsys": {0: "code0", 1: "code1", 2: "code2", 4: "code4"},
    "histosys": {0: "code0", 2: "code2", 4: "code4p"},
}
_TO_NAME = {
    "normsys": {"code0": "lin", "code1": "log", "code2": "parabolic", "code4p": "poly6"},
    "histosys": {"code0": "lin", "code2": "parabolic", "code4p": "poly6"},
}


def strip_channel_prefix(name: str) -> str:
    """ROOT's channel name of a distribution: ``model_SR`` -> ``SR`` (other names unchanged).

    Example:
        >>> [strip_channel_prefix(n) for n in ("model_SR", "SR", "model_")]
        ['SR', 'SR', 'model_']
    """
    return name[6:] if name.startswith("model_") and len(name) > 6 else name


def modifier_parameters(modifier: Mapping[str, Any], nbins: int, channel: str) -> tuple[str, ...]:
    """The parameter names of a (validated) HistFactory modifier.

    Given ``parameter`` (scalar types) or ``parameters`` (per-bin types) are used as they are;
    otherwise ROOT's defaults: ``normfactor`` its ``name``, ``normsys``/``histosys``
    ``alpha_<name>``, ``shapesys``/``shapefactor`` ``gamma_<name>_bin_<i>``, ``staterror``
    ``gamma_stat_<channel>_bin_<i>``.

    Example:
        >>> modifier_parameters({"type": "normsys", "name": "jes"}, 2, "SR")
        ('alpha_jes',)
        >>> modifier_parameters({"type": "staterror", "name": "stat"}, 2, "SR")
        ('gamma_stat_SR_bin_0', 'gamma_stat_SR_bin_1')
    """
    mtype = modifier["type"]
    if mtype in SCALAR_MODIFIERS:
        if "parameter" in modifier:
            return (modifier["parameter"],)
        name = modifier["name"]
        return (name,) if mtype == "normfactor" else (f"alpha_{name}",)
    if "parameters" in modifier:
        return tuple(modifier["parameters"])
    if mtype == "staterror":
        return tuple(f"gamma_stat_{channel}_bin_{i}" for i in range(nbins))
    return tuple(f"gamma_{modifier['name']}_bin_{i}" for i in range(nbins))


def pyhf_code(mtype: str, interpolation: Any) -> str | None:
    """pyhf's interpolation code for an HS3 ``interpolation`` value of a ``normsys`` or
    ``histosys`` modifier, or ``None`` when pyhf has no code for it. A missing value
    (``None``) means pyhf's defaults, which are ROOT's implicit ones.

    Example:
        >>> pyhf_code("histosys", "lin"), pyhf_code("normsys", POLY6_EXP)
        ('code0', 'code4')
        >>> pyhf_code("histosys", None)
        'code4p'
        >>> pyhf_code("histosys", "log") is None
        True
    """
    if interpolation is None:
        return PYHF_DEFAULT_CODES[mtype]
    if isinstance(interpolation, str):
        code = _FROM_NAME.get(interpolation)
        return None if (mtype == "histosys" and code == "code1") else code
    if isinstance(interpolation, int) and not isinstance(interpolation, bool):
        return _FROM_ROOT[mtype].get(interpolation)
    if isinstance(interpolation, Mapping) and mtype == "normsys":
        if dict(interpolation) == POLY6_EXP:
            return "code4"
    return None


def hs3_interpolation(mtype: str, code: str) -> Any:
    """The HS3 ``interpolation`` value written for pyhf's code ``code`` on ``mtype``, or
    ``None`` when HS3 has no name for it.

    Example:
        >>> hs3_interpolation("histosys", "code4p"), hs3_interpolation("normsys", "code1")
        ('poly6', 'log')
        >>> hs3_interpolation("normsys", "code4")
        {'type': 'mult', 'in': 'poly6', 'out': 'exp'}
    """
    if mtype == "normsys" and code == "code4":
        return dict(POLY6_EXP)
    return _TO_NAME[mtype].get(code)
