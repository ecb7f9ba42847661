"""Read-only views of JSON documents: mappings become ``MappingProxyType``, lists tuples."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["freeze", "thaw"]


def freeze(value: Any) -> Any:
    """A deep read-only copy of a JSON value (mappings and lists, recursively).

    Example:
        >>> frozen = freeze({"a": [1, {"b": 2}]})
        >>> frozen["a"][1]["b"], type(frozen["a"]).__name__
        (2, 'tuple')
        >>> frozen["c"] = 3
        Traceback (most recent call last):
        ...
        TypeError: 'mappingproxy' object does not support item assignment
    """
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable JSON copy (dicts and lists) of a value made by :func:`freeze`.

    Example:
        >>> thaw(freeze({"a": (1, 2)}))
        {'a': [1, 2]}
    """
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value
