r"""Readable summaries of a fit: parameter values, uncertainties, pulls and correlations.

For a constrained nuisance parameter :math:`\theta` with nominal value :math:`\theta_0` and
pre-fit width :math:`\sigma_\text{pre}` the *pull* and the *constraint* are

.. math::

    \text{pull} = \frac{\hat\theta - \theta_0}{\sigma_\text{pre}}, \qquad
    \text{constraint} = \frac{\hat\sigma_\text{post}}{\sigma_\text{pre}},

where :math:`\sigma_\text{pre}` is the width :math:`\sigma` of a Gaussian constraint
:math:`\mathcal{N}(a \mid \theta, \sigma)` (normsys, histosys, lumi, staterror, unless
``modifier_settings`` choose otherwise) and :math:`1/\sqrt{\tau}` for a Poisson constraint
:math:`\mathrm{Pois}(a \mid \tau\theta)` (shapesys, or a set made Poisson), and
:math:`\theta_0 = a/\tau` is the parameter value that the nominal auxiliary datum :math:`a`
prefers (:math:`\tau = 1` for Gaussians). A pull near 0 with a constraint
near 1 means the data say nothing new about :math:`\theta`; a constraint well below 1 means
the data constrain it more than the auxiliary measurement does.

The fit itself is unchanged: :func:`relaxed.infer.mle.fit` returns pyhf's arrays, and these
functions read them. They run on concrete values (they convert to numpy) and are meant for
printing and plotting, not for tracing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidParameters
from relaxed.histfactory.model import Model

__all__ = ["prefit_constraints", "describe_fit", "format_fit", "fit_summary"]


def prefit_constraints(model: Model) -> tuple[np.ndarray, np.ndarray]:
    r"""The nominal value :math:`\theta_0` and pre-fit width :math:`\sigma_\text{pre}` of
    every parameter component (shape ``(npars,)`` each; NaN for unconstrained parameters).

    Gaussian constraint :math:`\mathcal{N}(a\mid\theta,\sigma)`: :math:`\theta_0 = a`,
    :math:`\sigma_\text{pre} = \sigma`. Poisson constraint :math:`\mathrm{Pois}(a\mid\tau
    \theta)`: :math:`\theta_0 = a/\tau`, :math:`\sigma_\text{pre} = 1/\sqrt{\tau}` (pyhf's
    ``paramset.width()``).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> centre, width = prefit_constraints(relaxed.Model(spec))
        >>> centre.tolist(), [round(float(w), 6) for w in width]  # 3/50 and 7/52
        ([nan, 1.0, 1.0], [nan, 0.06, 0.134615])
    """
    centre, width, _ = model.prefit_constraints()
    return centre, width


def _values_and_errors(model: Model, pars: ArrayLike) -> tuple[np.ndarray, np.ndarray | None]:
    npars = model.config.npars
    try:
        arr = np.asarray(pars, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidParameters(f"pars must be an array of numbers: {err}") from err
    if arr.shape == (npars,):
        return arr, None
    if arr.shape == (npars, 2):
        return arr[:, 0], arr[:, 1]
    raise InvalidParameters(
        f"pars must have shape ({npars},) or ({npars}, 2) (values, or values and uncertainties "
        f"as returned by fit(..., return_uncertainties=True)) for parameters "
        f"{model.config.par_names}, got shape {arr.shape}"
    )


def describe_fit(
    model: Model,
    pars: ArrayLike,
    corr: ArrayLike | None = None,
    twice_nll: ArrayLike | None = None,
) -> dict[str, Any]:
    r"""A fit result as JSON-ready data, one entry per parameter component.

    Args:
        model: the fitted model.
        pars: best-fit values, shape ``(npars,)``, or values and uncertainties, shape
            ``(npars, 2)``, as returned by :func:`relaxed.infer.mle.fit` (pyhf's layout).
        corr: the correlation matrix, shape ``(npars, npars)`` (``return_correlations``).
        twice_nll: :math:`-2\log L` at the minimum (``return_fitted_val``).

    Returns:
        ``{"poi", "twice_nll", "parameters", "correlation"}``. Each parameter has ``name``
        (``config.par_names``: ``name[i]`` for per-bin parameters), ``value``,
        ``uncertainty`` (``None`` without uncertainties), ``init``, ``bounds``, ``fixed``
        (fixed by the model's configuration, or an uncertainty of exactly 0, which is what
        a fit reports for a parameter it held fixed, e.g. the POI of ``fixed_poi_fit``),
        ``constraint`` and, for constrained parameters, ``pull`` :math:`(\hat\theta -
        \theta_0)/\sigma_\text{pre}` and ``pull_uncertainty``
        :math:`\hat\sigma/\sigma_\text{pre}` (see :func:`prefit_constraints`), otherwise
        ``None``.

    Raises:
        relaxed.exceptions.InvalidParameters: ``pars`` or ``corr`` has the wrong shape.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> info = describe_fit(model, [[1.2, 0.5], [0.97, 0.05], [0.95, 0.1]])
        >>> p = info["parameters"][1]
        >>> p["name"], p["constraint"], round(p["pull"], 4), round(p["pull_uncertainty"], 4)
        ('u[0]', 'Poisson', -0.5, 0.8333)
    """
    cfg = model.config
    values, errors = _values_and_errors(model, pars)
    centre, width = prefit_constraints(model)
    names = cfg.par_names
    inits = cfg.suggested_init()
    bounds = cfg.suggested_bounds()
    fixed = [
        bool(f) or (errors is not None and errors[i] == 0.0)
        for i, f in enumerate(cfg.suggested_fixed())
    ]
    constraint = model.prefit_constraints()[2]
    parameters = []
    for i, name in enumerate(names):
        constrained = bool(np.isfinite(width[i]) and width[i] > 0)
        pull = float((values[i] - centre[i]) / width[i]) if constrained else None
        pull_err = float(errors[i] / width[i]) if constrained and errors is not None else None
        parameters.append(
            {
                "name": name,
                "value": float(values[i]),
                "uncertainty": None if errors is None else float(errors[i]),
                "init": float(inits[i]),
                "bounds": [float(bounds[i][0]), float(bounds[i][1])],
                "fixed": bool(fixed[i]),
                "constraint": constraint[i],
                "pull": pull,
                "pull_uncertainty": pull_err,
            }
        )
    correlation = None
    if corr is not None:
        corr_arr = np.asarray(corr, dtype=np.float64)
        if corr_arr.shape != (cfg.npars, cfg.npars):
            raise InvalidParameters(
                f"corr must have shape ({cfg.npars}, {cfg.npars}) for parameters {names}, "
                f"got {corr_arr.shape}"
            )
        correlation = corr_arr.tolist()
    return {
        "poi": cfg.poi_name,
        "twice_nll": None if twice_nll is None else float(np.asarray(twice_nll)),
        "parameters": parameters,
        "correlation": correlation,
    }


def _number(value: float) -> str:
    return f"{value:.6g}"


def format_fit(info: dict[str, Any], min_correlation: float = 0.3) -> str:
    """Format the output of :func:`describe_fit` as a text table.

    Values and uncertainties are printed with 6 significant digits, pulls with 3 decimals.
    With a correlation matrix, the pairs with :math:`|\\rho| \\ge` ``min_correlation`` are
    listed, largest first.

    Example:
        >>> info = {"poi": "mu", "twice_nll": 3.5, "correlation": None, "parameters": [
        ...     {"name": "mu", "value": 1.25, "uncertainty": 0.5, "init": 1.0,
        ...      "bounds": [0.0, 10.0], "fixed": False, "constraint": "none (free)",
        ...      "pull": None, "pull_uncertainty": None}]}
        >>> print(format_fit(info))
        Fit result: 1 parameters (POI: mu), -2 log L = 3.5
          name  value  uncertainty  init  bounds   constraint   pull
          mu     1.25  ± 0.5           1  [0, 10]  none (free)  -
    """
    nll = info["twice_nll"]
    head = f"Fit result: {len(info['parameters'])} parameters (POI: {info['poi']})"
    lines = [head + (f", -2 log L = {_number(nll)}" if nll is not None else "")]
    rows = []
    for p in info["parameters"]:
        if p["fixed"]:
            error = "(fixed)"
        elif p["uncertainty"] is not None:
            error = f"± {_number(p['uncertainty'])}"
        else:
            error = ""
        if p["pull"] is None:
            pull = "-"
        elif p["pull_uncertainty"] is None or p["fixed"]:
            pull = f"{p['pull']:+.3f}"
        else:
            pull = f"{p['pull']:+.3f} ± {p['pull_uncertainty']:.3f}"
        bounds = f"[{_number(p['bounds'][0])}, {_number(p['bounds'][1])}]"
        rows.append(
            (p["name"], _number(p["value"]), error, _number(p["init"]), bounds, p["constraint"])
            + (pull,)
        )
    header = ("name", "value", "uncertainty", "init", "bounds", "constraint", "pull")
    width = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    align = ("<", ">", "<", ">", "<", "<", "<")
    for row in [header, *rows]:
        cells = [f"{c:{a}{w}s}" for c, a, w in zip(row, align, width, strict=True)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    if info["correlation"] is not None:
        names = [p["name"] for p in info["parameters"]]
        corr = np.asarray(info["correlation"])
        pairs = [
            (abs(corr[i, j]), names[i], names[j], corr[i, j])
            for i in range(len(names))
            for j in range(i + 1, len(names))
            if abs(corr[i, j]) >= min_correlation
        ]
        pairs.sort(key=lambda t: -t[0])
        lines.append("")
        lines.append(f"Correlations with |rho| >= {min_correlation:g}: {len(pairs)}")
        width = max([len(name) for _, a, b, _ in pairs for name in (a, b)], default=0)
        for _, a, b, rho in pairs:
            lines.append(f"  {a:<{width}s}  {b:<{width}s}  {rho:+.3f}")
    return "\n".join(lines)


def fit_summary(
    model: Model,
    pars: ArrayLike,
    corr: ArrayLike | None = None,
    twice_nll: ArrayLike | None = None,
    min_correlation: float = 0.3,
) -> str:
    r"""A printable table of a fit: each parameter's value :math:`\pm` uncertainty, init,
    bounds, constraint type and pull :math:`(\hat\theta-\theta_0)/\sigma_\text{pre} \pm
    \hat\sigma/\sigma_\text{pre}`; :math:`-2\log L` and the largest correlations if given.

    ``pars``, ``corr`` and ``twice_nll`` are the outputs of :func:`relaxed.infer.mle.fit`
    (or ``pyhf.infer.mle.fit``) with ``return_uncertainties``, ``return_correlations`` and
    ``return_fitted_val``. See :func:`describe_fit` for the definitions.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> pars, corr, nll = relaxed.infer.mle.fit(data, model, return_uncertainties=True,
        ...     return_correlations=True, return_fitted_val=True)
        >>> print(fit_summary(model, pars, corr, nll))
        Fit result: 3 parameters (POI: mu), -2 log L = 24.9839
          name     value  uncertainty  init  bounds       constraint   pull
          mu           0  ± 0.519428      1  [0, 10]      none (free)  -
          u[0]   1.00305  ± 0.0586012     1  [1e-10, 10]  Poisson      +0.051 ± 0.977
          u[1]  0.962681  ± 0.107677      1  [1e-10, 10]  Poisson      -0.277 ± 0.800
        <BLANKLINE>
        Correlations with |rho| >= 0.3: 2
          mu    u[1]  -0.475
          mu    u[0]  -0.330
    """
    return format_fit(describe_fit(model, pars, corr, twice_nll), min_correlation)
