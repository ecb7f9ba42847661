"""relaxed.distributions: the HS3 fundamental distributions against independent references.

What is asserted (tolerances are relative with a floor of 1 on the scale, i.e.
``|ours - ref| <= tol * max(1, |ref|)``, because log-densities cross 0):

- logpdf equals the log of the unnormalised shape (mpmath, 30 digits) minus the log of its
  integral over the domain (mpmath: closed forms where they exist, ``ncdf`` differences,
  incomplete gamma functions; otherwise ``mpmath.quad`` split at every junction), to 1e-10,
  including edge parameters (tails 30-40 sigma out, c near 0 and large |c|, Crystal Ball n near
  1 and small alpha, ARGUS p = 0.5 with both signs of c, degree-6 Chebyshev/Bernstein), and
  scipy.stats where it has the distribution (truncnorm, truncexpon, poisson,
  multivariate_normal);
- exp(logpdf) integrates to 1 over the domain (scipy ``quad``, split at the junctions) to 1e-10;
- the cdf equals the integral of exp(logpdf) from lo (1e-10 absolute);
- jax gradients in every parameter and in x equal Richardson-extrapolated central differences
  (relative 1e-6), and gradients and Hessians stay finite at the edges;
- 20000 samples pass a Kolmogorov-Smirnov test against the cdf (p > 1e-3, fixed keys); the
  numerical inverse CDF solves F(x) = u to 1e-12;
- pyhs3 0.4.2 has the same shapes (up to a constant: its legacy evaluation is unnormalised)
  for crystalball_dist, crystalball_doublesided_dist, bernstein_poly_dist (on [0, 1]),
  argus_dist and polynomial_dist;
- every ``check`` rejects bad parameters with an error naming the distribution and the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

import relaxed  # noqa: F401  (float64)
from relaxed.distributions import (
    DISTRIBUTIONS,
    Distribution,
    argus_dist,
    bernstein_poly_dist,
    chebychev_dist,
    check_events,
    crystalball_dist,
    crystalball_doublesided_dist,
    crystalball_symmetric,
    exponential_dist,
    for_node,
    gaussian_dist,
    histogram_dist,
    histogram_params,
    lognormal_dist,
    multivariate_normal_dist,
    normal_dist,
    poisson_dist,
    polynomial_dist,
    uniform_dist,
)
from relaxed.distributions._math import invert_cdf, truncnorm_ppf
from relaxed.distributions.base import _uniform
from relaxed.exceptions import InvalidArgument, InvalidData, InvalidDistribution, RelaxedError

mpmath.mp.dps = 30
TOL = 1e-10
GRAD_RTOL = 1e-6
INF = math.inf
mpf = mpmath.mpf


def _close(ours: float, ref: float, tol: float = TOL) -> bool:
    return abs(ours - ref) <= tol * max(1.0, abs(ref))


# -- jitted functions, compiled once per distribution ---------------------------------------

_JIT: dict[tuple[int, str], Callable] = {}


def _jit(dist: Distribution, what: str) -> Callable:
    key = (id(dist), what)
    if key not in _JIT:
        if what == "logpdf":
            fn = dist.logpdf
        elif what == "cdf":
            fn = dist.cdf
        elif what == "lognorm":
            fn = dist.log_normalisation
        elif what == "derivs":  # per event: d/dx, d/dparams and d2/dparams2, one compilation
            grad = jax.grad(dist.logpdf, argnums=(0, 1))
            hessian = jax.hessian(dist.logpdf, argnums=1)

            def derivs(x: jax.Array, p: dict, lo: Any, hi: Any) -> tuple:
                gx, gp = grad(x, p, lo, hi)
                return gx, gp, (hessian(x, p, lo, hi) if p else {})

            fn = jax.vmap(derivs, in_axes=(0, None, None, None))
        else:
            fn = dist.sample
        _JIT[key] = jax.jit(fn, static_argnums=(4,)) if what == "sample" else jax.jit(fn)
    return _JIT[key]


def _arrays(params: dict[str, Any]) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}


#: Every small evaluation uses this many events (padded), every cdf and sample N_SAMPLES: one
#: compilation per distribution and function for the whole module.
N_SMALL = 16
N_SAMPLES = 20000


def _pad(x: Any, size: int = N_SMALL) -> tuple[jax.Array, int]:
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    assert 0 < x.size <= size
    return jnp.asarray(np.concatenate([x, np.full(size - x.size, x[-1])])), x.size


def _logpdf(dist: Distribution, x: Any, params: dict, lo: float, hi: float) -> np.ndarray:
    padded, n = _pad(x)
    return np.asarray(_jit(dist, "logpdf")(padded, _arrays(params), lo, hi))[:n]


def _cdf(dist: Distribution, x: Any, params: dict, lo: float, hi: float) -> np.ndarray:
    padded, n = _pad(x, N_SAMPLES)
    return np.asarray(_jit(dist, "cdf")(padded, _arrays(params), lo, hi))[:n]


def _derivs(dist: Distribution, x: Any, params: dict, lo: float, hi: float) -> tuple:
    """``(d/dx, d/dparams, d2/dparams2)`` of the log-density at up to N_SMALL events."""
    padded, n = _pad(x)
    out = _jit(dist, "derivs")(padded, _arrays(params), lo, hi)
    return jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[:n], out)


# -- mpmath shapes (the HS3 formulas, unnormalised) ------------------------------------------


def _mp_gauss(p: dict) -> Callable:
    mu, s = mpf(p["mean"]), mpf(p["sigma"])
    return lambda x: mpmath.exp(-((x - mu) ** 2) / (2 * s * s))


def _mp_expo(p: dict) -> Callable:
    c = mpf(p["c"])
    return lambda x: mpmath.exp(-c * x)


def _mp_lognormal(p: dict) -> Callable:
    mu, s = mpf(p["mu"]), mpf(p["sigma"])
    return lambda x: mpmath.exp(-((mpmath.log(x) - mu) ** 2) / (2 * s * s)) / x


def _mp_poly(p: dict) -> Callable:
    a = [mpf(v) for v in p["coefficients"]]
    return lambda x: sum(ai * x**i for i, ai in enumerate(a))


def _mp_cheb(p: dict, lo: float, hi: float) -> Callable:
    a = [mpf(v) for v in p["coefficients"]]

    def f(x: Any) -> Any:
        t = (2 * x - (mpf(lo) + mpf(hi))) / (mpf(hi) - mpf(lo))
        return 1 + sum(ak * mpmath.chebyt(k, t) for k, ak in enumerate(a, start=1))

    return f


def _mp_bern(p: dict, lo: float, hi: float) -> Callable:
    c = [mpf(v) for v in p["coefficients"]]
    n = len(c) - 1

    def f(x: Any) -> Any:
        t = (x - mpf(lo)) / (mpf(hi) - mpf(lo))
        return sum(ci * mpmath.binomial(n, i) * t**i * (1 - t) ** (n - i) for i, ci in enumerate(c))

    return f


def _mp_cb_half(t: Any, alpha: Any, n: Any) -> Any:
    if t < -alpha:  # A (B - t)^-n with A = (n/a)^n exp(-a^2/2), B = n/a - a: the HS3 text
        big_a = (n / alpha) ** n * mpmath.exp(-alpha * alpha / 2)
        return big_a * (n / alpha - alpha - t) ** (-n)
    return mpmath.exp(-t * t / 2)


def _mp_cb_double(p: dict) -> Callable:
    q = {k: mpf(v) for k, v in p.items()}

    def f(m: Any) -> Any:
        if m <= q["m0"]:
            return _mp_cb_half((m - q["m0"]) / q["sigma_L"], q["alpha_L"], q["n_L"])
        return _mp_cb_half(-(m - q["m0"]) / q["sigma_R"], q["alpha_R"], q["n_R"])

    return f


def _mp_cb_single(p: dict) -> Callable:
    q = {k: mpf(v) for k, v in p.items()}

    def f(m: Any) -> Any:
        t = (m - q["m0"]) / q["sigma"]
        return _mp_cb_half(-t if q["alpha"] < 0 else t, abs(q["alpha"]), q["n"])

    return f


def _mp_cb_symmetric(p: dict) -> Callable:
    sides = {"sigma_L": p["sigma"], "sigma_R": p["sigma"], "alpha_L": p["alpha"]}
    sides.update(alpha_R=p["alpha"], n_L=p["n"], n_R=p["n"], m0=p["m0"])
    return _mp_cb_double(sides)


def _mp_argus(p: dict) -> Callable:
    m0, c, pw = mpf(p["resonance"]), mpf(p["slope"]), mpf(p["power"])

    def f(m: Any) -> Any:
        if m >= m0 or m <= 0:
            return mpf(0)
        u = 1 - (m / m0) ** 2
        return m * u**pw * mpmath.exp(c * u)

    return f


# -- reference log-normalisations (closed forms in mpmath, else split mpmath.quad) -----------


def _mp_bound(v: float) -> Any:
    return mpmath.inf if v == INF else (-mpmath.inf if v == -INF else mpf(v))


def _quad_lognorm(f: Callable, lo: float, hi: float, breaks: list[float]) -> Any:
    inner = sorted({b for b in breaks if lo < b < hi})
    finite_lo = lo if math.isfinite(lo) else (inner[0] if inner else 0.0) - 1.0
    finite_hi = hi if math.isfinite(hi) else (inner[-1] if inner else 0.0) + 1.0
    grid = sorted(set(inner) | set(np.linspace(finite_lo, finite_hi, 9).tolist()))
    grid = [g for g in grid if lo <= g <= hi]
    points = [_mp_bound(lo)] + [mpf(g) for g in grid if lo < g < hi] + [_mp_bound(hi)]
    return mpmath.log(mpmath.quad(f, points))


def _mp_cb_norm(p: dict, lo: float, hi: float) -> Any:
    """The Crystal Ball integral piece by piece: Gaussian cores by ncdf, power-law tails by
    the textbook antiderivative of A (B -/+ t)^-n (a logarithm for n = 1)."""
    if "sigma_L" in p:
        q = {k: mpf(v) for k, v in p.items()}
    elif "symmetric" in p:
        q = {k: mpf(p[k[:-2]]) for k in ("sigma_L", "sigma_R", "alpha_L", "alpha_R", "n_L", "n_R")}
        q["m0"] = mpf(p["m0"])
    else:  # RooCBShape: one tail, on the left for alpha > 0
        a, n, s = mpf(abs(p["alpha"])), mpf(p["n"]), mpf(p["sigma"])
        none = mpmath.inf
        q = {"m0": mpf(p["m0"]), "sigma_L": s, "sigma_R": s, "n_L": n, "n_R": n}
        q.update(alpha_L=a if p["alpha"] > 0 else none, alpha_R=a if p["alpha"] < 0 else none)
    lo_, hi_ = _mp_bound(lo), _mp_bound(hi)
    total = mpf(0)
    for side in ("L", "R"):
        s, a, n = q["sigma_" + side], q["alpha_" + side], q["n_" + side]
        # the side in t = -(m - m0)/s for R, (m - m0)/s for L: tail below -a, core [-a, 0]
        if side == "L":
            t_lo, t_hi = (lo_ - q["m0"]) / s, min((hi_ - q["m0"]) / s, mpf(0))
        else:
            t_lo, t_hi = -(hi_ - q["m0"]) / s, min(-(lo_ - q["m0"]) / s, mpf(0))
        if t_hi <= t_lo:
            continue
        c_lo = max(t_lo, -a)
        if t_hi > c_lo:
            total += s * mpmath.sqrt(2 * mpmath.pi) * (mpmath.ncdf(t_hi) - mpmath.ncdf(c_lo))
        if t_lo < -a:
            big_a = (n / a) ** n * mpmath.exp(-a * a / 2)
            big_b = n / a - a
            e_hi = min(t_hi, -a)

            def anti(t: Any, n: Any = n, big_b: Any = big_b) -> Any:  # of (B - t)^-n
                if t == -mpmath.inf:
                    return mpf(0)
                if n == 1:
                    return -mpmath.log(big_b - t)
                return (big_b - t) ** (1 - n) / (n - 1)

            total += s * big_a * (anti(e_hi) - anti(t_lo))
    return total


def _ref_lognorm(name: str, p: dict, lo: float, hi: float, breaks: list[float]) -> Any:
    if name in ("gaussian_dist", "normal_dist"):
        mu, s = mpf(p["mean"]), mpf(p["sigma"])
        a, b = (_mp_bound(lo) - mu) / s, (_mp_bound(hi) - mu) / s
        if a > 0:  # the tail where mpmath's ncdf is exact too
            mass = mpmath.ncdf(-a) - mpmath.ncdf(-b)
        else:
            mass = mpmath.ncdf(b) - mpmath.ncdf(a)
        return mpmath.log(s * mpmath.sqrt(2 * mpmath.pi) * mass)
    if name == "lognormal_dist":
        mu, s = mpf(p["mu"]), mpf(p["sigma"])
        la = mpmath.log(mpf(lo)) if lo > 0 else -mpmath.inf
        lb = mpmath.log(_mp_bound(hi)) if hi < INF else mpmath.inf
        return mpmath.log(
            s
            * mpmath.sqrt(2 * mpmath.pi)
            * (mpmath.ncdf((lb - mu) / s) - mpmath.ncdf((la - mu) / s))
        )
    if name == "exponential_dist":
        c = mpf(p["c"])
        if c == 0:
            return mpmath.log(mpf(hi) - mpf(lo))
        upper = mpmath.exp(-c * _mp_bound(hi)) if hi < INF else 0
        lower = mpmath.exp(-c * _mp_bound(lo)) if lo > -INF else 0
        return mpmath.log((lower - upper) / c)
    if name in ("crystalball_dist", "crystalball_doublesided_dist"):
        return mpmath.log(_mp_cb_norm(p, lo, hi))
    if name == "argus_dist":
        m0, c, pw = mpf(p["resonance"]), mpf(p["slope"]), mpf(p["power"])
        u1 = 1 - (min(_mp_bound(hi), m0) / m0) ** 2
        u2 = 1 - (mpf(lo) / m0) ** 2
        if c < 0:
            k = -c
            inner = k ** (-(pw + 1)) * mpmath.gammainc(pw + 1, k * u1, k * u2)
        else:
            pieces = [u1 + (u2 - u1) * mpf(i) / 8 for i in range(9)]
            inner = mpmath.quad(lambda u: u**pw * mpmath.exp(c * u), pieces)
        return mpmath.log(m0 * m0 / 2 * inner)
    raise AssertionError(name)


@dataclass
class Case:
    """A distribution, parameters and domain, the events to evaluate and the reference."""

    label: str
    dist: Distribution
    params: dict
    lo: float
    hi: float
    xs: list[float]
    shape: Callable  # mpmath shape
    breaks: list[float] = field(default_factory=list)
    closed_form: bool = False  # reference normalisation in closed form (else quad)

    def ref_lognorm(self) -> Any:
        if self.closed_form:
            return _ref_lognorm(self.dist.hs3_type, self.params, self.lo, self.hi, self.breaks)
        return _quad_lognorm(self.shape, self.lo, self.hi, self.breaks)


def _cases() -> list[Case]:
    out = []

    def gauss(label: str, mean: float, sigma: float, lo: float, hi: float, xs: list) -> None:
        p = {"mean": mean, "sigma": sigma}
        out.append(Case(label, gaussian_dist, p, lo, hi, xs, _mp_gauss(p), closed_form=True))

    gauss("gauss-full", 1.0, 2.0, -INF, INF, [-30.0, -3.0, 1.0, 2.5, 40.0])
    gauss("gauss-cut", 0.3, 0.7, -1.0, 2.0, [-1.0, 0.0, 0.3, 1.9, 2.0])
    gauss("gauss-40sigma-right", 0.0, 1.0, 40.0, 41.0, [40.0, 40.1, 40.5, 41.0])
    gauss("gauss-40sigma-left", 2.0, 0.5, -INF, -18.0, [-25.0, -19.0, -18.0])
    gauss("gauss-30sigma-halfline", 0.0, 1.0, 30.0, INF, [30.0, 30.01, 31.0, 35.0])
    gauss("gauss-narrow", 0.0, 1.0, 0.1, 0.1 + 1e-6, [0.1, 0.1 + 5e-7])

    def expo(label: str, c: float, lo: float, hi: float, xs: list) -> None:
        p = {"c": c}
        out.append(Case(label, exponential_dist, p, lo, hi, xs, _mp_expo(p), closed_form=True))

    expo("expo-c0", 0.0, 1.0, 3.0, [1.0, 2.0, 3.0])
    expo("expo-c1e-12", 1e-12, 1.0, 3.0, [1.0, 2.0, 3.0])
    expo("expo-c-1e-9", -1e-9, -2.0, 3.0, [-2.0, 0.0, 3.0])
    expo("expo-pos", 1.7, 0.5, 4.0, [0.5, 1.0, 4.0])
    expo("expo-neg", -2.3, -1.0, 2.0, [-1.0, 0.0, 2.0])
    expo("expo-large", 800.0, 10.0, 11.0, [10.0, 10.001, 10.5, 11.0])
    expo("expo-large-neg", -900.0, 10.0, 11.0, [10.0, 10.999, 11.0])
    expo("expo-halfline", 0.3, 2.0, INF, [2.0, 10.0, 500.0])
    expo("expo-lefthalfline", -0.3, -INF, 2.0, [-500.0, 0.0, 2.0])

    p = {"mu": 0.5, "sigma": 0.8}
    out.append(
        Case(
            "lognormal-full",
            lognormal_dist,
            p,
            0.0,
            INF,
            [0.01, 1.0, 50.0],
            _mp_lognormal(p),
            closed_form=True,
        )
    )
    p = {"mu": -1.0, "sigma": 0.2}
    out.append(
        Case(
            "lognormal-tail",
            lognormal_dist,
            p,
            2.0,
            5.0,
            [2.0, 3.0, 5.0],
            _mp_lognormal(p),
            closed_form=True,
        )
    )

    p = {"coefficients": [1.0, -0.5, 0.3, 0.02]}
    out.append(Case("poly-3", polynomial_dist, p, -1.0, 2.0, [-1.0, 0.0, 1.3, 2.0], _mp_poly(p)))
    p = {"coefficients": [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-7]}
    out.append(Case("poly-6-far", polynomial_dist, p, 10.0, 12.0, [10.0, 11.0, 12.0], _mp_poly(p)))
    p = {"coefficients": [0.2, -0.3, 0.15, 0.1, -0.05, 0.02]}
    out.append(
        Case("cheb-6", chebychev_dist, p, -3.0, 5.0, [-3.0, 0.0, 2.0, 5.0], _mp_cheb(p, -3.0, 5.0))
    )
    p = {"coefficients": [0.5]}
    out.append(Case("cheb-1", chebychev_dist, p, 0.0, 2.0, [0.0, 1.0, 2.0], _mp_cheb(p, 0.0, 2.0)))
    p = {"coefficients": [1.0, 0.2, 3.0, 0.5, 0.0, 2.0, 0.7]}
    out.append(
        Case(
            "bern-6",
            bernstein_poly_dist,
            p,
            100.0,
            130.0,
            [100.0, 110.0, 129.0, 130.0],
            _mp_bern(p, 100.0, 130.0),
        )
    )
    p = {"coefficients": [0.5, -0.1, 0.5]}
    out.append(
        Case(
            "bern-negcoef", bernstein_poly_dist, p, 0.0, 1.0, [0.0, 0.5, 1.0], _mp_bern(p, 0.0, 1.0)
        )
    )

    def cb2(label: str, p: dict, lo: float, hi: float, xs: list) -> None:
        breaks = [
            p["m0"] - p["alpha_L"] * p["sigma_L"],
            p["m0"],
            p["m0"] + p["alpha_R"] * p["sigma_R"],
        ]
        out.append(
            Case(label, crystalball_doublesided_dist, p, lo, hi, xs, _mp_cb_double(p), breaks, True)
        )

    base = {
        "m0": 5.0,
        "sigma_L": 1.0,
        "sigma_R": 2.0,
        "alpha_L": 1.5,
        "alpha_R": 2.0,
        "n_L": 3.0,
        "n_R": 5.0,
    }
    cb2("cb2-wide", base, -10.0, 30.0, [-10.0, 3.5, 5.0, 8.9, 9.0, 30.0])
    cb2("cb2-n1", {**base, "n_L": 1.0, "n_R": 1.0 + 1e-9}, -10.0, 30.0, [-10.0, 2.0, 12.0, 30.0])
    cb2("cb2-n-near-1", {**base, "n_L": 1.0 - 1e-7, "n_R": 1.0 + 1e-5}, -50.0, 60.0, [-50.0, 60.0])
    cb2(
        "cb2-small-alpha",
        {**base, "alpha_L": 0.01, "alpha_R": 0.05, "n_L": 1.5, "n_R": 2.0},
        -INF,
        INF,
        [-100.0, 4.99, 5.0, 5.2, 100.0],
    )
    cb2("cb2-right-only", base, 9.5, 40.0, [9.5, 20.0, 40.0])
    cb2("cb2-left-only", base, -40.0, 3.0, [-40.0, 0.0, 3.0])
    cb2("cb2-core-only", base, 4.0, 6.0, [4.0, 5.0, 6.0])
    cb2(
        "cb2-large-alpha",
        {**base, "alpha_L": 35.0, "alpha_R": 40.0},
        -60.0,
        100.0,
        [-60.0, 5.0, 70.0],
    )

    def cb1(label: str, p: dict, lo: float, hi: float, xs: list) -> None:
        breaks = [p["m0"] - p["alpha"] * p["sigma"]]
        out.append(Case(label, crystalball_dist, p, lo, hi, xs, _mp_cb_single(p), breaks, True))

    cb1(
        "cb1-left",
        {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 2.0},
        -INF,
        INF,
        [-50.0, -1.0, 0.0, 3.0],
    )
    cb1(
        "cb1-right",
        {"m0": 0.0, "sigma": 1.3, "alpha": -0.7, "n": 1.2},
        -5.0,
        INF,
        [-5.0, 0.0, 1.0, 80.0],
    )
    cb1(
        "cb1-n1-alpha-small",
        {"m0": 1.0, "sigma": 0.5, "alpha": 0.02, "n": 1.0},
        -30.0,
        3.0,
        [-30.0, 0.99, 3.0],
    )
    cb1(
        "cb1-n<1",
        {"m0": 0.0, "sigma": 1.0, "alpha": 2.0, "n": 0.5},
        -10.0,
        10.0,
        [-10.0, -2.0, 0.0],
    )

    p = {"m0": 1.0, "sigma": 0.5, "alpha": 1.2, "n": 2.5}
    out.append(
        Case(
            "cb-symmetric",
            crystalball_symmetric,
            p,
            -5.0,
            7.0,
            [-5.0, 0.0, 1.0, 7.0],
            _mp_cb_symmetric(p),
            [0.4, 1.0, 1.6],
        )
    )

    def argus(label: str, c: float, pw: float, lo: float, hi: float, xs: list) -> None:
        p = {"resonance": 5.29, "slope": c, "power": pw}
        out.append(Case(label, argus_dist, p, lo, hi, xs, _mp_argus(p), closed_form=True))

    argus("argus-babar", -20.0, 0.5, 5.2, 5.3, [5.2, 5.25, 5.289, 5.29, 5.3])
    argus("argus-pos", 3.0, 0.5, 0.0, 5.29, [0.0, 1.0, 5.0])
    argus("argus-c0", 0.0, 0.5, 1.0, INF, [1.0, 4.0])
    argus("argus-c-near-minus1", -1.0 + 1e-9, 1.7, 0.5, 5.0, [0.5, 3.0, 5.0])
    argus("argus-c-minus1", -1.0, 1.7, 0.5, 5.0, [0.5, 3.0, 5.0])
    argus("argus-steep", -300.0, 0.5, 0.0, 4.0, [0.5, 3.9, 4.0])
    argus("argus-p-negative", -5.0, -0.5, 4.0, 5.29, [4.0, 5.28])
    argus("argus-large-pos", 90.0, 2.0, 0.0, 5.29, [0.1, 3.0])
    return out


CASES = _cases()


def _ref_logpdf(case: Case, x: float, log_m: Any) -> float:
    value = case.shape(mpf(x))
    return float(mpmath.log(value) - log_m) if value > 0 else -INF


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_logpdf_equals_reference(case: Case) -> None:
    case.dist.check(case.params, case.lo, case.hi)
    log_m = case.ref_lognorm()
    ours_m = float(_jit(case.dist, "lognorm")(_arrays(case.params), case.lo, case.hi))
    assert _close(ours_m, float(log_m)), (ours_m, float(log_m))
    ours = _logpdf(case.dist, case.xs, case.params, case.lo, case.hi)
    for x, value in zip(case.xs, ours, strict=True):
        ref = _ref_logpdf(case, x, log_m)
        if ref == -INF:
            assert value == -INF, (x, value)
        else:
            assert _close(float(value), ref), (x, float(value), ref)


def test_references_from_scipy() -> None:
    """The same densities from scipy.stats where it has them."""
    x = np.linspace(-1.0, 2.0, 7)
    p = {"mean": 0.3, "sigma": 0.7}
    ref = scipy.stats.truncnorm.logpdf(x, (-1.0 - 0.3) / 0.7, (2.0 - 0.3) / 0.7, 0.3, 0.7)
    np.testing.assert_allclose(_logpdf(gaussian_dist, x, p, -1.0, 2.0), ref, rtol=1e-12)
    x = np.linspace(0.5, 4.0, 7)
    ref = scipy.stats.truncexpon.logpdf(x, b=3.5 * 1.7, loc=0.5, scale=1 / 1.7)
    np.testing.assert_allclose(_logpdf(exponential_dist, x, {"c": 1.7}, 0.5, 4.0), ref, rtol=1e-12)
    x = np.linspace(2.0, 5.0, 7)
    dist = scipy.stats.lognorm(s=0.4, scale=math.exp(1.0))
    ref = dist.logpdf(x) - math.log(dist.cdf(5.0) - dist.cdf(2.0))
    np.testing.assert_allclose(
        _logpdf(lognormal_dist, x, {"mu": 1.0, "sigma": 0.4}, 2.0, 5.0), ref, rtol=1e-12
    )
    k = np.array([0.0, 1.0, 7.0, 30.0, 1000.0])
    for mean in (0.3, 7.0, 950.0):
        ref = scipy.stats.poisson.logpmf(k, mean)
        np.testing.assert_allclose(
            _logpdf(poisson_dist, k, {"mean": mean}, 0.0, INF), ref, rtol=1e-12
        )
    # the continued Poisson at a non-integer count
    ours = _logpdf(poisson_dist, [2.5], {"mean": 3.0}, 0.0, INF)[0]
    ref = float(2.5 * mpmath.log(3) - 3 - mpmath.loggamma(3.5))
    assert _close(float(ours), ref, 1e-13)
    cov = np.array([[2.0, 0.3, -0.2], [0.3, 1.0, 0.1], [-0.2, 0.1, 0.5]])
    mean = np.array([1.0, -1.0, 0.5])
    events = np.random.default_rng(0).normal(size=(11, 3)) * 2
    ref = scipy.stats.multivariate_normal(mean, cov).logpdf(events)
    ours = multivariate_normal_dist.logpdf(events, {"mean": mean, "covariances": cov}, None, None)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=1e-12)
    assert float(
        multivariate_normal_dist.log_normalisation({"mean": mean, "covariances": cov})
    ) == (pytest.approx(0.5 * math.log(np.linalg.det(2 * math.pi * cov)), rel=1e-13))


def _integrate(
    fn: Callable[[float], float],
    lo: float,
    hi: float,
    breaks: list[float],
    singular: tuple[float, float] | None = None,
) -> float:
    """``scipy.integrate.quad`` split at the junctions (and around 0 for infinite domains);
    an interval ending at ``singular = (point, power)``, where ``fn`` behaves like
    ``(point - x)^power``, is integrated with QUADPACK's algebraic weight."""
    inner = sorted({b for b in breaks if lo < b < hi})
    if not inner and not (math.isfinite(lo) and math.isfinite(hi)):
        inner = [0.0 if lo < 0.0 < hi else (hi - 1.0 if math.isfinite(hi) else lo + 1.0)]
    edges = [lo, *inner, hi]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if singular is not None and b == singular[0]:
            point, power = singular
            smooth = lambda x, point=point, power=power: fn(x) / (point - x) ** power  # noqa: E731
            total += quad(
                smooth, a, b, weight="alg", wvar=(0.0, power), epsabs=1e-13, epsrel=1e-12
            )[0]
        else:
            total += quad(fn, a, b, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    return total


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_normalised_and_cdf(case: Case) -> None:
    density = lambda x: math.exp(_logpdf(case.dist, x, case.params, case.lo, case.hi)[0])  # noqa: E731
    breaks = list(case.breaks) + [x for x in case.xs if case.lo < x < case.hi]
    singular = None
    if case.dist is argus_dist:
        m0 = case.params["resonance"]
        breaks.append(min(m0, case.hi))
        if case.hi >= m0:  # the density goes like (m0 - m)^p at m0
            singular = (m0, case.params["power"])
    if case.label == "gauss-narrow" or case.label.startswith("expo-large"):
        breaks += list(np.linspace(case.lo, case.hi, 50)[1:-1])
    total = _integrate(density, case.lo, case.hi, breaks, singular)
    assert abs(total - 1.0) < TOL, total
    finite = [x for x in case.xs if case.lo <= x <= case.hi][:3]
    values = _cdf(case.dist, finite, case.params, case.lo, case.hi)
    for x, value in zip(finite, values, strict=True):
        expected = _integrate(density, case.lo, x, breaks) if x > case.lo else 0.0
        assert abs(float(value) - expected) < TOL, (x, float(value), expected)


# -- gradients --------------------------------------------------------------------------------


def _richardson(fn: Callable[[float], float], x0: float, h: float) -> float:
    d1 = (fn(x0 + h) - fn(x0 - h)) / (2 * h)
    d2 = (fn(x0 + h / 2) - fn(x0 - h / 2)) / h
    return (4 * d2 - d1) / 3


GRAD_CASES = [c for c in CASES if c.label not in ("gauss-narrow",)]


def _fd_points(case: Case) -> np.ndarray:
    """Interior points away from the junctions (where the second derivative jumps and central
    differences lose an order) and from the ARGUS end point."""
    kinks = list(case.breaks)
    if case.dist is crystalball_doublesided_dist:
        kinks.append(case.params["m0"])
    top = min(case.hi, case.params.get("resonance", INF))
    points = []
    for x in case.xs:
        for shift in (0.0, 0.0137, -0.0137, 0.0411):
            y = x + shift * max(1.0, abs(x))
            if case.lo < y < top and all(abs(y - k) > 1e-3 * max(1.0, abs(k)) for k in kinks):
                points.append(y)
                break
    return np.asarray(points or [0.5 * (case.lo + top)])


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.label for c in GRAD_CASES])
def test_gradients_match_finite_differences(case: Case) -> None:
    xs = _fd_points(case)
    params = case.params
    ours_x, ours, _ = _derivs(case.dist, xs, params, case.lo, case.hi)

    def logpdf(x: float, p: dict, lo: float, hi: float) -> float:
        return float(_logpdf(case.dist, x, p, lo, hi)[0])

    m0 = case.params.get("resonance", INF)
    for i, x in enumerate(xs):
        for name, value in case.params.items():
            flat = np.atleast_1d(np.asarray(value, dtype=float))
            for j in range(flat.size):

                def f(
                    v: float, name: str = name, j: int = j, flat: np.ndarray = flat, x: float = x
                ) -> float:
                    moved = flat.copy()
                    moved[j] = v
                    new = {**params, name: moved.reshape(np.shape(params[name]))}
                    return logpdf(x, new, case.lo, case.hi)

                got = float(np.asarray(ours[name])[i].reshape(-1)[j])
                # a step that changes log p by ~1e-4 at most (the jax value only sets the scale)
                h = min(1e-3 * max(abs(flat[j]), 1e-2), 1e-4 / max(abs(got), 1e-12))
                if name == "resonance":
                    h = min(h, 1e-2 * (m0 - x))
                if name == "resonance" and case.hi >= m0:
                    # the domain ends at m0: one-sided (m0 below hi), where log M is smooth
                    d1 = (3 * f(m0) - 4 * f(m0 - h) + f(m0 - 2 * h)) / (2 * h)
                    d2 = (3 * f(m0) - 4 * f(m0 - h / 2) + f(m0 - h)) / h
                    expected = (4 * d2 - d1) / 3
                else:
                    expected = _richardson(f, flat[j], h)
                scale = max(abs(expected), 1e-3)
                assert abs(got - expected) <= GRAD_RTOL * scale, (name, j, x, got, expected)
        if case.dist is histogram_dist:
            continue
        hx = min(1e-4 * max(1.0, abs(x)), 1e-2 * (x - case.lo), 1e-2 * (case.hi - x))
        if case.dist is argus_dist:
            hx = min(hx, 1e-2 * (m0 - x), 1e-2 * x)
        expected = _richardson(lambda v: logpdf(v, params, case.lo, case.hi), x, hx)
        assert abs(ours_x[i] - expected) <= GRAD_RTOL * max(abs(expected), 1e-3), (
            x,
            ours_x[i],
            expected,
        )


EDGE_POINTS = [
    (gaussian_dist, {"mean": 0.0, "sigma": 1.0}, -INF, INF, [-3.0, 0.0, 3.0]),
    (gaussian_dist, {"mean": 0.0, "sigma": 1.0}, 40.0, INF, [40.0, 45.0]),
    (gaussian_dist, {"mean": 0.0, "sigma": 1.0}, -INF, -40.0, [-40.0, -45.0]),
    (exponential_dist, {"c": 0.0}, 0.0, 1.0, [0.0, 0.5, 1.0]),
    (exponential_dist, {"c": 0.0}, 0.0, 1.0, [0.0, 0.5, 1.0]),
    (exponential_dist, {"c": 1.0}, 0.0, INF, [0.0, 0.5, 100.0]),
    (exponential_dist, {"c": -1.0}, -INF, 0.0, [0.0, -0.5]),
    (lognormal_dist, {"mu": 0.0, "sigma": 1.0}, 0.0, INF, [1e-3, 1.0]),
    (
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 2.0,
            "alpha_L": 1.5,
            "alpha_R": 2.0,
            "n_L": 1.0,
            "n_R": 1.0,
        },
        -10.0,
        10.0,
        [-10.0, -1.5, 0.0, 4.0, 10.0],
    ),
    (
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 2.0,
            "alpha_L": 1.5,
            "alpha_R": 2.0,
            "n_L": 2.0,
            "n_R": 3.0,
        },
        -INF,
        INF,
        [-1.5, 4.0],
    ),
    (
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 2.0,
            "alpha_L": 1.5,
            "alpha_R": 2.0,
            "n_L": 2.0,
            "n_R": 3.0,
        },
        0.0,
        3.0,
        [0.0, 3.0],
    ),
    (
        crystalball_dist,
        {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 1.0},
        -5.0,
        INF,
        [-5.0, -1.0, 0.0],
    ),
    (crystalball_dist, {"m0": 0.0, "sigma": 1.0, "alpha": -1.0, "n": 3.0}, -INF, INF, [1.0, -1.0]),
    (argus_dist, {"resonance": 5.29, "slope": 0.0, "power": 0.5}, 5.0, 5.3, [5.0, 5.2]),
    (argus_dist, {"resonance": 5.29, "slope": -1.0, "power": 0.5}, 5.0, INF, [5.0, 5.2]),
    (argus_dist, {"resonance": 5.29, "slope": -20.0, "power": 0.0}, 0.0, 5.29, [0.0, 5.0]),
    (argus_dist, {"resonance": 5.29, "slope": -20.0, "power": -0.5}, 4.0, 5.29, [4.0, 5.0]),
    (polynomial_dist, {"coefficients": [0.0, 1.0]}, 0.0, 1.0, [0.0, 0.5, 1.0]),
    (chebychev_dist, {"coefficients": [1.0]}, 0.0, 1.0, [0.0, 1.0]),
    (bernstein_poly_dist, {"coefficients": [0.0, 1.0, 0.0]}, 0.0, 1.0, [0.0, 0.5, 1.0]),
    (
        histogram_dist,
        {"contents": [0.0, 2.0, 1.0], "edges": [0.0, 1.0, 2.0, 3.0]},
        0.5,
        3.0,
        [0.5, 1.0, 3.0],
    ),
    (poisson_dist, {"mean": 0.0}, 0.0, INF, [0.0]),
    (poisson_dist, {"mean": 3.0}, 0.0, INF, [0.0, 3.0, 1e6]),
    (uniform_dist, {}, 0.0, 2.0, [0.0, 2.0]),
]


@pytest.mark.parametrize("dist, params, lo, hi, xs", EDGE_POINTS)
def test_gradients_and_hessians_finite_at_edges(dist, params, lo, hi, xs) -> None:  # noqa: ANN001
    """No NaN from untaken branches: at c = 0, n = 1, on the domain's ends, at the junctions,
    on infinite domains, at m0 inside the ARGUS domain, in empty histogram bins."""
    dist.check(params, lo, hi)
    p = _arrays(params)
    gx, grads, hessians = _derivs(dist, xs, params, lo, hi)
    finite = np.isfinite(_logpdf(dist, xs, params, lo, hi))
    for leaf in jax.tree_util.tree_leaves((grads, hessians, gx)):
        leaf = np.asarray(leaf)
        assert np.all(np.isfinite(leaf[finite])), leaf
    norm_grad = jax.grad(dist.log_normalisation)(p, lo, hi) if p else {}
    for leaf in jax.tree_util.tree_leaves(norm_grad):
        assert np.all(np.isfinite(np.asarray(leaf)))


def test_gradients_at_c_zero_are_exact() -> None:
    """exp(-c x) on [0, 1]: d/dc log p(x) = 1/2 - x and d2/dc2 = -1/12 at c = 0 (and d/dx = -c)."""
    gx, g, h = _derivs(exponential_dist, [0.2, 0.9], {"c": 0.0}, 0.0, 1.0)
    np.testing.assert_allclose(g["c"], [0.3, -0.4], rtol=0, atol=1e-15)
    np.testing.assert_allclose(h["c"]["c"], [-1 / 12, -1 / 12], rtol=0, atol=1e-14)
    np.testing.assert_allclose(gx, [0.0, 0.0], rtol=0, atol=0)


# -- hypothesis: random parameters against the references -------------------------------------


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    mean=st.floats(-5, 5),
    sigma=st.floats(0.05, 5),
    lo=st.floats(-50, 50),
    width=st.floats(1e-3, 30),
)
def test_gaussian_random(mean: float, sigma: float, lo: float, width: float) -> None:
    p = {"mean": mean, "sigma": sigma}
    case = Case(
        "h",
        gaussian_dist,
        p,
        lo,
        lo + width,
        [lo, lo + width / 3, lo + width],
        _mp_gauss(p),
        closed_form=True,
    )
    log_m = case.ref_lognorm()
    for x, v in zip(case.xs, _logpdf(gaussian_dist, case.xs, p, case.lo, case.hi), strict=True):
        assert _close(
            float(v), _ref_logpdf(case, x, log_m), 1e-9 if abs((lo - mean) / sigma) > 500 else TOL
        )


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    c=st.one_of(st.floats(-60, 60), st.floats(-1e-6, 1e-6)),
    lo=st.floats(-10, 10),
    width=st.floats(1e-3, 10),
)
def test_exponential_random(c: float, lo: float, width: float) -> None:
    p = {"c": c}
    case = Case(
        "h",
        exponential_dist,
        p,
        lo,
        lo + width,
        [lo, lo + width / 3, lo + width],
        _mp_expo(p),
        closed_form=True,
    )
    log_m = case.ref_lognorm()
    for x, v in zip(case.xs, _logpdf(exponential_dist, case.xs, p, case.lo, case.hi), strict=True):
        assert _close(float(v), _ref_logpdf(case, x, log_m)), (x, float(v))


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    alpha_l=st.floats(0.05, 4),
    alpha_r=st.floats(0.05, 4),
    n_l=st.floats(0.8, 20),
    n_r=st.floats(1.05, 20),
    sigma_r=st.floats(0.3, 3),
    lo=st.floats(-30, 4),
)
def test_crystalball_random(
    alpha_l: float, alpha_r: float, n_l: float, n_r: float, sigma_r: float, lo: float
) -> None:
    p = {
        "m0": 5.0,
        "sigma_L": 1.0,
        "sigma_R": sigma_r,
        "alpha_L": alpha_l,
        "alpha_R": alpha_r,
        "n_L": n_l,
        "n_R": n_r,
    }
    breaks = [5.0 - alpha_l, 5.0, 5.0 + alpha_r * sigma_r]
    case = Case(
        "h",
        crystalball_doublesided_dist,
        p,
        lo,
        INF,
        [lo, 4.9, 5.0, 20.0, 1e4],
        _mp_cb_double(p),
        breaks,
        True,
    )
    log_m = case.ref_lognorm()
    for x, v in zip(case.xs, _logpdf(case.dist, case.xs, p, case.lo, case.hi), strict=True):
        assert _close(float(v), _ref_logpdf(case, x, log_m)), (x, float(v))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    c=st.floats(-100, 60),
    power=st.floats(-0.5, 3),
    # XLA on CPU flushes subnormal numbers to zero (jnp.log(2.2e-309) is -inf), so a mass
    # below the smallest normal float64 is not a number the engine can evaluate
    lo=st.one_of(st.just(0.0), st.floats(1e-300, 5.2)),
    top=st.floats(5.25, 6),
)
def test_argus_random(c: float, power: float, lo: float, top: float) -> None:
    p = {"resonance": 5.29, "slope": c, "power": power}
    case = Case(
        "h", argus_dist, p, lo, top, [lo, 0.5 * (lo + 5.25), 5.25], _mp_argus(p), closed_form=True
    )
    log_m = case.ref_lognorm()
    for x, v in zip(case.xs, _logpdf(argus_dist, case.xs, p, case.lo, case.hi), strict=True):
        ref = _ref_logpdf(case, x, log_m)
        assert (v == ref == -INF) or _close(float(v), ref), (x, float(v), ref)


# -- sampling ----------------------------------------------------------------------------------

SAMPLED = [
    ("gauss", gaussian_dist, {"mean": 0.3, "sigma": 0.7}, -1.0, 2.0),
    ("gauss-40sigma", gaussian_dist, {"mean": 0.0, "sigma": 1.0}, 40.0, 41.0),
    ("gauss-left-tail", gaussian_dist, {"mean": 0.0, "sigma": 1.0}, -INF, -35.0),
    ("gauss-full", gaussian_dist, {"mean": 1.0, "sigma": 2.0}, -INF, INF),
    ("expo", exponential_dist, {"c": 1.7}, 0.5, 4.0),
    ("expo-neg", exponential_dist, {"c": -2.3}, -1.0, 2.0),
    ("expo-c0", exponential_dist, {"c": 0.0}, -1.0, 2.0),
    ("expo-half", exponential_dist, {"c": 0.5}, 1.0, INF),
    ("expo-lefthalf", exponential_dist, {"c": -0.5}, -INF, 1.0),
    ("uniform", uniform_dist, {}, -1.0, 2.0),
    ("lognormal", lognormal_dist, {"mu": 0.5, "sigma": 0.8}, 0.0, INF),
    ("lognormal-cut", lognormal_dist, {"mu": -1.0, "sigma": 0.2}, 0.5, 1.0),
    ("poly", polynomial_dist, {"coefficients": [1.0, -0.5, 0.3, 0.02]}, -1.0, 2.0),
    ("cheb", chebychev_dist, {"coefficients": [0.2, -0.3, 0.15, 0.1, -0.05, 0.02]}, -3.0, 5.0),
    (
        "bern",
        bernstein_poly_dist,
        {"coefficients": [1.0, 0.2, 3.0, 0.5, 0.0, 2.0, 0.7]},
        100.0,
        130.0,
    ),
    (
        "cb2",
        crystalball_doublesided_dist,
        {
            "m0": 5.0,
            "sigma_L": 1.0,
            "sigma_R": 2.0,
            "alpha_L": 1.5,
            "alpha_R": 2.0,
            "n_L": 3.0,
            "n_R": 5.0,
        },
        -10.0,
        30.0,
    ),
    (
        "cb2-inf",
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 0.5,
            "alpha_L": 0.5,
            "alpha_R": 1.0,
            "n_L": 1.5,
            "n_R": 2.5,
        },
        -INF,
        INF,
    ),
    ("cb1", crystalball_dist, {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 2.0}, -20.0, 5.0),
    ("cb1-right", crystalball_dist, {"m0": 0.0, "sigma": 1.3, "alpha": -0.7, "n": 1.2}, -5.0, INF),
    ("argus", argus_dist, {"resonance": 5.29, "slope": -20.0, "power": 0.5}, 5.0, 5.3),
    ("argus-pos", argus_dist, {"resonance": 5.29, "slope": 3.0, "power": 1.5}, 0.0, 5.29),
    (
        "histogram",
        histogram_dist,
        {"contents": [1.0, 0.0, 3.0, 2.0], "edges": [0.0, 1.0, 2.0, 2.5, 4.0]},
        0.5,
        3.0,
    ),
]


NUMERICAL = (polynomial_dist, chebychev_dist, bernstein_poly_dist, argus_dist)


@pytest.mark.parametrize("label, dist, params, lo, hi", SAMPLED, ids=[s[0] for s in SAMPLED])
def test_samples_pass_ks_test(
    label: str, dist: Distribution, params: dict, lo: float, hi: float
) -> None:
    key = jax.random.PRNGKey(17)
    samples = np.asarray(_jit(dist, "sample")(key, _arrays(params), lo, hi, N_SAMPLES))
    assert samples.shape == (N_SAMPLES,)
    assert np.all((samples >= lo) & (samples <= hi))
    result = scipy.stats.kstest(samples, lambda v: _cdf(dist, v, params, lo, hi))
    assert result.pvalue > 1e-3, result
    if dist in NUMERICAL:  # the numerical inverse CDF solves F(x) = u for the sampler's u
        u = np.asarray(_uniform(key, N_SAMPLES))
        np.testing.assert_allclose(_cdf(dist, samples, params, lo, hi), u, rtol=0, atol=1e-12)


def test_poisson_and_mvn_samples() -> None:
    """Poisson counts: a chi-square test of the frequencies; the multivariate normal: the
    squared Mahalanobis distances follow chi2(k) (KS)."""
    counts = np.asarray(poisson_dist.sample(jax.random.PRNGKey(3), {"mean": 4.5}, 0.0, INF, 20000))
    assert np.all(counts == np.round(counts))
    k = np.arange(0, 12)
    expected = scipy.stats.poisson.pmf(k, 4.5) * counts.size
    observed = np.array([(counts == v).sum() for v in k])
    expected[-1] += counts.size - expected.sum()  # the last bin takes the tail
    observed[-1] += (counts > k[-1]).sum()
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    cdf = np.asarray(poisson_dist.cdf(jnp.asarray([0.0, 4.0, 4.7]), {"mean": 4.5}, 0.0, INF))
    np.testing.assert_allclose(cdf, scipy.stats.poisson.cdf([0, 4, 4], 4.5), rtol=1e-12)
    cov = np.array([[2.0, 0.9, -0.5], [0.9, 1.0, 0.2], [-0.5, 0.2, 0.5]])
    mean = np.array([1.0, -1.0, 0.5])
    params = {"mean": mean, "covariances": cov}
    draws = np.asarray(
        multivariate_normal_dist.sample(jax.random.PRNGKey(5), params, None, None, N_SAMPLES)
    )
    assert draws.shape == (N_SAMPLES, 3)
    d = draws - mean
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    assert scipy.stats.kstest(maha, scipy.stats.chi2(3).cdf).pvalue > 1e-3
    # and the sample covariance, element by element, within 5 standard errors
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / N_SAMPLES)
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * se)


@pytest.mark.parametrize("dist", [polynomial_dist, bernstein_poly_dist], ids=lambda d: d.hs3_type)
def test_numerical_inverse_cdf_at_the_ends(dist: Distribution) -> None:
    """The numerical quantile solves F(x) = u to 1e-12 also 1e-9 from the ends, where the
    density vanishes (F ~ x^2: the log-space Newton steps)."""
    params = _arrays(
        {"coefficients": [0.0, 1.0, 0.0] if dist is bernstein_poly_dist else [0.0, 1.0]}
    )
    u = jnp.array([1e-9, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-9])
    cdf = lambda x: dist.cdf(x, params, 0.0, 1.0)  # noqa: E731
    logpdf = lambda x: dist.logpdf(x, params, 0.0, 1.0)  # noqa: E731
    x = invert_cdf(u, cdf, logpdf, jnp.asarray(0.0), jnp.asarray(1.0))
    np.testing.assert_allclose(np.asarray(cdf(x)), np.asarray(u), rtol=0, atol=1e-12)


def test_sample_far_tail_is_exact() -> None:
    """40 sigma out, the inverse CDF is exact: the quantiles match mpmath's (bisection at
    30 digits)."""
    u = jnp.array([1e-6, 0.3, 0.9, 0.999999])
    ours = np.asarray(truncnorm_ppf(u, jnp.asarray(40.0), jnp.asarray(41.0)))
    mass = mpmath.ncdf(-40) - mpmath.ncdf(-41)
    for ui, z in zip(np.asarray(u), ours, strict=True):
        lo, hi = mpf(40), mpf(41)  # F(z) = (Phi(-40) - Phi(-z)) / mass is increasing in z
        for _ in range(64):  # 2^-64 of the bracket: below 1e-18
            mid = (lo + hi) / 2
            if (mpmath.ncdf(-40) - mpmath.ncdf(-mid)) / mass < float(ui):
                lo = mid
            else:
                hi = mid
        assert abs(z - float(lo)) < 1e-12 * 41, (ui, z, float(lo))


# -- pyhs3 --------------------------------------------------------------------------------------


def _pyhs3_model() -> Any:
    pyhs3 = pytest.importorskip("pyhs3")
    names = {
        "cb": ("m0", "sig", "alpha", "n"),
        "cb2": ("sL", "sR", "aL", "aR", "nL", "nR"),
        "arg": ("res", "slope", "pow"),
        "bern": ("b0", "b1", "b2", "b3"),
        "poly": ("a0", "a1", "a2"),
    }
    doc = {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {
                "name": "cb",
                "type": "crystalball_dist",
                "m": "m",
                "m0": "m0",
                "sigma": "sig",
                "alpha": "alpha",
                "n": "n",
            },
            {
                "name": "cb2",
                "type": "crystalball_doublesided_dist",
                "m": "m",
                "m0": "m0",
                "sigma_L": "sL",
                "sigma_R": "sR",
                "alpha_L": "aL",
                "alpha_R": "aR",
                "n_L": "nL",
                "n_R": "nR",
            },
            {
                "name": "arg",
                "type": "argus_dist",
                "mass": "m",
                "resonance": "res",
                "slope": "slope",
                "power": "pow",
            },
            {
                "name": "bern",
                "type": "bernstein_poly_dist",
                "x": "t",
                "coefficients": ["b0", "b1", "b2", "b3"],
            },
            {
                "name": "poly",
                "type": "polynomial_dist",
                "x": "m",
                "coefficients": ["a0", "a1", "a2"],
            },
        ],
        "domains": [
            {
                "name": "d",
                "type": "product_domain",
                "axes": [
                    {"name": "m", "min": 0.0, "max": 10.0},
                    {"name": "t", "min": 0.0, "max": 1.0},
                ]
                + [
                    {"name": v, "min": -100.0, "max": 100.0}
                    for group in names.values()
                    for v in group
                ],
            }
        ],
        "parameter_points": [
            {"name": "p", "parameters": [{"name": "m", "value": 1.0}, {"name": "t", "value": 0.5}]}
        ],
    }
    return pyhs3.Workspace(**doc).model(0, progress=False, mode="FAST_COMPILE")


def test_shapes_equal_pyhs3() -> None:
    """pyhs3 0.4.2 (legacy evaluation, unnormalised) has our shapes up to a constant: the same
    field conventions. Its crystalball_dist is one-sided (ROOT's RooCBShape), its Bernstein
    polynomial takes x itself as t (so the comparison is on [0, 1])."""
    model = _pyhs3_model()
    m = np.linspace(0.2, 9.8, 13)
    values = {
        "m": m,
        "t": np.linspace(0.0, 1.0, 13),
        "m0": 5.0,
        "sig": 0.8,
        "alpha": 1.3,
        "n": 2.5,
        "sL": 0.8,
        "sR": 1.5,
        "aL": 1.1,
        "aR": 0.9,
        "nL": 3.0,
        "nR": 1.7,
        "res": 9.9,
        "slope": -7.0,
        "pow": 0.5,
        "b0": 1.0,
        "b1": 0.2,
        "b2": 3.0,
        "b3": 0.5,
        "a0": 1.0,
        "a1": 0.5,
        "a2": 0.2,
    }

    def theirs(name: str) -> np.ndarray:
        kw = {k: np.asarray(values[k], dtype=np.float64) for k in model.pars(name)}
        return np.asarray(model.pdf(name, **kw), dtype=np.float64).reshape(-1)

    ours = {
        "cb": _logpdf(
            crystalball_dist, m, {"m0": 5.0, "sigma": 0.8, "alpha": 1.3, "n": 2.5}, 0.0, 10.0
        ),
        "cb2": _logpdf(
            crystalball_doublesided_dist,
            m,
            {
                "m0": 5.0,
                "sigma_L": 0.8,
                "sigma_R": 1.5,
                "alpha_L": 1.1,
                "alpha_R": 0.9,
                "n_L": 3.0,
                "n_R": 1.7,
            },
            0.0,
            10.0,
        ),
        "arg": _logpdf(argus_dist, m, {"resonance": 9.9, "slope": -7.0, "power": 0.5}, 0.0, 10.0),
        "bern": _logpdf(
            bernstein_poly_dist, values["t"], {"coefficients": [1.0, 0.2, 3.0, 0.5]}, 0.0, 1.0
        ),
        "poly": _logpdf(polynomial_dist, m, {"coefficients": [1.0, 0.5, 0.2]}, 0.0, 10.0),
    }
    for name, mine in ours.items():
        log_theirs = np.log(theirs(name))
        offset = mine - log_theirs  # -log M: the same constant at every point
        np.testing.assert_allclose(offset, offset[0], rtol=0, atol=1e-12, err_msg=name)
    # and the constant is our log-normalisation: pyhs3's shapes are the unnormalised f
    m_cb = float(
        crystalball_dist.log_normalisation(
            _arrays({"m0": 5.0, "sigma": 0.8, "alpha": 1.3, "n": 2.5}), 0.0, 10.0
        )
    )
    offset = ours["cb"][0] - np.log(theirs("cb"))[0]
    assert offset == pytest.approx(-m_cb, abs=1e-12)


# -- checks and errors ---------------------------------------------------------------------------

BAD = [
    (gaussian_dist, {"mean": 0.0, "sigma": 0.0}, -1.0, 1.0, "sigma"),
    (gaussian_dist, {"mean": math.nan, "sigma": 1.0}, -1.0, 1.0, "mean"),
    (gaussian_dist, {"mean": 0.0, "sigma": 1.0}, 1.0, 1.0, "domain"),
    (gaussian_dist, {"mean": INF, "sigma": 1.0}, -1.0, 1.0, "mean"),
    (normal_dist, {"mean": 0.0}, -1.0, 1.0, "sigma"),
    (exponential_dist, {"c": -1.0}, 0.0, INF, "c"),
    (exponential_dist, {"c": 0.0}, -INF, 0.0, "c"),
    (uniform_dist, {}, 0.0, INF, "domain"),
    (lognormal_dist, {"mu": 0.0, "sigma": 1.0}, -1.0, 1.0, "domain"),
    (lognormal_dist, {"mu": 0.0, "sigma": -1.0}, 0.0, 1.0, "sigma"),
    (poisson_dist, {"mean": -1.0}, 0.0, INF, "mean"),
    (poisson_dist, {"mean": 1.0}, -1.0, INF, "domain"),
    (polynomial_dist, {"coefficients": [1.0, -2.0]}, 0.0, 1.0, "coefficients"),
    (polynomial_dist, {"coefficients": [0.0, 0.0]}, 0.0, 1.0, "coefficients"),
    (polynomial_dist, {"coefficients": [1.0]}, 0.0, INF, "domain"),
    (polynomial_dist, {"coefficients": [[1.0]]}, 0.0, 1.0, "coefficients"),
    (chebychev_dist, {"coefficients": [0.0, 1.5]}, 0.0, 1.0, "coefficients"),
    (bernstein_poly_dist, {"coefficients": [1.0, -3.0, 1.0]}, 0.0, 1.0, "coefficients"),
    (bernstein_poly_dist, {"coefficients": [0.0, 0.0]}, 0.0, 1.0, "coefficients"),
    (crystalball_dist, {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 1.0}, -INF, 5.0, "n"),
    (crystalball_dist, {"m0": 0.0, "sigma": 1.0, "alpha": -1.0, "n": 0.9}, -5.0, INF, "n"),
    (crystalball_dist, {"m0": 0.0, "sigma": 1.0, "alpha": 0.0, "n": 2.0}, -5.0, 5.0, "alpha"),
    (crystalball_dist, {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": -2.0}, -5.0, 5.0, "n"),
    (
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 1.0,
            "alpha_L": 1.0,
            "alpha_R": 1.0,
            "n_L": 2.0,
            "n_R": 1.0,
        },
        -5.0,
        INF,
        "n_R",
    ),
    (
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 1.0,
            "alpha_L": -1.0,
            "alpha_R": 1.0,
            "n_L": 2.0,
            "n_R": 2.0,
        },
        -5.0,
        5.0,
        "alpha_L",
    ),
    (
        crystalball_doublesided_dist,
        {
            "m0": 0.0,
            "sigma_L": 1.0,
            "sigma_R": 0.0,
            "alpha_L": 1.0,
            "alpha_R": 1.0,
            "n_L": 2.0,
            "n_R": 2.0,
        },
        -5.0,
        5.0,
        "sigma_R",
    ),
    (crystalball_symmetric, {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 1.0}, -5.0, INF, "n"),
    (argus_dist, {"resonance": 5.29, "slope": -20.0, "power": -1.0}, 5.0, 5.3, "power"),
    (argus_dist, {"resonance": 5.29, "slope": -20.0, "power": 0.5}, 5.29, 5.3, "domain"),
    (argus_dist, {"resonance": -5.29, "slope": -20.0, "power": 0.5}, 0.0, 5.3, "resonance"),
    (argus_dist, {"resonance": 5.29, "slope": 200.0, "power": 0.5}, 0.0, 5.3, "slope"),
    (argus_dist, {"resonance": 5.29, "slope": math.nan, "power": 0.5}, 0.0, 4.0, "slope"),
    (histogram_dist, {"contents": [1.0, -1.0], "edges": [0.0, 1.0, 2.0]}, 0.0, 2.0, "contents"),
    (histogram_dist, {"contents": [1.0, 1.0], "edges": [0.0, 2.0, 1.0]}, 0.0, 2.0, "edges"),
    (histogram_dist, {"contents": [1.0], "edges": [0.0, 1.0, 2.0]}, 0.0, 2.0, "contents"),
    (histogram_dist, {"contents": [1.0, 1.0], "edges": [0.0, 1.0, 2.0]}, 5.0, 6.0, "contents"),
    (
        multivariate_normal_dist,
        {"mean": [0.0, 0.0], "covariances": [[1.0, 2.0], [2.0, 1.0]]},
        None,
        None,
        "covariances",
    ),
    (
        multivariate_normal_dist,
        {"mean": [0.0, 0.0], "covariances": [[1.0, 0.5], [0.4, 1.0]]},
        None,
        None,
        "covariances",
    ),
    (
        multivariate_normal_dist,
        {"mean": [0.0, 0.0], "covariances": [[1.0]]},
        None,
        None,
        "covariances",
    ),
]


@pytest.mark.parametrize(
    "dist, params, lo, hi, field_name",
    BAD,
    ids=[f"{b[0].hs3_type}-{b[4]}-{i}" for i, b in enumerate(BAD)],
)
def test_check_rejects_bad_parameters(
    dist: Distribution, params: dict, lo: Any, hi: Any, field_name: str
) -> None:
    with pytest.raises(InvalidDistribution) as info:
        dist.check(params, lo, hi)
    assert info.value.field == field_name
    assert info.value.distribution == dist.hs3_type or dist is crystalball_symmetric
    assert str(info.value).startswith(f"{dist.hs3_type}.{field_name}: ")
    assert isinstance(info.value, RelaxedError)


def test_check_events() -> None:
    check_events(np.array([0.0, 0.5, 1.0]), 0.0, 1.0, "x")
    with pytest.raises(InvalidData, match=r"x: 2 of 3 events lie outside the domain \[0.0, 1.0\]"):
        check_events(np.array([-0.1, 0.5, 1.5]), 0.0, 1.0, "x")
    with pytest.raises(InvalidData, match="NaN"):
        check_events(np.array([np.nan]), 0.0, 1.0, "x")
    # outside the domain the truncated density is zero
    assert np.all(
        _logpdf(gaussian_dist, [-2.0, 2.0], {"mean": 0.0, "sigma": 1.0}, -1.0, 1.0) == -INF
    )


def test_registry_and_for_node() -> None:
    for name, dist in DISTRIBUTIONS.items():
        assert dist.hs3_type == name
        assert isinstance(dist.parameters, tuple)
    assert DISTRIBUTIONS["normal_dist"].logpdf is gaussian_dist.logpdf
    assert DISTRIBUTIONS["crystalball_dist"] is crystalball_dist
    assert DISTRIBUTIONS["argus_dist"].observable == "mass"
    assert DISTRIBUTIONS["crystalball_dist"].observable == "m"
    assert not DISTRIBUTIONS["poisson_dist"].normalised
    node = {
        "type": "crystalball_dist",
        "alpha_L": 1,
        "alpha_R": 1,
        "n_L": 2,
        "n_R": 2,
        "sigma_L": 1,
        "sigma_R": 1,
    }
    assert for_node(node).logpdf is crystalball_doublesided_dist.logpdf
    assert for_node({"type": "crystalball_dist", "alpha": 1}) is crystalball_dist
    assert (
        for_node({"type": "crystalball_dist", "alpha": 1}, crystalball="standard")
        is crystalball_symmetric
    )
    with pytest.raises(InvalidArgument, match="must not be used together"):
        for_node({"type": "crystalball_dist", "alpha": 1, "alpha_L": 1})
    with pytest.raises(InvalidArgument, match="not a fundamental distribution"):
        for_node({"type": "mixture_dist"})
    with pytest.raises(InvalidArgument, match="'root' or 'standard'"):
        for_node({"type": "crystalball_dist", "alpha": 1}, crystalball="roofit")


def test_symmetric_reading_differs_from_root() -> None:
    """With alpha, n, sigma the standard's text puts tails on both sides; ROOT's RooCBShape
    (and pyhs3) one, left of the peak for alpha > 0: the right wings differ."""
    p = {"m0": 0.0, "sigma": 1.0, "alpha": 1.0, "n": 2.0}
    x = [-4.0, 4.0]
    sym = _logpdf(crystalball_symmetric, x, p, -10.0, 10.0)
    root = _logpdf(crystalball_dist, x, p, -10.0, 10.0)
    assert sym[0] == pytest.approx(sym[1], abs=1e-14)
    assert root[0] > root[1] + 5  # Gaussian on the right for RooCBShape


def test_histogram_params_and_density() -> None:
    params = histogram_params(
        {"contents": [1, 0, 3, 2], "axes": [{"name": "x", "edges": [0, 1, 2, 2.5, 4]}]}
    )
    x = np.array([0.5, 1.5, 2.2, 3.9, 4.0])
    ours = np.exp(_logpdf(histogram_dist, x, params, 0.0, 4.0))
    np.testing.assert_allclose(
        ours, [1 / 6, 0.0, 3 / 0.5 / 6, 2 / 1.5 / 6, 2 / 1.5 / 6], rtol=1e-14
    )
    cut = np.exp(_logpdf(histogram_dist, [0.75, 2.2, 3.5], params, 0.5, 3.0))
    mass = 0.5 + 3 + 2 * 0.5 / 1.5
    np.testing.assert_allclose(cut, [1 / mass, 6 / mass, 0.0], rtol=1e-14)
    assert np.all(_logpdf(histogram_dist, [-1.0, 5.0], params, -2.0, 6.0) == -INF)
    with pytest.raises(InvalidDistribution, match="exactly one axis"):
        histogram_params({"contents": [1], "axes": []})
    with pytest.raises(InvalidDistribution, match="'edges' or"):
        histogram_params({"contents": [1], "axes": [{"name": "x"}]})
    grad = jax.grad(
        lambda c: histogram_dist.logpdf(2.2, {**_arrays(params), "contents": c}, 0.0, 4.0)
    )(jnp.asarray(params["contents"]))
    np.testing.assert_allclose(
        np.asarray(grad), [-1 / 6, -1 / 6, 1 / 3 - 1 / 6, -1 / 6], atol=1e-14
    )


def test_jit_vmap_over_parameters_and_many_events() -> None:
    """One compiled NLL over 10^6 events, vmapped over parameter points, with its gradient."""
    dist = crystalball_doublesided_dist
    truth = {
        "m0": 5.0,
        "sigma_L": 1.0,
        "sigma_R": 2.0,
        "alpha_L": 1.5,
        "alpha_R": 2.0,
        "n_L": 3.0,
        "n_R": 5.0,
    }
    sample = _jit(dist, "sample")(jax.random.PRNGKey(0), _arrays(truth), -10.0, 30.0, N_SAMPLES)
    events = jnp.tile(sample, 1_000_000 // N_SAMPLES)

    def nll(m0: jax.Array) -> jax.Array:
        return -jnp.sum(dist.logpdf(events, {**_arrays(truth), "m0": m0}, -10.0, 30.0))

    m0s = jnp.array([4.9, 5.0, 5.1])
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(nll)))(m0s)
    assert events.shape == (1_000_000,)
    assert np.all(np.isfinite(np.asarray(values))) and np.all(np.isfinite(np.asarray(grads)))
    assert float(values[1]) < float(values[0]) and float(values[1]) < float(values[2])
    assert float(grads[0]) < 0 < float(grads[2])


def test_pyhs3_normalised_density_agrees_to_its_quadrature() -> None:
    """pyhs3 normalises over the data's axis by 64-point Gauss-Legendre quadrature: on a
    Crystal Ball (a kink in the second derivative at the junction) that is good to ~2e-5;
    our analytic normalisation agrees with mpmath to 1e-15 (test_logpdf_equals_reference)."""
    pyhs3 = pytest.importorskip("pyhs3")
    doc = {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {
                "name": "cb",
                "type": "crystalball_dist",
                "m": "m",
                "m0": "m0",
                "sigma": "sigma",
                "alpha": "alpha",
                "n": "n",
            }
        ],
        "data": [
            {
                "name": "obs",
                "type": "unbinned",
                "axes": [{"name": "m", "min": 0.0, "max": 10.0}],
                "entries": [[1.0], [2.0]],
            }
        ],
        "likelihoods": [{"name": "L", "distributions": ["cb"], "data": ["obs"]}],
        "domains": [
            {
                "name": "d",
                "type": "product_domain",
                "axes": [{"name": "m", "min": 0.0, "max": 10.0}]
                + [{"name": v, "min": -10.0, "max": 20.0} for v in ("m0", "sigma", "alpha", "n")],
            }
        ],
        "parameter_points": [
            {
                "name": "p",
                "parameters": [{"name": v, "value": 1.0} for v in ("m0", "sigma", "alpha", "n")],
            }
        ],
    }
    model = pyhs3.Workspace(**doc).model("L", progress=False, mode="FAST_COMPILE")
    m = np.linspace(0.5, 9.5, 5)
    values = {"m": m, "m0": 5.0, "sigma": 1.0, "alpha": 1.0, "n": 3.0}
    theirs = np.asarray(
        model.pdf("cb", **{k: np.asarray(values[k], dtype=np.float64) for k in model.pars("cb")})
    ).reshape(-1)
    ours = np.exp(
        _logpdf(crystalball_dist, m, {"m0": 5.0, "sigma": 1.0, "alpha": 1.0, "n": 3.0}, 0.0, 10.0)
    )
    ratio = ours / theirs
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)  # the same shape
    assert 1e-6 < abs(ratio[0] - 1) < 1e-4  # their quadrature's error (1.7e-5 here)
