"""CORS for browser dashboards (docs/behaviour.md §10)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOT_FOR_BROWSERS = frozenset({"/metrics"})


class Cors(CORSMiddleware):
    """Cross-origin calls from browser dashboards (docs/behaviour.md §10), as the reference's
    `CorsLayer::permissive()` by default: any origin, method and header, every header exposed.

    A preflight from an origin that is not allowed is not answered as one (Starlette would send
    a plain-text 400): it reaches the API like any OPTIONS request, which answers 405 with an
    AlienError, and the browser, finding no `Access-Control-Allow-Origin`, blocks the call.

    `/metrics` is for scrapers, not browsers: it never carries CORS headers, so a web page on
    another origin cannot read it.
    """

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["*"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in NOT_FOR_BROWSERS:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if (
                origin is not None
                and "access-control-request-method" in headers
                and not self.is_allowed_origin(origin)
            ):
                await self.app(scope, receive, send)
                return
        if scope["type"] == "http" and not any(k == b"origin" for k, _ in scope["headers"]):
            await self.app(scope, receive, _varying(send))  # no CORS to answer: only `Vary`
            return
        await super().__call__(scope, receive, send)


def _varying(send: Send) -> Send:
    """`send` that adds `Origin` to a response's `Vary`, as Starlette's CORS does for a request
    without an `Origin` (so a cache keeps the answers to browsers apart): the `vary` headers
    become one, where the first was, with `Origin` last. Without Starlette's two header
    objects per response."""

    async def send_varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            at = [i for i, (k, _) in enumerate(headers) if k == b"vary"]
            joined = b", ".join([*(headers[i][1] for i in at), b"Origin"])
            for i in reversed(at[1:]):
                del headers[i]
            if at:
                headers[at[0]] = (b"vary", joined)
            else:
                headers.append((b"vary", joined))
            message["headers"] = headers
        await send(message)

    return send_varying
