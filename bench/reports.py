"""`hotelctl bench reports`: the BI report pages over DAYS-day ranges, on the platform's own warehouse (the demo
history `hotelctl up` seeds, or real data), beside two baselines measured in the same run.

The requests are a seeded mix of what analysts open: every topic in random order, the range ending on any of
the last seven days, most over all partners, some for one partner or one city. Each is sent as:
- page: GET /reports/TOPIC through the real app (uvicorn on loopback, signed in with a bearer token): the
  report's queries, the template, the chart specs; twice, once with the warehouse held open between requests
  (WAREHOUSE_HOLD_S as configured, its reuse rate printed) and once opened per request (WAREHOUSE_HOLD_S=0);
- queries: `build_report` alone over the held app's open warehouse (the warehouse part of the page);
- bare: a FastAPI app on the same kind of server answering the same HTML bytes from memory (what HTTP, the
  framework and the client cost whatever the page does).

It prints the median and p95 of each per topic and whether the page answers under TARGET_MS at the p95.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

import typer

from bench import bench_app
from cli.common import console, endpoints_or_exit, settings_or_exit, step
from warehouse.reports import TOPICS, Filters, build_report

TARGET_MS = 300.0


@contextmanager
def _serve(app) -> Iterator[str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _bare_app(pages: dict[str, bytes]):
    from fastapi import FastAPI
    from fastapi.responses import Response

    bare = FastAPI()

    @bare.get("/reports/{topic}")
    def page(topic: str) -> Response:
        return Response(pages[topic], media_type="text/html")

    return bare


def _pcts(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Ask:
    topic: str
    filters: Filters

    @property
    def query(self) -> str:
        pairs = [("from", self.filters.start.isoformat()), ("to", self.filters.end.isoformat()),
                 ("partner", self.filters.partner), ("city", self.filters.city)]
        return urlencode([(key, value) for key, value in pairs if value])


def workload(rounds: int, days: int, yesterday: dt.date, partners: list[str], cities: list[str],
             seed: int) -> list[Ask]:
    """`rounds` requests per topic, shuffled: ranges of `days` days ending in the last week, 70 % over all
    partners, 15 % for one partner, 15 % for one city."""
    rng = random.Random(seed)
    asks = []
    for topic in TOPICS:
        for _ in range(rounds):
            end = yesterday - dt.timedelta(days=rng.randrange(7))
            draw = rng.random()
            partner = rng.choice(partners) if partners and draw < 0.15 else None
            city = rng.choice(cities) if cities and 0.15 <= draw < 0.30 else None
            asks.append(Ask(topic, Filters(end - dt.timedelta(days=days - 1), end, partner, city)))
    rng.shuffle(asks)
    return asks


@bench_app.command("reports")
def bench_reports(
    rounds: int = typer.Option(20, min=3, help="Requests per topic."),
    days: int = typer.Option(60, min=1, max=800, help="Each range's length in days."),
    seed: int = typer.Option(7, help="The workload's seed."),
) -> None:
    """Time each report page over a seeded mix of DAYS-day ranges, warehouse held and not, against bare
    baselines; print the verdicts."""
    import httpx

    from api.app import create_app
    from api.auth import Principal, issue_token
    from warehouse.client import warehouse_client

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with warehouse_client(endpoints.clickhouse_url, lock_timeout_s=30) as client:
        filled_days, partner_count = client.query(
            "SELECT count(DISTINCT day), count(DISTINCT partner_id) FROM hotel_analytics.daily_sales"
            " WHERE day BETWEEN %(s)s AND %(e)s",
            parameters={"s": yesterday - dt.timedelta(days=days + 5), "e": yesterday}).result_rows[0]
        partners = [row[0] for row in client.query(
            "SELECT DISTINCT partner_id FROM hotel_analytics.daily_sales ORDER BY 1").result_rows]
        cities = [row[0] for row in client.query(
            "SELECT DISTINCT city FROM hotel_analytics.daily_sales WHERE city != '' ORDER BY 1").result_rows]
    console.print(f"warehouse: {filled_days} days with sales in the last {days + 6}, {partner_count} partners, "
                  f"{len(cities)} cities")
    if not filled_days:
        console.print("[yellow]no sales in the range: `hotelctl up` seeds the demo history, or backfill first[/yellow]")
    asks = workload(rounds, days, yesterday, partners, cities, seed)
    token, _ = issue_token(settings, Principal(client_id="bench-reports", role="operator", partner_id=None))
    headers = {"Authorization": f"Bearer {token}"}
    variants = {"held": settings, "per request": settings.model_copy(update={"warehouse_hold_s": 0.0})}
    timings: dict[str, dict[str, list[float]]] = {topic: {name: [] for name in (*variants, "queries", "bare")}
                                                  for topic in TOPICS}
    sizes: dict[str, list[int]] = {topic: [] for topic in TOPICS}
    reuse = {}
    for name, variant in variants.items():
        app = create_app(variant, endpoints)
        with _serve(app) as api, httpx.Client(base_url=api, headers=headers, timeout=60) as http, \
                step(f"{len(asks)} requests, warehouse {name}"):
            http.get(f"/reports/sales?{asks[0].query}").raise_for_status()  # warm-up
            warehouse = app.state.warehouse
            uses, opens = warehouse.uses, warehouse.opens
            pages = {}
            for ask in asks:
                began = time.perf_counter()
                response = http.get(f"/reports/{ask.topic}?{ask.query}")
                timings[ask.topic][name].append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
                pages[ask.topic] = response.content
                if name == "held":
                    sizes[ask.topic].append(len(response.content))
                    began = time.perf_counter()
                    with warehouse.client() as client:
                        build_report(client, ask.topic, ask.filters)
                    timings[ask.topic]["queries"].append((time.perf_counter() - began) * 1000)
            reuse[name] = (warehouse.uses - uses, warehouse.opens - opens)
        if name == "held":
            with _serve(_bare_app(pages)) as bare, httpx.Client(base_url=bare, timeout=60) as bare_http:
                for ask in asks:
                    began = time.perf_counter()
                    bare_http.get(f"/reports/{ask.topic}").raise_for_status()
                    timings[ask.topic]["bare"].append((time.perf_counter() - began) * 1000)
    for name, (uses, opens) in reuse.items():
        typer.echo(f"warehouse {name}: {uses} uses, {opens} opened it, reuse rate {1 - opens / max(uses, 1):.1%}")
    typer.echo(f"{'report':<16} {'KB':>6} {'held p50':>9} {'held p95':>9} {'per-req p95':>12} {'queries p50':>12} "
               f"{'bare p50':>9}  under {TARGET_MS:.0f} ms (p95, held)")
    slow = []
    for topic in TOPICS:
        held_p50, held_p95 = _pcts(timings[topic]["held"])
        _, cold_p95 = _pcts(timings[topic]["per request"])
        queries_p50, _ = _pcts(timings[topic]["queries"])
        bare_p50, _ = _pcts(timings[topic]["bare"])
        met = held_p95 < TARGET_MS
        slow += [] if met else [topic]
        typer.echo(f"{topic:<16} {statistics.mean(sizes[topic]) / 1024:>6.1f} {held_p50:>7.1f}ms {held_p95:>7.1f}ms "
                   f"{cold_p95:>10.1f}ms {queries_p50:>10.1f}ms {bare_p50:>7.1f}ms  {'yes' if met else 'NO'}")
    typer.echo("every report page answers under the target" if not slow else f"over the target: {', '.join(slow)}")
