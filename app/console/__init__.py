"""The live console (docs/behaviour.md §12): `GET /console`, a page served by the server itself
that shows what a token may see (groups, deployments with their leases and history, releases,
test mode's request journal) and keeps it live by polling, at most once a second.

- `routes.py`: the page, its files and its two reads, before Connexion routes anything;
- `snapshot.py`: the reads' JSON, over `models.overview`;
- `static/`: the page (`console.html`), its script and its styles, plain and offline.

Read-only, the token checked on every read as the API checks it; no state per open page.
"""

from __future__ import annotations

from connexion import FlaskApp
from connexion.middleware import MiddlewarePosition

from app.console.routes import Console
from app.http.auth import TokenCache
from app.settings import Settings


def install(app: FlaskApp, settings: Settings, cache: TokenCache) -> None:
    app.add_middleware(
        Console, position=MiddlewarePosition.BEFORE_SWAGGER, settings=settings, cache=cache
    )
