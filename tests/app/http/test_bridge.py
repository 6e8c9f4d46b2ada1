"""The bridge builds Flask's WSGI environ itself (app/http/bridge.py `wsgi_environ`): it must be
the environ a2wsgi, Connexion's own bridge, builds from the same request."""

from __future__ import annotations

import io
from typing import Any

import pytest
from a2wsgi.wsgi import build_environ

from app.http.bridge import _wsgi_text, wsgi_environ

SCOPES: list[dict[str, Any]] = [
    {"type": "http", "method": "GET", "path": "/v1/deployments/x", "query_string": b"limit=5",
     "http_version": "1.1", "headers": [(b"host", b"h"), (b"authorization", b"Bearer t")],
     "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 5555), "scheme": "http"},
    {"type": "http", "method": "POST", "path": "/mount/v1/x", "root_path": "/mount",
     "query_string": b"", "http_version": "1.0", "scheme": "https",
     "headers": [(b"content-type", b"application/json"), (b"content-length", b"2"),
                 (b"x-many", b"a"), (b"x-many", b"b"), (b"accept-encoding", b"\xe9")]},
    {"type": "http", "method": "GET", "path": "/caf\u00e9", "query_string": b"a=%20",
     "http_version": "2", "headers": [], "server": None},
]  # fmt: skip


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("script_name", ["", "/app", "/caf\u00e9"])
def test_the_environ_is_a2wsgis(
    scope: dict[str, Any], script_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRIPT_NAME", script_name)
    expected: dict[str, Any] = dict(build_environ(scope, io.BytesIO(b"{}")))  # type: ignore[arg-type]
    got = wsgi_environ(scope, b"{}", _wsgi_text(script_name))
    assert got.pop("wsgi.input").read() == expected.pop("wsgi.input").read()
    assert got == expected
