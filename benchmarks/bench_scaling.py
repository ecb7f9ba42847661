"""Fit time against the number of parameters: relaxed against pyhf on synthetic workspaces.

The workspaces have the shape of a real analysis (like the published ATLAS ones in
``shared/reference/atlas_real``): one-bin and two-bin regions, each with a signal and two
backgrounds; per region a staterror on the first background and a histosys; a few normsys
shared across regions (theory and detector systematics) and a luminosity; background
normalisations floating in groups of regions. The parameter count grows with the number of
regions, about 3.6 per region. Observations are rounded yields with the first background
scaled by a random 5% per region and half the signal added, so the best fit is not the
starting point.

Each measurement runs in a new process with a time limit: relaxed's first call (tracing and
compiling, empty compilation cache) and the median of further calls; pyhf 0.7.6 (numpy, its
default scipy optimizer) one fit. Both report the twice-NLL at their best fit.

    python benchmarks/bench_scaling.py [--sizes 50,100,200,500,1000] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np


def workspace(npars: int, seed: int = 0) -> dict[str, Any]:
    """A synthetic workspace with about ``npars`` parameters."""
    rng = np.random.default_rng(seed)
    nshared = 5
    nregions = max(1, round((npars - nshared - 2) / 3.625))
    channels, observations = [], []
    for r in range(nregions):
        nbins = 1 + r % 2
        sig = rng.uniform(1.0, 5.0, nbins)
        b1 = rng.uniform(20.0, 100.0, nbins)
        b2 = rng.uniform(5.0, 30.0, nbins)
        shared = [
            {
                "name": f"syst_{k}",
                "type": "normsys",
                "data": {"hi": 1.0 + 0.02 * (k + 1), "lo": 1.0 - 0.015 * (k + 1)},
            }
            for k in range(nshared)
            if (r + k) % 2 == 0
        ]
        samples = [
            {
                "name": "signal",
                "data": sig.tolist(),
                "modifiers": [
                    {"name": "mu", "type": "normfactor", "data": None},
                    {"name": "lumi", "type": "lumi", "data": None},
                ],
            },
            {
                "name": "bkg1",
                "data": b1.tolist(),
                "modifiers": [
                    {"name": f"stat_r{r}", "type": "staterror", "data": (0.05 * b1).tolist()},
                    {
                        "name": f"shape_r{r}",
                        "type": "histosys",
                        "data": {
                            "hi_data": (b1 * rng.uniform(1.02, 1.1, nbins)).tolist(),
                            "lo_data": (b1 * rng.uniform(0.9, 0.98, nbins)).tolist(),
                        },
                    },
                    {"name": f"norm_b1_g{r // 8}", "type": "normfactor", "data": None},
                    *shared,
                ],
            },
            {
                "name": "bkg2",
                "data": b2.tolist(),
                "modifiers": [
                    {"name": f"norm_b2_r{r}", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                    *shared,
                ],
            },
        ]
        channels.append({"name": f"region_{r:04d}", "samples": samples})
        pulled = (b1 * rng.normal(1.0, 0.05) + b2 + 0.5 * sig).round()
        observations.append({"name": f"region_{r:04d}", "data": pulled.tolist()})
    return {
        "channels": channels,
        "observations": observations,
        "measurements": [
            {
                "name": "meas",
                "config": {
                    "poi": "mu",
                    "parameters": [
                        {
                            "name": "lumi",
                            "auxdata": [1.0],
                            "sigmas": [0.02],
                            "bounds": [[0.5, 1.5]],
                            "inits": [1.0],
                        }
                    ],
                },
            }
        ],
        "version": "1.0.0",
    }


WORKER = """
import json, sys, time
engine, path = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
if engine == "relaxed":
    import jax, relaxed
    from relaxed.infer import mle
    ws = relaxed.Workspace(spec)
    model = ws.model(); data = ws.data(model)
    t = time.perf_counter()
    r = mle.fit(data, model, return_result=True); jax.block_until_ready(r)
    cold = time.perf_counter() - t
    warm = []
    for _ in range(3):
        t = time.perf_counter()
        r = mle.fit(data, model, return_result=True); jax.block_until_ready(r)
        warm.append(time.perf_counter() - t)
    warm.sort()
    out = {"cold_s": cold, "warm_s": warm[1], "twice_nll": float(r.twice_nll),
           "nit": int(r.nit), "converged": bool(r.converged), "npars": model.config.npars}
else:
    import pyhf
    pyhf.set_backend("numpy")
    ws = pyhf.Workspace(spec)
    model = ws.model(); data = ws.data(model)
    t = time.perf_counter()
    _, nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    out = {"warm_s": time.perf_counter() - t, "twice_nll": float(nll),
           "npars": model.config.npars}
print(json.dumps(out))
"""


def run(engine: str, path: str, timeout: float) -> dict[str, Any]:
    env = dict(os.environ, RELAXED_CACHE_DIR=tempfile.mkdtemp(prefix="relaxed-scaling-"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, engine, path],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"timeout_s": timeout}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,200,500,1000")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--engines", default="relaxed,pyhf")
    args = parser.parse_args(argv)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(workspace(size), f)
        row: dict[str, Any] = {"target_npars": size}
        for engine in args.engines.split(","):
            start = time.perf_counter()
            row[engine] = run(engine, f.name, args.timeout)
            print(
                f"[{size}] {engine}: {row[engine]} ({time.perf_counter() - start:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        if "warm_s" in row.get("relaxed", {}) and "warm_s" in row.get("pyhf", {}):
            row["speedup_warm"] = row["pyhf"]["warm_s"] / row["relaxed"]["warm_s"]
            row["twice_nll_diff"] = row["relaxed"]["twice_nll"] - row["pyhf"]["twice_nll"]
        rows.append(row)
        os.unlink(f.name)
    print(
        json.dumps(
            {"benchmark": "fit time against the number of parameters", "rows": rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
