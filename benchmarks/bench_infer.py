"""Hypothesis-test latency against pyhf (numpy) in the same run, plus batched workloads.

Measures, on pyhf's hello world and on the ~70-parameter workspace of bench_histfactory:
hypotest after compilation (relaxed) against pyhf's hypotest, the first-call compile time,
a 1000-point CLs scan in one vmapped call, and 10,000 toys per hypothesis in one call.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import relaxed
from relaxed.infer import hypotest

sys.path.insert(0, str(Path(__file__).parent))
from bench_histfactory import make_workspace  # noqa: E402


def _median(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _hello():
    import pyhf

    pmodel = pyhf.simplemodels.uncorrelated_background([12.0, 11.0], [50.0, 52.0], [3.0, 7.0])
    spec = pmodel.spec
    data = [51.0, 48.0] + pmodel.config.auxdata
    return spec, pmodel, data


def _case(name, model, data, pmodel, pdata, repeats):
    import pyhf

    start = time.perf_counter()
    jax.block_until_ready(hypotest(1.0, data, model, return_expected_set=True))
    compile_s = time.perf_counter() - start
    ours = _median(lambda: hypotest(1.0, data, model, return_expected_set=True), repeats)
    theirs = _median(
        lambda: pyhf.infer.hypotest(1.0, pdata, pmodel, return_expected_set=True),
        max(3, repeats // 10),
    )
    obs = float(hypotest(1.0, data, model))
    pyhf_obs = float(pyhf.infer.hypotest(1.0, pdata, pmodel))
    return {
        "workspace": name,
        "parameters": model.config.npars,
        "relaxed_hypotest_s": ours,
        "relaxed_first_call_s": compile_s,
        "pyhf_hypotest_s": theirs,
        "speedup": theirs / ours,
        "cls_obs": obs,
        "pyhf_cls_obs": pyhf_obs,
    }


def main() -> None:
    import pyhf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    pyhf.set_backend("numpy")

    spec, pmodel, pdata = _hello()
    model = relaxed.Model(spec)
    data = jnp.asarray(pdata)
    results = [_case("hello_world", model, data, pmodel, pdata, args.repeats)]

    big = make_workspace()
    ws = relaxed.Workspace(big)
    bmodel = ws.model()
    pws = pyhf.Workspace(big)
    pbmodel = pws.model()
    results.append(
        _case("4ch_12bins_68pars", bmodel, ws.data(bmodel), pbmodel, pws.data(pbmodel), 10)
    )

    mus = jnp.linspace(0.0, 5.0, 1000)
    scan = jax.jit(jax.vmap(lambda mu: hypotest(mu, data, model, return_expected_set=True)))
    start = time.perf_counter()
    jax.block_until_ready(scan(mus))
    scan_compile = time.perf_counter() - start
    scan_s = _median(lambda: scan(mus), 3)

    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    jax.block_until_ready(hypotest(1.0, data, model, calctype="toybased", ntoys=10_000, key=key))
    toys_first = time.perf_counter() - start
    toys_s = _median(
        lambda: hypotest(1.0, data, model, calctype="toybased", ntoys=10_000, key=key), 3
    )

    print(
        json.dumps(
            {
                "benchmark": "hypotest",
                "cases": results,
                "cls_scan_1000_points_s": scan_s,
                "cls_scan_compile_s": scan_compile,
                "toys_10000_per_hypothesis_s": toys_s,
                "toys_first_call_s": toys_first,
                "versions": {"jax": jax.__version__, "pyhf": pyhf.__version__},
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
