"""Aligning patched specifications to one structure (relaxed.histfactory.align) changes no
model: the same expected rates, the same CLs; and the grid built on it agrees with hypotest."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from random_workspaces import workspaces

import relaxed
from relaxed.histfactory.align import align
from relaxed.histfactory.patchset import digest
from relaxed.histfactory.workspace import _patched_model_spec
from relaxed.infer.grid import hypotest_grid, structure_key

MU = {"name": "mu", "type": "normfactor", "data": None}
LUMI = {"name": "lumi", "type": "lumi", "data": None}


def _bkg(data: list[float]) -> dict:
    return {
        "name": "bkg",
        "data": data,
        "modifiers": [
            {"name": "jes", "type": "normsys", "data": {"hi": 1.05, "lo": 0.96}},
            {
                "name": "shape",
                "type": "histosys",
                "data": {"hi_data": [x * 1.04 for x in data], "lo_data": [x * 0.97 for x in data]},
            },
            LUMI,
        ],
    }


WORKSPACE = {
    "channels": [
        {"name": "A", "samples": [_bkg([40.0, 22.0])]},
        {"name": "B", "samples": [_bkg([30.0])]},
    ],
    "observations": [{"name": "A", "data": [44.0, 20.0]}, {"name": "B", "data": [33.0]}],
    "measurements": [
        {
            "name": "m",
            "config": {
                "poi": "mu",
                "parameters": [
                    {
                        "name": "lumi",
                        "auxdata": [1.0],
                        "sigmas": [0.02],
                        "inits": [1.0],
                        "bounds": [[0.5, 1.5]],
                    }
                ],
            },
        }
    ],
    "version": "1.0.0",
}


def _signal(name: str, data: list[float], modifiers: list[dict]) -> dict:
    return {"name": name, "data": data, "modifiers": [MU, *modifiers]}


def _xsec(hi: float) -> dict:
    return {"name": "xsec", "type": "normsys", "data": {"hi": hi, "lo": 2.0 - hi}}


def _point(name: str, ops: list[tuple[int, dict]]) -> dict:
    return {
        "metadata": {"name": name, "values": [float(sum(map(ord, name)))]},
        "patch": [{"op": "add", "path": f"/channels/{c}/samples/1", "value": v} for c, v in ops],
    }


POINTS = [
    # signal everywhere, with a cross-section normsys and a histosys shared with the background
    _point(
        "full",
        [
            (0, _signal("sig_full", [9.0, 4.0], [_xsec(1.1), LUMI])),
            (1, _signal("sig_full", [3.0], [_xsec(1.1), LUMI])),
        ],
    ),
    # no signal in channel B: a zero sample is added there
    _point("onlyA", [(0, _signal("sig_onlyA", [12.0, 2.0], [_xsec(1.08), LUMI]))]),
    # no xsec systematic, and one that no other point has: neutral normsys both ways
    _point(
        "other",
        [
            (
                0,
                _signal(
                    "sig_other",
                    [5.0, 6.0],
                    [LUMI, {"name": "pdf", "type": "normsys", "data": {"hi": 1.2, "lo": 0.9}}],
                ),
            ),
            (1, _signal("sig_other", [2.0], [LUMI])),
        ],
    ),
    # a staterror cannot be made neutral: this point keeps a structure of its own
    _point(
        "mcstat",
        [
            (0, _signal("sig_mcstat", [7.0, 3.0], [_xsec(1.1), LUMI])),
            (
                1,
                _signal(
                    "sig_mcstat",
                    [4.0],
                    [_xsec(1.1), LUMI, {"name": "staterror_B", "type": "staterror", "data": [0.5]}],
                ),
            ),
        ],
    ),
]


@pytest.fixture(scope="module")
def specs() -> tuple[dict, list[dict], list[dict]]:
    ws = relaxed.Workspace(WORKSPACE)
    base = {
        "channels": ws.to_dict()["channels"],
        "parameters": WORKSPACE["measurements"][0]["config"]["parameters"],
    }
    patched = [_patched_model_spec(base, [p["patch"]])[0] for p in POINTS]
    before = copy.deepcopy(patched)
    aligned = align(base, patched)
    assert patched == before  # the inputs are not modified
    return base, patched, aligned


def test_align_keeps_every_rate(specs) -> None:
    _, patched, aligned = specs
    for original, new in zip(patched, aligned, strict=True):
        m0, m1 = relaxed.Model(original), relaxed.Model(new)
        for shift in (0.0, 0.7, -1.3):
            p0 = np.asarray(m0.config.suggested_init(), dtype=float)
            p1 = np.asarray(m1.config.suggested_init(), dtype=float)
            for name in m0.config.par_order:  # move every parameter the original has
                s0, s1 = m0.config.par_slice(name), m1.config.par_slice(name)
                p0[s0] += shift
                p1[s1] += shift
            np.testing.assert_allclose(
                np.asarray(m0.expected_actualdata(p0)),
                np.asarray(m1.expected_actualdata(p1)),
                rtol=1e-14,
                atol=1e-12,
            )
        # parameters only ever get added, and an added one changes no rate
        assert set(m0.config.par_order) <= set(m1.config.par_order)


def test_align_shares_structures(specs) -> None:
    _, patched, aligned = specs
    before = {structure_key(relaxed.Model(s)) for s in patched}
    after = [structure_key(relaxed.Model(s)) for s in aligned]
    assert len(before) == 4
    # full, onlyA and other share one structure; mcstat (staterror) keeps its own
    assert after[0] == after[1] == after[2] != after[3]
    zero = aligned[1]["channels"][1]["samples"][1]
    assert zero["name"] == "sig_onlyA" and zero["data"] == [0.0]
    neutral = {m["name"]: m["data"] for m in aligned[2]["channels"][0]["samples"][1]["modifiers"]}
    assert neutral["xsec"] == {"hi": 1.0, "lo": 1.0} and neutral["pdf"] == {"hi": 1.2, "lo": 0.9}


def _patchset(points: list[dict]) -> relaxed.PatchSet:
    metadata = {
        "description": "alignment test",
        "labels": ["n"],
        "digests": {"sha256": digest(WORKSPACE)},
        "references": {"hepdata": "ins0000000"},
    }
    return relaxed.PatchSet({"metadata": metadata, "version": "1.0.0", "patches": points})


def test_grid_equals_hypotest_on_aligned_patches() -> None:
    """The grid runs on aligned models; its CLs are those of hypotest on each patch's own
    model: a point given a zero-yield sample (onlyA) and one given neutral systematics and
    a parameter no rate depends on (other). (The rates are checked for all points above;
    compiling a direct test for each structure is what this test pays for.)"""
    ws = relaxed.Workspace(WORKSPACE)
    patchset = _patchset(POINTS)
    records = hypotest_grid(ws, patchset)
    assert [r["name"] for r in records] == [p["metadata"]["name"] for p in POINTS]
    again = hypotest_grid(ws, patchset, poi_test=2.0)  # the prepared models are reused
    for i in (1, 2):
        model = ws.model(patches=[POINTS[i]["patch"]])
        data = ws.data(model)
        obs, exp = relaxed.infer.hypotest(1.0, data, model, return_expected_set=True)
        assert records[i]["converged"]
        np.testing.assert_allclose(records[i]["CLs_obs"], float(obs), rtol=1e-9)
        np.testing.assert_allclose(records[i]["CLs_exp"], np.ravel(exp), rtol=1e-9)
        obs2 = relaxed.infer.hypotest(2.0, data, model)
        np.testing.assert_allclose(again[i]["CLs_obs"], float(obs2), rtol=1e-9)
    assert all(r["converged"] and 0 < r["CLs_obs"] < 1 for r in records)


TINY = _point(
    "tiny",  # so little signal that no limit is below the POI's upper bound (10)
    [
        (0, _signal("sig_tiny", [0.01, 0.005], [_xsec(1.1), LUMI])),
        (1, _signal("sig_tiny", [0.003], [_xsec(1.1), LUMI])),
    ],
)


def test_grid_upper_limits_equal_upper_limit() -> None:
    ws = relaxed.Workspace(WORKSPACE)
    records = hypotest_grid(ws, _patchset([*POINTS[:2], TINY]), upper_limits=True)
    # a limit beyond the POI's bound is None with a note, never a clipped number
    assert records[2]["upper_limit_obs"] is None
    assert records[2]["upper_limit_exp"] == [None] * 5
    assert "not bracketed inside the POI bounds [0, 10]" in records[2]["upper_limit_note"]
    assert "upper_limit_note" not in records[0] and "upper_limit_note" not in records[1]
    # each limit is where its CLs crosses the level: CLs at mu = limit is 0.05 (the grid's
    # test at another poi_test reuses its compiled program; hypotest agrees with it above)
    patchset = _patchset([*POINTS[:2], TINY])
    for point in (0, 1):
        limits = [records[point]["upper_limit_obs"], *records[point]["upper_limit_exp"]]
        for band, limit in enumerate(limits):
            at = hypotest_grid(ws, patchset, poi_test=limit)[point]
            cls = at["CLs_obs"] if band == 0 else at["CLs_exp"][band - 1]
            np.testing.assert_allclose(cls, 0.05, rtol=1e-4)
    # the point with more signal has the lower limit, in every band
    assert records[0]["upper_limit_obs"] != records[1]["upper_limit_obs"]
    assert np.all(np.diff(records[0]["upper_limit_exp"]) > 0)


@st.composite
def _patched_family(draw: st.DrawFn) -> tuple[dict, list[dict]]:
    """A random background-only specification and 2-4 signal points patched into it: the
    signal in a random subset of channels, with random yields and a random subset of its
    normsys/histosys systematics (random_workspaces supplies every modifier type)."""
    ws = draw(workspaces())
    channels = [
        {**c, "samples": [s for s in c["samples"] if s["name"] != "sig"]} for c in ws["channels"]
    ]
    assume(all(c["samples"] for c in channels))
    signal = {
        i: s for i, c in enumerate(ws["channels"]) for s in c["samples"] if s["name"] == "sig"
    }
    parameters = [p for p in ws["measurements"][0]["config"]["parameters"] if p["name"] == "lumi"]
    base = {"channels": channels, "parameters": parameters}
    specs = []
    for k in range(draw(st.integers(2, 4))):
        where = draw(st.lists(st.sampled_from(sorted(signal)), min_size=1, unique=True))
        spec = copy.deepcopy(base)
        for i in sorted(where):
            sample = copy.deepcopy(signal[i])
            scale = draw(st.floats(0.1, 3.0))
            sample["name"] = f"sig_{k}"
            sample["data"] = [round(v * scale, 3) for v in sample["data"]]
            keep = draw(
                st.lists(
                    st.booleans(),
                    min_size=len(sample["modifiers"]),
                    max_size=len(sample["modifiers"]),
                )
            )
            sample["modifiers"] = [
                m
                for m, kept in zip(sample["modifiers"], keep, strict=True)
                if kept or m["type"] not in ("normsys", "histosys")
            ]
            for m in sample["modifiers"]:
                if m["type"] == "histosys":
                    m["data"] = {
                        key: [round(v * scale, 3) for v in values]
                        for key, values in m["data"].items()
                    }
            spec["channels"][i]["samples"].append(sample)
        specs.append(spec)
    return base, specs


@settings(max_examples=30, deadline=None)
@given(_patched_family(), st.floats(-1.5, 1.5), st.floats(-2.0, 2.0))
def test_align_never_changes_a_rate(family, shift, other) -> None:
    """Property: for random specifications and signal points, every aligned model has the
    original's expected rates (to rounding: a neutral term adds an exact zero, but the sum
    may be taken in another order) at shifted parameters, whatever value the
    parameters that alignment added take; and alignment never adds structures."""
    base, specs = family
    aligned = align(base, specs)
    for original, new in zip(specs, aligned, strict=True):
        m0, m1 = relaxed.Model(original, poi_name=None), relaxed.Model(new, poi_name=None)
        p0 = np.asarray(m0.config.suggested_init(), dtype=float)
        p1 = np.asarray(m1.config.suggested_init(), dtype=float)
        p1[:] += other  # parameters alignment added take arbitrary values
        for name in m0.config.par_order:
            s0, s1 = m0.config.par_slice(name), m1.config.par_slice(name)
            p0[s0] = p0[s0] + shift * 0.1
            p1[s1] = p0[s0]
        np.testing.assert_allclose(
            np.asarray(m0.expected_actualdata(p0)),
            np.asarray(m1.expected_actualdata(p1)),
            rtol=1e-14,
            atol=1e-12,
        )
    before = {structure_key(relaxed.Model(s, poi_name=None)) for s in specs}
    after = {structure_key(relaxed.Model(s, poi_name=None)) for s in aligned}
    assert len(after) <= len(before)


def test_grid_checks_its_inputs_before_any_fit() -> None:
    ws = relaxed.Workspace(WORKSPACE)
    with pytest.raises(relaxed.exceptions.InvalidParameters, match="outside the bounds"):
        hypotest_grid(ws, _patchset(POINTS[:1]), poi_test=12.0)
    with pytest.raises(relaxed.exceptions.InvalidArgument, match="level"):
        hypotest_grid(ws, _patchset(POINTS[:1]), level=1.5)
