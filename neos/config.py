"""Settings of a training run: :class:`TrainConfig` (the keys of ``neos train --config
FILE.toml``) and :func:`load_config`. Every setting is checked for its type and range, and a
bad one is named (``config key 'steps': must be a positive integer, got '5' (str)``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neos import losses
from relaxed.exceptions import InvalidArgument

__all__ = ["TrainConfig", "load_config"]


class _Bad(Exception):
    """A setting's value is out of type or range; the message says what it must be."""


def _positive_int(value: Any) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise _Bad("must be a positive integer")
    if value < 1:
        raise _Bad("must be a positive integer")
    return int(value)


def _seed(value: Any) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise _Bad("must be an integer from 0 to 2**63 - 1")
    if not 0 <= value < 2**63:
        raise _Bad("must be an integer from 0 to 2**63 - 1")
    return int(value)


def _positive_float(value: Any) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise _Bad("must be a finite number > 0")
    if not (math.isfinite(value) and value > 0):
        raise _Bad("must be a finite number > 0")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise _Bad("must be true or false")
    return bool(value)


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise _Bad(f"must be one of {', '.join(repr(o) for o in options)}")
        return value

    return check


def _layers(value: Any) -> tuple[int, ...]:
    what = "must be a list of positive integers (the hidden layer sizes)"
    if not isinstance(value, list | tuple):
        raise _Bad(what)
    try:
        return tuple(_positive_int(size) for size in value)
    except _Bad:
        raise _Bad(what) from None


def _edges(value: Any) -> tuple[float, ...]:
    what = "must be a list of at least two finite, strictly increasing numbers (bin edges)"
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise _Bad(what)
    edges = []
    for edge in value:
        if isinstance(edge, bool | np.bool_) or not isinstance(edge, numbers.Real):
            raise _Bad(what)
        if not math.isfinite(edge):
            raise _Bad(what)
        edges.append(float(edge))
    if not all(b > a for a, b in zip(edges, edges[1:], strict=False)):
        raise _Bad(what)
    return tuple(edges)


#: How each setting is checked (and normalised: tuples, Python numbers).
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "steps": _positive_int,
    "seed": _seed,
    "loss": _choice(*losses.LOSSES),
    "method": _choice("kde", "softmax"),
    "nmc": _positive_int,
    "hidden": _layers,
    "bins": _edges,
    "bandwidth": _positive_float,
    "bandwidth_final": _positive_float,
    "anneal_steps": _positive_int,
    "learning_rate": _positive_float,
    "test_mu": _positive_float,
    "lumi": _positive_float,
    "sig_scale": _positive_float,
    "bkg_scale": _positive_float,
    "train_bins": _flag,
    "train_bandwidth": _flag,
    "reflect_infinities": _flag,
    "mcstat": _flag,
    "checkpoint_every": _positive_int,
    "animate": _flag,
}


def _checked(key: str, value: Any) -> Any:
    """``value`` checked (and normalised) for the setting ``key``.

    Raises:
        InvalidArgument: ``config key 'KEY': must be ..., got VALUE (TYPE)``.
    """
    try:
        return _CHECKS[key](value)
    except _Bad as bad:
        raise InvalidArgument(
            f"config key {key!r}: {bad}, got {value!r} ({type(value).__name__})"
        ) from None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    r"""Settings of a training run (the keys of ``neos train --config FILE.toml``).

    The defaults are the neos paper's example (module docstring); :meth:`validate` checks them.
    Three defaults depart from the paper, so that the soft histograms the network is trained
    on agree with the ordinary histograms of the exported ``workspace.json``:

    - ``reflect_infinities = true``: the KDE mass beyond the outer bin edges is counted in
      the outer bins (:func:`relaxed.hist`), so each histogram keeps its whole yield;
    - ``bandwidth`` is annealed from its value to ``bandwidth_final`` over the first
      ``anneal_steps`` steps (:meth:`bandwidth_at`): a wide kernel gives the network a
      gradient at the start, a narrow one makes the soft expected CLs the one of ordinary
      histograms at the end (``bandwidth_final = bandwidth`` keeps it constant);
    - ``mcstat = true``: the background carries a ``staterror`` for its Monte Carlo
      statistics, in the soft model and in the exported workspace
      (:func:`neos.makers.histosys_spec`).

    ``reflect_infinities = false``, ``bandwidth_final = 0.27`` and ``mcstat = false`` give the
    paper's settings back.

    With very small samples (``nmc`` of a few tens) the narrow final kernel can leave a bin's
    nominal background nearly empty while a variation is not; the code-4p interpolation of
    the histosys then gives that bin negative rates for some :math:`\alpha` (as pyhf would),
    the fits' derivatives are not finite and training stops with
    :class:`neos.train.TrainingError`. ``bandwidth_final = 0.05`` avoids it, at the price of a
    looser agreement of the soft and hard CLs.

    Example:
        >>> TrainConfig(steps=5, loss="bce").validate().bins
        (0.0, 0.3333333333333333, 0.6666666666666666, 1.0)
        >>> TrainConfig(method="histogram").validate()
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: config key 'method': must be one of 'kde', 'softmax', got 'histogram' (str)
    """  # noqa: E501

    steps: int = 20
    seed: int = 0
    loss: str = "cls"
    method: str = "kde"
    nmc: int = 500
    hidden: tuple[int, ...] = (1024, 1024)
    bins: tuple[float, ...] = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
    bandwidth: float = 0.27
    bandwidth_final: float = 0.01
    anneal_steps: int = 10
    learning_rate: float = 1e-3
    test_mu: float = 1.0
    lumi: float = 10.0
    sig_scale: float = 2.0
    bkg_scale: float = 10.0
    train_bins: bool = False
    train_bandwidth: bool = False
    reflect_infinities: bool = True
    mcstat: bool = True
    checkpoint_every: int = 10
    animate: bool = True

    def validate(self) -> TrainConfig:
        """Check every setting's type and range; return the settings normalised (tuples,
        Python numbers; an integer is accepted where a number is expected).

        Raises:
            InvalidArgument: naming the first bad setting, what it must be and its value.

        Example:
            >>> TrainConfig(hidden=[8, 8], bandwidth=1).validate().bandwidth
            1.0
            >>> TrainConfig(steps="5").validate()
            Traceback (most recent call last):
            ...
            relaxed.exceptions.InvalidArgument: config key 'steps': must be a positive integer, got '5' (str)
        """  # noqa: E501
        values = {f.name: _checked(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)}
        return dataclasses.replace(self, **values)

    def bandwidth_at(self, step: int) -> float:
        r"""The KDE bandwidth of the step with index ``step`` (0 for the first):

        .. math::

            \sigma_k = \sigma_0 \left(\frac{\sigma_\text{final}}{\sigma_0}\right)^{t_k},
            \qquad t_k = \min\!\left(\frac{k}{n - 1}, 1\right),

        with :math:`\sigma_0` = ``bandwidth``, :math:`\sigma_\text{final}` =
        ``bandwidth_final`` and :math:`n` = ``anneal_steps`` (:math:`t_k = 1` for
        :math:`n = 1`): a geometric decrease that reaches :math:`\sigma_\text{final}` at the
        :math:`n`-th step and stays there. It depends on the step alone, not on ``steps``, so
        a resumed run follows the schedule of an uninterrupted one. With ``train_bandwidth``
        the trained bandwidth is multiplied by :math:`\sigma_k / \sigma_0`.

        Example:
            >>> cfg = TrainConfig(bandwidth=0.27, bandwidth_final=0.01, anneal_steps=10)
            >>> [round(cfg.bandwidth_at(k), 4) for k in (0, 1, 9, 30)]
            [0.27, 0.1872, 0.01, 0.01]
        """
        n = self.anneal_steps
        t = 1.0 if n <= 1 else min(step / (n - 1), 1.0)
        return self.bandwidth * (self.bandwidth_final / self.bandwidth) ** t


def load_config(path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
    """Read a TOML file whose keys are :class:`TrainConfig` fields; unknown keys and values
    of the wrong type or range are errors naming the file and the key. ``overrides`` that are
    not ``None`` replace the file's values.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = path.write_text("steps = 5\\nbins = [0.0, 0.5, 1]\\n")
        >>> load_config(path).bins
        (0.0, 0.5, 1.0)
        >>> _ = path.write_text("animate = 1\\n")
        >>> load_config(path)
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: ...c.toml: config key 'animate': must be true or false, got 1 (int)
    """  # noqa: E501
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidArgument(f"{path}: cannot read the config file ({err})") from err
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise InvalidArgument(f"{path}: unknown keys {unknown}; the keys are {sorted(fields)}")
    for key, value in data.items():
        try:
            data[key] = _checked(key, value)
        except InvalidArgument as err:
            raise InvalidArgument(f"{path}: {err}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**data).validate()
