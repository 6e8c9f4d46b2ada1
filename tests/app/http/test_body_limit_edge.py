"""The body limit at its edge (docs/behaviour.md §11): a body of exactly ALIEN_MAX_BODY_BYTES is
served, one byte more is a 413, whether its length is declared or it is streamed (chunked)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from app.settings import Settings
from tests.helpers import assert_error

LIMIT = 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_body_bytes=LIMIT)


def body_of(size: int) -> bytes:
    """A valid group body of exactly `size` bytes (JSON allows the padding)."""
    start, end = b'{"name": "edge"', b"}"
    return start + b" " * (size - len(start) - len(end)) + end


def chunked(body: bytes) -> Iterator[bytes]:
    yield from (body[i : i + 100] for i in range(0, len(body), 100))


@pytest.mark.parametrize("streamed", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT, LIMIT + 1])
def test_a_body_at_the_limit_is_served_one_byte_over_is_413(client, admin, streamed, size):
    body = body_of(size)
    assert len(body) == size
    headers = admin | {"Content-Type": "application/json"}
    content = chunked(body) if streamed else body
    response = client.post("/v1/deployment-groups", content=content, headers=headers)
    assert ("content-length" in response.request.headers) is not streamed
    if size <= LIMIT:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "edge"
    else:
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
