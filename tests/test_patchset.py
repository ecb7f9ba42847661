"""Patches and patch sets (pyhf's PatchSet format) against pyhf 0.7.6.

Reference files: pyhf's example patch set (tests/test_patchset.py in pyhf) and published ATLAS
patch sets (3L eRJR, 1Lbb simplified; see ``atlas_real/SOURCES.md``), read from the shared
reference data. Few models are built, so the module stays fast.
"""

from __future__ import annotations

import copy
import json
import logging

import jsonpatch
import jsonpointer
import numpy as np
import pyhf
import pytest
from conftest import load_json, shared_path

import relaxed
from relaxed.exceptions import (
    InvalidMeasurement,
    InvalidModel,
    InvalidPatch,
    InvalidPatchLookup,
    InvalidPatchSet,
    PatchSetVerificationError,
    RelaxedError,
)
from relaxed.histfactory.patchset import apply_patch, digest

pyhf.set_backend("numpy")
logging.getLogger("pyhf").setLevel(logging.ERROR)  # "multiple measurements defined" notices

EXAMPLE_PATCHSET = "pyhf/tests_test_patchset_example_patchset.json"
EXAMPLE_BKGONLY = "pyhf/tests_test_patchset_example_bkgonly.json"
ERJR = "atlas_real/ATLAS-SUSY-2018-06_3L-eRJR"
ONELBB = "atlas_real/ATLAS-SUSY-2019-08_1Lbb-simplified"
ERJR_POINTS = ["ERJR_150p0_1p0", "ERJR_350p0_0p0", "ERJR_400p0_0p0"]
ONELBB_POINTS = ["C1N2_Wh_hbb_500_0", "C1N2_Wh_hbb_750_150", "C1N2_Wh_hbb_800_0"]


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _logpdf_pair(model, pmodel, pars, data) -> tuple[float, float]:
    ours = float(np.asarray(model.logpdf(np.asarray(pars), np.asarray(data))).ravel()[0])
    theirs = float(np.ravel(pmodel.logpdf(np.asarray(pars), np.asarray(data)))[0])
    return ours, theirs


def _random_pars(pmodel, rng) -> np.ndarray:
    init = np.asarray(pmodel.config.suggested_init(), dtype=float)
    lo, hi = np.asarray(pmodel.config.suggested_bounds(), dtype=float).T
    fixed = np.asarray(pmodel.config.suggested_fixed())
    pars = np.clip(init + rng.normal(0.0, 0.3, size=init.shape), np.maximum(lo, 1e-3), hi)
    return np.where(fixed, init, pars)


def _tiny_patchset() -> dict:
    return {
        "metadata": {
            "description": "tiny",
            "digests": {"sha256": "0" * 64},
            "labels": ["m1", "m2"],
            "references": {"hepdata": "ins1234567"},
        },
        "patches": [
            {"metadata": {"name": "a_1_2", "values": [1, 2]}, "patch": []},
            {"metadata": {"name": "b_3_4", "values": [3.0, 4.5]}, "patch": []},
        ],
        "version": "1.0.0",
    }


@pytest.fixture(scope="module")
def example():
    return load_json(EXAMPLE_PATCHSET), load_json(EXAMPLE_BKGONLY)


# -- digests --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "obj",
    [
        {"a": 2.0, "b": [1, 2.5, None, True], "c": {"z": "x", "y": 1e-300}},
        {"name": "ünïcødé ✓", "data": [0.1, 1e20, -3]},
        [1, "two", 3.0],
    ],
)
@pytest.mark.parametrize("algorithm", ["sha256", "md5", "sha1"])
def test_digest_is_pyhfs(obj, algorithm):
    assert digest(obj, algorithm) == pyhf.utils.digest(obj, algorithm=algorithm)


def test_digest_of_workspaces_is_pyhfs(example):
    _, bkg = example
    ws = relaxed.Workspace(bkg)
    expected = pyhf.utils.digest(pyhf.Workspace(bkg))
    assert digest(ws.to_dict()) == expected == digest(bkg)
    reordered = json.loads(json.dumps(bkg, sort_keys=True))  # key order does not matter
    assert digest(reordered) == expected


def test_digest_errors():
    with pytest.raises(relaxed.exceptions.InvalidArgument, match="not JSON"):
        digest({"a": object()})
    with pytest.raises(relaxed.exceptions.InvalidArgument, match="unknown hash algorithm 'sha7'"):
        digest({"a": 1}, "sha7")


# -- pyhf's example patch set -----------------------------------------------------------------
def test_example_patchset_metadata(example):
    doc, _ = example
    patchset = relaxed.PatchSet(doc)
    theirs = pyhf.PatchSet(doc)
    assert patchset.version == theirs.version == "1.0.0"
    assert patchset.description == theirs.description
    assert patchset.digests == theirs.digests
    assert patchset.labels == theirs.labels == ["x"]
    assert patchset.references == theirs.references == {"hepdata": "ins1234567"}
    assert len(patchset) == len(theirs) == 1
    assert [p.name for p in patchset] == [p.name for p in theirs]
    (patch,) = patchset.patches
    assert isinstance(patch, relaxed.Patch)
    assert patch.name == "patch_channel1_signal_syst1"
    assert patch.values == theirs.patches[0].values == (0,)
    assert patch.operations == theirs.patches[0].patch == doc["patches"][0]["patch"]
    assert patch.metadata == doc["patches"][0]["metadata"]
    assert patch.to_dict() == doc["patches"][0]
    assert patchset[patch.name] is patchset[(0,)] is patchset[[0]] is patchset[0,] is patch
    assert patch in list(patchset) and (0,) in patchset and "nope" not in patchset


def test_example_patchset_verifies(example):
    doc, bkg = example
    relaxed.PatchSet(doc).verify(relaxed.Workspace(bkg))
    relaxed.PatchSet(doc).verify(bkg)
    pyhf.PatchSet(doc).verify(pyhf.Workspace(bkg))  # pyhf agrees


@pytest.mark.parametrize("measurement", ["GaussExample", "GammaExample", "LogNormExample"])
def test_example_patch_gives_pyhfs_model(example, measurement):
    doc, bkg = example
    patchset, theirs = relaxed.PatchSet(doc), pyhf.PatchSet(doc)
    name = "patch_channel1_signal_syst1"
    ws = patchset.apply(relaxed.Workspace(bkg), name)
    pws = theirs.apply(pyhf.Workspace(bkg), name)
    assert ws.to_dict() == dict(pws)
    model, pmodel = ws.model(measurement), pws.model(measurement_name=measurement)
    assert model.config.par_order == pmodel.config.par_order
    data = np.asarray(pws.data(pmodel))
    np.testing.assert_array_equal(np.asarray(ws.data(model)), data)
    rng = np.random.default_rng(7)
    for pars in [pmodel.config.suggested_init(), _random_pars(pmodel, rng)]:
        ours, expected = _logpdf_pair(model, pmodel, pars, data)
        assert _rel(ours, expected) < 1e-10


def test_model_patches_match_pyhf_and_accept_every_form(example):
    doc, bkg = example
    ws, pws = relaxed.Workspace(bkg), pyhf.Workspace(bkg)
    before = copy.deepcopy(bkg)
    patch = relaxed.PatchSet(doc)["patch_channel1_signal_syst1"]
    pmodel = pws.model(patches=[pyhf.PatchSet(doc)["patch_channel1_signal_syst1"]])
    data = np.asarray(pws.data(pmodel))
    pars = _random_pars(pmodel, np.random.default_rng(3))
    forms = [patch, patch.operations, jsonpatch.JsonPatch(patch.operations), doc["patches"][0]]
    for form in forms:
        model = ws.model(patches=[form])
        assert model.config.par_order == pmodel.config.par_order
        ours, expected = _logpdf_pair(model, pmodel, pars, data)
        assert _rel(ours, expected) < 1e-10
    assert ws.spec == before == bkg  # the workspace's document never changes
    assert ws.model(patches=[]).config.par_order == ws.model().config.par_order


def test_patches_apply_in_order():
    ws = relaxed.Workspace(_one_channel_workspace())
    add = [{"op": "add", "path": "/channels/0/samples/-", "value": _signal([5.0])}]
    scale = [{"op": "replace", "path": "/channels/0/samples/1/data", "value": [8.0]}]
    model = ws.model(patches=[add, scale])
    assert model.config.samples == ["bkg", "sig"]
    np.testing.assert_allclose(np.asarray(model.expected_actualdata([2.0])), [66.0])
    with pytest.raises(InvalidPatch, match=r"patches\[0\]\[0\] \(replace /channels/0/samples/1"):
        ws.model(patches=[scale, add])


def test_patch_values_are_not_shared_or_mutated():
    # a patch that adds a sample and then edits it: the edit must not reach the patch itself
    ops = [
        {"op": "add", "path": "/channels/0/samples/-", "value": _signal([5.0])},
        {"op": "replace", "path": "/channels/0/samples/1/data/0", "value": 9.0},
    ]
    patch = relaxed.Patch({"metadata": {"name": "p", "values": [1]}, "patch": ops})
    ws = relaxed.Workspace(_one_channel_workspace())
    first, second = ws.patch(patch), ws.patch(patch)
    assert patch.operations[0]["value"]["data"] == [5.0] and ops[0]["value"]["data"] == [5.0]
    first.spec["channels"][0]["samples"][1]["data"][0] = -1.0
    assert second.spec["channels"][0]["samples"][1]["data"] == [9.0]
    assert ws.spec == _one_channel_workspace()


def test_workspace_patch_changes_observations_and_measurements():
    ws = relaxed.Workspace(_one_channel_workspace())
    new = ws.patch(
        [
            {"op": "replace", "path": "/observations/0/data", "value": [61.0]},
            {"op": "replace", "path": "/measurements/0/name", "value": "other"},
            {"op": "add", "path": "/channels/0/samples/-", "value": _signal([5.0])},
        ]
    )
    assert new.observations() == {"SR": [61.0]} and new.measurement_names == ["other"]
    model = new.model()
    np.testing.assert_array_equal(np.asarray(new.data(model)), [61.0])
    assert ws.observations() == {"SR": [52.0]} and ws.measurement_names == ["m"]
    with pytest.raises(InvalidMeasurement):
        new.model("m")


# -- errors -------------------------------------------------------------------------------------
def test_wrong_digest_raises(example):
    doc, bkg = example
    bad = copy.deepcopy(doc)
    bad["metadata"]["digests"]["sha256"] = "ab" * 32
    patchset = relaxed.PatchSet(bad)
    actual = pyhf.utils.digest(bkg)
    with pytest.raises(PatchSetVerificationError) as info:
        patchset.verify(relaxed.Workspace(bkg))
    assert "ab" * 32 in str(info.value) and actual in str(info.value)
    assert (info.value.algorithm, info.value.expected, info.value.actual) == (
        "sha256",
        "ab" * 32,
        actual,
    )
    with pytest.raises(PatchSetVerificationError):
        patchset.apply(relaxed.Workspace(bkg), "patch_channel1_signal_syst1")
    with pytest.raises(pyhf.exceptions.PatchSetVerificationError):
        pyhf.PatchSet(bad).verify(pyhf.Workspace(bkg))  # pyhf agrees
    changed = copy.deepcopy(bkg)
    changed["observations"][0]["data"][0] += 1.0
    with pytest.raises(PatchSetVerificationError, match="sha256"):
        relaxed.PatchSet(doc).verify(changed)


def test_unknown_keys_raise():
    patchset = relaxed.PatchSet(_tiny_patchset())
    with pytest.raises(InvalidPatchLookup, match=r"no patch is named 'c_5_6'.*'a_1_2', 'b_3_4'"):
        patchset["c_5_6"]
    with pytest.raises(InvalidPatchLookup, match=r"values \(5, 6\) .*\(1, 2\), \(3\.0, 4\.5\)"):
        patchset[5, 6]
    with pytest.raises(InvalidPatchLookup, match="by its name .* or its values"):
        patchset[1]
    with pytest.raises(KeyError) as info:  # also a KeyError, shown without quotes
        patchset["c_5_6"]
    assert str(info.value).startswith("no patch is named 'c_5_6'")
    assert info.value.key == "c_5_6"
    assert patchset[3, 4.5].name == "b_3_4" and patchset[1.0, 2.0].name == "a_1_2"
    with pytest.raises(InvalidPatchLookup):
        patchset.apply(relaxed.Workspace(_one_channel_workspace()), "c_5_6", verify=False)


def _set(path, value):
    def change(doc):
        *parents, last = path
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def _drop(path):
    def change(doc):
        *parents, last = path
        node = doc
        for key in parents:
            node = node[key]
        del node[last]

    return change


def _duplicate_patch(rename):
    def change(doc):
        extra = copy.deepcopy(doc["patches"][0])
        if rename:
            extra["metadata"]["name"] = "c_other"
        doc["patches"].append(extra)

    return change


MALFORMED = {
    "no_version": (_drop(["version"]), "", "missing required key: 'version'"),
    "bad_version": (_set(["version"], "2.0.0"), "version", "unsupported version '2.0.0'"),
    "extra_key": (_set(["extra"], 1), "", "unexpected key"),
    "no_labels": (_drop(["metadata", "labels"]), "metadata", "missing required key: 'labels'"),
    "bad_digest": (
        _set(["metadata", "digests", "sha256"], "xyz"),
        "metadata.digests.sha256",
        "'xyz' is not a hexadecimal sha256 digest",
    ),
    "bad_hepdata": (
        _set(["metadata", "references", "hepdata"], "1234"),
        "metadata.references.hepdata",
        "not a HEPData record id",
    ),
    "no_patches": (_set(["patches"], []), "patches", "at least one patch"),
    "bad_name": (
        _set(["patches", 1, "metadata", "name"], "b 3"),
        "patches[1].metadata.name",
        "'b 3' is not a valid name",
    ),
    "values_vs_labels": (
        _set(["patches", 1, "metadata", "values"], [3, 4, 5]),
        "patches[1].metadata.values",
        "patch 'b_3_4' has 3 values but the patch set has 2 labels ['m1', 'm2']",
    ),
    "duplicate_name": (
        _duplicate_patch(rename=False),
        "patches[2].metadata.name",
        "patch 'a_1_2' is defined twice (also at patches[0])",
    ),
    "duplicate_values": (
        _duplicate_patch(rename=True),
        "patches[2].metadata.values",
        "patch 'c_other' has the values (1, 2) of patch 'a_1_2' (patches[0])",
    ),
    "unknown_op": (
        _set(["patches", 0, "patch"], [{"op": "frobnicate", "path": "/a"}]),
        "patches[0].patch[0].op",
        "unknown operation 'frobnicate'",
    ),
    "add_without_value": (
        _set(["patches", 0, "patch"], [{"op": "add", "path": "/a"}]),
        "patches[0].patch[0]",
        "missing required key: 'value'",
    ),
    "move_without_from": (
        _set(["patches", 0, "patch"], [{"op": "move", "path": "/a"}]),
        "patches[0].patch[0]",
        "missing required key: 'from'",
    ),
    "patch_not_a_list": (
        _set(["patches", 0, "patch"], {"op": "add"}),
        "patches[0].patch",
        "is not of type 'array'",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_patchsets_raise(case):
    change, path, message = MALFORMED[case]
    doc = _tiny_patchset()
    change(doc)
    with pytest.raises(InvalidPatchSet) as info:
        relaxed.PatchSet(doc)
    assert info.value.path == path
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}: ") or not path
    pyhf_errors = (
        pyhf.exceptions.InvalidSpecification,
        pyhf.exceptions.InvalidPatchSet,
        pyhf.exceptions.SchemaNotFound,  # an unknown version
    )
    with pytest.raises(pyhf_errors):
        pyhf.PatchSet(doc)  # pyhf rejects these documents too


def test_checks_without_schema_validation():
    doc = _tiny_patchset()
    _duplicate_patch(rename=True)(doc)
    with pytest.raises(InvalidPatchSet, match="has the values"):
        relaxed.PatchSet(doc, validate=False)
    with pytest.raises(InvalidPatchSet, match="missing required key: 'patches'"):
        relaxed.PatchSet({"metadata": _tiny_patchset()["metadata"]}, validate=False)
    with pytest.raises(InvalidPatchSet, match="a patch set is a JSON object"):
        relaxed.PatchSet([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidPatchSet, match="metadata: missing required key: 'values'"):
        relaxed.Patch({"metadata": {"name": "p"}, "patch": []})


def test_conflicting_patch_raises(example):
    doc, bkg = example
    ws = relaxed.Workspace(bkg)
    conflict = [
        {"op": "add", "path": "/channels/0/samples/-", "value": _signal([1.0, 2.0])},
        {"op": "add", "path": "/channels/3/samples/0", "value": _signal([1.0, 2.0])},
    ]
    with pytest.raises(InvalidPatch) as info:
        ws.model(patches=[relaxed.PatchSet(doc).patches[0], conflict])
    message = str(info.value)
    assert message.startswith("patches[1][1] (add /channels/3/samples/0): /channels is a list")
    assert (info.value.patch, info.value.path) == ("patches[1]", "patches[1][1]")
    assert info.value.operation["path"] == "/channels/3/samples/0"
    pyhf_errors = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException)
    with pytest.raises(pyhf_errors):  # pyhf fails on it too, less clearly
        pyhf.Workspace(bkg).model(patches=[conflict])
    named = relaxed.Patch({"metadata": {"name": "sig_1", "values": [1]}, "patch": conflict})
    with pytest.raises(InvalidPatch, match=r"patch\[1\] \(add /channels/3/samples/0\) of patch"):
        ws.patch(named)
    removal = [{"op": "remove", "path": "/channels/0/samples/7"}]
    with pytest.raises(InvalidPatch, match="can't remove a non-existent object '7'"):
        ws.model(patches=[removal])
    failed_test = [{"op": "test", "path": "/channels/0/name", "value": "SR"}]
    with pytest.raises(InvalidPatch, match="test failed"):
        ws.model(patches=[failed_test])
    assert ws.spec == load_json(EXAMPLE_BKGONLY)


def test_patched_result_must_be_valid():
    ws = relaxed.Workspace(_one_channel_workspace())
    good = [{"op": "add", "path": "/channels/0/samples/-", "value": _signal([5.0])}]
    broken = [{"op": "replace", "path": "/channels/0/samples/0/data", "value": "many"}]
    with pytest.raises(InvalidPatch) as info:
        ws.model(patches=[good, broken, good])
    assert info.value.patch == "patches[1]" and info.value.path == "channels[0].samples[0].data"
    assert "patches[1]: the patched model specification is invalid" in str(info.value)
    with pytest.raises(InvalidPatch, match="patch: the patched workspace is invalid: observ"):
        ws.patch([{"op": "remove", "path": "/observations/0"}])
    with pytest.raises(InvalidModel) as model_error:  # schema-valid, inconsistent bins: a note
        ws.model(patches=[[{**good[0], "value": _signal([5.0, 6.0])}]])
    assert "patched by patches[0]" in " ".join(model_error.value.__notes__)


def test_malformed_patch_arguments_raise():
    ws = relaxed.Workspace(_one_channel_workspace())
    with pytest.raises(InvalidPatch, match=r"patches\[0\]: .* got a single operation"):
        ws.model(patches=[{"op": "remove", "path": "/channels/0"}])
    with pytest.raises(InvalidPatch, match="expected a list of patches"):
        ws.model(patches=jsonpatch.JsonPatch([]))
    with pytest.raises(InvalidPatch, match=r"patches\[0\]\[0\]: an operation is an object"):
        ws.model(patches=[["remove"]])
    with pytest.raises(InvalidPatch, match="Location must start with /"):
        ws.model(patches=[[{"op": "remove", "path": "channels"}]])
    with pytest.raises(InvalidPatch, match="use Workspace.patch") as info:
        ws.model(patches=[[{"op": "replace", "path": "/observations/0/data", "value": [1.0]}]])
    assert "use Workspace.patch" in " ".join(info.value.__notes__)
    assert issubclass(InvalidPatch, RelaxedError)


def test_apply_patch_leaves_document_alone():
    doc = {"a": [1, 2], "b": {"c": 3}}
    assert apply_patch(doc, [{"op": "move", "from": "/b/c", "path": "/a/0"}]) == {
        "a": [3, 1, 2],
        "b": {},
    }
    assert doc == {"a": [1, 2], "b": {"c": 3}}


# -- published ATLAS patch sets -------------------------------------------------------------------
@pytest.fixture(scope="module")
def erjr():
    return load_json(f"{ERJR}/patchset.json"), load_json(f"{ERJR}/BkgOnly.json")


@pytest.fixture(scope="module")
def onelbb():
    return load_json(f"{ONELBB}/simplified_patchset.json"), load_json(
        f"{ONELBB}/simplified_BkgOnly.json"
    )


def test_erjr_patchset_verifies(erjr):
    doc, bkg = erjr
    patchset = relaxed.PatchSet(doc)
    assert len(patchset) == 64 and patchset.labels == ["mn2", "mn1"]
    assert patchset.references == {"hepdata": "ins1771533"}
    assert patchset.metadata["analysis_id"] == "ANA-SUSY-2018-06"
    patchset.verify(relaxed.Workspace(bkg))
    pyhf.PatchSet(doc).verify(pyhf.Workspace(bkg))
    assert patchset["ERJR_350p0_0p0"] is patchset[350, 0] is patchset[350.0, 0.0]


def test_onelbb_patchset_does_not_verify_but_applies(onelbb):
    doc, bkg = onelbb
    patchset = relaxed.PatchSet(doc)
    assert len(patchset) == 125 and patchset.labels == ["m1", "m2"]
    expected = doc["metadata"]["digests"]["sha256"]
    with pytest.raises(PatchSetVerificationError) as info:
        patchset.verify(relaxed.Workspace(bkg))
    assert info.value.expected == expected and info.value.actual == pyhf.utils.digest(bkg)
    with pytest.raises(pyhf.exceptions.PatchSetVerificationError):
        pyhf.PatchSet(doc).verify(pyhf.Workspace(bkg))
    name = "C1N2_Wh_hbb_750_150"
    ws = patchset.apply(relaxed.Workspace(bkg), (750, 150), verify=False)
    pws = pyhf.Workspace(pyhf.PatchSet(doc)[name].apply(bkg))
    assert ws.to_dict() == dict(pws)
    model, pmodel = ws.model(), pws.model()
    data = np.asarray(pws.data(pmodel))
    for pars in [pmodel.config.suggested_init(), _random_pars(pmodel, np.random.default_rng(1))]:
        ours, theirs = _logpdf_pair(model, pmodel, pars, data)
        assert _rel(ours, theirs) < 1e-10


@pytest.mark.parametrize("point", ONELBB_POINTS)
def test_onelbb_single_patches_match_pyhf(onelbb, point):
    doc, bkg = onelbb
    operations = json.loads(shared_path(f"{ONELBB}/patch_{point}.json").read_text())
    assert relaxed.PatchSet(doc)[point].operations == operations
    ws, pws = relaxed.Workspace(bkg), pyhf.Workspace(bkg)
    model, pmodel = ws.model(patches=[operations]), pws.model(patches=[operations])
    assert model.config.par_order == pmodel.config.par_order
    data = np.asarray(pws.data(pmodel))
    ours, theirs = _logpdf_pair(model, pmodel, pmodel.config.suggested_init(), data)
    assert _rel(ours, theirs) < 1e-9


@pytest.mark.parametrize("point", ERJR_POINTS)
def test_erjr_single_patches_match_pyhf(erjr, point):
    doc, bkg = erjr
    operations = json.loads(shared_path(f"{ERJR}/patch.{point}.json").read_text())
    ws, pws = relaxed.Workspace(bkg), pyhf.Workspace(bkg)
    model, pmodel = ws.model(patches=[operations]), pws.model(patches=[operations])
    assert model.config.par_order == pmodel.config.par_order
    init = np.asarray(pmodel.config.suggested_init())
    data = np.asarray(pws.data(pmodel))
    # the patched workspace is pyhf's, and so is the one from the patch set's entry
    patched = pyhf.Workspace(jsonpatch.apply_patch(bkg, operations))
    assert ws.patch(operations).to_dict() == dict(patched)
    assert ws.patch(relaxed.PatchSet(doc)[point]).to_dict() == dict(patched)
    same = relaxed.Workspace(dict(patched)).model()
    np.testing.assert_array_equal(np.asarray(model.logpdf(init, data)), same.logpdf(init, data))
    # The signal enters the main (Poisson) term: equal to pyhf to 1e-9. The constraint term
    # holds a shapesys with tau = 1.9e11, whose Poisson terms of ~5e12 cancel to ~-14: pyhf's
    # direct sum n log(lam) - lam - lgamma(n + 1) is off by a few units of float64 rounding at
    # 5e12 (2**-10 each), so the total agrees only to that absolute precision.
    n = pmodel.config.nmaindata
    ours = float(np.ravel(model.mainlogpdf(data[:n], init))[0])
    theirs = float(np.ravel(pmodel.mainlogpdf(data[:n], init))[0])
    assert _rel(ours, theirs) < 1e-9
    ours, theirs = _logpdf_pair(model, pmodel, init, data)
    assert abs(ours - theirs) < 4 * 2.0**-10


# -- helpers ------------------------------------------------------------------------------------
def _signal(data):
    return {
        "name": "sig",
        "data": data,
        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
    }


def _one_channel_workspace():
    return {
        "channels": [{"name": "SR", "samples": [{"name": "bkg", "data": [50.0], "modifiers": []}]}],
        "observations": [{"name": "SR", "data": [52.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
