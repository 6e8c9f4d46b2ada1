"""Every place of a schema, each with its own edge values: the deterministic complement of the
random documents in tests/app/contract/instances.py.

A random mutation lands on a given field of a large document (an int32 deep inside a stack's
resource state) and on the one value that shows a wrong bound (2**31) too seldom to be relied
on. Here one full document is built per turn (every property present, at each oneOf/anyOf the
turn's branch), each place in it is remembered with the schema that describes it, and every
place is tried with every value on or just past that schema's lines, one at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.app.contract.instances import INT_BITS, merge, resolve

Path = tuple[Any, ...]
#: Values that cross types at any place: null (nullable or not), Python's int-like bool and
#: int-valued float, and one of each other type (falsy ones: a lax rule lets those through).
CROSSING: list[Any] = [None, False, 0, 1.0, "", [], {}]
DROP = object()  # a variant that removes the place's key from its object
TURNS = 5  # the most branches a oneOf of this spec has


def full(schema: Any, root: dict[str, Any], turn: int, path: Path, places: list[Any]) -> Any:
    """A candidate with every property present, taking branch `turn` of each oneOf/anyOf;
    each place is added to `places` with the schemas that describe it."""
    schema = resolve(schema, root)
    if isinstance(schema, dict) and "allOf" in schema:  # its place is the merged schema's
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return full(merge([*schema["allOf"], rest], root), root, turn, path, places)
    places.append((path, schema))
    if not isinstance(schema, dict):
        return {"k": 1}
    if "enum" in schema:
        return schema["enum"][turn % len(schema["enum"])] if schema["enum"] else None
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            branch = schema[key][turn % len(schema[key])]
            return full(branch, root, turn, path, places)
    kind = schema.get("type", "object" if "properties" in schema else None)
    low, high = schema.get("minimum"), schema.get("maximum")
    if kind == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            props = {"key": extra}
        return {k: full(v, root, turn, (*path, k), places) for k, v in props.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [full(schema.get("items", {}), root, turn, (*path, i), places) for i in range(count)]
    if kind == "string":
        return "a" * min(max(3, schema.get("minLength", 0)), schema.get("maxLength", 3))
    if kind in ("integer", "number"):
        value = 1 if kind == "integer" else 1.5
        return min(
            max(value, low if low is not None else value), high if high is not None else value
        )
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return {"k": 1}


def edges(schema: Any) -> list[Any]:
    """The values on or just past the lines `schema` draws, and those that cross types."""
    out = list(CROSSING)
    if not isinstance(schema, dict):
        return out
    for key in ("minimum", "maximum"):
        bound = schema.get(key)
        if isinstance(bound, int | float):
            out += [bound - 1, bound - 0.5, bound, bound + 0.5, bound + 1]
    bits = INT_BITS.get(schema.get("format", ""))
    if bits is not None:
        edge = 2 ** (bits - 1)
        out += [-edge - 1, -edge, edge - 1, edge, float(edge), float(-edge - 2**11)]
    if schema.get("type") in ("integer", "number"):
        out += [2**70, -(2**70), 2**63, 1.5, False]
    for key in ("minLength", "maxLength"):
        if isinstance(schema.get(key), int):
            out += ["a" * max(schema[key] + d, 0) for d in (-1, 0, 1)]
    if schema.get("enum"):
        out += ["nope", str(schema["enum"][0]).upper(), f"{schema['enum'][0]} "]
    return out


def variants(schema: Any, root: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where and what, document) for every place of every turn's full document, each place
    changed by each of its edge values (or its key dropped), one at a time. A schema already
    tried at one place (the same content: `properties` shared by a oneOf's branches, an array's
    items, a component used twice) is not tried again at the next: a 2 KB document has ~150 places,
    each a few ms of jsonschema's walk per value."""
    tried: set[str] = set()
    for turn in range(TURNS):
        places: list[tuple[Path, Any]] = []
        document = full(schema, root, turn, (), places)
        yield f"turn {turn}: the full document", document
        for path, sub in places:
            key = json.dumps(sub, sort_keys=True)
            if key in tried:
                continue
            tried.add(key)
            for value in [*edges(sub), *([DROP] if path else [])]:
                yield (
                    f"turn {turn}: {value if value is not DROP else 'no key'!r} at {path}",
                    (_put(document, path, value)),
                )


def _put(document: Any, path: Path, value: Any) -> Any:
    """A copy of `document` with `value` at `path` (or the key removed, for DROP); only the
    containers along the path are copied."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    out: Any = dict(document) if isinstance(document, dict) else list(document)
    if rest:
        out[head] = _put(document[head], rest, value)
    elif value is DROP:
        del out[head]
    else:
        out[head] = value
    return out
