"""Run the operator command line as operators do: the installed `alien-server` script, in a
subprocess, against a test's database (see tests/app/cli/test_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.server import ROOT

CLI = str(Path(sys.executable).parent / "alien-server")


def run(
    *args: str, database_url: str, state_dir: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`alien-server ARGS` with the server's environment for this database; never raises."""
    environ = {**os.environ, "DATABASE_URL": database_url, "ALIEN_STATE_DIR": str(state_dir)}
    environ.pop("ALIEN_ADMIN_TOKEN", None)
    return subprocess.run(
        [CLI, *args], cwd=ROOT, env={**environ, **env}, capture_output=True, text=True, timeout=120
    )
