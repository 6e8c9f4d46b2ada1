"""Configuration: a frozen dataclass read from the environment here and nowhere else."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

TRUE = {"1", "true", "yes", "on"}


def _flag(value: str) -> bool:
    return value.strip().lower() in TRUE


def _origins(value: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in value.split(",") if origin.strip())


ORIGIN = re.compile(r"^https?://[^/\s]+$")


@dataclass(frozen=True)
class CloudSettings:
    """The standard credential variables of each cloud, read once, used by resolve_credentials."""

    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_region: str | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    gcp_credentials_file: str | None = None
    azure_tenant_id: str | None = None
    azure_subscription_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: str | None = None
    azure_location: str | None = None
    kubeconfig: str | None = None
    kubernetes_host: str | None = None
    kubernetes_namespace: str | None = None
    local_state_directory: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CloudSettings:
        return cls(**{name: env.get(var) or None for name, var in CLOUD_ENV.items()})


#: CloudSettings field -> the cloud's own standard environment variable.
CLOUD_ENV = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "aws_region": "AWS_REGION",
    "gcp_project": "GOOGLE_CLOUD_PROJECT",
    "gcp_region": "GOOGLE_CLOUD_REGION",
    "gcp_credentials_file": "GOOGLE_APPLICATION_CREDENTIALS",
    "azure_tenant_id": "AZURE_TENANT_ID",
    "azure_subscription_id": "AZURE_SUBSCRIPTION_ID",
    "azure_client_id": "AZURE_CLIENT_ID",
    "azure_client_secret": "AZURE_CLIENT_SECRET",
    "azure_location": "AZURE_LOCATION",
    "kubeconfig": "KUBECONFIG",
    "kubernetes_host": "KUBERNETES_SERVICE_HOST",
    "kubernetes_namespace": "KUBERNETES_NAMESPACE",
    "local_state_directory": "ALIEN_LOCAL_STATE_DIRECTORY",
}


@dataclass(frozen=True)
class Settings:
    state_dir: Path = Path(".alien-manager")
    database_url: str = ""  # empty: a SQLite file inside state_dir
    admin_token: str | None = None
    dev_mode: bool = False
    port: int = 8080
    base_url: str = ""  # empty: http://localhost:<port>
    max_body_bytes: int = 2 * 1024 * 1024
    lock_ttl_seconds: int = 300
    validate_responses: bool = True
    db_max_connections: int = 8
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ("*",)  # any origin, as the reference (docs/behaviour.md §10)
    cloud: CloudSettings = field(default_factory=CloudSettings)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.state_dir / 'alien.db'}")
        if not self.base_url:
            object.__setattr__(self, "base_url", f"http://localhost:{self.port}")
        if self.admin_token is not None and not self.admin_token.startswith("ax_admin_"):
            raise ValueError("ALIEN_ADMIN_TOKEN must start with 'ax_admin_'")
        for origin in self.cors_origins:
            if origin != "*" and not ORIGIN.match(origin):
                raise ValueError(
                    f"ALIEN_CORS_ORIGINS: {origin!r} is not '*' or an origin such as "
                    "https://dash.example.com (scheme and host, optional port, no path)"
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, (var, convert) in ENV.items():
            if env.get(var, "") != "":
                values[name] = convert(env[var])
        return cls(cloud=CloudSettings.from_env(env), **values)  # type: ignore[arg-type]


#: Settings field -> (environment variable, parser). The README's configuration table lists
#: exactly these plus the serving variables below; a test keeps the two in sync.
ENV: dict[str, tuple[str, Callable[[str], object]]] = {
    "state_dir": ("ALIEN_STATE_DIR", Path),
    "database_url": ("DATABASE_URL", str),
    "admin_token": ("ALIEN_ADMIN_TOKEN", str),
    "dev_mode": ("ALIEN_DEV_MODE", _flag),
    "port": ("PORT", int),
    "base_url": ("ALIEN_BASE_URL", str),
    "max_body_bytes": ("ALIEN_MAX_BODY_BYTES", int),
    "lock_ttl_seconds": ("ALIEN_LOCK_TTL_SECONDS", int),
    "validate_responses": ("ALIEN_VALIDATE_RESPONSES", _flag),
    "db_max_connections": ("ALIEN_DB_MAX_CONNECTIONS", int),
    "log_level": ("ALIEN_LOG_LEVEL", str.upper),
    "cors_origins": ("ALIEN_CORS_ORIGINS", _origins),
}

#: Read by the Makefile / gunicorn rather than by the app.
SERVING_ENV = ("HOST", "WEB_CONCURRENCY")


def documented_variables() -> set[str]:
    """Every variable the server reads, for the README sync test."""
    assert {f.name for f in fields(Settings)} - {"cloud"} == set(ENV)
    return {var for var, _ in ENV.values()} | set(CLOUD_ENV.values()) | set(SERVING_ENV)
