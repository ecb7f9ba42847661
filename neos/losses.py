r"""Losses for training: each maker returns ``loss(nn_params, hpars=None) -> scalar``.

The statistical losses are functions of a ``model_maker`` (see :mod:`neos.makers`) and are
differentiable end to end: network -> histograms -> HistFactory model -> fits -> metric.

- :func:`expected_CLs`: the median expected :math:`\mathrm{CL}_s` of a POI value under the
  background-only hypothesis (:func:`relaxed.metrics.expected_cls`). Lower is better.
- :func:`discovery_significance`: the median expected discovery significance
  :math:`Z_0 = \sqrt{q_0}` on the signal-plus-background Asimov data. It *is* the
  significance (the loss to minimise is its negative, :func:`neg_discovery_significance`).
- :func:`poi_uncertainty`: the Cramér–Rao uncertainty of the POI at the signal-plus-background
  expectation. Lower is better.
- :func:`inferno`: INFERNO's loss (de Castro and Dorigo, arXiv:1806.04743), the POI's
  diagonal element of the inverse Fisher information, :math:`(I^{-1})_{\mu\mu}`: the
  square of :func:`poi_uncertainty`, so the same optimum with a different scale.
- :func:`generalised_variance`: :math:`\det(I^{-1})` over the free parameters.
- :func:`bce`: the binary cross-entropy of the network's output *probabilities* (signal = 1,
  nominal background = 0), the conventional proxy objective, as a baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
from jax import Array

from relaxed import metrics
from relaxed.exceptions import InvalidArgument

__all__ = [
    "LOSSES",
    "expected_CLs",
    "discovery_significance",
    "neg_discovery_significance",
    "poi_uncertainty",
    "inferno",
    "generalised_variance",
    "bce",
]

ModelMaker = Callable[..., tuple[Any, Array]]


def _sb_pars(model: Any, bkg_pars: Array, mu: float = 1.0) -> Array:
    return jnp.asarray(bkg_pars).at[model.config.poi_index].set(mu)


def expected_CLs(  # noqa: N802 (the name of the original neos API)
    model_maker: ModelMaker, solver_kwargs: Mapping[str, Any] | None = None
) -> Callable[..., Array]:
    r"""Returns ``get_cls(nn_params, test_mu=1.0, hyperparams=None)``: the median expected
    :math:`\mathrm{CL}_s` of ``test_mu`` on the Asimov background-only data of the model.

    ``solver_kwargs`` are passed to :func:`relaxed.metrics.expected_cls` (``test_stat``,
    ``par_bounds``, ``fixed_params``, and the fits' ``method``, ``maxiter``, ``tolerance``,
    ``nstarts``).

    Example:
        >>> import jax.numpy as jnp
        >>> from neos.makers import histosys_model_from_hists
        >>> hists = lambda p, h=None: {"signal": p * jnp.array([5.0, 10.0]),
        ...     "background": jnp.array([50.0, 50.0]),
        ...     "background_up": jnp.array([55.0, 52.0]),
        ...     "background_down": jnp.array([45.0, 48.0])}
        >>> get_cls = expected_CLs(histosys_model_from_hists(hists))
        >>> round(float(get_cls(1.0, 1.0)), 4)
        0.1775
    """
    kwargs = dict(solver_kwargs or {})

    def get_cls(
        nn_params: Any, test_mu: float = 1.0, hyperparams: Mapping[str, Any] | None = None
    ) -> Array:
        model, bkg_pars = model_maker(nn_params, hyperparams)
        return metrics.expected_cls(model, test_mu, bkg_pars=bkg_pars, **kwargs)

    return get_cls


def discovery_significance(model_maker: ModelMaker) -> Callable[..., Array]:
    r"""Returns ``z0(nn_params, hyperparams=None)``: the median expected discovery significance
    :math:`Z_0` in standard deviations (higher is better).

    Example:
        >>> import jax.numpy as jnp
        >>> from neos.makers import hepdata_like_from_hists
        >>> hists = lambda p, h=None: {"signal": jnp.array([10.0]),
        ...     "background": jnp.array([100.0]), "background_up": jnp.array([110.0]),
        ...     "background_down": jnp.array([90.0])}
        >>> round(float(discovery_significance(hepdata_like_from_hists(hists))(None)), 6)
        0.690196
    """

    def z0(nn_params: Any, hyperparams: Mapping[str, Any] | None = None) -> Array:
        model, bkg_pars = model_maker(nn_params, hyperparams)
        return metrics.expected_discovery_significance(model, _sb_pars(model, bkg_pars))

    return z0


def neg_discovery_significance(model_maker: ModelMaker) -> Callable[..., Array]:
    """The loss :math:`-Z_0` (see :func:`discovery_significance`): minimising it maximises
    the expected discovery significance.

    Example:
        >>> import jax.numpy as jnp
        >>> from neos.makers import hepdata_like_from_hists
        >>> hists = lambda p, h=None: {"signal": jnp.array([10.0]),
        ...     "background": jnp.array([100.0]), "background_up": jnp.array([110.0]),
        ...     "background_down": jnp.array([90.0])}
        >>> round(float(neg_discovery_significance(hepdata_like_from_hists(hists))(None)), 6)
        -0.690196
    """
    z0 = discovery_significance(model_maker)
    return lambda nn_params, hyperparams=None: -z0(nn_params, hyperparams)


def poi_uncertainty(model_maker: ModelMaker) -> Callable[..., Array]:
    r"""Returns ``sigma_mu(nn_params, hyperparams=None)``: the Cramér–Rao uncertainty of the
    POI, :math:`\sqrt{(I^{-1})_{\mu\mu}}`, with :math:`I` the Fisher information at the
    signal-plus-background expectation (POI = 1).

    Example:
        >>> import jax.numpy as jnp
        >>> from neos.makers import model_from_hists
        >>> template = {"channels": [{"name": "c", "samples": [{"name": "s",
        ...     "data": "signal", "modifiers": [{"name": "mu", "type": "normfactor",
        ...     "data": None}]}]}]}
        >>> maker = model_from_hists(template, lambda p, h=None: {"signal": jnp.array([25.0])})
        >>> float(poi_uncertainty(maker)(None))
        0.2
    """

    def sigma(nn_params: Any, hyperparams: Mapping[str, Any] | None = None) -> Array:
        model, bkg_pars = model_maker(nn_params, hyperparams)
        return metrics.cramer_rao_uncertainty(model, _sb_pars(model, bkg_pars))

    return sigma


def inferno(model_maker: ModelMaker) -> Callable[..., Array]:
    r"""Returns ``variance(nn_params, hyperparams=None)``: INFERNO's loss (de Castro and
    Dorigo, *INFERNO: Inference-Aware Neural Optimisation*, arXiv:1806.04743),

    .. math:: (I^{-1})_{\mu\mu},\qquad I_{ij} = -\mathbb{E}\left[\partial_i\partial_j
        \log L\right],

    the Cramér–Rao bound on the variance of the POI with the nuisance parameters profiled
    (the inverse of the whole Fisher matrix, constraint terms included), at the
    signal-plus-background expectation (POI = 1). It is :func:`poi_uncertainty` squared.

    Example:
        >>> import jax.numpy as jnp
        >>> from neos.makers import histosys_model_from_hists
        >>> hists = lambda p, h=None: {"signal": jnp.array([5.0, 10.0]),
        ...     "background": jnp.array([50.0, 50.0]),
        ...     "background_up": jnp.array([55.0, 52.0]),
        ...     "background_down": jnp.array([45.0, 48.0])}
        >>> round(float(inferno(histosys_model_from_hists(hists))(None)), 6)
        0.583721
    """
    sigma = poi_uncertainty(model_maker)

    def variance(nn_params: Any, hyperparams: Mapping[str, Any] | None = None) -> Array:
        return sigma(nn_params, hyperparams) ** 2

    return variance


def generalised_variance(model_maker: ModelMaker) -> Callable[..., Array]:
    r"""Returns ``det_v(nn_params, hyperparams=None)``: :math:`\det(I^{-1})` at the
    signal-plus-background expectation.

    Example:
        >>> import jax.numpy as jnp
        >>> from neos.makers import model_from_hists
        >>> template = {"channels": [{"name": "c", "samples": [{"name": "s",
        ...     "data": "signal", "modifiers": [{"name": "mu", "type": "normfactor",
        ...     "data": None}]}]}]}
        >>> maker = model_from_hists(template, lambda p, h=None: {"signal": jnp.array([25.0])})
        >>> round(float(generalised_variance(maker)(None)), 12)
        0.04
    """

    def det_v(nn_params: Any, hyperparams: Mapping[str, Any] | None = None) -> Array:
        model, bkg_pars = model_maker(nn_params, hyperparams)
        return metrics.generalised_variance(model, _sb_pars(model, bkg_pars))

    return det_v


def bce(
    data_generator: Callable[[], tuple[Array, ...]],
    predict: Callable[[Any, Array], Array],
    eps: float = 1e-7,
) -> Callable[..., Array]:
    r"""Returns ``loss(nn_params, hyperparams=None)``: the binary cross-entropy

    .. math:: -\frac{1}{N}\sum_i \left[y_i \ln p_i + (1-y_i)\ln(1-p_i)\right]

    of the network's output probabilities :math:`p_i \in (0, 1)` (clipped to
    :math:`[\epsilon, 1-\epsilon]`), with :math:`y = 1` for signal and :math:`y = 0` for the
    nominal background (the first two samples of ``data_generator``). ``hyperparams`` is
    accepted and ignored, so every loss has the same signature.

    Example:
        >>> import jax.numpy as jnp
        >>> gen = lambda: (jnp.array([[0.9]]), jnp.array([[0.2]]))
        >>> round(float(bce(gen, lambda p, x: x[:, 0])(None)), 6)  # -(ln 0.9 + ln 0.8) / 2
        0.164252
    """

    def loss(nn_params: Any, hyperparams: Mapping[str, Any] | None = None) -> Array:
        samples = data_generator()
        sig, bkg = samples[0], samples[1]
        p_sig = jnp.clip(jnp.asarray(predict(nn_params, sig), jnp.float64), eps, 1 - eps)
        p_bkg = jnp.clip(jnp.asarray(predict(nn_params, bkg), jnp.float64), eps, 1 - eps)
        total = -(jnp.sum(jnp.log(p_sig)) + jnp.sum(jnp.log1p(-p_bkg)))
        return total / (p_sig.size + p_bkg.size)

    return loss


#: Names of the losses ``neos train --loss`` accepts.
LOSSES = ("cls", "discovery", "poi_uncert", "inferno", "bce")


def check_loss_name(name: str) -> None:
    """Raise :class:`relaxed.exceptions.InvalidArgument` for a name not in :data:`LOSSES`."""
    if name not in LOSSES:
        raise InvalidArgument(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
