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
    assert code == 0 and "Scored 5 of 6 images with a reference" in text and "PARTIAL RUN: 5 of 6 images" in text, text
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
    real = run_module.Scorer.explain  # the model's part of each batch

    def flaky(self: object, *a: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SubmissionError("the model failed on the second batch")
        return real(self, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(run_module.Scorer, "explain", flaky)
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


# -- 4. a submission reads only its own folder; 5. its files and code fail with Error: ------------

ENTRY = '''
import torch.nn as nn

{top}

class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
        self.head = nn.Linear(8, n)

    def forward(self, x):
        {forward}
        return self.head(self.features(x).mean((2, 3)))


def build(num_classes):
    {build}
    return Net(num_classes)
'''


def _entry_submission(folder: Path, top: str = "", forward: str = "pass", build: str = "pass") -> Path:
    import importlib.util

    from safetensors.torch import save_file

    from tests.harness_util import DIAGNOSES, write_toml

    folder.mkdir(parents=True)
    (folder / "net.py").write_text(ENTRY.format(top="", forward="pass", build="pass"))
    spec = importlib.util.spec_from_file_location("net_for_weights", folder / "net.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    save_file(mod.Net(6).state_dict(), str(folder / "net.safetensors"))
    (folder / "net.py").write_text(ENTRY.format(top=top, forward=forward, build=build))
    write_toml(folder / "submission.toml", {
        "name": "entry", "authors": ["A"], "entry_point": "net:build", "weights": "net.safetensors",
        "classes": DIAGNOSES, "input_size": [32, 32], "mean": [0.5] * 3, "std": [0.2] * 3,
        "resize": "stretch", "target_layer": "features"})
    return folder


def _refused(world: dict[str, Path], tmp_path: Path, sub: Path, *needles: str, trust: bool = False) -> None:
    out = tmp_path / "run"
    before = listing(tmp_path)
    code, text = score(world, out, *(["--trust-code"] if trust else []), sub=sub)
    assert code == 1 and text.startswith(f"Error: {sub / 'submission.toml'}: "), text
    for n in needles:
        assert n in text, (n, text)
    assert "Traceback" not in text and listing(tmp_path) == before


@pytest.mark.parametrize(("weights", "why"), [
    ("../other/m.safetensors", "'../other/m.safetensors': a path with '..'; the file must be inside the folder"),
    ("{abs}", "m.safetensors': an absolute path; give a path relative to the folder"),
    ("link.safetensors", "outside"),
])
def test_weights_must_be_inside_the_submission(world: dict[str, Path], tmp_path: Path, weights: str,
                                               why: str) -> None:
    from tests.harness_util import edit_config

    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(world["sub"] / "model.safetensors", other / "m.safetensors")
    sub = tmp_path / "sub"
    shutil.copytree(world["sub"], sub)
    (sub / "link.safetensors").symlink_to(other / "m.safetensors")
    edit_config(sub, weights=weights.replace("{abs}", str(other / "m.safetensors")))
    _refused(world, tmp_path, sub, "weights: ", why)


def test_entry_point_module_must_be_inside_the_submission(world: dict[str, Path], tmp_path: Path) -> None:
    sub = _entry_submission(tmp_path / "sub")
    elsewhere = tmp_path / "elsewhere.py"
    (sub / "net.py").rename(elsewhere)
    (sub / "net.py").symlink_to(elsewhere)
    _refused(world, tmp_path, sub, f"entry_point: net.py: resolves to {elsewhere}, outside", trust=True)


@pytest.mark.parametrize("content", [b"hello, I am text\n", b"", b"version https://git-lfs.github.com/spec/v1\n"])
@pytest.mark.parametrize("link", [False, True])
def test_model_pt_that_is_text(world: dict[str, Path], tmp_path: Path, content: bytes, link: bool) -> None:
    from tests.harness_util import edit_config

    sub = tmp_path / "sub"
    shutil.copytree(world["sub"], sub)
    (sub / ("notes.txt" if link else "model.pt")).write_bytes(content)
    if link:
        (sub / "model.pt").symlink_to(sub / "notes.txt")
    edit_config(sub, weights="model.pt")
    _refused(world, tmp_path, sub, "weights: model.pt: not a torch file: it starts with",
             *(["git lfs pull"] if b"git-lfs" in content else []))


@pytest.mark.parametrize(("part", "code", "when"), [
    ("top", "raise ImportError('no such helper')", "ImportError while importing net.py: no such helper"),
    ("top", "import sys; sys.exit(3)", "SystemExit while importing net.py: 3"),
    ("build", "raise KeyError('weights_path')", "KeyError while building the model: 'weights_path'"),
    ("forward", "1 / 0", "ZeroDivisionError in the model's forward pass: division by zero"),
])
def test_exception_inside_a_trusted_entry_point(world: dict[str, Path], tmp_path: Path, part: str, code: str,
                                                when: str) -> None:
    sub = _entry_submission(tmp_path / "sub", **{part: code})
    _refused(world, tmp_path, sub, "entry_point: 'net:build' raised " + when, "--trust-code", trust=True)


def test_exception_of_a_trusted_entry_point_while_scoring(world: dict[str, Path], tmp_path: Path) -> None:
    # the checks run the model on one image; this one fails on batches of photographs only (--batch-size 2)
    sub = _entry_submission(tmp_path / "sub", forward="assert x.shape[0] == 1, 'a photograph!'")
    out = tmp_path / "run"
    code, text = score(world, out, "--trust-code", sub=sub)
    assert code == 1 and text.startswith("Error: "), text
    assert f"{sub / 'submission.toml'}: entry_point: 'net:build' raised AssertionError in the model's forward " \
           "pass: a photograph!" in text
    assert f"nothing of this run was kept in {out}" in text and not out.exists()
