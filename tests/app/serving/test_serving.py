"""Serving and operations (docs/behaviour.md §12): the one gunicorn configuration, readiness,
the drain on SIGTERM, workers that follow a dead master, a quiet log. Real processes and real
signals throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from harness.server import ROOT, LiveServer
from models.db import db
from models.engines import make_database

ADMIN = "ax_admin_" + "7" * 40
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def sqlite_server(state: Path, port: int | None = None, **env: str) -> LiveServer:
    """A live 2-worker server on its own SQLite file: these tests are about processes, not
    storage."""
    env = {"ALIEN_ADMIN_TOKEN": ADMIN, **env}
    return LiveServer(f"sqlite:///{state / 'alien.db'}", state, env=env, port=port)


def gunicorn_settings(*args: str, **env: str) -> dict[str, str]:
    """gunicorn's effective settings for a command line run from the repository root."""
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", *args, "--print-config", "app.asgi:app"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    pairs = (line.split("=", 1) for line in printed.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


# -- one configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [(), ("-c", "python:app.gunicorn_conf")], ids=["./gunicorn.conf.py", "installed"]
)
def test_plain_gunicorn_serves_with_the_projects_configuration(args, tmp_path):
    env = {"HOST": "0.0.0.0", "PORT": "9123", "WEB_CONCURRENCY": "3",
           "ALIEN_STATE_DIR": str(tmp_path), "ALIEN_DRAIN_SECONDS": "2",
           "ALIEN_GRACEFUL_TIMEOUT_SECONDS": "10", "ALIEN_KEEPALIVE_SECONDS": "7"}  # fmt: skip
    settings = gunicorn_settings(*args, **env)
    assert settings["worker_class"] == "app.serving.worker.AlienWorker"
    assert settings["workers"] == "3"
    assert settings["bind"] == "['0.0.0.0:9123']"
    assert settings["keepalive"] == "7"
    assert settings["graceful_timeout"] == str(2 + 10 + 5)  # drain, then in-flight, then margin
    assert settings["control_socket"] == str(tmp_path / "gunicorn-9123.ctl")


def test_no_control_socket_where_its_path_would_be_too_long(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 40)
    settings = gunicorn_settings(ALIEN_STATE_DIR=str(deep))
    assert settings["control_socket_disable"] == "True"


def test_a_bad_setting_stops_gunicorn_with_one_line():
    run = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", "app.asgi:app"],
        cwd=ROOT, env={**os.environ, "ALIEN_BODY_TIMEOUT_SECONDS": "soon"}, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode != 0
    assert "configuration error" in run.stderr and "Traceback" not in run.stderr


def test_importing_the_app_prints_no_warning():
    """Starlette's httpx deprecation warning used to print in every worker and CLI call."""
    run = subprocess.run(
        [sys.executable, "-c", "import app, app.serving.worker, app.gunicorn_conf"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stderr == ""


@pytest.mark.slow
def test_two_instances_keep_their_own_control_sockets_and_a_quiet_log(tmp_path):
    one = sqlite_server(tmp_path / "one").start()
    try:
        with sqlite_server(tmp_path / "two") as two:
            sockets = [one.state_dir / f"gunicorn-{one.port}.ctl",
                       two.state_dir / f"gunicorn-{two.port}.ctl"]  # fmt: skip
            assert all(path.is_socket() for path in sockets)
            one.stop()
            assert sockets[1].is_socket()  # the other instance's stays
            assert httpx.get(two.url + "/health").json() == {"status": "healthy"}
    finally:
        one.stop()
    for log in (one.log(), two.log()):
        assert "Shutting down: Master" in log
        for noise in ("Errno 9", "Traceback", "Warning:", "Invalid HTTP request"):
            assert noise not in log


# -- readiness -------------------------------------------------------------------------------


def test_ready_while_the_database_answers_and_503_when_it_does_not(app):
    with TestClient(app) as client:
        response = client.get("/ready")
        assert (response.status_code, response.json()) == (200, {"status": "ready"})
        answering = db.obj
        db.initialize(make_database("postgresql://postgres@127.0.0.1:1/nothing", 1))
        try:
            response = client.get("/ready")
        finally:
            db.obj.close_all()
            db.initialize(answering)
        assert client.get("/ready").status_code == 200
    assert response.status_code == 503
    assert response.json() == {
        "code": "SERVICE_UNAVAILABLE", "message": "The database does not answer",
        "retryable": True, "internal": False, "httpStatusCode": 503,
    }  # fmt: skip


def test_health_needs_nothing_but_the_process(client):
    assert client.get("/health").json() == {"status": "healthy"}


# -- drain on SIGTERM ------------------------------------------------------------------------


def slow_create(
    http: httpx.Client, name: str, pieces: int = 8, pause: float = 0.3
) -> httpx.Response:
    """A create whose body takes pieces * pause seconds to arrive: in flight across a signal."""
    body = json.dumps({"name": name}).encode()
    step = -(-len(body) // pieces)

    def trickle() -> Iterator[bytes]:
        for i in range(0, len(body), step):
            time.sleep(pause)
            yield body[i : i + step]

    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return http.post("/v1/deployment-groups", content=trickle(), headers=headers)


@pytest.mark.slow
def test_sigterm_drains_then_stops_and_no_request_in_flight_is_lost(tmp_path):
    """A load balancer polls /ready and keep-alive clients send through it; SIGTERM arrives
    while slow requests are in flight. Every request completes, nothing is answered with an
    empty reply, and the balancer has taken the server out before its listener closes."""
    drain = 3.0
    server = sqlite_server(tmp_path, ALIEN_DRAIN_SECONDS=str(drain)).start()
    # Clients made here, once: an httpx client per thread costs a loaded machine seconds.
    http = [httpx.Client(base_url=server.url, headers=AUTH, timeout=30) for _ in range(8)]
    in_rotation = threading.Event()  # the load balancer's view of this server
    in_rotation.set()
    warm = threading.Barrier(5)  # the balancer and 3 clients have been served once; and us
    taken_out_at: list[float] = []
    stop = threading.Event()
    outcomes: list[str] = []
    in_flight: list[httpx.Response] = []

    def load_balancer(lb: httpx.Client) -> None:  # a check every 0.2 s, out at the first failure
        assert lb.get("/ready").status_code == 200
        warm.wait(timeout=30)
        while in_rotation.is_set() and not stop.is_set():
            if lb.get("/ready").status_code != 200:
                taken_out_at.append(time.monotonic())
                in_rotation.clear()
            time.sleep(0.2)

    def client(mine: httpx.Client) -> None:  # keep-alive, while the balancer sends traffic
        first = True
        while in_rotation.is_set() and not stop.is_set():
            try:
                outcomes.append(str(mine.get("/v1/whoami").status_code))
            except httpx.HTTPError as exc:
                outcomes.append(f"lost: {exc!r}")
            if first:
                first = False
                warm.wait(timeout=30)

    threads = [threading.Thread(target=load_balancer, args=(http[0],))]
    threads += [threading.Thread(target=client, args=(http[i],)) for i in (1, 2, 3)]
    slow = [
        threading.Thread(target=lambda i=i: in_flight.append(slow_create(http[4 + i], f"s{i}")))
        for i in range(4)
    ]
    try:
        for thread in threads:
            thread.start()
        warm.wait(timeout=30)
        for thread in slow:
            thread.start()
        time.sleep(0.6)  # every slow create has sent its head; its body is still coming
        os.kill(server.pid, signal.SIGTERM)
        signalled = time.monotonic()

        time.sleep(0.5)  # draining: not ready, still serving, not keeping connections
        ready = httpx.get(server.url + "/ready")
        health = httpx.get(server.url + "/health")
        assert ready.status_code == 503 and ready.json()["code"] == "SERVICE_UNAVAILABLE"
        assert ready.json()["retryable"] is True
        assert health.status_code == 200 and health.headers["connection"] == "close"

        assert server.process is not None
        server.process.wait(timeout=drain + 20)
        stopped_at = time.monotonic()
        with pytest.raises(httpx.ConnectError):  # the listener is closed, not resetting
            httpx.get(server.url + "/health")
    finally:
        stop.set()
        warm.abort()
        for thread in [*threads, *slow]:
            thread.join(timeout=10)
        for each in http:
            each.close()
        server.stop()

    assert sorted(r.status_code for r in in_flight) == [200] * 4, [r.text for r in in_flight]
    assert all(r.headers["connection"] == "close" for r in in_flight)  # answered in the drain
    lost = [outcome for outcome in outcomes if outcome.startswith("lost")]
    assert not lost, lost[:5]
    assert outcomes.count("200") >= 3
    assert taken_out_at and signalled < taken_out_at[0] < stopped_at  # out before the close
    assert stopped_at - signalled >= drain - 0.5  # it drained first
    assert server.process.returncode == 0
    assert "Errno 9" not in server.log() and "Traceback" not in server.log()


# -- workers never outlive their master ------------------------------------------------------


def workers_of(master: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == master:
            children.append(int(stat.parent.name))
    return children


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes does not count)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_workers_exit_soon_after_their_master_is_killed_and_the_port_is_free_again(tmp_path):
    server = sqlite_server(tmp_path / "first").start()
    workers = workers_of(server.pid)
    assert len(workers) == 2
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10  # they check every second; margin for a loaded machine
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "a worker outlived its master"
    assert "master" in server.log() and "is gone" in server.log()

    again = sqlite_server(tmp_path / "second", port=server.port)
    with again:
        assert httpx.get(again.url + "/health").json() == {"status": "healthy"}
