"""Trust, scoring side (issue 9): photographs, failed runs and run folders.

Each case runs ``dermx-bench score`` and asserts exit code 1 with an ``Error:`` naming the
file, and that the output folder is as before; or, for the run-folder cases, that the
folder ends clean.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.harness_util import make_submission
from tests.trust_util import cli, listing


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic store with its baseline, photographs and a tiny random model."""
    from dermx_bench.consensus.baseline import save_baselines
    from dermx_bench.store.db import Store
    from dermx_bench.store.ingest import ingest_sources
    from dermx_bench.synthetic.darwin import make_images, write_dataset
    from dermx_bench.synthetic.images import write_store_images

    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(3)
    write_dataset(root / "darwin", make_images(6, rng, size=(40, 48)), ["r1", "r2", "r3"], rng)
    store = root / "s.db"
    ingest_sources(store, [root / "darwin" / "annotations"], metadata=root / "darwin" / "metadata.csv")
    with Store.open(store, write=True) as st:
        save_baselines(st, "2026-01-01T00:00:00+00:00")
    write_store_images(store, root / "photos", seed=1)
    sub = make_submission(root / "sub", input_size=(32, 32), target_layer="layer3")
    return {"root": root, "store": store, "photos": root / "photos", "sub": sub}


def score(world: dict[str, Path], out: Path, *extra: object, sub: Path | None = None,
          photos: Path | None = None) -> tuple[int, str]:
    return cli("score", sub or world["sub"], "--store", world["store"], "--images", photos or world["photos"],
               "--out", out, "--device", "cpu", "--n-boot", "20", "--overlays", "1", "--batch-size", "2", *extra)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none (enough for a decoder's size check)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_30000_square_photograph_is_refused(world: dict[str, Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(world["photos"], photos)
    victim = sorted(photos.glob("*.png"))[0]
    victim.write_bytes(png_header(30000, 30000))
    out = tmp_path / "run"
    before = listing(tmp_path)
    code, text = score(world, out, photos=photos)
    assert code == 1, text
    assert text.startswith(f"Error: {photos}: 1 of 6 photograph(s) cannot be used (1 too large)"), text
    assert f"{victim.stem}: too large: {victim.name}" in text and "decompression bomb" in text
    assert listing(tmp_path) == before
    code, text = score(world, out, "--skip-missing", photos=photos)
    assert code == 0 and "Scored 5 of 6 images with a reference" in text and "Coverage 5/6" in text, text
    entry = json.loads((out / "entry.json").read_text())
    assert (entry["n_images"], entry["n_reference_images"]) == (5, 6)


def _nan_submission(folder: Path) -> Path:
    import timm
    import torch

    model: Any = timm.create_model("test_resnet", pretrained=False, num_classes=6)
    head = model.get_classifier()
    with torch.no_grad():
        head.weight.fill_(float("nan"))
    return make_submission(folder, module=model, input_size=(32, 32), target_layer="layer3")


@pytest.mark.parametrize("existed", [False, True])
def test_failed_run_leaves_its_folder_as_before(world: dict[str, Path], tmp_path: Path, existed: bool) -> None:
    out = tmp_path / "run"
    if existed:
        out.mkdir()
    bad = _nan_submission(tmp_path / "nan")
    code, text = score(world, out, sub=bad)
    assert code == 1 and text.startswith("Error: batch of "), text
    assert "not finite" in text and f"nothing of this run was kept in {out}; fix the cause and run it again" in text
    assert out.exists() == existed and listing(out) == {}
    code, text = score(world, out)  # the retry is not blocked
    assert code == 0, text


def test_resume_needs_a_run(world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "missing"
    code, text = score(world, out, "--resume")
    assert code == 1 and text == (f"Error: {out}: no run to resume here (no such folder); leave out --resume to "
                                  "start a new run\n"), text
    assert not out.exists()
    out.mkdir()
    code, text = score(world, out, "--resume")
    assert code == 1 and "no run to resume here (empty)" in text and listing(out) == {}


def test_kill_during_final_cleanup_leaves_nothing_forever(world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert score(world, out)[0] == 0
    finished = listing(out)
    (out / ".partial").mkdir()  # what a kill during the final rmtree leaves
    (out / ".partial" / "scores.part.csv").write_text("img,Plaque,rater:r1,0.1\n")
    code, text = score(world, out)
    assert code == 1 and text.strip() == (f"Error: {out}: holds a finished run; choose a new --out (or --resume, "
                                          "which removes its leftover .partial folder)"), text
    code, text = score(world, out, "--resume")
    assert code == 0, text
    assert listing(out) == finished


def test_failed_resume_keeps_the_progress_and_says_so(world: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from dermx_bench.core.errors import SubmissionError
    from dermx_bench.harness import run as run_module

    out = tmp_path / "run"
    calls = {"n": 0}
    real = run_module._Scorer.score

    def flaky(self: object, *a: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SubmissionError("the model failed on the second batch")
        return real(self, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module._Scorer, "score", flaky)
    code, text = score(world, out)
    assert code == 1 and f"nothing of this run was kept in {out}" in text and not out.exists()

    class Kill(BaseException):
        pass

    def killed(n: int) -> None:
        raise Kill

    calls["n"] = 10  # no failure now: a kill after the first batch leaves a run to resume
    with pytest.raises(Kill):
        run_module.score_run(world["sub"], world["store"], world["photos"], out,
                             run_module.ScoreOptions(device="cpu", n_boot=20, n_overlays=1, batch_size=2),
                             on_batch=killed)
    calls["n"] = 1  # the resumed run's first batch is call 2: it fails
    before = listing(out)
    code, text = score(world, out, "--resume")
    assert code == 1 and "the model failed on the second batch" in text, text
    assert f"the unfinished run stays in {out}: fix the cause and --resume it, or remove the folder" in text
    assert listing(out) == before
    assert score(world, out, "--resume")[0] == 0
