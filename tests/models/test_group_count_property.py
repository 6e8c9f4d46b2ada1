"""Property: whatever a client does, a group's deploymentCount is its live deployments and
never exceeds maxDeployments."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from models.db import db
from models.lifecycle import remove_deployment
from tests.helpers import bearer, stack

PLATFORMS = st.sampled_from(["aws", "gcp", "local"])


@pytest.fixture
def machine_client(client, admin):
    return client, admin


def test_deployment_count_matches_live_deployments(machine_client):
    client, admin = machine_client

    class GroupMachine(RuleBasedStateMachine):
        @initialize(max_deployments=st.integers(min_value=0, max_value=4))
        def make_group(self, max_deployments):
            body = {"name": "prop", "maxDeployments": max_deployments}
            self.group_id = client.post("/v1/deployment-groups", json=body, headers=admin).json()[
                "id"
            ]
            token = client.post(
                f"/v1/deployment-groups/{self.group_id}/tokens", headers=admin
            ).json()["token"]
            self.token = bearer(token)
            self.max = max_deployments
            self.live: set[str] = set()

        @rule(platform=PLATFORMS, as_admin=st.booleans())
        def create(self, platform, as_admin):
            body = {"name": "d", "platform": platform, "deploymentGroupId": self.group_id}
            r = client.post("/v1/deployments", json=body, headers=admin if as_admin else self.token)
            if len(self.live) < self.max:
                assert r.status_code == 201, r.text
                self.live.add(r.json()["deployment"]["id"])
            else:
                assert r.status_code == 400 and r.json()["code"] == "MAX_DEPLOYMENTS_REACHED"

        @rule(data=st.data())
        def delete(self, data):
            if self.live:
                target = data.draw(st.sampled_from(sorted(self.live)))
                assert client.delete(f"/v1/deployments/{target}", headers=admin).status_code == 202

        @rule(data=st.data())
        def force_delete(self, data):
            if self.live:
                target = data.draw(st.sampled_from(sorted(self.live)))
                assert (
                    client.delete(f"/v1/deployments/{target}?force=true", headers=admin).status_code
                    == 202
                )
                self.live.discard(target)

        @rule(data=st.data())
        def reconciled_as_deleted(self, data):
            """The removal a reconcile reporting `deleted` performs."""
            if self.live:
                target = data.draw(st.sampled_from(sorted(self.live)))
                with db.connection_context():
                    assert remove_deployment(target)
                self.live.discard(target)

        @rule(platforms=st.sets(PLATFORMS, min_size=1))
        def release(self, platforms):
            body = {"stack": {p: stack() for p in platforms}}
            assert client.post("/v1/releases", json=body, headers=admin).status_code == 201

        @invariant()
        def count_is_live_deployments(self):
            group = client.get(f"/v1/deployment-groups/{self.group_id}", headers=admin).json()
            listed = client.get(
                "/v1/deployments", params={"deploymentGroupId": self.group_id}, headers=admin
            ).json()["items"]
            assert group["deploymentCount"] == len(listed) == len(self.live)
            assert {d["id"] for d in listed} == self.live
            assert group["deploymentCount"] <= max(self.max, 0)

    GroupMachine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )  # fmt: skip
    GroupMachine.TestCase().runTest()
