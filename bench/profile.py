"""Where a worker's time goes, per scenario: `python -m bench.profile OUT [--db postgres]`.

Starts the server with one worker (SQLite, or a fresh database on the PostgreSQL test server),
seeds it as `make bench` does, and for each scenario runs wrk (8 connections, 10 s) while
py-spy samples the worker (`--gil`, 250 Hz), then prints bench/layers.py's table with the
interpreter time per request of each layer. The raw profiles stay in OUT for
`python -m bench.layers` or a flame graph. `--cpu` measures the worker's CPU time per request
instead, without py-spy. py-spy is not a dependency of the project: `pip install py-spy`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import layers
from bench.load import wrk_path
from bench.scenarios import app_scenarios, seed
from bench.servers import postgres_database, serving
from bench.wrk import run_wrk

SECONDS = 10
CONNECTIONS = 8
HZ = 250


def worker_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="folder for the raw profiles")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--cpu", action="store_true", help="CPU time per request, without py-spy")
    p.add_argument("--only", nargs="*", default=[], help="scenarios whose name has any of these")
    args = p.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not wrk_path() or not (args.cpu or Path(spy).exists()):
        p.error("needs wrk, and py-spy unless --cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    token = "ax_admin_" + secrets.token_hex(20)
    admin = {"Authorization": f"Bearer {token}"}
    with tempfile.TemporaryDirectory(prefix="alien-profile-") as tmp, ExitStack() as stack:
        url = f"sqlite:///{tmp}/alien.db"
        if args.db == "postgres":
            url = stack.enter_context(postgres_database())
        env = {"ALIEN_ADMIN_TOKEN": token}
        live = stack.enter_context(serving("app.asgi:app", url, Path(tmp), 1, env))
        deployment_id = seed(live.url, admin, 200)
        children = subprocess.run(
            ["pgrep", "-P", str(live.pid)], capture_output=True, text=True, check=True
        )
        pid = int(children.stdout.split()[0])
        for scenario in app_scenarios(admin, deployment_id):
            if args.only and not any(o in scenario.name for o in args.only):
                continue
            run_wrk(live.url, scenario.target, CONNECTIONS, 0, 2)  # warm
            name = "".join(c if c.isalnum() else "_" for c in scenario.name)[:40]
            if args.cpu:
                before = worker_cpu(pid)
                r = run_wrk(live.url, scenario.target, CONNECTIONS, 0, SECONDS)
                used = worker_cpu(pid) - before
                print(f"{args.db} {scenario.name}: {r.requests / r.seconds:.0f} req/s, "
                      f"{1e6 * used / r.answered:.0f} us CPU per request")  # fmt: skip
                continue
            raw = args.out / f"{args.db}-{name}.raw"
            record = [spy, "record", "--gil", "-r", str(HZ), "-d", str(SECONDS), "-f", "raw",
                      "-o", str(raw), "-p", str(pid)]  # fmt: skip
            sampler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)  # py-spy attached
            r = run_wrk(live.url, scenario.target, CONNECTIONS, 0, SECONDS)
            sampler.wait()
            print(f"{args.db} {scenario.name}: {r.requests / r.seconds:.0f} req/s under py-spy")
            layers.main([str(raw), "--requests", str(r.requests), "--hz", str(HZ)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
