"""The model randomisation test (Adebayo et al. 2018): maps that ignore the weights fail it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage.metrics import structural_similarity

from dermx_bench.cli import main
from dermx_bench.harness.sanity import cascade, judge, randomisation_stages, similarity
from tests.harness_util import make_submission, make_world


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 3),
    )


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.maximum(m, 0)
    peak = m.reshape(len(m), -1).max(axis=1)[:, None, None]
    return np.where(peak > 0, m / np.where(peak > 0, peak, 1), 0).astype(np.float32)


def gradient_maps(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """|gradient x input| of class 0, summed over channels: depends on the weights."""
    xi = x.clone().requires_grad_(True)
    model(xi)[:, 0].sum().backward()
    assert xi.grad is not None
    return _normalise((xi.grad * xi).abs().sum(1).detach().numpy())


def edge_maps(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """An edge detector of the photograph: ignores the model (and its weights) entirely."""
    g = x.mean(1).numpy()
    return _normalise(np.abs(np.diff(g, axis=1, prepend=0)) + np.abs(np.diff(g, axis=2, prepend=0)))


def test_stages_from_the_top() -> None:
    assert randomisation_stages(_tiny()) == ["6", "2", "0"]  # Sequential at the top: its items with weights


def test_similarity_is_skimage_ssim_and_spearman() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, (16, 16)), rng.uniform(0, 1, (16, 16))
    s, r = similarity(a, b)
    assert s == pytest.approx(structural_similarity(a, b, data_range=1.0))
    assert similarity(a, a) == (pytest.approx(1.0), pytest.approx(1.0))
    assert similarity(a, np.zeros((16, 16)))[1] is None


def test_maps_that_ignore_the_weights_fail_and_gradients_pass() -> None:
    x = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    model = _tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    edges = judge(cascade(model, x, edge_maps, seed=0), name="edges", method="edges", images=["a", "b", "c"], seed=0)
    assert not edges.passed
    assert edges.repeat_ssim == pytest.approx(1.0)
    assert all(st.ssim == pytest.approx(1.0) for st in edges.stages)
    grads = judge(cascade(model, x, gradient_maps, seed=0), name="g", method="g", images=["a", "b", "c"], seed=0)
    assert grads.passed and grads.repeat_ssim == pytest.approx(1.0)
    assert grads.stages[-1].ssim is not None and grads.stages[-1].ssim < 0.5
    assert [s.layers for s in grads.stages] == [["6"], ["6", "2"], ["6", "2", "0"]]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model itself is untouched
    again = judge(cascade(model, x, gradient_maps, seed=0), name="g", method="g", images=["a", "b", "c"], seed=0)
    assert again == grads  # the same seed randomises the same way


def test_sanity_command_on_a_tiny_submission(tmp_path: Path) -> None:
    world = make_world(tmp_path / "w", 6)
    sub = make_submission(tmp_path / "sub", input_size=(48, 48))
    res = CliRunner().invoke(main, ["sanity", str(sub), "--store", str(world["store"]), "--images",
                                    str(world["photos"]), "--n-images", "3", "--out", str(tmp_path / "out")])
    assert res.exit_code in (0, 1), res.output
    doc = json.loads((tmp_path / "out" / "sanity.json").read_text())
    assert len(doc["images"]) == 3 and doc["stages"] and doc["repeat_ssim"] == pytest.approx(1.0)
    assert doc["stages"][0]["layers"] == ["fc"]
    assert (tmp_path / "out" / "sanity.png").read_bytes()[:4] == b"\x89PNG"
    assert "SSIM" in res.output and ("PASSED" in res.output) == (res.exit_code == 0)
