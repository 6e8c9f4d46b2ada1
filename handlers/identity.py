from __future__ import annotations

from typing import Any

from models.tokens import ADMIN, GROUP, Caller


def whoami(caller: Caller) -> dict[str, Any]:
    if caller.kind == ADMIN:
        return {"kind": "serviceAccount", "id": caller.token_id, "scope": {"type": ADMIN}}
    if caller.kind == GROUP:
        scope = {"type": GROUP, "deploymentGroupId": caller.group_id}
        return {"kind": "serviceAccount", "id": caller.group_id, "scope": scope}
    scope = {"type": caller.kind, "deploymentId": caller.deployment_id}
    return {"kind": "serviceAccount", "id": caller.deployment_id, "scope": scope}
