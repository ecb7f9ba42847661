"""Statistical inference: fits, test statistics, calculators, hypothesis tests, upper limits.

The API follows ``pyhf.infer`` (same names, signatures and return structures); every result is
a JAX array, jit-able, vmap-able and differentiable. :func:`fit_summary` (module
:mod:`relaxed.infer.summary`) prints a fit result with pulls and correlations.

Inputs are checked before anything is computed (:mod:`relaxed.infer.checks`); inside
``jax.jit``/``vmap``/``grad`` the checks cannot raise, and :func:`checked` turns them into the
same errors after a compiled call. :mod:`relaxed.infer.toys` runs toys in chunks, over
several devices, or in shards on several machines, with the numbers of one run;
:mod:`relaxed.infer.scans` does the same for the points of a POI scan.
"""

from relaxed.infer import (
    calculators,
    checks,
    grid,
    intervals,
    mle,
    scans,
    summary,
    test_statistics,
    toys,
)
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
    "toys",
    "scans",
    "summary",
    "hypotest",
    "upper_limit",
    "fit_summary",
]
