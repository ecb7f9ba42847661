"""Signal grids across devices and machines: the compiled calls dealt round four host devices
give one device's records bit for bit (``hypotest_grid(devices=...)``, ``neos grid
--devices``), shards merged into one run's grid (neos.grid_shards), Dask chunks equal to the
serial grid, resumed after a failure without recomputing finished chunks, and failing chunks
reported by name (neos.grid_dask, ``neos grid --shard/--dask``).

One small model (two bins, a shapesys background, seven signal points, of two model structures
that interleave: the odd points' signal has a shapesys) keeps the compilations few and short;
one Dask LocalCluster of two thread workers serves the module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jax
import pytest

pytest.importorskip("distributed")

import relaxed  # noqa: E402
from neos import grid_dask, grid_shards  # noqa: E402
from neos.cli import main  # noqa: E402
from relaxed.exceptions import InvalidArgument  # noqa: E402
from relaxed.histfactory.patchset import digest  # noqa: E402
from relaxed.infer import grid  # noqa: E402

#: the real hypotest_grid (tests replace the module's attribute by a _Recorder of it)
_HYPOTEST_GRID = grid.hypotest_grid

SIGNALS = [(4.0, 3.0), (8.0, 6.0), (12.0, 11.0), (16.0, 9.0), (20.0, 18.0), (6.0, 14.0), (2.0, 1.0)]
NAMES = [f"p{k}" for k in range(len(SIGNALS))]


def _bkgonly() -> dict[str, Any]:
    background = {
        "name": "background",
        "data": [50.0, 52.0],
        "modifiers": [{"name": "uncorr", "type": "shapesys", "data": [3.0, 7.0]}],
    }
    return {
        "channels": [{"name": "SR", "samples": [background]}],
        "observations": [{"name": "SR", "data": [51.0, 48.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _patchset(bkgonly: dict[str, Any]) -> dict[str, Any]:
    patches = []
    for k, (name, (s1, s2)) in enumerate(zip(NAMES, SIGNALS, strict=True)):
        signal = {
            "name": "signal",
            "data": [s1, s2],
            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
        }
        if k % 2:  # a signal uncertainty that cannot be made neutral: a second structure
            signal["modifiers"].append(
                {"name": f"{name}_mc", "type": "shapesys", "data": [0.1 * s1, 0.1 * s2]}
            )
        patches.append(
            {
                "metadata": {"name": name, "values": [s1, s2]},
                "patch": [{"op": "add", "path": "/channels/0/samples/0", "value": signal}],
            }
        )
    return {
        "metadata": {
            "description": "a small signal grid for the scale-out tests",
            "digests": {"sha256": digest(bkgonly)},
            "labels": ["s1", "s2"],
            "references": {"hepdata": "ins0000000"},
        },
        "patches": patches,
        "version": "1.0.0",
    }


ROOT = Path(__file__).resolve().parents[1]

#: Run in a fresh interpreter with 4 host CPU devices (XLA_FLAGS must be set before JAX
#: starts). Calls of 2 points make 2 chunks of each structure (4 points, 3 points): 4 chunks,
#: dealt in turn round the 4 devices. The run with the programs read back from the cache
#: folder, and `neos grid` shards on 3 and 1 devices, need no new compilation.
FOUR_DEVICES = """
import json, sys
from pathlib import Path
import jax
import relaxed
from neos.cli import main
from relaxed import cache
from relaxed.infer import grid

folder = Path(sys.argv[1])
files = [str(folder / "bkgonly.json"), str(folder / "patchset.json")]
ws = relaxed.Workspace(json.loads(Path(files[0]).read_text()))
patchset = relaxed.PatchSet(json.loads(Path(files[1]).read_text()))
grid.CHUNK = 2
placed = []
deal = grid.run_chunks

def spy(*args, **kwargs):
    outputs = deal(*args, **kwargs)
    placed.extend(sorted({d.id for x in jax.tree.leaves(out) for d in x.devices()})
                  for out in outputs)
    return outputs

grid.run_chunks = spy
out = {"devices": [d.platform for d in jax.local_devices()]}
for name, devices in (("four", None), ("one", 1), ("reloaded", None)):
    if name == "reloaded":
        cache._EXPORTED.clear()  # the programs come back from the cache folder
    placed.clear()
    out[name] = {"records": grid.hypotest_grid(ws, patchset, devices=devices),
                 "placed": list(placed)}
grid_argv = ["grid", *files, "--quiet", "--output-file"]
codes = [main([*grid_argv, str(folder / "whole.json")])]
for shard, devices in (("1/2", "3"), ("2/2", "1")):
    part = str(folder / f"part{shard[0]}.json")
    codes.append(main([*grid_argv, part, "--shard", shard, "--devices", devices]))
parts = [str(folder / "part1.json"), str(folder / "part2.json")]
codes.append(main(["merge", *parts, "--output-file", str(folder / "merged.json")]))
out["codes"] = codes
print(json.dumps(out))
"""


@pytest.fixture(scope="module", autouse=True)
def four_devices(tmp_path_factory: pytest.TempPathFactory):
    """The 4-device runs, started first so that they compile while the other tests run."""
    folder = tmp_path_factory.mktemp("grid_four_devices")
    bkgonly = _bkgonly()
    (folder / "bkgonly.json").write_text(json.dumps(bkgonly))
    (folder / "patchset.json").write_text(json.dumps(_patchset(bkgonly)))
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", FOUR_DEVICES, str(folder)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process, folder
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The workspace and patch set as files and objects, and the serial `neos grid` output."""
    folder = tmp_path_factory.mktemp("grid_scale")
    bkgonly = _bkgonly()
    patchset = _patchset(bkgonly)
    (folder / "bkgonly.json").write_text(json.dumps(bkgonly))
    (folder / "patchset.json").write_text(json.dumps(patchset))
    files = [str(folder / "bkgonly.json"), str(folder / "patchset.json")]
    serial_file = folder / "serial.json"
    assert main(["grid", *files, "--quiet", "--output-file", str(serial_file)]) == 0
    return {
        "folder": folder,
        "files": files,
        "ws": relaxed.Workspace(bkgonly),
        "patchset": relaxed.PatchSet(patchset),
        "serial_text": serial_file.read_text(),
        "serial": json.loads(serial_file.read_text()),
    }


@pytest.fixture(scope="module")
def client():
    """One LocalCluster of two workers that are threads of this process (they share its
    compiled programs), for the whole module."""
    with grid_dask.open_client(workers=2, processes=False) as dask_client:
        yield dask_client


class _Recorder:
    """hypotest_grid as the workers call it, counting the chunks it computes (``calls``) and
    raising for chunks holding a patch of ``fail_on`` (``times`` times; None: always)."""

    def __init__(self, fail_on: tuple[str, ...] = (), times: int | None = None) -> None:
        self.original = _HYPOTEST_GRID
        self.calls: list[list[str]] = []
        self.fail_on = set(fail_on)
        self.times = times
        self.lock = threading.Lock()

    def __call__(self, *args: Any, patches: Any = None, **kwargs: Any) -> Any:
        if patches:  # an empty selection is the client's check of the input
            with self.lock:
                self.calls.append(list(patches))
                failing = bool(self.fail_on & set(patches)) and self.times != 0
                if failing and self.times is not None:
                    self.times -= 1
            if failing:
                raise RuntimeError(f"simulated worker failure on {sorted(patches)}")
        return self.original(*args, patches=patches, **kwargs)


def _calls_of(recorder: _Recorder) -> list[list[str]]:
    return sorted(recorder.calls, key=lambda names: NAMES.index(names[0]))


# -- hypotest_grid(patches=...) ------------------------------------------------------------------
def test_a_selection_of_patches_gives_the_whole_grids_records(inputs) -> None:
    ws, patchset, serial = inputs["ws"], inputs["patchset"], inputs["serial"]
    assert grid.hypotest_grid(ws, patchset) == serial
    for names in (["p6", "p0"], ["p3"], NAMES[1:6], []):
        got = grid.hypotest_grid(ws, patchset, patches=names)
        assert got == [r for r in serial if r["name"] in names]  # bit-identical, in order
    with pytest.raises(InvalidArgument, match="no patch named 'nope'"):
        grid.hypotest_grid(ws, patchset, patches=["p1", "nope"])


# -- devices --------------------------------------------------------------------------------------
def test_four_host_devices_give_the_records_of_one(four_devices) -> None:
    process, folder = four_devices
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["devices"] == ["cpu"] * 4
    # the 4 chunks (2 per structure) ran on the 4 devices in turn; with devices=1 on the first
    assert result["four"]["placed"] == [[0], [1], [2], [3]]
    assert result["one"]["placed"] == [[0]] * 4
    four, one = result["four"]["records"], result["one"]["records"]
    assert [r["name"] for r in one] == NAMES and all(r["converged"] for r in one)
    assert four == one  # bit for bit (JSON keeps every bit of a float)
    # programs compiled for each device, stored, and read back onto their own device
    assert result["reloaded"] == result["four"]
    # `neos grid --devices` with --shard: shards on 3 and 1 devices merge to the byte
    assert result["codes"] == [0, 0, 0, 0]
    whole = (folder / "whole.json").read_text()
    assert json.loads(whole) == one
    assert (folder / "merged.json").read_text() == whole


def test_devices_are_checked_before_any_model_is_built(inputs) -> None:
    fresh = relaxed.PatchSet(_patchset(_bkgonly()))
    count = len(jax.local_devices())
    cases = [
        (0, f"between 1 and the {count} local device"),
        (count + 1, f"got {count + 1}"),
        ("cpu", "a count or a non-empty sequence of jax devices, got 'cpu'"),
        ([], "got \\[\\]"),
        ([0], "got \\[0\\]"),
    ]
    for devices, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            grid.hypotest_grid(inputs["ws"], fresh, devices=devices)
    assert fresh not in grid._PREPARED  # nothing was built
    # the devices given as a list
    every = jax.local_devices()
    assert grid.hypotest_grid(inputs["ws"], inputs["patchset"], devices=every) == inputs["serial"]


# -- shards ---------------------------------------------------------------------------------------
def test_shards_merged_are_the_single_run(inputs, tmp_path) -> None:
    parts = []
    for i in (3, 1, 2):
        part = tmp_path / f"part{i}.json"
        assert main(["grid", *inputs["files"], "--quiet", "--shard", f"{i}/3"] + [
            "--output-file", str(part)
        ]) == 0  # fmt: skip
        parts.append(part)
    first = json.loads(parts[1].read_text())
    assert first["kind"] == "grid" and first["schema_version"] == grid_shards.SCHEMA_VERSION
    assert first["shard"] == {"index": 1, "count": 3, "rule": "k % N == i - 1"}
    assert first["patches"] == ["p0", "p3", "p6"] and first["indices"] == [0, 3, 6]
    assert first["records"] == [inputs["serial"][k] for k in (0, 3, 6)]
    assert first["settings"]["measurement"] == "meas" and first["timing"]["wall_s"] > 0
    merged = grid_shards.merge_grid_partials(parts)
    assert merged["records"] == inputs["serial"]
    assert merged["shards"] == 3 and "timing" not in merged
    # what `neos grid` writes, to the byte
    assert json.dumps(merged["records"], indent=2) + "\n" == inputs["serial_text"]
    # `neos merge` writes exactly that
    target = tmp_path / "merged.json"
    assert main(["merge", *map(str, parts), "--output-file", str(target)]) == 0
    assert target.read_text() == inputs["serial_text"]


def test_merge_errors_name_the_files(inputs, tmp_path) -> None:
    ws, patchset = inputs["ws"], inputs["patchset"]
    paths = {}
    for i in (1, 2):
        paths[i] = tmp_path / f"part{i}.json"
        grid_shards.write_grid_partial(paths[i], grid_shards.compute_grid_shard(ws, patchset, i, 2))
    other = tmp_path / "other_poi.json"
    grid_shards.write_grid_partial(
        other, grid_shards.compute_grid_shard(ws, patchset, 2, 2, poi_test=2.0)
    )
    three = tmp_path / "of_three.json"
    grid_shards.write_grid_partial(three, grid_shards.compute_grid_shard(ws, patchset, 3, 3))
    merged = grid_shards.merge_grid_partials([paths[2], paths[1]])
    assert merged["records"] == inputs["serial"]

    def error(files: list[Path]) -> str:
        with pytest.raises(grid_shards.GridMergeError) as caught:
            grid_shards.merge_grid_partials(files)
        return str(caught.value)

    assert error([paths[1]]) == f"shards missing: 2/2 (given: 1/2 ({paths[1]}))"
    err = error([paths[1], paths[2], paths[1]])
    assert err == f"a shard is given more than once: shard 1/2 in {paths[1]}, {paths[1]}"
    err = error([paths[1], other])
    assert "shards of different grids" in err and "settings.poi_test: 1.0 against 2.0" in err
    assert str(paths[1]) in err and str(other) in err
    err = error([paths[1], paths[2], three])
    assert "different shard counts" in err and f"N = 3: {three}" in err
    not_grid = tmp_path / "toys.json"
    not_grid.write_text(json.dumps({"kind": "toys", "schema_version": 1}))
    assert error([paths[1], not_grid]) == (
        f"{not_grid}: not a partial grid file (kind 'toys', expected 'grid'; it is written by "
        "'neos grid ... --shard I/N')"
    )
    doctored = json.loads(paths[2].read_text())
    doctored["records"] = doctored["records"][:-1]
    (tmp_path / "doctored.json").write_text(json.dumps(doctored))
    assert "shard 2/2 should hold the records" in error([paths[1], tmp_path / "doctored.json"])


# -- Dask -----------------------------------------------------------------------------------------
def test_dask_grid_equals_the_serial_grid(inputs, client) -> None:
    assert grid.structure_groups(inputs["ws"], inputs["patchset"]) == [
        ["p0", "p2", "p4", "p6"],
        ["p1", "p3", "p5"],
    ]
    result = grid_dask.dask_grid(inputs["ws"], inputs["patchset"], client, chunk_size=3)
    assert result.records == inputs["serial"]  # bit-identical
    # chunks never mix structures
    assert result.computed == [["p0", "p2", "p4"], ["p1", "p3", "p5"], ["p6"]]
    assert result.reused == 0
    shard = grid_shards.shard_patches(NAMES, 2, 3)
    result = grid_dask.dask_grid(
        inputs["ws"], inputs["patchset"], client, patches=shard, chunk_size=1, pilot=True
    )
    assert result.computed == [["p1"], ["p4"]]
    assert result.records == [r for r in inputs["serial"] if r["name"] in shard]
    with pytest.raises(InvalidArgument, match=r"no patch named \['nope'\]"):
        grid_dask.dask_grid(inputs["ws"], inputs["patchset"], client, patches=["p1", "nope"])


def test_neos_grid_dask_command_equals_serial(inputs, tmp_path, capsys) -> None:
    out = tmp_path / "dask.json"
    argv = ["grid", *inputs["files"], "--quiet", "--dask", "--workers", "2", "--worker-threads"]
    assert main([*argv, "--chunk-size", "2", "--output-file", str(out)]) == 0
    assert out.read_text() == inputs["serial_text"]
    part = tmp_path / "part.json"  # a shard computed on Dask
    assert main([*argv, "--shard", "2/2", "--output-file", str(part)]) == 0
    assert json.loads(part.read_text())["records"] == inputs["serial"][1::2]
    capsys.readouterr()


def test_an_interrupted_grid_resumes_without_recomputing(inputs, client, monkeypatch, tmp_path):
    folder = tmp_path / "resume"
    ws, patchset = inputs["ws"], inputs["patchset"]
    broken = _Recorder(fail_on=("p3",))  # the chunk of p1, p3 fails every time
    monkeypatch.setattr(grid, "hypotest_grid", broken)
    with pytest.raises(grid_dask.GridChunkError) as caught:
        grid_dask.dask_grid(ws, patchset, client, chunk_size=2, resume_dir=folder, retries=0)
    err = caught.value
    assert [(f.label, f.patches) for f in err.failures] == [("chunk 2 of 4", ["p1", "p3"])]
    assert "RuntimeError: simulated worker failure on ['p1', 'p3']" in str(err)
    assert err.missing == ["p1", "p3"] and f"stored in {folder}" in str(err)
    assert len(broken.calls) == 4
    stored = sorted(p.name for p in folder.iterdir())
    assert len(stored) == 4 and stored[-1] == "resume.json"  # three chunk files, the manifest
    assert not list(folder.glob(".*"))  # no temporary file left
    killed = folder / ".chunk-000002-0123456789ab.json.x1y2z3.tmp.json"
    killed.write_text('{"kind": "grid-chunk", "records": [')  # a write cut by a kill
    fixed = _Recorder()
    monkeypatch.setattr(grid, "hypotest_grid", fixed)
    result = grid_dask.dask_grid(ws, patchset, client, chunk_size=2, resume_dir=folder)
    assert fixed.calls == [["p1", "p3"]] and result.computed == [["p1", "p3"]]
    assert result.reused == 5 and result.records == inputs["serial"]
    assert not killed.exists() and len(list(folder.iterdir())) == 5
    # finished: nothing is computed again, even with another chunk size
    again = _Recorder()
    monkeypatch.setattr(grid, "hypotest_grid", again)
    result = grid_dask.dask_grid(ws, patchset, client, chunk_size=3, resume_dir=folder)
    assert again.calls == [] and result.reused == 7 and result.records == inputs["serial"]
    # a folder of another grid (another POI value) is refused, not mixed in
    with pytest.raises(grid_dask.GridResumeError, match="holds chunks of another grid"):
        grid_dask.dask_grid(ws, patchset, client, resume_dir=folder, poi_test=2.0)


def test_a_chunk_failing_once_is_retried(inputs, client, monkeypatch) -> None:
    flaky = _Recorder(fail_on=("p5",), times=1)
    monkeypatch.setattr(grid, "hypotest_grid", flaky)
    result = grid_dask.dask_grid(inputs["ws"], inputs["patchset"], client, chunk_size=4, retries=1)
    assert result.records == inputs["serial"]
    odd = ["p1", "p3", "p5"]
    assert _calls_of(flaky) == [["p0", "p2", "p4", "p6"], odd, odd]


def test_a_chunk_that_always_fails_is_reported_and_the_command_fails(
    inputs, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setattr(grid, "hypotest_grid", _Recorder(fail_on=("p6",)))
    out = tmp_path / "grid.json"
    argv = ["grid", *inputs["files"], "--quiet", "--dask", "--worker-threads", "--workers", "2"]
    argv += ["--chunk-size", "3", "--retries", "1", "--pilot", "--output-file", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(
        "neos: error: grid: 1 of 3 chunks failed after 1 retry: chunk 3 of 3 (patches p6): "
        "RuntimeError: simulated worker failure on ['p6']; missing patches: p6"
    )
    assert not out.exists()


def test_grid_option_errors(inputs, capsys) -> None:
    files = inputs["files"]
    cases = [
        (["--shard", "4/3"], "I/N needs 1 <= I <= N, got '4/3'"),
        (["--shard", "x"], "got 'x'"),
        (["--workers", "2"], "--workers needs --dask"),
        (["--resume-dir", "d"], "--resume-dir needs --dask"),
        (["--dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "sizes the embedded"),
        (["--shard", "1/2", "--table"], "--shard writes a partial result file"),
        (["--shard", "1/2", "--plot", "x.png"], "--plot draws the whole grid"),
        (["--dask", "--devices", "1"], "with --dask each worker computes its chunks on all"),
        (["--devices", "99"], "--devices 99: this machine has"),
        (["--devices", "0"], "0 is not in the range x>=1"),
    ]
    for extra, message in cases:
        assert main(["grid", *files, *extra]) == 2, extra
        captured = capsys.readouterr()
        assert captured.out == "" and message in captured.err, (extra, captured.err)


def test_dask_is_imported_only_when_used(inputs, monkeypatch, capsys) -> None:
    import subprocess
    import sys

    code = (
        "import sys, relaxed, relaxed.infer.grid, neos.cli, neos.grid_shards, neos.grid_dask; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r'pip install "dask\[distributed\]>=2024.1"'):
        grid_dask.require_dask()
    assert main(["grid", *inputs["files"], "--dask"]) == 2
    assert "--dask: Dask grids need dask and distributed" in capsys.readouterr().err
