"""The compilation cache: where it lives, stored programs reused by a new process, and
compiled code released before the process runs out of memory mappings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import pytest

import relaxed
from relaxed import cache
from relaxed.infer import hypotest

HELLO = textwrap.dedent(
    """
    import json, relaxed
    from relaxed.infer import hypotest, upper_limit
    spec = {"channels": [{"name": "c", "samples": [
        {"name": "sig", "data": [12.0, 11.0],
         "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "bkg", "data": [50.0, 52.0],
         "modifiers": [{"name": "u", "type": "shapesys", "data": [3.0, 7.0]}]}]}]}
    model = relaxed.Model(spec)
    data = [51.0, 48.0] + model.config.auxdata.tolist()
    obs, exp = hypotest(1.0, data, model, return_expected_set=True)
    limit, _ = upper_limit(data, model)
    print(json.dumps([float(obs), [float(v) for v in exp], float(limit)]))
    """
)


def _run(folder: Path, optimize_for: str = "run") -> list:
    env = dict(os.environ, RELAXED_CACHE_DIR=str(folder), RELAXED_OPTIMIZE_FOR=optimize_for)
    done = subprocess.run(
        [sys.executable, "-c", HELLO], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_new_process_reuses_the_stored_programs(tmp_path) -> None:
    first = _run(tmp_path)
    executables = tmp_path / "executables"
    stored = sorted(p.name.split("-")[0] for p in executables.iterdir())
    assert stored == ["hypotest", "upper_limit"]
    binaries = {p: p.stat().st_mtime_ns for p in executables.iterdir()}
    second = _run(tmp_path)
    # the same programs were loaded, not written again, and give the same numbers
    assert {p: p.stat().st_mtime_ns for p in executables.iterdir()} == binaries
    assert second == first
    # pyhf's hello world (converged pyhf gives CLs_obs 0.0525155)
    assert abs(first[0] - 0.0525155) < 1e-6


def test_stored_executables_survive_a_warm_jax_cache_and_damage(tmp_path) -> None:
    """Executables compiled while JAX's own cache holds the program are stored from a real
    compilation (a copy of one JAX loaded from its cache would fail with "Function ... not
    found"), and a damaged stored file is compiled again, not used."""
    first = _run(tmp_path)
    for path in (tmp_path / "executables").iterdir():
        path.unlink()
    assert _run(tmp_path) == first  # compiled again with JAX's cache warm, and stored
    damaged = next(p for p in (tmp_path / "executables").iterdir() if "upper_limit" in p.name)
    damaged.write_bytes(b"not an executable")
    assert _run(tmp_path) == first  # hypotest's stored copy loads; upper_limit's is replaced
    assert damaged.read_bytes() != b"not an executable"


def test_programs_optimised_for_compilation_give_the_same_numbers(tmp_path) -> None:
    """``RELAXED_OPTIMIZE_FOR=compile`` (LLVM's optimisation off) stores its own programs,
    next to those optimised for running, and they compute the same numbers."""
    fast_compile = _run(tmp_path, "compile")
    assert len(list((tmp_path / "executables").iterdir())) == 2
    fast_run = _run(tmp_path, "run")
    assert len(list((tmp_path / "executables").iterdir())) == 4
    assert fast_compile[0] == pytest.approx(fast_run[0], rel=1e-12, abs=0)
    assert fast_compile[1] == pytest.approx(fast_run[1], rel=1e-12, abs=0)
    assert fast_compile[2] == pytest.approx(fast_run[2], rel=1e-9, abs=0)


def test_optimisation_mode_is_checked_and_chosen_by_the_command(
    monkeypatch, tmp_path, hello_world_spec
) -> None:
    from click.testing import CliRunner

    from neos.cli import _apply_optimization, cli

    previous = cache.optimize_for()
    path = tmp_path / "ws.json"
    measurement = {"name": "m", "config": {"poi": "mu", "parameters": []}}
    observation = {"name": "singlechannel", "data": [51.0, 48.0]}
    workspace = {
        **hello_world_spec,
        "measurements": [measurement],
        "observations": [observation],
        "version": "1.0.0",
    }
    path.write_text(json.dumps(workspace))
    done = CliRunner().invoke(cli, ["--optimize-for", "compile", "inspect", str(path)])
    assert done.exit_code == 0, done.output
    assert cache.optimize_for() == previous  # a command leaves the session's mode alone
    try:
        with pytest.raises(ValueError, match="unknown optimisation mode 'fast'"):
            cache.optimize_for("fast")
        _apply_optimization("auto", "cls", {"calctype": "asymptotics"})
        assert cache.optimize_for() == "compile"
        _apply_optimization("auto", "cls", {"calctype": "toybased"})
        assert cache.optimize_for() == "run"
        _apply_optimization("auto", "fit", {})
        assert cache.optimize_for() == "compile"
        _apply_optimization("auto", "train", {})
        assert cache.optimize_for() == "run"
        _apply_optimization("auto", "grid", {"upper_limits": True})
        assert cache.optimize_for() == "run"
        _apply_optimization("compile", "train", {})
        assert cache.optimize_for() == "compile"
        # an unknown value of the environment variable falls back to "run", with a warning
        monkeypatch.setattr(cache, "_mode", [])
        monkeypatch.setenv(cache.OPTIMIZATION_ENV_VAR, "quick")
        with pytest.warns(UserWarning, match="RELAXED_OPTIMIZE_FOR='quick'"):
            assert cache.optimize_for() == "run"
    finally:
        monkeypatch.undo()
        cache.optimize_for(previous)


def test_environment_variable_turns_the_cache_off(tmp_path) -> None:
    code = "import relaxed; print(relaxed.cache.cache_dir())"
    env = dict(os.environ, RELAXED_CACHE_DIR="off")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "None"
    env = dict(os.environ, RELAXED_CACHE_DIR=str(tmp_path / "here"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == str(tmp_path / "here") and (tmp_path / "here").is_dir()


def test_unwritable_cache_dir_is_a_warning_not_an_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    before = cache.cache_dir()
    try:
        with pytest.warns(UserWarning, match="compilation cache disabled"):
            assert cache.set_cache_dir(blocker / "sub") is None
        assert cache.cache_dir() is None
    finally:
        cache.set_cache_dir(before)


def test_release_drops_compiled_code_and_results_stay(hello_world_spec) -> None:
    model = relaxed.Model(hello_world_spec)
    data = jnp.asarray([51.0, 48.0] + model.config.auxdata.tolist())
    before = float(hypotest(1.0, data, model))
    assert cache._EXPORTED
    assert cache.release_if_needed(fraction=0.0)  # any use is above 0
    assert not cache._EXPORTED
    assert float(hypotest(1.0, data, model)) == before
    assert not cache.release_if_needed(fraction=1.0)


def test_stored_executable_records_whether_it_needs_lapack(tmp_path) -> None:
    """A program with a LAPACK call is stored with the flag that makes the loader initialise
    jaxlib's LAPACK kernels first (running it without them crashes the process)."""
    import pickle

    import jax

    a = jnp.asarray([[4.0, 1.0], [1.0, 3.0]])
    b = jnp.asarray([1.0, 2.0])
    for name, fn, needs in [
        ("solve", lambda a, b: jnp.linalg.solve(a, b), True),
        ("plain", lambda a, b: a @ b + 1.0, False),
    ]:
        path = tmp_path / f"{name}.bin"
        with cache._fresh_compilation():
            compiled = jax.jit(fn).lower(a, b).compile()
        cache._store_executable(path, compiled)
        assert pickle.loads(path.read_bytes())[0] is needs
        assert jnp.allclose(cache._load_executable(path)(a, b), fn(a, b), rtol=1e-14)
