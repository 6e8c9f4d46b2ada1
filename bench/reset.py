"""How long `POST /_test/reset` takes (docs/behaviour.md §13.2): `python -m bench.reset`.

Starts a test-mode server (gunicorn, 2 workers, SQLite by default; `--database-url` for another)
on a fixture of about 100 objects (docs/fixtures.example.yaml grown to 2 groups, 3 releases,
47 deployments and 49 tokens), resets it `--rounds` times and prints the server's own
transaction time (`durationMs`) and the client's round trip, median and 95th percentile.
`--in-process` instead runs the same reset in this process and adds its CPU time, which a
loaded machine does not inflate the way it inflates wall-clock time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from harness.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "ax_admin_" + "b" * 40


def fixture(path: Path, deployments: int = 47) -> int:
    data = yaml.safe_load((ROOT / "docs" / "fixtures.example.yaml").read_text())
    data["deploymentGroups"][0]["maxDeployments"] = 1000
    data["releases"] += [
        {"id": f"rel_{i}", "stack": {"aws": {"id": "s", "resources": {}}}} for i in range(2)
    ]
    data["deployments"] = [
        {"id": f"dep_{i}", "name": f"d{i}", "deploymentGroupId": "dg_fixture_main",
         "platform": "aws", "status": "running", "currentReleaseId": "rel_fixture_v1",
         **({"lease": {"session": "w", "ageSeconds": 5}} if i % 5 == 0 else {})}
        for i in range(deployments)
    ]  # fmt: skip
    data["tokens"] = data["tokens"][:2] + [
        {"token": f"ax_deploy_{i:040x}", "deploymentId": f"dep_{i}"} for i in range(deployments)
    ]
    path.write_text(yaml.safe_dump(data))
    return sum(len(data[k]) for k in ("deploymentGroups", "releases", "deployments", "tokens"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def in_process(rounds: int, database_url: str) -> None:
    from app.settings import Settings
    from app.storage import prepare_storage
    from app.testmode.fixture_file import read
    from models import clock, fixture_store
    from models.db import db

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        objects = fixture(state / "fixtures.yaml")
        loaded = read(state / "fixtures.yaml")
        settings = Settings(state_dir=state, database_url=database_url, admin_token=ADMIN,
                            test_mode=True)  # fmt: skip
        prepare_storage(settings)
        with db.connection_context():
            fixture_store.prepare()
        clock.share_through_database()
        wall, cpu = [], []
        for _ in range(rounds):
            started, used = time.perf_counter(), time.process_time()
            with db.connection_context():  # as a request does: its own connection
                fixture_store.reset(loaded, ADMIN)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - used) * 1000)
        clock.reset()
    print(f"{objects} fixture objects, {rounds} resets in process on {settings.database_url}")
    report([("wall clock", wall), ("CPU time", cpu)])


def report(series: list[tuple[str, list[float]]]) -> None:
    for name, values in series:
        print(f"  {name}: median {statistics.median(values):.1f} ms, "
              f"p95 {percentile(values, 0.95):.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    if args.in_process:
        in_process(args.rounds, args.database_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        objects = fixture(state / "fixtures.yaml")
        url = args.database_url or f"sqlite:///{state / 'alien.db'}"
        env = {"ALIEN_TEST_MODE": "1", "ALIEN_FIXTURES": str(state / "fixtures.yaml"),
               "ALIEN_ADMIN_TOKEN": ADMIN}  # fmt: skip
        with (
            LiveServer(url, state / "server", workers=2, env=env) as server,
            httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
            ) as client,
        ):
            inside, around = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                response = client.post("/_test/reset")
                around.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                inside.append(response.json()["durationMs"])
    print(f"{objects} fixture objects, {args.rounds} resets on {url.split(':')[0]}")
    report([("transaction (server)", inside), ("round trip (client)", around)])


if __name__ == "__main__":
    main()
