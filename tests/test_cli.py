"""The neos command line: inspect, and clear errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

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
