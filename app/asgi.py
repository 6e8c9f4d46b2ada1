"""The ASGI entry gunicorn loads: `gunicorn app.asgi:app` (settings: app/gunicorn_conf.py)."""

import gc
import sys

from app import create_app
from app.settings import ConfigError, Settings

#: gunicorn's "worker failed to boot": the arbiter stops instead of restarting workers forever.
WORKER_BOOT_ERROR = 3

try:
    app = create_app(Settings.from_env())
except ConfigError as exc:  # a misconfiguration: one line saying what, no traceback (§12)
    print(f"alien-server: configuration error: {exc}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)

# Everything built so far (the spec, its validators, the routes) lives as long as the worker:
# kept out of the collector's full passes, which otherwise walk all of it (~50 ms, the slowest
# requests of a run were those that waited for one).
gc.collect()
gc.freeze()
