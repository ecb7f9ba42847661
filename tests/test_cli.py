"""The neos command line: inspect, and clear errors with exit code 2."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyhf
import pytest
from conftest import shared_path

from neos.cli import main

EXAMPLE = Path(__file__).parents[1] / "neos" / "examples" / "example_workspace.json"


def test_example_workspace_uses_every_modifier_type():
    spec = json.loads(EXAMPLE.read_text())
    types = {m["type"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"]}
    assert types == {
        "histosys",
        "lumi",
        "normfactor",
        "normsys",
        "shapefactor",
        "shapesys",
        "staterror",
    }


def test_inspect_json_matches_pyhf(capsys):
    assert main(["inspect", str(EXAMPLE), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    ws = pyhf.Workspace(json.loads(EXAMPLE.read_text()))
    model = ws.model()
    assert [p["name"] for p in info["parameters"]] == model.config.par_order
    assert info["npars"] == model.config.npars and info["poi"] == "mu"
    for p in info["parameters"]:
        ps = model.config.param_set(p["name"])
        assert p["inits"] == pytest.approx(ps.suggested_init)
        assert p["bounds"] == [[float(lo), float(hi)] for lo, hi in ps.suggested_bounds]
        assert p["fixed"] == list(ps.suggested_fixed)
        expected = {"normal": "Gaussian", "poisson": "Poisson", None: "none (free)"}
        assert p["constraint"] == expected[getattr(ps, "pdf_type", None)]
    observed = {c["name"]: c["observed"] for c in info["channels"]}
    data = ws.data(model, include_auxdata=False)
    for channel in model.config.channels:
        sl = model.config.channel_slices[channel]
        assert observed[channel] == pytest.approx(sum(data[sl]))
        assert (
            next(c for c in info["channels"] if c["name"] == channel)["bins"]
            == (model.config.channel_nbins[channel])
        )


def test_inspect_table(capsys):
    assert main(["inspect", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "Parameters (17; POI: mu)" in out
    assert "lumi" in out and "(0.915, 1.085)" in out and "Poisson" in out


def test_output_file(tmp_path):
    target = tmp_path / "info.json"
    assert main(["inspect", str(EXAMPLE), "--json", "--output-file", str(target)]) == 0
    assert json.loads(target.read_text())["measurement"] == "example"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not a JSON file"),
        ('{"channels": []}', "not a valid workspace"),
    ],
)
def test_bad_workspace_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "ws.json"
    if content is not None:
        path.write_text(content)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neos: error:") and message in err


def test_unknown_measurement_exits_2(capsys):
    assert main(["inspect", str(EXAMPLE), "--measurement", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.fixture
def tight_pyhf():
    """pyhf with scipy converged tightly (its default tolerance leaves CLs off by ~1e-5)."""
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-14))
    yield
    pyhf.set_backend("numpy", "scipy")


def _pyhf_example():
    ws = pyhf.Workspace(json.loads(EXAMPLE.read_text()))
    model = ws.model()
    return ws, model, ws.data(model)


def test_fit_matches_pyhf(capsys, tight_pyhf):
    assert main(["fit", str(EXAMPLE)]) == 0
    result = json.loads(capsys.readouterr().out)
    _, model, data = _pyhf_example()
    pars, nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    assert result["twice_nll"] <= float(nll) + 1e-9
    assert result["twice_nll"] == pytest.approx(float(nll), rel=1e-9)
    poi = result["mle_parameters"]["mu"][0]
    assert poi == pytest.approx(pars[model.config.poi_index], rel=1e-4)
    assert result["uncertainties"]["mu"][0] > 0


def test_fixed_poi_fit(capsys):
    assert main(["fit", str(EXAMPLE), "--poi-value", "0.5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mle_parameters"]["mu"] == [0.5]
    assert result["uncertainties"]["mu"] == [0.0]


def test_cls_matches_pyhf(capsys, tight_pyhf):
    assert main(["cls", str(EXAMPLE), "--poi-value", "2.0"]) == 0
    result = json.loads(capsys.readouterr().out)
    _, model, data = _pyhf_example()
    obs, exp = pyhf.infer.hypotest(2.0, data, model, return_expected_set=True)
    assert result["CLs_obs"] == pytest.approx(float(obs), rel=1e-5)
    assert result["CLs_exp"] == pytest.approx([float(v) for v in exp], rel=1e-5)


def test_upper_limit_runs(capsys):
    assert main(["upper-limit", str(EXAMPLE), "--scan", "0,10,11"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["exp"]) == 5 and result["exp"] == sorted(result["exp"])
    assert 0.0 < result["obs"] < 10.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["upper-limit", str(EXAMPLE), "--scan", "0,5"], "START,STOP,NUM"),
        (["upper-limit", str(EXAMPLE), "--level", "2"], "--level"),
    ],
)
def test_bad_options_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_not_a_workspace_for_cls(tmp_path, capsys):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps({"channels": [{"name": "c"}]}))
    assert main(["cls", str(path)]) == 2
    assert "not a valid workspace" in capsys.readouterr().err


# -- figures (--plot) and the fit table (--table), on the hello world (fixture `files`, below) --
PNG = b"\x89PNG\r\n\x1a\n"


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cls_plot_writes_png_and_keeps_json(files, tmp_path, capsys):
    plain = _run_json(capsys, ["cls", files["ws"]])
    target = tmp_path / "new" / "dir" / "cls.png"  # missing folders are created
    with_plot = _run_json(capsys, ["cls", files["ws"], "--plot", str(target), "--scan", "0,3,7"])
    assert with_plot == plain
    assert plain["CLs_obs"] == pytest.approx(0.05251552, rel=1e-6)  # pyhf, tight tolerance
    assert target.read_bytes().startswith(PNG)
    assert [p.name for p in target.parent.iterdir()] == ["cls.png"]  # no temporary left


def test_cls_plot_default_scan_pdf(files, tmp_path, capsys):
    target = tmp_path / "cls.pdf"
    result = _run_json(capsys, ["cls", files["ws"], "--poi-value", "0.5", "--plot", str(target)])
    assert len(result["CLs_exp"]) == 5
    assert target.read_bytes().startswith(b"%PDF")


def test_cls_default_scan_covers_the_expected_limits(files):
    """The automatic scan ends where the expected +2 sigma CLs is below 0.05."""
    from neos.cli import _auto_scan

    spec = json.loads(Path(files["ws"]).read_text())
    import relaxed

    ws = relaxed.Workspace(spec)
    model = ws.model()
    kwargs = {"test_stat": "qtilde", "calctype": "asymptotics"}
    scan, results = _auto_scan(ws.data(model), model, 0.5, 0.05, kwargs)
    # 0.5 -> 1 -> 2 -> 4: the +2 sigma expected limit of the hello world is 2.05
    assert float(scan[-1]) == 4.0 and len(scan) == 21
    assert float(results[-1][1][4]) < 0.05 < float(results[10][1][4])


def test_upper_limit_plot_with_scan(files, tmp_path, capsys):
    plain = _run_json(capsys, ["upper-limit", files["ws"], "--scan", "0,3,7"])
    target = tmp_path / "limit.png"
    argv = ["upper-limit", files["ws"], "--scan", "0,3,7", "--plot", str(target)]
    assert _run_json(capsys, argv) == plain
    assert target.read_bytes().startswith(PNG)


def test_upper_limit_plot_after_root_finding(files, tmp_path, capsys, monkeypatch):
    """Without --scan the figure's grid runs from 0 to 1.2 times the largest limit found."""
    import relaxed.infer

    real = relaxed.infer.upper_limit
    grids = []

    def fake_roots(data, model, scan=None, **kwargs):
        if scan is None:  # root finding is slow to compile: stand in with fixed limits
            return 1.0, [0.5, 0.7, 1.0, 1.4, 2.5]
        grids.append(np.asarray(scan))
        return real(data, model, scan=scan, **kwargs)

    monkeypatch.setattr(relaxed.infer, "upper_limit", fake_roots)
    target = tmp_path / "limit.svg"
    result = _run_json(capsys, ["upper-limit", files["ws"], "--plot", str(target)])
    assert result == {"obs": 1.0, "exp": [0.5, 0.7, 1.0, 1.4, 2.5], "level": 0.05}
    (grid,) = grids
    assert grid[0] == 0.0 and grid[-1] == pytest.approx(3.0)
    assert target.read_text().lstrip().startswith("<?xml")


def test_fit_plot_and_table(files, tmp_path, capsys):
    plain = _run_json(capsys, ["fit", files["ws"]])
    target = tmp_path / "fit.png"
    assert _run_json(capsys, ["fit", files["ws"], "--plot", str(target)]) == plain
    assert target.read_bytes().startswith(PNG)
    assert main(["fit", files["ws"], "--table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"-2 log L = {plain['twice_nll']:.6g}")
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    values = {"mu": plain["mle_parameters"]["mu"][0]}
    errors = {"mu": plain["uncertainties"]["mu"][0]}
    for i in range(2):
        values[f"uncorr_bkguncrt[{i}]"] = plain["mle_parameters"]["uncorr_bkguncrt"][i]
        errors[f"uncorr_bkguncrt[{i}]"] = plain["uncertainties"]["uncorr_bkguncrt"][i]
    assert set(rows) == set(values)
    for name, row in rows.items():
        assert float(row[1]) == pytest.approx(values[name], rel=1e-5, abs=1e-12)
        assert row[2] == "±" and float(row[3]) == pytest.approx(errors[name], rel=1e-5)
    # shapesys pulls: (gamma - 1) / (delta/b), constraint sigma_gamma / (delta/b)
    for i, width in enumerate([3.0 / 50.0, 7.0 / 52.0]):
        row = rows[f"uncorr_bkguncrt[{i}]"]
        gamma, sigma = values[f"uncorr_bkguncrt[{i}]"], errors[f"uncorr_bkguncrt[{i}]"]
        assert row[-4:-3] == ["Poisson"]
        assert float(row[-3]) == pytest.approx((gamma - 1.0) / width, abs=6e-4)
        assert float(row[-1]) == pytest.approx(sigma / width, abs=6e-4)
    assert rows["mu"][-1] == "-" and "Correlations with |rho| >= 0.3: 2" in lines


def test_fit_table_fixed_poi(files, capsys):
    assert main(["fit", files["ws"], "--table", "--poi-value", "1.5"]) == 0
    out = capsys.readouterr().out
    (row,) = [line.split() for line in out.splitlines() if line.split()[:1] == ["mu"]]
    assert row[1:3] == ["1.5", "(fixed)"]


def test_describe_fit_numbers_equal_the_fit(files):
    import relaxed
    from relaxed.infer.summary import describe_fit

    ws = relaxed.Workspace(json.loads(Path(files["ws"]).read_text()))
    model = ws.model()
    data = ws.data(model)
    pars, corr, nll = relaxed.infer.mle.fit(
        data, model, return_uncertainties=True, return_correlations=True, return_fitted_val=True
    )
    info = describe_fit(model, pars, corr, nll)
    assert info["twice_nll"] == float(nll)
    assert [p["name"] for p in info["parameters"]] == model.config.par_names
    assert [p["value"] for p in info["parameters"]] == np.asarray(pars)[:, 0].tolist()
    assert [p["uncertainty"] for p in info["parameters"]] == np.asarray(pars)[:, 1].tolist()
    assert info["correlation"] == np.asarray(corr).tolist()
    sigma = np.asarray([3.0 / 50.0, 7.0 / 52.0])
    pulls = [p["pull"] for p in info["parameters"][1:]]
    np.testing.assert_allclose(pulls, (np.asarray(pars)[1:, 0] - 1.0) / sigma, rtol=1e-12)
    assert info["parameters"][0]["pull"] is None
    assert info["parameters"][1]["bounds"] == [1e-10, 10.0]
    with pytest.raises(ValueError, match=r"pars must have shape \(3,\) or \(3, 2\)"):
        describe_fit(model, np.zeros(4))
    with pytest.raises(ValueError, match=r"corr must have shape \(3, 3\)"):
        describe_fit(model, pars, np.eye(2))


def test_print_model_shows_the_summary(capsys):
    import relaxed

    model = relaxed.Workspace(json.loads(EXAMPLE.read_text())).model()
    print(model)
    out = capsys.readouterr().out
    assert out == model.summary() + "\n"
    assert "Parameters (17; POI: mu)" in out and "staterror_SR" in out
    assert repr(model).startswith("relaxed.Model(") and "\n" not in repr(model)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cls", "{ws}", "--plot", "{tmp}/cls.txt"], "unknown image suffix '.txt'"),
        (["fit", "{ws}", "--plot", "{tmp}/figure"], "no file suffix"),
        (["upper-limit", "{ws}", "--plot", "{tmp}"], "it is a folder"),
        (["cls", "{ws}", "--plot", "{tmp}/old.png/x.png"], "is not a folder"),
        (["cls", "{ws}", "--plot", "{tmp}/cls.png", "--test-stat", "q0"], "--test-stat"),
        (["cls", "{ws}", "--plot", "{tmp}/cls.png", "--scan", "0,1"], "START,STOP,NUM"),
    ],
)
def test_bad_plot_exits_2_and_keeps_files(files, tmp_path, capsys, argv, message):
    old = tmp_path / "old.png"
    old.write_bytes(b"old")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{ws}", files["ws"]) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("neos: error:") and message in captured.err
    assert captured.out == ""  # reported before anything was computed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.png"]
    assert old.read_bytes() == b"old"


def test_summary_columns_stay_aligned_with_long_names():
    import relaxed
    from neos.train import hard_workspace

    spec = hard_workspace(
        {
            "signal": [1.0, 2.0],
            "background": [5.0, 4.0],
            "background_up": [6.0, 4.0],
            "background_down": [4.0, 4.0],
        }
    )
    table = str(relaxed.Workspace(spec).model()).split("Parameters")[1].splitlines()[1:]
    header, rows = table[0], table[1:]
    assert [r.split()[0] for r in rows] == ["correlated_bkg_uncertainty", "mu"]
    for column in ("init", "bounds", "constraint", "modifiers"):
        start = header.index(column)
        for r in rows:  # every column's entry starts where its header does
            assert r[start - 1] == " " and r[start] != " ", (column, r)


# -- click surface: stdin, patches, measurements, q0, --json/--table, help, cache, grid ---------
# Every workspace here has the structure of pyhf's hello world (built from conftest's
# hello_world_spec), so the compiled fits and tests are shared between the calls.
MEASUREMENTS = [
    {"name": "meas", "config": {"poi": "mu", "parameters": []}},
    {
        "name": "fixed_bkg",
        "config": {"poi": "mu", "parameters": [{"name": "uncorr_bkguncrt", "fixed": True}]},
    },
]
DOUBLE_SIGNAL = [{"op": "replace", "path": "/channels/0/samples/0/data", "value": [24.0, 22.0]}]
#: Applies only after DOUBLE_SIGNAL (its first operation tests the doubled signal).
AFTER_DOUBLE = [
    {"op": "test", "path": "/channels/0/samples/0/data", "value": [24.0, 22.0]},
    {"op": "replace", "path": "/channels/0/samples/1/data", "value": [55.0, 50.0]},
]
CONFLICT = [{"op": "remove", "path": "/channels/0/samples/7"}]


def _workspace(spec, observed=(51.0, 48.0), poi="mu"):
    channels = json.loads(json.dumps(spec["channels"]).replace('"mu"', json.dumps(poi)))
    measurements = json.loads(json.dumps(MEASUREMENTS).replace('"mu"', json.dumps(poi)))
    return {
        "channels": channels,
        "observations": [{"name": "singlechannel", "data": list(observed)}],
        "measurements": measurements,
        "version": "1.0.0",
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory, hello_world_spec):
    """Paths of the test workspaces and patches (written once for the module)."""
    folder = tmp_path_factory.mktemp("cli")
    documents = {
        "ws": _workspace(hello_world_spec),
        "excess": _workspace(hello_world_spec, observed=(70.0, 66.0)),
        "mu_sig": _workspace(hello_world_spec, poi="mu_sig"),
        "double": DOUBLE_SIGNAL,
        "after_double": AFTER_DOUBLE,
        "conflict": CONFLICT,
    }
    paths = {}
    for name, document in documents.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(document))
    paths["not_json"] = folder / "not_json.json"
    paths["not_json"].write_text("{oops")
    paths["not_a_patch"] = folder / "not_a_patch.json"
    paths["not_a_patch"].write_text(json.dumps({"op": "remove", "path": "/channels/0"}))
    paths["missing"] = folder / "missing.json"
    return {name: str(path) for name, path in paths.items()}


def _pyhf_test(path, poi_value=1.0, measurement=None, patches=(), test_stat="qtilde"):
    ws = pyhf.Workspace(json.loads(Path(path).read_text()))
    model = ws.model(measurement_name=measurement, patches=[json.loads(p) for p in patches])
    obs, exp = pyhf.infer.hypotest(
        poi_value, ws.data(model), model, test_stat=test_stat, return_expected_set=True
    )
    return float(obs), [float(v) for v in exp]


def _error(capsys, argv, code=2):
    """Run ``argv``, expecting one error line and no output; return the message."""
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("neos: error: ") and captured.err.count("\n") == 1
    return captured.err


def test_workspace_from_stdin_in_a_subprocess(files):
    env = {**os.environ, "RELAXED_CACHE_DIR": "off"}
    text = Path(files["ws"]).read_text()
    run = subprocess.run(
        [sys.executable, "-m", "neos.cli", "inspect", "-", "--json"],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["measurement"] == "meas" and info["measurements"] == ["meas", "fixed_bkg"]
    assert [p["name"] for p in info["parameters"]] == ["mu", "uncorr_bkguncrt"]
    assert info["channels"][0]["observed"] == 99.0


def test_cls_of_a_workspace_from_stdin(files, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(Path(files["ws"]).read_text()))
    result = _run_json(capsys, ["cls", "-"])
    assert result["CLs_obs"] == pytest.approx(0.05251552, rel=1e-6)  # pyhf, tight tolerance
    assert result["CLs_exp"] == pytest.approx(
        [0.0026064, 0.01382064, 0.06445515, 0.2352609, 0.57304165], rel=1e-5
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("{oops"))
    assert "<stdin>: not a JSON file" in _error(capsys, ["cls", "-"])


def test_patches_are_applied_in_order_as_pyhf(files, capsys, tight_pyhf):
    argv = ["cls", files["ws"], "-p", files["double"], "--patch", files["after_double"]]
    result = _run_json(capsys, argv)
    patches = [json.dumps(DOUBLE_SIGNAL), json.dumps(AFTER_DOUBLE)]
    obs, exp = _pyhf_test(files["ws"], patches=patches)
    assert result["CLs_obs"] == pytest.approx(obs, rel=1e-5)
    assert result["CLs_exp"] == pytest.approx(exp, rel=1e-5)
    assert result["CLs_obs"] < 1e-3  # twice the signal: excluded, unlike the unpatched 0.0525
    info = _run_json(capsys, ["inspect", files["ws"], "-p", files["double"], "--json"])
    assert info["channels"][0]["samples"] == {"signal": 46.0, "background": 102.0}
    assert main(["inspect", files["ws"], "-p", files["double"]]) == 0
    assert capsys.readouterr().out.startswith(
        f"Workspace {files['ws']} patched with {files['double']}\n"
    )


@pytest.mark.parametrize(
    ("patches", "blamed", "message"),
    [
        (["missing"], "missing", "no such file"),
        (["not_json"], "not_json", "not a JSON file"),
        (["not_a_patch"], "not_a_patch", "not a JSON Patch"),
        (["double", "conflict"], "conflict", "cannot apply it: patches[1][0] (remove"),
        (["after_double", "double"], "after_double", "cannot apply it: patches[0][0] (test"),
    ],
)
def test_bad_patch_files_are_named(files, capsys, patches, blamed, message):
    argv = ["cls", files["ws"]]
    for name in patches:
        argv += ["-p", files[name]]
    err = _error(capsys, argv)
    assert err.startswith(f"neos: error: --patch {files[blamed]}: ")
    assert message in err
    assert all(files[name] not in err for name in patches if name != blamed)


def test_only_one_input_from_stdin(files, capsys):
    assert "only one input can be '-'" in _error(capsys, ["cls", "-", "-p", "-"])


def test_measurement_selects_the_parameter_settings(files, capsys, tight_pyhf):
    result = _run_json(capsys, ["cls", files["ws"], "--measurement", "fixed_bkg"])
    obs, exp = _pyhf_test(files["ws"], measurement="fixed_bkg")
    assert result["CLs_obs"] == pytest.approx(obs, rel=1e-5)
    assert result["CLs_exp"] == pytest.approx(exp, rel=1e-5)
    assert result["CLs_obs"] == pytest.approx(0.0212789, rel=1e-4)  # 0.0525 with the shapesys
    info = _run_json(capsys, ["inspect", files["ws"], "--measurement", "fixed_bkg", "--json"])
    assert info["measurement"] == "fixed_bkg"
    assert info["parameters"][1]["fixed"] == [True, True]
    fit = _run_json(capsys, ["fit", files["ws"], "--measurement", "fixed_bkg"])
    assert fit["mle_parameters"]["uncorr_bkguncrt"] == [1.0, 1.0]
    assert fit["uncertainties"]["uncorr_bkguncrt"] == [0.0, 0.0]
    err = _error(capsys, ["upper-limit", files["ws"], "--measurement", "nope"])
    assert "unknown measurement 'nope'" in err and "['meas', 'fixed_bkg']" in err


def test_q0_gives_discovery_p_values(files, capsys, tight_pyhf):
    from statistics import NormalDist

    result = _run_json(capsys, ["cls", files["excess"], "--test-stat", "q0"])
    assert set(result) == {"p0_obs", "p0_exp"}
    obs, exp = _pyhf_test(files["excess"], poi_value=0.0, test_stat="q0")
    assert result["p0_obs"] == pytest.approx(obs, rel=1e-5)
    assert result["p0_exp"] == pytest.approx(exp, rel=1e-5)
    assert 1e-4 < result["p0_obs"] < 0.05  # an excess of ~40 events over 102
    assert main(["cls", files["excess"], "--test-stat", "q0", "--table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Discovery p-values p0 of mu = 0 (test statistic q0, asymptotics)"
    assert "CLs" not in "\n".join(lines)
    labels = ["p0 observed", *(f"p0 expected {s}" for s in ("-2σ", "-1σ", "", "+1σ", "+2σ"))]
    for line, label, value in zip(
        lines[1:], labels, [result["p0_obs"], *result["p0_exp"]], strict=True
    ):
        assert line.startswith(f"  {label.strip()} ")
        number, z = line.split()[-4], line.split()[-1]
        assert float(number) == pytest.approx(value, rel=1e-5)
        assert float(z) == pytest.approx(NormalDist().inv_cdf(1.0 - value), abs=1e-3)
    assert "leave out --poi-value" in _error(
        capsys, ["cls", files["excess"], "--test-stat", "q0", "--poi-value", "2"]
    )


def test_cls_table_shows_the_json_numbers(files, capsys):
    result = _run_json(capsys, ["cls", files["ws"]])
    assert main(["cls", files["ws"], "--table", "--level", "0.1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "CLs of mu = 1 (test statistic qtilde, asymptotics)"
    values = [result["CLs_obs"], *result["CLs_exp"]]
    assert [float(line.split()[3 if "σ" in line else 2]) for line in lines[1:]] == pytest.approx(
        values, rel=1e-5
    )
    marks = [line.endswith("not excluded at 90% CL") for line in lines[1:]]
    assert marks == [v >= 0.1 for v in values] == [False, False, False, False, True, True]


def test_upper_limit_test_stat_matches_pyhf(files, capsys, tight_pyhf):
    argv = ["upper-limit", files["ws"], "--scan", "0,3,13", "--test-stat", "q"]
    result = _run_json(capsys, argv)
    ws = pyhf.Workspace(json.loads(Path(files["ws"]).read_text()))
    model = ws.model()
    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(
        ws.data(model), model, scan=np.linspace(0, 3, 13), test_stat="q"
    )
    assert result["obs"] == pytest.approx(float(obs), rel=1e-4)
    assert result["exp"] == pytest.approx([float(v) for v in exp], rel=1e-4)
    default = _run_json(capsys, ["upper-limit", files["ws"], "--scan", "0,3,13"])
    assert abs(default["obs"] - result["obs"]) > 1e-3  # qtilde and q differ here
    assert main([*argv, "--table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "Upper limits on mu at 95% CL (CLs = 0.05; test statistic q, asymptotics; "
        "scan 0..3, 13 points)"
    )
    table = [float(line.split()[-1]) for line in lines[1:]]
    assert table == pytest.approx([result["obs"], *result["exp"]], rel=1e-5)


def test_statistics_options_reach_relaxed(files, capsys, monkeypatch):
    import relaxed.infer

    calls = []

    def fake_limits(data, model, scan=None, level=0.05, **kwargs):
        calls.append(("upper_limit", scan, level, kwargs))
        return 1.0, [0.5, 0.7, 1.0, 1.4, 2.5]

    def fake_hypotest(poi, data, model, return_expected_set=False, **kwargs):
        calls.append(("hypotest", poi, return_expected_set, kwargs))
        return 0.2, [0.01, 0.02, 0.1, 0.3, 0.6]

    monkeypatch.setattr(relaxed.infer, "upper_limit", fake_limits)
    monkeypatch.setattr(relaxed.infer, "hypotest", fake_hypotest)
    toys = ["--calctype", "toybased", "--ntoys", "50", "--test-stat", "q"]
    result = _run_json(capsys, ["upper-limit", files["ws"], *toys, "--level", "0.1"])
    assert result == {"obs": 1.0, "exp": [0.5, 0.7, 1.0, 1.4, 2.5], "level": 0.1}
    result = _run_json(capsys, ["cls", files["ws"], *toys, "--poi-value", "1.5"])
    assert result == {"CLs_obs": 0.2, "CLs_exp": [0.01, 0.02, 0.1, 0.3, 0.6]}
    stats = {"test_stat": "q", "calctype": "toybased", "ntoys": 50}
    assert calls == [("upper_limit", None, 0.1, stats), ("hypotest", 1.5, True, stats)]
    assert "'q0' is not one of" in _error(capsys, ["upper-limit", files["ws"], "--test-stat", "q0"])


def test_a_number_that_cannot_be_computed_is_an_error(files, capsys, monkeypatch, tmp_path):
    import relaxed.infer

    monkeypatch.setattr(
        relaxed.infer, "upper_limit", lambda *a, **k: (float("nan"), [0.5, 0.7, 1.0, 1.4, 2.5])
    )
    target = tmp_path / "limits.json"
    argv = ["upper-limit", files["ws"], "--output-file", str(target)]
    err = _error(capsys, argv, code=1)
    assert err == "neos: error: upper-limit: obs is nan: it cannot be computed\n"
    assert not target.exists()


def test_fit_and_inspect_json_or_table(files, capsys):
    fit = _run_json(capsys, ["fit", files["ws"], "--table", "--json"])  # the last one wins
    assert set(fit) == {"mle_parameters", "uncertainties", "twice_nll"}
    assert main(["fit", files["ws"], "--json", "--table"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(f"-2 log L = {fit['twice_nll']:.6g}")
    assert main(["inspect", files["ws"]]) == 0  # a table by default
    assert "Measurement: meas (of meas, fixed_bkg)" in capsys.readouterr().out
    info = _run_json(capsys, ["inspect", files["ws"], "--json"])
    assert info["npars"] == 3 and info["poi"] == "mu"


def _normalised_help(capsys, argv):
    assert main([*argv, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("argv", "defaults"),
    [
        ([], ["--cache-dir DIR", "[default: ($RELAXED_CACHE_DIR, else ~/.cache/relaxed/jax)]"]),
        (
            ["cls"],
            [
                "--poi-value, --test-poi FLOAT the POI value to test",
                "[default: 1.0]",
                "[default: qtilde]",
                "[default: asymptotics]",
                "[default: 2000; x>=1]",
                "[default: 0.05]",
                "[default: json]",
                "[default: (the first one)]",
                "-p, --patch FILE",
            ],
        ),
        (["upper-limit"], ["--test-stat [q|qtilde]", "[default: 0.05]", "(root finding)"]),
        (["fit"], ["[default: (free)]", "[default: json]", "[default: (standard output)]"]),
        (["inspect"], ["[default: table]", "--measurement TEXT"]),
        (
            ["grid"],
            [
                "BKGONLY PATCHSET",
                "[default: 1.0]",
                "--upper-limits",
                "[default: 0.05]",
                "--devices INTEGER RANGE",
                "[default: (all local devices); x>=1]",
            ],
        ),
        (
            ["toys"],
            [
                "--shard I/N",
                "[default: (all toys)]",
                "[default: 256; x>=1]",
                "[default: 0; 0<=x<=4294967295]",
                "[default: (all local devices); x>=1]",
                "[default: json]",
            ],
        ),
        (["merge"], ["neos merge [OPTIONS] FILE...", "apart from timing"]),
    ],
)
def test_help_shows_the_defaults(capsys, argv, defaults):
    text = _normalised_help(capsys, argv)
    for default in defaults:
        assert default in text


def test_train_help_shows_the_training_defaults(capsys):
    from neos.train import TrainConfig

    text = _normalised_help(capsys, ["train"])
    config = TrainConfig()
    for name in ("steps", "seed", "loss", "method", "nmc"):
        assert f"--{name} " in text and f"[default: {getattr(config, name)}]" in text
    assert "[default: neos-run]" in text


@pytest.fixture
def restore_cache():
    import relaxed

    previous = relaxed.cache.cache_dir()
    yield relaxed.cache
    relaxed.cache.set_cache_dir(previous)


def test_cache_options(files, capsys, tmp_path, restore_cache):
    import jax
    import jax.numpy as jnp

    cache = restore_cache
    folder = tmp_path / "jax-cache"
    argv = ["inspect", files["ws"], "--json", "--output-file", str(tmp_path / "i.json")]
    assert main(["--cache-dir", str(folder), *argv]) == 0
    assert cache.cache_dir() == folder and folder.is_dir()
    assert jax.config.jax_compilation_cache_dir == str(folder)
    before = set(folder.iterdir())
    jax.jit(lambda x: x * 3.0 + 0.25)(jnp.arange(11.0)).block_until_ready()
    new = {p.name.split("-")[0] for p in set(folder.iterdir()) - before}
    assert "jit__lambda" in new  # the new compilation went to the cache
    assert main(["--no-cache", *argv]) == 0
    assert cache.cache_dir() is None and not jax.config.jax_enable_compilation_cache
    assert "exclude each other" in _error(capsys, ["--cache-dir", str(folder), "--no-cache", *argv])
    (tmp_path / "file").write_text("x")
    assert "is a file" in _error(capsys, ["--cache-dir", str(tmp_path / "file"), *argv])
    err = _error(capsys, ["--cache-dir", str(tmp_path / "file" / "sub"), *argv])
    assert err.startswith(f"neos: error: --cache-dir {tmp_path / 'file' / 'sub'}: ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "Missing command."),
        (["cls"], "Missing argument 'WORKSPACE'."),
        (["cls", "{ws}", "--bogus"], "--bogus"),
        (["cls", "{ws}", "--poi-value", "nan"], "'nan' is not a finite number"),
        (["cls", "{ws}", "--ntoys", "0"], "--ntoys"),
        (["cls", "{ws}", "--level", "0"], "the CLs level must be between 0 and 1"),
        (["cls", "{ws}", "--json", "--plot", "x.txt"], "unknown image suffix '.txt'"),
        (["upper-limit", "{ws}", "--scan", "3,0,5"], "finite START < STOP"),
        (["grid", "{ws}"], "Missing argument 'PATCHSET'."),
        (["toys", "{ws}", "--shard", "2"], "must be I/N (e.g. 2/10: the second of ten shards)"),
        (["toys", "{ws}", "--shard", "0/3"], "I/N needs 1 <= I <= N, got '0/3'"),
        (["toys", "{ws}", "--seed", "-1"], "--seed"),
        (["merge"], "Missing argument 'FILE...'."),
    ],
)
def test_usage_errors_are_one_line(files, capsys, argv, message):
    argv = [a.replace("{ws}", files["ws"]) for a in argv]
    err = _error(capsys, argv)
    assert message in err
    assert "No such option" in err or "bogus" not in message


def test_parse_args_runs_nothing():
    from neos.cli import UsageError, parse_args

    command, params = parse_args(["--no-cache", "grid", "b.json", "p.json", "--upper-limits"])
    assert command == "grid" and params["no_cache"] and params["upper_limits"]
    assert (params["bkgonly"], params["patchset"], params["poi_value"]) == ("b.json", "p.json", 1.0)
    assert parse_args(["upper-limit", "w.json", "--scan", "0,2,5"])[1]["scan"] == (0.0, 2.0, 5)
    with pytest.raises(UsageError, match="No such command 'nope'"):
        parse_args(["nope"])


# -- figures name the POI ----------------------------------------------------------------------
@pytest.fixture
def drawn(monkeypatch):
    """Axes properties of every figure the command writes, recorded before it is saved."""
    from neos import plot

    seen = []
    real = plot.save_figure

    def record(fig, path, **kwargs):
        (ax,) = fig.axes
        lines = {line.get_label(): line for line in ax.get_lines()}
        seen.append({"xlabel": ax.get_xlabel(), "title": ax.get_title(), "lines": lines})
        return real(fig, path, **kwargs)

    monkeypatch.setattr(plot, "save_figure", record)
    return seen


def test_figures_name_the_poi(files, capsys, tmp_path, drawn):
    target = tmp_path / "cls.png"
    argv = ["cls", files["mu_sig"], "--scan", "0,3,4", "--level", "0.1", "--plot", str(target)]
    result = _run_json(capsys, argv)
    (cls_figure,) = drawn
    assert cls_figure["xlabel"] == "mu_sig"
    assert cls_figure["title"] == f"CL$_s$ = {result['CLs_obs']:.3g} at mu_sig = 1"
    assert list(cls_figure["lines"]["CL$_s$ = 0.1"].get_ydata()) == [0.1, 0.1]
    assert cls_figure["lines"]["tested mu_sig = 1"].get_xdata()[0] == 1.0
    assert target.read_bytes().startswith(PNG)
    argv = ["upper-limit", files["mu_sig"], "--scan", "0,3,4", "--plot", str(target)]
    limits = _run_json(capsys, argv)
    assert drawn[1]["xlabel"] == "mu_sig"
    assert drawn[1]["title"] == (
        f"upper limits on mu_sig at 95% CL: observed {limits['obs']:.3g}, expected "
        f"{limits['exp'][2]:.3g}"
    )


# -- neos grid -----------------------------------------------------------------------------------
def _patch_set(labels, values):
    return {
        "metadata": {
            "description": "signal grid for the CLI tests",
            "digests": {"sha256": "0" * 64},
            "labels": labels,
            "references": {"hepdata": "ins0000000"},
        },
        "patches": [
            {
                "metadata": {"name": "sig_" + "_".join(f"{v:g}" for v in point), "values": point},
                "patch": [
                    {
                        "op": "replace",
                        "path": "/channels/0/samples/0/data",
                        "value": [point[0] / 10.0, point[-1] / 10.0],
                    }
                ],
            }
            for point in values
        ],
        "version": "1.0.0",
    }


def _synthetic_records(patch_set, nan_in=None):
    """CLs falling with the distance from the origin, crossing 0.05 at 300."""
    records = []
    for patch in patch_set["patches"]:
        x, y = patch["metadata"]["values"]
        cls = float(np.exp(-np.log(20.0) * (x * x + y * y) / 300.0**2))
        name = patch["metadata"]["name"]
        records.append(
            {
                "name": name,
                "values": [x, y],
                "labels": patch_set["metadata"]["labels"],
                "CLs_obs": float("nan") if name == nan_in else cls,
                "CLs_exp": [cls**f for f in (1.6, 1.3, 1.0, 0.8, 0.6)],
                "converged": True,
                "upper_limit_obs": 1.0 + x / 100.0,
                "upper_limit_exp": [0.5, 0.8, 1.0, 1.3, 1.8],
            }
        )
    return records


@pytest.fixture
def stand_in_grid(monkeypatch):
    """relaxed.infer.grid.hypotest_grid replaced by a recorder returning synthetic records."""
    import types

    import relaxed

    calls = []
    module = types.ModuleType("relaxed.infer.grid")

    def hypotest_grid(workspace, patchset, **kwargs):
        assert isinstance(workspace, relaxed.Workspace)
        assert isinstance(patchset, relaxed.PatchSet)
        calls.append(kwargs)
        return module.records

    module.hypotest_grid = hypotest_grid
    module.records = []
    monkeypatch.setitem(sys.modules, "relaxed.infer.grid", module)
    return module, calls


def test_grid_command_passes_its_options_and_prints_the_records(
    files, capsys, tmp_path, stand_in_grid
):
    module, calls = stand_in_grid
    values = [[float(x), float(y)] for x in range(0, 600, 100) for y in range(0, 600, 100)]
    patch_set = _patch_set(["m_stop", "m_lsp"], values)
    patch_file = tmp_path / "patchset.json"
    patch_file.write_text(json.dumps(patch_set))
    module.records = _synthetic_records(patch_set)
    target = tmp_path / "exclusion.png"
    argv = ["grid", files["ws"], str(patch_file), "--measurement", "fixed_bkg"]
    argv += ["--test-stat", "q", "--poi-value", "1.5", "--upper-limits", "--level", "0.1"]
    assert _run_json(capsys, [*argv, "--quiet", "--plot", str(target)]) == module.records
    assert calls == [
        {
            "poi_test": 1.5,
            "measurement_name": "fixed_bkg",
            "test_stat": "q",
            "upper_limits": True,
            "level": 0.1,
            "progress": False,
            "devices": None,
        }
    ]
    assert target.read_bytes().startswith(PNG)
    assert main([*argv, "--table", "--devices", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"Patch set {patch_file}: 36 signal hypotheses in (m_stop, m_lsp); CLs of mu = 1.5 "
        "(test statistic q); excluded: observed CLs < 0.1"
    )
    header = lines[1].split()
    assert header == [
        "name", "m_stop", "m_lsp", "CLs_obs", "CLs_exp_median", "excluded", "converged",
        "limit_obs", "limit_exp_median",
    ]  # fmt: skip
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 36 and calls[-1]["progress"] is True and calls[-1]["devices"] == 1
    for row, record in zip(rows, module.records, strict=True):
        assert row[0] == record["name"]
        assert [float(v) for v in row[1:3]] == record["values"]
        assert float(row[3]) == pytest.approx(record["CLs_obs"], rel=1e-5)
        assert float(row[4]) == pytest.approx(record["CLs_exp"][2], rel=1e-5)
        assert row[5:7] == ["yes" if record["CLs_obs"] < 0.1 else "no", "yes"]
        assert float(row[7]) == pytest.approx(record["upper_limit_obs"], rel=1e-5)
    assert sum(row[5] == "yes" for row in rows) == sum(r["CLs_obs"] < 0.1 for r in module.records)


def test_grid_errors(files, capsys, tmp_path, stand_in_grid):
    module, calls = stand_in_grid
    one_label = tmp_path / "one_label.json"
    one_label.write_text(json.dumps(_patch_set(["m"], [[100.0], [200.0], [300.0]])))
    line = tmp_path / "line.json"
    line.write_text(json.dumps(_patch_set(["a", "b"], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])))
    plot = ["--plot", str(tmp_path / "x.png")]
    err = _error(capsys, ["grid", files["ws"], str(one_label), *plot])
    assert "two parameters" in err and "1 labels ['m']" in err
    assert "not all on one line" in _error(capsys, ["grid", files["ws"], str(line), *plot])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"metadata": {}, "patches": [], "version": "1.0.0"}))
    assert "not a valid patch set" in _error(capsys, ["grid", files["ws"], str(bad)])
    err = _error(capsys, ["grid", files["ws"], str(line), "--measurement", "nope"])
    assert "unknown measurement 'nope'" in err
    assert calls == []  # all found before anything was computed
    module.records = _synthetic_records(
        _patch_set(["a", "b"], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), nan_in="sig_2_2"
    )
    err = _error(capsys, ["grid", files["ws"], str(line)], code=1)
    assert err == (
        "neos: error: grid: numbers that cannot be computed in 1 of 3 patches: "
        "'sig_2_2': CLs_obs is nan\n"
    )


def test_grid_matches_pyhf_on_its_example_patch_set(capsys, tight_pyhf):
    bkgonly = shared_path("pyhf/tests_test_patchset_example_bkgonly.json")
    patchset = shared_path("pyhf/tests_test_patchset_example_patchset.json")
    records = _run_json(capsys, ["grid", str(bkgonly), str(patchset), "--quiet"])
    ws = pyhf.Workspace(json.loads(bkgonly.read_text()))
    pyhf_patchset = pyhf.PatchSet(json.loads(patchset.read_text()))
    assert [r["name"] for r in records] == [p.name for p in pyhf_patchset.patches]
    for record, patch in zip(records, pyhf_patchset.patches, strict=True):
        patched = pyhf_patchset.apply(ws, patch.name)
        model = patched.model()
        obs, exp = pyhf.infer.hypotest(
            1.0, patched.data(model), model, test_stat="qtilde", return_expected_set=True
        )
        assert record["values"] == list(patch.values) and record["labels"] == ["x"]
        assert record["CLs_obs"] == pytest.approx(float(obs), abs=1e-4)
        assert record["CLs_exp"] == pytest.approx([float(v) for v in exp], abs=1e-4)
        assert record["converged"] is True


def test_train_json_summary(capsys, tmp_path, monkeypatch):
    """The summary of a run (training itself is neos.train's, tested in test_train.py)."""
    import neos.train

    calls = []

    def fake_train(config, out=None, resume=False, force=False, progress=True):
        calls.append((config, out, resume, force, progress))
        return {
            "steps": [1, 2, 3],
            "cls_soft": [0.09, 0.03, 0.0058],
            "cls_hard_test": 3.4e-5,
            "step_time_s": 0.071,
        }

    monkeypatch.setattr(neos.train, "train", fake_train)
    out = str(tmp_path / "run")
    argv = ["train", "--steps", "3", "--loss", "discovery", "--out", out, "--quiet"]
    summary = _run_json(capsys, [*argv, "--json"])
    assert summary == {
        "steps": 3,
        "cls_soft_first": 0.09,
        "cls_soft_last": 0.0058,
        "cls_hard_test": 3.4e-5,
        "step_time_s": 0.071,
        "out": out,
    }
    ((config, where, resume, force, progress),) = calls
    assert (config.steps, config.loss, config.nmc, where, resume, force, progress) == (
        3,
        "discovery",
        500,
        out,
        False,
        False,
        False,
    )
    assert main(argv) == 0  # a line by default
    assert capsys.readouterr().out == (
        "expected CLs (soft, train): 0.09 -> 0.0058; hard histograms, test sample: 3.4e-05; "
        f"compiled step 0.071 s; outputs in {out}\n"
    )


def test_grid_exclusion_of_a_hello_world_signal_grid(capsys, tmp_path, tight_pyhf, drawn):
    """The real grid on 3 x 3 signal points (signal yields s1, s2 in the two bins): CLs as
    pyhf's, and the exclusion figure drawn in the (s1, s2) plane."""
    from relaxed.histfactory.patchset import digest

    background = {
        "name": "background",
        "data": [50.0, 52.0],
        "modifiers": [{"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}],
    }
    bkgonly = {
        "channels": [{"name": "singlechannel", "samples": [background]}],
        "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
        "measurements": MEASUREMENTS[:1],
        "version": "1.0.0",
    }
    points = [[s1, s2] for s1 in (4.0, 12.0, 20.0) for s2 in (3.0, 11.0, 19.0)]
    patch_set = _patch_set(["s1", "s2"], points)
    patch_set["metadata"]["digests"]["sha256"] = digest(bkgonly)
    for entry, (s1, s2) in zip(patch_set["patches"], points, strict=True):
        signal = {
            "name": "signal",
            "data": [s1, s2],
            "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
        }
        entry["patch"] = [{"op": "add", "path": "/channels/0/samples/0", "value": signal}]
    (tmp_path / "bkgonly.json").write_text(json.dumps(bkgonly))
    (tmp_path / "patchset.json").write_text(json.dumps(patch_set))
    target = tmp_path / "exclusion.png"
    argv = ["grid", str(tmp_path / "bkgonly.json"), str(tmp_path / "patchset.json"), "--quiet"]
    records = _run_json(capsys, [*argv, "--plot", str(target)])
    assert [r["values"] for r in records] == points
    for record, entry in zip(records, patch_set["patches"], strict=True):
        patched = pyhf.Workspace(pyhf.patchset.Patch(entry).apply(bkgonly))
        model = patched.model()
        obs, exp = pyhf.infer.hypotest(1.0, patched.data(model), model, return_expected_set=True)
        assert record["CLs_obs"] == pytest.approx(float(obs), abs=1e-4)
        assert record["CLs_exp"] == pytest.approx([float(v) for v in exp], abs=1e-4)
        assert record["converged"] is True
    assert records[0]["CLs_obs"] > 0.05 > records[-1]["CLs_obs"]  # the contour is inside
    assert target.read_bytes().startswith(PNG)
    (figure,) = drawn
    assert figure["xlabel"] == "s1" and figure["title"].startswith("mu = 1, ")


# -- HS3 documents on the command line ---------------------------------------------------
def _hs3_pair() -> tuple[Path, Path]:
    folder = "hs3/simplemodel_uncorrelated-background"
    return shared_path(f"{folder}_hs3.json"), shared_path(f"{folder}_hifa.json")


def test_cls_of_an_hs3_document_equals_its_pyhf_twin(capsys):
    hs3, twin = _hs3_pair()
    ours = _run_json(capsys, ["cls", str(hs3), "--measurement", "simPdf_obsData"])
    reference = _run_json(capsys, ["cls", str(twin)])
    assert ours["CLs_obs"] == pytest.approx(reference["CLs_obs"], rel=1e-10)
    np.testing.assert_allclose(ours["CLs_exp"], reference["CLs_exp"], rtol=1e-10)


def test_hs3_with_several_analyses_asks_for_one(capsys):
    hs3, _ = _hs3_pair()
    assert main(["cls", str(hs3)]) == 2
    err = capsys.readouterr().err
    assert "simPdf_asimovData" in err and "simPdf_obsData" in err and "--measurement" in err


def test_patch_on_an_hs3_document_exits_2(tmp_path, capsys):
    hs3, _ = _hs3_pair()
    patch = tmp_path / "patch.json"
    patch.write_text("[]")
    argv = ["cls", str(hs3), "--measurement", "simPdf_obsData", "-p", str(patch)]
    assert main(argv) == 2
    assert "is an HS3 document" in capsys.readouterr().err


def test_inspect_an_hs3_document(capsys):
    hs3, _ = _hs3_pair()
    assert main(["inspect", str(hs3), "--measurement", "simPdf_obsData"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HS3 document, hs3_version 0.2")
    assert "uncorr_bkguncrt_1" in out and "Measurement: simPdf_obsData" in out
    assert main(["inspect", str(hs3), "--measurement", "simPdf_obsData", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "HS3" and info["poi"] == "mu"


def test_convert_both_ways_keeps_the_likelihood(tmp_path, capsys):
    """pyhf -> HS3 -> pyhf with `neos convert`: the same logpdf (to 1e-12) as the original,
    and the HS3 file is recognised as such (the direction comes from the input)."""
    import relaxed

    hs3_file, back = tmp_path / "example_hs3.json", tmp_path / "example_pyhf.json"
    assert main(["convert", str(EXAMPLE), str(hs3_file)]) == 0
    doc = json.loads(hs3_file.read_text())
    assert doc["metadata"]["hs3_version"] == "0.2" and "channels" not in doc
    assert main(["convert", str(hs3_file), str(back)]) == 0
    original = relaxed.Workspace(json.loads(EXAMPLE.read_text()))
    again = relaxed.Workspace(json.loads(back.read_text()))
    m1, m2 = original.model(), again.model()
    assert m1.config.par_order == m2.config.par_order
    pars = np.asarray(m1.config.suggested_init()) * 1.05
    lp1 = float(m1.logpdf(pars, original.data(m1))[0])
    lp2 = float(m2.logpdf(pars, again.data(m2))[0])
    assert lp2 == pytest.approx(lp1, rel=1e-12)
    assert main(["convert", str(hs3_file), "-"]) == 0  # standard output
    assert json.loads(capsys.readouterr().out)["channels"]


def test_convert_names_what_pyhf_cannot_express(tmp_path, capsys):
    hs3, _ = _hs3_pair()
    doc = json.loads(hs3.read_text())
    modifier = doc["distributions"][0]["samples"][0]["modifiers"][1]
    modifier["constraint"] = "LogNormal"
    bad = tmp_path / "lognormal.json"
    bad.write_text(json.dumps(doc))
    assert (
        main(["convert", str(bad), str(tmp_path / "out.json"), "--measurement", "simPdf_obsData"])
        == 2
    )
    err = capsys.readouterr().err
    assert "distributions[0].samples[0].modifiers[1]" in err and "LogNormal" in err
    assert not (tmp_path / "out.json").exists()
