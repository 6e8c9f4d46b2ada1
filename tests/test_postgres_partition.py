"""The network between the server and PostgreSQL fails (issue 21), on a real gunicorn server
that reaches PostgreSQL through a TCP forwarder:

- a silent partition (packets dropped, nothing refused): `/ready` and `/metrics` still answer,
  503, within about a second, where they used to hang for as long as the kernel took to give up;
- the connection lost during COMMIT: the write may have been saved, so the answer is a
  DATABASE_ERROR that is not retryable (a retrying client would duplicate it).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from harness import pg
from harness.server import free_port

pytestmark = [pg.only(), pytest.mark.postgres, pytest.mark.slow]

PROMISED = 1.0  # app/serving/probe.py SECONDS
MARGIN = 3.0  # a loaded machine's lateness; the hang this replaces lasted 7.5 s and more


class SilentProxy:
    """Forwards TCP to `target` until `silence()`; then reads and drops everything, both ways,
    and accepts new connections without connecting them anywhere."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.silent = threading.Event()
        self.cut_on_commit = threading.Event()  # forward a COMMIT, then cut its connection
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.1)
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def silence(self) -> None:
        self.silent.set()

    def stop(self) -> None:
        self.stopped.set()
        for sock in [self.listener, *self.sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.sockets.append(client)
            if self.silent.is_set():
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        source.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if sink is not None and not self.silent.is_set():
                try:
                    sink.sendall(data)
                except OSError:
                    return
                if self.cut_on_commit.is_set() and b"COMMIT" in data:
                    source.close()  # PostgreSQL has the COMMIT; its answer never arrives
                    time.sleep(0.5)
                    sink.close()
                    return


@pytest.fixture
def proxy(database_url: str) -> Iterator[SilentProxy]:
    target = urlsplit(database_url)
    silent = SilentProxy((target.hostname or "127.0.0.1", target.port or 5432))
    yield silent
    silent.stop()


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@127.0.0.1:{port}"))


def timed(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30)
    return response, time.monotonic() - started


def test_ready_and_metrics_answer_503_within_a_second_during_a_silent_partition(
    live_server, database_url, proxy
):
    server = live_server(workers=1, DATABASE_URL=through(database_url, proxy.port))
    for path in ("/ready", "/metrics"):
        assert httpx.get(server.url + path, timeout=30).status_code == 200
    proxy.silence()
    for path in ("/ready", "/metrics", "/ready", "/metrics"):
        response, seconds = timed(server.url + path)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
        assert seconds < PROMISED + MARGIN, (path, seconds)


def test_a_connection_lost_during_commit_is_not_answered_retryable(
    live_server, database_url, proxy, admin
):
    server = live_server(workers=1, DATABASE_URL=through(database_url, proxy.port))
    assert httpx.get(server.url + "/v1/whoami", headers=admin, timeout=30).status_code == 200
    url = server.url
    group = httpx.post(url + "/v1/deployment-groups", json={"name": "g"}, headers=admin).json()
    body = {"name": "maybe", "platform": "aws", "deploymentGroupId": group["id"]}
    proxy.cut_on_commit.set()
    lost = httpx.post(url + "/v1/deployments", json=body, headers=admin, timeout=30)
    proxy.cut_on_commit.clear()
    assert lost.status_code == 500, lost.text
    assert lost.json()["code"] == "DATABASE_ERROR" and lost.json()["retryable"] is False
    listed = httpx.get(url + "/v1/deployments", headers=admin, timeout=30).json()
    assert [d["name"] for d in listed["items"]] == ["maybe"]  # it had committed
