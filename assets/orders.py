"""Order housekeeping the platform runs by itself (no assets): `order_expiry_job` ends every partner's unconfirmed
orders past ORDER_EXPIRY_MINUTES (PENDING ones are first looked up at the supplier by our reference), every minute
by `order_expiry_schedule`, so what they hold returns to sale even when their partner never comes back."""

import dagster as dg

from pipelines.resources import PostgresResource, RedisResource


@dg.op(description="Expire every due PENDING/REVIEW order of every partner (core.orders.expiry.run_expiry).")
def expire_due_orders(context: dg.OpExecutionContext, postgres: PostgresResource, redis: RedisResource) -> int:
    import asyncio

    from core.orders.expiry import order_state, run_expiry
    from core.settings import get_settings

    async def run() -> int:
        async with order_state(get_settings(), postgres.database_url, redis.redis_url) as state:
            return await run_expiry(state)

    ended = asyncio.run(run())
    context.add_output_metadata({"orders_ended": ended})
    context.log.info(f"orders ended: {ended}")
    return ended


@dg.job(description="End unconfirmed orders past ORDER_EXPIRY_MINUTES, releasing what they held.")
def order_expiry_job() -> None:
    expire_due_orders()


order_expiry_schedule = dg.ScheduleDefinition(
    name="order_expiry_schedule", job=order_expiry_job, cron_schedule="* * * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING, description="Order expiry every minute.")

JOBS = [order_expiry_job]
SCHEDULES = [order_expiry_schedule]
SENSORS: list = []
