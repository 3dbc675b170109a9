"""Shared fixtures: the built-in sample, real DermX data (skipped without DERMX_DATA), Darwin builders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "annotations" / "sample"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each distinct skip reason once, with how many tests it skipped (``-q`` alone shows only a count).

    Browser tests need Debian's ``chromium`` and ``chromium-driver``; real-data tests need
    ``DERMX_DATA``: a user sees what to install or set without ``-rs``.
    """
    reasons: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(rep, "longrepr", None)
        text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        text = text.removeprefix("Skipped: ")
        reasons[text] = reasons.get(text, 0) + 1
    for text, n in reasons.items():
        terminalreporter.write_line(f"skipped {n} test(s): {text}")


def dermx_data() -> Path:
    """The real DermX releases (``DERMX_DATA``), or skip the test with the reason."""
    root = os.environ.get("DERMX_DATA")
    if not root:
        pytest.skip("DERMX_DATA is not set: set it to the folder holding v1-2021/ and v2-2023/ to run real-data tests")
    path = Path(root)
    if not (path / "v1-2021").is_dir():
        pytest.fail(f"DERMX_DATA={root} does not hold v1-2021/")
    return path


@pytest.fixture
def dermx() -> Path:
    return dermx_data()


@pytest.fixture(scope="session")
def v1_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with all of v1-2021 and its metadata, built once per session."""
    from dermx_bench.store.ingest import ingest_sources

    root = dermx_data()
    path = tmp_path_factory.mktemp("v1") / "v1.db"
    ingest_sources(path, [root / "v1-2021" / "annotations"], metadata=root / "v1-2021" / "metadata.csv")
    return path


@pytest.fixture
def sample_store(tmp_path: Path) -> Path:
    """A store with the built-in synthetic sample."""
    from dermx_bench.store.ingest import ingest_sources

    path = tmp_path / "sample.db"
    ingest_sources(path, [SAMPLE / "annotations"], metadata=SAMPLE / "metadata.csv")
    return path


def square(x0: float, y0: float, x1: float, y1: float) -> list[dict[str, float]]:
    return [{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]


def darwin1(width: int = 20, height: int = 10, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A minimal Darwin JSON 1.0 document."""
    if annotations is None:
        annotations = [{"name": "Psoriasis", "tag": {}},
                       {"name": "Plaque", "polygon": {"path": square(1, 1, 5, 5)}}]
    return {"image": {"width": width, "height": height, "filename": "x.jpg"}, "annotations": annotations}


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path
