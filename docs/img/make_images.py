"""Make the README's pictures from our own demo: ``python docs/img/make_images.py [DEMO_OUT]``.

- ``leaderboard.png``: the demo's leaderboard site (``DEMO_OUT/site/index.html``) in headless
  Chromium (Debian's ``chromium`` and ``chromium-driver``; Selenium with an explicit driver
  path, so nothing is downloaded), 1400 px wide, the top of the page;
- ``overlay.png``: the first overlay of the demo's honest model (``DEMO_OUT/runs/lesions``).

Both are stored as palette PNGs (64 and 256 colours), a few tens of KB each. ``DEMO_OUT`` defaults to
``demo-out`` (made by ``dermx-bench demo --out demo-out``; the pictures in the repository
come from the default demo, seed 0).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent


def small_png(img: Image.Image, path: Path, colours: int = 64) -> None:
    """Write ``img`` as a palette PNG of ``colours`` colours (README-sized)."""
    buf = io.BytesIO()
    img.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
    path.write_bytes(buf.getvalue())
    print(f"{path}: {len(buf.getvalue()) // 1024} KB, {img.width}x{img.height}")


def screenshot(page: Path, width: int = 1400, height: int = 700) -> Image.Image:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--hide-scrollbars", f"--window-size={width},{height}",
                f"--user-data-dir={tempfile.mkdtemp(prefix='dermx-img-')}"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
    try:
        drv.get(page.resolve().as_uri())
        return Image.open(io.BytesIO(drv.get_screenshot_as_png()))
    finally:
        drv.quit()


def main(demo_out: Path) -> None:
    small_png(screenshot(demo_out / "site" / "index.html"), HERE / "leaderboard.png")
    overlay = sorted((demo_out / "runs" / "lesions" / "overlays").glob("*.png"))[0]
    small_png(Image.open(overlay), HERE / "overlay.png", colours=256)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("demo-out"))
