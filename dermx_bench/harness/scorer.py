"""A scoring run's batches: the photographs loaded, the model's maps, and each map upsampled and scored.

:class:`Scorer` holds the model, its explainer and the tensor layout, and scores one batch
at a time, in two parts that can run apart: :meth:`Scorer.explain` (the model) and
:meth:`Scorer.finish` (the map maths). A :class:`BatchResult` is what a batch adds to the
run folder; :mod:`~dermx_bench.harness.run` (in this process) and
:mod:`~dermx_bench.harness.cluster` (on Dask workers) stream them in batch order.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dermx_bench.core.errors import SubmissionError
from dermx_bench.core.names import FUSION_PREFIX, SCORE_COLUMNS, UNION
from dermx_bench.harness.device import choose_memory_format, torch_format
from dermx_bench.harness.precision import autocast, fold_batch_norm
from dermx_bench.harness.run_plan import Plan, ScoreOptions

if TYPE_CHECKING:
    from dermx_bench.consensus.references import ImageReference
    from dermx_bench.harness.explanation_maps import CamOutput


def load_batch(plan: Plan, names: Sequence[str]) -> np.ndarray:
    """The batch's photographs as model input, float32 (n, 3, input height, input width)."""
    from dermx_bench.harness.images import load_photo, preprocess

    lm = plan.loaded
    arr = np.zeros((len(names), 3, *lm.input_size), np.float32)
    for i, name in enumerate(names):
        arr[i] = preprocess(load_photo(plan.paths[name]), plan.geoms[name], lm.config.mean, lm.config.std)
    return arr


@dataclass
class OverlayItem:
    """What an overlay needs besides the plan: the image's full-size map and its labels."""

    image: str
    full: np.ndarray
    predicted: str
    explained: str
    f1: float | None


@dataclass
class BatchResult:
    """One batch's rows for ``scores.csv`` and ``predictions.csv``, its overlays' data, the
    seconds its maps took and the tensor layout used (where the batch was scored: here or a worker)."""

    score_rows: list[list[Any]]
    pred_rows: list[list[Any]]
    overlays: list[OverlayItem]
    layout: str
    seconds: float = 0.0
    maps: list[tuple[str, np.ndarray, Any]] = field(default_factory=list)
    """The maps to keep (image, model-grid map, upsampling geometry: :mod:`~dermx_bench.harness.saved_maps`)."""

    def extend(self, other: BatchResult) -> None:
        """Append ``other``'s rows, overlays and maps after this one's."""
        self.score_rows += other.score_rows
        self.pred_rows += other.pred_rows
        self.overlays += other.overlays
        self.maps += other.maps


class Scorer:
    """The model, its explainer and layout, scoring one batch at a time (in this process or a worker).

    ``maths_threads``: threads that upsample and score a batch's maps, one image each (1 on a
    cluster worker, whose processes already share the machine's cores).
    """

    def __init__(self, plan: Plan, opts: ScoreOptions, maths_threads: int = 1) -> None:
        from dermx_bench.harness.explainers import get_explainer

        self.plan, self.opts = plan, opts
        self.maths_threads = max(1, maths_threads)
        lm = plan.loaded
        fold_batch_norm(lm.module, keep=lm.target_layer)
        self.layout = choose_memory_format(lm.module, lm.input_size, plan.device, opts.memory_format)
        self.model = lm.module.to(plan.device, memory_format=torch_format(self.layout))
        self.layer = lm.target_module()
        self.method = get_explainer(opts.method)
        self.method_options = self.method.resolve(opts.method_options)
        self.reshape = lm.layout.to_nchw if lm.layout is not None else None
        self.dx_cols = np.array(list(lm.diagnosis_indices.values()), dtype=np.int64)
        self.overlays = set(plan.overlay_images)
        self.by_name = {r.image: r for r in plan.refs}

    def _predicted_targets(self, logits: np.ndarray) -> list[int]:
        return [int(self.dx_cols[j]) for j in logits[:, self.dx_cols].argmax(axis=1)]

    def score_names(self, names: Sequence[str]) -> BatchResult:
        """Load and score the named images (one batch); ``seconds`` is the whole time taken."""
        import time

        started = time.perf_counter()
        result = self.score([self.by_name[n] for n in names], load_batch(self.plan, names))
        result.seconds = time.perf_counter() - started
        return result

    def score(self, batch_refs: Sequence[ImageReference], x: np.ndarray) -> BatchResult:
        """The batch's ``scores.csv`` and ``predictions.csv`` rows and its overlays' data."""
        return self.finish(batch_refs, self.explain(batch_refs, x))

    def explain(self, batch_refs: Sequence[ImageReference], x: np.ndarray) -> CamOutput:
        """The model's part of a batch: its maps on the model's grid and its outputs."""
        import torch

        plan, lm = self.plan, self.plan.loaded
        names = [r.image for r in batch_refs]
        xt = torch.from_numpy(x).to(plan.device).contiguous(memory_format=torch_format(self.layout))
        tg: Any = [plan.targets[n] for n in names] if self.opts.target == "gold" else self._predicted_targets
        try:
            with autocast(self.opts.precision, plan.device):
                cam = self.method(self.model, self.layer, xt, tg, options=self.method_options, mean=lm.config.mean,
                                  std=lm.config.std, reshape=self.reshape)
        except SubmissionError as exc:
            raise SubmissionError(f"batch of {', '.join(names)}: {exc}") from None
        if not np.isfinite(cam.logits).all():
            raise SubmissionError(f"the model's outputs are not finite for one of: {', '.join(names)}")
        return cam

    def finish(self, batch_refs: Sequence[ImageReference], cam: CamOutput) -> BatchResult:
        """The map maths of a batch (no model work): each map upsampled to its photograph and scored.

        The images are shared among ``maths_threads`` threads (numpy releases the GIL in the
        sorts and array operations that dominate), and their rows are put together in batch
        order. Each image's maths runs on one BLAS thread: the upsampling's matrix products
        then give the same bits whatever threads the process has (a cluster worker has one),
        so the files are the same here and on a cluster, with any number of maths threads,
        and whether or not the maths overlaps the next batch's forward.
        """
        from threadpoolctl import threadpool_limits

        dx_logits = cam.logits[:, self.dx_cols].astype(np.float64)
        pred_idx = dx_logits.argmax(axis=1)
        probs = np.exp(dx_logits - dx_logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)

        def one(i: int) -> BatchResult:
            return self._score_one(i, batch_refs[i], cam, pred_idx, probs)

        with threadpool_limits(limits=1, user_api="blas"):
            if self.maths_threads > 1 and len(batch_refs) > 1:
                with ThreadPoolExecutor(min(self.maths_threads, len(batch_refs))) as pool:
                    parts = list(pool.map(one, range(len(batch_refs))))
            else:
                parts = [one(i) for i in range(len(batch_refs))]
        result = BatchResult([], [], [], self.layout)
        for part in parts:
            result.extend(part)
        return result

    def _score_one(
        self, i: int, ref: ImageReference, cam: CamOutput, pred_idx: np.ndarray, probs: np.ndarray
    ) -> BatchResult:
        """Image ``i``'s map upsampled and scored: its rows, map and overlay data."""
        from dermx_bench.harness.images import upsample_map
        from dermx_bench.harness.scoring import score_map

        plan, lm = self.plan, self.plan.loaded
        grid = np.ascontiguousarray(cam.maps[i], dtype=np.float32)
        full = upsample_map(grid, plan.geoms[ref.image])
        rows = score_map(ref, full)
        map_sum = float(full.sum(dtype=np.float64))
        predicted = lm.classes[int(self.dx_cols[pred_idx[i]])]
        explained = lm.classes[int(cam.targets[i])]
        result = BatchResult([[getattr(r, c) for c in SCORE_COLUMNS] for r in rows],
                             [[ref.image, ref.gold, explained, predicted, not bool(map_sum > 0), map_sum,
                               bool(full.max() == full.min()), *(float(p) for p in probs[i])]],
                             [], self.layout, maps=[(ref.image, grid, plan.geoms[ref.image])])
        if ref.image in self.overlays:
            f1 = next((r.f1 for r in rows if r.characteristic == UNION
                       and r.reference.startswith(FUSION_PREFIX)), None)
            result.overlays.append(OverlayItem(ref.image, full, predicted, explained, f1))
        return result
