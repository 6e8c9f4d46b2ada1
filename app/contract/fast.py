"""The fast path of validation: each schema compiled once by jsonschema-rs, jsonschema kept as
the judge.

`jsonschema` (with Connexion's and app/contract/validation.py's extensions) decides what is
valid and words every error; it walks a document in Python, which was most of a 50-item page's
time. Here the same schema is compiled by `jsonschema_rs` after `translate` rewrites the
extensions into standard Draft 4, and a document it accepts is accepted without the walk. A
document it refuses goes to jsonschema, whose verdict and messages stand, and so does one it
cannot read (`Compiled`). So the fast path can only ever be wrong by accepting what jsonschema
refuses; tests/app/contract/test_fast.py generates valid and invalid documents for every schema
of the spec and checks that the two agree. It is asked about parsed JSON only (request and
response bodies, parameters): a Python tuple, say, is an array to jsonschema-rs and not to
jsonschema.

What `translate` rewrites (and why each is the same rule):

- `nullable` (or `x-nullable`) truthy beside `type`, `enum`, `allOf`, `anyOf` or `oneOf`: the
  extended validators skip exactly those keywords for `null`, and every other Draft 4 keyword
  but `not` passes for `null`, so the schema becomes `anyOf: [{type: null, not: <its not>},
  <the rest>]`. Only for the validators that have the rule (`nullable=True`).
- `format: int32` / `int64`: a range on integers (bools and other types pass), as the format
  checker has it; jsonschema-rs checks formats on strings only.
- `writeOnly` / `x-writeOnly` in a response: Connexion refuses the property outright, whatever
  the keyword's value (even `false`), so the schema becomes `false` (`not: {}`).
- `$ref` with siblings: Draft 4 ignores the siblings (jsonschema's legacy rule), so they go.

The `components` Connexion attaches to every body and response schema (each a copy of the
whole spec's, `$ref`s resolved) are left out of the compiled schema when nothing in it refers
to them.

Anything else a schema might hold that the two libraries could read differently (another
`format`, a `pattern`: `re.search` against Rust's regex) leaves that schema without a fast
path, so it is validated by jsonschema alone.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs

NULLABLE_KEYWORDS = ("type", "enum", "allOf", "anyOf", "oneOf")
INT_RANGES = {"int32": 2**31, "int64": 2**63}
#: Keywords whose value is one schema, a list of schemas, or a map of name -> schema.
ONE = ("not", "additionalProperties", "additionalItems")
MANY = ("allOf", "anyOf", "oneOf")
BY_NAME = ("properties", "patternProperties", "definitions")


class NoFastPath(Exception):
    """The schema holds something the two libraries may read differently."""


def translate(schema: Any, *, nullable: bool, response: bool) -> Any:
    """`schema` in standard Draft 4, meaning what jsonschema with the extensions means (see the
    module docstring). Raises NoFastPath where that cannot be promised."""
    if not isinstance(schema, dict):
        return schema  # true/false are not Draft 4, and jsonschema-rs refuses them too

    def sub(value: Any) -> Any:
        return translate(value, nullable=nullable, response=response)

    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    if "pattern" in schema or "patternProperties" in schema:
        raise NoFastPath("pattern")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ONE:
            out[key] = sub(value)
        elif key in MANY:
            out[key] = [sub(v) for v in value]
        elif key in BY_NAME:
            out[key] = {name: sub(v) for name, v in value.items()}
        elif key == "items":
            out[key] = [sub(v) for v in value] if isinstance(value, list) else sub(value)
        elif key == "dependencies":
            out[key] = {k: v if isinstance(v, list) else sub(v) for k, v in value.items()}
        elif key == "components":  # a component schema's own document (`$ref`s point here)
            out[key] = {"schemas": {name: sub(v) for name, v in value.get("schemas", {}).items()}}
        elif key == "format":
            if value not in INT_RANGES:
                raise NoFastPath(f"format {value!r}")
        else:
            out[key] = value
    if response and ("writeOnly" in schema or "x-writeOnly" in schema):
        return {"not": {}}  # whatever its value: Connexion's rule fails on the keyword alone
    bound = INT_RANGES.get(schema.get("format"))  # type: ignore[arg-type]
    if bound is not None:
        in_range = {"minimum": -bound, "maximum": bound - 1}
        out = {"allOf": [out, {"anyOf": [{"not": {"type": "integer"}}, in_range]}]}
    is_nullable = schema.get("x-nullable") is True or bool(schema.get("nullable"))
    if nullable and is_nullable and any(k in schema for k in NULLABLE_KEYWORDS):
        rest = {k: v for k, v in out.items() if k not in ("nullable", "x-nullable")}
        null: dict[str, Any] = {"type": "null"}
        if "not" in rest:
            null["not"] = rest["not"]
        out = {"anyOf": [null, rest]}
    return out


class Compiled:
    """A jsonschema-rs validator that refuses, rather than raises on, a value it cannot read: a
    string with a lone UTF-16 surrogate (json.loads makes one of `"\\ud800"`; jsonschema
    accepts it as a string), a non-string key, a type JSON has not. jsonschema then judges it."""

    __slots__ = ("_validator",)

    def __init__(self, validator: Any) -> None:
        self._validator = validator

    def is_valid(self, value: Any) -> bool:
        try:
            return bool(self._validator.is_valid(value))
        except (ValueError, TypeError):  # UnicodeEncodeError is a ValueError
            return False


def compile_fast(schema: Any, *, nullable: bool, response: bool) -> Compiled | None:
    """A jsonschema-rs Draft 4 validator meaning what jsonschema with the extensions means, or
    None where no fast path is promised."""
    if isinstance(schema, dict) and "components" in schema:
        rest = {k: v for k, v in schema.items() if k != "components"}
        if not _refers(rest):
            schema = rest  # nothing reaches it: translating and compiling it was ~25 ms a schema
    try:
        translated = translate(schema, nullable=nullable, response=response)
        key = json.dumps(translated, sort_keys=True)
        shared = _SHARED.get(key)
        if shared is None:
            if len(_SHARED) >= MAX_SHARED:
                _SHARED.clear()
            compiled = jsonschema_rs.Draft4Validator(translated, validate_formats=False)
            shared = _SHARED[key] = Compiled(compiled)
        return shared
    except (NoFastPath, ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError):
        return None


#: Compiled validators by their translated schema: every app in a process (a test suite builds
#: hundreds) shares one per distinct schema (29 on this spec), where each kept its own before,
#: megabytes of native memory each, until the suite ran out of memory.
_SHARED: dict[str, Compiled] = {}
MAX_SHARED = 1024


def _refers(schema: Any) -> bool:
    """Whether a `$ref` is anywhere in `schema`."""
    if isinstance(schema, dict):
        return "$ref" in schema or any(_refers(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_refers(v) for v in schema)
    return False
