"""`hotelctl bench reports`: each BI report page over the last DAYS days and all partners, on the platform's own
warehouse (the demo history `hotelctl up` seeds, or real data), beside two baselines measured in the same run.

- page: GET /reports/TOPIC through the real app (uvicorn on loopback, signed in with a bearer token): the
  warehouse opened, the report's queries, the template, the chart specs;
- queries: `build_report` alone, in this process (the warehouse part of the page);
- bare: a FastAPI app on the same kind of server answering the same HTML bytes from memory (what HTTP, the
  framework and the client cost whatever the page does).

Rounds alternate topics; it prints the median and p95 of each and whether the page answers under TARGET_MS at
the p95.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from bench import bench_app
from cli.common import console, endpoints_or_exit, settings_or_exit, step

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


@bench_app.command("reports")
def bench_reports(
    rounds: int = typer.Option(20, min=3, help="Requests per topic and variant."),
    days: int = typer.Option(60, min=1, max=800, help="The date range: the last DAYS days up to yesterday."),
) -> None:
    """Time each report page over DAYS days and all partners against bare baselines; print the verdicts."""
    import httpx

    from api.app import create_app
    from api.auth import Principal, issue_token
    from warehouse.client import warehouse_client
    from warehouse.reports import TOPICS, Filters, build_report

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    filters = Filters(end - dt.timedelta(days=days - 1), end)
    query = f"from={filters.start.isoformat()}&to={end.isoformat()}"
    with warehouse_client(endpoints.clickhouse_url, lock_timeout_s=30) as client:
        rows = client.query("SELECT count(DISTINCT day), count(DISTINCT partner_id) FROM hotel_analytics.daily_sales"
                            " WHERE day BETWEEN %(s)s AND %(e)s", parameters={"s": filters.start, "e": end})
        filled_days, partners = rows.result_rows[0]
    console.print(f"warehouse: {filled_days} of {days} days with sales, {partners} partners "
                  f"({filters.start}..{end})")
    if not filled_days:
        console.print("[yellow]no sales in the range: `hotelctl up` seeds the demo history, or backfill first[/yellow]")
    token, _ = issue_token(settings, Principal(client_id="bench-reports", role="operator", partner_id=None))
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, dict[str, list[float]]] = {topic: {"page": [], "queries": [], "bare": []} for topic in TOPICS}
    with _serve(create_app(settings, endpoints)) as api, httpx.Client(base_url=api, headers=headers,
                                                                       timeout=60) as http:
        pages = {}
        for topic in TOPICS:  # warm-up, and the bytes the bare app answers with
            response = http.get(f"/reports/{topic}?{query}")
            response.raise_for_status()
            pages[topic] = response.content
        with _serve(_bare_app(pages)) as bare, httpx.Client(base_url=bare, timeout=60) as bare_http, \
                step(f"{rounds} rounds over {len(TOPICS)} topics"):
            for _ in range(rounds):
                for topic in TOPICS:
                    began = time.perf_counter()
                    http.get(f"/reports/{topic}?{query}").raise_for_status()
                    timings[topic]["page"].append((time.perf_counter() - began) * 1000)
                    began = time.perf_counter()
                    with warehouse_client(endpoints.clickhouse_url, lock_timeout_s=30) as client:
                        build_report(client, topic, filters)
                    timings[topic]["queries"].append((time.perf_counter() - began) * 1000)
                    began = time.perf_counter()
                    bare_http.get(f"/reports/{topic}").raise_for_status()
                    timings[topic]["bare"].append((time.perf_counter() - began) * 1000)
    typer.echo(f"{'report':<16} {'KB':>6} {'page p50':>9} {'page p95':>9} {'queries p50':>12} {'bare p50':>9}  "
               f"under {TARGET_MS:.0f} ms (p95)")
    slow = []
    for topic in TOPICS:
        page_p50, page_p95 = _pcts(timings[topic]["page"])
        queries_p50, _ = _pcts(timings[topic]["queries"])
        bare_p50, _ = _pcts(timings[topic]["bare"])
        met = page_p95 < TARGET_MS
        slow += [] if met else [topic]
        typer.echo(f"{topic:<16} {len(pages[topic]) / 1024:>6.1f} {page_p50:>7.1f}ms {page_p95:>7.1f}ms "
                   f"{queries_p50:>10.1f}ms {bare_p50:>7.1f}ms  {'yes' if met else 'NO'}")
    typer.echo("every report page answers under the target" if not slow else f"over the target: {', '.join(slow)}")
