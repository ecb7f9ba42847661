"""The HistFactory JSON schema (version 1.0.0, pyhf's format) and validation with readable errors.

:func:`validate` checks a workspace or a model specification against
``workspace-1.0.0.json`` (shipped with the package) and raises
:class:`relaxed.exceptions.InvalidSpecification` naming the first problem and its place in the
document as a path such as ``channels[0].samples[1].modifiers[1].type``.

Specifications may hold JAX or NumPy arrays (also traced ones, inside ``jax.grad`` or
``jax.jit``) where the JSON format has lists of numbers: :func:`skeleton` replaces them by lists
of the same shape before validation, so structure is checked and values are left to the model
builder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema

from relaxed.exceptions import InvalidSpecification

__all__ = ["VERSION", "MODIFIER_TYPES", "load_schema", "skeleton", "validate"]

#: The version of the workspace format this schema describes.
VERSION = "1.0.0"

#: The seven HistFactory modifier types.
MODIFIER_TYPES = (
    "histosys",
    "lumi",
    "normfactor",
    "normsys",
    "shapefactor",
    "shapesys",
    "staterror",
)


@cache
def load_schema() -> dict[str, Any]:
    """The JSON schema document (``workspace-1.0.0.json``) as a dict."""
    text = resources.files(__name__).joinpath(f"workspace-{VERSION}.json").read_text()
    return json.loads(text)


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    document = load_schema()
    schema = {**document, "$ref": f"#/$defs/{kind}"}
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)  # the document itself is checked by the tests


def skeleton(spec: Any) -> Any:
    """A copy of ``spec`` with arrays (NumPy, JAX, tracers) and tuples turned into lists.

    Array entries become ``0.0`` (their values are checked by the model builder, and a traced
    value has none yet); nested structure and shapes are kept, so the schema can check them.

    Example:
        >>> import numpy as np
        >>> skeleton({"data": np.ones((2,)), "hi": (1.0, 2.0), "name": "a"})
        {'data': [0.0, 0.0], 'hi': [1.0, 2.0], 'name': 'a'}
    """
    if isinstance(spec, Mapping):
        return {key: skeleton(value) for key, value in spec.items()}
    if isinstance(spec, list | tuple):
        return [skeleton(value) for value in spec]
    if spec is None or isinstance(spec, str | bool | int | float):
        return spec
    shape = getattr(spec, "shape", None)
    if shape is None:
        return spec
    return _zeros(tuple(shape))


def _zeros(shape: tuple[int, ...]) -> Any:
    if not shape:
        return 0.0
    return [_zeros(shape[1:]) for _ in range(shape[0])]


#: Shapes (see :func:`_shape`) of documents known to be valid, per kind.
_VALID: set[tuple[str, Any]] = set()


@cache
def _constrained_strings() -> dict[str, frozenset[Any]]:
    """Object key -> the values the schema compares its strings with (``const``/``enum``:
    modifier types, the name ``lumi``, the version). Any other string is only checked to be
    a string, so all other strings under that key behave alike."""
    keys: dict[str, set[Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if isinstance(sub, dict) and "const" in sub:
                    keys.setdefault(key, set()).add(sub["const"])
                if isinstance(sub, dict) and "enum" in sub:
                    keys.setdefault(key, set()).update(sub["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load_schema())
    return {key: frozenset(values) for key, values in keys.items()}


def _shape(document: Any, key: str | None = None) -> Any:
    """What the schema's verdict depends on: the document with every number, string and
    boolean replaced by its JSON type, except strings equal to a value the schema compares
    with. The schema
    has no numeric ranges, so two documents of equal shape are valid or invalid together
    (this lets the many signal samples of a patch set share one validation)."""
    if isinstance(document, dict):
        return ("object", tuple((k, _shape(v, k)) for k, v in document.items()))
    if isinstance(document, list):
        return ("array", tuple(_shape(v) for v in document))
    if isinstance(document, bool):
        return "boolean"
    if isinstance(document, int):
        return "integer"
    if isinstance(document, float):
        return "number"
    if isinstance(document, str):
        return ("string", document) if document in _constrained_strings().get(key, ()) else "string"
    return ("other", type(document).__name__, repr(document))


def _format_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return f"missing required key: {error.message.split(' is a required')[0]}"
    if error.validator == "additionalProperties":
        return f"unexpected key ({error.message})"
    if error.validator == "enum" and list(error.path)[-1:] == ["type"]:
        return f"unknown modifier type {error.instance!r}; the types are " + ", ".join(
            MODIFIER_TYPES
        )
    if error.validator == "const" and list(error.path)[-1:] == ["version"]:
        return f"unsupported version {error.instance!r}; this schema is version {VERSION}"
    return error.message


def _priority(error: jsonschema.ValidationError) -> tuple[int, int]:
    # Report the deepest error first (it names the most specific place), and among those at
    # the same depth prefer the one about a modifier's type (it explains the rest).
    is_type = list(error.path)[-1:] == ["type"]
    return (-len(error.path), 0 if is_type else 1)


def validate(
    spec: Mapping[str, Any], kind: Literal["workspace", "model", "sample"] = "workspace"
) -> None:
    """Check ``spec`` against the HistFactory JSON schema 1.0.0.

    Args:
        spec: a workspace (``channels``, ``measurements``, ``observations``, ``version``) or a
            model specification (``channels`` and optional ``parameters``).
        kind: ``"workspace"``, ``"model"``, or ``"sample"`` (one sample of a channel: what a
            signal patch adds).

    Raises:
        relaxed.exceptions.InvalidSpecification: with ``.path`` the place of the problem.

    Example:
        >>> spec = {"channels": [{"name": "SR", "samples": [{"name": "sig", "data": [1.0],
        ...     "modifiers": [{"name": "mu", "type": "normfactr", "data": None}]}]}]}
        >>> try:
        ...     validate(spec, kind="model")
        ... except InvalidSpecification as err:
        ...     print(err.path)
        channels[0].samples[0].modifiers[0].type
    """
    if kind not in ("workspace", "model", "sample"):
        raise ValueError(f"kind must be 'workspace', 'model' or 'sample', got {kind!r}")
    if not isinstance(spec, Mapping):
        raise InvalidSpecification(
            f"a {kind} specification must be a JSON object (dict), got {type(spec).__name__}"
        )
    document = skeleton(spec)
    key = (kind, _shape(document))
    if key in _VALID:
        return
    errors = list(_validator(kind).iter_errors(document))
    if not errors:
        if len(_VALID) >= 4096:
            _VALID.clear()
        _VALID.add(key)
        return
    error = sorted(errors, key=_priority)[0]
    raise InvalidSpecification(_message(error), _format_path(error.absolute_path))
