"""The contract as the file has it: openapi.json read verbatim, and the lookups into it.

The file on disk is never written. app/contract/overlay.py builds the in-memory document the
app serves with; everything here reads the verbatim one.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def raw_bytes() -> bytes:
    return SPEC_PATH.read_bytes()


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
