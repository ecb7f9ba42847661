r"""Matplotlib figures: inference plots (HEP conventions) and the training run's figures.

Inference, each drawn onto a given ``ax`` (and returning it) so that they compose:

- :func:`brazil_band`: :math:`\mathrm{CL}_s` against the POI with the expected median and its
  :math:`\pm1\sigma` (green) and :math:`\pm2\sigma` (yellow) bands, the observed line and
  the :math:`\mathrm{CL}_s = \alpha` line; :func:`brazil_arrays` turns the ``results`` of
  ``relaxed.infer.upper_limit(..., scan=..., return_results=True)`` into its inputs.
- :func:`stacked_histograms`: stacked expected yields per sample, data with :math:`\sqrt{n}`
  error bars and the uncertainty of the total, channels side by side.
- :func:`pulls`: pulls and constraints of the constrained nuisance parameters.
- :func:`correlation_matrix`: a correlation matrix from -1 to 1.
- :func:`exclusion`: observed and expected :math:`\mathrm{CL}_s = \alpha` contours of a grid of
  signal hypotheses (a patch set) in the plane of its two parameters, with the expected
  :math:`\pm1\sigma` band and the points marked excluded or not.

Whole figures for the ``neos`` command: :func:`brazil_figure`, :func:`fit_figure` (pulls and
correlations side by side) and :func:`exclusion_figure`.

Training: :func:`plot_histograms`, :func:`save_summary` and :func:`save_animation`.

Files are written atomically (a temporary file in the same folder, then a rename; see
:func:`save_figure`), so an existing file survives a failed write, and with the non-interactive
Agg backend, so everything works without a display.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402
from matplotlib import transforms as mtransforms  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402

from relaxed.io import write_text_atomic  # noqa: E402

__all__ = [
    "brazil_band",
    "brazil_arrays",
    "stacked_histograms",
    "pulls",
    "correlation_matrix",
    "exclusion",
    "brazil_figure",
    "fit_figure",
    "exclusion_figure",
    "figure_format",
    "save_figure",
    "plot_histograms",
    "save_summary",
    "save_animation",
]

_COLOURS = {
    "signal": "tab:red",
    "background": "tab:blue",
    "background_up": "tab:cyan",
    "background_down": "tab:purple",
}
#: HEP colours of the expected bands (as pyhf's and ROOT's Brazil plots).
_ONE_SIGMA = "#00cc00"
_TWO_SIGMA = "#ffe000"


def figure_format(path: str | os.PathLike[str]) -> str:
    """The image format that ``path``'s suffix names (``"png"``, ``"pdf"``, ``"svg"``, ...).

    Checks, before anything is computed, that a figure can be written there: a suffix that
    matplotlib knows, a path that is not a folder, and no file where a parent folder should
    be (missing parent folders are fine: :func:`save_figure` creates them).

    Raises:
        ValueError: naming the problem.

    Example:
        >>> figure_format("out/brazil.PDF")
        'pdf'
        >>> figure_format("brazil.txt")
        Traceback (most recent call last):
        ...
        ValueError: cannot write a figure to brazil.txt: unknown image suffix '.txt' (use .png, .pdf, .svg, ...)
    """  # noqa: E501
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write a figure to {path}: it is a folder")
    fmt = path.suffix.lower().lstrip(".")
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        what = f"unknown image suffix {path.suffix!r}" if fmt else "no file suffix"
        raise ValueError(f"cannot write a figure to {path}: {what} (use .png, .pdf, .svg, ...)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write a figure to {path}: {parent} is not a folder")
            break
    return fmt


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format of the suffix (PNG, PDF, SVG...).

    The figure is rendered into a temporary file in the target folder (created if missing),
    then renamed over ``path``: a reader never sees a half-written file and an existing file
    survives a failed write. Returns the path.

    Raises:
        ValueError: see :func:`figure_format`.

    Example:
        >>> import tempfile
        >>> fig, ax = plt.subplots()
        >>> out = save_figure(fig, Path(tempfile.mkdtemp()) / "sub" / "fig.png", dpi=20)
        >>> out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
        >>> plt.close(fig)
    """
    path = Path(path)
    fmt = figure_format(path)
    write_text_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
    return path


# -- inference figures ----------------------------------------------------------------------
def brazil_arrays(scan_results: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(poi_values, cls_obs, cls_exp)`` from the ``(scan, results)`` that
    ``relaxed.infer.upper_limit(..., scan=..., return_results=True)`` (or pyhf's) returns last.

    ``results`` holds one ``(CLs_obs, [5 expected CLs])`` per POI value; the arrays have shapes
    ``(n,)``, ``(n,)`` and ``(n, 5)`` (columns :math:`-2\\sigma \\dots +2\\sigma`), ready for
    :func:`brazil_band`.

    Raises:
        ValueError: ``scan_results`` is not a ``(scan, results)`` pair of matching lengths.

    Example:
        >>> scan = [0.0, 1.0]
        >>> results = [(0.9, [0.5, 0.6, 0.7, 0.8, 0.9]), (0.1, [0.0, 0.01, 0.02, 0.05, 0.1])]
        >>> poi, obs, exp = brazil_arrays((scan, results))
        >>> poi.tolist(), obs.tolist(), exp.shape, float(exp[1, 2])
        ([0.0, 1.0], [0.9, 0.1], (2, 5), 0.02)
    """
    try:
        scan, results = scan_results
        poi = np.asarray(scan, dtype=np.float64).ravel()
        obs = np.asarray([np.asarray(r[0], dtype=np.float64) for r in results]).ravel()
        exp = np.asarray([np.asarray(r[1], dtype=np.float64).ravel() for r in results])
    except (TypeError, ValueError, IndexError) as err:
        raise ValueError(
            "brazil_arrays expects the (scan, results) pair returned last by "
            f"upper_limit(..., scan=..., return_results=True): {err}"
        ) from err
    if not (poi.shape[0] == obs.shape[0] == exp.shape[0]) or exp.shape[1:] != (5,):
        raise ValueError(
            f"brazil_arrays: {poi.shape[0]} POI values but {obs.shape[0]} results with "
            f"expected sets of shape {exp.shape[1:]} (need one (CLs_obs, [5 CLs_exp]) per value)"
        )
    return poi, obs, exp


def brazil_band(
    ax: Any,
    poi_values: Any,
    cls_obs: Any | None,
    cls_exp: Any,
    level: float = 0.05,
    limits: tuple[Any, Any] | None = None,
    test_poi: float | None = None,
    poi_label: str = r"$\mu$",
    logy: bool = False,
) -> Any:
    r"""The Brazil-band plot: :math:`\mathrm{CL}_s` against the POI.

    Draws the expected median :math:`\mathrm{CL}_s` (dashed black) with its
    :math:`\pm1\sigma` (green) and :math:`\pm2\sigma` (yellow) bands, the observed
    :math:`\mathrm{CL}_s` (solid black, skipped when ``cls_obs`` is ``None``) and the level
    :math:`\mathrm{CL}_s = \alpha` (red): the POI values where a curve crosses it are the
    upper limits at :math:`1-\alpha` confidence level.

    Args:
        ax: matplotlib axes to draw on (returned).
        poi_values: the POI values, shape ``(n,)``.
        cls_obs: observed :math:`\mathrm{CL}_s`, shape ``(n,)``, or ``None``.
        cls_exp: expected :math:`\mathrm{CL}_s`, shape ``(n, 5)``: one row per POI value,
            columns :math:`-2\sigma, -1\sigma, \text{median}, +1\sigma, +2\sigma` (the layout
            of pyhf's ``results``; :func:`brazil_arrays` builds it). Pass ``cls_exp.T`` for an
            array of shape ``(5, n)``.
        level: :math:`\alpha`, drawn as a horizontal red line.
        limits: ``(observed, [5 expected])`` upper limits (``upper_limit``'s output) to mark
            with vertical lines at the observed limit (solid) and the expected median (dashed);
            ``observed`` may be ``None``.
        test_poi: a tested POI value to mark with a vertical dotted line.
        poi_label: x-axis label.
        logy: logarithmic :math:`\mathrm{CL}_s` axis.

    Raises:
        ValueError: shapes that do not match, naming them.

    Example:
        >>> mu = np.linspace(0.0, 3.0, 4)
        >>> exp = np.exp(-np.outer(mu, [2.0, 1.5, 1.0, 0.7, 0.5]))
        >>> fig, ax = plt.subplots()
        >>> _ = brazil_band(ax, mu, np.exp(-1.2 * mu), exp, limits=(2.5, [1.5, 2, 3, 4, 6]))
        >>> ax.get_xlabel(), ax.get_ylabel(), len(ax.collections)
        ('$\\mu$', 'CL$_s$', 2)
        >>> [line.get_label() for line in ax.get_lines()][:3]
        ['expected', 'observed', 'CL$_s$ = 0.05']
        >>> plt.close(fig)
    """
    x = np.asarray(poi_values, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < 1:
        raise ValueError(f"poi_values must be a 1-d array of POI values, got shape {x.shape}")
    n = x.shape[0]
    exp = np.asarray(cls_exp, dtype=np.float64)
    if exp.shape != (n, 5):
        hint = " (pass cls_exp.T: rows are POI values)" if exp.shape == (5, n) else ""
        raise ValueError(
            f"cls_exp must have shape ({n}, 5) for {n} POI values (columns -2 sigma .. "
            f"+2 sigma), got {exp.shape}{hint}"
        )
    obs = None
    if cls_obs is not None:
        obs = np.asarray(cls_obs, dtype=np.float64)
        if obs.shape != (n,):
            raise ValueError(f"cls_obs must have shape ({n},) like poi_values, got {obs.shape}")
    ax.fill_between(x, exp[:, 0], exp[:, 4], color=_TWO_SIGMA, lw=0, label=r"expected $\pm2\sigma$")
    ax.fill_between(x, exp[:, 1], exp[:, 3], color=_ONE_SIGMA, lw=0, label=r"expected $\pm1\sigma$")
    ax.plot(x, exp[:, 2], color="k", ls="--", lw=1.5, label="expected")
    if obs is not None:
        ax.plot(x, obs, color="k", ls="-", lw=1.8, label="observed")
    ax.axhline(level, color="red", lw=1.2, label=f"CL$_s$ = {level:g}")
    if limits is not None:
        obs_limit, exp_limits = limits
        exp_limits = np.asarray(exp_limits, dtype=np.float64).ravel()
        if exp_limits.shape != (5,):
            raise ValueError(
                f"limits must be (observed, [5 expected]), got {exp_limits.shape[0]} expected"
            )
        if obs_limit is not None:
            value = float(np.asarray(obs_limit))
            ax.axvline(value, color="k", lw=1, label=f"observed limit {value:.3g}")
        value = float(exp_limits[2])
        ax.axvline(value, color="k", lw=1, ls="--", label=f"expected limit {value:.3g}")
    if test_poi is not None:
        ax.axvline(
            float(test_poi),
            color="tab:blue",
            lw=1.2,
            ls=":",
            label=f"tested {poi_label} = {float(test_poi):g}",
        )
    ax.set_xlabel(poi_label)
    ax.set_ylabel(r"CL$_s$")
    if n > 1:
        ax.set_xlim(x.min(), x.max())
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0.0, 1.05)
    ax.legend(fontsize="small", frameon=False)
    return ax


def _main_pars(model: Any, pars: Any) -> Any:
    import jax.numpy as jnp

    arr = jnp.asarray(pars, dtype=jnp.float64)
    npars = model.config.npars
    if arr.shape == (npars, 2):
        return arr[:, 0]
    if arr.shape != (npars,):
        raise ValueError(
            f"pars must have shape ({npars},) or ({npars}, 2) (values and uncertainties) for "
            f"parameters {model.config.par_names}, got {arr.shape}"
        )
    return arr


def _sample_yields(model: Any, pars: Any) -> Any:
    """Expected yields of each sample, shape (samples, bins), in ``config.samples`` order."""
    return np.asarray(model.expected_actualdata(pars, return_by_sample=True), dtype=np.float64)


def _channel_bands(ax: Any, model: Any) -> None:
    """Dashed lines between channels and each channel's name at the top of its range."""
    cfg = model.config
    slices = cfg.channel_slices
    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    for k, name in enumerate(cfg.channels):
        sl = slices[name]
        if k > 0:
            ax.axvline(sl.start, color="0.4", ls="--", lw=1)
        ax.text(
            0.5 * (sl.start + sl.stop),
            0.97,
            name,
            transform=trans,
            ha="center",
            va="top",
            fontsize="small",
        )


def stacked_histograms(
    ax: Any,
    model: Any,
    pars: Any,
    data: Any | None = None,
    cov: Any | None = None,
    uncertainty: Any | None = None,
    colors: Mapping[str, str] | None = None,
    logy: bool = False,
) -> Any:
    r"""Stacked expected yields :math:`\nu_{sb}(\theta)` of every sample, with data.

    The channels' bins are drawn side by side against the bin index (channels in the order
    of the main data, boundaries dashed and labelled with the channel names). Samples are
    stacked in ``config.samples`` order, so the top of the stack is the total expected
    :math:`\lambda_b = \sum_s \nu_{sb}`. Data are points with Poisson errors
    :math:`\sqrt{n_b}`.

    The hatched band on the total is :math:`\pm\sigma_b`, either given (``uncertainty``, per
    bin) or propagated linearly from a parameter covariance :math:`V` (``cov``):
    :math:`\sigma_b^2 = (J V J^T)_{bb}` with :math:`J = \partial\lambda_b/\partial\theta`
    from ``jax.jacobian``. From a fit, ``V = corr * outer(sigma, sigma)``.

    Args:
        ax: matplotlib axes (returned).
        model: a :class:`relaxed.Model`.
        pars: parameter values, shape ``(npars,)``, or a fit's ``(npars, 2)``.
        data: observed counts: the main bins, optionally followed by the auxiliary data.
        cov: parameter covariance, shape ``(npars, npars)``.
        uncertainty: per-bin uncertainty of the total, shape ``(nbins,)`` (not with ``cov``).
        colors: sample name -> colour.
        logy: logarithmic y axis.

    Raises:
        ValueError: shapes that do not match the model, or both ``cov`` and ``uncertainty``.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> fig, ax = plt.subplots()
        >>> _ = stacked_histograms(ax, model, [2.0, 1.0, 1.0], data=[51, 48])
        >>> [(p.get_label(), p.get_data().values.tolist()) for p in ax.patches[:2]]
        [('bkg', [50.0, 52.0]), ('sig', [74.0, 74.0])]
        >>> plt.close(fig)
    """
    import jax

    cfg = model.config
    nbins = cfg.nmaindata
    theta = _main_pars(model, pars)
    yields = np.asarray(_sample_yields(model, theta), dtype=np.float64)
    total = yields.sum(axis=0)
    if cov is not None and uncertainty is not None:
        raise ValueError("give either cov or uncertainty for the band, not both")
    err = None
    if cov is not None:
        cov_arr = np.asarray(cov, dtype=np.float64)
        if cov_arr.shape != (cfg.npars, cfg.npars):
            raise ValueError(
                f"cov must have shape ({cfg.npars}, {cfg.npars}) for parameters "
                f"{cfg.par_names}, got {cov_arr.shape}"
            )
        jac = np.asarray(jax.jacobian(model.expected_actualdata)(theta), dtype=np.float64)
        err = np.sqrt(np.clip(np.einsum("bi,ij,bj->b", jac, cov_arr, jac), 0.0, None))
    elif uncertainty is not None:
        err = np.asarray(uncertainty, dtype=np.float64)
        if err.shape != (nbins,):
            raise ValueError(
                f"uncertainty must have shape ({nbins},) (one per bin), got {err.shape}"
            )
    counts = None
    if data is not None:
        counts = np.asarray(data, dtype=np.float64)
        if counts.ndim != 1 or counts.shape[0] not in (nbins, nbins + cfg.nauxdata):
            raise ValueError(
                f"data must have {nbins} main bins (channels {cfg.channels}), optionally "
                f"followed by {cfg.nauxdata} auxdata, got shape {counts.shape}"
            )
        counts = counts[:nbins]
    edges = np.arange(nbins + 1, dtype=np.float64)
    colors = dict(colors or {})
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    bottom = np.zeros(nbins)
    for k, name in enumerate(cfg.samples):
        if not np.any(yields[k]):
            continue
        top = bottom + yields[k]
        ax.stairs(
            top,
            edges,
            baseline=bottom,
            fill=True,
            label=name,
            color=colors.get(name, _COLOURS.get(name, cycle[k % len(cycle)])),
            alpha=0.85,
        )
        bottom = top
    ax.stairs(total, edges, color="k", lw=1.0)
    if err is not None:
        ax.stairs(
            total + err,
            edges,
            baseline=total - err,
            fill=True,
            facecolor="none",
            edgecolor="0.25",
            hatch="////",
            lw=0,
            label="uncertainty",
        )
    if counts is not None:
        centres = 0.5 * (edges[:-1] + edges[1:])
        ax.errorbar(
            centres,
            counts,
            yerr=np.sqrt(np.clip(counts, 0.0, None)),
            fmt="o",
            color="k",
            ms=4,
            label="data",
        )
    _channel_bands(ax, model)
    ax.set_xlim(0, nbins)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("bin index")
    ax.set_ylabel("events")
    highest = total.max()
    if counts is not None:
        highest = max(highest, (counts + np.sqrt(np.clip(counts, 0.0, None))).max())
    if err is not None:
        highest = max(highest, (total + err).max())
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(0.0, 1.6 * highest if highest > 0 else 1.0)
    ax.legend(
        fontsize="small", frameon=False, loc="upper right", bbox_to_anchor=(1.0, 0.92), ncols=2
    )
    return ax


def pulls(
    ax: Any,
    model: Any,
    fit_result: Any,
    include_fixed: bool = False,
) -> Any:
    r"""Pulls and constraints of the constrained nuisance parameters.

    For each constrained, non-fixed parameter component a point at the pull
    :math:`(\hat\theta - \theta_0)/\sigma_\text{pre}` with error bar
    :math:`\hat\sigma/\sigma_\text{pre}`, over :math:`\pm1` (green) and :math:`\pm2`
    (yellow) bands. :math:`\sigma_\text{pre}` is the Gaussian width (normsys, histosys, lumi,
    staterror) or :math:`1/\sqrt\tau` (shapesys, Poisson), :math:`\theta_0` the nominal value
    (see :func:`relaxed.infer.summary.prefit_constraints`). Free parameters (normfactor,
    shapefactor) have no pre-fit width and are not drawn (they are in
    :func:`relaxed.infer.fit_summary`); fixed ones only with ``include_fixed``.

    Args:
        ax: matplotlib axes (returned).
        model: the fitted :class:`relaxed.Model`.
        fit_result: ``fit(..., return_uncertainties=True)``'s array, shape ``(npars, 2)``
            (values and uncertainties), or the values alone, shape ``(npars,)`` (no error bars).
        include_fixed: also draw constrained parameters that were held fixed.

    Raises:
        ValueError: a ``fit_result`` of the wrong shape, or a model without constrained
            parameters.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> fig, ax = plt.subplots()
        >>> _ = pulls(ax, model, [[1.0, 0.5], [0.97, 0.03], [1.0, 0.1]])
        >>> points = ax.containers[0].lines[0]  # (0.97 - 1) / (3/50), (1 - 1) / (7/52)
        >>> [round(float(v), 6) + 0.0 for v in points.get_ydata()]
        [-0.5, 0.0]
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['u[0]', 'u[1]']
        >>> plt.close(fig)
    """
    from relaxed.exceptions import RelaxedError
    from relaxed.infer.summary import describe_fit

    try:
        info = describe_fit(model, fit_result)
    except RelaxedError as err:
        raise ValueError(str(err)) from err
    shown = [
        p for p in info["parameters"] if p["pull"] is not None and (include_fixed or not p["fixed"])
    ]
    if not shown:
        raise ValueError(
            "no constrained nuisance parameters to show: the model's parameters "
            f"{model.config.par_names} are all free or fixed"
        )
    x = np.arange(len(shown), dtype=np.float64)
    y = np.asarray([p["pull"] for p in shown])
    yerr = None
    if all(p["pull_uncertainty"] is not None for p in shown):
        yerr = np.asarray([p["pull_uncertainty"] for p in shown])
    ax.axhspan(-2.0, 2.0, color=_TWO_SIGMA, lw=0, zorder=0)
    ax.axhspan(-1.0, 1.0, color=_ONE_SIGMA, lw=0, zorder=0)
    ax.axhline(0.0, color="0.3", lw=0.8, ls="--")
    ax.errorbar(x, y, yerr=yerr, fmt="o", color="k", ms=4, capsize=2)
    ax.set_xticks(x, [p["name"] for p in shown], rotation=60, ha="right", fontsize="small")
    ax.set_xlim(-0.5, len(shown) - 0.5)
    reach = np.abs(y) + (0.0 if yerr is None else yerr)
    top = max(3.0, 1.1 * float(reach.max()))
    ax.set_ylim(-top, top)
    ax.set_ylabel(r"$(\hat\theta - \theta_0)/\sigma_\mathrm{pre}$")
    return ax


def correlation_matrix(
    ax: Any,
    corr: Any,
    labels: Sequence[str] | None = None,
    annotate: bool | None = None,
    colorbar: bool = True,
) -> Any:
    r"""The correlation matrix :math:`\rho_{ij} = V_{ij}/(\sigma_i\sigma_j)` as an image.

    A diverging colour map fixed to :math:`[-1, 1]` (blue negative, red positive, white 0),
    a colour bar, the parameter names on both axes and, when ``annotate`` (default: at most
    12 parameters), the values written in the cells.

    Raises:
        ValueError: a matrix that is not square, or labels of the wrong length.

    Example:
        >>> fig, ax = plt.subplots()
        >>> _ = correlation_matrix(ax, [[1.0, -0.33], [-0.33, 1.0]], ["mu", "u[0]"])
        >>> ax.images[0].get_array().tolist(), ax.images[0].get_clim()
        ([[1.0, -0.33], [-0.33, 1.0]], (-1.0, 1.0))
        >>> [t.get_text() for t in ax.texts]
        ['1.00', '-0.33', '-0.33', '1.00']
        >>> plt.close(fig)
    """
    rho = np.asarray(corr, dtype=np.float64)
    if rho.ndim != 2 or rho.shape[0] != rho.shape[1]:
        raise ValueError(f"corr must be a square matrix, got shape {rho.shape}")
    n = rho.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for a {n}x{n} correlation matrix")
    image = ax.imshow(rho, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="correlation")
    ticks = np.arange(n)
    names = list(labels) if labels is not None else [str(i) for i in ticks]
    ax.set_xticks(ticks, names, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(ticks, names, fontsize="small")
    if annotate is None:
        annotate = n <= 12
    if annotate:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{rho[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if abs(rho[i, j]) > 0.6 else "black",
                )
    return ax


def _log10_cls(values: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(values, 1e-300, None))


def _exclusion_arrays(
    records: Sequence[Mapping[str, Any]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(xy, cls_obs, cls_exp, usable)`` of shapes ``(n, 2)``, ``(n,)``, ``(n, 5)``, ``(n,)``."""
    rows = list(records)
    n = len(rows)
    xy = np.full((n, 2), np.nan)
    obs = np.full(n, np.nan)
    exp = np.full((n, 5), np.nan)
    converged = np.ones(n, dtype=bool)
    for i, row in enumerate(rows):
        try:
            values = np.asarray(row["values"], dtype=np.float64).ravel()
            cls_obs = float(row["CLs_obs"])
            cls_exp = np.asarray(row["CLs_exp"], dtype=np.float64).ravel()
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"records[{i}] needs 'values' (2 numbers), 'CLs_obs' and 'CLs_exp' (5 numbers): "
                f"{type(err).__name__}: {err}"
            ) from err
        if values.shape != (2,):
            raise ValueError(
                f"records[{i}]['values'] must hold the two parameters (x, y), got {values.tolist()}"
            )
        if cls_exp.shape != (5,):
            raise ValueError(
                f"records[{i}]['CLs_exp'] must hold 5 values (-2 sigma .. +2 sigma), got "
                f"{cls_exp.shape[0]}"
            )
        xy[i], obs[i], exp[i] = values, cls_obs, cls_exp
        converged[i] = bool(row.get("converged", True))
    usable = (
        converged & np.isfinite(xy).all(axis=1) & np.isfinite(obs) & np.isfinite(exp).all(axis=1)
    )
    return xy, obs, exp, usable


def _band_mesh(tri: Any, below: np.ndarray, above: np.ndarray, size: int = 240) -> Any:
    """``(X, Y, F)`` on a fine regular mesh with ``F = max(below, above)``, each interpolated
    linearly on ``tri`` (masked outside it); ``None`` when ``F`` is nowhere negative.

    Taking the maximum after interpolating keeps each edge of the region ``F < 0`` on the
    linear interpolation of its own field (the maximum of the vertex values, interpolated,
    would cut notches where a triangle spans the whole region).
    """
    from matplotlib.tri import LinearTriInterpolator

    x = np.linspace(tri.x.min(), tri.x.max(), size)
    y = np.linspace(tri.y.min(), tri.y.max(), size)
    mesh_x, mesh_y = np.meshgrid(x, y)
    low = LinearTriInterpolator(tri, below)(mesh_x, mesh_y)
    high = LinearTriInterpolator(tri, above)(mesh_x, mesh_y)
    field = np.ma.maximum(low, high)
    if field.count() == 0 or not field.min() < 0.0:
        return None
    return mesh_x, mesh_y, field


def exclusion(
    ax: Any,
    records: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    level: float = 0.05,
) -> Any:
    r"""Exclusion contours of a grid of signal hypotheses in the plane of their two parameters.

    Each record is one signal hypothesis (one patch of a patch set, as
    ``relaxed.infer.grid.hypotest_grid`` returns them): ``values`` (its two parameters, such
    as two masses), ``CLs_obs``, ``CLs_exp`` (:math:`-2\sigma \dots +2\sigma`) and, optionally,
    ``converged``. Drawn:

    - the observed contour :math:`\mathrm{CL}_s^\mathrm{obs} = \alpha` (solid black) and the
      expected median one (dashed), interpolated linearly in :math:`\log_{10}\mathrm{CL}_s` on
      the Delaunay triangulation of the scattered points (``tricontour``);
    - the expected :math:`\pm1\sigma` band (green) between the contours of the :math:`-1\sigma`
      and :math:`+1\sigma` expected values: the region where
      :math:`\mathrm{CL}_s^{-1\sigma} < \alpha < \mathrm{CL}_s^{+1\sigma}`, with both
      :math:`\log_{10}\mathrm{CL}_s` interpolated as the contours, then evaluated on a fine
      mesh and filled (``contourf``);
    - every point: filled where the observed :math:`\mathrm{CL}_s < \alpha` (excluded at
      :math:`1-\alpha` confidence level), open where not, and grey crosses where the fits did
      not converge or a value is not finite (those are left out of the contours).

    Flat triangles on the border of the triangulation (slivers between the outer points of an
    irregular grid, found by ``TriAnalyzer.get_flat_tri_mask``) are left out of the
    interpolation. A contour whose level is outside the range of its values (nothing crosses
    it) is not drawn.
    The contour sets are labelled ``"observed"``, ``"expected"`` and
    ``"expected $\pm1\sigma$"``, the point sets ``"excluded"``, ``"not excluded"`` and
    ``"not converged"`` (``get_label()``).

    Args:
        ax: matplotlib axes (returned).
        records: one mapping per signal hypothesis (see above).
        labels: the names of the two parameters, x then y (the axis labels).
        level: :math:`\alpha`, the :math:`\mathrm{CL}_s` level of the contours.

    Raises:
        ValueError: records without the keys or shapes above, fewer than 3 usable points,
            points that cannot be triangulated (all on one line), other than two labels, or a
            level outside (0, 1).

    Example:
        >>> plane = [(x, y) for x in (0.0, 1.0, 2.0) for y in (0.0, 1.0, 2.0)]
        >>> records = [{"values": [x, y], "CLs_obs": 10.0 ** -(x + y),
        ...     "CLs_exp": [10.0 ** -(x + y + d) for d in (0.6, 0.3, 0.0, -0.3, -0.6)]}
        ...     for x, y in plane]
        >>> fig, ax = plt.subplots()
        >>> _ = exclusion(ax, records, ["m1", "m2"], level=0.1)
        >>> ax.get_xlabel(), ax.get_ylabel()
        ('m1', 'm2')
        >>> observed = next(c for c in ax.collections if c.get_label() == "observed")
        >>> xy = np.concatenate([p.vertices for p in observed.get_paths()])
        >>> bool(np.allclose(xy.sum(axis=1), 1.0))  # CLs_obs = 0.1 on the line x + y = 1
        True
        >>> plt.close(fig)
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.tri import TriAnalyzer, Triangulation

    names = list(labels)
    if len(names) != 2:
        raise ValueError(f"exclusion needs the names of two parameters (x, y), got {names}")
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    xy, obs, exp, usable = _exclusion_arrays(records)
    if int(usable.sum()) < 3:
        raise ValueError(
            f"exclusion needs at least 3 points with converged fits and finite CLs, got "
            f"{int(usable.sum())} of {len(obs)}"
        )
    try:
        tri = Triangulation(xy[usable, 0], xy[usable, 1])
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"cannot triangulate the points (are they on one line?): {err}") from err
    flat = TriAnalyzer(tri).get_flat_tri_mask(min_circle_ratio=0.01)
    if not flat.all():  # slivers on the border of an irregular grid would distort the contours
        tri.set_mask(flat)
    alpha = np.log10(level)
    z_obs, z_exp = _log10_cls(obs[usable]), _log10_cls(exp[usable])
    handles: list[Any] = []
    band_label = r"expected $\pm1\sigma$"
    mesh = _band_mesh(tri, z_exp[:, 1] - alpha, alpha - z_exp[:, 3])
    if mesh is not None:
        filled = ax.contourf(
            *mesh, levels=[float(mesh[2].min()) - 1.0, 0.0], colors=[_ONE_SIGMA], zorder=1
        )
        filled.set_label(band_label)
        handles.append(Patch(facecolor=_ONE_SIGMA, label=band_label))
    for name, z, style in (("expected", z_exp[:, 2], "--"), ("observed", z_obs, "-")):
        if z.min() < alpha < z.max():
            lines = ax.tricontour(
                tri, z, levels=[alpha], colors="k", linestyles=style, linewidths=1.6, zorder=3
            )
            lines.set_label(name)
            handles.append(Line2D([], [], color="k", ls=style, label=name))
    excluded = usable & (obs < level)
    points = (
        (excluded, "excluded", {"c": "k", "marker": "o"}),
        (usable & ~excluded, "not excluded", {"facecolors": "none", "edgecolors": "k"}),
        (~usable, "not converged", {"c": "0.5", "marker": "x"}),
    )
    for mask, name, style in points:
        if mask.any():
            handles.append(
                ax.scatter(xy[mask, 0], xy[mask, 1], s=16, lw=1, label=name, zorder=4, **style)
            )
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(
        handles=handles,
        title=f"CL$_s$ = {level:g}",
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )
    return ax


def brazil_figure(
    scan_results: Any,
    level: float = 0.05,
    limits: tuple[Any, Any] | None = None,
    test_poi: float | None = None,
    poi_label: str = r"$\mu$",
    title: str = "",
) -> Any:
    r"""A figure with one :func:`brazil_band` of a POI scan (the ``neos cls`` and
    ``neos upper-limit`` figure): ``scan_results`` is the ``(scan, results)`` pair of
    ``upper_limit(..., return_results=True)`` (see :func:`brazil_arrays`), ``poi_label`` the
    x-axis label (the POI's name). Returns the figure; :func:`save_figure` writes it.

    Example:
        >>> results = [(0.9, [0.5, 0.6, 0.7, 0.8, 0.9]), (0.01, [0.0, 0.01, 0.02, 0.05, 0.1])]
        >>> fig = brazil_figure(([0.0, 2.0], results), poi_label="mu_SIG", title="scan")
        >>> (ax,) = fig.axes
        >>> ax.get_xlabel(), ax.get_title()
        ('mu_SIG', 'scan')
        >>> plt.close(fig)
    """
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    brazil_band(
        ax,
        *brazil_arrays(scan_results),
        level=level,
        limits=limits,
        test_poi=test_poi,
        poi_label=poi_label,
    )
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return fig


def fit_figure(model: Any, pars: Any, corr: Any) -> Any:
    r"""The ``neos fit --plot`` figure: :func:`pulls` of the constrained parameters (left) and
    the :func:`correlation_matrix` of the parameters that were not fixed (right), from
    ``fit(..., return_uncertainties=True, return_correlations=True)``. A side with nothing to
    show says so. Returns the figure.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> fig = fit_figure(model, [[1.0, 0.5], [0.97, 0.03], [1.0, 0.1]], np.eye(3))
        >>> [ax.get_title() for ax in fig.axes[:2]]
        ['pulls', 'correlations']
        >>> plt.close(fig)
    """
    from relaxed.infer.summary import prefit_constraints

    values = np.asarray(pars, dtype=np.float64)
    free = values[:, 1] > 0
    names = [n for n, keep in zip(model.config.par_names, free, strict=True) if keep]
    _, width = prefit_constraints(model)
    n_pulls = int(np.sum(np.isfinite(width) & free))
    size = max(len(names), n_pulls)
    fig, (ax_pulls, ax_corr) = plt.subplots(
        1, 2, figsize=(5.0 + 0.6 * size, 3.5 + 0.25 * size), width_ratios=(1.1, 1.0)
    )
    if n_pulls:
        pulls(ax_pulls, model, values)
    else:
        ax_pulls.text(0.5, 0.5, "no constrained nuisance parameters", ha="center", va="center")
        ax_pulls.set_axis_off()
    ax_pulls.set_title("pulls")
    if names:
        correlation_matrix(ax_corr, np.asarray(corr)[np.ix_(free, free)], names)
    else:
        ax_corr.text(0.5, 0.5, "no fitted parameters", ha="center", va="center")
        ax_corr.set_axis_off()
    ax_corr.set_title("correlations")
    fig.tight_layout()
    return fig


def exclusion_figure(
    records: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    level: float = 0.05,
    title: str = "",
) -> Any:
    r"""A figure with one :func:`exclusion` plot (the ``neos grid --plot`` figure).

    Example:
        >>> records = [{"values": [x, y], "CLs_obs": 0.5 ** (x + y), "CLs_exp": [0.1] * 5}
        ...     for x, y in [(0, 0), (4, 0), (0, 4), (4, 4)]]
        >>> fig = exclusion_figure(records, ["m_stop", "m_lsp"], title="grid")
        >>> fig.axes[0].get_xlabel(), fig.axes[0].get_title()
        ('m_stop', 'grid')
        >>> plt.close(fig)
    """
    fig, ax = plt.subplots(figsize=(6.0, 4.8))
    try:
        exclusion(ax, records, labels, level=level)
    except ValueError:
        plt.close(fig)
        raise
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    return fig


# -- training figures ------------------------------------------------------------------------
def plot_histograms(
    ax: Any, hists: Mapping[str, Sequence[float]], bins: Sequence[float], title: str = ""
) -> Any:
    """Step histograms of the samples (HEP style), one line per sample.

    Example:
        >>> fig, ax = plt.subplots()
        >>> _ = plot_histograms(ax, {"signal": [1.0, 2.0]}, [0.0, 0.5, 1.0])
        >>> ax.get_xlabel()
        'network output'
        >>> plt.close(fig)
    """
    edges = np.asarray(bins, dtype=float)
    from matplotlib.colors import to_hex

    taken = {to_hex(c) for c in _COLOURS.values()}
    palette = [to_hex(c) for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
    cycle = iter([c for c in palette if c not in taken] * 4)
    for name, counts in hists.items():
        colour = _COLOURS.get(name) or next(cycle)
        ax.stairs(np.asarray(counts), edges, label=name, color=colour, lw=1.8)
    ax.set_xlabel("network output")
    ax.set_ylabel("expected events")
    ax.legend(fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return ax


def save_summary(path: str | os.PathLike[str], result: Mapping[str, Any]) -> None:
    """Loss and soft expected CLs against the training step, and the hard test histograms
    (of an analysis: those of its first channel), written atomically to ``path`` (PNG) from
    the result of :func:`neos.train.train`.

    Example:
        >>> import pathlib, tempfile
        >>> result = {"steps": [1, 2], "loss": [0.1, 0.05], "cls_soft": [0.1, 0.05],
        ...     "cls_hard_test": 0.01, "config": {"loss": "cls"}, "bins": [0.0, 0.5, 1.0],
        ...     "hard_histograms_test": {"signal": [1.0, 2.0], "background": [5.0, 4.0]}}
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "summary.png"
        >>> save_summary(path, result)
        >>> path.read_bytes()[:4]
        b'\x89PNG'
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    steps = result["steps"]
    axes[0].plot(steps, result["loss"], color="k")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel(f"loss ({result['config']['loss']})")
    axes[1].plot(steps, result["cls_soft"], color="tab:green", label="soft (train)")
    axes[1].axhline(result["cls_hard_test"], color="k", ls="--", label="hard (test)")
    axes[1].axhline(0.05, color="tab:red", ls=":", label="0.05")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel(r"expected CL$_s$ ($\mu$ = 1)")
    axes[1].legend(fontsize="small", frameon=False)
    hists = result["hard_histograms_test"]
    title = "test sample, hard histograms"
    channels = list(dict.fromkeys(name.split("/")[0] for name in hists if "/" in name))
    if channels:  # an analysis: its first channel (the signal region), samples by name
        first = channels[0]
        hists = {k.split("/", 1)[1]: v for k, v in hists.items() if k.split("/")[0] == first}
        title = f"{title}, channel {first}"
    plot_histograms(axes[2], hists, result["bins"], title)
    if channels:
        top = max(max(v) for v in hists.values())
        axes[2].set_yscale("log")
        axes[2].set_ylim(0.1, 3.0 * top)  # below 0.1: only the yield floor of empty bins
    fig.tight_layout()
    write_text_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def save_animation(
    path: str | os.PathLike[str], frames: Sequence[Mapping[str, Any]], grid: np.ndarray
) -> None:
    """The training animation: the network output over the plane, the soft histograms and
    the loss against the step, one frame per step (a GIF written with Pillow, atomically).

    Each frame is a mapping with ``step``, ``loss``, ``surface`` (the network output on
    ``grid``, shape ``grid.shape[:2]``), ``hists`` and ``bins``.

    Example:
        >>> import pathlib, tempfile
        >>> grid = np.stack(np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)), -1)
        >>> frames = [{"step": k, "loss": 1.0 / k, "surface": grid[..., 0] * k,
        ...     "hists": {"signal": [1.0, k]}, "bins": [0.0, 0.5, 1.0]} for k in (1, 2)]
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "training.gif"
        >>> save_animation(path, frames, grid)
        >>> path.read_bytes()[:6]
        b'GIF89a'
    """
    fig, (ax_map, ax_hist, ax_loss) = plt.subplots(1, 3, figsize=(12, 3.8))
    steps = [f["step"] for f in frames]
    values = [f["loss"] for f in frames]

    def draw(k: int) -> list[Any]:
        frame = frames[k]
        for ax in (ax_map, ax_hist, ax_loss):
            ax.clear()
        ax_map.contourf(grid[..., 0], grid[..., 1], frame["surface"], levels=20, cmap="coolwarm")
        ax_map.set_xlabel("$x_1$")
        ax_map.set_ylabel("$x_2$")
        ax_map.set_title("network output")
        plot_histograms(ax_hist, frame["hists"], frame["bins"], "soft histograms")
        ax_loss.plot(steps[: k + 1], values[: k + 1], color="k")
        ax_loss.set_xlim(steps[0], max(steps[-1], steps[0] + 1))
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("loss")
        if k == 0:  # the layout is the same for every frame: compute it once
            fig.tight_layout()
        return []

    anim = animation.FuncAnimation(fig, draw, frames=len(frames), blit=False)
    writer = animation.PillowWriter(fps=4)
    write_text_atomic(Path(path), lambda tmp: anim.save(tmp, writer=writer))
    plt.close(fig)
