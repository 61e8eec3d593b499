"""`hotelctl orders expire`: end unconfirmed orders past ORDER_EXPIRY_MINUTES for every partner.

The API also expires a partner's due orders whenever that partner creates, reads or lists orders;
this command (cron, Dagster schedule, Kubernetes CronJob) covers partners who do not come back.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import typer

from cli.common import endpoints_or_exit, settings_or_exit

app = typer.Typer(help="Partner orders: maintenance commands.", no_args_is_help=True)


@app.command("expire")
def expire() -> None:
    """Expire due PENDING/REVIEW orders (PENDING ones are first looked up at the supplier by reference)."""
    import asyncpg
    import redis.asyncio as aioredis

    from core.db import plain_url
    from core.orders.expiry import run_expiry
    from core.orders.suppliers import close_adapters

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)

    async def run() -> int:
        pool = await asyncpg.create_pool(plain_url(endpoints.database_url), min_size=1, max_size=2)
        # Redis too: what an expiry releases reaches the hot cache quotes read.
        client = aioredis.from_url(endpoints.redis_url)
        state = SimpleNamespace(pg=pool, redis=client, settings=settings, endpoints=endpoints, config=None)
        try:
            return await run_expiry(state)
        finally:
            await close_adapters(state)
            await client.aclose()
            await pool.close()

    typer.echo(f"orders ended: {asyncio.run(run())}")


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="orders")
