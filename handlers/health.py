"""Liveness (`/health`, in the spec) and readiness (`/ready`, outside it): docs/behaviour.md
§5.0 and §12."""

from __future__ import annotations

from typing import Any

from app import lifecycle
from app.errors import alien_body
from models import db


def health() -> dict[str, str]:
    """The process serves HTTP. Exactly the reference server's answer: clients compare it."""
    return {"status": "healthy"}


def ready() -> tuple[dict[str, Any], int]:
    """Whether a load balancer should send traffic here: not while draining, not while the
    database does not answer."""
    if lifecycle.draining.is_set():
        return alien_body("SERVICE_UNAVAILABLE", "The server is shutting down"), 503
    if not db.answers():
        return alien_body("SERVICE_UNAVAILABLE", "The database does not answer"), 503
    return {"status": "ready"}, 200
