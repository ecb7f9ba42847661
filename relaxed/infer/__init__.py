"""Statistical inference: fits, test statistics, calculators, hypothesis tests, upper limits.

The API follows ``pyhf.infer`` (same names, signatures and return structures); every result is
a JAX array, jit-able, vmap-able and differentiable.
"""

from relaxed.infer import calculators, intervals, mle, test_statistics
from relaxed.infer.hypotest import hypotest
from relaxed.infer.intervals import upper_limit

__all__ = ["mle", "test_statistics", "calculators", "intervals", "hypotest", "upper_limit"]
