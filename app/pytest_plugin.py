"""The pytest plugin (entry point `alien_server`, docs/behaviour.md §13.9): a real server in test
mode for a client's test suite, and a clean world for each test.

- `alien_server` (session): gunicorn with this package's app, test mode, on a free loopback
  port, its own state directory and SQLite database, fixtures from `--alien-fixtures` or the
  `alien_fixtures` ini option. Each pytest process starts its own (under `pytest -n 2`, each
  xdist worker has one), so parallel tests never share a world.
- `alien` (function): that server reset for the test, with `.url`, `.tokens`, `.stub(...)`,
  `.requests(...)`, `.clock.advance(s)`, `.clock.freeze()`, `.clock.set(t)`, `.reset()`.

Nothing here runs unless a test asks for one of the two fixtures.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

START_SECONDS = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alien_server", "Alien Server in test mode")
    group.addoption("--alien-fixtures", default=None, help="fixture file for `alien_server`")
    parser.addini("alien_fixtures", "fixture file (YAML or JSON) for `alien_server`", default="")
    parser.addini("alien_workers", "gunicorn workers of `alien_server`", default="1")


class AlienServer:
    """One server in test mode: `start()`, `stop()`, its `url` and `admin_token`."""

    def __init__(self, state_dir: Path, fixtures: Path | None, workers: int) -> None:
        self.state_dir = state_dir
        self.fixtures = fixtures
        self.workers = workers
        self.admin_token = "ax_admin_" + secrets.token_hex(20)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AlienServer:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ, "ALIEN_TEST_MODE": "1", "ALIEN_STATE_DIR": str(self.state_dir),
            "DATABASE_URL": f"sqlite:///{self.state_dir / 'alien.db'}",
            "ALIEN_ADMIN_TOKEN": self.admin_token, "HOST": "127.0.0.1", "PORT": str(self.port),
            "WEB_CONCURRENCY": str(self.workers), "ALIEN_DRAIN_SECONDS": "0",
            "ALIEN_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        env.pop("ALIEN_FIXTURES", None)
        if self.fixtures is not None:
            env["ALIEN_FIXTURES"] = str(self.fixtures)
        command = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "app.asgi:app"], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.state_dir,
            )  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"alien_server exited at start:\n{self.log()}")
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"alien_server did not start in {START_SECONDS} s:\n{self.log()}")

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


class Alien:
    """A test's handle on the server: its URL, the tokens, and test mode's controls."""

    def __init__(self, server: AlienServer) -> None:
        self.url = server.url
        self.tokens = {"admin": server.admin_token, **_fixture_tokens(server.fixtures)}
        self.headers = {"Authorization": f"Bearer {server.admin_token}"}
        self.clock = Clock(self)

    def control(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = httpx.request(
            method, self.url + path, json=body, params=params, headers=self.headers, timeout=60
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        self.control("POST", "/_test/reset")

    def stub(self, operation_id: str | None = None, **stub: Any) -> str:
        """`stub("acquire", response={"status": 503})`, or `method=..., path=...` instead of
        the operationId; returns the stub's id."""
        if operation_id is not None:
            stub["operationId"] = operation_id
        ident: str = self.control("POST", "/_test/stubs", stub)["id"]
        return ident

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """The journal: `requests(operationId="acquire", status=409, since=..., limit=...)`."""
        items: list[dict[str, Any]] = self.control("GET", "/_test/requests", **filters)["items"]
        return items


class Clock:
    def __init__(self, alien: Alien) -> None:
        self.alien = alien

    def advance(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self.alien.control(
            "POST", "/_test/clock", {"advanceSeconds": seconds}
        )
        return result

    def freeze(self, frozen: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self.alien.control("POST", "/_test/clock", {"freeze": frozen})
        return result

    def set(self, when: datetime | str) -> dict[str, Any]:
        text = when.isoformat() if isinstance(when, datetime) else when
        result: dict[str, Any] = self.alien.control("POST", "/_test/clock", {"set": text})
        return result

    def now(self) -> datetime:
        return datetime.fromisoformat(self.alien.control("GET", "/_test/clock")["now"])


def _fixture_tokens(fixtures: Path | None) -> dict[str, str]:
    """The fixture file's tokens by what they belong to (a deployment or group id; `admin:<n>`
    for admin ones)."""
    if fixtures is None:
        return {}
    data = yaml.safe_load(fixtures.read_text()) or {}
    tokens: dict[str, str] = {}
    for n, token in enumerate(data.get("tokens") or []):
        owner = token.get("deploymentId") or token.get("deploymentGroupId") or f"admin:{n}"
        tokens[owner] = token["token"]
    return tokens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def alien_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlienServer]:
    config = request.config
    option, ini = config.getoption("alien_fixtures"), config.getini("alien_fixtures")
    fixtures = (
        Path(config.invocation_params.dir, option) if option else
        Path(config.rootpath, ini) if ini else None
    )  # fmt: skip
    server = AlienServer(
        tmp_path_factory.mktemp("alien_server"), fixtures, int(config.getini("alien_workers"))
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def alien(alien_server: AlienServer) -> Alien:
    handle = Alien(alien_server)
    handle.reset()
    return handle
