r"""Analysis descriptions: your own samples, systematics and channels for ``neos train``.

An analysis description is a TOML file in the format of ``neos train --config`` (the
:class:`neos.config.TrainConfig` keys at the top level: ``steps``, ``bins``, ``bandwidth``,
``loss``, ``learning_rate``, ``hidden``, ``mcstat``, ...) with the analysis itself in tables:

.. code-block:: toml

    name = "dilepton"
    features = ["m_ll", "pt_ll", "met"]      # the network's inputs, in this order
    test_fraction = 0.5                      # events held out for the exported workspace

    [generator]                              # optional: tables made by a function
    function = "neos.toys:dilepton"          # module:function -> {table: {column: array}}
    events = 20000                           # keyword arguments of the function
    seed = 7

    [[samples]]
    name = "signal"
    kind = "signal"                          # exactly one, scaled by the POI "mu"
    table = "signal"                         # a generator table, or a file:
    # source = "signal.npz"                  # .npz (an array per column), .parquet, .root
    # tree = "events"                        # the TTree of a .root file
    weight = "weight"                        # the event weights (default: 1 per event)

    [[samples]]
    name = "ttbar"
    kind = "background"
    table = "ttbar"
    weight = "weight"
    norm_factor = "mu_ttbar"                 # optional: a free normalisation

    [[systematics]]
    name = "lepton_energy_scale"
    kind = "shift"                           # x -> x (1 +- s) and/or x -> x +- o
    scale = { m_ll = 0.01, pt_ll = 0.01 }
    offset = { met = 5.0 }
    samples = ["signal", "ttbar"]            # default: every sample
    modifier = "histosys"                    # or "normsys" (default "histosys")

    [[systematics]]
    name = "btag"
    kind = "weight"                          # columns of varied event weights
    up = "weight_btag_up"
    down = "weight_btag_down"                # optional: mirrored if absent

    [[systematics]]
    name = "ttbar_generator"
    kind = "alternative"                     # another sample as the up variation
    samples = ["ttbar"]                      # exactly one
    up = { table = "ttbar_alt", weight = "weight" }

    [[systematics]]
    name = "ttbar_xsec"
    kind = "norm"                            # a fixed normsys
    hi = 1.06
    lo = 0.94
    samples = ["ttbar"]

    [[channels]]
    name = "SR"
    cuts = [{ feature = "m_ll", min = 250.0, max = 350.0 }]   # keep min <= x < max

The model. In channel :math:`c` (the events passing its cuts) the network output
:math:`f(x)` of every sample :math:`s` is histogrammed with the binned KDE of
:func:`relaxed.hist` (weights :math:`w_i`), :math:`h_{csb} = \sum_i w_i K_b(f(x_i))`, and
the HistFactory model has, for every channel and sample, the nominal :math:`h_{cs}` with

- the signal scaled by ``mu`` (a ``normfactor``), a background by its ``norm_factor``;
- every systematic of the sample: a ``shift`` evaluates the network on the shifted features
  (events move between channels and bins), a ``weight`` histograms the varied weights, an
  ``alternative`` the other sample; a missing down variation is the mirror
  :math:`2h - h^\uparrow`. They become a ``histosys`` (interpolation code 4p) with the up and
  down histograms, or with ``modifier = "normsys"`` a ``normsys`` with
  :math:`\kappa^{\pm} = (\sum_b h^{\pm}_{csb} + d_s) / (\sum_b h_{csb} + d_s)`, where
  :math:`d_s` is :data:`NORMSYS_DAMPING` times the sample's yield in all channels; a
  ``norm`` systematic is a
  ``normsys`` with its fixed ``hi``/``lo``. A systematic is one nuisance parameter shared by
  all its samples and channels;
- with ``mcstat``, a ``staterror`` per channel on the backgrounds with
  :math:`\sigma_{csb} = \sqrt{\sum_i w_i^2 K_b(f(x_i))}`.

Each sample's events are split at random (``seed``) into a training and a test part of
fraction ``test_fraction``, weights rescaled so both stand for the whole yield. The network
sees the features standardised by the mean and standard deviation of the training events.
The exported ``workspace.json`` is the same model from ordinary histograms of the test events,
observations set to the background-only expectation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import relaxed
from neos.config import TrainConfig, _checked
from relaxed.exceptions import InvalidArgument

__all__ = [
    "Analysis",
    "Sample",
    "Systematic",
    "Channel",
    "load_analysis",
    "parse_analysis",
    "EventSets",
    "event_sets",
    "soft_histograms",
    "hard_histograms",
    "analysis_spec",
    "analysis_workspace",
    "step_samples",
    "loss_and_cls",
    "hard_result",
    "predictor",
    "network",
    "class_scores",
    "soft_assignment",
    "EventClass",
]

#: TrainConfig keys that only concern the built-in blobs; an analysis has its own samples.
BLOB_ONLY_KEYS = ("nmc", "lumi", "sig_scale", "bkg_scale", "method", "animate")
SAMPLE_KINDS = ("signal", "background")
SYSTEMATIC_KINDS = ("shift", "weight", "alternative", "norm")
MODIFIERS = ("histosys", "normsys")
#: Options of the fits inside the training step. Nuisance parameters with nearly the same
#: effect (in the example, the jet energy scale and the MET soft term both move ``met``) make
#: the conditional fit slow: on one seed of ``dilepton.toml`` Newton's method needed 285
#: iterations, past its default limit of 200, and the step's gradient was NaN. The loop only
#: runs as long as it needs.
SOLVER: dict[str, Any] = {"maxiter": 1000}
#: :math:`d/Y`: a derived normsys is :math:`\kappa^\pm = (\sum_b h^\pm_{cb} + d) /
#: (\sum_b h_{cb} + d)` with :math:`d` this fraction of the sample's yield :math:`Y` in all
#: channels, so a channel holding a small fraction :math:`f` of the sample has its
#: :math:`\kappa - 1` damped by :math:`f / (f + 10^{-3})` (negligible for :math:`f \gg
#: 10^{-3}`), and one holding none has :math:`\kappa = 1`.
NORMSYS_DAMPING = 1e-3
#: Every bin of a soft histogram holds at least this fraction of its sample's yield
#: (:data:`neos.makers.YIELD_FLOOR`): no rate is exactly zero.
YIELD_FLOOR = 1e-13
#: Default temperature :math:`\tau` of the soft class assignment
#: :math:`\operatorname{softmax}(z/\tau)` of a multi-class network (module docstring).
CLASS_TEMPERATURE = 0.1


@dataclasses.dataclass(frozen=True)
class Sample:
    """A sample: its name, ``kind`` (``signal``/``background``), where its events come from
    (a generator ``table`` or a file ``source`` with an optional ROOT ``tree``), its weight
    column and an optional free normalisation ``norm_factor``."""

    name: str
    kind: str
    table: str | None = None
    source: str | None = None
    tree: str | None = None
    weight: str | None = None
    norm_factor: str | None = None


@dataclasses.dataclass(frozen=True)
class Systematic:
    """A systematic uncertainty (module docstring): ``kind`` with its parameters."""

    name: str
    kind: str
    samples: tuple[str, ...]
    modifier: str = "histosys"
    scale: tuple[tuple[str, float], ...] = ()
    offset: tuple[tuple[str, float], ...] = ()
    up: Any = None
    down: Any = None
    hi: float | None = None
    lo: float | None = None


@dataclasses.dataclass(frozen=True)
class Channel:
    """A channel: its name and cuts ``(feature, min, max)`` (``None`` for an open side)."""

    name: str
    cuts: tuple[tuple[str, float | None, float | None], ...] = ()


@dataclasses.dataclass(frozen=True)
class EventClass:
    """A class of a multi-class network: its name and the samples whose events belong to it
    (the labels of the cross-entropy baseline)."""

    name: str
    samples: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A parsed analysis description (:func:`load_analysis`)."""

    name: str
    features: tuple[str, ...]
    samples: tuple[Sample, ...]
    systematics: tuple[Systematic, ...]
    channels: tuple[Channel, ...]
    config: TrainConfig
    test_fraction: float = 0.5
    generator: tuple[tuple[str, Any], ...] = ()
    base_dir: str = "."
    classes: tuple[EventClass, ...] = ()
    class_temperature: float = CLASS_TEMPERATURE

    @property
    def signal(self) -> Sample:
        return next(s for s in self.samples if s.kind == "signal")

    @property
    def regions(self) -> tuple[str, ...]:
        """The channels of the model: one per channel, or with ``classes`` one per channel
        and class, ``{channel}_{class}``, channel by channel."""
        if not self.classes:
            return tuple(c.name for c in self.channels)
        return tuple(f"{c.name}_{k.name}" for c in self.channels for k in self.classes)

    def description(self) -> dict[str, Any]:
        """The analysis as JSON values (what a checkpoint records and compares)."""
        out = {
            "name": self.name,
            "features": list(self.features),
            "test_fraction": self.test_fraction,
            "generator": dict(self.generator),
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "systematics": [_systematic_json(s) for s in self.systematics],
            "channels": [
                {"name": c.name, "cuts": [list(cut) for cut in c.cuts]} for c in self.channels
            ],
        }
        if self.classes:
            out["classes"] = [{"name": k.name, "samples": list(k.samples)} for k in self.classes]
            out["class_temperature"] = self.class_temperature
        return json.loads(json.dumps(out))

    def digest(self) -> str:
        """A hash of :meth:`description`."""
        text = json.dumps(self.description(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _systematic_json(s: Systematic) -> dict[str, Any]:
    out = dataclasses.asdict(s)
    out["samples"] = list(s.samples)
    out["scale"] = dict(s.scale)
    out["offset"] = dict(s.offset)
    return out


# -- parsing ---------------------------------------------------------------------------------
class _Where:
    """The place of a value in the description, for error messages."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def error(self, where: str, what: str, value: Any = ...) -> InvalidArgument:
        got = "" if value is ... else f", got {value!r} ({type(value).__name__})"
        return InvalidArgument(f"{self.origin}: {where}: {what}{got}")


def _name(w: _Where, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value or not value.replace("_", "a").isalnum():
        raise w.error(where, "must be a name (letters, digits, underscores)", value)
    return value


def _string(w: _Where, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise w.error(where, "must be a non-empty string", value)
    return value


def _number(w: _Where, where: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise w.error(where, "must be a finite number", value)
    if positive and value <= 0:
        raise w.error(where, "must be > 0", value)
    return float(value)


def _table(w: _Where, where: str, value: Any, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise w.error(where, "must be a table", value)
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise w.error(where, f"unknown keys {unknown}; the keys are {sorted(keys)}")
    return dict(value)


def _list(w: _Where, where: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise w.error(where, "must be a non-empty array", value)
    return value


_TOP_KEYS = (
    "name",
    "features",
    "test_fraction",
    "generator",
    "samples",
    "systematics",
    "channels",
    "classes",
    "class_temperature",
)
_SAMPLE_KEYS = ("name", "kind", "table", "source", "tree", "weight", "norm_factor")
_SYSTEMATIC_KEYS = (
    "name",
    "kind",
    "samples",
    "modifier",
    "scale",
    "offset",
    "up",
    "down",
    "hi",
    "lo",
)
_VARIATION_KEYS = ("table", "source", "tree", "weight")


def parse_analysis(
    document: Mapping[str, Any], origin: str = "analysis", base_dir: str | os.PathLike[str] = "."
) -> Analysis:
    """An :class:`Analysis` from a parsed description; every problem is an
    :class:`~relaxed.exceptions.InvalidArgument` naming ``origin`` and the place
    (``samples[1].kind: must be one of 'signal', 'background', got 'bkg' (str)``).

    Example:
        >>> doc = {"features": ["x"], "steps": 3, "generator": {"function": "mod:gen"},
        ...        "samples": [{"name": "s", "kind": "signal", "table": "s"},
        ...                    {"name": "b", "kind": "background", "table": "b"}],
        ...        "channels": [{"name": "SR"}]}
        >>> parse_analysis(doc).config.steps
        3
        >>> parse_analysis({**doc, "nmc": 10})
        Traceback (most recent call last):
        ...
        relaxed.exceptions.InvalidArgument: analysis: nmc: applies to the built-in blobs only; an analysis gives its own samples
    """  # noqa: E501
    w = _Where(origin)
    config_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {}
    for key, value in document.items():
        if key in BLOB_ONLY_KEYS:
            raise w.error(
                key, "applies to the built-in blobs only; an analysis gives its own samples"
            )
        if key in _TOP_KEYS:
            continue
        if key not in config_keys:
            raise w.error(
                key,
                f"unknown key; the keys are {sorted(_TOP_KEYS)} and the training settings "
                f"{sorted(config_keys - set(BLOB_ONLY_KEYS))}",
            )
        try:
            settings[key] = _checked(key, value)
        except InvalidArgument as err:
            raise InvalidArgument(f"{origin}: {err}") from None
    try:
        config = TrainConfig(**settings, animate=False).validate()
    except InvalidArgument as err:
        raise InvalidArgument(f"{origin}: {err}") from None

    name = _name(w, "name", document.get("name", "analysis"))
    features = tuple(
        _string(w, f"features[{i}]", f)
        for i, f in enumerate(_list(w, "features", document.get("features")))
    )
    if len(set(features)) != len(features):
        raise w.error("features", "must not repeat a feature", list(features))
    test_fraction = _number(w, "test_fraction", document.get("test_fraction", 0.5))
    if not 0.0 < test_fraction < 1.0:
        raise w.error("test_fraction", "must be between 0 and 1 (exclusive)", test_fraction)

    generator: tuple[tuple[str, Any], ...] = ()
    if "generator" in document:
        gen = document["generator"]
        if not isinstance(gen, Mapping) or "function" not in gen:
            raise w.error("generator", "must be a table with a 'function' (module:function)", gen)
        _function_path(w, gen["function"])
        generator = tuple(sorted(gen.items()))

    samples = tuple(
        _sample(w, f"samples[{i}]", s, bool(generator))
        for i, s in enumerate(_list(w, "samples", document.get("samples")))
    )
    names = [s.name for s in samples]
    if len(set(names)) != len(names):
        raise w.error("samples", "sample names must be unique", names)
    kinds = [s.kind for s in samples]
    if kinds.count("signal") != 1 or "background" not in kinds:
        raise w.error("samples", "need exactly one signal and at least one background", kinds)
    for i, s in enumerate(samples):
        if s.norm_factor is not None and s.kind == "signal":
            raise w.error(f"samples[{i}].norm_factor", "the signal is scaled by the POI 'mu'")
        if s.norm_factor == "mu":
            raise w.error(f"samples[{i}].norm_factor", "'mu' is the POI's name", s.norm_factor)

    systematics = tuple(
        _systematic(w, f"systematics[{i}]", s, names, features, bool(generator))
        for i, s in enumerate(document.get("systematics", []) or [])
    )
    snames = [s.name for s in systematics]
    if len(set(snames)) != len(snames):
        raise w.error("systematics", "systematic names must be unique", snames)
    taken = {"mu"} | {s.norm_factor for s in samples if s.norm_factor}
    for i, s in enumerate(systematics):
        if s.name in taken or s.name.startswith("staterror_"):
            raise w.error(f"systematics[{i}].name", "is already a parameter's name", s.name)

    channels = tuple(
        _channel(w, f"channels[{i}]", c, features)
        for i, c in enumerate(_list(w, "channels", document.get("channels")))
    )
    cnames = [c.name for c in channels]
    if len(set(cnames)) != len(cnames):
        raise w.error("channels", "channel names must be unique", cnames)
    classes = _classes(w, document.get("classes"), names)
    temperature = CLASS_TEMPERATURE
    if "class_temperature" in document:
        if not classes:
            raise w.error("class_temperature", "applies only with [[classes]]")
        temperature = _number(w, "class_temperature", document["class_temperature"], True)
    return Analysis(
        name=name,
        features=features,
        samples=samples,
        systematics=systematics,
        channels=channels,
        config=config,
        test_fraction=test_fraction,
        generator=generator,
        base_dir=str(base_dir),
        classes=classes,
        class_temperature=temperature,
    )


def _classes(w: _Where, value: Any, sample_names: Sequence[str]) -> tuple[EventClass, ...]:
    """The ``[[classes]]`` tables: at least two, named, partitioning the samples."""
    if value is None:
        return ()
    entries = _list(w, "classes", value)
    if len(entries) < 2:
        raise w.error("classes", "a multi-class network needs at least 2 classes", entries)
    classes = []
    owner: dict[str, str] = {}
    for i, entry in enumerate(entries):
        where = f"classes[{i}]"
        entry = _table(w, where, entry, ("name", "samples"))
        name = _name(w, f"{where}.name", entry.get("name"))
        members = _list(w, f"{where}.samples", entry.get("samples"))
        for j, sample in enumerate(members):
            at = f"{where}.samples[{j}]"
            if sample not in sample_names:
                raise w.error(at, f"no such sample; the samples are {list(sample_names)}", sample)
            if sample in owner:
                raise w.error(at, f"is already in class {owner[sample]!r}", sample)
            owner[sample] = name
        classes.append(EventClass(name=name, samples=tuple(members)))
    names = [k.name for k in classes]
    if len(set(names)) != len(names):
        raise w.error("classes", "class names must be unique", names)
    missing = [s for s in sample_names if s not in owner]
    if missing:
        raise w.error("classes", f"samples {missing} are in no class; every sample needs one")
    return tuple(classes)


def _function_path(w: _Where, value: Any) -> tuple[str, str]:
    if not isinstance(value, str) or value.count(":") != 1:
        raise w.error("generator.function", "must be 'module:function'", value)
    module, function = value.split(":")
    return module, function


def _source(w: _Where, where: str, entry: Mapping[str, Any], has_generator: bool) -> None:
    table, source = entry.get("table"), entry.get("source")
    if (table is None) == (source is None):
        raise w.error(
            where, "needs exactly one of 'table' (a generator table) or 'source' (a file)"
        )
    if table is not None:
        _string(w, f"{where}.table", table)
        if not has_generator:
            raise w.error(f"{where}.table", "names a generator table, but there is no [generator]")
    else:
        suffix = Path(_string(w, f"{where}.source", source)).suffix
        if suffix not in (".npz", ".parquet", ".root"):
            raise w.error(f"{where}.source", "must be a .npz, .parquet or .root file", source)
        if suffix == ".root" and not isinstance(entry.get("tree"), str):
            raise w.error(f"{where}.tree", "a .root source needs the name of its TTree")
    if entry.get("weight") is not None:
        _string(w, f"{where}.weight", entry["weight"])


def _sample(w: _Where, where: str, value: Any, has_generator: bool) -> Sample:
    entry = _table(w, where, value, _SAMPLE_KEYS)
    name = _name(w, f"{where}.name", entry.get("name"))
    kind = entry.get("kind")
    if kind not in SAMPLE_KINDS:
        raise w.error(f"{where}.kind", f"must be one of {', '.join(map(repr, SAMPLE_KINDS))}", kind)
    _source(w, where, entry, has_generator)
    norm = entry.get("norm_factor")
    return Sample(
        name=name,
        kind=kind,
        table=entry.get("table"),
        source=entry.get("source"),
        tree=entry.get("tree"),
        weight=entry.get("weight"),
        norm_factor=None if norm is None else _name(w, f"{where}.norm_factor", norm),
    )


def _variation(w: _Where, where: str, value: Any, has_generator: bool) -> Any:
    if value is None:
        return None
    entry = _table(w, where, value, _VARIATION_KEYS)
    _source(w, where, entry, has_generator)
    return tuple(sorted(entry.items()))


def _systematic(
    w: _Where,
    where: str,
    value: Any,
    sample_names: Sequence[str],
    features: Sequence[str],
    has_generator: bool,
) -> Systematic:
    entry = _table(w, where, value, _SYSTEMATIC_KEYS)
    name = _name(w, f"{where}.name", entry.get("name"))
    kind = entry.get("kind")
    if kind not in SYSTEMATIC_KINDS:
        raise w.error(
            f"{where}.kind", f"must be one of {', '.join(map(repr, SYSTEMATIC_KINDS))}", kind
        )
    samples = entry.get("samples", list(sample_names))
    samples = [
        _string(w, f"{where}.samples[{i}]", s)
        for i, s in enumerate(_list(w, f"{where}.samples", samples))
    ]
    for i, s in enumerate(samples):
        if s not in sample_names:
            raise w.error(
                f"{where}.samples[{i}]", f"no such sample; the samples are {list(sample_names)}", s
            )
    modifier = entry.get("modifier", "histosys")
    if modifier not in MODIFIERS:
        raise w.error(
            f"{where}.modifier", f"must be one of {', '.join(map(repr, MODIFIERS))}", modifier
        )
    allowed = {
        "shift": {"scale", "offset"},
        "weight": {"up", "down"},
        "alternative": {"up", "down"},
        "norm": {"hi", "lo"},
    }[kind]
    extra = sorted(set(entry) & {"scale", "offset", "up", "down", "hi", "lo"} - allowed)
    if extra:
        raise w.error(where, f"keys {extra} do not apply to a {kind!r} systematic")
    if kind == "norm" and "modifier" in entry and modifier != "normsys":
        raise w.error(f"{where}.modifier", "a 'norm' systematic is a normsys", modifier)
    fields: dict[str, Any] = {}
    if kind == "shift":
        for key in ("scale", "offset"):
            table = entry.get(key, {})
            if not isinstance(table, Mapping):
                raise w.error(f"{where}.{key}", "must be a table {feature = number}", table)
            for feature, amount in table.items():
                if feature not in features:
                    raise w.error(
                        f"{where}.{key}.{feature}",
                        f"no such feature; the features are {list(features)}",
                    )
                _number(w, f"{where}.{key}.{feature}", amount, positive=True)
            fields[key] = tuple(sorted((f, float(a)) for f, a in table.items()))
        if not fields["scale"] and not fields["offset"]:
            raise w.error(where, "a 'shift' systematic needs 'scale' and/or 'offset'")
    elif kind == "weight":
        fields["up"] = _string(w, f"{where}.up", entry.get("up"))
        if entry.get("down") is not None:
            fields["down"] = _string(w, f"{where}.down", entry["down"])
    elif kind == "alternative":
        if len(samples) != 1:
            raise w.error(
                f"{where}.samples", "an 'alternative' systematic varies exactly one sample", samples
            )
        if entry.get("up") is None:
            raise w.error(f"{where}.up", "an 'alternative' systematic needs its up sample")
        fields["up"] = _variation(w, f"{where}.up", entry["up"], has_generator)
        fields["down"] = _variation(w, f"{where}.down", entry.get("down"), has_generator)
    else:
        for key in ("hi", "lo"):
            fields[key] = _number(w, f"{where}.{key}", entry.get(key), positive=True)
        modifier = "normsys"
    return Systematic(name=name, kind=kind, samples=tuple(samples), modifier=modifier, **fields)


def _channel(w: _Where, where: str, value: Any, features: Sequence[str]) -> Channel:
    entry = _table(w, where, value, ("name", "cuts"))
    name = _name(w, f"{where}.name", entry.get("name"))
    cuts = []
    for i, cut in enumerate(entry.get("cuts", []) or []):
        at = f"{where}.cuts[{i}]"
        cut = _table(w, at, cut, ("feature", "min", "max"))
        feature = cut.get("feature")
        if feature not in features:
            raise w.error(
                f"{at}.feature", f"no such feature; the features are {list(features)}", feature
            )
        low = None if cut.get("min") is None else _number(w, f"{at}.min", cut["min"])
        high = None if cut.get("max") is None else _number(w, f"{at}.max", cut["max"])
        if low is None and high is None:
            raise w.error(at, "needs 'min' and/or 'max'")
        if low is not None and high is not None and not low < high:
            raise w.error(at, f"min must be below max, got min {low} and max {high}")
        cuts.append((feature, low, high))
    return Channel(name=name, cuts=tuple(cuts))


def load_analysis(path: str | os.PathLike[str], **overrides: Any) -> Analysis:
    """Read an analysis description (module docstring); ``overrides`` that are not ``None``
    replace training settings (``steps``, ``seed``, ...). File sources are relative to the
    description's folder.

    Example:
        >>> from pathlib import Path
        >>> import neos
        >>> path = Path(neos.__file__).parent / "examples" / "dilepton.toml"
        >>> analysis = load_analysis(path, steps=2)
        >>> analysis.config.steps, analysis.signal.name
        (2, 'signal')
    """
    import tomllib

    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidArgument(f"{path}: cannot read the analysis description ({err})") from err
    document.update({k: v for k, v in overrides.items() if v is not None})
    return parse_analysis(document, origin=str(path), base_dir=path.parent)


# -- events ----------------------------------------------------------------------------------
def _generate(analysis: Analysis) -> dict[str, dict[str, np.ndarray]]:
    settings = dict(analysis.generator)
    module, function = settings.pop("function").split(":")
    try:
        fn = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as err:
        raise InvalidArgument(
            f"generator.function: cannot import {module}:{function} ({err})"
        ) from err
    return fn(**settings)


def _read_file(path: Path, columns: Sequence[str], tree: str | None) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InvalidArgument(f"{path}: no such file")
    if path.suffix == ".npz":
        with np.load(path) as data:
            missing = [c for c in columns if c not in data.files]
            if missing:
                raise InvalidArgument(f"{path}: no columns {missing}; it has {sorted(data.files)}")
            return {c: np.asarray(data[c]) for c in columns}
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise InvalidArgument(
                f"{path}: reading parquet files needs pyarrow (pip install pyarrow)"
            ) from err
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidArgument(f"{path}: no columns {missing}; it has {sorted(names)}")
        table = pq.read_table(path, columns=list(columns))
        return {c: table.column(c).to_numpy() for c in columns}
    try:
        import uproot
    except ImportError as err:
        raise InvalidArgument(
            f"{path}: reading ROOT files needs uproot (pip install uproot)"
        ) from err
    with uproot.open(path) as file:
        if tree not in file:
            raise InvalidArgument(
                f"{path}: no TTree {tree!r}; it holds {sorted(file.keys(cycle=False))}"
            )
        ttree = file[tree]
        missing = [c for c in columns if c not in ttree.keys()]
        if missing:
            raise InvalidArgument(
                f"{path}:{tree}: no branches {missing}; it has {sorted(ttree.keys())}"
            )
        arrays = ttree.arrays(list(columns), library="np")
        return {c: np.asarray(arrays[c]) for c in columns}


class _Events(NamedTuple):
    features: np.ndarray  # (N, F)
    weights: np.ndarray  # (N,)
    extra: dict[str, np.ndarray]  # weight-variation columns


def _columns_of(
    entry: Mapping[str, Any],
    columns: Sequence[str],
    where: str,
    tables: Mapping[str, Mapping[str, np.ndarray]] | None,
    base: Path,
) -> dict[str, np.ndarray]:
    if entry.get("table") is not None:
        assert tables is not None
        name = entry["table"]
        if name not in tables:
            raise InvalidArgument(
                f"{where}.table: the generator made no table {name!r}; it made {sorted(tables)}"
            )
        table = tables[name]
        missing = [c for c in columns if c not in table]
        if missing:
            raise InvalidArgument(
                f"{where}.table {name!r}: no columns {missing}; it has {sorted(table)}"
            )
        return {c: np.asarray(table[c]) for c in columns}
    return _read_file(base / entry["source"], columns, entry.get("tree"))


def _events(
    entry: Mapping[str, Any],
    features: Sequence[str],
    extra: Sequence[str],
    where: str,
    tables: Mapping[str, Mapping[str, np.ndarray]] | None,
    base: Path,
) -> _Events:
    weight = entry.get("weight")
    columns = list(dict.fromkeys([*features, *([weight] if weight else []), *extra]))
    data = _columns_of(entry, columns, where, tables, base)
    lengths = {c: np.shape(v) for c, v in data.items()}
    n = len(data[features[0]])
    if any(shape != (n,) for shape in lengths.values()) or n == 0:
        raise InvalidArgument(
            f"{where}: columns must be non-empty 1-D arrays of one length, got shapes {lengths}"
        )
    x = np.stack([np.asarray(data[f], dtype=np.float64) for f in features], axis=1)
    w = np.asarray(data[weight], dtype=np.float64) if weight else np.ones(n)
    others = {c: np.asarray(data[c], dtype=np.float64) for c in extra}
    for label, values in [("features", x), ("weight", w), *others.items()]:
        if not np.all(np.isfinite(values)):
            raise InvalidArgument(f"{where}: column(s) {label!r} hold values that are not finite")
    return _Events(x, w, others)


class EventSets(NamedTuple):
    """The events of an analysis, ready for histogramming: ``inputs`` are feature arrays
    (one per distinct set of events: each sample's nominal events, their shifts, the
    alternative samples), and each histogram ``(sample, variation)`` is built from one input
    with per-channel weights ``weights[k]`` of shape (channels, events) (zero where an event
    fails a channel's cuts)."""

    inputs: tuple[np.ndarray, ...]
    which: tuple[int, ...]  # the input of each histogram
    weights: tuple[np.ndarray, ...]  # (channels, events) per histogram
    keys: tuple[tuple[str, str], ...]  # (sample, variation) per histogram; variation "nominal"


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_test = int(round(n * fraction))
    n_test = min(max(n_test, 1), n - 1) if n > 1 else 0
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _masks(analysis: Analysis, x: np.ndarray) -> np.ndarray:
    """(channels, events): 1 where an event passes the channel's cuts."""
    index = {f: i for i, f in enumerate(analysis.features)}
    out = np.ones((len(analysis.channels), x.shape[0]))
    for c, channel in enumerate(analysis.channels):
        for feature, low, high in channel.cuts:
            column = x[:, index[feature]]
            if low is not None:
                out[c] *= column >= low
            if high is not None:
                out[c] *= column < high
    return out


def _shifted(analysis: Analysis, x: np.ndarray, syst: Systematic, sign: float) -> np.ndarray:
    index = {f: i for i, f in enumerate(analysis.features)}
    out = x.copy()
    for feature, amount in syst.scale:
        out[:, index[feature]] *= 1.0 + sign * amount
    for feature, amount in syst.offset:
        out[:, index[feature]] += sign * amount
    return out


def event_sets(analysis: Analysis) -> tuple[EventSets, EventSets, np.ndarray, np.ndarray]:
    """The training and test :class:`EventSets` of ``analysis`` and the features' mean and
    standard deviation over the training events (for the network's input).

    Each sample's events are split by ``analysis.config.seed`` into training and test parts;
    their weights are divided by the part's fraction, so either part stands for the whole
    yield. Missing files, tables and columns, and non-finite values are errors naming them.

    Example:
        >>> from pathlib import Path
        >>> import neos
        >>> analysis = load_analysis(Path(neos.__file__).parent / "examples" / "dilepton.toml")
        >>> train, test, mean, std = event_sets(analysis)
        >>> train.keys[0], len(train.keys) == len(test.keys)
        (('signal', 'nominal'), True)
    """
    tables = _generate(analysis) if analysis.generator else None
    base = Path(analysis.base_dir)
    rng = np.random.default_rng(analysis.config.seed)
    parts: dict[str, tuple[list[Any], ...]] = {p: ([], [], [], []) for p in ("train", "test")}
    # the index of each feature array among the part's inputs (the arrays stay alive in the
    # lists, so their ids are not reused)
    seen: dict[str, dict[int, int]] = {"train": {}, "test": {}}
    nominal_train: list[np.ndarray] = []

    def add(part: str, x: np.ndarray, w: np.ndarray, key: tuple[str, str]) -> None:
        inputs, which, weights, keys = parts[part]
        if id(x) not in seen[part]:
            inputs.append(x)
            seen[part][id(x)] = len(inputs) - 1
        which.append(seen[part][id(x)])
        weights.append(_masks(analysis, x) * w[None, :])
        keys.append(key)

    for s_index, sample in enumerate(analysis.samples):
        where = f"samples[{s_index}]"
        applies = [syst for syst in analysis.systematics if sample.name in syst.samples]
        extra = [c for syst in applies if syst.kind == "weight" for c in (syst.up, syst.down) if c]
        entry = dataclasses.asdict(sample)
        events = _events(entry, analysis.features, extra, where, tables, base)
        n = events.weights.shape[0]
        if n < 2:
            raise InvalidArgument(
                f"{where}: sample {sample.name!r} needs at least 2 events, has {n}"
            )
        if not np.any(_masks(analysis, events.features).sum(axis=0) * events.weights):
            raise InvalidArgument(
                f"{where}: sample {sample.name!r} has no weighted events in any channel"
            )
        train_idx, test_idx = _split(n, analysis.test_fraction, rng)
        for part, idx in (("train", train_idx), ("test", test_idx)):
            scale = n / len(idx)
            x = events.features[idx]
            w = events.weights[idx] * scale
            if part == "train":
                nominal_train.append(x)
            add(part, x, w, (sample.name, "nominal"))
            for syst in applies:
                if syst.kind == "shift":
                    for sign, label in ((1.0, "up"), (-1.0, "down")):
                        xs = _shifted(analysis, x, syst, sign)
                        add(part, xs, w, (sample.name, f"{syst.name}_{label}"))
                elif syst.kind == "weight":
                    up = events.extra[syst.up][idx] * scale
                    add(part, x, up, (sample.name, f"{syst.name}_up"))
                    if syst.down:
                        down = events.extra[syst.down][idx] * scale
                        add(part, x, down, (sample.name, f"{syst.name}_down"))
        for syst in applies:
            if syst.kind != "alternative":
                continue
            for label, variation in (("up", syst.up), ("down", syst.down)):
                if variation is None:
                    continue
                at = f"systematics[{analysis.systematics.index(syst)}].{label}"
                alt = _events(dict(variation), analysis.features, [], at, tables, base)
                m = alt.weights.shape[0]
                if m < 2:
                    raise InvalidArgument(f"{at}: needs at least 2 events, has {m}")
                train_alt, test_alt = _split(m, analysis.test_fraction, rng)
                for part, idx in (("train", train_alt), ("test", test_alt)):
                    w = alt.weights[idx] * (m / len(idx))
                    add(part, alt.features[idx], w, (sample.name, f"{syst.name}_{label}"))
    train_x = np.concatenate(nominal_train)
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def sets(part: str) -> EventSets:
        inputs, which, weights, keys = parts[part]
        return EventSets(tuple(inputs), tuple(which), tuple(weights), tuple(keys))

    return sets("train"), sets("test"), mean, std


# -- histograms ------------------------------------------------------------------------------
def class_scores(logits: Any, xp: Any = jnp) -> Any:
    r"""The histogrammed score of each class of a multi-class network with logits
    :math:`z` (shape (events, K)): :math:`s_k = (K p_k - 1)/(K - 1)` with
    :math:`p = \operatorname{softmax}(z)`, which maps :math:`p_k \in [1/K, 1]` (where
    class :math:`k` is the most probable) onto :math:`[0, 1]`, the range of the bins.

    Example:
        >>> import numpy as np
        >>> class_scores(np.array([[0.0, 0.0], [10.0, -10.0]]), xp=np).round(6).tolist()
        [[0.0, 0.0], [1.0, -1.0]]
    """
    z = logits - xp.max(logits, axis=-1, keepdims=True)
    p = xp.exp(z) / xp.sum(xp.exp(z), axis=-1, keepdims=True)
    k = logits.shape[-1]
    return (k * p - 1.0) / (k - 1.0)


def soft_assignment(logits: Any, temperature: float) -> Any:
    r"""The soft class of each event, :math:`a_k = \operatorname{softmax}(z/\tau)_k` (shape
    (events, K)): the one-hot :math:`[k = \arg\max z]` of the ordinary histograms as
    :math:`\tau \to 0`, differentiable for :math:`\tau > 0`.

    Example:
        >>> import jax.numpy as jnp
        >>> [round(float(a), 5) for a in soft_assignment(jnp.array([[1.0, 0.0]]), 0.1)[0]]
        [0.99995, 5e-05]
    """
    return jax.nn.softmax(jnp.asarray(logits) / temperature, axis=-1)


def soft_histograms(
    sets: EventSets,
    outputs: Sequence[Any],
    bins: Any,
    bandwidth: Any,
    mcstat: bool,
    reflect_infinities: bool = True,
    temperature: float = CLASS_TEMPERATURE,
) -> dict[tuple[str, str], tuple[Any, Any]]:
    r"""``{(sample, variation): (h, sumw2)}``, arrays of shape (regions, bins): the binned
    KDE :math:`h_{cb} = \sum_i w_{ci} K_b(f_i) + \epsilon\sum_{c'i} w_{c'i}` of the network
    outputs ``outputs[k]`` of input ``k`` (:func:`relaxed.hist`; ``sumw2`` with :math:`w^2`
    for the nominal histograms with ``mcstat``, else ``None``). The kernels of each input are
    evaluated once for all the histograms, channels and weight variations that use it.

    A multi-class network's outputs are logits of shape (events, K); region :math:`(c, k)`
    (index :math:`cK + k`) then holds each event with weight :math:`w_{ci} a_{ik}`
    (:func:`soft_assignment` at ``temperature``) at the score :math:`s_{ik}`
    (:func:`class_scores`); ``sumw2`` with :math:`(w a)^2`. Traceable."""
    n_channels = len(sets.weights[0]) if sets.weights else 0
    n_classes = outputs[0].shape[-1] if outputs and jnp.ndim(outputs[0]) == 2 else 1
    n_regions = n_channels * n_classes
    out = {}
    for k in range(len(sets.inputs)):
        members = [m for m, which in enumerate(sets.which) if which == k]
        # sums of squared weights: of the nominal histograms only (the staterror's)
        squared = [m for m in members if mcstat and sets.keys[m][1] == "nominal"]
        rows = [jnp.asarray(sets.weights[m]) for m in members]
        rows += [jnp.asarray(sets.weights[m]) ** 2 for m in squared]
        weights = jnp.concatenate(rows)
        if n_classes == 1:
            counts = relaxed.hist(
                outputs[k], bins, bandwidth, reflect_infinities=reflect_infinities, weights=weights
            )
        else:
            scores = class_scores(outputs[k])
            assign = soft_assignment(outputs[k], temperature)
            power = jnp.repeat(jnp.asarray([1.0] * len(members) + [2.0] * len(squared)), n_channels)
            per_class = jnp.stack(
                [
                    relaxed.hist(
                        scores[:, j],
                        bins,
                        bandwidth,
                        reflect_infinities=reflect_infinities,
                        weights=weights * assign[None, :, j] ** power[:, None],
                    )
                    for j in range(n_classes)
                ]
            )  # (K, rows, bins) -> rows of (channel, class), channel by channel
            n_rows = weights.shape[0] // n_channels
            counts = per_class.reshape(n_classes, n_rows, n_channels, -1)
            counts = counts.transpose(1, 2, 0, 3).reshape(n_rows * n_regions, -1)
        block = {m: counts[i * n_regions : (i + 1) * n_regions] for i, m in enumerate(members)}
        for i, m in enumerate(squared, start=len(members)):
            out[sets.keys[m]] = (None, counts[i * n_regions : (i + 1) * n_regions])
        for m in members:
            w = jnp.asarray(sets.weights[m])
            h = block[m] + YIELD_FLOOR * jnp.sum(w)
            sumw2 = out[sets.keys[m]][1] if sets.keys[m] in out else None
            out[sets.keys[m]] = (h, sumw2)
    return out


def hard_histograms(
    sets: EventSets, outputs: Sequence[np.ndarray], bins: np.ndarray, mcstat: bool
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]]:
    r"""As :func:`soft_histograms` with ordinary histograms, :math:`h_{cb} = \sum_i w_{ci}
    [f_i \in b] + \epsilon\sum_{c'i} w_{c'i}`; outputs beyond the outer edges count in the outer
    bins. A multi-class network's event goes to the region of its most probable class
    :math:`k^* = \arg\max_k z_k`, at its score :math:`s_{k^*}` (:func:`class_scores`)."""
    edges = np.asarray(bins, dtype=float)
    out = {}
    for key, k, w in zip(sets.keys, sets.which, sets.weights, strict=True):
        f = np.asarray(outputs[k], dtype=np.float64)
        if f.ndim == 2:  # multi-class: rows (channel, class), channel by channel
            best = np.argmax(f, axis=1)
            f = class_scores(f, xp=np)[np.arange(f.shape[0]), best]
            onehot = best[None, :] == np.arange(outputs[k].shape[1])[:, None]
            w = (np.asarray(w)[:, None, :] * onehot[None, :, :]).reshape(-1, f.shape[0])
        index = np.searchsorted(edges, np.clip(f, edges[0], edges[-1]), side="right") - 1
        index = np.minimum(index, len(edges) - 2)
        n_bins = len(edges) - 1
        h = np.stack([np.bincount(index, weights=wc, minlength=n_bins) for wc in w])
        h = h + YIELD_FLOOR * w.sum()
        sumw2 = None
        if mcstat and key[1] == "nominal":  # as soft_histograms: the staterror's only
            sumw2 = np.stack([np.bincount(index, weights=wc**2, minlength=n_bins) for wc in w])
        out[key] = (h, sumw2)
    return out


def _mirror(nominal: Any, up: Any, xp: Any) -> Any:
    """The down variation mirrored about the nominal, :math:`2h - h^\\uparrow`, kept at
    least at the yield floor of the nominal."""
    return xp.maximum(2.0 * nominal - up, YIELD_FLOOR * nominal)


def analysis_spec(
    analysis: Analysis, hists: Mapping[tuple[str, str], tuple[Any, Any]], xp: Any = jnp
) -> dict[str, Any]:
    """The HistFactory specification (pyhf format) of ``analysis`` from its histograms (soft
    or hard; ``xp`` is ``jax.numpy`` or ``numpy``), as described in the module docstring.

    Example:
        >>> import numpy as np
        >>> doc = {"features": ["x"], "mcstat": False, "samples": [
        ...     {"name": "s", "kind": "signal", "table": "s"},
        ...     {"name": "b", "kind": "background", "table": "b"}],
        ...     "generator": {"function": "m:f"},
        ...     "systematics": [{"name": "xs", "kind": "norm", "hi": 1.1, "lo": 0.9,
        ...                      "samples": ["b"]}], "channels": [{"name": "SR"}]}
        >>> a = parse_analysis(doc)
        >>> hists = {("s", "nominal"): (np.array([[1.0, 2.0]]), None),
        ...          ("b", "nominal"): (np.array([[5.0, 4.0]]), None)}
        >>> spec = analysis_spec(a, hists, xp=np)
        >>> [m["type"] for m in spec["channels"][0]["samples"][1]["modifiers"]]
        ['normsys']
    """
    mcstat = analysis.config.mcstat
    total_yield = {s.name: xp.sum(hists[(s.name, "nominal")][0]) for s in analysis.samples}
    channels = []
    for c, region in enumerate(analysis.regions):
        samples = []
        for sample in analysis.samples:
            nominal = hists[(sample.name, "nominal")][0][c]
            modifiers: list[dict[str, Any]] = []
            if sample.kind == "signal":
                modifiers.append({"name": "mu", "type": "normfactor", "data": None})
            elif sample.norm_factor:
                modifiers.append({"name": sample.norm_factor, "type": "normfactor", "data": None})
            for syst in analysis.systematics:
                if sample.name not in syst.samples:
                    continue
                if syst.kind == "norm":
                    data = {"hi": syst.hi, "lo": syst.lo}
                    modifiers.append({"name": syst.name, "type": "normsys", "data": data})
                    continue
                up = hists[(sample.name, f"{syst.name}_up")][0][c]
                key_down = (sample.name, f"{syst.name}_down")
                down = hists[key_down][0][c] if key_down in hists else _mirror(nominal, up, xp)
                if syst.modifier == "histosys":
                    data = {"hi_data": up, "lo_data": down}
                    modifiers.append({"name": syst.name, "type": "histosys", "data": data})
                else:
                    # kappa = (sum up + d) / (sum nominal + d), d = NORMSYS_DAMPING times the
                    # sample's yield in all channels: where a channel holds almost none of the
                    # sample (the signal in a control region), a few migrating events would
                    # give kappa ~ 1e8 and rates kappa**alpha that no fit survives
                    damping = NORMSYS_DAMPING * total_yield[sample.name]
                    total = xp.sum(nominal) + damping
                    data = {
                        "hi": (xp.sum(up) + damping) / total,
                        "lo": (xp.sum(down) + damping) / total,
                    }
                    modifiers.append({"name": syst.name, "type": "normsys", "data": data})
            if mcstat and sample.kind == "background":
                sumw2 = hists[(sample.name, "nominal")][1][c]
                # sqrt with a zero (not an infinite) derivative where a channel has no events
                positive = sumw2 > 0
                root = xp.sqrt(xp.where(positive, sumw2, 1.0))
                sigma = xp.minimum(xp.where(positive, root, 0.0), nominal)
                modifiers.append(
                    {"name": f"staterror_{region}", "type": "staterror", "data": sigma}
                )
            samples.append({"name": sample.name, "data": nominal, "modifiers": modifiers})
        channels.append({"name": region, "samples": samples})
    return {"channels": channels}


def _to_json(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _to_json(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_to_json(v) for v in node]
    if isinstance(node, np.ndarray | jax.Array):
        return [float(v) for v in np.asarray(node).ravel()]
    if isinstance(node, np.floating):
        return float(node)
    return node


def analysis_workspace(
    analysis: Analysis, hists: Mapping[tuple[str, str], tuple[Any, Any]]
) -> dict[str, Any]:
    """A pyhf workspace of ``analysis`` from ordinary histograms, observations set to the
    background-only expectation (the sum of the nominal backgrounds in each channel)."""
    spec = _to_json(analysis_spec(analysis, hists, xp=np))
    observations = []
    for c, region in enumerate(analysis.regions):
        total = sum(
            np.asarray(hists[(s.name, "nominal")][0][c])
            for s in analysis.samples
            if s.kind == "background"
        )
        observations.append({"name": region, "data": [float(v) for v in total]})
    return {
        **spec,
        "observations": observations,
        "measurements": [{"name": analysis.name, "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def network(analysis: Analysis) -> Any:
    """The network of ``analysis`` (:func:`neos.nets.mlp` with the ``hidden`` widths): one
    output per event through a sigmoid, or with ``classes`` one logit per class.

    Example:
        >>> doc = {"features": ["x"], "hidden": [4], "generator": {"function": "m:f"},
        ...        "samples": [{"name": "s", "kind": "signal", "table": "s"},
        ...                    {"name": "b", "kind": "background", "table": "b"}],
        ...        "channels": [{"name": "SR"}],
        ...        "classes": [{"name": "S", "samples": ["s"]}, {"name": "B", "samples": ["b"]}]}
        >>> net = network(parse_analysis(doc))
        >>> net.apply(net.init(jax.random.PRNGKey(0), jnp.zeros((1, 1))), jnp.zeros((3, 1))).shape
        (3, 2)
    """
    from neos.nets import mlp

    if analysis.classes:
        return mlp(hidden=analysis.config.hidden, out=len(analysis.classes), final=None)
    return mlp(hidden=analysis.config.hidden)


def predictor(apply: Callable[..., Any], mean: np.ndarray, std: np.ndarray) -> Callable[..., Any]:
    """``predict(params, x) = apply(params, (x - mean) / std)`` in float32: one output per
    event (shape (events,)), or a multi-class network's logits (shape (events, K))."""
    mean32 = jnp.asarray(mean, jnp.float32)
    std32 = jnp.asarray(std, jnp.float32)

    def predict(params: Any, x: Any) -> Any:
        z = (jnp.asarray(x, jnp.float32) - mean32) / std32
        out = apply(params, z)
        return out.reshape(-1) if out.ndim < 2 or out.shape[-1] == 1 else out

    return predict


# -- training --------------------------------------------------------------------------------
def _bce(
    predict: Callable[..., Any],
    params: Any,
    samples: Any,
    keys: Sequence[tuple[str, str]],
    which: Sequence[int],
    signal: str,
) -> Any:
    r"""Class-balanced weighted binary cross-entropy of the nominal events,
    :math:`-\frac12\left[\frac{\sum_s w_i \log f_i}{\sum_s w_i}
    + \frac{\sum_b w_j \log(1 - f_j)}{\sum_b w_j}\right]` (weights summed over channels)."""
    inputs, weights, _, _ = samples
    loss = {True: 0.0, False: 0.0}
    total = {True: 0.0, False: 0.0}
    for key, k, w in zip(keys, which, weights, strict=True):
        if key[1] != "nominal":
            continue
        f = jnp.clip(predict(params, inputs[k]), 1e-7, 1.0 - 1e-7)
        event_w = jnp.sum(w, axis=0)
        is_signal = key[0] == signal
        log_p = jnp.log(f) if is_signal else jnp.log1p(-f)
        loss[is_signal] = loss[is_signal] - jnp.sum(event_w * log_p)
        total[is_signal] = total[is_signal] + jnp.sum(event_w)
    return 0.5 * (loss[True] / total[True] + loss[False] / total[False])


def _cross_entropy(
    predict: Callable[..., Any],
    params: Any,
    samples: Any,
    keys: Sequence[tuple[str, str]],
    which: Sequence[int],
    classes: Sequence[EventClass],
) -> Any:
    r"""Class-balanced weighted cross-entropy of a multi-class network's nominal events,
    :math:`-\frac1K \sum_k \frac{\sum_{i \in k} w_i \log p_k(x_i)}{\sum_{i \in k} w_i}` with
    :math:`p = \operatorname{softmax}(z)` and the classes' samples as labels (weights summed
    over channels); :func:`_bce` for two classes up to the parametrisation."""
    label = {sample: j for j, k in enumerate(classes) for sample in k.samples}
    inputs, weights, _, _ = samples
    loss = [0.0] * len(classes)
    total = [0.0] * len(classes)
    for key, k, w in zip(keys, which, weights, strict=True):
        if key[1] != "nominal":
            continue
        log_p = jax.nn.log_softmax(jnp.asarray(predict(params, inputs[k]), jnp.float64), axis=-1)
        event_w = jnp.sum(w, axis=0)
        j = label[key[0]]
        loss[j] = loss[j] - jnp.sum(event_w * log_p[:, j])
        total[j] = total[j] + jnp.sum(event_w)
    return sum(lo / t for lo, t in zip(loss, total, strict=True)) / len(classes)


def step_samples(sets: EventSets, mean: np.ndarray, std: np.ndarray) -> Any:
    """The arrays of ``sets`` as the argument of the training step: ``(inputs, weights,
    mean, std)`` (features in float32, weights in float64)."""
    return (
        tuple(jnp.asarray(x, jnp.float32) for x in sets.inputs),
        tuple(jnp.asarray(w, jnp.float64) for w in sets.weights),
        jnp.asarray(mean, jnp.float32),
        jnp.asarray(std, jnp.float32),
    )


def loss_and_cls(
    analysis: Analysis,
    apply: Callable[..., Any],
    keys: Sequence[tuple[str, str]],
    which: Sequence[int],
) -> Callable[..., tuple[Any, Any]]:
    """``loss_and_cls(trainable, samples, bw_scale) -> (loss, soft expected CLs)`` of the
    analysis: the network ``apply`` on every input of ``samples`` (:func:`step_samples`),
    the soft histograms (bandwidth ``hpars["bandwidth"] * bw_scale``), the model of
    :func:`analysis_spec` and the loss of ``analysis.config.loss``. Traceable."""
    from neos import losses, makers

    cfg = analysis.config
    signal = analysis.signal.name

    def model_maker_of(samples: Any) -> tuple[Callable[..., Any], Callable[..., Any]]:
        inputs, weights, mean, std = samples
        predict = predictor(apply, mean, std)

        def model_maker(params: Any, hpars: Mapping[str, Any] | None = None) -> Any:
            assert hpars is not None
            outputs = [predict(params, x) for x in inputs]
            sets = EventSets(tuple(inputs), tuple(which), tuple(weights), tuple(keys))
            hists = soft_histograms(
                sets,
                outputs,
                hpars["bins"],
                hpars["bandwidth"],
                cfg.mcstat,
                cfg.reflect_infinities,
                analysis.class_temperature,
            )
            model = relaxed.Model(analysis_spec(analysis, hists))
            return model, makers.bkg_only_pars(model)

        return model_maker, predict

    def compute(trainable: Any, samples: Any, bw_scale: Any) -> tuple[Any, Any]:
        params, hpars = trainable
        hpars = {**hpars, "bandwidth": hpars["bandwidth"] * bw_scale}
        model_maker, predict = model_maker_of(samples)
        cls = losses.expected_CLs(model_maker, SOLVER)(params, cfg.test_mu, hpars)
        if cfg.loss == "cls":
            return cls, cls
        if cfg.loss == "bce" and analysis.classes:
            return _cross_entropy(predict, params, samples, keys, which, analysis.classes), cls
        if cfg.loss == "bce":
            return _bce(predict, params, samples, keys, which, signal), cls
        objective = {
            "discovery": losses.neg_discovery_significance(model_maker),
            "poi_uncert": losses.poi_uncertainty(model_maker),
            "inferno": losses.inferno(model_maker),
        }[cfg.loss]
        return objective(params, hpars), cls

    return compute


def hard_result(
    analysis: Analysis,
    apply: Callable[..., Any],
    params: Any,
    bins: np.ndarray,
    samples: Any,
    keys: Sequence[tuple[str, str]],
    which: Sequence[int],
) -> tuple[dict[tuple[str, str], tuple[np.ndarray, np.ndarray | None]], dict[str, Any]]:
    """The ordinary histograms of ``samples`` (:func:`step_samples`) for the network
    ``params`` and the bin edges ``bins``, and their pyhf workspace
    (:func:`analysis_workspace`)."""
    inputs, weights, mean, std = samples
    predict = jax.jit(predictor(apply, mean, std))
    outputs = [np.asarray(predict(params, x), dtype=np.float64) for x in inputs]
    sets = EventSets(
        tuple(inputs), tuple(which), tuple(np.asarray(w) for w in weights), tuple(keys)
    )
    hists = hard_histograms(sets, outputs, np.asarray(bins, dtype=float), analysis.config.mcstat)
    return hists, analysis_workspace(analysis, hists)
