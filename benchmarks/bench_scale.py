"""Scaling out: a signal grid serial against Dask with 2 workers (and, later, toys per second).

Part ``grid``: the grid of a shared patch set (default: the 125 points of the 1Lbb simplified
likelihood in ``shared/reference/atlas_real``; ``--patchset erjr`` for eRJR's 64, or
``--bkgonly FILE --patchset FILE``; ``--points N`` keeps the first N patches), hypotest at
mu = 1 (``--upper-limits`` adds the limits, about 50 times the work per point), computed

- serially: :func:`relaxed.infer.grid.hypotest_grid` in one process;
- on Dask: :func:`neos.grid_dask.dask_grid` on an embedded ``LocalCluster`` of ``--workers``
  (default 2) worker processes of one thread each, chunks of ``--chunk-size`` patches.

Each way runs in two new processes sharing one fresh ``RELAXED_CACHE_DIR``: the first
measures ``cold`` (empty cache: every program traced and compiled, by every worker process)
then ``warm`` (the same call again: models kept, programs in memory), the second ``cached``
(a new process, and new workers, loading the stored programs). Dask's times exclude the
cluster's start (``cluster_start_s``, reported apart). Efficiency is
``serial / (workers * dask)`` for each of cold, cached and warm (1: perfect scaling);
``identical`` says whether Dask's records equal the serial ones exactly.

    python benchmarks/bench_scale.py [--parts grid] [--patchset 1lbb|erjr|FILE] [--points N]
                                     [--upper-limits] [--workers 2] [--chunk-size 16]
                                     [--pilot]

Prints one JSON object (``grid``: the part's results; ``machine``: CPU count and the load
average before and after, to tell a busy machine). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "atlas_real"
PATCHSETS = {
    "1lbb": (
        "ATLAS-SUSY-2019-08_1Lbb-simplified/simplified_BkgOnly.json",
        "ATLAS-SUSY-2019-08_1Lbb-simplified/simplified_patchset.json",
    ),
    "erjr": ("ATLAS-SUSY-2018-06_3L-eRJR/BkgOnly.json", "ATLAS-SUSY-2018-06_3L-eRJR/patchset.json"),
}


# -- a measurement, in a new process ------------------------------------------------------------
def _inputs(task: dict[str, Any]) -> tuple[Any, Any]:
    import relaxed

    workspace = relaxed.Workspace(json.loads(Path(task["bkgonly"]).read_text()))
    document = json.loads(Path(task["patchset"]).read_text())
    if task["points"]:
        document["patches"] = document["patches"][: task["points"]]
    return workspace, relaxed.PatchSet(document)


def _digest(records: Any) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def _measure(task: dict[str, Any]) -> dict[str, Any]:
    """One process: the grid ``task["mode"]`` (serial or dask), first call then a warm one."""
    from relaxed import cache
    from relaxed.infer.grid import hypotest_grid

    cache.optimize_for("run")  # as `neos grid`
    workspace, patchset = _inputs(task)
    settings = {"upper_limits": task["upper_limits"], "verify": False}
    out: dict[str, Any] = {}
    if task["mode"] == "serial":

        def run() -> Any:
            return hypotest_grid(workspace, patchset, **settings)

        first = time.perf_counter()
        records = run()
        out["first_s"] = time.perf_counter() - first
        warm = time.perf_counter()
        run()
        out["warm_s"] = time.perf_counter() - warm
    else:
        from neos.grid_dask import dask_grid, open_client

        start = time.perf_counter()
        with open_client(workers=task["workers"], processes=True) as client:
            client.wait_for_workers(task["workers"])
            out["cluster_start_s"] = time.perf_counter() - start

            def run() -> Any:
                result = dask_grid(
                    workspace,
                    patchset,
                    client,
                    chunk_size=task["chunk_size"],
                    pilot=task["pilot"],
                    **settings,
                )
                return result.records

            first = time.perf_counter()
            records = run()
            out["first_s"] = time.perf_counter() - first
            warm = time.perf_counter()
            run()
            out["warm_s"] = time.perf_counter() - warm
    out["records_sha256"] = _digest(records)
    out["npoints"] = len(records)
    return out


def _worker(task: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    path = [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = {**os.environ, "RELAXED_CACHE_DIR": str(cache_dir), "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(task)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measurement {task['mode']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the parts ----------------------------------------------------------------------------------
def bench_grid(args: argparse.Namespace) -> dict[str, Any]:
    """Serial against Dask: cold, cached and warm times, efficiency, identical records."""
    if args.patchset in PATCHSETS:
        bkgonly, patchset = (str(REFERENCE / p) for p in PATCHSETS[args.patchset])
    else:
        bkgonly, patchset = args.bkgonly, args.patchset
    task = {
        "bkgonly": bkgonly,
        "patchset": patchset,
        "points": args.points,
        "upper_limits": args.upper_limits,
        "workers": args.workers,
        "chunk_size": args.chunk_size,
        "pilot": args.pilot,
    }
    out: dict[str, Any] = {
        "patchset": args.patchset,
        "upper_limits": args.upper_limits,
        "workers": args.workers,
        "chunk_size": args.chunk_size,
        "pilot": args.pilot,
    }
    for mode in ("serial", "dask"):
        with tempfile.TemporaryDirectory(prefix="bench_scale_cache_") as folder:
            print(f"grid, {mode}: empty cache", file=sys.stderr)
            cold = _worker({**task, "mode": mode}, Path(folder))
            print(f"grid, {mode}: cache filled", file=sys.stderr)
            cached = _worker({**task, "mode": mode}, Path(folder))
        out[mode] = {
            "cold_s": cold["first_s"],
            "cached_s": cached["first_s"],
            "warm_s": min(cold["warm_s"], cached["warm_s"]),
            "records_sha256": cold["records_sha256"],
        }
        if mode == "dask":
            out[mode]["cluster_start_s"] = cold["cluster_start_s"]
        out["npoints"] = cold["npoints"]
    serial, dask = out["serial"], out["dask"]
    out["efficiency"] = {
        when: serial[f"{when}_s"] / (args.workers * dask[f"{when}_s"])
        for when in ("cold", "cached", "warm")
    }
    out["identical"] = serial.pop("records_sha256") == dask.pop("records_sha256")
    return out


# The toys-per-second part (`neos toys`, device sharding) belongs here: add
# `def bench_toys(args) -> dict` and its name to PARTS.
PARTS = {"grid": bench_grid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="grid", help=f"comma-separated, of {sorted(PARTS)}")
    parser.add_argument("--patchset", default="1lbb", help="1lbb, erjr, or a patch set file")
    parser.add_argument("--bkgonly", default=None, help="the workspace of a --patchset FILE")
    parser.add_argument("--points", type=int, default=None, help="the first N patches only")
    parser.add_argument("--upper-limits", action="store_true", help="also the upper limits")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--chunk-size", type=int, default=16, help="patches per Dask task")
    parser.add_argument(
        "--pilot", action="store_true", help="Dask: the first chunk alone, then the others"
    )
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(_measure(json.loads(args.measure))))
        return
    if args.patchset not in PATCHSETS and args.bkgonly is None:
        parser.error("--patchset FILE needs --bkgonly FILE")
    parts = [part for part in args.parts.split(",") if part]
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {unknown}; known: {sorted(PARTS)}")
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()}}
    for part in parts:
        result[part] = PARTS[part](args)
    result["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
