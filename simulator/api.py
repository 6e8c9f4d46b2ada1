"""The HTTP calls the simulator makes, and nothing else: a thin layer over an `httpx.Client`
whose base URL and bearer token are already set (tests pass one with event hooks to watch it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx


class ApiError(Exception):
    """A non-2xx answer: the status and the AlienError code, when the body is one."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def client(url: str, token: str, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {token}", "User-Agent": "alien-simulator"},
        timeout=timeout,
    )


class Api:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self._stacks: dict[tuple[str, str], dict[str, Any] | None] = {}  # releases never change

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        if response.is_success:
            return response.json() if response.content else None
        try:
            error = response.json()
            code, message = str(error.get("code")), str(error.get("message"))
        except (ValueError, AttributeError):
            code, message = "HTTP_ERROR", response.reason_phrase
        raise ApiError(response.status_code, code, message)

    def deployments(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._call("GET", "/v1/deployments")["items"]
        return items

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", f"/v1/deployments/{deployment_id}")
        return found

    def stack(self, release_id: str, platform: str) -> dict[str, Any] | None:
        """The release's stack for `platform` (None when it has none), fetched once."""
        key = (release_id, platform)
        if key not in self._stacks:
            try:
                release = self._call("GET", f"/v1/releases/{release_id}")
            except ApiError as exc:
                if exc.status != 404:
                    raise
                release = {"stack": {}}
            self._stacks[key] = (release.get("stack") or {}).get(platform)
        return self._stacks[key]

    def remember_stack(self, release_id: str, platform: str, stack: dict[str, Any]) -> None:
        self._stacks[(release_id, platform)] = stack

    def acquire(self, session: str, ids: Sequence[str], limit: int) -> list[dict[str, Any]]:
        body = {"session": session, "deploymentIds": list(ids), "limit": limit}
        answer = self._call("POST", "/v1/sync/acquire", body)
        return [item["deployment"] for item in answer["deployments"]]

    def reconcile(self, deployment_id: str, session: str, state: dict[str, Any]) -> Any:
        body = {"deploymentId": deployment_id, "session": session, "state": state}
        return self._call("POST", "/v1/sync/reconcile", body)

    def release(self, deployment_id: str, session: str) -> None:
        self._call("POST", "/v1/sync/release", {"deploymentId": deployment_id, "session": session})

    def initialize(self) -> str:
        return str(self._call("POST", "/v1/initialize", {})["deploymentId"])

    def operator_target(self, deployment_id: str) -> dict[str, Any] | None:
        answer = self._call("POST", "/v1/sync", {"deploymentId": deployment_id})
        target: dict[str, Any] | None = (answer or {}).get("target")
        return target
