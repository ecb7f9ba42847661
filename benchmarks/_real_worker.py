"""One measurement of ``bench_real.py``, run in a fresh process (that is what "cold" means).

    python benchmarks/_real_worker.py TASK.json RESULT.json

TASK.json names the engine (``relaxed``, ``pyhf``, ``pyhf_minuit``, ``nextstat``), the kind of
measurement (``fit``, ``hypotest``, ``upper_limit``, ``grid``, ``hello``) and the input files.
The worker imports the engine (timed: ``import_s``), reads the JSON files (not timed: the same
for every engine), then times

- ``cold_s``: building the model from the parsed JSON (patches applied) plus the first call,
  which for relaxed includes tracing and compiling (or loading from the persistent cache);
- ``warm_s``: the median of further calls on the same model in the same process.

It writes a JSON result to RESULT.json: the times, the engine's answer (``twice_nll``,
``CLs_obs``, ``CLs_exp``, upper limits) and the error, if any. Nothing is printed on stdout:
pyhf's minuit optimizer prints long tables when a fit fails.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

MU = 1.0

HELLO_CHANNELS = [
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
                "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}],
            },
        ],
    }
]
HELLO_OBSERVED = [51.0, 48.0]


def hello_workspace() -> dict[str, Any]:
    """pyhf's ``uncorrelated_background([12, 11], [50, 52], [3, 7])`` with data [51, 48]."""
    return {
        "channels": HELLO_CHANNELS,
        "observations": [{"name": "singlechannel", "data": HELLO_OBSERVED}],
        "measurements": [{"name": "hello", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _load(path: str) -> Any:
    with open(path) as stream:
        return json.load(stream)


def _apply(spec: dict[str, Any], patches: list[Any]) -> dict[str, Any]:
    import jsonpatch

    for patch in patches:
        spec = jsonpatch.apply_patch(spec, patch)
    return spec


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).strip()[:400]}"


# -- engines ------------------------------------------------------------------------------------
# Each engine offers build(kind, inputs) -> state (timed with the first call),
# call(kind, state) -> raw answer (timed), answer(kind, raw, state) -> dict (not timed).


class Relaxed:
    name = "relaxed"

    def __init__(self, task: dict[str, Any]) -> None:
        import jax

        import relaxed

        if task.get("sync_dispatch"):
            jax.config.update("jax_cpu_enable_async_dispatch", False)
        self.jax = jax
        self.relaxed = relaxed
        self.version = relaxed.__version__
        self.notes: list[str] = []

    def _model(self, spec: dict[str, Any], patches: list[Any], poi: bool) -> tuple[Any, Any]:
        relaxed = self.relaxed
        ws = relaxed.Workspace(spec)
        if patches:
            try:
                model = ws.model(patches=patches)
            except TypeError:  # a relaxed without Workspace.model(patches=...)
                self.notes.append("model(patches=) not accepted: jsonpatch then Workspace")
                ws = relaxed.Workspace(_apply(spec, patches))
                model = ws.model()
        else:
            model = ws.model() if poi else ws.model(poi_name=None)
        return model, ws.data(model)

    def build(self, kind: str, inputs: dict[str, Any]) -> Any:
        relaxed = self.relaxed
        if kind == "hello":
            model = relaxed.Model({"channels": HELLO_CHANNELS})
            return model, self.jax.numpy.asarray(HELLO_OBSERVED + model.config.auxdata.tolist())
        if kind == "grid":
            from relaxed.infer import grid  # noqa: F401  (ImportError: the row is skipped)

            return relaxed.Workspace(inputs["spec"]), relaxed.PatchSet(inputs["patchset"])
        return self._model(inputs["spec"], inputs["patches"], inputs["poi"])

    def call(self, kind: str, state: Any) -> Any:
        infer = self.relaxed.infer
        if kind == "grid":
            from relaxed.infer.grid import hypotest_grid

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the 1Lbb patch set's digest does not match
                return hypotest_grid(*state)
        model, data = state
        if kind == "fit":
            out = infer.mle.fit(data, model, return_fitted_val=True)
        elif kind in ("hypotest", "hello"):
            out = infer.hypotest(MU, data, model, return_expected_set=True)
        elif kind == "upper_limit":
            out = infer.upper_limit(data, model)
        else:
            raise ValueError(kind)
        return self.jax.block_until_ready(out)

    def answer(self, kind: str, raw: Any, state: Any) -> dict[str, Any]:
        if kind == "fit":
            return {"twice_nll": float(raw[1]), "npars": int(state[0].config.npars)}
        if kind in ("hypotest", "hello"):
            return {"CLs_obs": float(raw[0]), "CLs_exp": _floats(raw[1])}
        if kind == "upper_limit":
            return {"upper_limit_obs": float(raw[0]), "upper_limit_exp": _floats(raw[1])}
        points = {r["name"]: {"CLs_obs": r["CLs_obs"], "CLs_exp": r["CLs_exp"]} for r in raw}
        failed = sum(1 for r in raw if not r.get("converged", True))
        return {"points": points, "not_converged": failed}


class Pyhf:
    name = "pyhf"

    def __init__(self, task: dict[str, Any]) -> None:
        import pyhf

        self.pyhf = pyhf
        self.version = pyhf.__version__
        self.notes: list[str] = []
        if task["engine"] == "pyhf_minuit":
            tolerance = float(task["minuit_tolerance"])
            pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=tolerance))
        else:
            pyhf.set_backend("numpy")

    def build(self, kind: str, inputs: dict[str, Any]) -> Any:
        pyhf = self.pyhf
        if kind == "hello":
            model = pyhf.simplemodels.uncorrelated_background(
                signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0]
            )
            return model, HELLO_OBSERVED + model.config.auxdata
        if kind == "grid":
            return inputs["spec"], pyhf.PatchSet(inputs["patchset"])
        ws = pyhf.Workspace(inputs["spec"])
        if inputs["patches"]:
            model = ws.model(patches=inputs["patches"])
        else:
            model = ws.model() if inputs["poi"] else ws.model(poi_name=None)
        return model, ws.data(model)

    def _hypotest(self, data: Any, model: Any) -> Any:
        return self.pyhf.infer.hypotest(
            MU, data, model, test_stat="qtilde", return_expected_set=True
        )

    def call(self, kind: str, state: Any) -> Any:
        pyhf = self.pyhf
        if kind == "grid":
            # pyhf.PatchSet.apply(ws, name) verifies the digest first and the 1Lbb patch set
            # fails it; apply each patch as PatchSet.apply does, without the check.
            spec, patchset = state
            out = {}
            for patch in patchset.patches:
                try:
                    ws = pyhf.Workspace(patch.apply(spec))
                    model = ws.model()
                    out[patch.name] = self._hypotest(ws.data(model), model)
                except Exception as err:  # a failed fit fails that point only
                    out[patch.name] = _error(err)
            return out
        model, data = state
        if kind == "fit":
            return pyhf.infer.mle.fit(data, model, return_fitted_val=True)
        if kind in ("hypotest", "hello"):
            return self._hypotest(data, model)
        if kind == "upper_limit":
            # default: toms748 root finding inside the POI's bounds, rtol 1e-4
            return pyhf.infer.intervals.upper_limits.upper_limit(data, model)
        raise ValueError(kind)

    def answer(self, kind: str, raw: Any, state: Any) -> dict[str, Any]:
        if kind == "fit":
            return {"twice_nll": float(raw[1]), "npars": int(state[0].config.npars)}
        if kind in ("hypotest", "hello"):
            return {"CLs_obs": float(raw[0]), "CLs_exp": _floats(raw[1])}
        if kind == "upper_limit":
            return {"upper_limit_obs": float(raw[0]), "upper_limit_exp": _floats(raw[1])}
        points, errors = {}, {}
        for name, value in raw.items():
            if isinstance(value, str):
                errors[name] = value
            else:
                points[name] = {"CLs_obs": float(value[0]), "CLs_exp": _floats(value[1])}
        return {"points": points, "failed": len(errors), "errors": dict(list(errors.items())[:3])}


class NextStat:
    name = "nextstat"

    def __init__(self, task: dict[str, Any]) -> None:
        import nextstat

        self.nextstat = nextstat
        self.version = nextstat.__version__
        self.notes: list[str] = []
        if task["kind"] in ("hypotest", "hello"):
            self.notes.append(
                "nextstat: timed nextstat.hypotest(mu, model, return_tail_probs=True), the "
                "observed CLs (it does not return the expected band); CLs_exp from "
                "nextstat.cls_curve(model, [mu, 2 mu]), not timed"
            )
        elif task["kind"] == "fit" and not task.get("poi", True):
            self.notes.append(
                "nextstat: no poi_name=None; the measurement's POI stays, as a free parameter "
                "no sample uses"
            )
        elif task["kind"] == "grid":
            self.notes.append(
                "nextstat: each patch applied with jsonpatch, model from_pyhf, "
                "nextstat.hypotest (observed CLs only)"
            )

    def build(self, kind: str, inputs: dict[str, Any]) -> Any:
        ns = self.nextstat
        if kind == "hello":
            return ns.from_pyhf(json.dumps(hello_workspace()))
        if kind == "grid":
            return inputs["spec"], inputs["patchset"]
        spec = _apply(inputs["spec"], inputs["patches"]) if inputs["patches"] else inputs["spec"]
        return ns.from_pyhf(json.dumps(spec))

    def call(self, kind: str, state: Any) -> Any:
        ns = self.nextstat
        if kind == "grid":
            # the same patch application as pyhf's route (jsonpatch on the workspace)
            spec, patchset = state
            out = {}
            for entry in patchset["patches"]:
                name = entry["metadata"]["name"]
                try:
                    model = ns.from_pyhf(json.dumps(_apply(spec, [entry["patch"]])))
                    out[name] = ns.hypotest(MU, model)
                except Exception as err:
                    out[name] = _error(err)
            return out
        if kind == "fit":
            return ns.fit(state)
        if kind in ("hypotest", "hello"):
            return ns.hypotest(MU, state, return_tail_probs=True)
        if kind == "upper_limit":
            return ns.upper_limit(state, method="root")
        raise ValueError(kind)

    def answer(self, kind: str, raw: Any, state: Any) -> dict[str, Any]:
        if kind == "fit":
            return {
                "twice_nll": float(raw.twice_nll),
                "converged": bool(raw.converged),
                "npars": int(state.n_params()),
            }
        if kind in ("hypotest", "hello"):
            curve = self.nextstat.cls_curve(state, [MU, 2 * MU])
            return {"CLs_obs": float(raw[0]), "CLs_exp": _floats(curve["points"][0]["expected"])}
        if kind == "upper_limit":
            return {"upper_limit_obs": float(raw[0]), "upper_limit_exp": _floats(raw[1])}
        points = {n: {"CLs_obs": float(v)} for n, v in raw.items() if not isinstance(v, str)}
        errors = {n: v for n, v in raw.items() if isinstance(v, str)}
        return {"points": points, "failed": len(errors), "errors": dict(list(errors.items())[:3])}


ENGINES = {"relaxed": Relaxed, "pyhf": Pyhf, "pyhf_minuit": Pyhf, "nextstat": NextStat}


# -- measurement --------------------------------------------------------------------------------
def _warm(
    fn: Callable[[], Any], cold_s: float, budget_s: float, repeats: int, max_call_s: float
) -> tuple[float | None, int]:
    """Median of repeated calls: at least one, more while the budget lasts, none when the cold
    call alone took longer than ``max_call_s``."""
    if cold_s > max_call_s or repeats < 1:
        return None, 0
    times: list[float] = []
    begin = time.perf_counter()
    while len(times) < repeats and (not times or time.perf_counter() - begin < budget_s):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def _failure_detail(err: BaseException) -> dict[str, Any]:
    """pyhf's FailedMinimization carries the optimizer result: keep where it stopped."""
    result = getattr(err, "result", None)
    fun = getattr(result, "fun", None) if result is not None else None
    try:
        return {"twice_nll_where_it_stopped": float(fun)} if fun is not None else {}
    except (TypeError, ValueError):
        return {}


def run(task: dict[str, Any]) -> dict[str, Any]:
    kind = task["kind"]
    out: dict[str, Any] = {"engine": task["engine"], "kind": kind}
    start = time.perf_counter()
    engine = ENGINES[task["engine"]](task)
    out["import_s"] = time.perf_counter() - start
    out["version"] = engine.version

    inputs: dict[str, Any] = {}
    if kind != "hello":
        inputs["spec"] = _load(task["workspace_file"])
        inputs["patches"] = [_load(p) for p in task.get("patches", [])]
        inputs["poi"] = bool(task.get("poi", True))
        if kind == "grid":
            inputs["patchset"] = _load(task["patchset"])

    try:
        start = time.perf_counter()
        state = engine.build(kind, inputs)
        built = time.perf_counter()
        raw = engine.call(kind, state)
        end = time.perf_counter()
    except ImportError as err:
        out["skipped"] = _error(err)
        return out
    except Exception as err:
        out["error"] = _error(err)
        out.update(_failure_detail(err))
        out["cold_s"] = time.perf_counter() - start
        return out
    out["build_s"] = built - start
    out["first_call_s"] = end - built
    out["cold_s"] = end - start
    try:
        out["warm_s"], out["warm_repeats"] = _warm(
            lambda: engine.call(kind, state),
            out["cold_s"],
            float(task.get("warm_budget_s", 3.0)),
            int(task.get("warm_repeats", 20)),
            float(task.get("max_warm_call_s", 30.0)),
        )
        if out["warm_s"] is None:
            out["warm_skipped"] = (
                f"the cold call took {out['cold_s']:.1f} s (> {task.get('max_warm_call_s')} s)"
            )
        if kind == "grid" and task["engine"] == "relaxed":
            # warm_s reuses the Workspace and PatchSet objects, whose patched and built models
            # relaxed keeps; this one builds them again from the parsed JSON every call
            out["warm_rebuilt_s"], _ = _warm(
                lambda: engine.call(kind, engine.build(kind, inputs)),
                out["cold_s"],
                float(task.get("warm_budget_s", 3.0)),
                int(task.get("warm_repeats", 20)),
                float("inf"),
            )
    except Exception as err:
        out["warm_error"] = _error(err)
    out.update(engine.answer(kind, raw, state))
    if engine.notes:
        out["notes"] = engine.notes
    return out


def main() -> None:
    task_path, result_path = sys.argv[1:3]
    task = _load(task_path)
    warnings.simplefilter("ignore")
    try:
        result = run(task)
    except Exception as err:
        result = {"engine": task.get("engine"), "error": _error(err)}
        traceback.print_exc()
    with open(result_path, "w") as stream:
        json.dump(result, stream)


if __name__ == "__main__":
    main()
