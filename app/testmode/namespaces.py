"""Namespaces (docs/behaviour.md §13.10): every path also answers under `/_test/ns/{name}/…`,
each name an isolated world with its own database (data, tokens, clock, stubs, journal), made
on first use and dropped by `DELETE /_test/ns/{name}`. SQLite only.

A namespace is a SQLite file in `<database file>-namespaces/`: a copy of a
template (every table, the server's `ALIEN_ADMIN_TOKEN`) with the fixtures reset into it,
made under a temporary name and published with one `link()`, so every worker and instance on
the state directory sees it whole or not at all. A request under the prefix runs with `db`
routed to that file (models/db.py: `routed`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import peewee
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.auth import TokenCache, authenticate
from app.http.error_responses import alien_body
from app.settings import Settings
from models import fixture_store
from models.db import allow_routes, db, routed
from models.engines import make_database
from models.schema import bootstrap, migrate

PREFIX = "/_test/ns/"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UNCACHED = TokenCache(0)
NEED_SQLITE = (
    "Namespaces need SQLite: DATABASE_URL names PostgreSQL; run one server per test process"
)


class NamespaceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Worlds:
    """This process's namespace databases, by name, each with the file's inode it was opened
    on (a namespace dropped and made again by another worker is a new file)."""

    def __init__(self, root: Path, settings: Settings, loaded: fixture_store.Fixtures) -> None:
        self.root = root
        self.settings = settings
        self.loaded = loaded
        self.open: dict[str, tuple[int, peewee.Database]] = {}
        self.template: Path | None = None
        self.lock = threading.Lock()

    def database(self, name: str) -> peewee.Database:
        path = self.root / f"{name}.db"
        with self.lock:
            try:
                inode = path.stat().st_ino
            except FileNotFoundError:
                self._make(name, path)
                inode = path.stat().st_ino
            known = self.open.get(name)
            if known is None or known[0] != inode:
                known = self.open[name] = (inode, make_database(f"sqlite:///{path}", 4))
            return known[1]

    def drop(self, name: str) -> bool:
        with self.lock:
            self.open.pop(name, None)
            path = self.root / f"{name}.db"
            existed = path.exists()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return existed

    def _make(self, name: str, path: Path) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = self.root / f".{name}.{os.getpid()}.{threading.get_ident()}.db"
        shutil.copyfile(self._template(), partial)
        self._fill(partial, lambda: fixture_store.reset(self.loaded, self.settings.admin_token))
        try:
            os.link(partial, path)  # published whole; another worker may have won: fine
        except FileExistsError:
            pass
        finally:
            partial.unlink()

    def _template(self) -> Path:
        """Every table, the admin token, no data: made once per process."""
        if self.template is None:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            template = self.root / f".template.{os.getpid()}.db"
            template.unlink(missing_ok=True)

            def build() -> None:
                fixture_store.prepare()  # first: every clock.now() below reads its table
                migrate()
                bootstrap(self.settings.admin_token, dev_mode=False)

            self._fill(template, build)
            self.template = template
        return self.template

    @staticmethod
    def _fill(path: Path, work: Any) -> None:
        database = make_database(f"sqlite:///{path}", 1)
        with routed("", database):
            database.connect()
            try:
                work()
            finally:
                database.close()  # the last connection: the WAL is folded into the file


class Namespaces:
    """Outermost of test mode: strips `/_test/ns/{name}` and serves the rest in that world."""

    def __init__(self, app: ASGIApp, settings: Settings, loaded: fixture_store.Fixtures) -> None:
        self.app = app
        self.settings = settings
        self.sqlite = isinstance(db.obj, peewee.SqliteDatabase)
        if self.sqlite:
            allow_routes()
        # Beside the database file, so that every instance serving it finds the same worlds.
        root = Path(f"{db.obj.database}-namespaces") if self.sqlite else settings.state_dir
        self.worlds = Worlds(root, settings, loaded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        name, slash, rest = scope["path"][len(PREFIX) :].partition("/")
        try:
            if not self.sqlite:
                raise NamespaceError(400, "BAD_REQUEST", NEED_SQLITE)
            if not NAME.match(name) or rest.startswith("/"):
                raise NamespaceError(404, "NOT_FOUND", "A namespace name is 1 to 64 of A-Za-z0-9_-")
            if not slash:
                await self._drop(scope, receive, send, name)
                return
            database = await run_in_threadpool(self.worlds.database, name)
        except NamespaceError as exc:
            await _error(scope, receive, send, exc)
            return
        inner = {**scope, "path": "/" + rest, "raw_path": ("/" + rest).encode()}
        with routed(name, database):
            await self.app(inner, receive, send)

    async def _drop(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        if scope["method"] != "DELETE":
            raise NamespaceError(405, "METHOD_NOT_ALLOWED", f"Method {scope['method']} not "
                                 "allowed; allowed: DELETE")  # fmt: skip
        auth = dict(scope["headers"]).get(b"authorization")
        try:
            caller = await authenticate(
                None if auth is None else auth.decode("latin-1"), self.settings.dev_mode, UNCACHED
            )
        except Exception:
            raise NamespaceError(401, "UNAUTHORIZED", "Invalid token") from None
        if not caller.is_admin:
            raise NamespaceError(403, "FORBIDDEN", "Admin access required")
        existed = await run_in_threadpool(self.worlds.drop, name)
        body = {"name": name, "dropped": existed}
        await _json(scope, receive, send, 200, body)


async def _error(scope: Scope, receive: Receive, send: Send, exc: NamespaceError) -> None:
    await _json(scope, receive, send, exc.status, alien_body(exc.code, exc.message))


async def _json(scope: Scope, receive: Receive, send: Send, status: int, body: Any) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    await Response(content, status, media_type="application/json")(scope, receive, send)
