"""Validators that read this spec the way its generator (utoipa) meant it.

Passed to Connexion as `validator_map`, so the schemas themselves stay as the file has them:

- `nullable: true` beside `allOf`/`anyOf`/`oneOf` (17 places, no `type`) admits `null`, as the
  Rust clients send it; Connexion only honours `nullable` on `type` and `enum`. Such a `null` is
  utoipa's `Option<T>` that serde skips when `None`: it means "absent". A strict OpenAPI 3.0
  reader rejects it (nullable needs a `type`), so where the server keeps what a client sent and
  echoes it in a typed response (reconcile's `current`: a worker's reported state, a release's
  stacks) the handler reads it through `SpecContract` on the way in, which drops it
  (docs/behaviour.md §4: optional fields are omitted, never null).
- `format: int32` / `int64` are range-checked (jsonschema knows neither).
- a body is parsed strictly and checked against the hard limits before the schema
  (app/contract/strict_json.py, app/contract/limits.py, docs/behaviour.md §11): not UTF-8,
  NaN, too deep, too long: a 400, not a 500.
- every failure of a body is listed in the error's `context.errors` (at most 20), each quoting
  a short slice of the offending value at most; a query or path failure is one sentence.

The validator classes override Connexion 3.3's `JSONRequestBodyValidator._validator`,
`._parse`, `._validate`, `JSONResponseBodyValidator.validator` and `ParameterValidator
.validate_parameter` / `.validate_request` (pyproject pins <3.4 for it): `validator_map` swaps
whole classes, and these hooks are the smallest seams that carry the rules above; nothing else
of Connexion's is replaced.
"""

from __future__ import annotations

import functools
import logging
import re
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

import orjson
from connexion.datastructures import MediaTypeDict
from connexion.decorators.parameter import pythonic
from connexion.exceptions import BadRequestProblem
from connexion.json_schema import (
    Draft4RequestValidator,
    Draft4ResponseValidator,
    allow_nullable,
    resolve_refs,
)
from connexion.validators import (
    FormDataValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
    TextResponseBodyValidator,
)
from connexion.validators.json import JSONRequestBodyValidator, JSONResponseBodyValidator
from jsonschema import Draft4Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import extend

from app.contract.fast import compile_fast
from app.contract.limits import ECHO_CHARS, Limits, clip, where
from app.contract.spec import component_schema, raw_spec, schema_properties
from app.contract.strict_json import NotJson, strict_loads

log = logging.getLogger("alien.request")

MAX_LISTED_ERRORS = 20
UTF8 = ("utf-8", "utf8")
MESSAGE_CHARS = 240

FORMATS = FormatChecker(formats=())
FORMATS.checkers.update(Draft4Validator.FORMAT_CHECKER.checkers)


def _int_range(bits: int) -> Any:
    def check(value: object) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return True
        return bool(-(2 ** (bits - 1)) <= value < 2 ** (bits - 1))

    return check


FORMATS.checks("int32")(_int_range(32))
FORMATS.checks("int64")(_int_range(64))


def _nullable_combinators(base: Any) -> Any:
    return extend(
        base, {k: allow_nullable(base.VALIDATORS[k]) for k in ("allOf", "anyOf", "oneOf")}
    )


RequestValidator = _nullable_combinators(Draft4RequestValidator)
ResponseValidator = _nullable_combinators(Draft4ResponseValidator)

#: Validators built so far, by (class, schema). Connexion hands the validator hooks the same
#: schema objects on every request (the loaded spec's own dicts), so each is built once: a
#: jsonschema validator costs more to build than to run on a small document. The schema is
#: kept with its validator, so an id is never mistaken for a later object's; the table is
#: bounded anyway (a few hundred schemas exist).
_BUILT: dict[tuple[type, int], tuple[Any, Any, Any]] = {}
MAX_BUILT = 4096
#: What each validator class adds to Draft 4, for the fast path's translation (fast.py).
_RULES = {
    RequestValidator: {"nullable": True, "response": False},
    ResponseValidator: {"nullable": True, "response": True},
    Draft4Validator: {"nullable": False, "response": False},
}


def _build(validator_class: Any, schema: Any) -> tuple[Any, Any, Any]:
    key = (validator_class, id(schema))
    hit = _BUILT.get(key)
    if hit is not None and hit[0] is schema:
        return hit
    if len(_BUILT) >= MAX_BUILT:
        _BUILT.clear()
    validator = validator_class(schema, format_checker=FORMATS)
    rules = _RULES.get(validator_class)
    quick = None if rules is None else compile_fast(schema, **rules)
    entry = _BUILT[key] = (schema, validator, quick)
    return entry


def built(validator_class: Any, schema: Any) -> Any:
    """The validator of `validator_class` (with this module's formats) for `schema`."""
    return _build(validator_class, schema)[1]


def errors_of(validator_class: Any, schema: Any, value: Any) -> list[ValidationError]:
    """Every way `value` fails `schema`, ordered by where; none without a walk in Python when
    the compiled fast path accepts it (app/contract/fast.py)."""
    _, validator, quick = _build(validator_class, schema)
    if quick is not None and quick.is_valid(value):
        return []
    return sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))


def is_valid(validator_class: Any, schema: Any, value: Any) -> bool:
    _, validator, quick = _build(validator_class, schema)
    if quick is not None and quick.is_valid(value):
        return True
    return bool(validator.is_valid(value))


def describe(error: ValidationError) -> str:
    """jsonschema's message with the offending value cut to a short slice (its own message
    quotes the whole instance: a 1.5 MB body made a 6 MB error)."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > ECHO_CHARS and message.startswith(shown):
        message = clip(shown) + message[len(shown) :]
    message = clip(message, MESSAGE_CHARS)
    return f"{message} - '{where(error.absolute_path)}'" if error.absolute_path else message


class ValidationProblem(BadRequestProblem):  # type: ignore[misc]  # an untyped library's class
    """A 400 that carries every schema failure, for AlienError's `context.errors`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(detail=errors[0] if errors else "Request validation failed")
        self.errors = errors


class AlienJSONRequestBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]  # an untyped library's class
    limits: Limits  # bound by validator_map()

    @property
    def _validator(self) -> Any:
        return built(RequestValidator, self._schema)

    async def _parse(self, stream: Any, scope: Any) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw:
            return None
        try:  # the same parser Flask hands the handlers (app/contract/limits.py)
            body = strict_loads(raw)
        except NotJson as exc:
            raise ValidationProblem([str(exc)]) from exc
        if SURROGATE_ESCAPE.search(raw.decode()) and _has_lone_surrogate(body):
            raise ValidationProblem(["Request body escapes a lone UTF-16 surrogate"])
        return body

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if not self._nullable and body is None:
            raise ValidationProblem(["Request body must not be empty"])
        problems = self.limits.body_errors(body, MAX_LISTED_ERRORS)
        if problems:  # before the schema: a refused body is never walked by jsonschema
            raise ValidationProblem(problems)
        errors = errors_of(RequestValidator, self._schema, body)
        if errors:
            raise ValidationProblem([describe(e) for e in errors[:MAX_LISTED_ERRORS]])
        return None


COMBINATORS = ("allOf", "anyOf", "oneOf")


def _nullable_beside_combinator(schema: Any) -> bool:
    return (
        isinstance(schema, dict)
        and schema.get("nullable") is True
        and "type" not in schema
        and any(k in schema for k in COMBINATORS)
    )


def omit_absent_nulls(schema: dict[str, Any], value: Any) -> bool:
    """Drop, from a valid `value`, the optional keys that are `null` where `schema` makes them
    nullable only beside a combinator: utoipa's `Option<T>` that serde skips when `None`, so the
    `null` means "absent". Returns whether anything was dropped. Untyped parts (`{}`) are left
    as they are."""
    changed = False
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        required = set(schema.get("required") or ())
        for key in list(value):
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is None:
                continue
            if value[key] is None:
                if _nullable_beside_combinator(sub) and key not in required:
                    del value[key]
                    changed = True
            else:
                changed |= omit_absent_nulls(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            changed |= omit_absent_nulls(schema["items"], item)
    if not isinstance(value, dict | list):
        return changed
    for sub in schema.get("allOf") or ():
        changed |= omit_absent_nulls(sub, value)
    for key in ("anyOf", "oneOf"):
        branches = [sub for sub in schema.get(key) or () if _is_valid(sub, value)]
        for sub in branches[:1] if key == "oneOf" else branches:
            changed |= omit_absent_nulls(sub, value)
    return changed


def _is_valid(schema: dict[str, Any], value: Any) -> bool:
    return is_valid(ResponseValidator, schema, value)


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    """JSON may escape half a UTF-16 pair (`"\\ud800"`); no UTF-8 text, and so no database,
    can hold the result."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class AlienJSONResponseBodyValidator(JSONResponseBodyValidator):  # type: ignore[misc]  # an untyped library's class
    @property
    def validator(self) -> Any:
        return built(ResponseValidator, self._schema)

    def _parse(self, stream: Any) -> Any:
        """Connexion's parse (json.loads of the decoded text), by orjson where that gives the
        same value: UTF-8, no integer beyond 64 bits (orjson refuses those: json reads them)."""
        raw = b"".join(stream)
        if raw and self._encoding.lower() in UTF8:
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
        return super()._parse(iter((raw,)))

    def _validate(self, body: Any) -> None:
        if not is_valid(ResponseValidator, self._schema, body):
            super()._validate(body)  # jsonschema's verdict, and its message


class AlienParameterValidator(ParameterValidator):  # type: ignore[misc]  # an untyped library's class
    """Path and query values: the limits (query only) first, then the schema, each failure one
    sentence that quotes a short slice of the value at most (Connexion's is a multi-line dump)."""

    limits: Limits  # bound by validator_map()
    strict_query: bool  # bound by validator_map()

    def validate_parameter(
        self, parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None
    ) -> str | None:
        if value is None:
            unset: str | None = ParameterValidator.validate_parameter(parameter_type, value, param)
            return unset
        what = f"{parameter_type.capitalize()} parameter '{param['name']}'"
        if parameter_type == "query":  # a path id too long to exist is the resource's 404
            problem = self.limits.parameter_error(parameter_type, param["name"], value)
            if problem is not None:
                return problem
        schema = param.get("schema", param)
        error = best_match(errors_of(Draft4Validator, schema, value))
        return None if error is None else f"{what} is not valid: {describe(error)}"

    @functools.cached_property
    def _query_names(self) -> tuple[set[str], dict[str, str]]:
        """The declared query parameters, and each by its Python name (built once)."""
        declared = {p["name"] for p in self.parameters.get("query", ())}
        return declared, {pythonic(name): name for name in declared}

    def validate_request(self, request: Any) -> None:
        """`?Limit=1` is not `limit`, but Connexion's pythonic names would make it the handler's
        `limit` argument, unvalidated (or log an ERROR and drop it). Such a look-alike is
        ignored, as the reference ignores every unknown parameter, with a WARNING naming what
        was meant; with `strict_query` (ALIEN_STRICT_QUERY, test mode) it is a 400."""
        declared, by_python_name = self._query_names
        lookalikes = {}
        for key in request.query_params:
            if key in declared:
                continue
            meant = by_python_name.get(pythonic(key))
            if meant is not None:
                lookalikes[key] = meant
        for key, meant in lookalikes.items():
            message = f"Query parameter '{clip(key)}' is unknown; did you mean '{meant}'?"
            if self.strict_query:
                raise BadRequestProblem(detail=message)
            log.warning("%s It is ignored.", message)
        if lookalikes:  # the layers inside (the handler's arguments) never see it
            request.scope["query_string"] = _without(request.scope["query_string"], lookalikes)
        super().validate_request(request)


def _without(query: bytes, keys: Any) -> bytes:
    """The raw query string without the pairs named by `keys`, the rest byte for byte."""
    kept = [
        pair
        for pair in query.split(b"&")
        if unquote_plus(pair.split(b"=", 1)[0].decode("latin-1")) not in keys
    ]
    return b"&".join(kept)


def validator_map(limits: Limits, strict_query: bool = False) -> dict[str, Any]:
    """Connexion's `validator_map`, with this server's validators bound to its limits and its
    rule for look-alike query parameters."""
    body = type("BodyValidator", (AlienJSONRequestBodyValidator,), {"limits": limits})
    parameter = type(
        "ParameterValidator",
        (AlienParameterValidator,),
        {"limits": limits, "strict_query": strict_query},
    )
    return {
        "parameter": parameter,
        "body": MediaTypeDict(
            {
                "*/*json": body,
                "application/x-www-form-urlencoded": FormDataValidator,
                "multipart/form-data": MultiPartFormDataValidator,
            }
        ),
        "response": MediaTypeDict(
            {"*/*json": AlienJSONResponseBodyValidator, "text/plain": TextResponseBodyValidator}
        ),
    }


@cache
def _stack_schema() -> dict[str, Any]:
    schema = component_schema("Stack")
    RequestValidator.check_schema(schema)
    built(RequestValidator, schema)  # and its fast path, compiled now
    return schema


def compile_schemas() -> None:
    """Compile the spec-derived validators once, at start-up, not on the first request."""
    _stack_schema()
    _resolved_schemas()


def stack_error(stack: Any) -> str | None:
    """The first way `stack` fails the spec's own `#/components/schemas/Stack`, or None."""
    errors = errors_of(RequestValidator, _stack_schema(), stack)
    return describe(errors[0]) if errors else None


@cache
def _resolved_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = resolve_refs(raw_spec())["components"]["schemas"]
    return schemas


class SpecContract:
    """The spec's shapes that handlers and models need beyond what Connexion checks
    (models.contract.Contract); given to the handlers whose `handlers.OPERATIONS` entry takes
    `contract`."""

    @property
    def stack_platforms(self) -> tuple[str, ...]:
        """The platforms a release may carry a stack for (StackByPlatform's properties)."""
        return schema_properties("StackByPlatform")

    @property
    def git_fields(self) -> tuple[str, ...]:
        return schema_properties("GitMetadata")

    @property
    def stack_settings_fields(self) -> tuple[str, ...]:
        """The settings a deployment keeps (StackSettings' properties, docs/behaviour.md §10)."""
        return schema_properties("StackSettings")

    def stack_problem(self, stack: Any) -> str | None:
        """The first way `stack` fails the spec's own `#/components/schemas/Stack`, or None."""
        return stack_error(stack)

    def read(self, schema_name: str, value: Any) -> Any:
        """`value`, valid against the named component schema, with its "absent" nulls dropped
        (see the module docstring). Changes `value` in place and returns it."""
        omit_absent_nulls(_resolved_schemas()[schema_name], value)
        return value
