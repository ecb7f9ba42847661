"""Benchmark: compiled relaxed logpdf (+ gradient) against pyhf (numpy backend) logpdf.

Workspace: 4 channels x 12 bins, 4 samples, every modifier type, 68 parameters. Both are
measured in the same run on the same machine; the script prints one JSON object.

Three figures for relaxed, each per evaluation of logpdf + gradient:

- ``single call``: one jit-compiled call from Python (dispatch included). On CPU, JAX runs a
  computation on a worker thread by default (asynchronous dispatch); for calls this small
  the thread hand-off dominates, so ``--sync-dispatch`` (``jax_cpu_enable_async_dispatch =
  False``) measures the same call executed on the calling thread.
- ``in graph``: inside a compiled loop, as in a fit or a training step.
- ``batched``: a ``vmap`` over 1000 parameter points in one call, per point.

    python benchmarks/bench_histfactory.py [--repeats 2000] [--sync-dispatch]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import relaxed

NBINS = 12
CHANNELS = ("SR1", "SR2", "CR1", "CR2")


def make_workspace(seed: int = 0) -> dict[str, Any]:
    """4 channels x 12 bins with normfactor, lumi, normsys, histosys, shapesys, staterror and
    shapefactor: 1 + 1 + 10 + 8 + 12 + 24 + 12 = 68 parameters."""
    rng = np.random.default_rng(seed)
    channels, observations = [], []
    for c, channel in enumerate(CHANNELS):
        samples = []
        for s, name in enumerate(("signal", "ttbar", "wjets", "zjets")):
            base = (5.0 if name == "signal" else 40.0 + 20 * s) * (1 + 0.3 * c)
            data = np.round(base * rng.uniform(0.5, 1.5, NBINS), 2)
            mods: list[dict[str, Any]] = [{"name": "lumi", "type": "lumi", "data": None}]
            if name == "signal":
                mods.append({"name": "mu", "type": "normfactor", "data": None})
            for k in range(10):  # normsys: each sample sees 5 of 10
                if (k + s) % 2 == 0:
                    hi = 1 + rng.uniform(0.02, 0.2)
                    lo = 1 - rng.uniform(0.02, 0.2)
                    mods.append(
                        {"name": f"norm_{k}", "type": "normsys", "data": {"hi": hi, "lo": lo}}
                    )
            for k in range(8):  # histosys: each sample sees 4 of 8
                if (k + s + c) % 2 == 0:
                    up = np.round(data * rng.uniform(1.0, 1.1, NBINS), 3).tolist()
                    dn = np.round(data * rng.uniform(0.9, 1.0, NBINS), 3).tolist()
                    mods.append(
                        {
                            "name": f"shape_{k}",
                            "type": "histosys",
                            "data": {"hi_data": up, "lo_data": dn},
                        }
                    )
            if name == "zjets" and channel == "SR1":
                unc = np.round(data * 0.1, 3).tolist()
                mods.append({"name": "zjets_shape_SR1", "type": "shapesys", "data": unc})
            if name != "signal" and channel in ("SR1", "SR2"):
                unc = np.round(np.sqrt(data), 3).tolist()
                mods.append({"name": f"stat_{channel}", "type": "staterror", "data": unc})
            if name == "wjets" and channel == "CR1":
                mods.append({"name": "wjets_cr_shape", "type": "shapefactor", "data": None})
            samples.append({"name": name, "data": data.tolist(), "modifiers": mods})
        channels.append({"name": channel, "samples": samples})
        total = np.sum([smp["data"] for smp in samples], axis=0)
        observations.append({"name": channel, "data": rng.poisson(total).astype(float).tolist()})
    lumi = {
        "name": "lumi",
        "auxdata": [1.0],
        "sigmas": [0.017],
        "inits": [1.0],
        "bounds": [[0.9, 1.1]],
    }
    return {
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [lumi]}}],
        "version": "1.0.0",
    }


def _seconds(fn, repeats: int) -> tuple[float, float]:
    """(median, minimum) wall time of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def run(repeats: int) -> dict[str, Any]:
    import pyhf

    pyhf.set_backend("numpy")
    spec = make_workspace()

    ws = relaxed.Workspace(spec)
    model = ws.model()
    data = ws.data(model)
    pars = jnp.asarray(np.asarray(model.config.suggested_init()) + 0.01)

    value_and_grad = jax.jit(jax.value_and_grad(lambda p, d: model.logpdf(p, d)[0]))
    start = time.perf_counter()
    jax.block_until_ready(value_and_grad(pars, data))
    compile_s = time.perf_counter() - start
    logpdf_only = jax.jit(lambda p, d: model.logpdf(p, d)[0])
    jax.block_until_ready(logpdf_only(pars, data))
    relaxed_vg = _seconds(lambda: jax.block_until_ready(value_and_grad(pars, data)), repeats)
    relaxed_lp = _seconds(lambda: jax.block_until_ready(logpdf_only(pars, data)), repeats)

    # In-graph cost, as inside a fit: N gradient steps in one compiled loop (each step's
    # parameters depend on the previous gradient, so no evaluation can be hoisted or skipped).
    steps = 2000

    @jax.jit
    def descend(p0, d):
        def body(p, _):
            value, grad = jax.value_and_grad(lambda q: model.logpdf(q, d)[0])(p)
            return p + 1e-9 * grad, value

        return jax.lax.scan(body, p0, None, length=steps)

    jax.block_until_ready(descend(pars, data))
    in_graph = _seconds(lambda: jax.block_until_ready(descend(pars, data)), 9)
    in_graph = (in_graph[0] / steps, in_graph[1] / steps)

    # Throughput: value and gradient at 1000 parameter points in one call (a scan, toys).
    npoints = 1000
    batch = pars + 0.01 * jax.random.normal(jax.random.PRNGKey(0), (npoints, pars.shape[0]))
    batched_vg = jax.jit(
        jax.vmap(jax.value_and_grad(lambda p, d: model.logpdf(p, d)[0]), (0, None))
    )
    jax.block_until_ready(batched_vg(batch, data))
    batched = _seconds(lambda: jax.block_until_ready(batched_vg(batch, data)), 21)
    batched = (batched[0] / npoints, batched[1] / npoints)

    pws = pyhf.Workspace(spec)
    pmodel = pws.model()
    pdata = pws.data(pmodel)
    npars = np.asarray(pars)
    pyhf_lp = _seconds(lambda: pmodel.logpdf(npars, pdata), repeats)
    agreement = abs(float(logpdf_only(pars, data)) - float(pmodel.logpdf(npars, pdata)[0]))

    start = time.perf_counter()
    relaxed.Workspace(spec).model()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    pyhf.Workspace(spec).model()
    pyhf_build_s = time.perf_counter() - start

    def speedup(ours: tuple[float, float]) -> dict[str, float]:
        return {"median": pyhf_lp[0] / ours[0], "min": pyhf_lp[1] / ours[1]}

    def fmt(t: tuple[float, float]) -> dict[str, float]:
        return {"median": t[0], "min": t[1]}

    return {
        "benchmark": "histfactory_logpdf",
        "workspace": {
            "channels": len(model.config.channels),
            "bins": model.config.nmaindata,
            "samples": len(model.config.samples),
            "parameters": model.config.npars,
            "modifier_types": sorted({t for _, t in model.config.modifiers}),
        },
        "repeats": repeats,
        "async_dispatch": bool(jax.config.values["jax_cpu_enable_async_dispatch"]),
        "pyhf_numpy_logpdf_s": fmt(pyhf_lp),
        "relaxed_logpdf_s": fmt(relaxed_lp),
        "relaxed_logpdf_and_grad_single_call_s": fmt(relaxed_vg),
        "relaxed_logpdf_and_grad_in_graph_s": fmt(in_graph),
        "relaxed_logpdf_and_grad_batched_per_point_s": fmt(batched),
        "speedup_vs_pyhf_logpdf": {
            "logpdf_single_call": speedup(relaxed_lp),
            "logpdf_and_grad_single_call": speedup(relaxed_vg),
            "logpdf_and_grad_in_graph": speedup(in_graph),
            "logpdf_and_grad_batched": speedup(batched),
        },
        "relaxed_compile_s": compile_s,
        "relaxed_model_build_s": build_s,
        "pyhf_model_build_s": pyhf_build_s,
        "abs_logpdf_difference": agreement,
        "versions": {"jax": jax.__version__, "pyhf": pyhf.__version__},
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument(
        "--sync-dispatch",
        action="store_true",
        help="execute on the calling thread (jax_cpu_enable_async_dispatch = False)",
    )
    args = parser.parse_args()
    if args.sync_dispatch:
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    print(json.dumps(run(args.repeats), indent=2))


if __name__ == "__main__":
    main()
