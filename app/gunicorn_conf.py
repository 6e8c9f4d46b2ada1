"""gunicorn settings for `alien-server serve` (`gunicorn -c python:app.gunicorn_conf`).

A minimal stand-in written with the CLI; the serving configuration proper (timeouts, logging,
hooks) is the serve work's. Bind, workers and the control socket come from the settings, which
are checked here, in the master, before any worker starts.
"""

import sys

from app.settings import ConfigError, Settings

try:
    _settings = Settings.from_env()
except ConfigError as exc:  # one line, no traceback (docs/behaviour.md §12)
    print(f"alien-server: configuration error: {exc}", file=sys.stderr, flush=True)
    sys.exit(78)
_settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_concurrency
worker_class = "uvicorn_worker.UvicornWorker"
# gunicorn 27's control socket, one per instance (the default path is shared by all).
control_socket = str(_settings.state_dir.resolve() / f"gunicorn-{_settings.port}.ctl")
