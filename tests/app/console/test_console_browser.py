"""The console in a real browser (docs/behaviour.md §12), against a real server: it lists what
the API has, follows a change made through the API without a reload, shows a group token only
its group, logs no errors, and takes the README's screenshot (written to docs/console.png with
ALIEN_UPDATE_SCREENSHOT=1, else beside the test's files).

The database does not matter here (the reads are tested on both in test_console.py): once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import pg

pytestmark = [pg.once(), pytest.mark.slow]  # docs: harness/pg.py

ROOT = Path(__file__).resolve().parents[3]
#: The issue's promise: a change shows within 2 s (the page polls once a second).
LIVE_WITHIN = 2.0


class Server:
    """The API of a live server, for arranging what the page then shows."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = self.http.post(path, json=body, headers=headers)
        assert response.is_success, response.text
        return response.json()

    def group(self, name: str, max_deployments: int) -> tuple[str, str]:
        group_id = self.post(
            "/v1/deployment-groups", {"name": name, "maxDeployments": max_deployments}
        )["id"]
        return group_id, self.post(f"/v1/deployment-groups/{group_id}/tokens")["token"]

    def deployment(self, group_token: str, name: str, platform: str = "aws") -> str:
        body = {"name": name, "platform": platform}
        return str(self.post("/v1/deployments", body, token=group_token)["deployment"]["id"])

    def reconcile(self, deployment_id: str, session: str, status: str, **state: Any) -> None:
        self.post("/v1/sync/reconcile", {"deploymentId": deployment_id, "session": session,
                  "state": {"status": status, "platform": "aws", **state}})  # fmt: skip


def failed_stack() -> dict[str, Any]:
    error = {"code": "QUOTA_EXCEEDED", "message": "Lambda concurrency quota exceeded",
             "retryable": False, "internal": False}  # fmt: skip
    config = {"id": "fn", "type": "function"}
    resource = {"type": "function", "status": "provision-failed", "config": config, "error": error}
    return {"platform": "aws", "resourcePrefix": "p", "resources": {"fn": resource}}


def shown(browser: Any) -> dict[str, str]:
    """Deployment name -> status, as the page shows them now (read in one step: the page
    redraws its rows when something changed)."""
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#deployments tbody tr')]"
        ".map(row => [row.cells[0].textContent, row.cells[3].textContent])"
    )
    return dict(rows)


def text(browser: Any, element_id: str) -> str:
    return str(browser.execute_script(f"return document.getElementById('{element_id}').innerText"))


@pytest.fixture
def connect(settings: Any) -> Iterator[Callable[[str], Server]]:
    """`connect(url)`: the admin's API client of a live server, closed at teardown."""
    opened: list[Server] = []

    def open_one(url: str) -> Server:
        opened.append(Server(url, settings.admin_token))
        return opened[-1]

    yield open_one
    for server in opened:
        server.http.close()


def errors(browser: Any) -> list[Any]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def wait(browser: Any, seconds: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, seconds, poll_frequency=0.05)


def test_the_console_follows_the_api_live(browser, live_server, settings, connect, tmp_path):
    from selenium.webdriver.common.by import By

    server = live_server(workers=1, ALIEN_LOG_LEVEL="WARNING")
    api = connect(server.url)
    production, production_token = api.group("production", 10)
    staging, staging_token = api.group("staging", 5)
    names = ["web", "api", "worker", "batch", "cron"]
    ids = {name: api.deployment(production_token, name) for name in names}
    ids["preview"] = api.deployment(staging_token, "preview", "gcp")
    release = api.post("/v1/releases", {"stack": {"aws": {"id": "shop", "resources": {}}}})["id"]
    api.reconcile(ids["web"], "worker-1", "running", currentRelease={"releaseId": release,
                  "stack": {"id": "shop", "resources": {}}})  # fmt: skip
    api.reconcile(ids["worker"], "worker-1", "provisioning-failed", stackState=failed_stack())
    api.post("/v1/sync/acquire", {"session": "worker-2", "deploymentIds": [ids["api"]]})
    api.reconcile(ids["api"], "worker-2", "provisioning")
    assert api.http.delete(f"/v1/deployments/{ids['cron']}").status_code == 202

    browser.get(f"{server.url}/console#token={settings.admin_token}")
    wait(browser).until(lambda b: len(shown(b)) == len(ids))
    assert browser.current_url == f"{server.url}/console"  # the token left the address bar
    assert shown(browser) == {
        "web": "running", "api": "provisioning", "worker": "provisioning-failed",
        "batch": "pending", "cron": "delete-pending", "preview": "pending",
    }  # fmt: skip
    groups = text(browser, "groups")
    assert "production" in groups and "5 / 10" in groups and "1 / 5" in groups
    assert "worker-2" in text(browser, "deployments")  # the lease
    assert "quota exceeded" in text(browser, "deployments")
    assert release[:13] in text(browser, "releases")

    api.reconcile(ids["batch"], "worker-1", "initial-setup")  # through the API, no reload
    changed = time.monotonic()
    wait(browser, LIVE_WITHIN).until(lambda b: shown(b)["batch"] == "initial-setup")
    assert time.monotonic() - changed < LIVE_WITHIN

    browser.find_element(By.LINK_TEXT, "worker").click()
    wait(browser).until(lambda b: "session worker-1" in text(b, "history"))
    history = text(browser, "history")
    assert "(created)" in history and "create_deployment (deployment-group token)" in history

    target = (
        ROOT / "docs" / "console.png"
        if os.environ.get("ALIEN_UPDATE_SCREENSHOT")
        else tmp_path / "console.png"
    )
    browser.save_screenshot(str(target))
    assert errors(browser) == []


def test_a_group_token_sees_only_its_group(browser, live_server, connect):
    from selenium.webdriver.common.by import By

    server = live_server(workers=1)
    api = connect(server.url)
    _, mine = api.group("mine", 3)
    _, theirs = api.group("theirs", 3)
    api.deployment(mine, "own")
    api.deployment(theirs, "foreign")

    browser.get(f"{server.url}/console")
    field = wait(browser).until(lambda b: b.find_element(By.ID, "token"))
    field.send_keys(mine)
    browser.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
    wait(browser).until(lambda b: shown(b) == {"own": "pending"})
    assert "theirs" not in text(browser, "groups")
    assert "deployment-group token" in text(browser, "who")
    assert browser.execute_script("return location.href") == f"{server.url}/console"
    assert errors(browser) == []


def test_test_mode_shows_the_request_journal_live(browser, live_server, settings, connect):
    from selenium.webdriver.common.by import By

    server = live_server(workers=1, ALIEN_TEST_MODE="1")
    browser.get(f"{server.url}/console#token={settings.admin_token}")
    wait(browser).until(lambda b: b.find_element(By.ID, "journal").is_displayed())
    connect(server.url).post("/v1/deployment-groups", {"name": "seen"})
    wait(browser, LIVE_WITHIN + 1).until(
        lambda b: "POST /v1/deployment-groups" in text(b, "journal")
    )
    assert "/console/api" not in text(browser, "journal")  # the page's own reads are left out
    assert errors(browser) == []
