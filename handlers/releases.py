from __future__ import annotations

from typing import Any

from handlers import render
from models import lifecycle
from models.contract import Contract
from models.releases import Release
from models.tokens import Caller


def create_release(
    caller: Caller, contract: Contract, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    caller.require_admin()
    stack, git = Release.accepted(body.get("stack"), body.get("gitMetadata"), contract)
    return render.release(lifecycle.create_release(stack, git)), 201


def get_release(caller: Caller, id_: str) -> dict[str, Any]:
    return render.release(Release.existing(id_))


def get_latest_release(caller: Caller) -> dict[str, Any]:
    return render.release(Release.latest())
