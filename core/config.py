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

from core import audit

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


# --- writes and listings (operator API and `hotelctl config` / `hotelctl flags`) -----------------

class ConfigError(ValueError):
    """A rejected config or flag change; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _no_control(field: str, text: str | None) -> None:
    # PostgreSQL text cannot hold NUL; other control characters in names are always a mistake.
    if text is not None and any(ord(char) < 32 for char in text):
        raise ConfigError(field, "must not contain control characters")


def _check_key(key: str, env: str) -> None:
    if not key or len(key) > 255 or key != key.strip():
        raise ConfigError("key", "must be 1-255 characters without surrounding spaces")
    if not env or len(env) > 20:
        raise ConfigError("env", "must be 1-20 characters")
    _no_control("key", key)
    _no_control("env", env)


def _numbers(key: str, value: Any, known: Any, *, integers: bool = False, least: float = 0) -> dict[str, float]:
    """`value` as an object of some of the `known` fields, each a JSON number (an integer if `integers`) of at
    least `least`; a ConfigError naming the key and field otherwise."""
    if not isinstance(value, dict):
        raise ConfigError("value", f"{key} must be a JSON object of {', '.join(known)}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError("value", f"{key}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
    kind = int if integers else (int, float)
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, kind) or number < least:
            what = "an integer" if integers else "a number"
            raise ConfigError("value", f"{key}.{name} must be {what} of at least {least:g}, got {number!r}")
    return value


def _check_matching_thresholds(key: str, value: Any) -> None:
    from core.matching.config import DEFAULT_THRESHOLDS, MatcherConfig

    try:
        MatcherConfig().with_overrides(None, _numbers(key, value, DEFAULT_THRESHOLDS))
    except ValueError as error:
        raise ConfigError("value", str(error)) from None


def _check_scoring_weights(key: str, value: Any) -> None:
    from core.matching.config import DEFAULT_WEIGHTS

    _numbers(key, value, DEFAULT_WEIGHTS)


def _check_ranking_weights(key: str, value: Any) -> None:
    from core.matching.ranking import CONFIG_FIELDS

    _numbers(key, value, CONFIG_FIELDS)


def _check_velocity(key: str, value: Any) -> None:
    from core.orders.velocity import VelocityLimits

    _numbers(key, value, VelocityLimits.__dataclass_fields__, integers=True, least=1)


# The keys the platform reads, checked before they are stored: a value the reader cannot use would break every
# quote, match or order that reads it. Other keys are stored as given.
KNOWN_KEYS = {"matching.thresholds": _check_matching_thresholds, "matching.scoring.weights": _check_scoring_weights,
              "matching.algorithm.weights": _check_ranking_weights, "orders.velocity": _check_velocity}


def list_config(engine: Engine, env: str | None = None) -> list[dict[str, Any]]:
    """Every stored row (all envs, or one), with its metadata."""
    query = "SELECT key, value, env, description, updated_at, updated_by FROM platform_config"
    params: dict[str, Any] = {}
    if env is not None:
        _no_control("env", env)
        query += " WHERE env = :env"
        params["env"] = env
    with engine.connect() as conn:
        rows = conn.execute(sa.text(query + " ORDER BY key, env"), params).mappings().fetchall()
    return [dict(row) for row in rows]


def set_config(engine: Engine, key: str, value: Any, env: str = "production", description: str | None = None,
               updated_by: str | None = None, actor: audit.Actor | None = None) -> dict[str, Any]:
    """Insert or replace one key for one env; the NOTIFY trigger tells every running client. With `actor` (a staff
    member), the change is audited in its transaction."""
    import json

    _check_key(key, env)
    if key in KNOWN_KEYS:
        KNOWN_KEYS[key](key, value)
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError) as error:
        raise ConfigError("value", f"must be JSON: {error}") from None
    if "\\u0000" in encoded:
        raise ConfigError("value", "must not contain NUL characters (PostgreSQL JSONB refuses them)")
    if description is not None and "\x00" in description:
        raise ConfigError("description", "must not contain NUL characters")
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT value FROM platform_config WHERE key = :key AND env = :env"),
                              {"key": key, "env": env}).scalar() if actor else None
        row = conn.execute(sa.text(
            "INSERT INTO platform_config (key, value, env, description, updated_at, updated_by)"
            " VALUES (:key, CAST(:value AS jsonb), :env, :description, now(), :by)"
            " ON CONFLICT (key, env) DO UPDATE SET value = EXCLUDED.value,"
            " description = COALESCE(EXCLUDED.description, platform_config.description),"
            " updated_at = now(), updated_by = EXCLUDED.updated_by"
            " RETURNING key, value, env, description, updated_at, updated_by"),
            {"key": key, "value": encoded, "env": env, "description": description, "by": updated_by},
        ).mappings().one()
        if actor is not None:
            audit.record(conn, actor, "config.set", f"config:{env}:{key}",
                         None if before is None else {"value": before}, {"value": value})
    return dict(row)


def delete_config(engine: Engine, key: str, env: str = "production", actor: audit.Actor | None = None) -> bool:
    """Delete one env's row of a key; False when there was none. With `actor`, the deletion is audited."""
    _check_key(key, env)
    with engine.begin() as conn:
        before = conn.execute(sa.text("DELETE FROM platform_config WHERE key = :key AND env = :env"
                                      " RETURNING value"), {"key": key, "env": env}).fetchone()
        if before is not None and actor is not None:
            audit.record(conn, actor, "config.delete", f"config:{env}:{key}", {"value": before[0]}, None)
    return before is not None


def list_flags(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT name, enabled, rollout_pct, COALESCE(whitelist, '{}') AS whitelist, description, updated_at"
            " FROM feature_flags ORDER BY name")).mappings().fetchall()
    return [{**row, "whitelist": list(row["whitelist"])} for row in rows]


def set_flag(engine: Engine, name: str, enabled: bool | None = None, rollout_pct: int | None = None,
             whitelist: list[str] | None = None, description: str | None = None,
             create: bool = False, actor: audit.Actor | None = None) -> dict[str, Any]:
    """Change the given fields of a flag (others stay); unknown names need `create=True`. With `actor` (a staff
    member), the change is audited in its transaction."""
    if not name or len(name) > 100:
        raise ConfigError("name", "must be 1-100 characters")
    _no_control("name", name)
    if description is not None and "\x00" in description:
        raise ConfigError("description", "must not contain NUL characters")
    if rollout_pct is not None and not 0 <= rollout_pct <= 100:
        raise ConfigError("rollout_pct", "must be between 0 and 100")
    if whitelist is not None and any(not isinstance(t, str) or not t or "\x00" in t for t in whitelist):
        raise ConfigError("whitelist", "must be a list of non-empty tenant ids")
    with engine.begin() as conn:
        if create:
            conn.execute(sa.text("INSERT INTO feature_flags (name, enabled) VALUES (:name, false)"
                                 " ON CONFLICT (name) DO NOTHING"), {"name": name})
        prior = conn.execute(sa.text(
            "SELECT enabled, rollout_pct, COALESCE(whitelist, '{}') AS whitelist FROM feature_flags WHERE name = :name"
            " FOR UPDATE"), {"name": name}).mappings().one_or_none() if actor else None
        row = conn.execute(sa.text(
            "UPDATE feature_flags SET enabled = COALESCE(:enabled, enabled),"
            " rollout_pct = COALESCE(:pct, rollout_pct),"
            " whitelist = CASE WHEN :set_wl THEN CAST(:wl AS text[]) ELSE whitelist END,"
            " description = COALESCE(:description, description), updated_at = now()"
            " WHERE name = :name"
            " RETURNING name, enabled, rollout_pct, COALESCE(whitelist, '{}') AS whitelist, description, updated_at"),
            {"name": name, "enabled": enabled, "pct": rollout_pct, "set_wl": whitelist is not None,
             "wl": list(whitelist or []), "description": description},
        ).mappings().one_or_none()
        if row is None:
            raise ConfigError("name", f"unknown flag {name!r}")
        after = {**row, "whitelist": list(row["whitelist"])}
        if actor is not None:
            changed = {"enabled": enabled, "rollout_pct": rollout_pct, "whitelist": whitelist}
            fields = [key for key, value in changed.items() if value is not None]
            before = None if prior is None else {key: list(prior[key]) if key == "whitelist" else prior[key]
                                                 for key in fields}
            audit.record(conn, actor, "flag.set", f"flag:{name}", before, {key: after[key] for key in fields})
    return after
