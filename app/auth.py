"""The `bearer` scheme the spec references but never defines (docs/behaviour.md §2).

It runs inside Connexion's security layer, before the body is validated, so an unauthenticated
caller learns nothing about the request shape. The token lookup runs in a worker thread with
its own connection context, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connexion.exceptions import OAuthProblem
from connexion.security import BearerSecurityHandler
from starlette.concurrency import run_in_threadpool

from models.db import db
from models.tokens import DEV_CALLER, Caller, Token

PREFIX = "Bearer "


def lookup(raw: str) -> Caller | None:
    with db.connection_context():
        return Token.authenticate(raw)


async def authenticate(header: str | None, dev_mode: bool) -> Caller:
    """Check the header's form, then (off the event loop) the token itself."""
    if dev_mode:
        return DEV_CALLER
    if header is None:
        raise OAuthProblem(detail="Authentication required")
    if not header.startswith(PREFIX):
        raise OAuthProblem(detail="Authorization header must use Bearer scheme")
    caller = await run_in_threadpool(lookup, header[len(PREFIX) :])
    if caller is None:
        raise OAuthProblem(detail="Invalid token")
    return caller


def bearer_handler(dev_mode: bool) -> type[BearerSecurityHandler]:
    """A security handler class for Connexion's `security_map`, bound to this app's mode."""

    class AlienBearer(BearerSecurityHandler):
        def get_fn(self, security_scheme: Any, required_scopes: Any) -> Callable[..., Any]:
            async def verify(request: Any) -> dict[str, Any]:
                caller = await authenticate(request.headers.get("Authorization"), dev_mode)
                return {"sub": caller.token_id, "caller": caller}

            return verify

    return AlienBearer
