"""What test mode's kit costs a client's suite (docs/behaviour.md §13): `python -m bench.testkit`.

Starts a test-mode server (gunicorn, 2 workers, SQLite by default; `--database-url` for
another, `--port` to choose one) on docs/fixtures.example.yaml and prints, median and 95th
percentile of the client's round trip:
- `POST /_test/reset`;
- a stub round trip: `POST /_test/stubs` for one call, then the call it answers;
- on SQLite, a namespace's creation (the first request under a new `/_test/ns/{name}/`), and a
  request in a namespace that exists;
- `GET /_test/requests` after `--exchanges` (10,000) exchanges: the last 100 (`since`), one
  operation's first 100 (`operationId`), and one status's (`status`, a filter on a column
  every row shares, so the whole journal is scanned).
Wall-clock times on a loaded machine: compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from harness.server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"Authorization": "Bearer ax_admin_" + "c" * 40}


def timed(rounds: int, step: Callable[[], object]) -> str:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(len(times) * 0.95) - 1)]
    return f"median {statistics.median(times):7.2f} ms   p95 {p95:7.2f} ms   ({rounds} rounds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--exchanges", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/alien.db"
        env = {"ALIEN_TEST_MODE": "1", "ALIEN_ADMIN_TOKEN": ADMIN["Authorization"][7:],
               "ALIEN_FIXTURES": str(ROOT / "docs" / "fixtures.example.yaml")}  # fmt: skip
        with LiveServer(url, Path(tmp) / "state", workers=2, env=env, port=args.port) as server:
            with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
                run(client, args.rounds, args.exchanges, url.startswith("sqlite"))


def run(client: httpx.Client, rounds: int, exchanges: int, sqlite: bool) -> None:
    print("reset             ", timed(rounds, lambda: check(client.post("/_test/reset"))))

    def stub_round_trip() -> None:
        stub = {"operationId": "whoami", "response": {"status": 503}}
        check(client.post("/_test/stubs", json=stub))
        assert client.get("/v1/whoami").status_code == 503

    print("stub round trip   ", timed(rounds, stub_round_trip))
    names = iter(range(10**6))

    def new_namespace() -> None:
        check(client.get(f"/_test/ns/bench{next(names)}/v1/whoami"))

    if sqlite:  # namespaces need SQLite (docs/behaviour.md §13.10)
        print("namespace creation", timed(rounds, new_namespace))
        print("in a namespace    ", timed(rounds, lambda: client.get("/_test/ns/bench0/v1/whoami")))
    check(client.post("/_test/reset"))
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: client.get("/v1/whoami" if i % 2 else "/v1/deployments"),
                      range(exchanges)))  # fmt: skip
    spent = time.perf_counter() - started
    print(f"{exchanges} exchanges journaled in {spent:.1f} s ({exchanges / spent:.0f}/s)")
    last = check(client.get("/_test/requests", params={"limit": 1000}))["items"]
    newest = client.get("/_test/requests", params={"since": 0, "limit": 1}).json()["items"][0]
    since = newest["sequence"] + exchanges - 100
    queries = {
        "journal: last 100 (since)   ": {"since": since},
        "journal: operationId, 100   ": {"operationId": "whoami"},
        "journal: status=404 (scan)  ": {"status": 404},
    }
    for name, params in queries.items():

        def query(params: dict[str, Any] = params) -> None:
            check(client.get("/_test/requests", params=params))

        print(name, timed(rounds, query))
    assert len(last) == 1000


def check(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


if __name__ == "__main__":
    main()
