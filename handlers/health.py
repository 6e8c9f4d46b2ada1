"""Liveness: `/health`, the one operation without a token (docs/behaviour.md §5.0). Readiness,
outside the spec, is the app's (app/serving/drain.py)."""

from __future__ import annotations


def health() -> dict[str, str]:
    """The process serves HTTP. Exactly the reference server's answer: clients compare it."""
    return {"status": "healthy"}
