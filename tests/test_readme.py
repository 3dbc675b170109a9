"""The README's top shows the two set-up commands, and CI runs exactly its test command."""

from __future__ import annotations

import re

from tests.conftest import REPO


def commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None
    return [ln for ln in block.group(1).splitlines() if ln and not ln.startswith("#")]


def test_two_setup_commands_at_the_top() -> None:
    demo, tests = commands()
    assert "pip install" in demo and "dermx-bench demo" in demo
    assert "pip install" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert commands()[1] in ci
