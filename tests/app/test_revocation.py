"""Revocation takes effect at once, on every worker and every instance (docs/behaviour.md §2).

There is no authentication cache: each request looks its token up. So the proof is from
outside: live gunicorn servers, the operator's CLI in a subprocess, then requests spread over
every worker.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
from starlette.testclient import TestClient

from app import create_app
from harness import pg
from tests import cli
from tests.helpers import bearer

NEW_ADMIN = "ax_admin_" + "9" * 40


def mint_group_token(url: str, admin: dict[str, str]) -> str:
    group = httpx.post(f"{url}/v1/deployment-groups", json={"name": "g"}, headers=admin)
    assert group.status_code == 200, group.text
    token = httpx.post(f"{url}/v1/deployment-groups/{group.json()['id']}/tokens", headers=admin)
    assert token.status_code == 200, token.text
    return str(token.json()["token"])


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

    revoked = cli.run("tokens", "revoke", token[:12], database_url=database_url, state_dir=tmp_path)
    assert revoked.returncode == 0, revoked.stderr

    after = whoami_many(server.url, token, 48)  # the first of these starts after the CLI exits
    assert [status for _, status in after] == [401] * 48
    assert len(workers_that_served(server.log(), [rid for rid, _ in after])) == 2
    admin_still = whoami_many(server.url, settings.admin_token, 4)
    assert {status for _, status in admin_still} == {200}


@pytest.mark.slow
@pg.only()
def test_a_token_revoked_with_the_cli_fails_at_once_on_every_instance(
    live_server, settings, database_url, tmp_path
):
    first, second = live_server(workers=2), live_server(workers=2)
    token = mint_group_token(first.url, bearer(settings.admin_token))
    assert {s for _, s in whoami_many(second.url, token, 8)} == {200}

    revoked = cli.run("tokens", "revoke", token[:12], database_url=database_url, state_dir=tmp_path)
    assert revoked.returncode == 0, revoked.stderr

    for server in (first, second):
        assert [s for _, s in whoami_many(server.url, token, 16)] == [401] * 16


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
