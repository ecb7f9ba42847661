"""The HistFactory JSON schema: valid documents pass, violations name their place."""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import WORKSPACE_FILES, load_json

from relaxed.exceptions import InvalidSpecification
from relaxed.histfactory import schema


@pytest.mark.parametrize("name", WORKSPACE_FILES)
def test_reference_workspaces_are_valid(name):
    schema.validate(load_json(name), kind="workspace")


def test_schema_document_is_a_valid_json_schema():
    import jsonschema

    document = schema.load_schema()
    jsonschema.validators.validator_for(document).check_schema(document)
    assert document["$defs"]["workspace"]["properties"]["version"] == {"const": "1.0.0"}


def test_patchset_schema_document_is_a_valid_json_schema():
    import jsonschema

    from relaxed.histfactory import patchset

    document = patchset._schema_document()
    jsonschema.validators.validator_for(document).check_schema(document)
    assert set(document["$defs"]) >= {"metadata", "patch", "operation"}
    for definition in (None, "patch", "operation"):
        assert patchset._validator(definition).schema["$schema"] == document["$schema"]


@pytest.fixture
def workspace():
    return copy.deepcopy(load_json("hs3/simplemodel_uncorrelated-background_hifa.json"))


def _raises(spec, kind="workspace"):
    with pytest.raises(InvalidSpecification) as err:
        schema.validate(spec, kind=kind)
    return err.value


def test_wrong_version(workspace):
    workspace["version"] = "2.0.0"
    err = _raises(workspace)
    assert err.path == "version"
    assert "2.0.0" in str(err) and "1.0.0" in str(err)


def test_missing_top_level_key(workspace):
    del workspace["observations"]
    err = _raises(workspace)
    assert err.path == ""
    assert "observations" in str(err)


def test_unexpected_key(workspace):
    workspace["channels"][0]["samples"][0]["colour"] = "red"
    err = _raises(workspace)
    assert err.path == "channels[0].samples[0]"
    assert "colour" in str(err)


def test_unknown_modifier_type_lists_the_types(workspace):
    workspace["channels"][0]["samples"][1]["modifiers"][0]["type"] = "shapesis"
    err = _raises(workspace)
    assert err.path == "channels[0].samples[1].modifiers[0].type"
    for name in schema.MODIFIER_TYPES:
        assert name in str(err)


@pytest.mark.parametrize(
    ("modifier", "where"),
    [
        ({"name": "n", "type": "normsys", "data": {"hi": 1.1}}, ".data"),
        ({"name": "h", "type": "histosys", "data": {"hi_data": [1.0], "lo": [1.0]}}, ".data"),
        ({"name": "s", "type": "shapesys", "data": ["x"]}, ".data[0]"),
        ({"name": "f", "type": "normfactor", "data": [1.0]}, ".data"),
        ({"name": "lumi2", "type": "lumi", "data": None}, ".name"),
    ],
)
def test_modifier_data_follows_its_type(workspace, modifier, where):
    workspace["channels"][0]["samples"][0]["modifiers"].append(modifier)
    err = _raises(workspace)
    assert err.path == "channels[0].samples[0].modifiers[1]" + where


def test_measurement_parameter_keys(workspace):
    workspace["measurements"][0]["config"]["parameters"].append({"name": "mu", "bound": [[0, 1]]})
    err = _raises(workspace)
    assert err.path.startswith("measurements[0].config.parameters[")
    assert "bound" in str(err)


def test_bounds_are_pairs(workspace):
    workspace["measurements"][0]["config"]["parameters"].append(
        {"name": "mu", "bounds": [[0.0, 1.0, 2.0]]}
    )
    assert "bounds[0]" in _raises(workspace).path


def test_model_kind(workspace):
    model_spec = {"channels": workspace["channels"], "parameters": []}
    schema.validate(model_spec, kind="model")
    assert _raises(workspace, kind="model").path == ""  # workspace keys are not model keys
    with pytest.raises(InvalidSpecification, match="JSON object"):
        schema.validate([model_spec], kind="model")
    with pytest.raises(ValueError, match="kind"):
        schema.validate(model_spec, kind="patchset")


def test_arrays_and_tracers_are_validated_by_shape(workspace):
    spec = {"channels": workspace["channels"]}
    spec["channels"][0]["samples"][0]["data"] = np.array([1.0, 2.0])
    schema.validate(spec, kind="model")

    def check(yields):
        spec["channels"][0]["samples"][0]["data"] = yields
        schema.validate(spec, kind="model")
        return jnp.sum(yields)

    jax.grad(check)(jnp.array([1.0, 2.0]))
    spec["channels"][0]["samples"][0]["data"] = jnp.ones((0,))
    assert _raises(spec, kind="model").path == "channels[0].samples[0].data"


def test_skeleton_keeps_nesting():
    assert schema.skeleton({"a": (np.zeros((2, 1)), None)}) == {"a": [[[0.0], [0.0]], None]}
