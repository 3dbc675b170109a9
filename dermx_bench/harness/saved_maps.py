"""A run's explanation maps, kept so that they can be rescored without the model.

A run keeps each image's map as the explainer gave it, on the model input's grid
(float32 (input height, input width), values in [0, 1]), with the geometry that upsamples
it to the photograph (:func:`dermx_bench.harness.images.upsample_map`): the very array
that was scored is ``upsample_map(grid, geometry)``, recomputed bit for bit. Two files:

``maps.bin``
    each grid's float32 bytes (C order), zlib-compressed (level 6), one after the other;
``maps.csv``
    one row per image, in scoring order: ``image``, ``offset`` and ``nbytes`` of its
    compressed block in ``maps.bin``, ``rows``/``cols`` of the grid, the photograph's
    ``height``/``width``, ``resize`` and the box ``x0, y0, x1, y1`` it showed the model
    (pixel-edge coordinates, x = column), and ``sha256`` of the grid's raw bytes.

Both are appended per batch like the run's other files (``--resume`` cuts them back).
A 224 x 224 grid takes about 200 kB raw; compressed, less.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dermx_bench.core.errors import InputError

if TYPE_CHECKING:
    from dermx_bench.harness.images import Geometry

MAPS_BIN = "maps.bin"
MAPS_CSV = "maps.csv"
MAP_COLUMNS: tuple[str, ...] = (
    "image", "offset", "nbytes", "rows", "cols", "height", "width", "resize", "x0", "y0", "x1", "y1", "sha256",
)
"""The columns of ``maps.csv``, in file order."""

_LEVEL = 6


@dataclass(frozen=True)
class SavedMap:
    """One row of ``maps.csv``: where an image's grid is in ``maps.bin`` and how it upsamples."""

    image: str
    offset: int
    nbytes: int
    rows: int
    cols: int
    geometry: Geometry
    sha256: str


def encode_maps(
    items: Sequence[tuple[str, np.ndarray, Geometry]], offset: int
) -> tuple[bytes, list[list[object]]]:
    """The ``maps.bin`` bytes and ``maps.csv`` rows of ``(image, grid, geometry)`` items whose
    blocks start at byte ``offset`` of ``maps.bin``. ``grid``: (rows, cols) in [0, 1], stored
    as float32."""
    blobs: list[bytes] = []
    rows: list[list[object]] = []
    for name, grid, geom in items:
        g = np.ascontiguousarray(grid, dtype=np.float32)
        if g.ndim != 2:
            raise ValueError(f"{name}: expected a (rows, cols) map grid, got shape {g.shape}")
        raw = g.tobytes()
        blob = zlib.compress(raw, _LEVEL)
        x0, y0, x1, y1 = geom.box
        rows.append([name, offset, len(blob), g.shape[0], g.shape[1], geom.height, geom.width, geom.resize,
                     float(x0), float(y0), float(x1), float(y1), hashlib.sha256(raw).hexdigest()])
        blobs.append(blob)
        offset += len(blob)
    return b"".join(blobs), rows


def has_maps(run: Path) -> bool:
    """The run folder keeps its maps (runs made before dermx-bench kept them do not)."""
    return (run / MAPS_CSV).is_file() and (run / MAPS_BIN).is_file()


def read_index(run: Path) -> list[SavedMap]:
    """The rows of ``run/maps.csv``; InputError naming the file and line when unreadable."""
    from dermx_bench.harness.images import Geometry

    path = run / MAPS_CSV
    if not has_maps(run):
        raise InputError(run, "", f"no saved maps ({MAPS_CSV} and {MAPS_BIN}); the run was made by a "
                         "dermx-bench that did not keep its maps: score it again")
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != MAP_COLUMNS:
        raise InputError(path, "line 1", f"expected the columns {', '.join(MAP_COLUMNS)}")
    out: list[SavedMap] = []
    for line, r in enumerate(reader, start=2):
        try:
            name, off, nb, rr, cc, h, w, resize, x0, y0, x1, y1, sha = r
            geom = Geometry(int(h), int(w), int(rr), int(cc), resize, (float(x0), float(y0), float(x1), float(y1)))
            out.append(SavedMap(name, int(off), int(nb), int(rr), int(cc), geom, sha))
        except ValueError:
            raise InputError(path, f"line {line}", f"expected {len(MAP_COLUMNS)} fields "
                             f"({', '.join(MAP_COLUMNS)}) with integer offsets and sizes") from None
    return out


def iter_grids(run: Path, index: Sequence[SavedMap]) -> Iterator[tuple[SavedMap, np.ndarray]]:
    """Each saved map's grid, float32 (rows, cols), checked against its sha256."""
    path = run / MAPS_BIN
    with open(path, "rb") as fh:
        for m in index:
            fh.seek(m.offset)
            try:
                raw = zlib.decompress(fh.read(m.nbytes))
            except zlib.error as exc:
                raise InputError(path, f"bytes {m.offset}..{m.offset + m.nbytes}", f"not a compressed map ({exc})"
                                 ) from None
            if hashlib.sha256(raw).hexdigest() != m.sha256 or len(raw) != 4 * m.rows * m.cols:
                raise InputError(path, f"map of {m.image!r}", "its bytes are not the ones maps.csv records "
                                 "(sha256 or size differs)")
            yield m, np.frombuffer(raw, dtype=np.float32).reshape(m.rows, m.cols)


def iter_full_maps(run: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Each image's map at the photograph's resolution, float32 (height, width) in [0, 1]:
    exactly the array the run scored."""
    from dermx_bench.harness.images import upsample_map

    for m, grid in iter_grids(run, read_index(run)):
        yield m.image, upsample_map(grid, m.geometry)


def export_maps(run: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/<image>.npy`` (float32 (height, width) of the photograph, in [0, 1]) for
    every map of ``run``: the array that was scored. Image names that are not file-name
    safe get the run's overlay stem (the name with a short hash). Returns the files."""
    from dermx_bench.core.files import write_atomic
    from dermx_bench.harness.run_results import overlay_stem

    run, out = Path(run), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, full in iter_full_maps(run):
        buf = io.BytesIO()
        np.save(buf, full.astype(np.float32, copy=False), allow_pickle=False)
        path = out / f"{overlay_stem(name)}.npy"
        write_atomic(path, buf.getvalue())
        written.append(path)
    return written
