"""The neos command line: inspect, and clear errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pyhf
import pytest

from neos.cli import main

EXAMPLE = Path(__file__).parents[1] / "neos" / "data" / "example_workspace.json"


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
