"""Every JSON body is written as the reference writes it (issue 22, item 8; issue 27, item 2).

The reference answers with axum's `Json` (crates/alien-manager/src/routes/health.rs:20-23, and
every route), which writes `serde_json::to_vec`: compact, UTF-8 as it is, no trailing newline.
Connexion's own encoder added a newline, Flask's (used by views outside the spec, such as
/ready) sorted keys and added one too; both now write through `compact_dumps`, which also
refuses NaN (issue 27, item 2: the Flask encoder's refusal was never exercised).
"""

from __future__ import annotations

import json
import logging

from starlette.testclient import TestClient

from app.contract.strict_json import compact_dumps


def compact(body: bytes) -> bytes:
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def test_health_is_the_references_20_bytes(client):
    response = client.get("/health")
    assert response.content == b'{"status":"healthy"}'
    assert response.headers["content-length"] == "20"


def test_every_kind_of_body_is_compact_without_a_newline(app, client, api, world):
    group = client.post("/v1/deployment-groups", json={"name": "café ☃"}, headers=world.admin)
    assert group.content.decode("utf-8").count("café ☃") == 1  # as it is, not \u-escaped
    bodies = {
        "handler": group.content,
        "list": client.get("/v1/deployments", headers=world.admin).content,
        "whoami": client.get("/v1/whoami", headers=world.deployment).content,
        "error": client.get("/v1/deployments/nope", headers=world.admin).content,
        "flask view": TestClient(app).get("/ready").content,  # outside the spec
    }
    for kind, body in bodies.items():
        assert body == compact(body), kind
        assert not body.endswith(b"\n"), kind
    assert bodies["flask view"] == b'{"status":"ready"}'


def test_a_flask_view_refuses_nan_like_the_handlers(app, caplog):
    """The encoder of views outside the spec (Flask's JSON provider) writes no literal NaN:
    a value that holds one is a logged 500."""
    app.app.add_url_rule("/nan", "nan", lambda: {"x": float("nan")})
    caplog.set_level(logging.ERROR, logger="alien.errors")
    with TestClient(app, raise_server_exceptions=False) as raw:
        response = raw.get("/nan")
    assert response.status_code == 500 and b"NaN" not in response.content
    assert response.json()["code"] == "GENERIC_ERROR"


def test_the_encoder_refuses_nan_and_the_infinities():
    for value in (float("nan"), float("inf"), float("-inf")):
        try:
            compact_dumps({"x": value})
        except ValueError:
            continue
        raise AssertionError(f"{value} was encoded")
