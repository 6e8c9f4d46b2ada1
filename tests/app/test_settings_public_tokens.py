"""The admin tokens the documentation publishes are refused outside test mode (issue 21)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import PUBLIC_ADMIN_TOKENS, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "docs").glob("*.yaml")),
]


def test_every_admin_token_the_documentation_shows_is_listed_as_public():
    shown = {
        token
        for document in DOCUMENTS
        if document.is_file()
        for token in re.findall(r"ax_admin_[A-Za-z0-9_-]{40,200}", document.read_text())
    }
    assert shown and shown <= PUBLIC_ADMIN_TOKENS, shown - PUBLIC_ADMIN_TOKENS


@pytest.mark.parametrize("token", sorted(PUBLIC_ADMIN_TOKENS))
def test_a_public_admin_token_is_refused_outside_test_mode(token):
    with pytest.raises(ConfigError, match="public example token") as refused:
        Settings.from_env({"ALIEN_ADMIN_TOKEN": token})
    assert token not in str(refused.value)
    assert Settings.from_env({"ALIEN_ADMIN_TOKEN": token, "ALIEN_TEST_MODE": "1"}).admin_token
