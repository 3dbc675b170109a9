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


def test_first_screen_gets_to_a_scored_submission_in_under_ten_commands() -> None:
    """The block after the set-up: every command and option exists (click parses each line)."""
    import shlex

    import click

    from dermx_bench.cli import main

    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    own = [ln.split("  #")[0] for ln in blocks[1].splitlines() if ln.startswith("dermx-bench ")]
    assert len(commands()) + len(own) < 10
    assert own[0].startswith("dermx-bench init-submission") and any(" score " in c for c in own)
    for line in own:
        args = shlex.split(line)[1:]
        cmd: click.Command = main
        ctx = None
        while isinstance(cmd, click.Group):
            name, cmd_found, args = cmd.resolve_command(click.Context(cmd, parent=ctx), args)
            assert cmd_found is not None, line
            ctx, cmd = click.Context(cmd, parent=ctx, info_name=name), cmd_found
        known = {o for p in cmd.params for o in p.opts}
        assert {a for a in args if a.startswith("--")} <= known, line
