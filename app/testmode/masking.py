"""The one masking rule for what test mode writes down (the journal, `ALIEN_TEST_RECORD`):
every token, of every kind, cut to its first 12 characters and "…"."""

from __future__ import annotations

import re
from typing import Any

#: Every token form (docs/behaviour.md §1): `ax_admin_`, `ax_dg_`, `ax_deploy_`, then the
#: secret, whose alphabet includes `-` and `_`.
TOKEN = re.compile(r"ax_(?:admin|dg|deploy)_[A-Za-z0-9_-]+")
SHOWN = 12


def mask(text: str) -> str:
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
