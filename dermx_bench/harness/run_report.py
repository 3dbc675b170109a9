"""What a scoring run shows a person: the overlay figures and ``summary.md``."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench.core.files import write_atomic
from dermx_bench.core.names import LIKE_FOR_LIKE, METRIC_NAMES
from dermx_bench.results.baseline import NO_PAIRS, no_pairs_reason
from dermx_bench.results.figures import Comparison, LocalisationScores, Stat
from dermx_bench.results.run import RunSummary
from dermx_bench.stats.aggregate import metrics_of
from dermx_bench.stats.analysis_tables import as_dermatologist_markdown
from dermx_bench.stats.estimators import AT_FLOOR_MARK, AT_FLOOR_NOTE, floor_marks
from dermx_bench.stats.figures import REFERENCE_LABELS


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
    titles = [_wrapped(t) for t in (title, f"Dermatologists: union of characteristics ({n_raters} raters)",
                                     map_title)]
    lines = max(t.count("\n") + 1 for t in titles)
    fig = Figure(figsize=(10.5, 3.6 * img.shape[0] / max(1, img.shape[1]) + 0.3 + 0.17 * lines), dpi=80)
    axes = fig.subplots(1, 3)
    axes[0].imshow(img)
    axes[0].set_title(titles[0], fontsize=9)
    axes[1].imshow(img)
    masked = np.ma.masked_where(fused <= 0, fused)
    axes[1].imshow(masked, cmap="Greens", vmin=0, vmax=1, alpha=0.65)
    axes[1].set_title(titles[1], fontsize=9)
    axes[2].imshow(img)
    axes[2].imshow(cmap, cmap="jet", vmin=0, vmax=1, alpha=0.45)
    axes[2].set_title(titles[2], fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    write_atomic(path, buf.getvalue())


TITLE_WIDTH = 52
"""Characters per line of an overlay panel's title (a third of the figure at 9 pt), wrapped beyond."""


def _wrapped(text: str) -> str:
    """``text`` broken into lines that fit one panel, so titles neither clip nor run into the next."""
    import textwrap

    return "\n".join(textwrap.wrap(text, TITLE_WIDTH, break_long_words=True)) or text


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


def _floor_stat(block: LocalisationScores | None, metric: str) -> Stat | None:
    return None if block is None else getattr(block.per_rater, metric)


def _localisation_notes(summary: RunSummary) -> list[str]:
    floors = summary.human_baseline.floors or {}
    out = [
        "- per rater: against each dermatologist who drew the characteristic, averaged over them; vs fusion: "
        "against the fuzzy fusion of the dermatologists.",
        f"- dermatologists: {REFERENCE_LABELS.get(summary.compared_with, summary.compared_with)}"
        + (": each dermatologist's own explanation (the union of everything they outlined) scored exactly as "
           "this model's map, against the other dermatologists, averaged over the dermatologists and then "
           "over images." if summary.compared_with == LIKE_FOR_LIKE else
           " (a rater who did not outline a characteristic scores 0 there; not a like-for-like reference).")
        + " difference = model - dermatologists, ratio = model / dermatologists (per-rater means).",
    ]
    if floors:
        out.append("- floors: maps that need no model, scored the same way on every image (per-rater means): "
                   + "; ".join(f"{name} = {f.description}" for name, f in floors.items()) + ".")
        out.append(f"- {AT_FLOOR_NOTE}")
    out.append("- rater-to-rater (§6): the pairwise agreement table of the DermX paper (Table 3b; a rater's mask "
               "against another's, pooled over pairs): how the dermatologists agree with each other, shown for "
               "reference only.")
    return out


def partial_note(summary: RunSummary) -> str | None:
    """The line that marks a partial run (None for a complete one), in summaries and on the terminal."""
    if not summary.partial:
        return None
    why = f"--limit {summary.limit}" if summary.limit is not None else "images left out, see below"
    return (f"PARTIAL RUN: {summary.n_images} of {summary.n_reference_images} images ({why}); "
            "the leaderboard lists it apart from complete runs, unranked")


def render_markdown(summary: RunSummary) -> str:
    """``summary.md``: localisation per characteristic beside the human reference, the
    trivial-map floors and the rater-to-rater table, and diagnoses."""
    zero, skipped, sub = summary.all_zero_maps, summary.skipped_photographs, summary.submission
    note = partial_note(summary)
    lines = [
        f"# {summary.name}: {summary.method} ({summary.target} target)",
        "",
        *([f"**{note}**", ""] if note else []),
        f"- images scored: {summary.n_images} of {summary.n_reference_images} with a reference "
        f"(coverage {_coverage(summary.n_images, summary.n_reference_images)}); all-zero maps: {zero.n}"
        + (f" ({_shown(zero.images, zero.n)})" if zero.n else "")
        + ("" if summary.constant_maps is None else f"; constant maps (all-zero included): "
           f"{summary.constant_maps.n} (what each metric gives them: docs/metrics.md)"),
        f"- photographs skipped: {skipped.n}"
        + (f" ({', '.join(f'{v} {k}' for k, v in skipped.by_problem.items())})" if skipped.n else ""),
        f"- images excluded (no usable gold target): {summary.excluded_images.n}",
        f"- target layer `{sub.target_layer}`, input {list(sub.input_size)}, "
        f"resize `{sub.resize}`; store {summary.store_hash[:12]}; "
        f"bootstrap {summary.bootstrap.n} resamples, seed {summary.bootstrap.seed}",
        "",
        "## Localisation (mean ± sample std [bootstrap 95% interval] over images)",
        "",
        *_localisation_notes(summary),
        "",
    ]
    floors = summary.human_baseline.floors or {}
    pairwise = summary.human_baseline.localisation
    first = next(iter(summary.localisation.values()), None)
    shown = metrics_of(first.per_rater) if first is not None else list(METRIC_NAMES)
    marks = {ch: floor_marks({m: getattr(block.per_rater, m) for m in shown},
                             {n: {m: _floor_stat(f.localisation.get(ch), m) for m in shown}
                              for n, f in floors.items()})
             for ch, block in summary.localisation.items()}
    no_pairs = {ch: why for ch, block in summary.localisation.items()
                if (why := no_pairs_reason(block.baseline.f1)) is not None}
    for m in shown:
        lines += [f"### {m}", "",
                  "| characteristic | images | all-zero | per rater | vs fusion | dermatologists | difference | ratio | "
                  + "".join(f"floor: {name} | " for name in floors) + "rater-to-rater (§6) |",
                  "|---|---:|---:|---|---|---|---:|---:|" + "---:|" * len(floors) + "---:|"]
        for ch, block in summary.localisation.items():
            vs = getattr(block.vs_baseline, m) or Comparison(difference=None, ratio=None)
            model = getattr(block.per_rater, m)
            floor_stats = {name: _floor_stat(f.localisation.get(ch), m) for name, f in floors.items()}
            mark = f" {AT_FLOOR_MARK}" if marks[ch][m] else ""
            pair = getattr(pairwise[ch], m) if ch in pairwise else None
            cells = (NO_PAIRS, "", "") if ch in no_pairs else (
                _stat_cell(getattr(block.baseline, m)), _f(vs.difference), _f(vs.ratio, 2))
            pair_cell = NO_PAIRS if ch in pairwise and no_pairs_reason(pairwise[ch].f1) else \
                _f(None if pair is None else pair.mean)
            lines.append(
                f"| {ch} | {block.n_images} | {zero.by_characteristic.get(ch, 0)} | "
                f"{_stat_cell(model)}{mark} | {_stat_cell(getattr(block.fusion, m))} | "
                + " | ".join(cells) + " | "
                + "".join(f"{_f(None if st is None else st.mean)} | " for st in floor_stats.values())
                + f"{pair_cell} |"
            )
        lines.append("")
    lines += [f"{NO_PAIRS} ({ch}): {why}; difference and ratio left empty." for ch, why in no_pairs.items()]
    lines += [""] if no_pairs else []
    lines += as_dermatologist_markdown(summary.as_dermatologist or [])
    dx, human = summary.diagnosis, summary.human_baseline.diagnosis
    lines += ["## Diagnosis", "", f"accuracy {_f(dx.accuracy)}, macro F1 {_f(dx.macro_f1)}, "
              f"macro one-vs-rest AUROC {_f(dx.macro_auroc)} "
              f"(dermatologists vs gold: accuracy {_f(human.accuracy)}, macro F1 {_f(human.macro_f1)})", "",
              "| disease | images | F1 | sensitivity | specificity | AUROC |", "|---|---:|---:|---:|---:|---:|"]
    for name, c in dx.per_class.items():
        lines.append(f"| {name} | {c.n} | {_f(c.f1)} | {_f(c.sensitivity)} | {_f(c.specificity)} | {_f(c.auroc)} |")
    labels = dx.confusion.labels
    lines += ["", "Confusion matrix (rows: gold, columns: predicted)", "",
              "| gold \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for lab, row in zip(labels, dx.confusion.matrix, strict=True):
        lines.append(f"| {lab} | " + " | ".join(str(v) for v in row) + " |")
    if summary.overlays:
        lines += ["", "## Overlays", ""] + [f"![{p}]({p})" for p in summary.overlays]
    return "\n".join(lines) + "\n"
