"""The state directory and the SQLite files the server trusts (docs/behaviour.md §12).

What is in the state directory is believed: the SQLite database holds the tokens, the metrics
files are read at every scrape. A directory or file another local user could have written (or
pre-created, to insert an admin token) is refused at start, before anything reads it, with
one line (exit 78), as any other configuration error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

from app.settings import ConfigError, Settings

#: Files beside a SQLite database that the server reads or writes (WAL, shared memory, the
#: writer lock and the revocation value of models/).
SQLITE_COMPANIONS = ("-wal", "-shm", "-writer", "-revocations")


def prepare_state_dir(settings: Settings) -> None:
    """Create the state directory (mode 0700) if needed, then refuse it, or the SQLite files,
    when another user owns them or could write them."""
    try:
        settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"ALIEN_STATE_DIR={str(settings.state_dir)!r} cannot be created: {exc.strerror}"
        ) from None
    require_private(settings.state_dir, "ALIEN_STATE_DIR")
    database = sqlite_file(settings.database_url)
    if database is not None:
        require_private(database.parent, "DATABASE_URL")
        for path in (database, *(Path(f"{database}{end}") for end in SQLITE_COMPANIONS)):
            require_private(path, "DATABASE_URL")


def sqlite_file(url: str) -> Path | None:
    """The file a `sqlite:///path` URL names; None for PostgreSQL or an in-memory database."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.path in ("", "/", "/:memory:"):
        return None
    return Path(parts.path[1:] if parts.path.startswith("/") else parts.path)


def require_private(path: Path, variable: str) -> None:
    """ConfigError if `path` exists and is owned by another user, or writable by users other
    than its owner (by others; by its group unless that is the owner's own primary group)."""
    try:
        info = path.stat()
    except OSError:  # not there (or not reachable): nothing in it to trust; opening it fails
        return
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.geteuid():
        raise ConfigError(
            f"{variable}: {str(path)!r} belongs to another user (uid {info.st_uid}), so it "
            f"cannot be trusted: use a directory of this user's (uid {os.geteuid()})"
        )
    if mode & stat.S_IWOTH or (mode & stat.S_IWGRP and info.st_gid != os.getegid()):
        raise ConfigError(
            f"{variable}: {str(path)!r} can be written by other users (mode {mode:04o}), so it "
            f"cannot be trusted: chmod go-w {str(path)!r}"
        )
