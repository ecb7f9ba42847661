"""Statistical inference: fits, test statistics, calculators, hypothesis tests, upper limits.

The API follows ``pyhf.infer`` (same names, signatures and return structures); every result is
a JAX array, jit-able, vmap-able and differentiable. :func:`fit_summary` (module
:mod:`relaxed.infer.summary`) prints a fit result with pulls and correlations.

Inputs are checked before anything is computed (:mod:`relaxed.infer.checks`); inside
``jax.jit``/``vmap``/``grad`` the checks cannot raise, and :func:`checked` turns them into the
same errors after a compiled call.
"""

from relaxed.infer import calculators, checks, grid, intervals, mle, summary, test_statistics
from relaxed.infer.checks import checked
from relaxed.infer.hypotest import hypotest
from relaxed.infer.intervals import upper_limit
from relaxed.infer.summary import fit_summary

__all__ = [
    "checks",
    "checked",
    "mle",
    "test_statistics",
    "calculators",
    "intervals",
    "grid",
    "summary",
    "hypotest",
    "upper_limit",
    "fit_summary",
]
