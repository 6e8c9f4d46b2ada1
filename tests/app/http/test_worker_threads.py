"""A worker runs requests on ALIEN_WORKER_THREADS threads (app/http/bridge.py). A request that waits
for the database holds one of them and nothing else: the worker's other threads and its event
loop keep answering. Shown on a live server with one worker and two threads, on both databases,
with the database held from outside (a row lock on PostgreSQL, the write lock on SQLite)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness import pg

WAIT = 30  # bound on every wait below, never asserted on as a speed


@contextmanager
def group_held(database_url: str, group_id: str) -> Iterator[None]:
    """Hold what adding a deployment to `group_id` must write, until the block ends."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(urlsplit(database_url).path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the one write lock: every writer waits for it
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    conn = pg.connect(database_url)
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT 1 FROM deployment_group WHERE id = %s FOR UPDATE", (group_id,))
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def test_a_request_waiting_for_the_database_holds_one_thread_and_no_more(
    live_server: Any, database_url: str, admin: dict[str, str]
) -> None:
    server = live_server(workers=1, ALIEN_WORKER_THREADS="2")
    with httpx.Client(base_url=server.url, headers=admin, timeout=WAIT) as client:
        group = client.post("/v1/deployment-groups", json={"name": "held", "maxDeployments": 5})
        group_id = group.json()["id"]
        answered: list[httpx.Response] = []

        def create() -> None:
            # The admin token: looked up (and its use recorded) already, so the create waits in
            # its handler, on a request thread, and not in the token lookup before it.
            body = {"name": "waits", "platform": "aws", "deploymentGroupId": group_id}
            with httpx.Client(base_url=server.url, headers=admin, timeout=WAIT) as own:
                answered.append(own.post("/v1/deployments", json=body))

        with group_held(database_url, group_id):
            waiting = threading.Thread(target=create)
            waiting.start()
            time.sleep(0.5)  # long enough for the create to reach the database and wait there
            for _ in range(20):  # on the other thread, one after another
                assert client.get(f"/v1/deployment-groups/{group_id}").status_code == 200
                assert client.get("/v1/whoami").status_code == 200
            assert client.get("/health").status_code == 200
            assert waiting.is_alive() and not answered, "the create did not wait for the lock"
        waiting.join(WAIT)

    assert [r.status_code for r in answered] == [201]
    assert answered[0].json()["deployment"]["deploymentGroupId"] == group_id
