r"""Composable makers: data -> network -> soft histograms -> HistFactory model.

Each maker fixes its configuration and returns a pure closure of the trainable part, as in
optax: ``hists_from_nn(...)`` returns ``hist_maker(nn_params, hpars=None) -> yields`` and the
model makers turn a ``hist_maker`` into ``model_maker(nn_params, hpars=None) -> (model,
bkg_only_pars)``. Everything is traceable, so ``jax.grad`` of a loss built on a
``model_maker`` reaches the network parameters and the histogram hyperparameters
(``hpars = {"bins": edges, "bandwidth": bw}``).

Yields are a dict of float64 arrays, one per histogram: ``"signal"``, ``"background"``,
``"background_up"``, ``"background_down"``. For ``method="kde"`` the histogram of a sample of
``N`` events is :math:`h_j = \frac{\text{scale}\cdot\text{LUMI}}{N} \sum_i
\int_{e_j}^{e_{j+1}} \mathcal{N}(x; f(x_i), \text{bw}^2)\,dx` (:func:`relaxed.hist` of the
network output :math:`f`); for ``method="softmax"`` the network has one output per bin and
:math:`h_j = \frac{\text{scale}\cdot\text{LUMI}}{N} \sum_i f_j(x_i)` with
:math:`f_j(x_i)` the softmax probability of bin :math:`j`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
from jax import Array

import relaxed
from relaxed.exceptions import InvalidArgument

__all__ = [
    "HISTOGRAM_NAMES",
    "hists_from_nn",
    "hepdata_like_from_hists",
    "histosys_model_from_hists",
    "model_from_hists",
    "bkg_only_pars",
]

#: Names of the histograms a hist maker returns.
HISTOGRAM_NAMES = ("signal", "background", "background_up", "background_down")

HistMaker = Callable[..., dict[str, Array]]
ModelMaker = Callable[..., tuple[relaxed.Model, Array]]


def _check_method(method: str) -> None:
    if method not in ("kde", "softmax"):
        raise InvalidArgument(f"method must be 'kde' or 'softmax', got {method!r}")


def hists_from_nn(
    data_generator: Callable[[], tuple[Array, ...]],
    predict: Callable[[Any, Array], Array],
    hpar_dict: Mapping[str, Any] | None = None,
    method: str = "kde",
    LUMI: float = 10.0,  # noqa: N803 (the original neos name)
    sig_scale: float = 2.0,
    bkg_scale: float = 10.0,
    reflect_infinities: bool = False,
) -> HistMaker:
    r"""A histogram maker from a data generator and a network.

    Args:
        data_generator: returns ``(signal, background, background_up, background_down)`` or,
            for three blobs, ``(signal, background_up, background_down)``; the nominal
            background is then the average of the up and down histograms.
        predict: ``predict(nn_params, events)``: shape ``(N,)`` in [0, 1] for ``"kde"``,
            ``(N, n_bins)`` bin probabilities for ``"softmax"`` (rows summing to one, e.g.
            ``neos.nets.mlp(out=n_bins, final="softmax")``).
        hpar_dict: default hyperparameters ``{"bins": edges, "bandwidth": bw}`` (``"kde"``).
        method: ``"kde"`` or ``"softmax"``.
        LUMI, sig_scale, bkg_scale: the yield of a sample is ``scale * LUMI`` times the
            fraction of its events in each bin.
        reflect_infinities: count the KDE mass outside the edges in the outer bins.

    Returns:
        ``hist_maker(nn_params, hpars=None) -> dict`` of the four histograms (float64).

    Example:
        >>> import jax.numpy as jnp
        >>> gen = lambda: (jnp.array([[0.9], [0.8]]), jnp.array([[0.1], [0.2]]),
        ...                jnp.array([[0.2], [0.3]]), jnp.array([[0.0], [0.1]]))
        >>> maker = hists_from_nn(gen, lambda p, x: x[:, 0],
        ...     {"bins": jnp.array([0.0, 0.5, 1.0]), "bandwidth": 1e-3})
        >>> [round(float(v), 6) for v in maker(None)["signal"]]
        [0.0, 20.0]
    """
    _check_method(method)
    defaults = dict(hpar_dict or {})

    def hist_maker(nn_params: Any, hpars: Mapping[str, Any] | None = None) -> dict[str, Array]:
        settings = {**defaults, **(hpars or {})}
        samples = data_generator()
        if len(samples) not in (3, 4):
            raise InvalidArgument(f"data_generator must return 3 or 4 samples, got {len(samples)}")

        def histogram(events: Array, scale: float) -> Array:
            n_events = events.shape[0]
            if n_events == 0:
                raise InvalidArgument("a data sample is empty")
            output = predict(nn_params, events)
            if method == "kde":
                if "bins" not in settings or "bandwidth" not in settings:
                    raise InvalidArgument(
                        "method 'kde' needs hyperparameters 'bins' and 'bandwidth'"
                    )
                counts = relaxed.hist(
                    jnp.asarray(output, jnp.float64).reshape(n_events),
                    jnp.asarray(settings["bins"], jnp.float64),
                    jnp.asarray(settings["bandwidth"], jnp.float64),
                    reflect_infinities=reflect_infinities,
                )
            else:
                counts = jnp.sum(jnp.asarray(output, jnp.float64), axis=0)
            return counts * (scale * LUMI / n_events)

        if len(samples) == 4:
            sig, bkg, up, down = samples
            hists = {
                "signal": histogram(sig, sig_scale),
                "background": histogram(bkg, bkg_scale),
                "background_up": histogram(up, bkg_scale),
                "background_down": histogram(down, bkg_scale),
            }
        else:
            sig, up, down = samples
            hists = {
                "signal": histogram(sig, sig_scale),
                "background_up": histogram(up, bkg_scale),
                "background_down": histogram(down, bkg_scale),
            }
            hists["background"] = 0.5 * (hists["background_up"] + hists["background_down"])
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


def hepdata_like_from_hists(hist_maker: HistMaker) -> ModelMaker:
    r"""Model maker for pyhf's ``uncorrelated_background``: signal scaled by ``mu``, background
    with a per-bin ``shapesys`` uncertainty :math:`\sigma_j = |b^\uparrow_j - b^\downarrow_j|/2`.

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
        spec = {
            "channels": [
                {
                    "name": "singlechannel",
                    "samples": [
                        _sample("signal", h["signal"], [_mu()]),
                        _sample(
                            "background",
                            h["background"],
                            [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": uncertainty}],
                        ),
                    ],
                }
            ]
        }
        model = relaxed.Model(spec)
        return model, bkg_only_pars(model)

    return model_maker


def histosys_model_from_hists(hist_maker: HistMaker) -> ModelMaker:
    """Model maker with a correlated shape systematic: signal scaled by ``mu``, background
    with a ``histosys`` (interpolation code 4p) between the down and up histograms.

    Example:
        >>> import jax.numpy as jnp
        >>> hists = lambda p, h=None: {"signal": jnp.array([5.0]),
        ...     "background": jnp.array([50.0]), "background_up": jnp.array([55.0]),
        ...     "background_down": jnp.array([45.0])}
        >>> model, pars = histosys_model_from_hists(hists)(None)
        >>> model.config.par_order, float(model.expected_actualdata([1.0, 1.0])[0])
        (['correlated_bkg_uncertainty', 'mu'], 60.0)
    """

    def model_maker(nn_params: Any, hpars: Mapping[str, Any] | None = None) -> Any:
        h = hist_maker(nn_params, hpars)
        systematic = {
            "name": "correlated_bkg_uncertainty",
            "type": "histosys",
            "data": {"hi_data": h["background_up"], "lo_data": h["background_down"]},
        }
        spec = {
            "channels": [
                {
                    "name": "singlechannel",
                    "samples": [
                        _sample("signal", h["signal"], [_mu()]),
                        _sample("background", h["background"], [systematic]),
                    ],
                }
            ]
        }
        model = relaxed.Model(spec)
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
