"""Command line: `python -m app admin-token` mints a new admin token (recovery)."""

from __future__ import annotations

import argparse
import sys

from app import prepare_storage
from app.settings import Settings
from models.db import db
from models.tokens import ADMIN, Token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "admin-token", help="mint a new admin token in DATABASE_URL's database and print it"
    )
    parser.parse_args(argv)
    settings = Settings.from_env()
    prepare_storage(settings)
    with db.connection_context():
        print(Token.mint(ADMIN))
    return 0


if __name__ == "__main__":
    sys.exit(main())
