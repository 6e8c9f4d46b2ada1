"""The recording masks every token it could hold (docs/behaviour.md §13.6): every token form (admin
tokens with '-' and '_', group and deployment tokens) wherever it appears: the path, the query, a
request body (values, keys, text that is not JSON), and the tokens a response hands out.
Encoded forms too: percent-encoded (once or twice) and JSON-escaped.

The check decodes the record itself (`uncovered`) rather than trusting the mask's own decoding."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from app.testmode.masking import mask
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[3]
#: Every character an admin token may hold, '-' and '_' early (a mask that stops there leaks).
ADMIN = "ax_admin_a-b_" + "Zz9-_" * 10
DG = "ax_dg_" + "0123456789abcdef" * 2 + "01234567"
DEPLOY = "ax_deploy_" + "fedcba9876543210" * 2 + "76543210"
FORMS = {"admin": ADMIN, "group": DG, "deployment": DEPLOY}
SHOWN = 12
ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")


def uncovered(text: str) -> str:
    """`text` with every percent-encoding and JSON escape undone, however nested."""
    while True:
        decoded = ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), re.sub(
            r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text))  # fmt: skip
        if decoded == text:
            return text
        text = decoded


def assert_hidden(text: str, *tokens: str) -> None:
    plain = uncovered(text)
    for token in tokens:
        assert token[SHOWN:] not in plain, (token, text)


def encodings(token: str) -> dict[str, str]:
    """A token as a client may send it: a token's characters need no encoding, but may have it."""
    once = token.replace("_", "%5F").replace("-", "%2D")
    return {
        "plain": token,
        "percent-encoded": once,
        "every character percent-encoded": "".join(f"%{b:02X}" for b in token.encode()),
        "percent-encoded twice": quote(once, safe=""),
        "json-escaped": "".join(f"\\u{ord(c):04x}" if c in "_-" else c for c in token),
    }


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("encoding", list(encodings(ADMIN)))
def test_every_form_and_encoding_is_cut_to_its_display_prefix(form: str, encoding: str) -> None:
    token = FORMS[form]
    hidden = encodings(token)[encoding]
    for text in (hidden, f"a=1&t={hidden}&b=%20", f"{hidden},{hidden}", f"/v1/x/{hidden}/y"):
        masked = mask(text)
        assert_hidden(masked, token)
        assert token[:SHOWN] + "…" in masked, (text, masked)


def test_text_without_a_token_is_kept_as_it_is() -> None:
    for text in ("limit=2&name=a%20b", '{"a": "\\u00e9"}', "ax_other_" + "1" * 40, "%zz \\u12"):
        assert mask(text) == text


@pytest.fixture
def recorded(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    record = tmp_path / "record.ndjson"
    test_settings = dataclasses.replace(
        settings, admin_token=ADMIN, test_mode=True, test_record=record,
        fixtures=ROOT / "docs" / "fixtures.example.yaml",
    )  # fmt: skip
    with TestClient(create_app(test_settings)) as client:
        yield client, record


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tokens_a_response_hands_out_are_masked(recorded: tuple[TestClient, Path]) -> None:
    client, path = recorded
    minted = client.post("/v1/deployment-groups/dg_fixture_main/tokens", headers=bearer(ADMIN))
    group_token = minted.json()["token"]
    created = client.post(
        "/v1/deployments", json={"name": "d", "platform": "aws"}, headers=bearer(group_token)
    )
    deployment_token = created.json()["token"]
    mint, create = records(path)
    assert mint["response"]["body"]["token"] == group_token[:SHOWN] + "…"
    assert create["response"]["body"]["token"] == deployment_token[:SHOWN] + "…"
    assert_hidden(path.read_text(), ADMIN, group_token, deployment_token)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("encoding", ["plain", "percent-encoded", "percent-encoded twice"])
def test_tokens_in_the_path_and_the_query_are_masked(
    recorded: tuple[TestClient, Path], form: str, encoding: str
) -> None:
    client, path = recorded
    token = FORMS[form]
    hidden = encodings(token)[encoding]
    client.get(f"/v1/deployments/{hidden}", headers=bearer(ADMIN))
    client.get(f"/v1/deployments?limit=2&cursor={hidden}", headers=bearer(ADMIN))
    in_path, in_query = records(path)
    assert in_path["path"].startswith("/v1/deployments/" + token[:SHOWN] + "…")
    assert token[:SHOWN] + "…" in in_query["query"]
    assert_hidden(path.read_text(), token)


@pytest.mark.parametrize("form", FORMS)
def test_tokens_in_request_bodies_are_masked(recorded: tuple[TestClient, Path], form: str) -> None:
    client, path = recorded
    token = FORMS[form]
    admin = bearer(ADMIN)
    client.post("/v1/deployment-groups", json={"name": token}, headers=admin)  # echoed back
    client.post("/v1/sync/acquire", json={"session": "s", token: [token]}, headers=admin)  # a key
    client.post("/v1/deployment-groups", content=f'{{"name": "{token}",', headers=admin)  # not JSON
    escaped = encodings(token)["json-escaped"]
    client.post("/v1/deployment-groups", content=f'{{"name": "{escaped}",', headers=admin)
    as_value, as_key, as_text, as_escaped = records(path)
    assert as_value["request"]["body"] == {"name": token[:SHOWN] + "…"}
    assert as_value["response"]["body"]["name"] == token[:SHOWN] + "…"
    assert token[:SHOWN] + "…" in as_key["request"]["body"]
    assert as_text["response"]["status"] == as_escaped["response"]["status"] == 400
    assert_hidden(path.read_text(), token)
