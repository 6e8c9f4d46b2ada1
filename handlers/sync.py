"""The sync protocol (BEHAVIOUR.md §7): acquire, reconcile, release, operator sync, initialize."""

from __future__ import annotations

from typing import Any

from models.errors import DomainError
from models.tokens import Caller


class NotImplementedYet(DomainError):
    code = "NOT_IMPLEMENTED"


def acquire(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedYet("acquire is not implemented yet")


def reconcile(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedYet("reconcile is not implemented yet")


def release(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedYet("release is not implemented yet")


def operator_sync(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedYet("operator_sync is not implemented yet")


def initialize(caller: Caller, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    raise NotImplementedYet("initialize is not implemented yet")
