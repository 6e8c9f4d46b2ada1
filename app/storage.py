"""Storage set-up: the state directory, the database (connected, migrated, bootstrapped) and the
admin token file. What the server does at start, and the part of it the CLI needs too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import peewee

from app.settings import ConfigError, Settings, without_password
from app.state_dir import prepare_state_dir
from models import revocation
from models.db import bind_database, db
from models.engines import make_database
from models.schema import bootstrap, migrate

log = logging.getLogger("alien")


def prepare_storage(settings: Settings) -> None:
    """Connect, migrate, bootstrap: safe when every worker of every instance does it at once."""
    open_storage(settings)
    with db.connection_context():
        minted = bootstrap(settings.admin_token, settings.dev_mode)
    if minted is not None:
        announce_admin_token(minted, settings.state_dir, settings.log_format)


def open_storage(settings: Settings) -> None:
    """The state directory (owner only) and the database, migrated: what the CLI needs too.
    A directory or database that cannot be opened, or that another user could have written
    (app/state_dir.py), is a ConfigError naming its variable."""
    prepare_state_dir(settings)
    database = make_database(settings.database_url, settings.db_max_connections)
    bind_database(database)
    revocation.configure(revocations_file(database, settings.state_dir))
    try:
        db.connect()
    except (peewee.OperationalError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        url = without_password(settings.database_url)
        raise ConfigError(f"DATABASE_URL={url!r} cannot be opened: {reason}") from None
    try:
        migrate()
    finally:
        db.close()


def revocations_file(database: peewee.Database, state_dir: Path) -> Path | None:
    """Where processes serving from `database` share their revocations (models/revocation.py):
    beside a SQLite file (every instance on it), else in the state directory."""
    if isinstance(database, peewee.SqliteDatabase):
        name = str(database.database)
        if name == ":memory:" or name.startswith("file:"):
            return None
        return Path(name + "-revocations")
    return state_dir / "revocations"


def announce_admin_token(token: str, state_dir: Path, log_format: str = "text") -> None:
    """Show the first admin token once, and keep it where only this user can read it.
    JSON logs are shipped, and a token is never logged: there, only the file has it."""
    path = write_admin_token(token, state_dir)
    if log_format == "json":
        log.warning("admin token minted and written to %s", path)
        return
    print(f"Admin API key: {token}", flush=True)
    print(f"(also written to {path})", flush=True)


def write_admin_token(token: str, state_dir: Path) -> Path:
    """(Re)write <state dir>/admin-token, mode 0600, replacing any earlier one at once."""
    path = state_dir / "admin-token"
    partial = state_dir / f".admin-token.{os.getpid()}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path
