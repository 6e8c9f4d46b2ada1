"""maxDeployments holds under real concurrency: many clients, several gunicorn workers."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.helpers import bearer

pytestmark = pytest.mark.slow


def test_forty_simultaneous_creates_into_a_group_of_five(live_server, admin):
    server = live_server(workers=3)
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
        group_id = http.post(
            "/v1/deployment-groups", json={"name": "small", "maxDeployments": 5}
        ).json()["id"]
        token = bearer(http.post(f"/v1/deployment-groups/{group_id}/tokens").json()["token"])

    start = threading.Barrier(40)

    def create(i: int) -> tuple[int, str]:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            start.wait()
            r = http.post(
                "/v1/deployments", json={"name": f"d{i}", "platform": "aws"}, headers=token
            )
            return r.status_code, r.json()["code"] if r.status_code != 201 else "CREATED"

    with ThreadPoolExecutor(max_workers=40) as pool:
        outcomes = Counter(pool.map(create, range(40)))

    assert outcomes == {(201, "CREATED"): 5, (400, "MAX_DEPLOYMENTS_REACHED"): 35}
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
        group = http.get(f"/v1/deployment-groups/{group_id}").json()
        listed = http.get("/v1/deployments", params={"deploymentGroupId": group_id}).json()["items"]
    assert group["deploymentCount"] == 5 == len(listed)
    assert "Traceback" not in server.log()
