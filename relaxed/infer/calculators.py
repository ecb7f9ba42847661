r"""Distributions of the test statistics: asymptotic (Asimov) and toy-based, as pyhf 0.7.6.

**Asymptotics** (Cowan et al., arXiv:1007.1727). The Asimov data set :math:`n_A` is the
expected data (main and auxiliary) at the conditional fit :math:`\hat{\hat\theta}(\mu')` to the
observed data, with :math:`\mu' = 0` for :math:`q_\mu, \tilde q_\mu` and :math:`\mu' = 1` for
:math:`q_0`. With :math:`q_{\mu,A}` the statistic evaluated on it, the test statistic lives in
:math:`\hat\mu/\sigma` space,

.. math::

    t = \begin{cases} \sqrt{q_\mu} - \sqrt{q_{\mu,A}} & q_\mu, q_0,\ \text{or }
            \sqrt{q_\mu} \le \sqrt{q_{\mu,A}} \\
        \dfrac{\tilde q_\mu - q_{\mu,A}}{2\sqrt{q_{\mu,A}}} & \tilde q_\mu,\
            \sqrt{\tilde q_\mu} > \sqrt{q_{\mu,A}} \end{cases}

and is normal with unit width: centred at :math:`-\sqrt{q_{\mu,A}}` under signal plus
background and at 0 under background only. So

.. math::

    \mathrm{CL}_{s+b} = \Phi\big(-(t + \sqrt{q_{\mu,A}})\big),\qquad
    \mathrm{CL}_b = \Phi(-t),\qquad \mathrm{CL}_s = \mathrm{CL}_{s+b}/\mathrm{CL}_b,

and the expected band evaluates the same at :math:`t = N` for :math:`N \in (2, 1, 0, -1, -2)`
(the median and :math:`\pm1, \pm2\,\sigma` of the background-only distribution), giving
:math:`\mathrm{CL}_s` values ordered from :math:`-2\sigma` to :math:`+2\sigma`.

**Toys**. Pseudo-data are sampled from the model at the conditional fits for the tested
:math:`\mu` and for the background-only value (main bins Poisson, auxiliary data from the
constraints: Normal for Gaussian constraints, Poisson for Poisson constraints). All toys are
generated and fitted in one vmapped, jit-compiled call (:mod:`relaxed.infer.toys` runs them in
chunks, over several devices or as shards on several machines, with the same numbers).
:math:`p`-values are tail fractions, :math:`p = \#\{q_i \ge q_\text{obs}\}/N`; the expected
band is the :math:`(2.275, 15.87, 50, 84.13, 97.72)` percentiles of the :math:`p`-values
computed for each background-only toy taken as the observation.

A toy whose free or conditional fit does not converge is dropped from its distribution and
counted (``HypoTestResult.nonconverged_sb``, ``nonconverged_b``; pyhf issue #1427): the tail
fractions and percentiles above are taken over the :math:`N' \le N` converged toys of each
hypothesis. Averaging a failed fit in would bias the tails (a fit stopped early has a
too-large :math:`-2\log L`, hence a too-large test statistic).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.scipy.special import ndtr
from jax.typing import ArrayLike

from relaxed.exceptions import InvalidParameters
from relaxed.histfactory.model import Model
from relaxed.infer import checks, mle
from relaxed.infer.mle import SolverOptions, fixed_poi_fit
from relaxed.infer.protocol import toy_keys
from relaxed.infer.test_statistics import from_fits, get_test_stat

__all__ = [
    "AsymptoticCalculator",
    "AsymptoticTestStatDistribution",
    "EmpiricalDistribution",
    "HypoTestFitResults",
    "HypoTestResult",
    "ToyCalculator",
    "ToyStats",
    "asymptotic_result",
    "generate_asimov_data",
    "sample_data",
    "toy_result",
]

#: Background-only quantiles (in standard deviations) of the expected band, pyhf's order.
EXPECTED_NSIGMA = (2.0, 1.0, 0.0, -1.0, -2.0)
#: Percentiles of the standard normal at -2, -1, 0, 1, 2 sigma, as pyhf's toy calculator.
NORMAL_PERCENTILES = (2.27501319, 15.86552539, 50.0, 84.13447461, 97.72498681)
CALC_BASE_DISTS = ("normal", "clipped_normal")
#: A toy (or observed) data set whose free fit's -2 log L exceeds the conditional fit's by more
#: than this counts as not converged: the free fit stopped in a higher local minimum.
FIT_ORDER_TOLERANCE = 1e-6


def _safe_sqrt(x: Array) -> Array:
    """:math:`\\sqrt{x}` with a zero (not infinite) derivative at :math:`x = 0`."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


class _Config(NamedTuple):
    """Static fit configuration (part of the compile key)."""

    bounds: tuple[tuple[float, float], ...]
    fixed: tuple[bool, ...]
    solver: SolverOptions = SolverOptions()

    @property
    def settings(self) -> mle.NewtonSettings:
        return mle.settings_from(self.bounds, self.fixed, self.solver)


_DEFAULTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _defaults(pdf: Model) -> tuple[Array, tuple[tuple[float, float], ...], tuple[bool, ...]]:
    """``suggested_init``, ``suggested_bounds`` and ``suggested_fixed`` as an array and tuples,
    computed once per concrete model (repeated tests of one model pay no Python overhead)."""
    cached = _DEFAULTS.get(pdf)
    if cached is not None:
        return cached
    cfg = pdf.config
    init = jnp.asarray(cfg.suggested_init(), jnp.float64)
    bounds = tuple((float(lo), float(hi)) for lo, hi in cfg.suggested_bounds())
    fixed = tuple(bool(f) for f in cfg.suggested_fixed())
    result = (init, bounds, fixed)
    # never keep a tracer: under a transformation even jnp.asarray of constants is staged
    if not checks.is_traced(pdf, init):
        _DEFAULTS[pdf] = result
    return result


def _resolve(
    pdf: Model,
    init_pars: ArrayLike | None,
    par_bounds: Sequence[Sequence[float]] | None,
    fixed_params: Sequence[bool] | None,
    solver: SolverOptions | None = None,
) -> tuple[Array, _Config]:
    """pyhf's defaults (``suggested_*``) and a hashable configuration, checked
    (:mod:`relaxed.infer.checks`: bounds, fixed flags, ``init_pars`` inside the bounds)."""
    init, bounds, fixed = _defaults(pdf)
    if par_bounds is not None:
        bounds = checks.check_bounds(par_bounds, pdf)
    if fixed_params is not None:
        fixed = checks.check_fixed(fixed_params, pdf)
    if init_pars is not None:
        checks.check_pars(init_pars, pdf, "init_pars", bounds)
        init = jnp.asarray(init_pars, jnp.float64)
    else:
        checks.check_pars(init, pdf, "suggested_init()", bounds)
    solver = SolverOptions() if solver is None else solver
    return init, _Config(bounds, fixed, solver)


def _check_test_stat(test_stat: str) -> None:
    get_test_stat(test_stat)


def _check_base_dist(calc_base_dist: str) -> None:
    if calc_base_dist not in CALC_BASE_DISTS:
        raise InvalidParameters(
            f"unknown calc_base_dist {calc_base_dist!r}; choose one of {list(CALC_BASE_DISTS)}"
        )


def generate_asimov_data(
    asimov_mu: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    return_fitted_pars: bool = False,
) -> Any:
    r"""The Asimov data set :math:`n_A = \nu(\mu', \hat{\hat\theta}(\mu'))`, auxdata included.

    The nuisance parameters come from the conditional fit at :math:`\mu'` = ``asimov_mu`` to the
    observed ``data`` (pyhf's convention). With ``return_fitted_pars`` also returns those fitted
    parameters.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> [round(v, 4) for v in generate_asimov_data(1.0, data, model).tolist()]
        [60.6123, 56.5279, 270.0685, 48.3153]
    """
    pars = fixed_poi_fit(asimov_mu, data, pdf, init_pars, par_bounds, fixed_params)
    asimov = pdf.expected_data(pars)
    return (asimov, pars) if return_fitted_pars else asimov


class AsymptoticTestStatDistribution(NamedTuple):
    r"""Normal distribution of the test statistic in :math:`\hat\mu/\sigma` space.

    Unit width, mean ``shift``; values below ``cutoff`` are not allowed (``cutoff = -inf`` for
    pyhf's ``"normal"`` base distribution, :math:`-\sqrt{q_{\mu,A}}` for ``"clipped_normal"``).

    Example:
        >>> d = AsymptoticTestStatDistribution(0.0)
        >>> float(d.cdf(0.0)), round(float(d.pvalue(1.0)), 10)
        (0.5, 0.1586552539)
        >>> d.expected_value(jnp.array([-1.0, 2.0])).tolist()
        [-1.0, 2.0]
    """

    shift: ArrayLike
    cutoff: ArrayLike = -jnp.inf

    def cdf(self, value: ArrayLike) -> Array:
        r""":math:`\Phi(t - \text{shift})`."""
        return ndtr(jnp.asarray(value) - self.shift)

    def pvalue(self, value: ArrayLike) -> Array:
        r"""Right tail :math:`\Phi(-(t - \text{shift}))`; NaN below the cutoff (as pyhf)."""
        value = jnp.asarray(value)
        return jnp.where(value >= self.cutoff, ndtr(-(value - self.shift)), jnp.nan)

    def expected_value(self, nsigma: ArrayLike) -> Array:
        r""":math:`\max(\text{shift} + N, \text{cutoff})`."""
        value = self.shift + jnp.asarray(nsigma, dtype=jnp.float64)
        return jnp.where(value > self.cutoff, value, self.cutoff)


class EmpiricalDistribution(NamedTuple):
    r"""The distribution of sampled test statistics :math:`q_1, \dots, q_N`.

    Example:
        >>> d = EmpiricalDistribution(jnp.array([0.0, 1.0, 2.0, 3.0]))
        >>> float(d.pvalue(1.0)), float(d.expected_value(0.0))
        (0.75, 1.5)
    """

    samples: Array

    def pvalue(self, value: ArrayLike) -> Array:
        r""":math:`p = \#\{q_i \ge q\}/N` (works elementwise on an array of values)."""
        ordered = jnp.sort(jnp.ravel(self.samples))
        below = jnp.searchsorted(ordered, jnp.asarray(value, dtype=ordered.dtype), side="left")
        return (ordered.shape[0] - below).astype(ordered.dtype) / ordered.shape[0]

    def expected_value(self, nsigma: ArrayLike) -> Array:
        r"""The :math:`100\,\Phi(N)`-th percentile (linear interpolation, as numpy)."""
        q = ndtr(jnp.asarray(nsigma, dtype=jnp.float64)) * 100.0
        return jnp.percentile(jnp.ravel(self.samples), q, method="linear")


class HypoTestFitResults(NamedTuple):
    """The fitted parameters of the asymptotic calculator's fits (pyhf's names): the Asimov
    parameters, the free and the fixed-POI fits to the data and to the Asimov data.

    Example:
        >>> HypoTestFitResults._fields[:2]
        ('asimov_pars', 'free_fit_to_data')
    """

    asimov_pars: Array
    free_fit_to_data: Array
    free_fit_to_asimov: Array
    fixed_poi_fit_to_data: Array
    fixed_poi_fit_to_asimov: Array


class HypoTestResult(NamedTuple):
    r"""Everything a hypothesis test computes, as JAX arrays.

    Attributes:
        CLsb, CLb, CLs: observed :math:`p`-values.
        CLsb_exp, CLb_exp, CLs_exp: expected values, shape (5,), :math:`-2\sigma \dots +2\sigma`.
        teststat: the calculator's test statistic for the observed data (in
            :math:`\hat\mu/\sigma` space for asymptotics, :math:`q` itself for toys).
        q, q_A: the test statistic on the observed and on the Asimov data.
        converged: whether every fit behind the result converged (``hypotest`` raises
            :class:`~relaxed.exceptions.FailedMinimization` when it is false on concrete
            values). For toys: the fits to the observed and the Asimov data and the fits
            that make the toys, and at least one toy of each hypothesis; toys whose own fits
            fail are dropped and counted instead (``nonconverged_sb``, ``nonconverged_b``).
        nonconverged_sb, nonconverged_b: toys (signal plus background, background only)
            whose fits did not converge: left out of the distributions, so the
            :math:`p`-values are fractions of the converged toys (0 for asymptotics).

    Example:
        >>> import relaxed
        >>> from relaxed.infer.hypotest import hypotest_result
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> result = hypotest_result(1.0, [51.0, 48.0] + model.config.auxdata.tolist(), model)
        >>> round(float(result.CLs), 6), round(float(result.CLsb / result.CLb), 6)
        (0.052516, 0.052516)
    """

    CLsb: Array
    CLb: Array
    CLs: Array
    CLsb_exp: Array
    CLb_exp: Array
    CLs_exp: Array
    teststat: Array
    q: Array
    q_A: Array
    converged: Array = True
    nonconverged_sb: Array = 0
    nonconverged_b: Array = 0


def _pvalues(teststat: Array, sb: Any, b: Any) -> tuple[Array, Array, Array]:
    clsb = sb.pvalue(teststat)
    clb = b.pvalue(teststat)
    return clsb, clb, clsb / clb


# -- asymptotics ----------------------------------------------------------------------------
def _poi_init(init: Array, poi: int, mu: ArrayLike) -> Array:
    return init.at[poi].set(jnp.asarray(mu, dtype=init.dtype))


def _asimov_stats_many(
    pdf: Model, data: Array, poi_tests: Array, init: Array, config: _Config, test_stat: str
) -> tuple[Array, Array, Array, HypoTestFitResults, Array]:
    r"""(t, q, q_A, fitted parameters, converged) of the asymptotic calculator at ``k`` values
    of the POI at once (``poi_tests`` of shape (k,); the results have a leading axis k).

    The ``2k + 1`` fits run in two stages of ``k + 1`` lanes of one vmapped solver, driven by
    ``lax.scan`` so that the compiled program holds a single copy of the solver; the fits
    that do not depend on :math:`\mu` are done once for all ``k`` values:

    - stage 0, on the observed data: the conditional fit at :math:`\mu'` that makes the
      Asimov data, the free fit, and the conditional fits at the first ``k - 1`` values;
    - stage 1: the conditional fit to the observed data at the last value, and the
      conditional fits to the Asimov data at each :math:`\mu`, started from the parameters
      :math:`\hat\theta_{\mu'}` that made the Asimov data.

    The free fit to the Asimov data is not run: its minimum is :math:`\hat\theta_{\mu'}`
    exactly (there every Poisson and constraint term is at its own minimum, since the data
    equal their expectation), so its value is one evaluation of the likelihood there. Its
    derivatives are those of the minimum (envelope theorem: the gradient in the parameters
    vanishes at :math:`\hat\theta_{\mu'}`).
    """
    settings = config.settings
    nstarts = config.solver.nstarts
    poi = pdf.config.poi_index
    k = poi_tests.shape[0]
    asimov_mu = 1.0 if test_stat == "q0" else 0.0
    mus = jnp.zeros_like(poi_tests) if test_stat == "q0" else poi_tests
    conds = jax.vmap(lambda mu: _poi_init(init, poi, mu))(mus)
    # lanes: stage 0 = [mu', free, data conds 0..k-2]; stage 1 = [data cond k-1, Asimov conds]
    inits = jnp.concatenate([_poi_init(init, poi, asimov_mu)[None], init[None], conds, conds])
    inits = inits.reshape(2, k + 1, -1)
    fix_poi = jnp.ones((2, k + 1), dtype=bool).at[0, 1].set(False)
    on_asimov = jnp.ones((2, k + 1), dtype=bool).at[0].set(False).at[1, 0].set(False)

    def stage(
        carry: tuple[Array, Array], xs: tuple[Array, Array, Array]
    ) -> tuple[tuple[Array, Array], mle.FitResult]:
        asimov, made_at = carry
        lane_init, lane_fix, lane_asimov = xs
        lane_data = jnp.where(lane_asimov[:, None], asimov, data)
        # the Asimov fits start where the Asimov data were made (their minima are near)
        warm = jax.vmap(lambda x0: _poi_init(made_at, poi, x0[poi]))(lane_init)
        lane_init = jnp.where(lane_asimov[:, None], warm, lane_init)
        fits = mle.fit_batch(pdf, lane_data, lane_init, lane_fix, settings, nstarts)
        made = jnp.where(lane_asimov.any(), made_at, fits.bestfit[0])
        return (jnp.where(lane_asimov.any(), asimov, pdf.expected_data(made)), made), fits

    (asimov, made_at), staged = jax.lax.scan(stage, (data, init), (inits, fix_poi, on_asimov))
    nll, pars, ok = staged.twice_nll, staged.bestfit, staged.converged
    free_nll_A = mle.twice_nll(made_at, asimov, pdf)
    cond_nll = jnp.concatenate([nll[0, 2:], nll[1, :1]])
    cond_pars = jnp.concatenate([pars[0, 2:], pars[1, :1]])
    cond_ok = jnp.concatenate([ok[0, 2:], ok[1, :1]])
    qmu_v = from_fits(test_stat, mus, cond_nll, nll[0, 1], pars[0, 1, poi])
    qmuA_v = from_fits(test_stat, mus, nll[1, 1:], free_nll_A, made_at[poi])
    sqrtqmu = _safe_sqrt(qmu_v)
    sqrtqmuA = _safe_sqrt(qmuA_v)
    teststat = sqrtqmu - sqrtqmuA
    if test_stat == "qtilde":
        # without sensitivity (q_A = 0, e.g. at mu = 0) the wide branch is undefined; there
        # q_mu is zero up to rounding, and the narrow branch gives pyhf's t = 0 continuously
        positive = sqrtqmuA > 0
        wide = (qmu_v - qmuA_v) / (2.0 * jnp.where(positive, sqrtqmuA, 1.0))
        teststat = jnp.where((sqrtqmu <= sqrtqmuA) | ~positive, teststat, wide)
    fitted = HypoTestFitResults(made_at, pars[0, 1], made_at, cond_pars, pars[1, 1:])
    converged = ok[0, 0] & ok[0, 1] & cond_ok & ok[1, 1:]
    return teststat, qmu_v, qmuA_v, fitted, converged


def _asimov_stats(
    pdf: Model, data: Array, poi_test: Array, init: Array, config: _Config, test_stat: str
) -> tuple[Array, Array, Array, HypoTestFitResults, Array]:
    """:func:`_asimov_stats_many` at one value of the POI (scalar results)."""
    teststat, q, q_A, fitted, converged = _asimov_stats_many(
        pdf, data, jnp.reshape(poi_test, (1,)), init, config, test_stat
    )
    fitted = fitted._replace(
        fixed_poi_fit_to_data=fitted.fixed_poi_fit_to_data[0],
        fixed_poi_fit_to_asimov=fitted.fixed_poi_fit_to_asimov[0],
    )
    return teststat[0], q[0], q_A[0], fitted, converged[0]


def _asymptotic_dists(
    sqrtqmuA: Array, calc_base_dist: str
) -> tuple[AsymptoticTestStatDistribution, AsymptoticTestStatDistribution]:
    cutoff = -sqrtqmuA if calc_base_dist == "clipped_normal" else -jnp.inf
    return (
        AsymptoticTestStatDistribution(-sqrtqmuA, cutoff),
        AsymptoticTestStatDistribution(jnp.zeros_like(sqrtqmuA), cutoff),
    )


def _expected_asymptotic(sb: Any, b: Any) -> tuple[Array, Array, Array]:
    values = b.expected_value(jnp.asarray(EXPECTED_NSIGMA))
    return _pvalues(values, sb, b)


def _asymptotic_pvalues(
    teststat: Array, q: Array, q_A: Array, calc_base_dist: str, converged: Array = True
) -> HypoTestResult:
    sb, b = _asymptotic_dists(_safe_sqrt(q_A), calc_base_dist)
    observed = _pvalues(teststat, sb, b)
    expected = _expected_asymptotic(sb, b)
    return HypoTestResult(*observed, *expected, teststat, q, q_A, jnp.asarray(converged))


def _asymptotic_result(
    pdf: Model,
    data: Array,
    poi_test: Array,
    init: Array,
    config: _Config,
    test_stat: str,
    calc_base_dist: str,
) -> HypoTestResult:
    """Traceable: the fits and the p-value formulae."""
    teststat, q, q_A, _, converged = _asimov_stats(pdf, data, poi_test, init, config, test_stat)
    return _asymptotic_pvalues(teststat, q, q_A, calc_base_dist, converged)


#: The whole asymptotic test as one compiled call.
_asymptotic_result_jit = jax.jit(_asymptotic_result, static_argnums=(4, 5, 6))


def asymptotic_result(
    poi_test: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    test_stat: str = "qtilde",
    calc_base_dist: str = "normal",
    solver: SolverOptions | None = None,
) -> HypoTestResult:
    r"""Observed and expected :math:`\mathrm{CL}_{s+b}, \mathrm{CL}_b, \mathrm{CL}_s` in the
    asymptotic approximation, in one jit-compiled call (see the module docstring for the
    formulas). Differentiable in ``poi_test``, ``data`` and the model; maps with ``vmap``.
    ``solver`` configures the fits (:class:`relaxed.infer.mle.SolverOptions`); the result's
    ``converged`` flag says whether all of them converged. Concrete inputs are checked as in
    :func:`relaxed.infer.hypotest` (``poi_test`` finite and inside the POI's bounds, valid
    data and ``init_pars``); traced invalid inputs give meaningless numbers (see there, and
    :func:`relaxed.infer.checked`).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> r = asymptotic_result(1.0, data, model)
        >>> round(float(r.CLs), 8), round(float(r.CLs_exp[2]), 8)
        (0.05251553, 0.06445515)
    """
    _check_test_stat(test_stat)
    _check_base_dist(calc_base_dist)
    init, config = _resolve(pdf, init_pars, par_bounds, fixed_params, solver)
    checks.check_poi(poi_test, pdf, config.bounds)
    checks.check_data(data, pdf)
    data = pdf.data_array(data)
    poi = jnp.asarray(poi_test, dtype=jnp.float64)
    return _asymptotic_result_jit(pdf, data, poi, init, config, test_stat, calc_base_dist)


class AsymptoticCalculator:
    """The asymptotic calculator, pyhf's interface (``teststatistic``, ``distributions``,
    ``pvalues``, ``expected_pvalues``).

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> calc = AsymptoticCalculator(data, model, test_stat="qtilde")
        >>> round(float(calc.teststatistic(1.0)), 6)
        0.140446
        >>> sb, b = calc.distributions(1.0)
        >>> [round(float(p), 6) for p in calc.pvalues(calc.teststatistic(1.0), sb, b)]
        [0.023325, 0.444154, 0.052516]
    """

    def __init__(
        self,
        data: ArrayLike,
        pdf: Model,
        init_pars: ArrayLike | None = None,
        par_bounds: Sequence[Sequence[float]] | None = None,
        fixed_params: Sequence[bool] | None = None,
        test_stat: str = "qtilde",
        calc_base_dist: str = "normal",
    ) -> None:
        _check_test_stat(test_stat)
        _check_base_dist(calc_base_dist)
        self.init_pars, self._config = _resolve(pdf, init_pars, par_bounds, fixed_params)
        checks.check_data(data, pdf)
        self.data = pdf.data_array(data)
        self.pdf = pdf
        self.par_bounds = self._config.bounds
        self.fixed_params = self._config.fixed
        self.test_stat = test_stat
        self.calc_base_dist = calc_base_dist
        self.sqrtqmuA_v: Array | None = None
        self.fitted_pars: HypoTestFitResults | None = None

    def teststatistic(self, poi_test: ArrayLike) -> Array:
        r"""The test statistic :math:`t` in :math:`\hat\mu/\sigma` space (module docstring);
        also sets ``sqrtqmuA_v`` and ``fitted_pars``. ``poi_test`` must be finite and inside
        the POI's bounds (:func:`relaxed.infer.checks.check_poi`)."""
        checks.check_poi(poi_test, self.pdf, self._config.bounds)
        teststat, _, q_A, fitted, _ = _asimov_stats_jit(
            self.pdf,
            self.data,
            jnp.asarray(poi_test, dtype=jnp.float64),
            self.init_pars,
            self._config,
            self.test_stat,
        )
        self.sqrtqmuA_v = _safe_sqrt(q_A)
        self.fitted_pars = fitted
        return teststat

    def distributions(
        self, poi_test: ArrayLike
    ) -> tuple[AsymptoticTestStatDistribution, AsymptoticTestStatDistribution]:
        r"""Signal-plus-background :math:`N(-\sqrt{q_{\mu,A}}, 1)` and background-only
        :math:`N(0, 1)` distributions (call :meth:`teststatistic` first, as in pyhf)."""
        if self.sqrtqmuA_v is None:
            raise RuntimeError("need to call .teststatistic(poi_test) first")
        return _asymptotic_dists(self.sqrtqmuA_v, self.calc_base_dist)

    def pvalues(
        self,
        teststat: ArrayLike,
        sig_plus_bkg_distribution: AsymptoticTestStatDistribution,
        bkg_only_distribution: AsymptoticTestStatDistribution,
    ) -> tuple[Array, Array, Array]:
        r""":math:`(\mathrm{CL}_{s+b}, \mathrm{CL}_b, \mathrm{CL}_s)` for ``teststat``."""
        return _pvalues(jnp.asarray(teststat), sig_plus_bkg_distribution, bkg_only_distribution)

    def expected_pvalues(
        self,
        sig_plus_bkg_distribution: AsymptoticTestStatDistribution,
        bkg_only_distribution: AsymptoticTestStatDistribution,
    ) -> tuple[Array, Array, Array]:
        r"""Expected :math:`(\mathrm{CL}_{s+b}, \mathrm{CL}_b, \mathrm{CL}_s)`, each of shape
        (5,) from :math:`-2\sigma` to :math:`+2\sigma`."""
        return _expected_asymptotic(sig_plus_bkg_distribution, bkg_only_distribution)


_asimov_stats_jit = jax.jit(_asimov_stats, static_argnums=(4, 5))


# -- toys -----------------------------------------------------------------------------------
def sample_data(pdf: Model, pars: ArrayLike, key: Array, ntoys: int, first: int = 0) -> Array:
    r"""Pseudo-data sets ``first, ..., first + ntoys - 1`` drawn from the model at ``pars``,
    shape ``(ntoys, data length)``: toy :math:`i` is ``pdf.sample(pars, k_i)`` with
    :math:`k_i` = ``jax.random.fold_in(key, i)`` (:func:`relaxed.infer.protocol.toy_keys`), so
    any split of the toys into batches or shards draws the same toys.

    For a binned model: main bins :math:`n_b \sim \mathrm{Pois}(\lambda_b(\theta))`;
    auxiliary data :math:`a_j \sim \mathcal{N}(\theta_j, \sigma_j)` for Gaussian constraints and
    :math:`a_j \sim \mathrm{Pois}(\tau_j\theta_j)` for Poisson constraints.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec, poi_name=None)
        >>> toys = sample_data(model, [1.0, 1.0], jax.random.PRNGKey(0), 20000)
        >>> expected = [50.0, 52.0, 277.8, 55.2]
        >>> toys.shape, [round(float(m) / e, 1) for m, e in zip(toys.mean(0), expected)]
        ((20000, 4), [1.0, 1.0, 1.0, 1.0])
        >>> split = jnp.concatenate([sample_data(model, [1.0, 1.0], jax.random.PRNGKey(0), 5),
        ...     sample_data(model, [1.0, 1.0], jax.random.PRNGKey(0), 5, first=5)])
        >>> bool((split == toys[:10]).all())
        True
    """
    pars = jnp.asarray(pars, dtype=jnp.float64)
    keys = toy_keys(key, ntoys, first)
    return jax.vmap(pdf.sample, in_axes=(None, 0))(pars, keys)


class ToyStats(NamedTuple):
    r"""The test statistics of toys ``first, ..., first + n - 1`` of both hypotheses, and of
    the observed and the Asimov data: what a toy calculation (or one shard of it) computes
    before the :math:`p`-values.

    Toy :math:`i` of the signal-plus-background (background-only) hypothesis is drawn with
    ``jax.random.fold_in(k, i)``, ``k`` the first (second) half of ``jax.random.split(key)``
    (:func:`relaxed.infer.protocol.toy_keys`): the arrays of any split of the toys concatenate
    to those of one run. :func:`relaxed.infer.toys.merge_toy_stats` joins parts and
    :func:`relaxed.infer.toys.toy_pvalues` turns the whole into a :class:`HypoTestResult`.

    Attributes:
        q, q_A: the test statistic of the observed data and of the Asimov data.
        converged: whether the fits behind ``q`` and ``q_A`` (the conditional fits at the two
            hypotheses that make the toys and the Asimov data, the free and conditional fits
            to the observed and the Asimov data) converged.
        sb, b: the test statistics of the toys, shape (n,) each.
        sb_converged, b_converged: per toy, whether both of its fits converged; the others
            are dropped from the distributions (and counted).
        first: the global index of the first toy.

    Example:
        >>> stats = ToyStats(jnp.asarray(1.0), jnp.asarray(2.0), jnp.asarray(True),
        ...                  jnp.zeros(3), jnp.ones(3), jnp.ones(3, bool), jnp.ones(3, bool))
        >>> stats.first, stats.sb.shape
        (0, (3,))
    """

    q: Array
    q_A: Array
    converged: Array
    sb: Array
    b: Array
    sb_converged: Array
    b_converged: Array
    first: int = 0


def _hypothesis_fits(
    pdf: Model, data: Array, poi_test: Array, init: Array, config: _Config, test_stat: str
) -> tuple[Array, Array, Array]:
    """(mu of the test statistic, the conditional fits to the data at the signal-plus-
    background and at the background-only POI values (shape (2, npars)), converged)."""
    poi = pdf.config.poi_index
    bkg_mu = 1.0 if test_stat == "q0" else 0.0
    mu = jnp.zeros((), jnp.float64) if test_stat == "q0" else poi_test
    inits = jnp.stack([_poi_init(init, poi, poi_test), _poi_init(init, poi, bkg_mu)])
    settings, nstarts = config.settings, config.solver.nstarts
    hypo = mle.fit_batch(pdf, jnp.stack([data, data]), inits, jnp.ones(2, bool), settings, nstarts)
    return mu, hypo.bestfit, jnp.all(hypo.converged)


def _set_stats(
    pdf: Model, sets: Array, mu: Array, init: Array, config: _Config, test_stat: str
) -> tuple[Array, Array]:
    """The test statistic of each data set in ``sets`` (n, ndata) from its conditional and
    free fits (one vmapped solver), and whether both fits converged, shape (n,) each."""
    poi = pdf.config.poi_index
    nsets = sets.shape[0]
    cond_init = _poi_init(init, poi, mu)
    fits = mle.fit_batch(
        pdf,
        jnp.repeat(sets, 2, axis=0),
        jnp.tile(jnp.stack([cond_init, init]), (nsets, 1)),
        jnp.tile(jnp.asarray([True, False]), nsets),
        config.settings,
        config.solver.nstarts,
    )
    nll = fits.twice_nll.reshape(nsets, 2)
    muhat = fits.bestfit[:, poi].reshape(nsets, 2)[:, 1]
    stats = from_fits(test_stat, mu, nll[:, 0], nll[:, 1], muhat)
    ordered = _ordered_fits(nll[:, 0], nll[:, 1])
    return stats, jnp.all(fits.converged.reshape(nsets, 2), axis=1) & ordered


def _ordered_fits(cond_nll: Array, free_nll: Array) -> Array:
    """Whether each free fit ends at or below its conditional fit (to
    :data:`FIT_ORDER_TOLERANCE`). The free minimum cannot lie above the conditional one; a free
    fit that does stopped in another, higher local minimum, and its test statistic would be
    clipped to 0: such a data set does not count as converged."""
    return free_nll <= cond_nll + FIT_ORDER_TOLERANCE


def _observed_stats(
    pdf: Model, data: Array, poi_test: Array, init: Array, config: _Config, test_stat: str
) -> tuple[Array, Array, Array, Array, Array]:
    """(q, q_A, converged, the parameters the toys are drawn at (2, npars), mu): the fits of
    a toy calculation that do not involve toys (the same in every shard)."""
    mu, pars, hypo_ok = _hypothesis_fits(pdf, data, poi_test, init, config, test_stat)
    # the Asimov data of pyhf's toy calculator (generate_asimov_data at the background value)
    sets = jnp.stack([data, pdf.expected_data(pars[1])])
    stats, ok = _set_stats(pdf, sets, mu, init, config, test_stat)
    return stats[0], stats[1], hypo_ok & ok[0] & ok[1], pars, mu


def _toy_chunk(
    pdf: Model,
    pars: Array,
    mu: Array,
    init: Array,
    keys_sb: Array,
    keys_b: Array,
    config: _Config,
    test_stat: str,
) -> tuple[Array, Array, Array, Array]:
    """(q of the s+b toys, q of the b-only toys, converged, converged) for toys drawn with
    ``keys_sb`` and ``keys_b`` (n keys each) at ``pars[0]`` and ``pars[1]``: one vmapped
    solver of 4n lanes. Each lane depends on its own toy only."""
    n = keys_sb.shape[0]
    draw = jax.vmap(pdf.sample, in_axes=(None, 0))
    sets = jnp.concatenate([draw(pars[0], keys_sb), draw(pars[1], keys_b)])
    stats, ok = _set_stats(pdf, sets, mu, init, config, test_stat)
    return stats[:n], stats[n:], ok[:n], ok[n:]


def _toy_stats(
    pdf: Model,
    data: Array,
    poi_test: Array,
    init: Array,
    key: Array,
    config: _Config,
    test_stat: str,
    ntoys: int,
) -> ToyStats:
    """Toys 0 .. ntoys - 1 of both hypotheses in one call (traceable): the two conditional
    fits that make the toys share one vmapped solver, and the free and conditional fits to
    the observed data, the Asimov data and all toys another (each lane depends on its own
    data set only, so the numbers are those of :func:`relaxed.infer.toys.toy_stats`)."""
    mu, pars, hypo_ok = _hypothesis_fits(pdf, data, poi_test, init, config, test_stat)
    ksig, kbkg = jax.random.split(key)
    sets = jnp.concatenate(
        [
            data[None],
            pdf.expected_data(pars[1])[None],  # Asimov data (pyhf's generate_asimov_data)
            sample_data(pdf, pars[0], ksig, ntoys),
            sample_data(pdf, pars[1], kbkg, ntoys),
        ]
    )
    stats, ok = _set_stats(pdf, sets, mu, init, config, test_stat)
    n = ntoys + 2
    return ToyStats(
        stats[0], stats[1], hypo_ok & ok[0] & ok[1], stats[2:n], stats[n:], ok[2:n], ok[n:]
    )


def _count_at_least(samples: Array, ok: Array, values: Array) -> Array:
    r""":math:`\#\{i : \text{ok}_i,\ q_i \ge v\}` for each of ``values`` (sorting, not an
    n-by-m comparison: the expected band asks it for every toy)."""
    ordered = jnp.sort(jnp.where(ok, samples, -jnp.inf))
    below = jnp.searchsorted(ordered, values, side="left")
    return (ordered.shape[0] - below).astype(samples.dtype)


def _masked_pvalues(
    teststat: Array, stats: ToyStats, nsb: Array, nb: Array
) -> tuple[Array, Array, Array]:
    clsb = _count_at_least(stats.sb, stats.sb_converged, teststat) / nsb
    clb = _count_at_least(stats.b, stats.b_converged, teststat) / nb
    return clsb, clb, clsb / clb


def _masked_percentile(values: Array, ok: Array, percent: Array) -> Array:
    """The percentiles of the rows of ``values`` (n, k) where ``ok``, column by column, with
    numpy's "linear" method (the arithmetic of ``jnp.percentile``); NaN without rows."""
    count = jnp.sum(ok).astype(values.dtype)
    ordered = jnp.sort(jnp.where(ok[:, None], values, jnp.inf), axis=0)
    position = percent / 100.0 * (count - 1.0)
    low, high = jnp.floor(position), jnp.ceil(position)
    high_weight = position - low
    low_weight = 1.0 - high_weight
    last = jnp.maximum(count - 1.0, 0.0)
    low = jnp.clip(low, 0.0, last).astype(int)
    high = jnp.clip(high, 0.0, last).astype(int)
    result = ordered[low] * low_weight[:, None] + ordered[high] * high_weight[:, None]
    return jnp.where(count > 0, result, jnp.nan)


def _expected_toys(sb: EmpiricalDistribution, b: EmpiricalDistribution) -> tuple[Array, ...]:
    pvalues = jnp.stack(_pvalues(b.samples, sb, b), axis=1)  # (ntoys, 3)
    band = jnp.percentile(pvalues, jnp.asarray(NORMAL_PERCENTILES), axis=0, method="linear")
    return band[:, 0], band[:, 1], band[:, 2]


def _toy_pvalues(stats: ToyStats) -> HypoTestResult:
    """The :math:`p`-values from the converged toys (traceable): tail fractions among them,
    and the expected band from the converged background-only toys."""
    nsb = jnp.sum(stats.sb_converged).astype(stats.sb.dtype)
    nb = jnp.sum(stats.b_converged).astype(stats.b.dtype)
    observed = _masked_pvalues(stats.q, stats, nsb, nb)
    each = jnp.stack(_masked_pvalues(stats.b, stats, nsb, nb), axis=1)  # (ntoys, 3)
    band = _masked_percentile(each, stats.b_converged, jnp.asarray(NORMAL_PERCENTILES))
    failed_sb = stats.sb.shape[0] - jnp.sum(stats.sb_converged)
    failed_b = stats.b.shape[0] - jnp.sum(stats.b_converged)
    converged = jnp.asarray(stats.converged) & (nsb > 0) & (nb > 0)
    return HypoTestResult(
        *observed,
        band[:, 0],
        band[:, 1],
        band[:, 2],
        stats.q,
        stats.q,
        stats.q_A,
        converged,
        failed_sb,
        failed_b,
    )


def _toy_result(
    pdf: Model,
    data: Array,
    poi_test: Array,
    init: Array,
    key: Array,
    config: _Config,
    test_stat: str,
    ntoys: int,
) -> HypoTestResult:
    """Traceable: the toys and their fits, then the tail counts."""
    return _toy_pvalues(_toy_stats(pdf, data, poi_test, init, key, config, test_stat, ntoys))


_toy_result_jit = jax.jit(_toy_result, static_argnums=(5, 6, 7))


def _key(key: Array | None) -> Array:
    return jax.random.PRNGKey(0) if key is None else key


def _check_ntoys(ntoys: int) -> int:
    if isinstance(ntoys, bool) or not isinstance(ntoys, int | np.integer) or ntoys < 1:
        raise InvalidParameters(f"ntoys must be a positive integer, got {ntoys!r}")
    return int(ntoys)


def toy_result(
    poi_test: ArrayLike,
    data: ArrayLike,
    pdf: Model,
    init_pars: ArrayLike | None = None,
    par_bounds: Sequence[Sequence[float]] | None = None,
    fixed_params: Sequence[bool] | None = None,
    test_stat: str = "qtilde",
    ntoys: int = 2000,
    key: Array | None = None,
    solver: SolverOptions | None = None,
) -> HypoTestResult:
    r"""Observed and expected :math:`p`-values from ``ntoys`` toys per hypothesis, all sampled
    and fitted in one jit-compiled vmapped call (``key`` defaults to ``PRNGKey(0)``).

    :math:`\mathrm{CL}_{s+b} = \#\{q^{s+b}_i \ge q_\text{obs}\}/N`,
    :math:`\mathrm{CL}_b = \#\{q^{b}_i \ge q_\text{obs}\}/N`, over the toys whose fits
    converged (the others are counted in ``nonconverged_sb``/``nonconverged_b``). Inputs are
    checked as in :func:`relaxed.infer.hypotest`; ``ntoys`` must be a positive integer.
    :func:`relaxed.infer.toys.toy_stats` computes the same toys in chunks, on several devices
    or in shards.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> r = toy_result(1.0, data, model, ntoys=500, key=jax.random.PRNGKey(1))
        >>> abs(float(r.CLs) - 0.0525) < 0.03
        True
    """
    _check_test_stat(test_stat)
    ntoys = _check_ntoys(ntoys)
    init, config = _resolve(pdf, init_pars, par_bounds, fixed_params, solver)
    checks.check_poi(poi_test, pdf, config.bounds)
    checks.check_data(data, pdf)
    data = pdf.data_array(data)
    poi = jnp.asarray(poi_test, dtype=jnp.float64)
    return _toy_result_jit(pdf, data, poi, init, _key(key), config, test_stat, ntoys)


class ToyCalculator:
    """The toy-based calculator, pyhf's interface (``teststatistic``, ``distributions``,
    ``pvalues``, ``expected_pvalues``); all toys are fitted in one vmapped compiled call.

    Example:
        >>> import relaxed
        >>> spec = {"channels": [{"name": "c", "samples": [
        ...     {"name": "sig", "data": [12.0, 11.0],
        ...      "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        ...     {"name": "bkg", "data": [50.0, 52.0],
        ...      "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
        >>> model = relaxed.Model(spec)
        >>> data = [51.0, 48.0] + model.config.auxdata.tolist()
        >>> calc = ToyCalculator(data, model, ntoys=200, key=jax.random.PRNGKey(0))
        >>> sb, b = calc.distributions(1.0)
        >>> sb.samples.shape, round(float(calc.teststatistic(1.0)), 6)
        ((200,), 3.938245)
    """

    def __init__(
        self,
        data: ArrayLike,
        pdf: Model,
        init_pars: ArrayLike | None = None,
        par_bounds: Sequence[Sequence[float]] | None = None,
        fixed_params: Sequence[bool] | None = None,
        test_stat: str = "qtilde",
        ntoys: int = 2000,
        track_progress: bool | None = None,
        key: Array | None = None,
    ) -> None:
        _check_test_stat(test_stat)
        self.ntoys = _check_ntoys(ntoys)
        self.init_pars, self._config = _resolve(pdf, init_pars, par_bounds, fixed_params)
        checks.check_data(data, pdf)
        self.data = pdf.data_array(data)
        self.pdf = pdf
        self.par_bounds = self._config.bounds
        self.fixed_params = self._config.fixed
        self.test_stat = test_stat
        self.track_progress = track_progress  # accepted for pyhf compatibility; unused
        self.key = _key(key)
        #: toys (s+b, b-only) left out of the last :meth:`distributions` (fits not converged)
        self.nonconverged: tuple[int, int] = (0, 0)

    def distributions(
        self, poi_test: ArrayLike, track_progress: bool | None = None
    ) -> tuple[EmpiricalDistribution, EmpiricalDistribution]:
        """Sampled test statistics under signal plus background and background only
        (``poi_test`` checked as in :meth:`teststatistic`): the toys whose fits converged
        (the others are dropped; their numbers are in :attr:`nonconverged`)."""
        checks.check_poi(poi_test, self.pdf, self._config.bounds)
        stats = _toy_stats_jit(
            self.pdf,
            self.data,
            jnp.asarray(poi_test, dtype=jnp.float64),
            self.init_pars,
            self.key,
            self._config,
            self.test_stat,
            self.ntoys,
        )
        sb_ok, b_ok = np.asarray(stats.sb_converged), np.asarray(stats.b_converged)
        self.nonconverged = (int((~sb_ok).sum()), int((~b_ok).sum()))
        return EmpiricalDistribution(stats.sb[sb_ok]), EmpiricalDistribution(stats.b[b_ok])

    def teststatistic(self, poi_test: ArrayLike) -> Array:
        """The test statistic :math:`q` of the observed data."""
        stat = get_test_stat(self.test_stat)
        cfg = self._config
        return stat(poi_test, self.data, self.pdf, self.init_pars, cfg.bounds, cfg.fixed)

    def pvalues(
        self,
        teststat: ArrayLike,
        sig_plus_bkg_distribution: EmpiricalDistribution,
        bkg_only_distribution: EmpiricalDistribution,
    ) -> tuple[Array, Array, Array]:
        r""":math:`(\mathrm{CL}_{s+b}, \mathrm{CL}_b, \mathrm{CL}_s)`: tail fractions."""
        return _pvalues(jnp.asarray(teststat), sig_plus_bkg_distribution, bkg_only_distribution)

    def expected_pvalues(
        self,
        sig_plus_bkg_distribution: EmpiricalDistribution,
        bkg_only_distribution: EmpiricalDistribution,
    ) -> tuple[Array, Array, Array]:
        r"""Percentiles (-2..+2 sigma) of the :math:`p`-values of the background-only toys."""
        return _expected_toys(sig_plus_bkg_distribution, bkg_only_distribution)


_toy_stats_jit = jax.jit(_toy_stats, static_argnums=(5, 6, 7))
