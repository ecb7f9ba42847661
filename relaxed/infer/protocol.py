r"""The model protocol: what :mod:`relaxed.infer` asks of a statistical model.

Fits, test statistics, calculators, hypothesis tests, limits and toys work on any object
that offers the methods below, and never ask which kind of model they have. A binned
HistFactory model (:class:`relaxed.Model`), an unbinned one
(:class:`relaxed.unbinned.ExtendedModel`) and a combination of them
(:class:`relaxed.combined.CombinedModel`) all do.

The data of a model are one flat float64 vector (the observed data, then the auxiliary data
of its constraints), the same length for the observed data, the Asimov data and every
pseudo-experiment, so that fits of many data sets are one vmapped call. The model is a JAX
pytree: its arrays are leaves (differentiable), its structure is static.

- ``config``: pyhf's vocabulary: ``npars``, ``par_order``, ``par_names``, ``par_slice(name)``,
  ``poi_index``, ``poi_name``, ``suggested_init()``, ``suggested_bounds()``,
  ``suggested_fixed()``.
- ``logpdf(pars, data)``: :math:`\log L(\theta \mid \text{data})`, shape ``(1,)`` (pyhf's).
- ``expected_data(pars)``: the Asimov data at ``pars``: a data set whose maximum-likelihood
  estimate is ``pars`` (exactly for binned models; to the accuracy of a quadrature for unbinned
  ones).
- ``sample(pars, key)``: one pseudo-experiment drawn from the model at ``pars`` with the JAX
  random key ``key`` (the observed data and the auxiliary data). :func:`toy_keys` derives each
  toy's key from the seed and the toy's global index, so any split of toys into batches,
  shards or devices draws the same toys.
- ``data_array(data)``: the data as a float64 array of the model's length (or a batch of them),
  raising :class:`~relaxed.exceptions.InvalidData` for a wrong shape.
- ``data_limits()``: per entry of the data vector, the lowest and highest valid value
  (``-inf``/``inf`` where there is none); :func:`relaxed.infer.checks.check_data` also
  requires every entry to be finite.
- ``describe_data()``: the layout of the data vector in words (for a shape error);
  ``describe_datum(index)``: what entry ``index`` is and the rule it breaks;
  ``data_rules(name)``: the rules in words (for an error found inside a compiled call).
- ``constrained_parameters()``: the names of the parameters whose constraint terms the model
  holds, one per auxiliary datum (a combination refuses a parameter constrained twice).
- ``prefit_constraints()``: per parameter, its constraint's centre and pre-fit width (NaN for a
  free parameter) and its kind in words, for pulls (:mod:`relaxed.infer.summary`).
- ``structure_key``: a hashable key of the model's static structure (part of the compile key).
- ``start_shift()``: per parameter, the shift (in the units of its constraint) of the extra
  starting points of a fit (:data:`relaxed.infer.mle.START_SHIFTS`): non-zero where the
  likelihood can be multimodal in that parameter, zero elsewhere.
- ``expected_curvature(pars, data)``: a positive semi-definite approximation of the Hessian of
  :math:`-2\log L` (the expected Fisher information), which starts the BFGS method.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

__all__ = ["StatisticalModel", "toy_keys"]


@runtime_checkable
class StatisticalModel(Protocol):
    """The methods :mod:`relaxed.infer` uses (module docstring)."""

    @property
    def config(self) -> Any: ...

    @property
    def structure_key(self) -> Hashable: ...

    def logpdf(self, pars: ArrayLike, data: ArrayLike) -> Array: ...

    def expected_data(self, pars: ArrayLike) -> Array: ...

    def sample(self, pars: Array, key: Array) -> Array: ...

    def data_array(self, data: ArrayLike) -> Array: ...

    def data_limits(self) -> tuple[np.ndarray, np.ndarray]: ...

    def describe_data(self) -> str: ...

    def describe_datum(self, index: int) -> str: ...

    def data_rules(self, name: str) -> str: ...

    def constrained_parameters(self) -> list[str]: ...

    def prefit_constraints(self) -> tuple[np.ndarray, np.ndarray, list[str]]: ...

    def start_shift(self) -> np.ndarray: ...

    def expected_curvature(self, pars: Array, data: Array) -> Array: ...


def toy_keys(key: Array, ntoys: int, first: int = 0) -> Array:
    r"""The random keys of toys ``first, ..., first + ntoys - 1``: toy :math:`i` draws with
    ``jax.random.fold_in(key, i)``, a function of the seed and its global index only (a
    counter-based stream), so that toys 0-999 drawn at once equal toys 0-499 and 500-999
    drawn in two shards.

    Example:
        >>> import jax
        >>> key = jax.random.PRNGKey(7)
        >>> whole = toy_keys(key, 4)
        >>> parts = jax.numpy.concatenate([toy_keys(key, 2), toy_keys(key, 2, first=2)])
        >>> bool((whole == parts).all())
        True
    """
    index = jnp.arange(ntoys, dtype=jnp.uint32) + jnp.asarray(first, dtype=jnp.uint32)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(index)
