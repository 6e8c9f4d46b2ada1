"""The three rooms (STYLE): handlers are HTTP in and out over models, models know nothing of
HTTP; neither reaches into the app's wiring (app/ passes them what they need)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"handlers": {"app"}, "models": {"app", "handlers", "connexion", "flask", "starlette"}}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_a_room_imports_nothing_it_must_not(room):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported(path) & FORBIDDEN[room])
        for path in sorted((ROOT / room).glob("*.py"))
        if imported(path) & FORBIDDEN[room]
    }
    assert offenders == {}
