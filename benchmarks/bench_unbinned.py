"""Unbinned extended fit (Gaussian signal + exponential background): relaxed vs iminuit+numpy
(and zfit when installed), same machine, same run.

The model: observable m in [100, 160], signal Gaussian(mass, width) with yield n_sig,
background exp(-slope * m) with yield n_bkg (5 free parameters), events drawn with 5% signal.
For each size (10^4, 10^5, 10^6 events by default) it reports

- relaxed: ``fit`` (Newton, implicit derivatives, Hessian uncertainties) cold (first call in
  this process, compilation included) and warm (median of repeats on new events of the same
  size), and the throughput of one jit-compiled NLL value-and-gradient in events per second;
- iminuit + numpy: MIGRAD + HESSE on the same NLL written in numpy/scipy (vectorised);
- zfit (if importable): the same model and a ``zfit.minimize.Minuit`` fit.

Each engine's -log L at its minimum and its n_sig estimate stand beside its time, so a fast
wrong answer shows. Prints JSON.

    python benchmarks/bench_unbinned.py [--sizes 10000,100000,1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import numpy as np
from scipy import stats

jax.config.update("jax_enable_x64", True)

from relaxed.unbinned import Component, ExtendedModel, Parameter, events, fit  # noqa: E402

LO, HI = 100.0, 160.0
INIT = {"mass": 124.0, "n_bkg": 0.0, "n_sig": 0.0, "slope": 0.03, "width": 2.5}


def _sample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_sig = rng.binomial(n, 0.05)
    sig = rng.normal(125.0, 2.0, 4 * n_sig)
    sig = sig[(sig >= LO) & (sig <= HI)][:n_sig]
    u = rng.uniform(size=n - n_sig)
    c = 0.04
    bkg = LO - np.log1p(-u * (1 - np.exp(-c * (HI - LO)))) / c
    return np.concatenate([sig, bkg])


def _model(n: int, batch_size: int | None) -> ExtendedModel:
    return ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": "mass", "sigma": "width"}, "n_sig"),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_bkg"),
        ],
        {
            "n_sig": Parameter(0.04 * n, (0.0, 10.0 * n)),
            "n_bkg": Parameter(0.9 * n, (0.0, 10.0 * n)),
            "mass": Parameter(124.0, (110.0, 140.0)),
            "width": Parameter(2.5, (0.5, 10.0)),
            "slope": Parameter(0.03, (-0.5, 0.5)),
        },
        poi="n_sig",
        batch_size=batch_size,
    )


def _numpy_nll(p: np.ndarray, x: np.ndarray) -> float:
    mass, n_bkg, n_sig, slope, width = p
    norm_s = stats.norm.cdf(HI, mass, width) - stats.norm.cdf(LO, mass, width)
    f_s = stats.norm.pdf(x, mass, width) / norm_s
    norm_b = (np.exp(-slope * LO) - np.exp(-slope * HI)) / slope
    f_b = np.exp(-slope * x) / norm_b
    return float(-np.sum(np.log(n_sig * f_s + n_bkg * f_b)) + n_sig + n_bkg)


def _relaxed(n: int, repeats: int, batch_size: int | None) -> dict:
    model = _model(n, batch_size)
    start = time.perf_counter()
    data = events(model, _sample(n, 0))
    result = fit(model, data)
    jax.block_until_ready(result.bestfit)
    cold = time.perf_counter() - start
    warm = []
    for k in range(repeats):
        data_k = events(model, _sample(n, 1 + k))
        start = time.perf_counter()
        jax.block_until_ready(fit(model, data_k).bestfit)
        warm.append(time.perf_counter() - start)
    vg = jax.jit(model.nll_and_grad)
    pars = np.asarray(model.config.suggested_init())
    jax.block_until_ready(vg(pars, data))
    times = []
    for _ in range(max(3, repeats)):
        start = time.perf_counter()
        jax.block_until_ready(vg(pars, data))
        times.append(time.perf_counter() - start)
    return {
        "cold_s": cold,
        "warm_s": statistics.median(warm),
        "nll_grad_events_per_s": n / statistics.median(times),
        "nll_min": 0.5 * float(result.twice_nll),
        "n_sig": float(result.bestfit[2]),
        "n_sig_error": float(result.uncertainties[2]),
        "iterations": int(result.nit),
    }


def _iminuit(n: int, repeats: int) -> dict | None:
    try:
        import iminuit
    except ImportError:
        return None
    model = _model(n, None)
    out = []
    for k in range(repeats):
        x = _sample(n, k)
        start = time.perf_counter()
        m = iminuit.Minuit(
            lambda p, x=x: _numpy_nll(np.asarray(p), x),
            model.config.suggested_init(),
            name=model.config.par_order,
        )
        m.errordef = iminuit.Minuit.LIKELIHOOD
        m.limits = model.config.suggested_bounds()
        m.migrad()
        m.hesse()
        out.append((time.perf_counter() - start, m))
    t = statistics.median(v for v, _ in out)
    m0 = out[0][1]
    return {
        "fit_s": t,
        "valid": bool(m0.valid),
        "nll_min": float(m0.fval),
        "n_sig": float(m0.values["n_sig"]),
        "n_sig_error": float(m0.errors["n_sig"]),
    }


def _zfit(n: int, repeats: int) -> dict | None:
    try:
        import zfit
    except ImportError:
        return None
    obs = zfit.Space("m", limits=(LO, HI))
    mass = zfit.Parameter("mass", 124.0, 110.0, 140.0)
    width = zfit.Parameter("width", 2.5, 0.5, 10.0)
    lam = zfit.Parameter("lam", -0.03, -0.5, 0.5)
    n_sig = zfit.Parameter("n_sig", 0.04 * n, 0.0, 10.0 * n)
    n_bkg = zfit.Parameter("n_bkg", 0.9 * n, 0.0, 10.0 * n)
    sig = zfit.pdf.Gauss(obs=obs, mu=mass, sigma=width, extended=n_sig)
    bkg = zfit.pdf.Exponential(obs=obs, lam=lam, extended=n_bkg)
    pdf = zfit.pdf.SumPDF([sig, bkg])
    minimizer = zfit.minimize.Minuit()
    out = []
    for k in range(repeats + 1):
        for p, v in (
            (mass, 124.0),
            (width, 2.5),
            (lam, -0.03),
            (n_sig, 0.04 * n),
            (n_bkg, 0.9 * n),
        ):
            p.set_value(v)
        data = zfit.Data.from_numpy(obs=obs, array=_sample(n, k))
        start = time.perf_counter()
        nll = zfit.loss.ExtendedUnbinnedNLL(model=pdf, data=data)
        result = minimizer.minimize(nll)
        result.hesse()
        out.append((time.perf_counter() - start, result))
    return {
        "cold_s": out[0][0],
        "warm_s": statistics.median(v for v, _ in out[1:]),
        "n_sig": float(out[0][1].params[n_sig]["value"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        row = {"events": n, "relaxed": _relaxed(n, args.repeats, args.batch_size)}
        for name, run in (("iminuit_numpy", _iminuit), ("zfit", _zfit)):
            value = run(n, args.repeats)
            if value is not None:
                row[name] = value
        ref = row.get("iminuit_numpy")
        if ref:
            row["speedup_warm_vs_iminuit"] = ref["fit_s"] / row["relaxed"]["warm_s"]
            row["nll_min_diff_vs_iminuit"] = row["relaxed"]["nll_min"] - ref["nll_min"]
        rows.append(row)
        print(json.dumps(row), flush=True, file=__import__("sys").stderr)
    print(
        json.dumps(
            {
                "benchmark": "unbinned_gauss_plus_exponential_fit",
                "rows": rows,
                "versions": {"jax": jax.__version__},
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
