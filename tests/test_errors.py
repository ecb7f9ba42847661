"""Bad input gets a clear exception naming the problem and where it is."""

from __future__ import annotations

import copy
import json

import jax.numpy as jnp
import numpy as np
import pytest

import relaxed
from relaxed.exceptions import (
    InvalidData,
    InvalidMeasurement,
    InvalidModel,
    InvalidModifier,
    InvalidParameters,
    InvalidSpecification,
    RelaxedError,
)


def _workspace() -> dict:
    return {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "signal",
                        "data": [5.0, 10.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [50.0, 60.0],
                        "modifiers": [
                            {"name": "unc", "type": "shapesys", "data": [5.0, 6.0]},
                            {"name": "norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                            {
                                "name": "shape",
                                "type": "histosys",
                                "data": {"hi_data": [52.0, 61.0], "lo_data": [48.0, 59.0]},
                            },
                        ],
                    },
                ],
            },
            {
                "name": "CR",
                "samples": [
                    {
                        "name": "bkg",
                        "data": [100.0],
                        "modifiers": [{"name": "stat_CR", "type": "staterror", "data": [3.0]}],
                    }
                ],
            },
        ],
        "observations": [{"name": "SR", "data": [55.0, 70.0]}, {"name": "CR", "data": [98.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _bkg(spec):
    return spec["channels"][0]["samples"][1]


def test_good_workspace_builds():
    ws = relaxed.Workspace(_workspace())
    model = ws.model()
    assert model.config.par_order == ["shape", "mu", "norm", "unc", "stat_CR"]
    assert ws.data(model).shape == (3 + model.config.nauxdata,)


def test_all_errors_are_value_errors():
    assert issubclass(RelaxedError, ValueError)
    for exc in (InvalidSpecification, InvalidModel, InvalidModifier, InvalidParameters):
        assert issubclass(exc, RelaxedError)


def test_sample_with_wrong_bin_count():
    spec = _workspace()
    _bkg(spec)["data"] = [50.0, 60.0, 70.0]
    with pytest.raises(
        InvalidModel, match=r"channels\[0\]\.samples\[1\]\.data: sample 'bkg' has 3"
    ):
        relaxed.Workspace(spec).model()


@pytest.mark.parametrize(
    "index,key,bad,pattern",
    [
        (
            0,
            None,
            [5.0],
            r"modifiers\[0\]\.data: shapesys 'unc' on sample 'bkg' in channel 'SR' has 1",
        ),
        (2, "hi_data", [1.0, 2.0, 3.0], r"modifiers\[2\]\.data\.hi_data: histosys 'shape'"),
    ],
)
def test_modifier_data_with_wrong_bin_count(index, key, bad, pattern):
    spec = _workspace()
    mod = _bkg(spec)["modifiers"][index]
    if key is None:
        mod["data"] = bad
    else:
        mod["data"][key] = bad
    with pytest.raises(InvalidModifier, match=pattern):
        relaxed.Workspace(spec).model()


def test_negative_uncertainty():
    spec = _workspace()
    _bkg(spec)["modifiers"][0]["data"] = [5.0, -1.0]
    with pytest.raises(InvalidModifier, match=r"modifiers\[0\]\.data\[1\]: shapesys 'unc'.*-1\.0"):
        relaxed.Workspace(spec).model()
    spec = _workspace()
    spec["channels"][1]["samples"][0]["modifiers"][0]["data"] = [-3.0]
    with pytest.raises(
        InvalidModifier, match=r"channels\[1\]\.samples\[0\]\.modifiers\[0\]\.data\[0\]"
    ):
        relaxed.Workspace(spec).model()


@pytest.mark.parametrize("value", [0.0, -0.5, float("nan")])
def test_nonpositive_normsys_factor(value):
    spec = _workspace()
    _bkg(spec)["modifiers"][1]["data"]["lo"] = value
    with pytest.raises(InvalidModifier, match=r"modifiers\[1\]\.data\.lo: normsys 'norm'"):
        relaxed.Workspace(spec).model()


def test_unknown_modifier_type():
    spec = _workspace()
    _bkg(spec)["modifiers"][1]["type"] = "normsyss"
    with pytest.raises(InvalidSpecification) as err:
        relaxed.Workspace(spec)
    assert "normsyss" in str(err.value)
    assert err.value.path.startswith("channels[0].samples[1].modifiers[1]")
    # without schema validation the builder still names it
    with pytest.raises(InvalidModifier, match=r"modifiers\[1\]\.type: unknown modifier type"):
        relaxed.Workspace(spec, validate=False).model()


def test_schema_violation_names_the_path():
    spec = _workspace()
    del spec["channels"][1]["samples"][0]["data"]
    with pytest.raises(InvalidSpecification) as err:
        relaxed.Workspace(spec)
    assert err.value.path.startswith("channels[1].samples[0]")
    assert "data" in str(err.value)


def test_missing_observation_for_a_channel():
    spec = _workspace()
    spec["observations"] = spec["observations"][:1]
    ws = relaxed.Workspace(spec)
    with pytest.raises(InvalidData, match="no observed data for channel 'CR'"):
        ws.data(ws.model())


def test_observation_with_wrong_length_or_unknown_channel():
    spec = _workspace()
    spec["observations"][1]["data"] = [98.0, 1.0]
    ws = relaxed.Workspace(spec)
    with pytest.raises(InvalidData, match=r"observations\[1\]\.data: channel 'CR' has 1 bins"):
        ws.data(ws.model())
    spec = _workspace()
    spec["observations"][1]["name"] = "XR"
    with pytest.raises(InvalidData, match=r"observations\[1\]\.name: .*unknown channel 'XR'"):
        relaxed.Workspace(spec)


def test_unknown_poi_and_measurement():
    ws = relaxed.Workspace(_workspace())
    with pytest.raises(InvalidModel, match="parameter of interest 'nope'.*'mu'"):
        ws.model(poi_name="nope")
    with pytest.raises(InvalidModel, match="several components"):
        ws.model(poi_name="unc")
    with pytest.raises(InvalidMeasurement, match=r"unknown measurement 'other'.*\['meas'\]"):
        ws.model(measurement_name="other")
    assert ws.model(poi_name=None).config.poi_index is None


def test_parameter_vector_of_wrong_length():
    ws = relaxed.Workspace(_workspace())
    model = ws.model()
    data = ws.data(model)
    with pytest.raises(InvalidParameters, match=r"length 6 .*'shape', 'mu'.*got shape \(5,\)"):
        model.logpdf(jnp.ones(5), data)
    with pytest.raises(InvalidParameters, match="got shape"):
        model.expected_data(np.ones((2, 3, 6)))
    with pytest.raises(InvalidData, match=r"expected data of length 8 .*got shape \(3,\)"):
        model.logpdf(model.config.suggested_init(), data[:3])


def test_lumi_needs_its_measurement_configuration():
    spec = _workspace()
    _bkg(spec)["modifiers"].append({"name": "lumi", "type": "lumi", "data": None})
    with pytest.raises(InvalidMeasurement, match="lumi parameter 'lumi' needs inits, bounds"):
        relaxed.Workspace(spec).model()
    spec["measurements"][0]["config"]["parameters"] = [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.02], "inits": [1.0], "bounds": [[0.9, 1.1]]}
    ]
    model = relaxed.Workspace(spec).model()
    assert model.config.param_set("lumi").pdf_type == "normal"


def test_measurement_configuration_errors():
    spec = _workspace()
    params = spec["measurements"][0]["config"]["parameters"]
    params.append({"name": "unc", "inits": [1.0]})
    with pytest.raises(InvalidMeasurement, match=r"parameters\[0\]\.inits: parameter 'unc' has 2"):
        relaxed.Workspace(spec).model()
    params[0] = {"name": "mu", "sigmas": [0.1]}
    with pytest.raises(InvalidMeasurement, match=r"parameters\[0\]\.sigmas: parameter 'mu'"):
        relaxed.Workspace(spec).model()
    params[0] = {"name": "mu", "bounds": [[5.0, 1.0]]}
    with pytest.raises(InvalidMeasurement, match=r"bounds\[0\]: lower bound 5\.0 is above"):
        relaxed.Workspace(spec).model()
    params[0] = {"name": "mu", "fixed": True}
    params.append({"name": "mu", "inits": [2.0]})
    with pytest.raises(
        InvalidMeasurement, match=r"parameters\[1\]\.name: parameter 'mu' is configured twice"
    ):
        relaxed.Workspace(spec).model()


def test_incompatible_shared_names():
    spec = _workspace()
    spec["channels"][1]["samples"][0]["modifiers"].append(
        {"name": "mu", "type": "shapefactor", "data": None}
    )
    with pytest.raises(
        InvalidModel, match="parameter 'mu' is used by modifiers of types normfactor, shapefactor"
    ):
        relaxed.Workspace(spec).model()
    spec = _workspace()
    spec["channels"][1]["samples"][0]["modifiers"].append(
        {"name": "unc", "type": "shapesys", "data": [1.0]}
    )
    with pytest.raises(InvalidModifier, match="shapesys 'unc' is already used at channels"):
        relaxed.Workspace(spec).model()


def test_duplicate_channel_and_sample_names():
    spec = _workspace()
    spec["channels"][1]["name"] = "SR"
    with pytest.raises(InvalidModel, match=r"channels\[1\]\.name: channel 'SR' is defined twice"):
        relaxed.Workspace(spec)
    with pytest.raises(InvalidModel, match=r"channels\[1\]\.name: channel 'SR' is defined twice"):
        relaxed.Model({"channels": spec["channels"]})
    spec = _workspace()
    spec["channels"][0]["samples"][1]["name"] = "signal"
    with pytest.raises(InvalidModel, match=r"samples\[1\]\.name: sample 'signal' appears twice"):
        relaxed.Workspace(spec).model()


def test_unsupported_interpolation_code():
    ws = relaxed.Workspace(_workspace())
    with pytest.raises(InvalidModifier, match="normsys interpcode 'code0' is not supported"):
        ws.model(modifier_settings={"normsys": {"interpcode": "code0"}})
    with pytest.raises(InvalidModifier, match="histosys interpcode 'code4' is not supported"):
        ws.model(modifier_settings={"histosys": {"interpcode": "code4"}})


def test_staterror_must_cover_the_same_channels_for_every_sample():
    spec = _workspace()
    _bkg(spec)["modifiers"].append({"name": "stat_CR", "type": "staterror", "data": [1.0, 1.0]})
    spec["channels"][0]["samples"][0]["modifiers"].append(
        {"name": "stat_CR", "type": "staterror", "data": [1.0, 1.0]}
    )
    with pytest.raises(InvalidModel, match="staterror 'stat_CR' is in channels"):
        relaxed.Workspace(spec).model()


def test_workspace_round_trips_through_json(tmp_path):
    spec = _workspace()
    spec["channels"][0]["samples"][0]["data"] = np.asarray([5.0, 10.0])
    ws = relaxed.Workspace(spec)
    path = tmp_path / "ws.json"
    text = ws.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) == _workspace()
    again = relaxed.Workspace.load(path)
    np.testing.assert_allclose(again.data(again.model()), ws.data(ws.model()))
    assert ws.channels == ["CR", "SR"]
    assert ws.samples == ["bkg", "signal"]
    assert ws.parameters == ["mu", "norm", "shape", "stat_CR", "unc"]
    assert ws.measurement_names == ["meas"]


def test_failed_write_keeps_existing_file(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text("previous")
    spec = copy.deepcopy(_workspace())
    spec["channels"][0]["samples"][0]["data"] = [5.0, object()]
    ws = relaxed.Workspace(spec, validate=False)
    with pytest.raises(TypeError):
        ws.to_json(path)
    assert path.read_text() == "previous"
