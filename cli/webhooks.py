"""`hotelctl webhooks …`: run the partner-webhook consumer; see, and replay, what was dead-lettered."""

from __future__ import annotations

import asyncio
import json
import signal

import typer

from cli.common import AS_OPTION, endpoints_or_exit, operator_actor, settings_or_exit

app = typer.Typer(help="Partner webhooks: the consumer, deliveries, dead letters.", no_args_is_help=True)
EXCHANGE = typer.Option("hotel.events", envvar="EVENTS_EXCHANGE", help="The events exchange.")


def _broker(settings) -> str:
    if not settings.rabbitmq_url:
        typer.echo("RABBITMQ_URL is not set: webhooks are delivered from RabbitMQ", err=True)
        raise typer.Exit(2)
    return settings.rabbitmq_url


@app.command("run")
def run(exchange: str = EXCHANGE,
        backoff_ms: int = typer.Option(1000, min=0, help="First retry delay; doubles per redelivery (max 60 s)."),
        metrics_port: int = typer.Option(0, min=0, max=65535, help="Serve Prometheus metrics on this port (0: off).")
        ) -> None:
    """Deliver order events to partners' webhooks until stopped (SIGINT/SIGTERM)."""
    from core.logs import configure_logging
    from core.webhooks.delivery import run_webhooks

    settings = settings_or_exit()
    url = _broker(settings)
    configure_logging("webhooks", settings.log_level)
    from core.tracing import setup_tracing

    setup_tracing("webhooks")
    endpoints = endpoints_or_exit(settings, start=False)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)

    async def main() -> dict:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        return await run_webhooks(endpoints.database_url, url, settings, stop, exchange=exchange,
                                  backoff_s=backoff_ms / 1000)

    typer.echo(json.dumps(asyncio.run(main())))


@app.command("dead")
def dead(exchange: str = EXCHANGE) -> None:
    """The dead-lettered events, one JSON line each (id, type, order, payload); they stay queued."""
    from core.consumer import dead_letters
    from core.webhooks.delivery import CONSUMER, order_id_of

    events = asyncio.run(dead_letters(_broker(settings_or_exit()), CONSUMER, exchange))
    for event in events:
        typer.echo(json.dumps({"id": event.id, "type": event.event_type, "order_id": order_id_of(event),
                               "payload": event.payload}, default=str))
    typer.echo(f"{len(events)} dead-lettered", err=True)


@app.command("replay")
def replay(exchange: str = EXCHANGE, actor: str | None = AS_OPTION) -> None:
    """Send every dead-lettered event back to the webhooks queue (delivered again, retried as new); audited."""
    from core import audit
    from core.consumer import dead_letter_queue_name, replay_dead_letters
    from core.db import engine_for
    from core.webhooks.delivery import CONSUMER

    settings = settings_or_exit()
    who = operator_actor(actor)
    engine = engine_for(endpoints_or_exit(settings, start=False).database_url)
    moved = asyncio.run(replay_dead_letters(_broker(settings), CONSUMER, exchange))
    # The broker move cannot share a PostgreSQL transaction; the entry follows it with the count moved.
    with engine.begin() as conn:
        audit.record(conn, who, "webhook.replay_dead_letters", f"queue:{dead_letter_queue_name(exchange, CONSUMER)}",
                     None, {"replayed": moved, "exchange": exchange})
    typer.echo(f"replayed {moved}")


@app.command("deliveries")
def deliveries(status: str = typer.Option(None, help="retrying, delivered or dead_lettered"),
               limit: int = typer.Option(50, min=1, max=10_000)) -> None:
    """Every partner's recent webhook deliveries, one JSON line each."""
    from core.db import engine_for
    from core.webhooks.store import deliveries as rows

    settings = settings_or_exit()
    for row in rows(engine_for(endpoints_or_exit(settings, start=False).database_url), status=status, limit=limit):
        typer.echo(json.dumps(row, default=str))


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="webhooks")
