"""Real published ATLAS likelihoods: relaxed against pyhf (scipy, minuit) and NextStat, same run.

The likelihoods are the pyhf JSON files of ``shared/reference/atlas_real`` (see its
SOURCES.md): 1Lbb simplified (3 parameters with a signal, 125-point patch set), 3L eRJR (69
parameters, 64-point patch set), and the background-only compressed (217 parameters), staus
(2 files) and sbottom (2 files) workspaces.

Rows (one JSON object each, in ``rows``):

- ``fit``: a free maximum-likelihood fit; of every background-only workspace without a POI
  (relaxed and pyhf ``ws.model(poi_name=None)``) and of every signal point (the 1Lbb and eRJR
  patch files applied). Values: ``twice_nll`` at the best fit.
- ``hypotest``: CLs at mu = 1 with qtilde, observed and expected set, asymptotics.
- ``upper_limit``: observed and expected upper limits at 95% CL. relaxed: root finding
  (``upper_limit(data, model)``, bracket = the POI's bounds, rtol 1e-6); pyhf:
  ``upper_limits.upper_limit(data, model)`` with its default (toms748 root finding inside the
  POI's bounds, rtol 1e-4); NextStat: ``upper_limit(model, method="root")`` (rtol 1e-4).
- ``grid``: every patch of a patch set (1Lbb's 125, eRJR's 64; ``--no-erjr-grid`` skips the
  latter, whose pyhf-minuit loop is long), hypotest at mu = 1. relaxed
  ``relaxed.infer.grid.hypotest_grid(workspace, patchset)``; pyhf and NextStat loop over the
  patches (applied without the digest check: the 1Lbb patch set does not verify against its
  background-only workspace). relaxed's ``warm`` repeats the call on the same ``Workspace``
  and ``PatchSet`` objects (their patched models are kept); ``warm_rebuilt`` builds the objects
  from the parsed JSON on every call. Values: the largest ``|CLs_obs|`` difference to each
  other engine.
- ``cli``: ``neos cls WS -p PATCH`` against ``pyhf cls WS -p PATCH``, ``neos fit`` against
  ``pyhf fit --value``, each a whole command run as a subprocess.
- ``hello``: pyhf's hello world (``uncorrelated_background([12, 11], [50, 52], [3, 7])``, data
  [51, 48] + auxdata), hypotest latency after compilation, with JAX's default asynchronous CPU
  dispatch and without it (``jax_cpu_enable_async_dispatch = False``).

Every measurement runs in a NEW PROCESS (``benchmarks/_real_worker.py``) with a time limit
(``--timeout``, "timeout" is reported instead of hanging). ``cold`` is model building from the
parsed JSON plus the first call in that process; ``warm`` is the median of further calls in the
same process. relaxed runs twice with one fresh ``RELAXED_CACHE_DIR``: "cold, empty cache"
(tracing and compiling) and "cold, cache warm" (compiled code loaded from JAX's persistent
cache). pyhf runs on numpy, with scipy's SLSQP (its default) and with
``minuit_optimizer(tolerance=1e-4)`` (``--minuit-tolerance``; iminuit's EDM goal is
0.002 * tolerance). Next to every time stand the engine's answers, so a fast wrong answer shows.
Speed-ups are the other engine's time over relaxed's (> 1: relaxed is faster).

    python benchmarks/bench_real.py [--quick] [--only NAME] [--parts fit,grid,...]
                                    [--engines relaxed,pyhf,...] [--output FILE]

``--quick`` runs the 1Lbb rows (one signal point, the first 5 patches of the patch set) and the
hello world: a smoke test of about 80 s on 2 cores. ``--only NAME`` (repeatable) keeps
the workspaces whose name contains NAME (1Lbb, eRJR, compressed, staus, sbottom, hello).
The full run takes about 15 minutes on 2 cores; progress goes to stderr. NextStat's column is
left out when ``nextstat`` is not installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "_real_worker.py"
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "atlas_real"
HELLO_FILE = Path("pyhf") / "docs_examples_json_2-bin_1-channel.json"  # next to atlas_real

ENGINES = ("relaxed", "pyhf", "pyhf_minuit", "nextstat")
OTHERS = ("pyhf", "pyhf_minuit", "nextstat")
PARTS = ("hello", "fit", "hypotest", "upper_limit", "grid", "cli")

#: name, folder, background-only file, signal patch files (first: the --quick point), patch set
WORKSPACES: list[dict[str, Any]] = [
    {
        "name": "1Lbb",
        "folder": "ATLAS-SUSY-2019-08_1Lbb-simplified",
        "bkg": "simplified_BkgOnly.json",
        "points": [
            "patch_C1N2_Wh_hbb_750_150.json",
            "patch_C1N2_Wh_hbb_800_0.json",
            "patch_C1N2_Wh_hbb_500_0.json",
        ],
        "patchset": "simplified_patchset.json",
    },
    {
        "name": "eRJR",
        "folder": "ATLAS-SUSY-2018-06_3L-eRJR",
        "bkg": "BkgOnly.json",
        "points": [
            "patch.ERJR_350p0_0p0.json",
            "patch.ERJR_400p0_0p0.json",
            "patch.ERJR_150p0_1p0.json",
        ],
        "patchset": "patchset.json",
    },
    {
        "name": "compressed",
        "folder": "ATLAS-SUSY-2018-16_compressed-bkgonly",
        "bkg": "BkgOnly.json",
    },
    {
        "name": "staus_highMass",
        "folder": "ATLAS-SUSY-2018-04_staus-bkgonly",
        "bkg": "highMass_BkgOnly.json",
    },
    {
        "name": "staus_lowMass",
        "folder": "ATLAS-SUSY-2018-04_staus-bkgonly",
        "bkg": "lowMass_BkgOnly.json",
    },
    {
        "name": "sbottom_RegionA",
        "folder": "ATLAS-SUSY-2018-31_sbottom-bkgonly",
        "bkg": "RegionA_BkgOnly.json",
    },
    {
        "name": "sbottom_RegionB",
        "folder": "ATLAS-SUSY-2018-31_sbottom-bkgonly",
        "bkg": "RegionB_BkgOnly.json",
    },
]

#: answer fields copied from a worker's result into a row's ``values``
ANSWERS = (
    "twice_nll",
    "npars",
    "converged",
    "CLs_obs",
    "CLs_exp",
    "upper_limit_obs",
    "upper_limit_exp",
    "error",
    "twice_nll_where_it_stopped",
    "skipped",
)


def _point_name(patch_file: str) -> str:
    stem = patch_file.removesuffix(".json")
    for prefix in ("patch_", "patch."):
        stem = stem.removeprefix(prefix)
    return stem


def _ratio(other: float | None, ours: float | None) -> float | None:
    if other is None or ours is None or ours <= 0:
        return None
    return other / ours


def _max_diff(a: dict[str, Any], b: dict[str, Any], key: str, index: int | None = None) -> Any:
    diffs = []
    for name in a.keys() & b.keys():
        x, y = a[name].get(key), b[name].get(key)
        if x is None or y is None:
            continue
        if index is not None:
            x, y = x[index], y[index]
        diffs.append(abs(float(x) - float(y)))
    return {"max_abs_diff": max(diffs), "compared": len(diffs)} if diffs else None


def _short(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"skipped ({result['skipped'][:80]})"
    if "error" in result:
        return f"ERROR {result['error'][:100]}"
    parts = []
    for key in ("cold_s", "warm_s"):
        if result.get(key) is not None:
            parts.append(f"{key[:-2]} {result[key]:.3g} s")
    for key in ("twice_nll", "CLs_obs", "upper_limit_obs"):
        if result.get(key) is not None:
            parts.append(f"{key} {result[key]:.6g}")
    if "points" in result:
        parts.append(f"{len(result['points'])} points")
    return ", ".join(parts)


def differences(row: dict[str, Any]) -> dict[str, Any]:
    """|other engine's answer - relaxed's| for each number both gave (a fast wrong answer
    shows here)."""
    values = row.get("values", {})
    ours = values.get("relaxed", {})
    out: dict[str, Any] = {}
    for engine in OTHERS:
        theirs = values.get(engine, {})
        diff = {}
        for key in ("twice_nll", "CLs_obs", "upper_limit_obs"):
            if isinstance(ours.get(key), float) and isinstance(theirs.get(key), float):
                diff[key] = abs(theirs[key] - ours[key])
        for key in ("CLs_exp", "upper_limit_exp"):
            if ours.get(key) and theirs.get(key):
                diff[f"{key}_median"] = abs(theirs[key][2] - ours[key][2])
        if diff:
            out[engine] = diff
    return out


def _failed(row: dict[str, Any], engine: str) -> bool:
    values = row.get("values", {}).get(engine, {})
    return bool(values.get("error") or values.get("skipped"))


def speedups(row: dict[str, Any]) -> dict[str, Any]:
    """Other engine's time over relaxed's, for every engine that gave an answer (a failed
    call's time is no comparison). Where an engine's warm calls were skipped (its cold call
    took too long), its cold time stands in and ``warm_from_cold`` says so."""
    ours = row.get("relaxed_s")
    if not ours or "skipped" in ours or _failed(row, "relaxed"):
        return {}
    out = {}
    for engine in OTHERS:
        theirs = row.get(f"{engine}_s")
        if not theirs or _failed(row, engine):
            continue
        entry: dict[str, Any] = {}
        if ours.get("warm") is not None:
            warm = theirs.get("warm")
            if warm is None and theirs.get("cold") is not None:
                warm = theirs["cold"]
                entry["warm_from_cold"] = True
            entry["warm"] = _ratio(warm, ours["warm"])
            if ours.get("warm_rebuilt") is not None:
                entry["warm_vs_rebuilt"] = _ratio(warm, ours["warm_rebuilt"])
            if ours.get("warm_sync_dispatch") is not None:
                entry["warm_vs_sync_dispatch"] = _ratio(warm, ours["warm_sync_dispatch"])
        entry["cold_vs_empty_cache"] = _ratio(theirs.get("cold"), ours.get("cold_empty_cache"))
        entry["cold_vs_cache_warm"] = _ratio(theirs.get("cold"), ours.get("cold_cache_warm"))
        out[f"vs_{engine}"] = entry
    return out


class Bench:
    """Runs the workers and the command lines one at a time and assembles the rows."""

    def __init__(self, args: argparse.Namespace, engines: list[str]) -> None:
        self.args = args
        self.engines = engines
        self.tmp = Path(tempfile.mkdtemp(prefix="bench_real_"))
        self.begin = time.perf_counter()
        self.serial = 0
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT)] + ([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else [])
        )
        # every engine imports from compiled bytecode, as installed packages do (pip writes
        # pyhf's; an editable checkout's are written on first import unless this is set)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def log(self, text: str) -> None:
        elapsed = time.perf_counter() - self.begin
        print(f"[{elapsed:7.1f} s] {text}", file=sys.stderr, flush=True)

    def fresh_cache(self) -> Path:
        self.serial += 1
        return self.tmp / f"cache_{self.serial:03d}"

    def worker(self, engine: str, task: dict[str, Any], cache: Path | None = None) -> dict:
        """One measurement in a new process; the result the worker wrote."""
        self.serial += 1
        task = dict(task, engine=engine, minuit_tolerance=self.args.minuit_tolerance)
        task.setdefault("warm_budget_s", self.args.warm_budget)
        task.setdefault("max_warm_call_s", self.args.max_warm_call)
        task_file = self.tmp / f"task_{self.serial:03d}.json"
        result_file = self.tmp / f"result_{self.serial:03d}.json"
        task_file.write_text(json.dumps(task))
        env = dict(self.env)
        env["RELAXED_CACHE_DIR"] = str(cache) if cache is not None else "off"
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, str(WORKER), str(task_file), str(result_file)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                timeout=self.args.timeout,
                cwd=ROOT,
            )
        except subprocess.TimeoutExpired:
            return {
                "engine": engine,
                "error": f"timeout after {self.args.timeout} s",
                "timeout": True,
            }
        elapsed = time.perf_counter() - start
        if result_file.exists():
            result = json.loads(result_file.read_text())
        else:
            tail = (proc.stderr or "").strip()[-400:]
            result = {"engine": engine, "error": f"worker exit {proc.returncode}: {tail}"}
        result["process_s"] = elapsed
        return result

    # -- one measurement, every engine ----------------------------------------------------------
    def measure(self, label: str, task: dict[str, Any]) -> dict[str, Any]:
        results: dict[str, dict[str, Any]] = {}
        first = second = None
        if "relaxed" in self.engines:
            cache = self.fresh_cache()
            sync_second = task["kind"] == "hello"
            # relaxed's cold call is mostly compilation: always measure its warm calls
            ours = dict(task, max_warm_call_s=float("inf"))
            first = self.worker("relaxed", ours, cache)
            self.log(f"{label} relaxed (cold, empty cache): {_short(first)}")
            if first.get("timeout"):
                second = {"engine": "relaxed", "skipped": "the empty-cache run timed out"}
            else:
                second = self.worker("relaxed", dict(ours, sync_dispatch=sync_second), cache)
            tag = "cache warm, sync dispatch" if sync_second else "cache warm"
            self.log(f"{label} relaxed (cold, {tag}): {_short(second)}")
            results["relaxed"] = second if "error" in first and "cold_s" in second else first
        for engine in OTHERS:
            if engine in self.engines:
                results[engine] = self.worker(engine, task)
                self.log(f"{label} {engine}: {_short(results[engine])}")
        return self.row(label, task, results, first, second)

    def row(
        self,
        label: str,
        task: dict[str, Any],
        results: dict[str, dict[str, Any]],
        first: dict[str, Any] | None,
        second: dict[str, Any] | None,
    ) -> dict[str, Any]:
        kind = task["kind"]
        row: dict[str, Any] = {"name": label, "kind": kind}
        for key in ("workspace", "point"):
            if task.get(key) is not None:
                row[key] = task[key]
        if first is not None and second is not None:
            times = {
                "cold_empty_cache": first.get("cold_s"),
                "cold_cache_warm": second.get("cold_s"),
                "warm": first.get("warm_s") if "warm_s" in first else second.get("warm_s"),
                "import": first.get("import_s"),
                "process_empty_cache": first.get("process_s"),
                "process_cache_warm": second.get("process_s"),
            }
            if kind == "grid":
                times["warm_rebuilt"] = first.get("warm_rebuilt_s")
            if kind == "hello":
                times["warm_sync_dispatch"] = second.get("warm_s")
                times["warm_repeats"] = first.get("warm_repeats")
            row["relaxed_s"] = times
        for engine in OTHERS:
            if engine in results:
                res = results[engine]
                times = {
                    "cold": res.get("cold_s"),
                    "warm": res.get("warm_s"),
                    "import": res.get("import_s"),
                    "process": res.get("process_s"),
                }
                if res.get("warm_skipped"):
                    times["warm_skipped"] = res["warm_skipped"]
                row[f"{engine}_s"] = times
        if kind == "grid":
            row["values"] = self.grid_values(results)
        else:
            row["values"] = {
                engine: {k: res[k] for k in ANSWERS if k in res} for engine, res in results.items()
            }
        row["speedup"] = speedups(row)
        if kind != "grid":
            row["abs_diff_vs_relaxed"] = differences(row)
        errors = {e: r["warm_error"] for e, r in results.items() if r.get("warm_error")}
        if errors:
            row["warm_errors"] = errors
        notes = sorted({n for res in results.values() for n in res.get("notes", [])})
        if notes:
            row["notes"] = notes
        return row

    @staticmethod
    def grid_values(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        points = {e: r["points"] for e, r in results.items() if "points" in r}
        for engine, res in results.items():
            entry: dict[str, Any] = {k: res[k] for k in ("error", "skipped") if k in res}
            if engine in points:
                entry["points"] = len(points[engine])
                for key in ("failed", "not_converged", "errors"):
                    if res.get(key):
                        entry[key] = res[key]
                for other in ENGINES:
                    if other != engine and other in points:
                        diff = _max_diff(points[engine], points[other], "CLs_obs")
                        if diff is not None:
                            entry[f"CLs_obs_vs_{other}"] = diff
                        diff = _max_diff(points[engine], points[other], "CLs_exp", 2)
                        if diff is not None:
                            entry[f"CLs_exp_median_vs_{other}"] = diff
            values[engine] = entry
        return values

    # -- command lines --------------------------------------------------------------------------
    def command(self, argv: list[str], cache: Path | None = None) -> dict[str, Any]:
        env = dict(self.env)
        env["RELAXED_CACHE_DIR"] = str(cache) if cache is not None else "off"
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=self.args.timeout
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {self.args.timeout} s"}
        elapsed = time.perf_counter() - start
        out: dict[str, Any] = {"process_s": elapsed}
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            out["error"] = f"exit {proc.returncode}: {last[-300:]}"
            return out
        try:
            doc = json.loads(proc.stdout)
        except json.JSONDecodeError:
            out["error"] = f"not JSON: {proc.stdout.strip()[:200]}"
            return out
        for key in ("twice_nll", "CLs_obs", "CLs_exp"):
            if key in doc:
                out[key] = doc[key]
        return out

    def cli(self, label: str, neos_argv: list[str] | None, pyhf_argv: list[str], why: str) -> dict:
        row: dict[str, Any] = {"name": label, "kind": "cli"}
        values: dict[str, Any] = {}
        if neos_argv is None:
            row["relaxed_s"] = {"skipped": why}
        else:
            cache = self.fresh_cache()
            first = self.command(neos_argv, cache)
            second = self.command(neos_argv, cache)
            self.log(f"{label} neos: {first.get('process_s')} s / {second.get('process_s')} s")
            row["relaxed_s"] = {
                "cold_empty_cache": first.get("process_s"),
                "cold_cache_warm": second.get("process_s"),
            }
            row["command_relaxed"] = " ".join(neos_argv)
            values["relaxed"] = {k: v for k, v in first.items() if k != "process_s"}
        minuit = ["--optimizer", "minuit", "--optconf", f"tolerance={self.args.minuit_tolerance}"]
        for engine, argv in (("pyhf", pyhf_argv), ("pyhf_minuit", pyhf_argv + minuit)):
            if engine not in self.engines:
                continue
            res = self.command(argv)
            self.log(f"{label} {engine}: {res.get('process_s')} s {res.get('error', '')[:100]}")
            row[f"{engine}_s"] = {"cold": res.get("process_s")}
            row[f"command_{engine}"] = " ".join(argv)
            values[engine] = {k: v for k, v in res.items() if k != "process_s"}
        row["values"] = values
        row["speedup"] = speedups(row)
        row["abs_diff_vs_relaxed"] = differences(row)
        return row

    def patchset(self, path: Path, first: int | None) -> tuple[str, int]:
        """The patch set file, or a copy with only its first ``first`` patches."""
        doc = json.loads(path.read_text())
        if first is None or first >= len(doc["patches"]):
            return str(path), len(doc["patches"])
        doc["patches"] = doc["patches"][:first]
        subset = self.tmp / f"{path.stem}_first{first}.json"
        subset.write_text(json.dumps(doc))
        return str(subset), first

    def close(self) -> None:
        if not self.args.keep_temp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _neos_cli(sub: str, needs_patch: bool) -> tuple[list[str] | None, str]:
    exe = shutil.which("neos")
    if exe is None:
        return None, "the neos command is not installed"
    if not needs_patch:
        return [exe, sub], ""
    proc = subprocess.run([exe, sub, "--help"], capture_output=True, text=True)
    if "--patch" not in proc.stdout:
        return None, f"neos {sub} has no -p/--patch option yet"
    return [exe, sub], ""


def _selected(name: str, only: list[str] | None) -> bool:
    return not only or any(o.lower() in name.lower() for o in only)


def _cell(times: dict[str, Any] | None, keys: tuple[str, ...]) -> str:
    if not times:
        return "-"
    values = [times.get(k) for k in keys]
    return "/".join("-" if v is None else f"{v:.3g}" for v in values)


def _answer(values: dict[str, Any]) -> str:
    if "error" in values:
        return "ERR"
    for key in ("twice_nll", "CLs_obs", "upper_limit_obs"):
        if values.get(key) is not None:
            return f"{values[key]:.5g}"
    diff = values.get("CLs_obs_vs_pyhf")
    return f"d{diff['max_abs_diff']:.1e}" if diff else "-"


def _summary(rows: list[dict[str, Any]]) -> None:
    """A readable table on stderr: seconds (relaxed: warm/cold empty cache/cold cache warm;
    others: warm/cold) and each engine's answer."""
    print("\nseconds: relaxed warm/cold/cold-cache-warm, others warm/cold", file=sys.stderr)
    for row in rows:
        cells = [f"{row['name'][:44]:44s}"]
        ours = row.get("relaxed_s")
        cells.append(f"relaxed {_cell(ours, ('warm', 'cold_empty_cache', 'cold_cache_warm')):22s}")
        for engine in OTHERS:
            cells.append(f"{engine} {_cell(row.get(f'{engine}_s'), ('warm', 'cold')):16s}")
        answers = [f"{engine}={_answer(v)}" for engine, v in row.get("values", {}).items() if v]
        print(" ".join(cells + answers), file=sys.stderr)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("jax", "jaxlib", "pyhf", "iminuit", "scipy", "numpy", "nextstat"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        type=Path,
        default=DEFAULT_REFERENCE,
        metavar="DIR",
        help="the atlas_real folder (default: shared/reference/atlas_real next to the repository)",
    )
    parser.add_argument("--quick", action="store_true", help="1Lbb (one point) + hello world")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="keep workspaces whose name contains NAME (1Lbb, eRJR, compressed, staus_highMass, "
        "staus_lowMass, sbottom_RegionA, sbottom_RegionB, hello); repeatable",
    )
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument("--engines", default=",".join(ENGINES), help="subset of the engines")
    parser.add_argument(
        "--no-erjr-grid",
        action="store_true",
        help="skip eRJR's 64-point grid (its pyhf-minuit loop takes minutes)",
    )
    parser.add_argument(
        "--grid-points",
        type=int,
        metavar="N",
        help="only the first N patches of a patch set (default: all; --quick: 5)",
    )
    parser.add_argument(
        "--minuit-tolerance",
        type=float,
        default=1e-4,
        help="pyhf.optimize.minuit_optimizer(tolerance=...) (default 1e-4: EDM < 2e-7)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per process")
    parser.add_argument(
        "--warm-budget", type=float, help="seconds of warm calls (default 3; --quick: 1)"
    )
    parser.add_argument(
        "--max-warm-call",
        type=float,
        default=30.0,
        help="no warm calls when the cold one took longer (seconds)",
    )
    parser.add_argument("--hello-repeats", type=int, default=300, help="warm hello calls")
    parser.add_argument("--output", type=Path, metavar="FILE")
    parser.add_argument("--keep-temp", action="store_true", help="keep caches and task files")
    args = parser.parse_args()

    reference = args.reference.resolve()
    if not reference.is_dir():
        parser.error(f"no reference directory {reference} (use --reference DIR)")
    parts = [p for p in args.parts.split(",") if p]
    engines = [e for e in args.engines.split(",") if e]
    unknown = (set(parts) - set(PARTS)) | (set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown part or engine: {sorted(unknown)}")
    skipped_engines = {}
    if "nextstat" in engines and importlib.util.find_spec("nextstat") is None:
        engines.remove("nextstat")
        skipped_engines["nextstat"] = "not installed"

    workspaces = [w for w in WORKSPACES if _selected(w["name"], args.only)]
    if args.quick:
        workspaces = [dict(w, points=w["points"][:1]) for w in WORKSPACES if w["name"] == "1Lbb"]
    with_hello = _selected("hello", args.only) or args.quick
    if args.warm_budget is None:
        args.warm_budget = 1.0 if args.quick else 3.0
    grid_points = args.grid_points or (5 if args.quick else None)

    bench = Bench(args, engines)
    rows: list[dict[str, Any]] = []
    try:
        if with_hello and "hello" in parts:
            task = {
                "kind": "hello",
                "workspace": "hello",
                "warm_repeats": args.hello_repeats,
                "warm_budget_s": max(2.0, args.warm_budget),
            }
            rows.append(bench.measure("hello/hypotest", task))
        if with_hello and "cli" in parts:
            hello = reference.parent / HELLO_FILE
            neos, why = _neos_cli("fit", needs_patch=False)
            rows.append(
                bench.cli(
                    "cli/fit/hello_2-bin",
                    None if neos is None else neos + [str(hello)],
                    ["pyhf", "fit", "--value", str(hello)],
                    why,
                )
            )
        for ws in workspaces:
            folder = reference / ws["folder"]
            bkg = str(folder / ws["bkg"])
            base = {"workspace": ws["name"]}
            if "fit" in parts:
                task = dict(base, kind="fit", workspace_file=bkg, poi=False, point="BkgOnly")
                rows.append(bench.measure(f"fit/{ws['name']}/BkgOnly", task))
            for patch in ws.get("points", []):
                point = _point_name(patch)
                task = dict(base, workspace_file=bkg, patches=[str(folder / patch)], point=point)
                for kind in ("fit", "hypotest", "upper_limit"):
                    if kind in parts:
                        label = f"{kind}/{ws['name']}/{point}"
                        rows.append(bench.measure(label, dict(task, kind=kind)))
            grid_wanted = ws["name"] != "eRJR" or not args.no_erjr_grid
            if "grid" in parts and ws.get("patchset") and grid_wanted:
                patchset, count = bench.patchset(folder / ws["patchset"], grid_points)
                task = dict(
                    base, kind="grid", workspace_file=bkg, patchset=patchset, point="patchset"
                )
                row = bench.measure(f"grid/{ws['name']}", task)
                row["patches"] = count
                rows.append(row)
            if "cli" in parts and ws.get("points"):
                patch = str(folder / ws["points"][0])
                neos, why = _neos_cli("cls", needs_patch=True)
                rows.append(
                    bench.cli(
                        f"cli/cls/{ws['name']}/{_point_name(ws['points'][0])}",
                        None if neos is None else neos + [bkg, "-p", patch],
                        ["pyhf", "cls", bkg, "-p", patch],
                        why,
                    )
                )
    finally:
        bench.close()

    document = {
        "benchmark": "real_likelihoods",
        "reference": str(reference),
        "settings": {
            "quick": args.quick,
            "cold": "new process: model build from parsed JSON + first call",
            "warm": f"median of repeated calls in the same process (budget {args.warm_budget} s; "
            f"none when the cold call took > {args.max_warm_call} s)",
            "relaxed_cache": "RELAXED_CACHE_DIR: a fresh empty folder per row, then reused",
            "pyhf_optimizers": {
                "pyhf": "numpy backend, scipy SLSQP (default)",
                "pyhf_minuit": f"numpy backend, minuit_optimizer(tolerance="
                f"{args.minuit_tolerance}) (strategy 1: numerical gradients)",
            },
            "upper_limit": {
                "relaxed": "upper_limit(data, model): root finding in the POI bounds, rtol 1e-6",
                "pyhf": "upper_limits.upper_limit(data, model): toms748 in the POI bounds, "
                "rtol 1e-4",
                "nextstat": "upper_limit(model, method='root'), rtol 1e-4",
            },
            "grid_patches": grid_points or "all",
            "erjr_grid": not args.no_erjr_grid,
            "timeout_s": args.timeout,
            "speedup": "other engine's time / relaxed's time (> 1: relaxed faster)",
        },
        "skipped_engines": skipped_engines,
        "rows": rows,
        "wall_s": time.perf_counter() - bench.begin,
        "versions": _versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    _summary(rows)
    text = json.dumps(document, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
