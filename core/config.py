"""Platform config (`platform_config`) and feature flags (`feature_flags`).

Flag evaluation follows the deployment plan: a disabled flag is off; a whitelisted tenant gets
it on; otherwise a stable murmur3 hash of tenant and flag name, mod 100, below `rollout_pct`.
These functions read PostgreSQL directly; the cached config-center client builds on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mmh3
import sqlalchemy as sa
from sqlalchemy.engine import Engine

FLAGS = ("supplier.realtime.sync", "risk.auto.reject", "matching.ai.boost", "settlement.auto.reconcile", "admin.v2")


@dataclass(frozen=True)
class Flag:
    name: str
    enabled: bool
    rollout_pct: int
    whitelist: tuple[str, ...]

    def is_on(self, tenant_id: str | None = None) -> bool:
        if not self.enabled:
            return False
        if tenant_id is not None and tenant_id in self.whitelist:
            return True
        if self.rollout_pct >= 100:
            return True
        if tenant_id is None:
            return False
        return mmh3.hash(f"{tenant_id}{self.name}", signed=False) % 100 < self.rollout_pct


def load_flags(engine: Engine) -> dict[str, Flag]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, enabled, rollout_pct, whitelist FROM feature_flags")).fetchall()
    return {row.name: Flag(row.name, row.enabled, row.rollout_pct, tuple(row.whitelist or ())) for row in rows}


def flag_enabled(engine: Engine, name: str, tenant_id: str | None = None) -> bool:
    flag = load_flags(engine).get(name)
    return bool(flag and flag.is_on(tenant_id))


def load_config(engine: Engine, env: str) -> dict[str, Any]:
    """Every key for `env`, falling back to the 'production' row where `env` has none."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT key, value, env FROM platform_config WHERE env IN (:env, 'production')"
                    " ORDER BY (env = :env)"),
            {"env": env},
        ).fetchall()
    return {row.key: row.value for row in rows}  # the env's own row comes last and wins


def config_value(engine: Engine, key: str, default: Any = None, env: str = "production") -> Any:
    return load_config(engine, env).get(key, default)
