"""The ``dermx-bench`` command line. Library errors become ``Error: ...`` with exit 1.

Each sub-module holds the commands of one user job; none of them holds maths.
"""

from __future__ import annotations

from typing import Any

import click

from dermx_bench import __version__
from dermx_bench.core.errors import DermxError, printable


class _Group(click.Group):
    """A click group that turns the library's typed errors into ``Error: ...``, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DermxError as exc:  # notes added on the way up say what to do next
            text = "\n".join([str(exc), *getattr(exc, "__notes__", ())])
            raise click.ClickException(printable(text)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dermx-bench")
def main() -> None:
    """Score explanation maps of skin-disease classifiers against DermX dermatologists.

    \b
    Typical flow:
      dermx-bench ingest ANNOTATIONS --metadata metadata.csv --store dermx.db
      dermx-bench agreement --store dermx.db --save
      dermx-bench score SUBMISSION --store dermx.db --images PHOTOS --out run/
      dermx-bench leaderboard add run/ && dermx-bench leaderboard publish --format md --out -
    Or see everything at once on synthetic data: dermx-bench demo
    """


def _register() -> None:
    from dermx_bench.cli import (
        agreement_cmds,
        analysis_cmds,
        demo_cmd,
        ingest_cmds,
        leaderboard_cmds,
        rescore_cmds,
        score_cmds,
        submission_cmds,
        sweep_cmd,
    )

    for module in (ingest_cmds, agreement_cmds, submission_cmds, score_cmds, sweep_cmd, rescore_cmds,
                   analysis_cmds, leaderboard_cmds, demo_cmd):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
