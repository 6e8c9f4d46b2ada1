"""A regular install, as pip, pipx, a container image or a deploy pipeline makes it: the wheel
built from this checkout, installed into a fresh virtualenv outside it (no access to the
checkout or the project's .venv), serving from an empty directory.

The costly part (build and install, several seconds) happens once per run, in the SQLite pass:
nothing here depends on the database.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import pg
from harness.server import ROOT, free_port
from tests.helpers import SPEC_PATH

pytestmark = pg.once()

#: What the build needs of the checkout; everything else (tests, .venv, state) stays behind.
SOURCES = ("pyproject.toml", "README.md", "openapi.json", "app", "handlers", "models", "simulator")


@dataclass
class Install:
    wheel: Path
    bin: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: the new virtualenv first on PATH, no variable of ours, no
        PYTHONPATH (nothing may come from the checkout)."""
        keep = {k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "TMPDIR", "PIP_CERT")}
        return {**keep, "PATH": f"{self.bin}:{os.environ['PATH']}", **extra}

    def run(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "alien-server"), *args],
            cwd=cwd, env=self.env(**env), capture_output=True, text=True, timeout=120,
        )  # fmt: skip


def build_wheel(out: Path) -> Path:
    """`pip wheel` of a copy of the sources (the build writes build/ and *.egg-info beside
    them); the link app/contract/openapi.json is copied as a link, as git checks it out."""
    source = out / "source"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out / "dist")]
    subprocess.run([*pip, str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (out / "dist").glob("alien_server-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Install:
    out = tmp_path_factory.mktemp("install")
    wheel = build_wheel(out)
    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # This venv's pip installs into the new one: dependencies from the package index (pip's
    # cache makes it quick), the server from the wheel; no bytecode compiled, to save time.
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    subprocess.run(
        [*install, "-q", "--no-compile", str(wheel)], check=True, capture_output=True, timeout=600
    )
    return Install(wheel=wheel, bin=venv / "bin")


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    where = tmp_path / "elsewhere"
    where.mkdir()
    return where


def test_the_wheel_carries_the_contract_and_every_part(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        assert wheel.read("app/contract/openapi.json") == SPEC_PATH.read_bytes()
    packages = {str(p.relative_to(ROOT).parent) for p in ROOT.glob("app/**/__init__.py")}
    assert {f"{package}/__init__.py" for package in packages} <= names
    assert {"handlers/__init__.py", "models/__init__.py", "simulator/__init__.py"} <= names
    data = {  # package data: the contract, the console's page and script
        str(p.relative_to(ROOT))
        for p in ROOT.glob("app/**/*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert "app/console/static/console.js" in data
    assert data <= names, data - names


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not healthy in {timeout}s:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise


@pytest.fixture
def serve(installed: Install, tmp_path: Path) -> Iterator[object]:
    started: list[Served] = []

    def start(argv: list[str], cwd: Path, **env: str) -> Served:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env=installed.env(PORT=str(port), WEB_CONCURRENCY="1", **env),
            )  # fmt: skip
        served = Served(process, f"http://127.0.0.1:{port}", log)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()


def test_an_installed_server_serves_from_an_empty_directory(installed, empty, serve):
    checked = installed.run("check-config", cwd=empty)
    assert checked.returncode == 0, checked.stderr
    assert "openapi.json" in checked.stdout

    served = serve([str(installed.bin / "alien-server"), "serve"], cwd=empty)
    served.wait_healthy()
    token = (empty / ".alien-manager" / "admin-token").read_text().strip()
    whoami = httpx.get(served.url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.status_code == 200 and whoami.json()["scope"]["type"] == "admin"
    assert httpx.get(served.url + "/openapi.json").content == SPEC_PATH.read_bytes()
    for page in ("/console", "/console/console.js"):
        assert httpx.get(served.url + page).status_code == 200, page

    assert served.stop(signal.SIGINT) == 0
    assert "Traceback" not in served.log.read_text()
    assert not list((empty / ".alien-manager").glob("metrics-*"))


@dataclass
class Image:
    """What the Dockerfile's final stage says, read from the file: its environment, the install
    step, the command and the health check (Docker itself cannot run here)."""

    env: dict[str, str]
    install: str
    command: list[str]
    health: list[str]
    lines: list[str]


def image() -> Image:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    env: dict[str, str] = {}
    for line in final:
        if line.startswith("ENV "):
            env |= dict(pair.split("=", 1) for pair in shlex.split(line[4:]))
    (install,) = [line for line in final if line.startswith("RUN pip install")]
    (command,) = [json.loads(line[4:]) for line in final if line.startswith("CMD ")]
    (health,) = [
        json.loads(line.split(" CMD ", 1)[1]) for line in final if line.startswith("HEALTHCHECK ")
    ]
    return Image(env, install, command, health, final)


def test_the_images_command_serves_a_volume_and_its_health_check_passes(installed, tmp_path, serve):
    built = image()
    assert built.lines[0].startswith("FROM python:") and "slim" in built.lines[0]
    assert "USER alien" in built.lines and f"VOLUME {built.env['ALIEN_STATE_DIR']}" in built.lines
    assert built.env["HOST"] == "0.0.0.0"
    assert "/ready" in built.health[-1]
    # The install step is the one this module's fixture runs: pip, the wheel, no bytecode.
    assert "--no-compile" in built.install and "alien_server-*.whl" in built.install

    volume = tmp_path / "volume"  # the image's state directory, empty as a new volume
    volume.mkdir()
    env = {k: v for k, v in built.env.items() if k != "PORT"} | {"ALIEN_STATE_DIR": str(volume)}
    env["ALIEN_DRAIN_SECONDS"] = "1"  # a short drain for the test; the image keeps the default
    served = serve([str(installed.bin / built.command[0]), *built.command[1:]], cwd=volume, **env)
    served.wait_healthy()
    port = served.url.rsplit(":", 1)[1]
    health = [str(installed.bin / built.health[0]), *built.health[1:]]
    assert subprocess.run(health, env=installed.env(PORT=port), timeout=60).returncode == 0
    assert served.stop(signal.SIGTERM) == 0  # `docker stop`
    assert {"admin-token", "alien.db"} <= {p.name for p in volume.iterdir()}
    assert not list(volume.glob("metrics-*"))
