"""A HistFactory engine in pure JAX, numerically identical to pyhf 0.7.6.

The JSON workspace format (schema 1.0.0) and pyhf's patch sets (signal points as JSON Patch
documents), every modifier type, and a model that is a JAX pytree: build it from traced yields,
differentiate through it, ``jit`` and ``vmap`` it.
"""

from relaxed.histfactory import interpolation, modifiers, schema
from relaxed.histfactory.config import DEFAULT_MODIFIER_SETTINGS, ModelConfig, ParamSet
from relaxed.histfactory.model import Model, normal_logpdf, poisson_logpdf
from relaxed.histfactory.patchset import Patch, PatchSet
from relaxed.histfactory.workspace import Workspace

__all__ = [
    "DEFAULT_MODIFIER_SETTINGS",
    "Model",
    "ModelConfig",
    "ParamSet",
    "Patch",
    "PatchSet",
    "Workspace",
    "interpolation",
    "modifiers",
    "normal_logpdf",
    "poisson_logpdf",
    "schema",
]
