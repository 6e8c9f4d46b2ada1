"""gunicorn's server hooks, run in the master (app/gunicorn_conf.py binds them by name).

- `on_starting`: before it binds, the master refuses a foreign worker class, a bad fixture
  file in test mode (docs/behaviour.md §13.1) and an address in use, each with one line; waits
  for a PostgreSQL that does not answer yet; then says what starts (app/serving/startup.py);
- `when_ready` / `on_exit`: with ALIEN_SIMULATE=1, one simulated engine per instance
  (docs/behaviour.md §9), stopped first on exit so it releases its leases while the API answers;
- `child_exit` and `on_exit`: a dead worker's live gauges go, and the metrics directory with the
  server (app/serving/multiproc.py).
"""

from __future__ import annotations

from typing import Any

from app.serving import multiproc, startup
from app.settings import Settings
from simulator.engine_process import EngineProcess


class ServerHooks:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = EngineProcess()

    def on_starting(self, server: Any) -> None:
        startup.check_worker_class(server.cfg.worker_class_str)
        if self.settings.test_mode:
            from app.testmode import read_fixtures_or_exit  # test mode's code only in test mode

            read_fixtures_or_exit(self.settings)
        startup.check_addresses(server)
        startup.wait_for_database(self.settings, server)
        server.log.info(startup.starting_line(self.settings, server.cfg.workers))
        if self.settings.dev_mode:
            server.log.warning(startup.DEV_MODE_WARNING)

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
