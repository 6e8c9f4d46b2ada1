"""`python -m app ...` is the `alien-server` command line (app/cli/__init__.py); `python -m app
admin-token` mints a new admin token, for recovery."""

from app.cli import cli

if __name__ == "__main__":
    cli(prog_name="python -m app")
