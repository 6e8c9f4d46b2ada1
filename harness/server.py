"""Real servers for concurrency tests: gunicorn + uvicorn workers, as `make run` serves.

`LiveServer(database_url, state_dir, workers=N).start()` runs gunicorn with the project's one
serving configuration (`-c python:app.gunicorn_conf`, which `make run` uses too) on a free
loopback port and waits for /health; `stop()` ends it (SIGTERM). Several instances may share a
database. `spawn()` and `wait_ready()` are the two halves of `start()`, for starting several at
once. Settings travel as environment variables, exactly as an operator sets them; the drain on
SIGTERM is off unless a test sets ALIEN_DRAIN_SECONDS (it would slow every teardown).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(
        self,
        database_url: str,
        state_dir: Path,
        workers: int = 2,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        target: str = "app.asgi:app",
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.state_dir = state_dir
        self.log_path = state_dir / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "ALIEN_STATE_DIR": str(state_dir),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "ALIEN_LOG_LEVEL": "WARNING",
            "ALIEN_DRAIN_SECONDS": "0",
            **(env or {}),
        }
        self.args = list(args)  # more gunicorn options, e.g. ["--preload"]
        self.target = target  # the ASGI app gunicorn loads (bench/ serves a baseline too)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> LiveServer:
        return self.spawn().wait_ready(timeout)

    def spawn(self) -> LiveServer:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # the child keeps its own descriptor
            self.process = self._spawn(log)
        return self

    def wait_ready(self, timeout: float = 30.0) -> LiveServer:
        """Until /health answers and every worker has finished starting (each has migrated,
        bootstrapped and said so in the log), so no worker is still coming up behind a test."""
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            if self.log().count("Application startup complete") >= self.workers:
                try:
                    if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not come up in {timeout}s:\n{self.log()}")

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf"]
        return subprocess.Popen(
            [*gunicorn, *self.args, self.target],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        """The gunicorn master's process id."""
        assert self.process is not None, "spawn() first"
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, float | None]:
    """Everything the server sends on `sock` until it closes the connection, and the moment
    (time.monotonic) it did; None for the moment if it was still open at `deadline`."""
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return received, None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return received, None
        except ConnectionResetError:
            return received, time.monotonic()
        if not chunk:
            return received, time.monotonic()
        received += chunk


def status_of(raw: bytes) -> int | None:
    """The status code of the first response in `raw` bytes, None if there is none."""
    if not raw.startswith(b"HTTP/1.1 "):
        return None
    return int(raw[9:12])
