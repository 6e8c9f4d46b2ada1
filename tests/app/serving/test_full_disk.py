"""A full disk under the state directory (issue 21 item 2, docs/behaviour.md §12 "A full disk").

A live 1-worker server whose state directory (metrics files; on SQLite the database too) lives
on a 4 MiB tmpfs, which the test then fills: no worker dies (the metric files are allocated
before they are mapped, so a full disk is an error, not a SIGBUS), reads and /metrics keep
answering, and on SQLite writes answer a retryable 503 DATABASE_ERROR while /ready says why;
once space is freed, everything recovers by itself. Both databases: on PostgreSQL the database
lives elsewhere, so writes keep working and the server stays ready.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import pg
from harness.server import LiveServer

ADMIN = "ax_admin_" + "f1" * 20
HEADERS = {"Authorization": f"Bearer {ADMIN}"}
RECOVERY_SECONDS = 15  # generous: a loaded machine; the failure was a server that never came back


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write until the file system has no block left."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush at close
        try:
            while out.write(b"\0" * 4096):
                pass
        except OSError:
            pass
    return filler


def workers(server: LiveServer) -> list[str]:
    return Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()


def create_group(server: LiveServer, name: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/deployment-groups", json={"name": name}, headers=HEADERS, timeout=30
    )


def test_a_full_disk_kills_no_worker_and_passes_when_space_is_freed(
    tmp_path: Path, disk: Path, database_url: str
) -> None:
    state = disk / "state"
    sqlite = pg.backend() == "sqlite"
    url = f"sqlite:///{state / 'alien.db'}" if sqlite else database_url
    server = LiveServer(url, state, workers=1, env={"ALIEN_ADMIN_TOKEN": ADMIN})
    server.log_path = tmp_path / "server.log"  # the log is not on the disk being filled
    with server:
        assert create_group(server, "before").status_code == 200
        before = workers(server)
        filler = fill(disk)

        for i in range(12):  # new metric series too: every status and operation seen
            created = create_group(server, f"full-{i}")
            if sqlite:
                assert created.status_code == 503, created.text
                body = created.json()
                assert (body["code"], body["retryable"], body["httpStatusCode"]) == (
                    "DATABASE_ERROR", True, 503,
                )  # fmt: skip
                assert "no space" in body["message"]
            else:
                assert created.status_code == 200, created.text
            listed = httpx.get(f"{server.url}/v1/deployment-groups", headers=HEADERS, timeout=30)
            assert listed.status_code == 200 and "before" in listed.text
        assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 200
        ready = httpx.get(f"{server.url}/ready", timeout=30)
        if sqlite:
            assert ready.status_code == 503 and "No space" in ready.json()["message"]
        else:
            assert ready.status_code == 200
        assert workers(server) == before, server.log()
        assert "SIGBUS" not in server.log()
        assert "Traceback" not in server.log()

        filler.unlink()
        deadline = time.monotonic() + RECOVERY_SECONDS
        while time.monotonic() < deadline:
            if httpx.get(f"{server.url}/ready", timeout=30).status_code == 200:
                break
            time.sleep(0.2)
        assert create_group(server, "after").status_code == 200
        assert httpx.get(f"{server.url}/ready", timeout=30).status_code == 200
        assert workers(server) == before


KEY = "alien_http_requests_total" + "x" * 100  # about the length of a real series' key


def test_a_metric_file_that_cannot_grow_is_an_error_not_a_crash(disk: Path) -> None:
    """In process: with prometheus-client's own MmapedDict this test dies of SIGBUS."""
    from app.serving.metric_files import AllocatedMmapedDict

    values = AllocatedMmapedDict(str(disk / "counter_1.db"))
    try:
        values.write_value(KEY + "0", 1.0, 0.0)
        fill(disk)
        with pytest.raises(OSError):
            for i in range(1, 100_000):  # until the file must grow
                values.write_value(f"{KEY}{i}", float(i), 0.0)
        assert values.read_value(KEY + "0")[0] == 1.0  # what was written stays
    finally:
        values.close()
    with pytest.raises(OSError):
        AllocatedMmapedDict(str(disk / "counter_2.db"))
    assert not (disk / "counter_2.db").exists()  # never left empty for a later truncate


def test_a_lost_metric_update_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from app.serving import metrics

    def full() -> None:
        raise OSError(28, "No space left on device")

    metrics._lost_once.clear()
    for _ in range(3):
        metrics._counted(full)
    assert [r.getMessage() for r in caplog.records].count(
        "metrics: a value could not be written ([Errno 28] No space left on device); "
        "new series go uncounted"
    ) == 1
