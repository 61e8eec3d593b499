"""One settings object for the whole platform, read from the environment.

The variable names are the ones the deployment already uses (see deploy/.env.example).
An unset URL means "embedded": the platform starts that engine itself under the data dir.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_URL_SCHEMES = {
    "database_url": ("postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgres"),
    "redis_url": ("redis", "rediss", "unix"),
    "clickhouse_url": ("clickhouse", "http", "https", "chdb"),
    "rabbitmq_url": ("amqp", "amqps"),
}

DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
# HOTEL_ENV values that count as development: the public development secrets and keys are allowed.
DEVELOPMENT_ENVS = frozenset({"dev", "development", "test"})
MIN_SECRET_CHARS = 32
# Public values no deployment may run with: the development default and deploy/.env.example's placeholders.
KNOWN_SECRETS = frozenset({DEV_SECRET, "your_32_char_encryption_secret_key", "your_jwt_secret_key_min_32_chars_long"})


class SettingsError(SystemExit):
    """Raised at start-up for a bad setting: one line, naming the variable, no secret values."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str | None = None
    redis_url: str | None = None
    clickhouse_url: str | None = None
    rabbitmq_url: str | None = None
    # Partner webhook URLs over plain http or to private, loopback or link-local addresses
    # (core/webhooks/targets.py); development always allows them.
    webhook_private_targets: bool = False

    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_expiry_hours: int = Field(24, gt=0)
    encryption_secret: SecretStr = SecretStr(DEV_SECRET)
    # ENCRYPTION_SECRET_PREVIOUS: the keys being rotated out (comma-separated); stored values encrypted with
    # them still decrypt until `hotelctl secrets rotate` has re-encrypted them with ENCRYPTION_SECRET.
    encryption_secret_previous: SecretStr | None = None

    log_level: str = "info"
    rate_limit_max: int = Field(100, gt=0)
    rate_limit_window_ms: int = Field(60_000, gt=0)
    # AUTH_ADDRESS_RATE_LIMIT_MAX: token requests from one source address per RATE_LIMIT_WINDOW_MS (every client
    # id behind it together; RATE_LIMIT_MAX still limits each client id).
    auth_address_rate_limit_max: int = Field(1000, gt=0)
    concurrency_limit: int = Field(20, gt=0)
    query_timeout_ms: int = Field(10_000, gt=0)
    order_expiry_minutes: int = Field(30, gt=0)
    settle_cycle_days: int = Field(7, gt=0)
    risk_score_threshold: int = Field(80, ge=0, le=100)
    default_currency: str = "CNY"
    exchange_rate_cache_ttl: int = Field(3600, ge=0)
    # QUOTE_CACHE_MS: an API process reuses the offers it priced for one search this long (0: never).
    quote_cache_ms: int = Field(2000, ge=0, le=60_000)
    # HOT_CACHE_REPLICA: each API process keeps the hot cache's product values it read, dropped as the changes
    # stream names them; false: every quote reads its products' values from Redis.
    hot_cache_replica: bool = True
    # QUOTE_RETENTION_DAYS: stored quotes are dropped a whole day at a time once older than this (the quote
    # retention job; an order keeps every price step of its offer).
    quote_retention_days: int = Field(7, ge=1)
    # FX_SOURCE_URL: an ECB euro reference rate document (eurofxref XML); unset: the simulated FX service that
    # `hotelctl up` starts. FX_CURRENCIES: the currencies the platform sells in (the fx_rates check requires
    # each, with DEFAULT_CURRENCY and every partner's credit currency); FX_MAX_MOVE_PCT: the largest day-to-day
    # move the check accepts. FX_MAX_AGE_DAYS: a rate whose newest set is older than this many days (UTC) is stale:
    # offers needing it are not sold (the quote lists them with the reason), /health says degraded, FxRatesStale fires.
    fx_source_url: str | None = None
    fx_max_age_days: int = Field(3, ge=0)
    fx_currencies: str = "CNY,USD,EUR"
    fx_max_move_pct: Decimal = Field(Decimal(5), gt=0, le=100)
    sync_interval_ms: int = Field(300_000, gt=0)
    # PUSHGATEWAY_URL: where runs that end (the inventory sync) push their metrics for Prometheus; unset: kept.
    pushgateway_url: str | None = None
    retry_max_attempts: int = Field(3, ge=1)
    retry_backoff_ms: int = Field(1000, ge=0)

    # The raw-feed archive (core/archive): every supplier answer a sync receives and the rows parsed from it, as
    # Parquet by supplier and day. ARCHIVE_DIR: a folder (default <data dir>/archive); ARCHIVE_URL: a pyarrow
    # filesystem URL instead (s3://bucket/prefix, gs://...). ARCHIVE_RETENTION_DAYS: days kept (0: all);
    # ARCHIVE_ENABLED=false: syncs keep nothing.
    archive_dir: Path | None = None
    archive_url: str | None = None
    archive_retention_days: int = Field(30, ge=0)
    archive_enabled: bool = True
    hotel_data_dir: Path = Path("var")
    hotel_env: str = "production"
    # HOTEL_ENGINE_MODES: set by `hotelctl up` for the processes it starts (core.runtime.Endpoints.child_env),
    # which get the embedded PostgreSQL's URL as DATABASE_URL and are development all the same.
    hotel_engine_modes: str | None = None
    platform_timezone: str = "Asia/Shanghai"
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, gt=0, lt=65536)
    api_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0, le=64)  # API_WORKERS
    db_pool_size: int = Field(8, gt=0)
    # WAREHOUSE_HOLD_S: an embedded warehouse stays open in the API this long after a report (or until a pipeline
    # step waits for it); 0 opens it for every report.
    warehouse_hold_s: float = Field(60.0, ge=0)
    dagster_port: int = Field(3000, gt=0, lt=65536)
    matching_algorithm: str = "weighted_score"  # MATCHING_ALGORITHM: the hotel matcher (core/matching)
    # Config center: LISTEN/NOTIFY plus a poll fallback (CONFIG_POLL_INTERVAL_S, CONFIG_LISTEN).
    config_poll_interval_s: float = Field(30.0, gt=0)
    config_listen: bool = True
    # Partner billing (core/billing): defaults for a partner without a billing profile, and the overdue block.
    billing_entity: str = "HP"  # BILLING_ENTITY: the issuing entity (billing_entities.code)
    billing_country: str = "CN"  # BILLING_COUNTRY: the partner's country for tax when its profile names none
    billing_payment_terms_days: int = Field(30, ge=0, le=365)  # BILLING_PAYMENT_TERMS_DAYS
    # BILLING_OVERDUE_BLOCK_DAYS: with the flag billing.overdue.block on, an invoice this many days past due
    # refuses the partner's new orders.
    billing_overdue_block_days: int = Field(30, ge=0)

    @field_validator("database_url", "redis_url", "clickhouse_url", "rabbitmq_url")
    @classmethod
    def _url_has_known_scheme(cls, value: str | None, info) -> str | None:
        if value is None or value == "":
            return None
        allowed = _URL_SCHEMES[info.field_name]
        parts = urlsplit(value)
        if parts.scheme not in allowed:
            raise ValueError(f"expected a URL starting with one of {', '.join(s + '://' for s in allowed)}")
        if parts.scheme not in ("unix", "chdb") and not parts.hostname and "host=" not in parts.query:
            raise ValueError("the URL names no host")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "warn", "error", "critical"}:
            raise ValueError("expected one of debug, info, warning, error, critical")
        return value.lower()

    @field_validator("default_currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("expected a three-letter ISO-4217 code")
        return value.upper()

    @field_validator("fx_currencies")
    @classmethod
    def _iso_currencies(cls, value: str) -> str:
        codes = [code.strip().upper() for code in value.split(",") if code.strip()]
        if not codes or any(len(code) != 3 or not code.isalpha() for code in codes):
            raise ValueError("expected comma-separated three-letter ISO-4217 codes")
        return ",".join(codes)

    @property
    def fx_currency_list(self) -> list[str]:
        return self.fx_currencies.split(",")

    @property
    def data_dir(self) -> Path:
        return self.hotel_data_dir.resolve()

    @property
    def archive_location(self) -> str:
        """Where the raw-feed archive lives: ARCHIVE_URL, else ARCHIVE_DIR, else <data dir>/archive."""
        return self.archive_url or str((self.archive_dir or self.data_dir / "archive").resolve())

    @property
    def development(self) -> bool:
        """Embedded engines (no DATABASE_URL) or HOTEL_ENV=dev: development secrets, supplier keys and demo
        logins are allowed; anywhere else every secret must be set."""
        return (self.database_url is None or self.hotel_env.lower() in DEVELOPMENT_ENVS
                or _embedded_postgres(self.hotel_engine_modes))

    @property
    def webhook_targets_open(self) -> bool:
        return self.development or self.webhook_private_targets

    def encryption_keys(self) -> list[str]:
        """ENCRYPTION_SECRET first (it encrypts), then the previous keys (they still decrypt)."""
        previous = self.encryption_secret_previous.get_secret_value() if self.encryption_secret_previous else ""
        return [self.encryption_secret.get_secret_value()] + [k.strip() for k in previous.split(",") if k.strip()]


def _embedded_postgres(modes: str | None) -> bool:
    try:
        return bool(modes) and json.loads(modes).get("postgresql") == "embedded"
    except (ValueError, AttributeError):
        return False


def secret_problem(settings: Settings) -> str | None:
    """One line naming the first unusable secret outside development, or None."""
    if settings.development:
        return None
    named = [("JWT_SECRET", settings.jwt_secret.get_secret_value()),
             ("ENCRYPTION_SECRET", settings.encryption_secret.get_secret_value())]
    named += [("ENCRYPTION_SECRET_PREVIOUS", key) for key in settings.encryption_keys()[1:]]
    for name, value in named:
        if value in KNOWN_SECRETS:
            return (f"invalid setting {name}: unset or a public default;"
                    f" set a random value of {MIN_SECRET_CHARS}+ characters")
        if len(value) < MIN_SECRET_CHARS:
            return f"invalid setting {name}: shorter than {MIN_SECRET_CHARS} characters"
    return None


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]).upper() if first["loc"] else "settings"
    reason = first["msg"].removeprefix("Value error, ")
    return f"invalid setting {field}: {reason}"


def load_settings() -> Settings:
    """Read and validate settings; on a bad value (or, outside development, a missing, public or short
    secret) exit with one line naming the variable."""
    try:
        settings = Settings()
    except ValidationError as error:  # the message carries no input values, so no secret leaks
        raise SettingsError(_one_line(error)) from None
    problem = secret_problem(settings)
    if problem:
        raise SettingsError(problem)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()


def env_overrides(settings: Settings) -> dict[str, str]:
    """The resolved URLs as environment variables, for child processes (API, Dagster)."""
    env = dict(os.environ)
    env["HOTEL_DATA_DIR"] = str(settings.data_dir)
    return env
