"""The one masking rule for what test mode writes down (the journal, `ALIEN_TEST_RECORD`):
every token, of every kind, wherever it appears (path, query, headers, bodies), cut to its first
12 characters and "…"."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

#: Every token form (docs/behaviour.md §1): `ax_admin_`, `ax_dg_`, `ax_deploy_`, then the
#: secret; admin tokens take letters, digits, '-' and '_' (app/settings.py), group and
#: deployment tokens are hex. Matching more than a token only masks more.
TOKEN = re.compile(r"ax_(?:admin|dg|deploy)_[A-Za-z0-9_-]+")
SHOWN = 12
JSON_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")


def _unescape(text: str) -> str:
    return JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


#: How a token may be hidden in recorded text: percent-encoded (a path or a query) or
#: JSON-escaped (a body that does not parse as JSON), once or several times, mixed.
DECODINGS: tuple[Callable[[str], str], ...] = (unquote, _unescape)


def _decoded(text: str) -> str:
    """`text` decoded by whichever decoding changes it, again, until none does (each change
    shortens the text, so this ends)."""
    while True:
        for decode in DECODINGS:
            decoded = decode(text)
            if decoded != text:
                text = decoded
                break
        else:
            return text


def mask(text: str) -> str:
    """`text` with every token cut to its first 12 characters and "…". A text that hides a
    token behind percent-encoding or JSON escapes is returned decoded, so the cut shows."""
    decoded = _decoded(text)
    if TOKEN.findall(decoded) != TOKEN.findall(text):
        text = decoded
    return TOKEN.sub(lambda m: m.group(0)[:SHOWN] + "…", text)


def masked(value: Any) -> Any:
    """A JSON value with `mask` applied to every string in it, keys included."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, dict):
        return {mask(k): masked(v) for k, v in value.items()}
    return value
