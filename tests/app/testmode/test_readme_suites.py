"""The README's client test suites run as a client author would run them (docs/behaviour.md
§13.9): its pytest suite through the package's pytest plugin (in a pytest of its own, with the
README's fixture file), and its `node:test` suite against a server started as the README says,
when `node` is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "ax_admin_" + "0" * 39 + "1"


def readme_block(language: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Testing your client against this server", 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def suite(tmp_path: Path) -> Path:
    """A client project as the README lays it out: fixtures.yaml, pytest.ini, one test file."""
    (tmp_path / "fixtures.yaml").write_text(readme_block("yaml"))
    (tmp_path / "pytest.ini").write_text("[pytest]\nalien_fixtures = fixtures.yaml\n")
    (tmp_path / "test_client.py").write_text(readme_block("python"))
    return tmp_path


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_plugin_is_registered_under_its_name():
    found = [e for e in entry_points(group="pytest11") if e.name == "alien_server"]
    assert [e.value for e in found] == ["app.pytest_plugin"]


def test_the_readme_pytest_suite_passes_through_the_plugin(tmp_path):
    result = run_pytest(suite(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_readme_pytest_suite_passes_under_two_processes(tmp_path):
    result = run_pytest(suite(tmp_path), "-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_readme_node_suite_passes(live_server, tmp_path):
    fixture = tmp_path / "fixtures.yaml"
    fixture.write_text(readme_block("yaml"))
    server = live_server(workers=2, ALIEN_TEST_MODE="1", ALIEN_FIXTURES=str(fixture),
                         ALIEN_ADMIN_TOKEN=ADMIN_TOKEN)  # fmt: skip
    script = tmp_path / "client.test.mjs"
    script.write_text(readme_block("js"))
    result = subprocess.run(
        ["node", "--test", str(script)], env={"ALIEN_URL": server.url, "PATH": os.environ.get("PATH", "")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 2" in result.stdout
