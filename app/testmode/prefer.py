"""Test mode's answers instead of the operation (docs/behaviour.md §13.3, §13.4, §13.7):
`Prefer` controls the way Prism answers them, WireMock-style delays and broken connections,
server-side stubs, and the seeded `ALIEN_TEST_FAULT_RATE` of 503s.

Installed only in test mode, after Connexion's security layer: an unauthenticated request gets
its real 401 whatever it prefers or a stub says, so a forced answer never tells a stranger
anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.contract.spec import operations
from app.testmode import answers
from app.testmode.answers import FAULTS, has_error_code
from app.testmode.stubs import MAX_DELAY_MS, path_matches
from models import testkit
from models.db import request_connection
from models.errors import BadRequest

#: Statuses every operation may be forced to answer beyond those the overlaid spec declares.
ALWAYS = (500, 503)
#: Where each exchange says how it was answered (docs/behaviour.md §13.8): a mutable dict the
#: journal puts in the scope's extensions, which every layer's copy of the scope shares.
ANSWERED = "alien.answered"
#: Operations the fault rate never touches (neither do /ready, /metrics, /_test/*: not
#: operations).
NO_FAULTS = frozenset({"health"})


def mark(scope: Scope, how: str) -> None:
    entry = scope.get("extensions", {}).get(ANSWERED)
    if entry is not None:
        entry["answered"] = how


def possible_statuses(spec: dict[str, Any]) -> dict[str, list[int]]:
    """operationId -> the statuses it may be forced to: its declared ones (overlay included)
    plus 500 and 503."""
    return {
        op["operationId"]: sorted({int(s) for s in op["responses"] if s.isdigit()} | set(ALWAYS))
        for _, _, op in operations(spec)
    }


def preferences(scope: Scope) -> dict[str, str]:
    """RFC 7240 `Prefer` headers, every one, as {name: value} (parameters after `;` ignored)."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key != b"prefer":
            continue
        for item in value.decode("latin-1").split(","):
            name, _, val = item.split(";", 1)[0].partition("=")
            if name.strip():
                found[name.strip().lower()] = val.strip().strip('"')
    return found


def _bounded_int(name: str, value: str, low: int, high: int) -> int:
    digits = value.isascii() and value.isdigit() and len(value) <= 9  # not "²", not 10**5000
    if not digits or not low <= int(value) <= high:
        raise BadRequest(
            f"Prefer: {name}= takes an integer from {low} to {high}", {"preference": name}
        )
    return int(value)


class PreferControls:
    """`Prefer: code=NNN`, `delay=<ms>`, `fault=reset|empty|truncated`, `retry-after=<s>`;
    else the oldest stub that applies; else the fault rate. A request none of them concerns
    passes straight through."""

    def __init__(self, app: ASGIApp, statuses: dict[str, list[int]], fault_rate: float) -> None:
        self.app = app
        self.statuses = statuses
        self.fault_rate = fault_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation_id = (
            scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
            if scope["type"] == "http"
            else None
        )
        if operation_id not in self.statuses:
            await self.app(scope, receive, send)
            return
        prefer = preferences(scope)
        if prefer.keys() & {"code", "fault", "delay"}:
            await self._preferred(operation_id, prefer, scope, receive, send)
            return
        stub = await run_in_threadpool(_take_stub, operation_id, scope["path"])
        if stub is not None:
            mark(scope, "stub")
            await _stubbed(stub, scope, receive, send, self.app)
        elif (
            self.fault_rate
            and operation_id not in NO_FAULTS
            and await run_in_threadpool(_draw) < self.fault_rate
        ):
            mark(scope, "fault")
            await _error(scope, receive, send, 503, "forced by ALIEN_TEST_FAULT_RATE", None)
        else:
            await self.app(scope, receive, send)

    async def _preferred(
        self, operation_id: str, prefer: dict[str, str], scope: Scope, receive: Receive,
        send: Send,
    ) -> None:  # fmt: skip
        code = fault = None
        if "code" in prefer:
            code = _bounded_int("code", prefer["code"], 100, 599)
            if code not in self.statuses[operation_id]:
                raise BadRequest(
                    f"Prefer: code={code} is not a status {operation_id} may answer; "
                    f"possible: {', '.join(map(str, self.statuses[operation_id]))}",
                    {"operation_id": operation_id, "possible": self.statuses[operation_id]},
                )
            if code >= 300 and not has_error_code(code):
                raise BadRequest(f"Prefer: code={code} has no AlienError code to answer with")
        if "fault" in prefer:
            fault = prefer["fault"]
            if fault not in FAULTS:
                raise BadRequest(
                    f"Prefer: fault= takes one of {', '.join(FAULTS)}", {"preference": "fault"}
                )
            if code is not None:
                raise BadRequest("Prefer: code= and fault= cannot be combined")
        retry_after = None
        if "retry-after" in prefer:
            retry_after = str(_bounded_int("retry-after", prefer["retry-after"], 0, 86_400))
        if "delay" in prefer:
            await asyncio.sleep(_bounded_int("delay", prefer["delay"], 0, MAX_DELAY_MS) / 1000)
        mark(scope, "fault" if fault else "prefer")
        if fault is not None:
            await _fault(fault, scope, receive, send, self.app)
        elif code is not None and code >= 300:
            headers = None if retry_after is None else {"Retry-After": retry_after}
            await _error(scope, receive, send, code, f"forced by Prefer: code={code}", headers)
        else:
            await self.app(scope, receive, send)


def _take_stub(operation_id: str, path: str) -> Any:
    with request_connection():
        return testkit.take_stub(operation_id, path, path_matches)


def _draw() -> float:
    with request_connection():
        return testkit.draw()


async def _error(
    scope: Scope, receive: Receive, send: Send, status: int, why: str,
    headers: dict[str, str] | None,
) -> None:  # fmt: skip
    """The status, with the AlienError a real one carries; the operation does not run."""
    body, receive = await answers.error_body(scope, receive, status, why)
    await answers.respond(scope, receive, send, status, body, headers)


async def _fault(fault: str, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    if fault == "truncated":
        await app(scope, receive, answers.truncating(send))
    else:
        await answers.break_connection(scope, receive, reset=fault == "reset")


async def _stubbed(
    stub: dict[str, Any], scope: Scope, receive: Receive, send: Send, app: ASGIApp
) -> None:
    """What a stub says (app/testmode/stubs.py checked it): wait, then break the connection,
    or answer its response (a body as given; none: the real error for an error status, the
    real operation for a 2xx)."""
    if "delayMs" in stub:
        await asyncio.sleep(stub["delayMs"] / 1000)
    response = stub.get("response")
    if "fault" in stub:
        await _fault(stub["fault"], scope, receive, send, app)
    elif response is None or ("body" not in response and response["status"] < 300):
        await app(scope, receive, send)
    elif "body" in response:
        await answers.respond(
            scope, receive, send, response["status"], response["body"], response["headers"]
        )
    else:
        await _error(scope, receive, send, response["status"], "stubbed", response["headers"])
