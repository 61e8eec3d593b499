"""Supplier settings read from the environment (beside the platform's `Settings`).

`SUPPLIER_A_URL` … name a supplier's base URL (else the `suppliers` table's `base_url`);
`SUPPLIER_A_API_KEY` … its API key (else the encrypted key in the `suppliers` table, else the
simulator's development default). The breaker and the feed contract thresholds live here too.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_KEYS = {"A": "dev-supplier-a-key", "B": "dev-supplier-b-key", "C": "dev-supplier-c-key"}
DEV_SECRETS = {"A": "dev-supplier-a-secret"}
PROTOCOLS = {"A": "json-rest-signed", "B": "ota-xml", "C": "json-cursor"}
# Hotels per inventory write transaction, and per contract validation: each great-expectations run costs
# ~0.2 s whatever its size (requests to a supplier stay smaller: its adapter's HOTELS_PER_REQUEST).
INVENTORY_BATCH_HOTELS = 200
NAMES = {"A": "Supplier A (bed bank, JSON REST)", "B": "Supplier B (Chinese OTA, XML)",
         "C": "Supplier C (JSON, USD)"}


class SupplierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    supplier_a_url: str | None = None
    supplier_b_url: str | None = None
    supplier_c_url: str | None = None
    supplier_a_api_key: SecretStr | None = None
    supplier_a_secret: SecretStr | None = None
    supplier_b_api_key: SecretStr | None = None
    supplier_c_api_key: SecretStr | None = None

    # Circuit breaker: open after N consecutive failures, half-open after the reset time.
    supplier_breaker_failures: int = Field(5, ge=1)
    supplier_breaker_reset_ms: int = Field(30_000, ge=1)
    # Inventory sync: days ahead, hotels per write transaction, bad-row share that fails a feed.
    inventory_days: int = Field(30, ge=1, le=365)
    inventory_batch_hotels: int = Field(INVENTORY_BATCH_HOTELS, ge=1, le=2000)
    feed_max_bad_share: float = Field(0.05, ge=0, le=1)
    # Simulated world for `hotelctl up` in embedded mode.
    supplier_world_seed: int = 42
    supplier_world_hotels: int = Field(300, ge=1)

    def url(self, code: str) -> str | None:
        return getattr(self, f"supplier_{code.lower()}_url", None)

    def api_key(self, code: str) -> str | None:
        value = getattr(self, f"supplier_{code.lower()}_api_key", None)
        return value.get_secret_value() if value else None

    def secret(self, code: str) -> str | None:
        value = getattr(self, f"supplier_{code.lower()}_secret", None)
        return value.get_secret_value() if value else None


@lru_cache(maxsize=1)
def supplier_settings() -> SupplierSettings:
    return SupplierSettings()
