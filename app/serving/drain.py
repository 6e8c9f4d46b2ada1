"""What the app can see of its process's life: whether this worker is draining.

Draining (docs/behaviour.md §12) begins when the worker receives SIGTERM: `/ready` answers 503
and every response closes its connection, while the listener keeps serving for
ALIEN_DRAIN_SECONDS. It is a fact about the process, set from a signal handler in
app/serving/worker.py, so its one honest home is a process-wide Event.
"""

from __future__ import annotations

import threading
from typing import Any

from app.http.error_responses import alien_body
from app.serving.probe import BoundedCheck, TimedOut
from models import db

draining = threading.Event()
database_answers = BoundedCheck(db.answers)


def ready() -> tuple[dict[str, Any], int]:
    """`GET /ready` (outside the spec): whether a load balancer should send traffic here; not
    while draining, not while the database does not answer (within a second), not while
    SQLite's disk is full."""
    if draining.is_set():
        return alien_body("SERVICE_UNAVAILABLE", "The server is shutting down"), 503
    try:
        answered = database_answers()
    except TimedOut:  # a silent network: say so within a second (app/serving/probe.py)
        answered = False
    if not answered:
        return alien_body("SERVICE_UNAVAILABLE", "The database does not answer"), 503
    if not db.space_left():
        return alien_body("SERVICE_UNAVAILABLE", "No space left on the database's disk"), 503
    return {"status": "ready"}, 200
