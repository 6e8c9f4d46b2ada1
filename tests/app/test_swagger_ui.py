"""Swagger UI that can call the API: it loads the overlaid document (which declares the bearer
scheme, so it has an Authorize button) while /openapi.json stays the verbatim file.

The browser test drives Debian's chromium through chromium-driver (`browser`, tests/app/conftest.py).
"""

from __future__ import annotations

import json

import pytest

from app.contract.overlay import overlay
from app.contract.spec import raw_bytes, raw_spec
from app.factory import OVERLAY_PATH
from harness import pg

pytestmark = pg.once()  # docs: harness/pg.py


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
