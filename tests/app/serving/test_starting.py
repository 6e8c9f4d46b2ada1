"""Starting (docs/behaviour.md §12): what the gunicorn master refuses before it binds, each with
one line and no traceback, and the wait for a PostgreSQL that is not there yet. A refused start
leaves nothing behind in the state directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness import pg
from harness.server import ROOT, LiveServer, free_port

GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf"]


def start(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A server start expected to be refused: gunicorn as `alien-server serve` runs it."""
    environ = {**os.environ, "ALIEN_STATE_DIR": str(state), "PORT": str(free_port()), "DATABASE_URL": "", **env}  # fmt: skip
    return subprocess.run(
        [*GUNICORN, *args, "app.asgi:app"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def refusal(run: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start prints of its own (gunicorn's "Starting" line aside)."""
    lines = [line for line in run.stderr.splitlines() if line.startswith("alien-server:")]
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "Booting worker" not in run.stderr, run.stderr
    return lines[0]


def left_behind(state: Path) -> list[str]:
    return sorted(p.name for p in state.glob("metrics-*"))


@pytest.mark.slow
@pytest.mark.skipif(pg.backend() == "postgres", reason=pg.ONCE_REASON)
def test_an_address_in_use_is_one_line_at_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = start(tmp_path, PORT=str(port))
    assert run.returncode == 1
    line = refusal(run)
    assert (
        line
        == f"alien-server: 127.0.0.1:{port} is in use — is another alien-server running? (PORT, HOST)"
    )
    assert "Connection in use" not in run.stderr  # gunicorn's own retries, 5 s of them
    assert left_behind(tmp_path) == []


@pytest.mark.slow
@pytest.mark.skipif(pg.backend() == "postgres", reason=pg.ONCE_REASON)
def test_a_worker_class_that_is_not_ours_is_refused(tmp_path):
    run = start(tmp_path, "-k", "uvicorn_worker.UvicornWorker")
    assert run.returncode == 78
    assert refusal(run).startswith(
        "alien-server: configuration error: worker class 'uvicorn_worker.UvicornWorker' is not "
        "the server's own (app.serving.worker.AlienWorker)"
    )
    assert left_behind(tmp_path) == []


@pytest.mark.slow
@pytest.mark.skipif(pg.backend() == "postgres", reason=pg.ONCE_REASON)
def test_a_database_that_never_answers_is_waited_for_then_one_line(tmp_path):
    url = f"postgresql://u:hunter2@127.0.0.1:{free_port()}/x"  # nothing listens there
    run = start(tmp_path, DATABASE_URL=url, ALIEN_DB_WAIT_SECONDS="2")
    assert run.returncode == 78
    masked = url.replace("hunter2", "***")
    line = refusal(run)
    assert line.startswith(
        f"alien-server: configuration error: DATABASE_URL='{masked}' cannot be opened: "
    )
    assert line.endswith("(ALIEN_DB_WAIT_SECONDS)")
    assert "waiting for the database" in run.stderr and "hunter2" not in run.stderr
    assert left_behind(tmp_path) == []


@pytest.mark.slow
@pytest.mark.skipif(pg.backend() == "postgres", reason=pg.ONCE_REASON)
def test_print_config_leaves_no_metrics_directory(tmp_path):
    run = start(tmp_path, "--print-config")
    assert run.returncode == 0, run.stderr
    assert left_behind(tmp_path) == []


class LateProxy:
    """A TCP port that refuses connections until `open()`, then forwards each to `target`: a
    database that a container starts beside the server, late."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.opened = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def open(self) -> None:
        self.opened.set()

    def serve(self) -> None:
        while not self.opened.wait(0.1):
            if self.stopped.is_set():
                return
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen()
            listener.settimeout(0.2)
            while not self.stopped.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(self.target)
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for each in (source, sink):  # wakes the other direction's pipe up too
                try:
                    each.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            source.close()  # each socket is the source of one pipe: it closes it

    def __enter__(self) -> LateProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


@pytest.fixture
def late_database(database_url: str) -> Iterator[tuple[str, LateProxy]]:
    parts = urlsplit(database_url)
    with LateProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
        netloc = parts.netloc.rsplit("@", 1)
        user = f"{netloc[0]}@" if len(netloc) == 2 else ""
        yield urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}")), proxy


@pg.only()
def test_a_database_that_appears_late_is_waited_for(tmp_path, late_database):
    url, proxy = late_database
    live = LiveServer(url, tmp_path, workers=1).spawn()
    try:
        deadline = time.monotonic() + 60
        while "waiting for the database" not in live.log() and time.monotonic() < deadline:
            assert live.process is not None and live.process.poll() is None, live.log()
            time.sleep(0.1)
        time.sleep(1.5)  # a try or two more fail
        assert live.process is not None and live.process.poll() is None, live.log()
        proxy.open()
        live.wait_ready(timeout=60)
    finally:
        live.stop()
    assert "Traceback" not in live.log()
