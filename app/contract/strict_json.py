"""Strict JSON (docs/behaviour.md §11): one parser for every request body, one encoder for
every response.

`strict_loads` is what the request validator runs and what Flask hands the handlers
(`StrictJSONProvider`), so both layers accept exactly the same text. It refuses what RFC 8259
does not define (`NaN`, `Infinity`, `-Infinity`, numbers that overflow to them), integers
longer than Python converts, instead of a 500, and an object that names a key twice (RFC 8259
leaves its meaning open; the reference refuses it).
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from typing import Any

from connexion.frameworks.flask import FlaskJSONProvider
from connexion.jsonifier import JSONEncoder, Jsonifier
from flask import Response

from app.contract.limits import clip


class NotJson(ValueError):
    """Text that is not JSON this server accepts; the message says why, briefly."""


def _constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON (RFC 8259); send a number or null")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotJson(f"Number {clip(text)} is out of range")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: `{"name":"a","name":"b"}` is refused, as the
    reference's serde refuses a duplicate field, rather than silently keeping the last."""
    value = dict(pairs)
    if len(value) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        duplicate = next(key for key, count in counts.items() if count > 1)
        raise NotJson(f"Duplicate key '{clip(duplicate)}' in an object")
    return value


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, object_pairs_hook=_object)


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON text, raising NotJson (a ValueError) for anything this server refuses."""
    if isinstance(text, bytes):
        try:  # JSON is UTF-8 (RFC 8259 §8.1), whatever charset a header claims
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotJson(f"Request body is not valid UTF-8: {exc.reason}") from exc
    try:
        return _DECODER.decode(text)
    except NotJson:
        raise
    except json.JSONDecodeError as exc:
        raise NotJson(f"Malformed JSON: {exc}") from exc
    except ValueError as exc:  # the only other: int() refusing a literal (sys.int_info)
        raise NotJson(
            f"An integer literal is longer than {sys.get_int_max_str_digits()} digits"
        ) from exc
    except RecursionError as exc:  # far deeper than any limit: the C scanner gave up
        raise NotJson("Request body is nested too deeply") from exc


def compact_dumps(obj: Any) -> str:
    """The one encoder of every JSON body this server writes (Connexion's handlers, Flask's own
    views such as /ready): compact, UTF-8 as it is, no trailing newline, as the reference's
    serde_json writes it (`/health` is the 20 bytes `{"status":"healthy"}`); `NaN` and the
    infinities are refused (a ValueError, so a 500), never written as the literals RFC 8259
    does not have."""
    return json.dumps(
        obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, cls=JSONEncoder
    )


class CompactJsonifier(Jsonifier):  # type: ignore[misc]  # an untyped library's class
    """Connexion's encoder of what handlers return, as `compact_dumps` (Connexion's own adds a
    newline)."""

    def dumps(self, data: Any, **kwargs: Any) -> str:
        return compact_dumps(data)


class StrictJSONProvider(FlaskJSONProvider):  # type: ignore[misc]  # an untyped library's class
    """Flask's JSON: it parses as the request validator does (so handlers get the body the
    validator accepted) and writes as Connexion's handlers do (`compact_dumps`: Flask's own
    sorts keys and adds a newline)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return compact_dumps(obj)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return Response(compact_dumps(obj), mimetype=self.mimetype)
