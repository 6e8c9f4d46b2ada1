"""`make contract`: the deep schemathesis pass, with the CLI, over HTTP, against a real server.

    python -m tests.contract.run [--examples 250] [--max-time 600] [--token-examples 80]
                                 [--steps 10] [--seed N] [--keep]

1. Starts the server as `make run` does (gunicorn, 2 uvicorn workers) on a fresh SQLite state
   directory, with an admin token from ALIEN_ADMIN_TOKEN and every cloud's credentials
   (tests/contract: fake values).
2. Before each pass makes a deployment group, a token for it and a deployment with its own
   token, through the API.
3. Runs `schemathesis run openapi.json` (the verbatim file) as the admin, with every phase,
   repeating fuzzing and stateful runs until the time budget is spent; then as the group token and as the deployment token (no coverage phase: request shapes do
   not depend on the caller). The config is the repository's schemathesis.toml, the single
   list of allowed deviations, with only the stateful depth added; the custom checks of
   tests/contract/hooks.py are loaded with SCHEMATHESIS_HOOKS.
4. Stops the server, and fails if any pass failed or the server logged an error.

Exits 0 only when every pass has 0 failures. Reports (JUnit, NDJSON) and the server log stay
in the work directory, which is kept when something failed (or with --keep).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.server import ROOT, LiveServer
from tests.contract import cloud_env
from tests.contract.hooks import DEPLOYMENT_CALLER_ENV

CONFIG = ROOT / "schemathesis.toml"
SPEC = ROOT / "openapi.json"
ALL_PHASES = "examples,coverage,fuzzing,stateful"
TOKEN_PHASES = "examples,fuzzing,stateful"
NAME = "contract"
SERVER_ERROR = re.compile(r" (ERROR|CRITICAL) |Traceback")


@dataclass
class Pass:
    caller: str
    token: str
    examples: int
    phases: str
    max_time: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cases: int = 0
    scenarios: int = 0
    seconds: float = 0.0
    returncode: int = -1
    summary: str = ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=250, help="per operation, as admin")
    parser.add_argument("--max-time", type=int, default=600, help="seconds, the admin pass")
    parser.add_argument("--token-examples", type=int, default=80, help="per operation, as tokens")
    parser.add_argument("--steps", type=int, default=10, help="calls per stateful scenario")
    parser.add_argument("--seed", type=int, help="reproduce an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="alien-contract-"))
    config = work / "schemathesis.toml"
    config.write_text(
        CONFIG.read_text() + f"\n# Added by tests/contract/run.py for the deep run.\n"
        f"[phases.stateful]\nmax-steps = {args.steps}\n"
    )
    admin = "ax_admin_" + secrets.token_hex(20)
    server = LiveServer(
        f"sqlite:///{work / 'alien.db'}",
        work / "state",
        workers=2,
        env={"ALIEN_ADMIN_TOKEN": admin, **cloud_env(work)},
    )
    print(f"contract: work directory {work}", flush=True)
    started = time.monotonic()
    server.start()
    try:
        passes = [
            Pass("admin", admin, args.examples, ALL_PHASES, args.max_time),
            Pass("deployment-group", "", args.token_examples, TOKEN_PHASES),
            Pass("deployment", "", args.token_examples, TOKEN_PHASES),
        ]
        for run in passes:
            # Each token pass gets a fresh group and deployment: an earlier pass may have
            # deleted the deployment (and so revoked its token) through the API.
            group, deployment = seed(server.url, admin)
            if run.caller == "deployment-group":
                run.token = group
            elif run.caller == "deployment":
                # Authenticated by tests/contract/hooks.py, which renews a revoked token.
                values = (server.url, group, deployment, NAME)
                run.env = dict(zip(DEPLOYMENT_CALLER_ENV, values, strict=True))
            schemathesis(run, server.url, config, work, args.seed)
    finally:
        server.stop()
    errors = [line for line in server.log().splitlines() if SERVER_ERROR.search(line)]

    print("\ncontract: summary")
    for run in passes:
        verdict = "ok" if run.returncode == 0 else f"FAILED (exit {run.returncode})"
        print(
            f"  {run.caller:<17} {run.cases:>6} cases {run.scenarios:>5} stateful scenarios"
            f" {run.seconds:>5.0f}s  {verdict}"
        )
        print(f"  {'':<17} {run.summary}")
    print(f"  server log: {len(errors)} error lines")
    for line in errors[:20]:
        print(f"    {line}")
    print(f"  total {time.monotonic() - started:.0f}s")
    failed = errors or any(run.returncode != 0 for run in passes)
    if failed or args.keep:
        print(f"contract: reports and server log kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def seed(url: str, admin: str) -> tuple[str, str]:
    """A group, its token, and a deployment with its own token, made through the API."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as client:
        group = client.post("/v1/deployment-groups", json={"name": NAME})
        group.raise_for_status()
        token = client.post(f"/v1/deployment-groups/{group.json()['id']}/tokens")
        token.raise_for_status()
        group_token = token.json()["token"]
        deployment = client.post(
            "/v1/deployments",
            json={"name": NAME, "platform": "aws"},
            headers={"Authorization": f"Bearer {group_token}"},
        )
        deployment.raise_for_status()
        return group_token, deployment.json()["token"]


def schemathesis(run: Pass, url: str, config: Path, work: Path, seed: int | None) -> None:
    reports = work / f"report-{run.caller}"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file", str(config),
        "run", str(SPEC),
        "--url", url,
        *(["--header", f"Authorization: Bearer {run.token}"] if run.token else []),
        "--phases", run.phases,
        "--max-examples", str(run.examples),
        *(["--max-time", str(run.max_time)] if run.max_time else []),
        "--report", "junit,ndjson",
        "--report-dir", str(reports),
        *(["--seed", str(seed)] if seed is not None else []),
    ]  # fmt: skip
    env = {
        **os.environ,
        **run.env,
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    print(f"\ncontract: {run.caller}: {run.examples} examples per operation ({run.phases})")
    started = time.monotonic()
    # cwd: schemathesis keeps its cache (.schemathesis/) there, out of the repository.
    with subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            print(line, end="", flush=True)
            output.append(line)
    run.returncode = process.returncode
    run.seconds = time.monotonic() - started
    text = "".join(output)
    found = re.search(r"Test cases:\s*\n\s*(\d+) generated[^\n]*", text)
    run.cases = int(found.group(1)) if found else 0
    run.summary = found.group(0).split("\n")[-1].strip() if found else "no summary"
    run.scenarios = sum(int(n) for n in re.findall(r"Scenarios:\s+(\d+)", text))


if __name__ == "__main__":
    sys.exit(main())
