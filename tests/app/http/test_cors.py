"""docs/behaviour.md §10: browsers on other origins may call the API (ALIEN_CORS_ORIGINS).

reference: crates/alien-manager/src/routes/mod.rs: `.layer(CorsLayer::permissive())`: any
origin, method and header; every response header exposed.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.settings import Settings

DASHBOARD = "https://dash.example.com"


def preflight(client, path, origin=DASHBOARD, method="POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@pytest.mark.parametrize(
    ("path", "method"),
    [("/v1/deployments", "POST"), ("/v1/deployments/dep_x", "DELETE"), ("/v1/whoami", "GET")],
)
def test_any_origin_may_preflight_by_default(client, path, method):
    response = preflight(client, path, method=method)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert method in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"


def test_responses_to_another_origin_allow_it_and_expose_every_header(client, admin):
    response = client.get("/v1/whoami", headers=admin | {"Origin": DASHBOARD})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "*"


def test_error_responses_carry_the_headers_too(client):
    """A dashboard must be able to read a 401's AlienError, not just successes."""
    response = client.get("/v1/whoami", headers={"Origin": DASHBOARD})
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHORIZED"
    assert response.headers["access-control-allow-origin"] == "*"


class TestConfiguredOrigins:
    @pytest.fixture
    def settings(self, settings):
        return replace(settings, cors_origins=(DASHBOARD, "http://localhost:3000"))

    def test_a_listed_origin_is_allowed_by_name(self, client, admin):
        response = preflight(client, "/v1/deployments", origin="http://localhost:3000")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
        simple = client.get("/v1/whoami", headers=admin | {"Origin": DASHBOARD})
        assert simple.headers["access-control-allow-origin"] == DASHBOARD
        assert "Origin" in simple.headers["vary"]

    def test_another_origin_gets_no_cors_headers_and_an_alien_error(self, client, admin):
        refused = preflight(client, "/v1/deployments", origin="https://evil.example")
        assert refused.status_code == 405
        assert refused.json()["code"] == "METHOD_NOT_ALLOWED"
        assert "access-control-allow-origin" not in refused.headers
        simple = client.get("/v1/whoami", headers=admin | {"Origin": "https://evil.example"})
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("*", ("*",)),
        (f"{DASHBOARD}, http://localhost:3000", (DASHBOARD, "http://localhost:3000")),
        ("http://10.0.0.1:8080", ("http://10.0.0.1:8080",)),
    ],
)
def test_setting_is_a_comma_separated_list(value, origins):
    assert Settings.from_env({"ALIEN_CORS_ORIGINS": value}).cors_origins == origins


@pytest.mark.parametrize("value", [f"{DASHBOARD}/", "dash.example.com", "https://a.example/app"])
def test_an_origin_with_a_path_or_without_a_scheme_is_refused_at_start(value):
    """Browsers send `scheme://host[:port]` exactly; anything else would never match."""
    with pytest.raises(ValueError, match="ALIEN_CORS_ORIGINS"):
        Settings.from_env({"ALIEN_CORS_ORIGINS": value})


def test_default_is_any_origin():
    assert Settings.from_env({}).cors_origins == ("*",)


# -- a real browser ------------------------------------------------------------------------

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
fetch("%(api)s/v1/whoami", {headers: {"Authorization": "Bearer %(token)s"}})
  .then(r => r.json().then(b => "status=" + r.status + " id=" + b.scope.type
                              + " rid=" + (r.headers.get("x-request-id") ? "yes" : "no")))
  .catch(e => "blocked: " + e)
  .then(text => { document.getElementById("out").textContent = text; });
</script></body></html>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium on this machine")
def test_a_page_on_another_origin_calls_the_api_from_chromium(live_server, settings, tmp_path):
    """The browser sends the preflight (an Authorization header is not a simple header), then
    the call; the page reads the body and an exposed response header."""
    server = live_server(workers=1)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE % {"api": server.url, "token": settings.admin_token})
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    pages = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    try:
        dom = subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=" + str(tmp_path / "profile"),
                "--virtual-time-budget=15000", "--dump-dom",
                f"http://127.0.0.1:{pages.server_address[1]}/index.html",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        ).stdout  # fmt: skip
    finally:
        pages.shutdown()
        pages.server_close()
    assert "status=200 id=admin rid=yes" in dom, dom


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"vary", b"Accept")],
        [(b"content-type", b"application/json"), (b"vary", b"a"), (b"x-y", b"z"), (b"vary", b"b")],
    ],
)
def test_without_an_origin_only_vary_changes_as_starlettes_cors_changes_it(headers):
    """Cors answers a request without `Origin` itself (app/http/cors.py `_varying`); the
    response's headers must be what Starlette's CORS would have made of them."""
    import asyncio

    from starlette.datastructures import Headers
    from starlette.middleware.cors import CORSMiddleware

    from app.http.cors import Cors, _varying

    def start() -> dict[str, Any]:
        return {"type": "http.response.start", "status": 200, "headers": list(headers)}

    async def run() -> tuple[list[Any], list[Any]]:
        ours: list[Any] = []
        theirs: list[Any] = []

        async def keep_ours(message):
            ours.append(message)

        async def keep_theirs(message):
            theirs.append(message)

        cors = Cors(None, origins=("*",))  # type: ignore[arg-type]  # never called
        await _varying(keep_ours)(start())
        await CORSMiddleware.send(cors, start(), keep_theirs, request_headers=Headers(headers={}))
        return ours, theirs

    ours, theirs = asyncio.run(run())
    assert ours == theirs
    assert [v for k, v in ours[0]["headers"] if k == b"vary"][0].endswith(b"Origin")


def test_a_response_to_a_request_without_origin_varies_on_it(client):
    response = client.get("/health")
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in response.headers
