"""The one reader of a request body, for every layer that needs the whole of it."""

from __future__ import annotations

from starlette.types import Message, Receive


class BodyTooLarge(Exception):
    """More than the reader's `max_bytes` arrived."""


async def read_body(receive: Receive, max_bytes: int | None = None) -> bytes:
    """The request body, every chunk joined, read up to the end or a disconnect; past
    `max_bytes` it stops reading and raises BodyTooLarge."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the layers inside, once `body` has been read whole by a layer outside:
    the body first, then whatever the connection says next (a disconnect)."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def has_body(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length", b"0") not in (b"0", b"")
    return declared or b"transfer-encoding" in headers
