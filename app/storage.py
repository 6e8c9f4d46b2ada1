"""Storage set-up: the state directory, the database (connected, migrated, bootstrapped) and the
admin token file. What the server does at start, and the part of it the CLI needs too.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import peewee
from playhouse.db_url import parse as parse_db_url

from app.settings import SQLITE_SCHEMES, ConfigError, Settings, without_password
from app.state_dir import prepare_state_dir
from models import revocation, tokens
from models.db import bind_database, db
from models.engines import CheckedPooledPostgresqlDatabase, make_database
from models.schema import bootstrap, migrate
from models.tokens import Token

log = logging.getLogger("alien")


def prepare_storage(settings: Settings) -> None:
    """Connect, migrate, bootstrap: safe when every worker of every instance does it at once."""
    open_storage(settings)
    tokens.accept_fixture_tokens(settings.test_mode)
    with db.connection_context():
        minted = bootstrap(settings.admin_token, settings.dev_mode)
        fixture_tokens = 0 if settings.test_mode else Token.fixture_count()
    if fixture_tokens:
        log.warning(
            "this database holds %d token(s) loaded from a fixture file: refused, as fixture "
            "tokens are public and work only with ALIEN_TEST_MODE=1",
            fixture_tokens,
        )
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


def check_database(settings: Settings) -> str:
    """One round trip to the configured database, creating and migrating nothing (check-config,
    and a start waiting for its database): what was found, or a ConfigError naming
    DATABASE_URL. A SQLite file that does not exist yet is fine: the first start creates it."""
    url = without_password(settings.database_url)
    try:
        if urlsplit(settings.database_url).scheme in SQLITE_SCHEMES:
            path = Path(parse_db_url(settings.database_url)["database"])
            if not path.exists():
                return f"{url}: no file yet, the first start creates it"
            connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                connection.execute("SELECT 1").fetchone()
            finally:
                connection.close()
        else:
            database = make_database(settings.database_url, 1)
            with database.connection_context():
                database.execute_sql("SELECT 1")  # type: ignore[no-untyped-call]
            if isinstance(database, CheckedPooledPostgresqlDatabase):
                database.close_all()  # the pool's connection too: nothing stays open
    except (peewee.OperationalError, sqlite3.Error, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"DATABASE_URL={url!r} cannot be opened: {reason}") from None
    return f"{url}: answers"


def wait_for_database(settings: Settings, say: Callable[[str], None]) -> None:
    """A start's first step on PostgreSQL: until the database answers, for at most
    ALIEN_DB_WAIT_SECONDS (containers often start before their database), with a line through
    `say` every few seconds; then a ConfigError naming DATABASE_URL. SQLite does not wait: a
    file opens or it does not."""
    waited_from = time.monotonic()
    deadline = waited_from + settings.db_wait_seconds
    next_note = waited_from
    while True:
        try:
            check_database(settings)
            return
        except ConfigError as exc:
            now = time.monotonic()
            sqlite = urlsplit(settings.database_url).scheme in SQLITE_SCHEMES
            if sqlite or now >= deadline:
                if sqlite or settings.db_wait_seconds == 0:
                    raise
                waited = f"gave up after {now - waited_from:.0f} s (ALIEN_DB_WAIT_SECONDS)"
                raise ConfigError(f"{exc}; {waited}") from None
            if now >= next_note:
                say(f"waiting for the database ({deadline - now:.0f} s left): {exc}")
                next_note = now + WAIT_NOTE_SECONDS
            time.sleep(min(WAIT_RETRY_SECONDS, max(0.0, deadline - now)))


#: While a start waits for its database: a try every second, a line every five.
WAIT_RETRY_SECONDS = 1.0
WAIT_NOTE_SECONDS = 5.0


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
