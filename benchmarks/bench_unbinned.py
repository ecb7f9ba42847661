"""Unbinned extended fit (Gaussian signal + exponential background): relaxed vs iminuit+numpy
vs zfit, same machine, same run.

The model: observable m in [100, 160], signal Gaussian(mass, width) with yield n_sig,
background exp(-slope * m) with yield n_bkg (5 free parameters), events drawn with 5% signal.
For each size (10^4, 10^5, 10^6 events by default) it reports

- relaxed: ``fit`` on concrete events (Fisher-scoring Newton steps, the exact Hessian at the
  minimum for the uncertainties) cold (first call in this process, compilation included) and
  warm (median of repeats on new events of the same size); ``warm_jit_s``, the same fit under
  ``jax.jit`` (the differentiable path: two more passes of exact Newton steps that carry the
  implicit derivatives); the iterations; the throughput of ``model.nll_and_grad`` in events
  per second; and ``pass_ms``, one pass over the events of the value and gradient, of the
  value, gradient and outer-product curvature (one Fisher-scoring iteration) and of the value,
  gradient and exact Hessian (:mod:`relaxed.unbinned.derivatives`);
- iminuit + numpy: MIGRAD + HESSE on the same NLL written in numpy/scipy (vectorised);
- zfit: the same model, ``zfit.minimize.Minuit`` + ``hesse``, cold (first fit in a new
  process, graph building included; ``import_s`` apart), warm (median of repeats on new
  events, a new loss each, as for relaxed) and ``warm_same_loss_s`` (the same loss minimised
  again from the start values, its compiled graphs reused). In this process when zfit is
  importable, otherwise in a subprocess of the interpreter given by ``--zfit-python`` (or the
  ``ZFIT_PYTHON`` environment variable), e.g. a virtual environment with zfit and TensorFlow,
  which runs this script as ``--zfit-worker N`` and prints JSON.

Each engine's -log L at its minimum (the same formula, the numpy one of iminuit's column,
evaluated at that engine's best fit) and its n_sig estimate stand beside its time, so a fast
wrong answer shows. Prints JSON.

    python benchmarks/bench_unbinned.py [--sizes 10000,100000,1000000] [--repeats 3]
        [--zfit-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
from scipy import stats

LO, HI = 100.0, 160.0
#: par_order of the model (sorted names), the order of every parameter vector here.
PAR_ORDER = ("mass", "n_bkg", "n_sig", "slope", "width")


def _sample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_sig = rng.binomial(n, 0.05)
    sig = rng.normal(125.0, 2.0, 4 * n_sig)
    sig = sig[(sig >= LO) & (sig <= HI)][:n_sig]
    u = rng.uniform(size=n - n_sig)
    c = 0.04
    bkg = LO - np.log1p(-u * (1 - np.exp(-c * (HI - LO)))) / c
    return np.concatenate([sig, bkg])


def _init(n: int) -> dict[str, float]:
    return {"mass": 124.0, "n_bkg": 0.9 * n, "n_sig": 0.04 * n, "slope": 0.03, "width": 2.5}


def _bounds(n: int) -> dict[str, tuple[float, float]]:
    return {
        "mass": (110.0, 140.0),
        "n_bkg": (0.0, 10.0 * n),
        "n_sig": (0.0, 10.0 * n),
        "slope": (-0.5, 0.5),
        "width": (0.5, 10.0),
    }


def _numpy_nll(p: np.ndarray, x: np.ndarray) -> float:
    mass, n_bkg, n_sig, slope, width = p
    norm_s = stats.norm.cdf(HI, mass, width) - stats.norm.cdf(LO, mass, width)
    f_s = stats.norm.pdf(x, mass, width) / norm_s
    norm_b = (np.exp(-slope * LO) - np.exp(-slope * HI)) / slope
    f_b = np.exp(-slope * x) / norm_b
    return float(-np.sum(np.log(n_sig * f_s + n_bkg * f_b)) + n_sig + n_bkg)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(max(3, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- relaxed --------------------------------------------------------------------------------
def _relaxed(n: int, repeats: int, batch_size: int | None) -> dict:
    import jax

    from relaxed.unbinned import Component, ExtendedModel, Parameter, events, fit
    from relaxed.unbinned.derivatives import (
        chunks,
        nll_objective,
        value_grad_hessian,
        value_grad_outer,
    )

    init, bounds = _init(n), _bounds(n)
    model = ExtendedModel(
        "m",
        (LO, HI),
        [
            Component("sig", "gaussian_dist", {"mean": "mass", "sigma": "width"}, "n_sig"),
            Component("bkg", "exponential_dist", {"c": "slope"}, "n_bkg"),
        ],
        {name: Parameter(init[name], bounds[name]) for name in PAR_ORDER},
        poi="n_sig",
        batch_size=batch_size,
    )
    assert model.config.par_order == PAR_ORDER
    start = time.perf_counter()
    x0 = _sample(n, 0)
    data = events(model, x0)
    result = fit(model, data)
    jax.block_until_ready(result.bestfit)
    cold = time.perf_counter() - start
    warm, nits = [], []
    for k in range(repeats):
        data_k = events(model, _sample(n, 1 + k))
        start = time.perf_counter()
        result_k = fit(model, data_k)
        jax.block_until_ready(result_k.bestfit)
        warm.append(time.perf_counter() - start)
        nits.append(int(result_k.nit))
    # the differentiable path: the same fit with traced events
    jitted = jax.jit(lambda d: fit(model, d))
    jax.block_until_ready(jitted(data).bestfit)
    warm_jit = []
    for k in range(repeats):
        data_k = events(model, _sample(n, 1 + k))
        start = time.perf_counter()
        jax.block_until_ready(jitted(data_k).bestfit)
        warm_jit.append(time.perf_counter() - start)
    pars = np.asarray(model.config.suggested_init())
    vg = jax.jit(model.nll_and_grad)
    jax.block_until_ready(vg(pars, data))
    t_vg = _median_time(lambda: jax.block_until_ready(vg(pars, data)), repeats)
    # one pass each, on the layout the fit uses
    laid_out = chunks(data)
    exact = nll_objective(model)
    passes = {
        "value_grad": jax.jit(lambda p, d: jax.value_and_grad(exact)(p, d)),
        "value_grad_outer": jax.jit(lambda p, d: value_grad_outer(model, p, d)),
        "value_grad_hessian": jax.jit(lambda p, d: value_grad_hessian(model, p, d)),
    }
    pass_ms = {}
    for name, fn in passes.items():
        jax.block_until_ready(fn(pars, laid_out))
        t = _median_time(lambda fn=fn: jax.block_until_ready(fn(pars, laid_out)), repeats)
        pass_ms[name] = 1e3 * t
    best = np.asarray(result.bestfit)
    return {
        "cold_s": cold,
        "warm_s": statistics.median(warm),
        "warm_jit_s": statistics.median(warm_jit),
        "iterations": int(result.nit),
        "iterations_warm": nits,
        "nll_grad_events_per_s": n / t_vg,
        "pass_ms": pass_ms,
        "nll_min": 0.5 * float(result.twice_nll),
        "nll_min_numpy": _numpy_nll(best, x0),
        "n_sig": float(best[2]),
        "n_sig_error": float(result.uncertainties[2]),
    }


# -- iminuit --------------------------------------------------------------------------------
def _iminuit(n: int, repeats: int) -> dict | None:
    try:
        import iminuit
    except ImportError:
        return None
    init, bounds = _init(n), _bounds(n)
    out = []
    for k in range(repeats):
        x = _sample(n, k)
        start = time.perf_counter()
        m = iminuit.Minuit(
            lambda p, x=x: _numpy_nll(np.asarray(p), x),
            [init[name] for name in PAR_ORDER],
            name=PAR_ORDER,
        )
        m.errordef = iminuit.Minuit.LIKELIHOOD
        m.limits = [bounds[name] for name in PAR_ORDER]
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


# -- zfit -----------------------------------------------------------------------------------
def _zfit(n: int, repeats: int) -> dict | None:
    """zfit in this process: cold is the first fit of this process (graph building included),
    warm the median of ``repeats`` fits on new events (a new loss each)."""
    start = time.perf_counter()
    try:
        import zfit
    except ImportError:
        return None
    import_s = time.perf_counter() - start
    init, bounds = _init(n), _bounds(n)
    obs = zfit.Space("m", limits=(LO, HI))
    shared = ("mass", "n_bkg", "n_sig", "width")
    params = {name: zfit.Parameter(name, init[name], *bounds[name]) for name in shared}
    # zfit's exponential is exp(lam * m): lam = -slope
    lam = zfit.Parameter("lam", -init["slope"], -bounds["slope"][1], -bounds["slope"][0])
    sig = zfit.pdf.Gauss(
        obs=obs, mu=params["mass"], sigma=params["width"], extended=params["n_sig"]
    )
    bkg = zfit.pdf.Exponential(obs=obs, lam=lam, extended=params["n_bkg"])
    pdf = zfit.pdf.SumPDF([sig, bkg])
    minimizer = zfit.minimize.Minuit()
    out = []

    def reset() -> None:
        for name in shared:
            params[name].set_value(init[name])
        lam.set_value(-init["slope"])

    for k in range(repeats + 1):
        reset()
        x = _sample(n, k)
        data = zfit.Data.from_numpy(obs=obs, array=x)
        start = time.perf_counter()
        nll = zfit.loss.ExtendedUnbinnedNLL(model=pdf, data=data)
        result = minimizer.minimize(nll)
        errors = result.hesse()
        elapsed = time.perf_counter() - start
        best = {name: float(result.params[params[name]]["value"]) for name in shared}
        best["slope"] = -float(result.params[lam]["value"])
        # the same loss again from the start values: zfit's compiled graphs are reused
        reset()
        start = time.perf_counter()
        minimizer.minimize(nll).hesse()
        again = time.perf_counter() - start
        out.append(
            {
                "time": elapsed,
                "again": again,
                "valid": bool(result.valid),
                "best": best,
                "n_sig_error": float(errors[params["n_sig"]]["error"]),
                "fmin": float(result.fmin),
                "x": x,
            }
        )
    first = out[0]
    best = np.asarray([first["best"][name] for name in PAR_ORDER])
    return {
        "cold_s": first["time"],
        "warm_s": statistics.median(v["time"] for v in out[1:]),
        "warm_same_loss_s": statistics.median(v["again"] for v in out),
        "import_s": import_s,
        "valid": first["valid"],
        "nll_min": _numpy_nll(best, first["x"]),
        "fmin_zfit": first["fmin"],
        "n_sig": first["best"]["n_sig"],
        "n_sig_error": first["n_sig_error"],
        "version": zfit.__version__,
    }


def _zfit_subprocess(python: str, n: int, repeats: int) -> dict:
    """zfit in a new process of ``python`` (this script with ``--zfit-worker``)."""
    cmd = [python, os.path.abspath(__file__), "--zfit-worker", str(n), "--repeats", str(repeats)]
    env = {**os.environ, "ZFIT_DISABLE_TF_WARNINGS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"}
    value = json.loads(lines[-1])
    if value is None:
        return {"error": f"zfit is not importable by {python}"}
    return {**value, "process_wall_s": wall, "python": python, "mode": "subprocess"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--zfit-python",
        default=os.environ.get("ZFIT_PYTHON"),
        help="an interpreter that can import zfit, for zfit in a subprocess",
    )
    parser.add_argument("--zfit-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.zfit_worker is not None:
        print(json.dumps(_zfit(args.zfit_worker, args.repeats)), flush=True)
        return

    import jax

    jax.config.update("jax_enable_x64", True)
    rows: list[dict[str, Any]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        row: dict[str, Any] = {"events": n, "relaxed": _relaxed(n, args.repeats, args.batch_size)}
        ref = _iminuit(n, args.repeats)
        if ref is not None:
            row["iminuit_numpy"] = ref
        zfit_row = _zfit(n, args.repeats)
        if zfit_row is not None:
            zfit_row["mode"] = "in-process"
        elif args.zfit_python:
            zfit_row = _zfit_subprocess(args.zfit_python, n, args.repeats)
        if zfit_row is not None:
            row["zfit"] = zfit_row
        if ref:
            row["speedup_warm_vs_iminuit"] = ref["fit_s"] / row["relaxed"]["warm_s"]
            row["nll_min_diff_vs_iminuit"] = row["relaxed"]["nll_min"] - ref["nll_min"]
            if zfit_row and "nll_min" in zfit_row:
                row["zfit_nll_min_diff_vs_iminuit"] = zfit_row["nll_min"] - ref["nll_min"]
        if zfit_row and "warm_s" in zfit_row:
            row["speedup_warm_vs_zfit"] = zfit_row["warm_s"] / row["relaxed"]["warm_s"]
            row["speedup_warm_vs_zfit_same_loss"] = (
                zfit_row["warm_same_loss_s"] / row["relaxed"]["warm_s"]
            )
        rows.append(row)
        print(json.dumps(row), flush=True, file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "unbinned_gauss_plus_exponential_fit",
                "rows": rows,
                "versions": {"jax": jax.__version__},
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_average": os.getloadavg(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
