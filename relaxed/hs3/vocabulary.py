"""The HS3 vocabulary relaxed knows: type names, HistFactory modifiers, constraints and
interpolations, and the default parameter names of modifiers that do not name them.

The interpolation names are those of the standard's HistFactory section (``lin``, ``log``,
``parabolic``, ``poly6``, formulas of the yield ``y`` between ``y_low``, ``y_nominal`` and
``y_high``). pyhf's default for ``normsys`` (code 4: a sixth-order polynomial inside
:math:`|\\alpha|<1` matched to an exponential outside) has no name in that list; it is written
as the structured form ``{"type": "mult", "in": "poly6", "out": "exp"}`` used by later HS3
revisions and ROOT. ROOT's integer codes are read too.

The per-type facts (which types are scalar, default parameter names, interpolation names and
codes) come from the modifier units, :mod:`relaxed.histfactory.modifiers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaxed.histfactory.modifiers import INTERPOLATED, POLY6_EXP, UNITS

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

#: HistFactory modifier types of the standard (each the ``hs3_type`` of a unit).
MODIFIER_TYPES = ("normfactor", "normsys", "histosys", "shapesys", "shapefactor", "staterror")
#: Modifiers controlled by one parameter (``parameter``).
SCALAR_MODIFIERS = frozenset(t for t in MODIFIER_TYPES if UNITS[t].is_scalar)
#: Modifiers controlled by one parameter per bin (``parameters``).
PER_BIN_MODIFIERS = frozenset(t for t in MODIFIER_TYPES if not UNITS[t].is_scalar)

#: Constraint names: the standard's three, and ROOT's spelling of the log-normal.
CONSTRAINTS = frozenset({"Gauss", "Poisson", "LogNormal", "Lognormal"})

#: The interpolation names of the standard's HistFactory section.
INTERPOLATION_NAMES = ("lin", "log", "parabolic", "poly6")

#: pyhf 0.7.6's interpolation codes when none are given (ROOT's implicit code 4 for both).
PYHF_DEFAULT_CODES = {
    t: UNITS[t].interpolation.pyhf_default  # type: ignore[union-attr]
    for t in INTERPOLATED
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
    unit = UNITS[modifier["type"]]
    key = "parameter" if unit.is_scalar else "parameters"
    if key in modifier:
        return (modifier[key],) if unit.is_scalar else tuple(modifier[key])
    return unit.hs3_parameters(modifier.get("name"), nbins, channel)


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
    known = UNITS[mtype].interpolation
    assert known is not None, f"{mtype} is not interpolated"
    if interpolation is None:
        return known.pyhf_default
    if isinstance(interpolation, int) and not isinstance(interpolation, bool):
        return known.root_codes.get(interpolation)
    if isinstance(interpolation, str | Mapping):
        value = interpolation if isinstance(interpolation, str) else dict(interpolation)
        for code, name in known.hs3_names.items():
            if type(name) is type(value) and name == value:
                return code
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
    known = UNITS[mtype].interpolation
    assert known is not None, f"{mtype} is not interpolated"
    value = known.hs3_names.get(code)
    return dict(value) if isinstance(value, Mapping) else value
