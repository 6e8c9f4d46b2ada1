"""Fixture files (docs/behaviour.md §13.1): read JSON or YAML, validate every object against the
spec's own schemas, and hand models/fixture_store.py plain rows to store.

A problem is one `FixtureError` line: the file, the path inside it, the reason. The format is
documented by example in docs/fixtures.example.yaml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from app.contract.spec import component_schema, schema_properties
from app.contract.validation import FORMATS, RequestValidator
from models.fixture_store import Fixtures
from models.tokens import ADMIN, DEPLOYMENT, GROUP, PREFIXES

TOKEN_FORM = re.compile(r"^(ax_admin_|ax_dg_|ax_deploy_)[0-9a-f]{40}$")
KIND_OF_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}
SECTIONS = ("deploymentGroups", "releases", "deployments", "tokens")
#: Keys a fixture object may have beyond the spec schema it is checked against.
GROUP_KEYS = {"id", "createdAt"}
RELEASE_KEYS = {"id", "createdAt"}
DEPLOYMENT_EXTRA = {"runtimeMetadata": "RuntimeMetadata", "lease": None}
#: Deployment fields the wire schema leaves open ({}), checked against the component they hold.
DEPLOYMENT_FIELDS = {
    "status": "DeploymentStatus",
    "stackSettings": "StackSettings",
    "stackState": "StackState",
    "environmentInfo": "EnvironmentInfo",
    "error": "AlienError",
}
MAX_LEASE_AGE_SECONDS = 10 * 365 * 24 * 3600


class FixtureError(Exception):
    """A fixture file that cannot be loaded: `<file>: <path>: <reason>`, one line."""

    def __init__(self, file: Path | str, where: str, reason: str) -> None:
        reason = " ".join(reason.split())[:500]
        super().__init__(f"{file}: {where or '(top level)'}: {reason}")


@cache
def _validator(name: str) -> Any:
    return RequestValidator(component_schema(name), format_checker=FORMATS)


def read(path: Path | str) -> Fixtures:
    """Parse and validate a fixture file; raise FixtureError on the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureError(path, "", f"cannot read the file: {exc}") from None
    try:
        data = (
            json.loads(text)
            if path.suffix.lower() == ".json"
            else yaml.safe_load(text)  # YAML is a superset of JSON: any other name is read so
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise FixtureError(
            path, "", f"not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from None
    return parse(data, path)


def parse(data: Any, file: Path | str = "<fixtures>") -> Fixtures:
    checker = _Checker(file)
    if data is None:
        data = {}
    checker.expect(isinstance(data, dict), "", "the top level must be a mapping")
    for key in data:
        checker.expect(key in SECTIONS, str(key), f"unknown section (expected one of {SECTIONS})")
    sections = {}
    for section in SECTIONS:
        items = data.get(section)
        items = [] if items is None else items
        checker.expect(isinstance(items, list), section, "must be a list")
        for index, item in enumerate(items):
            checker.expect(isinstance(item, dict), f"{section}[{index}]", "must be a mapping")
        sections[section] = items
    fixtures = Fixtures()
    for where, item in checker.each(sections, "deploymentGroups"):
        fixtures.groups.append(checker.group(where, item))
    for where, item in checker.each(sections, "releases"):
        fixtures.releases.append(checker.release(where, item))
    for where, item in checker.each(sections, "deployments"):
        fixtures.deployments.append(checker.deployment(where, item))
    for where, item in checker.each(sections, "tokens"):
        fixtures.tokens.append(checker.token(where, item))
    checker.references(fixtures)
    return fixtures


class _Checker:
    def __init__(self, file: Path | str) -> None:
        self.file = file
        self.ids: dict[str, set[str]] = {}

    def expect(self, ok: bool, where: str, reason: str) -> None:
        if not ok:
            raise FixtureError(self.file, where, reason)

    def each(self, sections: dict[str, list[Any]], name: str) -> Iterator[tuple[str, Any]]:
        for index, item in enumerate(sections[name]):
            yield f"{name}[{index}]", item

    def schema(self, where: str, name: str, value: Any) -> None:
        errors = sorted(_validator(name).iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            inner = "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in errors[0].absolute_path
            )
            raise FixtureError(self.file, where + inner, f"{errors[0].message} (spec: {name})")

    def keys(self, where: str, item: dict[str, Any], allowed: set[str]) -> None:
        for key in item:
            self.expect(
                key in allowed, f"{where}.{key}", f"unknown field (allowed: {sorted(allowed)})"
            )

    def unique_id(self, where: str, item: dict[str, Any], kind: str) -> str:
        value = str(item.get("id", ""))
        self.expect(
            isinstance(item.get("id"), str) and 0 < len(value) <= 255 and "\x00" not in value,
            f"{where}.id",
            "required: a string of 1 to 255 characters, none of them NUL",
        )
        seen = self.ids.setdefault(kind, set())
        self.expect(value not in seen, f"{where}.id", f"duplicate id {value!r}")
        seen.add(value)
        return value

    def timestamp(self, where: str, item: dict[str, Any]) -> datetime | None:
        value = item.get("createdAt")
        if value is None:
            return None
        if isinstance(value, datetime):  # YAML reads an unquoted timestamp as one
            at = value
        else:
            try:
                at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise FixtureError(
                    self.file, f"{where}.createdAt", "not an RFC 3339 timestamp"
                ) from None
        self.expect(at.tzinfo is not None, f"{where}.createdAt", "needs a time zone (Z)")
        return at

    def group(self, where: str, item: dict[str, Any]) -> dict[str, Any]:
        spec_part = {k: v for k, v in item.items() if k not in GROUP_KEYS}
        self.keys(where, item, GROUP_KEYS | set(schema_properties("CreateDeploymentGroupRequest")))
        self.schema(where, "CreateDeploymentGroupRequest", spec_part)
        maximum = item.get("maxDeployments", 100)
        self.expect(maximum >= 0, f"{where}.maxDeployments", "must not be negative")
        return {
            "id": self.unique_id(where, item, "group"),
            "name": item["name"],
            "max_deployments": maximum,
            "created_at": self.timestamp(where, item),
        }

    def release(self, where: str, item: dict[str, Any]) -> dict[str, Any]:
        spec_part = {k: v for k, v in item.items() if k not in RELEASE_KEYS}
        self.keys(where, item, RELEASE_KEYS | set(schema_properties("CreateReleaseRequest")))
        self.schema(where, "CreateReleaseRequest", spec_part)
        stack = {p: s for p, s in item["stack"].items() if s is not None}
        self.expect(bool(stack), f"{where}.stack", "no platform stack")
        for platform, platform_stack in stack.items():
            self.schema(f"{where}.stack.{platform}", "Stack", platform_stack)
        return {
            "id": self.unique_id(where, item, "release"),
            "stack": stack,
            "git_metadata": item.get("gitMetadata"),
            "created_at": self.timestamp(where, item),
        }

    def deployment(self, where: str, item: dict[str, Any]) -> dict[str, Any]:
        wire = set(schema_properties("DeploymentResponse")) - {"deploymentGroup", "updatedAt"}
        self.keys(where, item, wire | set(DEPLOYMENT_EXTRA))
        spec_part = {k: v for k, v in item.items() if k not in DEPLOYMENT_EXTRA}
        spec_part = {
            "status": "pending",
            "retryRequested": False,
            "createdAt": "1970-01-01T00:00:00Z",
        } | spec_part
        self.schema(where, "DeploymentResponse", spec_part)
        for key, name in DEPLOYMENT_FIELDS.items():
            if spec_part.get(key) is not None:
                self.schema(f"{where}.{key}", name, spec_part[key])
        if item.get("runtimeMetadata") is not None:
            self.schema(f"{where}.runtimeMetadata", "RuntimeMetadata", item["runtimeMetadata"])
        row = {
            "id": self.unique_id(where, item, "deployment"),
            "name": item["name"],
            "deployment_group": item["deploymentGroupId"],
            "platform": item["platform"],
            "status": spec_part["status"],
            "stack_settings": item.get("stackSettings") or {},
            "stack_state": item.get("stackState"),
            "environment_info": item.get("environmentInfo"),
            "runtime_metadata": item.get("runtimeMetadata"),
            "current_release_id": item.get("currentReleaseId"),
            "desired_release_id": item.get("desiredReleaseId"),
            "retry_requested": spec_part["retryRequested"],
            "error": item.get("error"),
            "created_at": self.timestamp(where, item),
        }
        row["lease"] = self.lease(f"{where}.lease", item.get("lease"))
        return row

    def lease(self, where: str, lease: Any) -> tuple[str, float] | None:
        """`lease: {session: <worker session>, ageSeconds: <how long ago it was taken>}`."""
        if lease is None:
            return None
        self.expect(isinstance(lease, dict), where, "must be a mapping {session, ageSeconds}")
        self.keys(where, lease, {"session", "ageSeconds"})
        session, age = lease.get("session"), lease.get("ageSeconds", 0)
        self.expect(
            isinstance(session, str) and session != "",
            f"{where}.session",
            "required: a non-empty string",
        )
        self.expect(
            isinstance(age, int | float)
            and not isinstance(age, bool)
            and 0 <= age <= MAX_LEASE_AGE_SECONDS,
            f"{where}.ageSeconds",
            f"a number of seconds from 0 to {MAX_LEASE_AGE_SECONDS}",
        )
        return session, float(age)

    def token(self, where: str, item: dict[str, Any]) -> dict[str, Any]:
        self.keys(where, item, {"token", "deploymentGroupId", "deploymentId"})
        raw = item.get("token")
        self.expect(
            isinstance(raw, str) and TOKEN_FORM.match(raw) is not None,
            f"{where}.token",
            "must be ax_admin_, ax_dg_ or ax_deploy_ followed by 40 lower-case hex "
            "characters (docs/behaviour.md §1)",
        )
        raw = str(raw)
        seen = self.ids.setdefault("token", set())
        self.expect(raw not in seen, f"{where}.token", "duplicate token")
        seen.add(raw)
        kind = next(k for p, k in KIND_OF_PREFIX.items() if raw.startswith(p))
        needs = {ADMIN: set(), GROUP: {"deploymentGroupId"}, DEPLOYMENT: {"deploymentId"}}[kind]
        self.expect(
            set(item) - {"token"} == needs,
            where,
            f"a {kind} token takes exactly {sorted(needs) or 'no scope'}",
        )
        return {
            "raw": raw,
            "kind": kind,
            "group_id": item.get("deploymentGroupId"),
            "deployment_id": item.get("deploymentId"),
        }

    def references(self, fixtures: Fixtures) -> None:
        groups, releases = self.ids.get("group", set()), self.ids.get("release", set())
        deployments = {d["id"]: d for d in fixtures.deployments}
        per_group: dict[str, int] = {}
        for i, d in enumerate(fixtures.deployments):
            where = f"deployments[{i}]"
            self.expect(
                d["deployment_group"] in groups,
                f"{where}.deploymentGroupId",
                f"no deployment group {d['deployment_group']!r} in this file",
            )
            for key, column in (
                ("currentReleaseId", "current_release_id"),
                ("desiredReleaseId", "desired_release_id"),
            ):
                self.expect(
                    d[column] is None or d[column] in releases,
                    f"{where}.{key}",
                    f"no release {d[column]!r} in this file",
                )
            per_group[d["deployment_group"]] = per_group.get(d["deployment_group"], 0) + 1
        for i, g in enumerate(fixtures.groups):
            self.expect(
                per_group.get(g["id"], 0) <= g["max_deployments"],
                f"deploymentGroups[{i}].maxDeployments",
                f"the file puts {per_group.get(g['id'], 0)} deployments in this group",
            )
        for i, t in enumerate(fixtures.tokens):
            where = f"tokens[{i}]"
            if t["group_id"] is not None:
                self.expect(
                    t["group_id"] in groups,
                    f"{where}.deploymentGroupId",
                    f"no deployment group {t['group_id']!r} in this file",
                )
            if t["deployment_id"] is not None:
                self.expect(
                    t["deployment_id"] in deployments,
                    f"{where}.deploymentId",
                    f"no deployment {t['deployment_id']!r} in this file",
                )
                t["group_id"] = deployments[t["deployment_id"]]["deployment_group"]
