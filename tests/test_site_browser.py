"""The static leaderboard site in a real headless Chromium (Selenium, no network).

Needs Debian's ``chromium`` and ``chromium-driver`` (/usr/bin/chromium, /usr/bin/chromedriver).
Skipped when they are missing, unless ``CI`` is set: in CI a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dermx_bench.leaderboard import add_run, publish
from dermx_bench.leaderboard.board import FLOOR_PREFIX, HUMAN_NAME, PAIRWISE_NAME
from tests.lb_fixture import make_run

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
EVIL = '<script>window.pwned=1;alert(1)</script><img src=x onerror="window.pwned=2">'


def _browser_paths() -> tuple[str, str]:
    chromium = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    driver = CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = ("headless browser test needs Debian's chromium and chromium-driver "
              "(apt-get install -y chromium chromium-driver); "
              f"found chromium={chromium}, chromedriver={driver}")
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    chromium, chromedriver = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dermx-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-default-apps",
                "--window-size=1400,1000", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: Selenium Manager never runs, nothing is downloaded
    drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    lb = root / "lb"
    for name, quality, seed in [("zeta honest", 0.6, 1), (EVIL, 0.45, 2), ("alpha shortcut", 0.3, 3)]:
        add_run(make_run(root / "runs", name, quality=quality, seed=seed), lb)
    return Path(publish(lb, "html", root / "site", n_boot=200))


def _severe(drv: Any) -> list[dict[str, Any]]:
    return [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def _names(drv: Any) -> list[str]:
    return drv.execute_script(
        "return Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
        ".map(function (r) { return r.getAttribute('data-name'); });"
    )


def _header(drv: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    for th in drv.find_elements(By.CSS_SELECTOR, "#leaderboard thead th"):
        if th.text.split(" [")[0].rstrip(" \u25b2\u25bc") == label:
            return th
    raise AssertionError(f"no header {label!r}")


def _no_alert(drv: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        drv.switch_to.alert.text  # noqa: B018


def test_index_loads_sorts_and_escapes(driver: Any, site: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get_log("browser")  # drop anything logged before
    driver.get((site / "index.html").as_uri())
    assert driver.title == "DermX explanation leaderboard"
    assert _severe(driver) == []
    _no_alert(driver)
    assert driver.execute_script("return window.pwned === undefined;")
    assert driver.execute_script("return document.scripts.length;") == 1

    # ranked order: the reference rows first (dermatologists like for like, rater to rater, the
    # trivial-map floors), then the entries by union F1
    ones, gauss, zeros = (f"{FLOOR_PREFIX}{f}" for f in ("ones", "gaussian", "zeros"))
    refs = [HUMAN_NAME, PAIRWISE_NAME, ones, gauss, zeros]
    assert _names(driver) == [*refs, "zeta honest", EVIL, "alpha shortcut"]
    # the hostile name shows as text in its cell
    cells = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr td:nth-child(2)")
    assert EVIL in [c.text for c in cells]

    _header(driver, "Entry").click()
    assert _names(driver) == [EVIL, "alpha shortcut", HUMAN_NAME, PAIRWISE_NAME, gauss, ones, zeros,
                              "zeta honest"]
    assert _header(driver, "Entry").get_attribute("aria-sort") == "ascending"
    _header(driver, "Entry").click()
    assert _names(driver) == ["zeta honest", zeros, ones, gauss, PAIRWISE_NAME, HUMAN_NAME, "alpha shortcut", EVIL]

    _header(driver, "Union F1").click()  # metrics sort best first (fixture: like-for-like 0.6, pairwise 0.5)
    assert _names(driver) == [HUMAN_NAME, "zeta honest", PAIRWISE_NAME, EVIL, ones, "alpha shortcut", gauss, zeros]
    assert _header(driver, "Union F1").get_attribute("aria-sort") == "descending"
    _header(driver, "Union F1").click()
    assert _names(driver) == [zeros, gauss, "alpha shortcut", ones, EVIL, PAIRWISE_NAME, "zeta honest", HUMAN_NAME]

    _header(driver, "Rank").click()  # the reference rows (no rank) go last, in the order shown before
    assert _names(driver) == ["zeta honest", EVIL, "alpha shortcut", zeros, gauss, ones, PAIRWISE_NAME, HUMAN_NAME]
    assert _severe(driver) == []


def test_entry_page_shows_name_as_text(driver: Any, site: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get((site / "index.html").as_uri())
    links = driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody a")
    evil_link = next(a for a in links if a.text == EVIL)
    evil_link.click()
    assert driver.find_element(By.TAG_NAME, "h1").text == EVIL
    _no_alert(driver)
    assert driver.execute_script("return window.pwned === undefined;")
    assert driver.execute_script("return document.scripts.length;") == 0
    assert len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg")) == 2
    assert len(driver.find_elements(By.CSS_SELECTOR, "#confusion tbody tr")) == 3
    imgs = driver.find_elements(By.CSS_SELECTOR, ".overlays img")
    assert imgs
    for img in imgs:  # lazily loaded: brought into view first
        driver.execute_script("arguments[0].scrollIntoView();", img)
    WebDriverWait(driver, 10).until(lambda d: all(
        d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0;", i) for i in imgs))
    assert _severe(driver) == []
    # the entry's strata and its comparisons (issue 10)
    assert driver.find_elements(By.CSS_SELECTOR, "table#strata-disease tbody tr")
    assert len(driver.find_elements(By.XPATH, "//h2[text()='Compared with']/following-sibling::ul[1]/li")) == 2


def test_pair_page_compares_two_entries(driver: Any, site: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get((site / "index.html").as_uri())
    cells = driver.find_elements(By.CSS_SELECTOR, "#pairs tbody a")
    assert len(cells) == 6  # 3 entries: each pair from both sides
    cells[0].click()
    assert " vs " in driver.find_element(By.TAG_NAME, "h1").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.compare")) == 3  # one per metric
    assert driver.execute_script("return window.pwned === undefined;")
    assert _severe(driver) == []


def test_every_page_loads_without_console_errors(driver: Any, site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 4 + 3  # index, three entries, three pairs
    for page in pages:
        driver.get_log("browser")
        driver.get(page.as_uri())
        assert _severe(driver) == [], page
        _no_alert(driver)


@pytest.fixture(scope="module")
def wide_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site whose entries carry all 17 localisable characteristics of the ontology."""
    from dermx_bench.darwin.ontology import load_ontology
    from tests import lb_fixture

    root = tmp_path_factory.mktemp("wide")
    lb = root / "lb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lb_fixture, "CHARS", load_ontology().localisable)
        for name, quality, seed in [("A rather long entry name for a lesion-aware network", 0.6, 1),
                                    ("Marker-shortcut network", 0.3, 2)]:
            add_run(make_run(root / "runs", name, quality=quality, seed=seed), lb)
    return Path(publish(lb, "html", root / "site", n_boot=100))


def test_pages_fit_a_1400_pixel_window(driver: Any, wide_site: Path) -> None:
    """No page scrolls sideways at 1400 px, and no table but the pair matrix (which scrolls in its own
    box) reaches past the window, with 17 characteristics."""
    driver.set_window_size(1400, 1000)
    pages = sorted(wide_site.rglob("*.html"))
    assert len(pages) == 1 + 2 + 1
    for page in pages:
        driver.get(page.as_uri())
        width, scroll, tables = driver.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth,"
            " Array.from(document.querySelectorAll('table')).filter(t => !t.closest('.wide'))"
            ".map(t => [t.id || t.className, Math.ceil(t.getBoundingClientRect().right)])];")
        assert scroll <= width, (page, scroll, width)
        assert all(right <= width for _, right in tables), (page, tables, width)
    driver.get((wide_site / "index.html").as_uri())
    n_cols = driver.execute_script("return document.querySelectorAll('#per-characteristic thead th').length;")
    assert n_cols == 1 + 17  # the entry, then every characteristic
