"""Workers outlive their database connections: a terminated backend, a restarted
server or a fork never leaves a worker answering 500 for good.

Real gunicorn servers. Backends are found by an `application_name` unique to the test (a libpq
parameter passed through DATABASE_URL) and ended with `pg_terminate_backend`; a restart is a
TCP proxy in front of PostgreSQL that cuts every connection and refuses new ones until it is
brought back, which is what a restart looks like from the service's side.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from harness import pg
from harness.server import LiveServer, free_port
from tests.helpers import bearer

pytestmark = [pg.only(), pytest.mark.postgres, pytest.mark.slow]

TIMEOUT = 60  # per request and per wait: bounds a wedged server, never asserted on
UNKNOWN_TOKEN = bearer("ax_admin_" + "f" * 40)


def backends(database_url: str, application_name: str) -> set[int]:
    with pg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (application_name,),
        ).fetchall()
    return {pid for (pid,) in rows}


def terminate(database_url: str, application_name: str) -> set[int]:
    """End every backend of the servers under test; return their pids once they are gone."""
    pids = backends(database_url, application_name)
    with pg.connect(database_url) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + TIMEOUT
    while backends(database_url, application_name) & pids:
        assert time.monotonic() < deadline, "terminated backends did not go away"
        time.sleep(0.05)
    return pids


def many(request: Callable[[], httpx.Response], n: int = 16) -> list[httpx.Response]:
    """n requests at once (several per worker, so every worker's pool is exercised)."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: request(), range(n)))


def getter(server: LiveServer, path: str, headers: dict[str, str] | None = None) -> Any:
    return partial(httpx.get, server.url + path, headers=headers, timeout=TIMEOUT)


def statuses(responses: list[httpx.Response]) -> set[int]:
    return {r.status_code for r in responses}


@pytest.fixture
def app_name() -> str:
    return f"alien-test-{uuid.uuid4().hex[:8]}"


def test_a_worker_recovers_when_its_backends_are_terminated(
    live_server, admin, database_url, app_name
):
    url = pg.with_params(database_url, application_name=app_name)
    server = live_server(workers=2, DATABASE_URL=url, ALIEN_DB_MAX_CONNECTIONS="4")
    assert statuses(many(getter(server, "/v1/whoami", admin))) == {200}
    killed = terminate(database_url, app_name)
    assert len(killed) >= 2  # at least each worker's pooled start-up connection

    # The auth lookup alone (an unknown token never reaches a handler) meets the dead pools.
    assert statuses(many(getter(server, "/v1/whoami", UNKNOWN_TOKEN))) == {401}
    assert not backends(database_url, app_name) & killed

    terminate(database_url, app_name)
    assert statuses(many(getter(server, "/v1/deployment-groups", admin))) == {200}
    body = {"name": "after"}
    created = httpx.post(server.url + "/v1/deployment-groups", json=body, headers=admin)
    assert created.status_code == 200


def test_a_handler_recovers_when_its_backends_are_terminated(live_server, database_url, app_name):
    """In dev mode authentication needs no database, so the handler's own check-out is the
    first to meet the dead connections."""
    url = pg.with_params(database_url, application_name=app_name)
    server = live_server(workers=2, DATABASE_URL=url, ALIEN_DEV_MODE="1")
    list_groups = getter(server, "/v1/deployment-groups")

    assert statuses(many(list_groups)) == {200}
    assert len(terminate(database_url, app_name)) >= 2
    assert statuses(many(list_groups)) == {200}


def test_requests_started_after_a_kill_under_load_all_succeed(
    live_server, admin, database_url, app_name
):
    """Backends are killed while writes and reads are in flight. A request in flight at that
    moment may fail (its connection is gone mid-statement); every request sent after the
    backends are gone must succeed, on every worker."""
    url = pg.with_params(database_url, application_name=app_name)
    server = live_server(workers=2, DATABASE_URL=url, ALIEN_DB_MAX_CONNECTIONS="4")
    killed = threading.Event()
    results: list[tuple[bool, int]] = []  # (sent after the kill, status)
    lock = threading.Lock()

    def client(i: int) -> None:
        after_kill = 0
        with httpx.Client(base_url=server.url, headers=admin, timeout=TIMEOUT) as http:
            for n in range(300):  # bounded; normally ends after 10 requests past the kill
                sent_after = killed.is_set()
                if (i + n) % 2:
                    response = http.post("/v1/deployment-groups", json={"name": f"c{i}-{n}"})
                else:
                    response = http.get("/v1/deployment-groups?limit=5")
                with lock:
                    results.append((sent_after, response.status_code))
                after_kill += sent_after
                if after_kill >= 10:
                    return

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(client, i) for i in range(6)]
        deadline = time.monotonic() + TIMEOUT
        while len(results) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        terminate(database_url, app_name)
        killed.set()
        for future in futures:
            future.result(timeout=TIMEOUT * 5)

    after = [status for sent_after, status in results if sent_after]
    assert len(after) == 60 and set(after) == {200}
    assert {status for sent_after, status in results if not sent_after} <= {200, 500}


class Proxy:
    """A TCP forwarder to PostgreSQL that can be taken down and brought back: while down,
    every connection through it is cut and new ones are refused, as during a restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        self._stop.clear()
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(0.1)
        self._spawn(self._accept, listener)

    def down(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT)
        self._threads = []
        with self._lock:
            for sock in self._sockets:
                self._close(sock)
            self._sockets.clear()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while not self._stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.target, timeout=TIMEOUT)
                for sock in (client, upstream):
                    sock.settimeout(0.1)
                with self._lock:
                    self._sockets |= {client, upstream}
                self._spawn(self._pump, client, upstream)
                self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        for sock in (source, sink):
            self._close(sock)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def test_a_worker_recovers_when_the_database_restarts(live_server, admin, database_url):
    target = urlsplit(database_url)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.up()
    try:
        server = live_server(workers=2, DATABASE_URL=through(database_url, proxy.port))
        whoami = getter(server, "/v1/whoami", admin)
        assert statuses(many(whoami)) == {200}

        proxy.down()
        during = many(whoami, n=8)  # refused at once: an error answer, not a hang
        # reference: crates/alien-manager/src/error.rs: DatabaseError, retryable
        assert {(r.status_code, r.json()["code"], r.json()["retryable"]) for r in during} == {
            (500, "DATABASE_ERROR", True)
        }

        proxy.up()
        assert statuses(many(whoami)) == {200}
        assert statuses([whoami() for _ in range(8)]) == {200}
    finally:
        proxy.down()


def test_workers_forked_from_a_preloaded_app_do_not_share_its_connections(
    tmp_path: Path, admin, database_url
):
    """`gunicorn --preload` builds the app (and its pool, holding the start-up connection) in
    the master, then forks the workers: each must open its own connections."""
    server = LiveServer(
        database_url,
        tmp_path / "preload",
        workers=2,
        env={"ALIEN_ADMIN_TOKEN": admin["Authorization"].removeprefix("Bearer ")},
        args=["--preload"],
    )
    with server, httpx.Client(base_url=server.url, headers=admin, timeout=TIMEOUT) as http:

        def mixed(i: int) -> httpx.Response:
            if i % 2:
                return http.get("/v1/whoami")
            return http.post("/v1/deployment-groups", json={"name": f"p{i}"})

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(mixed, range(40)))
        assert statuses(responses) == {200}
        assert len(http.get("/v1/deployment-groups").json()["items"]) == 20
        assert "Traceback" not in server.log()
