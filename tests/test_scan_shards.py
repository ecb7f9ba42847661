"""POI scans in chunks, on several devices and in shards (relaxed.infer.scans, neos upper-limit
--scan --shard / neos merge): the same numbers as one run, bit for bit.

Everything here is compiled for a short compilation (``optimize_for("compile")``, also for the
command line and the 4-device subprocess), as in test_toy_shards.py: the numbers depend on the
mode, not on the split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import relaxed
from neos.cli import main
from relaxed.exceptions import InvalidArgument, InvalidParameters, LimitNotBracketed
from relaxed.infer import intervals, scans, toys

ROOT = Path(__file__).resolve().parents[1]
MODE = "compile"
SCAN = np.linspace(0.0, 4.0, 8)
CHUNK, TOY_CHUNK = 3, 2
TOYS = {"calctype": "toybased", "ntoys": 40}
SETTINGS = {"poi": "mu", "level": 0.05}

#: Run in a fresh interpreter with 4 host CPU devices (XLA_FLAGS must be set before JAX starts).
FOUR_DEVICES = """
import json, sys
import jax
import numpy as np
import relaxed
from relaxed.infer import scans

model = relaxed.Model(json.loads(sys.argv[1]))
data = [51.0, 48.0] + model.config.auxdata.tolist()
scan = np.linspace(0.0, 4.0, 8)
out = {"devices": [d.platform for d in jax.devices()]}
for name, devices in (("four", None), ("one", 1))[: int(sys.argv[2])]:
    asym = scans.scan_values(data, model, scan, chunk=3, devices=devices)
    toys = scans.scan_values(data, model, scan, chunk=2, devices=devices, calctype="toybased",
                             ntoys=40)
    out[name] = {"asymptotics": np.asarray(asym).tolist(), "toybased": np.asarray(toys).tolist()}
print(json.dumps(out))
"""


@pytest.fixture(scope="module", autouse=True)
def compile_mode():
    """One compilation mode for the library, the command line and the subprocess."""
    previous = relaxed.cache.optimize_for()
    relaxed.cache.optimize_for(MODE)
    yield
    relaxed.cache.optimize_for(previous)


@pytest.fixture(scope="module", autouse=True)
def four_devices(hello_world_spec):
    """The 4-device run, started first so that it compiles while the other tests run."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "RELAXED_OPTIMIZE_FOR": MODE,
        "PYTHONPATH": str(ROOT),
    }
    both = "1" if jax.default_backend() == "cpu" else "2"  # compare with this process on CPU
    process = subprocess.Popen(
        [sys.executable, "-c", FOUR_DEVICES, json.dumps(hello_world_spec), both],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.communicate()


@pytest.fixture(scope="module")
def hello(hello_world_spec):
    model = relaxed.Model(hello_world_spec)
    return model, [51.0, 48.0] + model.config.auxdata.tolist()


@pytest.fixture(scope="module")
def asymptotic(hello):
    """The whole asymptotic scan in chunks of 3 points, on this process's (first) device."""
    model, data = hello
    return np.asarray(scans.scan_values(data, model, SCAN, chunk=CHUNK, devices=1))


@pytest.fixture(scope="module")
def toybased(hello):
    """The whole toy-based scan (40 toys per hypothesis) in chunks of 2 points."""
    model, data = hello
    return np.asarray(scans.scan_values(data, model, SCAN, chunk=TOY_CHUNK, devices=1, **TOYS))


# -- the library --------------------------------------------------------------------------------
def test_the_values_are_those_of_cls_scan(hello, asymptotic):
    model, data = hello
    _, results = intervals.cls_scan(data, model, SCAN)
    reference = np.asarray([[obs, *exp] for obs, exp in results])
    assert asymptotic.shape == (8, 6) and asymptotic.dtype == np.float64
    # cls_scan's program is compiled with other XLA options: equal to rounding (measured: bit-
    # identical in mode "run", at most 2.2e-16 apart in mode "compile")
    np.testing.assert_allclose(asymptotic, reference, rtol=0, atol=5e-16)
    assert asymptotic[0, 0] == 1.0 and asymptotic[-1, 0] < 0.01  # CLs falls across the scan
    # the whole scan in one chunk: a point does not depend on the points next to it
    one_chunk = scans.scan_values(data, model, SCAN, chunk=len(SCAN))
    np.testing.assert_array_equal(np.asarray(one_chunk), asymptotic)
    # the limits of linear_grid_scan, to rounding (measured: 1.1e-16)
    obs, exp = scans.scan_limits(SCAN, asymptotic, 0.05, model)
    ref_obs, ref_exp = intervals.linear_grid_scan(data, model, SCAN)
    np.testing.assert_allclose([obs, *exp], [ref_obs, *ref_exp], rtol=1e-15)


def test_toy_based_points_are_the_hypothesis_tests_of_their_toys(hello, toybased):
    """Point 3 of the toy-based scan against toys.toy_stats at its POI value (the toys of
    hypotest(calctype="toybased") with the same key): the same CLs, bit for bit."""
    model, data = hello
    stats = toys.toy_stats(SCAN[3], data, model, ntoys=40, chunk=40)
    result = toys.toy_pvalues(stats)
    assert toybased[3, 0] == float(result.CLs)
    np.testing.assert_array_equal(toybased[3, 1:], np.asarray(result.CLs_exp))
    assert toybased[0, 0] == 1.0 and (toybased[-2:, :] == 0.0).all()  # toys: CLs steps


@pytest.mark.parametrize("calc", ["asymptotics", "toybased"])
def test_shards_merge_to_one_run_bit_for_bit(hello, asymptotic, toybased, calc):
    model, data = hello
    whole, chunk, kwargs = {
        "asymptotics": (asymptotic, CHUNK, {}),
        "toybased": (toybased, TOY_CHUNK, TOYS),
    }[calc]
    fingerprint = toys.fingerprint(model, data)
    settings = {**SETTINGS, "calctype": calc}
    ranges = [toys.shard_range(i, 3, len(SCAN), chunk) for i in range(3)]
    docs = []
    for i, (first, count) in enumerate(ranges):
        part = scans.scan_values(data, model, SCAN, first, count, chunk=chunk, **kwargs)
        np.testing.assert_array_equal(np.asarray(part), whole[first : first + count])
        docs.append(scans.to_document(part, SCAN, settings, fingerprint, first, (i + 1, 3)))
    docs = json.loads(json.dumps(docs))  # through files
    merged = scans.merge_documents(docs[::-1])
    single = scans.to_document(whole, SCAN, settings, fingerprint)
    assert merged == single
    np.testing.assert_array_equal(np.asarray(scans.document_values(merged)[1]), whole)
    obs, exp = scans.scan_limits(SCAN, whole, 0.05, model)
    assert merged["result"] == {"obs": float(obs), "exp": [float(v) for v in exp], "level": 0.05}
    # a range cut inside chunks, and an empty one, are the same values too
    cut = scans.scan_values(data, model, SCAN, first=1, count=4, chunk=chunk, **kwargs)
    np.testing.assert_array_equal(np.asarray(cut), whole[1:5])
    empty = scans.scan_values(data, model, SCAN, first=8, count=0, chunk=chunk, **kwargs)
    assert empty.shape == (0, 6)


def test_chunks_start_at_multiples_of_chunk_and_repeat_the_last_point(
    hello, asymptotic, monkeypatch
):
    """The points each compiled call gets: those of the global chunks, whatever the range
    (the bits do not then depend on XLA computing a point alike in any batch)."""
    model, data = hello
    calls = []

    def recording(program, shared, chunks, devices):
        calls.append([np.asarray(c[0]).tolist() for c in chunks])
        return real(program, shared, chunks, devices)

    real = scans.run_chunks
    monkeypatch.setattr(scans, "run_chunks", recording)
    part = scans.scan_values(data, model, SCAN, first=4, count=4, chunk=CHUNK)
    assert calls[-1] == [SCAN[3:6].tolist(), [SCAN[6], SCAN[7], SCAN[7]]]
    np.testing.assert_array_equal(np.asarray(part), asymptotic[4:])
    scans.scan_values(data, model, SCAN, first=2, count=2, chunk=CHUNK)
    assert calls[-1] == [SCAN[0:3].tolist(), SCAN[3:6].tolist()]


def test_merge_refuses_missing_repeated_and_foreign_shards(asymptotic):
    def doc(first, count, index, n=3, **changes):
        part = scans.to_document(
            asymptotic[first : first + count], SCAN, SETTINGS, "sha256:0", first, (index, n)
        )
        return {**part, **changes}

    p1, p2, p3 = doc(0, 3, 1), doc(3, 3, 2), doc(6, 2, 3)
    with pytest.raises(InvalidArgument, match=r"^shard 2/3 is missing \(given: 1/3 in a, 3/3 in c"):
        scans.merge_documents([p1, p3], ["a", "c"])
    with pytest.raises(InvalidArgument, match=r"^shard 1/3 is given twice: in a and in b$"):
        scans.merge_documents([p1, p1, p2, p3], ["a", "b", "c", "d"])
    with pytest.raises(InvalidArgument, match="different numbers of shards: 1/3 in a, 2/2 in b"):
        scans.merge_documents([p1, doc(3, 5, 2, n=2)], ["a", "b"])
    other = {**SETTINGS, "level": 0.1}
    with pytest.raises(InvalidArgument, match=r"a and b come from different inputs \(settings"):
        scans.merge_documents([p1, doc(3, 3, 2, settings=other), p3], ["a", "b", "c"])
    with pytest.raises(InvalidArgument, match=r"\(model or data differs\)"):
        scans.merge_documents([p1, doc(3, 3, 2, fingerprint="sha256:1"), p3])
    with pytest.raises(InvalidArgument, match=r"\(scan differs\)"):
        scans.merge_documents([p1, doc(3, 3, 2, scan=[*SCAN[:-1], 5.0]), p3])
    with pytest.raises(InvalidArgument, match=r"scan points 3 \.\. 3 are missing between"):
        scans.merge_documents([p1, doc(4, 2, 2), p3])
    with pytest.raises(InvalidArgument, match=r"^b: not a scan result"):
        scans.merge_documents([p1, {"kind": "relaxed.toys"}], ["a", "b"])
    with pytest.raises(InvalidArgument, match="^document 2: points.count is 3 but"):
        scans.merge_documents([p1, {**p2, "CLs_obs": p2["CLs_obs"][:2]}, p3])
    # a scan that does not bracket every limit: the error of linear_grid_scan
    low = [doc(0, 3, 1, n=1)]
    low[0]["scan"] = SCAN[:3].tolist()
    low[0]["points"]["count"] = 3
    with pytest.raises(LimitNotBracketed, match="above the last scan point mu = 1.14286"):
        scans.merge_documents(low)


def test_bad_arguments(hello):
    model, data = hello
    with pytest.raises(InvalidArgument, match="chunk must be an integer >= 1"):
        scans.scan_values(data, model, SCAN, chunk=0)
    with pytest.raises(InvalidArgument, match="first must be an integer >= 0"):
        scans.scan_values(data, model, SCAN, first=-1)
    with pytest.raises(InvalidArgument, match=r"points 6 \.\. 8 are not all in the scan of 8"):
        scans.scan_values(data, model, SCAN, first=6, count=3)
    with pytest.raises(InvalidArgument, match="first = 9 is beyond the scan of 8 points"):
        scans.scan_values(data, model, SCAN, first=9)
    with pytest.raises(InvalidArgument, match="devices must be between 1 and the"):
        scans.scan_values(data, model, SCAN, devices=len(jax.local_devices()) + 1)
    with pytest.raises(InvalidParameters, match="scan must be strictly increasing"):
        scans.scan_values(data, model, SCAN[::-1])
    with pytest.raises(InvalidParameters, match="ntoys must be a positive integer"):
        scans.scan_values(data, model, SCAN, calctype="toybased", ntoys=0)
    with pytest.raises(InvalidArgument, match="needs a 1-d scan of at least 2 points and the 6"):
        scans.scan_limits(SCAN, np.zeros((7, 6)))
    with pytest.raises(InvalidArgument, match="settings must hold 'poi'"):
        scans.to_document(np.zeros((8, 6)), SCAN, {"level": 0.05}, "sha256:0")
    with pytest.raises(InvalidArgument, match=r"a complete document needs points 0 \.\. 7"):
        scans.to_document(np.zeros((3, 6)), SCAN, SETTINGS, "sha256:0")


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, hello_world_spec):
    """A toy-based scan of the hello world: one run, and 3 shards."""
    folder = tmp_path_factory.mktemp("scan")
    workspace = {
        "channels": hello_world_spec["channels"],
        "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    ws = folder / "ws.json"
    ws.write_text(json.dumps(workspace))
    common = ["--optimize-for", MODE, "upper-limit", str(ws), "--scan", "0,4,8"]
    common += ["--calctype", "toybased", "--ntoys", "40", "--chunk", str(TOY_CHUNK)]
    assert main([*common, "--output-file", str(folder / "all.json")]) == 0
    for i in (1, 2, 3):
        out = folder / f"part-{i}.json"
        assert main([*common, "--shard", f"{i}/3", "--output-file", str(out)]) == 0
    return folder, common


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _error(capsys, argv, code=2) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    return captured.err


def test_cli_shards_merge_to_the_single_run(cli_files, toybased, hello, capsys):
    folder, common = cli_files
    parts = [str(folder / f"part-{i}.json") for i in (3, 1, 2)]
    merged_path = folder / "merged.json"
    assert main(["merge", *parts, "--output-file", str(merged_path)]) == 0
    single = (folder / "all.json").read_text()
    assert merged_path.read_text() == single  # the output of one run, to the byte
    # the library's numbers
    model, _ = hello
    obs, exp = scans.scan_limits(SCAN, toybased, 0.05, model)
    assert json.loads(single) == {"obs": float(obs), "exp": [float(v) for v in exp], "level": 0.05}
    part = _load(folder / "part-3.json")
    assert part["shard"] == {"index": 3, "count": 3} and part["points"] == {"first": 4, "count": 4}
    assert not part["complete"] and "result" not in part and part["timing"]["wall_s"] > 0
    assert part["settings"] == {
        "poi": "mu",
        "test_stat": "qtilde",
        "calctype": "toybased",
        "ntoys": 40,
        "level": 0.05,
        "chunk": TOY_CHUNK,
        "compiled_for": MODE,
    }
    np.testing.assert_array_equal(np.asarray(scans.document_values(part)[1]), toybased[4:])
    # the table of a merge is the table of the single run
    assert main([*common, "--table"]) == 0
    table = capsys.readouterr().out
    assert main(["merge", *parts, "--table"]) == 0
    assert capsys.readouterr().out == table
    assert table.splitlines()[0] == (
        "Upper limits on mu at 95% CL (CLs = 0.05; test statistic qtilde, toybased, 40 toys; "
        "scan 0..4, 8 points)"
    )


def test_cli_errors(cli_files, capsys, tmp_path):
    folder, common = cli_files
    p1, p2, p3 = (str(folder / f"part-{i}.json") for i in (1, 2, 3))
    err = _error(capsys, ["merge", p1, p3])
    assert f"merge: shard 2/3 is missing (given: 1/3 in {p1}, 3/3 in {p3})" in err
    other = _load(Path(p2))
    other["settings"]["ntoys"] = 41
    (tmp_path / "ntoys.json").write_text(json.dumps(other))
    err = _error(capsys, ["merge", p1, str(tmp_path / "ntoys.json"), p3])
    assert "come from different inputs (settings.ntoys differs)" in err
    toy_doc = {"kind": "relaxed.toys", "schema_version": 1}
    (tmp_path / "toys.json").write_text(json.dumps(toy_doc))
    err = _error(capsys, ["merge", p1, str(tmp_path / "toys.json")])
    assert "mix shards of an upper-limit scan with other results" in err
    ws = common[3]
    for option in (["--shard", "1/2"], ["--chunk", "2"], ["--devices", "1"]):
        err = _error(capsys, ["upper-limit", ws, *option])
        assert f"{option[0]} needs --scan" in err
    scan = ["upper-limit", ws, "--scan", "0,4,8"]
    assert "not --table" in _error(capsys, [*scan, "--shard", "1/2", "--table"])
    err = _error(capsys, [*scan, "--shard", "1/2", "--plot", str(tmp_path / "a.png")])
    assert "--plot draws the whole scan" in err
    err = _error(capsys, [*scan, "--shard", "1/4", "--chunk", "3"])
    assert "8 scan points in chunks of 3 make 3 chunk(s), fewer than 4 shards" in err
    err = _error(capsys, [*scan, "--devices", str(len(jax.local_devices()) + 1)])
    assert "local device(s)" in err
    assert not (tmp_path / "a.png").exists()


# -- several devices ------------------------------------------------------------------------------
def test_four_host_devices_give_the_numbers_of_one(four_devices, asymptotic, toybased):
    out, err = four_devices.communicate(timeout=600)
    assert four_devices.returncode == 0, err
    result = json.loads(out)
    assert result["devices"] == ["cpu"] * 4
    # on CPU this process's single device; elsewhere the subprocess's own single-device run
    one = result.get("one") or {
        "asymptotics": asymptotic.tolist(),
        "toybased": toybased.tolist(),
    }
    assert result["four"] == one
    assert np.asarray(one["toybased"]).shape == (8, 6)
