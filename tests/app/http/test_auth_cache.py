"""The token lookup cache (app/http/auth.py, docs/behaviour.md §2): what it may keep and for how long.

A lookup is trusted for at most `ALIEN_AUTH_CACHE_SECONDS`, and not at all once this process,
or any process sharing the revocation value (models/revocation.py), has revoked a token. These
tests revoke the three ways a token can go: through the model (what the CLI and the API do),
behind the server's back in SQL (another machine's instance, which shares nothing but the
database), and with the shared value changed by another process.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from app.factory import create_app
from app.http import auth
from models import revocation
from models.db import db
from models.tokens import Token, hash_token
from tests.helpers import ContractClient, bearer


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's monotonic clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def group_token(client: ContractClient, admin: dict[str, str]) -> tuple[str, str]:
    """A new group's id and a token for it."""
    group = client.post("/v1/deployment-groups", json={"name": "g"}, headers=admin).json()
    minted = client.post(f"/v1/deployment-groups/{group['id']}/tokens", headers=admin).json()
    return group["id"], minted["token"]


def whoami(client: ContractClient, token: str) -> int:
    return int(client.get("/v1/whoami", headers=bearer(token)).status_code)


def revoke_in_sql(token: str) -> None:
    """As an instance on another machine would: the row changes, nothing here is told."""
    with db.connection_context():
        Token.update(revoked_at=1).where(Token.token_hash == hash_token(token)).execute()


def cached_then_revoked_in_sql(client: ContractClient, admin: dict[str, str]) -> str:
    """A token this worker has cached, then revoked behind its back: still accepted (cached)."""
    _, token = group_token(client, admin)
    assert whoami(client, token) == 200
    revoke_in_sql(token)
    assert whoami(client, token) == 200  # the cache answered: nobody said otherwise
    return token


def test_a_token_this_process_revokes_is_refused_at_once(client, admin, clock):
    _, token = group_token(client, admin)
    assert whoami(client, token) == 200  # looked up, and cached
    with db.connection_context():
        Token.revoke(token[:12])  # what `alien-server tokens revoke` runs
    assert whoami(client, token) == 401


def test_a_deleted_deployments_token_is_refused_at_once(client, admin, clock):
    group_id, token = group_token(client, admin)
    created = client.post(
        "/v1/deployments",
        json={"name": "d", "platform": "aws", "deploymentGroupId": group_id},
        headers=bearer(token),
    ).json()
    deployment_token = created["token"]
    assert whoami(client, deployment_token) == 200
    deleted = client.delete(
        f"/v1/deployments/{created['deployment']['id']}?force=true", headers=admin
    )
    assert deleted.status_code == 202
    assert whoami(client, deployment_token) == 401


def test_a_revocation_nobody_announces_is_obeyed_once_the_cache_lifetime_is_over(
    client, admin, clock, settings
):
    token = cached_then_revoked_in_sql(client, admin)
    clock[0] += settings.auth_cache_seconds * 0.9
    assert whoami(client, token) == 200  # still within the lifetime: the cache answered
    clock[0] += settings.auth_cache_seconds * 0.1
    assert whoami(client, token) == 401


def test_another_process_changing_the_shared_value_empties_the_cache(
    client, admin, clock, settings
):
    token = cached_then_revoked_in_sql(client, admin)
    assert revocation.shared.path is not None
    other_process = revocation.Generation(revocation.shared.path)  # a second mapping of the file
    other_process.bump()
    assert whoami(client, token) == 401


def test_with_the_cache_off_every_request_looks_its_token_up(settings, admin, clock):
    with ContractClient(create_app(replace(settings, auth_cache_seconds=0))) as client:
        _, token = group_token(client, admin)
        assert whoami(client, token) == 200
        revoke_in_sql(token)
        assert whoami(client, token) == 401


def test_a_refused_token_is_not_remembered(client, admin, clock):
    """A token that failed (not minted yet, as far as this worker knew) works once it exists."""
    raw = "ax_dg_" + "5" * 40
    assert whoami(client, raw) == 401
    group = client.post("/v1/deployment-groups", json={"name": "g"}, headers=admin).json()
    with db.connection_context():
        Token.register(raw, "deployment-group", group["id"])
    assert whoami(client, raw) == 200


def test_the_cache_holds_a_bounded_number_of_entries(clock):
    cache = auth.TokenCache(1.0, size=3)
    caller: Any = object()
    generation = revocation.shared.current()
    for n in range(10):
        cache.put(f"digest-{n}", caller, generation)
        assert len(cache._entries) <= 3
    assert cache.get("digest-9") is caller
