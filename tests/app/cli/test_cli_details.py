"""The operator's command line in the details an operator trips over: a prefix revoked as it is
listed, one name per token kind, one time format across commands."""

from __future__ import annotations

import re

import pytest

from app.settings import Settings, variables
from tests import cli

#: A time in any command's table: UTC to the minute.
MINUTE = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\dZ\b")


@pytest.fixture
def run(app, settings, database_url):
    def run(*args: str):
        return cli.run(*args, database_url=database_url, state_dir=settings.state_dir)

    return run


@pytest.mark.slow  # each command is a fresh process
def test_a_prefix_is_revoked_exactly_as_tokens_list_prints_it(run, client, world):
    listed = run("tokens", "list", "--kind", "deployment-group", "--group", world.group_id)
    assert listed.returncode == 0, listed.stderr
    (row,) = listed.stdout.splitlines()[1:]
    printed = row.split()[2]
    assert printed == world.group["Authorization"][7:19] + "…"
    revoked = run("tokens", "revoke", printed)
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/v1/whoami", headers=world.group).status_code == 401


@pytest.mark.slow  # each command is a fresh process
def test_a_kind_has_the_one_name_tokens_list_prints(run, world):
    assert run("tokens", "list", "--kind", "group").returncode == 2
    listed = run("tokens", "list", "--kind", "deployment-group", "--json")
    assert listed.returncode == 0 and '"kind": "deployment-group"' in listed.stdout


@pytest.mark.slow  # each command is a fresh process
def test_tokens_and_groups_print_times_alike(run, api, world):
    api.get("/v1/whoami", world.deployment)  # a last use to show
    tokens = run("tokens", "list").stdout
    groups = run("groups", "list").stdout
    for table in (tokens, groups):
        for row in table.splitlines()[1:]:
            assert MINUTE.search(row), row
    # every time in either table is in that format: no seconds, no other layout
    stamps = re.findall(r"\d{4}-\d\d-\d\d\S*", tokens + groups)
    assert stamps and all(MINUTE.fullmatch(stamp) for stamp in stamps), stamps


def test_check_config_shows_the_default_the_readme_documents():
    """A setting whose README default is a value shows that value when unset, not "(unset)"
    (ALIEN_LOCAL_STATE_DIRECTORY showed "(unset)" where the README says /tmp/alien-local)."""
    shown = {var: value for var, value, _ in Settings.from_env({}).effective({})}
    for var in variables():
        documented = var.default_doc
        if documented.startswith("`") and "<" not in documented:
            assert shown[var.env] == documented.strip("`"), var.env
    assert shown["ALIEN_LOCAL_STATE_DIRECTORY"] == "/tmp/alien-local"
