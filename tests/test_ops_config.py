"""Config center and feature flags: NOTIFY and poll refresh against real PostgreSQL, the running API,
murmur3 rollout as the deployment plan computes it, and the operator API (v1 and the admin.v2 flag)."""

from __future__ import annotations

import asyncio
import re
import secrets
import time

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, issue_token
from core import audit
from core import config as cfg
from core.config_center import CONFIG_CHANNEL, ConfigCenter
from core.db import engine_for, plain_url


def _key() -> str:
    return f"ops.test.{secrets.token_hex(4)}"


async def _until(predicate, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {deadline_s}s")


async def test_notify_refreshes_one_key_without_polling(engine, migrated):
    center = ConfigCenter(migrated.database_url, poll_interval_s=3600)  # only NOTIFY can deliver
    await center.start()
    try:
        key = _key()
        assert center.get(key, "default") == "default"
        await asyncio.to_thread(cfg.set_config, engine, key, {"limit": 5}, "production", None, "test")
        await _until(lambda: center.get(key) == {"limit": 5}, 1.0)
        await asyncio.to_thread(cfg.set_config, engine, key, {"limit": 6})
        await _until(lambda: center.get(key) == {"limit": 6}, 1.0)
        await asyncio.to_thread(cfg.delete_config, engine, key)
        await _until(lambda: center.get(key, "gone") == "gone", 1.0)
        assert center.stats["full_loads"] == 1 and center.stats["notifications"] >= 3
    finally:
        await center.stop()


async def test_stop_returns_when_a_notification_lands_with_the_cancel(engine, migrated):
    """A NOTIFY arriving as the app shuts down once swallowed the cancel and hung the shutdown (CI)."""
    for _ in range(3):
        center = ConfigCenter(migrated.database_url, poll_interval_s=3600)
        await center.start()
        await asyncio.sleep(0.05)  # the refresher is now waiting for its next event
        center._events.put_nowait((CONFIG_CHANNEL, "some.key"))  # as a NOTIFY callback does
        stopping = asyncio.create_task(center.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)
        assert done, "stop() did not return: the refresher lost its cancel"


async def test_env_row_overrides_production_row(engine, migrated):
    key = _key()
    cfg.set_config(engine, key, "prod-value")
    cfg.set_config(engine, key, "staging-value", env="staging")
    staging = ConfigCenter(migrated.database_url, env="staging", poll_interval_s=3600)
    production = ConfigCenter(migrated.database_url, poll_interval_s=3600)
    await staging.start()
    await production.start()
    try:
        assert staging.get(key) == "staging-value" and production.get(key) == "prod-value"
        cfg.delete_config(engine, key, env="staging")  # staging falls back to the production row
        await _until(lambda: staging.get(key) == "prod-value", 1.0)
    finally:
        await staging.stop()
        await production.stop()


async def test_poll_fallback_without_listen(engine, migrated):
    center = ConfigCenter(migrated.database_url, poll_interval_s=0.5, listen=False)
    await center.start()
    try:
        name = f"ops.poll.{secrets.token_hex(3)}"
        await asyncio.to_thread(cfg.set_flag, engine, name, True, 100, None, None, True)
        await _until(lambda: center.flag_on(name), 5.0)
        assert center.stats["notifications"] == 0 and center.stats["full_loads"] >= 2
    finally:
        await center.stop()


async def test_reconnect_reloads_everything(engine, migrated):
    center = ConfigCenter(migrated.database_url, poll_interval_s=3600, reconnect_delay_s=0.1)
    await center.start()
    try:
        key = _key()
        with psycopg.connect(plain_url(migrated.database_url), autocommit=True) as admin:
            # Kill the listener's session, then change a key while it is down: the reload on reconnect sees it.
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'hotel-config-center'").fetchall()
        assert killed, "the config center holds a LISTEN session"
        cfg.set_config(engine, key, "after-reconnect")
        await _until(lambda: center.get(key) == "after-reconnect", 5.0)
        assert center.stats["reconnects"] >= 1 and center.stats["full_loads"] >= 2
    finally:
        await center.stop()


# --- murmur3 rollout, as the deployment plan's checkFeatureFlag computes it ------------------------

def murmur3_32(data: bytes, seed: int = 0) -> int:
    """Reference MurmurHash3 x86_32 (independent of the mmh3 package the platform uses)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    rounded = len(data) - len(data) % 4
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    k = 0
    tail = data[rounded:]
    for index in reversed(range(len(tail))):
        k = (k << 8) | tail[index]
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def test_reference_murmur3_matches_published_vectors():
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


def test_rollout_is_murmur3_of_tenant_plus_flag_mod_100():
    name = "supplier.realtime.sync"
    flag = cfg.Flag(name, enabled=True, rollout_pct=30, whitelist=())
    tenants = [f"tenant-{i}" for i in range(2000)]
    expected = {t for t in tenants if murmur3_32(f"{t}{name}".encode()) % 100 < 30}
    actual = {t for t in tenants if flag.is_on(t)}
    assert actual == expected
    assert 0.25 < len(actual) / len(tenants) < 0.35  # a stable ~30 % slice
    assert {t for t in tenants if cfg.Flag(name, True, 31, ()).is_on(t)} >= actual  # raising the % only adds


def test_whitelist_disabled_and_full_rollout():
    out = next(t for t in (f"t{i}" for i in range(100)) if murmur3_32(f"{t}risk.auto.reject".encode()) % 100 >= 10)
    assert not cfg.Flag("risk.auto.reject", True, 10, ()).is_on(out)
    assert cfg.Flag("risk.auto.reject", True, 10, (out,)).is_on(out)  # whitelisted: on regardless of the hash
    assert not cfg.Flag("risk.auto.reject", False, 100, (out,)).is_on(out)  # disabled: off for everyone
    assert cfg.Flag("risk.auto.reject", True, 100, ()).is_on(out)
    assert cfg.Flag("risk.auto.reject", True, 100, ()).is_on(None)
    assert not cfg.Flag("risk.auto.reject", True, 0, ()).is_on(out)


async def test_cached_evaluation_equals_direct_database_evaluation(engine, migrated):
    name = f"ops.rollout.{secrets.token_hex(3)}"
    cfg.set_flag(engine, name, True, 40, ["vip-1", "vip-2"], None, create=True)
    center = ConfigCenter(migrated.database_url, poll_interval_s=3600)
    await center.start()
    try:
        tenants = ["vip-1", "vip-2", *(f"agency-{i}" for i in range(200))]
        cached = [center.flag_on(name, t) for t in tenants]
        assert cached == [cfg.flag_enabled(engine, name, t) for t in tenants]
        assert cached[:2] == [True, True] and 0 < sum(cached[2:]) < 200
    finally:
        await center.stop()


# --- the running API and the operator API ---------------------------------------------------------

def _token(settings, role: str = "operator", client_id: str = "ops-test", partner_id: str | None = None) -> dict:
    token, _ = issue_token(settings, Principal(client_id, role, partner_id))
    return {"Authorization": f"Bearer {token}"}


def _wait_api(client, path, headers, predicate, deadline_s) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        body = client.get(path, headers=headers).json()
        if predicate(body):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{path}: condition not met within {deadline_s}s")


@pytest.mark.parametrize("listen, poll_s, deadline_s", [(True, 3600.0, 1.0), (False, 1.0, 30.0)],
                         ids=["notify-within-1s", "poll-only-within-30s"])
def test_running_api_sees_changes(settings, migrated, engine, listen, poll_s, deadline_s):
    app_settings = settings.model_copy(update={"config_listen": listen, "config_poll_interval_s": poll_s})
    headers = _token(settings)
    name = f"ops.api.{secrets.token_hex(3)}"
    cfg.set_flag(engine, name, False, 100, None, None, create=True)
    key = _key()
    with TestClient(create_app(app_settings, migrated)) as client:
        path = f"/v1/admin/flags/{name}?tenant_id=agency-7"
        assert client.get(path, headers=headers).json()["live_on_for_tenant"] is False
        cfg.set_flag(engine, name, enabled=True)  # as another process (hotelctl) would
        _wait_api(client, path, headers, lambda body: body["live_on_for_tenant"] is True, deadline_s)
        cfg.set_config(engine, key, {"timeout_ms": 900})
        _wait_api(client, f"/v1/admin/config/{key}", headers,
                  lambda body: body.get("live") == {"timeout_ms": 900}, deadline_s)
        stats = client.app.state.config.stats
        assert (stats["notifications"] > 0) is listen


def test_operator_api_v1(api_client, settings):
    headers = _token(settings)
    assert api_client.get("/v1/admin/flags").status_code == 401
    partner = _token(settings, "partner", "agency-client", "00000000-0000-0000-0000-000000000001")
    assert api_client.get("/v1/admin/flags", headers=partner).status_code == 403

    names = {flag["name"] for flag in api_client.get("/v1/admin/flags", headers=headers).json()["items"]}
    assert set(cfg.FLAGS) <= names

    key = _key()
    response = api_client.put(f"/v1/admin/config/{key}", headers=headers,
                              json={"value": {"weights": [0.4, 0.6]}, "description": "test"})
    assert response.status_code == 200 and response.json()["updated_by"] == "ops-test"
    stored = api_client.get(f"/v1/admin/config/{key}", headers=headers).json()
    assert stored["stored"][0]["value"] == {"weights": [0.4, 0.6]}
    assert api_client.get("/v1/admin/config/does.not.exist", headers=headers).status_code == 404
    listed = api_client.get("/v1/admin/config?env=production", headers=headers).json()["items"]
    assert key in {row["key"] for row in listed}
    assert api_client.put(f"/v1/admin/config/{key}", headers=headers, json={}).status_code == 422

    bad = api_client.put("/v1/admin/flags/risk.auto.reject", headers=headers, json={"rollout_pct": 101})
    assert bad.status_code == 422 and "rollout_pct" in bad.json()["error"]["message"]
    assert api_client.put("/v1/admin/flags/no.such.flag", headers=headers, json={"enabled": True}).status_code == 404
    assert api_client.delete(f"/v1/admin/config/{key}", headers=headers).status_code == 200
    deleted = audit.search(engine_for(settings.database_url), target=f"config:production:{key}")[0]
    assert (deleted["action"], deleted["actor"], deleted["source"], deleted["before"], deleted["after"]) == (
        "config.delete", "ops-test", "api", {"value": {"weights": [0.4, 0.6]}}, None)
    nul = api_client.put(f"/v1/admin/config/{key}", headers=headers, json={"value": "a\u0000b"})
    assert nul.status_code == 422 and nul.json()["error"]["fields"][0]["field"] == "value"
    assert api_client.put("/v1/admin/config/bad%00key", headers=headers, json={"value": 1}).status_code == 422
    assert api_client.delete("/v1/admin/config/bad%00key", headers=headers).status_code == 422
    assert api_client.get("/v1/admin/config?env=x%00y", headers=headers).status_code == 422
    assert api_client.put("/v1/admin/flags/admin.v2", headers=headers,
                          json={"whitelist": ["ok", "bad\u0000"]}).status_code == 422


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("matching.algorithm.weights", {"price_weight": "x"}, "matching.algorithm.weights.price_weight must be a number"),
    ("matching.algorithm.weights", {"price": 1}, "unknown field(s) price"),
    ("matching.algorithm.weights", [0.4, 0.6], "must be a JSON object"),
    ("matching.scoring.weights", {"name": -1}, "matching.scoring.weights.name must be a number of at least 0"),
    ("matching.thresholds", {"auto": "high"}, "matching.thresholds.auto must be a number"),
    ("matching.thresholds", {"auto": 0.3, "review": 0.6}, "need 0 <= review <= auto <= 1"),
    ("orders.velocity", {"per_minute": 0}, "orders.velocity.per_minute must be an integer of at least 1"),
    ("orders.velocity", {"per_hour": 2.5}, "orders.velocity.per_hour must be an integer"),
])
def test_a_value_the_platform_could_not_read_is_refused_and_the_stored_one_kept(api_client, settings, engine, key,
                                                                                value, reason):
    headers = _token(settings)
    env = f"t{secrets.token_hex(4)}"  # an env of this test's own: the platform's live keys stay as they are
    good = {"matching.algorithm.weights": {"price_weight": 1, "rating_weight": 0.5},
            "matching.scoring.weights": {"name": 0.5}, "matching.thresholds": {"auto": 0.9, "review": 0.6},
            "orders.velocity": {"per_minute": 5, "per_hour": 100}}[key]
    assert api_client.put(f"/v1/admin/config/{key}", headers=headers, json={"value": good, "env": env}).status_code \
        == 200
    refused = api_client.put(f"/v1/admin/config/{key}", headers=headers, json={"value": value, "env": env})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["fields"][0]["field"] == "value" and reason in refused.json()["error"]["message"]
    with pytest.raises(cfg.ConfigError, match=re.escape(reason)):  # hotelctl config set and the console alike
        cfg.set_config(engine, key, value, env=env)
    stored = api_client.get(f"/v1/admin/config/{key}", headers=headers).json()["stored"]
    assert [row["value"] for row in stored if row["env"] == env] == [good]
    cfg.delete_config(engine, key, env=env)


def test_admin_v2_follows_its_flag(api_client, settings, engine):
    headers = _token(settings, client_id="ops-v2")
    other = _token(settings, client_id="ops-other")
    center = api_client.app.state.config
    try:
        off = api_client.get("/v2/admin/flags", headers=headers)
        assert off.status_code == 404 and off.json()["error"]["code"] == "feature_disabled"
        # whitelist only this operator: rollout 0 % so nobody else gets it
        assert api_client.put("/v1/admin/flags/admin.v2", headers=headers,
                              json={"enabled": True, "rollout_pct": 0, "whitelist": ["ops-v2"]}).status_code == 200
        deadline = time.monotonic() + 5
        while not center.flag_on("admin.v2", "ops-v2") and time.monotonic() < deadline:
            time.sleep(0.02)
        body = api_client.get("/v2/admin/flags?tenant_id=ops-v2", headers=headers).json()
        assert {row["name"] for row in body["data"]} >= set(cfg.FLAGS)
        assert body["meta"]["count"] == len(body["data"])
        v2 = next(row for row in body["data"] if row["name"] == "admin.v2")
        assert v2["onForTenant"] is True and v2["rolloutPct"] == 0 and v2["live"]["inSync"] is True
        assert api_client.get("/v2/admin/config", headers=headers).json()["meta"]["configCenter"]["fullLoads"] >= 1
        assert api_client.get("/v2/admin/flags", headers=other).status_code == 404
    finally:
        cfg.set_flag(engine, "admin.v2", False, 100, [])
