"""Fixtures for the supplier and inventory tests: a small world, the three simulators on
ephemeral ports (real HTTP), fast resilience settings, and a fault switch per simulator."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from core.suppliers.breaker import reset_breakers
from core.suppliers.registry import build_adapter, register_supplier
from suppliers.launch import DEV_KEYS, start_simulator_threads
from suppliers.sim_a import DEFAULT_SECRET
from suppliers.world import World, generate_world

WORLD_SEED = 20261127
WORLD_HOTELS = 40


@pytest.fixture(scope="session")
def world() -> World:
    return generate_world(WORLD_SEED, WORLD_HOTELS)


@pytest.fixture(scope="session")
def simulators(world: World):
    running = start_simulator_threads(world)
    yield running
    for simulator in running.values():
        simulator.stop()


@pytest.fixture(scope="session")
def fast_settings(settings: Settings) -> Settings:
    """Small budgets so faults resolve in well under a second."""
    return settings.model_copy(update={"query_timeout_ms": 1500, "retry_backoff_ms": 20, "retry_max_attempts": 3,
                                       "concurrency_limit": 8})


@pytest.fixture(scope="session")
def registered(engine, simulators, settings: Settings) -> dict[str, str]:
    """The simulators registered in the `suppliers` table (base URL, encrypted key)."""
    urls = {code: simulator.base_url for code, simulator in simulators.items()}
    for code, url in urls.items():
        register_supplier(engine, code, url, DEV_KEYS[code], settings.encryption_secret.get_secret_value())
    return urls


@pytest.fixture
def clean_faults(simulators):
    """The test starts with no faults and closed breakers, and leaves none behind
    (use with `pytestmark = pytest.mark.usefixtures("clean_faults")`)."""
    reset_breakers()
    yield
    for simulator in simulators.values():
        set_faults(simulator)
        simulator.state.rate_limit_per_s = 0
    reset_breakers()


def set_faults(simulator, **faults) -> dict:
    """Switch faults on a simulator at run time through its admin endpoint (over HTTP)."""
    headers = {"X-Admin-Key": DEV_KEYS[simulator.code]}
    if faults:
        response = httpx.post(f"{simulator.base_url}/_admin/faults", json=faults, headers=headers, timeout=5)
    else:
        response = httpx.delete(f"{simulator.base_url}/_admin/faults", headers=headers, timeout=5)
    response.raise_for_status()
    return response.json()


def stats(simulator) -> dict:
    response = httpx.get(f"{simulator.base_url}/_admin/stats", headers={"X-Admin-Key": DEV_KEYS[simulator.code]},
                         timeout=5)
    response.raise_for_status()
    return response.json()


def adapter(code: str, simulators, settings: Settings, database_url: str | None = None, breaker=None):
    return build_adapter(code, simulators[code].base_url, settings, api_key=DEV_KEYS[code],
                         secret=DEFAULT_SECRET if code == "A" else "", database_url=database_url, breaker=breaker)
