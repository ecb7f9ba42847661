r"""Unbinned likelihoods: extended mixtures of normalised distributions of an observable.

:class:`ExtendedModel` holds the components (HS3 distributions of
:mod:`relaxed.distributions` with their expected numbers of events) and the parameters;
:func:`events` checks events and lays them out in batches; :func:`fit` finds the
maximum-likelihood estimate with Hessian uncertainties, differentiable in the events.
:mod:`relaxed.unbinned.expressions` reads HS3 generic expressions (:func:`parse_expression`)
and builds HS3's functions (:func:`sum_function`, :func:`product_function`,
:func:`polynomial_function`) as :class:`Expression`\ s, usable as a component's parameters
and rates.

Example:
    >>> import numpy as np
    >>> from relaxed.unbinned import Component, ExtendedModel, Parameter, events, fit
    >>> model = ExtendedModel(
    ...     "x", (0.0, 10.0),
    ...     [Component("sig", "gaussian_dist", {"mean": "mu", "sigma": 1.0}, "n_sig"),
    ...      Component("bkg", "uniform_dist", {}, "n_bkg")],
    ...     {"mu": Parameter(5.0, (1.0, 9.0)), "n_sig": Parameter(50.0, (0.0, 1e3)),
    ...      "n_bkg": Parameter(50.0, (0.0, 1e3))})
    >>> rng = np.random.default_rng(1)
    >>> x = np.concatenate([rng.normal(4.0, 1.0, 200), rng.uniform(0.0, 10.0, 100)])
    >>> result = fit(model, events(model, x[(x > 0) & (x < 10)]))
    >>> [round(float(v)) for v in result.bestfit]  # mu, n_bkg, n_sig
    [4, 106, 194]
"""

from relaxed.unbinned.expressions import (
    Expression,
    as_expression,
    parse_expression,
    polynomial_function,
    product_function,
    sum_function,
)
from relaxed.unbinned.fit import UnbinnedFitResult, covariance, fit
from relaxed.unbinned.model import (
    Component,
    Events,
    ExtendedModel,
    Factor,
    Parameter,
    UnbinnedConfig,
    default_asimov_nodes,
    default_capacity,
    events,
)

__all__ = [
    "Component",
    "Events",
    "Expression",
    "ExtendedModel",
    "Factor",
    "Parameter",
    "UnbinnedConfig",
    "UnbinnedFitResult",
    "as_expression",
    "covariance",
    "default_asimov_nodes",
    "default_capacity",
    "events",
    "fit",
    "parse_expression",
    "polynomial_function",
    "product_function",
    "sum_function",
]
