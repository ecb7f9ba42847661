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


def _run(folder: Path) -> list:
    env = dict(os.environ, RELAXED_CACHE_DIR=str(folder))
    done = subprocess.run(
        [sys.executable, "-c", HELLO], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_new_process_reuses_the_stored_programs(tmp_path) -> None:
    first = _run(tmp_path)
    stored = sorted(p.name.split("-")[0] for p in (tmp_path / "exported").iterdir())
    assert stored == ["hypotest", "upper_limit"]
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "exported").iterdir()}
    second = _run(tmp_path)
    # the same programs were loaded, not written again, and give the same numbers
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "exported").iterdir()} == mtimes
    assert second == first
    # pyhf's hello world (converged pyhf gives CLs_obs 0.0525155)
    assert abs(first[0] - 0.0525155) < 1e-6


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
