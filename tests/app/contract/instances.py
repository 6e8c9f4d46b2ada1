"""Hypothesis strategies for JSON documents near a schema: valid ones drawn from the schema as
jsonschema with this server's extensions reads it (`nullable`, `format: int32/int64`), invalid
ones made by mutating a valid one anywhere inside it, and arbitrary JSON.

Written for the Draft 4 subset openapi.json uses (type, properties, required,
additionalProperties, items, enum, allOf/anyOf/oneOf, nullable, minimum/maximum, min/maxLength,
min/maxItems, the int formats), reading the schema itself rather than through jsonschema-rs:
schemathesis' generator (schemathesis.generation.jsonschema, not a public API) draws from
jsonschema-rs' canonical form, the very library under test. A drawn "valid" value is only a
candidate: tests/app/contract/test_fast.py asks both validators and counts their verdicts.

The domain is what json.loads yields from a body the server takes or writes: string keys,
lists, no NaN or Infinity (the strict parser and the jsonifier refuse both), and no lone UTF-16
surrogate (refused before validation; test_fast.py checks that case on its own).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

INT_BITS = {"int32": 32, "int64": 64}
MAX_ITEMS = 3
MAX_DEPTH = 12

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)  # fmt: skip
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=MAX_ITEMS)
        | st.dictionaries(st.text(max_size=6), inner, max_size=MAX_ITEMS)
    ),
    max_leaves=8,
)
#: Values that sit on or just past the lines the two libraries draw: types Python mixes up
#: (True is an int, 1.0 == 1), the int formats' edges, integers past 64 bits, empty things.
EDGES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, -0.0, 0.5, 1e300, "", "x", "\U0001f600", [], [None], {},
    {"x": 1}, 2**70, -(2**70), 2**64,
    *(sign * 2 ** (bits - 1) + delta for bits in (32, 64) for sign in (1, -1) for delta in (-1, 0, 1)),
]  # fmt: skip


def resolve(schema: Any, root: dict[str, Any]) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def is_nullable(schema: dict[str, Any]) -> bool:
    return schema.get("x-nullable") is True or bool(schema.get("nullable"))


def merge(schemas: list[Any], root: dict[str, Any]) -> dict[str, Any]:
    """One schema for a list of allOf branches: enough for drawing candidates (properties and
    required joined, enums intersected, nullable only if every branch with a type says so)."""
    out: dict[str, Any] = {}
    for branch in (resolve(s, root) for s in schemas):
        if not isinstance(branch, dict):
            continue
        if "allOf" in branch:
            branch = {**branch, **merge(branch["allOf"], root)}
            branch.pop("allOf")
        for key, value in branch.items():
            if key == "properties":
                props = out.setdefault("properties", {})
                for name, sub in value.items():
                    props[name] = merge([props[name], sub], root) if name in props else sub
            elif key == "required":
                out["required"] = sorted({*out.get("required", ()), *value})
            elif key == "enum" and "enum" in out:
                out["enum"] = [v for v in out["enum"] if v in value]
            elif key in ("nullable", "x-nullable"):
                out.setdefault(key, value)
            else:
                out[key] = value
    return out


def valid(schema: Any, root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Candidates valid against `schema` (its `$ref`s resolved against `root`)."""
    schema = resolve(schema, root)
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return JSON
    typed = _typed(schema, root, depth)
    return st.none() | typed if is_nullable(schema) else typed


def _typed(schema: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) if schema["enum"] else st.nothing()
    if "allOf" in schema:
        rest = {k: v for k, v in schema.items() if k not in ("allOf", "nullable", "x-nullable")}
        return valid(merge([*schema["allOf"], rest], root), root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([valid(s, root, depth + 1) for s in schema[key]])
    kind = schema.get("type")
    if kind is None:
        kind = "object" if "properties" in schema else None
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + MAX_ITEMS), low + MAX_ITEMS)
        return st.lists(
            valid(schema.get("items", {}), root, depth + 1), min_size=low, max_size=high
        )
    if kind == "string":
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=schema.get("maxLength", low + 12))
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return JSON


def _number(schema: dict[str, Any], kind: str) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    bits = INT_BITS.get(schema.get("format", ""))
    if bits is not None:
        low = max(low, -(2 ** (bits - 1))) if low is not None else -(2 ** (bits - 1))
        high = min(high, 2 ** (bits - 1) - 1) if high is not None else 2 ** (bits - 1) - 1
    ints = st.integers(min_value=low, max_value=high)
    if kind == "integer":
        return ints
    return ints | st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)


def _object(schema: dict[str, Any], root: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    props = schema.get("properties", {})
    required = [k for k in schema.get("required", ()) if k in props]
    extra = schema.get("additionalProperties", True)
    strategy = st.fixed_dictionaries(
        {k: valid(props[k], root, depth + 1) for k in required},
        optional={k: valid(v, root, depth + 1) for k, v in props.items() if k not in required},
    )
    if extra is False:
        return strategy
    names = st.text(max_size=6).filter(lambda k: k not in props)
    others = valid(extra, root, depth + 1) if isinstance(extra, dict) else JSON
    more = st.dictionaries(names, others, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, strategy, more)


def edges_of(schema: Any) -> list[Any]:
    """EDGES, and the lines the schema draws (its `components` included): each bound and length
    limit, on and just past it, and every enum's values (valid in one place, wrong in another)."""
    found: list[Any] = list(EDGES)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("minimum", "maximum"):
                if isinstance(node.get(key), int | float):
                    found.extend(node[key] + d for d in (-1, -0.5, 0, 0.5, 1))
            for key in ("minLength", "maxLength"):
                if isinstance(node.get(key), int):
                    found.extend("a" * max(node[key] + d, 0) for d in (-1, 0, 1))
            if isinstance(node.get("enum"), list):
                found.extend(node["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    unique: dict[str, Any] = {repr((type(v), v)): v for v in found}
    return list(unique.values())


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _places(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += _places(sub, (*path, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any], edges: list[Any]) -> Any:
    """A drawn candidate changed at one place anywhere inside it: replaced by an edge value or
    arbitrary JSON, or (an object) a key removed or added, or (an array) an item added."""
    value = copy.deepcopy(draw(base))
    path = draw(st.sampled_from(_places(value)))
    parent: Any = None
    node = value
    for part in path:
        parent, node = node, node[part]
    replacement = st.sampled_from(edges) | JSON
    actions = ["replace"]
    if isinstance(node, dict):
        actions += ["drop", "add"] if node else ["add"]
    if isinstance(node, list):
        actions.append("append")
    action = draw(st.sampled_from(actions))
    if action == "drop":
        del node[draw(st.sampled_from(sorted(node)))]
    elif action == "add":
        node[draw(st.sampled_from(["zz", "", "extra"]) | st.text(max_size=4))] = draw(replacement)
    elif action == "append":
        node.append(draw(replacement))
    elif parent is None:
        return draw(replacement)
    else:
        parent[path[-1]] = draw(replacement)
    return value


def near(schema: Any, root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid candidates, mutated ones and arbitrary JSON, for one schema."""
    base = valid(schema, root)
    return st.one_of(base, mutated(base, edges_of(schema)), mutated(base, edges_of(schema)), JSON)
