"""Cost of one compiled neos training step against a bare network pass, in the same run.

The bare pass is a float32 forward + backward pass of the same MLP over the same events (the
sum of the outputs); the training step adds the soft histograms, the HistFactory model, the
profile-likelihood fits and the expected CLs. Prints JSON.

    python benchmarks/bench_train.py                     # the built-in blobs
    python benchmarks/bench_train.py --analysis neos/examples/dilepton.toml

With ``--analysis`` the events are every input of the analysis's training step: each
sample's nominal training events, their shifted copies (one per ``shift`` systematic and
direction) and the alternative samples, all of which the step passes through the network.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from neos import train as neos_train
from neos.data import generate_blobs
from neos.nets import mlp


def _median(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _bare_pass_s(net, events) -> float:
    """Median time of a compiled float32 forward + backward pass of ``net`` over ``events``."""
    params = net.init(jax.random.PRNGKey(1), events[:1])
    bare = jax.jit(jax.value_and_grad(lambda p: jnp.sum(net.apply(p, events))))
    jax.block_until_ready(bare(params))
    return _median(lambda: bare(params), 10)


def _step_report(result: dict, bare_s: float, total: float) -> dict:
    """The step-time fields shared by both benchmarks."""
    return {
        "events_per_step": result["events_per_step"],
        "train_step_s": result["step_time_s"],
        "first_step_incl_compile_s": result["first_step_time_s"],
        "bare_forward_backward_s": bare_s,
        "ratio_step_over_bare": result["step_time_s"] / bare_s,
        "total_run_s": total,
        "cls_soft_first_last": [result["cls_soft"][0], result["cls_soft"][-1]],
        "versions": {"jax": jax.__version__},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }


def _analysis(path: str, steps: int) -> dict:
    from neos.analysis import event_sets, load_analysis

    analysis = load_analysis(path, steps=steps)
    start = time.perf_counter()
    result = neos_train.train(analysis=analysis, progress=False)
    total = time.perf_counter() - start
    train_sets, _, mean, std = event_sets(analysis)
    events = jnp.asarray(
        (jnp.concatenate([jnp.asarray(x) for x in train_sets.inputs]) - mean) / std, jnp.float32
    )
    bare_s = _bare_pass_s(mlp(hidden=analysis.config.hidden), events)
    systematics = analysis.systematics
    return {
        "benchmark": "neos_train_step_analysis",
        "analysis": path,
        "samples": len(analysis.samples),
        "systematics": len(systematics),
        "systematics_by_kind": {
            kind: sum(s.kind == kind for s in systematics)
            for kind in ("shift", "weight", "alternative", "norm")
        },
        "channels": len(analysis.channels),
        "network": f"{len(analysis.features)}-{'-'.join(map(str, analysis.config.hidden))}-1",
        "steps": steps,
        "cls_soft_train": result["cls_soft_train"],
        "cls_hard_train": result["cls_hard_train"],
        "cls_hard_test": result["cls_hard_test"],
        **_step_report(result, bare_s, total),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--nmc", type=int, default=500)
    parser.add_argument("--analysis", default=None, help="an analysis description (TOML)")
    args = parser.parse_args()
    if args.analysis is not None:
        print(json.dumps(_analysis(args.analysis, max(args.steps, 12)), indent=2))
        return

    cfg = neos_train.TrainConfig(steps=args.steps, nmc=args.nmc, animate=False)
    start = time.perf_counter()
    result = neos_train.train(cfg, progress=False)
    total = time.perf_counter() - start

    events = jnp.concatenate(generate_blobs(jax.random.PRNGKey(0), NMC=args.nmc)())
    bare_s = _bare_pass_s(mlp(), events)
    report = {
        "benchmark": "neos_train_step",
        "network": "2-1024-1024-1 relu/sigmoid float32",
        **_step_report(result, bare_s, total),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
