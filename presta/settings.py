"""The one typed settings object, read from ``PRESTA_*`` environment variables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_SECRET = "dev-insecure-secret-change-me-before-production"
_POSTGRES_SCHEMES = ("postgres://", "postgresql://", "asyncpg://")


class SettingsError(RuntimeError):
    """Raised when the configuration is unsafe or inconsistent."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRESTA_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = ""

    # Embedded default: a PostgreSQL of our own, in-memory broadcast, jobs run inside the API
    # process. Unset, the `presta` command starts that PostgreSQL (service.embedded) with its
    # data in embedded_dir, and sets this to its URL for itself and its children.
    database_url: str = ""
    embedded_dir: Path = Path("var/postgres")
    db_pool_min: int = 2
    db_pool_max: int = 20
    db_connect_timeout_seconds: int = 5
    redis_url: str = ""
    broadcast_url: str = "memory://"
    # Prefix of every Redis key and channel, so several deployments (or test runs) share a Redis.
    redis_namespace: str = "presta"
    jobs_backend: Literal["inline", "dramatiq"] = "inline"
    worker_timeout_ms: int = 50

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "Presta <no-reply@presta.local>"
    mail_enabled: bool = True
    # The base of links in e-mails and of download URLs. Unset: this server's own address
    # (host and port, so `presta serve --port` moves the links too).
    public_url: str = ""

    storage_dir: Path = Path("var/storage")
    max_upload_bytes: int = 10 * 1024 * 1024
    download_url_ttl_seconds: int = 600

    # Browser origins allowed to open websockets. Unset (or empty): the public URL's, and this
    # server's own on 127.0.0.1 and localhost.
    allowed_origins: list[str] = Field(default_factory=list)

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    invitation_ttl_days: int = 14

    max_query_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_query_cost: int = 5000
    max_page_size: int = 100
    max_body_bytes: int = 1024 * 1024
    # A repeated compiled query of a kept actor answered before strawberry's view, when it is
    # provably the full path's answer (schema.http.lane); false sends every request through it.
    fast_lane: bool = True
    max_subscriptions_per_connection: int = 50
    # A websocket must send connection_init within this time, or it is closed with 4408.
    ws_init_timeout_seconds: float = 10.0
    event_retention_days: int = 30
    # Envelopes a live subscription may hold; when it overflows while its client has not taken
    # an event for live_stall_seconds, the subscriber is too slow (else it re-reads the log).
    # Subscriptions whose document compiles get one SQL statement per event for all their
    # subscribers (schema.http.multiplex); false runs every one through strawberry's executor.
    live_compiled: bool = True
    # Compiled reads of one API process running at once (0: no bound). The others wait in the
    # process, not in PostgreSQL: screens read in closed loops cannot take every core from the
    # writes and the live deliveries (resolvers.compiled.plans.read).
    compiled_reads_in_flight: int = Field(default=2, ge=0)
    live_queue_size: int = 256
    live_stall_seconds: float = 1.0
    # Redis pub/sub: reconnect backoff bounds and the idle ping that detects a dead link.
    live_reconnect_min_seconds: float = 0.05
    live_reconnect_max_seconds: float = 2.0
    live_ping_seconds: float = 5.0
    # Full garbage collections of the API process (service.collector): at least this often,
    # and sooner once the resident memory grew by this much. 0 seconds: CPython's own rule.
    gc_full_every_seconds: float = Field(default=60.0, ge=0)
    gc_full_after_growth_mib: int = Field(default=64, gt=0)
    message_max_chars: int = 5000
    message_max_attachments: int = 10

    # Rate limits: units per window per principal (user, API key, or IP when anonymous) and per
    # marketplace. A query costs 1, a mutation field or a subscription start more, credential
    # operations (logIn, signUp, refreshToken) the most. Unset, it is on except in the test
    # environment (the suite runs thousands of operations as the same few principals).
    rate_limit_enabled: bool | None = None
    rate_limit_window_seconds: float = 60.0
    rate_limit_per_principal: int = 600
    rate_limit_per_marketplace: int = 30000
    rate_limit_mutation_cost: int = 5
    rate_limit_subscription_cost: int = 5
    rate_limit_auth_cost: int = 30
    # Idempotency keys: kept this long; a duplicate waits this long for the first to finish.
    idempotency_ttl_hours: int = 24
    idempotency_wait_seconds: float = 5.0
    # Automatic persisted queries (schema.http.persisted): a registered document is kept this
    # long after its last use, in Redis (shared by every API process) or, without Redis, in an
    # in-process LRU of persisted_query_cache_size documents. A document longer than
    # persisted_query_max_bytes runs but is not kept (the client keeps sending its text).
    persisted_query_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    persisted_query_max_bytes: int = Field(default=64 * 1024, gt=0)
    persisted_query_cache_size: int = Field(default=512, gt=0)
    # Trusted documents: a JSON manifest, {"<hash>": "<document>"} or Apollo's persisted query
    # manifest, loaded and validated against the schema when the API starts. With
    # trusted_documents_only, only its documents run (by hash), and introspection.
    trusted_documents: Path | None = None
    # How long a shared cache (a CDN) may serve an anonymous query's answer fetched by GET
    # (schema.http.caching); 0: it revalidates every time.
    public_cache_seconds: int = Field(default=30, ge=0)
    trusted_documents_only: bool = False

    # Webhooks (resolvers/webhook): a delivery is retried with exponential backoff and jitter,
    # from base to max seconds between attempts, for retry_days; an endpoint with no success
    # for disable_after_days is disabled and its marketplace's admins are told. Addresses
    # that are not public are refused; loopback may be allowed (unset: in development only,
    # for the demo). https is required in production.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_days: float = Field(default=3.0, gt=0)
    webhook_backoff_base_seconds: float = Field(default=5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    webhook_disable_after_days: float = Field(default=5.0, gt=0)
    webhook_allow_loopback: bool | None = None
    webhook_max_endpoints: int = Field(default=20, ge=1)
    webhook_delivery_retention_days: int = Field(default=30, ge=1)

    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # json: one object a line, for a log collector; text: one readable line (time level logger
    # message key=value…). Unset: json in production, text elsewhere. PRESTA_LOG_JSON=true|false,
    # its older form, is still honoured when PRESTA_LOG_FORMAT is not set.
    log_format: Literal["json", "text"] | None = None
    log_json: bool | None = None

    @model_validator(mode="after")
    def _derive_addresses(self) -> Settings:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        own = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        self.public_url = self.public_url.rstrip("/") or own
        if not self.allowed_origins:
            origins = [self.public_url, own, f"http://localhost:{self.port}"]
            self.allowed_origins = list(dict.fromkeys(_origin(url) for url in origins))
        return self

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("PRESTA_SECRET_KEY", self.secret_key),
                    ("PRESTA_REDIS_URL", self.redis_url),
                )
                if not value
            ]
            if missing:
                raise SettingsError(
                    f"production mode needs {', '.join(missing)}; refusing to start "
                    "with development defaults"
                )
            if self.secret_key == _DEV_SECRET or len(self.secret_key) < 32:
                raise SettingsError("PRESTA_SECRET_KEY must be at least 32 random characters")
            if not self.database_url:
                raise SettingsError("production mode needs PRESTA_DATABASE_URL on PostgreSQL")
        elif not self.secret_key:
            self.secret_key = _DEV_SECRET
        if self.trusted_documents_only and self.trusted_documents is None:
            raise SettingsError(
                "PRESTA_TRUSTED_DOCUMENTS_ONLY needs PRESTA_TRUSTED_DOCUMENTS (the manifest path)"
            )
        if self.database_url and not self.database_url.startswith(_POSTGRES_SCHEMES):
            raise SettingsError(
                "PRESTA_DATABASE_URL must be a postgres:// URL (or unset: the embedded PostgreSQL)"
            )
        return self

    @property
    def rate_limiting(self) -> bool:
        if self.rate_limit_enabled is not None:
            return self.rate_limit_enabled
        return self.environment != "test"

    @property
    def logs_as_json(self) -> bool:
        if self.log_format is not None:
            return self.log_format == "json"
        if self.log_json is not None:
            return self.log_json
        return self.environment == "production"

    @property
    def webhook_loopback_allowed(self) -> bool:
        if self.webhook_allow_loopback is not None:
            return self.webhook_allow_loopback
        return self.environment == "development"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@functools.cache
def get_settings() -> Settings:
    return Settings()


def override_settings(**values: object) -> Settings:
    """Replace the process settings (tests and the CLI use it before anything starts)."""
    get_settings.cache_clear()
    settings = Settings(**values)  # type: ignore[arg-type]
    _override.clear()
    _override.append(settings)
    return settings


_override: list[Settings] = []


def settings() -> Settings:
    return _override[0] if _override else get_settings()
