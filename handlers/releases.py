from __future__ import annotations

from typing import Any

from app.validation import Contract
from handlers.render import iso, present
from models import lifecycle
from models.errors import BadRequest
from models.releases import Release
from models.tokens import Caller


def _render(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "stack": release.stack,
        "createdAt": iso(release.created_at),
    } | present(gitMetadata=release.git_metadata or None)


def create_release(
    caller: Caller, contract: Contract, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    caller.require_admin()
    sent = body.get("stack") or {}
    stack = {p: sent[p] for p in contract.stack_platforms if sent.get(p) is not None}
    if not stack:
        raise BadRequest("No platform stack provided")
    for platform, platform_stack in stack.items():
        problem = contract.stack_problem(platform_stack)
        if problem is not None:
            raise BadRequest(f"Invalid stack format: {problem}", {"platform": platform})
        contract.read("Stack", platform_stack)  # echoed by reconcile: no "absent" nulls
    sent_git = body.get("gitMetadata") or {}
    git = {k: sent_git[k] for k in contract.git_fields if sent_git.get(k) is not None}
    return _render(lifecycle.create_release(stack, git or None)), 201


def get_release(caller: Caller, id_: str) -> dict[str, Any]:
    return _render(Release.get_or_404(id_))


def get_latest_release(caller: Caller) -> dict[str, Any]:
    return _render(Release.latest())
