"""Every string a client can send that reaches storage holds a NUL here: it comes back exactly,
or it is refused with a 400, the same on SQLite and PostgreSQL (issue 21 item 5). PostgreSQL's
text cannot hold NUL: names and sessions are escaped (models/fields.py ExactText), documents are
JSON text (`\\u0000`), a reported release id is ExactText too; ids the server makes are
refused in fixture files; an id that is only looked up simply matches nothing.

The command line takes its strings from argv, which cannot hold NUL, and from fixture files:
those are in the table too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run
from tests.helpers import acquire, post, reconcile, resource, stack

NUL = "a\x00b"


def names(api: Any) -> None:
    group = post(api.client, "/v1/deployment-groups", api.admin, name=NUL)
    assert api.get(f"/v1/deployment-groups/{group['id']}")["name"] == NUL
    deployment_id, _ = api.deployment(api.group_token(group["id"]), NUL)
    assert api.get(f"/v1/deployments/{deployment_id}")["name"] == NUL


def session(api: Any) -> None:
    api.deployment(api.group_token(api.group()))
    [record] = acquire(api.client, api.admin, NUL)
    assert record["locked_by"] == NUL
    post(api.client, "/v1/sync/release", api.admin, deploymentId=record["id"], session=NUL)


def release_id_in_a_reported_state(api: Any) -> None:
    deployment_id, token = api.deployment(api.group_token(api.group()))
    state = {"status": "running", "platform": "aws",
             "currentRelease": {"releaseId": NUL, "stack": stack("s")}}  # fmt: skip
    body = {"deploymentId": deployment_id, "session": "s", "state": state}
    assert api.client.post("/v1/sync/reconcile", json=body, headers=token).status_code == 200
    assert api.get(f"/v1/deployments/{deployment_id}")["currentReleaseId"] == NUL


def strings_inside_documents(api: Any) -> None:
    deployment_id, token = api.deployment(
        api.group_token(api.group()), "d",
        environmentVariables=[{"name": "V", "value": NUL, "type": "plain"}],
    )  # fmt: skip
    runtime = {"lastSyncedEnvVarsHash": NUL}
    current = reconcile(
        api.client, token, deployment_id, "s",
        status="provisioning", platform="aws", runtimeMetadata=runtime,
    )  # fmt: skip
    assert current["runtimeMetadata"] == runtime
    [record] = acquire(api.client, token, "s")
    assert record["user_environment_variables"][0]["value"] == NUL
    body = {"stack": {"aws": stack(NUL, **{NUL: resource(NUL)})}, "gitMetadata": {"commitSha": NUL}}
    created = api.client.post("/v1/releases", json=body, headers=api.admin)
    assert created.status_code == 201, created.text
    got = api.get(f"/v1/releases/{created.json()['id']}")
    assert got["stack"]["aws"]["id"] == NUL and NUL in got["stack"]["aws"]["resources"]
    assert got["gitMetadata"]["commitSha"] == NUL


def ids_only_looked_up(api: Any) -> None:
    group_id = api.group()
    for path in ("/v1/deployments/a%00b", "/v1/deployment-groups/a%00b", "/v1/releases/a%00b"):
        assert api.client.get(path, headers=api.admin).status_code == 404, path
    listed = api.client.get("/v1/deployments", params={"deploymentGroupId": NUL}, headers=api.admin)
    assert listed.status_code == 200 and listed.json()["items"] == []
    api.deployment(api.group_token(group_id))
    assert acquire(api.client, api.admin, "s", deploymentIds=[NUL]) == []
    post(api.client, "/v1/sync/release", api.admin, deploymentId=NUL, session="s")
    body = {"name": "d", "platform": "aws", "deploymentGroupId": NUL}
    assert api.client.post("/v1/deployments", json=body, headers=api.admin).status_code == 404


def fixture_file(tmp_path: Path, database_url: str) -> None:
    def load(document: dict[str, Any]) -> Any:
        file = tmp_path / "fixtures.json"
        file.write_text(json.dumps(document))
        return run(
            "fixtures", "load", str(file), database_url=database_url,
            state_dir=tmp_path / "cli-state", ALIEN_TEST_MODE="1",
        )  # fmt: skip

    for section in ("deploymentGroups", "releases"):
        item: dict[str, Any] = {"id": NUL}
        item |= {"name": "g"} if section == "deploymentGroups" else {"stack": {"aws": stack("s")}}
        refused = load({section: [item]})
        assert refused.returncode == 1, refused
        assert "Traceback" not in refused.stderr and len(refused.stderr.splitlines()) == 1
        assert "NUL" in refused.stderr, refused.stderr
    loaded = load({"deploymentGroups": [{"id": "dg_nul", "name": NUL}]})
    assert loaded.returncode == 0, loaded.stderr


CASES: dict[str, Callable[..., None]] = {
    "group and deployment names: exact": names,
    "a worker's session: exact": session,
    "state.currentRelease.releaseId (text, ExactText): exact": release_id_in_a_reported_state,
    "strings inside stored documents: exact": strings_inside_documents,
    "ids in paths, queries and bodies, only looked up: not found": ids_only_looked_up,
    "fixture files (the command line): ids refused in one line, names exact": fixture_file,
}


@pytest.mark.parametrize("case", CASES)
def test_a_nul_is_stored_exactly_or_refused(api, tmp_path, database_url, case):
    function = CASES[case]
    if function is fixture_file:
        function(tmp_path, database_url)
    else:
        function(api)
