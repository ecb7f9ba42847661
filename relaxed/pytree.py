"""Frozen dataclasses as JAX pytrees, the way equinox declares its modules.

A field is a leaf (an array that ``jit``, ``vmap`` and ``grad`` trace) unless it is declared
with :func:`static_field`; static fields are the tree's auxiliary data: part of its structure,
compared with ``==`` and hashed into jit's cache key.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax

__all__ = ["leaf_fields", "pytree_dataclass", "static_field"]

T = TypeVar("T")


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is static: part of the tree structure, not a leaf.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass
        ... class Point:
        ...     label: str = static_field()
        ...     x: float = 0.0
        >>> leaf_fields(Point)
        ('x',)
    """
    metadata = {**kwargs.pop("metadata", {}), "static": True}
    return dataclasses.field(metadata=metadata, **kwargs)


def leaf_fields(cls: type) -> tuple[str, ...]:
    """The names of the leaf (non-static) fields of a dataclass, in declaration order.

    Example:
        >>> from relaxed.histfactory.model import Model
        >>> leaf_fields(Model)[:2]
        ('_nominal', '_normsys_log_hi')
    """
    return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("static"))


def _static_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("static"))


def pytree_dataclass(cls: type[T]) -> type[T]:
    """Register the dataclass ``cls`` as a pytree and give it ``tree_flatten`` and
    ``tree_unflatten``: the leaves are its non-static fields in declaration order, the
    auxiliary data the value of its static field (the tuple of their values if there are
    several). Unflattening does not call ``__init__``.

    Example:
        >>> import dataclasses
        >>> import jax.numpy as jnp
        >>> @pytree_dataclass
        ... @dataclasses.dataclass(frozen=True)
        ... class Scaled:
        ...     name: str = static_field()
        ...     x: jax.Array = None
        >>> leaves, treedef = jax.tree_util.tree_flatten(Scaled("a", jnp.ones(2)))
        >>> doubled = jax.tree_util.tree_map(lambda v: 2 * v, Scaled("a", jnp.ones(2)))
        >>> len(leaves), doubled.name, doubled.x.tolist()
        (1, 'a', [2.0, 2.0])
    """
    leaves = leaf_fields(cls)
    static = _static_fields(cls)
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in leaves)

    def aux_data(obj: Any) -> Any:
        values = tuple(getattr(obj, name) for name in static)
        return values[0] if len(values) == 1 else values

    def flatten(obj: Any) -> tuple[tuple[Any, ...], Any]:
        return tuple(getattr(obj, name) for name in leaves), aux_data(obj)

    def flatten_with_keys(obj: Any) -> tuple[tuple[tuple[Any, Any], ...], Any]:
        children = tuple(zip(keys, (getattr(obj, name) for name in leaves), strict=True))
        return children, aux_data(obj)

    def unflatten(aux: Any, children: Any) -> Any:
        obj = object.__new__(cls)
        values = (aux,) if len(static) == 1 else tuple(aux)
        for name, value in zip(static, values, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(leaves, children, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    def tree_unflatten(_: type, aux: Any, children: Any) -> Any:
        return unflatten(aux, children)

    cls.tree_flatten = flatten  # type: ignore[attr-defined]
    cls.tree_unflatten = classmethod(tree_unflatten)  # type: ignore[attr-defined]
    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
