"""The contract on disk is the seed, byte for byte; the overlay only adds to it."""

from __future__ import annotations

import hashlib
import inspect

import pytest

import handlers
from app.contract.overlay import FIXES, overlay
from app.contract.spec import operations, raw_bytes, raw_spec, sha256
from tests.helpers import SPEC_PATH, contains

SEED_SHA256 = "89b070d5434ed8aa25f0238dc33e6de74f439a8e0f0a9dbca9907520a4601f79"


def test_openapi_json_is_the_seed_byte_for_byte():
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SEED_SHA256


def test_the_package_reads_the_same_file():
    """app/contract/openapi.json (package data, a link in the repository) is the top-level file."""
    assert raw_bytes() == SPEC_PATH.read_bytes()
    assert sha256() == SEED_SHA256


def test_contains_detects_changes():
    assert contains({"a": {"b": 1}}, {"a": {"b": 2}}) == ["$.a.b"]
    assert contains({"a": [1]}, {"a": [1, 2]}) == ["$.a"]
    assert contains({}, {"a": 1}) == ["$.a removed"]
    assert contains({"a": 1, "b": 2}, {"a": 1}) == []


@pytest.mark.parametrize("fix", FIXES, ids=lambda f: f.__name__)
def test_each_overlay_fix_only_adds(fix):
    raw = raw_spec()
    fixed = raw_spec()
    fix(fixed)
    assert fixed != raw, f"{fix.__name__} changed nothing"
    assert contains(fixed, raw) == []


def test_overlay_leaves_the_raw_spec_untouched_in_memory():
    raw = raw_spec()
    overlay(raw)
    assert raw == raw_spec()


def test_overlay_secures_every_operation_but_health():
    spec = overlay(raw_spec())
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    unsecured = [op["operationId"] for _, _, op in operations(spec) if not op.get("security")]
    assert unsecured == ["health"]


def test_every_operation_id_resolves_and_nothing_else_is_registered():
    ids = {op["operationId"] for _, _, op in operations(raw_spec())}
    assert len(ids) == 22
    assert ids == set(handlers.OPERATIONS)
    for op_id in ids:
        assert callable(handlers.resolve(op_id).handler)


@pytest.mark.parametrize("op_id", sorted(handlers.OPERATIONS))
def test_each_operation_takes_exactly_what_its_handler_names(op_id):
    """The table is the one place that says what a handler is given: it cannot drift from the
    handler's signature (a missing entry would be a TypeError, an extra one a silent no-op)."""
    operation = handlers.OPERATIONS[op_id]
    named = set(inspect.signature(operation.handler).parameters) & handlers.INJECTABLE
    assert set(operation.takes) == named


def test_unknown_operation_fails_loudly():
    with pytest.raises(handlers.UnknownOperation, match="add it to handlers.OPERATIONS"):
        handlers.resolve("no_such_operation")


def test_raw_spec_is_served_verbatim(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.content == raw_bytes()
    assert response.headers["content-type"].startswith("application/json")
