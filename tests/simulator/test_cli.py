"""The `simulate` command's options, and the live summary (only on a terminal)."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app.settings import Settings
from harness import pg
from harness.server import ROOT
from simulator.cli import simulate
from simulator.engine import Summary
from tests.simulator.conftest import stack, wait_until

pytestmark = pg.once()  # docs: harness/pg.py


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give a token"),
        (["--token", "t", "--fail", "web*"], "expected NAME_GLOB:STEP"),
        (["--token", "t", "--fail", "web*:melting"], "unknown step 'melting'"),
        (["--token", "t", "--tick", "0"], "--tick"),
        (["--token", "t", "--failure-rate", "1.5"], "--failure-rate"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_refused_token_stops_the_engine_with_code_2(live_server: Any) -> None:
    server = live_server(workers=1)
    result = CliRunner().invoke(simulate, ["--url", server.url, "--token", "ax_admin_" + "f" * 40])
    assert result.exit_code == 2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_summary_counts_statuses_on_a_terminal_only() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    Summary(terminal).show(7, ["running", "pending", "running"])
    Summary(pipe).show(7, ["running"])
    assert terminal.getvalue() == "\r\x1b[Ktick 7 | pending 1 · running 2"
    assert pipe.getvalue() == ""


def test_a_rotated_token_file_is_read_again(
    live_server: Any, arranger_for: Any, settings: Settings, tmp_path: Path
) -> None:
    """The engine the server starts reads the state dir's admin token; when an operator rotates
    it, the old one is refused and the engine carries on with the new one from the file."""
    server = live_server(workers=1)
    api = arranger_for(server.url)
    _, group_token = api.group()
    deployment_id, _ = api.deployment(group_token, "web")
    release = api.release(aws=stack())
    token_file = tmp_path / "admin-token"
    token_file.write_text("ax_admin_" + "f" * 40 + "\n")  # not (or no longer) valid here
    log = tmp_path / "engine.log"
    with log.open("wb") as out:
        engine = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--url", server.url,
             "--token-file", str(token_file), "--tick", "50"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: "refuses this token" in log.read_text(), what="the refusal")
        assert engine.poll() is None, "still waiting for a new token"
        assert settings.admin_token is not None
        token_file.write_text(settings.admin_token + "\n")
        wait_until(lambda: api.all_at([deployment_id], "running", release), what="running")
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(30) == 0
    finally:
        engine.kill()
        engine.wait()
    assert "the token file changed" in log.read_text()


def test_the_simulator_is_only_a_client() -> None:
    """It imports nothing of the server: what it does, any external engine could do."""
    probe = (
        "import sys, simulator.cli, simulator.engine, simulator.engine_process;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'app', 'models', 'handlers'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
