"""The fast path (app/contract/fast.py) gives jsonschema's verdict on every schema Connexion
validates with on this spec, for valid and invalid documents alike.

The schemas are taken as Connexion 3.3 hands them to the validators: its own
`OpenAPISpecification` (which runs `resolve_refs`) of the overlaid spec, and its operations'
`body_schema`, `response_schema` (every status, application/json; each with the spec's
`components` attached) and `parameters`; plus `component_schema("Stack")`, `$ref`s kept. Each
is checked through validation.py's own `_build`, so with the class and rules the server uses.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema_rs
import pytest
from connexion.operations import OpenAPIOperation
from connexion.resolver import Resolver
from connexion.spec import OpenAPISpecification
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft4Validator

from app.contract.fast import compile_fast, translate
from app.contract.overlay import overlay
from app.contract.spec import METHODS, component_schema, operations, raw_spec
from app.contract.validation import (
    _RULES,
    FORMATS,
    RequestValidator,
    ResponseValidator,
    _build,
    errors_of,
    is_valid,
)
from tests.app.contract.instances import near
from tests.app.contract.sweep import variants

JSON = "application/json"
#: Random documents per distinct schema, ~0.1-1 s of CPU each (jsonschema's walk of a whole
#: response dominates); the edges themselves are swept (test_every_place_with_its_edge_values).
EXAMPLES = 100
#: Each schema must have drawn at least this many documents of each verdict...
AT_LEAST = 15
#: ...but a schema with fewer valid documents than that (Hypothesis draws each only once).
FEW_VALID = {"delete_deployment query force": 2}


@dataclass
class Group:
    """Schemas of one validator class that are the same document (equal content, the one
    `components` object), checked once for all of them."""

    validator_class: Any
    schema: dict[str, Any]
    names: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        more = f" (+{len(self.names) - 1} alike)" if len(self.names) > 1 else ""
        return f"{self.names[0]}{more}"


def connexion_schemas() -> Iterator[tuple[str, Any, Any]]:
    """(where, validator class, schema) for every schema Connexion validates with."""
    spec = OpenAPISpecification(overlay(raw_spec()))
    resolver = Resolver(function_resolver=lambda operation_id: print)
    for path, item in spec["paths"].items():
        for method in (m for m in item if m in METHODS):
            op = OpenAPIOperation.from_spec(spec, path=path, method=method, resolver=resolver)
            name = op.operation_id
            if op.request_body:
                assert op.consumes == [JSON], name
                yield f"{name} body", RequestValidator, op.body_schema(JSON)
            for status, response in op.responses.items():
                if "content" in response:
                    assert list(response["content"]) == [JSON], (name, status)
                    yield f"{name} {status}", ResponseValidator, op.response_schema(status, JSON)
            for param in op.parameters:
                where = f"{name} {param['in']} {param['name']}"
                yield where, Draft4Validator, param.get("schema", param)
    yield "component Stack", RequestValidator, component_schema("Stack")


@cache
def groups() -> tuple[Group, ...]:
    found: dict[tuple[Any, ...], Group] = {}
    for name, validator_class, schema in connexion_schemas():
        assert validator_class in _RULES, name  # so validation.py compiles a fast path for it
        rest = {k: v for k, v in schema.items() if k != "components"}
        key = (validator_class, id(schema.get("components")), json.dumps(rest, sort_keys=True))
        found.setdefault(key, Group(validator_class, schema)).names.append(name)
    return tuple(found.values())


def test_every_schema_is_listed():
    """As many as the overlaid spec declares, counted in the document itself."""
    names = [name for group in groups() for name in group.names]
    assert len(names) == len(set(names))
    ops = [op for _, _, op in operations(overlay(raw_spec()))]
    declared = Counter(
        body=sum("requestBody" in op for op in ops),
        response=sum("content" in r for op in ops for r in op["responses"].values()),
        parameter=sum(len(op.get("parameters", ())) for op in ops),
    )
    listed = Counter(
        body=sum(n.endswith(" body") for n in names),
        response=sum(n.split()[-1].isdigit() for n in names),
        parameter=sum(n.split()[1] in ("query", "path") for n in names),
    )
    assert listed == declared == Counter(body=9, response=174, parameter=16)
    assert len(names) == listed.total() + 1  # and Stack


def test_every_schema_has_a_fast_path():
    without = [str(g) for g in groups() if _build(g.validator_class, g.schema)[2] is None]
    assert without == []


@pytest.mark.parametrize("group", groups(), ids=str)
def test_the_fast_path_gives_jsonschemas_verdict(group: Group) -> None:
    _, validator, quick = _build(group.validator_class, group.schema)
    verdicts: Counter[bool] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(near(group.schema, group.schema))
    def agree(document: Any) -> None:
        expected = bool(validator.is_valid(document))
        assert quick.is_valid(document) == expected, (
            f"{', '.join(group.names)}: jsonschema says {'valid' if expected else 'invalid'}, "
            f"the fast path the opposite, for {document!r}"
        )
        verdicts[expected] += 1

    agree()
    at_least = min(AT_LEAST, FEW_VALID.get(str(group), AT_LEAST))
    assert verdicts[True] >= at_least and verdicts[False] >= AT_LEAST, (str(group), verdicts)


@pytest.mark.parametrize("group", groups(), ids=str)
def test_every_place_with_its_edge_values(group: Group) -> None:
    """Each place of a full document, changed to each value on or past its schema's lines
    (tests/app/contract/sweep.py): what a random mutation hits too seldom, tried every time."""
    _, validator, quick = _build(group.validator_class, group.schema)
    verdicts: Counter[bool] = Counter()
    for where, document in variants(group.schema, group.schema):
        expected = bool(validator.is_valid(document))
        assert quick.is_valid(document) == expected, (
            f"{', '.join(group.names)}, {where}: jsonschema says "
            f"{'valid' if expected else 'invalid'}, the fast path the opposite, for {document!r}"
        )
        verdicts[expected] += 1
    assert verdicts[True] >= 1 and verdicts[False] >= 1, (str(group), verdicts)


# The rules of `translate`, each beside the case that shows it is needed.

NULLABLE_ALL_OF = {"nullable": True, "allOf": [{"type": "object"}]}


def test_without_translation_the_verdicts_differ():
    """So the property test above can fail when `translate` is wrong."""
    assert RequestValidator(NULLABLE_ALL_OF).is_valid(None)
    assert not jsonschema_rs.Draft4Validator(NULLABLE_ALL_OF).is_valid(None)
    quick = compile_fast(NULLABLE_ALL_OF, **_RULES[RequestValidator])
    assert quick is not None and quick.is_valid(None)


INT32 = {"type": "integer", "format": "int32"}
INT64 = {"type": "integer", "format": "int64"}
WRITE_ONLY = {"type": "object", "properties": {"secret": {"type": "string", "writeOnly": True}}}
NOT_NULL = {"type": "string", "nullable": True, "not": {"type": "null"}}
REF_SIBLINGS = {
    "properties": {"a": {"$ref": "#/definitions/text", "type": "integer"}},
    "definitions": {"text": {"type": "string"}},
}
RULES = [
    # nullable beside type, enum and each combinator; not beside it still applies to null
    (RequestValidator, NULLABLE_ALL_OF, None, True),
    (Draft4Validator, NULLABLE_ALL_OF, None, False),
    (ResponseValidator, {"nullable": True, "oneOf": [{}, {}]}, None, True),
    (ResponseValidator, {"nullable": True, "anyOf": [{"type": "string"}]}, None, True),
    (RequestValidator, {"nullable": True, "enum": ["a"]}, None, True),
    (RequestValidator, {"x-nullable": True, "type": "string"}, None, True),
    (RequestValidator, {"x-nullable": "yes", "type": "string"}, None, False),
    (RequestValidator, NOT_NULL, None, False),
    (RequestValidator, {**NOT_NULL, "not": {"enum": ["a"]}}, None, True),
    (RequestValidator, {"nullable": True, "not": {"type": "null"}}, None, False),
    (RequestValidator, {"nullable": True, "minimum": 3}, None, True),
    # int32 / int64: a range on integers; bools and floats are not integers, and pass the format
    *((RequestValidator, INT32, n, ok) for n, ok in [(-(2**31), True), (2**31 - 1, True),
        (-(2**31) - 1, False), (2**31, False), (True, False), (1.0, False), (2**70, False)]),
    *((RequestValidator, INT64, n, ok) for n, ok in [(-(2**63), True), (2**63 - 1, True),
        (-(2**63) - 1, False), (2**63, False), (False, False), (2.0**63, False)]),
    *((Draft4Validator, {"format": "int32"}, n, True) for n in [True, 2.0**31, "2147483648"]),
    (Draft4Validator, {"format": "int32"}, 2**31, False),
    (Draft4Validator, {"type": "number", "format": "int64"}, -(2**63) - 1, False),
    # writeOnly: refused in a response, ignored in a request
    (ResponseValidator, WRITE_ONLY, {"secret": "x"}, False),
    (ResponseValidator, WRITE_ONLY, {}, True),
    (RequestValidator, WRITE_ONLY, {"secret": "x"}, True),
    (ResponseValidator, {"writeOnly": False}, 1, False),
    (ResponseValidator, {"x-writeOnly": None}, 1, False),
    # `$ref` siblings are ignored
    (RequestValidator, REF_SIBLINGS, {"a": "x"}, True),
    (RequestValidator, REF_SIBLINGS, {"a": 1}, False),
]  # fmt: skip


@pytest.mark.parametrize(("validator_class", "schema", "document", "expected"), RULES)
def test_translate_rules(validator_class, schema, document, expected):
    assert validator_class(schema, format_checker=FORMATS).is_valid(document) is expected
    quick = compile_fast(schema, **_RULES[validator_class])
    assert quick is not None
    assert quick.is_valid(document) is expected


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a"},
        {"properties": {"a": {"type": "string", "pattern": "^a"}}},
        {"patternProperties": {"^a": {}}},
        {"type": "string", "format": "date-time"},
        {"items": {"format": "email"}},
    ],
)
def test_no_fast_path_where_the_libraries_may_differ(schema):
    for rules in _RULES.values():
        assert compile_fast(schema, **rules) is None


def test_ref_siblings_are_dropped():
    assert translate({"$ref": "#/x", "nullable": True}, nullable=True, response=False) == {
        "$ref": "#/x"
    }


def test_components_are_compiled_only_where_a_ref_reaches_them():
    components = {"schemas": {"Text": {"type": "string"}}}
    with_ref = {
        "properties": {"a": {"$ref": "#/components/schemas/Text"}},
        "components": components,
    }
    without = {"properties": {"a": {"type": "string"}}, "components": components}
    for schema in (with_ref, without):
        quick = compile_fast(schema, nullable=True, response=False)
        assert quick is not None
        assert quick.is_valid({"a": "x"}) and not quick.is_valid({"a": 1})
    unused = {"type": "string", "components": {"schemas": {"Bad": {"pattern": "^a"}}}}
    assert compile_fast(unused, nullable=True, response=False) is not None


def test_nan_is_refused_by_the_fast_path_and_judged_by_jsonschema():
    """Outside the property test's domain (the strict parser and the jsonifier refuse NaN):
    the two differ, in the harmless direction."""
    quick = compile_fast({"type": "number"}, nullable=False, response=False)
    assert quick is not None
    assert Draft4Validator({"type": "number"}).is_valid(math.nan)
    assert not quick.is_valid(math.nan)


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        ({"type": "string"}, "\ud800"),  # json.loads('"\\ud800"')
        ({"properties": {"a": {"enum": ["x"]}}}, {"a": "\udfff"}),
        ({"type": "object"}, {1: "a"}),
    ],
)
def test_what_the_fast_path_cannot_read_goes_to_jsonschema(schema, document):
    """Outside the property test's domain (requests with a lone surrogate are refused before
    validation): the fast path refuses instead of raising, and jsonschema judges."""
    quick = compile_fast(schema, nullable=True, response=True)
    assert quick is not None
    assert quick.is_valid(document) is False
    judge = ResponseValidator(schema, format_checker=FORMATS)
    assert is_valid(ResponseValidator, schema, document) is judge.is_valid(document)
    assert len(errors_of(ResponseValidator, schema, document)) == len(
        list(judge.iter_errors(document))
    )
