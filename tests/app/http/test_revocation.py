"""Revocation reaches every worker and every instance (docs/behaviour.md §2).

A worker trusts a token it looked up for at most ALIEN_AUTH_CACHE_SECONDS (1 s), unless a
revocation is announced first: whatever revokes or deletes a token changes a value every
process of the instance shares (models/revocation.py), the operator's CLI included when it runs
with the instance's state directory (and, on SQLite, any process on the same database file).
So a revoked token fails at once on every worker of that instance, and within the cache's
second on another instance sharing the PostgreSQL database. The proof is from outside: live
gunicorn servers, the CLI in a subprocess or the API, then requests spread over every worker.
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from harness import pg
from tests import cli
from tests.helpers import bearer

NEW_ADMIN = "ax_admin_" + "9" * 40
CACHE_SECONDS = Settings.auth_cache_seconds  # the default the live servers run with


def mint_group_token(url: str, admin: dict[str, str]) -> str:
    group = httpx.post(f"{url}/v1/deployment-groups", json={"name": "g"}, headers=admin)
    assert group.status_code == 200, group.text
    return mint_group_token_for(url, admin, group.json()["id"])


def mint_group_token_for(url: str, admin: dict[str, str], group_id: str) -> str:
    token = httpx.post(f"{url}/v1/deployment-groups/{group_id}/tokens", headers=admin)
    assert token.status_code == 200, token.text
    return str(token.json()["token"])


def create_deployment(url: str, admin: dict[str, str]) -> tuple[str, str]:
    """A deployment created with a group token, as an agent would: (its id, its token)."""
    group = httpx.post(f"{url}/v1/deployment-groups", json={"name": "g"}, headers=admin).json()
    group_token = mint_group_token_for(url, admin, group["id"])
    body = {"name": "d", "platform": "aws", "deploymentGroupId": group["id"]}
    created = httpx.post(f"{url}/v1/deployments", json=body, headers=bearer(group_token))
    assert created.status_code == 201, created.text
    return created.json()["deployment"]["id"], created.json()["token"]


def whoami_many(url: str, token: str, count: int) -> list[tuple[str, int]]:
    """`count` requests, 8 at a time, each on a new connection (so the workers share them);
    returns (request id, status) of each."""

    def one(_: int) -> tuple[str, int]:
        request_id = uuid.uuid4().hex
        headers = {**bearer(token), "X-Request-Id": request_id}
        return request_id, httpx.get(f"{url}/v1/whoami", headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def workers_that_served(log: str, request_ids: list[str]) -> set[str]:
    """The worker pid on each request's log line (plain format: `... <pid> GET <path> ...`)."""
    pids = set()
    for request_id in request_ids:
        match = re.search(rf" (\d+) GET /v1/whoami \d+ .*request_id={request_id}", log)
        assert match, f"no log line for {request_id}"
        pids.add(match.group(1))
    return pids


@pytest.mark.slow
def test_a_token_revoked_with_the_cli_fails_at_once_on_every_worker(
    live_server, settings, database_url, tmp_path
):
    server = live_server(workers=2, ALIEN_LOG_LEVEL="INFO")
    token = mint_group_token(server.url, bearer(settings.admin_token))
    before = whoami_many(server.url, token, 24)
    assert {status for _, status in before} == {200}

    revoked = cli.run(
        "tokens", "revoke", token[:12], database_url=database_url, state_dir=server.state_dir
    )
    assert revoked.returncode == 0, revoked.stderr

    after = whoami_many(server.url, token, 48)  # the first of these starts after the CLI exits
    assert [status for _, status in after] == [401] * 48
    assert len(workers_that_served(server.log(), [rid for rid, _ in after])) == 2
    admin_still = whoami_many(server.url, settings.admin_token, 4)
    assert {status for _, status in admin_still} == {200}


@pytest.mark.slow
def test_a_deleted_deployments_token_fails_at_once_on_every_worker(live_server, settings):
    server = live_server(workers=2, ALIEN_LOG_LEVEL="INFO")
    admin = bearer(settings.admin_token)
    deployment_id, token = create_deployment(server.url, admin)
    before = whoami_many(server.url, token, 24)  # every worker has it cached now
    assert {status for _, status in before} == {200}
    assert len(workers_that_served(server.log(), [rid for rid, _ in before])) == 2

    deleted = httpx.delete(f"{server.url}/v1/deployments/{deployment_id}?force=true", headers=admin)
    assert deleted.status_code == 202, deleted.text

    after = whoami_many(server.url, token, 48)
    assert [status for _, status in after] == [401] * 48
    assert len(workers_that_served(server.log(), [rid for rid, _ in after])) == 2


@pytest.mark.slow
@pg.only()
def test_a_revoked_token_fails_at_once_on_its_instance_and_within_a_second_on_the_others(
    live_server, settings, database_url
):
    first, second = live_server(workers=2), live_server(workers=2)
    token = mint_group_token(first.url, bearer(settings.admin_token))
    for server in (first, second):  # cached by the workers of both
        assert {s for _, s in whoami_many(server.url, token, 16)} == {200}

    revoked = cli.run(
        "tokens", "revoke", token[:12], database_url=database_url, state_dir=first.state_dir
    )
    assert revoked.returncode == 0, revoked.stderr
    done = time.monotonic()

    assert [s for _, s in whoami_many(first.url, token, 16)] == [401] * 16
    time.sleep(max(0.0, done + CACHE_SECONDS - time.monotonic()))
    assert [s for _, s in whoami_many(second.url, token, 16)] == [401] * 16


def test_changing_the_admin_token_variable_between_starts_revokes_the_old_value(settings):
    old = settings.admin_token
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(old)).status_code == 200
    with TestClient(create_app(replace(settings, admin_token=NEW_ADMIN))) as client:
        assert client.get("/v1/whoami", headers=bearer(NEW_ADMIN)).status_code == 200
        refused = client.get("/v1/whoami", headers=bearer(old))
        assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHORIZED"


def test_a_start_without_the_variable_keeps_the_token_it_registered(settings, capsys):
    create_app(settings)
    with TestClient(create_app(replace(settings, admin_token=None))) as client:
        assert client.get("/v1/whoami", headers=bearer(settings.admin_token)).status_code == 200
    assert "Admin API key" not in capsys.readouterr().out  # an admin exists: nothing minted
