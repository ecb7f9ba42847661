"""Toys in chunks, on several devices and in shards (relaxed.infer.toys, neos toys / merge):
the same numbers as one run, bit for bit; non-converged toys counted and dropped.

Everything here is compiled for a short compilation (``optimize_for("compile")``, also for the
command line and the 4-device subprocess): the numbers depend on the mode, not on the split,
and this way the file's five programs compile in a third of the time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from neos.cli import main
from relaxed.exceptions import InvalidArgument
from relaxed.infer import calculators, toys
from relaxed.infer.calculators import ToyStats
from relaxed.infer.mle import solver_options

ROOT = Path(__file__).resolve().parents[1]
NTOYS, CHUNK, SEED, MU = 60, 20, 11, 1.0
KEY = jax.random.PRNGKey(SEED)
FIELDS = ("q", "q_A", "converged", "sb", "b", "sb_converged", "b_converged")

#: Run in a fresh interpreter with 4 host CPU devices (XLA_FLAGS must be set before JAX starts).
FOUR_DEVICES = """
import json, sys
import jax
import numpy as np
import relaxed
from relaxed.infer import toys

spec = json.loads(sys.argv[1])
model = relaxed.Model(spec)
data = [51.0, 48.0] + model.config.auxdata.tolist()
out = {"devices": [d.platform for d in jax.devices()]}
for name, devices in (("four", None), ("one", 1))[: int(sys.argv[2])]:
    s = toys.toy_stats(1.0, data, model, ntoys=60, key=jax.random.PRNGKey(11), chunk=20,
                       devices=devices)
    out[name] = {f: np.asarray(getattr(s, f)).tolist() for f in {fields}}
print(json.dumps(out))
""".replace("{fields}", repr(FIELDS))


MODE = "compile"


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
def whole(hello):
    """All 60 toys in one call of the library, on this process's (first) device."""
    model, data = hello
    return toys.toy_stats(MU, data, model, ntoys=NTOYS, key=KEY, chunk=CHUNK, devices=1)


def _assert_same(a: ToyStats, b: ToyStats) -> None:
    for field in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)))


def _assert_same_result(a, b) -> None:
    for field in a._fields:
        np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)))


# -- the library --------------------------------------------------------------------------------
def test_the_toys_are_real(whole):
    assert whole.first == 0 and whole.sb.shape == whole.b.shape == (NTOYS,)
    assert bool(whole.converged) and bool(whole.sb_converged.all() & whole.b_converged.all())
    assert float(whole.q) == pytest.approx(3.938245, abs=1e-6)  # the hello world's q_obs
    sb, b = np.asarray(whole.sb), np.asarray(whole.b)
    assert (sb >= 0).all() and (b >= 0).all()
    assert len(np.unique(sb[sb > 0])) > 20 and len(np.unique(b[b > 0])) > 20  # distinct toys
    assert np.mean(b) > np.mean(sb)  # b-only toys look less like mu = 1


@pytest.mark.parametrize(
    "ranges",
    [
        [toys.shard_range(i, 3, NTOYS, CHUNK) for i in range(3)],  # whole chunks
        [(26, 34), (0, 13), (13, 13)],  # cut inside chunks, in any order
        [(0, 7), (7, 0), (7, 53)],  # an empty part
    ],
)
def test_shards_merge_to_one_run_bit_for_bit(hello, whole, ranges):
    model, data = hello
    parts = [
        toys.toy_stats(MU, data, model, ntoys=n, first=f, key=KEY, chunk=CHUNK) for f, n in ranges
    ]
    assert [p.first for p in parts] == [f for f, _ in ranges]
    merged = toys.merge_toy_stats(parts)
    assert merged.first == 0
    _assert_same(merged, whole)
    _assert_same_result(toys.toy_pvalues(merged), toys.toy_pvalues(whole))


def test_a_toy_does_not_depend_on_the_rest_of_its_batch(hello, whole):
    """One vmapped batch of 40 toys plus the observed and Asimov data (the code of
    hypotest(calctype="toybased")) against shards of 13, 13 and 14 toys fitted in chunks of
    20: XLA's batched fits give each toy the same bits."""
    model, data = hello
    init, config = calculators._resolve(model, None, None, None)
    program = jax.jit(
        calculators._toy_stats,
        static_argnums=(5, 6, 7),
        compiler_options=relaxed.cache._compiler_options(),  # those of the mode
    )
    single = program(
        model, model.data_array(data), jnp.asarray(MU), init, KEY, config, "qtilde", 40
    )
    parts = [
        toys.toy_stats(MU, data, model, ntoys=n, first=f, key=KEY, chunk=CHUNK)
        for f, n in ((0, 13), (13, 13), (26, 14))
    ]
    merged = toys.merge_toy_stats(parts)
    _assert_same(merged, single)
    _assert_same(merged, whole._replace(**{f: getattr(whole, f)[:40] for f in FIELDS[3:]}))


def test_non_converged_toys_are_counted_and_dropped(hello):
    model, data = hello
    # 5 Newton iterations: enough for the observed data, not for many of the toys
    stats = toys.toy_stats(
        MU, data, model, ntoys=NTOYS, key=KEY, chunk=CHUNK, solver=solver_options(maxiter=5)
    )
    ok_sb, ok_b = np.asarray(stats.sb_converged), np.asarray(stats.b_converged)
    assert bool(stats.converged)
    assert 0 < (~ok_sb).sum() < NTOYS and 0 < (~ok_b).sum() < NTOYS
    result = toys.toy_pvalues(stats)
    assert int(result.nonconverged_sb) == (~ok_sb).sum()
    assert int(result.nonconverged_b) == (~ok_b).sum()
    assert bool(result.converged)
    # the p-values are those of the converged toys alone
    q, sb, b = float(stats.q), np.asarray(stats.sb)[ok_sb], np.asarray(stats.b)[ok_b]
    assert float(result.CLsb) == np.mean(sb >= q)
    assert float(result.CLb) == np.mean(b >= q)
    assert float(result.CLs) == pytest.approx(np.mean(sb >= q) / np.mean(b >= q))
    each = np.stack([[np.mean(sb >= v), np.mean(b >= v)] for v in b])
    band = np.percentile(each, calculators.NORMAL_PERCENTILES, axis=0, method="linear")
    np.testing.assert_allclose(result.CLsb_exp, band[:, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.CLb_exp, band[:, 1], rtol=1e-12, atol=1e-15)
    # the same numbers as the drop-and-count of a ToyStats without the failed toys
    kept = stats._replace(sb_converged=jnp.ones(ok_sb.sum(), bool), sb=stats.sb[ok_sb])
    kept = kept._replace(b_converged=jnp.ones(ok_b.sum(), bool), b=stats.b[ok_b])
    for field in ("CLsb", "CLb", "CLs", "CLsb_exp", "CLb_exp", "CLs_exp"):
        np.testing.assert_array_equal(
            getattr(toys.toy_pvalues(kept), field), getattr(result, field)
        )
    # hypotest drops the same toys (its single batch fits each toy to the same bits), and says so
    with pytest.warns(RuntimeWarning, match=r"fits of \d+ of 60 signal-plus-background toys"):
        cls = relaxed.infer.hypotest(
            MU, data, model, calctype="toybased", ntoys=NTOYS, key=KEY, maxiter=5
        )
    assert float(cls) == float(result.CLs)
    # the files list them by global index
    doc = toys.to_document(stats, {"ntoys": NTOYS}, toys.fingerprint(model, data))
    assert doc["nonconverged_sb"] == np.flatnonzero(~ok_sb).tolist()
    assert doc["result"]["nonconverged_b"] == (~ok_b).sum()


def test_masked_pvalues_equal_the_plain_ones_when_all_converge():
    rng = np.random.default_rng(0)
    sb, b = rng.chisquare(1, 200), rng.chisquare(1, 200) + 0.3
    ok = jnp.ones(200, bool)
    stats = ToyStats(
        jnp.asarray(1.2),
        jnp.asarray(2.0),
        jnp.asarray(True),
        jnp.asarray(sb),
        jnp.asarray(b),
        ok,
        ok,
    )
    result = toys.toy_pvalues(stats)
    dsb, db = calculators.EmpiricalDistribution(sb), calculators.EmpiricalDistribution(b)
    assert float(result.CLsb) == pytest.approx(float(dsb.pvalue(1.2)), rel=1e-15)
    assert float(result.CLb) == pytest.approx(float(db.pvalue(1.2)), rel=1e-15)
    each = np.stack(
        [[np.mean(sb >= v), np.mean(b >= v), np.mean(sb >= v) / np.mean(b >= v)] for v in b]
    )
    band = np.percentile(each, calculators.NORMAL_PERCENTILES, axis=0, method="linear")
    np.testing.assert_allclose(np.stack(result[3:6], axis=1), band, rtol=1e-14, atol=1e-16)
    assert int(result.nonconverged_sb) == int(result.nonconverged_b) == 0
    # no converged toy at all: no p-value, and not converged
    none = toys.toy_pvalues(stats._replace(b_converged=jnp.zeros(200, bool)))
    assert not bool(none.converged) and np.isnan(float(none.CLb))


def test_merge_refuses_gaps_overlaps_and_other_inputs(whole):
    def part(first, n):
        cut = {f: getattr(whole, f)[first : first + n] for f in FIELDS[3:]}
        return whole._replace(first=first, **cut)

    with pytest.raises(InvalidArgument, match=r"^toys 20 \.\. 29 are missing between the parts$"):
        toys.merge_toy_stats([part(0, 20), part(30, 30)])
    with pytest.raises(InvalidArgument, match=r"^toys 15 \.\. 19 are in more than one part$"):
        toys.merge_toy_stats([part(0, 20), part(15, 45)])
    with pytest.raises(InvalidArgument, match="different inputs or settings"):
        toys.merge_toy_stats([part(0, 20), part(20, 40)._replace(q=whole.q + 1e-15)])
    with pytest.raises(InvalidArgument, match="no parts"):
        toys.merge_toy_stats([])


def test_bad_arguments(hello):
    model, data = hello
    with pytest.raises(InvalidArgument, match="chunk must be an integer >= 1"):
        toys.toy_stats(MU, data, model, ntoys=5, chunk=0)
    with pytest.raises(InvalidArgument, match="first must be an integer >= 0"):
        toys.toy_stats(MU, data, model, ntoys=5, first=-1)
    with pytest.raises(InvalidArgument, match="devices must be between 1 and the"):
        toys.toy_stats(MU, data, model, ntoys=5, devices=len(jax.local_devices()) + 1)
    with pytest.raises(InvalidArgument, match="below the number of shards"):
        toys.shard_range(3, 3, 60, 20)
    assert [toys.shard_range(i, 4, 60, 20) for i in range(4)] == [
        (0, 0),
        (0, 20),
        (20, 20),
        (40, 20),
    ]


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, hello_world_spec):
    folder = tmp_path_factory.mktemp("toys")
    workspace = {
        "channels": hello_world_spec["channels"],
        "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    ws = folder / "ws.json"
    ws.write_text(json.dumps(workspace))
    common = ["--optimize-for", MODE, "toys", str(ws), "--ntoys", str(NTOYS), "--chunk", str(CHUNK)]
    common += ["--seed", str(SEED)]
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


def test_cli_shards_merge_to_the_single_run(cli_files, whole):
    folder, _ = cli_files
    parts = [folder / f"part-{i}.json" for i in (3, 1, 2)]
    merged_path = folder / "merged.json"
    assert main(["merge", *map(str, parts), "--output-file", str(merged_path)]) == 0
    single, merged = _load(folder / "all.json"), _load(merged_path)
    assert set(single.pop("timing")) == {"wall_s", "devices"}
    assert [t["wall_s"] > 0 for t in merged.pop("timing")["shards"]] == [True] * 3
    assert merged == single  # identical apart from timing
    # the library's numbers, for the same seed
    assert single["teststat_sb"] == np.asarray(whole.sb).tolist()
    assert single["teststat_b"] == np.asarray(whole.b).tolist()
    assert single["observed"] == {"q": float(whole.q), "q_A": float(whole.q_A), "converged": True}
    result = toys.toy_pvalues(whole)
    assert single["result"]["CLs_obs"] == float(result.CLs)
    assert single["result"]["CLs_exp"] == np.asarray(result.CLs_exp).tolist()
    assert single["result"]["nonconverged_sb"] == single["result"]["nonconverged_b"] == 0
    settings = {"poi": "mu", "poi_value": 1.0, "test_stat": "qtilde", "ntoys": NTOYS}
    assert single["settings"] == {**settings, "seed": SEED, "chunk": CHUNK, "compiled_for": MODE}
    assert single["complete"] and "shard" not in single
    part = _load(parts[0])
    assert part["shard"] == {"index": 3, "count": 3} and part["toys"] == {"first": 40, "count": 20}
    assert not part["complete"] and "result" not in part
    assert part["teststat_b"] == single["teststat_b"][40:]


def test_cli_table_of_a_shard_and_of_a_merge(cli_files, capsys):
    folder, common = cli_files
    parts = [str(folder / f"part-{i}.json") for i in (1, 2, 3)]
    assert main(["merge", *parts, "--table"]) == 0
    table = capsys.readouterr().out
    single = _load(folder / "all.json")
    assert table.splitlines()[0] == (
        "CLs of mu = 1 from toys (test statistic qtilde, 60 toys per hypothesis, seed 11)"
    )
    assert "toys not converged  s+b 0, b-only 0 (dropped" in table
    assert f"CLb observed        {single['result']['CLb_obs']:.6g}" in table
    assert main(["merge", parts[1], parts[0], parts[2], "--table"]) == 0
    assert capsys.readouterr().out == table
    assert main([*common, "--shard", "2/3", "--table"]) == 0
    shard = capsys.readouterr().out
    assert "shard 2/3           toys 20 .. 39 (combine the shards with neos merge)" in shard
    assert "CLs observed" not in shard


def test_cli_merge_errors_name_the_shards_and_files(cli_files, capsys, tmp_path):
    folder, common = cli_files
    p1, p2, p3 = (str(folder / f"part-{i}.json") for i in (1, 2, 3))
    target = tmp_path / "out.json"
    err = _error(capsys, ["merge", p1, p3, "--output-file", str(target)])
    assert f"shard 2/3 is missing (given: 1/3 in {p1}, 3/3 in {p3})" in err
    copy = tmp_path / "copy-of-1.json"
    copy.write_text(Path(p1).read_text())
    err = _error(capsys, ["merge", p1, p2, str(copy), p3])
    assert f"shard 1/3 is given twice: in {p1} and in {copy}" in err
    other_seed = _load(Path(p2))
    other_seed["settings"]["seed"] = 12
    (tmp_path / "seed.json").write_text(json.dumps(other_seed))
    err = _error(capsys, ["merge", p1, str(tmp_path / "seed.json"), p3])
    assert "come from different inputs (settings.seed differs)" in err
    other_model = _load(Path(p2))
    other_model["fingerprint"] = "sha256:" + "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(other_model))
    err = _error(capsys, ["merge", p1, str(tmp_path / "model.json"), p3])
    assert "come from different inputs (model or data differs)" in err
    (tmp_path / "not-toys.json").write_text(json.dumps({"CLs_obs": 0.1}))
    err = _error(capsys, ["merge", p1, str(tmp_path / "not-toys.json")])
    assert "not-toys.json: not a toys result" in err
    err = _error(capsys, ["merge", p1, p2, p3, "--output-file", p1])
    assert "is one of the inputs" in err
    assert not target.exists()
    err = _error(capsys, [*common, "--shard", "1/4"])
    assert "make 3 chunk(s), fewer than 4 shards; use --chunk 15 or less" in err
    assert "I/N needs 1 <= I <= N" in _error(capsys, [*common, "--shard", "4/3"])


def test_cli_a_different_workspace_refuses_to_merge(cli_files, capsys, tmp_path):
    folder, common = cli_files
    ws = json.loads(Path(common[3]).read_text())
    ws["observations"][0]["data"] = [52.0, 48.0]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(ws))
    argv = [*common[:3], str(other), *common[4:], "--shard", "2/3", "--output-file"]
    assert main([*argv, str(tmp_path / "part-2.json")]) == 0
    parts = [
        str(folder / "part-1.json"),
        str(tmp_path / "part-2.json"),
        str(folder / "part-3.json"),
    ]
    err = _error(capsys, ["merge", *parts])
    assert "come from different inputs (model or data differs)" in err


# -- several devices ------------------------------------------------------------------------------
def test_four_host_devices_give_the_numbers_of_one(four_devices, whole):
    out, err = four_devices.communicate(timeout=600)
    assert four_devices.returncode == 0, err
    result = json.loads(out)
    assert result["devices"] == ["cpu"] * 4
    # on CPU this process's single device; elsewhere the subprocess's own single-device run
    one = result.get("one") or {f: np.asarray(getattr(whole, f)).tolist() for f in FIELDS}
    assert result["four"] == one
    assert len(one["sb"]) == NTOYS and one["converged"]
