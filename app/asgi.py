"""The ASGI entry gunicorn loads: `gunicorn app.asgi:app` (settings: app/gunicorn_conf.py)."""

import sys

from app import create_app
from app.settings import Settings

try:
    settings = Settings.from_env()
except ValueError as exc:  # a misconfiguration: say what, not a traceback
    sys.exit(f"alien-server: configuration error: {exc}")

app = create_app(settings)
