"""relaxed: differentiable HEP statistics in JAX.

Importing relaxed turns on 64-bit floats in JAX (``jax_enable_x64``): statistics run in
float64, as pyhf does. Networks can still run in float32 by asking for it explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)

from relaxed import cache  # noqa: E402

cache.set_cache_dir(cache.default_cache_dir())

from relaxed import (  # noqa: E402  (after Model: they build on it)
    exceptions,  # noqa: E402
    infer,
    metrics,
)
from relaxed.histfactory import Model, ModelConfig, Patch, PatchSet, Workspace  # noqa: E402
from relaxed.ops import cut, hist  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``relaxed.hs3`` on first use (it is not needed to build or fit a pyhf model, and a
    cold ``neos`` command should not pay for importing it)."""
    if name == "hs3":
        import importlib

        return importlib.import_module("relaxed.hs3")
    raise AttributeError(f"module 'relaxed' has no attribute {name!r}")


__all__ = [
    "Model",
    "ModelConfig",
    "Patch",
    "PatchSet",
    "Workspace",
    "cache",
    "cut",
    "exceptions",
    "hist",
    "hs3",
    "infer",
    "metrics",
    "__version__",
]
