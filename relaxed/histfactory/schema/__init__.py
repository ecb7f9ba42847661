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
    cls.check_schema(schema)
    return cls(schema)


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


def validate(spec: Mapping[str, Any], kind: Literal["workspace", "model"] = "workspace") -> None:
    """Check ``spec`` against the HistFactory JSON schema 1.0.0.

    Args:
        spec: a workspace (``channels``, ``measurements``, ``observations``, ``version``) or a
            model specification (``channels`` and optional ``parameters``).
        kind: ``"workspace"`` or ``"model"``.

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
    if kind not in ("workspace", "model"):
        raise ValueError(f"kind must be 'workspace' or 'model', got {kind!r}")
    if not isinstance(spec, Mapping):
        raise InvalidSpecification(
            f"a {kind} specification must be a JSON object (dict), got {type(spec).__name__}"
        )
    errors = list(_validator(kind).iter_errors(skeleton(spec)))
    if not errors:
        return
    error = sorted(errors, key=_priority)[0]
    raise InvalidSpecification(_message(error), _format_path(error.absolute_path))
