"""Every notebook in ``nbs/`` runs top to bottom: a cell that raises fails that notebook's test.

The notebooks are found when the tests are collected (one test per ``nbs/*.ipynb``, its id the
file name), so a new notebook is tested without touching this file. Each one is read into memory
and executed there by a fresh ``python3`` kernel whose working directory is ``nbs/``; nothing is
written back, so a run never changes the repository. The kernel draws its figures with
matplotlib's non-interactive ``Agg`` backend.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbclient
import nbformat
import pytest
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

NBS_DIR = Path(__file__).resolve().parent.parent / "nbs"
NOTEBOOKS = sorted(NBS_DIR.glob("*.ipynb"))

#: Seconds one cell may run before the notebook fails (each notebook is meant to take < 60 s).
CELL_TIMEOUT_S = 300
KERNEL_ENV = {
    "MPLBACKEND": "Agg",  # figures are rendered off-screen, never shown in a window
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silence ipykernel's debugger warning
}
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_notebook(
    notebook: nbformat.NotebookNode, cwd: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> str | None:
    """Execute ``notebook`` in place (in memory) with ``cwd`` as the kernel's working directory.

    Returns ``None`` when every code cell ran without error, otherwise a readable description of
    the failure: the failing cell's source and traceback (colour codes removed), a timeout, a
    dead kernel, or cells that did not run. Cells tagged ``raises-exception`` may raise.
    """
    for key, value in KERNEL_ENV.items():
        monkeypatch.setenv(key, value)  # the kernel process inherits this environment
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        return ANSI_ESCAPE.sub("", f"{name}: a cell raised\n{err}")
    except (CellTimeoutError, DeadKernelError) as err:
        return ANSI_ESCAPE.sub("", f"{name}: {type(err).__name__}: {err}")
    code = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    not_run = [c.source.splitlines()[0] for c in code if c.get("execution_count") is None]
    if not_run:
        return f"{name}: {len(not_run)} of {len(code)} code cells did not run: {not_run}"
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(path, as_version=4)
    failure = run_notebook(notebook, path.parent, path.name, monkeypatch)
    if failure is not None:  # outside any except block: no chained traceback in the report
        pytest.fail(failure, pytrace=False)


def test_a_raising_cell_fails_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness itself: the kernel sees the environment and working directory set above, and
    a cell that raises stops the notebook with that cell's source and error in the message."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import os\nimport matplotlib\n"
            f"assert os.path.samefile(os.getcwd(), {str(tmp_path)!r}), os.getcwd()\n"
            "assert matplotlib.get_backend().lower() == 'agg', matplotlib.get_backend()"
        ),
        nbformat.v4.new_code_cell("ratio = 1 / 0  # the failing cell"),
        nbformat.v4.new_code_cell("never_reached = True"),
    ]
    failure = run_notebook(notebook, tmp_path, "self-test.ipynb", monkeypatch)
    assert failure is not None
    assert "ratio = 1 / 0  # the failing cell" in failure
    assert "ZeroDivisionError" in failure
    assert "\x1b[" not in failure
    assert notebook.cells[0].execution_count == 1  # the environment checks passed
    assert notebook.cells[2].get("execution_count") is None  # execution stopped at the error
