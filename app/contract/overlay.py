"""The named overlay that fixes the spec's defects, in memory.

The file on disk is never written. `overlay()` returns a new dict that only *adds* to the raw
spec (tests/app/contract/test_spec.py proves it), for the defects listed in CONFORMANCE.md:

1. `bearer_scheme`: declare the `bearer` security scheme that 14 operations reference.
2. `secure_everything`: require it on every operation but `health` (the seven deployments
   operations carry no security block, yet the server must authenticate them).
3. `error_responses`: the AlienError body on the error statuses each operation really answers,
   so error bodies returned by handlers are validated too.
4. `extension_parameters`: the optional paging (`limit`, `cursor`), `include[]` and `force`
   parameters of docs/behaviour.md §4 and §5.2, so Connexion validates and passes them.
5. `environment_variables`: `CreateDeploymentRequest.environmentVariables`, which the reference
   accepts and stores though its spec omits it (docs/behaviour.md §10), so it is validated.

Nullable beside `$ref`/`allOf`, int32/int64 ranges and non-UTF-8 bodies are handled in
app/contract/validation.py instead, leaving even the in-memory schemas untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from app.contract.spec import operations

PUBLIC_OPERATIONS = frozenset({"health"})
ALIEN_ERROR = {"$ref": "#/components/schemas/AlienError"}


def bearer_scheme(spec: dict[str, Any]) -> None:
    schemes = spec["components"].setdefault("securitySchemes", {})
    schemes.setdefault("bearer", {"type": "http", "scheme": "bearer"})


def secure_everything(spec: dict[str, Any]) -> None:
    for _, _, op in operations(spec):
        if op["operationId"] not in PUBLIC_OPERATIONS:
            op.setdefault("security", [{"bearer": []}])


def error_responses(spec: dict[str, Any]) -> None:
    """docs/behaviour.md §8: the statuses the server emits though the spec does not declare them."""
    for _, _, op in operations(spec):
        statuses = ["500"]
        if op["operationId"] not in PUBLIC_OPERATIONS:
            # 503: a full disk under SQLite (§12); resolve_credentials' missing settings (§5.4)
            statuses += ["400", "401", "403", "404", "503"]
        if "requestBody" in op:
            statuses += ["408", "413", "415"]
            if op["operationId"] == "reconcile":
                statuses.append("409")
        responses = op["responses"]
        for status in statuses:
            response = responses.setdefault(status, {"description": "AlienError"})
            response.setdefault("content", {"application/json": {"schema": ALIEN_ERROR}})


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size (1..1000)"),
    _query("cursor", {"type": "string"}, "Opaque cursor from a previous page's nextCursor"),
]
EXTENSIONS = {
    "list_deployment_groups": PAGING,
    "list_deployments": [
        *PAGING,
        _query("include[]", {"type": "array", "items": {"type": "string"}}, "Alias of include"),
    ],
    "delete_deployment": [
        _query("force", {"type": "boolean", "default": False}, "Remove at once, not two-phase")
    ],
}


def extension_parameters(spec: dict[str, Any]) -> None:
    for _, _, op in operations(spec):
        params = op.setdefault("parameters", [])
        known = {p["name"] for p in params}
        params.extend(
            copy.deepcopy(p)
            for p in EXTENSIONS.get(op["operationId"], [])
            if p["name"] not in known
        )


#: The reference's alien_core::EnvironmentVariable (crates/alien-core/src/deployment.rs), which
#: the spec does not contain: serde ignores unknown keys, so additional properties are allowed.
ENVIRONMENT_VARIABLE = {
    "type": "object",
    "required": ["name", "value", "type"],
    "properties": {
        "name": {"type": "string"},
        "value": {"type": "string"},
        "type": {"type": "string", "enum": ["plain", "secret"]},
        "targetResources": {"type": "array", "items": {"type": "string"}, "nullable": True},
    },
}


def environment_variables(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    schemas.setdefault("EnvironmentVariable", copy.deepcopy(ENVIRONMENT_VARIABLE))
    schemas["CreateDeploymentRequest"]["properties"].setdefault(
        "environmentVariables",
        {
            "type": "array",
            "nullable": True,
            "items": {"$ref": "#/components/schemas/EnvironmentVariable"},
        },
    )


FIXES = (
    bearer_scheme,
    secure_everything,
    error_responses,
    extension_parameters,
    environment_variables,
)


def overlay(raw: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(raw)
    for fix in FIXES:
        fix(spec)
    return spec
