"""The ASGI entry gunicorn loads: `gunicorn app.asgi:app` (settings: app/gunicorn_conf.py)."""

import gc

from app.factory import create_app
from app.settings import WORKER_BOOT_ERROR, ConfigError, Settings, exit_for_config_error

try:
    app = create_app(Settings.from_env())
except ConfigError as exc:
    exit_for_config_error(exc, WORKER_BOOT_ERROR)

# Everything built so far (the spec, its validators, the routes) lives as long as the worker:
# kept out of the collector's full passes, which otherwise walk all of it while a request waits
# (docs/performance.md).
gc.collect()
gc.freeze()
