"""A regular install, as pip, pipx, a container image or a deploy pipeline makes it: the wheel
built from this checkout, installed into a fresh virtualenv outside it (no access to the
checkout or the project's .venv), serving from an empty directory.

The costly part (build and install, several seconds) happens once per run, in the SQLite pass:
nothing here depends on the database.
"""

from __future__ import annotations

import os
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

    assert served.stop(signal.SIGINT) == 0
    assert "Traceback" not in served.log.read_text()
    assert not list((empty / ".alien-manager").glob("metrics-*"))
