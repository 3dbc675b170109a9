"""Conventions every command follows: registry names in help, ranges on numbers, close-name hints."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dermx_bench.cli import main
from dermx_bench.consensus.agreement import TABLES
from dermx_bench.consensus.fusion import get_fusion_rule, list_fusion_rules
from dermx_bench.core.errors import RegistryError
from dermx_bench.core.registry import Registry
from dermx_bench.leaderboard.publish import list_formats


def test_registry_suggests_close_names() -> None:
    with pytest.raises(RegistryError) as info:
        get_fusion_rule("fuzy")
    assert str(info.value).startswith("unknown fusion rule 'fuzy'; did you mean 'fuzzy'? choose one of: any,")
    reg: Registry[int] = Registry("thing")
    reg.add("alpha", 1)
    reg.add("beta", 2)
    with pytest.raises(RegistryError, match=r"^unknown thing 'zzz'; choose one of: alpha, beta$"):
        reg.get("zzz")
    with pytest.raises(RegistryError, match="did you mean 'alpha'"):
        reg.get("Alpha")


@pytest.mark.parametrize(
    ("args", "names"),
    [(["fuse"], list_fusion_rules()), (["leaderboard", "publish"], list_formats()),
     (["agreement"], [*TABLES, "all"])],
)
def test_help_lists_what_the_registry_holds(args: list[str], names: list[str]) -> None:
    res = CliRunner().invoke(main, [*args, "--help"], terminal_width=400)
    assert res.exit_code == 0
    assert "[" + "|".join(names) + "]" in res.output


@pytest.mark.parametrize(
    "args",
    [["leaderboard", "publish", "--format", "md", "--out", "-", "--seed", "-1"],
     ["leaderboard", "publish", "--format", "md", "--out", "-", "--n-boot", "0"],
     ["demo", "--images", "0"], ["demo", "--seed", "-3"],
     ["score", "sub", "--store", "s.db", "--images", "p", "--out", "o", "--n-boot", "-1"],
     ["synth-images", "--store", "s.db", "out", "--seed", "-1"]],
)
def test_numbers_out_of_range_are_usage_errors(args: list[str]) -> None:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "is not in the range" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
