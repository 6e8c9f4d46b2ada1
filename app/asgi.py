"""The ASGI entry gunicorn loads: `gunicorn -k uvicorn_worker.UvicornWorker app.asgi:app`."""

import sys
import warnings

# Connexion imports Starlette's test client at start-up, which warns about httpx; not ours.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from app import create_app  # noqa: E402
from app.settings import ConfigError, Settings  # noqa: E402

#: gunicorn's "worker failed to boot": the arbiter stops instead of restarting workers forever.
WORKER_BOOT_ERROR = 3

try:
    app = create_app(Settings.from_env())
except ConfigError as exc:  # a misconfiguration: one line saying what, no traceback (§12)
    print(f"alien-server: configuration error: {exc}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)
