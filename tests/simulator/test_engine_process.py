"""ALIEN_SIMULATE=1: the server starts exactly one engine per instance, however many workers it
has, and the engine goes when the server goes (docs/behaviour.md §9)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from harness import pg
from harness.server import LiveServer
from tests.simulator.conftest import Arranger, stack, wait_until

pytestmark = pg.once()  # docs: harness/pg.py


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def simulating(database_url: str, state_dir: Path, admin_token: str | None) -> LiveServer:
    env = {"ALIEN_SIMULATE": "1", "ALIEN_SIMULATE_TICK_MS": "50", "ALIEN_LOG_LEVEL": "INFO"}
    env["ALIEN_ADMIN_TOKEN"] = admin_token or ""  # empty: unset, the server mints and writes one
    return LiveServer(database_url, state_dir, workers=3, env=env)


@pytest.mark.parametrize("token_from", ["ALIEN_ADMIN_TOKEN", "state dir"])
def test_one_engine_per_instance_drives_deployments_and_stops_with_the_server(
    database_url: str, tmp_path: Path, settings: Settings, token_from: str
) -> None:
    given = settings.admin_token if token_from == "ALIEN_ADMIN_TOKEN" else None
    server = simulating(database_url, tmp_path / "state", given).start()
    try:
        token = given or (tmp_path / "state" / "admin-token").read_text().strip()
        api = Arranger(server.url, token)
        _, group_token = api.group()
        ids = [api.deployment(group_token, f"d{i}")[0] for i in range(3)]
        release = api.release(aws=stack())
        wait_until(lambda: api.all_at(ids, "running", release), what="running under the server")
        api.http.close()
        log = server.log()
        assert log.count("ALIEN_SIMULATE: engine started") == 1
        assert len(set(re.findall(r"simulator (sim-\S+) started", log))) == 1
        match = re.search(r"engine started \(pid (\d+)\)", log)
        assert match is not None
        engine = int(match.group(1))
        assert alive(engine)
    finally:
        server.stop()
    wait_until(lambda: not alive(engine), 30, "the engine to stop with the server")
    assert "stopped after" in server.log()


def test_the_engine_stops_when_the_server_is_killed(
    database_url: str, tmp_path: Path, settings: Settings
) -> None:
    server = simulating(database_url, tmp_path / "state", settings.admin_token).start()
    assert server.process is not None
    try:
        match = wait_until(lambda: re.search(r"engine started \(pid (\d+)\)", server.log()))
        engine = int(match.group(1))
        os.kill(server.process.pid, signal.SIGKILL)  # no on_exit hook runs
        server.process.wait()
        wait_until(lambda: not alive(engine), 30, "the orphaned engine to notice")
    finally:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)  # the workers, if still there
        except ProcessLookupError:
            pass


def test_off_by_default(live_server: Any) -> None:
    server = live_server()
    wait_until(lambda: "Application startup complete" in server.log())
    assert "engine started" not in server.log()
    assert "simulator" not in server.log()
