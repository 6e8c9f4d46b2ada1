"""Swagger UI that can call the API: it loads the overlaid document (which declares the bearer
scheme, so it has an Authorize button) while /openapi.json stays the verbatim file.

The browser test drives Debian's chromium through chromium-driver (.ci/run installs both);
without them it skips with one line.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.contract.overlay import overlay
from app.contract.spec import raw_bytes, raw_spec
from app.factory import OVERLAY_PATH
from harness import pg

pytestmark = pg.once()  # docs: harness/pg.py

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
#: Flags that let chromium run headless as root in a container, with nothing fetched.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)  # fmt: skip


def test_raw_spec_stays_verbatim_and_the_overlay_has_its_own_path(client):
    assert client.get("/openapi.json").content == raw_bytes()
    served = client.get(OVERLAY_PATH)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    assert served.json() == json.loads(json.dumps(overlay(raw_spec())))
    assert served.json()["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer"}
    }


def test_ui_loads_the_overlaid_document(client):
    page = client.get("/ui/")
    assert page.status_code == 200
    assert f'"{OVERLAY_PATH}"' in page.text


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_root_redirects_to_the_ui(client, method):
    response = client.request(method, "/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/ui/"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
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
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_window_size(1400, 1000)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_authorize_then_try_whoami_in_a_real_browser(browser, live_server, settings):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    server = live_server(workers=1)
    wait = WebDriverWait(browser, 30)

    def click(selector: str) -> None:
        wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, selector))).click()

    browser.get(server.url + "/")  # the redirect to /ui/ included
    assert browser.current_url == server.url + "/ui/"
    click("button.authorize")
    field = wait.until(
        ready.visibility_of_element_located((By.CSS_SELECTOR, ".auth-container input"))
    )
    field.send_keys(settings.admin_token)
    click(".auth-btn-wrapper button.authorize")
    click(".auth-btn-wrapper button.btn-done")

    click("#operations-whoami-whoami .opblock-summary")
    click("#operations-whoami-whoami .try-out__btn")
    click("#operations-whoami-whoami .execute")

    live = "#operations-whoami-whoami .live-responses-table .response"
    status = wait.until(
        ready.visibility_of_element_located((By.CSS_SELECTOR, f"{live} .response-col_status"))
    )
    body = browser.find_element(By.CSS_SELECTOR, f"{live} .response-col_description pre").text
    assert status.text.strip() == "200", body
    assert json.loads(body)["scope"] == {"type": "admin"}
