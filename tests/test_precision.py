"""``--precision bf16`` maps against fp32 on a trained model; batch norm folded into convolutions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dermx_bench.core.errors import InputError
from dermx_bench.harness.precision import check_precision, fold_batch_norm, label_with_precision


@pytest.fixture(scope="module")
def trained() -> tuple[Any, np.ndarray, np.ndarray]:
    """A tiny ResNet trained for a few seconds on synthetic photos with lesions (BN statistics learnt)."""
    from dermx_bench.synthetic.images import training_set
    from dermx_bench.synthetic.train import to_inputs, train_classifier

    photos, labels, _ = training_set(96, (48, 64), seed=3, lesions="diagnosis", marker="diagnosis")
    x = to_inputs(photos, (48, 64))
    model = train_classifier(x, labels, epochs=3, seed=0)
    return model, x[:12], labels[:12]


def _copy(model: Any) -> Any:
    import copy

    return copy.deepcopy(model).eval().requires_grad_(False)


def test_fold_batch_norm_is_exact_in_eval_mode(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    import torch

    model, x, _ = trained
    folded = _copy(model)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert fold_batch_norm(folded, keep="layer2") == n_bn > 0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert isinstance(folded.get_submodule("layer2"), torch.nn.Module)  # the hierarchy (and target layer) kept
    xt = torch.from_numpy(x)
    with torch.no_grad():
        torch.testing.assert_close(folded(xt), model(xt), rtol=1e-5, atol=1e-5)


def test_fold_keeps_a_target_layer_that_is_a_batch_norm(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    import torch

    folded = _copy(trained[0])
    fold_batch_norm(folded, keep="bn1")
    assert isinstance(folded.get_submodule("bn1"), torch.nn.BatchNorm2d)


def test_bf16_maps_correlate_with_fp32(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    import torch

    from dermx_bench.harness.explainers import get_explainer
    from dermx_bench.harness.precision import autocast

    model, x, labels = trained
    layer = model.get_submodule("layer2")
    method = get_explainer("gradcam")
    xt = torch.from_numpy(x)
    fp32 = method(model, layer, xt, labels.tolist())
    with autocast("bf16", "cpu"):
        bf16 = method(model, layer, xt, labels.tolist())
    assert bf16.maps.dtype == fp32.maps.dtype
    # over all maps of the batch, and the typical map; a single map whose channel weights nearly
    # cancel can differ more (here the lowest per-map r is ~0.994)
    assert np.corrcoef(fp32.maps.ravel(), bf16.maps.ravel())[0, 1] >= 0.999
    per_map = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(fp32.maps, bf16.maps, strict=True)
               if a.std() > 0 and b.std() > 0]
    assert np.median(per_map) >= 0.999


def test_precision_checks_and_label() -> None:
    check_precision("bf16", "cam")
    with pytest.raises(InputError, match="--precision"):
        check_precision("bf16", "attribution")
    with pytest.raises(InputError, match="--precision"):
        check_precision("fp16", "cam")
    assert label_with_precision("gradcam", "fp32") == "gradcam"
    assert label_with_precision("gradcam", "bf16") == "gradcam [bf16]"
