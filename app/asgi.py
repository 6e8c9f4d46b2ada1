"""The ASGI entry gunicorn loads: `gunicorn -k uvicorn_worker.UvicornWorker app.asgi:app`."""

from app import create_app

app = create_app()
