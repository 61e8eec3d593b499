"""`hotelctl up`'s supplier hook: the three simulators run as child processes, are registered in the
`suppliers` table (base URL, encrypted key) and answer through `adapter_for`; the world's master
catalog is seeded; a second start reuses the running processes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core import runtime
from core.suppliers.config import supplier_settings
from core.suppliers.registry import adapter_for
from suppliers.launch import start_simulators
from suppliers.world import generate_world
from tests.supplier_fixtures import WORLD_HOTELS, WORLD_SEED


@pytest.fixture
def world_env(monkeypatch):
    # The same world as the other supplier tests, so the shared master catalog stays consistent.
    monkeypatch.setenv("SUPPLIER_WORLD_SEED", str(WORLD_SEED))
    monkeypatch.setenv("SUPPLIER_WORLD_HOTELS", str(WORLD_HOTELS))
    supplier_settings.cache_clear()
    yield
    supplier_settings.cache_clear()


async def test_start_simulators_runs_registers_and_seeds(world_env, settings, engine, tmp_path):
    data_dir = tmp_path / "var"
    with engine.connect() as conn:
        previous = conn.execute(sa.text("SELECT code, base_url, api_key_encrypted FROM suppliers")).fetchall()
    try:
        urls = start_simulators(settings, data_dir)
        assert set(urls) == {"A", "B", "C"}
        assert {"supplier-A", "supplier-B", "supplier-C"} <= set(runtime.started_processes(data_dir))
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text("SELECT code, base_url FROM suppliers")).fetchall())
            seeded = conn.execute(sa.text("SELECT count(*) FROM master_hotels WHERE id = ANY(:ids)"),
                                  {"ids": [f"H{i:07d}" for i in range(1, WORLD_HOTELS + 1)]}).scalar()
        assert {code: stored[code] for code in urls} == urls
        assert seeded == WORLD_HOTELS
        world = generate_world(WORLD_SEED, WORLD_HOTELS)
        for code in urls:
            hotels = [hotel async for hotel in adapter_for(code, settings).content()]
            assert len(hotels) == len(world.supplier_hotels[code])
        assert start_simulators(settings, data_dir) == urls  # reused, not restarted
    finally:
        runtime.stop_processes(data_dir)
        with engine.begin() as conn:
            for row in previous:
                conn.execute(sa.text("UPDATE suppliers SET base_url = :url, api_key_encrypted = :key WHERE code = :c"),
                             {"url": row.base_url, "key": row.api_key_encrypted, "c": row.code})
    assert not runtime.started_processes(data_dir)
