"""The metrics directory of one gunicorn server: fresh at start, cleaned as workers exit.

prometheus-client sums the metrics of all workers through files in `PROMETHEUS_MULTIPROC_DIR`,
and chooses between files and memory once, when it is first imported. So the gunicorn
configuration calls `start()` as it loads, before any worker (or `--preload`) imports it:
that is why this module, unlike app/serving/metrics.py, imports prometheus-client only inside
the hooks.

The directory is `<ALIEN_STATE_DIR>/metrics-<master pid>`, so two servers sharing a state
directory never share counters. It goes when the master exits, whichever way (a start refused
before any hook ran, `--print-config`, a stop); one left by a server that was killed is removed
at the next start.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
DIR_NAME = re.compile(r"^metrics-(\d+)$")


def start(state_dir: Path) -> Path:
    """Create this server's empty directory and point prometheus-client at it (idempotent: a
    configuration reload keeps the directory, and so the counts)."""
    path = (state_dir / f"metrics-{os.getpid()}").resolve()
    if os.environ.get(VARIABLE) == str(path) and path.is_dir():
        return path
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before the metrics directory was set; "
            "app/factory.py must import app.serving.metrics only inside create_app"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    _remove_orphans(state_dir)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.environ[VARIABLE] = str(path)
    atexit.register(_remove_at_exit, path, os.getpid())
    return path


def _remove_at_exit(path: Path, master: int) -> None:
    if os.getpid() == master:  # forked workers run exit handlers too: only the master removes
        shutil.rmtree(path, ignore_errors=True)


def _remove_orphans(state_dir: Path) -> None:
    for entry in state_dir.iterdir():
        match = DIR_NAME.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master): a worker is gone, so are its live gauges (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """gunicorn hook (master): the server stops, its directory goes."""
    path = os.environ.get(VARIABLE)
    if path and DIR_NAME.match(Path(path).name):
        shutil.rmtree(path, ignore_errors=True)
