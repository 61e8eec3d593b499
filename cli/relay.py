"""`hotelctl relay`: publish the outbox to RabbitMQ (RABBITMQ_URL) until stopped."""

from __future__ import annotations

import asyncio
import json
import signal

import typer

from cli.common import endpoints_or_exit, settings_or_exit


def relay(
    exchange: str = typer.Option("hotel.events", envvar="EVENTS_EXCHANGE",
                                 help="Topic exchange; routing key <aggregate_type>.<event_type>."),
    batch_size: int = typer.Option(200, min=1, max=10_000, help="Events claimed per round."),
    metrics_port: int = typer.Option(0, min=0, max=65535, help="Serve Prometheus metrics on this port (0: off)."),
    once: bool = typer.Option(False, "--once", help="Publish what is pending, print a summary, exit."),
) -> None:
    """Run the outbox relay: at least once, in order per aggregate, reconnecting on broker loss."""
    from core.logs import configure_logging
    from core.relay import BrokerError, Relay

    settings = settings_or_exit()
    if not settings.rabbitmq_url:
        typer.echo("RABBITMQ_URL is not set: events stay in outbox_events until a relay runs", err=True)
        raise typer.Exit(2)
    configure_logging("relay", settings.log_level)
    from core.tracing import setup_tracing

    setup_tracing("relay")
    endpoints = endpoints_or_exit(settings, start=False)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    worker = Relay(endpoints.database_url, settings.rabbitmq_url, exchange=exchange, batch_size=batch_size)

    async def main() -> dict:
        if once:
            try:
                while await worker.run_once():
                    pass
                return {**worker.stats, "backlog": await worker.backlog()}
            except BrokerError as error:
                typer.echo(str(error), err=True)
                raise typer.Exit(1) from None
            finally:
                await worker.close()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)
        return worker.stats

    typer.echo(json.dumps(asyncio.run(main())))


def register(app: typer.Typer) -> None:
    app.command("relay")(relay)
