"""Fixtures: real PostgreSQL, Redis and chDB for every test session.

With DATABASE_URL / REDIS_URL set, tests use those servers (a fresh database per session, the
Redis database TEST_REDIS_DB, flushed first); unset, they start the embedded engines under a
temporary directory. ClickHouse is always chDB in a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from core import runtime
from core.db import engine_for, scratch_database
from core.migrate import upgrade
from core.settings import Settings
from core.suppliers.config import DEV_SECRETS

SERVER_DATABASE_URL = os.environ.get("DATABASE_URL")
SERVER_REDIS_URL = os.environ.get("REDIS_URL")
# Against real servers the platform refuses public secrets and development supplier keys: the suite
# brings its own, as a deployment does (the simulators are started with the same values).
os.environ.setdefault("JWT_SECRET", secrets.token_urlsafe(32))
os.environ.setdefault("ENCRYPTION_SECRET", secrets.token_urlsafe(32))
os.environ.setdefault("SUPPLIER_A_SECRET", DEV_SECRETS["A"])


# The data folder a `make up` in this checkout uses (Settings' default, relative to where pytest runs).
CHECKOUT_DATA_DIR = Path("var").resolve()


@pytest.fixture(autouse=True)
def _checkout_data_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test must keep to its own data folder: engines or services it starts under the checkout's `var/`
    outlive the suite (and would be taken for the developer's own platform). Such a test errors, by name."""
    before = runtime.started_processes(CHECKOUT_DATA_DIR)
    yield
    after = runtime.started_processes(CHECKOUT_DATA_DIR)
    started = {name: pid for name, pid in after.items() if before.get(name) != pid}
    if started:
        if not before:
            runtime.stop_processes(CHECKOUT_DATA_DIR)
        pytest.fail(f"{request.node.nodeid} started {started} under {CHECKOUT_DATA_DIR}, the checkout's own data "
                    "folder; give it a HOTEL_DATA_DIR (or Settings.hotel_data_dir) of its own")


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hotel-test-"))
    os.chmod(path, 0o755)  # pgserver runs PostgreSQL as its own user when we are root
    yield path
    runtime.stop_processes(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    """A fresh, empty database: on the server named by DATABASE_URL, or embedded."""
    if not SERVER_DATABASE_URL:
        yield runtime.embedded_postgres_url(data_dir, start=True)
        return
    with scratch_database(SERVER_DATABASE_URL, "hotel_test") as url:
        yield url
        engine_for.cache_clear()


@pytest.fixture
def new_database(database_url: str) -> Iterator[Callable[[str], str]]:
    """Makes empty databases named `<prefix>_<random>` on the tests' PostgreSQL server, returning each one's
    plain URL; all are dropped when the test ends."""
    with contextlib.ExitStack() as made:
        yield lambda prefix: made.enter_context(scratch_database(database_url, prefix))


@pytest.fixture
def dagster_database(new_database: Callable[[str], str]) -> str:
    """A database of its own for a `hotelctl` subprocess's Dagster instance (its storage keeps its own migrations)."""
    return new_database("hotel_dagster")


@pytest.fixture(scope="session")
def redis_url(data_dir: Path) -> str:
    if not SERVER_REDIS_URL:
        return runtime.embedded_redis_url(data_dir, start=True)
    parts = urlsplit(SERVER_REDIS_URL)
    url = urlunsplit(parts._replace(path=f"/{os.environ.get('TEST_REDIS_DB', '1')}"))
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def endpoints(data_dir: Path, database_url: str, redis_url: str) -> runtime.Endpoints:
    modes = {
        "postgresql": runtime.SERVER if SERVER_DATABASE_URL else runtime.EMBEDDED,
        "redis": runtime.SERVER if SERVER_REDIS_URL else runtime.EMBEDDED,
        "clickhouse": runtime.EMBEDDED,
    }
    return runtime.Endpoints(
        database_url=database_url,
        redis_url=redis_url,
        clickhouse_url=f"chdb://{data_dir / 'clickhouse'}",
        rabbitmq_url=os.environ.get("RABBITMQ_URL"),
        modes=modes,
    )


@pytest.fixture(scope="session")
def migrated(endpoints: runtime.Endpoints) -> runtime.Endpoints:
    """Endpoints whose PostgreSQL carries the full operational schema."""
    upgrade(endpoints.database_url)
    return endpoints


@pytest.fixture(scope="session")
def settings(data_dir: Path, migrated: runtime.Endpoints) -> Settings:
    return Settings(
        database_url=migrated.database_url,
        redis_url=migrated.redis_url,
        clickhouse_url=migrated.clickhouse_url,
        hotel_data_dir=data_dir,
        webhook_private_targets=True,  # the tests' partner endpoints listen on 127.0.0.1 (test_webhooks checks it off)
    )


@pytest.fixture(scope="session")
def engine(migrated: runtime.Endpoints):
    return engine_for(migrated.database_url)


@pytest.fixture
def api_client(settings: Settings, migrated: runtime.Endpoints):
    """The real app over its ASGI interface, lifespan included (pools to the real engines)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    # https: the staff session cookie is Secure outside development, as the tests run.
    with TestClient(create_app(settings, migrated), raise_server_exceptions=False,
                    base_url="https://testserver") as client:
        yield client


@pytest.fixture(scope="module")
def supplier_a(engine, settings):
    """The simulated supplier A over real HTTP, registered in `suppliers`, for one test module."""
    from tests.api_fixtures import start_supplier_a

    running = start_supplier_a(engine, settings)
    yield running
    running.stop()
