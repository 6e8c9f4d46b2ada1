"""A client that pipelines requests and never reads the answers costs a worker neither memory
nor a connection for long (issue 21 item 1, docs/behaviour.md §12): at most 256 requests wait
unanswered (more close the connection), and answers left unread for ALIEN_KEEPALIVE_SECONDS
close it too. Live 1-worker server; raw sockets.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import pg
from harness.server import LiveServer

pytestmark = pg.once()  # docs: harness/pg.py

KEEPALIVE = 2  # seconds
MARGIN = 8  # how much later a loaded machine may act; the bug kept connections for ever
HEALTH = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
SPEC = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"  # about 50 KB an answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    state: Path = tmp_path_factory.mktemp("pipelining")
    env = {"ALIEN_KEEPALIVE_SECONDS": str(KEEPALIVE)}
    with LiveServer(f"sqlite:///{state / 'alien.db'}", state, workers=1, env=env) as live:
        yield live


def worker_rss_mb(server: LiveServer) -> float:
    [worker] = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def unread(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing anyway
    return sock


def keeps_sending(sock: socket.socket, request: bytes, give_up: float) -> float | None:
    """Send `request` in batches until the server cuts the connection: when it did, or None
    if it was still open at `give_up`."""
    while time.monotonic() < give_up:
        try:
            sock.sendall(request * 30)
        except OSError:  # reset or broken pipe: closed by the server
            return time.monotonic()
        time.sleep(0.2)
    return None


def test_two_mb_of_unread_pipelined_requests_cost_no_memory_and_close(server):
    idle = worker_rss_mb(server)
    with unread(server) as sock:
        started = time.monotonic()
        payload = HEALTH * (2 * 1024 * 1024 // len(HEALTH))
        closed_at = None
        try:
            sock.sendall(payload)
        except OSError:
            closed_at = time.monotonic()
        if closed_at is None:
            closed_at = keeps_sending(sock, HEALTH, started + KEEPALIVE + MARGIN)
    assert closed_at is not None, "still open"
    assert worker_rss_mb(server) < idle + 10, (idle, worker_rss_mb(server))


def test_answers_left_unread_close_the_connection(server):
    """Big answers, requests trickling in below the pipelining bound: the answers pile up
    unread until the write deadline closes the connection."""
    with unread(server) as sock:
        started = time.monotonic()
        closed_at = keeps_sending(sock, SPEC, started + KEEPALIVE + MARGIN)
    assert closed_at is not None, "still open"


def test_a_pipelining_client_that_reads_gets_every_answer(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(HEALTH * 100)
        received = b""
        while received.count(b'{"status":"healthy"}') < 100:
            chunk = sock.recv(65536)
            assert chunk, received[-300:]
            received += chunk
