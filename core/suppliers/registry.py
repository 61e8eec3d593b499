"""Which adapter talks to which supplier, where, and with which key.

`adapter_for(code, settings, base_url=None)` is the one way in. The base URL comes from the
argument, else `SUPPLIER_<CODE>_URL`, else the `suppliers` table (`base_url`, written when the
simulators start). The API key: `SUPPLIER_<CODE>_API_KEY`, else the table's encrypted key
(ENCRYPTION_SECRET, or a key being rotated out: ENCRYPTION_SECRET_PREVIOUS), else — in development only
(embedded engines or HOTEL_ENV=dev) — the simulator's development default; anywhere else a missing key
is an error naming the variable to set.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.crypto import decrypt, encrypt
from core.db import engine_for
from core.settings import Settings
from core.suppliers.adapter_a import SupplierAAdapter
from core.suppliers.adapter_b import SupplierBAdapter
from core.suppliers.adapter_c import SupplierCAdapter
from core.suppliers.breaker import CircuitBreaker, breaker_for
from core.suppliers.calls import recorder_for
from core.suppliers.config import DEV_KEYS, DEV_SECRETS, NAMES, PROTOCOLS, supplier_settings
from core.suppliers.http import SupplierHttp
from core.suppliers.models import SupplierAdapter

logger = logging.getLogger("suppliers")

SUPPLIER_CODES = ("A", "B", "C")


class UnknownSupplier(ValueError):
    pass


class MissingSupplierKey(UnknownSupplier):
    """Outside development a supplier without a configured key: no development key is sent to a real one."""


def _database_url(settings: Settings) -> str | None:
    if settings.database_url:
        return settings.database_url
    try:
        from core.runtime import resolve

        return resolve(settings, start=False).database_url
    except Exception:  # no embedded database configured: calls are still logged and counted
        return None


def _stored(database_url: str | None, code: str) -> tuple[str | None, bytes | None]:
    if not database_url:
        return None, None
    try:
        with engine_for(database_url).connect() as conn:
            row = conn.execute(sa.text("SELECT base_url, api_key_encrypted FROM suppliers WHERE code = :code"),
                               {"code": code}).first()
    except sa.exc.SQLAlchemyError:
        return None, None
    return (row.base_url, row.api_key_encrypted) if row else (None, None)


def credentials(code: str, settings: Settings, database_url: str | None = None) -> tuple[str | None, str, str]:
    """(base_url, api_key, secret) for a supplier, from the environment or the `suppliers` table."""
    config = supplier_settings()
    stored_url, stored_key = _stored(database_url, code)
    api_key = config.api_key(code)
    if api_key is None and stored_key:
        api_key = decrypt(stored_key, settings.encryption_keys())
    secret = config.secret(code)
    if not settings.development:
        if not api_key:
            raise MissingSupplierKey(f"no API key for supplier {code}: set SUPPLIER_{code}_API_KEY")
        if code in DEV_SECRETS and not secret:
            raise MissingSupplierKey(f"no signing secret for supplier {code}: set SUPPLIER_{code}_SECRET")
    return (config.url(code) or stored_url, api_key or DEV_KEYS[code], secret or DEV_SECRETS.get(code, ""))


def adapter_for(code: str, settings: Settings, base_url: str | None = None) -> SupplierAdapter:
    """The adapter for supplier `code` ("A", "B", "C"), with retries, budget, breaker and call recording."""
    code = code.upper()
    if code not in SUPPLIER_CODES:
        raise UnknownSupplier(f"unknown supplier {code!r}; known: {', '.join(SUPPLIER_CODES)}")
    database_url = _database_url(settings)
    stored_url, api_key, secret = credentials(code, settings, database_url)
    url = base_url or stored_url
    if not url:
        raise UnknownSupplier(f"no base URL for supplier {code}: set SUPPLIER_{code}_URL or start the simulators")
    return build_adapter(code, url, settings, api_key=api_key, secret=secret, database_url=database_url)


def build_adapter(code: str, base_url: str, settings: Settings, *, api_key: str, secret: str = "",
                  database_url: str | None = None, breaker: CircuitBreaker | None = None) -> SupplierAdapter:
    """An adapter with explicit credentials (and optionally its own breaker); `adapter_for` resolves them."""
    config = supplier_settings()
    http = SupplierHttp(
        code, base_url, concurrency_limit=settings.concurrency_limit, timeout_s=settings.query_timeout_ms / 1000,
        max_attempts=settings.retry_max_attempts, backoff_s=settings.retry_backoff_ms / 1000,
        breaker=breaker or breaker_for(code, base_url, config.supplier_breaker_failures,
                                       config.supplier_breaker_reset_ms / 1000),
        recorder=recorder_for(database_url),
    )
    if code == "A":
        return SupplierAAdapter(http, api_key, secret)
    if code == "B":
        return SupplierBAdapter(http, api_key)
    return SupplierCAdapter(http, api_key)


def register_supplier(engine: Engine, code: str, base_url: str, api_key: str, encryption_secret: str) -> None:
    """Upsert a supplier row with its base URL and its API key encrypted with ENCRYPTION_SECRET."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO suppliers (code, name, protocol, base_url, api_key_encrypted) "
            "VALUES (:code, :name, :protocol, :url, :key) ON CONFLICT (code) DO UPDATE SET "
            "base_url = EXCLUDED.base_url, api_key_encrypted = EXCLUDED.api_key_encrypted, updated_at = now()"),
            {"code": code, "name": NAMES[code], "protocol": PROTOCOLS[code], "url": base_url,
             "key": encrypt(api_key, encryption_secret)})


def enabled_suppliers(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT code FROM suppliers WHERE enabled ORDER BY code")).fetchall()
    return [row.code for row in rows if row.code in SUPPLIER_CODES]


def flush_calls(settings: Settings) -> int:
    """Write buffered `supplier_calls` rows now (the sync calls this at the end of a run)."""
    return recorder_for(_database_url(settings)).flush()
