"""Headless Chromium for looking at the report as a reader does: Debian's ``chromium`` and
``chromedriver`` driven by Selenium, never a downloaded browser.

The browser test (tests/test_report_browser.py) and ``scripts/screenshot.py`` both open pages
through ``open_browser``. Every browser gets a fresh profile directory, removed afterwards, and
the flags a root user in a container needs; nothing reaches the network (the report is one
self-contained file).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path(os.environ.get("CONCBENCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CONCBENCH_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
FIRST_SCREEN = (1366, 768)


def unavailable() -> str | None:
    """Why no browser can be opened here, None when one can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.is_file() or not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401 (only probes the client library)
    except ImportError:
        return "selenium is not installed (pip install 'concbench[test]')"
    return None


@contextmanager
def open_browser(
    width: int = FIRST_SCREEN[0], height: int = FIRST_SCREEN[1]
) -> Iterator[WebDriver]:
    """A headless Chromium whose viewport (not window) is ``width`` x ``height`` CSS pixels,
    collecting the console's messages (``driver.get_log("browser")``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="concbench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            # The window size includes no browser frame in headless mode, but pin the viewport
            # anyway: the screenshots must be exactly what a reader's first screen shows.
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def page_url(page: Path) -> str:
    return page.resolve().as_uri()
