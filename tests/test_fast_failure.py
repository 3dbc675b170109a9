"""A bad submission is reported before torch is imported (issue 12: fast failure).

Each case runs the ``score`` command in one fresh interpreter (torch is loaded in this one)
and checks the error and that ``torch`` is not in ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.harness_util import write_toml

REPO = Path(__file__).resolve().parents[1]

_GOOD = {"name": "m", "authors": ["A"], "description": "d", "model": "resnet18", "weights": "model.safetensors",
         "classes": ["Acne", "Psoriasis"], "input_size": [64, 64], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2],
         "resize": "stretch"}

_SCRIPT = """
import json, sys, time
from click.testing import CliRunner
from dermx_bench.cli import main as cli
out = []
for folder in sys.argv[2:]:
    t = time.perf_counter()
    r = CliRunner().invoke(cli, ["score", folder, "--store", sys.argv[1], "--images", folder, "--out", folder + "/out"])
    out.append([r.exit_code, r.output, time.perf_counter() - t])
print(json.dumps({"torch": "torch" in sys.modules, "cases": out}))
"""


def test_bad_submissions_fail_before_torch(tmp_path: Path, sample_store: Path) -> None:
    cases: dict[str, tuple[str | dict[str, Any], str]] = {
        "toml": ("model = resnet18\n", "invalid TOML"),
        "classes": ({**_GOOD, "classes": ["Acne", "Not a diagnosis"]}, "classes"),
        "size": ({**_GOOD, "input_size": [64]}, "input_size"),
        "weights": ({**_GOOD, "weights": "missing.safetensors"}, "weights"),
        "path": ({**_GOOD, "weights": "../outside.safetensors"}, "weights"),
    }
    folders = []
    for name, (cfg, _) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"not read before the config is checked")
        if isinstance(cfg, str):
            (folder / "submission.toml").write_text(cfg, encoding="utf-8")
        else:
            write_toml(folder / "submission.toml", cfg)
        folders.append(str(folder))
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(sample_store), *folders], capture_output=True,
                          text=True, env=env, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    for (name, (_, expected)), (code, output, _seconds) in zip(cases.items(), result["cases"], strict=True):
        assert code == 1, (name, output)
        assert "Error:" in output and expected in output and "submission.toml" in output, (name, output)
