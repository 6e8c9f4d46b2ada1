"""A real browser for the tests of the pages the server serves (Swagger UI, the console):
Debian's chromium through chromium-driver (.ci/run installs both); without them a browser test
skips with one line, or fails under ALIEN_REQUIRE_BROWSER=1 (CI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
#: Flags that let chromium run headless as root in a container, with nothing fetched.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)  # fmt: skip


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless chromium that keeps the page's console messages (`get_log("browser")`)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        missing = "no chromium + chromedriver (apt-get install chromium chromium-driver)"
        if os.environ.get("ALIEN_REQUIRE_BROWSER"):
            pytest.fail(missing)  # CI installs them (.ci/run)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_window_size(1400, 1000)
    yield driver
    driver.quit()
