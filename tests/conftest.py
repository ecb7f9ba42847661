"""Shared fixtures, and access to the reference data in ``../shared/reference``.

The reference files (pyhf's test and validation data, the HS3 examples, published ATLAS
likelihoods) are public files kept once, outside the repository, in the ``shared/reference``
folder next to the checkout (their origins are listed in its ``SOURCES.md`` files). Tests read
them there through the helpers below; when that folder is absent, the tests that need it are
skipped with a reason that says so, and every other test still runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import relaxed  # noqa: F401  (turns on float64 before any test builds arrays)

#: The shared reference data: ``<checkout>/../shared/reference`` (``pyhf/``, ``hs3/``,
#: ``atlas_real/``).
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"

#: Why a test that needs the shared reference data is skipped when it is absent.
SHARED_MISSING = (
    f"the shared reference data is absent (expected the folder {SHARED_REFERENCE}, "
    "next to the repository checkout)"
)


def shared_path(relative: str) -> Path:
    """The path of a file or folder under :data:`SHARED_REFERENCE`, e.g. ``"pyhf/x.json"``.

    Skips the calling test (or, called while a module is imported, that module) with a clear
    reason when the shared reference data or this file is absent.
    """
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(SHARED_MISSING, allow_module_level=True)
    path = SHARED_REFERENCE / relative
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared reference data", allow_module_level=True)
    return path


def load_json(relative: str) -> Any:
    """The JSON document ``SHARED_REFERENCE / relative`` (``"pyhf/reference_values.json"``)."""
    return json.loads(shared_path(relative).read_text())


def reference_cases() -> dict[str, Any]:
    """Model specs and CLs values of pyhf's validation suite (``pyhf/reference_values.json``)."""
    return load_json("pyhf/reference_values.json")["cases"]


def hello_world_reference() -> dict[str, Any]:
    """pyhf's stored results for the hello-world model (``reference_values.json``)."""
    return load_json("pyhf/reference_values.json")["hello_world"]


def _missing_param() -> Any:
    return pytest.param("shared-reference-absent", marks=pytest.mark.skip(reason=SHARED_MISSING))


def reference_case_names(keep: Callable[[str, dict[str, Any]], bool]) -> list[Any]:
    """Sorted names of the reference cases for which ``keep(name, case)`` holds, for
    ``pytest.mark.parametrize``: a single skipped parameter when the shared data is absent."""
    if not SHARED_REFERENCE.is_dir():
        return [_missing_param()]
    return sorted(name for name, case in reference_cases().items() if keep(name, case))


def _workspace_files() -> list[Any]:
    if not SHARED_REFERENCE.is_dir():
        return [_missing_param()]
    candidates = [
        *sorted((SHARED_REFERENCE / "pyhf").glob("*.json")),
        *sorted((SHARED_REFERENCE / "hs3").glob("*_hifa.json")),
    ]
    names = []
    for path in candidates:
        document = json.loads(path.read_text())
        if "measurements" in document and "observations" in document:
            names.append(path.relative_to(SHARED_REFERENCE).as_posix())
    return names


#: pyhf-format workspaces among the reference files (they have measurements and observations),
#: as paths relative to :data:`SHARED_REFERENCE` (``"pyhf/..."``, ``"hs3/..._hifa.json"``).
WORKSPACE_FILES = _workspace_files()


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


@pytest.fixture(autouse=True)
def _release_compiled_code() -> None:
    """The suite compiles hundreds of programs in one process; each takes memory mappings,
    and past the kernel's limit the next compilation crashes (see
    :func:`relaxed.cache.release_if_needed`)."""
    from relaxed.cache import release_if_needed

    release_if_needed()
