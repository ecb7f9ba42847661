"""A pyhf-format HistFactory workspace: channels, observations and measurements.

The JSON format is pyhf's (schema version 1.0.0). A workspace combines the model
specification (``channels``) with the observed data (``observations``) and one or more
measurements (the parameter of interest and the parameter configuration).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from relaxed.exceptions import (
    InvalidData,
    InvalidMeasurement,
    InvalidModel,
    InvalidPatch,
    InvalidSpecification,
    RelaxedError,
)
from relaxed.histfactory import schema
from relaxed.histfactory.model import Model
from relaxed.histfactory.patchset import Patch, _operations_of, apply_patch
from relaxed.io import write_text_atomic

__all__ = ["Workspace"]

_FROM_MEASUREMENT = object()
_MODEL_KEYS = (["channels"], ["parameters"])


def _to_json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    array = np.asarray(value)  # raises for tracers: a traced workspace cannot be written
    return array.tolist()


def _check_observation(index: int, observation: Mapping[str, Any]) -> None:
    """Observed counts must be finite and >= 0 (non-integer counts are fine, as in pyhf);
    traced values are not checked."""
    values = observation["data"]
    if any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values)):
        return
    where = f"observations[{index}].data"
    try:
        counts = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidData(f"{where}: observed counts must be numbers: {err}") from err
    if counts.ndim != 1:
        raise InvalidData(f"{where}: expected a list of counts, got shape {counts.shape}")
    bad = np.flatnonzero(~(np.isfinite(counts) & (counts >= 0)))
    if bad.size:
        k = int(bad[0])
        raise InvalidData(
            f"{where}[{k}]: observation bin {k} of channel '{observation['name']}' is "
            f"{float(counts[k])!r}: counts must be finite and >= 0"
        )


class Workspace:
    """A HistFactory workspace in pyhf's JSON format.

    Args:
        spec: the workspace document (``channels``, ``observations``, ``measurements``,
            ``version``). Numbers may be JAX arrays or tracers, as for :class:`relaxed.Model`.
        validate: check the document against the schema (version 1.0.0).

    Raises:
        relaxed.exceptions.InvalidSpecification: the document does not follow the schema.
        relaxed.exceptions.InvalidData: an observation of an unknown channel, two for one
            channel, or an observed count that is negative or not finite (NaN, inf); the
            message names ``observations[i].data[j]``, the channel and the bin.
        relaxed.exceptions.InvalidModel, relaxed.exceptions.InvalidMeasurement: duplicate
            channel or measurement names.

    Example:
        >>> import relaxed
        >>> ws = relaxed.Workspace({
        ...     "channels": [{"name": "SR", "samples": [
        ...         {"name": "sig", "data": [12.0, 11.0],
        ...          "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...         {"name": "bkg", "data": [50.0, 52.0],
        ...          "modifiers": [{"name": "unc", "type": "shapesys", "data": [3.0, 7.0]}]}]}],
        ...     "observations": [{"name": "SR", "data": [51.0, 48.0]}],
        ...     "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        ...     "version": "1.0.0"})
        >>> model = ws.model()
        >>> ws.data(model).tolist()[:2], model.config.poi_name
        ([51.0, 48.0], 'mu')
    """

    def __init__(self, spec: Mapping[str, Any], validate: bool = True) -> None:
        if validate:
            schema.validate(spec, kind="workspace")
        self._spec = spec
        seen: dict[str, int] = {}
        for i, measurement in enumerate(spec["measurements"]):
            if measurement["name"] in seen:
                raise InvalidMeasurement(
                    f"measurements[{i}].name: measurement '{measurement['name']}' is defined "
                    f"twice (also at measurements[{seen[measurement['name']]}])"
                )
            seen[measurement["name"]] = i
        channel_paths: dict[str, int] = {}
        for i, channel in enumerate(spec["channels"]):
            if channel["name"] in channel_paths:
                raise InvalidModel(
                    f"channels[{i}].name: channel '{channel['name']}' is defined twice "
                    f"(also at channels[{channel_paths[channel['name']]}])"
                )
            channel_paths[channel["name"]] = i
        observed: dict[str, int] = {}
        channel_names = set(channel_paths)
        for i, observation in enumerate(spec["observations"]):
            name = observation["name"]
            if name in observed:
                raise InvalidData(
                    f"observations[{i}].name: channel '{name}' has two observations "
                    f"(also at observations[{observed[name]}])"
                )
            if name not in channel_names:
                raise InvalidData(
                    f"observations[{i}].name: observation for unknown channel '{name}'; "
                    f"the channels are {sorted(channel_names)}"
                )
            observed[name] = i
            _check_observation(i, observation)
        self._observed = observed

    # -- summary ---------------------------------------------------------------------------
    @property
    def spec(self) -> Mapping[str, Any]:
        """The workspace document as given."""
        return self._spec

    @property
    def channels(self) -> list[str]:
        """Channel names, sorted."""
        return sorted({c["name"] for c in self._spec["channels"]})

    @property
    def samples(self) -> list[str]:
        """Sample names over all channels, sorted."""
        return sorted({s["name"] for c in self._spec["channels"] for s in c["samples"]})

    @property
    def modifiers(self) -> list[tuple[str, str]]:
        """(name, type) of every modifier, sorted."""
        return sorted(
            {
                (m["name"], m["type"])
                for c in self._spec["channels"]
                for s in c["samples"]
                for m in s["modifiers"]
            }
        )

    @property
    def parameters(self) -> list[str]:
        """Names of the parameters the modifiers introduce, sorted."""
        return sorted({name for name, _ in self.modifiers})

    @property
    def measurement_names(self) -> list[str]:
        """Measurement names in file order."""
        return [m["name"] for m in self._spec["measurements"]]

    def get_measurement(self, measurement_name: str | None = None) -> Mapping[str, Any]:
        """The measurement called ``measurement_name`` (default: the first one)."""
        measurements = self._spec["measurements"]
        if measurement_name is None:
            if not measurements:
                raise InvalidMeasurement("measurements: the workspace has no measurement")
            return measurements[0]
        for measurement in measurements:
            if measurement["name"] == measurement_name:
                return measurement
        raise InvalidMeasurement(
            f"unknown measurement '{measurement_name}'; the workspace has {self.measurement_names}"
        )

    # -- model and data --------------------------------------------------------------------
    def model(
        self,
        measurement_name: str | None = None,
        modifier_settings: Mapping[str, Any] | None = None,
        poi_name: Any = _FROM_MEASUREMENT,
        patches: Sequence[Any] | None = None,
    ) -> Model:
        """Build the :class:`relaxed.Model` of a measurement, optionally with patches applied.

        ``poi_name`` defaults to the measurement's POI; pass ``None`` for a model without one.
        ``modifier_settings`` defaults to pyhf 0.7.6's (normsys code4, histosys code4p); see
        :class:`relaxed.Model` for per-modifier codes (``"per_modifier"``).

        As in pyhf 0.7.6, ``patches`` (JSON Patch documents: lists of operations,
        ``jsonpatch.JsonPatch`` objects or :class:`relaxed.Patch`) are applied in order to the
        model specification ``{"channels": ..., "parameters": <the measurement's parameters>}``,
        not to the whole workspace: their paths start with ``/channels`` or ``/parameters``.
        The workspace, its observations included, is unchanged, so :meth:`data` gives the
        observed data only for channels the workspace already has; to patch observations or
        measurements, use :meth:`patch`.

        Raises:
            relaxed.exceptions.InvalidPatch: a patch does not apply, or the patched
                specification does not follow the schema; the message names the patch
                (``patches[i]`` and its name) and the operation or the invalid place.

        Example:
            >>> import relaxed
            >>> ws = relaxed.Workspace({"channels": [{"name": "SR", "samples": [
            ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}],
            ...     "observations": [{"name": "SR", "data": [52.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]})
            >>> signal = {"name": "sig", "data": [5.0],
            ...     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}
            >>> model = ws.model(patches=[[{"op": "add", "path": "/channels/0/samples/-",
            ...     "value": signal}]])
            >>> model.config.samples, model.expected_actualdata([2.0]).tolist()
            (['bkg', 'sig'], [60.0])
        """
        measurement = self.get_measurement(measurement_name)
        config = measurement["config"]
        poi = config["poi"] if poi_name is _FROM_MEASUREMENT else poi_name
        spec = {"channels": self._spec["channels"], "parameters": config.get("parameters", [])}
        if patches is None:
            return Model(spec, poi_name=poi, modifier_settings=modifier_settings, validate=False)
        spec, labels = _patched_model_spec(spec, patches)
        if not labels:
            return Model(spec, poi_name=poi, modifier_settings=modifier_settings, validate=False)
        try:
            return Model(spec, poi_name=poi, modifier_settings=modifier_settings, validate=False)
        except RelaxedError as err:
            err.add_note(f"(in the model specification patched by {', '.join(labels)})")
            raise

    def patch(self, patch: Any) -> Workspace:
        """A new workspace: this one's document with ``patch`` applied, validated.

        The patch (a list of JSON Patch operations, a ``jsonpatch.JsonPatch`` or a
        :class:`relaxed.Patch`) applies to the whole workspace document (``channels``,
        ``observations``, ``measurements``, ``version``), as pyhf's ``PatchSet.apply`` does.
        This workspace does not change.

        Raises:
            relaxed.exceptions.InvalidPatch: the patch does not apply, or the result is not a
                valid workspace (the message names the patch and the problem).

        Example:
            >>> import relaxed
            >>> ws = relaxed.Workspace({"channels": [{"name": "SR", "samples": [
            ...     {"name": "bkg", "data": [50.0], "modifiers": []}]}],
            ...     "observations": [{"name": "SR", "data": [52.0]}], "version": "1.0.0",
            ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]})
            >>> new = ws.patch([{"op": "replace", "path": "/observations/0/data", "value": [60.0]}])
            >>> new.observations(), ws.observations()
            ({'SR': [60.0]}, {'SR': [52.0]})
        """
        document = apply_patch(self._spec, patch, where="patch")
        label = f"patch {patch.name!r}" if isinstance(patch, Patch) else "patch"
        try:
            return Workspace(document)
        except RelaxedError as err:
            raise InvalidPatch(
                f"{label}: the patched workspace is invalid: {err}",
                patch=label,
                path=getattr(err, "path", ""),
            ) from err

    def observations(self) -> dict[str, Any]:
        """Observed counts per channel."""
        return {o["name"]: o["data"] for o in self._spec["observations"]}

    def data(self, model: Model, include_auxdata: bool = True) -> Array:
        """Observed main data in ``model.config.channels`` order, then the auxiliary data."""
        parts = []
        for channel, nbins in model.config.channel_nbins.items():
            if channel not in self._observed:
                raise InvalidData(
                    f"observations: no observed data for channel '{channel}'; observations "
                    f"exist for {sorted(self._observed)}"
                )
            i = self._observed[channel]
            values = self._spec["observations"][i]["data"]
            traced = any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values))
            values = (
                jnp.asarray(values, dtype=jnp.float64)
                if traced
                else np.asarray(values, dtype=np.float64)
            )
            if values.shape != (nbins,):
                raise InvalidData(
                    f"observations[{i}].data: channel '{channel}' has {nbins} bins but its "
                    f"observation has shape {values.shape}"
                )
            parts.append(values)
        if include_auxdata:
            parts.append(model.config.auxdata)
        if any(isinstance(part, jax.core.Tracer) for part in parts):
            return jnp.concatenate([jnp.asarray(part, dtype=jnp.float64) for part in parts])
        # concrete values: joined on the host, one transfer, nothing to compile
        return jnp.asarray(np.concatenate([np.asarray(part, np.float64) for part in parts]))

    # -- writing ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain-JSON deep copy of the workspace (arrays become lists)."""
        return _to_json_value(copy.copy(self._spec))

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int = 2) -> str:
        """The workspace as JSON text; written atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent, sort_keys=True) + "\n"
        if path is not None:
            write_text_atomic(Path(path), text)
        return text

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Workspace:
        """Read a workspace from a JSON file."""
        with open(path) as f:
            return cls(json.load(f))

    def __repr__(self) -> str:
        return (
            f"relaxed.Workspace(channels={self.channels}, samples={self.samples}, "
            f"measurements={self.measurement_names})"
        )


def _patched_model_spec(
    spec: dict[str, Any], patches: Sequence[Any]
) -> tuple[dict[str, Any], list[str]]:
    """Apply ``patches`` in order to a model specification and check the result's schema.

    Returns the patched specification and the patches' labels. If the result is invalid, the
    patch blamed is the one after which the specification became invalid and stayed so.
    """
    if isinstance(patches, Mapping | str) or not isinstance(patches, Sequence):
        raise InvalidPatch(
            f"patches: expected a list of patches, got {type(patches).__name__}", patch="patches"
        )
    documents = [spec]
    labels: list[str] = []
    for i, patch in enumerate(patches):
        where = f"patches[{i}]"
        try:
            documents.append(apply_patch(documents[-1], patch, where=where))
        except InvalidPatch as err:
            pointer = (err.operation or {}).get("path")
            if isinstance(pointer, str) and pointer.split("/")[1:2] not in _MODEL_KEYS:
                err.add_note(
                    "(Workspace.model applies patches to the model specification, which has "
                    "only 'channels' and 'parameters'; use Workspace.patch to change the rest)"
                )
            raise
        labels.append(f"{where} {patch.name!r}" if isinstance(patch, Patch) else where)
    if _validate_inserted_samples(patches, labels):
        return documents[-1], labels
    try:
        schema.validate(documents[-1], kind="model")
    except InvalidSpecification as err:
        for k in range(len(documents) - 2, -1, -1):
            try:
                schema.validate(documents[k], kind="model")
            except InvalidSpecification:
                continue
            raise InvalidPatch(
                f"{labels[k]}: the patched model specification is invalid: {err}",
                patch=labels[k],
                path=err.path,
            ) from err
        raise
    return documents[-1], labels


_SAMPLE_PATH = re.compile(r"^/channels/\d+/samples/(\d+|-)$")


def _validate_inserted_samples(patches: Sequence[Any], labels: list[str]) -> bool:
    """The cheap check for the usual signal patch: if every operation adds or replaces one
    whole sample (``/channels/<i>/samples/<j>``), the patched specification is valid exactly
    when every inserted sample is (the schema has no constraint across samples, and the
    specification was valid before): check only those. Returns False when some operation is
    of another kind (the caller validates the whole specification)."""
    inserted = []
    for patch, label in zip(patches, labels, strict=True):
        operations, _ = _operations_of(patch, label)
        for operation in operations:
            if not (
                isinstance(operation, Mapping)
                and operation.get("op") in ("add", "replace")
                and isinstance(operation.get("path"), str)
                and _SAMPLE_PATH.match(operation["path"])
            ):
                return False
            inserted.append((label, operation))
    for label, operation in inserted:
        try:
            schema.validate(operation["value"], kind="sample")
        except InvalidSpecification as err:
            place = operation["path"].strip("/").split("/")
            inner = err.path
            path = f"channels[{place[1]}].samples[{place[3]}]" + (
                f".{inner}" if inner and not inner.startswith("[") else inner
            )
            message = str(err)[len(inner) + 2 :] if inner else str(err)
            raise InvalidPatch(
                f"{label}: the patched model specification is invalid: {path}: {message}",
                patch=label,
                path=path,
            ) from err
    return True
