"""Photographs: find them, check them, prepare model inputs, and map results back.

Photographs in ``--images DIR`` are matched to the store's images by file stem
(the DermX ``current_filename`` without its extension, which is also the image
part of the annotation file names). Every problem (missing, ambiguous, unreadable,
size different from the annotated width x height) is found before any model work.

Geometry. A model input of ``input_size`` (H_in, W_in) shows a box of the
photograph, given in continuous pixel-edge coordinates ``(x0, y0, x1, y1)`` (pixel
(row r, col c) covers [c, c+1) x [r, r+1)):
- ``stretch``: the whole photograph, ``(0, 0, W, H)``;
- ``shorter-side+center-crop``: the photograph scaled by
  ``s = max(H_in / H, W_in / W)`` (so the shorter side, relative to the input's
  aspect, fills the input) and the central H_in x W_in cut out, i.e. the box of
  size ``(W_in / s, H_in / s)`` centred in the photograph.
A map of any (h, w) grid covers that box uniformly (cell centres at
``x0 + (j + 0.5) (x1 - x0) / w``); :func:`upsample_map` samples it bilinearly at
every photograph pixel centre (edge cells extended, as ``align_corners=False``)
and sets pixels outside the box, which the model never saw, to 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dermx_bench.core.errors import InputError

if TYPE_CHECKING:
    from PIL import Image as PILImage

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
RESIZE_MODES = ("stretch", "shorter-side+center-crop")


class HasSize(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...


@dataclass
class ImageSet:
    """Photographs matched to store images.

    ``found``: image name -> path, in the order asked. ``problems``: image name ->
    what is wrong (missing, ambiguous, unreadable, too large, wrong size); those images are
    skipped when ``skip_missing`` was given, otherwise :func:`find_images` raised.
    """

    folder: Path
    found: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def problem_counts(self) -> dict[str, int]:
        """Skipped images by kind of problem (the text before the first ':')."""
        return problem_counts(self.problems)


def problem_counts(problems: Mapping[str, str]) -> dict[str, int]:
    """Count problems (image name -> text) by kind: the text before the first ':', in first-seen order."""
    return dict(Counter(p.split(":", 1)[0] for p in problems.values()))


def _index(folder: Path) -> dict[str, list[Path]]:
    by_stem: dict[str, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            by_stem.setdefault(p.stem, []).append(p)
    return by_stem


def check_photo(path: Path, height: int, width: int, decode: bool = True) -> str | None:
    """What is wrong with a photograph of the annotated size (height, width) (None when fine).

    Reads the header for the size; with ``decode`` also decodes the pixels (JPEGs
    at 1/8 scale, which reads the whole file) to catch truncated files. A photograph
    Pillow refuses as a possible decompression bomb (more than twice
    ``PIL.Image.MAX_IMAGE_PIXELS`` pixels) is ``too large``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            size = im.size
            if size != (width, height):
                return (f"wrong size: {path.name} is {size[0]}x{size[1]} (width x height), "
                        f"the annotations are {width}x{height}")
            if decode:
                if im.format == "JPEG":
                    im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
    except Image.DecompressionBombError as exc:
        return f"too large: {path.name} ({exc})"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return f"unreadable: {path.name} ({exc})"
    return None


def find_images(
    folder: str | Path, images: Sequence[HasSize], *, skip_missing: bool = False, decode: bool = True
) -> ImageSet:
    """Match ``images`` (store images with name, width, height) to photographs in ``folder``.

    Files are matched by stem (any of :data:`IMAGE_SUFFIXES`, case-insensitive,
    searched recursively). Raises :class:`InputError` listing every problem unless
    ``skip_missing``, in which case the problems are returned in ``ImageSet.problems``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(root, "", "no such folder of photographs (--images)")
    by_stem = _index(root)
    out = ImageSet(root)
    for info in images:
        paths = by_stem.get(info.name, [])
        if not paths:
            out.problems[info.name] = f"missing: no photograph with stem {info.name!r}"
            continue
        if len(paths) > 1:
            out.problems[info.name] = ("ambiguous: several files share the stem: "
                                       + ", ".join(str(p.relative_to(root)) for p in paths))
            continue
        problem = check_photo(paths[0], info.height, info.width, decode=decode)
        if problem is not None:
            out.problems[info.name] = problem
            continue
        out.found[info.name] = paths[0]
    if out.problems and not skip_missing:
        shown = "\n  ".join(f"{k}: {v}" for k, v in list(out.problems.items())[:30])
        more = f"\n  ... and {len(out.problems) - 30} more" if len(out.problems) > 30 else ""
        counts = ", ".join(f"{n} {k}" for k, n in out.problem_counts().items())
        raise InputError(
            root, "", f"{len(out.problems)} of {len(images)} photograph(s) cannot be used ({counts}); "
            f"fix them or pass --skip-missing to score the rest:\n  {shown}{more}"
        )
    return out


@dataclass(frozen=True)
class Geometry:
    """How a photograph of (height, width) becomes a model input of (input_h, input_w).

    ``box`` = (x0, y0, x1, y1): the region of the photograph (pixel-edge
    coordinates, x = column, y = row) the input shows.
    """

    height: int
    width: int
    input_h: int
    input_w: int
    resize: str
    box: tuple[float, float, float, float]


def geometry(height: int, width: int, input_size: tuple[int, int], resize: str) -> Geometry:
    """The :class:`Geometry` of one photograph (see the module docstring)."""
    ih, iw = int(input_size[0]), int(input_size[1])
    if resize == "stretch":
        box = (0.0, 0.0, float(width), float(height))
    elif resize == "shorter-side+center-crop":
        # the limiting side is taken whole (exactly, so that no offset is a rounding error below 0)
        if ih * width >= iw * height:
            bw, bh = iw * height / ih, float(height)
        else:
            bw, bh = float(width), ih * width / iw
        x0, y0 = (width - bw) / 2.0, (height - bh) / 2.0
        box = (x0, y0, x0 + bw, y0 + bh)
    else:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    return Geometry(height, width, ih, iw, resize, box)


def load_photo(path: str | Path) -> PILImage.Image:
    """Open and decode a photograph as RGB."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def preprocess(
    photo: PILImage.Image, geom: Geometry, mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """Model input: float32 (3, input_h, input_w), ``(pixel / 255 - mean) / std``.

    The box of ``geom`` is resampled to the input size with PIL's bilinear filter
    (antialiased when shrinking).
    """
    from PIL import Image

    if photo.size != (geom.width, geom.height):
        raise ValueError(f"photo is {photo.size}, geometry expects {(geom.width, geom.height)}")
    resized = photo.resize((geom.input_w, geom.input_h), Image.Resampling.BILINEAR, box=geom.box)
    scale = np.float32(1.0 / 255.0) / np.asarray(std, dtype=np.float32)
    shift = np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
    arr: np.ndarray = np.asarray(resized, dtype=np.float32) * scale - shift
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def interpolation_matrix(n_pixels: int, n_cells: int, lo: float, hi: float) -> np.ndarray:
    """float32 (n_pixels, n_cells) bilinear weights along one axis.

    Row p holds the weights of the map cells for the photograph pixel centre
    ``p + 0.5``; the map's ``n_cells`` cover [lo, hi) uniformly. Pixels outside
    [lo, hi) get an all-zero row; inside, positions beyond the first/last cell centre
    take the edge cell (``align_corners=False`` behaviour). Rows sum to 1 or 0.
    """
    centres = np.arange(n_pixels, dtype=np.float64) + 0.5
    inside = (centres >= lo) & (centres < hi)
    u = (centres - lo) / (hi - lo) * n_cells - 0.5
    u = np.clip(u, 0.0, n_cells - 1.0)
    i0 = np.floor(u).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_cells - 1)
    frac = u - i0
    m = np.zeros((n_pixels, n_cells), dtype=np.float64)
    rows = np.arange(n_pixels)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    m[~inside] = 0.0
    return m.astype(np.float32)


def upsample_map(cam: np.ndarray, geom: Geometry) -> np.ndarray:
    """A (h, w) map over the model input, as float32 (height, width) over the photograph.

    Separable bilinear resampling (``Ry @ cam @ Rx.T``) that undoes the resize or
    crop of ``geom``; values stay within the map's range (convex weights); pixels
    the model never saw are 0. The products run on one BLAS thread, so the result has the
    same bits in every process (a scoring run, a cluster worker, ``rescore``, ``maps export``).
    """
    from threadpoolctl import threadpool_limits

    if cam.ndim != 2:
        raise ValueError(f"expected a (h, w) map, got shape {cam.shape}")
    x0, y0, x1, y1 = geom.box
    ry = interpolation_matrix(geom.height, cam.shape[0], y0, y1)
    rx = interpolation_matrix(geom.width, cam.shape[1], x0, x1)
    with threadpool_limits(limits=1, user_api="blas"):
        out = (ry @ cam.astype(np.float32)) @ rx.T
    return np.clip(out, min(float(cam.min()), 0.0), max(float(cam.max()), 0.0), out=out)
