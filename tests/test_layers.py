"""The import rules between the project's parts, held by a test rather than by convention.

The three rooms: handlers are HTTP in and out over models, models know nothing of HTTP,
neither reaches into the app's wiring (app/ passes them what they need); the simulator is a
client of the API and imports nothing of the server.

Inside app/ (app/__init__.py has the map), each part may import only the parts listed for it
in `APP_PARTS`: the contract stands alone, the HTTP layer builds on it, serving and test mode
on both, and only the factory, the entry points and the CLI see everything they wire.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = {"connexion", "flask", "starlette", "uvicorn", "gunicorn", "werkzeug"}
FORBIDDEN = {
    "handlers": {"app", "simulator", *FRAMEWORKS},
    "models": {"app", "handlers", "simulator", *FRAMEWORKS},
    "simulator": {"app", "handlers", "models", *FRAMEWORKS},
}
#: app part -> the app parts it may import (itself always). A part is a subpackage or a module
#: of app/ directly.
APP_PARTS = {
    "settings": set(),
    "contract": set(),
    "http": {"contract", "settings"},
    # hooks: test mode's start check; startup: the wait for the database
    "serving": {"http", "contract", "settings", "testmode", "storage"},
    "testmode": {"http", "contract", "settings"},
    "console": {"http", "settings"},
    "state_dir": {"settings"},
    "storage": {"settings", "state_dir"},
    "cloud": {"settings"},
    "factory": {
        "contract",
        "http",
        "serving",
        "settings",
        "storage",
        "cloud",
        "testmode",
        "console",
    },  # fmt: skip
    "asgi": {"factory", "settings"},
    "gunicorn_conf": {"serving", "settings", "state_dir"},
    "cli": {"settings", "storage", "testmode", "contract"},  # check-config reads the contract
    "__main__": {"cli"},
    "pytest_plugin": set(),  # starts the server as a client's suite would: a process
    "__init__": set(),
}


def imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at any depth (lazy imports in functions too)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imports(path)}


def app_part(name: str) -> str | None:
    """The part of app/ a dotted module name falls in (`app.http.auth` -> `http`)."""
    pieces = name.split(".")
    if pieces[0] != "app" or len(pieces) < 2:
        return None
    return pieces[1] if pieces[1] in APP_PARTS else None


def part_of(path: Path) -> str:
    relative = path.relative_to(ROOT / "app")
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_nothing_it_must_not(room):
    offenders = {
        str(path.relative_to(ROOT)): sorted(roots(path) & FORBIDDEN[room])
        for path in sorted((ROOT / room).rglob("*.py"))
        if roots(path) & FORBIDDEN[room]
    }
    assert offenders == {}


def test_every_part_of_app_is_in_the_table():
    found = {part_of(path) for path in (ROOT / "app").rglob("*.py")}
    assert found == set(APP_PARTS)


def test_each_part_of_app_imports_only_what_it_may():
    offenders = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        part = part_of(path)
        used = {p for p in map(app_part, imports(path)) if p is not None} - {part}
        if used - APP_PARTS[part]:
            offenders[str(path.relative_to(ROOT))] = sorted(used - APP_PARTS[part])
    assert offenders == {}


def test_the_rules_catch_a_part_reaching_too_far(tmp_path):
    """The checker itself: an import the table forbids is found, a permitted one is not."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from app.serving.drain import ready\n")
    assert {app_part(n) for n in imports(bad)} - {None} == {"serving"}
    assert "serving" not in APP_PARTS["http"]


def test_settings_load_no_framework():
    """`import app.settings` (every CLI call, gunicorn's configuration) stays light."""
    code = "import sys, app.settings; print(','.join(sorted(sys.modules)))"
    loaded = (
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .split(",")
    )
    heavy = {name.split(".")[0] for name in loaded} & (FRAMEWORKS | {"peewee", "psycopg"})
    assert heavy == set()
