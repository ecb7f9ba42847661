r"""Small dense symmetric positive-definite solves in plain JAX operations (no LAPACK call).

Fits are mapped with ``jax.vmap`` (several starting points, toys, scan points, signal
grids). On CPU a batched ``jnp.linalg.solve`` or ``cholesky`` becomes one LAPACK FFI call
that splits its batch over XLA's thread pool and waits for the pieces on that same pool;
when every worker thread is itself inside such a call (two of them on a 2-core machine) the
process deadlocks (relaxed issue 10: ``lapack_dgetrf_ffi`` -> ``ParallelBatchMap`` ->
``BlockingCounter::Wait``). These routines use only matrix-vector products and
elementwise operations inside a ``lax.fori_loop``, so they batch like any other array code.
They are also differentiable (they are ordinary JAX code).

The Cholesky factor :math:`A = LL^\top` is built column by column,

.. math::

    v = A_{:,j} - L L_{j,:}^\top,\qquad L_{jj} = \sqrt{v_j},\qquad
    L_{ij} = v_i / L_{jj}\ (i > j),

and :math:`Ax = b` is solved by forward and back substitution. A matrix that is not
positive definite gives NaN (the square root of a negative pivot), which callers use as the
signal to increase damping.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["cholesky", "cho_solve", "solve_spd", "inv_spd"]


#: Matrices up to this size are factored by straight-line code (the loop written out at trace
#: time, with static indices): a Newton step of a few-parameter fit is then a handful of fused
#: kernels instead of three small XLA while loops, whose per-iteration overhead dominated it.
UNROLL_MAX = 12


def _loop(n: int, body, init: Array) -> Array:
    if n <= UNROLL_MAX:
        for i in range(n):
            init = body(i, init)
        return init
    return jax.lax.fori_loop(0, n, body, init)


def cholesky(a: ArrayLike) -> Array:
    r"""Lower-triangular :math:`L` with :math:`A = LL^\top` (NaN if :math:`A` is not
    positive definite).

    Example:
        >>> import jax.numpy as jnp
        >>> cholesky(jnp.array([[4.0, 2.0], [2.0, 5.0]])).tolist()
        [[2.0, 0.0], [1.0, 2.0]]
    """
    a = jnp.asarray(a)
    n = a.shape[-1]
    rows = jnp.arange(n)

    def column(j: Array, lower: Array) -> Array:
        v = a[:, j] - lower @ lower[j, :]
        pivot = jnp.sqrt(v[j])
        col = jnp.where(rows >= j, v / pivot, 0.0)
        return lower.at[:, j].set(col)

    return _loop(n, column, jnp.zeros_like(a))


def cho_solve(lower: ArrayLike, b: ArrayLike) -> Array:
    r""":math:`x = (LL^\top)^{-1} b` for a Cholesky factor :math:`L` and a vector :math:`b`.

    Example:
        >>> import jax.numpy as jnp
        >>> lower = cholesky(jnp.array([[4.0, 2.0], [2.0, 5.0]]))
        >>> cho_solve(lower, jnp.array([8.0, 9.0])).tolist()
        [1.375, 1.25]
    """
    lower = jnp.asarray(lower)
    b = jnp.asarray(b)
    n = lower.shape[-1]
    diag = jnp.diagonal(lower)

    def forward(i: Array, y: Array) -> Array:  # L y = b, y below i still zero
        return y.at[i].set((b[i] - lower[i, :] @ y) / diag[i])

    def backward(k: Array, x: Array) -> Array:  # L^T x = y, from the last row up
        i = n - 1 - k
        return x.at[i].set((y[i] - lower[:, i] @ x) / diag[i])

    y = _loop(n, forward, jnp.zeros_like(b))
    return _loop(n, backward, jnp.zeros_like(b))


def solve_spd(a: ArrayLike, b: ArrayLike) -> Array:
    r""":math:`x = A^{-1} b` for a symmetric positive-definite :math:`A`.

    Example:
        >>> import jax.numpy as jnp
        >>> solve_spd(jnp.array([[4.0, 2.0], [2.0, 5.0]]), jnp.array([8.0, 9.0])).tolist()
        [1.375, 1.25]
    """
    return cho_solve(cholesky(a), b)


def inv_spd(a: ArrayLike) -> Array:
    r""":math:`A^{-1}` for a symmetric positive-definite :math:`A`, by the sweep operator
    (Goodnight 1979): sweeping pivot :math:`k` maps

    .. math::

        A_{ij} \to A_{ij} - A_{ik}A_{kj}/A_{kk},\quad
        A_{ik} \to A_{ik}/A_{kk},\quad A_{kk} \to -1/A_{kk},

    and sweeping every pivot leaves :math:`-A^{-1}`. The pivots are the Schur complements
    of a positive-definite matrix, so they are positive; a pivot that is not (a matrix that
    is not positive definite) gives NaN. One loop of :math:`n` rank-one updates (a
    Cholesky factor and :math:`2n` substitutions would take three loops).

    Example:
        >>> import jax.numpy as jnp
        >>> inv_spd(jnp.array([[4.0, 2.0], [2.0, 5.0]])).tolist()
        [[0.3125, -0.125], [-0.125, 0.25]]
    """
    a = jnp.asarray(a)

    def sweep(k: Array, m: Array) -> Array:
        col = m[:, k]
        # a non-positive pivot poisons the whole matrix
        pivot = jnp.where(col[k] > 0, col[k], jnp.nan)
        scaled = col / pivot
        m = (m - jnp.outer(col, scaled)).at[k, :].set(scaled).at[:, k].set(scaled)
        return m.at[k, k].set(-1.0 / pivot)

    inverse = -_loop(a.shape[-1], sweep, a)
    return 0.5 * (inverse + inverse.T)
