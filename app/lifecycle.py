"""What the app can see of its process's life: whether this worker is draining.

Draining (docs/behaviour.md §12) begins when the worker receives SIGTERM: `/ready` answers 503
and every response closes its connection, while the listener keeps serving for
ALIEN_DRAIN_SECONDS. It is a fact about the process, set from a signal handler in
app/worker.py, so its one honest home is a process-wide Event.
"""

from __future__ import annotations

import threading

draining = threading.Event()
