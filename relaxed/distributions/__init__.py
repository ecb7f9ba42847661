r"""The fundamental distributions of HS3 as pure JAX functions, normalised over a domain.

Each HS3 distribution type is a :class:`Distribution`: a NamedTuple (the optax pattern) of
its HS3 vocabulary (``hs3_type``, the ``observable`` field, the ``parameters`` fields, in
order) and of pure functions of the events ``x``, a mapping ``params`` of HS3 field names to
values, and the observable's domain :math:`[\mathrm{lo}, \mathrm{hi}]`:

- ``logpdf(x, params, lo, hi)``: :math:`\log f(x) - \log M`, the log-density normalised
  over the domain (a truncated distribution where the domain cuts it); :math:`-\infty`
  outside the domain. Elementwise in the events, jit/vmap/grad-able in ``x`` and ``params``,
  float64, with finite gradients at the documented edges (no NaN from untaken branches).
- ``log_normalisation(params, lo, hi)``: :math:`\log M = \log\int_{\mathrm{lo}}^{\mathrm{hi}}
  f\,dx`, analytic for every type, computed once per call (never per event).
- ``check(params, lo, hi)``: for concrete numbers, raises
  :class:`~relaxed.exceptions.InvalidDistribution` naming the distribution, the field and the
  value (a width <= 0, a Crystal Ball tail exponent <= 1 on an infinite side, a polynomial
  negative on the domain, an empty domain, an infinite one the density does not integrate
  over, a covariance that is not positive definite).
- ``cdf(x, params, lo, hi)`` (``None`` for the multivariate normal) and
  ``sample(key, params, lo, hi, n)``: exact inverse-CDF sampling where the inverse is
  analytic; for the polynomial-type densities and ARGUS, a safeguarded Newton inversion of the
  analytic CDF (:func:`relaxed.distributions._math.invert_cdf`, to the rounding of the CDF).

:data:`DISTRIBUTIONS` maps each HS3 ``type`` to its distribution; :func:`for_node` picks one
for an HS3 distribution node (by type and, for the Crystal Ball, by the fields present);
:func:`check_events` is the data loader's check that events lie in the domain.
:func:`generic_dist` builds the distribution of an HS3 ``generic_dist`` from its expression
(:mod:`relaxed.unbinned.expressions`), normalised by composite Gauss-Legendre quadrature
(:mod:`relaxed.distributions.generic`; not in :data:`DISTRIBUTIONS`, since each expression
is its own distribution).

Normalisation means the density integrates to one over the domain of its observable
(the HS3 :math:`1/\mathcal{M}`). Two exceptions: ``poisson_dist`` is a distribution of a count,
its ``logpdf`` the log of the probability mass, not normalised over a domain; and
``multivariate_normal_dist`` is normalised over :math:`\mathbb{R}^k` (a box domain does not
truncate it).

Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> from relaxed.distributions import DISTRIBUTIONS
    >>> dist = DISTRIBUTIONS["gaussian_dist"]
    >>> dist.observable, dist.parameters
    ('x', ('mean', 'sigma'))
    >>> params = {"mean": jnp.array(1.0), "sigma": jnp.array(0.5)}
    >>> dist.check(params, 0.0, 2.0)  # the domain cuts the Gaussian at 2 sigma
    >>> x = jnp.array([0.5, 1.0, 1.5])
    >>> nll = jax.jit(lambda p: -dist.logpdf(x, p, 0.0, 2.0).sum())
    >>> round(float(nll(params)), 6)
    1.53767
    >>> round(float(jax.grad(nll)(params)["mean"]), 6)
    0.0
    >>> dist.sample(jax.random.PRNGKey(0), params, 0.0, 2.0, 4).shape
    (4,)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaxed.distributions.argus import argus_dist
from relaxed.distributions.base import Distribution, Params, check_events
from relaxed.distributions.bernstein import bernstein_poly_dist
from relaxed.distributions.chebychev import chebychev_dist
from relaxed.distributions.crystalball import (
    crystalball_dist,
    crystalball_doublesided_dist,
    crystalball_symmetric,
)
from relaxed.distributions.exponential import exponential_dist
from relaxed.distributions.gaussian import gaussian_dist, normal_dist
from relaxed.distributions.generic import generic_dist
from relaxed.distributions.histogram import histogram_dist, histogram_params
from relaxed.distributions.lognormal import lognormal_dist
from relaxed.distributions.multivariate_normal import multivariate_normal_dist
from relaxed.distributions.poisson import poisson_dist
from relaxed.distributions.polynomial import polynomial_dist
from relaxed.distributions.uniform import uniform_dist
from relaxed.exceptions import InvalidArgument

__all__ = [
    "DISTRIBUTIONS",
    "Distribution",
    "Params",
    "argus_dist",
    "bernstein_poly_dist",
    "chebychev_dist",
    "check_events",
    "crystalball_dist",
    "crystalball_doublesided_dist",
    "crystalball_symmetric",
    "exponential_dist",
    "for_node",
    "gaussian_dist",
    "generic_dist",
    "histogram_dist",
    "histogram_params",
    "lognormal_dist",
    "multivariate_normal_dist",
    "normal_dist",
    "poisson_dist",
    "polynomial_dist",
    "uniform_dist",
]

#: Every distribution by its HS3 ``type`` name. ``crystalball_dist`` is ROOT's and pyhs3's
#: single-sided reading (``RooCBShape``); see :func:`for_node` for the standard's.
DISTRIBUTIONS: dict[str, Distribution] = {
    dist.hs3_type: dist
    for dist in (
        argus_dist,
        bernstein_poly_dist,
        chebychev_dist,
        crystalball_dist,
        crystalball_doublesided_dist,
        exponential_dist,
        gaussian_dist,
        histogram_dist,
        lognormal_dist,
        multivariate_normal_dist,
        normal_dist,
        poisson_dist,
        polynomial_dist,
        uniform_dist,
    )
}

_CRYSTALBALL_SIDES = ("alpha_L", "alpha_R", "n_L", "n_R", "sigma_L", "sigma_R")


def for_node(node: Mapping[str, Any], crystalball: str = "root") -> Distribution:
    """The distribution of an HS3 distribution node (a dict with ``type`` and its fields).

    The type picks the distribution, except for ``crystalball_dist``: with the ``_L``/``_R``
    fields it is the double-sided shape (the standard's form, under the type name
    ``crystalball_dist``); with ``alpha``/``n``/``sigma`` it is ROOT's and pyhs3's single-sided
    ``RooCBShape`` (``crystalball="root"``, the default) or the standard's text, the same
    values on both sides (``crystalball="standard"``).

    Raises:
        InvalidArgument: for a type that is not a fundamental distribution here, or mixed
            Crystal Ball fields.

    Example:
        >>> for_node({"type": "crystalball_dist", "m": "m", "m0": "m0", "alpha_L": "aL",
        ...     "alpha_R": "aR", "n_L": "nL", "n_R": "nR", "sigma_L": "sL", "sigma_R": "sR"}
        ...     ).parameters
        ('m0', 'sigma_L', 'sigma_R', 'alpha_L', 'alpha_R', 'n_L', 'n_R')
        >>> for_node({"type": "crystalball_dist", "alpha": 1.0}, crystalball="standard") is (
        ...     crystalball_symmetric)
        True
    """
    kind = node.get("type")
    if kind == "crystalball_dist":
        sided = [key for key in _CRYSTALBALL_SIDES if key in node]
        shared = [key for key in ("alpha", "n", "sigma") if key in node]
        if sided and shared:
            raise InvalidArgument(
                f"crystalball_dist: {shared} must not be used together with {sided}"
            )
        if sided:
            return crystalball_doublesided_dist._replace(hs3_type="crystalball_dist")
        if crystalball not in ("root", "standard"):
            raise InvalidArgument(f"crystalball must be 'root' or 'standard', got {crystalball!r}")
        return crystalball_symmetric if crystalball == "standard" else crystalball_dist
    if kind not in DISTRIBUTIONS:
        raise InvalidArgument(
            f"{kind!r} is not a fundamental distribution; known types: {sorted(DISTRIBUTIONS)}"
        )
    return DISTRIBUTIONS[kind]
