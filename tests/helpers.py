"""Helpers test modules share: imported from here, never from another test module.

Request headers for a token, minimal spec-valid stacks, the spec-checking test client, the sync
calls the protocol tests make, and the "only adds" comparison of the overlay tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests import oas

#: The contract in the repository: the file the package's copy (app/contract/openapi.json) is.
SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


class ContractClient(TestClient):
    """A test client that validates every response against the verbatim spec."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = super().request(*args, **kwargs)
        oas.check(response)
        return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stack(stack_id: str = "app", **resources: Any) -> dict[str, Any]:
    """A minimal spec-valid Stack."""
    return {"id": stack_id, "resources": resources}


def resource(resource_id: str, kind: str = "function") -> dict[str, Any]:
    """A spec-valid ResourceEntry."""
    return {
        "config": {"id": resource_id, "type": kind},
        "lifecycle": "live",
        "dependencies": [],
    }


def assert_error(response, status: int, code: str, message: str | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert body["httpStatusCode"] == status
    assert isinstance(body["retryable"], bool) and isinstance(body["internal"], bool)
    if message is not None:
        assert body["message"] == message
    return body


# -- the sync protocol, through the API ----------------------------------------------------------


def post(client: Any, path: str, headers: dict[str, str], **body: Any) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def acquire(client: Any, headers: dict[str, str], session: str, **filters: Any) -> list[Any]:
    leased = post(client, "/v1/sync/acquire", headers, session=session, **filters)
    return [item["deployment"] for item in leased["deployments"]]


def reconcile(
    client: Any, headers: dict[str, str], deployment_id: str, session: str, **state: Any
) -> Any:
    body = post(
        client,
        "/v1/sync/reconcile",
        headers,
        deploymentId=deployment_id,
        session=session,
        state=state,
    )
    assert body["success"] is True
    return body["current"]


# -- the overlay ---------------------------------------------------------------------------------


def contains(big: Any, small: Any, where: str = "$") -> list[str]:
    """Where `big` fails to contain `small` unchanged (dicts may gain keys; nothing else)."""
    if isinstance(small, dict):
        if not isinstance(big, dict):
            return [where]
        return [p for k, v in small.items() for p in (
            contains(big[k], v, f"{where}.{k}") if k in big else [f"{where}.{k} removed"]
        )]  # fmt: skip
    if isinstance(small, list):
        # Lists may only grow at the end (extension parameters are appended).
        if not isinstance(big, list) or len(big) < len(small):
            return [where]
        return [p for i, v in enumerate(small) for p in contains(big[i], v, f"{where}[{i}]")]
    return [] if big == small else [where]
