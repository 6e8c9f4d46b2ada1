"""The ASGI middleware in front of Connexion (app/http/): the path guard, the body
limit, JSON by default, HEAD as GET and the request log with its request id."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import assert_error

# -- RequestGate: the path --------------------------------------------------------------


@pytest.mark.parametrize("ident", ["%0A", "a%00b", "%7F", "x%1By"])
def test_control_character_in_path_is_404_not_500(client, admin, ident):
    assert_error(client.get(f"/v1/deployments/{ident}", headers=admin), 404, "NOT_FOUND")


# -- RequestGate: the body limit --------------------------------------------------------


class TestBodyLimit:
    @pytest.fixture
    def settings(self, settings):
        from dataclasses import replace

        return replace(settings, max_body_bytes=1024)

    def test_declared_length_over_the_limit(self, client, admin):
        body = {"name": "x" * 2000}
        assert_error(
            client.post("/v1/deployment-groups", json=body, headers=admin), 413, "PAYLOAD_TOO_LARGE"
        )

    def test_streamed_body_over_the_limit(self, client, admin):
        def chunks():
            yield b'{"name": "'
            yield b"x" * 2000
            yield b'"}'

        response = client.post(
            "/v1/deployment-groups",
            content=chunks(),
            headers=admin | {"Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")

    def test_under_the_limit_passes(self, client, admin):
        assert (
            client.post(
                "/v1/deployment-groups",
                json={"name": "x" * 256},
                headers=admin,  # longest name
            ).status_code
            == 200
        )


def test_default_body_limit_is_two_mebibytes(client, admin):
    big = {"name": "x" * (2 * 1024 * 1024)}
    assert_error(
        client.post("/v1/deployment-groups", json=big, headers=admin), 413, "PAYLOAD_TOO_LARGE"
    )


# -- request ids ---------------------------------------------------------------------------


def test_every_response_carries_a_request_id(client, admin, caplog):
    caplog.set_level(logging.INFO, logger="alien.access")
    first = client.get("/v1/whoami", headers=admin).headers["x-request-id"]
    second = client.get("/nope").headers["x-request-id"]
    assert first != second and len(first) >= 16
    record = next(r for r in caplog.records if getattr(r, "request_id", None) == first)
    assert record.getMessage().startswith("GET /v1/whoami 200 ")


def test_a_sane_incoming_request_id_is_kept(client):
    response = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    odd = client.get("/health", headers={"X-Request-Id": "a b\tc"})
    assert odd.headers["x-request-id"] != "a b\tc"


def test_chunked_body_under_the_limit_is_read(client, admin):
    def chunks():
        yield b'{"name": '
        yield b'"chunked"}'

    response = client.post(
        "/v1/deployment-groups",
        content=chunks(),
        headers=admin | {"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "chunked"


# -- HeadAsGet, RequestGate: JSON by default ----------------------------------------------


def test_head_is_get_without_a_body(client, admin):
    for path in ("/health", "/v1/deployments", "/v1/whoami"):
        get = client.get(path, headers=admin)
        head = client.head(path, headers=admin)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]


def test_body_without_content_type_is_taken_as_json(client, admin):
    response = client.post("/v1/deployment-groups", content=b'{"name": "untyped"}', headers=admin)
    assert "content-type" not in response.request.headers
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "untyped"


def test_invalid_json_without_content_type_is_a_400(client, admin):
    assert_error(
        client.post("/v1/deployment-groups", content=b"{", headers=admin), 400, "VALIDATION_ERROR"
    )
