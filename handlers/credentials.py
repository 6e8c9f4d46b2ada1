"""resolve_credentials (BEHAVIOUR.md §5.4)."""

from __future__ import annotations

from typing import Any

from handlers.sync import NotImplementedYet
from models.tokens import Caller


def resolve_credentials(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedYet("resolve_credentials is not implemented yet")
