"""gunicorn's settings: the one serving configuration (docs/behaviour.md §12).

`make run`, `gunicorn app.asgi:app` run from the repository (./gunicorn.conf.py re-exports this
module), `gunicorn -c python:app.gunicorn_conf` for an installed package, and the test servers
(harness/server.py) all serve with it. Values come from app/settings.py, so the README's
configuration table lists every one; gunicorn's own command-line options still override them.

Server hooks are app/serving/hooks.py's, bound below by the names gunicorn looks for
(`on_starting`, `child_exit`, ...); add one the same way.
"""

from __future__ import annotations

import os

from app.serving import logs, multiproc
from app.serving.hooks import ServerHooks
from app.settings import ConfigError, Settings, exit_for_config_error
from app.state_dir import prepare_state_dir

try:
    _settings = Settings.from_env()
    prepare_state_dir(_settings)  # created, and trusted only if no other user could write it
except ConfigError as exc:  # one line, no traceback, before any worker starts (§12)
    exit_for_config_error(exc)

wsgi_app = "app.asgi:app"
worker_class = "app.serving.worker.AlienWorker"
workers = _settings.web_concurrency
bind = [f"{_settings.host}:{_settings.port}"]

# Idle keep-alive connections close after this (uvicorn-worker hands it to uvicorn).
keepalive = _settings.keepalive_seconds
# A worker that stops answering gunicorn's heartbeat this long is killed and replaced.
timeout = 30
# SIGTERM: the workers drain, then give requests in flight their time; the master waits for
# both (and a margin) before it kills what is left.
graceful_timeout = int(_settings.drain_seconds + _settings.graceful_timeout_seconds + 5)

# gunicorn >= 25.1 opens a control socket (for `gunicornc`) at one fixed path per user, so two
# instances on one host would share and remove each other's. One per instance, named by port,
# in the instance's state directory; none when that path is too long for a Unix socket (104
# bytes on macOS, 108 on Linux). Older gunicorn ignores both options.
_control = (_settings.state_dir / f"gunicorn-{_settings.port}.ctl").absolute()
if len(os.fsencode(_control)) < 104:
    control_socket = str(_control)
else:
    control_socket_disable = True

# Logs: gunicorn's and the workers' lifecycle lines on stderr; the app writes its own access
# line per request (app/http/request_log.py), so gunicorn's access log stays off.
errorlog = "-"
loglevel = "info"
accesslog = None

# Metrics: one directory per server start, before any worker (or --preload) imports
# prometheus-client (app/serving/multiproc.py); a dead worker's files are marked, the directory
# removed when the server stops.
multiproc.start(_settings.state_dir)

_hooks = ServerHooks(_settings)
on_starting = _hooks.on_starting
when_ready = _hooks.when_ready
on_exit = _hooks.on_exit
child_exit = _hooks.child_exit

logconfig_dict = logs.gunicorn_logconfig(_settings.log_level, _settings.log_format)
