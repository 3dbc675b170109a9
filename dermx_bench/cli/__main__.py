"""``python -m dermx_bench.cli``: the same as the ``dermx-bench`` command."""

from dermx_bench.cli import main

main()
