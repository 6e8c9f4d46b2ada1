"""Deployments as docs/behaviour.md §4 and §5.2 describe them."""

from __future__ import annotations

import re

import pytest

from models.db import db
from models.deployments import Deployment
from models.lifecycle import remove_deployment
from tests.helpers import resource, stack

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def test_created_deployment_shape(client, api):
    group_id = api.group()
    response = client.post(
        "/v1/deployments", json={"name": "d", "platform": "gcp"}, headers=api.admin
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"deployment"}, "an admin caller gets no token"
    d = body["deployment"]
    assert re.fullmatch(
        r"dep_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", d["id"]
    )
    assert set(d) == {
        "id",
        "name",
        "platform",
        "status",
        "deploymentGroupId",
        "stackSettings",
        "retryRequested",
        "createdAt",
    }
    assert d["status"] == "pending" and d["retryRequested"] is False and d["stackSettings"] == {}
    assert d["deploymentGroupId"] == group_id and d["platform"] == "gcp"
    assert RFC3339_UTC.match(d["createdAt"])


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"deploymentModel": "pull", "heartbeats": "off"}, {"deploymentModel": "pull", "heartbeats": "off"}),
        ({"deploymentModel": "push", "updates": "auto"}, {}),
        ({"telemetry": "auto", "heartbeats": "on"}, {}),
        ({"bogus": 1}, {}),
        ({"network": None, "domains": None, "updates": "approval-required"}, {"updates": "approval-required"}),
        ({"telemetry": "off", "domains": {}}, {"telemetry": "off", "domains": {}}),
        (None, {}),
    ],
    ids=["non-defaults", "push and auto", "auto and on", "unknown key", "nulls", "empty domains", "null"],
)  # fmt: skip
def test_stack_settings_as_the_reference_normalises_them(client, api, sent, kept):
    """reference: crates/alien-core/src/stack_settings.rs: the typed StackSettings drops unknown
    keys and skips `deploymentModel: push`, `updates: auto`, `telemetry: auto`,
    `heartbeats: on` and null `network`/`domains` when it serialises; stored that way, it is
    returned that way everywhere: create, get, list, acquire's raw record, operator_sync."""
    api.group()
    created = client.post(
        "/v1/deployments",
        json={"name": "d", "platform": "aws", "stackSettings": sent},
        headers=api.admin,
    ).json()["deployment"]
    assert created["stackSettings"] == kept
    assert api.get(f"/v1/deployments/{created['id']}")["stackSettings"] == kept
    assert [d["stackSettings"] for d in api.get("/v1/deployments")["items"]] == [kept]
    release_id = api.release(aws=stack())
    synced = client.post("/v1/sync", json={"deploymentId": created["id"]}, headers=api.admin)
    assert synced.json()["target"]["releaseInfo"]["releaseId"] == release_id
    assert synced.json()["target"]["config"] == kept
    leased = client.post("/v1/sync/acquire", json={"session": "s"}, headers=api.admin).json()
    assert [d["deployment"]["stack_settings"] for d in leased["deployments"]] == [kept]


def test_admin_without_group_id_uses_the_newest_group(client, api):
    api.group("old")
    newest = api.group("new")
    d = client.post(
        "/v1/deployments", json={"name": "d", "platform": "aws"}, headers=api.admin
    ).json()
    assert d["deployment"]["deploymentGroupId"] == newest


def test_admin_with_no_group_at_all(client, admin):
    response = client.post("/v1/deployments", json={"name": "d", "platform": "aws"}, headers=admin)
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert response.json()["message"] == "No deployment groups exist. Create one first."


def test_unknown_group_is_404(client, api):
    api.group()
    response = client.post(
        "/v1/deployments",
        json={"name": "d", "platform": "aws", "deploymentGroupId": "dg_nope"},
        headers=api.admin,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "DEPLOYMENT_GROUP_NOT_FOUND"


def test_group_token_caller_gets_a_working_deployment_token(client, api):
    token = api.group_token(api.group())
    deployment_id, deployment_token = api.deployment(token)
    assert client.get("/v1/whoami", headers=deployment_token).json()["id"] == deployment_id


def test_duplicate_names_are_allowed(client, api):
    token = api.group_token(api.group())
    first, _ = api.deployment(token, "same")
    second, _ = api.deployment(token, "same")
    assert first != second


def test_group_full(client, api):
    group_id = api.group(max_deployments=1)
    token = api.group_token(group_id)
    api.deployment(token)
    response = client.post("/v1/deployments", json={"name": "x", "platform": "aws"}, headers=token)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "MAX_DEPLOYMENTS_REACHED"
    assert body["context"] == {"deployment_group_id": group_id, "max_deployments": 1}
    assert api.get(f"/v1/deployment-groups/{group_id}")["deploymentCount"] == 1


def test_desired_release_is_the_newest_with_a_stack_for_the_platform(client, api):
    token = api.group_token(api.group())
    for_aws = api.release(aws=stack())
    api.release(gcp=stack())
    deployment_id, _ = api.deployment(token, platform="aws")
    assert api.get(f"/v1/deployments/{deployment_id}")["desiredReleaseId"] == for_aws
    local_id, _ = api.deployment(token, platform="local")
    assert "desiredReleaseId" not in api.get(f"/v1/deployments/{local_id}")


def test_include_deployment_group(client, world):
    for query in ("include=deploymentGroup", "include[]=deploymentGroup"):
        items = client.get(f"/v1/deployments?{query}", headers=world.admin).json()["items"]
        groups = {d["id"]: d["deploymentGroup"] for d in items}
        assert groups[world.deployment_id] == {"id": world.group_id, "name": "main"}
        assert groups[world.other_deployment_id] == {"id": world.other_group_id, "name": "other"}
    plain = client.get("/v1/deployments", headers=world.admin).json()["items"]
    assert all("deploymentGroup" not in d for d in plain)


def test_filter_by_group(client, world):
    items = client.get(
        "/v1/deployments", params={"deploymentGroupId": world.other_group_id}, headers=world.admin
    ).json()["items"]
    assert [d["id"] for d in items] == [world.other_deployment_id]


def test_retry_sets_the_flag_and_keeps_the_status(client, world):
    response = client.post(f"/v1/deployments/{world.deployment_id}/retry", headers=world.deployment)
    assert response.status_code == 200 and response.json() == {"success": True}
    d = client.get(f"/v1/deployments/{world.deployment_id}", headers=world.admin).json()
    assert d["retryRequested"] is True and d["status"] == "pending"
    assert RFC3339_UTC.match(d["updatedAt"])


def test_redeploy_makes_it_update_pending(client, world):
    response = client.post(f"/v1/deployments/{world.deployment_id}/redeploy", headers=world.group)
    assert response.status_code == 200 and response.json() == {"success": True}
    assert (
        client.get(f"/v1/deployments/{world.deployment_id}", headers=world.admin).json()["status"]
        == "update-pending"
    )


class TestInfo:
    def test_without_a_current_release(self, client, world, settings):
        info = client.get(
            f"/v1/deployments/{world.deployment_id}/info", headers=world.deployment
        ).json()
        assert info == {
            "commands": {"url": settings.base_url, "deploymentId": world.deployment_id},
            "resources": {},
            "status": "pending",
            "platform": "aws",
        }

    def test_with_the_current_release(self, client, world, api):
        release_id = api.release(
            aws=stack(fn=resource("fn"), db=resource("db", "postgres")),
            gcp=stack(other=resource("other")),
        )
        with db.connection_context():
            Deployment.update(current_release_id=release_id).where(
                Deployment.id == world.deployment_id
            ).execute()
        info = client.get(f"/v1/deployments/{world.deployment_id}/info", headers=world.admin).json()
        assert set(info["resources"]) == {"fn", "db"}
        assert info["resources"]["db"] == resource("db", "postgres")


def assert_removed(client, world):
    """Gone for good: not found, counted out of its group, its token revoked."""
    assert (
        client.get(f"/v1/deployments/{world.deployment_id}", headers=world.admin).status_code == 404
    )
    group = client.get(f"/v1/deployment-groups/{world.group_id}", headers=world.admin).json()
    assert group["deploymentCount"] == 0
    assert client.get("/v1/whoami", headers=world.deployment).status_code == 401


class TestDeletion:
    def test_is_two_phase(self, client, world):
        response = client.delete(f"/v1/deployments/{world.deployment_id}", headers=world.admin)
        assert response.status_code == 202
        assert response.json() == {"message": "Deployment deletion enqueued"}
        d = client.get(f"/v1/deployments/{world.deployment_id}", headers=world.admin).json()
        assert d["status"] == "delete-pending"
        assert (
            client.get(f"/v1/deployment-groups/{world.group_id}", headers=world.admin).json()[
                "deploymentCount"
            ]
            == 1
        )
        assert client.get("/v1/whoami", headers=world.deployment).status_code == 200

    @pytest.mark.parametrize("status", ["delete-pending", "deleting", "delete-failed"])
    def test_already_deleting_is_unchanged(self, client, world, status):
        with db.connection_context():
            Deployment.update(status=status).where(Deployment.id == world.deployment_id).execute()
        assert (
            client.delete(f"/v1/deployments/{world.deployment_id}", headers=world.admin).status_code
            == 202
        )
        assert (
            client.get(f"/v1/deployments/{world.deployment_id}", headers=world.admin).json()[
                "status"
            ]
            == status
        )

    def test_removal_revokes_tokens_and_decrements_the_count(self, client, world):
        """The path a reconcile reporting `deleted` takes (the sync protocol calls it)."""
        client.delete(f"/v1/deployments/{world.deployment_id}", headers=world.admin)
        with db.connection_context():
            assert remove_deployment(world.deployment_id) is True
            assert remove_deployment(world.deployment_id) is False
        assert_removed(client, world)

    def test_force_removes_at_once(self, client, world):
        response = client.delete(
            f"/v1/deployments/{world.deployment_id}?force=true", headers=world.admin
        )
        assert response.status_code == 202
        assert_removed(client, world)
        assert client.get("/v1/whoami", headers=world.group).status_code == 200

    def test_freed_slot_can_be_reused(self, client, api):
        group_id = api.group(max_deployments=1)
        token = api.group_token(group_id)
        first, _ = api.deployment(token)
        client.delete(f"/v1/deployments/{first}?force=true", headers=api.admin)
        api.deployment(token)
        assert api.get(f"/v1/deployment-groups/{group_id}")["deploymentCount"] == 1


class TestPaging:
    def test_newest_first_without_parameters_returns_everything(self, client, api):
        token = api.group_token(api.group())
        ids = [api.deployment(token, f"d{i}")[0] for i in range(5)]
        page = client.get("/v1/deployments", headers=api.admin).json()
        assert [d["id"] for d in page["items"]] == ids[::-1]
        assert page["nextCursor"] is None

    @pytest.mark.parametrize("path", ["/v1/deployments", "/v1/deployment-groups"])
    @pytest.mark.parametrize(
        "params", [{}, {"limit": 5}, {"limit": 1}], ids=["all", "one page", "last page"]
    )
    def test_last_page_says_nextcursor_null(self, client, api, path, params):
        """reference: crates/alien-manager/src/routes/deployments.rs and deployment_groups.rs:
        `next_cursor: Option<String>` serialised without skip_serializing_if, so a list always
        carries `"nextCursor": null` when there is no next page; clients index it."""
        token = api.group_token(api.group())
        api.deployment(token, "only")
        response = client.get(path, params=params, headers=api.admin)
        assert response.json()["nextCursor"] is None
        assert b'"nextCursor":null' in response.content

    @pytest.mark.parametrize("limit", [1, 3, 7, 8, 1000])
    def test_walking_the_pages_returns_each_exactly_once(self, client, api, limit):
        token = api.group_token(api.group())
        ids = [api.deployment(token, f"d{i}")[0] for i in range(7)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
            page = client.get("/v1/deployments", params=params, headers=api.admin).json()
            assert len(page["items"]) <= limit
            seen += [d["id"] for d in page["items"]]
            pages += 1
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]
        assert pages == -(-7 // limit)  # ceil: no empty trailing page

    def test_inserts_between_pages_do_not_shift_them(self, client, api):
        token = api.group_token(api.group())
        ids = [api.deployment(token, f"d{i}")[0] for i in range(4)]
        first = client.get("/v1/deployments", params={"limit": 2}, headers=api.admin).json()
        api.deployment(token, "late")
        second = client.get(
            "/v1/deployments", params={"limit": 2, "cursor": first["nextCursor"]}, headers=api.admin
        ).json()
        assert [d["id"] for d in first["items"] + second["items"]] == ids[::-1]

    def test_group_lists_page_too(self, client, api):
        ids = [api.group(f"g{i}") for i in range(3)]
        first = client.get("/v1/deployment-groups", params={"limit": 2}, headers=api.admin).json()
        second = client.get(
            "/v1/deployment-groups",
            params={"limit": 2, "cursor": first["nextCursor"]},
            headers=api.admin,
        ).json()
        assert [g["id"] for g in first["items"] + second["items"]] == ids[::-1]
        assert second["nextCursor"] is None

    @pytest.mark.parametrize(
        "cursor",
        ["garbage!", "bm8tY29sb24", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5Onh4", "_w"],
        ids=["not base64", "no separator", "timestamp out of range", "not utf-8"],
    )
    def test_a_cursor_this_server_did_not_issue_is_a_400(self, client, api, cursor):
        response = client.get("/v1/deployments", params={"cursor": cursor}, headers=api.admin)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "BAD_REQUEST"
