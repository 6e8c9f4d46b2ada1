"""The `simulate` command's options, and the live summary (only on a terminal)."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from simulator.cli import command
from simulator.engine import Summary


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
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_refused_token_stops_the_engine_with_code_2(live_server) -> None:  # type: ignore[no-untyped-def]
    server = live_server(workers=1)
    result = CliRunner().invoke(command, ["--url", server.url, "--token", "ax_admin_" + "f" * 40])
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
