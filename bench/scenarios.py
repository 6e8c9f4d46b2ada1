"""What a run sends: the scenarios, the baseline's two requests, the seed data, the preflight."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.load import Target

SEED_DEPLOYMENTS = 60  # more than one page of 50
GROUP_BODY = '{"name":"bench-group-{n}","maxDeployments":100}'
BASELINE_TARGETS = {
    "GET": Target("GET", "/health"),
    "POST": Target("POST", "/echo", body=GROUP_BODY),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    target: Target

    @property
    def kind(self) -> str:  # which baseline it is compared with
        return "GET" if self.target.method == "GET" else "POST"


def app_scenarios(admin: dict[str, str], group_id: str) -> list[Scenario]:
    def post(path: str, body: str) -> Target:
        return Target("POST", path, admin, body)

    deployment = f'{{"name":"bench-dep-{{n}}","platform":"aws","deploymentGroupId":"{group_id}"}}'
    return [
        Scenario("GET /health", Target("GET", "/health")),
        Scenario("GET /v1/whoami", Target("GET", "/v1/whoami", admin)),
        Scenario("POST /v1/deployment-groups", post("/v1/deployment-groups", GROUP_BODY)),
        Scenario("POST /v1/deployments", post("/v1/deployments", deployment)),
        Scenario("GET /v1/deployments?limit=50", Target("GET", "/v1/deployments?limit=50", admin)),
        Scenario(
            "POST /v1/sync/acquire", post("/v1/sync/acquire", '{"session":"bench-{m}","limit":3}')
        ),
    ]


def seed(url: str, admin: dict[str, str]) -> str:
    """A group with room for every deployment the run creates, and a page's worth in it."""
    with httpx.Client(base_url=url, headers=admin, timeout=30, trust_env=False) as client:
        r = client.post(
            "/v1/deployment-groups", json={"name": "bench", "maxDeployments": 1_000_000_000}
        )
        r.raise_for_status()
        group_id: str = r.json()["id"]
        for i in range(SEED_DEPLOYMENTS):
            body = {"name": f"seed-{i}", "platform": "aws", "deploymentGroupId": group_id}
            client.post("/v1/deployments", json=body).raise_for_status()
    return group_id


def preflight(url: str, t: Target, concurrency: int) -> tuple[str, str]:
    """One request before the load: ("ok", "") or ("error", answer)."""
    body = t.render_body(0, concurrency)
    headers = t.headers | ({"Content-Type": "application/json"} if body is not None else {})
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        r = client.request(t.method, t.path, headers=headers, content=body)
    if r.is_success:
        return "ok", ""
    return "error", f"{r.status_code} {r.text[:300]}"
