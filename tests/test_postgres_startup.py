"""Several instances starting at once against one empty PostgreSQL schema: the schema
is created once and exactly one admin token exists, whichever instance's worker won."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harness import pg
from harness.server import LiveServer
from models.schema import MIGRATIONS
from models.tokens import hash_token
from tests.helpers import bearer

pytestmark = [pg.only(), pytest.mark.postgres, pytest.mark.slow]

INSTANCES = 3  # x 2 workers: six processes migrating and bootstrapping at once
READY_TIMEOUT = 120  # six cold starts on a shared two-core box; never asserted on


def start_together(database_url: str, tmp_path: Path, env: dict[str, str]) -> list[LiveServer]:
    servers = [
        LiveServer(database_url, tmp_path / f"instance{i}", workers=2, env=env)
        for i in range(INSTANCES)
    ]
    try:
        for server in servers:
            server.spawn()
        for server in servers:
            server.wait_ready(READY_TIMEOUT)
    except BaseException:
        stop(servers)
        raise
    return servers


def stop(servers: list[LiveServer]) -> None:
    for server in servers:
        server.stop()


def count(database_url: str, sql: str, *params: object) -> int:
    with pg.connect(database_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_instances_starting_at_once_on_an_empty_schema_mint_one_admin_token(database_url, tmp_path):
    servers = start_together(database_url, tmp_path, {"ALIEN_ADMIN_TOKEN": ""})
    try:
        logs = [server.log() for server in servers]
        assert sum(log.count("Admin API key: ") for log in logs) == 1
        assert count(database_url, "SELECT count(*) FROM token WHERE kind = 'admin'") == 1
        assert count(database_url, "SELECT count(*) FROM schema_migration") == len(MIGRATIONS)

        kept = [
            s.state_dir / "admin-token" for s in servers if (s.state_dir / "admin-token").exists()
        ]
        assert len(kept) == 1
        token = kept[0].read_text().strip()
        assert f"Admin API key: {token}" in "".join(logs)
        for server in servers:  # minted by one instance, good on all
            whoami = httpx.get(server.url + "/v1/whoami", headers=bearer(token), timeout=30)
            assert whoami.status_code == 200 and whoami.json()["scope"] == {"type": "admin"}
    finally:
        stop(servers)


def test_instances_starting_at_once_with_a_shared_admin_token_register_it_once(
    database_url, tmp_path, admin
):
    token = admin["Authorization"].removeprefix("Bearer ")
    servers = start_together(database_url, tmp_path, {"ALIEN_ADMIN_TOKEN": token})
    try:
        assert not any("Admin API key" in server.log() for server in servers)
        assert count(database_url, "SELECT count(*) FROM token WHERE kind = 'admin'") == 1
        sql = "SELECT count(*) FROM token WHERE token_hash = %s"
        assert count(database_url, sql, hash_token(token)) == 1
        for server in servers:
            assert (
                httpx.get(server.url + "/v1/whoami", headers=admin, timeout=30).status_code == 200
            )
    finally:
        stop(servers)
