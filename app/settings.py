"""Configuration: every variable declared once, read from the environment here and nowhere else.

Each setting is one `setting(...)` entry on the frozen dataclasses below: the attribute, its
environment variable, default, parser and the README's words for it. Adding a variable is
adding one entry. `Settings.from_env` parses strictly: an unparsable value is a `ConfigError`
naming the variable and what it accepts, which every entry point prints as one line
(docs/behaviour.md §12). The README's configuration table is generated from the same entries
(`readme_rows()`; tests/app/test_settings.py keeps the two equal and prints the rows).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: A configured admin token: the minted form's prefix, then at least as much randomness as a
#: minted token carries (40 hex digits = 160 bits; 40 of these 64 characters is more).
ADMIN_TOKEN = re.compile(r"ax_admin_[A-Za-z0-9_-]{40,200}")
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgres+pool", "postgresql+pool")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ConfigError(ValueError):
    """One or more variables cannot be parsed; the message is one line naming each."""


@dataclass(frozen=True)
class Var:
    """How one setting is read, shown and documented."""

    env: str
    parse: Callable[[str], Any]
    doc: str  # the README's "meaning" cell
    default_doc: str  # the README's "default" cell
    show: Callable[[Any], str] | None = None  # masks a secret; None: shown as it is

    def display(self, value: Any) -> str:
        if value is None or value == "":
            return "(unset)"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return ",".join(str(item) for item in value)
        return self.show(value) if self.show is not None else str(value)


def setting(
    env: str,
    default: Any,
    parse: Callable[[str], Any],
    doc: str,
    shown: str | None = None,
    show: Callable[[Any], str] | None = None,
) -> Any:
    """A dataclass field read from `env` by `parse`; `shown` is the README's default cell."""
    var = Var(env, parse, doc, shown if shown is not None else f"`{default}`", show)
    return field(default=default, metadata={"var": var})


# Parsers: each takes the raw text and returns the value, or raises ValueError("<what it accepts>").


def text(raw: str) -> str:
    return raw


def integer(low: int, high: int | None = None, unit: str = "") -> Callable[[str], int]:
    accepts = f"a whole number{unit}, at least {low}" + (
        "" if high is None else f", at most {high}"
    )

    def parse(raw: str) -> int:
        if not re.fullmatch(r"[0-9]{1,19}", raw.strip()):
            raise ValueError(accepts)
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ValueError(accepts)
        return value

    return parse


def seconds(low: float, high: float) -> Callable[[str], float]:
    accepts = f"a number of seconds from {low:g} to {high:g}"

    def parse(raw: str) -> float:
        if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,6})?", raw.strip()):
            raise ValueError(accepts)
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(accepts)
        return value

    return parse


def fraction(raw: str) -> float:
    accepts = "a fraction from 0 to 1"
    if not re.fullmatch(r"(0|1)?(\.[0-9]{1,9})?|[01]", raw.strip()):
        raise ValueError(accepts)
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(accepts)
    return value


def flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in TRUE + FALSE:
        raise ValueError(f"on ({', '.join(TRUE)}) or off ({', '.join(FALSE)})")
    return value in TRUE


def choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.strip().lower() not in options:
            raise ValueError(f"one of {', '.join(options)}")
        return raw.strip().lower()

    return parse


def log_level(raw: str) -> str:
    if raw.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"one of {', '.join(LOG_LEVELS)}")
    return raw.strip().upper()


def database_url(raw: str) -> str:
    accepts = "sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise ValueError(accepts) from None
    if parts.scheme in SQLITE_SCHEMES and not parts.netloc and parts.path.strip("/"):
        return raw
    if parts.scheme in POSTGRES_SCHEMES and parts.hostname and parts.path.strip("/"):
        return raw
    known = parts.scheme in SQLITE_SCHEMES + POSTGRES_SCHEMES or not parts.scheme.isalnum()
    raise ValueError(accepts if known else f"{accepts}, not {parts.scheme}://")


def http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("an absolute http:// or https:// URL")
    return raw


def admin_token(raw: str) -> str:
    if not ADMIN_TOKEN.fullmatch(raw):
        raise ValueError(
            "'ax_admin_' followed by 40 to 200 letters, digits, '-' or '_' "
            "(e.g. ax_admin_$(openssl rand -hex 20))"
        )
    return raw


def path(raw: str) -> Path:
    return Path(raw)


# Masks for check-config and error messages.


def hidden(value: Any) -> str:
    return "(set, hidden)"


def token_prefix(value: str) -> str:
    return value[:12] + "… (hidden)"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}"))


def cloud(env: str, platform: str, show: Callable[[Any], str] | None = None) -> Any:
    """A cloud's standard credential variable, handed out by resolve_credentials."""
    doc = f"credentials handed to `{platform}` deployments by resolve-credentials"
    return setting(env, None, text, doc if platform == "aws" else f"the same for `{platform}`",
                   "unset", show)  # fmt: skip


ORIGIN = re.compile(r"^https?://[^/\s]+$")


def origins(raw: str) -> tuple[str, ...]:
    listed = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
    if not listed or any(o != "*" and not ORIGIN.match(o) for o in listed):
        raise ValueError(
            "'*' or a comma-separated list of origins such as https://dash.example.com "
            "(scheme and host, optional port, no path)"
        )
    return listed


@dataclass(frozen=True)
class CloudSettings:
    """The standard credential variables of each cloud, read once, used by resolve_credentials."""

    aws_access_key_id: str | None = cloud("AWS_ACCESS_KEY_ID", "aws")
    aws_secret_access_key: str | None = cloud("AWS_SECRET_ACCESS_KEY", "aws", hidden)
    aws_session_token: str | None = cloud("AWS_SESSION_TOKEN", "aws", hidden)
    aws_region: str | None = cloud("AWS_REGION", "aws")
    gcp_project: str | None = cloud("GOOGLE_CLOUD_PROJECT", "gcp")
    gcp_region: str | None = cloud("GOOGLE_CLOUD_REGION", "gcp")
    gcp_credentials_file: str | None = cloud("GOOGLE_APPLICATION_CREDENTIALS", "gcp")
    azure_tenant_id: str | None = cloud("AZURE_TENANT_ID", "azure")
    azure_subscription_id: str | None = cloud("AZURE_SUBSCRIPTION_ID", "azure")
    azure_client_id: str | None = cloud("AZURE_CLIENT_ID", "azure")
    azure_client_secret: str | None = cloud("AZURE_CLIENT_SECRET", "azure", hidden)
    azure_location: str | None = cloud("AZURE_LOCATION", "azure")
    kubeconfig: str | None = cloud("KUBECONFIG", "kubernetes")
    kubernetes_host: str | None = cloud("KUBERNETES_SERVICE_HOST", "kubernetes")
    kubernetes_namespace: str | None = cloud("KUBERNETES_NAMESPACE", "kubernetes")
    local_state_directory: str | None = setting(
        "ALIEN_LOCAL_STATE_DIRECTORY", None, text,
        "the `state_directory` handed to `local` deployments by resolve-credentials (the local "
        "platform's directory, as the reference server; not `ALIEN_STATE_DIR`)",
        "`/tmp/alien-local`",
    )  # fmt: skip

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CloudSettings:
        return cls(**_parse(cls, env))


#: PostgreSQL cannot index a value over ~2,700 bytes; a name of this many characters (at most
#: 4 UTF-8 bytes each) beside its group id stays under that, so both databases accept it.
MAX_TEXT_CHARS_CEILING = 640


@dataclass(frozen=True)
class Settings:
    host: str = setting("HOST", "127.0.0.1", text, "address `alien-server serve` binds")
    port: int = setting(
        "PORT", 8080, integer(1, 65535), "port it binds; also the default base URL's port"
    )
    web_concurrency: int = setting("WEB_CONCURRENCY", 2, integer(1, 64), "gunicorn workers")
    worker_threads: int = setting(
        "ALIEN_WORKER_THREADS", 4, integer(1, 256),
        "threads per worker running requests: a request holds one while it waits for the "
        "database, so raise it for a slow PostgreSQL; more than the cores keep busy only adds "
        "contention (docs/performance.md)",
    )  # fmt: skip
    database_url: str = setting(
        "DATABASE_URL", "", database_url,
        "`sqlite:///path` or `postgresql://user@host:5432/db`; anything else stops the start",
        "`sqlite:///<state dir>/alien.db`", without_password,
    )  # fmt: skip
    state_dir: Path = setting(
        "ALIEN_STATE_DIR", Path(".alien-manager"), path,
        "state directory (created mode 0700): SQLite file (0600), `admin-token`",
    )  # fmt: skip
    admin_token: str | None = setting(
        "ALIEN_ADMIN_TOKEN", None, admin_token,
        "register this admin token instead of minting one; nothing is printed. `ax_admin_` then "
        "40 to 200 of `A-Za-z0-9_-` (`ax_admin_$(openssl rand -hex 20)`). Changing it revokes "
        "the token the previous value registered",
        "unset", token_prefix,
    )  # fmt: skip
    dev_mode: bool = setting(
        "ALIEN_DEV_MODE", False, flag,
        "every request is an admin, group `local-dev` exists. Never in production", "off",
    )  # fmt: skip
    base_url: str = setting(
        "ALIEN_BASE_URL", "", http_url,
        "URL given to deployments in `info.commands.url`", "`http://localhost:<PORT>`",
    )  # fmt: skip
    max_body_bytes: int = setting(
        "ALIEN_MAX_BODY_BYTES", 2 * 1024 * 1024, integer(1, unit=" of bytes"),
        "request bodies above this answer 413",
    )  # fmt: skip
    lock_ttl_seconds: int = setting(
        "ALIEN_LOCK_TTL_SECONDS", 300, integer(1, unit=" of seconds"),
        "a sync lease older than this is stale and may be taken over",
    )  # fmt: skip
    auth_cache_seconds: float = setting(
        "ALIEN_AUTH_CACHE_SECONDS", 1.0, seconds(0, 1),
        "how long a worker trusts a token it looked up (0: look up every request); a revoked "
        "token is refused at once on the instance that revoked it, and within this on others "
        "sharing a PostgreSQL database", "`1`",
    )  # fmt: skip
    validate_responses: bool = setting(
        "ALIEN_VALIDATE_RESPONSES", True, flag,
        "validate every response against the spec (a non-conforming one is a 500)", "on",
    )  # fmt: skip
    db_max_connections: int = setting(
        "ALIEN_DB_MAX_CONNECTIONS", 8, integer(1, 1000),
        "PostgreSQL connection pool size per worker",
    )  # fmt: skip
    log_level: str = setting(
        "ALIEN_LOG_LEVEL", "INFO", log_level,
        "log level; one access line per request, never a token",
    )  # fmt: skip
    # Hard limits on what a client sends, the same on every database (docs/behaviour.md §11).
    max_json_depth: int = setting(
        "ALIEN_MAX_JSON_DEPTH", 64, integer(1, 10_000),
        "a body nested deeper answers 400 (docs/behaviour.md §11)",
    )  # fmt: skip
    max_list_items: int = setting(
        "ALIEN_MAX_LIST_ITEMS", 1000, integer(1),
        "most items in any array of a body (`deploymentIds`, …) or repeats of a query "
        "parameter; more answer 400",
    )  # fmt: skip
    max_text_chars: int = setting(
        "ALIEN_MAX_TEXT_CHARS", 256, integer(1, MAX_TEXT_CHARS_CEILING),
        "longest string (name, session, id, key) outside a stored document, in a body, path or "
        "query; longer answers 400. At most 640, so PostgreSQL can index what SQLite can",
    )  # fmt: skip
    max_document_bytes: int = setting(
        "ALIEN_MAX_DOCUMENT_BYTES", 256 * 1024, integer(1, unit=" of bytes"),
        "largest stored JSON document (`stackSettings`, `stackState`, `environmentInfo`, "
        "`runtimeMetadata`, a release's `stack`, `gitMetadata`) as compact UTF-8 JSON; larger "
        "answers 400",
    )  # fmt: skip
    cors_origins: tuple[str, ...] = setting(
        "ALIEN_CORS_ORIGINS", ("*",), origins,
        "origins browsers may call the API from: `*` (any, as the reference server) or a "
        "comma-separated list such as `https://dash.example.com,http://localhost:3000`; "
        "preflights are answered, error responses carry the headers too", "`*`",
    )  # fmt: skip
    # Serving (docs/behaviour.md §12): read by app/gunicorn_conf.py and the worker.
    body_timeout_seconds: float = setting(
        "ALIEN_BODY_TIMEOUT_SECONDS", 5.0, seconds(0.1, 600),
        "a request body must arrive within this, else 408 and the connection closes", "`5`",
    )  # fmt: skip
    header_timeout_seconds: float = setting(
        "ALIEN_HEADER_TIMEOUT_SECONDS", 5.0, seconds(0.1, 600),
        "a request head must arrive within this of its first byte (else 408), and a new "
        "connection must start one within as long (else it is closed)", "`5`",
    )  # fmt: skip
    keepalive_seconds: int = setting(
        "ALIEN_KEEPALIVE_SECONDS", 5, integer(1, 3600, unit=" of seconds"),
        "an idle keep-alive connection is closed after this",
    )  # fmt: skip
    max_header_bytes: int = setting(
        "ALIEN_MAX_HEADER_BYTES", 16 * 1024, integer(1024, 1024 * 1024, unit=" of bytes"),
        "request line plus headers above this answer 431 and the connection closes",
    )  # fmt: skip
    drain_seconds: float = setting(
        "ALIEN_DRAIN_SECONDS", 5.0, seconds(0, 600),
        "on SIGTERM, `/ready` answers 503 and responses close their connections for this long "
        "before the listener closes", "`5`",
    )  # fmt: skip
    graceful_timeout_seconds: int = setting(
        "ALIEN_GRACEFUL_TIMEOUT_SECONDS", 30, integer(1, 3600, unit=" of seconds"),
        "after the drain, requests in flight get this long to finish",
    )  # fmt: skip
    # Observability (docs/behaviour.md §12): log format and metrics.
    log_format: str = setting(
        "ALIEN_LOG_FORMAT", "text", choice(LOG_FORMATS),
        "`text` (for a terminal) or `json` (one JSON object per line, to ship); see [Logs](#logs)",
    )  # fmt: skip
    metrics_token: str | None = setting(
        "ALIEN_METRICS_TOKEN", None, text,
        "when set, `/metrics` answers only `Authorization: Bearer <this value>`; unset, anyone "
        "who reaches the port may scrape", "unset", hidden,
    )  # fmt: skip
    metrics_dir: Path | None = setting(
        "PROMETHEUS_MULTIPROC_DIR", None, path,
        "where gunicorn workers keep their metrics; the gunicorn configuration sets it afresh at "
        "every start (`<state dir>/metrics-<pid>`), do not set it yourself", "set by the server",
    )  # fmt: skip
    # The simulated deployment engine (docs/behaviour.md §9).
    simulate: bool = setting(
        "ALIEN_SIMULATE", False, flag,
        "run one simulated deployment engine beside each server instance (see \"Watching "
        "deployments move\")", "off",
    )  # fmt: skip
    simulate_tick_ms: int = setting(
        "ALIEN_SIMULATE_TICK_MS", 500, integer(1, 3_600_000),
        "the simulated engine's tick: one step per deployment per tick, at least 1",
    )  # fmt: skip
    # Test controls for client test suites (docs/behaviour.md §13); never in production.
    test_mode: bool = setting(
        "ALIEN_TEST_MODE", False, flag,
        "test controls for client test suites (`/_test/*`, `Prefer`); never in production. See "
        "\"Testing your client against this server\"", "off",
    )  # fmt: skip
    fixtures: Path | None = setting(
        "ALIEN_FIXTURES", None, path,
        "test mode: a JSON or YAML fixture file loaded at start-up and by every `/_test/reset`",
        "unset",
    )  # fmt: skip
    test_record: Path | None = setting(
        "ALIEN_TEST_RECORD", None, path,
        "test mode: append one NDJSON line per exchange to this file (tokens masked)", "unset",
    )  # fmt: skip
    test_fault_rate: float = setting(
        "ALIEN_TEST_FAULT_RATE", 0.0, fraction,
        "test mode: this fraction (0 to 1) of authenticated requests answers 503, seeded "
        "sequence", "`0`",
    )  # fmt: skip
    cloud: CloudSettings = field(default_factory=CloudSettings)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.state_dir / 'alien.db'}")
        if not self.base_url:
            object.__setattr__(self, "base_url", f"http://localhost:{self.port}")
        if not self.test_mode and (self.fixtures or self.test_record or self.test_fault_rate):
            raise ConfigError(
                "ALIEN_FIXTURES, ALIEN_TEST_RECORD and ALIEN_TEST_FAULT_RATE need ALIEN_TEST_MODE=1"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse every variable strictly; an empty one counts as unset."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values = _parse(cls, env, problems)
        cloud = _parse(CloudSettings, env, problems)
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(cloud=CloudSettings(**cloud), **values)

    def effective(self, environ: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
        """(variable, value as shown, "environment" or "default") for check-config, secrets
        masked; a derived default (database URL, base URL) shows the value it derived."""
        env = os.environ if environ is None else environ
        return [
            (var.env, var.display(getattr(holder, f.name)), _source(env, var))
            for holder in (self, self.cloud)
            for f, var in declared(type(holder))
        ]


def declared(cls: type) -> list[tuple[Field[Any], Var]]:
    return [(f, f.metadata["var"]) for f in fields(cls) if "var" in f.metadata]


def _source(env: Mapping[str, str], var: Var) -> str:
    return "default" if env.get(var.env, "").strip() == "" else "environment"


def _parse(cls: type, env: Mapping[str, str], problems: list[str] | None = None) -> dict[str, Any]:
    """Parse `cls`'s variables from `env`. A bad one raises, or is added to `problems`; the
    message echoes the value unless the variable is a secret."""
    values: dict[str, Any] = {}
    for f, var in declared(cls):
        raw = env.get(var.env, "")
        if raw.strip() == "":
            continue
        try:
            values[f.name] = var.parse(raw)
        except ValueError as exc:
            echo = f"={raw!r}" if var.show is None else ""
            message = f"{var.env}{echo} is not valid: expected {exc}"
            if problems is None:
                raise ConfigError(message) from None
            problems.append(message)
    return values


#: CloudSettings field -> the cloud's own standard environment variable.
CLOUD_ENV = {f.name: var.env for f, var in declared(CloudSettings)}


def variables() -> list[Var]:
    """Every variable the server reads, in the README's order."""
    return [var for cls in (Settings, CloudSettings) for _, var in declared(cls)]


def readme_rows() -> list[str]:
    """The README configuration table's rows; variables documented alike share a row."""
    rows: list[tuple[list[str], str, str]] = []
    for var in variables():
        if rows and rows[-1][1:] == (var.default_doc, var.doc):
            rows[-1][0].append(var.env)
        else:
            rows.append(([var.env], var.default_doc, var.doc))
    return [f"| {', '.join(f'`{n}`' for n in names)} | {d} | {doc} |" for names, d, doc in rows]
