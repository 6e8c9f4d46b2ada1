"""Server-side stubs (docs/behaviour.md §13.7): `POST /_test/stubs` checks a stub and says which
operation it answers; `Stubs.take` finds the one a request consumes. The stubs themselves are
rows of models/testkit.py, shared by every worker and instance on the database.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

from connexion.json_schema import resolve_refs
from starlette.routing import compile_path

from app.contract.spec import operations
from app.contract.validation import ResponseValidator, built, describe
from app.testmode.answers import FAULTS, has_error_code
from models.errors import BadRequest

MAX_DELAY_MS = 30_000
FIELDS = {"operationId", "method", "path", "times", "delayMs", "response", "fault"}
RESPONSE_FIELDS = {"status", "headers", "body"}
USAGE = (
    'A stub is {"operationId": ...} or {"method": ..., "path": ...}, optional "times" (a count, '
    'or null for every call) and "delayMs", and "response": {"status", "headers", "body"} or '
    '"fault": "reset|empty|truncated"'
)


@cache
def _template(path: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(path)
    return regex


def path_matches(stub_path: str | None, path: str) -> bool:
    """A stub without a path answers every path of its operation; one with a path (concrete,
    or a template such as `/v1/deployments/{id}`) only the paths it matches."""
    return stub_path is None or _template(stub_path).match(path) is not None


class StubBook:
    """What a stub may say, from the spec test mode serves: its operations, the statuses each
    may answer (`statuses`, as for `Prefer: code=`) and the schemas of their bodies."""

    def __init__(self, spec: dict[str, Any], statuses: dict[str, list[int]]) -> None:
        self.statuses = statuses
        resolved = resolve_refs(spec)
        self.operations = [(m.upper(), p, op) for p, m, op in operations(resolved)]
        self.by_id = {op["operationId"]: (m, p, op) for m, p, op in self.operations}

    def check(self, body: Any) -> tuple[str, str | None, int | None, dict[str, Any]]:
        """(operationId, path or None, times, answer) of a stub request; BadRequest saying
        what is wrong otherwise."""
        if not isinstance(body, dict) or not body or set(body) - FIELDS:
            raise BadRequest(USAGE, {"fields": sorted(FIELDS)})
        operation_id, path = self._operation(body)
        times = body.get("times", 1)
        if times is not None and (type(times) is not int or times < 1):
            raise BadRequest('"times" is a count from 1, or null for every call')
        answer: dict[str, Any] = {}
        if "delayMs" in body:
            delay = body["delayMs"]
            if type(delay) is not int or not 0 <= delay <= MAX_DELAY_MS:
                raise BadRequest(f'"delayMs" is an integer from 0 to {MAX_DELAY_MS}')
            answer["delayMs"] = delay
        if "response" in body and "fault" in body:
            raise BadRequest('A stub has a "response" or a "fault", not both')
        if "fault" in body:
            if body["fault"] not in FAULTS:
                raise BadRequest(f'"fault" is one of {", ".join(FAULTS)}')
            answer["fault"] = body["fault"]
        if "response" in body:
            answer["response"] = self._response(operation_id, body["response"])
        if not answer:
            raise BadRequest(USAGE)
        return operation_id, path, times, answer

    def _operation(self, body: dict[str, Any]) -> tuple[str, str | None]:
        operation_id, method, path = body.get("operationId"), body.get("method"), body.get("path")
        if operation_id is not None:
            if operation_id not in self.by_id:
                raise BadRequest(f"Unknown operationId {operation_id!r}")
            if method is None and path is None:
                return operation_id, None
        if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
            raise BadRequest(USAGE)
        method = method.upper()
        for op_method, template, op in self.operations:
            if op_method != method or (operation_id and op["operationId"] != operation_id):
                continue
            if path == template:
                return op["operationId"], None
            if _template(template).match(path):
                return op["operationId"], path
        raise BadRequest(f"No operation answers {method} {path}")

    def _response(self, operation_id: str, response: Any) -> dict[str, Any]:
        if not isinstance(response, dict) or "status" not in response:
            raise BadRequest('"response" is {"status", "headers", "body"}; "status" is required')
        if set(response) - RESPONSE_FIELDS:
            raise BadRequest('"response" is {"status", "headers", "body"}')
        status, headers = response["status"], response.get("headers", {})
        possible = self.statuses[operation_id]
        if type(status) is not int or status not in possible:
            raise BadRequest(
                f"{operation_id} may answer {', '.join(map(str, possible))}",
                {"operation_id": operation_id, "possible": possible},
            )
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k.isascii() and v.isascii()
            for k, v in headers.items()
        ):
            raise BadRequest('"response.headers" maps names to text (ASCII)')
        if "body" in response:
            self._check_body(operation_id, status, response["body"])
        elif status >= 300 and not has_error_code(status):
            raise BadRequest(f"A {status} stub needs a body")
        return {"status": status, "headers": headers} | (
            {"body": response["body"]} if "body" in response else {}
        )

    def _check_body(self, operation_id: str, status: int, body: Any) -> None:
        if isinstance(body, float) and not math.isfinite(body):
            raise BadRequest('"response.body" must be JSON')
        _, _, op = self.by_id[operation_id]
        declared = op["responses"].get(str(status), {})
        schema = declared.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return
        errors = list(built(ResponseValidator, schema).iter_errors(body))
        if errors:
            raise BadRequest(
                f"The body is not what {operation_id} declares for {status}: {describe(errors[0])}",
                {"operation_id": operation_id, "status": status},
            )
