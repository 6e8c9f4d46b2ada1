"""The `bearer` scheme the spec references but never defines (docs/behaviour.md §2).

It runs inside Connexion's security layer, before the body is validated, so an unauthenticated
caller learns nothing about the request shape.

A token's lookup is cached for at most `ALIEN_AUTH_CACHE_SECONDS` (1 s by default), keyed by
the token's hash; a cached answer is served on the event loop, with no database and no thread.
A miss looks the token up in a worker thread, never on the event loop. Only tokens that were
accepted are cached (a token minted a moment ago is never refused from the cache), and an entry
is trusted only while the shared revocation value (models/revocation.py) is the one it was
looked up under: a revoked or deleted token is refused at once by every worker of the instance,
and within the cache's lifetime by any other instance on the same database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connexion.exceptions import OAuthProblem
from connexion.security import BearerSecurityHandler
from starlette.concurrency import run_in_threadpool

from models import revocation
from models.db import request_connection, route_name
from models.tokens import DEV_CALLER, Caller, Token, hash_token

PREFIX = "Bearer "


class TokenCache:
    """Accepted lookups, by token hash, each for `seconds` (0: no cache). At most `size` entries;
    a full cache starts over (a flood of distinct valid tokens costs lookups, not memory)."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[Caller, float, bytes]] = {}
        revocation.on_revocation(self.forget)

    def forget(self) -> None:
        self._entries.clear()

    def get(self, digest: str) -> Caller | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        caller, expires, generation = entry
        if time.monotonic() >= expires or generation != revocation.shared.current():
            self._entries.pop(digest, None)
            return None
        return caller

    def put(self, digest: str, caller: Caller, generation: bytes) -> None:
        """Keep `caller`, looked up after the revocation value was `generation`."""
        if self.seconds <= 0:
            return
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[digest] = (caller, time.monotonic() + self.seconds, generation)


def lookup(raw: str) -> Caller | None:
    with request_connection():
        return Token.authenticate(raw)


async def authenticate(header: str | None, dev_mode: bool, cache: TokenCache) -> Caller:
    """Check the header's form, then the token: from the cache, or (off the event loop) the
    database."""
    if dev_mode:
        return DEV_CALLER
    if header is None:
        raise OAuthProblem(detail="Authentication required")
    if not header.startswith(PREFIX):
        raise OAuthProblem(detail="Authorization header must use Bearer scheme")
    raw = header[len(PREFIX) :]
    digest = route_name() + hash_token(raw)  # a test-mode namespace has tokens of its own
    caller = cache.get(digest)
    if caller is not None:
        return caller
    generation = revocation.shared.current()  # before the lookup: a revocation during it wins
    caller = await run_in_threadpool(lookup, raw)
    if caller is None:
        raise OAuthProblem(detail="Invalid token")
    cache.put(digest, caller, generation)
    return caller


def bearer_handler(dev_mode: bool, cache: TokenCache) -> type[BearerSecurityHandler]:
    """A security handler class for Connexion's `security_map`, bound to this app's mode."""

    class AlienBearer(BearerSecurityHandler):  # type: ignore[misc]  # an untyped library's class
        def get_fn(self, security_scheme: Any, required_scopes: Any) -> Callable[..., Any]:
            async def verify(request: Any) -> dict[str, Any]:
                caller = await authenticate(request.headers.get("Authorization"), dev_mode, cache)
                return {"sub": caller.token_id, "caller": caller}

            return verify

    return AlienBearer
