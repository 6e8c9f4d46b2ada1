"""The request body's deadline (docs/behaviour.md §12)."""

from __future__ import annotations

import asyncio

from connexion.exceptions import ProblemException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.body import has_body


class BodyDeadline:
    """The whole request body must arrive within `seconds`, else 408 and the connection closes
    (docs/behaviour.md §12). Every reader of the body (the body limit, Connexion's validators)
    reads through this deadline; the 408 is raised from `receive` and rendered by the error
    handlers like any other problem.

    The deadline measures the body's arrival only: the time spent waiting in `receive` for
    bytes that have not arrived yet, summed over every chunk of the body. Time the server
    spends elsewhere (authentication waiting on the database, a busy worker) is not the
    client's, and a body that is already there is handed over at once whatever the clock says.

    A response that starts before the body has fully arrived (a 408, 413, 415, or a handler
    that ignored the body) says `Connection: close`, so an unread remainder never holds the
    connection. Sits outside Connexion's exception middleware to see those responses too."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(dict(scope["headers"])):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        left = self.seconds  # of waiting for the client, for the whole body
        complete = False

        async def receive_in_time() -> Message:
            nonlocal complete, left
            if complete:  # only a disconnect is left to wait for: no deadline on that
                return await receive()
            started = loop.time()
            try:  # a timer, not a task per chunk: a body already there is taken at once
                async with asyncio.timeout(max(left, 0)):
                    message = await receive()
            except TimeoutError:
                raise ProblemException(
                    status=408, title="Request Timeout",
                    detail=f"The request body did not arrive within {self.seconds:g} seconds",
                ) from None  # fmt: skip
            finally:
                left -= loop.time() - started
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"connection", b"close")],
                }
            await send(message)

        await self.app(scope, receive_in_time, send_closing)
