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
import sys
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

#: A configured admin token: the minted form's prefix, then at least as much randomness as a
#: minted token carries (40 hex digits = 160 bits; 40 of these 64 characters is more).
ADMIN_TOKEN = re.compile(r"ax_admin_[A-Za-z0-9_-]{40,200}")
#: Admin tokens the documentation publishes (README, docs/fixtures.example.yaml): fine for a
#: test-mode server, an open door anywhere else. tests/app/test_settings_public_tokens.py keeps
#: this list complete.
PUBLIC_ADMIN_TOKENS = frozenset({"ax_admin_" + "0" * 39 + "1"})
SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgres+pool", "postgresql+pool")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


#: Exit statuses for a configuration a process cannot start with: sysexits' EX_CONFIG for the
#: command line and gunicorn's master; a worker exits with gunicorn's WORKER_BOOT_ERROR instead,
#: which stops the whole server rather than having the master restart workers for ever.
EX_CONFIG = 78
WORKER_BOOT_ERROR = 3


class ConfigError(ValueError):
    """One or more variables cannot be parsed; the message is one line naming each."""


def exit_for_config_error(exc: ConfigError, status: int = EX_CONFIG) -> NoReturn:
    """The one way a process stops on a bad configuration: one line, no traceback (§12)."""
    print(f"alien-server: configuration error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(status)


@dataclass(frozen=True)
class Var:
    """How one setting is read, shown and documented."""

    env: str
    parse: Callable[[str], Any]
    doc: str  # the README's "meaning" cell
    default_doc: str  # the README's "default" cell
    mask: Callable[[Any], str] | None = None  # how a secret is shown; None: as it is
    note: str | None = None  # what check-config says about it when it is set

    def display(self, value: Any) -> str:
        if value is None or value == "":
            return "(unset)"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, tuple):
            return ",".join(str(item) for item in value)
        if isinstance(value, float):
            return f"{value:g}"  # as the README writes it: 5, not 5.0
        return self.mask(value) if self.mask is not None else str(value)


def setting(
    *,
    env: str,
    default: Any,
    parse: Callable[[str], Any],
    doc: str,
    default_doc: str | None = None,
    mask: Callable[[Any], str] | None = None,
    note: str | None = None,
) -> Any:
    """A dataclass field read from `env` by `parse`. `doc` and `default_doc` are the README's
    cells (`default_doc` defaults to the value itself); `mask` hides a secret when shown."""
    if default_doc is None:
        default_doc = f"`{default}`"
    var = Var(env=env, parse=parse, doc=doc, default_doc=default_doc, mask=mask, note=note)
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


def reference_flag(raw: str) -> bool:
    """ALIEN_DEV_MODE as the reference reads it (crates/alien-manager/src/bin/main.rs:66-68):
    on is `1` or `true` (any case). The reference takes every other value as off; here only
    `0` and `false` are, and anything else (`yes`, `on`, `enabled`, which another tool would
    read as on) stops the start rather than silently meaning off."""
    value = raw.strip().lower()
    if value not in ("1", "true", "0", "false"):
        raise ValueError("1 or true (on), 0 or false (off), as the reference server reads it")
    return value in ("1", "true")


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


def cloud(*, env: str, platform: str, mask: Callable[[Any], str] | None = None) -> Any:
    """A cloud's standard credential variable, handed out by resolve_credentials."""
    if platform == "aws":
        doc = f"credentials handed to `{platform}` deployments by resolve-credentials"
    else:
        doc = f"the same for `{platform}`"
    return setting(env=env, default=None, parse=text, doc=doc, default_doc="unset", mask=mask)


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

    aws_access_key_id: str | None = cloud(env="AWS_ACCESS_KEY_ID", platform="aws")
    aws_secret_access_key: str | None = cloud(
        env="AWS_SECRET_ACCESS_KEY", platform="aws", mask=hidden
    )
    aws_session_token: str | None = cloud(env="AWS_SESSION_TOKEN", platform="aws", mask=hidden)
    aws_region: str | None = cloud(env="AWS_REGION", platform="aws")
    aws_account_id: str | None = cloud(env="AWS_ACCOUNT_ID", platform="aws")
    gcp_project: str | None = cloud(env="GOOGLE_CLOUD_PROJECT", platform="gcp")
    gcp_region: str | None = cloud(env="GOOGLE_CLOUD_REGION", platform="gcp")
    gcp_credentials_file: str | None = cloud(env="GOOGLE_APPLICATION_CREDENTIALS", platform="gcp")
    azure_tenant_id: str | None = cloud(env="AZURE_TENANT_ID", platform="azure")
    azure_subscription_id: str | None = cloud(env="AZURE_SUBSCRIPTION_ID", platform="azure")
    azure_client_id: str | None = cloud(env="AZURE_CLIENT_ID", platform="azure")
    azure_client_secret: str | None = cloud(
        env="AZURE_CLIENT_SECRET", platform="azure", mask=hidden
    )
    azure_location: str | None = cloud(env="AZURE_LOCATION", platform="azure")
    kubeconfig: str | None = cloud(env="KUBECONFIG", platform="kubernetes")
    kubernetes_host: str | None = cloud(env="KUBERNETES_SERVICE_HOST", platform="kubernetes")
    kubernetes_port: str | None = cloud(env="KUBERNETES_SERVICE_PORT", platform="kubernetes")
    kubernetes_namespace: str | None = cloud(env="KUBERNETES_NAMESPACE", platform="kubernetes")
    kubernetes_context: str | None = cloud(env="KUBERNETES_CONTEXT", platform="kubernetes")
    kubernetes_cluster: str | None = cloud(env="KUBERNETES_CLUSTER", platform="kubernetes")
    kubernetes_user: str | None = cloud(env="KUBERNETES_USER", platform="kubernetes")
    kubernetes_server_url: str | None = cloud(env="KUBERNETES_SERVER_URL", platform="kubernetes")
    kubernetes_ca_data: str | None = cloud(env="KUBERNETES_CA_DATA", platform="kubernetes")
    kubernetes_client_cert_data: str | None = cloud(
        env="KUBERNETES_CLIENT_CERT_DATA", platform="kubernetes"
    )
    kubernetes_client_key_data: str | None = cloud(
        env="KUBERNETES_CLIENT_KEY_DATA", platform="kubernetes", mask=hidden
    )
    kubernetes_bearer_token: str | None = cloud(
        env="KUBERNETES_BEARER_TOKEN", platform="kubernetes", mask=hidden
    )
    #: The local platform's own directory (reference: crates/alien-client-config/src/
    #: client_config_ext.rs, `Platform::Local`; docs/behaviour.md §10).
    local_state_directory: str = setting(
        env="ALIEN_LOCAL_STATE_DIRECTORY",
        default="/tmp/alien-local",
        parse=text,
        doc="the `state_directory` handed to `local` deployments by resolve-credentials (the local "
        "platform's directory, as the reference server; not `ALIEN_STATE_DIR`)",
        default_doc="`/tmp/alien-local`",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CloudSettings:
        return cls(**_parse(cls, env))


#: PostgreSQL cannot index a value over ~2,700 bytes; a name of this many characters (at most
#: 4 UTF-8 bytes each) beside its group id stays under that, so both databases accept it.
MAX_TEXT_CHARS_CEILING = 640
DEFAULT_STATE_DIR = Path(".alien-manager")
#: Test mode's own default (docs/behaviour.md §13): fixture data never lands in `make run`'s.
TEST_STATE_DIR = Path(".alien-manager-test")


@dataclass(frozen=True)
class Settings:
    host: str = setting(
        env="HOST", default="127.0.0.1", parse=text, doc="address `alien-server serve` binds"
    )
    port: int = setting(
        env="PORT",
        default=8080,
        parse=integer(1, 65535),
        doc="port it binds; also the default base URL's port",
    )
    server_port: int | None = setting(
        env="ALIEN_SERVER_PORT",
        default=None,
        parse=integer(1, 65535),
        doc="the reference server's name for `PORT`, used when `PORT` is unset (as the reference)",
        default_doc="unset",
    )
    web_concurrency: int = setting(
        env="WEB_CONCURRENCY", default=2, parse=integer(1, 64), doc="gunicorn workers"
    )
    worker_threads: int = setting(
        env="ALIEN_WORKER_THREADS",
        default=4,
        parse=integer(1, 256),
        doc="threads per worker running requests: a request holds one while it waits for the "
        "database, so raise it for a slow PostgreSQL; more than the cores keep busy only adds "
        "contention (docs/performance.md)",
    )
    database_url: str = setting(
        env="DATABASE_URL",
        default="",
        parse=database_url,
        doc="`sqlite:///path` or `postgresql://user@host:5432/db`; anything else stops the start",
        default_doc="`sqlite:///<state dir>/alien.db`",
        mask=without_password,
    )
    db_path: Path | None = setting(
        env="ALIEN_DB_PATH",
        default=None,
        parse=path,
        doc="the reference server's name for the SQLite file: the database is "
        "`sqlite:///<this path>`; set this or `DATABASE_URL`, not both",
        default_doc="unset",
    )
    state_dir: Path = setting(
        env="ALIEN_STATE_DIR",
        default=DEFAULT_STATE_DIR,
        parse=path,
        doc="state directory (created mode 0700): SQLite file (0600), `admin-token`; refused at "
        "start when another user owns it or could write it (docs/behaviour.md §12). Test mode's "
        "default is `.alien-manager-test`, so test data never lands in the normal one",
    )
    admin_token: str | None = setting(
        env="ALIEN_ADMIN_TOKEN",
        default=None,
        parse=admin_token,
        doc="register this admin token instead of minting one; nothing is printed. `ax_admin_` "
        "then 40 to 200 of `A-Za-z0-9_-` (`ax_admin_$(openssl rand -hex 20)`). Changing it revokes "
        "the token the previous value registered. The documentation's example token is refused "
        "outside test mode",
        default_doc="unset",
        mask=token_prefix,
    )
    dev_mode: bool = setting(
        env="ALIEN_DEV_MODE",
        default=False,
        parse=reference_flag,
        doc="`1` or `true`: every request is an admin, group `local-dev` exists. Never in "
        "production. `0`, `false` or unset: off; any other value stops the start",
        default_doc="off",
    )
    base_url: str = setting(
        env="ALIEN_BASE_URL",
        default="",
        parse=http_url,
        doc="URL given to deployments in `info.commands.url`",
        default_doc="`http://localhost:<PORT>`",
    )
    max_body_bytes: int = setting(
        env="ALIEN_MAX_BODY_BYTES",
        default=2 * 1024 * 1024,
        parse=integer(1, unit=" of bytes"),
        doc="request bodies above this answer 413",
    )
    lock_ttl_seconds: int = setting(
        env="ALIEN_LOCK_TTL_SECONDS",
        default=300,
        parse=integer(1, unit=" of seconds"),
        doc="a sync lease older than this is stale and may be taken over",
    )
    auth_cache_seconds: float = setting(
        env="ALIEN_AUTH_CACHE_SECONDS",
        default=1.0,
        parse=seconds(0, 1),
        doc="how long a worker trusts a token it looked up (0: look up every request); a revoked "
        "token is refused at once on the instance that revoked it, and within this on others "
        "sharing a PostgreSQL database",
        default_doc="`1`",
    )
    validate_responses: bool = setting(
        env="ALIEN_VALIDATE_RESPONSES",
        default=True,
        parse=flag,
        doc="validate every response against the spec (a non-conforming one is a 500)",
        default_doc="on",
    )
    db_max_connections: int = setting(
        env="ALIEN_DB_MAX_CONNECTIONS",
        default=8,
        parse=integer(1, 1000),
        doc="PostgreSQL connection pool size per worker",
    )
    db_wait_seconds: float = setting(
        env="ALIEN_DB_WAIT_SECONDS",
        default=30.0,
        parse=seconds(0, 3600),
        doc="`alien-server serve` waits this long for a PostgreSQL server that does not answer "
        "yet (a container started before its database), saying so every few seconds, then "
        "stops with one line (exit 78); 0: no wait",
        default_doc="`30`",
    )
    log_level: str = setting(
        env="ALIEN_LOG_LEVEL",
        default="INFO",
        parse=log_level,
        doc="log level; one access line per request, never a token",
    )
    # Hard limits on what a client sends, the same on every database (docs/behaviour.md §11).
    max_json_depth: int = setting(
        env="ALIEN_MAX_JSON_DEPTH",
        default=64,
        parse=integer(1, 10_000),
        doc="a body nested deeper answers 400 (docs/behaviour.md §11)",
    )
    max_list_items: int = setting(
        env="ALIEN_MAX_LIST_ITEMS",
        default=10_000,
        parse=integer(1),
        doc="most items in any array of a body (`deploymentIds`, …) or repeats of a query "
        "parameter; more answer 400",
    )
    max_text_chars: int = setting(
        env="ALIEN_MAX_TEXT_CHARS",
        default=MAX_TEXT_CHARS_CEILING,
        parse=integer(1, MAX_TEXT_CHARS_CEILING),
        doc="longest string (name, session, id, key) outside a stored document, in a body, path or "
        "query; longer answers 400. At most 640, so PostgreSQL can index what SQLite can",
    )
    max_document_bytes: int = setting(
        env="ALIEN_MAX_DOCUMENT_BYTES",
        default=2 * 1024 * 1024,
        parse=integer(1, unit=" of bytes"),
        doc="largest stored JSON document (`stackSettings`, `stackState`, `environmentInfo`, "
        "`runtimeMetadata`, a release's `stack`, `gitMetadata`) as compact UTF-8 JSON; larger "
        "answers 400",
    )
    strict_query: bool | None = setting(
        env="ALIEN_STRICT_QUERY",
        default=None,
        parse=flag,
        doc="an undeclared query parameter that looks like a declared one (`Limit`, `limit[]`, "
        '`deployment_group_id`) answers 400 "did you mean"; off, it is ignored with a WARNING '
        "line, as the reference server ignores unknown parameters",
        default_doc="off; on in test mode",
    )
    cors_origins: tuple[str, ...] = setting(
        env="ALIEN_CORS_ORIGINS",
        default=("*",),
        parse=origins,
        doc="origins browsers may call the API from: `*` (any, as the reference server) or a "
        "comma-separated list such as `https://dash.example.com,http://localhost:3000`; "
        "preflights are answered, error responses carry the headers too",
        default_doc="`*`",
    )
    # Serving (docs/behaviour.md §12): read by app/gunicorn_conf.py and the worker.
    body_timeout_seconds: float = setting(
        env="ALIEN_BODY_TIMEOUT_SECONDS",
        default=5.0,
        parse=seconds(0.1, 600),
        doc="a request body must arrive within this, else 408 and the connection closes",
        default_doc="`5`",
    )
    header_timeout_seconds: float = setting(
        env="ALIEN_HEADER_TIMEOUT_SECONDS",
        default=5.0,
        parse=seconds(0.1, 600),
        doc="a request head must arrive within this of its first byte (else 408), and a new "
        "connection must start one within as long (else it is closed)",
        default_doc="`5`",
    )
    keepalive_seconds: int = setting(
        env="ALIEN_KEEPALIVE_SECONDS",
        default=5,
        parse=integer(1, 3600, unit=" of seconds"),
        doc="an idle keep-alive connection is closed after this",
    )
    max_header_bytes: int = setting(
        env="ALIEN_MAX_HEADER_BYTES",
        default=16 * 1024,
        parse=integer(1024, 1024 * 1024, unit=" of bytes"),
        doc="request line plus headers above this answer 431 and the connection closes",
    )
    drain_seconds: float = setting(
        env="ALIEN_DRAIN_SECONDS",
        default=5.0,
        parse=seconds(0, 600),
        doc="on SIGTERM, `/ready` answers 503 and responses close their connections for this long "
        "before the listener closes",
        default_doc="`5`",
    )
    graceful_timeout_seconds: int = setting(
        env="ALIEN_GRACEFUL_TIMEOUT_SECONDS",
        default=30,
        parse=integer(1, 3600, unit=" of seconds"),
        doc="after the drain, requests in flight get this long to finish",
    )
    # Observability (docs/behaviour.md §12): log format and metrics.
    log_format: str = setting(
        env="ALIEN_LOG_FORMAT",
        default="text",
        parse=choice(LOG_FORMATS),
        doc="`text` (for a terminal) or `json` (one JSON object per line, to ship); "
        "see [Logs](#logs)",
    )
    metrics_token: str | None = setting(
        env="ALIEN_METRICS_TOKEN",
        default=None,
        parse=text,
        doc="when set, `/metrics` answers only `Authorization: Bearer <this value>`; unset, anyone "
        "who reaches the port may scrape",
        default_doc="unset",
        mask=hidden,
    )
    metrics_dir: Path | None = setting(
        env="PROMETHEUS_MULTIPROC_DIR",
        default=None,
        parse=path,
        doc="where gunicorn workers keep their metrics; the gunicorn configuration sets it afresh "
        "at every start (`<state dir>/metrics-<pid>`), do not set it yourself",
        default_doc="set by the server",
    )
    otlp_endpoint: str | None = setting(
        env="OTLP_ENDPOINT",
        default=None,
        parse=http_url,
        doc="an OTLP/HTTP collector (`http://collector:4318`) that `POST /v1/logs`, `/v1/traces` "
        "and `/v1/metrics` forward to; unset, what they receive is counted "
        "(`alien_telemetry_received_total`) and dropped",
        default_doc="unset",
    )
    # The reference's loops: accepted, so its configuration starts this server, and explained.
    deployment_interval: int | None = setting(
        env="ALIEN_DEPLOYMENT_INTERVAL",
        default=None,
        parse=integer(0, unit=" of seconds"),
        doc="accepted for the reference's configuration; nothing reads it: this server runs no "
        "deployment loop (`ALIEN_SIMULATE` runs a simulated engine, ticking every "
        "`ALIEN_SIMULATE_TICK_MS`)",
        default_doc="unset",
        note="accepted and ignored: this server runs no deployment loop; deployments move when a "
        "worker reconciles them (ALIEN_SIMULATE=1 runs a simulated engine, ALIEN_SIMULATE_TICK_MS)",
    )
    heartbeat_interval: int | None = setting(
        env="ALIEN_HEARTBEAT_INTERVAL",
        default=None,
        parse=integer(0, unit=" of seconds"),
        doc="accepted for the reference's configuration; nothing reads it: this server runs no "
        "heartbeat loop (a lease expires after `ALIEN_LOCK_TTL_SECONDS`)",
        default_doc="unset",
        note="accepted and ignored: this server runs no heartbeat loop; a worker's lease expires "
        "after ALIEN_LOCK_TTL_SECONDS without a reconcile",
    )
    # The simulated deployment engine (docs/behaviour.md §9).
    simulate: bool = setting(
        env="ALIEN_SIMULATE",
        default=False,
        parse=flag,
        doc='run one simulated deployment engine beside each server instance (see "Watching '
        'deployments move")',
        default_doc="off",
    )
    simulate_tick_ms: int = setting(
        env="ALIEN_SIMULATE_TICK_MS",
        default=500,
        parse=integer(1, 3_600_000),
        doc="the simulated engine's tick: one step per deployment per tick, at least 1",
    )
    # Test controls for client test suites (docs/behaviour.md §13); never in production.
    test_mode: bool = setting(
        env="ALIEN_TEST_MODE",
        default=False,
        parse=flag,
        doc="test controls for client test suites (`/_test/*`, `Prefer`); never in production. See "
        '"Testing your client against this server"',
        default_doc="off",
    )
    fixtures: Path | None = setting(
        env="ALIEN_FIXTURES",
        default=None,
        parse=path,
        doc="test mode: a JSON or YAML fixture file loaded at start-up and by every `/_test/reset`",
        default_doc="unset",
    )
    test_record: Path | None = setting(
        env="ALIEN_TEST_RECORD",
        default=None,
        parse=path,
        doc="test mode: append one NDJSON line per exchange to this file (tokens masked)",
        default_doc="unset",
    )
    test_fault_rate: float = setting(
        env="ALIEN_TEST_FAULT_RATE",
        default=0.0,
        parse=fraction,
        doc="test mode: this fraction (0 to 1) of authenticated requests answers 503, seeded "
        "sequence",
        default_doc="`0`",
    )
    cloud: CloudSettings = field(default_factory=CloudSettings)

    def __post_init__(self) -> None:
        if self.db_path is not None:
            if self.database_url:
                raise ConfigError("set DATABASE_URL or ALIEN_DB_PATH, not both")
            object.__setattr__(self, "database_url", f"sqlite:///{self.db_path}")
        if self.test_mode and self.state_dir == DEFAULT_STATE_DIR:
            object.__setattr__(self, "state_dir", TEST_STATE_DIR)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.state_dir / 'alien.db'}")
        if not self.base_url:
            object.__setattr__(self, "base_url", f"http://localhost:{self.port}")
        if not self.test_mode and self.admin_token in PUBLIC_ADMIN_TOKENS:
            raise ConfigError(
                "ALIEN_ADMIN_TOKEN is the documentation's public example token, which anyone "
                "may know: outside ALIEN_TEST_MODE=1 choose your own "
                "(ax_admin_$(openssl rand -hex 20))"
            )
        if not self.test_mode and (self.fixtures or self.test_record or self.test_fault_rate):
            raise ConfigError(
                "ALIEN_FIXTURES, ALIEN_TEST_RECORD and ALIEN_TEST_FAULT_RATE need ALIEN_TEST_MODE=1"
            )

    @property
    def query_is_strict(self) -> bool:
        """ALIEN_STRICT_QUERY, or test mode's default (on) when unset."""
        return self.test_mode if self.strict_query is None else self.strict_query

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse every variable strictly; an empty one counts as unset."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values = _parse(cls, env, problems)
        cloud = _parse(CloudSettings, env, problems)
        if problems:
            raise ConfigError("; ".join(problems))
        if "port" not in values and "server_port" in values:  # PORT first, as the reference
            values["port"] = values["server_port"]
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


#: A variable -> the reference's name that may stand in for it.
ALIASES = {"PORT": "ALIEN_SERVER_PORT", "DATABASE_URL": "ALIEN_DB_PATH"}


def _source(env: Mapping[str, str], var: Var) -> str:
    if env.get(var.env, "").strip() != "":
        return "environment"
    alias = ALIASES.get(var.env)
    if alias is not None and env.get(alias, "").strip() != "":
        return f"environment ({alias})"
    return "default"


def notes(environ: Mapping[str, str] | None = None) -> list[str]:
    """check-config's word on each variable that is set and does something unexpected here."""
    env = os.environ if environ is None else environ
    return [
        f"{var.env}: {var.note}"
        for var in variables()
        if var.note is not None and env.get(var.env, "").strip() != ""
    ]


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
            echo = f"={raw!r}" if var.mask is None else ""
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
