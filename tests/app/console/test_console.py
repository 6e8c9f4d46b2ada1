"""The console's server side (docs/behaviour.md §12): the page and its files, and the two reads
it polls, with the API's rules: a token on every read, its reach, read-only, ETag/304, CORS.
In-process; the page itself is driven in a real browser in test_console_browser.py.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import assert_error, reconcile

STATE = "/console/api/state"


def test_the_page_and_its_files_are_served_and_fetch_nothing_from_elsewhere(client):
    page = client.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # offline: nothing external
    for path, kind in (
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ):
        shown = client.get(path)
        assert shown.status_code == 200 and shown.headers["content-type"].startswith(kind)
        assert "http://" not in shown.text and "https://" not in shown.text
        again = client.get(path, headers={"If-None-Match": shown.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


def test_the_script_never_puts_the_token_in_a_url():
    from importlib.resources import files

    script = (files("app.console") / "static" / "console.js").read_text()
    assert "sessionStorage" in script and "Authorization: `Bearer ${token}`" in script
    assert not re.search(r"[?&]token=", script)  # only the fragment (#token=) is read


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer ax_admin_" + "9" * 40}, 401)],
)
def test_a_read_needs_a_valid_token(client, headers, status):
    for path in (STATE, "/console/api/history?deployment=dep_x"):
        assert_error(client.get(path, headers=headers), status, "UNAUTHORIZED")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_it_is_read_only(client, admin, method):
    for path in ("/console", STATE):
        response = client.request(method, path, headers=admin)
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "GET"


def test_head_is_answered_as_get_without_the_body(client, admin):
    page = client.head("/console")
    assert page.status_code == 200 and page.content == b""
    read = client.head(STATE, headers=admin)
    assert read.status_code == 200 and read.content == b"" and read.headers["etag"]


def test_an_unknown_console_path_is_a_404(client, admin):
    assert_error(client.get("/console/api/nothing", headers=admin), 404, "NOT_FOUND")


def test_an_admin_sees_everything(client, world, admin):
    state = client.get(STATE, headers=admin).json()
    assert state["caller"]["kind"] == "admin"
    assert {g["id"] for g in state["groups"]} == {world.group_id, world.other_group_id}
    assert {d["id"] for d in state["deployments"]} == {
        world.deployment_id,
        world.other_deployment_id,
    }
    assert state["counts"] == {"pending": 2}
    assert state["platforms"] == ["aws"]


def test_a_group_token_sees_its_group_only(client, world):
    state = client.get(STATE, headers=world.group).json()
    assert [g["id"] for g in state["groups"]] == [world.group_id]
    assert [d["id"] for d in state["deployments"]] == [world.deployment_id]
    assert state["counts"] == {"pending": 1}
    asked = client.get(STATE, params={"group": world.other_group_id}, headers=world.group)
    assert asked.json()["deployments"] == []  # a filter never widens the reach
    history = client.get(
        "/console/api/history",
        params={"deployment": world.other_deployment_id},
        headers=world.group,
    )
    assert_error(history, 403, "FORBIDDEN")


def test_filters_narrow_the_list_and_counts_ignore_only_the_status(client, api, world, admin):
    reconcile(client, admin, world.deployment_id, "w", status="provisioning", platform="aws")
    api.deployment(world.group, "on-gcp", "gcp")
    state = client.get(STATE, params={"status": "provisioning"}, headers=admin).json()
    assert [d["id"] for d in state["deployments"]] == [world.deployment_id]
    assert state["deployments"][0]["lease"] is None
    assert state["counts"] == {"pending": 2, "provisioning": 1}
    by_platform = client.get(STATE, params={"platform": "gcp"}, headers=admin).json()
    assert [d["name"] for d in by_platform["deployments"]] == ["on-gcp"]
    by_group = client.get(STATE, params={"group": world.other_group_id}, headers=admin).json()
    assert [d["id"] for d in by_group["deployments"]] == [world.other_deployment_id]


def test_a_lease_shows_its_session_and_turns_stale(client, world, admin):
    from models import clock

    client.post(
        "/v1/sync/acquire",
        json={"session": "worker-1", "deploymentIds": [world.deployment_id]},
        headers=admin,
    )
    shown = {d["id"]: d for d in client.get(STATE, headers=admin).json()["deployments"]}
    lease = shown[world.deployment_id]["lease"]
    assert (lease["session"], lease["stale"]) == ("worker-1", False)
    clock.advance(301)
    shown = {d["id"]: d for d in client.get(STATE, headers=admin).json()["deployments"]}
    assert shown[world.deployment_id]["lease"]["stale"] is True


def test_an_unchanged_read_is_a_304_and_a_change_a_new_etag(client, world, admin):
    first = client.get(STATE, headers=admin)
    assert first.headers["cache-control"] == "no-cache, private"
    assert "x-console-now" in first.headers
    tag = first.headers["etag"]
    unchanged = client.get(STATE, headers={**admin, "If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    reconcile(client, admin, world.deployment_id, "w", status="provisioning", platform="aws")
    changed = client.get(STATE, headers={**admin, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def test_the_history_read_shows_each_change_and_its_cause(client, world, admin):
    reconcile(client, admin, world.deployment_id, "w-9", status="provisioning", platform="aws")
    read = client.get(
        "/console/api/history", params={"deployment": world.deployment_id}, headers=world.group
    )
    changes = read.json()["changes"]
    assert [(c["from"], c["to"], c["by"]) for c in changes] == [
        ("pending", "provisioning", {"session": "w-9"}),
        (None, "pending", {"call": "create_deployment", "caller": "deployment-group"}),
    ]
    missing = client.get("/console/api/history", params={"deployment": "dep_x"}, headers=admin)
    assert_error(missing, 404, "DEPLOYMENT_NOT_FOUND")


def test_reads_carry_the_apis_cors_headers(client, admin):
    origin = {"Origin": "https://dash.example.com"}
    read = client.get(STATE, headers={**admin, **origin})
    assert read.headers["access-control-allow-origin"] == "*"
    refused = client.get(STATE, headers=origin)
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "*"
