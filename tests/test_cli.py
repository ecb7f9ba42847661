"""The neos command line: inspect, and clear errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyhf
import pytest

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


# -- figures (--plot) and the fit table (--table), on the tiny hello-world workspace ----------
HELLO = Path(__file__).parent / "data" / "pyhf" / "simplemodel_uncorrelated-background_hifa.json"
PNG = b"\x89PNG\r\n\x1a\n"


def _run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cls_plot_writes_png_and_keeps_json(tmp_path, capsys):
    plain = _run_json(capsys, ["cls", str(HELLO)])
    target = tmp_path / "new" / "dir" / "cls.png"  # missing folders are created
    with_plot = _run_json(capsys, ["cls", str(HELLO), "--plot", str(target), "--scan", "0,3,7"])
    assert with_plot == plain
    assert plain["CLs_obs"] == pytest.approx(0.05251552, rel=1e-6)  # pyhf, tight tolerance
    assert target.read_bytes().startswith(PNG)
    assert [p.name for p in target.parent.iterdir()] == ["cls.png"]  # no temporary left


def test_cls_plot_default_scan_pdf(tmp_path, capsys):
    target = tmp_path / "cls.pdf"
    result = _run_json(capsys, ["cls", str(HELLO), "--poi-value", "0.5", "--plot", str(target)])
    assert len(result["CLs_exp"]) == 5
    assert target.read_bytes().startswith(b"%PDF")


def test_cls_default_scan_covers_the_expected_limits():
    """The automatic scan ends where the expected +2 sigma CLs is below 0.05."""
    from neos.cli import _auto_scan

    spec = json.loads(HELLO.read_text())
    import relaxed

    ws = relaxed.Workspace(spec)
    model = ws.model()
    kwargs = {"test_stat": "qtilde", "calctype": "asymptotics"}
    scan, results = _auto_scan(ws.data(model), model, 0.5, 0.05, kwargs)
    # 0.5 -> 1 -> 2 -> 4: the +2 sigma expected limit of the hello world is 2.05
    assert float(scan[-1]) == 4.0 and len(scan) == 21
    assert float(results[-1][1][4]) < 0.05 < float(results[10][1][4])


def test_upper_limit_plot_with_scan(tmp_path, capsys):
    plain = _run_json(capsys, ["upper-limit", str(HELLO), "--scan", "0,3,7"])
    target = tmp_path / "limit.png"
    argv = ["upper-limit", str(HELLO), "--scan", "0,3,7", "--plot", str(target)]
    assert _run_json(capsys, argv) == plain
    assert target.read_bytes().startswith(PNG)


def test_upper_limit_plot_after_root_finding(tmp_path, capsys, monkeypatch):
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
    result = _run_json(capsys, ["upper-limit", str(HELLO), "--plot", str(target)])
    assert result == {"obs": 1.0, "exp": [0.5, 0.7, 1.0, 1.4, 2.5], "level": 0.05}
    (grid,) = grids
    assert grid[0] == 0.0 and grid[-1] == pytest.approx(3.0)
    assert target.read_text().lstrip().startswith("<?xml")


def test_fit_plot_and_table(tmp_path, capsys):
    plain = _run_json(capsys, ["fit", str(HELLO)])
    target = tmp_path / "fit.png"
    assert _run_json(capsys, ["fit", str(HELLO), "--plot", str(target)]) == plain
    assert target.read_bytes().startswith(PNG)
    assert main(["fit", str(HELLO), "--table"]) == 0
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


def test_fit_table_fixed_poi(capsys):
    assert main(["fit", str(HELLO), "--table", "--poi-value", "1.5"]) == 0
    out = capsys.readouterr().out
    (row,) = [line.split() for line in out.splitlines() if line.split()[:1] == ["mu"]]
    assert row[1:3] == ["1.5", "(fixed)"]


def test_describe_fit_numbers_equal_the_fit():
    import relaxed
    from relaxed.infer.summary import describe_fit

    ws = relaxed.Workspace(json.loads(HELLO.read_text()))
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
        (["cls", str(HELLO), "--plot", "{tmp}/cls.txt"], "unknown image suffix '.txt'"),
        (["fit", str(HELLO), "--plot", "{tmp}/figure"], "no file suffix"),
        (["upper-limit", str(HELLO), "--plot", "{tmp}"], "it is a folder"),
        (["cls", str(HELLO), "--plot", "{tmp}/old.png/x.png"], "is not a folder"),
        (["cls", str(HELLO), "--plot", "{tmp}/cls.png", "--test-stat", "q0"], "--test-stat"),
        (["cls", str(HELLO), "--plot", "{tmp}/cls.png", "--scan", "0,1"], "START,STOP,NUM"),
    ],
)
def test_bad_plot_exits_2_and_keeps_files(tmp_path, capsys, argv, message):
    old = tmp_path / "old.png"
    old.write_bytes(b"old")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
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
