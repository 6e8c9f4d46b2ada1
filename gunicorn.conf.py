"""gunicorn reads ./gunicorn.conf.py by itself: `gunicorn app.asgi:app` run from here serves
with the project's configuration, which lives in the package (app/gunicorn_conf.py)."""

from app.gunicorn_conf import *  # noqa: F403
