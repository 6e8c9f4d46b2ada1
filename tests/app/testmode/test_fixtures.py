"""Fixture files (docs/behaviour.md §13.1): the documented example loads, every object is checked
against the spec, a bad file names the file, the place in it and the reason."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from app.cli.fixture_commands import fixtures_command
from app.factory import create_app
from app.settings import Settings
from app.testmode.fixture_file import FixtureError, parse, read
from models.db import db
from models.tokens import Token
from tests.helpers import ContractClient, bearer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text())
DG_TOKEN = bearer("ax_dg_" + "0" * 39 + "2")
DEPLOY_TOKEN = bearer("ax_deploy_" + "0" * 39 + "3")
FIXTURE_ADMIN = bearer("ax_admin_" + "0" * 39 + "1")


@pytest.fixture
def test_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, test_mode=True, fixtures=EXAMPLE)


def test_the_documented_example_loads_and_the_api_serves_it(test_settings, admin):
    with ContractClient(create_app(test_settings)) as client:
        items = client.get("/v1/deployments", headers=DG_TOKEN).json()["items"]
        by_id = {d["id"]: d for d in items}
        assert list(by_id) == [  # newest first: the file's order, last one newest
            "dep_fixture_failed", "dep_fixture_leased", "dep_fixture_pending",
            "dep_fixture_running",
        ]  # fmt: skip
        assert by_id["dep_fixture_running"]["stackState"]["resources"]["fn"]["status"] == "running"
        assert by_id["dep_fixture_failed"]["error"]["code"] == "QUOTA_EXCEEDED"
        group = client.get("/v1/deployment-groups/dg_fixture_main", headers=admin).json()
        assert (group["deploymentCount"], group["maxDeployments"]) == (4, 10)
        me = client.get("/v1/whoami", headers=DEPLOY_TOKEN).json()
        assert me["scope"] == {"type": "deployment", "deploymentId": "dep_fixture_running"}
        assert client.get("/v1/whoami", headers=FIXTURE_ADMIN).status_code == 200
        release = client.get("/v1/releases/rel_fixture_v1", headers=admin).json()
        assert release["stack"]["aws"] == {"id": "app", "resources": {}}


def test_the_lease_of_a_fixture_is_held_by_its_session(test_settings, admin):
    with ContractClient(create_app(test_settings)) as client:
        taken = client.post("/v1/sync/acquire", headers=admin,
                            json={"session": "other", "deploymentIds": ["dep_fixture_leased"]})  # fmt: skip
        assert taken.status_code == 200 and taken.json()["deployments"] == []
        mine = client.post("/v1/sync/acquire", headers=admin,
                           json={"session": "fixture-worker",
                                 "deploymentIds": ["dep_fixture_leased"]})  # fmt: skip
        assert [d["deployment"]["id"] for d in mine.json()["deployments"]] == ["dep_fixture_leased"]


def test_tokens_are_stored_as_sha256_only(test_settings):
    create_app(test_settings)
    raw = "ax_dg_" + "0" * 39 + "2"
    with db.connection_context():
        stored = Token.get(Token.token_hash == hashlib.sha256(raw.encode()).hexdigest())
        assert stored.prefix == raw[:12]
        assert not any(raw in str(v) for v in stored.__data__.values())


def test_loading_twice_changes_nothing_and_keeps_what_clients_changed(test_settings, admin):
    with ContractClient(create_app(test_settings)) as client:
        client.delete("/v1/deployments/dep_fixture_pending?force=true", headers=admin)
        client.post("/v1/deployment-groups", json={"name": "mine"}, headers=admin)
        before = client.get("/v1/deployments", headers=admin).json()["items"]
    with ContractClient(create_app(test_settings)) as client:  # a restart loads the file again
        after = client.get("/v1/deployments", headers=admin).json()["items"]
        groups = client.get("/v1/deployment-groups", headers=admin).json()["items"]
        counted = client.get("/v1/deployment-groups/dg_fixture_main", headers=admin).json()
    restored = {d["id"] for d in after} - {d["id"] for d in before}
    assert restored == {"dep_fixture_pending"}  # only what was missing comes back
    assert "mine" in {g["name"] for g in groups}
    assert counted["deploymentCount"] == 4


def test_json_fixture_files_load_too(tmp_path, test_settings, admin):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(EXAMPLE_DATA, default=str))
    with ContractClient(create_app(dataclasses.replace(test_settings, fixtures=path))) as client:
        assert client.get("/v1/deployments/dep_fixture_running", headers=admin).status_code == 200


def changed(path: str, value: Any) -> dict[str, Any]:
    """The example with one value replaced (`deployments.1.status`); `...` removes it."""
    data = json.loads(json.dumps(EXAMPLE_DATA, default=str))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return dict(data)


BAD = [
    (changed("deployments.1.status", "runing"), "deployments[1].status", "is not one of"),
    (changed("deployments.0.platform", "mars"), "deployments[0].platform", "is not one of"),
    (changed("deployments.0.stackState.resourcePrefix", ...), "deployments[0].stackState",
     "'resourcePrefix' is a required property"),
    (changed("deployments.0.environmentInfo", {"platform": "aws"}),
     "deployments[0].environmentInfo", "spec: EnvironmentInfo"),
    (changed("deployments.0.deploymentGroupId", "dg_nope"), "deployments[0].deploymentGroupId",
     "no deployment group 'dg_nope'"),
    (changed("deployments.0.currentReleaseId", "rel_nope"), "deployments[0].currentReleaseId",
     "no release 'rel_nope'"),
    (changed("deployments.2.lease", {"session": ""}), "deployments[2].lease.session", "non-empty"),
    (changed("deployments.0.colour", "red"), "deployments[0].colour", "unknown field"),
    (changed("deployments.1.id", "dep_fixture_running"), "deployments[1].id", "duplicate id"),
    (changed("deploymentGroups.0.maxDeployments", 2), "deploymentGroups[0].maxDeployments",
     "puts 4 deployments"),
    (changed("deploymentGroups.0.name", 7), "deploymentGroups[0].name", "is not of type 'string'"),
    (changed("releases.0.stack.aws.resources", []), "releases[0].stack.aws.resources",
     "spec: Stack"),
    (changed("releases.0.stack", {}), "releases[0].stack", "no platform stack"),
    (changed("tokens.1.token", "ax_dg_short"), "tokens[1].token", "40 lower-case hex"),
    (changed("tokens.1.deploymentGroupId", ...), "tokens[1]", "takes exactly"),
    (changed("tokens.2.deploymentId", "dep_nope"), "tokens[2].deploymentId", "no deployment"),
    ({"deployment": []}, "deployment", "unknown section"),
    ({"deployments": {}}, "deployments", "must be a list"),
    ([1], "(top level)", "must be a mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "where", "reason"), BAD)
def test_a_bad_fixture_names_the_file_the_place_and_the_reason(data, where, reason):
    with pytest.raises(FixtureError) as raised:
        parse(data, "f.yaml")
    message = str(raised.value)
    assert message.startswith(f"f.yaml: {where}: "), message
    assert reason in message and "\n" not in message


def test_unreadable_and_malformed_files_are_fixture_errors(tmp_path):
    with pytest.raises(FixtureError, match="cannot read the file"):
        read(tmp_path / "missing.yaml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FixtureError, match=r"bad\.json: \(top level\): not valid json"):
        read(tmp_path / "bad.json")


def test_a_bad_fixture_stops_the_start_with_one_line(tmp_path, test_settings, caplog):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(changed("deployments.1.status", "runing")))
    with pytest.raises(SystemExit) as raised:
        create_app(dataclasses.replace(test_settings, fixtures=path))
    assert raised.value.code == 3  # gunicorn's "worker failed to boot": the server stops
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        f"{path}: deployments[1].status: 'runing' is not one of "
        + errors[0].getMessage().split("is not one of ", 1)[1]
    ]
    assert errors[0].exc_info is None


def test_the_cli_loads_into_a_database_and_resets_it(test_settings, monkeypatch, admin):
    env = {"DATABASE_URL": test_settings.database_url,
           "ALIEN_STATE_DIR": str(test_settings.state_dir),
           "ALIEN_ADMIN_TOKEN": test_settings.admin_token}  # fmt: skip
    runner = CliRunner()
    refused = runner.invoke(fixtures_command, ["load", str(EXAMPLE)], env=env)
    assert refused.exit_code == 1 and "ALIEN_TEST_MODE=1" in refused.output
    env["ALIEN_TEST_MODE"] = "1"
    loaded = runner.invoke(fixtures_command, ["load", str(EXAMPLE)], env=env)
    assert loaded.exit_code == 0, loaded.output
    with ContractClient(create_app(test_settings.__class__(
        state_dir=test_settings.state_dir, database_url=test_settings.database_url,
        admin_token=test_settings.admin_token, test_mode=True))) as client:  # fmt: skip
        assert client.get("/v1/whoami", headers=DG_TOKEN).status_code == 200  # test mode only
        client.post("/v1/deployment-groups", json={"name": "extra"}, headers=admin)
    reset = runner.invoke(fixtures_command, ["reset", str(EXAMPLE)], env=env)
    assert reset.exit_code == 0, reset.output
    with ContractClient(create_app(dataclasses.replace(test_settings, fixtures=None))) as client:
        names = {
            g["name"] for g in client.get("/v1/deployment-groups", headers=admin).json()["items"]
        }
        assert names == {"main", "empty"}
        assert client.get("/v1/whoami", headers=admin).status_code == 200  # admins survive


def test_the_cli_reports_a_bad_file_in_one_line(tmp_path, test_settings):
    path = tmp_path / "bad.yaml"
    path.write_text("tokens: [{token: nope}]")
    env = {"DATABASE_URL": test_settings.database_url, "ALIEN_TEST_MODE": "1",
           "ALIEN_STATE_DIR": str(test_settings.state_dir)}  # fmt: skip
    result = CliRunner().invoke(fixtures_command, ["load", str(path)], env=env)
    assert result.exit_code == 1
    assert (
        result.output.strip() == f"Error: {path}: tokens[0].token: must be ax_admin_, ax_dg_ "
        "or ax_deploy_ followed by 40 lower-case hex characters (docs/behaviour.md §1)"
    )
