"""Real servers for concurrency tests: gunicorn + uvicorn workers, as `make run` serves.

`LiveServer(database_url, state_dir, workers=N).start()` runs `gunicorn app.asgi:app` on a free
loopback port and waits for /health; `stop()` ends it. Several instances may share a database.
`spawn()` and `wait_ready()` are the two halves of `start()`, for starting several at once.
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
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.state_dir = state_dir
        self.log_path = state_dir / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "ALIEN_STATE_DIR": str(state_dir),
            "PORT": str(self.port),
            "ALIEN_LOG_LEVEL": "WARNING",
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
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--control-socket",
                str(self.state_dir / f"gunicorn-{self.port}.ctl"),
                *self.args,
                self.target,
            ],  # fmt: skip
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

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
