"""Operator commands that change the platform leave an audit entry naming who (`--as`, else the OS user), source
cli, the action and the object before and after: `hotelctl config set|delete`, `flags set`, `billing tax set`,
`webhooks replay`, and `secrets rotate` (counts and suppliers only, never a key)."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import secrets
import uuid

import sqlalchemy as sa
from typer.testing import CliRunner

from core import audit
from core.db import engine_for
from core.migrate import upgrade
from core.suppliers.registry import register_supplier
from core.webhooks.delivery import CONSUMER
from tests.test_ops_relay import RABBITMQ_URL, needs_broker

pytest_plugins = ["tests.admin_fixtures"]


def _hotelctl(*args: str, env: dict | None = None):
    from cli.main import app

    return CliRunner().invoke(app, list(args), env=env)


def test_config_set_delete_and_flag_set_are_audited(engine, cli_env):
    key, who = f"audit.cli.{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:6]}"
    target = f"config:staging:{key}"

    assert _hotelctl("config", "set", key, "30", "--env", "staging", "--as", who).exit_code == 0
    changed = _hotelctl("config", "set", key, '{"a": 1}', "--env", "staging")  # the OS user acts
    assert changed.exit_code == 0, changed.output
    deleted = _hotelctl("config", "delete", key, "--env", "staging", "--as", who)
    assert deleted.exit_code == 0, deleted.output
    assert _hotelctl("config", "delete", key, "--env", "staging", "--as", who).exit_code == 1  # nothing left

    entries = audit.search(engine, target=target)
    assert [(e["action"], e["actor"], e["source"], e["before"], e["after"]) for e in entries] == [
        ("config.delete", who, "cli", {"value": {"a": 1}}, None),
        ("config.set", getpass.getuser(), "cli", {"value": 30}, {"value": {"a": 1}}),
        ("config.set", who, "cli", None, {"value": 30}),
    ]

    flag = f"audit.cli.{uuid.uuid4().hex[:8]}"
    assert _hotelctl("flags", "set", flag, "--create", "--on", "--rollout", "25", "--as", who).exit_code == 0
    assert _hotelctl("flags", "set", flag, "--off", "--as", who).exit_code == 0
    latest, first = audit.search(engine, target=f"flag:{flag}")
    assert (latest["action"], latest["actor"], latest["source"]) == ("flag.set", who, "cli")
    assert (latest["before"], latest["after"]) == ({"enabled": True}, {"enabled": False})
    assert first["after"] == {"enabled": True, "rollout_pct": 25}


def test_billing_tax_rate_set_is_audited_with_before_and_after(engine, cli_env):
    who = f"fin-{uuid.uuid4().hex[:6]}"
    first = _hotelctl("billing", "tax", "set", "QZ", "0.05", "--as", who)
    assert first.exit_code == 0, first.output
    assert _hotelctl("billing", "tax", "set", "QZ", "0.07", "--label", "GST", "--as", who).exit_code == 0
    latest = audit.search(engine, target="tax_rate:QZ", actor=who)[0]
    assert (latest["action"], latest["source"]) == ("billing.set_tax_rate", "cli")
    assert latest["before"] == {"rate": "0.0500", "label": "VAT"}  # as stored (numeric, 4 places)
    assert latest["after"] == {"country": "QZ", "rate": "0.07", "label": "GST"}


@needs_broker
def test_webhooks_replay_is_audited_with_the_count(engine, cli_env, monkeypatch):
    from tests.test_ops_events import delete_topology

    monkeypatch.setenv("RABBITMQ_URL", RABBITMQ_URL)
    exchange, who = f"hotel.events.test.{secrets.token_hex(4)}", f"ops-{uuid.uuid4().hex[:6]}"
    async def declare() -> None:
        import aio_pika

        from core.topology import declare_topology

        connection = await aio_pika.connect(RABBITMQ_URL)
        async with connection:
            await declare_topology(await connection.channel(), exchange)

    try:
        asyncio.run(declare())
        replayed = _hotelctl("webhooks", "replay", "--exchange", exchange, "--as", who)
        assert replayed.exit_code == 0, replayed.output
        assert "replayed 0" in replayed.stdout
    finally:
        asyncio.run(delete_topology(exchange, CONSUMER))
    [entry] = audit.search(engine, actor=who)
    assert (entry["action"], entry["source"]) == ("webhook.replay_dead_letters", "cli")
    assert entry["after"] == {"replayed": 0, "exchange": exchange}


def test_secrets_rotate_is_audited_without_any_key_material(new_database, migrated):
    old, new = "old-" + secrets.token_hex(16), "new-" + secrets.token_hex(16)
    url = new_database("rotate_audit")
    upgrade(url)
    engine = engine_for(url)
    for code, key in (("A", old), ("B", new)):
        register_supplier(engine, code, f"http://127.0.0.1:1/{code}", f"plain-key-{code}", key)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": migrated.redis_url,
           "CLICKHOUSE_URL": migrated.clickhouse_url, "ENCRYPTION_SECRET": new, "ENCRYPTION_SECRET_PREVIOUS": old}

    result = _hotelctl("secrets", "rotate", "--as", "sec-ops", env=env)
    assert result.exit_code == 0, result.output

    entries = audit.search(engine, actor="sec-ops")
    assert [(e["action"], e["target"], e["source"]) for e in entries] == [
        ("secrets.rotate", "secrets:supplier_api_keys", "cli"), ("supplier.key_reencrypt", "supplier:A", "cli")]
    assert entries[0]["after"] == {"rotated": 1, "already_current": 1, "unreadable": []}
    with engine.connect() as conn:
        tokens = conn.execute(sa.text("SELECT api_key_encrypted FROM suppliers")).scalars().all()
    written = json.dumps(entries, default=str)
    for secret in (old, new, "plain-key-A", "plain-key-B", *(bytes(t).decode() for t in tokens)):
        assert secret not in written
