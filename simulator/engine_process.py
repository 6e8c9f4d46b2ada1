"""One simulated engine as a child process of a server (docs/behaviour.md §9).

The server's gunicorn hooks (app/serving/hooks.py) start it once per instance, however many
workers there are, when ALIEN_SIMULATE=1: `python -m simulator` talks HTTP to the instance like
any external engine. `stop()` ends it (SIGTERM: it finishes its step and releases its leases);
should the server die without that, the engine notices its parent is gone and stops by itself.

The hooks hand over what the engine needs (its tick, and the admin token or the file the server
wrote it to); this module reads no settings of its own. The token is given on the child's
stdin, never on its command line. No token is minted for it: with neither a token nor the file,
the engine says so and exits, and the server runs on without it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

STOP_SECONDS = 10.0  # how long stop() waits for the engine to release its leases


class EngineProcess:
    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, server: Any, *, tick_ms: int, token: str | None, token_file: Path) -> None:
        """Spawn the engine against `server`'s first TCP listener (a gunicorn Arbiter)."""
        url = _url(server)
        if url is None:
            server.log.warning("ALIEN_SIMULATE: the engine needs a TCP listener; not started")
            return
        command = [
            *(sys.executable, "-m", "simulator", "--url", url, "--tick", str(tick_ms)),
            *("--exit-with-parent", "--token-file", "-" if token else str(token_file)),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert self.process.stdin is not None
        self.process.stdin.write(f"{token or ''}\n".encode())
        self.process.stdin.close()
        server.log.info("ALIEN_SIMULATE: engine started (pid %s) against %s", self.process.pid, url)

    def stop(self) -> None:
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
