"""Schemathesis hooks: checks for what docs/behaviour.md says and the spec cannot.

Registered on import with `@schemathesis.check`, so they run beside schemathesis's own checks
wherever this module is loaded: tests/test_contract.py imports it, and `make contract`
(tests/contract/run.py) loads it into the CLI with `SCHEMATHESIS_HOOKS=tests.contract.hooks`.

- `openapi_core_conformance`: the second validator (tests/oas.py) on every response. It is
  what keeps the deviations in schemathesis.toml exact: where a schemathesis check is relaxed
  for an operation, this one still allows only docs/behaviour.md §8's statuses there.
- `caller_scope`: who gets what (docs/behaviour.md §2). Nobody authenticated sees a 401, an admin
  never a 403, and a deployment-group or deployment token sees only 2xx, 403, 404 and
  request errors (400/415), plus 409 on reconcile (another session's lease).
- `schema_valid_input_is_not_a_validation_error`: a 400 for schema-valid input must be one of
  docs/behaviour.md's semantic refusals, never VALIDATION_ERROR (our validators disagreeing with the
  spec, e.g. a `null` the spec allows), except a breach of §11's hard limits.

For the CLI's deployment-token pass it also registers the caller's auth
(`register_deployment_caller`), which keeps the token valid (tests/contract.DeploymentToken).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import httpx
import schemathesis

from tests import oas
from tests.contract import DeploymentToken

#: docs/behaviour.md §1: the token prefix says who is calling.
TOKEN_KINDS = (("ax_admin_", "admin"), ("ax_dg_", "deployment-group"), ("ax_deploy_", "deployment"))
REQUEST_ERRORS = {400, 415}
#: The messages of docs/behaviour.md §11's limits (app/contract/limits.py).
LIMIT_BREACH = re.compile(r"; at most \d+ are allowed$|^The body is nested deeper than \d+ levels")


def exchange(response: Any) -> oas.Exchange:
    """A schemathesis response (any transport) as the second validator reads it."""
    request = response.request
    body = request.body
    return oas.Exchange(
        method=request.method,
        url=request.url,
        request_headers={k.lower(): v for k, v in request.headers.items()},
        request_body=body.encode() if isinstance(body, str) else body,
        status=response.status_code,
        headers={k: ", ".join(v) for k, v in response.headers.items()},
        content=response.content,
    )


def caller_kind(response: Any) -> str | None:
    header = response.request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ")
    return next((kind for prefix, kind in TOKEN_KINDS if token.startswith(prefix)), None)


def error_code(response: Any) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


@schemathesis.check
def openapi_core_conformance(ctx: Any, response: Any, case: Any) -> None:
    oas.check_exchange(exchange(response))


@schemathesis.check
def caller_scope(ctx: Any, response: Any, case: Any) -> None:
    kind, status = caller_kind(response), response.status_code
    probe = response.request.method.lower() != case.operation.method.lower()
    if kind is None or status < 400 or probe:  # probes with another method: 405, checked by oas
        return
    op_id = case.operation.definition.raw.get("operationId")
    assert status != 401, f"{kind} token refused as unauthenticated by {op_id}"
    if kind == "admin":
        assert status != 403, f"admin refused by {op_id}: {response.content[:300]!r}"
        return
    allowed = {403, 404, *REQUEST_ERRORS} | ({409} if op_id == "reconcile" else set())
    assert status in allowed, f"{kind} token got {status} from {op_id} (docs/behaviour.md §2)"


@schemathesis.check
def schema_valid_input_is_not_a_validation_error(ctx: Any, response: Any, case: Any) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return
    code = error_code(response)
    if code == "VALIDATION_ERROR" and all(map(LIMIT_BREACH.search, _errors(response))):
        return  # docs/behaviour.md §11: over a hard limit, though the spec sets none
    assert code != "VALIDATION_ERROR", (
        f"schema-valid input refused as VALIDATION_ERROR: {response.content[:500]!r}"
    )


def _errors(response: Any) -> list[str]:
    body = json.loads(response.content)
    return list((body.get("context") or {}).get("errors") or [body.get("message", "")])


# -- the deployment caller of `make contract` ---------------------------------------------

#: Set by tests/contract/run.py for its deployment-token pass only.
DEPLOYMENT_CALLER_ENV = (
    "ALIEN_CONTRACT_URL",
    "ALIEN_CONTRACT_GROUP_TOKEN",
    "ALIEN_CONTRACT_DEPLOYMENT_TOKEN",
    "ALIEN_CONTRACT_DEPLOYMENT_NAME",
)


def register_deployment_caller(environ: Mapping[str, str]) -> None:
    """Authenticate every call as the deployment token, renewed when revoked
    (tests/contract.DeploymentToken)."""
    url, group, token, name = (environ[var] for var in DEPLOYMENT_CALLER_ENV)
    keeper = DeploymentToken(httpx.Client(base_url=url, timeout=30), group, token, name)

    @schemathesis.auth(refresh_interval=None)
    class DeploymentCaller:
        def get(self, case: Any, context: Any) -> dict[str, str]:
            return keeper.headers()

        def set(self, case: Any, data: dict[str, str], context: Any) -> None:
            case.headers = {**(case.headers or {}), **data}


if all(os.environ.get(var) for var in DEPLOYMENT_CALLER_ENV):
    register_deployment_caller(os.environ)
