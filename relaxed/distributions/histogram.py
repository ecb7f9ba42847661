r"""The histogram distribution, HS3 ``histogram_dist`` (ROOT's ``RooHistPdf``, no
interpolation).

A piecewise-constant density from bin contents :math:`h_b \ge 0` and edges
:math:`e_0 < \dots < e_B`:

.. math::

    f(x) = \frac{h_b}{e_{b+1} - e_b}\quad (e_b \le x < e_{b+1}),\qquad
    M = \sum_b h_b\,\frac{|[e_b, e_{b+1}] \cap [\mathrm{lo}, \mathrm{hi}]|}{e_{b+1} - e_b},

so the density in a bin is its content over its width, normalised over the part of the bins
inside the domain (with the domain covering all bins, :math:`M = \sum_b h_b`). Events outside
all bins are invalid data (their log-density is :math:`-\infty`; :func:`check_events` with the
bins' range raises for them); the last edge belongs to the last bin. The parameters are the
arrays ``contents`` and ``edges`` (differentiable in the contents); :func:`histogram_params`
reads them from the HS3 ``data`` field (``contents`` and one axis with ``edges`` or
``min``/``max``/``nbins``; the observable is that axis's ``name``). Sampling is exact: a bin
by its mass, then a uniform position inside its part of the domain.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"contents": jnp.array([1.0, 3.0]), "edges": jnp.array([0.0, 1.0, 2.0])}
    >>> logp = histogram_dist.logpdf(jnp.array([0.5, 1.5]), params, 0.0, 2.0)
    >>> [round(v, 12) for v in jnp.exp(logp).tolist()]
    [0.25, 0.75]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from relaxed.distributions.base import (
    Distribution,
    Params,
    _bound,
    _concrete,
    _domain,
    _inside,
    _param,
    _uniform,
)
from relaxed.exceptions import InvalidDistribution

__all__ = ["histogram_dist", "histogram_params"]


def histogram_params(data: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{"contents": ..., "edges": ...}`` from the HS3 ``data`` of a ``histogram_dist``.

    Raises:
        InvalidDistribution: for a missing or malformed field, or more than one axis.

    Example:
        >>> histogram_params({"contents": [1, 2], "axes": [{"name": "x", "min": 0, "max": 1,
        ...     "nbins": 2}]})["edges"].tolist()
        [0.0, 0.5, 1.0]
    """
    name = "histogram_dist"
    axes = data.get("axes")
    if not isinstance(axes, list) or len(axes) != 1:
        raise InvalidDistribution(
            "needs exactly one axis (multi-dimensional histograms are not supported)",
            name,
            "data.axes",
            axes,
        )
    axis = axes[0]
    if "edges" in axis:
        edges = np.asarray(axis["edges"], dtype=np.float64)
    elif {"min", "max", "nbins"} <= set(axis):
        edges = np.linspace(float(axis["min"]), float(axis["max"]), int(axis["nbins"]) + 1)
    else:
        raise InvalidDistribution(
            "the axis needs 'edges' or 'min', 'max' and 'nbins'", name, "data.axes[0]", axis
        )
    if "contents" not in data:
        raise InvalidDistribution("missing", name, "data.contents")
    return {"contents": np.asarray(data["contents"], dtype=np.float64), "edges": edges}


def _masses(contents: Array, edges: Array, lo: Array, hi: Array) -> Array:
    """The mass of each bin inside the domain, shape ``broadcast(lo, hi) + (B,)``."""
    width = edges[1:] - edges[:-1]
    left = jnp.maximum(edges[:-1], lo[..., None])
    right = jnp.minimum(edges[1:], hi[..., None])
    return contents * jnp.clip(right - left, 0.0, None) / width


def _log_normalisation(params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log\sum_b h_b\,|\text{bin}_b \cap \text{domain}|/\text{width}_b`."""
    contents, edges = _param(params, "contents"), _param(params, "edges")
    return jnp.log(jnp.sum(_masses(contents, edges, _bound(lo), _bound(hi)), axis=-1))


def _logpdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    r""":math:`\log(h_b/\text{width}_b) - \log M` for the bin :math:`b` holding :math:`x`."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    contents, edges = _param(params, "contents"), _param(params, "edges")
    nbins = contents.shape[0]
    index = jnp.clip(jnp.searchsorted(edges, x, side="right") - 1, 0, nbins - 1)
    density = contents / (edges[1:] - edges[:-1])
    positive = density > 0
    log_density = jnp.where(positive, jnp.log(jnp.where(positive, density, 1.0)), -jnp.inf)
    value = log_density[index] - _log_normalisation(params, lo, hi)
    binned = (x >= edges[0]) & (x <= edges[-1])
    return _inside(x, lo, hi, jnp.where(binned, value, -jnp.inf))


def _cdf(x: ArrayLike, params: Params, lo: ArrayLike, hi: ArrayLike) -> Array:
    """The piecewise-linear CDF over the domain."""
    x, lo, hi = _bound(x), _bound(lo), _bound(hi)
    contents, edges = _param(params, "contents"), _param(params, "edges")
    part = jnp.sum(_masses(contents, edges, lo, jnp.clip(x, lo, hi)), axis=-1)
    total = jnp.sum(_masses(contents, edges, lo, hi), axis=-1)
    return jnp.clip(part / total, 0.0, 1.0)


def _sample(key: Array, params: Params, lo: ArrayLike, hi: ArrayLike, n: int) -> Array:
    """Exact: a bin by its mass inside the domain, then uniform in its part of the domain."""
    lo, hi = _bound(lo), _bound(hi)
    contents, edges = _param(params, "contents"), _param(params, "edges")
    masses = _masses(contents, edges, lo, hi)
    choose, place = jax.random.split(key)
    logits = jnp.where(masses > 0, jnp.log(jnp.where(masses > 0, masses, 1.0)), -jnp.inf)
    index = jax.random.categorical(choose, logits, shape=(n,))
    left = jnp.maximum(edges[:-1], lo)[index]
    right = jnp.minimum(edges[1:], hi)[index]
    return left + _uniform(place, n) * (right - left)


def _check(params: Params, lo: ArrayLike, hi: ArrayLike) -> None:
    name = "histogram_dist"
    contents = _concrete(params, name, "contents")
    edges = _concrete(params, name, "edges")
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
        raise InvalidDistribution("must be a list of at least 2 finite numbers", name, "edges")
    if not np.all(np.diff(edges) > 0):
        raise InvalidDistribution(f"must increase strictly, got {edges.tolist()}", name, "edges")
    if contents.shape != (edges.size - 1,):
        raise InvalidDistribution(
            f"needs one value per bin ({edges.size - 1}), got shape {contents.shape}",
            name,
            "contents",
        )
    if not np.all(np.isfinite(contents)) or np.any(contents < 0):
        raise InvalidDistribution(
            f"must be finite and >= 0, got {contents.tolist()}", name, "contents", contents
        )
    lo_, hi_ = _domain(name, lo, hi)
    mass = float(np.exp(_log_normalisation(params, lo_, hi_)))
    if not mass > 0:
        raise InvalidDistribution(
            f"no content inside the domain [{lo_}, {hi_}] (bins {edges[0]} to {edges[-1]})",
            name,
            "contents",
            contents,
        )


histogram_dist = Distribution(
    hs3_type="histogram_dist",
    observable="data",
    parameters=("contents", "edges"),
    logpdf=_logpdf,
    log_normalisation=_log_normalisation,
    check=_check,
    cdf=_cdf,
    sample=_sample,
)
"""The piecewise-constant density of a histogram, normalised over the domain. Its
``observable`` is named by the HS3 ``data.axes[0].name`` (see :func:`histogram_params`)."""
