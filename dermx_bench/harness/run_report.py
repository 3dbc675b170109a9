"""What a scoring run shows a person: the overlay figures and ``summary.md``."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench.core.files import write_atomic
from dermx_bench.core.names import METRIC_NAMES
from dermx_bench.results.figures import Stat
from dermx_bench.results.run import RunSummary


def render_overlay(
    path: Path, photo: Any, union_fused: np.ndarray, cam_map: np.ndarray, *, title: str, map_title: str,
    n_raters: int,
) -> None:
    """photo | union of the dermatologists' masks | the model's map (matplotlib Agg PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    h, w = cam_map.shape
    step = max(1, int(math.ceil(max(h, w) / 400)))
    img = np.asarray(photo)[::step, ::step]
    fused = union_fused[::step, ::step]
    cmap = cam_map[::step, ::step]
    fig = Figure(figsize=(10.5, 3.6 * img.shape[0] / max(1, img.shape[1]) + 0.6), dpi=80)
    axes = fig.subplots(1, 3)
    axes[0].imshow(img)
    axes[0].set_title(title, fontsize=9)
    axes[1].imshow(img)
    masked = np.ma.masked_where(fused <= 0, fused)
    axes[1].imshow(masked, cmap="Greens", vmin=0, vmax=1, alpha=0.65)
    axes[1].set_title(f"Dermatologists: union of characteristics ({n_raters} raters)", fontsize=9)
    axes[2].imshow(img)
    axes[2].imshow(cmap, cmap="jet", vmin=0, vmax=1, alpha=0.45)
    axes[2].set_title(map_title, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    write_atomic(path, buf.getvalue())


def _f(v: float | None, d: int = 3) -> str:
    return "–" if v is None else f"{v:.{d}f}"


def _stat_cell(s: Stat | None) -> str:
    """``mean ± std [ci_low, ci_high]`` (parts left out when undefined)."""
    if s is None or s.mean is None:
        return "–"
    std = f" ± {s.std:.3f}" if s.std is not None else ""
    ci = f" [{s.ci_low:.3f}, {s.ci_high:.3f}]" if s.ci_low is not None else ""
    return f"{s.mean:.3f}{std}{ci}"


def _coverage(n: int, of: int) -> str:
    return "–" if of == 0 else f"{100 * n / of:.1f}%"


def _shown(names: list[str], n: int, limit: int = 10) -> str:
    return ", ".join(names[:limit]) + (" ..." if n > limit else "")


def render_markdown(summary: RunSummary) -> str:
    """``summary.md``: localisation per characteristic beside the baseline, and diagnoses."""
    zero, skipped, sub = summary.all_zero_maps, summary.skipped_photographs, summary.submission
    lines = [
        f"# {summary.name}: {summary.method} ({summary.target} target)",
        "",
        f"- images scored: {summary.n_images} of {summary.n_reference_images} with a reference "
        f"(coverage {_coverage(summary.n_images, summary.n_reference_images)}); all-zero maps: {zero.n}"
        + (f" ({_shown(zero.images, zero.n)})" if zero.n else ""),
        f"- photographs skipped: {skipped.n}"
        + (f" ({', '.join(f'{v} {k}' for k, v in skipped.by_problem.items())})" if skipped.n else ""),
        f"- images excluded (no usable gold target): {summary.excluded_images.n}",
        f"- target layer `{sub.target_layer}`, input {list(sub.input_size)}, "
        f"resize `{sub.resize}`; store {summary.store_hash[:12]}; "
        f"bootstrap {summary.bootstrap.n} resamples, seed {summary.bootstrap.seed}",
        "",
        "## Localisation (mean ± sample std [bootstrap 95% interval] over images)",
        "",
    ]
    for m in METRIC_NAMES:
        lines += [f"### {m}", "",
                  "| characteristic | images | all-zero | per rater | vs fusion | dermatologists | difference | ratio |",
                  "|---|---:|---:|---|---|---|---:|---:|"]
        for ch, block in summary.localisation.items():
            vs = getattr(block.vs_baseline, m)
            lines.append(
                f"| {ch} | {block.n_images} | {zero.by_characteristic.get(ch, 0)} | "
                f"{_stat_cell(getattr(block.per_rater, m))} | {_stat_cell(getattr(block.fusion, m))} | "
                f"{_stat_cell(getattr(block.baseline, m))} | {_f(vs.difference)} | {_f(vs.ratio, 2)} |"
            )
        lines.append("")
    dx, human = summary.diagnosis, summary.human_baseline.diagnosis
    lines += ["## Diagnosis", "", f"accuracy {_f(dx.accuracy)}, macro F1 {_f(dx.macro_f1)} "
              f"(dermatologists vs gold: accuracy {_f(human.accuracy)}, macro F1 {_f(human.macro_f1)})", "",
              "| disease | images | F1 | sensitivity | specificity |", "|---|---:|---:|---:|---:|"]
    for name, c in dx.per_class.items():
        lines.append(f"| {name} | {c.n} | {_f(c.f1)} | {_f(c.sensitivity)} | {_f(c.specificity)} |")
    labels = dx.confusion.labels
    lines += ["", "Confusion matrix (rows: gold, columns: predicted)", "",
              "| gold \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for lab, row in zip(labels, dx.confusion.matrix, strict=True):
        lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
    if summary.overlays:
        lines += ["", "## Overlays", ""] + [f"![{p}]({p})" for p in summary.overlays]
    return "\n".join(lines) + "\n"
