"""The scratch platform `hotelctl bench api` and `hotelctl bench tracing` serve from.

A fresh benchmark database on the configured (or embedded) PostgreSQL, migrated; a private Redis server
(`bench.servers.private_redis`); a seeded world of suppliers A, B and C (`bench.seed`); supplier A's simulator
in this process; and the environment of the API processes pointed at all of them. Everything is stopped,
removed and dropped on leaving.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.seed import Seeded

if TYPE_CHECKING:
    from bench.workload import Search
    from suppliers.simcore import RunningSimulator
    from suppliers.world import World


@dataclass
class ScratchPlatform:
    database_url: str
    redis_url: str
    scratch: Path  # a temporary directory of the run's own (the Redis socket lives there)
    world: World
    sim: RunningSimulator  # supplier A's; `sim.app` is the (wrapped) app it serves
    start: dt.date  # first day of the seeded window
    seeded: Seeded
    env: dict[str, str]  # the API processes' environment: no OTEL_* variable, so tracing off

    def mix_file(self, seed: int, searches: int, days: int) -> tuple[list[Search], Path]:
        """The seeded mix of distinct searches over this world, and the file `bench.tracing_worker` reads it from
        (with the partners' credentials)."""
        from bench.workload import mix

        seeded = self.seeded
        listed = mix(seed, searches, seeded.cities, len(seeded.partners), self.start, days)
        requests_file = self.scratch / "requests.json"
        requests_file.write_text(json.dumps({
            "partners": [[p.client_id, p.client_secret] for p in seeded.partners],
            "searches": [[s.partner, s.body] for s in listed]}))
        return listed, requests_file


@contextmanager
def scratch_platform(settings, endpoints, *, prefix: str, seed: int, hotels: int, days: int, seeding: str,
                     wrap_app: Callable | None = None) -> Iterator[ScratchPlatform]:
    """The scratch platform of a benchmark run; `prefix` names its temporary directory, `seeding` is the step
    shown while the world is seeded, and `wrap_app` (if given) wraps simulator A's ASGI app before it serves."""
    from bench.seed import SUPPLIERS, seed_world
    from bench.servers import private_redis, stop
    from cli.common import step
    from core.db import scratch_database
    from core.migrate import upgrade
    from suppliers import sim_a
    from suppliers.simcore import RunningSimulator
    from suppliers.world import generate_world

    with scratch_database(endpoints.database_url, "hotel_bench") as database_url, ExitStack() as stack:
        scratch = Path(tempfile.mkdtemp(prefix=prefix))
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        redis_process, redis_url = private_redis(scratch)
        stack.callback(stop, redis_process)
        with step("Migrating the benchmark database"):
            upgrade(database_url)
        world = generate_world(seed, hotels, suppliers=SUPPLIERS, supplier_only_share=0.0)
        # The simulator gets credentials of its own, as a real supplier's (the platform refuses development keys
        # outside development), and the API is given them.
        a_key, a_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        app = sim_a.create_app(world, api_key=a_key, secret=a_secret)
        sim = RunningSimulator("A", wrap_app(app) if wrap_app else app).start()
        stack.callback(sim.stop)
        start = dt.date.today() + dt.timedelta(days=2)
        with step(seeding):
            seeded = seed_world(database_url, redis_url, world, sim.base_url, start, days)
        # Tracing off unless the caller turns it on: no OTLP endpoint or sampler of this shell's reaches the API.
        env = {name: value for name, value in endpoints.child_env(settings).items()
               if not name.startswith("OTEL_") and name != "QUOTE_TRACE_RATIO"}
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, RATE_LIMIT_MAX="100000000", LOG_LEVEL="warning",
                   SUPPLIER_A_URL=sim.base_url, SUPPLIER_A_API_KEY=a_key, SUPPLIER_A_SECRET=a_secret)
        yield ScratchPlatform(database_url, redis_url, scratch, world, sim, start, seeded, env)
