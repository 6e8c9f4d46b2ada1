"""docs/behaviour.md §10 stays complete: the review step of issue 22, held by a test.

§10 lists what a client of the reference server (alienplatform/alien at 97d57de17) sees
differently here. These checks fail when it falls behind:

- every route the reference serves (`REFERENCE_ROUTES`, copied from its routers) is served here
  or named in §10's table;
- every difference the issues chose to keep (`CHOSEN`) has its row, with all four cells;
- every test module that says it mirrors the reference is named in §10, and every test file
  §10 names exists.

Adding a difference is adding its row to §10 (and, when an issue chose it, to `CHOSEN`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.http.telemetry import SIGNALS
from tests import docs

ROOT = Path(__file__).resolve().parent.parent
SECTION = docs.section("10. Differences")
ROWS = [list(row.values()) for row in docs.table("10. Differences", "difference")]

#: (method, path) of every route of the reference at 97d57de17: crates/alien-manager/src/routes/
#: mod.rs:51-75 and the routers it merges (whoami.rs:36, deployments.rs:155-165,
#: releases.rs:86-88, deployment_groups.rs:66-73, sync.rs:120-124, credentials.rs:35), and
#: alien-commands' router nested under /v1 (crates/alien-commands/src/server/axum_handlers.rs:37-51).
REFERENCE_ROUTES = [
    ("GET", "/health"),
    ("GET", "/v1/whoami"),
    ("GET", "/v1/deployments"),
    ("POST", "/v1/deployments"),
    ("GET", "/v1/deployments/{id}"),
    ("DELETE", "/v1/deployments/{id}"),
    ("GET", "/v1/deployments/{id}/info"),
    ("POST", "/v1/deployments/{id}/retry"),
    ("POST", "/v1/deployments/{id}/redeploy"),
    ("POST", "/v1/releases"),
    ("GET", "/v1/releases/latest"),
    ("GET", "/v1/releases/{id}"),
    ("POST", "/v1/deployment-groups"),
    ("GET", "/v1/deployment-groups"),
    ("GET", "/v1/deployment-groups/{id}"),
    ("POST", "/v1/deployment-groups/{id}/tokens"),
    ("POST", "/v1/sync/acquire"),
    ("POST", "/v1/sync/reconcile"),
    ("POST", "/v1/sync/release"),
    ("POST", "/v1/sync"),
    ("POST", "/v1/initialize"),
    ("POST", "/v1/resolve-credentials"),
    ("POST", "/v1/logs"),
    ("POST", "/v1/traces"),
    ("POST", "/v1/metrics"),
    ("POST", "/v1/commands"),
    ("POST", "/v1/commands/{command_id}/upload-complete"),
    ("PUT", "/v1/commands/{command_id}/response"),
    ("GET", "/v1/commands/{command_id}"),
    ("GET", "/v1/commands/{command_id}/payload"),
    ("PUT", "/v1/commands/{command_id}/payload"),
    ("POST", "/v1/commands/leases"),
    ("POST", "/v1/commands/leases/{lease_id}/release"),
]

#: The differences an issue chose to keep, or where it overrode the reference: the start of
#: their row's first cell.
CHOSEN = [
    "removing a deployment",  # issue 22
    "a deployment token reading other deployments",  # issue 22
    "request limits",  # issue 22 (item 5: what stays narrower)
    "failing database",  # issue 22: DATABASE_ERROR on an outage
    "bind address",  # issue 22: 127.0.0.1 for make run
    "deployment loop",  # issue 22: none unless ALIEN_SIMULATE=1
    "`/v1/commands` protocol",  # issue 22
    "HTTP versions",  # issue 22: HTTP/1.1 only
    "timestamps",  # issue 22: 6-digit fractions
    "an object naming a key twice",  # issue 22 item 1: 400, not 422
    "`ALIEN_DEV_MODE` other than",  # issue 22 item 10: strictness
    "resolve_credentials when the server's cloud settings are missing",  # item 3: 503, not 500
]


def served() -> set[tuple[str, str]]:
    spec = json.loads((ROOT / "openapi.json").read_text())
    routes = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    return routes | {("POST", path) for path in SIGNALS}


@pytest.mark.parametrize(("method", "path"), REFERENCE_ROUTES, ids=" ".join)
def test_every_reference_route_is_served_or_listed(method, path):
    if (method, path) in served():
        return
    family = "/".join(path.split("/")[:3])  # /v1/commands/... -> /v1/commands
    assert any(f"`{family}`" in row[0] for row in ROWS), f"{method} {path}: not served, not in §10"


def test_the_table_rows_are_whole():
    assert len(ROWS) > 20
    for row in ROWS:
        assert all(row), row


@pytest.mark.parametrize("start", CHOSEN)
def test_every_chosen_difference_has_its_row(start):
    assert [row for row in ROWS if row[0].startswith(start)], f"§10 has no row for {start!r}"


def test_every_test_that_mirrors_the_reference_is_named_in_section_10():
    mirrors = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"crates/alien-|reference:", path.read_text())
        and path.name != Path(__file__).name
    )
    assert mirrors, "no test names the reference"
    assert [name for name in mirrors if name not in SECTION] == []


def test_every_test_file_section_10_names_exists():
    named = set(re.findall(r"tests/[\w/]+\.py", SECTION))
    assert named, "§10 names no test"
    assert sorted(name for name in named if not (ROOT / name).exists()) == []
