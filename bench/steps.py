"""`hotelctl bench steps`: where a quote's CPU goes, step by step, over a seeded mix of distinct searches.

The seeded world and mix of `hotelctl bench tracing` (`bench.scratch`, `bench.workload.mix`), served by two
untraced worker processes running the real API in-process (`bench.tracing_worker` with BENCH_STEPS=1), memo off,
one with the hot-cache replica and one without (every quote reads Redis). Every search is sent once to warm the
caches (as a worker that has served the mix), then alternating blocks of quotes one at a time; the event loop
thread's CPU time is split among the quote path's steps (`STEPS`), and the rest is the request around them
(HTTP, auth, validation, the response, the in-process client, and background tasks such as storing quotes). The
figure beside it: what share of a quote the engine is, so how far making it cheaper can
take a server's quotes/s at most.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from contextlib import ExitStack

import typer

from bench import MIX_SEED, bench_app, world_days, world_hotels

ENGINE = "answer_quote"
SIDES = {"replica on": "true", "replica off": "false"}  # HOT_CACHE_REPLICA of each worker
# The steps `bench.tracing_worker` times within answer_quote, in the order of the quote path.
STEPS = {
    "_shelf": "  product set and shelf (replica, else Redis)",
    "price_offers": "  pricing: every rate, then the offers shown exactly",
    "offer_json": "  offer JSON, shown and stored",
    "_segments": "  offer ids and nesting",
}
LINES = {"total": "a quote, all of it", ENGINE: "the quote engine (answer_quote)", **STEPS,
         "rest": "  the rest of it (request facts, queueing the store)",
         "outside": "around it: HTTP, auth, validation, response, client"}


@bench_app.command("steps")
def bench_steps(
    searches: int = typer.Option(2000, min=10, help="Distinct searches in the mix."),
    seed: int = MIX_SEED,
    blocks: int = typer.Option(6, min=1, help="Blocks of quotes measured (each figure is their median)."),
    block_size: int = typer.Option(200, min=1, help="Quotes per block."),
    hotels: int = world_hotels(400),
    days: int = world_days(30),
) -> None:
    """CPU per quote by step of the quote path (in-process API, memo off; replica on and off), and the engine's
    share of it."""
    from bench.scratch import scratch_platform
    from bench.servers import hit_rates, lookups_between
    from bench.tracing import _ask
    from cli.common import endpoints_or_exit, settings_or_exit, step

    settings = settings_or_exit()
    endpoints = endpoints_or_exit(settings)
    with ExitStack() as stack:
        platform = stack.enter_context(scratch_platform(
            settings, endpoints, prefix="bench-steps-", seed=seed, hotels=hotels, days=days,
            seeding=f"Seeding {hotels} hotels over {days} days"))
        seeded = platform.seeded
        listed, requests_file = platform.mix_file(seed, searches, days)
        workers = []
        for replica in SIDES.values():
            env = {**platform.env, "QUOTE_CACHE_MS": "0", "HOT_CACHE_REPLICA": replica, "BENCH_STEPS": "1"}
            worker = subprocess.Popen([sys.executable, "-m", "bench.tracing_worker", str(requests_file)], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            stack.callback(worker.kill)
            workers.append(worker)
        with step("Starting both workers (replica on, off) and warming them up (every search once)"):
            warmed = [_ask(worker, 0, len(listed))["lookups"] for worker in workers]
        results: list[list[dict]] = [[] for _ in workers]
        with step(f"{blocks} blocks of {block_size} quotes per side, alternating"):
            for number in range(blocks):
                for side in ((0, 1) if number % 2 == 0 else (1, 0)):
                    results[side].append(_ask(workers[side], len(listed) + number * block_size, block_size))
    lines = [_median_by_line([_lines(result) for result in side]) for side in results]
    quotes = sum(result["quotes"] for result in results[0])
    failed = ", ".join(f"{name} {sum(r['errors'] for r in side)}" for name, side in zip(SIDES, results, strict=True))
    typer.echo(f"\nworld: {seeded.summary()}\nmix: {len(listed)} distinct searches, memo off (QUOTE_CACHE_MS=0); "
               f"{quotes} quotes per side measured after every search once; failed: {failed}")
    typer.echo(f"offers per quote {sum(r['offers'] for r in results[0]) / quotes:.1f}, bytes per response "
               f"{sum(r['bytes'] for r in results[0]) / quotes / 1024:.1f} KB")
    for name, side, before in zip(SIDES, results, warmed, strict=True):
        rates = hit_rates(lookups_between(before, side[-1]["lookups"]))
        typer.echo(f"cache hit rates over the blocks, {name}: {rates}")
    typer.echo(f"\nCPU per quote, event loop thread (each line the median of {blocks} blocks of {block_size}):")
    typer.echo(f"  {'':<56} {'  '.join(f'{name:>18}' for name in SIDES)}")
    for key, what in LINES.items():
        figures = "  ".join(f"{side[key]:8.3f} ms {side[key] / side['total']:6.1%}" for side in lines)
        typer.echo(f"  {what:<56} {figures}")
    shares = [side[ENGINE] / side["total"] for side in lines]
    typer.echo("\nthe quote engine (answer_quote) is " + "; ".join(
        f"{share:.1%} of a quote's CPU with the {name}: were it free, a CPU-bound server would answer at most "
        f"~{1 / (1 - share):.1f}× the quotes/s" for name, share in zip(SIDES, shares, strict=True)))


def _lines(result: dict) -> dict[str, float]:
    """One block's CPU per quote (ms) for each of LINES."""
    spent = {name: seconds * 1000 / result["quotes"] for name, seconds in result["steps_s"].items()}
    lines = {"total": result["main_s"] * 1000 / result["quotes"], ENGINE: spent.get(ENGINE, 0.0)}
    lines.update({name: spent.get(name, 0.0) for name in STEPS})
    lines["rest"] = lines[ENGINE] - sum(lines[name] for name in STEPS)
    lines["outside"] = lines["total"] - lines[ENGINE]
    return lines


def _median_by_line(blocks: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(block[key] for block in blocks) for key in blocks[0]}
