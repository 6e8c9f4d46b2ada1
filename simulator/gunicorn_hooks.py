"""With ALIEN_SIMULATE=1, exactly one engine per server instance (docs/behaviour.md §9).

gunicorn's master, not a worker, starts it: `when_ready` runs once per instance however many
workers there are, and spawns `python -m simulator` as a child process that talks HTTP to this
instance like any external engine. `on_exit` stops it (SIGTERM: it finishes its step and
releases its leases); should the master die without that, the engine notices its parent is gone
and stops by itself.

The engine's token: ALIEN_ADMIN_TOKEN when set (handed over on the child's stdin, never on its
command line), else the admin token the server wrote to `<state dir>/admin-token` on its first
start (the engine waits for the file). No token is minted for it. With neither (the file was
deleted after the first start), the engine says so and exits; the server runs on without it.

Use as a gunicorn config module (`gunicorn -c python:simulator.gunicorn_hooks ...`), or call
both hooks from the server's own config module.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

STOP_SECONDS = 10.0  # how long on_exit waits for the engine to release its leases


class EngineProcess:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def when_ready(self, server: Any) -> None:
        from app.settings import Settings  # the server's settings: read in app/settings.py only

        try:
            settings = Settings.from_env()
        except ValueError:
            return  # the workers report the configuration error
        if not settings.simulate:
            return
        url = _url(server)
        if url is None:
            server.log.warning("ALIEN_SIMULATE: the engine needs a TCP listener; not started")
            return
        command = [sys.executable, "-m", "simulator", "--url", url,
                   "--tick", str(settings.simulate_tick_ms), "--exit-with-parent"]  # fmt: skip
        token = settings.admin_token
        command += ["--token-file", "-" if token else str(settings.state_dir / "admin-token")]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert self.process.stdin is not None
        self.process.stdin.write(f"{token or ''}\n".encode())
        self.process.stdin.close()
        server.log.info("ALIEN_SIMULATE: engine started (pid %s) against %s", self.process.pid, url)

    def on_exit(self, server: Any) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _url(server: Any) -> str | None:
    for listener in server.LISTENERS:
        address = listener.sock.getsockname()
        if isinstance(address, tuple):
            host, port = address[:2]
            if host in ("0.0.0.0", ""):
                host = "127.0.0.1"
            elif host == "::":
                host = "::1"
            return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return None


_engine = EngineProcess()
when_ready = _engine.when_ready
on_exit = _engine.on_exit
