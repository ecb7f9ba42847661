r"""Composable makers: data -> network -> soft histograms -> HistFactory model.

Each maker fixes its configuration and returns a pure closure of the trainable part, as in
optax: ``hists_from_nn(...)`` returns ``hist_maker(nn_params, hpars=None) -> yields`` and the
model makers turn a ``hist_maker`` into ``model_maker(nn_params, hpars=None) -> (model,
bkg_only_pars)``. Everything is traceable, so ``jax.grad`` of a loss built on a
``model_maker`` reaches the network parameters and the histogram hyperparameters
(``hpars = {"bins": edges, "bandwidth": bw}``).

Yields are a dict of float64 arrays, one per histogram: ``"signal"``, ``"background"``,
``"background_up"``, ``"background_down"``. Every event carries the weight
:math:`w_i = \text{scale}\cdot\text{LUMI}/N` of :func:`neos.data.event_weights` (``N`` events
in the sample). For ``method="kde"`` the histogram is
:math:`h_b = \sum_i w_i K_b(x_i)` with :math:`K_b(x_i) = \int_{e_b}^{e_{b+1}}
\mathcal{N}(x; f(x_i), \text{bw}^2)\,dx` (:func:`relaxed.hist` of the network output
:math:`f`); for ``method="softmax"`` the network has one output per bin and
:math:`K_b(x_i) = f_b(x_i)`, the softmax probability of bin :math:`b`.

Monte Carlo statistics (``mcstat=True``): the hist maker also returns
``"signal_mcstat"`` and ``"background_mcstat"``, the uncertainties
:math:`\sigma_b = \sqrt{\sum_i w_i^2 K_b(x_i)}` (the same kernel with squared weights, at
most :math:`h_b`; as the bandwidth goes to zero, :math:`\sqrt{\sum_i w_i^2 [x_i \in b]}`, the
uncertainty of an ordinary weighted histogram), and the model makers give the background a
``staterror`` modifier with these uncertainties (see :func:`histosys_spec`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
from jax import Array

import relaxed
from neos.data import event_weights
from relaxed.exceptions import InvalidArgument

__all__ = [
    "HISTOGRAM_NAMES",
    "MCSTAT_SUFFIX",
    "STATERROR_NAME",
    "YIELD_FLOOR",
    "hists_from_nn",
    "histosys_spec",
    "hepdata_like_from_hists",
    "histosys_model_from_hists",
    "model_from_hists",
    "bkg_only_pars",
]

#: Names of the histograms a hist maker returns.
HISTOGRAM_NAMES = ("signal", "background", "background_up", "background_down")
#: With ``mcstat=True`` the hist maker also returns ``name + MCSTAT_SUFFIX`` for the signal and
#: the nominal background: the Monte Carlo statistical uncertainty of each bin.
MCSTAT_SUFFIX = "_mcstat"
#: Name of the ``staterror`` modifier of the single channel (pyhf's ``staterror_<channel>``).
STATERROR_NAME = "staterror_singlechannel"
#: :math:`\epsilon`: every bin of a soft histogram holds at least this fraction of its sample's
#: yield. A bin where every kernel underflows to 0 (a narrow bandwidth, or a softmax
#: probability that rounds to 0) would make a histosys rate exactly 0 at :math:`\alpha = \pm 1`,
#: where the fits' derivatives are not finite; :math:`10^{-13}` of the yield is far below any
#: statistical meaning and hundreds of float64 rounding units above that zero.
YIELD_FLOOR = 1e-13

HistMaker = Callable[..., dict[str, Array]]
ModelMaker = Callable[..., tuple[relaxed.Model, Array]]


def _check_method(method: str) -> None:
    if method not in ("kde", "softmax"):
        raise InvalidArgument(f"method must be 'kde' or 'softmax', got {method!r}")


def _safe_sqrt(x: Array) -> Array:
    r""":math:`\sqrt{x}` with a zero (not an infinite) derivative at :math:`x = 0`."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def hists_from_nn(
    data_generator: Callable[[], tuple[Array, ...]],
    predict: Callable[[Any, Array], Array],
    hpar_dict: Mapping[str, Any] | None = None,
    method: str = "kde",
    LUMI: float = 10.0,  # noqa: N803 (the original neos name)
    sig_scale: float = 2.0,
    bkg_scale: float = 10.0,
    reflect_infinities: bool = False,
    mcstat: bool = False,
) -> HistMaker:
    r"""A histogram maker from a data generator and a network.

    The histogram of a sample of :math:`N` events with network outputs :math:`f(x_i)` is
    :math:`h_b = \sum_i w_i K_b(x_i) + \epsilon \sum_i w_i`,
    :math:`w_i = \text{scale}\cdot\text{LUMI}/N` (:func:`neos.data.event_weights`), with
    :math:`K_b` the binned Gaussian kernel of :func:`relaxed.hist` (``"kde"``) or the softmax
    probability of bin :math:`b` (``"softmax"``), and :math:`\epsilon` =
    :data:`YIELD_FLOOR`. With ``mcstat`` the Monte Carlo statistical uncertainty

    .. math:: \sigma_b = \min\left(\sqrt{\textstyle\sum_i w_i^2 K_b(x_i)},\; h_b\right)

    of the signal and of the nominal background is returned too (``"signal_mcstat"``,
    ``"background_mcstat"``). The bound is that of every histogram of non-negative weights,
    :math:`\sum_i w_i^2 [x_i \in b] \le (\sum_i w_i [x_i \in b])^2`, which a kernel spread
    over several bins can break in a bin it barely reaches (less than one event's weight):
    there the ``staterror`` would leave its :math:`\gamma_b` unconstrained, and the fits'
    derivatives with it.

    Args:
        data_generator: returns ``(signal, background, background_up, background_down)`` or,
            for three blobs, ``(signal, background_up, background_down)``; the nominal
            background is then the average of the up and down histograms (and its
            :math:`\sigma_b^2` is :math:`(\sigma_{b,\uparrow}^2 + \sigma_{b,\downarrow}^2)/4`).
        predict: ``predict(nn_params, events)``: shape ``(N,)`` in [0, 1] for ``"kde"``,
            ``(N, n_bins)`` bin probabilities for ``"softmax"`` (rows summing to one, e.g.
            ``neos.nets.mlp(out=n_bins, final="softmax")``).
        hpar_dict: default hyperparameters ``{"bins": edges, "bandwidth": bw}`` (``"kde"``).
        method: ``"kde"`` or ``"softmax"``.
        LUMI, sig_scale, bkg_scale: a sample stands for ``scale * LUMI`` expected events.
        reflect_infinities: keep the whole yield: count the KDE mass below the first edge in
            the first bin and above the last edge in the last bin (:func:`relaxed.hist`), so
            that :math:`\sum_b h_b = \text{scale}\cdot\text{LUMI}` (times
            :math:`1 + B\epsilon` for :math:`B` bins).
        mcstat: also return the Monte Carlo statistical uncertainties.

    Returns:
        ``hist_maker(nn_params, hpars=None) -> dict`` of the four histograms (float64), and
        with ``mcstat`` the two uncertainties.

    Example:
        >>> import jax.numpy as jnp
        >>> gen = lambda: (jnp.array([[0.9], [0.8]]), jnp.array([[0.1], [0.2]]),
        ...                jnp.array([[0.2], [0.3]]), jnp.array([[0.0], [0.1]]))
        >>> maker = hists_from_nn(gen, lambda p, x: x[:, 0],
        ...     {"bins": jnp.array([0.0, 0.5, 1.0]), "bandwidth": 1e-3}, mcstat=True)
        >>> hists = maker(None)
        >>> [round(float(v), 6) for v in hists["signal"]]
        [0.0, 20.0]
        >>> [round(float(v), 6) for v in hists["signal_mcstat"]]  # 10 * sqrt(2)
        [0.0, 14.142136]
    """
    _check_method(method)
    defaults = dict(hpar_dict or {})

    def hist_maker(nn_params: Any, hpars: Mapping[str, Any] | None = None) -> dict[str, Array]:
        settings = {**defaults, **(hpars or {})}
        samples = data_generator()
        if len(samples) not in (3, 4):
            raise InvalidArgument(f"data_generator must return 3 or 4 samples, got {len(samples)}")

        def histogram(events: Array, scale: float) -> tuple[Array, Array | None]:
            """The yields and, with ``mcstat``, the sums of squared weights per bin."""
            n_events = events.shape[0]
            if n_events == 0:
                raise InvalidArgument("a data sample is empty")
            weights = event_weights(n_events, scale, LUMI, jnp.float64)
            output = jnp.asarray(predict(nn_params, events), jnp.float64)
            if method == "kde":
                if "bins" not in settings or "bandwidth" not in settings:
                    raise InvalidArgument(
                        "method 'kde' needs hyperparameters 'bins' and 'bandwidth'"
                    )
                kde = functools.partial(
                    relaxed.hist,
                    output.reshape(n_events),
                    jnp.asarray(settings["bins"], jnp.float64),
                    jnp.asarray(settings["bandwidth"], jnp.float64),
                    reflect_infinities=reflect_infinities,
                )
                counts = kde(weights=weights)
                sumw2 = kde(weights=weights**2) if mcstat else None
            else:
                counts = weights @ output
                sumw2 = (weights**2) @ output if mcstat else None
            return counts + YIELD_FLOOR * jnp.sum(weights), sumw2

        if len(samples) == 4:
            sig, bkg, up, down = samples
            (s, s_w2), (b, b_w2) = histogram(sig, sig_scale), histogram(bkg, bkg_scale)
            hists = {
                "signal": s,
                "background": b,
                "background_up": histogram(up, bkg_scale)[0],
                "background_down": histogram(down, bkg_scale)[0],
            }
        else:
            sig, up, down = samples
            (s, s_w2), (u, u_w2), (d, d_w2) = (
                histogram(sig, sig_scale),
                histogram(up, bkg_scale),
                histogram(down, bkg_scale),
            )
            hists = {"signal": s, "background_up": u, "background_down": d}
            hists["background"] = 0.5 * (u + d)
            b_w2 = None if u_w2 is None else 0.25 * (u_w2 + d_w2)
        if mcstat:
            # at most 100%: sum_i w_i^2 [x_i in b] <= (sum_i w_i [x_i in b])^2 for w_i >= 0
            hists["signal" + MCSTAT_SUFFIX] = jnp.minimum(_safe_sqrt(s_w2), hists["signal"])
            hists["background" + MCSTAT_SUFFIX] = jnp.minimum(_safe_sqrt(b_w2), hists["background"])
        return hists

    return hist_maker


def bkg_only_pars(model: relaxed.Model) -> Array:
    """The background-only parameters: suggested initial values with the POI at 0.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [{"name": "s", "data": [1.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> bkg_only_pars(relaxed.Model(spec)).tolist()
        [0.0]
    """
    pars = jnp.asarray(model.config.suggested_init(), jnp.float64)
    return pars.at[model.config.poi_index].set(0.0)


def _sample(name: str, data: Any, modifiers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "data": data, "modifiers": modifiers}


def _mu() -> dict[str, Any]:
    return {"name": "mu", "type": "normfactor", "data": None}


def _staterror(hists: Mapping[str, Any], mcstat: bool) -> list[dict[str, Any]]:
    """The background's ``staterror`` modifier (a list of one), or none without ``mcstat``."""
    if not mcstat:
        return []
    key = "background" + MCSTAT_SUFFIX
    if key not in hists:
        raise InvalidArgument(
            f"mcstat=True needs the histogram {key!r} (hists_from_nn(..., mcstat=True)); "
            f"the hist maker provides {sorted(hists)}"
        )
    return [{"name": STATERROR_NAME, "type": "staterror", "data": hists[key]}]


def histosys_spec(hists: Mapping[str, Any], mcstat: bool = False) -> dict[str, Any]:
    r"""The HistFactory specification of the histosys model of the histograms ``hists``.

    One channel, ``singlechannel``: the signal :math:`s_b` scaled by the POI ``mu``; the
    background :math:`b_b` with a ``histosys`` ``correlated_bkg_uncertainty`` (interpolation
    code 4p) between ``background_down`` and ``background_up``, and with ``mcstat`` a
    ``staterror`` (:data:`STATERROR_NAME`) with the uncertainties
    :math:`\sigma_b` = ``hists["background_mcstat"]``. In pyhf's semantics this is one
    parameter :math:`\gamma_b` per bin, with the constraint
    :math:`\mathcal{N}(1 \mid \gamma_b, \delta_b^2)`, :math:`\delta_b = \sigma_b / b_b`,
    multiplying the background: :math:`\nu_b = \mu s_b + \gamma_b\, b_b(\alpha)`.

    The Monte Carlo statistics of the signal are left out: in likelihoods published with
    pyhf and HistFitter the shared :math:`\gamma_b` of ``staterror_<channel>`` belongs to the
    simulated backgrounds, and signal samples give their MC statistics a modifier of their
    own, if any (the ATLAS 3L eRJR signal patches a per-sample ``shapesys``). Sharing
    :math:`\gamma_b` with the signal would make :math:`\delta_b`, and so the
    background-only fit, depend on the signal's simulation.

    :func:`histosys_model_from_hists` builds a model of this specification from soft
    histograms, :func:`neos.train.hard_workspace` a pyhf workspace from ordinary ones.

    Args:
        hists: ``signal``, ``background``, ``background_up``, ``background_down`` and, with
            ``mcstat``, ``background_mcstat``: arrays of the same length (or lists).
        mcstat: add the ``staterror``.

    Raises:
        InvalidArgument: ``mcstat`` without ``background_mcstat`` in ``hists``.

    Example:
        >>> spec = histosys_spec({"signal": [5.0], "background": [50.0],
        ...     "background_up": [55.0], "background_down": [45.0],
        ...     "background_mcstat": [2.0]}, mcstat=True)
        >>> [m["type"] for m in spec["channels"][0]["samples"][1]["modifiers"]]
        ['histosys', 'staterror']
    """
    systematic = {
        "name": "correlated_bkg_uncertainty",
        "type": "histosys",
        "data": {"hi_data": hists["background_up"], "lo_data": hists["background_down"]},
    }
    return {
        "channels": [
            {
                "name": "singlechannel",
                "samples": [
                    _sample("signal", hists["signal"], [_mu()]),
                    _sample(
                        "background",
                        hists["background"],
                        [systematic, *_staterror(hists, mcstat)],
                    ),
                ],
            }
        ]
    }


def hepdata_like_from_hists(hist_maker: HistMaker, mcstat: bool = False) -> ModelMaker:
    r"""Model maker for pyhf's ``uncorrelated_background``: signal scaled by ``mu``, background
    with a per-bin ``shapesys`` uncertainty :math:`\sigma_j = |b^\uparrow_j - b^\downarrow_j|/2`
    and, with ``mcstat``, the ``staterror`` of :func:`histosys_spec`.

    Example:
        >>> import jax.numpy as jnp
        >>> hists = lambda p, h=None: {"signal": jnp.array([5.0]),
        ...     "background": jnp.array([50.0]), "background_up": jnp.array([55.0]),
        ...     "background_down": jnp.array([45.0])}
        >>> model, pars = hepdata_like_from_hists(hists)(None)
        >>> model.config.par_order, pars.tolist()
        (['mu', 'uncorr_bkguncrt'], [0.0, 1.0])
    """

    def model_maker(nn_params: Any, hpars: Mapping[str, Any] | None = None) -> Any:
        h = hist_maker(nn_params, hpars)
        uncertainty = jnp.abs(h["background_up"] - h["background_down"]) / 2.0
        shapesys = {"name": "uncorr_bkguncrt", "type": "shapesys", "data": uncertainty}
        spec = {
            "channels": [
                {
                    "name": "singlechannel",
                    "samples": [
                        _sample("signal", h["signal"], [_mu()]),
                        _sample("background", h["background"], [shapesys, *_staterror(h, mcstat)]),
                    ],
                }
            ]
        }
        model = relaxed.Model(spec)
        return model, bkg_only_pars(model)

    return model_maker


def histosys_model_from_hists(hist_maker: HistMaker, mcstat: bool = False) -> ModelMaker:
    """Model maker of :func:`histosys_spec`: signal scaled by ``mu``, background with a
    ``histosys`` (interpolation code 4p) between the down and up histograms and, with
    ``mcstat``, a ``staterror`` from ``background_mcstat``.

    Example:
        >>> import jax.numpy as jnp
        >>> hists = lambda p, h=None: {"signal": jnp.array([5.0]),
        ...     "background": jnp.array([50.0]), "background_up": jnp.array([55.0]),
        ...     "background_down": jnp.array([45.0]), "background_mcstat": jnp.array([5.0])}
        >>> model, pars = histosys_model_from_hists(hists)(None)
        >>> model.config.par_order, float(model.expected_actualdata([1.0, 1.0])[0])
        (['correlated_bkg_uncertainty', 'mu'], 60.0)
        >>> model, pars = histosys_model_from_hists(hists, mcstat=True)(None)
        >>> model.config.par_order, pars.tolist()
        (['correlated_bkg_uncertainty', 'mu', 'staterror_singlechannel'], [0.0, 0.0, 1.0])
    """

    def model_maker(nn_params: Any, hpars: Mapping[str, Any] | None = None) -> Any:
        model = relaxed.Model(histosys_spec(hist_maker(nn_params, hpars), mcstat))
        return model, bkg_only_pars(model)

    return model_maker


def _fill(node: Any, hists: Mapping[str, Array], path: str) -> Any:
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key in ("data", "hi_data", "lo_data") and isinstance(value, str):
                if value not in hists:
                    raise InvalidArgument(
                        f"{where}: template refers to histogram {value!r}; the hist maker "
                        f"provides {sorted(hists)}"
                    )
                out[key] = hists[value]
            else:
                out[key] = _fill(value, hists, where)
        return out
    if isinstance(node, list):
        return [_fill(value, hists, f"{path}[{i}]") for i, value in enumerate(node)]
    return node


def model_from_hists(
    template: Mapping[str, Any],
    hist_maker: HistMaker,
    measurement_name: str | None = None,
) -> ModelMaker:
    """Model maker filling a pyhf-format template with the network's histograms.

    ``template`` is a workspace (or a model spec ``{"channels": ...}``) in which any sample
    ``data`` or histosys ``hi_data``/``lo_data`` may be the *name* of a histogram of the hist
    maker (``"signal"``, ``"background"``, ``"background_up"``, ``"background_down"``, or any
    key a custom hist maker returns). Other numbers stay as written, so templates can have
    several channels (e.g. a fixed control region) and several systematics. A workspace
    template is turned into a model with :meth:`relaxed.Workspace.model` (its measurement's
    POI and parameter settings apply).

    Example:
        >>> import jax.numpy as jnp
        >>> hists = lambda p, h=None: {"signal": jnp.array([5.0]),
        ...     "background": jnp.array([50.0])}
        >>> template = {"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": "signal", "modifiers": [
        ...         {"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": "background", "modifiers": [
        ...         {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]}]}]}
        >>> model, pars = model_from_hists(template, hists)(None)
        >>> float(model.expected_actualdata(pars)[0])
        50.0
    """
    template = copy.deepcopy(dict(template))
    is_workspace = "measurements" in template

    def model_maker(nn_params: Any, hpars: Mapping[str, Any] | None = None) -> Any:
        spec = _fill(template, hist_maker(nn_params, hpars), "")
        if is_workspace:
            model = relaxed.Workspace(spec).model(measurement_name=measurement_name)
        else:
            model = relaxed.Model(spec)
        return model, bkg_only_pars(model)

    return model_maker
