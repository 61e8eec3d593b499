"""The API in this process, quotes on request, CPU time per block: one side of `hotelctl bench tracing`, and
the worker of `hotelctl bench steps` (BENCH_STEPS=1: each step of the quote path timed apart).

Tracing is on when an OTEL_* endpoint is in the environment (the API's own setup decides, as in production).
The app runs on this thread's event loop through httpx's ASGI transport (no server, no second thread), so the
CPU measured is the app's and the span exporter's. Reads `<offset> <count>` lines on stdin; answers each with
one JSON line: the CPU seconds (all threads) of that many quotes from the mix, starting at `offset` (cycling),
with the spans still queued flushed, and (read after the timing) the cache lookups counted so far in the app's
/metrics. BENCH_TRACING_PROFILE=<file>: cProfile stats of the blocks to that file. With BENCH_STEPS=1 each answer
also holds the event loop thread's CPU seconds in each of `STEPS` and the quotes' response bytes and offers.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import inspect
import json
import os
import sys
import time
from collections import Counter

_gc = {"s": 0.0, "started": 0.0, "runs": 0, "full": 0, "longest": 0.0}
# The quote path's steps, where `core.quotes.service.answer_quote` calls them (answer_quote: where the route does).
STEPS = (("api.routes.quotes", "answer_quote"), ("core.quotes.service", "_shelf"),
         ("core.quotes.service", "price_offers"), ("core.quotes.service", "offer_json"),
         ("core.quotes.service", "_segments"))


def _time_steps(spent: Counter) -> None:
    """Wrap each of STEPS to add its thread CPU time to `spent[name]` (quotes are sent one at a time, so an
    awaiting step's time is its own but for background tasks that ran meanwhile)."""
    import importlib

    for module_name, name in STEPS:
        module = importlib.import_module(module_name)
        step = getattr(module, name)
        if inspect.iscoroutinefunction(step):
            async def timed(*args, _step=step, _name=name, **kwargs):
                started = time.thread_time()
                try:
                    return await _step(*args, **kwargs)
                finally:
                    spent[_name] += time.thread_time() - started
        else:
            def timed(*args, _step=step, _name=name, **kwargs):
                started = time.thread_time()
                try:
                    return _step(*args, **kwargs)
                finally:
                    spent[_name] += time.thread_time() - started
        setattr(module, name, timed)


def _time_gc(phase: str, info: dict) -> None:
    """Collector CPU time (a traced request allocates more: its share of the cost shows here)."""
    if phase == "start":
        _gc["started"] = time.process_time()
    else:
        pause = time.process_time() - _gc["started"]
        _gc["s"] += pause
        _gc["runs"] += 1
        _gc["full"] += info["generation"] == 2
        _gc["longest"] = max(_gc["longest"], pause)


async def serve(requests_file: str, answers) -> None:
    import httpx

    from api.app import create_app
    from bench.servers import parse_lookups
    from core import tracing

    loaded = json.loads(open(requests_file).read())
    searches = loaded["searches"]
    spent: Counter = Counter()
    steps = os.environ.get("BENCH_STEPS") == "1"
    if steps:
        _time_steps(spent)
    app = create_app()
    profile_path = os.environ.get("BENCH_TRACING_PROFILE")
    profiler = cProfile.Profile() if profile_path else None
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        tokens = []
        for client_id, secret in loaded["partners"]:
            response = await client.post("/v1/auth/token", json={"client_id": client_id, "client_secret": secret})
            response.raise_for_status()
            tokens.append({"Authorization": f"Bearer {response.json()['access_token']}"})
        gc.callbacks.append(_time_gc)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            offset, count = (int(word) for word in line.split())
            errors = 0
            if profiler and offset:
                profiler.enable()
            _gc.update(s=0.0, runs=0, full=0, longest=0.0)
            spent.clear()
            bodies = []
            started, started_main = time.process_time(), time.thread_time()
            for index in range(offset, offset + count):
                partner, body = searches[index % len(searches)]
                response = await client.post("/v1/quotes", headers=tokens[partner], json=body)
                errors += response.status_code != 200
                if steps:
                    bodies.append(response.content)
            tracing.flush()
            cpu, cpu_main = time.process_time() - started, time.thread_time() - started_main
            if profiler and offset:
                profiler.disable()
                profiler.dump_stats(profile_path)
            lookups = parse_lookups((await client.get("/metrics")).text)
            answer = {"cpu_s": cpu, "main_s": cpu_main, "quotes": count, "errors": errors,
                      "traced": tracing.active(), "gc_s": _gc["s"], "gc_runs": _gc["runs"],
                      "gc_full": _gc["full"], "gc_longest_s": _gc["longest"], "lookups": lookups}
            if steps:
                answer.update(steps_s=dict(spent), bytes=sum(map(len, bodies)),
                              offers=sum(body.count(b'"offer_id"') for body in bodies))
            print(json.dumps(answer), file=answers, flush=True)


def main(requests_file: str) -> None:
    answers, sys.stdout = sys.stdout, sys.stderr  # the API's own output must not mix with the answers
    asyncio.run(serve(requests_file, answers))


if __name__ == "__main__":
    main(sys.argv[1])
