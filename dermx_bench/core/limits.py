"""The toolkit's resource bounds, in one place (each with the option that changes it).

=============================  ==================  ======================================
bound                          default             option
=============================  ==================  ======================================
image width or height          65535 pixels        (fixed: the largest JPEG side)
image size                     2**26 pixels (64    ``ingest --max-image-pixels``
                               megapixels)
Darwin file or zip member      64 MiB              ``ingest --max-file-mb``
(uncompressed)
wait for another store writer  60 s                ``--lock-timeout`` (ingest, migrate,
                                                   agreement --save)
=============================  ==================  ======================================

DermX photographs are at most about 8 megapixels (3296 pixels a side) and its Darwin
files a few hundred KB, so the defaults leave a wide margin while keeping one mask (64 MB)
and one file in memory small. Photographs are opened with Pillow, which refuses images
of more than twice ``PIL.Image.MAX_IMAGE_PIXELS`` (about 179 megapixels) as possible
decompression bombs; such a photograph is reported as unusable.
"""

from __future__ import annotations

MAX_IMAGE_SIDE = 65535
"""Largest image width or height accepted (the largest JPEG side)."""

DEFAULT_MAX_IMAGE_PIXELS = 2**26
"""Default largest image accepted at ingest, in pixels (64 megapixels)."""

DEFAULT_MAX_FILE_BYTES = 64 * 2**20
"""Default largest Darwin JSON file (or zip member, uncompressed) read, in bytes (64 MiB)."""

DEFAULT_LOCK_TIMEOUT = 60.0
"""Default seconds a writer waits for another writer of the store before failing."""
