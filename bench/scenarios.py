"""What a run sends: the scenarios, the baseline's two requests, the seed data, the preflight."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.load import NOTHING_CAPTURED, Target, captured_id

PAGE = 50
#: The seed: one group, and more deployments than a page (GET /v1/deployments?limit=50 answers
#: a full one) and than the sync cycle holds (deployments_needed). A fresh deployment is
#: `pending`, which acquire hands out (docs/behaviour.md §7.1); the cycle reconciles it as
#: `pending` again and releases it.
SEED_DEPLOYMENTS = PAGE + 10
GROUP_BODY = '{"name":"bench-group-{n}","maxDeployments":100}'
BASELINE_TARGETS = {
    "GET": Target("GET", "/health"),
    "POST": Target("POST", "/echo", body=GROUP_BODY),
}
SYNC_CYCLE = "sync cycle (3 requests)"
SYNC_CYCLE_NOTE = (
    f"'{SYNC_CYCLE}' is acquire -> reconcile -> release; its req/s counts every request "
    "(cycles/s = req/s / 3) and its p50/p99 are per request; wrk runs it with one thread per "
    "connection, each connection one worker session"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    target: Target

    @property
    def kind(self) -> str:  # which baseline it is compared with
        return "GET" if self.target.method == "GET" else "POST"


def app_scenarios(admin: dict[str, str], deployment_id: str) -> list[Scenario]:
    """The requests of a run; the same ones go to the app and to Prism, which accepts any id."""

    def post(path: str, body: str, *then: Target) -> Target:
        return Target("POST", path, admin, body, then)

    session = '"session":"bench-{r}-{m}"'  # one worker session per connection and run
    cycle = post(
        "/v1/sync/acquire",
        f'{{{session},"limit":1}}',
        post(
            "/v1/sync/reconcile",
            f'{{"deploymentId":"{{id}}",{session},"state":{{"status":"pending","platform":"aws"}}}}',
        ),
        post("/v1/sync/release", f'{{"deploymentId":"{{id}}",{session}}}'),
    )
    page = f"/v1/deployments?limit={PAGE}"
    one = f"/v1/deployments/{deployment_id}"
    return [
        Scenario("GET /v1/deployments/{id}", Target("GET", one, admin)),
        Scenario("POST /v1/deployment-groups", post("/v1/deployment-groups", GROUP_BODY)),
        Scenario(f"GET {page}", Target("GET", page, admin)),
        Scenario(SYNC_CYCLE, cycle),
    ]


def deployments_needed(concurrency: int, runs: int) -> int:
    """The seed's size: a page and more, and for the sync cycle a lease per connection plus
    those wrk may leave held each time it stops with a cycle half done (one per connection,
    twice per run: warm-up and measurement); they stay held for the lease TTL (300 s)."""
    return max(SEED_DEPLOYMENTS, concurrency * (2 * runs + 1) + 10)


def seed(url: str, admin: dict[str, str], deployments: int = SEED_DEPLOYMENTS) -> str:
    """One group with `deployments` fresh (`pending`) deployments in it; the first one's id,
    the one GET /v1/deployments/{id} reads."""
    with httpx.Client(base_url=url, headers=admin, timeout=30, trust_env=False) as client:
        r = client.post(
            "/v1/deployment-groups", json={"name": "bench", "maxDeployments": 1_000_000_000}
        )
        r.raise_for_status()
        group_id: str = r.json()["id"]
        ids = []
        for i in range(deployments):
            body = {"name": f"seed-{i}", "platform": "aws", "deploymentGroupId": group_id}
            r = client.post("/v1/deployments", json=body)
            r.raise_for_status()
            ids.append(r.json()["deployment"]["id"])
    return str(ids[0])


def preflight(url: str, t: Target, *, must_capture: bool) -> tuple[str, str]:
    """One request (or one cycle, on the slot 0) before the load: ("ok", "") or ("error", why).

    `must_capture`: a cycle's first answer must hold an id (on the app, an acquire that leased
    nothing is a broken seed, not a result).
    """
    captured = ""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        for i, step in enumerate(t.steps):
            body = step.render_body(0, 0, captured, run="preflight")
            json_type = {"Content-Type": "application/json"} if body is not None else {}
            r = client.request(step.method, step.path, headers=step.headers | json_type,
                               content=body)  # fmt: skip
            if not r.is_success:
                return "error", f"{step.method} {step.path}: {r.status_code} {r.text[:300]}"
            if i == 0 and t.then:
                captured = captured_id(r.text) or ""
                if not captured and must_capture:
                    return "error", f"{step.method} {step.path} held no id: {r.text[:300]}"
                captured = captured or NOTHING_CAPTURED
    return "ok", ""
