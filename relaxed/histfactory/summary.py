"""Human-readable descriptions of a model: channels, samples, bins and parameters.

:func:`describe` collects the facts as plain Python data (JSON-ready); :func:`format_summary`
turns them into the table that ``neos inspect``, ``print(model)`` and ``model.summary()`` show.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from jax.typing import ArrayLike

from relaxed.histfactory.config import ModelConfig

__all__ = ["describe", "format_summary"]

_CONSTRAINT = {"normal": "Gaussian", "poisson": "Poisson", None: "none (free)"}


class _Binned(Protocol):
    """What :func:`describe` reads of a model (a :class:`relaxed.Model`)."""

    @property
    def config(self) -> ModelConfig: ...

    @property
    def nominal_rates(self) -> ArrayLike: ...


def describe(model: _Binned, data: Any | None = None) -> dict[str, Any]:
    """The structure of ``model`` as JSON-ready data.

    Returns a dict with ``channels`` (name, bins, the nominal yield of each sample and, when
    ``data`` is given, the observed total), ``parameters`` (name, number of components, inits,
    bounds, fixed flags, constraint type, modifier types) and ``poi``.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "sig", "data": [5.0, 2.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}]}]}
        >>> info = describe(relaxed.Model(spec))
        >>> info["channels"][0]["bins"], info["parameters"][0]["bounds"]
        (2, [[0.0, 10.0]])
    """
    cfg = model.config
    nominal = np.asarray(model.nominal_rates)
    channels = []
    for name in cfg.channels:
        sl = cfg.channel_slices[name]
        entry: dict[str, Any] = {
            "name": name,
            "bins": cfg.channel_nbins[name],
            "samples": {
                sample: float(nominal[i, sl].sum()) for i, sample in enumerate(cfg.samples)
            },
        }
        if data is not None:
            entry["observed"] = float(np.asarray(data)[sl].sum())
        channels.append(entry)
    parameters = []
    for name in cfg.par_order:
        ps = cfg.param_set(name)
        parameters.append(
            {
                "name": name,
                "n_parameters": ps.n_parameters,
                "inits": [float(v) for v in ps.inits],
                "bounds": [[float(lo), float(hi)] for lo, hi in ps.bounds],
                "fixed": [bool(v) for v in ps.fixed],
                "constraint": _CONSTRAINT[ps.pdf_type],
                "modifier_types": list(ps.modifier_types),
            }
        )
    return {"poi": cfg.poi_name, "npars": cfg.npars, "channels": channels, "parameters": parameters}


def _compact(values: list[Any]) -> str:
    if all(v == values[0] for v in values):
        text = str(values[0])
        return text if len(values) == 1 else f"{text} x{len(values)}"
    return str(values)


def format_summary(info: dict[str, Any]) -> str:
    """Format the output of :func:`describe` as text tables.

    Example:
        >>> info = {"poi": "mu", "npars": 1, "channels": [{"name": "SR", "bins": 1,
        ...     "samples": {"sig": 5.0}}], "parameters": [{"name": "mu", "n_parameters": 1,
        ...     "inits": [1.0], "bounds": [[0.0, 10.0]], "fixed": [False],
        ...     "constraint": "none (free)", "modifier_types": ["normfactor"]}]}
        >>> print(format_summary(info).splitlines()[0])
        Channels (1), 1 bins in total
    """
    lines = [
        f"Channels ({len(info['channels'])}), "
        f"{sum(c['bins'] for c in info['channels'])} bins in total"
    ]
    samples = [s for c in info["channels"] for s in c["samples"]]
    sample_width = max([20, *(len(s) for s in samples)])
    for channel in info["channels"]:
        observed = f", observed {channel['observed']:g}" if "observed" in channel else ""
        lines.append(f"  {channel['name']}: {channel['bins']} bins{observed}")
        for sample, total in channel["samples"].items():
            if total != 0.0:
                lines.append(f"    {sample:<{sample_width}s} nominal {total:g}")
    lines.append("")
    lines.append(f"Parameters ({info['npars']}; POI: {info['poi']})")
    rows = [
        (
            p["name"],
            f"{p['n_parameters']:d}",
            _compact(p["inits"]),
            _compact([tuple(b) for b in p["bounds"]]),
            p["constraint"],
            ",".join(p["modifier_types"]) + (" (fixed)" if all(p["fixed"]) else ""),
        )
        for p in info["parameters"]
    ]
    header = ("name", "n", "init", "bounds", "constraint", "modifiers")
    # each column as wide as its longest entry (at least the old fixed widths)
    minimum = (24, 3, 14, 24, 12, 0)
    widths = [
        max([m, len(h), *(len(r[i]) for r in rows)])
        for i, (h, m) in enumerate(zip(header, minimum, strict=True))
    ]

    def row(cells: tuple[str, ...]) -> str:
        name, n, *rest = cells
        text = f"  {name:<{widths[0]}s} {n:>{widths[1]}s}  " + " ".join(
            f"{c:<{w}s}" for c, w in zip(rest, widths[2:], strict=True)
        )
        return text.rstrip()

    lines.append(row(header))
    lines.extend(row(r) for r in rows)
    return "\n".join(lines)
