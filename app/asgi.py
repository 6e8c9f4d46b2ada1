"""The ASGI entry gunicorn loads: `gunicorn -k uvicorn_worker.UvicornWorker app.asgi:app`."""

import sys
import warnings

# Connexion imports Starlette's test client at start-up, which warns about httpx; not ours.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from app import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402

try:
    settings = Settings.from_env()
except ValueError as exc:  # a misconfiguration: say what, not a traceback
    sys.exit(f"alien-server: configuration error: {exc}")

app = create_app(settings)
