"""`hotelctl bench tracing`: CPU per quote with tracing off and on, in two processes, on a loaded machine.

Wall-clock latency on a shared machine says more about the neighbours than about tracing, so this measures
CPU time (`time.process_time`: every thread of the process, the span exporter's background thread included)
per quote. A seeded world (`bench.seed`, a fresh benchmark database and a private Redis) and a seeded mix of
distinct searches (`bench.workload.mix`) are served by two worker processes (`bench.tracing_worker`), each
running the real API in-process (httpx's ASGI transport): one with no OTEL_* variable (nothing instrumented,
so no patched library leaks into the untraced side), one exporting every sampled span over OTLP/HTTP to a
receiver in this process (`SpanSink`, counts and drops), so building, batching, encoding and sending spans
all count. Both stay up; blocks alternate (off, on, on, off, ...), each side sent the same searches in a
block, and each traced block ends with a flush inside its measured time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from contextlib import ExitStack

import typer

from bench import MIX_SEED, QUOTE_TRACE_RATIO, bench_app, world_days, world_hotels

TARGET_RATIO = 1.10  # CPU per quote, tracing on / off (issue 24: quote p99 no more than 10 % worse)


@bench_app.command("tracing")
def bench_tracing(
    searches: int = typer.Option(600, min=10, help="Distinct searches in the mix."),
    seed: int = MIX_SEED,
    blocks: int = typer.Option(6, min=2, help="Alternating blocks per side (off, on, on, off, ...)."),
    block_size: int = typer.Option(100, min=1, help="Quotes per block."),
    hotels: int = world_hotels(120),
    days: int = world_days(14),
    trace_ratio: float = typer.Option(1.0, min=0.0, max=1.0, help="Share of new traces kept (traced side)."),
    quote_trace_ratio: float = QUOTE_TRACE_RATIO,
    check: bool = typer.Option(False, "--untraced-both", help="A/A check of the method: both sides untraced (the "
                                                              "ratio shows the measurement's own bias and noise)."),
    replica: bool = typer.Option(True, help="The in-process hot-cache replica (HOT_CACHE_REPLICA); --no-replica: "
                                            "every quote reads Redis, the most spans per quote."),
) -> None:
    """CPU per quote with tracing off vs on (two processes, alternating blocks), the sampler and spans per quote."""
    from bench.scratch import scratch_platform
    from bench.servers import SpanSink, hit_rates, lookups_between
    from cli.common import endpoints_or_exit, settings_or_exit, step
    from core.tracing import build_sampler

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    quote_trace_ratio = trace_ratio if quote_trace_ratio is None else quote_trace_ratio
    sink = SpanSink()
    with ExitStack() as stack:
        stack.callback(sink.close)
        platform = stack.enter_context(scratch_platform(
            settings, endpoints, prefix="bench-tracing-", seed=seed, hotels=hotels, days=days,
            seeding=f"Seeding {hotels} hotels over {days} days"))
        seeded = platform.seeded
        listed, requests_file = platform.mix_file(seed, searches, days)
        env = {**platform.env, "QUOTE_CACHE_MS": "0", "HOT_CACHE_REPLICA": str(replica).lower()}
        traced_env = {**env, **sink.traced_env(trace_ratio, quote_trace_ratio)}
        env.pop("BENCH_TRACING_PROFILE", None)  # only the traced side is profiled
        workers = []
        for side_env in (env, env if check else traced_env):
            worker = subprocess.Popen([sys.executable, "-m", "bench.tracing_worker", str(requests_file)],
                                      env=side_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            stack.callback(worker.kill)
            workers.append(worker)
        with step("Starting both workers and warming them up (every search once)"):
            warmed = [_ask(worker, 0, len(listed))["lookups"] for worker in workers]
        spans_before = sink.counts()[1]
        cpu: dict[int, list[float]] = {0: [], 1: []}
        lookups: list[dict | None] = list(warmed)
        gc_ms: dict[int, list[float]] = {0: [], 1: []}
        main_ms: dict[int, list[float]] = {0: [], 1: []}
        full_gcs, longest_gc = [0, 0], [0.0, 0.0]
        errors = [0, 0]
        offset = 0
        with step(f"{2 * blocks} alternating blocks of {block_size} quotes"):
            for number in range(2 * blocks):
                for side in ((0, 1) if number % 2 == 0 else (1, 0)):
                    result = _ask(workers[side], offset, block_size)
                    errors[side] += result["errors"]
                    lookups[side] = result["lookups"]
                    cpu[side].append(result["cpu_s"] / result["quotes"])
                    gc_ms[side].append(result["gc_s"] * 1000 / result["quotes"])
                    main_ms[side].append(result["main_s"] * 1000 / result["quotes"])
                    full_gcs[side] += result["gc_full"]
                    longest_gc[side] = max(longest_gc[side], result["gc_longest_s"])
                offset += block_size
        spans = sink.counts()[1] - spans_before
    off_ms, on_ms = (statistics.median(cpu[side]) * 1000 for side in (0, 1))
    quotes = 2 * blocks * block_size
    typer.echo(f"\nworld: {seeded.summary()}\nmix: {len(listed)} distinct searches, memo off (QUOTE_CACHE_MS=0), "
               f"HOT_CACHE_REPLICA={str(replica).lower()}")
    for side, name in enumerate(("off", "on")):
        typer.echo(f"cache hit rates over the blocks, tracing {name}: "
                   f"{hit_rates(lookups_between(warmed[side], lookups[side]))}; failed quotes: {errors[side]}")
    typer.echo(f"sampler (traced side): {build_sampler(trace_ratio, quote_trace_ratio).get_description()}; "
               f"spans exported: {spans} for {quotes} quotes ({spans / quotes:.2f} per quote)")
    typer.echo(f"CPU per quote, tracing off: {off_ms:.2f} ms (blocks: "
               f"{', '.join(f'{v * 1000:.2f}' for v in cpu[0])})")
    typer.echo(f"CPU per quote, tracing on:  {on_ms:.2f} ms (blocks: "
               f"{', '.join(f'{v * 1000:.2f}' for v in cpu[1])})")
    typer.echo(f"of which the event loop's thread (the rest: background threads, the span exporter's among "
               f"them), per quote: off {statistics.median(main_ms[0]):.2f} ms, "
               f"on {statistics.median(main_ms[1]):.2f} ms")
    typer.echo(f"of which the garbage collector, per quote: off {statistics.median(gc_ms[0]):.2f} ms, "
               f"on {statistics.median(gc_ms[1]):.2f} ms; full collections off {full_gcs[0]}, on {full_gcs[1]}; "
               f"longest pause off {longest_gc[0] * 1000:.1f} ms, on {longest_gc[1] * 1000:.1f} ms")
    ratio = on_ms / off_ms
    # Each block's traced CPU over the untraced block beside it (the machine's load drifts less within a pair).
    paired = sorted(on / off for on, off in zip(cpu[1], cpu[0], strict=True))
    quartiles = statistics.quantiles(paired, n=4)
    typer.echo(f"paired block ratios on/off: median {statistics.median(paired):.3f}, quartiles "
               f"{quartiles[0]:.3f} – {quartiles[2]:.3f} ({len(paired)} pairs)")
    typer.echo(f"ratio on/off (medians): {ratio:.3f} (target ≤ {TARGET_RATIO:.2f}: "
               f"{'met' if ratio <= TARGET_RATIO else 'NOT met'})")


def _ask(worker: subprocess.Popen, offset: int, count: int) -> dict:
    worker.stdin.write(f"{offset} {count}\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    if not line:
        raise RuntimeError(f"the tracing worker exited ({worker.wait()})")
    return json.loads(line)
