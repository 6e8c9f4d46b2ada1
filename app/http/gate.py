"""What the request head alone decides, before Connexion sees the request."""

from __future__ import annotations

from connexion.exceptions import ProblemException
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.body import BodyTooLarge, has_body, read_body, replay
from app.http.request_log import CONTROL

FORM_TYPES = (b"multipart/", b"application/x-www-form-urlencoded")
JSON = b"application/json"


def is_json_type(media_type: bytes) -> bool:
    """Whether a Content-Type names JSON as axum's `Json` decides it (with the `mime` crate):
    type `application`, subtype `json` or a `+json` suffix, in any case, whatever parameters
    follow (`APPLICATION/JSON`, `application/vnd.api+json; charset=utf-8`)."""
    kind, _, subtype = media_type.split(b";")[0].strip().lower().partition(b"/")
    return kind == b"application" and (subtype == b"json" or subtype.endswith(b"+json"))


#: Where a trailing slash is part of the path (Swagger UI's index, `/` itself).
SLASHED = ("/ui/",)


def routable(path: str) -> bool:
    """False for a path no route may match: a control character, an empty segment, or a
    trailing slash outside the paths that have one."""
    if CONTROL.search(path) or "//" in path:
        return False
    return path == "/" or not path.endswith("/") or path.startswith(SLASHED)


class RequestGate:
    """What the request head alone decides, in one pass before Connexion sees the request:

    - a control character in the path is a 404: Connexion's router cannot match such a path,
      and Flask would route it without the operation context (a 500);
    - so is an empty segment (`//health`, `/v1//whoami`), for the same reason, and a trailing
      slash (`/v1/deployments/`): the reference answers 404, where Starlette's router would
      redirect to a Location built from the client's Host header (Swagger UI's own pages,
      under `/ui/`, keep theirs);
    - a form body (`multipart/*`, `application/x-www-form-urlencoded`) is a 415 before anything
      reads it (docs/behaviour.md §12): no operation takes one, and Connexion's form validators
      would otherwise read and parse it first, holding the worker while a client trickles it;
    - a body sent without Content-Type is taken as JSON, the only type this API consumes:
      Connexion already validates such a body as JSON, but Flask would then hand the handler
      the raw bytes; naming the type once, here, makes both layers agree;
    - any JSON type (`is_json_type`: `APPLICATION/JSON`, `application/*+json`, with
      parameters) is named `application/json` for the layers inside, for the same reason:
      Connexion and Flask each compare the type case-sensitively and in their own way, and
      a body they disagreed on reached the handler as bytes (a 500);
    - a body over `max_bytes` is a 413, declared (Content-Length) or streamed (chunked). A
      chunked body is read here, up to the limit, and handed on with its Content-Length set:
      Connexion's validators take a request without Content-Length to have no body at all.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> ProblemException:
        return ProblemException(
            status=413, title="Payload Too Large",
            detail=f"Request body exceeds the limit of {self.max_bytes} bytes",
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not routable(scope["path"]):
            raise ProblemException(status=404, title="Not Found", detail="Not found")
        headers = dict(scope["headers"])
        if not has_body(headers):
            await self.app(scope, receive, send)
            return
        content_type = headers.get(b"content-type")
        if content_type is None or (content_type != JSON and is_json_type(content_type)):
            typed = [
                *((k, v) for k, v in scope["headers"] if k != b"content-type"),
                (b"content-type", JSON),
            ]
            scope = {**scope, "headers": typed}
        elif content_type.split(b";")[0].strip().lower().startswith(FORM_TYPES):
            raise ProblemException(
                status=415, title="Unsupported Media Type",
                detail="Form bodies are not accepted; send application/json",
            )  # fmt: skip
        declared = headers.get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large()
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLarge:
            raise self._too_large() from None
        scope = dict(scope)
        scope["headers"] = [
            *((k, v) for k, v in scope["headers"] if k != b"transfer-encoding"),
            (b"content-length", str(len(body)).encode()),
        ]
        await self.app(scope, replay(body, receive), send)
