"""`hotelctl bench api`: its workload, its load generators and a tiny end-to-end run (no timing asserted here)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import shutil
import socket
import threading
import time
from collections import Counter

import pytest
import typer
from typer.testing import CliRunner

from bench import loadgen
from bench.servers import parse_lookups
from bench.workload import City, mix, single

CITIES = [City("CN", "Shanghai", tuple(f"S{i}" for i in range(12))), City("CN", "Beijing", ("B1", "B2", "B3")),
          City("FR", "Paris", ("P1", "P2")), City("AE", "Dubai", ("D1",))]


def test_mix_is_distinct_covers_every_city_and_varies_what_partners_vary():
    start = dt.date.today() + dt.timedelta(days=2)
    searches = mix(7, 2000, CITIES, 3, start, 30)
    assert len(searches) == 2000
    assert len({search.key() for search in searches}) == 2000
    assert searches == mix(7, 2000, CITIES, 3, start, 30)  # seeded
    by_city = Counter(s.body["city"] for s in searches if "city" in s.body)
    assert set(by_city) == {c.name for c in CITIES}
    assert by_city["Shanghai"] > by_city["Beijing"] > by_city["Dubai"]  # weighted by size
    by_hotels = [s for s in searches if "hotel_ids" in s.body]
    assert 0 < len(by_hotels) < len(searches) * 0.2 and all("city" not in s.body for s in by_hotels)
    assert {s.partner for s in searches} == {0, 1, 2}
    assert {s.body.get("currency") for s in searches} == {"CNY", "USD", "EUR", None}
    nights = {(dt.date.fromisoformat(s.body["check_out"]) - dt.date.fromisoformat(s.body["check_in"])).days
              for s in searches}
    assert nights == set(range(1, 8))
    assert {s.body["rooms"] for s in searches} == {1, 2, 3}
    assert any(s.body.get("children_ages") for s in searches)
    assert all(s.body["rooms"] <= s.body["adults"] <= 3 * s.body["rooms"] for s in searches)
    assert all(start <= dt.date.fromisoformat(s.body["check_in"]) and
               dt.date.fromisoformat(s.body["check_out"]) <= start + dt.timedelta(days=30) for s in searches)
    assert len({s.body["check_in"] for s in searches}) == 30  # spread over the whole window


def test_single_is_the_largest_city():
    search = single(CITIES, dt.date(2030, 1, 1), 30, 2)
    assert search.body["city"] == "Shanghai" and search.body["rooms"] == 1


def test_cache_lookups_are_read_from_the_prometheus_text():
    text = ('# TYPE quote_cache_lookups_total counter\n'
            'quote_cache_lookups_total{cache="memo",result="hit"} 3.0\n'
            'quote_cache_lookups_total{result="miss",cache="memo"} 1.0\n'
            'quote_cache_lookups_total{cache="inventory",result="hit"} 9.0\n'
            'quote_cache_lookups_created{cache="memo",result="hit"} 1.7e9\n')
    assert parse_lookups(text) == {"memo": {"hit": 3.0, "miss": 1.0}, "inventory": {"hit": 9.0, "miss": 0.0}}
    assert parse_lookups("http_requests_total 1.0\n") is None


class _Recorder:
    """An ASGI app counting each (Authorization, body) pair it receives, served in a thread; it answers 503 to the
    bodies `refuse` picks, and each request after `delay` seconds."""

    def __init__(self, refuse=lambda body: False, delay: float = 0.0) -> None:
        import uvicorn

        self.refuse, self.delay = refuse, delay
        self.seen: Counter = Counter()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.socket = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/quotes"
        self.server = uvicorn.Server(uvicorn.Config(self, log_config=None, access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    async def __call__(self, scope, receive, send):
        message = await receive()
        body = message["body"].decode()
        self.seen[(dict(scope["headers"]).get(b"authorization", b"").decode(), body)] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 503 if self.refuse(body) else 200,
                    "headers": [(b"content-length", b"2"), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    def __enter__(self) -> _Recorder:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def test_variants_are_all_three_or_the_ones_named_in_their_order():
    from bench.api import variants

    assert [v.name for v in variants(2000)] == ["memo on", "memo off", "memo off, replica off"]
    assert variants(2000)[0].env["QUOTE_CACHE_MS"] == "2000"
    picked = variants(2000, ["memo off", "memo on", "memo off"])
    assert [v.name for v in picked] == ["memo off", "memo on"]
    with pytest.raises(typer.BadParameter, match="memo of: not one of memo on, memo off"):
        variants(2000, ["memo of"])


def test_load_generators_cycle_over_the_list_each_request_with_its_own_token(tmp_path):
    requests = [(f"Bearer token-{i % 3}", json.dumps({"search": i})) for i in range(7)]
    path = loadgen.write_requests(tmp_path / "requests.txt", requests)
    with _Recorder() as server:
        result = asyncio.run(loadgen._open_loop(server.url, loadgen.read_requests(str(path)), 1, 70, 3))
        assert result["requests"] == 70 and result["errors"] == 0
        assert server.seen == Counter({request: 10 for request in requests})
        if shutil.which("wrk"):
            server.seen.clear()
            result = loadgen.wrk(server.url, path, 1, 2, 5)
            assert result["errors"] == 0
            assert set(server.seen) == set(requests)
            assert max(server.seen.values()) - min(server.seen.values()) <= 1  # one thread: strictly in turn


def test_load_generators_say_which_kind_each_error_was(tmp_path, monkeypatch):
    requests = [("Bearer token", json.dumps({"search": i})) for i in range(5)]
    path = loadgen.write_requests(tmp_path / "requests.txt", requests)
    listed = loadgen.read_requests(str(path))
    with _Recorder(refuse=lambda body: json.loads(body)["search"] == 4) as server:
        result = asyncio.run(loadgen._open_loop(server.url, listed, 1, 50, 0))
        assert result["requests"] == 50 and result["error_kinds"] == {"http 503": 10} and result["errors"] == 10
        result = asyncio.run(loadgen._closed_loop(server.url, listed, 1, 2, 0))
        assert result["errors"] >= 1 and result["error_kinds"] == {"http 503": result["errors"]}
        if shutil.which("wrk"):
            result = loadgen.wrk(server.url, path, 1, 2, 0)
            assert result["errors"] >= 1 and result["error_kinds"] == {"non-2xx": result["errors"]}
    monkeypatch.setattr(loadgen, "MAX_CONNECTIONS", 4)
    with _Recorder(delay=0.5) as server:  # four connections, each busy half a second: past saturation at 50 req/s
        result = asyncio.run(loadgen._open_loop(server.url, listed, 1, 50, 0))
    not_sent = result["error_kinds"].get("not sent", 0)
    assert not_sent > 0 and result["error_kinds"] == {"not sent": not_sent}
    assert result["requests"] + not_sent == 50 and result["errors"] == not_sent


@pytest.fixture
def hotelctl(settings, monkeypatch):
    """`hotelctl` with these arguments, on the test's PostgreSQL and Redis."""
    from cli.main import app

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("HOTEL_DATA_DIR", str(settings.hotel_data_dir))
    return lambda *args: CliRunner().invoke(app, list(args))


@pytest.mark.slow
def test_bench_api_tiny(hotelctl):
    result = hotelctl("bench", "api", "--seconds", "1", "--orders", "3", "--hotels", "30", "--searches", "60",
                      "--rate", "20", "--rounds", "1", "--connections", "2", "--workers", "1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "workload mix: 60 distinct searches" in out
    for figure in ("bare FastAPI constant (baseline)", "POST /v1/quotes, memo on", "POST /v1/quotes, memo off",
                   "POST /v1/quotes, memo off, replica off", "offers per quote mean", "bytes per response mean",
                   "memo hit rate", "inventory (replica) hit rate", "quote throughput / bare throughput",
                   "POST /v1/quotes, memo on, tracing on", "quote p99 at 20 req/s, tracing on / off",
                   "sampler ParentBased", "quote saturation, tracing on / off",
                   "quote p99 at 20 req/s, memo off", "order p99 minus simulator time", "saturation rounds, req/s",
                   "API workers' RSS"):
        assert figure in out, figure
    assert "POST /v1/orders ×3" in out  # all three orders confirmed
    exported = re.search(r"(\d+) spans exported in (\d+) OTLP/HTTP posts", out)
    assert exported and int(exported.group(1)) > 0, out  # the traced variant did trace, and export
    assert "non-2xx 0" in out  # every sampled search answered


@pytest.mark.slow
def test_bench_api_untraced_both_compares_two_untraced_servers(hotelctl):
    result = hotelctl("bench", "api", "--seconds", "1", "--orders", "0", "--hotels", "30", "--searches", "60",
                      "--rate", "20", "--rounds", "1", "--connections", "2", "--workers", "1", "--variant", "memo off",
                      "--untraced-both")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "A/A check, both servers untraced; 0 spans exported" in out, out  # neither side traced anything
    assert re.search(r"quote p99 at 20 req/s, untraced again / untraced: [\d.]+ / [\d.]+ ms = [\d.]+ \(the method's "
                     r"own noise, no target\); rounds untraced/again ms: [\d.]+/[\d.]+, [\d.]+/[\d.]+", out), out
    assert "tracing on" not in out and "sampler ParentBased" not in out, out


@pytest.mark.slow
def test_bench_steps_splits_a_quotes_cpu_among_the_steps_of_its_path(hotelctl):
    result = hotelctl("bench", "steps", "--hotels", "30", "--days", "7", "--searches", "40", "--blocks", "3",
                      "--block-size", "10")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "30 quotes per side measured after every search once; failed: replica on 0, replica off 0" in out
    assert "memo hit rate n/a" in out
    # The replica answered the one side's inventory reads, and none of the other's (every quote read Redis).
    assert re.search(r"replica on: .*inventory \(replica\) hit rate 100\.0%", out), out
    assert re.search(r"replica off: .*inventory \(replica\) hit rate 0\.0%", out), out
    assert float(re.search(r"offers per quote ([\d.]+)", out).group(1)) > 0
    rows = re.findall(r"^  (.+?)\s+([\d.-]+) ms\s+[\d.-]+%\s+([\d.-]+) ms", out, re.MULTILINE)
    assert len(rows) == 8, out
    shares = [float(share) for share in re.findall(r"([\d.]+)% of a quote's CPU with the replica o", out)]
    assert len(shares) == 2, out
    for side, share in enumerate(shares):  # replica on, replica off
        ms = {what.strip(): float(figures[side]) for what, *figures in rows}
        assert ms["the rest of it (request facts, queueing the store)"] >= -0.001, out  # steps lie within the engine
        steps = [ms[what] for what in ("product set and shelf (replica, else Redis)",
                                       "pricing: every rate, then the offers shown exactly",
                                       "offer JSON, shown and stored", "offer ids and nesting")]
        assert all(spent > 0 for spent in steps), out  # each step was timed where the quote path calls it
        engine, outside, total = (ms["the quote engine (answer_quote)"],
                                  ms["around it: HTTP, auth, validation, response, client"], ms["a quote, all of it"])
        assert 0 < engine < total and outside > 0, out
        assert sum(steps) < total, out
        assert share == pytest.approx(100 * engine / total, abs=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("quote_ratio", ["0", "1"])
def test_bench_tracing_samples_quotes_as_told_and_answers_them_all(hotelctl, quote_ratio):
    result = hotelctl("bench", "tracing", "--hotels", "30", "--days", "7", "--searches", "40", "--blocks", "2",
                      "--block-size", "10", "--quote-trace-ratio", quote_ratio)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"quotes:TraceIdRatioBased{{{float(quote_ratio)}}}" in out, out  # orders stay at --trace-ratio 1.0
    assert out.count("failed quotes: 0") == 2, out
    spans = int(re.search(r"spans exported: (\d+) for 40 quotes", out).group(1))
    # Dropped quotes (skipping OpenTelemetry's middleware) export nothing; kept ones a SERVER span each at least.
    assert spans == 0 if quote_ratio == "0" else spans >= 40, out
    assert re.search(r"ratio on/off \(medians\): [\d.]+ \(target", out), out
