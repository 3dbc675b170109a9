"""Synthetic photographs for a store's images, so the harness runs without the real photos.

For each image of the store: a skin-toned background at the annotated width x height
(tone from the metadata's ``skin_tone`` when known), mild shading and pore noise, and
a lesion-like texture painted inside the union of the counting dermatologists' masks
(all characteristics, all raters). The texture depends on the gold diagnosis (colour,
grain, scale dots), so a classifier can learn the diagnosis from the lesions. With
``marker``, a spurious coloured marker whose position and colour encode the diagnosis
is added at one of six places along the photograph's border: a model
can learn the diagnosis from it alone (a "shortcut"), and its maps then point at the
marker rather than at the lesions.

Everything is drawn from ``numpy.random.default_rng([seed, k])`` with ``k`` taken from the
sha256 of the image's name, so a photo does not depend on which other images are made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DIAGNOSES = ("Acne", "Actinic keratosis", "Psoriasis", "Seborrheic dermatitis", "Viral warts", "Vitiligo")

SKIN_TONES: dict[str, tuple[int, int, int]] = {
    "light": (232, 190, 165),
    "medium": (196, 140, 105),
    "dark": (120, 80, 58),
}

# Lesion look per diagnosis: base colour (RGB), grain scale (pixels), scale-dot colour, dot density.
_LOOK: dict[str, tuple[tuple[int, int, int], float, tuple[int, int, int], float]] = {
    "Acne": ((200, 60, 60), 2.0, (250, 240, 190), 0.04),
    "Actinic keratosis": ((170, 100, 80), 1.0, (235, 225, 215), 0.10),
    "Psoriasis": ((205, 75, 90), 3.0, (245, 245, 250), 0.25),
    "Seborrheic dermatitis": ((215, 160, 110), 4.0, (240, 220, 140), 0.12),
    "Viral warts": ((150, 135, 120), 1.5, (70, 50, 45), 0.08),
    "Vitiligo": ((250, 238, 228), 6.0, (255, 250, 245), 0.0),
}
_NEUTRAL = ((160, 110, 120), 2.5, (230, 230, 230), 0.1)

# Marker colours per diagnosis (a saturated colour no lesion has).
_MARKER_COLOURS = [(0, 90, 255), (0, 200, 0), (255, 0, 255), (0, 220, 220), (255, 150, 0), (20, 20, 20)]


def _rng(seed: int, key: str) -> np.random.Generator:
    k = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, k])


def _smooth_noise(
    rng: np.random.Generator, h: int, w: int, scale: float, window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """float32 (h, w) noise in about [-1, 1] with features of ``scale`` pixels (bilinear upsampled).

    ``window`` = (row0, row1, col0, col1): only that part of the (h, w) noise is returned
    (the same values, the same random draws). Interpolated along columns first, then rows:
    the same float32 operations in the same order as the four-corner formula, so the
    same bits (float64, as numpy promotes the int64 corners), at a fraction of the cost.
    """
    gh, gw = max(2, int(h / max(scale, 1.0)) + 2), max(2, int(w / max(scale, 1.0)) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    r0, r1, c0, c1 = window if window is not None else (0, h, 0, w)
    ys = np.linspace(0, gh - 1.001, h, dtype=np.float32)[r0:r1]
    xs = np.linspace(0, gw - 1.001, w, dtype=np.float32)[c0:c1]
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    lo, hi = int(y0[0]), int(y0[-1]) + 2  # the grid rows the window needs
    part = grid[lo:hi]
    along = np.empty((gh, len(xs)), fx.dtype)
    along[lo:hi] = part[:, x0] * (1 - fx) + part[:, x0 + 1] * fx
    out = along[y0] * (1 - fy)
    out += along[y0 + 1] * fy
    out /= 1.5
    return np.clip(out, -1.0, 1.0, out=out)


def skin_background(h: int, w: int, tone: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """float32 (h, w, 3) skin in [0, 255]: tone, broad shading and fine pore noise."""
    base = np.asarray(tone, np.float32) * np.float32(rng.uniform(0.92, 1.08))
    shade = 1.0 + 0.08 * _smooth_noise(rng, h, w, max(h, w) / 3)
    pores = 6.0 * _smooth_noise(rng, h, w, 1.5)
    img = base[None, None, :] * shade[..., None]  # float64, as the noise
    img += pores[..., None]
    return np.clip(img, 0, 255, out=img).astype(np.float32)


_BLUR_REACH = 9
"""Rows/columns around the mask's box that the edge softening (Gaussian, sigma 1, radius 4) can
touch, with room for its reflection at the window's edge: outside, the blend weight is exactly 0."""


def paint_lesions(img: np.ndarray, mask: np.ndarray, diagnosis: str | None, rng: np.random.Generator) -> None:
    """Paint the lesion texture of ``diagnosis`` (neutral if None/unknown) where ``mask`` is set.

    ``img``: float32 (h, w, 3) in [0, 255], modified in place; ``mask``: bool (h, w).
    Edges are softened over ~2 pixels so the lesion blends into the skin. Only the mask's
    bounding box (plus the softening's reach) is computed; the random draws are those of
    the whole image, so a photograph does not depend on where its lesions lie.
    """
    if not mask.any():
        return
    from scipy.ndimage import gaussian_filter

    colour, grain, dot_colour, density = _LOOK.get(diagnosis or "", _NEUTRAL)
    h, w = mask.shape
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    win = (max(0, int(rows[0]) - _BLUR_REACH), min(h, int(rows[-1]) + 1 + _BLUR_REACH),
           max(0, int(cols[0]) - _BLUR_REACH), min(w, int(cols[-1]) + 1 + _BLUR_REACH))
    box = (slice(win[0], win[1]), slice(win[2], win[3]))
    alpha = np.clip(gaussian_filter(mask[box].astype(np.float32), 1.0) * 1.3, 0.0, 1.0) * 0.92
    tex = np.asarray(colour, np.float32)[None, None, :] * (
        1.0 + 0.15 * _smooth_noise(rng, h, w, grain, win))[..., None]
    if density > 0:
        dots = (rng.random((h, w)) < density)[box]
        tex[dots] = 0.4 * tex[dots] + 0.6 * np.asarray(dot_colour, np.float32)  # blended where the dots are
    a = alpha[..., None]
    part = img[box]
    part *= 1.0 - a
    tex *= a
    part += tex


def marker_box(h: int, w: int, diagnosis: str) -> tuple[int, int, int, int]:
    """(row0, col0, row1, col1) of the diagnosis's marker: one of six border positions."""
    k = DIAGNOSES.index(diagnosis) if diagnosis in DIAGNOSES else 0
    size = max(4, int(round(0.12 * min(h, w))))
    pad = max(1, int(round(0.03 * min(h, w))))
    rows = [pad, h - pad - size]
    cols = [pad, (w - size) // 2, w - pad - size]
    r0, c0 = rows[k // 3], cols[k % 3]
    return r0, c0, r0 + size, c0 + size


def paint_marker(img: np.ndarray, diagnosis: str) -> None:
    """Draw the diagnosis's marker (a filled square with a white ring) on ``img`` in place."""
    h, w = img.shape[:2]
    r0, c0, r1, c1 = marker_box(h, w, diagnosis)
    k = DIAGNOSES.index(diagnosis) if diagnosis in DIAGNOSES else 0
    img[r0:r1, c0:c1] = 255.0
    b = max(1, (r1 - r0) // 5)
    img[r0 + b : r1 - b, c0 + b : c1 - b] = np.asarray(_MARKER_COLOURS[k], np.float32)


def synth_photo(
    height: int, width: int, lesion_mask: np.ndarray | None, diagnosis: str | None,
    rng: np.random.Generator, *, tone: tuple[int, int, int] | None = None, marker: str | None = None,
) -> np.ndarray:
    """One synthetic photograph, uint8 (height, width, 3) RGB.

    ``lesion_mask``: bool (height, width) where lesions are painted (None: none);
    ``diagnosis``: the lesion texture; ``marker``: the diagnosis whose marker is drawn (None: no marker).
    """
    tones = list(SKIN_TONES.values())
    t = tone if tone is not None else tones[int(rng.integers(len(tones)))]
    img = skin_background(height, width, t, rng)
    if lesion_mask is not None:
        paint_lesions(img, lesion_mask.astype(bool), diagnosis, rng)
    if marker is not None:
        paint_marker(img, marker)
    np.rint(img, out=img)
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def random_lesion_mask(height: int, width: int, rng: np.random.Generator, n: tuple[int, int] = (1, 4)) -> np.ndarray:
    """bool (height, width): 1-3 random blobs (ellipses with wobbly edges) away from the border."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    mask = np.zeros((height, width), dtype=bool)
    m = min(height, width)
    for _ in range(int(rng.integers(n[0], n[1]))):
        ry, rx = m * rng.uniform(0.08, 0.22), m * rng.uniform(0.08, 0.22)
        cy = rng.uniform(0.2 * height + ry / 2, 0.8 * height - ry / 2)
        cx = rng.uniform(0.2 * width + rx / 2, 0.8 * width - rx / 2)
        ang = np.arctan2(yy - cy, xx - cx)
        wobble = 1.0 + 0.15 * np.sin(3 * ang + rng.uniform(0, 6.3)) + 0.1 * np.sin(5 * ang + rng.uniform(0, 6.3))
        mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= wobble**2
    return mask


@dataclass
class SynthReport:
    """What :func:`write_store_images` wrote."""

    out_dir: str
    written: int
    with_lesions: int
    with_marker: int
    seed: int
    format: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _PhotoJob:
    """One photograph to make: everything a worker process needs (no store access)."""

    name: str
    height: int
    width: int
    tone: tuple[int, int, int] | None
    diagnosis: str | None
    lesions: Any  # the union of the counting raters' masks (dermx_bench.masks.rle.RLE), or None
    path: Path


def _make_photo(job: _PhotoJob, seed: int, marker: bool, fmt: str) -> bool:
    """Paint and write one photograph; True when it has lesions."""
    import io

    from PIL import Image

    from dermx_bench.core.files import write_atomic
    from dermx_bench.masks import rle
    from dermx_bench.synthetic.png import png_bytes

    mask = rle.decode(job.lesions).astype(bool) if job.lesions is not None else None
    dx = job.diagnosis
    photo = synth_photo(job.height, job.width, mask, dx, _rng(seed, job.name), tone=job.tone,
                        marker=dx if (marker and dx is not None) else None)
    if fmt == "png":
        write_atomic(job.path, png_bytes(photo))  # no row filters, ISA-L deflate
    else:
        buf = io.BytesIO()
        Image.fromarray(photo).save(buf, format="JPEG", quality=92)
        write_atomic(job.path, buf.getvalue())
    return mask is not None and bool(mask.any())


_PIXELS_PER_WORKER = 8_000_000
"""Below about this many pixels in all, worker processes cost more (start-up) than they save."""


def write_store_images(
    store_path: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 0,
    marker: bool = False,
    fmt: str = "png",
    multi_diagnosis: str = "drop",
    images: Sequence[str] | None = None,
    limit: int | None = None,
    workers: int | None = None,
    on_image: Any = None,
    on_total: Any = None,
) -> SynthReport:
    """Write ``<image name>.<fmt>`` for every store image (or those named in ``images``).

    Lesions fill the union of the counting raters' masks (``multi_diagnosis`` selects
    which evaluations count, METHODS §3); an image no counting rater drew on is plain
    skin. The texture follows the metadata's gold diagnosis; ``marker`` adds the
    diagnosis's marker. Files are written with :func:`dermx_bench.core.files.write_atomic`.
    ``limit``: only the first ``limit`` images in the store's order (by name), a
    deterministic subset. ``workers``: processes painting in parallel (None: every CPU
    when the photographs hold over ~8 megapixels in all, else this process); each photo
    depends only on the seed and its name, so the files are the same for any number.
    ``on_total(n)`` is called once the count is known, ``on_image()`` after each photo.
    """
    import os

    from dermx_bench.consensus.references import load_references
    from dermx_bench.core.errors import InputError
    from dermx_bench.core.names import UNION
    from dermx_bench.core.paths import child
    from dermx_bench.masks import rle
    from dermx_bench.store.db import Store

    if fmt not in ("png", "jpeg"):
        raise InputError(out_dir, "format", f"expected png or jpeg, got {fmt!r}")
    if limit is not None and limit < 0:
        raise InputError("--limit", str(limit), "expected a number of images >= 0")
    out = Path(out_dir)
    store = Store.open(store_path)
    try:
        infos = store.images()
        refs = {r.image: r for r in load_references(store, multi_diagnosis)}  # type: ignore[arg-type]
    finally:
        store.close()
    wanted = set(images) if images is not None else None
    infos = [info for info in infos if wanted is None or info.name in wanted][:limit]
    jobs = []
    for info in infos:  # every name checked (child) before anything is written
        ref = refs.get(info.name)
        lesions = rle.merge(list(ref.drawn(UNION).values())) if ref is not None and ref.drawn(UNION) else None
        jobs.append(_PhotoJob(info.name, info.height, info.width, SKIN_TONES.get((info.skin_tone or "").strip().lower()),
                              info.gold, lesions, child(out, f"{info.name}.{fmt}")))
    if on_total is not None:
        on_total(len(jobs))
    out.mkdir(parents=True, exist_ok=True)
    report = SynthReport(str(out), 0, 0, 0, seed, fmt)
    if workers is None:
        workers = (os.cpu_count() or 1) if sum(j.height * j.width for j in jobs) > _PIXELS_PER_WORKER else 1
    for has_lesions, job in zip(_run_jobs(jobs, seed, marker, fmt, workers), jobs, strict=True):
        report.written += 1
        report.with_lesions += int(has_lesions)
        report.with_marker += int(marker and job.diagnosis is not None)
        if on_image is not None:
            on_image()
    return report


def _run_jobs(jobs: Sequence[_PhotoJob], seed: int, marker: bool, fmt: str, workers: int) -> Iterator[bool]:
    """Each job's result in order: here, or in ``workers`` spawned processes."""
    import functools

    make = functools.partial(_make_photo, seed=seed, marker=marker, fmt=fmt)
    if workers <= 1 or len(jobs) < 2:
        yield from map(make, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(make, jobs, chunksize=2)


def training_set(
    n: int, size: tuple[int, int], seed: int, *, lesions: str = "diagnosis", marker: str = "none",
    diagnoses: Sequence[str] = DIAGNOSES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random synthetic photos for training small models.

    ``size`` = (height, width). ``lesions``: ``"diagnosis"`` (texture of the label),
    ``"random"`` (texture of a diagnosis drawn at random, possibly the label's: uninformative) or ``"none"``.
    ``marker``: ``"diagnosis"`` (the label's marker), ``"random"`` or ``"none"``.
    Returns (photos uint8 (n, h, w, 3), labels int64 (n,) indexing ``diagnoses``,
    lesion masks bool (n, h, w)).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    photos = np.zeros((n, h, w, 3), np.uint8)
    labels = np.zeros(n, np.int64)
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        y = int(rng.integers(len(diagnoses)))
        dx = diagnoses[y]
        mask = random_lesion_mask(h, w, rng) if lesions != "none" else None
        tex = dx if lesions == "diagnosis" else str(rng.choice(list(diagnoses)))
        mk = dx if marker == "diagnosis" else (str(rng.choice(list(diagnoses))) if marker == "random" else None)
        photos[i] = synth_photo(h, w, mask, tex, rng, marker=mk)
        labels[i] = y
        if mask is not None:
            masks[i] = mask
    return photos, labels, masks
