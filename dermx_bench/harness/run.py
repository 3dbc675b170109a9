"""A scoring run: a submission's explanation maps scored against the dermatologists.

``score_run(submission, store, images, out)`` writes the folder ``out``::

    scores.csv        one row per image x characteristic x reference (see dermx_bench.harness.scoring)
    predictions.csv   one row per image: gold, explained target, predicted diagnosis, all-zero map
    summary.json      everything below plus the run's counts (skipped, excluded, all-zero maps)
    summary.md        the same as readable tables
    entry.json        the leaderboard entry (schema: dermx_bench.leaderboard.entry, version 1)
    overlays/*.png    photo | union of the dermatologists' masks | the model's map
    run_state.json    what the run was made with and how far it got (for --resume)

Every check (options, submission, store and baseline, photographs, output folder)
happens before any model work. Results are appended per batch to ``.partial/`` and
the state file records the batch count and the byte length of each partial file
after each batch (written via a temporary file and ``os.replace``). After a kill,
``resume=True`` cuts the partial files back to the last recorded batch and goes on;
since batches are the same and every time-dependent field (the entry's date) comes
from the run's start recorded in the state, the final files are byte-identical to an
uninterrupted run's (same machine and software). Final files are written via a
temporary file and ``os.replace``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dermx_bench import __version__
from dermx_bench.core.errors import DermxError, InputError, StoreError, SubmissionError
from dermx_bench.core.files import json_ready, write_atomic
from dermx_bench.core.names import FUSION_PREFIX, SCORE_COLUMNS, UNION
from dermx_bench.harness.run_report import render_markdown, render_overlay
from dermx_bench.harness.scoring import ScoreRow

PARTIAL = ".partial"
STATE_FILE = "run_state.json"
PRED_COLUMNS = ("image", "gold", "target", "predicted", "all_zero", "map_sum")
TARGETS = ("gold", "predicted")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
DEVICES = ("auto", "cpu", "cuda")
STATE_VERSION = 1


@dataclass
class ScoreOptions:
    """Options of a scoring run (the CLI's flags)."""

    method: str = "gradcam"
    target: str = "gold"
    device: str = "auto"
    batch_size: int = 16
    skip_missing: bool = False
    trust_code: bool = False
    n_boot: int = 1000
    seed: int = 0
    n_overlays: int = 6
    memory_format: str = "auto"


class RunConflictError(DermxError):
    """The output folder holds another run, or a run that cannot be resumed with these inputs."""


# -- small file helpers ---------------------------------------------------------------------


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"non-finite value {f} in a results row")
        return repr(f)
    return str(v)


def _csv_lines(rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([_fmt(v) for v in r])
    return buf.getvalue().encode("utf-8")


def versions() -> dict[str, str]:
    """Versions recorded in the entry."""
    from importlib.metadata import PackageNotFoundError, version

    import timm
    import torch

    try:
        gc = version("grad-cam")
    except PackageNotFoundError:
        gc = "unknown"
    return {"dermx_bench": __version__, "torch": str(torch.__version__), "timm": str(timm.__version__),
            "grad_cam": gc, "python": platform.python_version()}


def _torch_format(layout: str) -> Any:
    import torch

    return torch.channels_last if layout == "channels_last" else torch.contiguous_format


def choose_memory_format(model: Any, input_size: tuple[int, int], device: str, wanted: str = "auto") -> str:
    """The tensor layout the run uses: ``channels_last`` or ``contiguous``.

    ``auto`` picks ``channels_last`` (oneDNN and cuDNN convolutions run 1.4-1.7x faster
    on it for ResNet-50 / EfficientNet-B4 on a CPU; the maps are the same up to float
    rounding) when two random inputs give the same logits (rtol 1e-3, atol 1e-4) in both
    layouts, and ``contiguous`` when they do not or the model fails on channels-last
    input (e.g. a custom ``.view()``). Deterministic for a given model and device.
    """
    import torch

    if wanted == "contiguous":
        return "contiguous"
    if wanted == "channels_last":
        return "channels_last"
    x = torch.randn(2, 3, *input_size, generator=torch.Generator().manual_seed(0)).to(device)
    model.to(device)
    try:
        with torch.no_grad():
            ref = model(x)
            model.to(memory_format=torch.channels_last)
            got = model(x.contiguous(memory_format=torch.channels_last))
        same = bool(torch.allclose(ref, got, rtol=1e-3, atol=1e-4))
    except RuntimeError:
        same = False
    finally:
        model.to(memory_format=torch.contiguous_format)
    return "channels_last" if same else "contiguous"


def resolve_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise InputError("--device", "", f"expected one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device", "", "cuda was asked for but torch sees no CUDA device")
    return device


# -- planning -------------------------------------------------------------------------------------


@dataclass
class _Plan:
    loaded: Any
    refs: list[Any]
    paths: dict[str, Path]
    geoms: dict[str, Any]
    targets: dict[str, int | None]
    gold: dict[str, str | None]
    baseline: dict[str, Any]
    store_hash: str
    excluded: dict[str, str]
    skipped: dict[str, str]
    overlay_images: list[str]
    device: str
    fingerprint: dict[str, Any]


def _check_options(opts: ScoreOptions) -> None:
    from dermx_bench.harness.explainers import get_cam_method

    get_cam_method(opts.method)
    if opts.target not in TARGETS:
        raise InputError("--target", "", f"expected gold or predicted, got {opts.target!r}")
    if opts.batch_size < 1:
        raise InputError("--batch-size", "", f"must be at least 1, got {opts.batch_size}")
    if opts.memory_format not in MEMORY_FORMATS:
        raise InputError("--memory-format", "", f"expected one of {', '.join(MEMORY_FORMATS)}, "
                         f"got {opts.memory_format!r}")
    if opts.n_boot < 0:
        raise InputError("--n-boot", "", f"must be >= 0, got {opts.n_boot}")


def _pick_overlays(refs: Sequence[Any], gold: dict[str, str | None], n: int) -> list[str]:
    """Up to ``n`` images: the first (by name) of each gold diagnosis, then the next ones."""
    with_masks = [r.image for r in refs if r.drawn(UNION)]
    chosen: list[str] = []
    seen: set[str | None] = set()
    for name in with_masks:
        if gold.get(name) not in seen:
            seen.add(gold.get(name))
            chosen.append(name)
    for name in with_masks:
        if name not in chosen:
            chosen.append(name)
    return sorted(chosen[:n])


def plan_run(
    submission: str | Path, store_path: str | Path, images_dir: str | Path, opts: ScoreOptions,
    ontology: Any = None,
) -> _Plan:
    """Everything checked and decided before any model work (nothing is written)."""
    from dermx_bench.consensus.baseline import load_baseline
    from dermx_bench.consensus.references import load_references
    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.harness.images import find_images, geometry
    from dermx_bench.harness.submission import load_submission
    from dermx_bench.store.db import Store

    _check_options(opts)
    onto = ontology or load_ontology()
    device = resolve_device(opts.device)
    loaded = load_submission(submission, trust_code=opts.trust_code, ontology=onto)
    store = Store.open(store_path)
    try:
        baseline = load_baseline(store)
        store_hash = store.content_hash()
        options = baseline.get("options", {})
        md = options.get("localisation_multi_diagnosis", "drop")
        refs = load_references(store, md, baseline.get("release"), ontology=onto)
        infos = {im.name: im for im in store.images()}
    finally:
        store.close()
    if not refs:
        raise StoreError(f"{store_path}: no image has a counting evaluation; nothing to score")
    dx_index = loaded.diagnosis_indices
    excluded: dict[str, str] = {}
    kept = []
    for r in refs:
        if opts.target == "gold" and r.gold is None:
            excluded[r.image] = "no gold diagnosis in the metadata"
        elif opts.target == "gold" and r.gold not in dx_index:
            excluded[r.image] = f"gold diagnosis {r.gold!r} is not one of the model's classes"
        else:
            kept.append(r)
    if not kept:
        raise SubmissionError(
            f"{loaded.config_file}: classes: no image can be explained for its gold diagnosis "
            f"({len(excluded)} excluded, e.g. {next(iter(excluded.values()))})"
        )
    found = find_images(images_dir, [infos[r.image] for r in kept], skip_missing=opts.skip_missing)
    refs_ok = [r for r in kept if r.image in found.found]
    if not refs_ok:
        raise InputError(images_dir, "", "none of the photographs can be used; nothing to score")
    gold = {r.image: r.gold for r in refs_ok}
    targets = {r.image: (dx_index[str(r.gold)] if opts.target == "gold" else None) for r in refs_ok}
    geoms = {r.image: geometry(r.height, r.width, loaded.input_size, loaded.config.resize) for r in refs_ok}
    overlays = _pick_overlays(refs_ok, gold, opts.n_overlays)
    names = [r.image for r in refs_ok]
    fingerprint = {
        "dermx_bench": __version__,
        "submission_config_sha256": hashlib.sha256(loaded.config_file.read_bytes()).hexdigest(),
        "weights_sha256": loaded.weights_sha256,
        "store_hash": store_hash,
        "baseline_options": options,
        "method": opts.method,
        "target": opts.target,
        "device": device,
        "memory_format": opts.memory_format,
        "batch_size": opts.batch_size,
        "n_boot": opts.n_boot,
        "seed": opts.seed,
        "n_overlays": opts.n_overlays,
        "images_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
        "n_images": len(names),
    }
    return _Plan(loaded, refs_ok, dict(found.found), geoms, targets, gold, baseline, store_hash,
                 excluded, dict(found.problems), overlays, device, fingerprint)


# -- state ------------------------------------------------------------------------------------------


def _read_state(out: Path) -> dict[str, Any] | None:
    p = out / STATE_FILE
    if not p.exists():
        return None
    try:
        return dict(json.loads(p.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as exc:
        raise RunConflictError(f"{p}: unreadable run state ({exc}); remove the folder to start over") from None


def _start_time(now: datetime | None) -> str:
    """The run's start as ISO 8601 UTC seconds: ``now``, else ``SOURCE_DATE_EPOCH`` when set
    (reproducible-builds convention, for identical reruns), else the clock."""
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if epoch:
            try:
                now = datetime.fromtimestamp(int(epoch), UTC)
            except (ValueError, OverflowError, OSError):
                raise InputError("SOURCE_DATE_EPOCH", "", f"expected an integer Unix time, got {epoch!r}") from None
    return (now or datetime.now(UTC)).replace(microsecond=0).isoformat()


def _precheck_out(out: Path, resume: bool) -> None:
    """Fail fast (before loading anything) when ``out`` cannot hold this run."""
    if out.exists() and not out.is_dir():
        raise RunConflictError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE_FILE).exists():
        if resume:
            raise RunConflictError(f"{out}: no {STATE_FILE} here, nothing to resume")
        raise RunConflictError(f"{out}: the folder exists and is not empty; choose a new --out")
    if (out / STATE_FILE).exists() and not resume:
        raise RunConflictError(f"{out}: holds a run; pass --resume to finish it or choose a new --out")


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files a killed run left behind (``.<name>.tmp``)."""
    for folder in (out, out / "overlays"):
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink()


def _prepare_out(out: Path, plan: _Plan, resume: bool, now: datetime | None) -> dict[str, Any]:
    state = _read_state(out) if out.exists() else None
    if state is None:
        if out.exists() and any(out.iterdir()):
            if resume:
                raise RunConflictError(f"{out}: no {STATE_FILE} here, nothing to resume")
            raise RunConflictError(f"{out}: the folder exists and is not empty; choose a new --out")
        started = _start_time(now)
        state = {"version": STATE_VERSION, "fingerprint": plan.fingerprint, "started_at": started,
                 "status": "running", "batches_done": 0, "images_done": 0, "bytes": {}}
        (out / PARTIAL).mkdir(parents=True, exist_ok=True)
        (out / "overlays").mkdir(exist_ok=True)
        write_atomic(out / STATE_FILE, _json_bytes(state))
        return state
    if not resume:
        raise RunConflictError(
            f"{out}: holds a run ({state.get('status')}, {state.get('images_done')} images done); "
            "pass --resume to finish it or choose a new --out"
        )
    _remove_stale_temporaries(out)
    old = state.get("fingerprint", {})
    diffs = [k for k in sorted(set(old) | set(plan.fingerprint)) if old.get(k) != plan.fingerprint.get(k)]
    if diffs:
        raise RunConflictError(
            f"{out}: cannot resume: the run was started with different {', '.join(diffs)} "
            "(same submission, store, photographs and options are needed; start a new --out instead)"
        )
    return state


# -- the run ------------------------------------------------------------------------------------------


def _load_batch(plan: _Plan, names: Sequence[str]) -> np.ndarray:
    from dermx_bench.harness.images import load_photo, preprocess

    lm = plan.loaded
    arr = np.zeros((len(names), 3, *lm.input_size), np.float32)
    for i, name in enumerate(names):
        arr[i] = preprocess(load_photo(plan.paths[name]), plan.geoms[name], lm.config.mean, lm.config.std)
    return arr


def _truncate(path: Path, size: int) -> None:
    with open(path, "ab") as fh:
        fh.truncate(size)


def _append(path: Path, data: bytes) -> int:
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()


def score_run(
    submission: str | Path,
    store_path: str | Path,
    images_dir: str | Path,
    out_dir: str | Path,
    opts: ScoreOptions | None = None,
    *,
    resume: bool = False,
    on_batch: Callable[[int], None] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Run (or resume) a scoring run; returns the summary (as in ``summary.json``).

    ``on_plan(total_images, already_done)`` is called once before model work,
    ``on_batch(n_images)`` after each batch. ``now``: the start time to record
    (default: ``SOURCE_DATE_EPOCH`` if set, else the clock); a resumed run keeps the
    recorded one. Denormal floats are flushed to zero during the run (CPU speed).
    """
    from dermx_bench.core.numeric import flush_denormal

    o = opts or ScoreOptions()
    out = Path(out_dir)
    _precheck_out(out, resume)
    plan = plan_run(submission, store_path, images_dir, o)
    with flush_denormal():
        return _execute(plan, o, out, resume, on_batch, on_plan, now)


def _execute(
    plan: _Plan, o: ScoreOptions, out: Path, resume: bool, on_batch: Callable[[int], None] | None,
    on_plan: Callable[[int, int], None] | None, now: datetime | None,
) -> dict[str, Any]:
    import torch

    from dermx_bench.harness.explainers import get_cam_method
    from dermx_bench.harness.images import load_photo, upsample_map
    from dermx_bench.harness.scoring import score_map

    state = _prepare_out(out, plan, resume, now)
    part = out / PARTIAL
    if state.get("status") == "complete" and (out / "summary.json").exists():
        if on_plan:
            on_plan(len(plan.refs), len(plan.refs))
        return dict(json.loads((out / "summary.json").read_text(encoding="utf-8")))
    part.mkdir(parents=True, exist_ok=True)
    (out / "overlays").mkdir(exist_ok=True)
    sizes = state.get("bytes", {})
    for fname in ("scores.part.csv", "predictions.part.csv"):
        p = part / fname
        if not p.exists():
            p.touch()
        _truncate(p, int(sizes.get(fname, 0)))
    refs = plan.refs
    bs = o.batch_size
    batches = [refs[k : k + bs] for k in range(0, len(refs), bs)]
    done = int(state.get("batches_done", 0))
    if on_plan:
        on_plan(len(refs), sum(len(b) for b in batches[:done]))

    lm = plan.loaded
    layout = choose_memory_format(lm.module, lm.input_size, plan.device, o.memory_format)
    state["memory_format"] = layout
    model = lm.module.to(plan.device, memory_format=_torch_format(layout))
    layer = lm.target_module()
    method = get_cam_method(o.method)
    dx_index = lm.diagnosis_indices
    dx_cols = np.array(list(dx_index.values()), dtype=np.int64)

    def predicted_targets(logits: np.ndarray) -> list[int]:
        return [int(dx_cols[j]) for j in logits[:, dx_cols].argmax(axis=1)]

    overlay_set = set(plan.overlay_images)
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = pool.submit(_load_batch, plan, [r.image for r in batches[done]]) if done < len(batches) else None
        for b in range(done, len(batches)):
            batch_refs = batches[b]
            names = [r.image for r in batch_refs]
            if nxt is None:  # pragma: no cover - always set in the loop
                raise RuntimeError("batch loader missing")
            x = nxt.result()
            nxt = pool.submit(_load_batch, plan, [r.image for r in batches[b + 1]]) if b + 1 < len(batches) else None
            xt = torch.from_numpy(x).to(plan.device).contiguous(memory_format=_torch_format(layout))
            tg: Any = [plan.targets[n] for n in names] if o.target == "gold" else predicted_targets
            try:
                cam = method(model, layer, xt, tg)
            except SubmissionError as exc:
                raise SubmissionError(f"batch of {', '.join(names)}: {exc}") from None
            logits = cam.logits
            if not np.isfinite(logits).all():
                raise SubmissionError(f"the model's outputs are not finite for one of: {', '.join(names)}")
            pred_idx = logits[:, dx_cols].argmax(axis=1)
            score_rows: list[Sequence[Any]] = []
            pred_rows: list[Sequence[Any]] = []
            for i, ref in enumerate(batch_refs):
                full = upsample_map(cam.maps[i], plan.geoms[ref.image])
                rows: list[ScoreRow] = score_map(ref, full)
                score_rows += [[getattr(r, c) for c in SCORE_COLUMNS] for r in rows]
                map_sum = float(full.sum(dtype=np.float64))
                predicted = lm.classes[int(dx_cols[pred_idx[i]])]
                pred_rows.append([ref.image, ref.gold, lm.classes[int(cam.targets[i])], predicted,
                                  not bool(map_sum > 0), map_sum])
                if ref.image in overlay_set:
                    union = ref.fuse(UNION) if ref.drawn(UNION) else np.zeros(ref.size, np.float32)
                    f1 = next((r.f1 for r in rows if r.characteristic == UNION
                               and r.reference.startswith(FUSION_PREFIX)), None)
                    render_overlay(
                        out / "overlays" / f"{_safe(ref.image)}.png", load_photo(plan.paths[ref.image]),
                        union, full, n_raters=len(ref.raters),
                        title=f"{ref.image}: gold {ref.gold}, predicted {predicted}",
                        map_title=(f"{o.method} for {lm.classes[int(cam.targets[i])]}"
                                   + (f" (union F1 vs fusion {f1:.2f})" if f1 is not None else "")),
                    )
            sizes = {
                "scores.part.csv": _append(part / "scores.part.csv", _csv_lines(score_rows)),
                "predictions.part.csv": _append(part / "predictions.part.csv", _csv_lines(pred_rows)),
            }
            state.update({"batches_done": b + 1, "images_done": sum(len(bb) for bb in batches[: b + 1]),
                          "bytes": sizes})
            write_atomic(out / STATE_FILE, _json_bytes(state))
            if on_batch:
                on_batch(len(names))
    summary = _finalise(out, plan, o, state)
    state["status"] = "complete"
    write_atomic(out / STATE_FILE, _json_bytes(state))
    shutil.rmtree(part, ignore_errors=True)
    return summary


def _safe(name: str) -> str:
    """A file-name-safe form of an image name (a short hash keeps altered names distinct)."""
    keep = "".join(c if (c.isascii() and (c.isalnum() or c in "-_.")) else "_" for c in name).strip(".")
    if keep != name or not keep:
        keep = f"{keep[:80] or 'image'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return keep


# -- final files ------------------------------------------------------------------------------------


def build_entry(
    plan: _Plan, opts: ScoreOptions, localisation: dict[str, Any], per_image_union: dict[str, Any],
    diagnosis: dict[str, Any], n_images: int, n_all_zero: int, started_at: str,
) -> dict[str, Any]:
    """The entry.json document (schema version 1, see dermx_bench.leaderboard.entry)."""
    lm = plan.loaded
    base = plan.baseline
    return json_ready({
        "schema_version": 1,
        "name": lm.config.name,
        "authors": lm.config.authors,
        "description": lm.config.description,
        "submission": lm.submission_fields(),
        "weights_sha256": lm.weights_sha256,
        "store": {"content_hash": plan.store_hash,
                  "baseline_options": {str(k): str(v) for k, v in base.get("options", {}).items()}},
        "method": opts.method,
        "target": opts.target,
        "versions": versions(),
        "date": started_at,
        "bootstrap": {"n": opts.n_boot, "seed": opts.seed},
        "n_images": n_images,
        "n_all_zero_maps": n_all_zero,
        "localisation": localisation,
        "per_image_union": per_image_union,
        "diagnosis": diagnosis,
        "human_baseline": {"localisation": base.get("localisation", {}), "diagnosis": base.get("diagnosis", {})},
    })


def _finalise(out: Path, plan: _Plan, opts: ScoreOptions, state: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from dermx_bench.darwin.ontology import load_ontology
    from dermx_bench.harness.images import problem_counts
    from dermx_bench.harness.scoring import diagnosis_scores
    from dermx_bench.stats.aggregate import aggregate_scores, per_image_union, with_baseline

    part = out / PARTIAL
    header_s = _csv_lines([SCORE_COLUMNS])
    header_p = _csv_lines([PRED_COLUMNS])
    write_atomic(out / "scores.csv", header_s + (part / "scores.part.csv").read_bytes())
    write_atomic(out / "predictions.csv", header_p + (part / "predictions.part.csv").read_bytes())
    scores = pd.read_csv(out / "scores.csv")
    preds = pd.read_csv(out / "predictions.csv", keep_default_na=False, dtype={"gold": str})
    loc = aggregate_scores(scores, opts.seed, opts.n_boot, load_ontology().order)
    localisation = with_baseline(loc, plan.baseline.get("localisation", {}))
    piu = per_image_union(scores)
    lm = plan.loaded
    with_gold = preds[preds["gold"] != ""]
    onto = load_ontology()
    labels = onto.order(sorted(set(lm.diagnosis_indices) | set(with_gold["gold"])))
    diagnosis = diagnosis_scores(list(with_gold["gold"]), list(with_gold["predicted"]), labels)
    all_zero_images = sorted(preds.loc[preds["all_zero"].astype(bool), "image"].astype(str))
    n_images = len(preds)
    entry = build_entry(plan, opts, localisation, piu, diagnosis, n_images, len(all_zero_images),
                        str(state["started_at"]))
    zero_by_char = {
        str(ch): int(g.drop_duplicates("image")["all_zero"].astype(bool).sum())
        for ch, g in scores.groupby("characteristic", sort=False)
    }
    summary = json_ready({
        "name": lm.config.name,
        "submission": lm.submission_fields(),
        "weights_sha256": lm.weights_sha256,
        "store_hash": plan.store_hash,
        "method": opts.method,
        "target": opts.target,
        "device": plan.device,
        "memory_format": state.get("memory_format"),
        "batch_size": opts.batch_size,
        "started_at": state["started_at"],
        "n_images": n_images,
        "n_score_rows": len(scores),
        "all_zero_maps": {"n": len(all_zero_images), "images": all_zero_images,
                          "by_characteristic": {k: zero_by_char.get(k, 0) for k in localisation}},
        "skipped_photographs": {"n": len(plan.skipped), "by_problem": problem_counts(plan.skipped),
                                "images": plan.skipped},
        "excluded_images": {"n": len(plan.excluded), "images": plan.excluded},
        "images_without_gold": int((preds["gold"] == "").sum()),
        "bootstrap": {"n": opts.n_boot, "seed": opts.seed},
        "localisation": localisation,
        "diagnosis": diagnosis,
        "human_baseline": entry["human_baseline"],
        "overlays": [f"overlays/{_safe(n)}.png" for n in plan.overlay_images],
    })
    write_atomic(out / "entry.json", _json_bytes(entry))
    write_atomic(out / "summary.json", _json_bytes(summary))
    write_atomic(out / "summary.md", render_markdown(summary).encode("utf-8"))
    return summary


__all__ = ["ScoreOptions", "RunConflictError", "score_run", "plan_run", "versions",
           "build_entry"]
