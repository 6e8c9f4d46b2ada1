"""gunicorn's server hooks, run in the master (app/gunicorn_conf.py binds them by name).

- `on_starting`: in test mode, a bad fixture file stops the master with one line before any
  worker starts (docs/behaviour.md §13.1);
- `when_ready` / `on_exit`: with ALIEN_SIMULATE=1, one simulated engine per instance
  (docs/behaviour.md §9), stopped first on exit so it releases its leases while the API answers;
- `child_exit` and `on_exit`: a dead worker's live gauges go, and the metrics directory with the
  server (app/serving/multiproc.py).
"""

from __future__ import annotations

from typing import Any

from app.serving import multiproc
from app.settings import Settings
from simulator.engine_process import EngineProcess


class ServerHooks:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = EngineProcess()

    def on_starting(self, server: Any) -> None:
        if self.settings.test_mode:
            from app.testmode import read_fixtures_or_exit  # test mode's code only in test mode

            read_fixtures_or_exit(self.settings)

    def when_ready(self, server: Any) -> None:
        if self.settings.simulate:
            self.engine.start(
                server,
                tick_ms=self.settings.simulate_tick_ms,
                token=self.settings.admin_token,
                token_file=self.settings.state_dir / "admin-token",
            )

    def on_exit(self, server: Any) -> None:
        self.engine.stop()
        multiproc.on_exit(server)

    child_exit = staticmethod(multiproc.child_exit)
