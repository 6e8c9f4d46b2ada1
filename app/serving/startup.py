"""What the gunicorn master checks before it binds and starts workers (docs/behaviour.md §12).

Each refusal is one line and an exit, never a traceback or a retry loop: a worker class other
than ours (it would drop the guards of app/serving/worker.py), an address already in use, a
database that does not answer within ALIEN_DB_WAIT_SECONDS. Then one line says what starts.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Any, NoReturn

from app import __version__
from app.contract.spec import sha256
from app.settings import ConfigError, Settings, exit_for_config_error, without_password

WORKER_CLASS = "app.serving.worker.AlienWorker"
EX_FAILED = 1


def refuse(message: str, status: int = EX_FAILED) -> NoReturn:
    print(f"alien-server: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def check_worker_class(worker_class: str) -> None:
    """`-k uvicorn_worker.UvicornWorker` (or any other) would silently serve without the header
    timeout, the 431, the drain and the dead-master check: refused (exit 78)."""
    if worker_class != WORKER_CLASS:
        exit_for_config_error(
            ConfigError(
                f"worker class {worker_class!r} is not the server's own ({WORKER_CLASS}), which "
                "enforces the header timeout, the 431, the drain and the dead-master check: "
                "leave -k/--worker-class out"
            )
        )


def check_addresses(server: Any) -> None:
    """An address already in use: one line naming it, at once (gunicorn would retry for 5 s
    and end with a traceback). Skipped when gunicorn is handed its sockets (systemd, a
    re-exec) or binds with SO_REUSEPORT, where a second bind is expected to succeed."""
    if server.cfg.reuse_port or os.environ.get("LISTEN_FDS") or os.environ.get("GUNICORN_FD"):
        return
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a Unix socket: gunicorn removes a stale one itself
        host, port = address[0], address[1]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            try:
                probe.bind((host, port))
            except OSError as exc:
                shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
                if exc.errno == errno.EADDRINUSE:
                    refuse(f"{shown} is in use — is another alien-server running? (PORT, HOST)")
                refuse(f"cannot listen on {shown}: {exc.strerror} (PORT, HOST)")


def wait_for_database(settings: Settings, server: Any) -> None:
    from app.storage import wait_for_database  # the database's libraries: only when starting

    try:
        wait_for_database(settings, server.log.warning)
    except ConfigError as exc:
        exit_for_config_error(exc)


def starting_line(settings: Settings, workers: int) -> str:
    return (
        f"alien-server {__version__}: contract openapi.json sha256 {sha256()[:12]}, database "
        f"{without_password(settings.database_url)}, state directory "
        f"{settings.state_dir.resolve()}, {workers} worker(s) × {settings.worker_threads} threads"
    )


DEV_MODE_WARNING = (
    "DEV MODE (ALIEN_DEV_MODE=1): every request is an admin, whatever token it carries; never "
    "expose this server to anything but your own machine"
)
