"""`simulate`: the click command (wired into `alien-server`, and `python -m simulator`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from simulator import api, logs
from simulator.engine import Engine, Operator
from simulator.steps import FAILED, FailureRules

TOKEN_WAIT_SECONDS = 60.0  # how long --token-file waits for the server to write the file


def _read_token(source: str, unlike: str | None = None, stop: threading.Event | None = None) -> str:
    """`-` reads one line from stdin; a path is read once the server has written a token there
    (other than `unlike`, the one just refused), waiting up to TOKEN_WAIT_SECONDS."""
    if source == "-":
        return sys.stdin.readline().strip()
    path = Path(source)
    deadline = time.monotonic() + TOKEN_WAIT_SECONDS
    while True:
        token = path.read_text().strip() if path.exists() else ""
        if token.startswith("ax_") and token != unlike or time.monotonic() > deadline:
            return token
        if stop is not None and stop.wait(0.2):
            return token
        if stop is None:
            time.sleep(0.2)


def _fail_rule(ctx: Any, param: Any, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    try:
        return tuple(FailureRules.parse(value) for value in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("simulate")
@click.option(
    "--url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Base URL of the Alien Server API.",
)
@click.option(
    "--token",
    help="Admin or deployment-group token (push mode), or a deployment "
    "token (--operator). Prefer --token-file: a command line is visible to others.",
)
@click.option(
    "--token-file",
    metavar="PATH",
    help="Read the token from PATH ('-': stdin), waiting up to 60 s for the server to write it.",
)
@click.option(
    "--tick",
    "tick_ms",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    metavar="MS",
    help="Milliseconds between steps.",
)
@click.option(
    "--operator",
    is_flag=True,
    help="Pull mode: play the operator of the "
    "deployment the (deployment) token belongs to, then exit once it is deleted.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=1000),
    default=25,
    show_default=True,
    help="Deployments leased per tick (push mode).",
)
@click.option(
    "--fail",
    "fail_rules",
    multiple=True,
    callback=_fail_rule,
    metavar="NAME_GLOB:STEP",
    help="Fail the first attempt of STEP ("
    + ", ".join(FAILED)
    + ") for deployments whose name matches. Repeatable. A name "
    "containing 'fail-at:STEP' does the same.",
)
@click.option(
    "--failure-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    help="Also fail any step's first attempt with this probability (soak tests).",
)
@click.option("--seed", type=int, help="Seed for --failure-rate, for repeatable runs.")
@click.option("--session", help="Lease session name (default: sim-<host>-<pid>-<random>).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    envvar="ALIEN_LOG_FORMAT",
    default="text",
    show_default=True,
    help="Log lines as the server writes them (ALIEN_LOG_FORMAT): text, or one JSON object each.",
)
@click.option(
    "--exit-with-parent",
    is_flag=True,
    hidden=True,
    help="Stop when the process that started this one exits (the server's hook).",
)
def simulate(
    url: str,
    token: str | None,
    token_file: str | None,
    tick_ms: int,
    operator: bool,
    batch: int,
    fail_rules: tuple[tuple[str, str], ...],
    failure_rate: float,
    seed: int | None,
    session: str | None,
    log_format: str,
    exit_with_parent: bool,
) -> None:
    """Run a simulated deployment engine against an Alien Server.

    Push mode (default) walks every push-mode deployment with a release through
    pending → initial-setup → provisioning → running, update-pending → updating → running and
    delete-pending → deleting → deleted, one step per tick, using acquire / reconcile / release
    with its own session. Logs one line per transition; on a terminal, a live summary too.
    """
    if token_file is not None:
        token = _read_token(token_file)
    if not token:
        raise click.UsageError("give a token: --token or --token-file")
    logs.configure(log_format)
    options: dict[str, Any] = {
        "tick": tick_ms / 1000,
        "failures": FailureRules(fail_rules, failure_rate, seed),
        "summary": sys.stdout,
        "parent_pid": os.getppid() if exit_with_parent else None,
    }
    if session:
        options["session"] = session
    stop = threading.Event()
    previous = {  # finish the step, release, exit 0
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        code = _run(url, token, token_file, operator, batch, stop, **options)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if sys.stdout.isatty():
        sys.stdout.write("\n")
    sys.exit(code)


def _run(
    url: str,
    token: str,
    token_file: str | None,
    operator: bool,
    batch: int,
    stop: threading.Event,
    **options: Any,
) -> int:
    while True:
        with api.client(url, token) as http:
            if operator:
                loop: Engine | Operator = Operator(api.Api(http), stop=stop, **options)
            else:
                loop = Engine(api.Api(http), batch=batch, stop=stop, **options)
            code = loop.run()
        # a refused token read from a file: carry on if the file now holds another one
        # (`alien-server admin-token --rotate` writes the new admin token there)
        if code != 2 or token_file in (None, "-") or stop.is_set():
            break
        fresh = _read_token(str(token_file), unlike=token, stop=stop)
        if fresh == token:
            break
        logging.getLogger("alien.simulate").info("the token file changed; carrying on with it")
        token = fresh
    return code
