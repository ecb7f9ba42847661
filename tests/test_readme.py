"""README.md stays true: its Python example runs, and CI runs its test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_python_example_runs(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    (block,) = re.findall(r"```python\n(.*?)```", README, re.S)
    monkeypatch.chdir(ROOT)  # the example opens neos/examples/example_workspace.json
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "Parameters" in out or "parameter" in out.lower()  # print(model) is the summary


def test_ci_runs_the_quick_start_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert len(blocks) >= 2
    test_command = blocks[1].strip().splitlines()[-1]
    assert test_command in (ROOT / ".ci" / "run").read_text()
