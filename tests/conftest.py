"""Shared fixtures: reference workspaces (copied from pyhf's test and validation data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import relaxed  # noqa: F401  (turns on float64 before any test builds arrays)

DATA = Path(__file__).parent / "data"
PYHF_DATA = DATA / "pyhf"

#: pyhf-format workspaces among the reference files (measurements + observations).
WORKSPACE_FILES = sorted(
    p.name
    for p in PYHF_DATA.glob("*.json")
    if "measurements" in json.loads(p.read_text()) and "observations" in json.loads(p.read_text())
)


def load_json(name: str) -> Any:
    return json.loads((PYHF_DATA / name).read_text())


def reference_cases() -> dict[str, Any]:
    """Model specs and CLs values of pyhf's validation suite (reference_values.json)."""
    return load_json("reference_values.json")["cases"]


@pytest.fixture(scope="session")
def hello_world_spec() -> dict[str, Any]:
    """pyhf.simplemodels.uncorrelated_background([12, 11], [50, 52], [3, 7])."""
    return {
        "channels": [
            {
                "name": "singlechannel",
                "samples": [
                    {
                        "name": "signal",
                        "data": [12.0, 11.0],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "background",
                        "data": [50.0, 52.0],
                        "modifiers": [
                            {"name": "uncorr_bkguncrt", "type": "shapesys", "data": [3.0, 7.0]}
                        ],
                    },
                ],
            }
        ]
    }
