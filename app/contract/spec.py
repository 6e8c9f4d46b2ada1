"""The contract as the file has it: openapi.json read verbatim, and the lookups into it.

The file on disk is never written. app/contract/overlay.py builds the in-memory document the
app serves with; everything here reads the verbatim one.

It is package data: `app/contract/openapi.json` links to the repository's top-level file (the
one source) and the build copies its bytes into the wheel, so an installed server finds it
wherever it runs from (`importlib.resources`), not only in a checkout.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib.resources import files
from typing import Any

SPEC = files("app.contract") / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def raw_bytes() -> bytes:
    return SPEC.read_bytes()


@cache
def sha256() -> str:
    """The verbatim file's digest: the start-up line and check-config name the contract by it."""
    return hashlib.sha256(raw_bytes()).hexdigest()


def raw_spec() -> dict[str, Any]:
    """A fresh parse of the verbatim file (callers may mutate it)."""
    spec: dict[str, Any] = json.loads(raw_bytes())
    return spec


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def component_schema(name: str) -> dict[str, Any]:
    """A schema from the verbatim spec, with its `$ref`s resolvable against the whole document."""
    spec = raw_spec()
    return {**spec["components"]["schemas"][name], "components": spec["components"]}


@cache
def schema_properties(name: str) -> tuple[str, ...]:
    """The property names of a component schema, in the spec's order."""
    return tuple(raw_spec()["components"]["schemas"][name]["properties"])
