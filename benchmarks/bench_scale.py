"""Scaling out: a signal grid serial against Dask with 2 workers and on 1 against 2 local
devices, and toys and toy-based scan points per second on 1 and 2 local devices.

Part ``toys``: toy-based tests at mu = 1 (:func:`relaxed.infer.toys.toy_stats`, both
hypotheses) of the hello world (``--toys-hello`` toys per hypothesis, default 10000) and of the
217-parameter compressed background-only workspace of ``shared/reference/atlas_real`` with a
POI added (a normfactor ``mu`` on the first sample of the first channel; ``--toys-compressed``,
default 16), each in a new process with 1 and with 2 host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count``): first call (compilation included) and
warm (another seed), toys per second (both hypotheses), whether the two give identical test
statistics (for the same seed), and the efficiency ``t_1 / (2 t_2)``. The reference, when
NextStat is installed: ``nextstat.hypotest_toys`` at mu = 1 with as many toys on the same
workspace, in the same run (``nextstat``: first and warm call, toys per second).

Part ``scan``: a toy-based POI scan of the hello world (:func:`relaxed.infer.scans.scan_values`,
``--scan-points`` points from 0 to 4, default 16, ``--scan-toys`` toys per hypothesis, default
1000, chunks of ``--scan-chunk`` points, default 1) in a new process with 1 and with 2 host
devices: first call and warm (another key), scan points per second, whether the two give
identical CLs values (for the same key), and the efficiency ``t_1 / (2 t_2)``.

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

The grid's ``devices`` row: the serial grid in a new process with 1 and with 2 host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count``; ``hypotest_grid(devices=...)`` deals
the compiled calls round them), each with a fresh cache: first call (every program compiled,
once per device it runs on) and warm, the efficiency ``t_1 / (2 t_2)`` of the warm times, and
whether the records are identical. ``--grid-ways`` picks the rows (``dask``: serial and Dask;
``devices``).

    python benchmarks/bench_scale.py [--parts grid,toys,scan] [--patchset 1lbb|erjr|FILE]
                                     [--points N] [--upper-limits] [--workers 2]
                                     [--chunk-size 16] [--pilot] [--grid-ways dask,devices]
                                     [--scan-points 16] [--scan-toys 1000] [--scan-chunk 1]

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
    """One process: the grid ``task["mode"]`` (serial, on ``task["devices"]`` local devices
    when given, or dask), first call then a warm one."""
    import jax

    from relaxed import cache
    from relaxed.infer.grid import hypotest_grid

    cache.optimize_for("run")  # as `neos grid`
    workspace, patchset = _inputs(task)
    settings = {"upper_limits": task["upper_limits"], "verify": False}
    out: dict[str, Any] = {"devices": len(jax.local_devices())}
    if task["mode"] == "serial":

        def run() -> Any:
            return hypotest_grid(workspace, patchset, devices=task.get("devices"), **settings)

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


def _worker(
    task: dict[str, Any], cache_dir: Path, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    path = [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = {**os.environ, "RELAXED_CACHE_DIR": str(cache_dir), "PYTHONPATH": os.pathsep.join(path)}
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(task)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        what = task.get("mode", task.get("part"))
        raise RuntimeError(f"measurement {what} failed:\n{proc.stderr[-3000:]}")
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
    ways = [way for way in args.grid_ways.split(",") if way]
    if "devices" in ways:
        out["devices"] = _grid_devices(task)
    if "dask" not in ways:
        return out
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


def _grid_devices(task: dict[str, Any]) -> dict[str, Any]:
    """The serial grid on 1 and on 2 local host devices, each in a new process with a fresh
    cache: first and warm times, the warm efficiency and whether the records are identical."""
    rows = {}
    for devices in (1, 2):
        env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        measure = {**task, "mode": "serial", "devices": devices}
        with tempfile.TemporaryDirectory(prefix="bench_scale_cache_") as folder:
            rows[devices] = _worker(measure, Path(folder), env)
        print(f"grid devices={devices}: {rows[devices]}", file=sys.stderr)
    one, two = rows[1], rows[2]
    return {
        "npoints": one["npoints"],
        **{n: {k: rows[n][k] for k in ("devices", "first_s", "warm_s")} for n in (1, 2)},
        "identical": one["records_sha256"] == two["records_sha256"],
        "efficiency_warm": one["warm_s"] / (2 * two["warm_s"]),
    }


HELLO_WORLD = {
    "channels": [
        {
            "name": "singlechannel",
            "samples": [
                {
                    "name": "signal",
                    "data": [12.0, 11.0],
                    "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                },
                {
                    "name": "background",
                    "data": [50.0, 52.0],
                    "modifiers": [
                        {"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}
                    ],
                },
            ],
        }
    ]
}
COMPRESSED = "ATLAS-SUSY-2018-16_compressed-bkgonly/BkgOnly.json"


def _toy_model(name: str) -> tuple[Any, Any]:
    """The hello world, or the 217-parameter compressed background-only workspace with a POI
    added: a normfactor ``mu`` on the first sample of its first channel."""
    import relaxed

    if name == "hello_world":
        model = relaxed.Model(HELLO_WORLD)
        return model, [51.0, 48.0, *model.config.auxdata.tolist()]
    spec = json.loads((REFERENCE / COMPRESSED).read_text())
    spec["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "mu", "type": "normfactor", "data": None}
    )
    for measurement in spec["measurements"]:
        measurement["config"]["poi"] = "mu"
    ws = relaxed.Workspace(spec)
    model = ws.model()
    return model, ws.data(model)


def _measure_toys(task: dict[str, Any]) -> dict[str, Any]:
    """One process with ``task["devices"]`` host devices: the toys of both hypotheses, first
    call (compilation included) then warm (another seed), and a check that one device gives
    the same test statistics."""
    import jax
    import numpy as np

    from relaxed.infer import toys

    model, data = _toy_model(task["workspace"])
    out: dict[str, Any] = {"npars": model.config.npars, "devices": len(jax.devices())}

    def run(seed: int, devices: int) -> Any:
        stats = toys.toy_stats(
            1.0,
            data,
            model,
            ntoys=task["ntoys"],
            key=jax.random.PRNGKey(seed),
            chunk=task["chunk"],
            devices=devices,
        )
        jax.block_until_ready(stats.sb)
        return stats

    first = time.perf_counter()
    run(0, task["devices"])
    out["first_s"] = time.perf_counter() - first
    warm = time.perf_counter()
    stats = run(1, task["devices"])
    out["warm_s"] = time.perf_counter() - warm
    out["toys_per_s"] = 2 * task["ntoys"] / out["warm_s"]  # both hypotheses
    out["nonconverged"] = int(np.sum(~np.asarray(stats.sb_converged))) + int(
        np.sum(~np.asarray(stats.b_converged))
    )
    out["sb_sha256"] = hashlib.sha256(np.asarray(stats.sb).tobytes()).hexdigest()
    return out


def bench_toys(args: argparse.Namespace) -> dict[str, Any]:
    """Toys per second on 1 and 2 local (host) devices, hello world and 217 parameters."""
    out: dict[str, Any] = {}
    for workspace, ntoys, chunk in (
        ("hello_world", args.toys_hello, 2048),
        ("compressed_217", args.toys_compressed, 8),
    ):
        rows = {}
        for devices in (1, 2):
            task = {"part": "toys", "workspace": workspace, "ntoys": ntoys, "chunk": chunk}
            task["devices"] = devices
            env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
            with tempfile.TemporaryDirectory() as cache_dir:
                rows[devices] = _worker(task, Path(cache_dir), env)
            print(f"toys {workspace} devices={devices}: {rows[devices]}", file=sys.stderr)
        rows["identical"] = rows[1]["sb_sha256"] == rows[2]["sb_sha256"]
        rows["efficiency_warm"] = rows[1]["warm_s"] / (2 * rows[2]["warm_s"])
        rows["nextstat"] = _nextstat_toys(workspace, ntoys)
        print(f"toys {workspace} nextstat: {rows['nextstat']}", file=sys.stderr)
        out[workspace] = {"ntoys_per_hypothesis": ntoys, "chunk": chunk, **rows}
    return out


def _nextstat_toys(workspace: str, ntoys: int) -> dict[str, Any]:
    """The reference, when NextStat is installed: ``nextstat.hypotest_toys`` at mu = 1 with
    ``ntoys`` toys (its toys per hypothesis, qtilde) on the same workspace, in this process
    (no JAX): first call and warm (another seed), toys per second (both hypotheses)."""
    try:
        import nextstat
    except ImportError:
        return {"available": False}
    if workspace == "hello_world":
        from _real_worker import hello_workspace

        spec = hello_workspace()
    else:
        spec = json.loads((REFERENCE / COMPRESSED).read_text())
        spec["channels"][0]["samples"][0]["modifiers"].append(
            {"name": "mu", "type": "normfactor", "data": None}
        )
        for measurement in spec["measurements"]:
            measurement["config"]["poi"] = "mu"
    model = nextstat.from_pyhf(json.dumps(spec))
    out: dict[str, Any] = {"version": nextstat.__version__}
    start = time.perf_counter()
    nextstat.hypotest_toys(1.0, model, n_toys=ntoys, seed=0)
    out["first_s"] = time.perf_counter() - start
    start = time.perf_counter()
    out["CLs"] = float(nextstat.hypotest_toys(1.0, model, n_toys=ntoys, seed=1))
    out["warm_s"] = time.perf_counter() - start
    out["toys_per_s"] = 2 * ntoys / out["warm_s"]
    return out


def _measure_scan(task: dict[str, Any]) -> dict[str, Any]:
    """One process with ``task["devices"]`` host devices: a toy-based scan of the hello world
    (:func:`relaxed.infer.scans.scan_values`), first call (compilation included) then warm
    (another key), and a digest of its CLs values."""
    import jax
    import numpy as np

    from relaxed.infer import scans

    model, data = _toy_model("hello_world")
    scan = np.linspace(0.0, 4.0, task["points"])
    out: dict[str, Any] = {"devices": len(jax.devices())}

    def run(seed: int) -> Any:
        values = scans.scan_values(
            data,
            model,
            scan,
            chunk=task["chunk"],
            devices=task["devices"],
            calctype="toybased",
            ntoys=task["ntoys"],
            key=jax.random.PRNGKey(seed),
        )
        return jax.block_until_ready(values)

    first = time.perf_counter()
    run(0)
    out["first_s"] = time.perf_counter() - first
    warm = time.perf_counter()
    values = run(1)
    out["warm_s"] = time.perf_counter() - warm
    out["points_per_s"] = task["points"] / out["warm_s"]
    out["values_sha256"] = hashlib.sha256(np.asarray(values).tobytes()).hexdigest()
    return out


def bench_scan(args: argparse.Namespace) -> dict[str, Any]:
    """Toy-based scan points per second on 1 and 2 local (host) devices, hello world."""
    rows: dict[Any, Any] = {}
    for devices in (1, 2):
        task = {"part": "scan", "points": args.scan_points, "ntoys": args.scan_toys}
        task.update(chunk=args.scan_chunk, devices=devices)
        env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        with tempfile.TemporaryDirectory() as cache_dir:
            rows[devices] = _worker(task, Path(cache_dir), env)
        print(f"scan devices={devices}: {rows[devices]}", file=sys.stderr)
    rows["identical"] = rows[1].pop("values_sha256") == rows[2].pop("values_sha256")
    rows["efficiency_warm"] = rows[1]["warm_s"] / (2 * rows[2]["warm_s"])
    settings = {"points": args.scan_points, "ntoys": args.scan_toys, "chunk": args.scan_chunk}
    return {"hello_world": {**settings, **rows}}


PARTS = {"grid": bench_grid, "toys": bench_toys, "scan": bench_scan}


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
    parser.add_argument(
        "--grid-ways",
        default="dask,devices",
        help="grid rows, comma-separated: dask (serial and Dask), devices (1 and 2 devices)",
    )
    parser.add_argument("--toys-hello", type=int, default=10000, help="toys: hello world")
    parser.add_argument(
        "--toys-compressed", type=int, default=16, help="toys: 217-parameter workspace"
    )
    parser.add_argument("--scan-points", type=int, default=16, help="scan: points")
    parser.add_argument("--scan-toys", type=int, default=1000, help="scan: toys per hypothesis")
    parser.add_argument("--scan-chunk", type=int, default=1, help="scan: points per call")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        task = json.loads(args.measure)
        measures = {"toys": _measure_toys, "scan": _measure_scan}
        measure = measures.get(task.get("part"), _measure)
        print(json.dumps(measure(task)))
        return
    if args.patchset not in PATCHSETS and args.bkgonly is None:
        parser.error("--patchset FILE needs --bkgonly FILE")
    ways = [way for way in args.grid_ways.split(",") if way]
    if not ways or set(ways) - {"dask", "devices"}:
        parser.error(f"--grid-ways: a comma-separated list of dask, devices; got {ways}")
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
