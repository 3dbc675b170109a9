"""``import dermx_bench`` (and the CLI's start-up) stays light: no torch, timm or pandas."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_does_not_load_heavy_libraries() -> None:
    code = ("import sys, dermx_bench, dermx_bench.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'timm', 'pandas', 'pytorch_grad_cam'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
