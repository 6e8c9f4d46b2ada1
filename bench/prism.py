"""Stoplight Prism, the reference a run measures this server against: a mock of the same spec.

Prism comes from npm (`@stoplight/prism-cli`, the version pinned below), installed on first use
into a cache directory (ALIEN_BENCH_PRISM_DIR, default ~/.cache/alien-bench/prism/<version>)
and reused after. Without npm a run skips the Prism columns. Prism serves the spec as the app
serves it: openapi.json with the project's in-memory overlay (app/contract/overlay.py: the
`bearer` scheme the spec references but does not define, the paging parameters, ...), written to
a temp file.
It validates each request and its bearer token's presence, and answers with the spec's examples
(generated from the schemas where there are none); it keeps no state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import health_status
from harness.server import free_port

PACKAGE = "@stoplight/prism-cli"
VERSION = "5.14.2"


def install_dir() -> Path:
    if configured := os.environ.get("ALIEN_BENCH_PRISM_DIR"):
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "alien-bench" / "prism" / VERSION


def executable() -> tuple[Path | None, str]:
    """Prism's command, installing it first if needed; or None and the reason there is none."""
    directory = install_dir()
    prism = directory / "node_modules" / ".bin" / "prism"
    if prism.exists():
        return prism, f"Prism {VERSION} from {directory}"
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm not found: Prism is not installed and its columns are skipped"
    print(f"installing {PACKAGE}@{VERSION} into {directory} (once) ...", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(directory),
         f"{PACKAGE}@{VERSION}"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode != 0 or not prism.exists():
        reason = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["?"]
        return None, f"npm install {PACKAGE}@{VERSION} failed ({reason[0]}): Prism skipped"
    return prism, f"Prism {VERSION} installed into {directory}"


def write_spec(path: Path) -> Path:
    """The spec as the app serves it (openapi.json plus app/contract/overlay.py's fixes)."""
    from app.contract.overlay import overlay
    from app.contract.spec import raw_spec

    path.write_text(json.dumps(overlay(raw_spec())))
    return path


@contextmanager
def serving(prism: Path, state_dir: Path, timeout: float = 60) -> Iterator[str]:
    """A Prism mock server on a free loopback port; yields its URL once /health answers 200."""
    state_dir.mkdir(parents=True, exist_ok=True)
    spec = write_spec(state_dir / "openapi.overlaid.json")
    port = free_port()
    log_path = state_dir / "prism.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [prism, "mock", spec, "-p", str(port), "-h", "127.0.0.1", "-v", "error"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while health_status(port) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Prism did not come up on port {port}:\n{log_text}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
