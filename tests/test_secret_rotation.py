"""ENCRYPTION_SECRET rotation against real PostgreSQL: old and new keys both decrypt during the rotation,
`hotelctl secrets rotate` moves every stored supplier key to the new one, and an interrupted or repeated
run loses nothing."""

from __future__ import annotations

import os
import secrets

import sqlalchemy as sa
from typer.testing import CliRunner

from core.crypto import decrypt, encrypted_with
from core.db import engine_for
from core.migrate import upgrade
from core.settings import Settings
from core.suppliers.registry import credentials, register_supplier

OLD, NEW = "old-" + secrets.token_hex(16), "new-" + secrets.token_hex(16)


def rotate(env: dict) -> tuple[int, str]:
    from cli.main import app

    result = CliRunner().invoke(app, ["secrets", "rotate"], env=env)
    return result.exit_code, result.stdout + result.stderr


def test_rotation_reencrypts_every_stored_key_and_loses_nothing(new_database, migrated):
    url = new_database("rotate")
    upgrade(url)
    engine = engine_for(url)
    # Mid-rotation state: A and B still on the old key, C already on the new one (an interrupted run).
    for code, key in (("A", OLD), ("B", OLD), ("C", NEW)):
        register_supplier(engine, code, f"http://127.0.0.1:1/{code}", f"key-{code}", key)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": migrated.redis_url,
           "CLICKHOUSE_URL": migrated.clickhouse_url, "ENCRYPTION_SECRET": NEW, "ENCRYPTION_SECRET_PREVIOUS": OLD}
    both = Settings(database_url=url, encryption_secret=NEW, encryption_secret_previous=OLD)
    for code in "ABC":  # during the rotation every key still decrypts
        assert credentials(code, both, url)[1] == f"key-{code}"

    code, output = rotate(env)
    assert code == 0, output
    assert "rotated 2, already on ENCRYPTION_SECRET 1" in output
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT code, api_key_encrypted FROM suppliers")).all())
    assert all(encrypted_with(token, NEW) for token in stored.values())
    assert {code: decrypt(token, NEW) for code, token in stored.items()} == {c: f"key-{c}" for c in "ABC"}

    code, output = rotate(env)  # a rerun finds nothing to do
    assert code == 0 and "rotated 0, already on ENCRYPTION_SECRET 3" in output


def test_a_key_no_configured_secret_opens_is_named_and_left_alone(new_database, migrated):
    url = new_database("rotate")
    upgrade(url)
    engine = engine_for(url)
    register_supplier(engine, "A", "http://127.0.0.1:1/a", "key-a", OLD)
    register_supplier(engine, "B", "http://127.0.0.1:1/b", "key-b", "lost-" + secrets.token_hex(16))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": migrated.redis_url,
           "CLICKHOUSE_URL": migrated.clickhouse_url, "ENCRYPTION_SECRET": NEW, "ENCRYPTION_SECRET_PREVIOUS": OLD}
    code, output = rotate(env)
    assert code == 1
    assert "rotated 1" in output and "unreadable with every configured key: B" in output
    with engine.connect() as conn:
        token_b = conn.execute(sa.text("SELECT api_key_encrypted FROM suppliers WHERE code = 'B'")).scalar_one()
    assert not encrypted_with(bytes(token_b), NEW)  # untouched: whoever holds its key can still read it
